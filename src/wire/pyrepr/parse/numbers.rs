//! Numbers: lexing number tokens (underscores, prefixes, exponents,
//! imaginary suffixes) and `literal_eval`'s rules for signs and
//! `real ± imaginary`.

use num_bigint::BigInt;
use num_traits::Num;

use super::error::{PResult, PosError, err};
use super::lexer::{Lexer, Tok, is_ident_continue};
use super::parser::Node;
use crate::wire::Value;

impl Lexer<'_> {
    /// `(_? digit)+` where `digit` is accepted by `is_digit`; returns the
    /// digits without underscores, or `None` when there is no digit here.
    fn digits(&mut self, is_digit: impl Fn(char) -> bool) -> PResult<Option<String>> {
        let mut out = String::new();
        loop {
            match self.peek(0) {
                Some(c) if is_digit(c) => {
                    out.push(c);
                    self.i += 1;
                }
                Some('_') if !out.is_empty() => {
                    if self.peek(1).is_some_and(&is_digit) {
                        self.i += 1;
                    } else {
                        return err(self.i, "invalid decimal literal");
                    }
                }
                _ => break,
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    /// A number token starting at `self.i` (int in any base, float or
    /// imaginary).
    pub(super) fn number(&mut self) -> PResult<()> {
        let pos = self.i;
        if self.peek(0) == Some('0') {
            let radix = match self.peek(1) {
                Some('x' | 'X') => Some((16, "hexadecimal")),
                Some('o' | 'O') => Some((8, "octal")),
                Some('b' | 'B') => Some((2, "binary")),
                _ => None,
            };
            if let Some((radix, name)) = radix {
                self.i += 2;
                let mut text = String::new();
                loop {
                    match self.peek(0) {
                        Some('_') if self.peek(1).is_some_and(|c| c.is_digit(radix)) => {
                            self.i += 1;
                        }
                        Some(c) if c.is_digit(radix) => {
                            text.push(c);
                            self.i += 1;
                        }
                        _ => break,
                    }
                }
                let next = self.peek(0);
                if let Some(c) = next.filter(|c| c.is_ascii_digit()) {
                    return err(self.i, format!("invalid digit '{c}' in {name} literal"));
                }
                if text.is_empty() || next.is_some_and(is_ident_continue) {
                    return err(pos, format!("invalid {name} literal"));
                }
                let n = BigInt::from_str_radix(&text, radix).map_err(|_| PosError {
                    pos,
                    message: format!("invalid {name} literal"),
                })?;
                self.push(Tok::Int(n), pos);
                return Ok(());
            }
        }
        let int_part = self.digits(|c| c.is_ascii_digit())?;
        let mut is_float = false;
        let mut text = int_part.clone().unwrap_or_default();
        if self.peek(0) == Some('.') {
            is_float = true;
            self.i += 1;
            text.push('.');
            if self.peek(0) == Some('_') {
                return err(self.i, "invalid decimal literal");
            }
            match self.digits(|c| c.is_ascii_digit())? {
                Some(frac) => text.push_str(&frac),
                None if int_part.is_none() => return err(pos, "invalid decimal literal"),
                None => text.push('0'),
            }
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let save = self.i;
            self.i += 1;
            let mut exp = String::from("e");
            if let Some(sign @ ('+' | '-')) = self.peek(0) {
                exp.push(sign);
                self.i += 1;
            }
            match self.digits(|c| c.is_ascii_digit())? {
                Some(d) => {
                    exp.push_str(&d);
                    text.push_str(&exp);
                    is_float = true;
                }
                None => {
                    self.i = save;
                    return err(pos, "invalid decimal literal");
                }
            }
        }
        let imag = matches!(self.peek(0), Some('j' | 'J'));
        if imag {
            self.i += 1;
        }
        if let Some(c) = self.peek(0)
            && is_ident_continue(c)
        {
            let what = if imag { "imaginary" } else { "decimal" };
            return err(pos, format!("invalid {what} literal"));
        }
        if text.starts_with('.') {
            text.insert(0, '0');
        }
        let tok = if imag || is_float {
            let x: f64 = text.parse().map_err(|_| PosError {
                pos,
                message: "invalid decimal literal".into(),
            })?;
            if imag { Tok::Imag(x) } else { Tok::Float(x) }
        } else {
            if text.len() > 1 && text.bytes().any(|b| b != b'0') && text.starts_with('0') {
                return err(
                    pos,
                    "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
                );
            }
            let n: BigInt = text.parse().map_err(|_| PosError {
                pos,
                message: "invalid decimal literal".into(),
            })?;
            Tok::Int(n)
        };
        self.push(tok, pos);
        Ok(())
    }
}

/// `ast.literal_eval`'s `_convert_num`: a number constant (not a bool).
pub(super) fn convert_num(node: &Node) -> PResult<Value> {
    match node {
        Node::Const(
            v @ (Value::Int(_) | Value::BigInt(_) | Value::Float(_) | Value::Complex(..)),
            _,
        ) => Ok(v.clone()),
        other => err(other.pos(), "expected a number literal here"),
    }
}

fn negate(v: Value) -> Value {
    match v {
        Value::Int(n) => match n.checked_neg() {
            Some(m) => Value::Int(m),
            None => Value::from_bigint(-BigInt::from(n)),
        },
        Value::BigInt(n) => Value::from_bigint(-n),
        Value::Float(x) => Value::Float(-x),
        Value::Complex(re, im) => Value::Complex(-re, -im),
        other => other,
    }
}

/// `_convert_signed_num`: a number constant with at most one sign.
pub(super) fn convert_signed_num(node: &Node) -> PResult<Value> {
    match node {
        Node::Unary(neg, operand, _) => {
            let v = match &**operand {
                Node::Const(..) => convert_num(operand)?,
                other => return err(other.pos(), "a unary sign applies only to a number literal"),
            };
            Ok(if *neg { negate(v) } else { v })
        }
        _ => convert_num(node),
    }
}

/// An int or float as a float, as Python converts it for `real ± imaginary`.
pub(super) fn int_to_f64(v: &Value, pos: usize) -> PResult<f64> {
    let x = match v {
        Value::Int(n) => *n as f64,
        Value::BigInt(n) => n.to_string().parse::<f64>().unwrap_or(f64::INFINITY),
        Value::Float(x) => return Ok(*x),
        _ => return err(pos, "expected a real number"),
    };
    if x.is_finite() {
        Ok(x)
    } else {
        err(pos, "int too large to convert to float")
    }
}
