//! One line of a trace file: the header, or one event (docs/trace-format.md).

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The newest trace format version this reader knows.
pub const FORMAT_VERSION: u64 = 1;

/// The event kinds of format version 1.
pub const KINDS: &[&str] = &[
    "gateway_starting",
    "gateway_ready",
    "gateway_failed",
    "gateway_exited",
    "message",
    "channel_opened",
    "channel_closed",
    "stderr",
    "remote_trace",
    "warning",
    "status",
    "lost",
];

/// The message names, by code.
pub const MESSAGE_NAMES: &[&str] = &[
    "STATUS",
    "RECONFIGURE",
    "GATEWAY_TERMINATE",
    "CHANNEL_EXEC",
    "CHANNEL_DATA",
    "CHANNEL_CLOSE",
    "CHANNEL_CLOSE_ERROR",
    "CHANNEL_LAST_MESSAGE",
];

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

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Master to worker.
    Out,
    /// Worker to master.
    In,
}

/// One event line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the trace started.
    pub t: f64,
    /// Gateway id (`""` for `lost`).
    pub gw: String,
    /// The kind, as written.
    pub kind: String,
    /// The fields of the kind.
    pub body: Body,
}

/// The fields of each kind; unknown kinds keep their fields as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `gateway_starting`.
    GatewayStarting {
        /// The spec string.
        spec: String,
    },
    /// `gateway_ready`.
    GatewayReady {
        /// Worker pid.
        pid: Option<i64>,
        /// Python version.
        python: Option<String>,
    },
    /// `gateway_failed`.
    GatewayFailed {
        /// What went wrong.
        error: String,
    },
    /// `gateway_exited`.
    GatewayExited {
        /// `exit status N` or `killed by signal …`, when known.
        status: Option<String>,
        /// Why the gateway ended.
        reason: String,
    },
    /// `message`.
    Message {
        /// Direction.
        dir: Dir,
        /// Message code.
        code: i64,
        /// Message name.
        name: String,
        /// Channel id.
        channel: i64,
        /// Payload bytes.
        len: u64,
        /// Python repr of the payload, maybe cut.
        preview: String,
    },
    /// `channel_opened`.
    ChannelOpened {
        /// Channel id.
        channel: i64,
        /// `exec`, `local` or `remote`.
        origin: String,
    },
    /// `channel_closed`.
    ChannelClosed {
        /// Channel id.
        channel: i64,
        /// `local` or `remote`.
        by: String,
        /// `closed`, `error`, `send_only` or `gateway_died`.
        how: String,
        /// The error text, for `error` and `gateway_died`.
        error: Option<String>,
    },
    /// `stderr`: one line the worker wrote on stderr.
    Stderr {
        /// The line.
        line: String,
    },
    /// `remote_trace`: one debug trace line of the worker.
    RemoteTrace {
        /// The line.
        line: String,
    },
    /// `warning`.
    Warning {
        /// The warning.
        text: String,
    },
    /// `status`: a `remote_status` answer.
    Status {
        /// Open channels.
        numchannels: i64,
        /// Running executions.
        numexecuting: i64,
        /// Execution model.
        execmodel: String,
    },
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

impl Event {
    /// The channel the event is about, if any.
    pub fn channel(&self) -> Option<i64> {
        match &self.body {
            Body::Message { channel, .. }
            | Body::ChannelOpened { channel, .. }
            | Body::ChannelClosed { channel, .. } => Some(*channel),
            Body::Other { channel, .. } => *channel,
            _ => None,
        }
    }

    /// The message name, for `message` events.
    pub fn message_name(&self) -> Option<&str> {
        match &self.body {
            Body::Message { name, .. } => Some(name),
            _ => None,
        }
    }

    /// What the EVENT column shows: the message name, else the kind.
    pub fn label(&self) -> &str {
        self.message_name().unwrap_or(&self.kind)
    }

