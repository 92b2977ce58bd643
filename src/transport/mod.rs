//! Transports: each yields one duplex byte stream to a worker that has
//! completed its handshake, plus a [`WorkerHandle`]: the local process when
//! there is one, else what is known of the remote worker.
//!
//! Transports know bytes and processes, not channels. Booting over any
//! stream is in [`handshake`]; each transport opens its stream and maps the
//! outcome to a [`Connection`] or a [`ConnectError`].

pub mod bootstrap;
pub mod handle;
pub mod handshake;
pub mod popen;
pub mod process;
pub mod socket;
pub mod token;
pub mod worker_cache;

use tokio::io::{AsyncRead, AsyncWrite};

pub use handle::{RemoteHandle, WorkerHandle};
pub use process::{ExitInfo, ProcessHandle, RemoteProcess, StderrSink};

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
    /// The worker: a local process the transport started, or a remote peer.
    pub worker: WorkerHandle,
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
    /// The host of a socket address could not be resolved.
    #[error("{spec}: unknown host in {address}: {message}")]
    HostNotFound {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// The resolver's error text.
        message: String,
    },
    /// Nobody listens at a socket address.
    #[error("{spec}: connection to {address} refused (is a socket server listening there?)")]
    Refused {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
    },
    /// Connecting to a socket address failed otherwise (no route, …).
    #[error("{spec}: cannot connect to {address}: {message}")]
    ConnectFailed {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// The OS error text.
        message: String,
    },
    /// No connection to a socket address (or no answer from the resolver)
    /// within the startup timeout.
    #[error("{spec}: no connection to {address} within {secs}s")]
    ConnectTimeout {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// The timeout in seconds.
        secs: f64,
    },
    /// The token exchange with a socket server (`token_file=`) failed: the
    /// file could not be read, the server refused the secret, did not ask
    /// for one, or could not prove it knows it.
    #[error("{spec}: token check with the server at {address} failed: {message}")]
    Token {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// What went wrong.
        message: String,
    },
    /// The socket server closed the connection before the worker's handshake.
    #[error("{spec}: the server at {address} closed the connection before the worker started{}", describe_received(.received))]
    ClosedBeforeHandshake {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// What the server sent before closing.
        received: String,
    },
    /// Bytes other than the handshake came from the socket server.
    #[error("{spec}: expected the handshake byte '1' from the worker at {address}{}", describe_received(.received))]
    SocketBadHandshake {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// What came instead.
        received: String,
    },
    /// Connected, but the worker sent no handshake within the startup timeout.
    #[error("{spec}: the worker at {address} did not start within {secs}s{}", describe_received(.received))]
    SocketStartupTimeout {
        /// The spec string.
        spec: String,
        /// The `host:port` address.
        address: String,
        /// The timeout in seconds.
        secs: f64,
        /// What the server sent meanwhile.
        received: String,
    },
    /// A gateway could not be started through another gateway of the group
    /// (`via=`, `installvia=`): that gateway is unknown or dead, or the
    /// helper it runs could not start the interpreter or server.
    #[error("{spec}: cannot start through gateway {via:?} ({key}={via}): {message}")]
    Via {
        /// The spec string.
        spec: String,
        /// The spec key: `via` or `installvia`.
        key: &'static str,
        /// The id of the gateway it goes through.
        via: String,
        /// What went wrong.
        message: String,
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

impl ConnectError {
    /// Whether the start failed because a wait ran out (startup or connect
    /// timeout), as opposed to a definite refusal or failure.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ConnectError::StartupTimeout { .. }
                | ConnectError::ConnectTimeout { .. }
                | ConnectError::SocketStartupTimeout { .. }
        )
    }
}

/// Most characters of a worker's stdout quoted in a start-up error.
const QUOTED_STDOUT: usize = 400;

/// "; it sent: …" for what a socket peer sent, or nothing.
fn describe_received(received: &str) -> String {
    if received.is_empty() {
        return String::new();
    }
    match received.char_indices().nth(QUOTED_STDOUT) {
        Some((cut, _)) => format!(
            "; it sent: {:?}… ({} bytes in all)",
            &received[..cut],
            received.len()
        ),
        None => format!("; it sent: {received:?}"),
    }
}

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
