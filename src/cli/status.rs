//! `execdeck status`: facts and live counters of gateways.

use std::time::Duration;

use super::exec::{TERMINATE_TIMEOUT, finish, start_gateways, terminal_prompter};
use super::sink::{self, TraceOpts};
use super::{EXIT_REMOTE, Failure, parse_specs};
use crate::engine::{Gateway, Group, GroupOptions, RInfo, RemoteStatus};

/// How long one gateway may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Arguments of `execdeck status`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
For each gateway: id, spec, pid, executable, Python version, platform, cwd,
execution model, open channels and running executions. With --json, one JSON
object per gateway and line, with those keys.

Example:
  execdeck status -g popen -g 'popen//python=python3//chdir=/tmp'")]
pub struct StatusArgs {
    /// Gateway spec; repeat for several gateways [default: popen].
    #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
    pub specs: Vec<String>,
    /// One JSON object per gateway and line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// ssh gateways accept a host key that known_hosts does not list yet and
    /// record it there (as `-o StrictHostKeyChecking=accept-new`); a changed
    /// key is still refused.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Trace file options.
    #[command(flatten)]
    pub trace: TraceOpts,
}

struct Row {
    gateway: Gateway,
    info: RInfo,
    status: RemoteStatus,
}

/// Runs `execdeck status`; returns the exit status.
pub async fn run(args: StatusArgs) -> i32 {
    let specs = match parse_specs(&args.specs) {
        Ok(specs) => specs,
        Err(f) => return f.report(),
    };
    let group = Group::with_options(GroupOptions {
        prompter: terminal_prompter(),
        accept_new_host_keys: args.accept_new_host_keys,
        ..GroupOptions::default()
    });
    let sink = match sink::start(&group, &args.trace) {
        Ok(sink) => sink,
        Err(f) => return f.report(),
    };
    let outcome = collect(&group, &specs).await;
    let finished = finish(&group, sink, TERMINATE_TIMEOUT).await;
    match outcome.and_then(|rows| finished.map(|()| rows)) {
        Ok(rows) => {
            print!(
                "{}",
                if args.json {
                    json_lines(&rows)
                } else {
                    table(&rows)
                }
            );
            0
        }
        Err(f) => f.report(),
    }
}

async fn collect(group: &Group, specs: &[String]) -> Result<Vec<Row>, Failure> {
    let gateways = start_gateways(group, specs, None).await?;
    let mut set = tokio::task::JoinSet::new();
    for (i, gw) in gateways.into_iter().enumerate() {
        set.spawn(async move {
            let info = gw.rinfo(Some(ANSWER_TIMEOUT)).await;
            let status = gw.remote_status(Some(ANSWER_TIMEOUT)).await;
            (i, gw, info, status)
        });
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    while let Some(Ok((i, gateway, info, status))) = set.join_next().await {
        match (info, status) {
            (Ok(info), Ok(status)) => rows.push((
                i,
                Row {
                    gateway,
                    info,
                    status,
                },
            )),
            (Err(e), _) | (_, Err(e)) => errors.push(format!("execdeck: {}: {e}", gateway.id())),
        }
    }
    if !errors.is_empty() {
        return Err(Failure {
            code: EXIT_REMOTE,
            message: errors.join("\n"),
        });
    }
    rows.sort_by_key(|(i, _)| *i);
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

fn json_lines(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            let obj = serde_json::json!({
                "id": r.gateway.id(),
                "spec": r.gateway.spec().to_string(),
                "pid": r.info.pid,
                "executable": r.info.executable,
                "version": r.info.version,
                "platform": r.info.platform,
                "cwd": r.info.cwd,
                "execmodel": r.status.execmodel,
                "numchannels": r.status.numchannels,
                "numexecuting": r.status.numexecuting,
            });
            format!("{obj}\n")
        })
        .collect()
}

fn table(rows: &[Row]) -> String {
    let header = [
        "ID",
        "PID",
        "PYTHON",
        "PLATFORM",
        "EXECMODEL",
        "CHANNELS",
        "EXECUTING",
        "EXECUTABLE",
        "CWD",
        "SPEC",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        cells.push(vec![
            r.gateway.id().to_owned(),
            r.info.pid.to_string(),
            r.info.version.clone(),
            r.info.platform.clone(),
            r.status.execmodel.clone(),
            r.status.numchannels.to_string(),
            r.status.numexecuting.to_string(),
            r.info.executable.clone(),
            r.info.cwd.clone(),
            r.gateway.spec().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
