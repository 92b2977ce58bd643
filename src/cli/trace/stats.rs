//! `--stats`: the statistics of a trace ([`crate::trace::stats`]) as text
//! tables or as one JSON object.

use serde_json::{Value, json};

use super::table::{escape, layout};
use crate::engine::{ChannelOrigin, Side};
use crate::trace::read::Header;
use crate::trace::stats::Stats;

/// What the summary says about the file itself.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The file name as given.
    pub file: &'a str,
    /// Its header.
    pub header: &'a Header,
    /// Lines skipped as bad.
    pub skipped: u64,
}

/// The summary as text.
pub fn text(stats: &Stats, src: Source<'_>) -> String {
    let mut out = format!("{}: trace format {}", src.file, src.header.version);
    if let Some(started) = &src.header.started {
        out.push_str(&format!(", started {}", escape(started)));
    }
    out.push('\n');
    if let Some(command) = &src.header.command {
        let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
        out.push_str(&format!("command: {}\n", escape(&words.join(" "))));
    }
    out.push_str(&format!("{} events", stats.events));
    if let (Some(first), Some(last)) = (stats.first_t, stats.last_t) {
        out.push_str(&format!(", t = {first:.6} to {last:.6} s"));
    }
    if src.skipped > 0 {
        let s = if src.skipped == 1 { "" } else { "s" };
        out.push_str(&format!(", {} bad line{s} skipped", src.skipped));
    }
    out.push('\n');

    let section = |out: &mut String, title: &str, table: String, empty: bool| {
        out.push('\n');
        out.push_str(title);
        out.push_str(":\n");
        if empty {
            out.push_str("(none)\n");
        } else {
            out.push_str(&table);
        }
    };

    let rows: Vec<Vec<String>> = stats
        .gateways
        .iter()
        .map(|g| {
            vec![
                escape(&g.gw).into_owned(),
                g.events.to_string(),
                g.messages_out.to_string(),
                g.messages_in.to_string(),
                g.bytes_out.to_string(),
                g.bytes_in.to_string(),
                escape(g.ended.as_deref().unwrap_or("")).into_owned(),
            ]
        })
        .collect();
    let table = layout(
        &[
            "GW",
            "EVENTS",
            "MSGS OUT",
            "MSGS IN",
            "BYTES OUT",
            "BYTES IN",
            "ENDED",
        ],
        &[false, true, true, true, true, true, false],
        &rows,
    );
    section(&mut out, "Gateways", table, rows.is_empty());

    let rows: Vec<Vec<String>> = stats
        .sorted_messages()
        .into_iter()
        .map(|m| {
            vec![
                m.code.name().to_owned(),
                m.count.to_string(),
                m.bytes.to_string(),
            ]
        })
        .collect();
    let table = layout(&["MESSAGE", "COUNT", "BYTES"], &[false, true, true], &rows);
    section(&mut out, "Message types", table, rows.is_empty());

    let time = |t: Option<f64>| t.map(|t| format!("{t:.6}")).unwrap_or_default();
    let rows: Vec<Vec<String>> = stats
        .channels
        .iter()
        .map(|c| {
            vec![
                escape(&c.gw).into_owned(),
                c.channel.to_string(),
                c.origin.map(ChannelOrigin::as_str).unwrap_or("").to_owned(),
                c.messages.to_string(),
                c.bytes.to_string(),
                time(c.opened),
                time(c.closed),
                time(c.lifetime()),
                escape(&c.closing()).into_owned(),
            ]
        })
        .collect();
    let table = layout(
        &[
            "GW", "CH", "ORIGIN", "MESSAGES", "BYTES", "OPENED", "CLOSED", "LIFETIME", "CLOSING",
        ],
        &[false, true, false, true, true, true, true, true, false],
        &rows,
    );
    section(&mut out, "Channels", table, rows.is_empty());

    let rows: Vec<Vec<String>> = stats
        .errors
        .iter()
        .map(|e| {
            vec![
                format!("{:.6}", e.t),
                escape(&e.gw).into_owned(),
                escape(&e.kind).into_owned(),
                e.channel.map(|c| c.to_string()).unwrap_or_default(),
                escape(&e.summary).into_owned(),
            ]
        })
        .collect();
    let mut table = layout(
        &["TIME", "GW", "EVENT", "CH", "WHAT"],
        &[true, false, false, true, false],
        &rows,
    );
    if rows.is_empty() {
        table.clear();
    }
    if stats.lost > 0 {
        table.push_str(&format!(
            "{} events lost (the trace writer fell behind)\n",
            stats.lost
        ));
    }
    section(&mut out, "Errors", table.clone(), table.is_empty());
    if stats.warnings > 0 {
        out.push_str(&format!("\nWarnings: {}\n", stats.warnings));
    }
    out
}

