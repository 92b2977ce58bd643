//! Runs: a code buffer executed on a gateway with its printed output
//! streamed back and a way to interrupt it (execdeck extension).
//!
//! The remote half is `bootstrap/runner.py`, started through an ordinary
//! `remote_exec` with call name `run` and the keyword arguments `source`,
//! `file_name` and `channels_first=True`; the first item on the exec
//! channel is then the tuple `(output, control)` of two channels made by
//! the master (execnet's own worker cannot load channels inside the keyword
//! arguments, so they do not go there). The code sees the exec channel as `channel`, exactly as under
//! [`Gateway::remote_exec`]. What the code writes through
//! `sys.stdout`/`sys.stderr` arrives on the output channel as
//! `("out" | "err", text)` items; `"interrupt"` sent on the control channel
//! raises `KeyboardInterrupt` in the thread running the code. The framing
//! stays execnet's (PROTOCOL.md §4); bootstrap/README.md describes the
//! remote side and its limits.

use std::time::Duration;

use super::channel::Channel;
use super::error::{Error, Result};
use super::gateway::{ExecSource, Gateway};
use crate::wire::Value;

/// Source of the helper that runs code buffers remotely.
const RUNNER_SOURCE: &str = include_str!("../../bootstrap/runner.py");

/// File name of the runner itself in remote tracebacks.
const RUNNER_FILE_NAME: &str = "<execdeck runner>";

/// The control message that interrupts a run.
const INTERRUPT: &str = "interrupt";

/// Which stream a piece of output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// `sys.stdout` (`print`, `sys.stdout.write`).
    Stdout,
    /// `sys.stderr` (`sys.stderr.write`, `logging` to stderr, tracebacks
    /// the code prints itself).
    Stderr,
}

/// A piece of text the running code wrote.
///
/// Pieces are not lines: the runner sends what was buffered at a newline,
/// after about 50 ms for a partial line, on `flush()` and at the end, so a
/// line may be split over pieces and a piece may hold many lines.
/// Consecutive pieces of one stream can simply be concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The stream it was written to.
    pub stream: OutputStream,
    /// The text, in write order.
    pub text: String,
}

impl RunOutput {
    /// Decodes an output item, `("out" | "err", text)`; `None` for any
    /// other shape.
    fn from_value(item: &Value) -> Option<RunOutput> {
        let (Value::Tuple(parts) | Value::List(parts)) = item else {
            return None;
        };
        let [tag, text] = parts.as_slice() else {
            return None;
        };
        let stream = match tag.as_str()? {
            "out" => OutputStream::Stdout,
            "err" => OutputStream::Stderr,
            _ => return None,
        };
        let text = match text {
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => return None,
        };
        Some(RunOutput { stream, text })
    }
}

/// One run of a code buffer on a gateway (see [`Gateway::run`]).
///
/// Dropping it closes its channels from this side: the code keeps running,
/// what it prints from then on goes to the gateway's stderr as with plain
/// `remote_exec`, and it can no longer be interrupted.
#[derive(Debug, Clone)]
pub struct Run {
    exec: Channel,
    output: Channel,
    control: Channel,
}

