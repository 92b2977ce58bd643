//! Screens: what fills the terminal under the status line and the dialogs.
//!
//! Four today: gateways + code, the traffic inspector, the trace view
//! and rsync jobs (one key each: F2, F3, F4, F8). A new screen gets a variant here, its model in `state/<screen>.rs`, its render
//! function in `view/<screen>.rs` (dispatched from [`view::draw`]), its keys
//! in `input/<screen>.rs` with a keymap [`Context`] of its own, and says here
//! which engine events it needs ([`Screen::feed`]).
//!
//! The app loop always holds a life-cycle subscription
//! (`Group::subscribe_lifecycle`: gateways starting, ready, failing,
//! stderr, status; cheap enough to leave on). While a screen whose feed is
//! [`Feed::Traffic`] is shown, the loop holds a second, full subscription
//! (`Group::subscribe`) and takes only the message events from it, so no
//! event arrives twice; the engine copies message payloads only while such
//! a subscription exists, so leaving the screen drops it again.
//!
//! [`view::draw`]: super::view::draw
//! [`Context`]: super::input::Context

/// A screen of the TUI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Screen {
    /// Gateways in a tree with their details, and code panes with their runs.
    #[default]
    Gateways,
    /// Every message: a live table, a message in full, a summary per channel.
    Traffic,
    /// The engine's other events, remote trace lines and stderr, per gateway.
    Trace,
    /// Rsync jobs: the form of a new one, progress, past jobs' reports.
    Rsync,
}

/// Which engine events a screen needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Life cycles, stderr and status only (always on).
    Lifecycle,
    /// Every message in and out as well.
    Traffic,
}

impl Screen {
    /// The events this screen needs while it is shown.
    pub fn feed(self) -> Feed {
        match self {
            Screen::Gateways | Screen::Trace | Screen::Rsync => Feed::Lifecycle,
            Screen::Traffic => Feed::Traffic,
        }
    }
}
