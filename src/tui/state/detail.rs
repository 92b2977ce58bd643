//! One message opened in full: its decoded value as a tree of lines whose
//! containers fold and unfold, and a hex dump of its payload.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::engine::Payload;
use crate::wire::Value;
use crate::wire::pyrepr::repr_prefix;

/// Most characters of one line of the value.
const LINE_CHARS: usize = 400;
/// Most nodes built for one value (the rest is counted on one line).
const MAX_NODES: usize = 50_000;
/// Containers with more items than this start folded (below the top).
const FOLD_OVER: usize = 20;

/// One line of the value tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Nesting depth (0 for the value itself).
    pub depth: usize,
    /// Index, key or `""` for the top.
    pub label: String,
    /// A leaf's repr; a container's type and size (`list, 3 items`).
    pub text: String,
    /// A container's repr cut short (shown when it is folded).
    pub folded_text: Option<String>,
    /// Index after this node's last descendant.
    pub end: usize,
}

/// A message opened in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// The message's seq in the ring.
    pub seq: u64,
    /// One line saying what the message is.
    pub title: String,
    /// The value's lines (or one line saying why there is none).
    pub nodes: Vec<Node>,
    /// Nodes folded, by index.
    pub folded: BTreeSet<usize>,
    /// The node under the cursor.
    pub cursor: usize,
    /// The payload bytes (dumped 16 a line, only the lines on screen).
    pub bytes: Payload,
    /// Lines of the hex dump scrolled away.
    pub hex_scroll: usize,
}

impl Detail {
    /// A detail of `value` (or of why there is none) with `bytes` dumped.
    pub fn new(seq: u64, title: String, value: Result<Value, String>, bytes: Payload) -> Detail {
        let mut nodes = Vec::new();
        match value {
            Ok(v) => build(&v, 0, String::new(), &mut nodes),
            Err(why) => nodes.push(Node {
                depth: 0,
                label: String::new(),
                text: why,
                folded_text: None,
                end: 1,
            }),
        }
        let folded = nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.depth > 0 && n.folded_text.is_some() && n.end - i - 1 > FOLD_OVER)
            .map(|(i, _)| i)
            .collect();
        Detail {
            seq,
            title,
            nodes,
            folded,
            cursor: 0,
            bytes,
            hex_scroll: 0,
        }
    }

    /// The nodes shown (descendants of folded nodes hidden), by index.
    pub fn visible(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.nodes.len() {
            out.push(i);
            i = if self.folded.contains(&i) {
                self.nodes[i].end
            } else {
                i + 1
            };
        }
        out
    }

    /// Moves the cursor by `delta` shown lines.
    pub fn step(&mut self, delta: isize) {
        let shown = self.visible();
        let at = shown.iter().position(|&i| i == self.cursor).unwrap_or(0);
        let to = at
            .saturating_add_signed(delta)
            .min(shown.len().saturating_sub(1));
        self.cursor = shown.get(to).copied().unwrap_or(0);
    }

    /// Folds or unfolds the container under the cursor.
    pub fn toggle(&mut self) {
        let c = self.cursor;
        if self.nodes.get(c).is_some_and(|n| n.folded_text.is_some()) && !self.folded.remove(&c) {
            self.folded.insert(c);
        }
    }

    /// Scrolls the hex dump by `delta` lines.
    pub fn scroll_hex(&mut self, delta: isize) {
        self.hex_scroll = self
            .hex_scroll
            .saturating_add_signed(delta)
            .min(self.hex_lines().saturating_sub(1));
    }

    /// Lines of the hex dump.
    pub fn hex_lines(&self) -> usize {
        self.bytes.len().div_ceil(16)
    }

    /// Line `i` of the hex dump, if there is one.
    pub fn hex_line(&self, i: usize) -> Option<String> {
        let chunk = self.bytes.bytes().chunks(16).nth(i)?;
        Some(hex_line(i * 16, chunk))
    }
}

fn build(v: &Value, depth: usize, label: String, out: &mut Vec<Node>) {
    let at = out.len();
    let items: Vec<(String, &Value)> = match v {
        Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) | Value::FrozenSet(xs) => xs
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("[{i}] "), x))
            .collect(),
        Value::Dict(kvs) => kvs
            .iter()
            .map(|(k, x)| (format!("{}: ", repr_prefix(k, 60)), x))
            .collect(),
        leaf => {
            out.push(Node {
                depth,
                label,
                text: cut(repr_prefix(leaf, LINE_CHARS + 1)),
                folded_text: None,
                end: at + 1,
            });
            return;
        }
    };
    let kind = match v {
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Set(_) => "set",
        Value::FrozenSet(_) => "frozenset",
        _ => "dict",
    };
    let n = items.len();
    out.push(Node {
        depth,
        label,
        text: format!("{kind}, {n} item{}", if n == 1 { "" } else { "s" }),
        folded_text: Some(cut(repr_prefix(v, LINE_CHARS + 1))),
        end: at + 1,
    });
    for (i, (label, x)) in items.into_iter().enumerate() {
        if out.len() >= MAX_NODES {
            out.push(Node {
                depth: depth + 1,
                label: String::new(),
                text: format!("… {} more not shown", n - i),
                folded_text: None,
                end: out.len() + 1,
            });
            break;
        }
        build(x, depth + 1, label, out);
    }
    out[at].end = out.len();
}

fn cut(text: String) -> String {
    if text.chars().count() <= LINE_CHARS {
        return text;
    }
    let mut s: String = text.chars().take(LINE_CHARS - 1).collect();
    s.push('…');
    s
}

/// One line of a hex dump: `offset  hex bytes  |ascii|` for up to 16 bytes.
pub fn hex_line(offset: usize, chunk: &[u8]) -> String {
    let mut line = format!("{offset:08x} ");
    for j in 0..16 {
        if j == 8 {
            line.push(' ');
        }
        match chunk.get(j) {
            Some(b) => {
                let _ = write!(line, " {b:02x}");
            }
            None => line.push_str("   "),
        }
    }
    line.push_str("  |");
    line.extend(chunk.iter().map(|&b| {
        if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '.'
        }
    }));
    line.push('|');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_fold_and_unfold() {
        let big = Value::List((0..30).map(Value::Int).collect());
        let v = Value::Dict(vec![
            (Value::str("a"), Value::Int(1)),
            (Value::str("big"), big),
        ]);
        let mut d = Detail::new(0, "t".into(), Ok(v), Payload::new(b""));
        assert_eq!(d.nodes.len(), 1 + 1 + 1 + 30);
        // The big list starts folded.
        assert_eq!(d.visible(), [0, 1, 2]);
        d.step(2);
        assert_eq!(d.cursor, 2);
        d.toggle();
        assert_eq!(d.visible().len(), 33);
        d.cursor = 0;
        d.toggle();
        assert_eq!(d.visible(), [0]);
        assert_eq!(d.nodes[2].label, "'big': ");
    }

    #[test]
    fn the_hex_dump_has_offsets_bytes_and_text() {
        let d = Detail::new(
            0,
            "t".into(),
            Ok(Value::None),
            Payload::new(b"hello, world! 0123456789"),
        );
        assert_eq!(d.hex_lines(), 2);
        let lines: Vec<String> = (0..2).filter_map(|i| d.hex_line(i)).collect();
        assert_eq!(d.hex_line(2), None);
        assert!(
            lines[0].starts_with("00000000  68 65 6c 6c 6f"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("|hello, world! 01|"), "{}", lines[0]);
        assert!(lines[1].starts_with("00000010  32 33"), "{}", lines[1]);
    }
}
