//! A parser for Python literals: what `ast.literal_eval` accepts.
//!
//! The input is tokenized like CPython's tokenizer does (numbers with
//! underscores and prefixes, all string prefixes and quote kinds, escapes,
//! implicit concatenation, comments, line continuations, brackets spanning
//! lines), parsed into a small expression tree, and converted with
//! `ast.literal_eval`'s rules: a unary sign only on a number literal, binary
//! `+`/`-` only as `real ± imaginary`, `set()` as the only call. One
//! extension: `frozenset()` and `frozenset(<set, list or tuple>)` are
//! accepted, so that [`super::repr`] output always reads back.
//!
//! Differences from CPython, all rejections with a clear message: `\N{...}`
//! escapes (no name table here), lone surrogates (`'\ud800'`; a Rust string
//! cannot hold them), `...` (no `Ellipsis` value), and nesting deeper than
//! [`MAX_DEPTH`] brackets.

use std::collections::HashMap;

use num_bigint::BigInt;
use num_traits::Num;

use super::LiteralError;
use super::pyops::{Key, key};
use crate::wire::Value;

/// The deepest bracket nesting [`parse_literal`] accepts (CPython's own
/// tokenizer stops at 200 too).
pub const MAX_DEPTH: usize = 200;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(BigInt),
    Float(f64),
    Imag(f64),
    Str(String),
    Bytes(Vec<u8>),
    Name(String),
    Punct(char),
    Newline,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Char index of the first character.
    pos: usize,
}

/// An error at a char index, converted to line/column at the end.
struct PosError {
    pos: usize,
    message: String,
}

type PResult<T> = Result<T, PosError>;

