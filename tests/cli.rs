//! The `execdeck` command as a user runs it: output, exit statuses, and no
//! worker left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn g() -> String {
    popen("")
}

#[test]
fn exec_prints_each_item_as_python_repr() {
    let out = run_cli(execdeck().args(["exec", "-g", &g(), "-c"]).arg(
        "channel.send(1+1)\nchannel.send('a\\'b')\nchannel.send((1,))\nchannel.send({1.0: b'x', 'k': None})\n\
         channel.send(set())\nchannel.send(2**70)",
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "2\n\"a'b\"\n(1,)\n{1.0: b'x', 'k': None}\nset()\n1180591620717411303424\n"
    );
}

#[test]
fn exec_with_default_popen_spec() {
    let out = run_cli(execdeck().args(["exec", "-c", "channel.send('default')"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "'default'\n");
}

#[test]
fn exec_on_two_gateways_prefixes_lines_with_ids() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-g",
        &g(),
        "-c",
        "channel.send(channel.gateway.id)",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("gw0: "), "{lines:?}");
    assert!(lines[1].starts_with("gw1: "), "{lines:?}");
}

#[test]
fn exec_through_a_via_gateway() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-g",
        &popen("//via=gw0"),
        "-c",
        "import os; channel.send([os.getpid(), os.getppid()])",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let pids = |id: &str| -> Vec<u32> {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{id}: ")))
            .unwrap_or_else(|| panic!("no line of {id} in {stdout:?}"));
        line.trim_matches(['[', ']'])
            .split(", ")
            .map(|n| n.parse().expect("a pid"))
            .collect()
    };
    let (gw0, gw1) = (pids("gw0"), pids("gw1"));
    assert_eq!(gw1[1], gw0[0], "gw1 is a child of gw0's worker: {stdout}");
}

#[test]
fn exec_with_an_unknown_via_names_the_key_and_value() {
    let out =
        run_cli(execdeck().args(["exec", "-g", &popen("//via=gw7"), "-c", "channel.send(1)"]));
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("via=gw7"), "{err}");
}

#[test]
fn exec_sends_literals_in_order() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-c",
        "for i in range(3):\n    channel.send(repr(channel.receive()))",
        "--send",
        "[1, 'x']",
        "--send",
        "b'\\x00'",
        "--send",
        "{'a': (1,)}",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\"[1, 'x']\"\n\"b'\\\\x00'\"\n\"{'a': (1,)}\"\n"
    );
}

#[test]
fn exec_call_with_keyword_literals_and_json_output() {
    let out = run_cli(execdeck().args([
        "exec", "-g", &g(), "-c", "def f(channel, n, tag):\n    channel.send({'n': n * 2, 'tag': tag, 'b': b'hi', 't': (1, None)})",
        "--call", "f", "--kw", "n=21", "--kw", "tag='x'", "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"n\": 42, \"tag\": \"x\", \"b\": {\"$bytes\": \"aGk=\"}, \"t\": [1, null]}\n"
    );
}

#[test]
fn exec_reads_a_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.py");
    std::fs::write(&file, "channel.send('from file')\n").unwrap();
    let out = run_cli(execdeck().args(["exec", "-g", &g()]).arg(&file));
    assert_eq!(text(&out.stdout), "'from file'\n", "{}", text(&out.stderr));

    let out = run_bounded(
        execdeck().args(["exec", "-g", &g(), "-"]),
        Some(b"channel.send('from stdin')\n".to_vec()),
        Duration::from_secs(60),
    );
    assert_eq!(text(&out.stdout), "'from stdin'\n", "{}", text(&out.stderr));
}

#[test]
fn remote_exception_exits_1_with_traceback_on_stderr() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-c",
        "channel.send(1)\nraise RuntimeError('bad thing')",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "1\n");
    let err = text(&out.stderr);
    assert!(err.contains("Traceback (most recent call last):"), "{err}");
    assert!(err.contains("RuntimeError: bad thing"), "{err}");
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "-g".into(),
                "popen//python=a//python=b".into(),
                "-c".into(),
                "pass".into(),
            ],
            "given twice",
        ),
        (
            vec![
                "-g".into(),
                g(),
                "-c".into(),
                "pass".into(),
                "--send".into(),
                "[1, 2".into(),
            ],
            "column",
        ),
        (
            vec!["-g".into(), g(), "/nonexistent/file.py".into()],
            "/nonexistent/file.py",
        ),
        (
            vec![
                "-g".into(),
                "popen//python=/no/such/python".into(),
                "-c".into(),
                "pass".into(),
            ],
            "/no/such/python",
        ),
    ];
    for (args, needle) in cases {
        let out = run_cli(execdeck().arg("exec").args(&args));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn timeout_exits_3_and_leaves_no_worker() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "--timeout",
        "1",
        "-c",
        "import os, time\nchannel.send(os.getpid())\ntime.sleep(60)",
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("timed out"));
    let pid: u32 = text(&out.stdout).trim().parse().unwrap();
    assert!(!pid_alive(pid), "worker {pid} outlived the command");
}

