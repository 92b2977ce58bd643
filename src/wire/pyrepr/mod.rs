//! Python text for values: CPython's `repr()`, `pprint`-style pretty
//! printing, and the inverse, a parser for what `ast.literal_eval` accepts.
//!
//! * [`repr`] gives exactly the text CPython 3's `repr()` gives for the same
//!   value, with two documented exceptions: a channel is written
//!   `<Channel id=3>` (execnet writes `<Channel id=3 open>`, but a [`Value`]
//!   does not know whether its channel is open), and the set of printable
//!   characters comes from Unicode 16.0 (the `unicode-general-category`
//!   crate; CPython 3.14 uses 16.0 too) where CPython 3.11 uses Unicode 14.0
//!   and 3.12/3.13 use 15.0/15.1: a character first assigned after the
//!   interpreter's Unicode version is escaped by that interpreter
//!   (`'\U0001fae8'` on 3.11) but kept as is here.
//! * [`repr_prefix`] is the start of [`repr`], for previews of values of any
//!   size: it stops writing soon after the characters it returns.
//! * [`repr_pretty`] / [`pformat`] follow `pprint.pformat`.
//! * [`parse_literal`] parses what `ast.literal_eval` accepts, plus
//!   `frozenset()` / `frozenset({...})` so that every [`repr`] of a value
//!   without channels reads back.

mod float;
mod parse;
mod pretty;
#[cfg(test)]
mod proptests;
mod pyops;

use std::fmt;

use unicode_general_category::{GeneralCategory, get_general_category};

use super::Value;

pub use float::{complex_repr, float_repr};
pub use parse::{MAX_DEPTH, parse_literal};
pub use pretty::{PrettyOptions, pformat, repr_pretty};
pub use pyops::{py_eq, py_lt, same_value};

/// A Python literal that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters, within [`LiteralError::line`]) where
    /// the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The text of the offending line (without its line break), for display.
    pub source_line: String,
}

impl fmt::Display for LiteralError {
    /// The message, then the input line and a caret under the column:
    ///
    /// ```text
    /// invalid Python literal: unexpected ']' (line 1, column 5)
    ///     [1, ]]
    ///         ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Python literal: {} (line {}, column {})",
            self.message, self.line, self.column
        )?;
        // Keep tabs so that the caret lines up in a terminal; show other
        // control characters as spaces so they cannot mess up the display.
        let shown: String = self
            .source_line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let pad: String = shown
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "\n    {shown}\n    {pad}^")
    }
}

impl std::error::Error for LiteralError {}

/// Whether CPython's `str.isprintable()` holds for `c` (with this crate's
/// Unicode version): everything except categories Cc, Cf, Cs, Co, Cn, Zl,
/// Zp and Zs, but ASCII space is printable.
pub fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

/// Exactly what CPython's `repr()` gives for the same value (see the module
/// documentation for the two exceptions).
pub fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v, false);
    out
}

/// The first `max_chars` characters of [`repr`] of `v` (all of it when it is
/// shorter), without writing much more than that: a cut-short preview of a
/// big value costs about `max_chars`, not the size of the value. Its nesting
/// is only followed as far as the text reaches, so any depth is fine.
pub fn repr_prefix(v: &Value, max_chars: usize) -> String {
    let mut out = String::new();
    // Once `out` holds more than 4 * max_chars bytes it holds more than
    // max_chars characters, and the rest cannot show.
    write_repr_upto(&mut out, v, false, max_chars.saturating_mul(4));
    match out.char_indices().nth(max_chars) {
        Some((at, _)) => {
            out.truncate(at);
            out
        }
        None => out,
    }
}

/// Appends the repr of `v`; `sort` (used by pretty printing with
/// `sort_dicts`) orders dict items by key as `pprint` does.
pub(crate) fn write_repr(out: &mut String, v: &Value, sort: bool) {
    write_repr_upto(out, v, sort, usize::MAX);
}