fn err<T>(pos: usize, message: impl Into<String>) -> PResult<T> {
    Err(PosError {
        pos,
        message: message.into(),
    })
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
    /// Open brackets: the char and its position.
    stack: Vec<(char, usize)>,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        self.tokens.push(Token { tok, pos });
    }

    /// Skips the leading blank and comment lines. CPython strips leading
    /// spaces and tabs, skips blank lines, then refuses an indented first
    /// line.
    fn skip_leading(&mut self) -> PResult<()> {
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.i += 1;
        }
        loop {
            match self.peek(0) {
                Some('#') => {
                    while !matches!(self.peek(0), None | Some('\n')) {
                        self.i += 1;
                    }
                }
                Some('\n') => {
                    self.i += 1;
                    let mut indent = 0;
                    while let Some(c @ (' ' | '\t' | '\x0c')) = self.peek(0) {
                        indent = if c == '\x0c' { 0 } else { indent + 1 };
                        self.i += 1;
                    }
                    if indent > 0 && !matches!(self.peek(0), None | Some('\n' | '#')) {
                        return err(self.i, "unexpected indent");
                    }
                }
                Some('\x0c') => self.i += 1,
                Some('\\') if self.peek(1) == Some('\n') => self.i += 2,
                _ => return Ok(()),
            }
        }
    }

    fn run(mut self) -> PResult<Vec<Token>> {
        self.skip_leading()?;
        while let Some(c) = self.peek(0) {
            let pos = self.i;
            match c {
                ' ' | '\t' | '\x0c' => self.i += 1,
                '#' => {
                    while !matches!(self.peek(0), None | Some('\n')) {
                        self.i += 1;
                    }
                }
                '\n' => {
                    self.i += 1;
                    if self.stack.is_empty()
                        && !matches!(
                            self.tokens.last(),
                            Some(Token {
                                tok: Tok::Newline,
                                ..
                            })
                        )
                    {
                        self.push(Tok::Newline, pos);
                    }
                }
                '\\' => match self.peek(1) {
                    Some('\n') if self.peek(2).is_none() => {
                        return err(
                            pos,
                            "unexpected end of input after line continuation character",
                        );
                    }
                    Some('\n') => self.i += 2,
                    None => {
                        return err(
                            pos,
                            "unexpected end of input after line continuation character",
                        );
                    }
                    Some(_) => {
                        return err(
                            pos + 1,
                            "unexpected character after line continuation character",
                        );
                    }
                },
                '0'..='9' => self.number()?,
                '.' if matches!(self.peek(1), Some('0'..='9')) => self.number()?,
                '\'' | '"' => self.string(pos, "")?,
                c if is_ident_start(c) => {
                    let start = self.i;
                    while self.peek(0).is_some_and(is_ident_continue) {
                        self.i += 1;
                    }
                    let name: String = self.s[start..self.i].iter().collect();
                    if matches!(self.peek(0), Some('\'' | '"')) {
                        let lower = name.to_ascii_lowercase();
                        match lower.as_str() {
                            "r" | "u" | "b" | "br" | "rb" => {
                                self.string(pos, &lower)?;
                                continue;
                            }
                            "f" | "fr" | "rf" => {
                                return err(pos, "f-strings are not literals");
                            }
                            _ => {}
                        }
                    }
                    self.push(Tok::Name(name), pos);
                }
                '(' | '[' | '{' => {
                    if self.stack.len() >= MAX_DEPTH {
                        return err(
                            pos,
                            format!("too deeply nested (more than {MAX_DEPTH} levels)"),
                        );
                    }
                    self.stack.push((c, pos));
                    self.i += 1;
                    self.push(Tok::Punct(c), pos);
                }
                ')' | ']' | '}' => {
                    let open = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    match self.stack.pop() {
                        None => return err(pos, format!("unmatched '{c}'")),
                        Some((o, _)) if o != open => {
                            return err(
                                pos,
                                format!(
                                    "closing parenthesis '{c}' does not match opening parenthesis '{o}'"
                                ),
                            );
                        }
                        Some(_) => {}
                    }
                    self.i += 1;
                    self.push(Tok::Punct(c), pos);
                }
                '.' if self.peek(1) == Some('.') && self.peek(2) == Some('.') => {
                    return err(pos, "'...' (Ellipsis) cannot be represented as a value");
                }
                '\0' => return err(pos, "source code string cannot contain null bytes"),
                c if c.is_ascii_punctuation() => {
                    self.i += 1;
                    self.push(Tok::Punct(c), pos);
                }
                c => return err(pos, format!("invalid {} in a literal", describe(c))),
            }
        }
        if let Some(&(open, pos)) = self.stack.last() {
            return err(pos, format!("'{open}' was never closed"));
        }
        let end = self.s.len();
        self.push(Tok::Eof, end);
        Ok(self.tokens)
    }

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

    fn number(&mut self) -> PResult<()> {
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

    /// A string literal starting at the quote at `self.i`; `prefix` is the
    /// lower-cased prefix and `pos` where it starts.
    fn string(&mut self, pos: usize, prefix: &str) -> PResult<()> {
        let raw = prefix.contains('r');
        let is_bytes = prefix.contains('b');
        let Some(quote) = self.peek(0) else {
            return err(pos, "unterminated string literal");
        };
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.i += if triple { 3 } else { 1 };
        // The body, as (char, position) pairs, escapes undecoded.
        let body_start = self.i;
        loop {
            match self.peek(0) {
                None => {
                    let what = if triple {
                        "unterminated triple-quoted string literal"
                    } else {
                        "unterminated string literal"
                    };
                    return err(pos, what);
                }
                Some('\n') if !triple => return err(pos, "unterminated string literal"),
                Some('\\') => {
                    if self.peek(1).is_none() {
                        let what = if triple {
                            "unterminated triple-quoted string literal"
                        } else {
                            "unterminated string literal"
                        };
                        return err(pos, what);
                    }
                    self.i += 2;
                }
                Some(c) if c == quote => {
                    if !triple {
                        break;
                    }
                    if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                        break;
                    }
                    self.i += 1;
                }
                Some(_) => self.i += 1,
            }
        }
        let body_end = self.i;
        self.i += if triple { 3 } else { 1 };
        let body = &self.s[body_start..body_end];
        if is_bytes {
            if let Some(k) = body.iter().position(|c| !c.is_ascii()) {
                return err(
                    body_start + k,
                    "bytes can only contain ASCII literal characters",
                );
            }
            let bytes = if raw {
                body.iter().map(|&c| c as u8).collect()
            } else {
                decode_bytes(body, body_start)?
            };
            self.push(Tok::Bytes(bytes), pos);
        } else {
            let text = if raw {
                body.iter().collect()
            } else {
                decode_str(body, body_start)?
            };
            self.push(Tok::Str(text), pos);
        }
        Ok(())
    }
}

fn hex_value(body: &[char], at: usize, n: usize) -> Option<u32> {
    let digits = body.get(at..at + n)?;
    digits
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

/// Decodes the escapes shared by str and bytes; `Ok(Some((value, len)))`
/// for a recognised escape at `body[k] == '\\'`, `Ok(None)` when the
/// backslash stays as is.
fn common_escape(
    body: &[char],
    k: usize,
    base: usize,
    is_bytes: bool,
) -> PResult<Option<(u32, usize)>> {
    let Some(&c) = body.get(k + 1) else {
        return Ok(None);
    };
    let simple = match c {
        '\\' => Some('\\' as u32),
        '\'' => Some('\'' as u32),
        '"' => Some('"' as u32),
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(10),
        'r' => Some(13),
        't' => Some(9),
        'v' => Some(11),
        _ => None,
    };
    if let Some(v) = simple {
        return Ok(Some((v, 2)));
    }
    if c.is_digit(8) {
        let mut v = 0u32;
        let mut len = 1;
        while len <= 3 {
            match body.get(k + len).and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    v = v * 8 + d;
                    len += 1;
                }
                None => break,
            }
        }
        return Ok(Some((v, len)));
    }
    if c == 'x' {
        return match hex_value(body, k + 2, 2) {
            Some(v) => Ok(Some((v, 4))),
            None if is_bytes => err(base + k, "invalid \\x escape"),
            None => err(base + k, "truncated \\xXX escape"),
        };
    }
    Ok(None)
}

