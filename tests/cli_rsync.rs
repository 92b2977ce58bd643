//! `execdeck rsync` as a user runs it: summary lines, `--json`, dry runs,
//! exit statuses, and the live lines on a real terminal (tmux).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.txt"), b"alpha").unwrap();
    fs::write(root.join("sub/b.txt"), b"beta").unwrap();
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A popen spec whose worker runs in `dir`, so a relative DEST lands there:
/// two local gateways that stand for two hosts.
fn popen_in(dir: &Path) -> String {
    fs::create_dir_all(dir).unwrap();
    popen(&format!("//chdir={}", dir.display()))
}

#[test]
fn rsync_mirrors_to_each_gateway_and_prints_a_summary_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (host0, host1) = (tmp.path().join("host0"), tmp.path().join("host1"));
    tree(&src);
    let out = run_cli(execdeck().args(["rsync", &path(&src), "dest"]).args([
        "-g",
        &popen_in(&host0),
        "-g",
        &popen_in(&host1),
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let start = format!("gw{i} → dest: 2 of 2 files sent, 9 B (");
        assert!(line.starts_with(&start), "{line}");
        assert!(line.ends_with('s'), "{line}");
    }
    for host in [&host0, &host1] {
        assert_eq!(fs::read(host.join("dest/sub/b.txt")).unwrap(), b"beta");
    }
    assert!(
        !stdout.contains('\x1b'),
        "no terminal codes when not on a terminal"
    );

    // The same again: nothing to send.
    let out = run_cli(execdeck().args(["rsync", &path(&src), "dest", "-g", &popen_in(&host0)]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("gw0 → dest: 0 of 2 files sent, 0 B"));
}

#[test]
fn rsync_json_reports_every_target_and_a_failing_one_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    fs::write(
        tmp.path().join("blocker"),
        b"a file where a directory should go",
    )
    .unwrap();
    let good = path(&tmp.path().join("good"));
    let out = run_cli(
        execdeck()
            .args(["rsync", &path(&src), &good, "--json", "-g", &popen("")])
            .args(["-g", "popen//python=/nonexistent/python3"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(report["ok"], false);
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for key in [
        "gateway",
        "dest",
        "files_checked",
        "files_sent",
        "bytes_sent",
        "bytes_on_wire",
        "seconds",
        "error",
    ] {
        assert!(targets[0].get(key).is_some(), "{key} in {}", targets[0]);
    }
    assert_eq!(targets[0]["files_sent"], 2);
    assert_eq!(targets[0]["error"], serde_json::Value::Null);
    let error = targets[1]["error"].as_str().unwrap();
    assert!(error.contains("/nonexistent/python3"), "{error}");
    assert!(
        Path::new(&good).join("a.txt").exists(),
        "the good target completed"
    );

    // A destination below a file fails that target, with the path named.
    let bad = path(&tmp.path().join("blocker/below"));
    let out = run_cli(execdeck().args(["rsync", &path(&src), &bad, "-g", &popen("")]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAILED: "),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("blocker"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn rsync_dry_run_lists_what_it_would_do_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, d) = (tmp.path().join("src"), tmp.path().join("dest"));
    tree(&src);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("extra.txt"), b"x").unwrap();
    let out = run_cli(
        execdeck()
            .args(["rsync", &path(&src), &path(&d), "--dry-run", "--delete"])
            .args(["-g", &popen(""), "--exclude", "sub/"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("1 of 1 files would send"), "{stdout}");
    assert!(
        stdout.contains("\n  send a.txt\n  delete extra.txt\n"),
        "{stdout}"
    );
    assert!(!d.join("a.txt").exists() && d.join("extra.txt").exists());

    let out =
        run_cli(execdeck().args(["rsync", &path(&src), &path(&d), "--quiet", "-g", &popen("")]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "", "--quiet prints nothing");
    assert!(d.join("sub/b.txt").exists());
}

#[test]
fn rsync_progress_and_reports_reach_the_trace_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    let trace = tmp.path().join("run.trace");
    let out = run_cli(
        execdeck()
            .args([
                "rsync",
                &path(&src),
                "dest",
                "-g",
                &popen_in(&tmp.path().join("h")),
            ])
            .args(["--quiet", "--trace-file", &path(&trace)]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run_cli(execdeck().args(["trace", &path(&trace), "--kind", "rsync_done"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("to dest: 2 of 2 files sent, 9 bytes, "),
        "{table}"
    );
    let out = run_cli(execdeck().args(["trace", &path(&trace), "--kind", "rsync_progress"]));
    assert!(
        text(&out.stdout).contains("2/2 files, 9/9 bytes"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn rsync_bad_arguments_exit_2_with_one_clear_line() {
    let out = run_cli(execdeck().args(["rsync", "/nonexistent/src", "/tmp/x"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "execdeck: rsync: the source /nonexistent/src is not a directory\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = run_cli(
        execdeck()
            .args(["rsync", &path(tmp.path()), "/tmp/x", "--exclude", "a{b"])
            .args(["-g", &popen("")]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("a{b"), "{}", text(&out.stderr));
}

#[test]
fn rsync_on_a_terminal_draws_live_lines_that_end_as_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (host0, host1) = (tmp.path().join("host0"), tmp.path().join("host1"));
    tree(&src);
    let big: Vec<u8> = (0..96u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(src.join("big.bin"), big).unwrap();
    let raw = tmp.path().join("raw");
    let session = format!("execdeck-rsync-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let ok = Command::new("tmux")
            .args(args)
            .status()
            .expect("tmux is needed for this test (scripts/test.sh installs it)");
        assert!(ok.success(), "tmux {args:?}");
    };
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "150",
        "-y",
        "20",
        "bash --norc --noprofile",
    ]);
    tmux(&[
        "pipe-pane",
        "-o",
        "-t",
        &session,
        &format!("cat >> {}", path(&raw)),
    ]);
    let command = format!(
        "{} rsync {} dest -g '{}' -g '{}'; echo EXIT\"\"=$?",
        env!("CARGO_BIN_EXE_execdeck"),
        path(&src),
        popen_in(&host0),
        popen_in(&host1),
    );
    tmux(&["send-keys", "-t", &session, "-l", &command]);
    tmux(&["send-keys", "-t", &session, "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .unwrap();
        let screen = text(&out.stdout);
        if screen.contains("EXIT=") || Instant::now() > deadline {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("EXIT=0"), "{screen}");
    for gw in ["gw0", "gw1"] {
        let summary = format!("{gw} → dest: 3 of 3 files sent, 96.0 MiB (");
        assert_eq!(
            screen.matches(&summary).count(),
            1,
            "one summary line for {gw}:\n{screen}"
        );
    }
    assert!(
        !screen.contains("ETA"),
        "progress lines were replaced: {screen}"
    );
    let raw = text(&fs::read(&raw).unwrap());
    assert!(raw.contains("\x1b[2F"), "redrawn in place");
    assert!(raw.contains(" files, "), "live lines were drawn: {raw:?}");
}
