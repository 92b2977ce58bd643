//! Events: one typed, timestamped record of everything the engine does —
//! gateway life cycles, every message in and out, channel life cycles, the
//! workers' stderr and trace lines, status answers.
//!
//! Publishing costs one atomic load when nobody subscribes; message events
//! (the costly kind: a copy of each payload) are built only while a
//! subscriber asked for them ([`EventSender::subscribe`], not
//! [`EventSender::subscribe_lifecycle`]). A subscriber that
//! falls behind never slows the engine: it loses the oldest events and is
//! told how many ([`Received::Lost`]).
//!
//! Each event kind is defined once, here, as a variant of [`EventKind`]: its
//! serde attributes give its name and fields in trace files, and both the
//! trace writer and the trace reader (`crate::trace`) derive from them.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::wire::pyrepr::repr_prefix;
use crate::wire::serial::load_unversioned;
use crate::wire::{DataFormatError, LoadOptions, MsgCode, Value};

/// How many events a subscriber may fall behind before it loses the oldest.
pub const EVENT_BUFFER: usize = 4096;

/// The instant all event times count from, and the wall-clock time it was.
pub fn clock_epoch() -> (Instant, SystemTime) {
    static EPOCH: OnceLock<(Instant, SystemTime)> = OnceLock::new();
    *EPOCH.get_or_init(|| (Instant::now(), SystemTime::now()))
}

/// Time since [`clock_epoch`], from a monotonic clock.
pub fn now() -> Duration {
    clock_epoch().0.elapsed()
}

/// Something that happened in the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When, since [`clock_epoch`] (monotonic).
    pub time: Duration,
    /// The gateway it happened on.
    pub gateway: Arc<str>,
    /// What happened.
    pub kind: EventKind,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Master to worker.
    Out,
    /// Worker to master.
    In,
}

impl Direction {
    /// `"out"` or `"in"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }
}

/// Who made a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrigin {
    /// `remote_exec` made it.
    Exec,
    /// `newchannel` on the master made it.
    Local,
    /// The worker made it (it arrived inside a value or carried data first).
    Remote,
}

impl ChannelOrigin {
    /// `"exec"`, `"local"` or `"remote"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelOrigin::Exec => "exec",
            ChannelOrigin::Local => "local",
            ChannelOrigin::Remote => "remote",
        }
    }
}

/// Which side closed a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The master.
    Local,
    /// The worker.
    Remote,
}

impl Side {
    /// `"local"` or `"remote"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// How a channel was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseHow {
    /// Normally (CHANNEL_CLOSE).
    Closed,
    /// With an error text (CHANNEL_CLOSE_ERROR).
    Error(String),
    /// Send-only: the closing side sends nothing more (CHANNEL_LAST_MESSAGE).
    SendOnly,
    /// The connection ended while the channel was open.
    GatewayDied(String),
}

impl CloseHow {
    /// `"closed"`, `"error"`, `"send_only"` or `"gateway_died"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseHow::Closed => "closed",
            CloseHow::Error(_) => "error",
            CloseHow::SendOnly => "send_only",
            CloseHow::GatewayDied(_) => "gateway_died",
        }
    }

    /// The error text, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            CloseHow::Error(e) | CloseHow::GatewayDied(e) => Some(e),
            _ => None,
        }
    }
}

/// In a trace line a close is two fields: `how`, and `error` when there is
/// an error text.
impl Serialize for CloseHow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("CloseHow", 2)?;
        fields.serialize_field("how", self.as_str())?;
        match self.error() {
            Some(error) => fields.serialize_field("error", error)?,
            None => fields.skip_field("error")?,
        }
        fields.end()
    }
}

