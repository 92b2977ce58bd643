//! Pretty printing like Python's `pprint.pformat`.
//!
//! A port of `pprint.PrettyPrinter` (CPython 3.11) for the types a
//! [`Value`] can hold: a value whose repr fits in the remaining width is
//! written as is; a dict, list, tuple, set or frozenset that does not fit
//! puts one item per line; a long str or bytes is split into implicitly
//! concatenated pieces. Sorting (set items always, dict keys with
//! [`PrettyOptions::sort_dicts`]) follows `pprint`'s `_safe_key`: Python's
//! `<` where it is defined, else the type name; two incomparable values of
//! the same type keep their order (CPython orders them by memory address).

use super::pyops::{sorted_dict_order, sorted_set_order};
use super::{Value, str_repr, write_repr};

/// Settings of [`pformat`], named like `pprint.PrettyPrinter`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrettyOptions {
    /// Attempted maximum number of columns (`width=80`).
    pub width: usize,
    /// Spaces added per nesting level (`indent=1`).
    pub indent: usize,
    /// Sort dict items by key (`sort_dicts=True`).
    pub sort_dicts: bool,
    /// Put as many items on a line as fit (`compact=False`).
    pub compact: bool,
}

impl Default for PrettyOptions {
    /// `pprint.pformat`'s defaults: width 80, indent 1, sorted dicts, not
    /// compact.
    fn default() -> Self {
        PrettyOptions {
            width: 80,
            indent: 1,
            sort_dicts: true,
            compact: false,
        }
    }
}

/// `pprint.pformat(v, width=width, sort_dicts=False)` (what `pprint.pp`
/// prints): dicts keep their insertion order, nested containers that do not
/// fit in `width` columns are broken over several lines.
///
/// A `width` of 0 (an error in Python) is taken as 1.
pub fn repr_pretty(v: &Value, width: usize) -> String {
    pformat(
        v,
        &PrettyOptions {
            width,
            sort_dicts: false,
            ..PrettyOptions::default()
        },
    )
}

/// `pprint.pformat(v, width=..., indent=..., sort_dicts=..., compact=...)`.
pub fn pformat(v: &Value, options: &PrettyOptions) -> String {
    let printer = Printer {
        width: to_isize(options.width.max(1)),
        per_level: to_isize(options.indent),
        sort_dicts: options.sort_dicts,
        compact: options.compact,
    };
    let mut out = String::new();
    printer.format(&mut out, v, 0, 0, 0);
    out
}

fn to_isize(n: usize) -> isize {
    isize::try_from(n)
        .unwrap_or(isize::MAX / 4)
        .min(isize::MAX / 4)
}

fn len(s: &str) -> isize {
    to_isize(s.chars().count())
}

fn spaces(n: isize) -> String {
    " ".repeat(usize::try_from(n).unwrap_or(0))
}

