//! The event table: one row per event, columns as wide as their content.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::engine::Direction;
use crate::trace::read::Record;

/// Column titles before the preview.
const HEADERS: [&str; 6] = ["TIME", "GW", "DIR", "EVENT", "CH", "SIZE"];
/// Which of those are right-aligned.
const RIGHT: [bool; 6] = [true, false, false, false, true, true];
/// Widths to start from when rows come later (`--follow`), so that the
/// columns rarely move: `CHANNEL_LAST_MESSAGE` is 20 characters.
const FOLLOW_WIDTHS: [usize; 6] = [10, 3, 3, 20, 3, 6];
/// The preview keeps at least this many characters, however narrow the terminal.
const MIN_PREVIEW: usize = 10;
/// Between two columns.
const GAP: &str = "  ";

/// One event, rendered.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    cells: [String; 6],
    preview: String,
}

impl Row {
    fn new(ev: &Record) -> Row {
        let (dir, size) = match ev.message() {
            Some((dir, payload)) => (
                match dir {
                    Direction::Out => "->",
                    Direction::In => "<-",
                },
                payload.len.to_string(),
            ),
            None => ("", String::new()),
        };
        Row {
            cells: [
                format!("{:.6}", ev.t),
                escape(&ev.gw).into_owned(),
                dir.to_owned(),
                escape(ev.label()).into_owned(),
                ev.channel().map(|c| c.to_string()).unwrap_or_default(),
                size,
            ],
            preview: escape(&ev.detail()).into_owned(),
        }
    }
}

/// Rows waiting to be printed, and the column widths so far.
#[derive(Debug)]
pub struct Table {
    widths: [usize; 6],
    /// Line width to cut previews to; `None` never cuts.
    columns: Option<usize>,
    header_written: bool,
    pending: Vec<Row>,
}

impl Table {
    /// A table whose lines are cut to `columns` characters (`None`: not cut).
    pub fn new(columns: Option<usize>) -> Table {
        Table {
            widths: HEADERS.map(|h| h.chars().count()),
            columns,
            header_written: false,
            pending: Vec::new(),
        }
    }

    /// A table for rows that keep coming: wider columns from the start.
    pub fn for_follow(columns: Option<usize>) -> Table {
        Table {
            widths: FOLLOW_WIDTHS,
            ..Table::new(columns)
        }
    }

    /// Adds a row for the event, printed by the next `write_pending`.
    pub fn push(&mut self, ev: &Record) {
        self.pending.push(Row::new(ev));
    }

