//! Reading trace files: the header, and each event line typed from the
//! engine's one definition of its kind ([`EventKind`]) — the reader has no
//! list of kinds or fields of its own. Lines of kinds it does not know are
//! kept as they are (the format may grow); bad lines give an error that says
//! what is wrong, for the caller to report with the file name and line number.

mod de;
mod lines;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FORMAT_VERSION;
use crate::engine::{Direction, EventKind};
use crate::wire::MsgCode;
pub use lines::{Line, Lines};

/// The first line of a trace file.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format version (`execdeck_trace`).
    pub version: u64,
    /// Wall-clock time of `t = 0`, as written.
    pub started: Option<String>,
    /// The command line that wrote the trace.
    pub command: Option<Vec<String>>,
}

/// What a trace file keeps of a message payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Payload bytes.
    pub len: u64,
    /// Python repr of the payload, maybe cut.
    pub preview: String,
}

/// An event as read back from a trace file.
pub type RecordedKind = EventKind<Recorded>;

/// One event line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Seconds since the trace started.
    pub t: f64,
    /// Gateway id (`""` for `lost`).
    pub gw: String,
    /// The kind, as written.
    pub kind: String,
    /// What the line says.
    pub body: Body,
}

/// What an event line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// An engine event.
    Event(RecordedKind),
    /// `lost`: events the writer dropped.
    Lost {
        /// How many.
        count: u64,
    },
    /// A kind this reader does not know.
    Other {
        /// Its `channel` field, when that is an integer.
        channel: Option<i64>,
        /// Every field but `t`, `gw` and `kind`, in file order.
        fields: Vec<(String, Value)>,
    },
}

/// The kind of the line a trace writer writes when it lost events.
pub const LOST: &str = "lost";

/// Every event kind of this format version: the engine's, and `lost`.
pub fn event_kinds() -> impl Iterator<Item = &'static str> {
    let engine = match RecordedKind::deserialize(de::Line {
        kind: None,
        line: &Map::new(),
    }) {
        Err(de::Error::Kinds(kinds)) => kinds,
        _ => &[],
    };
    engine.iter().copied().chain([LOST])
}

/// Every message name (`CHANNEL_DATA`, …), by code.
pub fn message_names() -> impl Iterator<Item = &'static str> {
    MsgCode::ALL.iter().map(|c| c.name())
}

impl Record {
    /// The channel the event is about, if any.
    pub fn channel(&self) -> Option<i64> {
        match &self.body {
            Body::Event(
                EventKind::Message { channel, .. }
                | EventKind::ChannelOpened { channel, .. }
                | EventKind::ChannelClosed { channel, .. },
            ) => Some(i64::from(*channel)),
            Body::Other { channel, .. } => *channel,
            _ => None,
        }
    }