/// Python's `str.isspace`, which regular expressions' `\s` uses.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `str.splitlines(keepends=True)`.
fn splitlines_keepends(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r'
            && let Some(&(j, '\n')) = it.peek()
        {
            end = j + 1;
            it.next();
        }
        out.push(&s[start..end]);
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `re.findall(r'\S*\s*', line)` without the final empty match.
fn word_parts(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = line.char_indices().peekable();
    while it.peek().is_some() {
        while it.peek().is_some_and(|&(_, c)| !py_isspace(c)) {
            it.next();
        }
        while it.peek().is_some_and(|&(_, c)| py_isspace(c)) {
            it.next();
        }
        let end = it.peek().map_or(line.len(), |&(i, _)| i);
        out.push(&line[start..end]);
        start = end;
    }
    out
}

struct Printer {
    width: isize,
    per_level: isize,
    sort_dicts: bool,
    compact: bool,
}

impl Printer {
    fn safe_repr(&self, v: &Value) -> String {
        let mut s = String::new();
        write_repr(&mut s, v, self.sort_dicts);
        s
    }

    fn format(&self, out: &mut String, v: &Value, indent: isize, allowance: isize, level: usize) {
        let rep = self.safe_repr(v);
        let max_width = self.width - indent - allowance;
        if len(&rep) > max_width {
            let level = level + 1;
            match v {
                Value::Dict(items) => {
                    return self.pprint_dict(out, items, indent, allowance, level);
                }
                Value::List(items) => {
                    out.push('[');
                    self.format_items(out, items.iter(), indent, allowance + 1, level);
                    out.push(']');
                    return;
                }
                Value::Tuple(items) => {
                    let endchar = if items.len() == 1 { ",)" } else { ")" };
                    out.push('(');
                    self.format_items(out, items.iter(), indent, allowance + len(endchar), level);
                    out.push_str(endchar);
                    return;
                }
                Value::Set(items) | Value::FrozenSet(items) if !items.is_empty() => {
                    let (start, endchar, indent) = if matches!(v, Value::Set(_)) {
                        ("{", "}", indent)
                    } else {
                        ("frozenset({", "})", indent + 10)
                    };
                    out.push_str(start);
                    let order = sorted_set_order(items);
                    let sorted = order.iter().filter_map(|&i| items.get(i));
                    self.format_items(out, sorted, indent, allowance + len(endchar), level);
                    out.push_str(endchar);
                    return;
                }
                Value::Str(s) if !s.is_empty() => {
                    return self.pprint_str(out, s, indent, allowance, level);
                }
                Value::Bytes(b) if b.len() > 4 => {
                    return self.pprint_bytes(out, b, indent, allowance, level);
                }
                _ => {}
            }
        }
        out.push_str(&rep);
    }

    fn pprint_dict(
        &self,
        out: &mut String,
        items: &[(Value, Value)],
        indent: isize,
        allowance: isize,
        level: usize,
    ) {
        out.push('{');
        if self.per_level > 1 {
            out.push_str(&spaces(self.per_level - 1));
        }
        if !items.is_empty() {
            let order: Vec<usize> = if self.sort_dicts {
                sorted_dict_order(items)
            } else {
                (0..items.len()).collect()
            };
            let indent = indent + self.per_level;
            let allowance = allowance + 1;
            let delimnl = format!(",\n{}", spaces(indent));
            for (n, &i) in order.iter().enumerate() {
                let Some((k, v)) = items.get(i) else { continue };
                let last = n + 1 == order.len();
                let rep = self.safe_repr(k);
                out.push_str(&rep);
                out.push_str(": ");
                self.format(
                    out,
                    v,
                    indent + len(&rep) + 2,
                    if last { allowance } else { 1 },
                    level,
                );
                if !last {
                    out.push_str(&delimnl);
                }
            }
        }
        out.push('}');
    }

    fn format_items<'v>(
        &self,
        out: &mut String,
        items: impl Iterator<Item = &'v Value>,
        indent: isize,
        allowance: isize,
        level: usize,
    ) {
        let indent = indent + self.per_level;
        if self.per_level > 1 {
            out.push_str(&spaces(self.per_level - 1));
        }
        let delimnl = format!(",\n{}", spaces(indent));
        let mut delim = String::new();
        let mut max_width = self.width - indent + 1;
        let mut width = max_width;
        let mut items = items.peekable();
        while let Some(ent) = items.next() {
            let last = items.peek().is_none();
            if last {
                max_width -= allowance;
                width -= allowance;
            }
            if self.compact {
                let rep = self.safe_repr(ent);
                let w = len(&rep) + 2;
                if width < w {
                    width = max_width;
                    if !delim.is_empty() {
                        delim.clone_from(&delimnl);
                    }
                }
                if width >= w {
                    width -= w;
                    out.push_str(&delim);
                    delim = ", ".to_owned();
                    out.push_str(&rep);
                    continue;
                }
            }
            out.push_str(&delim);
            delim.clone_from(&delimnl);
            self.format(out, ent, indent, if last { allowance } else { 1 }, level);
        }
    }

    fn pprint_str(
        &self,
        out: &mut String,
        s: &str,
        mut indent: isize,
        mut allowance: isize,
        level: usize,
    ) {
        let lines = splitlines_keepends(s);
        if level == 1 {
            indent += 1;
            allowance += 1;
        }
        let max_width = self.width - indent;
        let mut max_width1 = max_width;
        let mut chunks: Vec<String> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let last_line = i + 1 == lines.len();
            let rep = str_repr(line);
            if last_line {
                max_width1 -= allowance;
            }
            if len(&rep) <= max_width1 {
                chunks.push(rep);
                continue;
            }
            let parts = word_parts(line);
            let mut max_width2 = max_width;
            let mut current = String::new();
            for (j, part) in parts.iter().enumerate() {
                let candidate = format!("{current}{part}");
                if j + 1 == parts.len() && last_line {
                    max_width2 -= allowance;
                }
                if len(&str_repr(&candidate)) > max_width2 {
                    if !current.is_empty() {
                        chunks.push(str_repr(&current));
                    }
                    current = (*part).to_owned();
                } else {
                    current = candidate;
                }
            }
            if !current.is_empty() {
                chunks.push(str_repr(&current));
            }
        }
        if chunks.len() == 1 {
            out.push_str(&chunks[0]);
            return;
        }
        if level == 1 {
            out.push('(');
        }
        for (i, rep) in chunks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
                out.push_str(&spaces(indent));
            }
            out.push_str(rep);
        }
        if level == 1 {
            out.push(')');
        }
    }

    fn pprint_bytes(
        &self,
        out: &mut String,
        b: &[u8],
        mut indent: isize,
        mut allowance: isize,
        level: usize,
    ) {
        let parens = level == 1;
        if parens {
            indent += 1;
            allowance += 1;
            out.push('(');
        }
        let mut first = true;
        for rep in wrap_bytes_repr(b, self.width - indent, allowance) {
            if !first {
                out.push('\n');
                out.push_str(&spaces(indent));
            }
            first = false;
            out.push_str(&rep);
        }
        if parens {
            out.push(')');
        }
    }
}