impl<'de> Deserialize<'de> for CloseHow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = CloseHow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the fields \"how\" and \"error\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CloseHow, A::Error> {
                let (mut how, mut error) = (None::<String>, None::<String>);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "how" => how = Some(map.next_value()?),
                        "error" => error = map.next_value()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let how = how.ok_or_else(|| de::Error::missing_field("how"))?;
                let text = |error: Option<String>| {
                    error.ok_or_else(|| {
                        de::Error::custom(format!(
                            "\"error\" must be a string when \"how\" is {how:?}"
                        ))
                    })
                };
                match how.as_str() {
                    "closed" => Ok(CloseHow::Closed),
                    "send_only" => Ok(CloseHow::SendOnly),
                    "error" => Ok(CloseHow::Error(text(error)?)),
                    "gateway_died" => Ok(CloseHow::GatewayDied(text(error)?)),
                    other => Err(de::Error::custom(format!(
                        "\"how\" must be \"closed\", \"error\", \"send_only\" or \"gateway_died\", not {other:?}"
                    ))),
                }
            }
        }
        deserializer.deserialize_struct("CloseHow", &["how", "error"], Fields)
    }
}

/// A message code in a trace line: two fields, `code` (its number) and
/// `name` (`CHANNEL_DATA`, …). Use with `#[serde(with = "msg_code")]`.
mod msg_code {
    use super::*;

    pub fn serialize<S: Serializer>(code: &MsgCode, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("MsgCode", 2)?;
        fields.serialize_field("code", &(*code as i8))?;
        fields.serialize_field("name", code.name())?;
        fields.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MsgCode, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = MsgCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the fields \"code\" and \"name\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MsgCode, A::Error> {
                let (mut code, mut name) = (None::<i64>, None::<String>);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "code" => code = Some(map.next_value()?),
                        "name" => name = Some(map.next_value()?),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let code = code.ok_or_else(|| de::Error::missing_field("code"))?;
                let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                let known = i8::try_from(code).ok().and_then(MsgCode::from_i8);
                let Some(known) = known else {
                    return Err(de::Error::custom(format!(
                        "\"code\" must be a message code from 0 to {}, not {code}",
                        MsgCode::ALL.len() - 1
                    )));
                };
                if name != known.name() {
                    return Err(de::Error::custom(format!(
                        "\"name\" must be {:?} for code {code}, not {name:?}",
                        known.name()
                    )));
                }
                Ok(known)
            }
        }
        deserializer.deserialize_struct("MsgCode", &["code", "name"], Fields)
    }
}

/// Longest message preview in a trace file, in characters.
pub const PREVIEW_CHARS: usize = 200;

/// In a trace line a payload is `len` (bytes), `preview` (the Python repr,
/// cut to [`PREVIEW_CHARS`]) and `payload` (the bytes; a trace writer writes
/// them, in base64, only when asked to).
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Bytes<'a>(&'a [u8]);
        impl Serialize for Bytes<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }
        let mut fields = serializer.serialize_struct("Payload", 3)?;
        fields.serialize_field("len", &self.len())?;
        fields.serialize_field("preview", &self.preview(PREVIEW_CHARS))?;
        fields.serialize_field("payload", &Bytes(self.bytes()))?;
        fields.end()
    }
}

/// A message payload, shared, decoded only when someone asks.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Arc<[u8]>);

impl Payload {
    /// Wraps payload bytes.
    pub fn new(bytes: &[u8]) -> Payload {
        Payload(Arc::from(bytes))
    }

    /// The raw (unversioned, serialized) bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value the payload carries.
    pub fn decode(&self) -> Result<Value, DataFormatError> {
        load_unversioned(&self.0, LoadOptions::default())
    }

