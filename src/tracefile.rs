//! Trace files: engine events as JSON lines (format in `docs/trace-format.md`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

use crate::engine::events::clock_epoch;
use crate::engine::{Event, EventKind, Received};

/// The format version written in the header line.
pub const FORMAT_VERSION: u64 = 1;

/// Longest message preview in a trace file, in characters.
pub const PREVIEW_CHARS: usize = 200;

/// Writes events to a trace file.
pub struct TraceWriter<W: Write> {
    out: W,
    payloads: bool,
    /// Time of the last event written (a `lost` line reuses it, so `t` never goes back).
    last: Duration,
}

impl TraceWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the header line.
    pub fn create(path: &Path, payloads: bool, command: &[String]) -> io::Result<Self> {
        TraceWriter::new(BufWriter::new(File::create(path)?), payloads, command)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the header line to `out`. With `payloads`, message lines carry
    /// the whole payload in base64.
    pub fn new(mut out: W, payloads: bool, command: &[String]) -> io::Result<Self> {
        let header = json!({
            "execdeck_trace": FORMAT_VERSION,
            "started": rfc3339(clock_epoch().1),
            "command": command,
        });
        writeln!(out, "{header}")?;
        Ok(TraceWriter {
            out,
            payloads,
            last: Duration::ZERO,
        })
    }

    /// Writes one received event (or a `lost` line).
    pub fn write(&mut self, received: &Received) -> io::Result<()> {
        let line = match received {
            Received::Event(ev) => {
                self.last = ev.time;
                event_json(ev, self.payloads)
            }
            Received::Lost(count) => json!({
                "t": secs(self.last),
                "gw": "",
                "kind": "lost",
                "count": count,
            }),
        };
        writeln!(self.out, "{line}")
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn secs(d: Duration) -> Json {
    // Microsecond resolution, as a plain number.
    json!((d.as_micros() as f64) / 1e6)
}

/// The JSON object for one event (see `docs/trace-format.md`).
pub fn event_json(ev: &Event, payloads: bool) -> Json {
    let mut obj = Map::new();
    obj.insert("t".into(), secs(ev.time));
    obj.insert("gw".into(), json!(&*ev.gateway));
    obj.insert("kind".into(), json!(ev.kind.name()));
    let mut put = |key: &str, value: Json| {
        obj.insert(key.into(), value);
    };
    match &ev.kind {
        EventKind::GatewayStarting { spec } => put("spec", json!(spec)),
        EventKind::GatewayReady { pid, python } => {
            put("pid", json!(pid));
            put("python", json!(python));
        }
        EventKind::GatewayFailed { error } => put("error", json!(error)),
        EventKind::GatewayExited { status, reason } => {
            put("status", json!(status));
            put("reason", json!(reason));
        }
        EventKind::Message {
            dir,
            code,
            channel,
            payload,
        } => {
            put("dir", json!(dir.as_str()));
            put("code", json!(*code as i8));
            put("name", json!(code.name()));
            put("channel", json!(channel));
            put("len", json!(payload.len()));
            put("preview", json!(payload.preview(PREVIEW_CHARS)));
            if payloads {
                put(
                    "payload",
                    json!(base64::engine::general_purpose::STANDARD.encode(payload.bytes())),
                );
            }
        }
        EventKind::ChannelOpened { channel, origin } => {
            put("channel", json!(channel));
            put("origin", json!(origin.as_str()));
        }
        EventKind::ChannelClosed { channel, by, how } => {
            put("channel", json!(channel));
            put("by", json!(by.as_str()));
            put("how", json!(how.as_str()));
            if let Some(error) = how.error() {
                put("error", json!(error));
            }
        }
        EventKind::Stderr { line } | EventKind::RemoteTrace { line } => put("line", json!(line)),
        EventKind::Warning { text } => put("text", json!(text)),
        EventKind::Status {
            numchannels,
            numexecuting,
            execmodel,
        } => {
            put("numchannels", json!(numchannels));
            put("numexecuting", json!(numexecuting));
            put("execmodel", json!(execmodel));
        }
    }
    Json::Object(obj)
}

/// `2026-11-25T17:50:00.123456Z` for a wall-clock time.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let days = (d.as_secs() / 86_400) as i64;
    let rem = d.as_secs() % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CloseHow, Direction, Payload, Side};
    use crate::wire::MsgCode;
    use std::sync::Arc;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn header_and_events() {
        let mut buf = Vec::new();
        let mut w = TraceWriter::new(&mut buf, true, &["execdeck".into()]).unwrap();
        let mut payload = vec![];
        crate::wire::serial::dump_into(&crate::Value::Int(42), &mut payload).unwrap();
        let gw: Arc<str> = Arc::from("gw0");
        let ev = |kind| Event {
            time: Duration::from_micros(1500),
            gateway: gw.clone(),
            kind,
        };
        w.write(&Received::Event(ev(EventKind::Message {
            dir: Direction::In,
            code: MsgCode::ChannelData,
            channel: 1,
            payload: Payload::new(&payload),
        })))
        .unwrap();
        w.write(&Received::Event(ev(EventKind::ChannelClosed {
            channel: 1,
            by: Side::Remote,
            how: CloseHow::Error("boom".into()),
        })))
        .unwrap();
        w.write(&Received::Lost(3)).unwrap();
        w.flush().unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<Json> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["execdeck_trace"], 1);
        assert_eq!(lines[0]["command"], json!(["execdeck"]));
        assert_eq!(lines[1]["t"], 0.0015);
        assert_eq!(lines[1]["kind"], "message");
        assert_eq!(lines[1]["name"], "CHANNEL_DATA");
        assert_eq!(lines[1]["dir"], "in");
        assert_eq!(lines[1]["len"], 6);
        assert_eq!(lines[1]["preview"], "42");
        assert_eq!(lines[1]["payload"], "RgAAACpR");
        assert_eq!(lines[2]["how"], "error");
        assert_eq!(lines[2]["error"], "boom");
        assert_eq!(lines[3]["kind"], "lost");
        assert_eq!(lines[3]["count"], 3);
    }
}