#[test]
fn worker_output_goes_to_stderr_prefixed_with_the_gateway_id() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-c",
        "print('hello from remote')\nchannel.send(0)",
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "0\n");
    assert!(
        text(&out.stderr).contains("[gw0] hello from remote"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kill_9_of_the_master_leaves_no_worker_behind() {
    let mut child = execdeck()
        .args([
            "exec",
            "-g",
            &g(),
            "-c",
            "import os\nchannel.send(os.getpid())\nwhile True:\n    pass",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    assert!(pid_alive(pid));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "worker {pid} outlived its killed master");
}

#[test]
fn status_shows_every_field_as_table_and_json() {
    let out = run_cli(execdeck().args([
        "status",
        "-g",
        &g(),
        "-g",
        &popen("//execmodel=main_thread_only"),
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for needle in [
        "ID",
        "PID",
        "PYTHON",
        "PLATFORM",
        "EXECMODEL",
        "CWD",
        "gw0",
        "gw1",
        "linux",
        "main_thread_only",
    ] {
        assert!(table.contains(needle), "{needle} missing in\n{table}");
    }
    let out = run_cli(execdeck().args(["status", "-g", &g(), "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let obj: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    for key in [
        "id",
        "spec",
        "pid",
        "executable",
        "version",
        "platform",
        "cwd",
        "execmodel",
        "numchannels",
        "numexecuting",
    ] {
        assert!(obj.get(key).is_some(), "{key} missing in {obj}");
    }
    assert_eq!(obj["execmodel"], "thread");
}

#[test]
fn help_documents_subcommands_and_exit_statuses() {
    let out = run_cli(execdeck().arg("--help"));
    let help = text(&out.stdout);
    assert!(help.contains("exec") && help.contains("status"), "{help}");
    let out = run_cli(execdeck().args(["exec", "--help"]));
    let help = text(&out.stdout);
    for needle in [
        "--send",
        "--call",
        "--kw",
        "--json",
        "--timeout",
        "Exit status",
    ] {
        assert!(help.contains(needle), "{needle} missing in {help}");
    }
}

#[test]
fn timeout_fires_even_when_nobody_reads_stdout() {
    let mut child = execdeck()
        .args([
            "exec",
            "-g",
            &g(),
            "--timeout",
            "2",
            "-c",
            "while 1:\n    channel.send('x' * 10000)",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("--timeout did not fire while stdout was full");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
}

#[test]
fn absurd_timeout_is_a_usage_error() {
    let out = run_cli(execdeck().args(["exec", "-g", &g(), "--timeout", "1e30", "-c", "pass"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--timeout"));
}

#[test]
fn trace_file_records_the_run_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.jsonl");
    let out = run_cli(
        execdeck()
            .args(["exec", "-g", &g(), "--trace-file"])
            .arg(&file)
            .args([
                "--trace-payloads",
                "-c",
                "channel.send(channel.receive() + 1)",
                "--send",
                "41",
            ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let content = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = content
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["execdeck_trace"], 1);
    let kinds: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"gateway_starting"));
    assert_eq!(kinds.last(), Some(&"gateway_exited"));
    assert!(
        kinds.contains(&"gateway_ready")
            && kinds.contains(&"channel_opened")
            && kinds.contains(&"channel_closed")
    );
    let data: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["name"] == "CHANNEL_DATA" && l["channel"] == 3)
        .collect();
    assert_eq!(data.len(), 2, "{content}");
    assert_eq!(
        (data[0]["dir"].as_str(), data[0]["preview"].as_str()),
        (Some("out"), Some("41"))
    );
    assert_eq!(
        (data[1]["dir"].as_str(), data[1]["preview"].as_str()),
        (Some("in"), Some("42"))
    );
    assert_eq!(data[1]["payload"], "RgAAACpR");
    let times: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l["t"].as_f64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times go back: {times:?}"
    );
}

#[test]
fn unwritable_trace_file_is_a_usage_error() {
    let out = run_cli(execdeck().args([
        "status",
        "-g",
        &g(),
        "--trace-file",
        "/nonexistent/dir/t.jsonl",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/dir/t.jsonl"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_trace_file_round_trips_through_execdeck_trace_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.jsonl");
    let out = run_cli(
        execdeck()
            .args(["exec", "-g", &g(), "-g", &g(), "--trace-file"])
            .arg(&file)
            .args([
                "-c",
                "channel.send(channel.receive() * 2)\nraise KeyError('late')",
                "--send",
                "21",
            ]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let table = run_cli(execdeck().arg("trace").arg(&file).args([
        "--gateway",
        "gw1",
        "--kind",
        "CHANNEL_DATA",
    ]));
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let shown = text(&table.stdout);
    let rows: Vec<&str> = shown.lines().skip(1).collect();
    assert!(
        rows.iter()
            .all(|r| r.contains("gw1") && r.contains("CHANNEL_DATA")),
        "{shown}"
    );
    assert!(
        rows.iter().any(|r| r.contains("->") && r.ends_with(" 21")),
        "{shown}"
    );
    assert!(
        rows.iter().any(|r| r.contains("<-") && r.ends_with(" 42")),
        "{shown}"
    );

    let stats = run_cli(
        execdeck()
            .arg("trace")
            .arg(&file)
            .args(["--stats", "--json"]),
    );
    assert_eq!(stats.status.code(), Some(0), "{}", text(&stats.stderr));
    let stats: serde_json::Value = serde_json::from_str(text(&stats.stdout).trim()).unwrap();
    let summary = stats.to_string();
    assert!(
        summary.contains("KeyError"),
        "the remote errors are listed: {summary}"
    );
    assert!(
        summary.contains("gw0") && summary.contains("gw1"),
        "{summary}"
    );
}

#[test]
fn literals_that_start_with_a_minus_are_values() {
    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-c",
        "for i in range(3):\n    channel.send(channel.receive())",
        "--send",
        "-7",
        "--send",
        "-1.5e3",
        "--send",
        "-0x10",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "-7\n-1500.0\n-16\n");

    let out = run_cli(execdeck().args([
        "exec",
        "-g",
        &g(),
        "-c",
        "def f(channel, n):\n    channel.send(n)",
        "--call",
        "f",
        "--kw",
        "n=-1",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "-1\n");

    // An option-looking value after --send is its value, and a bad literal.
    let out = run_cli(execdeck().args(["exec", "-g", &g(), "-c", "pass", "--send", "--json"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad --send literal \"--json\""),
        "{}",
        text(&out.stderr)
    );
}

/// Writes an executable script into `dir` and returns its path.
fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn timeout_before_a_gateway_started_names_it_and_quotes_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(
        dir.path(),
        "chattypython",
        "#!/bin/sh\nprintf '1 hello from a fake'\necho 'fake stderr line' >&2\nexec sleep 60\n",
    );
    let spec = format!("popen//python={fake}");
    let out = run_cli(execdeck().args(["exec", "-g", &spec, "--timeout", "3", "-c", "pass"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("timed out after 3s"), "{err}");
    assert!(
        err.contains(&format!("{spec}: the worker did not start")),
        "{err}"
    );
    assert!(err.contains("\"1 hello from a fake\""), "{err}");
    assert!(err.contains("fake stderr line"), "{err}");
}

#[test]
fn timeout_ends_the_command_even_when_the_worker_ignores_everything() {
    // A worker that completes the handshake, then reads nothing and
    // ignores SIGTERM: only a kill ends it.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let worker = script(
        dir.path(),
        "deaf.py",
        &format!(
            "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
             open({:?}, 'w').write(str(os.getpid()))\nos.write(1, b'1')\nwhile True:\n    time.sleep(1)\n",
            pidfile.display().to_string()
        ),
    );
    let spec = format!("cmd={} -u {worker}", python());
    let started = Instant::now();
    let out = run_cli(execdeck().args(["exec", "-g", &spec, "--timeout", "3", "-c", "pass"]));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // The behaviour asked for: the command ends within --timeout + 1 s
    // (it took --timeout + 3 s before), with a margin for a loaded machine.
    assert!(took < Duration::from_millis(5500), "took {took:?}");
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "worker {pid} outlived the command");
}

#[test]
fn an_undecodable_item_is_reported_while_the_command_still_runs() {
    // The fake worker answers the CHANNEL_EXEC with an item whose opcode is
    // unknown, then ignores everything (so ending the command takes a while).
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let worker = script(
        dir.path(),
        "garbling.py",
        &format!(
            "import os, signal, struct, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
             open({:?}, 'w').write(str(os.getpid()))\nos.write(1, b'1')\n\
             h = b''\nwhile len(h) < 9:\n    h += os.read(0, 9 - len(h))\n\
             code, ch, n = struct.unpack('>bii', h)\n\
             os.write(1, struct.pack('>bii', 4, ch, 2) + b'\\xeeQ')\nwhile True:\n    time.sleep(1)\n",
            pidfile.display().to_string()
        ),
    );
    let spec = format!("cmd={} -u {worker}", python());
    let mut child = execdeck()
        .args(["exec", "-g", &spec, "--timeout", "30", "-c", "pass"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the decode error on stderr");
    // The worker is still there (the command kills it only on its way out).
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let worker_alive = pid_alive(pid);
    let status = child.wait().unwrap();
    assert!(line.contains("gateway gw0, channel"), "{line}");
    assert!(line.contains("unknown opcode"), "{line}");
    assert!(worker_alive, "the error came only as the command ended");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn vagrant_ssh_runs_vagrant_ssh_with_the_boot_line_as_execnet_does() {
    // A stand-in `vagrant` that records its arguments and runs the remote
    // command line it was given (its last argument) locally.
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("args");
    script(
        dir.path(),
        "vagrant",
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$RECORD\"\nfor last; do :; done\nexec /bin/sh -c \"$last\"\n",
    );
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let spec = format!("vagrant_ssh=box//python={}//ssh_config=/etc/cfg", python());
    let out = run_cli(
        execdeck()
            .args(["exec", "-g", &spec, "-c", "import os; channel.send(6 * 7)"])
            .env("PATH", &path)
            .env("RECORD", &record),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "42\n");
    let args = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        args,
        format!(
            "ssh\nbox\n--\n-C\n-F\n/etc/cfg\n{} -c \"import sys;exec(eval(sys.stdin.readline()))\"\n",
            python()
        )
    );

    // Without vagrant on PATH: an error naming it.
    let out = run_cli(
        execdeck()
            .args(["exec", "-g", "vagrant_ssh=box", "-c", "pass"])
            .env("PATH", dir.path().join("nothing-here")),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("vagrant"),
        "{}",
        text(&out.stderr)
    );
}