fn decode_str(body: &[char], base: usize) -> PResult<String> {
    let mut out = String::with_capacity(body.len());
    let mut k = 0;
    while k < body.len() {
        let c = body[k];
        if c != '\\' {
            out.push(c);
            k += 1;
            continue;
        }
        if body.get(k + 1) == Some(&'\n') {
            k += 2;
            continue;
        }
        let decoded = match common_escape(body, k, base, false)? {
            Some(d) => Some(d),
            None => match body.get(k + 1) {
                Some('u') => match hex_value(body, k + 2, 4) {
                    Some(v) => Some((v, 6)),
                    None => return err(base + k, "truncated \\uXXXX escape"),
                },
                Some('U') => match hex_value(body, k + 2, 8) {
                    Some(v) if v > 0x10ffff => return err(base + k, "illegal Unicode character"),
                    Some(v) => Some((v, 10)),
                    None => return err(base + k, "truncated \\UXXXXXXXX escape"),
                },
                Some('N') => {
                    return err(
                        base + k,
                        "\\N{...} escapes are not supported; use \\u or \\U",
                    );
                }
                _ => None,
            },
        };
        match decoded {
            Some((v, len)) => {
                let Some(ch) = char::from_u32(v) else {
                    return err(
                        base + k,
                        format!("lone surrogate \\u{v:04x} cannot be represented"),
                    );
                };
                out.push(ch);
                k += len;
            }
            None => {
                // Unknown escape: the backslash stays (CPython warns).
                out.push('\\');
                k += 1;
            }
        }
    }
    Ok(out)
}

fn decode_bytes(body: &[char], base: usize) -> PResult<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut k = 0;
    while k < body.len() {
        let c = body[k];
        if c != '\\' {
            out.push(c as u8);
            k += 1;
            continue;
        }
        if body.get(k + 1) == Some(&'\n') {
            k += 2;
            continue;
        }
        match common_escape(body, k, base, true)? {
            Some((v, len)) => {
                out.push((v & 0xff) as u8);
                k += len;
            }
            None => {
                out.push(b'\\');
                k += 1;
            }
        }
    }
    Ok(out)
}

/// The parsed expression, before `literal_eval`'s conversion rules.
#[derive(Debug)]
enum Node {
    Const(Value, usize),
    Name(String, usize),
    Unary(bool, Box<Node>, usize),
    Bin(bool, Box<Node>, Box<Node>, usize),
    Tuple(Vec<Node>, usize),
    List(Vec<Node>, usize),
    Set(Vec<Node>, usize),
    Dict(Vec<(Node, Node)>, usize),
    Call(String, Vec<Node>, usize),
}

impl Node {
    fn pos(&self) -> usize {
        match self {
            Node::Const(_, p)
            | Node::Name(_, p)
            | Node::Unary(_, _, p)
            | Node::Bin(_, _, _, p)
            | Node::Tuple(_, p)
            | Node::List(_, p)
            | Node::Set(_, p)
            | Node::Dict(_, p)
            | Node::Call(_, _, p) => *p,
        }
    }
}

struct Parser {
    toks: Vec<Token>,
    k: usize,
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Int(n) => format!("number {n}"),
        Tok::Float(_) | Tok::Imag(_) => "number".into(),
        Tok::Str(_) => "string".into(),
        Tok::Bytes(_) => "bytes".into(),
        Tok::Name(n) => format!("name '{n}'"),
        Tok::Punct(c) => format!("'{c}'"),
        Tok::Newline => "end of line".into(),
        Tok::Eof => "end of input".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof, and `k` never passes it.
        &self.toks[self.k.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.k < self.toks.len() - 1 {
            self.k += 1;
        }
        t
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek().tok == Tok::Punct(c)
    }

    fn unexpected<T>(&self, expected: &str) -> PResult<T> {
        let t = self.peek();
        err(
            t.pos,
            format!(
                "invalid syntax: expected {expected}, found {}",
                tok_text(&t.tok)
            ),
        )
    }

    fn expect(&mut self, c: char, expected: &str) -> PResult<()> {
        if self.is_punct(c) {
            self.bump();
            Ok(())
        } else {
            self.unexpected(expected)
        }
    }

    fn starts_expr(&self) -> bool {
        matches!(
            self.peek().tok,
            Tok::Int(_)
                | Tok::Float(_)
                | Tok::Imag(_)
                | Tok::Str(_)
                | Tok::Bytes(_)
                | Tok::Name(_)
                | Tok::Punct('(' | '[' | '{' | '+' | '-')
        )
    }