    /// Python repr of the value, cut to `max_chars` characters (with `…`);
    /// `""` for an empty payload, `<undecodable: …>` for bad bytes.
    pub fn preview(&self, max_chars: usize) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let text = match self.decode() {
            // One character more than shown tells whether to cut.
            Ok(v) => repr_prefix(&v, max_chars.saturating_add(1)),
            Err(e) => format!("<undecodable: {e}>"),
        };
        if text.chars().count() <= max_chars {
            return text;
        }
        let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

/// What happened.
///
/// This is the one definition of each event kind: the variant name (in
/// snake case) is the `kind` of a trace line and its fields, in this order,
/// are the line's fields (docs/trace-format.md). A field whose value is
/// several fields in a trace line ([`MsgCode`], [`Payload`], [`CloseHow`])
/// serializes as a struct whose fields take its place in the line.
///
/// `P` is what a message carries: the [`Payload`] itself in the engine, what
/// a trace file keeps of it when read back (`crate::trace::read::Recorded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind<P = Payload> {
    /// A gateway is being started.
    GatewayStarting {
        /// The spec, as written.
        spec: String,
    },
    /// A step of a gateway's start, between `gateway_starting` and
    /// `gateway_ready` or `gateway_failed`: for an ssh gateway `resolving
    /// HOST`, `connecting to ADDR`, `host key checked`, `authenticated as
    /// USER`, `PYTHON started`; for a gateway with a local process (popen,
    /// cmd, vagrant_ssh, `ssh_client=openssh`) `spawned PROGRAM pid N`; for
    /// a via gateway `started through GWID: pid N`; for a socket gateway
    /// `connected to ADDR`; then `handshake done`.
    StartStep {
        /// What was done (or is being done), in words.
        step: String,
    },
    /// A gateway finished its handshake (and setup).
    GatewayReady {
        /// Local process id, when there is one.
        pid: Option<u32>,
        /// The worker's Python version (`3.11.7`), when it was asked for.
        python: Option<String>,
        /// The interpreter that runs the worker (`sys.executable`), when
        /// it was asked for: for a `python=` shim, the one it chose.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executable: Option<String>,
        /// Where the worker is, for one without a local process: the
        /// `host:port` of a socket gateway (also one made with
        /// `installvia=`), the route of a `via=` gateway (`via gw0 ← gw1`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A gateway could not be started.
    GatewayFailed {
        /// The error text.
        error: String,
    },
    /// A gateway's connection ended.
    GatewayExited {
        /// How the process ended (`exit status 0`, `killed by signal 9 (SIGKILL)`), if known.
        status: Option<String>,
        /// Why the connection ended.
        reason: String,
    },
    /// A message went over the wire.
    Message {
        /// Which way.
        dir: Direction,
        /// Message code.
        #[serde(with = "msg_code")]
        code: MsgCode,
        /// Channel id.
        channel: i32,
        /// The payload bytes.
        payload: P,
    },
    /// A channel came into being on the master side.
    ChannelOpened {
        /// Channel id.
        channel: i32,
        /// Who made it.
        origin: ChannelOrigin,
    },
    /// A channel was closed by one side, or ended with the connection.
    ChannelClosed {
        /// Channel id.
        channel: i32,
        /// Which side closed it.
        by: Side,
        /// How.
        how: CloseHow,
    },
    /// A line the worker wrote on stderr (including what user code printed).
    Stderr {
        /// The line, without its newline.
        line: String,
    },
    /// A trace line of the worker (spec key `debug=stream`).
    RemoteTrace {
        /// The line, without its newline.
        line: String,
    },
    /// Something worth telling that did not stop the gateway.
    Warning {
        /// The warning text.
        text: String,
    },
    /// How far an rsync job has come with this gateway's target: at most
    /// about ten a second, and at the end of each file.
    RsyncProgress {
        /// The job (numbered per process).
        job: u64,
        /// The target's destination directory.
        dest: String,
        /// Regular files of the source.
        files_listed: u64,
        /// Whether the receiver has compared every entry (until then the
        /// totals below still grow).
        compared: bool,
        /// Files to send, found so far.
        files_total: u64,
        /// Files sent (or found equal, or failed).
        files_done: u64,
        /// Bytes of the files to send, found so far.
        bytes_total: u64,
        /// Bytes the receiver acknowledged as written.
        bytes_done: u64,
        /// Bytes on the wire so far, both ways.
        bytes_on_wire: u64,
        /// The file being sent.
        current: Option<String>,
    },
    /// An rsync target ended: its report.
    RsyncDone {
        /// The job (numbered per process).
        job: u64,
        /// What it did.
        report: Box<crate::engine::rsync::TargetReport>,
    },
    /// A `remote_status` answer.
    Status {
        /// Channels open in the worker.
        numchannels: i64,
        /// Executions running in the worker.
        numexecuting: i64,
        /// The worker's execution model.
        execmodel: String,
    },
}

impl<P: Serialize> EventKind<P> {
    /// The kind's name as used in trace files (`"message"`, `"gateway_ready"`, …),
    /// from the serde definition above.
    pub fn name(&self) -> &'static str {
        match self.serialize(kind_name::Probe) {
            Err(kind_name::Found(name)) => name,
            Ok(never) => match never {},
        }
    }
}

