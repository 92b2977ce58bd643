//! The parser: tokens to an expression tree ([`Node`]), before any of
//! `literal_eval`'s conversion rules.

use super::error::{PResult, err};
use super::lexer::{Tok, Token};
use crate::wire::Value;

/// The parsed expression, before `literal_eval`'s conversion rules.
#[derive(Debug)]
pub(super) enum Node {
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
    /// Char index where the node starts.
    pub(super) fn pos(&self) -> usize {
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

/// The parser's state: the tokens and the index of the next one.
pub(super) struct Parser {
    pub(super) toks: Vec<Token>,
    pub(super) k: usize,
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

    /// The whole input: one expression (a bare `1, 2` is a tuple), then the
    /// end.
    pub(super) fn top(&mut self) -> PResult<Node> {
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