/// [`write_repr`] that may stop anywhere once `out` is longer than `limit`
/// bytes (the text written is then a prefix of the repr, longer than
/// `limit`).
fn write_repr_upto(out: &mut String, v: &Value, sort: bool, limit: usize) {
    if out.len() > limit {
        return;
    }
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::BigInt(n) => out.push_str(&n.to_string()),
        Value::Float(x) => out.push_str(&float_repr(*x)),
        Value::Complex(re, im) => out.push_str(&complex_repr(*re, *im)),
        Value::Str(s) => write_str_repr(out, s, limit),
        Value::Bytes(b) => write_bytes_repr(out, b, limit),
        Value::List(items) => {
            out.push('[');
            write_items(out, items, sort, limit);
            out.push(']');
        }
        Value::Tuple(items) => {
            out.push('(');
            write_items(out, items, sort, limit);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::Dict(items) => {
            out.push('{');
            let order: Vec<usize> = if sort {
                pyops::sorted_dict_order(items)
            } else {
                (0..items.len()).collect()
            };
            for (n, i) in order.into_iter().enumerate() {
                if out.len() > limit {
                    return;
                }
                if let Some((k, val)) = items.get(i) {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    write_repr_upto(out, k, sort, limit);
                    out.push_str(": ");
                    write_repr_upto(out, val, sort, limit);
                }
            }
            out.push('}');
        }
        Value::Set(items) => {
            if items.is_empty() {
                out.push_str("set()");
            } else {
                // pprint's safe repr uses plain repr() for sets.
                out.push('{');
                write_items(out, items, false, limit);
                out.push('}');
            }
        }
        Value::FrozenSet(items) => {
            if items.is_empty() {
                out.push_str("frozenset()");
            } else {
                out.push_str("frozenset({");
                write_items(out, items, false, limit);
                out.push_str("})");
            }
        }
        Value::Channel(id) => {
            out.push_str("<Channel id=");
            out.push_str(&id.to_string());
            out.push('>');
        }
    }
}

fn write_items(out: &mut String, items: &[Value], sort: bool, limit: usize) {
    for (i, item) in items.iter().enumerate() {
        if out.len() > limit {
            return;
        }
        if i > 0 {
            out.push_str(", ");
        }
        write_repr_upto(out, item, sort, limit);
    }
}

fn push_hex(out: &mut String, prefix: &str, value: u32, digits: usize) {
    out.push_str(prefix);
    out.push_str(&format!("{value:0digits$x}"));
}

/// `repr(str)`: quotes and escapes like CPython's `unicode_repr`.
pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut out, s, usize::MAX);
    out
}

/// Appends `repr(s)`; may stop once `out` is longer than `limit` bytes.
fn write_str_repr(out: &mut String, s: &str, limit: usize) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        if out.len() > limit {
            return;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let n = c as u32;
                if n <= 0xff {
                    push_hex(out, "\\x", n, 2);
                } else if n <= 0xffff {
                    push_hex(out, "\\u", n, 4);
                } else {
                    push_hex(out, "\\U", n, 8);
                }
            }
        }
    }
    out.push(quote);
}

/// `repr(bytes)`: `b'...'` with CPython's quote choice and escapes.
pub fn bytes_repr(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 3);
    write_bytes_repr(&mut out, b, usize::MAX);
    out
}

