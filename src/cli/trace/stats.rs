//! `--stats`: totals per gateway, message type and channel, and the errors.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::event::{Body, Dir, Event, Header, last_line};
use super::table::{escape, layout};

/// Totals of one gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayStats {
    /// Gateway id.
    pub gw: String,
    /// Events of this gateway.
    pub events: u64,
    /// Messages master → worker.
    pub messages_out: u64,
    /// Messages worker → master.
    pub messages_in: u64,
    /// Payload bytes master → worker.
    pub bytes_out: u64,
    /// Payload bytes worker → master.
    pub bytes_in: u64,
    /// How it ended: the exit status, `failed`, or `None` when the trace does not say.
    pub ended: Option<String>,
}

/// Totals of one message type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageStats {
    /// Message name.
    pub name: String,
    /// Message code (of its first message).
    pub code: i64,
    /// How many.
    pub count: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// Life and traffic of one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    /// Gateway id.
    pub gw: String,
    /// Channel id.
    pub channel: i64,
    /// Who made it (`exec`, `local`, `remote`), from `channel_opened`.
    pub origin: Option<String>,
    /// Messages, both ways.
    pub messages: u64,
    /// Payload bytes, both ways.
    pub bytes: u64,
    /// `t` of `channel_opened`.
    pub opened: Option<f64>,
    /// `t` of the last `channel_closed`.
    pub closed: Option<f64>,
    /// `how` of the last `channel_closed`.
    pub how: Option<String>,
    /// `by` of the last `channel_closed`.
    pub by: Option<String>,
}

impl ChannelStats {
    /// Seconds from open to close, when both are in the trace.
    pub fn lifetime(&self) -> Option<f64> {
        Some(self.closed? - self.opened?)
    }

    /// `closed by remote`, `error by local`, … or `open` when it never closed.
    pub fn closing(&self) -> String {
        match (&self.how, &self.by) {
            (Some(how), Some(by)) => format!("{how} by {by}"),
            _ => "open".to_owned(),
        }
    }
}

/// Something that went wrong, as the trace tells.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEntry {
    /// When.
    pub t: f64,
    /// Gateway id.
    pub gw: String,
    /// The event kind.
    pub kind: String,
    /// The channel, for channel errors.
    pub channel: Option<i64>,
    /// What happened, in one line (the last line of a traceback).
    pub summary: String,
    /// The whole error text of the event, when it has one.
    pub error: Option<String>,
}

/// Everything `--stats` shows, added up event by event.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events counted.
    pub events: u64,
    /// Smallest `t`.
    pub first_t: Option<f64>,
    /// Largest `t`.
    pub last_t: Option<f64>,
    /// Per gateway, in order of first appearance.
    pub gateways: Vec<GatewayStats>,
    /// Per message type, in order of first appearance.
    pub messages: Vec<MessageStats>,
    /// Per channel, in order of first appearance (channel 0 carries
    /// gateway-level messages and gets a row only if opened or closed).
    pub channels: Vec<ChannelStats>,
    /// Errors, in file order.
    pub errors: Vec<ErrorEntry>,
    /// Sum of the `lost` events' counts.
    pub lost: u64,
    /// `warning` events.
    pub warnings: u64,
    gw_index: HashMap<String, usize>,
    msg_index: HashMap<String, usize>,
    ch_index: HashMap<(String, i64), usize>,
}

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

