//! Worker processes: start failures, stray output, stderr capture, crashes,
//! spec side effects and that no worker outlives its master.

mod common;

use std::time::Duration;

use common::*;
use execdeck::engine::{Error, EventKind, GroupOptions, Received};
use execdeck::transport::ConnectError;
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

#[tokio::test]
async fn missing_interpreter_is_a_clear_error_naming_the_spec() {
    let group = Group::new();
    let spec = "popen//python=/nonexistent/python9";
    let err = within(20, group.makegateway(spec)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Connect(ConnectError::Spawn { .. })),
        "{text}"
    );
    assert!(
        text.contains(spec) && text.contains("/nonexistent/python9"),
        "{text}"
    );
}

#[tokio::test]
async fn interpreter_that_dies_before_the_handshake_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fakepython");
    std::fs::write(&fake, "#!/bin/sh\necho 'not really python' >&2\nexit 7\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = format!("popen//python={}", fake.display());
    let err = within(20, Group::new().makegateway(&spec))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&spec), "{text}");
    assert!(text.contains("exit status 7"), "{text}");
    assert!(text.contains("not really python"), "{text}");
}

#[tokio::test]
async fn startup_timeout_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("slowpython");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let group = Group::with_options(GroupOptions {
        startup_timeout: Duration::from_millis(500),
        ..GroupOptions::default()
    });
    let spec = format!("popen//python={}", fake.display());
    let err = within(10, group.makegateway(&spec)).await.unwrap_err();
    assert!(
        matches!(err, Error::Connect(ConnectError::StartupTimeout { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_worker_that_never_starts_is_reported_with_what_it_printed() {
    // It prints `1` and more, but never the worker's handshake.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("chattypython");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '1 and then some'\necho 'a line on stderr' >&2\nexec sleep 30\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let group = Group::with_options(GroupOptions {
        startup_timeout: Duration::from_secs(3),
        ..GroupOptions::default()
    });
    let spec = format!("popen//python={}", fake.display());
    let err = within(20, group.makegateway(&spec)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Connect(ConnectError::StartupTimeout { .. })),
        "{text}"
    );
    assert!(text.contains(&spec), "{text}");
    assert!(
        text.contains("it printed on stdout: \"1 and then some\""),
        "{text}"
    );
    assert!(text.contains("a line on stderr"), "{text}");
}

/// A fake worker: the handshake, then for every CHANNEL_DATA it receives, one
/// CHANNEL_DATA back on that channel whose payload is `payload`; it ignores
/// everything else and ends when its stdin closes.
fn worker_answering(payload: &[u8]) -> String {
    let literal: String = payload.iter().map(|b| format!("\\x{b:02x}")).collect();
    format!(
        "import os, struct\n\
         os.write(1, b'1')\n\
         def read(n):\n    b = b''\n    while len(b) < n:\n        c = os.read(0, n - len(b))\n        \
         if not c: raise SystemExit\n        b += c\n    return b\n\
         p = b'{literal}'\n\
         while True:\n    code, ch, n = struct.unpack('>bii', read(9))\n    read(n)\n    \
         if code == 4:\n        os.write(1, struct.pack('>bii', 4, ch, len(p)) + p)\n"
    )
}

#[tokio::test]
async fn an_item_that_cannot_be_decoded_wakes_its_receiver_at_once() {
    let cases: [(&str, &[u8]); 3] = [
        ("unknown opcode", b"\xeeQ"),
        ("STOP with an empty stack", b"Q"),
        ("a count larger than the input", b"A\x00\x00\x10\x00abQ"),
    ];
    for (what, payload) in cases {
        let group = Group::with_options(GroupOptions {
            boot: execdeck::transport::bootstrap::BootSource::Raw(worker_answering(payload)),
            ..GroupOptions::default()
        });
        let gw = within(20, group.makegateway(&popen(""))).await.unwrap();

        // receive() without a timeout of its own: only the error can end it.
        let ch = gw.remote_exec("pass").await.unwrap();
        ch.send(1i64).await.unwrap();
        let err = within(10, ch.receive(None)).await.unwrap_err();
        assert!(matches!(err, Error::DataFormat { .. }), "{what}: {err:?}");

        // A callback with an end marker gets the marker.
        let ch = gw.remote_exec("pass").await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        ch.set_callback(move |v| drop(tx.send(v)), Some(Value::str("END")));
        ch.send(1i64).await.unwrap();
        let got = within(10, rx.recv()).await;
        assert_eq!(got, Some(Value::str("END")), "{what}");
        let err = within(10, ch.wait_close(None)).await.unwrap_err();
        assert!(matches!(err, Error::DataFormat { .. }), "{what}: {err:?}");
        group.terminate(Duration::from_secs(3)).await;
    }
}

#[tokio::test]
async fn text_printed_before_the_worker_starts_is_a_warning_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sitecustomize.py"),
        "print('hello from sitecustomize')\n",
    )
    .unwrap();
    let group = Group::new();
    let mut events = group.subscribe();
    let spec = popen(&format!("//env:PYTHONPATH={}", dir.path().display()));
    let gw = within(20, group.makegateway(&spec)).await.unwrap();
    assert!(
        gw.warnings()
            .iter()
            .any(|w| w.contains("hello from sitecustomize")),
        "{:?}",
        gw.warnings()
    );
    let ch = gw.remote_exec("channel.send('works')").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("works"));
    let mut warned = false;
    while let Some(Received::Event(ev)) = events.try_recv() {
        warned |=
            matches!(ev.kind, EventKind::Warning { ref text } if text.contains("sitecustomize"));
    }
    assert!(warned);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn remote_print_and_fd1_output_reach_the_stderr_events() {
    let group = Group::new();
    let mut events = group.subscribe();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw
        .remote_exec(
            "import os\nprint('printed line')\nos.write(1, b'raw fd1 line\\n')\nchannel.send(1)",
        )
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(1));
    let mut lines = Vec::new();
    within(20, async {
        while !(lines.iter().any(|l: &String| l.contains("printed line"))
            && lines.iter().any(|l: &String| l.contains("raw fd1 line")))
        {
            if let Some(Received::Event(ev)) = events.recv().await
                && let EventKind::Stderr { line } = ev.kind
            {
                assert_eq!(&*ev.gateway, "gw0");
                lines.push(line);
            }
        }
    })
    .await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_segfault_reports_signal_and_faulthandler_traceback() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw
        .remote_exec("import ctypes\ndef crash():\n    ctypes.string_at(0)\ncrash()\n")
        .await
        .unwrap();
    let err = within(20, ch.receive(None)).await.unwrap_err();
    let Error::GatewayDied { reason, .. } = &err else {
        panic!("expected GatewayDied, got {err}");
    };
    assert!(reason.contains("SIGSEGV"), "{reason}");
    assert!(reason.contains("Fatal Python error"), "{reason}");
    assert!(
        gw.stderr_tail(50).iter().any(|l| l.contains("crash")),
        "{:?}",
        gw.stderr_tail(50)
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn spec_side_effects_chdir_env_nice_bytecode_execmodel() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("created/by/chdir");
    let spec = popen(&format!(
        "//chdir={}//env:EXECDECK_T=v1//nice=3//dont_write_bytecode//execmodel=main_thread_only",
        target.display()
    ));
    let group = Group::new();
    let gw = within(20, group.makegateway(&spec)).await.unwrap();
    let ch = gw
        .remote_exec(
            "import os, sys\nchannel.send((os.getcwd(), os.environ.get('EXECDECK_T'), os.nice(0), \
             sys.flags.dont_write_bytecode))",
        )
        .await
        .unwrap();
    let got = ch.receive(T).await.unwrap();
    let Value::Tuple(items) = got else {
        panic!("{got:?}")
    };
    assert_eq!(
        items[0],
        s(&target.canonicalize().unwrap().display().to_string())
    );
    assert_eq!(items[1], s("v1"));
    assert!(items[2].as_i64().unwrap() >= 3, "{:?}", items[2]);
    assert_eq!(items[3], Value::Int(1));
    assert_eq!(
        gw.remote_status(T).await.unwrap().execmodel,
        "main_thread_only"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn main_thread_only_refuses_a_second_concurrent_exec() {
    let group = Group::new();
    let gw = within(
        20,
        group.makegateway(&popen("//execmodel=main_thread_only")),
    )
    .await
    .unwrap();
    let first = gw.remote_exec("channel.receive()").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = gw.remote_exec("channel.send('ran')").await.unwrap();
    let err = within(20, second.receive(None)).await.unwrap_err();
    assert!(
        err.remote()
            .is_some_and(|r| r.text.contains("main_thread_only")),
        "{err}"
    );
    first.send(1).await.unwrap();
    first.wait_close(T).await.unwrap();
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn thread_model_runs_executions_concurrently() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let a = gw
        .remote_exec("channel.send(channel.receive())")
        .await
        .unwrap();
    let b = gw.remote_exec("channel.send('b done')").await.unwrap();
    assert_eq!(b.receive(T).await.unwrap(), s("b done"));
    a.send("a done").await.unwrap();
    assert_eq!(a.receive(T).await.unwrap(), s("a done"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_gateways_start_and_terminate_leaving_no_process() {
    let group = Group::new();
    let specs: Vec<String> = (0..8).map(|_| popen("")).collect();
    let gateways: Vec<_> = within(60, group.makegateways(&specs))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ids: Vec<&str> = gateways.iter().map(|g| g.id()).collect();
    assert_eq!(
        ids,
        ["gw0", "gw1", "gw2", "gw3", "gw4", "gw5", "gw6", "gw7"]
    );
    assert_eq!(
        group.get("gw3").map(|g| g.id().to_owned()),
        Some("gw3".into())
    );
    let multi = group
        .remote_exec("import os\nchannel.send(os.getpid())")
        .await
        .unwrap();
    let pids = multi.receive_each(T).await.unwrap();
    for (gw, pid) in gateways.iter().zip(&pids) {
        assert_eq!(pid.as_i64(), gw.pid().map(i64::from));
    }
    within(30, group.terminate(Duration::from_secs(5))).await;
    assert!(group.is_empty());
    for gw in &gateways {
        assert!(wait_gone(gw.pid().unwrap(), 5).await);
    }
}

#[tokio::test]
async fn terminate_kills_a_busy_loop_within_twice_the_timeout() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let pid = gw.pid().unwrap();
    let _ch = gw.remote_exec("while True:\n    pass\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    group.terminate(Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(wait_gone(pid, 3).await);
}

#[tokio::test]
async fn multichannel_send_each_and_receive_queue() {
    let group = Group::new();
    let specs = [popen(""), popen("")];
    for r in within(30, group.makegateways(&specs)).await {
        r.unwrap();
    }
    let multi = group
        .remote_exec("x = channel.receive()\nchannel.send(x + 1)")
        .await
        .unwrap();
    multi.send_each(1).await.unwrap();
    let mut queue = multi.receive_queue();
    let mut items = vec![];
    let mut ends = 0;
    while ends < 2 {
        let (ch, item) = within(20, queue.recv()).await.unwrap();
        match item {
            Ok(v) => items.push((ch.gateway_id().to_owned(), v)),
            Err(e) => {
                assert!(e.is_eof(), "{e}");
                ends += 1;
            }
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        items,
        vec![("gw0".into(), Value::Int(2)), ("gw1".into(), Value::Int(2))]
    );
    multi.wait_close(T).await.unwrap();
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn duplicate_ids_and_bad_specs_are_refused() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen("//id=alpha")))
        .await
        .unwrap();
    assert_eq!(gw.id(), "alpha");
    let err = group.makegateway(&popen("//id=alpha")).await.unwrap_err();
    assert!(err.to_string().contains("alpha"), "{err}");
    let err = group
        .makegateway("popen//python=a//python=b")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Spec(_)), "{err}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn rinfo_describes_the_interpreter() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let info = gw.rinfo(T).await.unwrap();
    assert_eq!(info.pid, i64::from(gw.pid().unwrap()));
    assert!(info.version.starts_with("3."), "{info:?}");
    assert_eq!(info.platform, "linux");
    assert!(!info.executable.is_empty());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_worker_sending_an_unknown_message_code_fails_the_gateway() {
    // A fake worker: handshake, then a header with code 9.
    let src = "import os, sys\nos.write(1, b'1' + bytes([9, 0, 0, 0, 1, 0, 0, 0, 0]))\nsys.stdin.read()\n";
    let group = Group::with_options(GroupOptions {
        boot: execdeck::transport::bootstrap::BootSource::Raw(src.into()),
        ..GroupOptions::default()
    });
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw.newchannel();
    let err = within(5, ch.receive(None)).await.unwrap_err();
    assert!(err.to_string().contains("unknown message code 9"), "{err}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_frame_claiming_a_huge_payload_is_a_protocol_error_not_an_allocation() {
    let src = "import os, sys\nos.write(1, b'1' + bytes([4, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]))\nsys.stdin.read()\n";
    let group = Group::with_options(GroupOptions {
        boot: execdeck::transport::bootstrap::BootSource::Raw(src.into()),
        max_payload: 1 << 20,
        ..GroupOptions::default()
    });
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let err = within(5, gw.newchannel().receive(None)).await.unwrap_err();
    assert!(err.to_string().contains("larger than the limit"), "{err}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn remote_exec_of_a_file_names_the_file_in_tracebacks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.py");
    std::fs::write(
        &file,
        "channel.send('started')\n\ndef fail():\n    raise OSError('from the file')\nfail()\n",
    )
    .unwrap();
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw
        .remote_exec(execdeck::ExecSource::file(&file).unwrap())
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("started"));
    let err = ch.receive(T).await.unwrap_err();
    let text = err
        .remote()
        .map(|r| r.text.clone())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("OSError: from the file"), "{text}");
    let missing = execdeck::ExecSource::file(dir.path().join("missing.py")).unwrap_err();
    assert!(missing.to_string().contains("missing.py"), "{missing}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn cmd_gateway_runs_the_worker_as_a_script() {
    let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/bootstrap/worker.py");
    let group = Group::new();
    let gw = within(
        20,
        group.makegateway(&format!("cmd={} -u {worker} --id cmdgw", python())),
    )
    .await
    .unwrap();
    let mut events = group.subscribe();
    let ch = gw
        .remote_exec("import os\nprint('printed by cmd')\nchannel.send(channel.gateway.id)\nchannel.send(os.environ.get('EXECDECK_STDOUT'))")
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("cmdgw"));
    // Not passed on to what remote code starts.
    assert_eq!(ch.receive(T).await.unwrap(), Value::None);
    // What remote code prints is shown, as for popen gateways.
    let line = within(10, async {
        loop {
            if let Some(Received::Event(ev)) = events.recv().await
                && let EventKind::Stderr { line } = ev.kind
            {
                break line;
            }
        }
    })
    .await;
    assert_eq!(line, "printed by cmd");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn cmd_gateway_with_a_bad_handshake_fails_fast_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let spec = format!(
        "cmd=sleep 100 & echo $! > {}; printf xyz; wait",
        pidfile.display()
    );
    let started = std::time::Instant::now();
    let err = within(20, Group::new().makegateway(&spec))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Connect(ConnectError::BadHandshake { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("xyz"), "{err}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_gone(pid, 3).await,
        "the command's child {pid} survived"
    );
}

#[tokio::test]
async fn channel_sent_inside_a_value_keeps_its_items_after_the_worker_closes_it() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw
        .remote_exec("c = channel.gateway.newchannel()\nchannel.send(c)\nc.send(1)\nc.close()")
        .await
        .unwrap();
    let v = ch.receive(T).await.unwrap();
    ch.wait_close(T).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let inner = gw.channels_in(&v).remove(0);
    assert_eq!(inner.receive(T).await.unwrap(), Value::Int(1));
    assert!(inner.receive(T).await.unwrap_err().is_eof());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_channel_made_after_the_worker_died_fails_at_once() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    gw.kill();
    assert!(gw.wait_exit(Duration::from_secs(5)).await);
    let err = within(5, gw.newchannel().receive(None)).await.unwrap_err();
    assert!(matches!(err, Error::GatewayDied { .. }), "{err}");
    let err = within(5, gw.remote_status(None)).await.unwrap_err();
    assert!(matches!(err, Error::GatewayDied { .. }), "{err}");
}

#[tokio::test]
async fn finished_channels_are_forgotten() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    for i in 0..30 {
        let ch = gw
            .remote_exec("channel.send(channel.receive())")
            .await
            .unwrap();
        ch.send(i).await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Int(i));
        ch.wait_close(T).await.unwrap();
        gw.remote_status(T).await.unwrap();
        drop(gw.newchannel());
    }
    // A channel dropped while its code still runs is closed and forgotten too.
    drop(gw.remote_exec("channel.receive()").await.unwrap());
    let status = gw.remote_status(T).await.unwrap();
    assert_eq!(gw.channel_count(), 0);
    within(20, async {
        while gw.remote_status(T).await.unwrap().numchannels > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(status.numchannels <= 1, "{status:?}");
    group.terminate(Duration::from_secs(5)).await;
}

/// Regression: the parent-death signal follows the thread that forked the
/// worker; a worker made from a thread that then ends must live on.
#[test]
fn a_gateway_made_on_a_short_lived_thread_outlives_that_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let group = Group::new();
    let (g, handle) = (group.clone(), rt.handle().clone());
    let gw = std::thread::spawn(move || handle.block_on(g.makegateway(&popen(""))))
        .join()
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(async {
        let ch = gw.remote_exec("channel.send('still here')").await.unwrap();
        assert_eq!(within(10, ch.receive(None)).await.unwrap(), s("still here"));
        group.terminate(Duration::from_secs(5)).await;
    });
}

#[tokio::test]
async fn restart_gives_a_fresh_worker_under_the_same_id() {
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen("//env:EXECDECK_R=kept")))
        .await
        .unwrap();
    let old_pid = gw.pid().unwrap();
    let fresh = within(30, group.restart("gw0", Duration::from_secs(3)))
        .await
        .unwrap();
    assert_eq!(fresh.id(), "gw0");
    assert_ne!(fresh.pid(), Some(old_pid));
    assert!(wait_gone(old_pid, 5).await);
    let ch = fresh
        .remote_exec("import os\nchannel.send(os.environ['EXECDECK_R'])")
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("kept"));
    assert_eq!(group.len(), 1);
    assert!(group.restart("nope", Duration::from_secs(1)).await.is_err());
    group.terminate(Duration::from_secs(5)).await;
}

