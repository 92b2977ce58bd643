//! `execdeck rsync`: makes a directory on one or many gateways a mirror of a
//! local one.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::exec::{TERMINATE_TIMEOUT, finish, terminal_prompter};
use super::progress::{Lines, summary};
use super::sink::{self, TraceOpts};
use super::{EXIT_REMOTE, Failure, parse_specs};
use crate::engine::rsync::{RSync, TargetOptions, TargetReport};
use crate::engine::{Group, GroupOptions, Received};

/// Arguments of `execdeck rsync`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Like `rsync -a SOURCE/ DEST` on each gateway (DEST holds what SOURCE holds,
not a SOURCE directory): files that differ in size or mtime are compared by
SHA-256 and sent as a delta of the gateway's copy; each file is written to a
temporary name and renamed into place once complete, so an interrupted run
leaves every file either old or new. All gateways get the tree at once; one
that fails is reported while the others go on.

On a terminal, stderr shows one live line per gateway. Then one summary line
per gateway (files sent of files checked, bytes, bytes on the wire, seconds),
or with --json one JSON object. Exit status 1 if any gateway failed or any
file could not be sent, 2 for bad arguments.

Examples:
  execdeck rsync src/ /tmp/src-copy
  execdeck rsync . /srv/app -g ssh=web1 -g ssh=web2 --delete --exclude '*.pyc' --filter-gitignore")]
pub struct RsyncArgs {
    /// Local directory whose contents are sent.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    /// Directory on each gateway that becomes the mirror (made when missing;
    /// `~` is the remote home).
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Gateway spec; repeat for several gateways [default: popen, a local copy].
    #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
    pub specs: Vec<String>,
    /// Also remove what DEST has and SOURCE lacks (excluded paths are kept).
    #[arg(long)]
    pub delete: bool,
    /// Leave out paths matching this gitignore-style pattern; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Also leave out what SOURCE's .gitignore files ignore.
    #[arg(long)]
    pub filter_gitignore: bool,
    /// Write and delete nothing; report what would be sent and deleted.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// No progress lines and no summaries: only errors (and --json).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print one JSON report on stdout instead of summary lines.
    #[arg(long)]
    pub json: bool,
    /// ssh gateways accept and record a host key that known_hosts does not
    /// list yet; a changed key is still refused.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Trace file options.
    #[command(flatten)]
    pub trace: TraceOpts,
}

/// Runs `execdeck rsync`; returns the exit status.
pub async fn run(args: RsyncArgs) -> i32 {
    let specs = match parse_specs(&args.specs) {
        Ok(specs) => specs,
        Err(f) => return f.report(),
    };
    if !args.source.is_dir() {
        return Failure::usage(format!(
            "execdeck: rsync: the source {} is not a directory",
            args.source.display()
        ))
        .report();
    }
    let group = Group::with_options(GroupOptions {
        prompter: terminal_prompter(),
        accept_new_host_keys: args.accept_new_host_keys,
        ..GroupOptions::default()
    });
    let sink = match sink::start(&group, &args.trace) {
        Ok(sink) => sink,
        Err(f) => return f.report(),
    };
    let outcome = sync(&group, &specs, &args).await;
    let finished = finish(&group, sink, TERMINATE_TIMEOUT).await;
    let reports = match outcome.and_then(|r| finished.map(|()| r)) {
        Ok(reports) => reports,
        Err(f) => return f.report(),
    };
    if args.json {
        println!("{}", json_report(&args, &specs, &reports));
    }
    for report in &reports {
        for error in &report.errors {
            eprintln!("execdeck: {} → {}: {error}", report.gateway, report.dest);
        }
    }
    if reports.iter().all(TargetReport::is_ok) {
        0
    } else {
        EXIT_REMOTE
    }
}

/// Starts the gateways and syncs every one that started; a gateway that
/// did not start is a failed target.
async fn sync(
    group: &Group,
    specs: &[String],
    args: &RsyncArgs,
) -> Result<Vec<TargetReport>, Failure> {
    let live = !args.quiet && std::io::stderr().is_terminal();
    let summaries = !(args.quiet || args.json || live && std::io::stdout().is_terminal());
    let mut events = group.subscribe_lifecycle();
    let mut rsync = RSync::new(&args.source);
    rsync
        .filter_gitignore(args.filter_gitignore)
        .dry_run(args.dry_run);
    for pattern in &args.exclude {
        rsync.exclude(pattern.clone());
    }
    let mut reports: Vec<Option<TargetReport>> = Vec::new();
    let mut targets = Vec::new();
    for (i, result) in group.makegateways(specs).await.into_iter().enumerate() {
        let id = format!("gw{i}");
        match result {
            Ok(gw) => {
                targets.push((gw.id().to_string(), args.dest.clone()));
                rsync.add_target(
                    gw,
                    args.dest.clone(),
                    TargetOptions {
                        delete: args.delete,
                    },
                );
                reports.push(None);
            }
            Err(e) => {
                targets.push((id.clone(), args.dest.clone()));
                reports.push(Some(TargetReport {
                    gateway: id,
                    dest: args.dest.clone(),
                    dry_run: args.dry_run,
                    error: Some(e.to_string()),
                    ..TargetReport::default()
                }));
            }
        }
    }
    let mut lines = live.then(|| Lines::new(&targets));
    let mut stderr = std::io::stderr();
    if let Some(lines) = lines.as_mut() {
        for report in reports.iter().flatten() {
            lines.end(&report.gateway, summary(report), &mut stderr);
        }
        lines.draw(&mut stderr);
    }
    let sent = if reports.iter().any(Option::is_none) {
        let send = rsync.send();
        tokio::pin!(send);
        loop {
            tokio::select! {
                result = &mut send => break result.map_err(|e| Failure::usage(format!("execdeck: {e}")))?,
                Some(received) = events.recv() => {
                    if let (Some(lines), Received::Event(ev)) = (lines.as_mut(), &received) {
                        lines.event(&ev.gateway, &ev.kind, &mut stderr);
                    }
                }
            }
        }
    } else {
        Vec::new()
    };
    let mut sent = sent.into_iter();
    let reports: Vec<TargetReport> = reports
        .into_iter()
        .filter_map(|r| r.or_else(|| sent.next()))
        .collect();
    if let Some(lines) = lines.as_mut() {
        for report in &reports {
            lines.end(&report.gateway, summary(report), &mut stderr);
        }
    }
    for report in &reports {
        if summaries {
            println!("{}", summary(report));
        }
        if report.dry_run && !args.quiet && !args.json {
            for path in &report.sent {
                println!("  send {path}");
            }
            for path in &report.deleted {
                println!("  delete {path}");
            }
        }
    }
    Ok(reports)
}

/// The `--json` report: the job's arguments and, per target, its report
/// and spec.
fn json_report(args: &RsyncArgs, specs: &[String], reports: &[TargetReport]) -> String {
    let targets: Vec<serde_json::Value> = reports
        .iter()
        .zip(specs)
        .map(|(report, spec)| {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("spec".into(), spec.clone().into());
            }
            value
        })
        .collect();
    serde_json::json!({
        "source": args.source.display().to_string(),
        "dest": args.dest,
        "delete": args.delete,
        "dry_run": args.dry_run,
        "ok": reports.iter().all(TargetReport::is_ok),
        "targets": targets,
    })
    .to_string()
}
