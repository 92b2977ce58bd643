//! Writing trace files: each event as one JSON line (docs/trace-format.md).
//!
//! The line of an event is its [`EventKind`]'s serde form laid flat: `t`,
//! `gw`, `kind` (the variant name), then the variant's fields in order; a
//! field that serializes as a struct ([`MsgCode`](crate::wire::MsgCode),
//! [`Payload`](crate::engine::Payload), [`CloseHow`](crate::engine::CloseHow))
//! puts its own fields there instead. Bytes (a message's whole payload) are
//! written, in base64, only when the writer was asked for payloads. Lines go
//! straight to the output: no JSON tree is built per event.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::ser::{self, Impossible, SerializeMap, Serializer};
use serde_json::json;

use super::FORMAT_VERSION;
use crate::engine::events::clock_epoch;
use crate::engine::{Event, EventKind, Received};

pub use crate::engine::events::PREVIEW_CHARS;

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
        match received {
            Received::Event(ev) => {
                self.last = ev.time;
                write_event(&mut self.out, ev, self.payloads)?;
            }
            Received::Lost(count) => {
                let mut json = serde_json::Serializer::new(&mut self.out);
                let mut line = json.serialize_map(None)?;
                line.serialize_entry("t", &secs(self.last))?;
                line.serialize_entry("gw", "")?;
                line.serialize_entry("kind", "lost")?;
                line.serialize_entry("count", count)?;
                line.end()?;
            }
        }
        self.out.write_all(b"\n")
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Seconds, at microsecond resolution, as a plain number.
fn secs(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1e6
}

/// Writes the JSON object for one event (no newline; see the module docs).
pub fn write_event(out: &mut impl Write, ev: &Event, payloads: bool) -> io::Result<()> {
    write_kind(out, secs(ev.time), &ev.gateway, &ev.kind, payloads)
}

/// Writes the JSON object for an event of `kind` at `t` seconds on gateway
/// `gw` (no newline). `P` may be a [`Payload`](crate::engine::Payload) or
/// what a trace file keeps of one ([`Recorded`](super::read::Recorded)).
pub fn write_kind<P: Serialize>(
    out: &mut impl Write,
    t: f64,
    gw: &str,
    kind: &EventKind<P>,
    payloads: bool,
) -> io::Result<()> {
    let mut json = serde_json::Serializer::new(out);
    let mut line = json.serialize_map(None)?;
    line.serialize_entry("t", &t)?;
    line.serialize_entry("gw", gw)?;
    kind.serialize(Kind {
        line: &mut line,
        payloads,
    })?;
    line.end()?;
    Ok(())
}

/// Takes an event kind: writes `kind` and the variant's fields into `line`.
struct Kind<'a, M> {
    line: &'a mut M,
    payloads: bool,
}

/// Takes the fields of a variant or of a struct-valued field.
struct Fields<'a, M> {
    line: &'a mut M,
    payloads: bool,
}

/// Takes one field's value and writes it as `key: value`.
struct Field<'a, M> {
    line: &'a mut M,
    key: &'static str,
    payloads: bool,
}

/// The error for a value a trace line cannot hold.
fn unsupported<E: ser::Error>(what: &str) -> E {
    E::custom(format!(
        "a trace line cannot hold {what}: event fields must be numbers, strings, booleans, lists, \
         options, unit enum variants, bytes or structs of those"
    ))
}

impl<M: SerializeMap> Fields<'_, M> {
    fn field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        value.serialize(Field {
            line: &mut *self.line,
            key,
            payloads: self.payloads,
        })
    }
}

impl<M: SerializeMap> ser::SerializeStructVariant for Fields<'_, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

impl<M: SerializeMap> ser::SerializeStruct for Fields<'_, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

/// Serializer methods that reject what a trace line cannot hold.
macro_rules! reject {
    ($($method:ident($($arg:ty),*) -> $ok:ty, $what:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ok, M::Error> {
            Err(unsupported($what))
        })*
    };
}