    /// The message name, for `message` events.
    pub fn message_name(&self) -> Option<&'static str> {
        match &self.body {
            Body::Event(EventKind::Message { code, .. }) => Some(code.name()),
            _ => None,
        }
    }

    /// The message's direction and payload, for `message` events.
    pub fn message(&self) -> Option<(Direction, &Recorded)> {
        match &self.body {
            Body::Event(EventKind::Message { dir, payload, .. }) => Some((*dir, payload)),
            _ => None,
        }
    }

    /// What the EVENT column shows: the message name, else the kind.
    pub fn label(&self) -> &str {
        self.message_name().unwrap_or(&self.kind)
    }

    /// A short one-line rendering of the event's fields (may hold control
    /// characters; a display escapes them).
    pub fn detail(&self) -> String {
        let kind = match &self.body {
            Body::Event(kind) => kind,
            Body::Lost { count } => return format!("{count} events lost"),
            Body::Other { fields, .. } => {
                let mut out = String::new();
                for (key, value) in fields {
                    if key == "channel" && value.is_i64() {
                        continue; // shown in its own column
                    }
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    let _ = write!(out, "{key}={value}");
                }
                return out;
            }
        };
        match kind {
            EventKind::GatewayStarting { spec } => format!("spec {spec}"),
            EventKind::StartStep { step } => step.clone(),
            EventKind::GatewayReady { pid, python, .. } => format!(
                "pid {} python {}",
                pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                python.as_deref().unwrap_or("?")
            ),
            EventKind::GatewayFailed { error } => last_line(error).to_owned(),
            EventKind::GatewayExited { status, reason } => format!(
                "{} ({reason})",
                status.as_deref().unwrap_or("exit status unknown")
            ),
            EventKind::Message { payload, .. } => payload.preview.clone(),
            EventKind::ChannelOpened { origin, .. } => format!("origin {}", origin.as_str()),
            EventKind::ChannelClosed { by, how, .. } => match how.error() {
                Some(e) => format!("{} by {}: {}", how.as_str(), by.as_str(), last_line(e)),
                None => format!("{} by {}", how.as_str(), by.as_str()),
            },
            EventKind::Stderr { line } | EventKind::RemoteTrace { line } => line.clone(),
            EventKind::Warning { text } => text.clone(),
            EventKind::Status {
                numchannels,
                numexecuting,
                execmodel,
            } => format!(
                "numchannels {numchannels} numexecuting {numexecuting} execmodel {execmodel}"
            ),
            EventKind::RsyncProgress {
                job,
                dest,
                files_total,
                files_done,
                bytes_total,
                bytes_done,
                current,
                ..
            } => format!(
                "rsync {job} to {dest}: {files_done}/{files_total} files, {bytes_done}/{bytes_total} bytes{}",
                current
                    .as_deref()
                    .map(|c| format!(", at {c}"))
                    .unwrap_or_default()
            ),
            EventKind::RsyncDone { job, report } => format!(
                "rsync {job} to {}: {} of {} files sent, {} bytes, {} on the wire, {:.3}s{}",
                report.dest,
                report.files_sent,
                report.files_checked,
                report.bytes_sent,
                report.bytes_on_wire,
                report.seconds,
                match &report.error {
                    Some(e) => format!(", failed: {}", last_line(e)),
                    None if report.errors.is_empty() => String::new(),
                    None => format!(", {} errors", report.errors.len()),
                }
            ),
        }
    }
}

/// The last non-blank line of a (maybe multi-line) text such as a traceback:
/// the line that names the error.
pub fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// Parses the first line. The error says why the file is not a usable trace.
pub fn parse_header(line: &[u8]) -> Result<Header, String> {
    let not_trace = "not an execdeck trace file";
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(format!("the first line is not UTF-8 text: {not_trace}"));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) if text.trim().is_empty() => {
            return Err(format!("the first line is empty: {not_trace}"));
        }
        Err(e) => return Err(format!("the first line is not JSON ({e}): {not_trace}")),
    };
    let Some(version) = value.as_object().and_then(|o| o.get("execdeck_trace")) else {
        return Err(format!(
            "the first line is no trace header (no \"execdeck_trace\" field): {not_trace}"
        ));
    };
    let version = match version.as_u64() {
        Some(v) if v >= 1 => v,
        _ => return Err(format!("bad trace format version {version} in the header")),
    };
    if version > FORMAT_VERSION {
        return Err(format!(
            "trace format version {version} is newer than this execdeck reads (version {FORMAT_VERSION})"
        ));
    }
    let started = value
        .get("started")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let command = value
        .get("command")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
    Ok(Header {
        version,
        started,
        command,
    })
}

