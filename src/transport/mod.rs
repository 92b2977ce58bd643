//! Transports: each yields one duplex byte stream to a worker that has
//! completed its handshake, plus control of the local process when there is one.
//!
//! Transports know bytes and processes, not channels.

pub mod bootstrap;
pub mod popen;
pub mod process;
pub mod worker_cache;

use tokio::io::{AsyncRead, AsyncWrite};

pub use process::{ExitInfo, ProcessHandle, StderrSink};

/// The read half of a connection.
pub type BoxedReader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A worker that has sent its handshake and now speaks messages.
pub struct Connection {
    /// Messages from the worker.
    pub reader: BoxedReader,
    /// Messages to the worker.
    pub writer: BoxedWriter,
    /// The local process, when the transport started one.
    pub process: Option<ProcessHandle>,
    /// Things worth telling the user that did not stop the start (e.g. text
    /// the interpreter printed on stdout before the worker ran).
    pub warnings: Vec<String>,
}

/// A gateway that could not be started. Every variant names the spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// The interpreter (or command) could not be executed at all.
    #[error("{spec}: cannot start {program:?}: {message}")]
    Spawn {
        /// The spec string.
        spec: String,
        /// The program that was to be run.
        program: String,
        /// The OS error text.
        message: String,
    },
    /// The process ended (or closed its stdout) before the handshake.
    #[error("{spec}: the interpreter ended before the worker started ({status}){}", describe_output(.stdout, .stderr))]
    DiedDuringStartup {
        /// The spec string.
        spec: String,
        /// Exit status or signal, or "still running" when only stdout closed.
        status: String,
        /// What it printed on stdout.
        stdout: String,
        /// The last lines it printed on stderr.
        stderr: String,
    },
    /// No handshake within the startup timeout.
    #[error("{spec}: the worker did not start within {secs}s{}", describe_output(.stdout, .stderr))]
    StartupTimeout {
        /// The spec string.
        spec: String,
        /// The timeout in seconds.
        secs: f64,
        /// What it printed on stdout.
        stdout: String,
        /// The last lines it printed on stderr.
        stderr: String,
    },
    /// Bytes other than the handshake came first.
    #[error("{spec}: expected the handshake byte '1' from the worker{}", describe_output(.stdout, .stderr))]
    BadHandshake {
        /// The spec string.
        spec: String,
        /// What came instead.
        stdout: String,
        /// The last lines of stderr.
        stderr: String,
    },
    /// The spec names a gateway type this build cannot start.
    #[error("{spec}: {kind} gateways are not supported yet")]
    Unsupported {
        /// The spec string.
        spec: String,
        /// The gateway type.
        kind: String,
    },
    /// Applying `chdir`, `nice` or `env:` on the new worker failed.
    #[error("{spec}: setting up the worker failed: {message}")]
    Setup {
        /// The spec string.
        spec: String,
        /// What failed.
        message: String,
    },
}

/// Most characters of a worker's stdout quoted in a start-up error.
const QUOTED_STDOUT: usize = 400;

fn describe_output(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    if !stdout.is_empty() {
        match stdout.char_indices().nth(QUOTED_STDOUT) {
            Some((cut, _)) => s.push_str(&format!(
                "; it printed on stdout: {:?}… ({} bytes in all)",
                &stdout[..cut],
                stdout.len()
            )),
            None => s.push_str(&format!("; it printed on stdout: {stdout:?}")),
        }
    }
    if !stderr.is_empty() {
        s.push_str(&format!("; stderr:\n{}", stderr.trim_end()));
    }
    s
}