impl Stats {
    /// Counts one event.
    pub fn add(&mut self, ev: &Event) {
        self.events += 1;
        self.first_t = Some(self.first_t.map_or(ev.t, |t| t.min(ev.t)));
        self.last_t = Some(self.last_t.map_or(ev.t, |t| t.max(ev.t)));
        if let Body::Lost { count } = ev.body {
            self.lost += count;
            return;
        }
        self.gateway(&ev.gw).events += 1;
        match &ev.body {
            Body::Message {
                dir,
                code,
                name,
                channel,
                len,
                ..
            } => {
                let g = self.gateway(&ev.gw);
                match dir {
                    Dir::Out => {
                        g.messages_out += 1;
                        g.bytes_out += len;
                    }
                    Dir::In => {
                        g.messages_in += 1;
                        g.bytes_in += len;
                    }
                }
                let i = match self.msg_index.get(name) {
                    Some(&i) => i,
                    None => {
                        self.messages.push(MessageStats {
                            name: name.clone(),
                            code: *code,
                            ..MessageStats::default()
                        });
                        self.msg_index.insert(name.clone(), self.messages.len() - 1);
                        self.messages.len() - 1
                    }
                };
                self.messages[i].count += 1;
                self.messages[i].bytes += len;
                if *channel != 0 || self.ch_index.contains_key(&(ev.gw.clone(), 0)) {
                    let c = self.channel(&ev.gw, *channel);
                    c.messages += 1;
                    c.bytes += len;
                }
            }
            Body::ChannelOpened { channel, origin } => {
                let c = self.channel(&ev.gw, *channel);
                c.opened = Some(ev.t);
                c.origin = Some(origin.clone());
            }
            Body::ChannelClosed {
                channel,
                by,
                how,
                error,
            } => {
                let c = self.channel(&ev.gw, *channel);
                c.closed = Some(ev.t);
                c.how = Some(how.clone());
                c.by = Some(by.clone());
                if how == "error" || how == "gateway_died" || error.is_some() {
                    let summary = match error {
                        Some(e) => format!("{how} by {by}: {}", last_line(e)),
                        None => format!("{how} by {by}"),
                    };
                    self.error(ev, Some(*channel), summary, error.clone());
                }
            }
            Body::GatewayFailed { error } => {
                self.gateway(&ev.gw).ended = Some("failed".to_owned());
                self.error(ev, None, last_line(error).to_owned(), Some(error.clone()));
            }
            Body::GatewayExited { status, reason } => {
                let g = self.gateway(&ev.gw);
                g.ended = Some(status.clone().unwrap_or_else(|| "exited".to_owned()));
                if let Some(status) = status.as_deref().filter(|s| *s != "exit status 0") {
                    self.error(ev, None, format!("{status} ({reason})"), None);
                }
            }
            Body::Warning { .. } => self.warnings += 1,
            _ => {}
        }
    }

    fn gateway(&mut self, gw: &str) -> &mut GatewayStats {
        let i = match self.gw_index.get(gw) {
            Some(&i) => i,
            None => {
                self.gateways.push(GatewayStats {
                    gw: gw.to_owned(),
                    ..GatewayStats::default()
                });
                self.gw_index.insert(gw.to_owned(), self.gateways.len() - 1);
                self.gateways.len() - 1
            }
        };
        &mut self.gateways[i]
    }

    fn channel(&mut self, gw: &str, channel: i64) -> &mut ChannelStats {
        let key = (gw.to_owned(), channel);
        let i = match self.ch_index.get(&key) {
            Some(&i) => i,
            None => {
                self.channels.push(ChannelStats {
                    gw: gw.to_owned(),
                    channel,
                    ..ChannelStats::default()
                });
                self.ch_index.insert(key, self.channels.len() - 1);
                self.channels.len() - 1
            }
        };
        &mut self.channels[i]
    }

    fn error(&mut self, ev: &Event, channel: Option<i64>, summary: String, error: Option<String>) {
        self.errors.push(ErrorEntry {
            t: ev.t,
            gw: ev.gw.clone(),
            kind: ev.kind.clone(),
            channel,
            summary,
            error,
        });
    }

    /// Message types by code, then name.
    fn sorted_messages(&self) -> Vec<&MessageStats> {
        let mut m: Vec<&MessageStats> = self.messages.iter().collect();
        m.sort_by(|a, b| a.code.cmp(&b.code).then_with(|| a.name.cmp(&b.name)));
        m
    }

