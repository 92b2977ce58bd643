//! The exec channel as a byte stream: stdout and stdin pumped to a duplex
//! stream, stderr split into lines for the group's sink, the exit status
//! or signal kept for the description of the worker's end.

use std::sync::Arc;

use russh::client::{self, Handle};
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::Notify;

use crate::transport::process::RemoteProcess;

use super::*;

/// The exec channel seen as a process: stdin, stdout, what is known of the
/// remote process (stderr lines, which also go to the sink, and the exit
/// status), and a way to stop it.
pub(super) struct Relay {
    pub(super) stdin: crate::transport::BoxedWriter,
    pub(super) stdout: DuplexStream,
    pub(super) process: Arc<RemoteProcess>,
    pub(super) stop: Arc<Notify>,
}

impl Relay {
    /// Starts the task that owns `session` and moves the channel's output
    /// into the streams; it ends when the channel closes or on a stop
    /// (which sends SIGKILL to the remote command, closes the channel and
    /// disconnects).
    pub(super) fn start(
        channel: russh::Channel<client::Msg>,
        session: Handle<Client>,
        hops: Vec<Handle<Client>>,
        sink: Option<crate::transport::StderrSink>,
    ) -> Relay {
        let (mut read_half, write_half) = channel.split();
        let stdin_dropped = Arc::new(Notify::new());
        let stdin: crate::transport::BoxedWriter = Box::new(ChannelStdin {
            inner: Box::pin(write_half.make_writer()),
            dropped: stdin_dropped.clone(),
        });
        let (stdout, mut stdout_in) = tokio::io::duplex(PIPE_BUFFER);
        let process = RemoteProcess::new(sink);
        let stop = Arc::new(Notify::new());
        let (reports, stop_in) = (process.clone(), stop.clone());
        tokio::spawn(async move {
            let relay = async {
                let mut stderr = StderrLines::default();
                while let Some(msg) = read_half.wait().await {
                    match msg {
                        // A gateway that went away stops reading; the rest
                        // is drained, not kept.
                        ChannelMsg::Data { data } => {
                            let _ = stdout_in.write_all(&data).await;
                        }
                        ChannelMsg::ExtendedData { data, ext: 1 } => {
                            stderr.push(&data, &reports);
                        }
                        ChannelMsg::ExitStatus { exit_status } => {
                            reports.exited(i64::from(exit_status));
                        }
                        ChannelMsg::ExitSignal {
                            signal_name,
                            error_message,
                            ..
                        } => {
                            match signal_number(&signal_name) {
                                Some(signo) => reports.exited(-i64::from(signo)),
                                None => reports.set_note(format!(
                                    "killed by signal {}",
                                    signal_text(&signal_name)
                                )),
                            }
                            if !error_message.is_empty() {
                                reports.set_note(error_message);
                            }
                        }
                        _ => {}
                    }
                }
                stderr.finish(&reports);
            };
            tokio::pin!(relay);
            let mut eof_sent = false;
            let stopped = loop {
                tokio::select! {
                    _ = &mut relay => break false,
                    _ = stop_in.notified() => break true,
                    // Stdin dropped without a shutdown: the worker sees its
                    // end all the same, as a popen worker sees its pipe close.
                    _ = stdin_dropped.notified(), if !eof_sent => {
                        eof_sent = true;
                        let _ = write_half.eof().await;
                    }
                }
            };
            if stopped {
                // The server ends the channel once the command is dead, with
                // its exit signal; closing first would lose that (and a
                // server that ignores signals gets the close after a while).
                let _ = write_half.signal(Sig::KILL).await;
                if tokio::time::timeout(SIGNAL_WAIT, &mut relay).await.is_err() {
                    let _ = write_half.eof().await;
                    let _ = write_half.close().await;
                    let _ = tokio::time::timeout(CLOSE_WAIT, &mut relay).await;
                }
            }
            // Whatever was not reported by now never will be.
            if reports.exit_info().is_none() {
                reports.set_note("the ssh channel closed without an exit status".into());
                reports.ended_without_status();
            }
            reports.stderr_closed();
            let bye = session.disconnect(Disconnect::ByApplication, "", "en");
            let _ = tokio::time::timeout(CLOSE_WAIT, bye).await;
            // The jump hosts, last first, once the target is gone.
            for hop in hops.into_iter().rev() {
                let bye = hop.disconnect(Disconnect::ByApplication, "", "en");
                let _ = tokio::time::timeout(CLOSE_WAIT, bye).await;
            }
        });
        Relay {
            stdin,
            stdout,
            process,
            stop,
        }
    }
}

/// The channel's stdin for the gateway's writer task. A shutdown sends EOF
/// (russh's writer does that); so does a drop without one (through the
/// relay), which russh's writer does not do by itself.
pub(super) struct ChannelStdin<W> {
    pub(super) inner: std::pin::Pin<Box<W>>,
    pub(super) dropped: Arc<Notify>,
}

impl<W> Drop for ChannelStdin<W> {
    fn drop(&mut self) {
        self.dropped.notify_one();
    }
}

impl<W: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ChannelStdin<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// Splits the channel's stderr bytes into lines for a [`RemoteProcess`].
#[derive(Default)]
pub(super) struct StderrLines {
    pub(super) partial: Vec<u8>,
}

impl StderrLines {
    /// Passes on every complete line of `data` (and a piece of an overlong one).
    pub(super) fn push(&mut self, data: &[u8], to: &RemoteProcess) {
        self.partial.extend_from_slice(data);
        while let Some(at) = self.partial.iter().position(|b| *b == b'\n') {
            to.stderr_line(&self.partial[..at]);
            self.partial.drain(..=at);
        }
        while self.partial.len() >= STDERR_LINE_LIMIT {
            to.stderr_line(&self.partial[..STDERR_LINE_LIMIT]);
            self.partial.drain(..STDERR_LINE_LIMIT);
        }
    }

    /// Passes on a last line that had no newline.
    pub(super) fn finish(&mut self, to: &RemoteProcess) {
        if !self.partial.is_empty() {
            to.stderr_line(&self.partial);
            self.partial.clear();
        }
    }
}

/// The number of a signal named in an exit-signal message, when it has one
/// here.
pub(super) fn signal_number(sig: &Sig) -> Option<i32> {
    Some(match sig {
        Sig::ABRT => libc::SIGABRT,
        Sig::ALRM => libc::SIGALRM,
        Sig::FPE => libc::SIGFPE,
        Sig::HUP => libc::SIGHUP,
        Sig::ILL => libc::SIGILL,
        Sig::INT => libc::SIGINT,
        Sig::KILL => libc::SIGKILL,
        Sig::PIPE => libc::SIGPIPE,
        Sig::QUIT => libc::SIGQUIT,
        Sig::SEGV => libc::SIGSEGV,
        Sig::TERM => libc::SIGTERM,
        Sig::USR1 => libc::SIGUSR1,
        Sig::Custom(_) => return None,
    })
}

/// `SIGKILL` for [`Sig::KILL`], the name as sent for others.
pub(super) fn signal_text(sig: &Sig) -> String {
    let name = match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    };
    format!("SIG{name}")
}
