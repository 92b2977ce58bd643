//! The command line: argument definitions and one module per subcommand.
//! Exit statuses: 0 success, 1 remote code raised or a gateway failed,
//! 2 bad input (spec, literal, file, or a gateway that could not start), 3 timeout.

pub mod exec;
pub mod json;
pub mod progress;
pub mod rsync;
pub mod serve;
pub mod sink;
pub mod status;
pub mod trace;

use clap::{Parser, Subcommand};

pub use crate::exit::{EXIT_REMOTE, EXIT_TIMEOUT, EXIT_USAGE};

/// Rapid multi-Python deployment: run code in Python interpreters and move
/// values between them, wire-compatible with execnet.
#[derive(Debug, Parser)]
#[command(name = "execdeck", version, about, long_about = None)]
#[command(
    after_help = "Run without a subcommand to open the terminal UI with a local popen gateway."
)]
pub struct Cli {
    /// What to do (the TUI when none is given).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Python code on one or more gateways and print what it sends.
    Exec(exec::ExecArgs),
    /// Make a directory on one or more gateways a mirror of a local one
    /// (streamed, atomic per file, delta transfer).
    Rsync(rsync::RsyncArgs),
    /// Run a socket server that execnet's `socket=HOST:PORT` gateways (and
    /// execdeck's) boot workers through. Anyone who can reach its port can run
    /// code as this user: see `execdeck serve --help` and --token-file.
    Serve(serve::ServeArgs),
    /// Show facts and live counters of one or more gateways.
    Status(status::StatusArgs),
    /// Show a trace file written with --trace-file as a table or a summary.
    Trace(trace::TraceArgs),
    /// Open the terminal UI (the default): gateways with live status and code
    /// panes that run Python on them.
    Tui(TuiArgs),
}

/// Arguments of `execdeck tui`.
#[derive(Debug, Default, clap::Args)]
pub struct TuiArgs {
    /// Gateway spec to start; repeat for several [default: the config's
    /// gateways, else one popen].
    #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
    pub specs: Vec<String>,
    /// Colour theme: default, light, high-contrast, or NAME for a NAME.toml in the
    /// themes directory of the config dir.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Write every event (messages included) to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub trace_file: Option<std::path::PathBuf>,
    /// Open a trace file (written with --trace-file) in the traffic and
    /// trace views, read-only: no gateway is started.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["specs", "trace_file"])]
    pub trace: Option<std::path::PathBuf>,
}

/// A one-line error on stderr and the exit status to use.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub code: i32,
    /// The message (one line, or a traceback).
    pub message: String,
}

impl Failure {
    /// A usage failure (exit status 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

/// Parses every `-g` spec up front so a typo fails before anything starts.
pub fn parse_specs(specs: &[String]) -> Result<Vec<String>, Failure> {
    let specs: Vec<String> = if specs.is_empty() {
        vec!["popen".to_owned()]
    } else {
        specs.to_vec()
    };
    for s in &specs {
        crate::spec::XSpec::parse(s).map_err(|e| Failure::usage(format!("execdeck: {e}")))?;
    }
    Ok(specs)
}