/// Whether the test interpreter can import `module`.
fn python_imports(module: &str) -> bool {
    std::process::Command::new(python())
        .args(["-W", "ignore", "-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn gevent_execmodel_runs_channels_callbacks_and_terminates() {
    assert!(
        python_imports("gevent"),
        "{} cannot import gevent: scripts/venv.sh installs it",
        python()
    );
    let group = Group::new();
    let gw = within(20, group.makegateway(&popen("//execmodel=gevent")))
        .await
        .unwrap();
    assert_eq!(gw.remote_status(T).await.unwrap().execmodel, "gevent");
    // execnet's test_regression_gevent_hangs (no status in between)
    let ch = gw.remote_exec("channel.send(1234)").await.unwrap();
    let quick = Some(Duration::from_millis(500));
    assert_eq!(ch.receive(quick).await.unwrap(), Value::Int(1234));
    // receive with a timeout, on both sides
    let echo = gw
        .remote_exec(
            "try:\n    channel.receive(0.3)\nexcept channel.TimeoutError:\n    \
             channel.send('timed out')\nchannel.send(channel.receive() * 2)",
        )
        .await
        .unwrap();
    let early = echo.receive(Some(Duration::from_millis(50))).await;
    assert!(early.as_ref().is_err_and(|e| e.is_timeout()), "{early:?}");
    assert_eq!(echo.receive(T).await.unwrap(), s("timed out"));
    echo.send(21).await.unwrap();
    assert_eq!(echo.receive(T).await.unwrap(), Value::Int(42));
    // a callback gets what greenlets send, then the endmarker
    let cb = gw
        .remote_exec(
            "em = channel.gateway.execmodel\nfor i in range(3):\n    channel.send(i)\n    \
             em.sleep(0.01)",
        )
        .await
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    cb.set_callback(move |v| sink.lock().unwrap().push(v), Some(s("END")));
    within(20, async {
        while seen.lock().unwrap().last() != Some(&s("END")) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Value::Int(0), Value::Int(1), Value::Int(2), s("END")]
    );
    // terminate ends the worker although an execution waits forever
    let pid = gw.pid().unwrap();
    let _busy = gw.remote_exec("channel.receive()").await.unwrap();
    let started = std::time::Instant::now();
    group.terminate(Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(wait_gone(pid, 5).await);
}

#[tokio::test]
async fn unavailable_execmodel_is_a_clear_error_naming_it() {
    // python -S: no site-packages, so gevent cannot be imported
    let dir = tempfile::tempdir().unwrap();
    let nosite = dir.path().join("nosite-python");
    std::fs::write(&nosite, format!("#!/bin/sh\nexec {} -S \"$@\"\n", python())).unwrap();
    std::fs::set_permissions(&nosite, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = format!("popen//python={}//execmodel=gevent", nosite.display());
    let started = std::time::Instant::now();
    let err = within(20, Group::new().makegateway(&spec))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("execmodel 'gevent' is not available"),
        "{text}"
    );
    assert!(text.contains("No module named 'gevent'"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