/// `pprint._wrap_bytes_repr`.
fn wrap_bytes_repr(b: &[u8], mut width: isize, allowance: isize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let last = b.len() / 4 * 4;
    for (n, part) in b.chunks(4).enumerate() {
        let mut candidate = current.clone();
        candidate.extend_from_slice(part);
        if n * 4 == last {
            width -= allowance;
        }
        if len(&super::bytes_repr(&candidate)) > width {
            if !current.is_empty() {
                out.push(super::bytes_repr(&current));
            }
            current = part.to_vec();
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() {
        out.push(super::bytes_repr(&current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(r: std::ops::Range<i64>) -> Value {
        Value::List(r.map(Value::Int).collect())
    }

    #[test]
    fn short_values_stay_on_one_line() {
        assert_eq!(repr_pretty(&ints(0..3), 80), "[0, 1, 2]");
        assert_eq!(repr_pretty(&Value::str("x"), 1), "'x'");
    }

    #[test]
    fn lists_break_one_item_per_line() {
        assert_eq!(repr_pretty(&ints(0..4), 5), "[0,\n 1,\n 2,\n 3]");
        let nested = Value::List(vec![ints(0..3), ints(10..13)]);
        assert_eq!(
            repr_pretty(&nested, 12),
            "[[0, 1, 2],\n [10,\n  11,\n  12]]"
        );
        let t = Value::Tuple(vec![Value::str("aaaa")]);
        assert_eq!(repr_pretty(&t, 5), "('aaaa',)");
    }

    #[test]
    fn dicts_and_sorting() {
        let d = Value::Dict(vec![
            (Value::str("b"), ints(0..3)),
            (Value::str("a"), Value::Int(1)),
        ]);
        assert_eq!(
            repr_pretty(&d, 12),
            "{'b': [0,\n       1,\n       2],\n 'a': 1}"
        );
        let sorted = pformat(&d, &PrettyOptions::default());
        assert_eq!(sorted, "{'a': 1, 'b': [0, 1, 2]}");
    }

    #[test]
    fn sets_are_sorted_when_broken() {
        let s = Value::FrozenSet(vec![Value::Int(30), Value::Int(10), Value::Int(20)]);
        assert_eq!(repr_pretty(&s, 80), "frozenset({30, 10, 20})");
        assert_eq!(
            repr_pretty(&s, 10),
            "frozenset({10,\n           20,\n           30})"
        );
    }

    #[test]
    fn long_strings_are_split() {
        let s = Value::str("hello world, this is long");
        assert_eq!(
            repr_pretty(&s, 12),
            "('hello '\n 'world, '\n 'this is '\n 'long')"
        );
        let b = Value::Bytes(b"abcdefghijkl".to_vec());
        assert_eq!(repr_pretty(&b, 10), "(b'abcd'\n b'efgh'\n b'ijkl')");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            splitlines_keepends("a\nb\r\nc\rd"),
            vec!["a\n", "b\r\n", "c\r", "d"]
        );
        assert_eq!(word_parts("ab  cd e"), vec!["ab  ", "cd ", "e"]);
        assert_eq!(word_parts("  x"), vec!["  ", "x"]);
    }
}
