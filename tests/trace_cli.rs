//! `execdeck trace` as a user runs it, on handcrafted trace files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// No run may take longer than this.
const LIMIT: Duration = Duration::from_secs(30);

const HEADER: &str = r#"{"execdeck_trace": 1, "started": "2026-11-25T17:50:00.000000Z", "command": ["execdeck", "exec", "-g", "popen", "-g", "popen", "-c", "channel.send(1)"]}"#;

/// Two gateways working, one failing to start, channels closing every way.
const EVENTS: &str = r#"{"t": 0.001, "gw": "gw0", "kind": "gateway_starting", "spec": "popen"}
{"t": 0.002, "gw": "gw1", "kind": "gateway_starting", "spec": "popen//python=python3.12"}
{"t": 0.030, "gw": "gw0", "kind": "gateway_ready", "pid": 100, "python": "3.11.7"}
{"t": 0.031, "gw": "gw1", "kind": "gateway_ready", "pid": 101, "python": "3.12.1"}
{"t": 0.040, "gw": "gw0", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.041, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 30, "preview": "('x',)"}
{"t": 0.042, "gw": "gw1", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.043, "gw": "gw1", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 30, "preview": "('x',)"}
{"t": 0.050, "gw": "gw0", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 8, "preview": "'from0'"}
{"t": 0.051, "gw": "gw1", "kind": "stderr", "line": "hello from gw1"}
{"t": 0.052, "gw": "gw1", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 9, "preview": "'from1'"}
{"t": 0.053, "gw": "gw1", "kind": "channel_opened", "channel": 2, "origin": "remote"}
{"t": 0.054, "gw": "gw1", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 2, "len": 100, "preview": "b'...'"}
{"t": 0.060, "gw": "gw0", "kind": "message", "dir": "in", "code": 5, "name": "CHANNEL_CLOSE", "channel": 1, "len": 0, "preview": ""}
{"t": 0.061, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "closed"}
{"t": 0.070, "gw": "gw1", "kind": "message", "dir": "in", "code": 6, "name": "CHANNEL_CLOSE_ERROR", "channel": 1, "len": 50, "preview": "'Traceback ...'"}
{"t": 0.071, "gw": "gw1", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "error", "error": "Traceback (most recent call last):\n  File \"<remote exec>\", line 1\nZeroDivisionError: division by zero"}
{"t": 0.080, "gw": "", "kind": "lost", "count": 4}
{"t": 0.090, "gw": "gw1", "kind": "channel_closed", "channel": 2, "by": "local", "how": "gateway_died", "error": "the gateway died"}
{"t": 0.091, "gw": "gw1", "kind": "gateway_exited", "status": "killed by signal 9 (SIGKILL)", "reason": "the gateway died"}
{"t": 0.100, "gw": "gw0", "kind": "message", "dir": "out", "code": 2, "name": "GATEWAY_TERMINATE", "channel": 0, "len": 0, "preview": ""}
{"t": 0.110, "gw": "gw0", "kind": "gateway_exited", "status": "exit status 0", "reason": "the gateway was exited"}
{"t": 0.120, "gw": "gw2", "kind": "gateway_failed", "error": "cannot start python9: No such file or directory"}
"#;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Kills the child if a test fails while it runs.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `execdeck trace ARGS` with stdout and stderr going to files in `dir`.
fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Guard, PathBuf, PathBuf) {
    let n = std::fs::read_dir(dir).unwrap().count();
    let (out_path, err_path) = (
        dir.join(format!("stdout{n}")),
        dir.join(format!("stderr{n}")),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_execdeck"));
    cmd.arg("trace")
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (Guard(cmd.spawn().unwrap()), out_path, err_path)
}

/// Waits for the child to end, at most `LIMIT`.
fn finish(mut child: Guard, out: &Path, err: &Path) -> Out {
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "execdeck trace did not end within {LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code(),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let (child, out, err) = start(dir, args, env);
    finish(child, &out, &err)
}

fn run(dir: &Path, args: &[&str]) -> Out {
    run_env(dir, args, &[])
}

/// A temp dir with `t.trace` holding `content`.
fn trace_file(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.trace");
    std::fs::write(&path, content).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

fn full_trace() -> (tempfile::TempDir, String) {
    trace_file(&format!("{HEADER}\n{EVENTS}"))
}

/// The rows of a table, without the header row.
fn table_rows(out: &Out) -> Vec<&str> {
    out.stdout.lines().skip(1).collect()
}

/// Waits until the file holds `needle`.
fn wait_for(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {path:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn append(path: &str, text: &str) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn table_has_a_row_per_event() {
    let (dir, path) = full_trace();
    let out = run(dir.path(), &[&path]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let want = [
        "    TIME  GW   DIR  EVENT                CH  SIZE  PREVIEW",
        "0.001000  gw0       gateway_starting               spec popen",
        "0.002000  gw1       gateway_starting               spec popen//python=python3.12",
        "0.030000  gw0       gateway_ready                  pid 100 python 3.11.7",
        "0.031000  gw1       gateway_ready                  pid 101 python 3.12.1",
        "0.040000  gw0       channel_opened        1        origin exec",
        "0.041000  gw0  ->   CHANNEL_EXEC          1    30  ('x',)",
        "0.042000  gw1       channel_opened        1        origin exec",
        "0.043000  gw1  ->   CHANNEL_EXEC          1    30  ('x',)",
        "0.050000  gw0  <-   CHANNEL_DATA          1     8  'from0'",
        "0.051000  gw1       stderr                         hello from gw1",
        "0.052000  gw1  <-   CHANNEL_DATA          1     9  'from1'",
        "0.053000  gw1       channel_opened        2        origin remote",
        "0.054000  gw1  <-   CHANNEL_DATA          2   100  b'...'",
        "0.060000  gw0  <-   CHANNEL_CLOSE         1     0",
        "0.061000  gw0       channel_closed        1        closed by remote",
        "0.070000  gw1  <-   CHANNEL_CLOSE_ERROR   1    50  'Traceback ...'",
        "0.071000  gw1       channel_closed        1        error by remote: ZeroDivisionError: division by zero",
        "0.080000            lost                           4 events lost",
        "0.090000  gw1       channel_closed        2        gateway_died by local: the gateway died",
        "0.091000  gw1       gateway_exited                 killed by signal 9 (SIGKILL) (the gateway died)",
        "0.100000  gw0  ->   GATEWAY_TERMINATE     0     0",
        "0.110000  gw0       gateway_exited                 exit status 0 (the gateway was exited)",
        "0.120000  gw2       gateway_failed                 cannot start python9: No such file or directory",
    ];
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        want,
        "{}",
        out.stdout
    );
}

#[test]
fn gateway_filter() {
    let (dir, path) = full_trace();
    let out = run(dir.path(), &[&path, "--gateway", "gw1"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows = table_rows(&out);
    // 12 events of gw1 and the lost event, which may concern any gateway.
    assert_eq!(rows.len(), 13, "{}", out.stdout);
    assert!(
        rows.iter()
            .all(|r| r.contains(" gw1 ") || r.contains(" lost ")),
        "{}",
        out.stdout
    );
    let out = run(dir.path(), &[&path, "--gateway", "gw0", "--gateway", "gw2"]);
    assert_eq!(rows_count(&out), 9 + 1 + 1, "{}", out.stdout);
}

fn rows_count(out: &Out) -> usize {
    table_rows(out).len()
}

#[test]
fn channel_filter() {
    let (dir, path) = full_trace();
    let out = run(dir.path(), &[&path, "--channel", "2"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    assert!(rows[0].contains("channel_opened") && rows[0].ends_with("origin remote"));
    assert!(rows[1].contains("CHANNEL_DATA") && rows[1].ends_with("100  b'...'"));
    assert!(
        rows[2].ends_with("gateway_died by local: the gateway died"),
        "{}",
        rows[2]
    );
    let out = run(dir.path(), &[&path, "--channel", "0"]);
    assert_eq!(table_rows(&out).len(), 1);
    assert!(out.stdout.contains("GATEWAY_TERMINATE"));
}

#[test]
fn kind_filter() {
    let (dir, path) = full_trace();
    let out = run(dir.path(), &[&path, "--kind", "CHANNEL_DATA"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    assert!(rows.iter().all(|r| r.contains("<-   CHANNEL_DATA")));
    let out = run(
        dir.path(),
        &[&path, "--kind", "stderr", "--kind", "gateway_failed"],
    );
    let found = table_rows(&out);
    assert_eq!(found.len(), 2, "{}", out.stdout);
    assert!(found[0].ends_with("hello from gw1") && found[1].contains("gateway_failed"));
    let out = run(dir.path(), &[&path, "--kind", "message"]);
    assert_eq!(rows_count(&out), 8, "{}", out.stdout);
    // A kind nobody knows: a warning, and no rows.
    let out = run(dir.path(), &[&path, "--kind", "mesage"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(rows_count(&out), 0);
    assert!(
        out.stderr.contains("--kind mesage is neither"),
        "{}",
        out.stderr
    );
}

#[test]
fn filters_combine() {
    let (dir, path) = full_trace();
    let out = run(
        dir.path(),
        &[
            &path,
            "--gateway",
            "gw0",
            "--kind",
            "message",
            "--channel",
            "1",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let names: Vec<&str> = table_rows(&out)
        .iter()
        .map(|r| r.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(names, ["CHANNEL_EXEC", "CHANNEL_DATA", "CHANNEL_CLOSE"]);
}

#[test]
fn stats_as_text() {
    let (dir, path) = full_trace();
    let out = run(dir.path(), &[&path, "--stats"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let want = format!(
        "{path}: trace format 1, started 2026-11-25T17:50:00.000000Z
command: execdeck exec -g popen -g popen -c 'channel.send(1)'
23 events, t = 0.001000 to 0.120000 s

Gateways:
GW   EVENTS  MSGS OUT  MSGS IN  BYTES OUT  BYTES IN  ENDED
gw0       9         2        2         30         8  exit status 0
gw1      12         1        3         30       159  killed by signal 9 (SIGKILL)
gw2       1         0        0          0         0  failed

Message types:
MESSAGE              COUNT  BYTES
GATEWAY_TERMINATE        1      0
CHANNEL_EXEC             2     60
CHANNEL_DATA             3    117
CHANNEL_CLOSE            1      0
CHANNEL_CLOSE_ERROR      1     50

Channels:
GW   CH  ORIGIN  MESSAGES  BYTES    OPENED    CLOSED  LIFETIME  CLOSING
gw0   1  exec           3     38  0.040000  0.061000  0.021000  closed by remote
gw1   1  exec           3     89  0.042000  0.071000  0.029000  error by remote
gw1   2  remote         1    100  0.053000  0.090000  0.037000  gateway_died by local

Errors:
    TIME  GW   EVENT           CH  WHAT
0.071000  gw1  channel_closed   1  error by remote: ZeroDivisionError: division by zero
0.090000  gw1  channel_closed   2  gateway_died by local: the gateway died
0.091000  gw1  gateway_exited      killed by signal 9 (SIGKILL) (the gateway died)
0.120000  gw2  gateway_failed      cannot start python9: No such file or directory
4 events lost (the trace writer fell behind)
"
    );
    assert_eq!(out.stdout, want);
}

#[test]
fn stats_as_json() {
    let (dir, path) = full_trace();
    let out = run(
        dir.path(),
        &[&path, "--stats", "--json", "--gateway", "gw1"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["events"], 13);
    assert_eq!(v["lost"], 4);
    assert_eq!(v["gateways"].as_array().unwrap().len(), 1);
    let g = &v["gateways"][0];
    assert_eq!(
        (&g["gw"], &g["messages_in"], &g["bytes_in"], &g["bytes_out"]),
        (&"gw1".into(), &3.into(), &159.into(), &30.into())
    );
    let c = &v["channels"][1];
    assert_eq!(
        (&c["channel"], &c["how"], &c["lifetime"]),
        (&2.into(), &"gateway_died".into(), &0.037.into())
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["errors"][0]["error"],
        "Traceback (most recent call last):\n  File \"<remote exec>\", line 1\nZeroDivisionError: division by zero"
    );
}

#[test]
fn bad_and_truncated_lines_are_reported_and_skipped() {
    let content = format!(
        "{HEADER}\n\
         {{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"one\"}}\n\
         {{\"t\": 0.2, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"two\"\n\
         {{\"t\": \"soon\", \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"x\"}}\n\
         {{\"t\": 0.3, \"kind\": \"stderr\", \"line\": \"x\"}}\n\
         {{\"t\": 0.4, \"gw\": \"gw0\", \"kind\": \"message\", \"dir\": \"in\", \"code\": 4, \"name\": \"CHANNEL_DATA\", \"channel\": \"1\", \"len\": 1, \"preview\": \"1\"}}\n\
         {{\"t\": 0.5, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"three\"}}\n\
         {{\"t\": 0.6, \"gw\": \"gw0\", \"kind\": \"brand_new\", \"channel\": 4, \"level\": 3}}\n\
         {{\"t\": 0.7, \"gw\": \"gw0\", \"ki"
    );
    let (dir, path) = trace_file(&content);
    let out = run(dir.path(), &[&path]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let err: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(err.len(), 5, "{}", out.stderr);
    let p = &path;
    assert!(
        err[0].starts_with(&format!("execdeck trace: {p}:3: JSON cut short")),
        "{}",
        err[0]
    );
    assert_eq!(
        err[1],
        format!("execdeck trace: {p}:4: \"t\" must be a number, not a string, skipped")
    );
    assert_eq!(
        err[2],
        format!("execdeck trace: {p}:5: no \"gw\" field, skipped")
    );
    assert_eq!(
        err[3],
        format!(
            "execdeck trace: {p}:6: \"channel\" must be an integer, not a string (in a \"message\" event), skipped"
        )
    );
    assert!(
        err[4].starts_with(&format!(
            "execdeck trace: {p}:9: truncated last line (no newline at the end): JSON cut short"
        )),
        "{}",
        err[4]
    );
    assert!(err.iter().all(|l| l.ends_with(", skipped")));
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    assert!(
        rows[0].ends_with("stderr               one"),
        "{}",
        out.stdout
    );
    assert!(
        rows[1].ends_with("stderr               three"),
        "{}",
        out.stdout
    );
    // Unknown kinds are shown with their fields.
    assert_eq!(rows[2], "0.600000  gw0       brand_new   4        level=3");
    // --stats counts the skipped lines.
    let out = run(dir.path(), &[&path, "--stats"]);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .contains("3 events, t = 0.100000 to 0.600000 s, 5 bad lines skipped"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_header() {
    let (dir, path) = trace_file(EVENTS);
    let out = run(dir.path(), &[&path]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "execdeck trace: {path}: the first line is no trace header (no \"execdeck_trace\" field): not an execdeck trace file\n"
        )
    );
}

#[test]
fn newer_format_version() {
    let (dir, path) = trace_file(&format!("{{\"execdeck_trace\": 2}}\n{EVENTS}"));
    let out = run(dir.path(), &[&path, "--stats"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "execdeck trace: {path}: trace format version 2 is newer than this execdeck reads (version 1)\n"
        )
    );
}

#[test]
fn empty_file() {
    let (dir, path) = trace_file("");
    let out = run(dir.path(), &[&path]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        format!("execdeck trace: {path}: the file is empty, no trace header\n")
    );
}

#[test]
fn missing_or_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such.trace");
    let path = path.to_str().unwrap();
    let out = run(dir.path(), &[path]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("execdeck trace: cannot read {path}: ")),
        "{}",
        out.stderr
    );
    // A directory.
    let d = dir.path().to_str().unwrap();
    let out = run(dir.path(), &[d]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("execdeck trace: cannot read {d}: ")),
        "{}",
        out.stderr
    );
}

#[test]
fn long_previews_are_cut_to_columns() {
    let long = "y".repeat(500);
    let (dir, path) = trace_file(&format!(
        "{HEADER}\n{{\"t\": 1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"{long}\"}}\n"
    ));
    let out = run_env(dir.path(), &[&path], &[("COLUMNS", "70")]);
    let row = table_rows(&out)[0];
    assert_eq!(row.chars().count(), 70, "{row}");
    assert!(row.ends_with("yy…"));
    let out = run(dir.path(), &[&path]);
    assert_eq!(table_rows(&out)[0].chars().count(), 120);
    let out = run_env(dir.path(), &[&path, "--wide"], &[("COLUMNS", "70")]);
    assert!(table_rows(&out)[0].ends_with(&long));
}

#[test]
fn conflicting_options_are_usage_errors() {
    let (dir, path) = full_trace();
    for args in [
        vec![path.as_str(), "--json"],
        vec![path.as_str(), "--stats", "--follow"],
        vec![path.as_str(), "--follow-timeout", "1"],
        vec![path.as_str(), "--channel", "one"],
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn follow_picks_up_appended_lines() {
    let (dir, path) = trace_file(&format!(
        "{HEADER}\n{{\"t\": 0.1, \"gw\": \"gw0\", \"kind\": \"stderr\", \"line\": \"first\"}}\n"
    ));
    let started = Instant::now();
    let (child, out_path, err_path) = start(
        dir.path(),
        &[&path, "--follow", "--follow-timeout", "4"],
        &[],
    );
    let text = wait_for(&out_path, "first");
    assert!(text.starts_with("      TIME  GW   DIR  EVENT"), "{text}");
    // Half a line: not shown (nor reported) until its newline comes.
    append(
        &path,
        "{\"t\": 0.2, \"gw\": \"gw0\", \"kind\": \"stderr\", \"li",
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !std::fs::read_to_string(&out_path)
            .unwrap()
            .contains("0.200000")
    );
    assert_eq!(std::fs::read_to_string(&err_path).unwrap(), "");
    append(
        &path,
        "ne\": \"second\"}\nnot json\n{\"t\": 0.3, \"gw\": \"gw1\", \"kind\": \"message\", \"dir\": \"in\", \
         \"code\": 4, \"name\": \"CHANNEL_DATA\", \"channel\": 1, \"len\": 3, \"preview\": \"'z'\"}\n",
    );
    wait_for(&out_path, "'z'");
    let out = finish(child, &out_path, &err_path);
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    assert!(
        rows[1].starts_with("  0.200000  gw0") && rows[1].ends_with("second"),
        "{}",
        out.stdout
    );
    assert!(
        rows[2].contains("<-   CHANNEL_DATA") && rows[2].ends_with("'z'"),
        "{}",
        out.stdout
    );
    // Line 4 is `not json`; serde_json's wording of the error may change.
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("execdeck trace: {path}:4: not valid JSON (")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("), skipped\n"), "{}", out.stderr);
}

#[test]
fn follow_waits_for_the_header() {
    let (dir, path) = trace_file("");
    let (child, out_path, err_path) = start(
        dir.path(),
        &[&path, "-f", "--follow-timeout", "3", "--kind", "warning"],
        &[],
    );
    std::thread::sleep(Duration::from_millis(400));
    append(&path, &format!("{HEADER}\n"));
    append(
        &path,
        "{\"t\": 1, \"gw\": \"gw0\", \"kind\": \"warning\", \"text\": \"late\"}\n",
    );
    let out = finish(child, &out_path, &err_path);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        table_rows(&out),
        ["  1.000000  gw0       warning                            late"]
    );
}

#[test]
fn follow_on_a_file_that_stays_empty() {
    let (dir, path) = trace_file("");
    let out = run(dir.path(), &[&path, "--follow", "--follow-timeout", "0.3"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        format!("execdeck trace: {path}: the file is empty, no trace header\n")
    );
}