/// A serializer that stops at the variant name of an [`EventKind`].
mod kind_name {
    use std::convert::Infallible;
    use std::fmt;

    use serde::Serialize;
    use serde::ser::{self, Impossible};

    /// Reads the variant name, serializes nothing.
    pub struct Probe;

    /// The variant name (`""` if the value was no struct variant).
    #[derive(Debug)]
    pub struct Found(pub &'static str);

    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "event kind {:?}", self.0)
        }
    }

    impl std::error::Error for Found {}

    impl ser::Error for Found {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Found("")
        }
    }

    macro_rules! not_a_variant {
        ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
            $(fn $method(self, $(_: $arg),*) -> Result<$ok, Found> {
                Err(Found(""))
            })*
        };
    }

    impl ser::Serializer for Probe {
        type Ok = Infallible;
        type Error = Found;
        type SerializeSeq = Impossible<Infallible, Found>;
        type SerializeTuple = Impossible<Infallible, Found>;
        type SerializeTupleStruct = Impossible<Infallible, Found>;
        type SerializeTupleVariant = Impossible<Infallible, Found>;
        type SerializeMap = Impossible<Infallible, Found>;
        type SerializeStruct = Impossible<Infallible, Found>;
        type SerializeStructVariant = Impossible<Infallible, Found>;

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Found> {
            Err(Found(variant))
        }

        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<Infallible, Found> {
            Err(Found(variant))
        }

        fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Infallible, Found> {
            Err(Found(""))
        }

        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<Infallible, Found> {
            Err(Found(""))
        }

        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: &T,
        ) -> Result<Infallible, Found> {
            Err(Found(variant))
        }

        not_a_variant! {
            serialize_bool(bool) -> Infallible;
            serialize_i8(i8) -> Infallible;
            serialize_i16(i16) -> Infallible;
            serialize_i32(i32) -> Infallible;
            serialize_i64(i64) -> Infallible;
            serialize_u8(u8) -> Infallible;
            serialize_u16(u16) -> Infallible;
            serialize_u32(u32) -> Infallible;
            serialize_u64(u64) -> Infallible;
            serialize_f32(f32) -> Infallible;
            serialize_f64(f64) -> Infallible;
            serialize_char(char) -> Infallible;
            serialize_str(&str) -> Infallible;
            serialize_bytes(&[u8]) -> Infallible;
            serialize_none() -> Infallible;
            serialize_unit() -> Infallible;
            serialize_unit_struct(&'static str) -> Infallible;
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        }
    }
}

/// The publishing side of the event stream; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: broadcast::Sender<Event>,
    observers: Arc<AtomicUsize>,
    /// Subscribers that want message events too.
    tracers: Arc<AtomicUsize>,
    /// Held while stamping and queueing an event, so the stream's times never go back.
    order: Arc<std::sync::Mutex<()>>,
}

impl Default for EventSender {
    fn default() -> Self {
        EventSender::with_capacity(EVENT_BUFFER)
    }
}

impl EventSender {
    /// A sender whose subscribers may fall `capacity` events behind.
    pub fn with_capacity(capacity: usize) -> EventSender {
        EventSender {
            tx: broadcast::channel(capacity.max(1)).0,
            observers: Arc::new(AtomicUsize::new(0)),
            tracers: Arc::new(AtomicUsize::new(0)),
            order: Arc::new(std::sync::Mutex::new(())),
        }
    }

    /// Whether anyone listens (one atomic load).
    pub fn is_observed(&self) -> bool {
        self.observers.load(Ordering::Relaxed) > 0
    }

    /// Whether anyone wants message events (and other costly details).
    pub fn is_traced(&self) -> bool {
        self.tracers.load(Ordering::Relaxed) > 0
    }

    /// Publishes an event for `gateway` if anyone listens.
    pub fn send(&self, gateway: &Arc<str>, kind: EventKind) {
        if self.is_observed() {
            let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self.tx.send(Event {
                time: now(),
                gateway: gateway.clone(),
                kind,
            });
        }
    }

    /// Publishes the event `make` builds, building it only if anyone listens.
    pub fn send_with(&self, gateway: &Arc<str>, make: impl FnOnce() -> EventKind) {
        if self.is_observed() {
            self.send(gateway, make());
        }
    }