    fn top(&mut self) -> PResult<Node> {
        if matches!(self.peek().tok, Tok::Eof | Tok::Newline) {
            return self.unexpected("a literal");
        }
        let pos = self.peek().pos;
        let first = self.expr()?;
        let node = if self.is_punct(',') {
            let mut items = vec![first];
            while self.is_punct(',') {
                self.bump();
                if !self.starts_expr() {
                    break;
                }
                items.push(self.expr()?);
            }
            Node::Tuple(items, pos)
        } else {
            first
        };
        if self.peek().tok == Tok::Newline {
            self.bump();
        }
        if self.peek().tok != Tok::Eof {
            return self.unexpected("end of input");
        }
        Ok(node)
    }

    /// `[+-] atom (('+' | '-') [+-] atom)*`.
    fn expr(&mut self) -> PResult<Node> {
        let mut node = self.unary()?;
        while let Tok::Punct(c @ ('+' | '-')) = self.peek().tok {
            let pos = self.bump().pos;
            let right = self.unary()?;
            node = Node::Bin(c == '-', Box::new(node), Box::new(right), pos);
        }
        if let Tok::Punct(
            c @ ('*' | '/' | '%' | '@' | '<' | '>' | '=' | '!' | '&' | '|' | '^' | '~' | '.' | ';'),
        ) = self.peek().tok
        {
            return err(
                self.peek().pos,
                format!("operator '{c}' is not allowed in a literal"),
            );
        }
        Ok(node)
    }

    fn unary(&mut self) -> PResult<Node> {
        if let Tok::Punct(c @ ('+' | '-')) = self.peek().tok {
            let pos = self.bump().pos;
            if matches!(self.peek().tok, Tok::Punct('+' | '-')) {
                return err(
                    self.peek().pos,
                    "a unary sign applies only to a number literal",
                );
            }
            let operand = self.atom()?;
            return Ok(Node::Unary(c == '-', Box::new(operand), pos));
        }
        self.atom()
    }

    fn atom(&mut self) -> PResult<Node> {
        let t = self.bump();
        let pos = t.pos;
        let node = match t.tok {
            Tok::Int(n) => Node::Const(Value::from_bigint(n), pos),
            Tok::Float(x) => Node::Const(Value::Float(x), pos),
            Tok::Imag(x) => Node::Const(Value::Complex(0.0, x), pos),
            Tok::Str(mut s) => {
                loop {
                    match &self.peek().tok {
                        Tok::Str(more) => {
                            s.push_str(more);
                            self.bump();
                        }
                        Tok::Bytes(_) => {
                            return err(self.peek().pos, "cannot mix bytes and nonbytes literals");
                        }
                        _ => break,
                    }
                }
                Node::Const(Value::Str(s), pos)
            }
            Tok::Bytes(mut b) => {
                loop {
                    match &self.peek().tok {
                        Tok::Bytes(more) => {
                            b.extend_from_slice(more);
                            self.bump();
                        }
                        Tok::Str(_) => {
                            return err(self.peek().pos, "cannot mix bytes and nonbytes literals");
                        }
                        _ => break,
                    }
                }
                Node::Const(Value::Bytes(b), pos)
            }
            Tok::Name(name) => {
                if self.is_punct('(') {
                    self.bump();
                    let mut args = Vec::new();
                    while !self.is_punct(')') {
                        args.push(self.expr()?);
                        if !self.is_punct(',') {
                            break;
                        }
                        self.bump();
                    }
                    self.expect(')', "',' or ')'")?;
                    Node::Call(name, args, pos)
                } else {
                    Node::Name(name, pos)
                }
            }
            Tok::Punct('(') => {
                if self.is_punct(')') {
                    self.bump();
                    Node::Tuple(Vec::new(), pos)
                } else {
                    let first = self.expr()?;
                    if self.is_punct(',') {
                        let mut items = vec![first];
                        while self.is_punct(',') {
                            self.bump();
                            if self.is_punct(')') {
                                break;
                            }
                            items.push(self.expr()?);
                        }
                        self.expect(')', "',' or ')'")?;
                        Node::Tuple(items, pos)
                    } else {
                        self.expect(')', "',' or ')'")?;
                        first
                    }
                }
            }
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.is_punct(']') {
                    items.push(self.expr()?);
                    if !self.is_punct(',') {
                        break;
                    }
                    self.bump();
                }
                self.expect(']', "',' or ']'")?;
                Node::List(items, pos)
            }
            Tok::Punct('{') => self.brace(pos)?,
            Tok::Punct('*') => return err(pos, "starred expressions are not literals"),
            other => {
                return err(
                    pos,
                    format!(
                        "invalid syntax: expected a literal, found {}",
                        tok_text(&other)
                    ),
                );
            }
        };
        // Calls on, subscripts of and attributes of a literal.
        if let Tok::Punct(c @ ('(' | '[' | '.')) = self.peek().tok {
            let what = match c {
                '(' => "calls",
                '[' => "subscripts",
                _ => "attributes",
            };
            return err(self.peek().pos, format!("{what} are not literals"));
        }
        Ok(node)
    }

    fn brace(&mut self, pos: usize) -> PResult<Node> {
        if self.is_punct('}') {
            self.bump();
            return Ok(Node::Dict(Vec::new(), pos));
        }
        if self.is_punct('*') {
            return err(self.peek().pos, "'**' unpacking is not a literal");
        }
        let first = self.expr()?;
        if self.is_punct(':') {
            self.bump();
            let mut items = vec![(first, self.dict_value()?)];
            while self.is_punct(',') {
                self.bump();
                if self.is_punct('}') {
                    break;
                }
                if self.is_punct('*') {
                    return err(self.peek().pos, "'**' unpacking is not a literal");
                }
                let k = self.expr()?;
                self.expect(':', "':' after the dictionary key")?;
                items.push((k, self.dict_value()?));
            }
            self.expect('}', "',' or '}'")?;
            Ok(Node::Dict(items, pos))
        } else {
            let mut items = vec![first];
            while self.is_punct(',') {
                self.bump();
                if self.is_punct('}') {
                    break;
                }
                items.push(self.expr()?);
            }
            self.expect('}', "',' or '}'")?;
            Ok(Node::Set(items, pos))
        }
    }

    fn dict_value(&mut self) -> PResult<Node> {
        if !self.starts_expr() {
            return self.unexpected("an expression after the dictionary key and ':'");
        }
        self.expr()
    }
}

