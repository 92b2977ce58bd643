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
//!
//! # Files
//!
//! - `mod.rs`: [`parse_literal`], which runs the parts below in turn.
//! - `error.rs`: errors at a character position, and their line and column.
//! - `lexer.rs`: the tokens and the tokenizer's main loop (brackets, names,
//!   punctuation, line structure).
//! - `numbers.rs`: number tokens, and the number rules of `literal_eval`
//!   (signs, `real ± imaginary`).
//! - `strings.rs`: string and bytes tokens: prefixes, quotes, escapes.
//! - `parser.rs`: tokens to an expression tree.
//! - `convert.rs`: the expression tree to a [`Value`]: containers, `set()`
//!   and `frozenset(...)`, hashability and de-duplication.
//! - `tests.rs`: unit tests.

mod convert;
mod error;
mod lexer;
mod numbers;
mod parser;
mod strings;
#[cfg(test)]
mod tests;

use super::LiteralError;
use crate::wire::Value;
use convert::convert;
use error::{err, locate};
use lexer::Lexer;
use parser::Parser;

/// The deepest bracket nesting [`parse_literal`] accepts (CPython's own
/// tokenizer stops at 200 too).
pub const MAX_DEPTH: usize = 200;

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