    /// The summary as text.
    pub fn to_text(&self, src: Source<'_>) -> String {
        let mut out = format!("{}: trace format {}", src.file, src.header.version);
        if let Some(started) = &src.header.started {
            out.push_str(&format!(", started {}", escape(started)));
        }
        out.push('\n');
        if let Some(command) = &src.header.command {
            let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
            out.push_str(&format!("command: {}\n", escape(&words.join(" "))));
        }
        out.push_str(&format!("{} events", self.events));
        if let (Some(first), Some(last)) = (self.first_t, self.last_t) {
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

        let rows: Vec<Vec<String>> = self
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

        let rows: Vec<Vec<String>> = self
            .sorted_messages()
            .into_iter()
            .map(|m| {
                vec![
                    escape(&m.name).into_owned(),
                    m.count.to_string(),
                    m.bytes.to_string(),
                ]
            })
            .collect();
        let table = layout(&["MESSAGE", "COUNT", "BYTES"], &[false, true, true], &rows);
        section(&mut out, "Message types", table, rows.is_empty());

        let time = |t: Option<f64>| t.map(|t| format!("{t:.6}")).unwrap_or_default();
        let rows: Vec<Vec<String>> = self
            .channels
            .iter()
            .map(|c| {
                vec![
                    escape(&c.gw).into_owned(),
                    c.channel.to_string(),
                    escape(c.origin.as_deref().unwrap_or("")).into_owned(),
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
                "GW", "CH", "ORIGIN", "MESSAGES", "BYTES", "OPENED", "CLOSED", "LIFETIME",
                "CLOSING",
            ],
            &[false, true, false, true, true, true, true, true, false],
            &rows,
        );
        section(&mut out, "Channels", table, rows.is_empty());

        let rows: Vec<Vec<String>> = self
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
        if self.lost > 0 {
            table.push_str(&format!(
                "{} events lost (the trace writer fell behind)\n",
                self.lost
            ));
        }
        section(&mut out, "Errors", table.clone(), table.is_empty());
        if self.warnings > 0 {
            out.push_str(&format!("\nWarnings: {}\n", self.warnings));
        }
        out
    }

    /// The summary as one JSON object.
    pub fn to_json(&self, src: Source<'_>) -> Value {
        let time = |t: Option<f64>| t.map(round6);
        json!({
            "file": src.file,
            "version": src.header.version,
            "started": src.header.started,
            "command": src.header.command,
            "events": self.events,
            "skipped_lines": src.skipped,
            "first_t": self.first_t,
            "last_t": self.last_t,
            "gateways": self.gateways.iter().map(|g| json!({
                "gw": g.gw,
                "events": g.events,
                "messages_out": g.messages_out,
                "messages_in": g.messages_in,
                "bytes_out": g.bytes_out,
                "bytes_in": g.bytes_in,
                "ended": g.ended,
            })).collect::<Vec<_>>(),
            "message_types": self.sorted_messages().into_iter().map(|m| json!({
                "name": m.name,
                "code": m.code,
                "count": m.count,
                "bytes": m.bytes,
            })).collect::<Vec<_>>(),
            "channels": self.channels.iter().map(|c| json!({
                "gw": c.gw,
                "channel": c.channel,
                "origin": c.origin,
                "messages": c.messages,
                "bytes": c.bytes,
                "opened": c.opened,
                "closed": c.closed,
                "lifetime": time(c.lifetime()),
                "how": c.how,
                "by": c.by,
            })).collect::<Vec<_>>(),
            "errors": self.errors.iter().map(|e| json!({
                "t": e.t,
                "gw": e.gw,
                "kind": e.kind,
                "channel": e.channel,
                "summary": e.summary,
                "error": e.error,
            })).collect::<Vec<_>>(),
            "lost": self.lost,
            "warnings": self.warnings,
        })
    }
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
    use super::super::event::parse_event;
    use super::*;

    const EXAMPLE: &str = r#"{"t": 0.000102, "gw": "gw0", "kind": "gateway_starting", "spec": "popen"}
{"t": 0.031200, "gw": "gw0", "kind": "gateway_ready", "pid": 4242, "python": "3.11.7"}
{"t": 0.031500, "gw": "gw0", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.031600, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 52, "preview": "('channel.send(1)', None, None, {})"}
{"t": 0.032900, "gw": "gw0", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 6, "preview": "1"}
{"t": 0.033000, "gw": "gw0", "kind": "message", "dir": "in", "code": 5, "name": "CHANNEL_CLOSE", "channel": 1, "len": 0, "preview": ""}
{"t": 0.033010, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "closed"}
{"t": 0.034000, "gw": "gw0", "kind": "message", "dir": "out", "code": 2, "name": "GATEWAY_TERMINATE", "channel": 0, "len": 0, "preview": ""}
{"t": 0.052000, "gw": "gw0", "kind": "gateway_exited", "status": "exit status 0", "reason": "the gateway was exited"}
{"t": 0.100000, "gw": "gw1", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.100100, "gw": "gw1", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 10, "preview": "'x'"}
{"t": 0.100200, "gw": "gw1", "kind": "message", "dir": "in", "code": 6, "name": "CHANNEL_CLOSE_ERROR", "channel": 1, "len": 40, "preview": "'Traceback...'"}
{"t": 0.100300, "gw": "gw1", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "error", "error": "Traceback (most recent call last):\nValueError: boom"}
{"t": 0.100400, "gw": "gw1", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 7, "len": 3, "preview": "1"}
{"t": 0.2, "gw": "gw1", "kind": "gateway_exited", "status": "killed by signal 9 (SIGKILL)", "reason": "gone"}
{"t": 0.3, "gw": "gw2", "kind": "gateway_failed", "error": "cannot start python9"}
{"t": 0.35, "gw": "", "kind": "lost", "count": 3}
{"t": 0.36, "gw": "", "kind": "lost", "count": 2}
{"t": 0.4, "gw": "gw0", "kind": "warning", "text": "hm"}
"#;

    fn stats() -> Stats {
        let mut s = Stats::default();
        for line in EXAMPLE.lines() {
            s.add(&parse_event(line.as_bytes()).unwrap());
        }
        s
    }

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
    fn per_gateway_totals() {
        let s = stats();
        assert_eq!(s.events, 19);
        assert_eq!((s.first_t, s.last_t), (Some(0.000102), Some(0.4)));
        assert_eq!(s.gateways.len(), 3);
        assert_eq!(
            s.gateways[0],
            GatewayStats {
                gw: "gw0".into(),
                events: 10,
                messages_out: 2,
                messages_in: 2,
                bytes_out: 52,
                bytes_in: 6,
                ended: Some("exit status 0".into()),
            }
        );
        let g1 = &s.gateways[1];
        assert_eq!(
            (
                g1.events,
                g1.messages_out,
                g1.messages_in,
                g1.bytes_out,
                g1.bytes_in
            ),
            (6, 1, 2, 10, 43)
        );
        assert_eq!(g1.ended.as_deref(), Some("killed by signal 9 (SIGKILL)"));
        assert_eq!(s.gateways[2].ended.as_deref(), Some("failed"));
        assert_eq!((s.lost, s.warnings), (5, 1));
    }

    #[test]
    fn per_message_type_totals() {
        let s = stats();
        let m: Vec<(&str, u64, u64)> = s
            .sorted_messages()
            .iter()
            .map(|m| (m.name.as_str(), m.count, m.bytes))
            .collect();
        assert_eq!(
            m,
            [
                ("GATEWAY_TERMINATE", 1, 0),
                ("CHANNEL_EXEC", 1, 52),
                ("CHANNEL_DATA", 3, 19),
                ("CHANNEL_CLOSE", 1, 0),
                ("CHANNEL_CLOSE_ERROR", 1, 40),
            ]
        );
    }

    #[test]
    fn per_channel_life() {
        let s = stats();
        // gw0/1, gw1/1, gw1/7; channel 0 (GATEWAY_TERMINATE) has no row.
        assert_eq!(s.channels.len(), 3);
        let c = &s.channels[0];
        assert_eq!((c.gw.as_str(), c.channel), ("gw0", 1));
        assert_eq!((c.messages, c.bytes), (3, 58));
        assert_eq!((c.opened, c.closed), (Some(0.0315), Some(0.03301)));
        assert!((c.lifetime().unwrap() - 0.00151).abs() < 1e-9);
        assert_eq!(c.closing(), "closed by remote");
        assert_eq!(c.origin.as_deref(), Some("exec"));
        let c = &s.channels[1];
        assert_eq!(
            (c.messages, c.bytes, c.closing().as_str()),
            (2, 50, "error by remote")
        );
        let c = &s.channels[2];
        assert_eq!(
            (c.channel, c.messages, c.opened, c.lifetime()),
            (7, 1, None, None)
        );
        assert_eq!(c.closing(), "open");
    }

    #[test]
    fn errors_are_collected() {
        let s = stats();
        let e: Vec<(&str, &str, Option<i64>)> = s
            .errors
            .iter()
            .map(|e| (e.gw.as_str(), e.kind.as_str(), e.channel))
            .collect();
        assert_eq!(
            e,
            [
                ("gw1", "channel_closed", Some(1)),
                ("gw1", "gateway_exited", None),
                ("gw2", "gateway_failed", None),
            ]
        );
        assert_eq!(s.errors[0].summary, "error by remote: ValueError: boom");
        assert_eq!(
            s.errors[0].error.as_deref(),
            Some("Traceback (most recent call last):\nValueError: boom")
        );
        assert_eq!(s.errors[1].summary, "killed by signal 9 (SIGKILL) (gone)");
        assert_eq!(s.errors[1].error, None);
    }

    #[test]
    fn text_summary() {
        let h = header();
        let text = stats().to_text(Source {
            file: "run.trace",
            header: &h,
            skipped: 2,
        });
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
        let text = Stats::default().to_text(Source {
            file: "f",
            header: &h,
            skipped: 0,
        });
        assert_eq!(
            text,
            "f: trace format 1\n0 events\n\nGateways:\n(none)\n\nMessage types:\n(none)\n\n\
             Channels:\n(none)\n\nErrors:\n(none)\n"
        );
    }

    #[test]
    fn json_summary() {
        let h = header();
        let v = stats().to_json(Source {
            file: "run.trace",
            header: &h,
            skipped: 1,
        });
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