impl Gateway {
    /// Runs `source` in the worker like [`Gateway::remote_exec`] does (the
    /// code sees the channel as `channel`, `__name__` is
    /// `"__channelexec__"`), with what it prints captured for this run
    /// only and a way to interrupt it.
    ///
    /// `file_name` names the code in tracebacks (e.g. `"<pane 2>"`); the
    /// source is registered for it so tracebacks show its lines.
    pub async fn run(&self, source: &str, file_name: &str) -> Result<Run> {
        let output = self.newchannel();
        let control = self.newchannel();
        let exec = self
            .remote_exec(ExecSource {
                source: RUNNER_SOURCE.to_owned(),
                file_name: Some(RUNNER_FILE_NAME.to_owned()),
                call_name: Some("run".to_owned()),
                kwargs: vec![
                    ("source".to_owned(), Value::str(source)),
                    ("file_name".to_owned(), Value::str(file_name)),
                    ("channels_first".to_owned(), Value::Bool(true)),
                ],
            })
            .await?;
        // The channels go as the first item rather than as keyword
        // arguments: execnet's own worker cannot load channels there.
        // When the worker already refused the execution (a busy
        // main_thread_only worker), `wait` reports why.
        match exec
            .send(Value::Tuple(vec![output.as_value(), control.as_value()]))
            .await
        {
            Ok(()) | Err(Error::ChannelClosed { .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(Run {
            exec,
            output,
            control,
        })
    }
}

impl Run {
    /// The exec channel: `receive` the items the code sends on `channel`,
    /// `send` items into the running code, `wait_close` for its end.
    pub fn channel(&self) -> &Channel {
        &self.exec
    }

    /// A receiver of what the code writes on stdout and stderr, in order.
    ///
    /// It ends when the run has ended and everything it wrote has been
    /// received. All receivers of a run share one queue: each piece goes to
    /// exactly one of them.
    pub fn output(&self) -> OutputReceiver {
        OutputReceiver {
            output: self.output.clone(),
            exec: self.exec.clone(),
            done: false,
        }
    }

    /// Asks the worker to raise `KeyboardInterrupt` in the thread running
    /// the code. The run then ends with an [`Error::Remote`] whose text
    /// ends in `execdeck.runner.RunInterrupted: KeyboardInterrupt`, unless
    /// the code catches it.
    ///
    /// Returns at once, without waiting for the run to end (use
    /// [`Run::wait`]). Interrupting a run that has ended does nothing and is
    /// no error; repeated interrupts within half a second count once.
    pub async fn interrupt(&self) -> Result<()> {
        if self.exec.is_closed() {
            return Ok(());
        }
        match self.control.send(Value::str(INTERRUPT)).await {
            Ok(()) | Err(Error::ChannelClosed { .. } | Error::GatewayDied { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits for the run to end: `Ok` when the code finished, the
    /// [`Error::Remote`] with its traceback when it raised (or was
    /// interrupted), [`Error::GatewayDied`] when the worker went away.
    ///
    /// Items the code sent stay available on [`Run::channel`]. When this
    /// returns, all of the run's output has arrived, so its receivers end
    /// without waiting once they are drained.
    pub async fn wait(&self) -> Result<()> {
        self.exec.wait_close(None).await
    }

    /// [`Run::wait`], giving up with [`Error::Timeout`] after `timeout`.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.exec.wait_close(Some(timeout)).await
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.exec.is_closed()
    }
}

/// Receives a run's output (see [`Run::output`]).
#[derive(Debug)]
pub struct OutputReceiver {
    output: Channel,
    exec: Channel,
    done: bool,
}

impl OutputReceiver {
    /// The next piece of output, or `None` once the run has ended and all
    /// of its output was received (also when the worker went away).
    ///
    /// Cancel safe: dropping the future loses no output.
    pub async fn recv(&mut self) -> Option<RunOutput> {
        while !self.done {
            let item = tokio::select! {
                biased;
                item = self.output.receive(None) => item,
                _ = self.exec.wait_close(None) => {
                    // The runner closes the output channel before the run
                    // ends, so whatever it sent is here already. (When it
                    // never started, e.g. refused by a busy
                    // main_thread_only worker, nothing comes at all.)
                    self.output.receive(Some(Duration::ZERO)).await
                }
            };
            match item {
                Ok(value) => {
                    if let Some(piece) = RunOutput::from_value(&value) {
                        return Some(piece);
                    }
                }
                Err(_) => self.done = true,
            }
        }
        None
    }

    /// Receives everything up to the end of the run.
    pub async fn collect(mut self) -> Vec<RunOutput> {
        let mut pieces = Vec::new();
        while let Some(piece) = self.recv().await {
            pieces.push(piece);
        }
        pieces
    }
}
