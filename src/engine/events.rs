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

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A gateway is being started.
    GatewayStarting {
        /// The spec, as written.
        spec: String,
    },
    /// A gateway finished its handshake (and setup).
    GatewayReady {
        /// Local process id, when there is one.
        pid: Option<u32>,
        /// The worker's Python version (`3.11.7`), when it was asked for.
        python: Option<String>,
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
        code: MsgCode,
        /// Channel id.
        channel: i32,
        /// The payload bytes.
        payload: Payload,
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

impl EventKind {
    /// The kind's name as used in trace files (`"message"`, `"gateway_ready"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::GatewayStarting { .. } => "gateway_starting",
            EventKind::GatewayReady { .. } => "gateway_ready",
            EventKind::GatewayFailed { .. } => "gateway_failed",
            EventKind::GatewayExited { .. } => "gateway_exited",
            EventKind::Message { .. } => "message",
            EventKind::ChannelOpened { .. } => "channel_opened",
            EventKind::ChannelClosed { .. } => "channel_closed",
            EventKind::Stderr { .. } => "stderr",
            EventKind::RemoteTrace { .. } => "remote_trace",
            EventKind::Warning { .. } => "warning",
            EventKind::Status { .. } => "status",
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
