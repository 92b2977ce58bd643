//! `execdeck trace`: show a trace file (docs/trace-format.md) as a table of
//! events or as a summary, optionally following it as it grows.

mod filter;
mod stats;
mod table;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{EXIT_USAGE, Failure};
use crate::trace::FORMAT_VERSION;
use crate::trace::read::{Header, Line, Lines, parse_event, parse_header};
use crate::trace::stats::Stats;
use filter::Filter;
use stats::Source;
use table::Table;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(200);
/// Line width when `COLUMNS` is not set.
const DEFAULT_COLUMNS: usize = 120;

/// Arguments of `execdeck trace`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The table has one row per event: TIME (seconds since the trace started), GW
(gateway id), DIR (-> master to worker, <- worker to master, for messages), EVENT
(the message name, or the event kind), CH (channel), SIZE (payload bytes) and
PREVIEW (the payload as Python repr, or the event's fields). Previews are cut to
the line width in COLUMNS (default 120) unless --wide.

Filters combine: an event is shown when every filter given has a value that
matches it. --channel shows only events that have a channel; `lost` events pass
--gateway (they may concern any gateway). --stats counts only what the filters
let through.

Lines that are not valid events are reported on stderr as FILE:LINE and skipped;
unknown kinds and fields are shown as they are. Exit status: 0 the file was
read (even with skipped lines); 2 the file is missing, unreadable, not a trace,
or of a newer format version.

Examples:
  execdeck trace run.trace
  execdeck trace run.trace --gateway gw1 --kind CHANNEL_DATA --kind stderr
  execdeck trace run.trace --channel 3 --wide
  execdeck trace run.trace --stats --json | jq .channels
  execdeck trace -f run.trace")]
pub struct TraceArgs {
    /// The trace file, as written with --trace-file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Show only events of this gateway id; repeat for several.
    #[arg(long = "gateway", value_name = "ID")]
    pub gateways: Vec<String>,
    /// Show only events on this channel id; repeat for several.
    #[arg(long = "channel", value_name = "N", allow_negative_numbers = true)]
    pub channels: Vec<i64>,
    /// Show only events of this kind (`message`, `stderr`, `channel_closed`, …)
    /// or messages of this name (`CHANNEL_DATA`, …); repeat for several.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// After the lines there are, keep showing lines appended to FILE until
    /// interrupted (Ctrl-C).
    #[arg(short, long, conflicts_with = "stats")]
    pub follow: bool,
    /// With --follow: stop after SECS seconds.
    #[arg(long, value_name = "SECS", requires = "follow")]
    pub follow_timeout: Option<f64>,
    /// Instead of the table, totals per gateway, message type and channel, and
    /// the errors.
    #[arg(long)]
    pub stats: bool,
    /// With --stats: one JSON object instead of text.
    #[arg(long, requires = "stats")]
    pub json: bool,
    /// Do not cut previews to the line width.
    #[arg(short, long)]
    pub wide: bool,
}

/// Why reading stopped early.
#[derive(Debug)]
enum Stop {
    /// Unusable input.
    Failure(Failure),
    /// Standard output failed.
    Output(io::Error),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failure(f)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Output(e)
    }
}

/// Runs `execdeck trace`; returns the exit status.
pub fn run(args: TraceArgs) -> i32 {
    let columns = (!args.wide).then(columns_from_env);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let outcome = show(&args, columns, &mut out, &mut err).and_then(|()| Ok(out.flush()?));
    exit_status(outcome, &mut err)
}

fn exit_status(outcome: Result<(), Stop>, err: &mut dyn Write) -> i32 {
    match outcome {
        Ok(()) => 0,
        // The reader went away (`| head`): nothing more to say.
        Err(Stop::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(Stop::Output(e)) => {
            let _ = writeln!(err, "execdeck trace: cannot write to standard output: {e}");
            EXIT_USAGE
        }
        Err(Stop::Failure(f)) => {
            let _ = writeln!(err, "{}", f.message);
            f.code
        }
    }
}

/// `COLUMNS` when it is a positive number, else 120.
fn columns_from_env() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .unwrap_or(DEFAULT_COLUMNS)
}