impl<'a, M: SerializeMap> Serializer for Kind<'a, M> {
    type Ok = ();
    type Error = M::Error;
    type SerializeSeq = Impossible<(), M::Error>;
    type SerializeTuple = Impossible<(), M::Error>;
    type SerializeTupleStruct = Impossible<(), M::Error>;
    type SerializeTupleVariant = Impossible<(), M::Error>;
    type SerializeMap = Impossible<(), M::Error>;
    type SerializeStruct = Impossible<(), M::Error>;
    type SerializeStructVariant = Fields<'a, M>;

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Fields<'a, M>, M::Error> {
        self.line.serialize_entry("kind", variant)?;
        Ok(Fields {
            line: self.line,
            payloads: self.payloads,
        })
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), M::Error> {
        self.line.serialize_entry("kind", variant)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), M::Error> {
        Err(unsupported("an option as an event kind"))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), M::Error> {
        Err(unsupported("a newtype as an event kind"))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), M::Error> {
        Err(unsupported("a newtype variant as an event kind"))
    }

    reject! {
        serialize_bool(bool) -> (), "a boolean as an event kind";
        serialize_i8(i8) -> (), "a number as an event kind";
        serialize_i16(i16) -> (), "a number as an event kind";
        serialize_i32(i32) -> (), "a number as an event kind";
        serialize_i64(i64) -> (), "a number as an event kind";
        serialize_u8(u8) -> (), "a number as an event kind";
        serialize_u16(u16) -> (), "a number as an event kind";
        serialize_u32(u32) -> (), "a number as an event kind";
        serialize_u64(u64) -> (), "a number as an event kind";
        serialize_f32(f32) -> (), "a number as an event kind";
        serialize_f64(f64) -> (), "a number as an event kind";
        serialize_char(char) -> (), "a character as an event kind";
        serialize_str(&str) -> (), "a string as an event kind";
        serialize_bytes(&[u8]) -> (), "bytes as an event kind";
        serialize_none() -> (), "an option as an event kind";
        serialize_unit() -> (), "a unit as an event kind";
        serialize_unit_struct(&'static str) -> (), "a unit struct as an event kind";
        serialize_seq(Option<usize>) -> Self::SerializeSeq, "a sequence as an event kind";
        serialize_tuple(usize) -> Self::SerializeTuple, "a tuple as an event kind";
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct, "a tuple as an event kind";
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant, "a tuple variant as an event kind";
        serialize_map(Option<usize>) -> Self::SerializeMap, "a map as an event kind";
        serialize_struct(&'static str, usize) -> Self::SerializeStruct, "a struct as an event kind";
    }
}

/// Bytes as base64 text, encoded straight into the output.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

/// Scalar serializer methods that write `key: value`.
macro_rules! entry {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method(self, v: $ty) -> Result<(), M::Error> {
            self.line.serialize_entry(self.key, &v)
        })*
    };
}

/// Takes a list-valued field (of numbers, strings and such) and writes it
/// as a JSON array.
struct Seq<'a, M> {
    line: &'a mut M,
    key: &'static str,
    items: Vec<serde_json::Value>,
}

impl<M: SerializeMap> ser::SerializeSeq for Seq<'_, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), M::Error> {
        let item = serde_json::to_value(value).map_err(|e| ser::Error::custom(e.to_string()))?;
        self.items.push(item);
        Ok(())
    }

    fn end(self) -> Result<(), M::Error> {
        self.line.serialize_entry(self.key, &self.items)
    }
}

impl<'a, M: SerializeMap> Serializer for Field<'a, M> {
    type Ok = ();
    type Error = M::Error;
    type SerializeSeq = Seq<'a, M>;
    type SerializeTuple = Impossible<(), M::Error>;
    type SerializeTupleStruct = Impossible<(), M::Error>;
    type SerializeTupleVariant = Impossible<(), M::Error>;
    type SerializeMap = Impossible<(), M::Error>;
    type SerializeStruct = Fields<'a, M>;
    type SerializeStructVariant = Impossible<(), M::Error>;

