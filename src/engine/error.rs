//! The engine's error type: every failure names the gateway, spec or channel it is about.

use std::time::Duration;

use crate::spec::SpecError;
use crate::transport::ConnectError;
use crate::wire::{DataFormatError, DumpError, FrameError};

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A spec string that does not parse.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A gateway that could not be started.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Remote code raised; carries the remote traceback text.
    #[error("{0}")]
    Remote(RemoteError),
    /// A wait ran out of time.
    #[error("timed out after {secs:.3}s waiting for {what}", secs = after.as_secs_f64())]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long it waited.
        after: Duration,
    },
    /// The channel is closed and drained: nothing more will arrive.
    #[error("channel {channel} of {gateway} is closed: no more items (EOF)")]
    Eof {
        /// Gateway id.
        gateway: String,
        /// Channel id.
        channel: i32,
    },
    /// Sending on a channel that this side or the other side has closed.
    #[error("cannot send on channel {channel} of {gateway}: {why}")]
    ChannelClosed {
        /// Gateway id.
        gateway: String,
        /// Channel id.
        channel: i32,
        /// Why it is closed.
        why: String,
    },
    /// The gateway's connection ended or broke; `reason` says how (exit
    /// status or signal, protocol error, the last lines of the worker's stderr).
    #[error("gateway {gateway} is gone: {reason}")]
    GatewayDied {
        /// Gateway id.
        gateway: String,
        /// Exit status, signal or protocol error, and stderr tail.
        reason: String,
    },
    /// A value that cannot be serialized.
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// Received bytes that are not a valid value.
    #[error("gateway {gateway}, channel {channel}: {error}")]
    DataFormat {
        /// Gateway id.
        gateway: String,
        /// Channel id.
        channel: i32,
        /// What is wrong with the bytes.
        error: DataFormatError,
    },
    /// A message that cannot be framed (too large).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Bad use of the API.
    #[error("{0}")]
    Usage(String),
    /// The worker answered with something the protocol does not allow (a
    /// reply of the wrong shape).
    #[error("gateway {gateway}: {message}")]
    Protocol {
        /// Gateway id.
        gateway: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// A local I/O failure, naming the path or operation.
    #[error("{what}: {message}")]
    Io {
        /// The path or operation.
        what: String,
        /// The OS error text.
        message: String,
    },
}

/// An exception raised by remote code, with its traceback text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// Gateway id.
    pub gateway: String,
    /// The formatted remote traceback (or error text given to `close`).
    pub text: String,
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RemoteError on {}:\n{}",
            self.gateway,
            self.text.trim_end()
        )
    }
}

impl RemoteError {
    /// The last line of the traceback: the exception and its message.
    pub fn summary(&self) -> &str {
        self.text.trim_end().lines().last().unwrap_or("")
    }
}

impl Error {
    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether this is EOF on a drained channel.
    pub fn is_eof(&self) -> bool {
        matches!(self, Error::Eof { .. })
    }

    /// The remote error, if remote code raised.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            Error::Remote(r) => Some(r),
            _ => None,
        }
    }

    /// An I/O error naming what failed.
    pub fn io(what: impl Into<String>, err: &std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            message: err.to_string(),
        }
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
