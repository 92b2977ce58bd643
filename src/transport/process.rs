//! Control of a local worker process: exit status, kill, and its stderr,
//! captured line by line (never written raw onto a terminal).

use std::collections::VecDeque;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::Child;
use tokio::sync::{Notify, watch};

/// Receives each line the worker writes on stderr (without the newline).
pub type StderrSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How many stderr lines are kept per process.
const STDERR_TAIL_LINES: usize = 200;
/// Longest stderr line kept; longer lines are cut.
const STDERR_MAX_LINE: usize = 16 * 1024;
/// Most stderr bytes taken by one read (into a buffer on the stack).
const STDERR_READ: usize = 4096;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    fn from_status(status: std::process::ExitStatus) -> ExitInfo {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(sig)) => write!(f, "killed by signal {sig} ({})", signal_name(sig)),
            (None, None) => f.write_str("ended for an unknown reason"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// The last lines a process wrote on stderr.
#[derive(Default)]
pub struct StderrTail {
    lines: Mutex<VecDeque<String>>,
    closed: watch::Sender<bool>,
}

impl StderrTail {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == STDERR_TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<String> {
        match self.lines.lock() {
            Ok(lines) => lines
                .iter()
                .skip(lines.len().saturating_sub(n))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Handle on a running (or ended) local process.
#[derive(Clone)]
pub struct ProcessHandle {
    pid: u32,
    exit: watch::Receiver<Option<ExitInfo>>,
    kill: Arc<Notify>,
    stderr: Arc<StderrTail>,
}

impl fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("pid", &self.pid)
            .field("exit", &*self.exit.borrow())
            .finish()
    }
}

impl ProcessHandle {
    /// Takes ownership of `child`: a task waits for it and reports its exit;
    /// its stderr (if piped) is read line by line into the tail and `sink`.
    pub fn watch(mut child: Child, sink: Option<StderrSink>) -> ProcessHandle {
        let pid = child.id().unwrap_or(0);
        let stderr = Arc::new(StderrTail::default());
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_stderr(err, stderr.clone(), sink));
        } else {
            stderr.closed.send_replace(true);
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let kill = Arc::new(Notify::new());
        let kill_rx = kill.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx.notified() => {
                    kill_group(pid);
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Whatever the worker left running in its group goes with it.
            kill_group(pid);
            let info = match status {
                Ok(status) => ExitInfo::from_status(status),
                Err(_) => ExitInfo {
                    code: None,
                    signal: None,
                },
            };
            exit_tx.send_replace(Some(info));
        });
        ProcessHandle {
            pid,
            exit: exit_rx,
            kill,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it ended, if it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Kills the process (SIGKILL); does nothing if it has ended.
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// Waits up to `timeout` for the process to end.
    pub async fn wait(&self, timeout: Duration) -> Option<ExitInfo> {
        let mut rx = self.exit.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(info)) => *info,
            _ => self.exit_info(),
        }
    }

    /// Waits up to `timeout` until the stderr pipe has been read to its end,
    /// so that every line has reached the tail and the sink.
    pub async fn wait_stderr_closed(&self, timeout: Duration) {
        let mut rx = self.stderr.closed.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|closed| *closed)).await;
    }

    /// The last `n` lines of stderr.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        self.stderr.last(n)
    }
}

