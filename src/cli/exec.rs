//! `execdeck exec`: run code on gateways and print what it sends.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::sink::{self, TraceOpts};
use super::{EXIT_REMOTE, EXIT_TIMEOUT, Failure, json, parse_specs};
use crate::engine::{Error, ExecSource, Gateway, Group, GroupOptions};
use crate::trace::record::Recorder;
use crate::transport::popen::DEFAULT_STARTUP_TIMEOUT;
use crate::transport::{SharedPrompter, TerminalPrompter};
use crate::wire::Value;
use crate::wire::pyrepr::{parse_literal, repr};

/// How long gateways get to exit when the command ends.
pub(crate) const TERMINATE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long gateways get to exit after --timeout passed (then they are killed).
const TIMED_OUT_GRACE: Duration = Duration::from_millis(200);

/// How long past --timeout a gateway start may take before the command stops
/// waiting for it (the start normally fails by itself right at --timeout).
const START_SLACK: Duration = Duration::from_millis(300);

/// Arguments of `execdeck exec`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["code", "file"])))]
#[command(after_help = "\
The code runs with `channel` bound to the channel to this command; each value it
sends is printed on its own line as Python repr (or JSON with --json), prefixed
with `<gateway id>: ` when there are two or more gateways. What the code prints
appears on stderr, prefixed with `[<gateway id>]`.

Exit status: 0 success; 1 remote code raised or a gateway died (traceback on
stderr); 2 bad spec, bad literal, unreadable file, or a gateway that could not
start; 3 --timeout passed. No worker outlives the command.

Examples:
  execdeck exec -c 'channel.send(1 + 1)'
  execdeck exec -g popen -g popen//python=python3.11 -c 'import sys; channel.send(sys.version)'
  execdeck exec -c 'for x in channel: channel.send(x * 2)' --send 1 --send '\"ab\"'
  execdeck exec script.py --call main --kw n=10 --json")]
pub struct ExecArgs {
    /// Gateway spec, e.g. `popen//python=python3//chdir=/tmp`; repeat for several
    /// gateways [default: popen].
    #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
    pub specs: Vec<String>,
    /// Python code to run.
    #[arg(short = 'c', value_name = "CODE")]
    pub code: Option<String>,
    /// A file of Python code to run, or `-` to read it from standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A Python literal to send into the channel after the code starts; repeat
    /// to send several, in order. The channel is closed after the last one only
    /// if the code does so itself. A value that looks like an option (`-7`,
    /// `-1.5e3`) is taken as the literal.
    #[arg(long = "send", value_name = "LITERAL", allow_hyphen_values = true)]
    pub send: Vec<String>,
    /// After running the code, call its function NAME(channel, **kwargs).
    #[arg(long, value_name = "NAME")]
    pub call: Option<String>,
    /// A keyword argument for --call, as KEY=LITERAL; repeatable.
    #[arg(
        long = "kw",
        value_name = "KEY=LITERAL",
        requires = "call",
        allow_hyphen_values = true
    )]
    pub kw: Vec<String>,
    /// Print each item as one line of JSON (mapping in the README) instead of Python repr.
    #[arg(long)]
    pub json: bool,
    /// Give up after SECS seconds in all (exit status 3): a gateway that has
    /// not started by then is named with what it printed, and workers that
    /// do not exit at once are killed, so the command ends within about a
    /// second of SECS.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// ssh gateways accept a host key that known_hosts does not list yet and
    /// record it there (as `-o StrictHostKeyChecking=accept-new`); a changed
    /// key is still refused.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Trace file options.
    #[command(flatten)]
    pub trace: TraceOpts,
}

/// Everything `exec` needs, checked before any process starts.
struct Plan {
    specs: Vec<String>,
    source: ExecSource,
    sends: Vec<Value>,
    json: bool,
    timeout: Option<Duration>,
    accept_new_host_keys: bool,
}

fn literal(what: &str, text: &str) -> Result<Value, Failure> {
    parse_literal(text).map_err(|e| Failure::usage(format!("execdeck: bad {what} {text:?}: {e}")))
}

