//! Events: what the engine does, published for whoever listens (the CLI's
//! stderr printer now; the TUI and trace files later).
//!
//! Publishing costs next to nothing when nobody subscribes. A slow
//! subscriber loses the oldest events and is told how many
//! ([`tokio::sync::broadcast::error::RecvError::Lagged`]).

use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it loses the oldest.
pub const EVENT_BUFFER: usize = 4096;

/// Something that happened in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A gateway finished its handshake.
    GatewayReady {
        /// Gateway id.
        gateway: String,
        /// Local process id, when there is one.
        pid: Option<u32>,
    },
    /// Something worth telling that did not stop the gateway.
    Warning {
        /// Gateway id.
        gateway: String,
        /// The warning text.
        text: String,
    },
    /// One line the worker wrote on stderr (including what user code printed).
    StderrLine {
        /// Gateway id.
        gateway: String,
        /// The line, without its newline.
        line: String,
    },
    /// The gateway's connection ended.
    GatewayEnded {
        /// Gateway id.
        gateway: String,
        /// Why (exit status or signal, stderr tail, or "the gateway was exited").
        reason: String,
    },
}

/// The publishing side of the event stream; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: broadcast::Sender<Event>,
}

impl Default for EventSender {
    fn default() -> Self {
        EventSender {
            tx: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl EventSender {
    /// Publishes `event` if anyone listens.
    pub fn send(&self, event: Event) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(event);
        }
    }

    /// Whether anyone listens (to skip building costly events).
    pub fn is_observed(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A new subscription, receiving events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
