//! Where the CLI's events go while a command runs: workers' stderr lines and
//! warnings onto our stderr, and everything into `--trace-file` when given.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use super::Failure;
use crate::engine::{EventKind, Group, Received, Subscription};
use crate::tracefile::TraceWriter;

/// Options every subcommand that starts gateways takes.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceOpts {
    /// Write every event (messages in and out, channel and gateway life
    /// cycles, worker stderr) to FILE as JSON lines; read it with `execdeck trace FILE`.
    #[arg(long, value_name = "FILE")]
    pub trace_file: Option<PathBuf>,
    /// With --trace-file: also write each message's whole payload (base64).
    #[arg(long, requires = "trace_file")]
    pub trace_payloads: bool,
}

/// A task that consumes the group's events until stopped.
pub struct EventSink {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl EventSink {
    /// Subscribes to `group` and starts the task; fails (exit status 2) when
    /// the trace file cannot be created.
    pub fn start(group: &Group, opts: &TraceOpts) -> Result<EventSink, Failure> {
        EventSink::start_with(group, opts, true)
    }

    /// Like [`EventSink::start`] but prints nothing (for the TUI, which owns
    /// the terminal): only the trace file is written.
    pub fn start_quiet(group: &Group, opts: &TraceOpts) -> Result<EventSink, Failure> {
        EventSink::start_with(group, opts, false)
    }

    fn start_with(group: &Group, opts: &TraceOpts, print: bool) -> Result<EventSink, Failure> {
        let mut trace = match &opts.trace_file {
            Some(path) => {
                let command: Vec<String> = std::env::args().collect();
                let writer =
                    TraceWriter::create(path, opts.trace_payloads, &command).map_err(|e| {
                        Failure::usage(format!(
                            "execdeck: cannot write trace file {}: {e}",
                            path.display()
                        ))
                    })?;
                Some((path.clone(), writer))
            }
            None => None,
        };
        let mut events: Subscription = match trace {
            Some(_) => group.subscribe(),
            None => group.subscribe_lifecycle(),
        };
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut handle = |received: Received| -> Result<(), String> {
                if print {
                    show(&received);
                }
                if let Some((path, writer)) = &mut trace {
                    writer.write(&received).map_err(|e| {
                        format!("execdeck: writing trace file {}: {e}", path.display())
                    })?;
                }
                Ok(())
            };
            loop {
                tokio::select! {
                    biased;
                    received = events.recv() => match received {
                        Some(received) => handle(received)?,
                        None => break,
                    },
                    _ = stopped.notified() => {
                        while let Some(received) = events.try_recv() {
                            handle(received)?;
                        }
                        break;
                    }
                }
            }
            if let Some((path, writer)) = &mut trace {
                writer
                    .flush()
                    .map_err(|e| format!("execdeck: writing trace file {}: {e}", path.display()))?;
            }
            Ok(())
        });
        Ok(EventSink { stop, task })
    }

    /// Handles what is still queued, flushes the trace file and ends the task.
    /// Returns an error message if the trace file could not be written.
    pub async fn stop(self) -> Result<(), String> {
        self.stop.notify_one();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(format!("execdeck: event task failed: {e}")),
        }
    }
}

/// Prints what a person running the command should see on stderr.
fn show(received: &Received) {
    match received {
        Received::Event(ev) => match &ev.kind {
            EventKind::Stderr { line } => eprintln!("[{}] {line}", ev.gateway),
            EventKind::RemoteTrace { line } => eprintln!("[{}] trace: {line}", ev.gateway),
            EventKind::Warning { text } => eprintln!("execdeck: warning: {text}"),
            _ => {}
        },
        Received::Lost(n) => eprintln!("execdeck: {n} events were dropped (output too slow)"),
    }
}