fn plan(args: ExecArgs) -> Result<Plan, Failure> {
    let specs = parse_specs(&args.specs)?;
    let mut source = match (&args.code, &args.file) {
        (Some(code), _) => ExecSource::code(code.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                Failure::usage(format!(
                    "execdeck: cannot read code from standard input: {e}"
                ))
            })?;
            ExecSource::code(text)
        }
        (None, Some(path)) => ExecSource::file(path)
            .map_err(|e| Failure::usage(format!("execdeck: cannot read {e}")))?,
        (None, None) => {
            return Err(Failure::usage(
                "execdeck: give -c CODE, a FILE or - for stdin",
            ));
        }
    };
    if let Some(name) = &args.call {
        source = source.call(name.clone());
        for kw in &args.kw {
            let Some((key, text)) = kw.split_once('=') else {
                return Err(Failure::usage(format!(
                    "execdeck: --kw {kw:?} must be KEY=LITERAL"
                )));
            };
            source = source.kwarg(key, literal(&format!("--kw {key}"), text)?);
        }
    }
    let sends = args
        .send
        .iter()
        .map(|text| literal("--send literal", text))
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = match args.timeout {
        Some(secs) => Some(Duration::try_from_secs_f64(secs).map_err(|_| {
            Failure::usage(format!(
                "execdeck: --timeout {secs} is not a usable number of seconds"
            ))
        })?),
        None => None,
    };
    Ok(Plan {
        specs,
        source,
        sends,
        json: args.json,
        timeout,
        accept_new_host_keys: args.accept_new_host_keys,
    })
}

/// Who answers the passphrase and password prompts of ssh gateways: the
/// terminal, when there is one (else encrypted keys are skipped with a
/// note to add them to ssh-agent, and passwords are not tried).
pub(super) fn terminal_prompter() -> Option<SharedPrompter> {
    TerminalPrompter::if_terminal().map(SharedPrompter::new)
}

/// Runs `execdeck exec`; returns the exit status.
pub async fn run(args: ExecArgs) -> i32 {
    let trace = args.trace.clone();
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(f) => return f.report(),
    };
    // --timeout as the instant it runs out, with the seconds for messages.
    let limit = plan
        .timeout
        .and_then(|t| Some((tokio::time::Instant::now().checked_add(t)?, t)));
    // A worker that has not started when --timeout runs out fails its start
    // with what it printed, instead of being cut off without a word.
    let group = Group::with_options(GroupOptions {
        startup_timeout: plan
            .timeout
            .map_or(DEFAULT_STARTUP_TIMEOUT, |t| t.min(DEFAULT_STARTUP_TIMEOUT)),
        prompter: terminal_prompter(),
        accept_new_host_keys: plan.accept_new_host_keys,
        ..GroupOptions::default()
    });
    let sink = match sink::start(&group, &trace) {
        Ok(sink) => sink,
        Err(f) => return f.report(),
    };
    let outcome = drive(&group, &plan, limit).await;
    // Past --timeout, workers get a short grace to exit before they are
    // killed, so the command ends within about a second of it.
    let grace = match &outcome {
        Err(f) if f.code == EXIT_TIMEOUT => TIMED_OUT_GRACE,
        _ => TERMINATE_TIMEOUT,
    };
    let finished = finish(&group, sink, grace).await;
    match outcome.and(finished) {
        Ok(()) => 0,
        Err(f) => f.report(),
    }
}

/// Terminates every gateway (killing what has not exited after `grace`),
/// lets the sink handle their last events, and returns a failure if the
/// trace file could not be written. Returns within about three times `grace`.
pub(crate) async fn finish(group: &Group, sink: Recorder, grace: Duration) -> Result<(), Failure> {
    let gateways = group.gateways();
    group.terminate(grace).await;
    futures_util::future::join_all(gateways.iter().map(|gw| gw.wait_stderr_closed(grace))).await;
    sink.stop().await.map_err(|e| Failure {
        code: EXIT_REMOTE,
        message: format!("execdeck: {e}"),
    })
}

/// The failure when --timeout passes after every gateway started.
fn timed_out(after: Duration) -> Failure {
    Failure {
        code: EXIT_TIMEOUT,
        message: format!("execdeck: timed out after {}s", after.as_secs_f64()),
    }
}

