//! Where the CLI's events go while a command runs: workers' stderr lines and
//! warnings onto our stderr, and everything into `--trace-file` when given
//! (the recording itself is [`crate::trace::record`]).

use std::path::PathBuf;

use super::Failure;
use crate::engine::{EventKind, Group, Received};
use crate::trace::record::{RecordOptions, Recorder};

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

/// Subscribes to `group` and starts recording, printing workers' stderr and
/// warnings as they come; fails (exit status 2) when the trace file cannot
/// be created.
pub fn start(group: &Group, opts: &TraceOpts) -> Result<Recorder, Failure> {
    let record = RecordOptions {
        trace_file: opts.trace_file.clone(),
        payloads: opts.trace_payloads,
    };
    Recorder::start(group, &record, Some(Box::new(show)))
        .map_err(|e| Failure::usage(format!("execdeck: {e}")))
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