/// SIGKILL to the process group `pid` leads (every worker is started as the
/// leader of its own group).
fn kill_group(pid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pid)
        && pgid > 1
    {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Reads `err` to its end, handing each line to the tail and `sink`.
///
/// Every idle gateway keeps this task, so nothing is buffered between
/// reads: each read goes into a buffer on the stack of that poll, and only
/// the unfinished part of a line is kept, on the heap, until its end comes.
async fn read_stderr(
    mut err: impl AsyncRead + Unpin,
    tail: Arc<StderrTail>,
    sink: Option<StderrSink>,
) {
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let read = std::future::poll_fn(|cx| {
            let mut chunk = [0u8; STDERR_READ];
            let mut buf = ReadBuf::new(&mut chunk);
            match std::pin::Pin::new(&mut err).poll_read(cx, &mut buf) {
                std::task::Poll::Ready(Ok(())) => {
                    partial.extend_from_slice(buf.filled());
                    std::task::Poll::Ready(Ok(buf.filled().len()))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
        match read {
            Ok(0) => {
                if !partial.is_empty() {
                    emit_line(&partial, &tail, sink.as_ref());
                }
                break;
            }
            Err(_) => break,
            Ok(_) => {
                let mut start = 0;
                // A line ends at a newline, or after STDERR_MAX_LINE bytes
                // without one (the rest comes as the next line).
                while let Some(len) = line_len(&partial[start..]) {
                    emit_line(&partial[start..start + len], &tail, sink.as_ref());
                    start += len;
                }
                partial.drain(..start);
                if partial.is_empty() {
                    partial = Vec::new();
                }
            }
        }
    }
    tail.closed.send_replace(true);
}

/// The length of the first complete line in `data` (its newline included),
/// if there is one.
fn line_len(data: &[u8]) -> Option<usize> {
    match data.iter().take(STDERR_MAX_LINE).position(|b| *b == b'\n') {
        Some(at) => Some(at + 1),
        None if data.len() >= STDERR_MAX_LINE => Some(STDERR_MAX_LINE),
        None => None,
    }
}

/// One line (trailing newlines and carriage returns removed) to the sink
/// and the tail.
fn emit_line(line: &[u8], tail: &StderrTail, sink: Option<&StderrSink>) {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = String::from_utf8_lossy(&line[..end]).into_owned();
    if let Some(sink) = sink {
        sink(&line);
    }
    tail.push(line);
}

/// What is learnt of a worker process on another host through a helper
/// that reports it (the via proxy, `bootstrap/proxy.py`): its stderr lines,
/// its exit status, and a note on why the connection to it ended. The
/// transport that runs the helper feeds it; a [`super::RemoteHandle`] made
/// [`with_process`](super::RemoteHandle::with_process) reads it.
pub struct RemoteProcess {
    stderr: StderrTail,
    sink: Option<StderrSink>,
    exit: watch::Sender<Option<ExitInfo>>,
    note: Mutex<Option<String>>,
}

impl fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("exit", &*self.exit.borrow())
            .finish()
    }
}

impl RemoteProcess {
    /// A process not yet known to have ended; each stderr line also goes to `sink`.
    pub fn new(sink: Option<StderrSink>) -> Arc<RemoteProcess> {
        Arc::new(RemoteProcess {
            stderr: StderrTail::default(),
            sink,
            exit: watch::channel(None).0,
            note: Mutex::new(None),
        })
    }

    /// One line the process wrote on stderr (a trailing newline is removed,
    /// a line longer than the kept maximum is cut).
    pub fn stderr_line(&self, line: &[u8]) {
        let mut end = line.len();
        while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let line = String::from_utf8_lossy(&line[..end.min(STDERR_MAX_LINE)]).into_owned();
        if let Some(sink) = &self.sink {
            sink(&line);
        }
        self.stderr.push(line);
    }

    /// No more stderr lines will come, and no more reports at all: the
    /// exit status, if not known by now, never will be.
    pub fn stderr_closed(&self) {
        self.stderr.closed.send_replace(true);
    }

    /// The process ended with the `subprocess` return code `returncode`
    /// (negative: killed by that signal).
    pub fn exited(&self, returncode: i64) {
        let info = match returncode {
            rc if rc < 0 => ExitInfo {
                code: None,
                signal: i32::try_from(-rc).ok(),
            },
            rc => ExitInfo {
                code: i32::try_from(rc).ok(),
                signal: None,
            },
        };
        self.exit.send_replace(Some(info));
    }

    /// The connection to the process is gone and no exit status came (an
    /// ssh channel closed without one): it counts as ended, for an unknown
    /// reason. Does nothing when the status is known.
    pub fn ended_without_status(&self) {
        self.exit.send_if_modified(|exit| {
            let unknown = exit.is_none();
            if unknown {
                *exit = Some(ExitInfo {
                    code: None,
                    signal: None,
                });
            }
            unknown
        });
    }

    /// Records why the connection to the process ended (the first note wins).
    pub fn set_note(&self, note: String) {
        if let Ok(mut n) = self.note.lock()
            && n.is_none()
        {
            *n = Some(note);
        }
    }

    /// Why the connection ended, when the transport knows.
    pub fn note(&self) -> Option<String> {
        self.note.lock().ok().and_then(|n| n.clone())
    }

    /// How the process ended, if that is known.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Waits up to `timeout` for the exit status; returns early (with
    /// `None`) when the reports have ended without one (see
    /// [`stderr_closed`](Self::stderr_closed): the helper is gone).
    pub async fn wait(&self, timeout: Duration) -> Option<ExitInfo> {
        let mut exit = self.exit.subscribe();
        let mut closed = self.stderr.closed.subscribe();
        let _ = tokio::time::timeout(timeout, async {
            tokio::select! {
                _ = exit.wait_for(Option::is_some) => {}
                _ = closed.wait_for(|c| *c) => {}
            }
        })
        .await;
        self.exit_info()
    }

    /// Waits up to `timeout` until every stderr line has arrived.
    pub async fn wait_stderr_closed(&self, timeout: Duration) {
        let mut rx = self.stderr.closed.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|closed| *closed)).await;
    }

    /// The last `n` stderr lines.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        self.stderr.last(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn stderr_lines_are_split_cut_and_kept_across_reads() {
        let (mut w, r) = tokio::io::duplex(64);
        let tail = Arc::new(StderrTail::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let sink: StderrSink = Arc::new(move |l: &str| seen2.lock().unwrap().push(l.to_owned()));
        let task = tokio::spawn(read_stderr(r, tail.clone(), Some(sink)));
        w.write_all(b"one\r\ntw").await.unwrap();
        tokio::task::yield_now().await;
        w.write_all(b"o\n\n").await.unwrap();
        let long = vec![b'x'; STDERR_MAX_LINE + 3];
        w.write_all(&long).await.unwrap();
        w.write_all(b"\nlast without newline").await.unwrap();
        drop(w);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let want = vec![
            "one".to_owned(),
            "two".to_owned(),
            String::new(),
            "x".repeat(STDERR_MAX_LINE),
            "xxx".to_owned(),
            "last without newline".to_owned(),
        ];
        assert_eq!(*seen.lock().unwrap(), want);
        assert_eq!(tail.last(10), want);
        assert!(*tail.closed.borrow());
    }
}