/// Starts the gateways, runs the code and prints what it sends, all before
/// `limit` (--timeout: the instant it runs out, and its length).
async fn drive(
    group: &Group,
    plan: &Plan,
    limit: Option<(tokio::time::Instant, Duration)>,
) -> Result<(), Failure> {
    let start = start_gateways(group, &plan.specs, plan.timeout);
    let gateways = match limit {
        // The start fails by itself when a worker is late (startup timeout);
        // this only guards against a start that hangs elsewhere.
        Some((deadline, after)) => tokio::time::timeout_at(deadline + START_SLACK, start)
            .await
            .unwrap_or_else(|_| Err(timed_out(after)))?,
        None => start.await?,
    };
    let run = run_code(plan, &gateways, group);
    match limit {
        Some((deadline, after)) => tokio::time::timeout_at(deadline, run)
            .await
            .unwrap_or_else(|_| Err(timed_out(after))),
        None => run.await,
    }
}

/// Runs the code on every gateway, sends the literals and prints each item
/// as it comes; a gateway's failure is printed on stderr as soon as it is known.
async fn run_code(plan: &Plan, gateways: &[Gateway], group: &Group) -> Result<(), Failure> {
    let multi = group
        .remote_exec(plan.source.clone())
        .await
        .map_err(remote_failure)?;
    for item in &plan.sends {
        multi
            .send_each(item.clone())
            .await
            .map_err(remote_failure)?;
    }
    let prefix = gateways.len() > 1;
    let mut queue = multi.receive_queue();
    let mut open = gateways.len();
    let mut failed = false;
    // Async stdout: a reader that stops reading must not block the timeout.
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    while open > 0 {
        let Some((channel, item)) = queue.recv().await else {
            break;
        };
        match item {
            Ok(value) => {
                let text = if plan.json {
                    json::to_json(&value)
                } else {
                    repr(&value)
                };
                let line = if prefix {
                    format!("{}: {text}\n", channel.gateway_id())
                } else {
                    format!("{text}\n")
                };
                let mut written = out.write_all(line.as_bytes()).await;
                if written.is_ok() && queue.is_empty() {
                    written = out.flush().await;
                }
                if let Err(e) = written {
                    return Err(Failure::usage(format!(
                        "execdeck: cannot write to standard output: {e}"
                    )));
                }
            }
            Err(Error::Eof { .. }) => open -= 1,
            Err(e) => {
                open -= 1;
                failed = true;
                // At once, not after the other gateways finish: the user
                // sees the traceback or the decode error while it matters.
                let _ = out.flush().await;
                eprintln!("{}", describe_failure(&e, channel.gateway_id(), prefix));
            }
        }
    }
    let _ = out.flush().await;
    if failed {
        Err(Failure::reported(EXIT_REMOTE))
    } else {
        Ok(())
    }
}

/// Starts every gateway at once; any failure is a usage failure naming each,
/// or, when `timeout` (the command's --timeout) ran out before a worker
/// started, a timeout failure naming the gateways that had not started and
/// what they printed.
pub(crate) async fn start_gateways(
    group: &Group,
    specs: &[String],
    timeout: Option<Duration>,
) -> Result<Vec<Gateway>, Failure> {
    let mut gateways = Vec::new();
    let mut errors = Vec::new();
    let mut late = false;
    for result in group.makegateways(specs).await {
        match result {
            Ok(gw) => gateways.push(gw),
            Err(e) => {
                late |= matches!(&e, Error::Connect(c) if c.is_timeout());
                errors.push(format!("execdeck: {e}"));
            }
        }
    }
    match timeout {
        _ if errors.is_empty() => Ok(gateways),
        Some(after) if late => Err(Failure {
            code: EXIT_TIMEOUT,
            message: format!(
                "execdeck: timed out after {}s before every gateway had started\n{}",
                after.as_secs_f64(),
                errors.join("\n")
            ),
        }),
        _ => Err(Failure::usage(errors.join("\n"))),
    }
}

fn remote_failure(e: Error) -> Failure {
    Failure {
        code: EXIT_REMOTE,
        message: format!("execdeck: {e}"),
    }
}

fn describe_failure(e: &Error, gateway: &str, prefix: bool) -> String {
    let text = match e {
        Error::Remote(r) => r.text.trim_end().to_owned(),
        other => format!("execdeck: {other}"),
    };
    if prefix {
        text.lines()
            .map(|l| format!("{gateway}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text
    }
}

impl Failure {
    /// A failure whose message is already on stderr.
    pub fn reported(code: i32) -> Failure {
        Failure {
            code,
            message: String::new(),
        }
    }

    /// Prints the message on stderr (unless it was printed already) and
    /// returns the exit status.
    pub fn report(self) -> i32 {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        self.code
    }
}