/// Parses one event line. The error says what is wrong with it.
pub fn parse_event(line: &[u8]) -> Result<Record, String> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Err("not UTF-8 text".to_owned());
    };
    if text.trim().is_empty() {
        return Err("empty line".to_owned());
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return Err(format!("JSON cut short ({e})")),
        Err(e) => return Err(format!("not valid JSON ({e})")),
    };
    let Value::Object(map) = value else {
        return Err(format!("not a JSON object but {}", de::type_name(&value)));
    };
    let field = |key: &str| map.get(key).ok_or_else(|| format!("no {key:?} field"));
    let string = |key: &str| match field(key)? {
        Value::String(s) => Ok(s.clone()),
        v => Err(de::mistyped(key, "a string", v)),
    };
    let t = field("t")?;
    let t = t.as_f64().ok_or_else(|| de::mistyped("t", "a number", t))?;
    let gw = string("gw")?;
    let kind = string("kind")?;
    let in_kind = |msg: String| format!("{msg} (in a {kind:?} event)");
    let body = if kind == LOST {
        let v = field("count").map_err(in_kind)?;
        let count = v
            .as_u64()
            .ok_or_else(|| in_kind(de::mistyped("count", "a non-negative integer", v)))?;
        Body::Lost { count }
    } else {
        match RecordedKind::deserialize(de::Line {
            kind: Some(&kind),
            line: &map,
        }) {
            Ok(event) => Body::Event(event),
            Err(de::Error::UnknownKind) => Body::Other {
                channel: map.get("channel").and_then(Value::as_i64),
                fields: map
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "t" | "gw" | "kind"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            Err(e) => return Err(in_kind(e.to_string())),
        }
    };
    Ok(Record { t, gw, kind, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> Result<Record, String> {
        parse_event(line.as_bytes())
    }

    #[test]
    fn header_with_all_fields() {
        let h = parse_header(
            br#"{"execdeck_trace": 1, "started": "2026-11-25T17:50:00Z", "command": ["execdeck", "exec"]}"#,
        )
        .unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.started.as_deref(), Some("2026-11-25T17:50:00Z"));
        assert_eq!(h.command, Some(vec!["execdeck".into(), "exec".into()]));
    }

    #[test]
    fn header_without_command_and_odd_extras() {
        let h = parse_header(br#"{"execdeck_trace": 1, "started": 5, "x": []}"#).unwrap();
        assert_eq!(h.started, None);
        assert_eq!(h.command, None);
    }

    #[test]
    fn header_errors() {
        let e =
            parse_header(br#"{"t": 0.1, "gw": "gw0", "kind": "stderr", "line": "x"}"#).unwrap_err();
        assert!(e.contains("no \"execdeck_trace\" field"), "{e}");
        let e = parse_header(br#"{"execdeck_trace": 2}"#).unwrap_err();
        assert!(e.contains("version 2 is newer"), "{e}");
        let e = parse_header(br#"{"execdeck_trace": "1"}"#).unwrap_err();
        assert!(e.contains("bad trace format version \"1\""), "{e}");
        let e = parse_header(br#"{"execdeck_trace": 0}"#).unwrap_err();
        assert!(e.contains("bad trace format version 0"), "{e}");
        let e = parse_header(b"hello").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = parse_header(b"").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = parse_header(b"\xff\xfe").unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn every_kind_of_the_example() {
        let m = ev(r#"{"t": 0.0316, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 52, "preview": "('x', None)", "payload": "AAA="}"#).unwrap();
        assert_eq!(m.t, 0.0316);
        assert_eq!(m.gw, "gw0");
        assert_eq!(
            m.body,
            Body::Event(EventKind::Message {
                dir: Direction::Out,
                code: MsgCode::ChannelExec,
                channel: 1,
                payload: Recorded {
                    len: 52,
                    preview: "('x', None)".into()
                }
            })
        );
        assert_eq!(m.channel(), Some(1));
        assert_eq!(m.label(), "CHANNEL_EXEC");
        assert_eq!(m.detail(), "('x', None)");

        let r = ev(
            r#"{"t": 0.03, "gw": "gw0", "kind": "gateway_ready", "pid": 4242, "python": "3.11.7"}"#,
        )
        .unwrap();
        assert_eq!(r.detail(), "pid 4242 python 3.11.7");
        assert_eq!(r.label(), "gateway_ready");
        assert_eq!(r.channel(), None);
        let r =
            ev(r#"{"t": 0.03, "gw": "gw0", "kind": "gateway_ready", "pid": null, "python": null}"#)
                .unwrap();
        assert_eq!(r.detail(), "pid ? python ?");

        let s =
            ev(r#"{"t": 0, "gw": "gw0", "kind": "gateway_starting", "spec": "popen"}"#).unwrap();
        assert_eq!(s.detail(), "spec popen");
        let x = ev(r#"{"t": 1, "gw": "gw0", "kind": "gateway_exited", "status": "exit status 0", "reason": "the gateway was exited"}"#).unwrap();
        assert_eq!(x.detail(), "exit status 0 (the gateway was exited)");
        let x = ev(
            r#"{"t": 1, "gw": "gw0", "kind": "gateway_exited", "status": null, "reason": "gone"}"#,
        )
        .unwrap();
        assert_eq!(x.detail(), "exit status unknown (gone)");
        let f = ev(r#"{"t": 1, "gw": "gw0", "kind": "gateway_failed", "error": "cannot start\npython3: not found\n"}"#).unwrap();
        assert_eq!(f.detail(), "python3: not found");
        let o = ev(
            r#"{"t": 1, "gw": "gw0", "kind": "channel_opened", "channel": 3, "origin": "exec"}"#,
        )
        .unwrap();
        assert_eq!((o.channel(), o.detail().as_str()), (Some(3), "origin exec"));
        let c = ev(r#"{"t": 1, "gw": "gw0", "kind": "channel_closed", "channel": 3, "by": "remote", "how": "error", "error": "Traceback (most recent call last):\n  File \"<x>\"\nValueError: boom\n"}"#).unwrap();
        assert_eq!(c.detail(), "error by remote: ValueError: boom");
        let c = ev(r#"{"t": 1, "gw": "gw0", "kind": "channel_closed", "channel": 3, "by": "local", "how": "closed"}"#).unwrap();
        assert_eq!(c.detail(), "closed by local");
        let l = ev(r#"{"t": 1, "gw": "gw0", "kind": "stderr", "line": "hello"}"#).unwrap();
        assert_eq!(l.detail(), "hello");
        let l = ev(r#"{"t": 1, "gw": "gw0", "kind": "remote_trace", "line": "tr"}"#).unwrap();
        assert_eq!(l.detail(), "tr");
        let w = ev(r#"{"t": 1, "gw": "gw0", "kind": "warning", "text": "careful"}"#).unwrap();
        assert_eq!(w.detail(), "careful");
        let s = ev(r#"{"t": 1, "gw": "gw0", "kind": "status", "numchannels": 2, "numexecuting": 1, "execmodel": "thread"}"#).unwrap();
        assert_eq!(s.detail(), "numchannels 2 numexecuting 1 execmodel thread");
        let l = ev(r#"{"t": 1, "gw": "", "kind": "lost", "count": 7}"#).unwrap();
        assert_eq!(l.detail(), "7 events lost");
    }

    #[test]
    fn unknown_kinds_keep_their_fields() {
        let e = ev(r#"{"t": 2.5, "gw": "gw1", "kind": "future_thing", "channel": 5, "a": 1, "b": "x y", "c": null}"#).unwrap();
        assert_eq!(e.kind, "future_thing");
        assert_eq!(e.channel(), Some(5));
        assert_eq!(e.label(), "future_thing");
        assert_eq!(e.detail(), r#"a=1 b="x y" c=null"#);
        let e = ev(r#"{"t": 2.5, "gw": "gw1", "kind": "other", "channel": "five"}"#).unwrap();
        assert_eq!(e.channel(), None);
        assert_eq!(e.detail(), r#"channel="five""#);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases = [
            ("", "empty line"),
            ("   ", "empty line"),
            ("nonsense", "not valid JSON"),
            (r#"{"t": 0.1, "gw": "gw0", "ki"#, "JSON cut short"),
            ("[1, 2]", "not a JSON object but an array"),
            (
                r#"{"gw": "gw0", "kind": "stderr", "line": ""}"#,
                r#"no "t" field"#,
            ),
            (
                r#"{"t": 1, "kind": "stderr", "line": ""}"#,
                r#"no "gw" field"#,
            ),
            (r#"{"t": 1, "gw": "gw0", "line": ""}"#, r#"no "kind" field"#),
            (
                r#"{"t": "1", "gw": "gw0", "kind": "x"}"#,
                r#""t" must be a number, not a string"#,
            ),
            (
                r#"{"t": 1, "gw": 0, "kind": "x"}"#,
                r#""gw" must be a string, not 0"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": null}"#,
                r#""kind" must be a string, not null"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "preview": ""}"#,
                r#"no "len" field (in a "message" event)"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_DATA", "channel": 1.5, "len": 1, "preview": ""}"#,
                r#""channel" must be an integer, not 1.5 (in a "message" event)"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": -3, "preview": ""}"#,
                r#""len" must be a non-negative integer, not -3"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "up", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 3, "preview": ""}"#,
                r#""dir" must be "out" or "in", not "up""#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "gateway_ready", "pid": "42", "python": null}"#,
                r#""pid" must be an integer or null, not a string"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "local", "how": "error", "error": 5}"#,
                r#""error" must be a string or null, not 5"#,
            ),
        ];
        for (line, want) in cases {
            let e = ev(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e:?} lacks {want:?}");
        }
        assert_eq!(parse_event(b"\xff").unwrap_err(), "not UTF-8 text");
    }

    #[test]
    fn kinds_come_from_the_engine() {
        let kinds: Vec<&str> = event_kinds().collect();
        assert_eq!(
            kinds,
            [
                "gateway_starting",
                "start_step",
                "gateway_ready",
                "gateway_failed",
                "gateway_exited",
                "message",
                "channel_opened",
                "channel_closed",
                "stderr",
                "remote_trace",
                "warning",
                "rsync_progress",
                "rsync_done",
                "status",
                "lost",
            ]
        );
        assert_eq!(message_names().nth(4), Some("CHANNEL_DATA"));
        assert_eq!(message_names().count(), 8);
    }

    #[test]
    fn typed_fields_say_what_they_take() {
        let cases = [
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "out", "code": 9, "name": "X", "channel": 1, "len": 3, "preview": ""}"#,
                r#""code" must be a message code from 0 to 7, not 9 (in a "message" event)"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_EXEC", "channel": 1, "len": 3, "preview": ""}"#,
                r#""name" must be "CHANNEL_DATA" for code 4, not "CHANNEL_EXEC""#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "channel_opened", "channel": 1, "origin": "elsewhere"}"#,
                r#""origin" must be "exec", "local" or "remote", not "elsewhere""#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "local", "how": "later"}"#,
                r#""how" must be "closed", "error", "send_only" or "gateway_died", not "later""#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "local", "how": "error"}"#,
                r#""error" must be a string when "how" is "error""#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "channel_opened", "channel": 4294967296, "origin": "exec"}"#,
                r#""channel" must be an integer from -2147483648 to 2147483647, not 4294967296"#,
            ),
            (
                r#"{"t": 1, "gw": "gw0", "kind": "status", "numchannels": 1, "numexecuting": 0}"#,
                r#"no "execmodel" field (in a "status" event)"#,
            ),
            (
                r#"{"t": 1, "gw": "", "kind": "lost", "count": -1}"#,
                r#""count" must be a non-negative integer, not -1 (in a "lost" event)"#,
            ),
        ];
        for (line, want) in cases {
            let e = ev(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e:?} lacks {want:?}");
        }
    }

    #[test]
    fn last_line_of_a_traceback() {
        assert_eq!(last_line("a\nb\n\n  \n"), "b");
        assert_eq!(last_line("only"), "only");
        assert_eq!(last_line(""), "");
    }
}