    /// A new subscription to every event from now on, messages included.
    pub fn subscribe(&self) -> Subscription {
        self.tracers.fetch_add(1, Ordering::Relaxed);
        self.subscription(true)
    }

    /// A new subscription to every event but messages (life cycles, stderr,
    /// warnings, status): cheap enough to leave on.
    pub fn subscribe_lifecycle(&self) -> Subscription {
        self.subscription(false)
    }

    fn subscription(&self, messages: bool) -> Subscription {
        self.observers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: self.tx.subscribe(),
            observers: self.observers.clone(),
            tracers: messages.then(|| self.tracers.clone()),
            gateway: None,
        }
    }
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(Event),
    /// This many events were lost because the subscriber fell behind.
    Lost(u64),
}

/// A stream of events (see [`EventSender::subscribe`]).
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Event>,
    observers: Arc<AtomicUsize>,
    /// Set for subscriptions that want message events.
    tracers: Option<Arc<AtomicUsize>>,
    gateway: Option<Arc<str>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.observers.fetch_sub(1, Ordering::Relaxed);
        if let Some(tracers) = &self.tracers {
            tracers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Subscription {
    /// Only events of this gateway from now on.
    pub fn only_gateway(mut self, gateway: &str) -> Subscription {
        self.gateway = Some(Arc::from(gateway));
        self
    }

    fn wanted(&self, ev: &Event) -> bool {
        self.gateway.as_ref().is_none_or(|g| *g == ev.gateway)
            && (self.tracers.is_some() || !matches!(ev.kind, EventKind::Message { .. }))
    }

    /// The next event, or how many were lost; `None` when the engine is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.recv().await {
                Ok(ev) if self.wanted(&ev) => return Some(Received::Event(ev)),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Received::Lost(n)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Like [`Subscription::recv`] without waiting: `None` when nothing is queued.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.try_recv() {
                Ok(ev) if self.wanted(&ev) => return Some(Received::Event(ev)),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => return Some(Received::Lost(n)),
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw() -> Arc<str> {
        Arc::from("gw0")
    }

    #[test]
    fn unobserved_sends_build_nothing() {
        let tx = EventSender::default();
        assert!(!tx.is_observed());
        tx.send_with(&gw(), || panic!("built an event nobody listens to"));
        let sub = tx.subscribe();
        assert!(tx.is_observed());
        drop(sub);
        assert!(!tx.is_observed());
    }

    #[test]
    fn slow_subscriber_is_told_how_many_it_lost() {
        let tx = EventSender::with_capacity(4);
        let mut sub = tx.subscribe();
        for i in 0..10 {
            tx.send(
                &gw(),
                EventKind::Warning {
                    text: i.to_string(),
                },
            );
        }
        assert_eq!(sub.try_recv(), Some(Received::Lost(6)));
        let Some(Received::Event(ev)) = sub.try_recv() else {
            panic!()
        };
        assert_eq!(ev.kind, EventKind::Warning { text: "6".into() });
    }

    #[test]
    fn gateway_filter_and_times_are_monotonic() {
        let tx = EventSender::default();
        let mut sub = tx.subscribe().only_gateway("gw1");
        tx.send(&gw(), EventKind::Warning { text: "a".into() });
        tx.send(&Arc::from("gw1"), EventKind::Warning { text: "b".into() });
        tx.send(&Arc::from("gw1"), EventKind::Warning { text: "c".into() });
        let mut times = vec![];
        while let Some(Received::Event(ev)) = sub.try_recv() {
            assert_eq!(&*ev.gateway, "gw1");
            times.push(ev.time);
        }
        assert_eq!(times.len(), 2);
        assert!(times[0] <= times[1]);
    }

    #[test]
    fn payload_preview_decodes_and_cuts() {
        let mut bytes = vec![];
        crate::wire::serial::dump_into(&Value::str("x".repeat(50)), &mut bytes).unwrap();
        let p = Payload::new(&bytes);
        assert_eq!(p.preview(10), "'xxxxxxxx…");
        assert_eq!(p.preview(100), format!("'{}'", "x".repeat(50)));
        assert_eq!(Payload::new(&[]).preview(10), "");
        assert!(Payload::new(b"Z").preview(100).starts_with("<undecodable"));
    }
}
