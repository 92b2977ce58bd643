//! The traffic inspector's and the trace view's model: every message in a
//! bounded ring (with its decoded preview made once, on arrival), every
//! other event (life cycles, channels, stderr, remote trace lines, warnings)
//! in a second ring, a summary per channel, and the one filter both views
//! use. Fed by live events or by a recorded trace file (read-only).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::detail::Detail;
use super::ring::{Follow, Ring};
use crate::engine::{ChannelOrigin, CloseHow, Direction, Event, EventKind, Payload, Side};
use crate::trace::read::{Body, Record, RecordedKind};
use crate::tui::filter::Filter;
use crate::wire::MsgCode;

/// Characters of a message's preview kept for the table and the text filter.
pub const PREVIEW: usize = 160;

/// Default number of messages (and of trace lines) held.
pub const DEFAULT_CAPACITY: usize = 200_000;

/// Channels summed up; past this the oldest closed ones are forgotten
/// (every status poll opens one).
pub const MAX_CHANNELS: usize = 10_000;

/// Payload bytes held for the detail view; past this the oldest messages
/// keep only their preview (a bulk transfer of big items must not hold
/// gigabytes).
pub const PAYLOAD_BUDGET: usize = 128 << 20;

/// One message as the inspector holds it.
#[derive(Debug, Clone)]
pub struct Msg {
    /// When, since the engine's clock epoch (or the trace's start).
    pub t: Duration,
    /// The gateway.
    pub gateway: Arc<str>,
    /// Which way.
    pub dir: Direction,
    /// Message type.
    pub code: MsgCode,
    /// Channel id.
    pub channel: i32,
    /// Payload bytes.
    pub len: u64,
    /// Python repr of the payload, cut to [`PREVIEW`] characters.
    pub preview: Box<str>,
    /// The payload itself (`None` when read from a trace file, or let go
    /// past [`PAYLOAD_BUDGET`]).
    pub payload: Option<Payload>,
}

/// What happened to one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSummary {
    /// Who made it, if its opening was seen.
    pub origin: Option<ChannelOrigin>,
    /// Which side closed it and how, if it was closed.
    pub closed: Option<(Side, CloseHow)>,
    /// Items (CHANNEL_DATA) sent to the worker.
    pub items_out: u64,
    /// Items received from the worker.
    pub items_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
}

/// The filter of both views: `gw:ID`, `ch:N` and `type:NAME` words (a
/// message type such as `data` or an event kind such as `stderr`, any
/// part, any case); what is left is a regular expression over the text
/// (`!re` keeps what does not match).
#[derive(Debug, Clone)]
pub struct TrafficFilter {
    /// What the user typed.
    pub text: String,
    gateway: Option<String>,
    channel: Option<i64>,
    kind: Option<String>,
    regex: Option<Filter>,
}

impl TrafficFilter {
    /// Parses `text`; the error says what is wrong.
    pub fn new(text: &str) -> Result<TrafficFilter, String> {
        let mut f = TrafficFilter {
            text: text.to_owned(),
            gateway: None,
            channel: None,
            kind: None,
            regex: None,
        };
        let mut rest = Vec::new();
        for word in text.split_whitespace() {
            if let Some(g) = word.strip_prefix("gw:") {
                f.gateway = Some(g.to_owned());
            } else if let Some(c) = word.strip_prefix("ch:") {
                f.channel = Some(
                    c.parse()
                        .map_err(|_| format!("ch:{c}: a channel is a number"))?,
                );
            } else if let Some(k) = word.strip_prefix("type:") {
                f.kind = Some(k.to_ascii_uppercase());
            } else {
                rest.push(word);
            }
        }
        if !rest.is_empty() {
            f.regex = Some(Filter::new(&rest.join(" "))?);
        }
        Ok(f)
    }

    /// Whether a row of gateway `gw`, channel, type or kind `kind` and text
    /// `text` is kept.
    pub fn keeps(&self, gw: &str, channel: Option<i64>, kind: &str, text: &str) -> bool {
        self.gateway.as_deref().is_none_or(|g| g == gw)
            && self.channel.is_none_or(|c| channel == Some(c))
            && self
                .kind
                .as_deref()
                .is_none_or(|k| kind.to_ascii_uppercase().contains(k))
            && self.regex.as_ref().is_none_or(|r| r.keeps(text))
    }

    fn keeps_msg(&self, m: &Msg) -> bool {
        self.keeps(
            &m.gateway,
            Some(i64::from(m.channel)),
            m.code.name(),
            &m.preview,
        )
    }