/// Appends `repr(b)`; may stop once `out` is longer than `limit` bytes.
fn write_bytes_repr(out: &mut String, b: &[u8], limit: usize) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.push('b');
    out.push(quote as char);
    for &c in b {
        if out.len() > limit {
            return;
        }
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => push_hex(out, "\\x", c.into(), 2),
        }
    }
    out.push(quote as char);
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn scalars() {
        assert_eq!(repr(&Value::None), "None");
        assert_eq!(repr(&Value::Bool(true)), "True");
        assert_eq!(repr(&Value::Bool(false)), "False");
        assert_eq!(repr(&Value::Int(-42)), "-42");
        let big: BigInt = BigInt::from(10).pow(30u32);
        assert_eq!(
            repr(&Value::from_bigint(-big)),
            "-1000000000000000000000000000000"
        );
        assert_eq!(repr(&Value::Float(1.0)), "1.0");
        assert_eq!(repr(&Value::Complex(0.0, 1.0)), "1j");
        assert_eq!(repr(&Value::Channel(3)), "<Channel id=3>");
    }

    #[test]
    fn repr_prefix_is_the_start_of_repr() {
        let v = Value::List(vec![
            s("it's"),
            Value::Bytes(b"a\x00'".to_vec()),
            Value::Float(1e16),
            Value::Tuple(vec![Value::Int(1)]),
            Value::Dict(vec![(s("k"), Value::Set(vec![]))]),
            Value::FrozenSet(vec![Value::None]),
        ]);
        let full = repr(&v);
        let n = full.chars().count();
        for max in 0..n + 3 {
            let want: String = full.chars().take(max).collect();
            assert_eq!(repr_prefix(&v, max), want, "{max}");
        }
        // Non-ASCII text is cut at a character, never inside one.
        let v = s(&"é😀".repeat(100));
        assert_eq!(repr_prefix(&v, 3), "'é😀");
    }

    #[test]
    fn repr_prefix_does_not_walk_what_it_does_not_show() {
        // Deeper than a recursive repr could go: only the shown part is
        // visited.
        let mut deep = Value::Int(1);
        for _ in 0..100_000 {
            deep = Value::List(vec![deep]);
        }
        assert_eq!(repr_prefix(&deep, 5), "[[[[[");
        let mut stack = vec![deep];
        while let Some(v) = stack.pop() {
            if let Value::List(items) = v {
                stack.extend(items);
            }
        }
        let big = Value::List((0..1_000_000).map(Value::Int).collect());
        assert_eq!(repr_prefix(&big, 12), "[0, 1, 2, 3,");
    }

    #[test]
    fn string_quotes() {
        assert_eq!(str_repr(""), "''");
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("say \"hi\""), "'say \"hi\"'");
        assert_eq!(str_repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(str_repr("back\\slash"), "'back\\\\slash'");
    }

    #[test]
    fn string_escapes() {
        assert_eq!(str_repr("\n\r\t"), "'\\n\\r\\t'");
        assert_eq!(str_repr("\x00\x1f\x7f"), "'\\x00\\x1f\\x7f'");
        assert_eq!(str_repr("\u{80}\u{9f}\u{a0}\u{a1}"), "'\\x80\\x9f\\xa0¡'");
        assert_eq!(str_repr("\u{ad}"), "'\\xad'");
        assert_eq!(str_repr("é中😀"), "'é中😀'");
        assert_eq!(
            str_repr("\u{2028}\u{200b}\u{3000}"),
            "'\\u2028\\u200b\\u3000'"
        );
        assert_eq!(str_repr("\u{e000}\u{378}"), "'\\ue000\\u0378'");
        assert_eq!(str_repr("\u{10ffff}\u{e0001}"), "'\\U0010ffff\\U000e0001'");
        assert_eq!(str_repr("\u{f0000}"), "'\\U000f0000'");
    }

    #[test]
    fn bytes_reprs() {
        assert_eq!(bytes_repr(b""), "b''");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(
            bytes_repr(b"\x00\t\n\r\x1f \x7e\x7f\x80\xff\\"),
            "b'\\x00\\t\\n\\r\\x1f ~\\x7f\\x80\\xff\\\\'"
        );
    }

    #[test]
    fn containers() {
        let one = Value::Int(1);
        let two = Value::Int(2);
        assert_eq!(repr(&Value::List(vec![one.clone(), two.clone()])), "[1, 2]");
        assert_eq!(repr(&Value::List(vec![])), "[]");
        assert_eq!(repr(&Value::Tuple(vec![one.clone()])), "(1,)");
        assert_eq!(repr(&Value::Tuple(vec![])), "()");
        assert_eq!(
            repr(&Value::Tuple(vec![one.clone(), two.clone()])),
            "(1, 2)"
        );
        assert_eq!(repr(&Value::Dict(vec![])), "{}");
        assert_eq!(repr(&Value::Dict(vec![(s("a"), one.clone())])), "{'a': 1}");
        assert_eq!(repr(&Value::Set(vec![])), "set()");
        assert_eq!(repr(&Value::Set(vec![one.clone(), two.clone()])), "{1, 2}");
        assert_eq!(repr(&Value::FrozenSet(vec![])), "frozenset()");
        assert_eq!(repr(&Value::FrozenSet(vec![one.clone()])), "frozenset({1})");
        let nested = Value::Dict(vec![(
            Value::Tuple(vec![s("k"), Value::None]),
            Value::List(vec![Value::Set(vec![Value::Bytes(b"x".to_vec())])]),
        )]);
        assert_eq!(repr(&nested), "{('k', None): [{b'x'}]}");
    }

    #[test]
    fn printable_rules() {
        assert!(is_printable(' '));
        assert!(!is_printable('\u{a0}'));
        assert!(!is_printable('\u{85}'));
        assert!(!is_printable('\u{feff}'));
        assert!(is_printable('\u{301}'));
        assert!(is_printable('ÿ'));
    }

    #[test]
    fn error_display_has_caret() {
        let e = LiteralError {
            line: 1,
            column: 5,
            message: "unexpected ']'".into(),
            source_line: "[1, ]]".into(),
        };
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "invalid Python literal: unexpected ']' (line 1, column 5)"
        );
        assert_eq!(lines[1], "    [1, ]]");
        assert_eq!(lines[2], "        ^");
    }
}