/// Where accepted events go.
#[derive(Debug)]
enum Sink {
    Table(Table),
    Stats(Stats),
}

/// The state of reading one file: its header once read, the filters, the sink.
#[derive(Debug)]
struct Reader {
    /// The file name as given, for messages.
    name: String,
    header: Option<Header>,
    filter: Filter,
    sink: Sink,
    /// Bad lines so far.
    skipped: u64,
}

impl Reader {
    /// Takes one line: the header first, then events; bad event lines are
    /// reported on `err` and skipped, a bad header stops everything.
    fn line(&mut self, line: Line, err: &mut dyn Write) -> Result<(), Failure> {
        if self.header.is_none() {
            let header = parse_header(&line.bytes)
                .map_err(|msg| Failure::usage(format!("execdeck trace: {}: {msg}", self.name)))?;
            self.header = Some(header);
            return Ok(());
        }
        match parse_event(&line.bytes) {
            Ok(ev) => {
                if self.filter.matches(&ev) {
                    match &mut self.sink {
                        Sink::Table(t) => t.push(&ev),
                        Sink::Stats(s) => s.add(&ev),
                    }
                }
            }
            Err(msg) => {
                self.skipped += 1;
                let msg = if line.complete {
                    msg
                } else {
                    format!("truncated last line (no newline at the end): {msg}")
                };
                let _ = writeln!(
                    err,
                    "execdeck trace: {}:{}: {msg}, skipped",
                    self.name, line.number
                );
            }
        }
        Ok(())
    }

    /// Reads to the current end of the file, handing over each complete line.
    fn read_available(
        &mut self,
        file: &mut File,
        lines: &mut Lines,
        err: &mut dyn Write,
    ) -> Result<(), Failure> {
        loop {
            let n = lines.fill(file).map_err(|e| {
                Failure::usage(format!("execdeck trace: cannot read {}: {e}", self.name))
            })?;
            while let Some(line) = lines.next_line() {
                self.line(line, err)?;
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// Prints the rows gathered so far (table only).
    fn print_rows(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match &mut self.sink {
            Sink::Table(t) if self.header.is_some() => t.write_pending(out),
            _ => Ok(()),
        }
    }

    /// Prints what is left: the last rows, or the summary.
    fn finish(&mut self, json: bool, out: &mut dyn Write) -> Result<(), Stop> {
        let Some(header) = &self.header else {
            return Err(Failure::usage(format!(
                "execdeck trace: {}: the file is empty, no trace header",
                self.name
            ))
            .into());
        };
        match &mut self.sink {
            Sink::Table(t) => t.write_pending(out)?,
            Sink::Stats(s) => {
                let src = Source {
                    file: &self.name,
                    header,
                    skipped: self.skipped,
                };
                if json {
                    writeln!(out, "{}", stats::json(s, src))?;
                } else {
                    write!(out, "{}", stats::text(s, src))?;
                }
            }
        }
        Ok(())
    }
}

/// Reads the file and prints the table or the summary on `out`; diagnostics
/// go to `err`.
fn show(
    args: &TraceArgs,
    columns: Option<usize>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Stop> {
    let name = args.file.display().to_string();
    let filter = Filter {
        gateways: args.gateways.clone(),
        channels: args.channels.clone(),
        kinds: args.kinds.clone(),
    };
    for kind in filter.unknown_kinds() {
        let _ = writeln!(
            err,
            "execdeck trace: warning: --kind {kind} is neither an event kind nor a message \
             name of trace format {FORMAT_VERSION}; it only matches events of that kind"
        );
    }
    let follow_timeout = match args.follow_timeout {
        Some(secs) => Some(Duration::try_from_secs_f64(secs).map_err(|_| {
            Failure::usage(format!(
                "execdeck trace: --follow-timeout {secs} is not a usable number of seconds"
            ))
        })?),
        None => None,
    };
    let mut file = File::open(&args.file)
        .map_err(|e| Failure::usage(format!("execdeck trace: cannot read {name}: {e}")))?;
    let sink = if args.stats {
        Sink::Stats(Stats::default())
    } else if args.follow {
        Sink::Table(Table::for_follow(columns))
    } else {
        Sink::Table(Table::new(columns))
    };
    let mut reader = Reader {
        name,
        header: None,
        filter,
        sink,
        skipped: 0,
    };
    let mut lines = Lines::default();
    reader.read_available(&mut file, &mut lines, err)?;
    if args.follow {
        let deadline = follow_timeout.map(|d| Instant::now() + d);
        loop {
            reader.print_rows(out)?;
            out.flush()?;
            let now = Instant::now();
            let nap = match deadline {
                Some(d) if now >= d => break,
                Some(d) => POLL.min(d - now),
                None => POLL,
            };
            std::thread::sleep(nap);
            if truncated(&file, &lines) {
                let _ = writeln!(
                    err,
                    "execdeck trace: {}: the file was truncated, reading it again from the start",
                    reader.name
                );
                file.seek(SeekFrom::Start(0)).map_err(|e| {
                    Failure::usage(format!("execdeck trace: cannot read {}: {e}", reader.name))
                })?;
                lines = Lines::default();
                reader.header = None;
            }
            reader.read_available(&mut file, &mut lines, err)?;
        }
    }
    if let Some(rest) = lines.take_rest() {
        reader.line(rest, err)?;
    }
    reader.finish(args.json, out)
}

/// Is the (regular) file now shorter than what was read of it?
fn truncated(file: &File, lines: &Lines) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.len() < lines.bytes_read())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"execdeck_trace": 1, "started": "2026-11-25T17:50:00.000000Z", "command": ["execdeck", "exec", "-c", "channel.send(1)"]}"#;

    fn args(file: &std::path::Path) -> TraceArgs {
        TraceArgs {
            file: file.to_owned(),
            gateways: vec![],
            channels: vec![],
            kinds: vec![],
            follow: false,
            follow_timeout: None,
            stats: false,
            json: false,
            wide: false,
        }
    }

    /// Runs `show` on a file with this content: (status, stdout, stderr).
    fn run_on(content: &[u8], tweak: impl FnOnce(&mut TraceArgs)) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        std::fs::write(&path, content).unwrap();
        let mut a = args(&path);
        tweak(&mut a);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = show(&a, Some(120), &mut out, &mut err);
        let code = exit_status(outcome, &mut err);
        let err = String::from_utf8(err)
            .unwrap()
            .replace(&path.display().to_string(), "FILE");
        (code, String::from_utf8(out).unwrap(), err)
    }

