//! Trace files: the engine's events as JSON lines (docs/trace-format.md),
//! used alike by the command line and the terminal UI. No arguments, no
//! terminal here.
//!
//! - [`write`](mod@write): the writer, one line per event.
//! - [`record`]: the task that subscribes to a group and feeds the writer.
//! - [`read`]: the reader, typed from the engine's one definition of each
//!   event kind ([`crate::engine::EventKind`]).
//! - [`stats`]: totals per gateway, message type and channel (numbers only;
//!   how they are shown is the caller's business).

pub mod read;
pub mod record;
pub mod stats;
pub mod write;

/// The trace format version this execdeck writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;