    entry! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), M::Error> {
        if self.payloads {
            self.line.serialize_entry(self.key, &Base64(v))
        } else {
            Ok(())
        }
    }

    fn serialize_none(self) -> Result<(), M::Error> {
        self.line.serialize_entry(self.key, &())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), M::Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), M::Error> {
        self.line.serialize_entry(self.key, &())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), M::Error> {
        self.line.serialize_entry(self.key, &())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), M::Error> {
        self.line.serialize_entry(self.key, variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), M::Error> {
        Err(unsupported("a newtype enum variant"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a, M>, M::Error> {
        Ok(Fields {
            line: self.line,
            payloads: self.payloads,
        })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a, M>, M::Error> {
        Ok(Seq {
            line: self.line,
            key: self.key,
            items: Vec::with_capacity(len.unwrap_or(0)),
        })
    }

    reject! {
        serialize_tuple(usize) -> Self::SerializeTuple, "a tuple";
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct, "a tuple struct";
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant, "a tuple enum variant";
        serialize_map(Option<usize>) -> Self::SerializeMap, "a map";
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant, "a struct enum variant";
    }
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
    use crate::engine::{ChannelOrigin, CloseHow, Direction, EventKind, Payload, Side};
    use crate::wire::MsgCode;
    use serde_json::Value as Json;
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

    /// One event of each kind (and each way a field can be written).
    pub(crate) fn every_kind() -> Vec<EventKind> {
        let mut int = vec![];
        crate::wire::serial::dump_into(&crate::Value::Int(42), &mut int).unwrap();
        vec![
            EventKind::GatewayStarting {
                spec: "popen//python=x".into(),
            },
            EventKind::StartStep {
                step: "host key checked".into(),
            },
            EventKind::GatewayReady {
                pid: Some(42),
                python: Some("3.12.1".into()),
                executable: Some("/usr/bin/python3".into()),
                address: Some("127.0.0.1:8888".into()),
            },
            EventKind::GatewayReady {
                pid: None,
                python: None,
                executable: None,
                address: None,
            },
            EventKind::GatewayFailed {
                error: "a\nb".into(),
            },
            EventKind::GatewayExited {
                status: None,
                reason: "r".into(),
            },
            EventKind::GatewayExited {
                status: Some("exit status 0".into()),
                reason: "r".into(),
            },
            EventKind::Message {
                dir: Direction::Out,
                code: MsgCode::ChannelExec,
                channel: -3,
                payload: Payload::new(&int),
            },
            EventKind::Message {
                dir: Direction::In,
                code: MsgCode::ChannelClose,
                channel: 0,
                payload: Payload::new(&[]),
            },
            EventKind::ChannelOpened {
                channel: 5,
                origin: ChannelOrigin::Remote,
            },
            EventKind::ChannelClosed {
                channel: 5,
                by: Side::Local,
                how: CloseHow::Closed,
            },
            EventKind::ChannelClosed {
                channel: 5,
                by: Side::Local,
                how: CloseHow::SendOnly,
            },
            EventKind::ChannelClosed {
                channel: 5,
                by: Side::Remote,
                how: CloseHow::GatewayDied("x".into()),
            },
            EventKind::ChannelClosed {
                channel: 5,
                by: Side::Remote,
                how: CloseHow::Error("Trace\nback".into()),
            },
            EventKind::Stderr {
                line: "\u{1b}[1mx".into(),
            },
            EventKind::RemoteTrace { line: "t".into() },
            EventKind::Warning { text: "w".into() },
            EventKind::RsyncProgress {
                job: 2,
                dest: "/srv/app".into(),
                files_listed: 40,
                compared: false,
                files_total: 3,
                files_done: 1,
                bytes_total: 4096,
                bytes_done: 1024,
                bytes_on_wire: 1100,
                current: Some("a/b.py".into()),
            },
            EventKind::RsyncDone {
                job: 2,
                report: Box::new(crate::engine::rsync::TargetReport {
                    gateway: "gw0".into(),
                    dest: "/srv/app".into(),
                    files_checked: 40,
                    files_sent: 2,
                    bytes_sent: 4096,
                    bytes_on_wire: 5000,
                    seconds: 0.25,
                    sent: vec!["a".into(), "b/c".into()],
                    deleted: vec![],
                    errors: vec!["x: gone".into()],
                    error: None,
                    dry_run: false,
                    remote_peak_rss_kib: Some(9000),
                }),
            },
            EventKind::Status {
                numchannels: 3,
                numexecuting: -1,
                execmodel: "thread".into(),
            },
        ]
    }

    fn line(kind: EventKind, payloads: bool) -> String {
        let ev = Event {
            time: Duration::from_micros(1500),
            gateway: Arc::from("gw0"),
            kind,
        };
        let mut out = Vec::new();
        write_event(&mut out, &ev, payloads).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The lines of format version 1, byte for byte.
    #[test]
    fn lines_of_every_kind() {
        let want = [
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_starting","spec":"popen//python=x"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"start_step","step":"host key checked"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_ready","pid":42,"python":"3.12.1","executable":"/usr/bin/python3","address":"127.0.0.1:8888"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_ready","pid":null,"python":null}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_failed","error":"a\nb"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_exited","status":null,"reason":"r"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"gateway_exited","status":"exit status 0","reason":"r"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"message","dir":"out","code":3,"name":"CHANNEL_EXEC","channel":-3,"len":6,"preview":"42"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"message","dir":"in","code":5,"name":"CHANNEL_CLOSE","channel":0,"len":0,"preview":""}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"channel_opened","channel":5,"origin":"remote"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"channel_closed","channel":5,"by":"local","how":"closed"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"channel_closed","channel":5,"by":"local","how":"send_only"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"channel_closed","channel":5,"by":"remote","how":"gateway_died","error":"x"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"channel_closed","channel":5,"by":"remote","how":"error","error":"Trace\nback"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"stderr","line":"\u001b[1mx"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"remote_trace","line":"t"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"warning","text":"w"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"rsync_progress","job":2,"dest":"/srv/app","files_listed":40,"compared":false,"files_total":3,"files_done":1,"bytes_total":4096,"bytes_done":1024,"bytes_on_wire":1100,"current":"a/b.py"}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"rsync_done","job":2,"gateway":"gw0","dest":"/srv/app","files_checked":40,"files_sent":2,"bytes_sent":4096,"bytes_on_wire":5000,"seconds":0.25,"sent":["a","b/c"],"deleted":[],"errors":["x: gone"],"error":null,"dry_run":false,"remote_peak_rss_kib":9000}"#,
            r#"{"t":0.0015,"gw":"gw0","kind":"status","numchannels":3,"numexecuting":-1,"execmodel":"thread"}"#,
        ];
        let got: Vec<String> = every_kind().into_iter().map(|k| line(k, false)).collect();
        assert_eq!(got, want);
        let kinds = every_kind();
        let with_payload = line(kinds[7].clone(), true);
        assert!(
            with_payload.ends_with(r#""preview":"42","payload":"RgAAACpR"}"#),
            "{with_payload}"
        );
        let empty = line(kinds[8].clone(), true);
        assert!(empty.ends_with(r#""preview":"","payload":""}"#), "{empty}");
        // Payloads change message lines only.
        assert_eq!(line(kinds[0].clone(), true), want[0]);
    }

    /// What the writer writes, the reader reads back as the same event.
    #[test]
    fn every_kind_reads_back() {
        for kind in every_kind() {
            let written = line(kind.clone(), false);
            let record = crate::trace::read::parse_event(written.as_bytes()).unwrap();
            assert_eq!(record.kind, kind.name());
            let crate::trace::read::Body::Event(read) = &record.body else {
                panic!("{written} read as {record:?}");
            };
            assert_eq!(read.name(), kind.name());
            let mut again = Vec::new();
            write_kind(&mut again, record.t, &record.gw, read, false).unwrap();
            assert_eq!(String::from_utf8(again).unwrap(), written);
        }
    }
}