    fn keeps_line(&self, r: &Record) -> bool {
        self.keeps(&r.gw, r.channel(), &r.kind, &r.detail())
    }
}

/// Everything the traffic and trace screens show.
#[derive(Debug)]
pub struct Traffic {
    /// Messages, oldest first.
    pub msgs: Ring<Msg>,
    /// Every other event (as a trace file would hold it), oldest first.
    pub lines: Ring<Record>,
    /// Per gateway and channel.
    pub channels: BTreeMap<(Arc<str>, i32), ChannelSummary>,
    /// The filter of both views.
    pub filter: Option<TrafficFilter>,
    /// Where the message table stands.
    pub msg_view: Follow,
    /// Where the trace table stands.
    pub line_view: Follow,
    /// The message opened with Enter.
    pub detail: Option<Detail>,
    /// The trace file shown, when the TUI only reads one (no gateways).
    pub replay: Option<String>,
    /// Seqs and payload sizes of the messages that hold their payload,
    /// oldest first.
    with_payload: VecDeque<(u64, usize)>,
    /// Payload bytes they hold.
    payload_bytes: usize,
    /// Most payload bytes held.
    payload_budget: usize,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic::new(DEFAULT_CAPACITY)
    }
}

impl Traffic {
    /// Empty, holding at most `cap` messages and `cap` trace lines.
    pub fn new(cap: usize) -> Traffic {
        Traffic {
            msgs: Ring::new(cap),
            lines: Ring::new(cap),
            channels: BTreeMap::new(),
            filter: None,
            msg_view: Follow::default(),
            line_view: Follow::default(),
            detail: None,
            replay: None,
            with_payload: VecDeque::new(),
            payload_bytes: 0,
            payload_budget: PAYLOAD_BUDGET,
        }
    }

    /// Holds at most `bytes` of payloads (the oldest are let go first).
    pub fn with_payload_budget(mut self, bytes: usize) -> Traffic {
        self.payload_budget = bytes;
        self
    }

    /// Takes in a live engine event.
    pub fn apply(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Message {
                dir,
                code,
                channel,
                payload,
            } => self.push_msg(Msg {
                t: ev.time,
                gateway: ev.gateway.clone(),
                dir: *dir,
                code: *code,
                channel: *channel,
                len: payload.len() as u64,
                preview: payload.preview(PREVIEW).into(),
                payload: Some(payload.clone()),
            }),
            kind => {
                if let Some(kind) = recorded(kind) {
                    self.push_line(Record {
                        t: ev.time.as_secs_f64(),
                        gw: ev.gateway.to_string(),
                        kind: kind.name().to_owned(),
                        body: Body::Event(kind),
                    });
                }
            }
        }
    }

    /// Takes in one event line of a trace file.
    pub fn apply_record(&mut self, r: Record) {
        if let Body::Event(EventKind::Message {
            dir,
            code,
            channel,
            payload,
        }) = &r.body
        {
            let preview: String = payload.preview.chars().take(PREVIEW).collect();
            self.push_msg(Msg {
                t: Duration::try_from_secs_f64(r.t).unwrap_or_default(),
                gateway: Arc::from(r.gw.as_str()),
                dir: *dir,
                code: *code,
                channel: *channel,
                len: payload.len,
                preview: preview.into(),
                payload: None,
            });
        } else {
            self.push_line(r);
        }
    }

    fn push_msg(&mut self, m: Msg) {
        let s = self
            .channels
            .entry((m.gateway.clone(), m.channel))
            .or_default();
        let data = u64::from(m.code == MsgCode::ChannelData);
        match m.dir {
            Direction::Out => {
                s.items_out += data;
                s.bytes_out += m.len;
            }
            Direction::In => {
                s.items_in += data;
                s.bytes_in += m.len;
            }
        }
        let keep = self.filter.as_ref().is_none_or(|f| f.keeps_msg(&m));
        let held = m.payload.as_ref().map_or(0, Payload::len);
        let seq = self.msgs.next_seq();
        self.msgs.push(m, keep);
        if held > 0 {
            self.with_payload.push_back((seq, held));
            self.payload_bytes += held;
        }
        // Payloads of messages the ring dropped are gone already; then the
        // oldest held ones go until the budget is kept.
        let first = self.msgs.next_seq() - self.msgs.len() as u64;
        while let Some(&(old, len)) = self.with_payload.front() {
            if old >= first && self.payload_bytes <= self.payload_budget {
                break;
            }
            self.with_payload.pop_front();
            self.payload_bytes -= len;
            if let Some(m) = self.msgs.get_mut(old) {
                m.payload = None;
            }
        }
    }

    fn push_line(&mut self, r: Record) {
        let key = |ch: &i32| (Arc::<str>::from(r.gw.as_str()), *ch);
        match &r.body {
            Body::Event(EventKind::ChannelOpened { channel, origin }) => {
                self.channels.entry(key(channel)).or_default().origin = Some(*origin);
            }
            Body::Event(EventKind::ChannelClosed { channel, by, how }) => {
                self.channels.entry(key(channel)).or_default().closed = Some((*by, how.clone()));
                if self.channels.len() > MAX_CHANNELS {
                    let oldest = self
                        .channels
                        .iter()
                        .find(|(_, s)| s.closed.is_some())
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        self.channels.remove(&k);
                    }
                }
            }
            _ => {}
        }
        let keep = self.filter.as_ref().is_none_or(|f| f.keeps_line(&r));
        self.lines.push(r, keep);
    }

    /// Uses `filter` in both views (rebuilding their indexes once).
    pub fn set_filter(&mut self, filter: Option<TrafficFilter>) {
        self.filter = filter;
        match &self.filter {
            Some(f) => {
                self.msgs.refilter(|m| f.keeps_msg(m));
                self.lines.refilter(|r| f.keeps_line(r));
            }
            None => {
                self.msgs.refilter(|_| true);
                self.lines.refilter(|_| true);
            }
        }
    }

    /// The channels the filter's gateway and channel words keep.
    pub fn shown_channels(&self) -> impl Iterator<Item = (&(Arc<str>, i32), &ChannelSummary)> {
        self.channels.iter().filter(|((gw, ch), _)| {
            self.filter.as_ref().is_none_or(|f| {
                f.gateway.as_deref().is_none_or(|g| g == &**gw)
                    && f.channel.is_none_or(|c| c == i64::from(*ch))
            })
        })
    }

    /// The selected message, if any.
    pub fn selected_msg(&self) -> Option<(u64, &Msg)> {
        let seq = self.msg_view.selected_seq(&self.msgs)?;
        Some((seq, self.msgs.get(seq)?))
    }

    /// The selected trace line, if any.
    pub fn selected_line(&self) -> Option<&Record> {
        self.lines.get(self.line_view.selected_seq(&self.lines)?)
    }
}

