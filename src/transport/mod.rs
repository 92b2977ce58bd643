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
pub mod openssh;
pub mod popen;
pub mod process;
pub mod prompt;
pub mod shim;
pub mod socket;
pub mod ssh;
pub mod token;
pub mod worker_cache;

use tokio::io::{AsyncRead, AsyncWrite};

pub use handle::{RemoteHandle, WorkerHandle};
pub use process::{ExitInfo, ProcessHandle, RemoteProcess, StderrSink};
pub use prompt::{
    FixedAnswers, HostKeyDecision, HostKeyQuestion, Prompter, SharedPrompter, TerminalPrompter,
};
pub use ssh::SshAt;

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
    /// An `ssh=` value (or one of its `-o` options) that cannot be used.
    #[error("{spec}: bad ssh options: {message}")]
    SshOptions {
        /// The spec string.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// The ssh host name could not be resolved.
    #[error("{spec}: cannot resolve the ssh host of {at}: {message}")]
    SshHostNotFound {
        /// The spec string.
        spec: String,
        /// User, host and port (boxed: errors stay small).
        at: Box<SshAt>,
        /// The resolver's error text.
        message: String,
    },
    /// Nobody listens at the ssh host's port.
    #[error("{spec}: ssh connection to {at} refused (is an ssh server listening on port {}?)", .at.port)]
    SshRefused {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
    },
    /// Connecting to the ssh host failed otherwise (no route, …).
    #[error("{spec}: cannot connect to the ssh server of {at}: {message}")]
    SshConnectFailed {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The OS error text.
        message: String,
    },
    /// No ssh connection (or no answer from the resolver) within the connect
    /// timeout (`-o ConnectTimeout=`, else the startup timeout).
    #[error("{spec}: no ssh connection to {at} within {secs}s")]
    SshConnectTimeout {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The timeout in seconds.
        secs: f64,
    },
    /// The server's host key is in no known_hosts entry for this host and
    /// the policy (`StrictHostKeyChecking`) does not accept new keys.
    #[error(
        "{spec}: the host key of {at} is not known: it offers a host key of type {key_type} with fingerprint \
         {fingerprint}, which {known_hosts} does not list; if that is the right key, connect once \
         with `-o StrictHostKeyChecking=accept-new` in the ssh= value or `--accept-new-host-keys` \
         on the command line (it is then recorded there)"
    )]
    SshHostKeyUnknown {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The key's algorithm, e.g. `ssh-ed25519`.
        key_type: String,
        /// `SHA256:…`, as `ssh-keygen -lf` prints it.
        fingerprint: String,
        /// The known_hosts file that was read.
        known_hosts: String,
    },
    /// The server offers a different key than the one recorded for this
    /// host: possibly a man-in-the-middle attack; never accepted.
    #[error(
        "{spec}: THE HOST KEY OF {at} HAS CHANGED: it now offers a host key of type {key_type} with fingerprint \
         {fingerprint}, but {known_hosts} line {line} records another; refusing to connect (someone \
         may be intercepting the connection). If the change is expected, remove that line \
         (ssh-keygen -R) and accept the new key"
    )]
    SshHostKeyChanged {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The offered key's algorithm.
        key_type: String,
        /// The offered key's `SHA256:…` fingerprint.
        fingerprint: String,
        /// The known_hosts file that holds the other key.
        known_hosts: String,
        /// The line (from 1) of that entry.
        line: usize,
    },
    /// The known_hosts file could not be read, or a new key not recorded.
    #[error("{spec}: cannot check the host key of {at} against {known_hosts}: {message}")]
    SshKnownHosts {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The known_hosts file.
        known_hosts: String,
        /// What went wrong.
        message: String,
    },
    /// No authentication method was accepted.
    #[error(
        "{spec}: ssh authentication to {at} refused; tried: {}; the server accepts: {server_methods}",
        .tried.join(", ")
    )]
    SshAuthRefused {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// Each method and key tried, with its outcome.
        tried: Vec<String>,
        /// The methods the server said it accepts.
        server_methods: String,
    },
    /// The ssh session failed after the connection was made (key exchange,
    /// the server closing the connection, a channel refused).
    #[error("{spec}: ssh session with {at} failed: {message}")]
    SshSession {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// What failed.
        message: String,
    },
    /// The remote command ended before the worker's handshake (the remote
    /// python missing, a crash), with what it printed.
    #[error("{spec}: the remote interpreter on {at} ended before the worker started ({status}){}", describe_output(.stdout, .stderr))]
    SshRemoteExit {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The remote exit status or signal, or why it is not known.
        status: String,
        /// What it printed on stdout.
        stdout: String,
        /// The last lines it printed on stderr.
        stderr: String,
    },
    /// The remote worker sent no handshake within the startup timeout.
    #[error("{spec}: the worker on {at} did not start within {secs}s{}", describe_output(.stdout, .stderr))]
    SshStartupTimeout {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// The timeout in seconds.
        secs: f64,
        /// What it printed on stdout.
        stdout: String,
        /// The last lines it printed on stderr.
        stderr: String,
    },
    /// Bytes other than the handshake came from the remote command.
    #[error("{spec}: expected the handshake byte '1' from the worker on {at}{}", describe_output(.stdout, .stderr))]
    SshBadHandshake {
        /// The spec string.
        spec: String,
        /// User, host and port.
        at: Box<SshAt>,
        /// What came instead.
        stdout: String,
        /// The last lines of stderr.
        stderr: String,
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
                | ConnectError::SshConnectTimeout { .. }
                | ConnectError::SshStartupTimeout { .. }
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