/// `ast.literal_eval`'s `_convert_num`: a number constant (not a bool).
fn convert_num(node: &Node) -> PResult<Value> {
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
fn convert_signed_num(node: &Node) -> PResult<Value> {
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

fn int_to_f64(v: &Value, pos: usize) -> PResult<f64> {
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

fn unhashable(v: &Value, pos: usize) -> PResult<()> {
    if v.is_hashable() {
        return Ok(());
    }
    let inner = find_unhashable(v).unwrap_or(v);
    err(pos, format!("unhashable type: '{}'", inner.type_name()))
}

fn find_unhashable(v: &Value) -> Option<&Value> {
    match v {
        Value::List(_) | Value::Dict(_) | Value::Set(_) => Some(v),
        Value::Tuple(items) | Value::FrozenSet(items) => items.iter().find_map(find_unhashable),
        _ => None,
    }
}

/// Builds set items like Python: the first of equal items stays.
fn make_set(items: Vec<(Value, usize)>) -> PResult<Vec<Value>> {
    let mut seen: HashMap<Key, ()> = HashMap::new();
    let mut unique = 0;
    let mut out = Vec::new();
    for (v, pos) in items {
        unhashable(&v, pos)?;
        if seen.insert(key(&v, &mut unique), ()).is_none() {
            out.push(v);
        }
    }
    Ok(out)
}

fn convert(node: &Node) -> PResult<Value> {
    match node {
        Node::Const(v, _) => Ok(v.clone()),
        Node::Name(name, pos) => match name.as_str() {
            "None" => Ok(Value::None),
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            _ => err(
                *pos,
                format!("name '{name}' is not a literal (only None, True and False are)"),
            ),
        },
        Node::Tuple(items, _) => Ok(Value::Tuple(
            items.iter().map(convert).collect::<PResult<_>>()?,
        )),
        Node::List(items, _) => Ok(Value::List(
            items.iter().map(convert).collect::<PResult<_>>()?,
        )),
        Node::Set(items, _) => {
            let vals = items
                .iter()
                .map(|n| Ok((convert(n)?, n.pos())))
                .collect::<PResult<Vec<_>>>()?;
            Ok(Value::Set(make_set(vals)?))
        }
        Node::Dict(items, _) => {
            let mut index: HashMap<Key, usize> = HashMap::new();
            let mut unique = 0;
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (kn, vn) in items {
                let k = convert(kn)?;
                unhashable(&k, kn.pos())?;
                let v = convert(vn)?;
                match index.get(&key(&k, &mut unique)) {
                    Some(&i) => {
                        if let Some(slot) = out.get_mut(i) {
                            slot.1 = v;
                        }
                    }
                    None => {
                        index.insert(key(&k, &mut unique), out.len());
                        out.push((k, v));
                    }
                }
            }
            Ok(Value::Dict(out))
        }
        Node::Call(name, args, pos) => match (name.as_str(), args.as_slice()) {
            ("set", []) => Ok(Value::Set(Vec::new())),
            ("set", _) => err(*pos, "only an empty set() call is a literal"),
            ("frozenset", []) => Ok(Value::FrozenSet(Vec::new())),
            ("frozenset", [arg]) => match convert(arg)? {
                Value::Set(items)
                | Value::List(items)
                | Value::Tuple(items)
                | Value::FrozenSet(items) => {
                    let vals = items.into_iter().map(|v| (v, arg.pos())).collect();
                    Ok(Value::FrozenSet(make_set(vals)?))
                }
                _ => err(
                    arg.pos(),
                    "frozenset() takes a set, list or tuple literal here",
                ),
            },
            ("frozenset", _) => err(*pos, "frozenset() takes at most one argument"),
            _ => err(
                *pos,
                format!("calling '{name}' is not a literal (only set() and frozenset(...) are)"),
            ),
        },
        Node::Unary(..) => convert_signed_num(node),
        Node::Bin(sub, left, right, pos) => {
            let l = convert_signed_num(left)?;
            let r = convert_num(right)?;
            let (Value::Complex(re, im), false) = (&r, matches!(l, Value::Complex(..))) else {
                return err(
                    *pos,
                    "only <real number> + <imaginary number> (or -) is a literal",
                );
            };
            let lf = int_to_f64(&l, left.pos())?;
            Ok(if *sub {
                Value::Complex(lf - re, 0.0 - im)
            } else {
                Value::Complex(lf + re, 0.0 + im)
            })
        }
    }
}

/// The 1-based line and column of char index `pos`, and that line's text.
fn locate(chars: &[char], pos: usize) -> (usize, usize, String) {
    let pos = pos.min(chars.len());
    let line_start = chars[..pos]
        .iter()
        .rposition(|&c| c == '\n')
        .map_or(0, |i| i + 1);
    let line = chars[..line_start].iter().filter(|&&c| c == '\n').count() + 1;
    let line_end = chars[pos..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(chars.len(), |i| pos + i);
    let text: String = chars[line_start..line_end].iter().collect();
    (line, pos - line_start + 1, text)
}

/// Parses a Python literal: what `ast.literal_eval` accepts (see the
/// module documentation for the few differences).
///
/// `None`, `True`, `False`; ints in any base with underscores, of any size;
/// floats (`1e5`, `.5`, `5.`); imaginary numbers and `real ± imaginary`;
/// one unary sign on a number; strings and bytes with every prefix and
/// quote kind, escapes and implicit concatenation; lists, tuples (also bare
/// `1, 2` at the top level), dicts, sets, `set()` and `frozenset(...)`.
/// Set items and dict keys are de-duplicated with Python's equality
/// (`{1, 1.0, True}` is `{1}`); unhashable ones are an error. Never panics.
pub fn parse_literal(s: &str) -> Result<Value, LiteralError> {
    // Universal newlines, as CPython's tokenizer sees the source.
    let chars: Vec<char> = {
        let mut out = Vec::with_capacity(s.len());
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\r' {
                if it.peek() == Some(&'\n') {
                    it.next();
                }
                out.push('\n');
            } else {
                out.push(c);
            }
        }
        out
    };
    let result = (|| {
        if let Some(i) = chars.iter().position(|&c| c == '\0') {
            return err(i, "source code string cannot contain null bytes");
        }
        let lexer = Lexer {
            s: &chars,
            i: 0,
            stack: Vec::new(),
            tokens: Vec::new(),
        };
        let toks = lexer.run()?;
        let mut parser = Parser { toks, k: 0 };
        let node = parser.top()?;
        convert(&node)
    })();
    result.map_err(|e| {
        let (line, column, source_line) = locate(&chars, e.pos);
        LiteralError {
            line,
            column,
            message: e.message,
            source_line,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pyrepr::repr;

    fn ok(s: &str) -> String {
        match parse_literal(s) {
            Ok(v) => repr(&v),
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }

    fn bad(s: &str) -> LiteralError {
        match parse_literal(s) {
            Ok(v) => panic!("{s:?} parsed as {}", repr(&v)),
            Err(e) => e,
        }
    }

    #[test]
    fn constants() {
        assert_eq!(ok("None"), "None");
        assert_eq!(ok("True"), "True");
        assert_eq!(ok(" False "), "False");
        assert_eq!(
            bad("none").message,
            "name 'none' is not a literal (only None, True and False are)"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(ok("0"), "0");
        assert_eq!(ok("00"), "0");
        assert_eq!(ok("0_0"), "0");
        assert_eq!(ok("1_000_000"), "1000000");
        assert_eq!(ok("0x_1f"), "31");
        assert_eq!(ok("0XfF"), "255");
        assert_eq!(ok("0o17"), "15");
        assert_eq!(ok("0b1010"), "10");
        assert_eq!(ok("-9223372036854775808"), "-9223372036854775808");
        assert!(matches!(
            parse_literal("-9223372036854775808"),
            Ok(Value::Int(i64::MIN))
        ));
        assert!(matches!(
            parse_literal("9223372036854775808"),
            Ok(Value::BigInt(_))
        ));
        assert_eq!(
            ok("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(ok("+5"), "5");
        for s in ["01", "0_7", "1__0", "1_", "0x", "0b2", "0o8", "0xg", "0b"] {
            bad(s);
        }
        assert_eq!(bad("0o8").message, "invalid digit '8' in octal literal");
    }

    #[test]
    fn floats() {
        assert_eq!(ok("1e5"), "100000.0");
        assert_eq!(ok(".5"), "0.5");
        assert_eq!(ok("5."), "5.0");
        assert_eq!(ok("1_000.5"), "1000.5");
        assert_eq!(ok("1e1_0"), "10000000000.0");
        assert_eq!(ok("1.e5"), "100000.0");
        assert_eq!(ok("09.5"), "9.5");
        assert_eq!(ok("0.0_1"), "0.01");
        assert_eq!(ok("1.5e400"), "inf");
        assert_eq!(ok("-0.0"), "-0.0");
        assert_eq!(ok("1E-5"), "1e-05");
        for s in [
            "inf", "nan", "1e", "1e+", "1._5", "1_.5", "1e_5", "1.5.3", ".e5",
        ] {
            bad(s);
        }
    }

    #[test]
    fn complex_numbers() {
        assert_eq!(ok("1j"), "1j");
        assert_eq!(ok("01j"), "1j");
        assert_eq!(ok("1+2j"), "(1+2j)");
        assert_eq!(ok("-1-2j"), "(-1-2j)");
        assert_eq!(ok("-1j"), "(-0-1j)");
        assert_eq!(ok("-0j"), "(-0-0j)");
        assert_eq!(ok("0-0j"), "0j");
        assert_eq!(ok("-0.0-0j"), "(-0+0j)");
        assert_eq!(ok("-0.0+1j"), "1j");
        assert_eq!(ok("(-1)-2j"), "(-1-2j)");
        assert_eq!(ok("1e309+1j"), "(inf+1j)");
        assert_eq!(ok("1e400j"), "infj");
        for s in [
            "1+-2j", "1+2j+3j", "1j+2", "True+1j", "1+2", "--1", "-True", "-(1,)", "1j_", "1_j",
        ] {
            bad(s);
        }
        assert_eq!(
            bad(&format!("1{}+1j", "0".repeat(400))).message,
            "int too large to convert to float"
        );
    }

    #[test]
    fn strings() {
        assert_eq!(ok("'a'"), "'a'");
        assert_eq!(ok("\"a'b\""), "\"a'b\"");
        assert_eq!(ok("'''a\nb'''"), "'a\\nb'");
        assert_eq!(ok("\"\"\"a\"b\"\"\""), "'a\"b'");
        assert_eq!(ok("''''a'''"), "\"'a\"");
        assert_eq!(
            ok("'\\n\\x41\\u1234\\U0001F600\\101\\0\\777'"),
            "'\\nAሴ😀A\\x00ǿ'"
        );
        assert_eq!(
            ok("'\\a\\b\\f\\v\\'\\\"\\\\'"),
            "'\\x07\\x08\\x0c\\x0b\\'\"\\\\'"
        );
        assert_eq!(ok("'\\d'"), "'\\\\d'");
        assert_eq!(ok("'a\\\nb'"), "'ab'");
        assert_eq!(ok("'''a\\\nb'''"), "'ab'");
        assert_eq!(ok("r'\\n'"), "'\\\\n'");
        assert_eq!(ok("R'\\''"), "\"\\\\'\"");
        assert_eq!(ok("r'\\\n'"), "'\\\\\\n'");
        assert_eq!(ok("u'x'"), "'x'");
        assert_eq!(ok("U'x'"), "'x'");
        assert_eq!(ok("'''a\r\nb'''"), "'a\\nb'");
        assert_eq!(ok("'a' 'b' \"c\""), "'abc'");
        assert_eq!(ok("('a'\n 'b')"), "'ab'");
        assert_eq!(ok("'a' \\\n 'b'"), "'ab'");
        assert_eq!(bad("'\\N{DASH}'").column, 2);
        assert_eq!(bad("'\\x4'").message, "truncated \\xXX escape");
        assert_eq!(bad("'\\U00110000'").message, "illegal Unicode character");
        bad("'\\ud800'");
        bad("'a");
        bad("'''a''");
        bad("'a\nb'");
        bad("f'a'");
        bad("ur'a'");
        assert_eq!(
            bad("'a' b'b'").message,
            "cannot mix bytes and nonbytes literals"
        );
    }

    #[test]
    fn bytes_literals() {
        assert_eq!(ok("b'a'"), "b'a'");
        assert_eq!(ok("B\"it's\""), "b\"it's\"");
        assert_eq!(
            ok("b'\\x00\\xff\\777\\u1234'"),
            "b'\\x00\\xff\\xff\\\\u1234'"
        );
        assert_eq!(ok("br'\\n'"), "b'\\\\n'");
        assert_eq!(ok("Rb'\\n'"), "b'\\\\n'");
        assert_eq!(ok("bR'x'"), "b'x'");
        assert_eq!(ok("b'a' b'b'"), "b'ab'");
        assert_eq!(
            bad("b'é'").message,
            "bytes can only contain ASCII literal characters"
        );
        assert_eq!(bad("b'\\x'").message, "invalid \\x escape");
    }

    #[test]
    fn containers() {
        assert_eq!(ok("[1, 2]"), "[1, 2]");
        assert_eq!(ok("[1, 2,]"), "[1, 2]");
        assert_eq!(ok("[]"), "[]");
        assert_eq!(ok("()"), "()");
        assert_eq!(ok("(1,)"), "(1,)");
        assert_eq!(ok("(1)"), "1");
        assert_eq!(ok("1, 2"), "(1, 2)");
        assert_eq!(ok("1,"), "(1,)");
        assert_eq!(ok("{}"), "{}");
        assert_eq!(ok("{'a': 1,}"), "{'a': 1}");
        assert_eq!(ok("{1,}"), "{1}");
        assert_eq!(ok("set()"), "set()");
        assert_eq!(ok("frozenset()"), "frozenset()");
        assert_eq!(ok("frozenset({1, 2})"), "frozenset({1, 2})");
        assert_eq!(ok("frozenset([2, 2])"), "frozenset({2})");
        assert_eq!(ok("[\n  1,  # one\n  2,\n]"), "[1, 2]");
        assert_eq!(ok("{1, 1.0, True}"), "{1}");
        assert_eq!(ok("{1: 'a', 1.0: 'b', True: 'c'}"), "{1: 'c'}");
        assert_eq!(ok("{-0.0, 0.0}"), "{-0.0}");
        assert_eq!(ok("{(1,), (1.0,)}"), "{(1,)}");
        assert_eq!(ok("{1, 2j, 1+0j}"), "{1, 2j}");
        for s in [
            "(,)",
            "[,]",
            "[1,,2]",
            "{,}",
            "{1:}",
            "{:1}",
            "{1:1, 2}",
            "{1, 2:3}",
            "set([])",
            "{1:2, **x}",
            "[*a]",
            "(1)(2)",
            "[1][0]",
            "1 2",
            "x",
        ] {
            bad(s);
        }
        assert_eq!(bad("{[1]}").message, "unhashable type: 'list'");
        assert_eq!(bad("{(1,[2])}").message, "unhashable type: 'list'");
        assert_eq!(bad("{{}: 1}").message, "unhashable type: 'dict'");
    }

    #[test]
    fn layout() {
        assert_eq!(ok("\n1"), "1");
        assert_eq!(ok("  1"), "1");
        assert_eq!(ok("# c\n1"), "1");
        assert_eq!(ok("1 # c"), "1");
        assert_eq!(ok("1\n\n"), "1");
        assert_eq!(ok("1 +\\\n 2j"), "(1+2j)");
        assert_eq!(ok("\\\n1"), "1");
        assert_eq!(ok("[1,\r2]"), "[1, 2]");
        assert_eq!(ok("\x0c1"), "1");
        assert_eq!(bad("\n  1").message, "unexpected indent");
        bad("1\n2");
        bad("1 \\\n");
        bad("");
        bad("   ");
        bad("1\0");
        bad("...");
    }

    #[test]
    fn error_positions() {
        let e = bad("[1, 2, x]");
        assert_eq!((e.line, e.column), (1, 8));
        let e = bad("[1,\n 2,\n 3 4]");
        assert_eq!((e.line, e.column, e.source_line.as_str()), (3, 4, " 3 4]"));
        let e = bad("[1, 2");
        assert_eq!((e.column, e.message.as_str()), (1, "'[' was never closed"));
        let e = bad("(1))");
        assert_eq!((e.column, e.message.as_str()), (4, "unmatched ')'"));
        let e = bad("(1]");
        assert_eq!(e.column, 3);
        // Like literal_eval, the left operand is checked first.
        let e = bad("'é' + x");
        assert_eq!(e.column, 1);
        let text = bad("[1, ?]").to_string();
        assert!(text.ends_with("    [1, ?]\n        ^"), "{text}");
    }

    #[test]
    fn depth_limit() {
        let ok_depth = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_literal(&ok_depth).is_ok());
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(bad(&deep).message.contains("too deeply nested"));
        let very_deep = "(".repeat(100_000);
        bad(&very_deep);
        bad(&"-".repeat(100_000));
        bad(&format!("{}1", "-".repeat(100_000)));
    }
}