    /// Widens the columns for the waiting rows, then prints the header (the
    /// first time) and the rows. Columns only ever grow.
    pub fn write_pending(&mut self, out: &mut dyn Write) -> io::Result<()> {
        for row in &self.pending {
            for (w, cell) in self.widths.iter_mut().zip(&row.cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
        if !self.header_written {
            self.header_written = true;
            let line = self.line(&HEADERS, "PREVIEW");
            writeln!(out, "{line}")?;
        }
        for row in std::mem::take(&mut self.pending) {
            let cells = row.cells.each_ref().map(String::as_str);
            let line = self.line(&cells, &row.preview);
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    fn line(&self, cells: &[&str; 6], preview: &str) -> String {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = self.widths[i];
            if RIGHT[i] {
                line.push_str(&format!("{cell:>w$}"));
            } else {
                line.push_str(&format!("{cell:<w$}"));
            }
            line.push_str(GAP);
        }
        let preview = match self.columns {
            Some(columns) => cut(
                preview,
                columns
                    .saturating_sub(line.chars().count())
                    .max(MIN_PREVIEW),
            ),
            None => Cow::Borrowed(preview),
        };
        line.push_str(&preview);
        line.truncate(line.trim_end().len());
        line
    }
}

/// Cuts `text` to `width` characters, the last one `…` when something went.
pub fn cut(text: &str, width: usize) -> Cow<'_, str> {
    if text.chars().count() <= width {
        return Cow::Borrowed(text);
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

/// Writes control characters (from the file: stderr lines may hold terminal
/// escapes, tracebacks newlines) as visible escapes.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Lays out a plain table: a header row and the rows, columns as wide as their
/// widest cell and two spaces apart, `right[i]` right-aligns column `i`. Each
/// line ends with `\n` and has no trailing spaces.
pub fn layout(headers: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                line.push_str(GAP);
            }
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&format!("{cell:>w$}"));
            } else {
                line.push_str(&format!("{cell:<w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::read::parse_event;

    fn ev(line: &str) -> Record {
        parse_event(line.as_bytes()).unwrap()
    }

    fn render(table: &mut Table) -> String {
        let mut out = Vec::new();
        table.write_pending(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sample() -> Vec<Record> {
        vec![
            ev(r#"{"t": 0.000102, "gw": "gw0", "kind": "gateway_starting", "spec": "popen"}"#),
            ev(
                r#"{"t": 0.0316, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 52, "preview": "('channel.send(1)', None, None, {})"}"#,
            ),
            ev(
                r#"{"t": 12.5, "gw": "gw10", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 123, "len": 6, "preview": "1"}"#,
            ),
            ev(r#"{"t": 13, "gw": "", "kind": "lost", "count": 4}"#),
        ]
    }

    #[test]
    fn columns_fit_their_content() {
        let mut t = Table::new(None);
        for e in sample() {
            t.push(&e);
        }
        let text = render(&mut t);
        let want = [
            "     TIME  GW    DIR  EVENT              CH  SIZE  PREVIEW",
            " 0.000102  gw0        gateway_starting             spec popen",
            " 0.031600  gw0   ->   CHANNEL_EXEC        1    52  ('channel.send(1)', None, None, {})",
            "12.500000  gw10  <-   CHANNEL_DATA      123     6  1",
            "13.000000             lost                         4 events lost",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn header_alone_when_nothing_matches() {
        let mut t = Table::new(Some(80));
        assert_eq!(render(&mut t), "TIME  GW  DIR  EVENT  CH  SIZE  PREVIEW\n");
        // Printed once.
        assert_eq!(render(&mut t), "");
    }

    #[test]
    fn long_previews_are_cut_to_the_width() {
        let long = "x".repeat(300);
        let mut t = Table::new(Some(60));
        t.push(&ev(&format!(
            r#"{{"t": 1, "gw": "gw0", "kind": "stderr", "line": "{long}"}}"#
        )));
        t.push(&ev(
            r#"{"t": 1, "gw": "gw0", "kind": "stderr", "line": "short"}"#,
        ));
        let text = render(&mut t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1].chars().count(), 60, "{text}");
        assert!(lines[1].ends_with("xx…"), "{text}");
        assert!(lines[2].ends_with("  short"), "{text}");
        // Very narrow: the preview keeps 10 characters.
        let mut t = Table::new(Some(5));
        t.push(&ev(&format!(
            r#"{{"t": 1, "gw": "gw0", "kind": "stderr", "line": "{long}"}}"#
        )));
        let text = render(&mut t);
        assert!(
            text.lines().nth(1).unwrap().ends_with("  xxxxxxxxx…"),
            "{text}"
        );
    }

    #[test]
    fn follow_tables_grow_but_never_shrink() {
        let mut t = Table::for_follow(None);
        t.push(&sample()[0]);
        let first = render(&mut t);
        assert_eq!(
            first.lines().collect::<Vec<_>>(),
            [
                "      TIME  GW   DIR  EVENT                  CH    SIZE  PREVIEW",
                "  0.000102  gw0       gateway_starting                   spec popen",
            ]
        );
        t.push(&ev(
            r#"{"t": 1, "gw": "gateway-long", "kind": "stderr", "line": "x"}"#,
        ));
        assert_eq!(
            render(&mut t),
            "  1.000000  gateway-long       stderr                             x\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain …"), "plain …");
        assert_eq!(
            escape("a\tb\nc\r\u{1b}[31m\u{85}"),
            "a\\tb\\nc\\r\\x1b[31m\\x85"
        );
        let mut t = Table::new(None);
        t.push(&ev(
            r#"{"t": 1, "gw": "g\nw", "kind": "stderr", "line": "\u001b[1mbold"}"#,
        ));
        let text = render(&mut t);
        assert!(text.contains("g\\nw"), "{text}");
        assert!(text.contains("\\x1b[1mbold"), "{text}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn cut_counts_characters() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo", 4), "hél…");
        assert_eq!(cut("abc", 1), "…");
        assert_eq!(cut("abc", 0), "…");
    }

    #[test]
    fn layout_aligns() {
        let text = layout(
            &["NAME", "N"],
            &[false, true],
            &[
                vec!["a".into(), "10".into()],
                vec!["long name".into(), "2".into()],
                vec!["".into(), "".into()],
            ],
        );
        assert_eq!(text, "NAME        N\na          10\nlong name   2\n\n");
    }
}