/// The summary as one JSON object.
pub fn json(stats: &Stats, src: Source<'_>) -> Value {
    let time = |t: Option<f64>| t.map(round6);
    json!({
        "file": src.file,
        "version": src.header.version,
        "started": src.header.started,
        "command": src.header.command,
        "events": stats.events,
        "skipped_lines": src.skipped,
        "first_t": stats.first_t,
        "last_t": stats.last_t,
        "gateways": stats.gateways.iter().map(|g| json!({
            "gw": g.gw,
            "events": g.events,
            "messages_out": g.messages_out,
            "messages_in": g.messages_in,
            "bytes_out": g.bytes_out,
            "bytes_in": g.bytes_in,
            "ended": g.ended,
        })).collect::<Vec<_>>(),
        "message_types": stats.sorted_messages().into_iter().map(|m| json!({
            "name": m.code.name(),
            "code": m.code as i8,
            "count": m.count,
            "bytes": m.bytes,
        })).collect::<Vec<_>>(),
        "channels": stats.channels.iter().map(|c| json!({
            "gw": c.gw,
            "channel": c.channel,
            "origin": c.origin.map(ChannelOrigin::as_str),
            "messages": c.messages,
            "bytes": c.bytes,
            "opened": c.opened,
            "closed": c.closed,
            "lifetime": time(c.lifetime()),
            "how": c.how,
            "by": c.by.map(Side::as_str),
        })).collect::<Vec<_>>(),
        "errors": stats.errors.iter().map(|e| json!({
            "t": e.t,
            "gw": e.gw,
            "kind": e.kind,
            "channel": e.channel,
            "summary": e.summary,
            "error": e.error,
        })).collect::<Vec<_>>(),
        "lost": stats.lost,
        "warnings": stats.warnings,
    })
}

/// Rounds to microseconds, the resolution of the trace: no `0.0015100000000000019`.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A word as a POSIX shell would need it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:,+@%-".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::stats::tests::stats;

    fn header() -> Header {
        Header {
            version: 1,
            started: Some("2026-11-25T17:50:00.000000Z".into()),
            command: Some(vec![
                "execdeck".into(),
                "exec".into(),
                "-c".into(),
                "channel.send(1)".into(),
            ]),
        }
    }

    #[test]
    fn text_summary() {
        let h = header();
        let text = text(
            &stats(),
            Source {
                file: "run.trace",
                header: &h,
                skipped: 2,
            },
        );
        let want = "\
run.trace: trace format 1, started 2026-11-25T17:50:00.000000Z
command: execdeck exec -c 'channel.send(1)'
19 events, t = 0.000102 to 0.400000 s, 2 bad lines skipped

Gateways:
GW   EVENTS  MSGS OUT  MSGS IN  BYTES OUT  BYTES IN  ENDED
gw0      10         2        2         52         6  exit status 0
gw1       6         1        2         10        43  killed by signal 9 (SIGKILL)
gw2       1         0        0          0         0  failed

Message types:
MESSAGE              COUNT  BYTES
GATEWAY_TERMINATE        1      0
CHANNEL_EXEC             1     52
CHANNEL_DATA             3     19
CHANNEL_CLOSE            1      0
CHANNEL_CLOSE_ERROR      1     40

Channels:
GW   CH  ORIGIN  MESSAGES  BYTES    OPENED    CLOSED  LIFETIME  CLOSING
gw0   1  exec           3     58  0.031500  0.033010  0.001510  closed by remote
gw1   1  exec           2     50  0.100000  0.100300  0.000300  error by remote
gw1   7                 1      3                                open

Errors:
    TIME  GW   EVENT           CH  WHAT
0.100300  gw1  channel_closed   1  error by remote: ValueError: boom
0.200000  gw1  gateway_exited      killed by signal 9 (SIGKILL) (gone)
0.300000  gw2  gateway_failed      cannot start python9
5 events lost (the trace writer fell behind)

Warnings: 1
";
        assert_eq!(text, want);
    }

    #[test]
    fn empty_summary() {
        let h = Header {
            version: 1,
            started: None,
            command: None,
        };
        let text = text(
            &Stats::default(),
            Source {
                file: "f",
                header: &h,
                skipped: 0,
            },
        );
        assert_eq!(
            text,
            "f: trace format 1\n0 events\n\nGateways:\n(none)\n\nMessage types:\n(none)\n\n\
             Channels:\n(none)\n\nErrors:\n(none)\n"
        );
    }

    #[test]
    fn json_summary() {
        let h = header();
        let v = json(
            &stats(),
            Source {
                file: "run.trace",
                header: &h,
                skipped: 1,
            },
        );
        assert_eq!(v["events"], 19);
        assert_eq!(v["skipped_lines"], 1);
        assert_eq!(v["lost"], 5);
        assert_eq!(v["gateways"][1]["bytes_in"], 43);
        assert_eq!(v["message_types"][2]["name"], "CHANNEL_DATA");
        assert_eq!(v["channels"][0]["lifetime"], 0.00151);
        assert_eq!(v["channels"][2]["opened"], Value::Null);
        assert_eq!(
            v["errors"][0]["summary"],
            "error by remote: ValueError: boom"
        );
        assert_eq!(
            v["errors"][0]["error"],
            "Traceback (most recent call last):\nValueError: boom"
        );
        assert_eq!(v["errors"][1]["error"], Value::Null);
        assert_eq!(v["command"][3], "channel.send(1)");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("exec"), "exec");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
