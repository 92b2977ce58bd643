//! What the engine holds of a worker: a local process it started, or a
//! peer at the other end of a connection (a socket server's worker, later a
//! proxied worker or an ssh channel) that may have no local process at all.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{ExitInfo, ProcessHandle, RemoteProcess};

/// How to stop a remote worker from this side (e.g. shut the socket down).
pub type StopFn = Arc<dyn Fn() + Send + Sync>;

/// A worker reached over a connection, with no local process of its own.
#[derive(Clone)]
pub struct RemoteHandle {
    kind: &'static str,
    address: String,
    pid: Option<u32>,
    stop: StopFn,
    process: Option<Arc<RemoteProcess>>,
}

impl fmt::Debug for RemoteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteHandle")
            .field("kind", &self.kind)
            .field("address", &self.address)
            .field("pid", &self.pid)
            .finish()
    }
}

impl RemoteHandle {
    /// A worker of `kind` (e.g. `"socket peer"`) at `address`, stopped by
    /// calling `stop` (which must end the connection, so that the reader
    /// sees its end).
    pub fn new(kind: &'static str, address: impl Into<String>, stop: StopFn) -> RemoteHandle {
        RemoteHandle {
            kind,
            address: address.into(),
            pid: None,
            stop,
            process: None,
        }
    }

    /// The same handle knowing the worker's process id (on its own host).
    pub fn with_pid(mut self, pid: u32) -> RemoteHandle {
        self.pid = Some(pid);
        self
    }

    /// The same handle with what a helper reports of the worker's process
    /// (stderr, exit status): see [`RemoteProcess`].
    pub fn with_process(mut self, process: Arc<RemoteProcess>) -> RemoteHandle {
        self.process = Some(process);
        self
    }

    /// What a helper reports of the worker's process, when there is one.
    pub fn process(&self) -> Option<&Arc<RemoteProcess>> {
        self.process.as_ref()
    }

    /// What kind of peer this is, e.g. `socket peer`.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// Where the worker is, as the transport reached it (`host:port`).
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// The engine's handle on one worker: what it knows of it, how to stop it,
/// and how to describe its end.
#[derive(Clone, Debug)]
pub enum WorkerHandle {
    /// A local process this side started (popen, cmd): pid, stderr, exit status.
    Process(ProcessHandle),
    /// A worker at the other end of a connection: its address; no stderr and
    /// no exit status, only the end of the connection.
    Remote(RemoteHandle),
}

impl WorkerHandle {
    /// The worker's process id, when known (a local process's always is).
    pub fn pid(&self) -> Option<u32> {
        match self {
            WorkerHandle::Process(p) => Some(p.pid()),
            WorkerHandle::Remote(r) => r.pid,
        }
    }

    /// The remote address, for a worker reached over a connection.
    pub fn address(&self) -> Option<&str> {
        match self {
            WorkerHandle::Process(_) => None,
            WorkerHandle::Remote(r) => Some(r.address()),
        }
    }

    /// The local process, if there is one.
    pub fn process(&self) -> Option<&ProcessHandle> {
        match self {
            WorkerHandle::Process(p) => Some(p),
            WorkerHandle::Remote(_) => None,
        }
    }

    /// How the local process ended, if there is one and it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        match self {
            WorkerHandle::Process(p) => p.exit_info(),
            WorkerHandle::Remote(r) => r.process.as_ref().and_then(|p| p.exit_info()),
        }
    }

    /// Waits up to `timeout` for the local process to end and returns how it
    /// ended; `None` at once when there is no local process.
    pub async fn wait(&self, timeout: Duration) -> Option<ExitInfo> {
        match self {
            WorkerHandle::Process(p) => p.wait(timeout).await,
            WorkerHandle::Remote(r) => match &r.process {
                Some(p) => p.wait(timeout).await,
                None => None,
            },
        }
    }

    /// Completes when the local process has ended; never for a remote
    /// worker (its end is the end of the connection, which the reader sees).
    pub async fn ended(&self) {
        match self {
            WorkerHandle::Process(p) => {
                p.wait(Duration::MAX).await;
            }
            WorkerHandle::Remote(RemoteHandle {
                process: Some(p), ..
            }) => {
                p.wait(Duration::MAX).await;
            }
            WorkerHandle::Remote(_) => std::future::pending::<()>().await,
        }
    }

    /// Stops the worker at once: SIGKILL to a local process (and its
    /// group); for a remote worker, the connection is shut down.
    pub fn stop(&self) {
        match self {
            WorkerHandle::Process(p) => p.kill(),
            WorkerHandle::Remote(r) => (r.stop)(),
        }
    }

    /// The last `n` lines of the worker's stderr (for a remote worker only
    /// what a helper reported: see [`RemoteHandle::with_process`]).
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        match self {
            WorkerHandle::Process(p) => p.stderr_tail(n),
            WorkerHandle::Remote(r) => r
                .process
                .as_ref()
                .map_or_else(Vec::new, |p| p.stderr_tail(n)),
        }
    }

    /// Waits up to `timeout` until every stderr line has been read (at once
    /// when there is no stderr).
    pub async fn wait_stderr_closed(&self, timeout: Duration) {
        match self {
            WorkerHandle::Process(p) => p.wait_stderr_closed(timeout).await,
            WorkerHandle::Remote(RemoteHandle {
                process: Some(p), ..
            }) => p.wait_stderr_closed(timeout).await,
            WorkerHandle::Remote(_) => {}
        }
    }

    /// What is known of the worker's end, for a death reason: `worker pid
    /// 12: exit status 1` (waiting up to `timeout` for the status), `worker
    /// pid 12 still running`, or `socket peer 127.0.0.1:8888`.
    pub async fn describe_end(&self, timeout: Duration) -> String {
        match self {
            WorkerHandle::Process(p) => match p.wait(timeout).await {
                Some(status) => format!("worker pid {}: {status}", p.pid()),
                None => format!("worker pid {} still running", p.pid()),
            },
            WorkerHandle::Remote(r) => {
                let mut s = match r.pid {
                    Some(pid) => format!("{} {}, worker pid {pid}", r.kind, r.address),
                    None => format!("{} {}", r.kind, r.address),
                };
                if let Some(p) = &r.process {
                    if let Some(status) = p.wait(timeout).await {
                        s.push_str(&format!(": {status}"));
                    }
                    if let Some(note) = p.note() {
                        s.push_str(&format!("; {note}"));
                    }
                }
                s
            }
        }
    }
}

impl From<ProcessHandle> for WorkerHandle {
    fn from(p: ProcessHandle) -> WorkerHandle {
        WorkerHandle::Process(p)
    }
}