    /// A short one-line rendering of the event's fields (may hold control
    /// characters; the table escapes them).
    pub fn detail(&self) -> String {
        match &self.body {
            Body::GatewayStarting { spec } => format!("spec {spec}"),
            Body::GatewayReady { pid, python } => format!(
                "pid {} python {}",
                pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                python.as_deref().unwrap_or("?")
            ),
            Body::GatewayFailed { error } => last_line(error).to_owned(),
            Body::GatewayExited { status, reason } => format!(
                "{} ({reason})",
                status.as_deref().unwrap_or("exit status unknown")
            ),
            Body::Message { preview, .. } => preview.clone(),
            Body::ChannelOpened { origin, .. } => format!("origin {origin}"),
            Body::ChannelClosed { by, how, error, .. } => match error {
                Some(e) => format!("{how} by {by}: {}", last_line(e)),
                None => format!("{how} by {by}"),
            },
            Body::Stderr { line } | Body::RemoteTrace { line } => line.clone(),
            Body::Warning { text } => text.clone(),
            Body::Status {
                numchannels,
                numexecuting,
                execmodel,
            } => format!(
                "numchannels {numchannels} numexecuting {numexecuting} execmodel {execmodel}"
            ),
            Body::Lost { count } => format!("{count} events lost"),
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
                out
            }
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
pub fn parse_event(line: &[u8]) -> Result<Event, String> {
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
        return Err(format!("not a JSON object but {}", type_name(&value)));
    };
    let common = Fields {
        map: &map,
        kind: None,
    };
    let t = common.number("t")?;
    let gw = common.string("gw")?;
    let kind = common.string("kind")?;
    let f = Fields {
        map: &map,
        kind: Some(&kind),
    };
    let body = match kind.as_str() {
        "gateway_starting" => Body::GatewayStarting {
            spec: f.string("spec")?,
        },
        "gateway_ready" => Body::GatewayReady {
            pid: f.opt_int("pid")?,
            python: f.opt_string("python")?,
        },
        "gateway_failed" => Body::GatewayFailed {
            error: f.string("error")?,
        },
        "gateway_exited" => Body::GatewayExited {
            status: f.opt_string("status")?,
            reason: f.string("reason")?,
        },
        "message" => Body::Message {
            dir: match f.string("dir")?.as_str() {
                "out" => Dir::Out,
                "in" => Dir::In,
                other => {
                    return Err(f.wrong(&format!(
                        "\"dir\" must be \"out\" or \"in\", not {:?}",
                        other
                    )));
                }
            },
            code: f.int("code")?,
            name: f.string("name")?,
            channel: f.int("channel")?,
            len: f.count("len")?,
            preview: f.string("preview")?,
        },
        "channel_opened" => Body::ChannelOpened {
            channel: f.int("channel")?,
            origin: f.string("origin")?,
        },
        "channel_closed" => Body::ChannelClosed {
            channel: f.int("channel")?,
            by: f.string("by")?,
            how: f.string("how")?,
            error: f.opt_string("error")?,
        },
        "stderr" => Body::Stderr {
            line: f.string("line")?,
        },
        "remote_trace" => Body::RemoteTrace {
            line: f.string("line")?,
        },
        "warning" => Body::Warning {
            text: f.string("text")?,
        },
        "status" => Body::Status {
            numchannels: f.int("numchannels")?,
            numexecuting: f.int("numexecuting")?,
            execmodel: f.string("execmodel")?,
        },
        "lost" => Body::Lost {
            count: f.count("count")?,
        },
        _ => Body::Other {
            channel: map.get("channel").and_then(Value::as_i64),
            fields: map
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "t" | "gw" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
    };
    Ok(Event { t, gw, kind, body })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to the fields of one event, with errors that name the field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// The kind, for errors about kind fields.
    kind: Option<&'a str>,
}

impl Fields<'_> {
    fn wrong(&self, what: &str) -> String {
        match self.kind {
            Some(kind) => format!("{what} (in a {kind:?} event)"),
            None => what.to_owned(),
        }
    }

    fn get(&self, key: &str) -> Result<&Value, String> {
        self.map
            .get(key)
            .ok_or_else(|| self.wrong(&format!("no {key:?} field")))
    }

    fn mistyped(&self, key: &str, expected: &str, v: &Value) -> String {
        let found = match v {
            Value::Number(n) => format!("{n}"),
            other => type_name(other).to_owned(),
        };
        self.wrong(&format!("{key:?} must be {expected}, not {found}"))
    }

    fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key)? {
            Value::String(s) => Ok(s.clone()),
            v => Err(self.mistyped(key, "a string", v)),
        }
    }

    /// A string, null or absent.
    fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.mistyped(key, "a string or null", v)),
        }
    }

    fn number(&self, key: &str) -> Result<f64, String> {
        let v = self.get(key)?;
        v.as_f64().ok_or_else(|| self.mistyped(key, "a number", v))
    }

    fn int(&self, key: &str) -> Result<i64, String> {
        let v = self.get(key)?;
        v.as_i64()
            .ok_or_else(|| self.mistyped(key, "an integer", v))
    }

    /// An integer, null or absent.
    fn opt_int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.mistyped(key, "an integer or null", v)),
        }
    }

    /// A non-negative integer.
    fn count(&self, key: &str) -> Result<u64, String> {
        let v = self.get(key)?;
        v.as_u64()
            .ok_or_else(|| self.mistyped(key, "a non-negative integer", v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> Result<Event, String> {
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
            Body::Message {
                dir: Dir::Out,
                code: 3,
                name: "CHANNEL_EXEC".into(),
                channel: 1,
                len: 52,
                preview: "('x', None)".into()
            }
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
    fn last_line_of_a_traceback() {
        assert_eq!(last_line("a\nb\n\n  \n"), "b");
        assert_eq!(last_line("only"), "only");
        assert_eq!(last_line(""), "");
    }
}
