//! The tokens and the tokenizer's main loop: line structure (blank and
//! comment lines, continuations, brackets spanning lines), names and
//! punctuation. Numbers and strings are lexed in `numbers.rs` and
//! `strings.rs`.

use num_bigint::BigInt;

use super::MAX_DEPTH;
use super::error::{PResult, describe, err};

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
/// A token and where it starts.
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Char index of the first character.
    pub(super) pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

/// Whether `c` may continue a name.
pub(super) fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The tokenizer's state: the input, where it is, open brackets and the
/// tokens so far.
pub(super) struct Lexer<'a> {
    pub(super) s: &'a [char],
    pub(super) i: usize,
    /// Open brackets: the char and its position.
    pub(super) stack: Vec<(char, usize)>,
    pub(super) tokens: Vec<Token>,
}

impl Lexer<'_> {
    /// The character `k` places ahead, if any.
    pub(super) fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    /// Adds a token that starts at char index `pos`.
    pub(super) fn push(&mut self, tok: Tok, pos: usize) {
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

    /// Tokenizes the whole input; the tokens end with [`Tok::Eof`].
    pub(super) fn run(mut self) -> PResult<Vec<Token>> {
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
}