    #[test]
    fn bad_lines_are_reported_with_their_numbers_and_skipped() {
        let content = format!(
            "{HEADER}\n\
             {{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"first\"}}\n\
             not json\n\
             \n\
             {{\"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"x\"}}\n\
             {{\"t\": 0.2, \"gw\": 7, \"kind\": \"stderr\", \"line\": \"x\"}}\n\
             {{\"t\": 0.3, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"second\"}}\n\
             {{\"t\": 0.4, \"gw\": \"gw0\", \"kind\": \"std"
        );
        let (code, out, err) = run_on(content.as_bytes(), |_| {});
        assert_eq!(code, 0, "{err}");
        let err: Vec<&str> = err.lines().collect();
        assert_eq!(err.len(), 5, "{err:#?}");
        assert!(
            err[0].starts_with("execdeck trace: FILE:3: not valid JSON ("),
            "{}",
            err[0]
        );
        assert!(err[0].ends_with("), skipped"), "{}", err[0]);
        assert_eq!(err[1], "execdeck trace: FILE:4: empty line, skipped");
        assert_eq!(err[2], "execdeck trace: FILE:5: no \"t\" field, skipped");
        assert_eq!(
            err[3],
            "execdeck trace: FILE:6: \"gw\" must be a string, not 7, skipped"
        );
        assert!(
            err[4].starts_with(
                "execdeck trace: FILE:8: truncated last line (no newline at the end): JSON cut short"
            ),
            "{}",
            err[4]
        );
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 3, "{out}");
        assert_eq!(rows[1], "0.100000  gw0       stderr            first");
        assert_eq!(rows[2], "0.300000  gw0       stderr            second");
    }

    #[test]
    fn a_complete_last_line_without_newline_is_fine() {
        let content = format!(
            "{HEADER}\n{{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"x\"}}"
        );
        let (code, out, err) = run_on(content.as_bytes(), |_| {});
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn unusable_files_exit_2_with_one_line() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"",
                "execdeck trace: FILE: the file is empty, no trace header\n",
            ),
            (
                b"{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"x\"}\n",
                "execdeck trace: FILE: the first line is no trace header (no \"execdeck_trace\" \
                 field): not an execdeck trace file\n",
            ),
            (
                b"{\"execdeck_trace\": 2}\n",
                "execdeck trace: FILE: trace format version 2 is newer than this execdeck reads \
                 (version 1)\n",
            ),
            (
                b"\x7fELF\x02\x01\x01\0\0\0",
                "execdeck trace: FILE: the first line is not JSON (expected value at line 1 \
                 column 1): not an execdeck trace file\n",
            ),
            (
                b"\n{\"execdeck_trace\": 1}\n",
                "execdeck trace: FILE: the first line is empty: not an execdeck trace file\n",
            ),
        ];
        for (content, want) in cases {
            let (code, out, err) = run_on(content, |_| {});
            assert_eq!((code, out.as_str(), err.as_str()), (2, "", want));
        }
    }

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.trace");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = exit_status(show(&args(&path), None, &mut out, &mut err), &mut err);
        let err = String::from_utf8(err).unwrap();
        assert_eq!(code, 2);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("execdeck trace: cannot read {}: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn header_only_gives_an_empty_table_or_summary() {
        let (code, out, err) = run_on(format!("{HEADER}\n").as_bytes(), |_| {});
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(out, "TIME  GW  DIR  EVENT  CH  SIZE  PREVIEW\n");
        let (code, out, _) = run_on(HEADER.as_bytes(), |a| a.stats = true);
        assert_eq!(code, 0);
        assert!(out.contains("0 events\n"), "{out}");
    }

    #[test]
    fn filters_and_stats_work_together() {
        let content = format!(
            "{HEADER}\n\
             {{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"message\", \"dir\": \"out\", \"code\": 4, \"name\": \"CHANNEL_DATA\", \"channel\": 1, \"len\": 10, \"preview\": \"1\"}}\n\
             {{\"t\": 0.2, \"gw\": \"gw1\", \"kind\": \"message\", \"dir\": \"in\", \"code\": 4, \"name\": \"CHANNEL_DATA\", \"channel\": 1, \"len\": 20, \"preview\": \"2\"}}\n\
             broken\n"
        );
        let (code, out, err) = run_on(content.as_bytes(), |a| {
            a.stats = true;
            a.json = true;
            a.gateways = vec!["gw1".into()];
        });
        assert_eq!(code, 0);
        assert_eq!(err.lines().count(), 1, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["events"], 1);
        assert_eq!(v["skipped_lines"], 1);
        assert_eq!(v["gateways"][0]["gw"], "gw1");
        assert_eq!(v["gateways"][0]["bytes_in"], 20);
        assert_eq!(out.lines().count(), 1);
    }

    #[test]
    fn unknown_kind_filters_are_warned_about() {
        let (code, _, err) = run_on(format!("{HEADER}\n").as_bytes(), |a| {
            a.kinds = vec!["stderr".into(), "mesage".into()];
        });
        assert_eq!(code, 0);
        assert_eq!(
            err,
            "execdeck trace: warning: --kind mesage is neither an event kind nor a message name \
             of trace format 1; it only matches events of that kind\n"
        );
    }

    #[test]
    fn bad_follow_timeout() {
        let (code, _, err) = run_on(HEADER.as_bytes(), |a| {
            a.follow = true;
            a.follow_timeout = Some(-1.0);
        });
        assert_eq!(code, 2);
        assert!(err.contains("--follow-timeout -1"), "{err}");
    }

    #[test]
    fn broken_pipe_is_quiet() {
        let mut err = Vec::new();
        let code = exit_status(
            Err(Stop::Output(io::Error::from(io::ErrorKind::BrokenPipe))),
            &mut err,
        );
        assert_eq!((code, err.len()), (0, 0));
        let code = exit_status(Err(Stop::Output(io::Error::other("disk full"))), &mut err);
        assert_eq!(code, 2);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "execdeck trace: cannot write to standard output: disk full\n"
        );
    }
}