/// A non-message event as a trace file keeps it (`None` for messages).
fn recorded(kind: &EventKind) -> Option<RecordedKind> {
    use EventKind as K;
    Some(match kind.clone() {
        K::Message { .. } => return None,
        K::GatewayStarting { spec } => K::GatewayStarting { spec },
        K::StartStep { step } => K::StartStep { step },
        K::GatewayReady {
            pid,
            python,
            executable,
            address,
        } => K::GatewayReady {
            pid,
            python,
            executable,
            address,
        },
        K::GatewayFailed { error } => K::GatewayFailed { error },
        K::GatewayExited { status, reason } => K::GatewayExited { status, reason },
        K::ChannelOpened { channel, origin } => K::ChannelOpened { channel, origin },
        K::ChannelClosed { channel, by, how } => K::ChannelClosed { channel, by, how },
        K::Stderr { line } => K::Stderr { line },
        K::RemoteTrace { line } => K::RemoteTrace { line },
        K::Warning { text } => K::Warning { text },
        K::RsyncProgress {
            job,
            dest,
            files_listed,
            compared,
            files_total,
            files_done,
            bytes_total,
            bytes_done,
            bytes_on_wire,
            current,
        } => K::RsyncProgress {
            job,
            dest,
            files_listed,
            compared,
            files_total,
            files_done,
            bytes_total,
            bytes_done,
            bytes_on_wire,
            current,
        },
        K::RsyncDone { job, report } => K::RsyncDone { job, report },
        K::Status {
            numchannels,
            numexecuting,
            execmodel,
        } => K::Status {
            numchannels,
            numexecuting,
            execmodel,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Value;

    fn payload(v: &Value) -> Payload {
        let mut bytes = vec![];
        crate::wire::serial::dump_into(v, &mut bytes).unwrap();
        Payload::new(&bytes)
    }

    fn ev(gw: &str, kind: EventKind) -> Event {
        Event {
            time: Duration::from_millis(5),
            gateway: Arc::from(gw),
            kind,
        }
    }

    fn data(gw: &str, channel: i32, dir: Direction, v: Value) -> Event {
        ev(
            gw,
            EventKind::Message {
                dir,
                code: MsgCode::ChannelData,
                channel,
                payload: payload(&v),
            },
        )
    }

    #[test]
    fn messages_feed_the_ring_and_the_channel_summary() {
        let mut t = Traffic::new(4);
        t.apply(&ev(
            "gw0",
            EventKind::ChannelOpened {
                channel: 1,
                origin: ChannelOrigin::Exec,
            },
        ));
        for i in 0..6 {
            t.apply(&data("gw0", 1, Direction::In, Value::Int(i)));
        }
        t.apply(&data("gw0", 1, Direction::Out, Value::str("x")));
        t.apply(&ev(
            "gw0",
            EventKind::ChannelClosed {
                channel: 1,
                by: Side::Remote,
                how: CloseHow::Error("ValueError: boom".into()),
            },
        ));
        assert_eq!(t.msgs.len(), 4);
        assert_eq!(t.msgs.dropped(), 3);
        let s = &t.channels[&(Arc::from("gw0"), 1)];
        assert_eq!((s.items_in, s.items_out), (6, 1));
        assert_eq!(s.origin, Some(ChannelOrigin::Exec));
        assert!(
            matches!(&s.closed, Some((Side::Remote, CloseHow::Error(e))) if e.contains("boom"))
        );
        assert_eq!(t.lines.len(), 2);
        let (_, m) = t.selected_msg().unwrap();
        assert_eq!(&*m.preview, "'x'");
    }

    #[test]
    fn payloads_are_let_go_past_the_budget() {
        let mut t = Traffic::new(3).with_payload_budget(100);
        for _ in 0..4 {
            t.apply(&data("gw0", 1, Direction::In, Value::str("x".repeat(40))));
        }
        // The ring holds 3; of those only the 2 newest keep their payload.
        let held: Vec<bool> = t.msgs.iter().map(|(_, m)| m.payload.is_some()).collect();
        assert_eq!(held, [false, true, true]);
        assert!(t.payload_bytes <= 100);
        assert!(t.msgs.iter().all(|(_, m)| m.preview.starts_with("'xxx")));
    }

    #[test]
    fn the_filter_takes_gateway_channel_type_and_text() {
        let mut t = Traffic::new(100);
        for (gw, ch) in [("gw0", 1), ("gw0", 3), ("gw1", 3)] {
            t.apply(&data(
                gw,
                ch,
                Direction::In,
                Value::str(format!("{gw}-{ch}")),
            ));
        }
        t.apply(&ev(
            "gw1",
            EventKind::Stderr {
                line: "oops".into(),
            },
        ));
        t.set_filter(Some(TrafficFilter::new("ch:3").unwrap()));
        assert_eq!(t.msgs.shown().len(), 2);
        t.set_filter(Some(TrafficFilter::new("gw:gw1 ch:3").unwrap()));
        assert_eq!(t.msgs.shown().len(), 1);
        assert_eq!(t.shown_channels().count(), 1);
        t.set_filter(Some(TrafficFilter::new("type:data gw0-").unwrap()));
        assert_eq!(t.msgs.shown().len(), 2);
        // New messages pass the same filter as they come.
        t.apply(&data("gw2", 9, Direction::In, Value::str("gw0-late")));
        t.apply(&data("gw2", 9, Direction::In, Value::str("other")));
        assert_eq!(t.msgs.shown().len(), 3);
        t.set_filter(Some(TrafficFilter::new("type:stderr").unwrap()));
        assert_eq!(t.lines.shown().len(), 1);
        assert_eq!(t.msgs.shown().len(), 0);
        assert!(TrafficFilter::new("ch:x").is_err());
        assert!(TrafficFilter::new("(").is_err());
        t.set_filter(None);
        assert_eq!(t.msgs.shown().len(), 5);
    }

    #[test]
    fn recorded_lines_feed_both_rings() {
        let mut t = Traffic::new(10);
        for line in [
            r#"{"t":0.5,"gw":"gw0","kind":"message","dir":"in","code":4,"name":"CHANNEL_DATA","channel":1,"len":3,"preview":"42"}"#,
            r#"{"t":0.6,"gw":"gw0","kind":"remote_trace","line":"[1] hello"}"#,
        ] {
            t.apply_record(crate::trace::read::parse_event(line.as_bytes()).unwrap());
        }
        assert_eq!(t.msgs.len(), 1);
        assert_eq!(t.lines.len(), 1);
        assert_eq!(
            t.selected_line().map(Record::detail).as_deref(),
            Some("[1] hello")
        );
    }
}
