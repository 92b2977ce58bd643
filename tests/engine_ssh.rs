//! ssh gateways (`ssh=…`) against a real OpenSSH server on 127.0.0.1
//! (`tests/common/sshd.rs`): key authentication, the worker over an exec
//! channel, its stderr, and each way a start can fail, every wait bounded.

mod common;

use std::time::{Duration, Instant};

use common::sshd::{Agent, Sshd, keygen, user};
use common::*;
use execdeck::engine::{Error, EventKind, GroupOptions, Received};
use execdeck::transport::ConnectError;
use execdeck::wire::pyrepr::same_value;
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// The start error of `spec`, within 30 s.
async fn start_error(group: &Group, spec: &str) -> ConnectError {
    match within(30, group.makegateway(spec)).await {
        Err(Error::Connect(e)) => {
            // Shown when a test fails (and with --nocapture).
            eprintln!("{spec}\n  -> {e}");
            e
        }
        Err(other) => panic!("{spec}: expected a connect error, got {other}"),
        Ok(_) => panic!("{spec}: the gateway started"),
    }
}

#[tokio::test]
async fn key_auth_runs_code_and_moves_every_value() {
    let sshd = Sshd::start();
    let group = Group::new();
    let started = Instant::now();
    let gw = within(30, group.makegateway(&sshd.spec("")))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    eprintln!("ssh gateway ready in {:?}", started.elapsed());
    let ch = gw
        .remote_exec(
            "while 1:\n    x = channel.receive()\n    if x == 'stop': break\n    channel.send(x)",
        )
        .await
        .unwrap();
    for v in corpus() {
        ch.send(v.clone()).await.unwrap();
        let back = ch.receive(T).await.unwrap();
        assert!(same_value(&v, &back), "{v:?} came back as {back:?}");
    }
    ch.send(s("stop")).await.unwrap();
    ch.wait_close(T).await.unwrap();

    // A remote error carries the remote traceback.
    let ch = gw
        .remote_exec("raise ValueError('over ssh')")
        .await
        .unwrap();
    match ch.wait_close(T).await {
        Err(Error::Remote(r)) => assert!(r.summary().contains("over ssh"), "{}", r.summary()),
        other => panic!("expected a remote error, got {other:?}"),
    }
    let status = gw.remote_status(T).await.unwrap();
    assert_eq!(status.numexecuting, 0, "{status:?}");
    assert_eq!(
        gw.worker().address(),
        Some(format!("{}@127.0.0.1:{}", user(), sshd.port).as_str())
    );
    group.terminate(Duration::from_secs(5)).await;
}

/// An ssh spec for `sshd` with `options` before the destination (no key or
/// known_hosts file unless they say so, no ssh-agent unless they name one
/// first, no `~/.ssh/config`) and `python`.
fn spec_with(sshd: &Sshd, options: &str, python: &str) -> String {
    format!(
        "ssh=-p {} {options} -o IdentityAgent=none -F none {}@127.0.0.1//python={python}",
        sshd.port,
        user()
    )
}

/// The `SHA256:…` fingerprint `ssh-keygen -lf` prints for a public key line.
fn keygen_fingerprint(public_key_line: &str, dir: &std::path::Path) -> String {
    let file = dir.join("fp.pub");
    std::fs::write(&file, format!("{public_key_line}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn remote_print_and_fd1_output_reach_the_stderr_events() {
    let sshd = Sshd::start();
    let group = Group::new();
    let mut events = group.subscribe();
    let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
    let ch = gw
        .remote_exec(
            "import os, sys\nprint('printed line')\nos.write(1, b'raw fd1 line\\n')\n\
             sys.stderr.write('stderr line\\n'); sys.stderr.flush()\nchannel.send(1)",
        )
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(1));
    let mut lines: Vec<String> = Vec::new();
    let wanted = ["printed line", "raw fd1 line", "stderr line"];
    within(20, async {
        while !wanted.iter().all(|w| lines.iter().any(|l| l.contains(w))) {
            if let Some(Received::Event(ev)) = events.recv().await
                && let EventKind::Stderr { line } = ev.kind
            {
                assert_eq!(&*ev.gateway, "gw0");
                lines.push(line);
            }
        }
    })
    .await;
    assert!(gw.stderr_tail(10).iter().any(|l| l.contains("stderr line")));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_unknown_host_is_refused_with_its_fingerprint_then_accepted_with_accept_new() {
    let sshd = Sshd::start();
    let group = Group::new();
    let known_hosts = sshd.dir.path().join("fresh_known_hosts");
    let base = format!(
        "-i {} -o UserKnownHostsFile={}",
        sshd.user_key.display(),
        known_hosts.display()
    );
    let fingerprint = keygen_fingerprint(&sshd.host_public_key, sshd.dir.path());
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    let e = start_error(&group, &spec_with(&sshd, &base, &python())).await;
    match &e {
        ConnectError::SshHostKeyUnknown {
            key_type,
            fingerprint: fp,
            known_hosts: file,
            at,
            ..
        } => {
            assert_eq!(key_type, "ssh-ed25519");
            assert_eq!(fp, &fingerprint);
            assert_eq!(file, &known_hosts.display().to_string());
            assert_eq!(at.port, sshd.port);
        }
        other => panic!("expected SshHostKeyUnknown, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains(&fingerprint), "{text}");
    assert!(text.contains("StrictHostKeyChecking=accept-new"), "{text}");
    assert!(!known_hosts.exists(), "nothing is recorded on a refusal");

    let accept = format!("{base} -o StrictHostKeyChecking=accept-new");
    let gw = within(30, group.makegateway(&spec_with(&sshd, &accept, &python())))
        .await
        .unwrap();
    assert!(
        gw.warnings()
            .iter()
            .any(|w| w.contains("permanently added") && w.contains(&fingerprint)),
        "{:?}",
        gw.warnings()
    );
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        recorded.contains(&format!("[127.0.0.1]:{}", sshd.port))
            && recorded.contains(sshd.host_public_key.split_whitespace().nth(1).unwrap()),
        "{recorded}"
    );
    // Now known: the default policy lets it in.
    let again = within(30, group.makegateway(&spec_with(&sshd, &base, &python())))
        .await
        .unwrap();
    assert!(again.warnings().is_empty(), "{:?}", again.warnings());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_changed_host_key_is_refused_naming_the_file_and_line() {
    let sshd = Sshd::start();
    let group = Group::new();
    let (known_hosts, _) = sshd.known_hosts_with_another_key(&format!(
        "# a comment\nelsewhere.example {}\n",
        sshd.host_public_key
    ));
    // Even accept-new never takes a changed key.
    let options = format!(
        "-i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new",
        sshd.user_key.display(),
        known_hosts.display()
    );
    let e = start_error(&group, &spec_with(&sshd, &options, &python())).await;
    let fingerprint = keygen_fingerprint(&sshd.host_public_key, sshd.dir.path());
    match &e {
        ConnectError::SshHostKeyChanged {
            known_hosts: file,
            line,
            fingerprint: fp,
            ..
        } => {
            assert_eq!(file, &known_hosts.display().to_string());
            // The comment counts: the entry is the third line of the file.
            assert_eq!(*line, 3);
            assert_eq!(fp, &fingerprint);
        }
        other => panic!("expected SshHostKeyChanged, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("HAS CHANGED") && text.contains(&known_hosts.display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_refused_listing_what_was_tried() {
    let sshd = Sshd::start();
    let group = Group::new();
    let stranger = sshd.dir.path().join("stranger_key");
    keygen(&stranger, "ed25519");
    let missing = sshd.dir.path().join("no_such_key");
    let options = format!(
        "-i {} -i {} -o UserKnownHostsFile={}",
        missing.display(),
        stranger.display(),
        sshd.known_hosts.display()
    );
    let e = start_error(&group, &spec_with(&sshd, &options, &python())).await;
    match &e {
        ConnectError::SshAuthRefused {
            tried,
            server_methods,
            at,
            ..
        } => {
            assert!(
                tried
                    .iter()
                    .any(|t| t.contains("no_such_key") && t.contains("no such file")),
                "{tried:?}"
            );
            assert!(
                tried
                    .iter()
                    .any(|t| t.contains("stranger_key") && t.contains("refused")),
                "{tried:?}"
            );
            assert!(server_methods.contains("publickey"), "{server_methods}");
            assert_eq!(at.user, user());
        }
        other => panic!("expected SshAuthRefused, got {other:?}"),
    }
    assert!(e.to_string().contains("authentication"), "{e}");
}

#[tokio::test]
async fn a_missing_remote_python_is_reported_with_what_the_remote_printed() {
    let sshd = Sshd::start();
    let group = Group::new();
    let options = format!(
        "-i {} -o UserKnownHostsFile={}",
        sshd.user_key.display(),
        sshd.known_hosts.display()
    );
    let e = start_error(&group, &spec_with(&sshd, &options, "/nonexistent/python3")).await;
    match &e {
        ConnectError::SshRemoteExit { status, stderr, .. } => {
            assert_eq!(status, "exit status 127", "{e}");
            assert!(stderr.contains("/nonexistent/python3"), "{stderr}");
        }
        other => panic!("expected SshRemoteExit, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_and_unresolvable_hosts_are_named() {
    let group = Group::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = format!("ssh=-p {port} -o UserKnownHostsFile=/dev/null someone@127.0.0.1");
    let e = start_error(&group, &spec).await;
    assert!(matches!(e, ConnectError::SshRefused { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&format!("someone@127.0.0.1:{port}")),
        "{e}"
    );
    let e = start_error(
        &group,
        "ssh=-o UserKnownHostsFile=/dev/null nobody@no-such-host.invalid",
    )
    .await;
    assert!(
        matches!(
            e,
            ConnectError::SshHostNotFound { .. } | ConnectError::SshConnectTimeout { .. }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("nobody@no-such-host.invalid:22"),
        "{e}"
    );
}

#[tokio::test]
async fn killing_the_server_fails_a_pending_receive_promptly() {
    let mut sshd = Sshd::start();
    let group = Group::new();
    let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
    let ch = gw
        .remote_exec("import os\nchannel.send(os.getpid())\nchannel.receive()")
        .await
        .unwrap();
    let pid = match ch.receive(T).await.unwrap() {
        Value::Int(pid) => pid as u32,
        other => panic!("{other:?}"),
    };
    let waiting = tokio::spawn({
        let ch = ch.clone();
        async move {
            let started = Instant::now();
            let result = ch.receive(Some(Duration::from_secs(30))).await;
            (result, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sshd.kill_all();
    let (result, waited) = within(15, waiting).await.unwrap();
    let Err(e) = result else {
        panic!("the receive succeeded: {result:?}")
    };
    eprintln!("receive after the server died: {e}");
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{}", sshd.port)),
        "{e}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "the receive took {waited:?}"
    );
    assert!(
        wait_gone(pid, 10).await,
        "worker pid {pid} outlived its connection"
    );
}

#[tokio::test]
async fn terminate_leaves_no_worker_process() {
    let sshd = Sshd::start();
    let group = Group::new();
    let mut pids = Vec::new();
    for _ in 0..2 {
        let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
        let ch = gw
            .remote_exec("import os\nchannel.send(os.getpid())")
            .await
            .unwrap();
        match ch.receive(T).await.unwrap() {
            Value::Int(pid) => pids.push(pid as u32),
            other => panic!("{other:?}"),
        }
    }
    // One busy: terminate must still end it (the stop sends SIGKILL).
    let busy = group.gateways()[1].clone();
    busy.remote_exec("while 1: pass").await.unwrap();
    within(30, group.terminate(Duration::from_secs(3))).await;
    // The channel's exit status (or signal) is part of how the end is told.
    let end = busy.worker().describe_end(Duration::from_secs(1)).await;
    eprintln!("end of the busy worker: {end}");
    assert!(
        end.starts_with(&format!("ssh {}@127.0.0.1:{}", user(), sshd.port))
            && (end.contains("exit status") || end.contains("killed by signal")),
        "{end}"
    );
    for pid in pids {
        assert!(wait_gone(pid, 10).await, "worker pid {pid} still runs");
    }
    let left: Vec<u32> = sshd.descendants();
    let pythons: Vec<u32> = left
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.contains("python"))
        })
        .collect();
    assert!(
        pythons.is_empty(),
        "python processes left under sshd: {pythons:?}"
    );
}

#[tokio::test]
async fn chdir_env_and_unsupported_options() {
    let sshd = Sshd::start();
    let group = Group::new();
    let dir = sshd.dir.path().canonicalize().unwrap();
    let spec = sshd
        .spec(&format!(
            "//chdir={}//env:EXECDECK_SSH_TEST=yes",
            dir.display()
        ))
        .replacen("ssh=", "ssh=-4 -o ForwardAgent=no ", 1);
    let gw = within(30, group.makegateway(&spec)).await.unwrap();
    let ch = gw
        .remote_exec("import os\nchannel.send((os.getcwd(), os.environ.get('EXECDECK_SSH_TEST')))")
        .await
        .unwrap();
    assert_eq!(
        ch.receive(T).await.unwrap(),
        Value::Tuple(vec![s(&dir.display().to_string()), s("yes")])
    );
    let warned: Vec<&String> = gw
        .warnings()
        .iter()
        .filter(|w| w.contains("-4") && w.contains("-o ForwardAgent=no"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", gw.warnings());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn keys_of_an_ssh_agent_are_tried_first() {
    let sshd = Sshd::start();
    let agent = Agent::start();
    let group = Group::new();
    let options = format!(
        "-o IdentityAgent={} -o UserKnownHostsFile={}",
        agent.socket.display(),
        sshd.known_hosts.display()
    );
    // An agent without keys, and no identity file given: refused, saying so.
    let e = start_error(&group, &spec_with(&sshd, &options, &python())).await;
    match &e {
        ConnectError::SshAuthRefused { tried, .. } => {
            assert!(
                tried
                    .iter()
                    .any(|t| t.contains("ssh-agent at") && t.contains("no keys")),
                "{tried:?}"
            );
        }
        other => panic!("expected SshAuthRefused, got {other:?}"),
    }
    // A key the server does not know, then the right one.
    let stranger = sshd.dir.path().join("stranger_key");
    keygen(&stranger, "ed25519");
    agent.add(&stranger);
    agent.add(&sshd.user_key);
    let gw = within(
        30,
        group.makegateway(&spec_with(&sshd, &options, &python())),
    )
    .await
    .unwrap();
    let ch = gw
        .remote_exec("channel.send('via the agent')")
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("via the agent"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_host_alias_from_an_ssh_config_file() {
    let sshd = Sshd::start();
    let group = Group::new();
    let config = sshd.dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host other\n    HostName 192.0.2.1\n\n\
             Host testbox\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n\
             \x20   IdentityFile {key}\n    UserKnownHostsFile {kh}\n    IdentityAgent none\n\
             \x20   Compression yes\n",
            port = sshd.port,
            user = user(),
            key = sshd.user_key.display(),
            kh = sshd.known_hosts.display(),
        ),
    )
    .unwrap();
    let spec = format!(
        "ssh=testbox//ssh_config={}//python={}",
        config.display(),
        python()
    );
    let gw = within(30, group.makegateway(&spec))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    assert_eq!(
        gw.worker().address(),
        Some(format!("{}@127.0.0.1:{}", user(), sshd.port).as_str())
    );
    assert!(
        gw.warnings()
            .iter()
            .any(|w| w.contains("Compression yes (config file)")),
        "{:?}",
        gw.warnings()
    );
    let ch = gw.remote_exec("channel.send(6 * 7)").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    // A named config file that cannot be read is an error, not ignored.
    let e = start_error(&group, "ssh=testbox//ssh_config=/nonexistent/ssh_config").await;
    assert!(
        matches!(e, ConnectError::SshOptions { .. })
            && e.to_string().contains("/nonexistent/ssh_config"),
        "{e:?}"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn dropping_a_gateway_without_terminate_ends_its_worker() {
    let sshd = Sshd::start();
    let pid = {
        let group = Group::new();
        let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
        let ch = gw
            .remote_exec("import os\nchannel.send(os.getpid())")
            .await
            .unwrap();
        match ch.receive(T).await.unwrap() {
            Value::Int(pid) => pid as u32,
            other => panic!("{other:?}"),
        }
    };
    assert!(
        wait_gone(pid, 10).await,
        "worker pid {pid} outlived its dropped gateway"
    );
}

#[tokio::test]
async fn bulk_bytes_both_ways() {
    let sshd = Sshd::start();
    let group = Group::new();
    let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
    let ch = gw
        .remote_exec("x = channel.receive()\nchannel.send(x[::-1])")
        .await
        .unwrap();
    let data: Vec<u8> = (0..(16usize << 20)).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    ch.send(Value::Bytes(data.clone())).await.unwrap();
    let back = within(60, ch.receive(Some(Duration::from_secs(60))))
        .await
        .unwrap();
    let mut reversed = data;
    reversed.reverse();
    assert!(
        back == Value::Bytes(reversed),
        "the bytes came back changed"
    );
    eprintln!("16 MiB each way over ssh: {:?}", started.elapsed());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_server_that_never_speaks_ssh_is_a_bounded_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and keeps the connection open, silent.
    let keeper = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let group = Group::with_options(GroupOptions {
        startup_timeout: Duration::from_secs(1),
        ..GroupOptions::default()
    });
    let started = Instant::now();
    let e = start_error(
        &group,
        &format!("ssh=-p {port} -o UserKnownHostsFile=/dev/null -F none u@127.0.0.1"),
    )
    .await;
    assert!(matches!(e, ConnectError::SshConnectTimeout { .. }), "{e:?}");
    assert!(e.is_timeout());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(keeper.join());
}

#[tokio::test]
async fn keepalives_leave_a_healthy_idle_gateway_alone() {
    let sshd = Sshd::start();
    let group = Group::new();
    let spec = sshd.spec("").replacen(
        "ssh=",
        "ssh=-o ServerAliveInterval=1 -o ServerAliveCountMax=1 ",
        1,
    );
    let gw = within(30, group.makegateway(&spec)).await.unwrap();
    assert!(gw.warnings().is_empty(), "{:?}", gw.warnings());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let ch = gw.remote_exec("channel.send('still here')").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("still here"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_server_that_stops_answering_is_noticed_by_keepalives() {
    let sshd = Sshd::start();
    let group = Group::new();
    let spec = sshd.spec("").replacen(
        "ssh=",
        "ssh=-o ServerAliveInterval=1 -o ServerAliveCountMax=2 ",
        1,
    );
    let gw = within(30, group.makegateway(&spec)).await.unwrap();
    let ch = gw.remote_exec("channel.receive()").await.unwrap();
    // Freeze every sshd process of the connection: the TCP connection stays
    // open, nothing answers (a host that vanished without a word).
    for pid in sshd.descendants() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim().starts_with("sshd") {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGSTOP);
            }
        }
    }
    let started = Instant::now();
    let result = within(20, ch.receive(Some(Duration::from_secs(30)))).await;
    assert!(result.is_err(), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "noticed after {:?}",
        started.elapsed()
    );
    // Drop kills the frozen processes (SIGKILL works on stopped ones).
}

/// A kill sends SIGKILL over the channel, then closes it. OpenSSH refuses
/// signals for root logins ("session signalling requires privilege
/// separation"), as in the test container: then the close ends the worker,
/// busy as it is.
#[tokio::test]
async fn kill_ends_a_busy_remote_worker() {
    let sshd = Sshd::start();
    let group = Group::new();
    let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
    let ch = gw
        .remote_exec("import os\nchannel.send(os.getpid())\nwhile 1: pass")
        .await
        .unwrap();
    let pid = match ch.receive(T).await.unwrap() {
        Value::Int(pid) => pid as u32,
        other => panic!("{other:?}"),
    };
    gw.kill();
    assert!(within(10, gw.wait_exit(Duration::from_secs(5))).await);
    assert!(
        wait_gone(pid, 10).await,
        "worker pid {pid} survived the kill"
    );
    let end = gw.worker().describe_end(Duration::from_secs(1)).await;
    if user() != "root" {
        assert!(
            end.contains("killed by signal") && end.contains("SIGKILL"),
            "{end}\nsshd log:\n{}",
            sshd.log_text()
        );
    }
}

#[tokio::test]
async fn rsa_keys_sign_with_sha2_and_hashed_known_hosts_entries_match() {
    let sshd = Sshd::start();
    let group = Group::new();
    let rsa = sshd.dir.path().join("user_rsa");
    keygen(&rsa, "rsa");
    sshd.authorize(&rsa.with_extension("pub"));
    // known_hosts with hashed host names, as HashKnownHosts writes them.
    let hashed = sshd.dir.path().join("hashed_known_hosts");
    std::fs::copy(&sshd.known_hosts, &hashed).unwrap();
    let out = run_bounded(
        std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&hashed),
        None,
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&hashed).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let options = format!(
        "-i {} -o UserKnownHostsFile={}",
        rsa.display(),
        hashed.display()
    );
    let gw = within(
        30,
        group.makegateway(&spec_with(&sshd, &options, &python())),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    let ch = gw.remote_exec("channel.send('rsa')").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("rsa"));
    assert!(
        sshd.log_text().contains("Accepted publickey") && sshd.log_text().contains("RSA"),
        "{}",
        sshd.log_text()
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[test]
fn the_command_line_runs_code_over_ssh_and_reports_a_refused_host_key() {
    let sshd = Sshd::start();
    let exec = |spec: &str| {
        run_bounded(
            std::process::Command::new(env!("CARGO_BIN_EXE_execdeck")).args([
                "exec",
                "-g",
                spec,
                "-c",
                "import os; channel.send(os.getcwd() != '')",
            ]),
            None,
            Duration::from_secs(60),
        )
    };
    let out = exec(&sshd.spec(""));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "True\n");
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let spec = sshd.spec("").replace(
        &format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
        &format!("UserKnownHostsFile={}", empty.display()),
    );
    let out = exec(&spec);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is not known") && stderr.contains("SHA256:"),
        "{stderr}"
    );
    assert!(stderr.contains("--accept-new-host-keys"), "{stderr}");

    // --accept-new-host-keys accepts it and records it in that file.
    let out = run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_execdeck")).args([
            "exec",
            "--accept-new-host-keys",
            "-g",
            &spec,
            "-c",
            "channel.send(1)",
        ]),
        None,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(
        recorded.contains(&format!("[127.0.0.1]:{}", sshd.port)),
        "{recorded}"
    );
    // Recorded: the next start needs no flag.
    let out = exec(&spec);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `start_step` texts of gateway `gw` from `events`, until it is ready
/// or failed (within 30 s).
async fn start_steps(events: &mut execdeck::engine::Subscription, gw: &str) -> Vec<String> {
    let mut steps = Vec::new();
    within(30, async {
        loop {
            match events.recv().await {
                Some(Received::Event(ev)) if &*ev.gateway == gw => match ev.kind {
                    EventKind::StartStep { step } => steps.push(step),
                    EventKind::GatewayReady { .. } | EventKind::GatewayFailed { .. } => break,
                    _ => {}
                },
                Some(_) => {}
                None => panic!("the event stream ended"),
            }
        }
    })
    .await;
    steps
}

#[tokio::test]
async fn a_subscriber_sees_the_start_steps_in_order() {
    let sshd = Sshd::start();
    let group = Group::new();
    let mut events = group.subscribe_lifecycle();
    let gw = within(30, group.makegateway(&sshd.spec(""))).await.unwrap();
    let steps = start_steps(&mut events, "gw0").await;
    assert_eq!(
        steps,
        [
            "resolving 127.0.0.1".to_owned(),
            format!("connecting to 127.0.0.1:{}", sshd.port),
            "host key checked".to_owned(),
            format!(
                "authenticated as {} with publickey {}",
                user(),
                sshd.user_key.display()
            ),
            format!("{} started", python()),
            "handshake done".to_owned(),
        ]
    );
    drop(gw);
    // A failed start stops at the step that failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bad = format!("ssh=-p {port} -o UserKnownHostsFile=/dev/null someone@127.0.0.1");
    let _ = start_error(&group, &bad).await;
    let steps = start_steps(&mut events, "gw1").await;
    assert_eq!(
        steps.last().map(String::as_str),
        Some(format!("connecting to 127.0.0.1:{port}").as_str()),
        "{steps:?}"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn thirty_two_gateways_start_at_once_and_a_refused_one_fails_alone() {
    const N: usize = 32;
    let sshd = Sshd::start();
    let group = Group::new();
    let mut events = group.subscribe_lifecycle();
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut specs: Vec<String> = (0..N).map(|_| sshd.spec("")).collect();
    // The bad one in the middle, with its own id.
    specs.insert(
        N / 2,
        format!("ssh=-p {refused_port} -o UserKnownHostsFile=/dev/null someone@127.0.0.1//id=bad"),
    );
    let started = Instant::now();
    let results = within(90, group.makegateways(&specs)).await;
    eprintln!(
        "{N} ssh gateways (and a refused one) in {:?}",
        started.elapsed()
    );
    let mut gateways = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(gw) => gateways.push(gw),
            Err(Error::Connect(ConnectError::SshRefused { at, .. })) if i == N / 2 => {
                assert_eq!(at.port, refused_port);
            }
            Err(e) => panic!("gateway {i} failed: {e}\nsshd log:\n{}", sshd.log_text()),
        }
    }
    assert_eq!(gateways.len(), N);
    assert!(group.get("bad").is_none());
    // Each runs code, in a worker of its own.
    let mut pids = std::collections::HashSet::new();
    for gw in &gateways {
        let ch = gw
            .remote_exec("import os; channel.send(os.getpid())")
            .await
            .unwrap();
        match ch.receive(T).await.unwrap() {
            Value::Int(pid) => assert!(pids.insert(pid), "pid {pid} twice"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pids.len(), N);
    // They started concurrently: every gateway was connecting before the
    // first handshake was done (one after the other, gw0 would have been
    // done before gw1 connected).
    let mut connecting = std::collections::HashSet::new();
    let mut ended = 0;
    let mut first_done_after = None;
    within(30, async {
        while ended < N + 1 {
            let Some(Received::Event(ev)) = events.recv().await else {
                continue;
            };
            match ev.kind {
                EventKind::StartStep { step } if step.starts_with("connecting to") => {
                    connecting.insert(ev.gateway.to_string());
                }
                EventKind::StartStep { step } if step == "handshake done" => {
                    first_done_after.get_or_insert(connecting.len());
                }
                EventKind::GatewayReady { .. } | EventKind::GatewayFailed { .. } => ended += 1,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(connecting.len(), N + 1);
    assert_eq!(first_done_after, Some(N + 1));
    group.terminate(Duration::from_secs(10)).await;
}

#[test]
fn a_trace_file_holds_the_start_steps() {
    let sshd = Sshd::start();
    let trace = sshd.dir.path().join("start.trace");
    let out = run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_execdeck"))
            .args(["exec", "--trace-file"])
            .arg(&trace)
            .args(["-g", &sshd.spec(""), "-c", "channel.send(1)"]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_execdeck"))
            .arg("trace")
            .arg(&trace),
        None,
        Duration::from_secs(20),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let wanted = [
        "resolving 127.0.0.1".to_owned(),
        format!("connecting to 127.0.0.1:{}", sshd.port),
        "host key checked".to_owned(),
        format!("authenticated as {}", user()),
        "handshake done".to_owned(),
    ];
    let mut at = 0;
    for want in &wanted {
        let Some(found) = table[at..].find(want.as_str()) else {
            panic!("{want:?} missing (or out of order) in:\n{table}");
        };
        at += found + want.len();
    }
    assert!(table.contains("start_step"), "{table}");
}

/// An `ssh_client=openssh` spec for `sshd` with its key and `known_hosts`,
/// never prompting.
fn openssh_spec(sshd: &Sshd, known_hosts: &std::path::Path) -> String {
    format!(
        "ssh=-F none -p {port} -i {key} -o UserKnownHostsFile={kh} -o BatchMode=yes \
         -o IdentitiesOnly=yes -o IdentityAgent=none {user}@127.0.0.1//python={py}\
         //ssh_client=openssh",
        port = sshd.port,
        key = sshd.user_key.display(),
        kh = known_hosts.display(),
        user = user(),
        py = python(),
    )
}

#[tokio::test]
async fn the_openssh_client_runs_code_and_reports_a_refused_host_key() {
    let sshd = Sshd::start();
    let group = Group::new();
    let mut events = group.subscribe_lifecycle();
    let gw = within(
        30,
        group.makegateway(&openssh_spec(&sshd, &sshd.known_hosts)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    // The local process is the ssh client; the worker runs under sshd.
    let client = gw.pid().expect("a local ssh process");
    let comm = std::fs::read_to_string(format!("/proc/{client}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "ssh");
    let ch = gw
        .remote_exec("import os; channel.send(os.getpid())")
        .await
        .unwrap();
    let Value::Int(worker) = ch.receive(T).await.unwrap() else {
        panic!("no pid")
    };
    let worker = u32::try_from(worker).unwrap();
    assert!(sshd.descendants().contains(&worker), "{worker}");
    let steps = start_steps(&mut events, "gw0").await;
    assert_eq!(
        steps,
        [
            format!("spawned ssh pid {client}"),
            "handshake done".to_owned()
        ]
    );
    group.terminate(Duration::from_secs(5)).await;
    assert!(
        wait_gone(worker, 10).await,
        "worker {worker} outlived terminate"
    );

    // Killing the ssh client ends the remote worker too (its stdin closes).
    let gw = within(
        30,
        group.makegateway(&openssh_spec(&sshd, &sshd.known_hosts)),
    )
    .await
    .unwrap();
    let ch = gw
        .remote_exec("import os; channel.send(os.getpid())")
        .await
        .unwrap();
    let Value::Int(worker) = ch.receive(T).await.unwrap() else {
        panic!("no pid")
    };
    gw.kill();
    let worker = u32::try_from(worker).unwrap();
    assert!(wait_gone(worker, 10).await, "worker {worker} outlived kill");

    // BatchMode: an unknown host key fails at once, quoting ssh.
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = start_error(&group, &openssh_spec(&sshd, &empty)).await;
    match &e {
        ConnectError::DiedDuringStartup { stderr, status, .. } => {
            assert!(stderr.contains("Host key verification failed"), "{stderr}");
            assert!(status.contains("255"), "{status}");
        }
        other => panic!("expected DiedDuringStartup, got {other:?}"),
    }
}

#[tokio::test]
async fn a_popen_gateway_via_an_ssh_gateway_runs_on_the_ssh_host() {
    let sshd = Sshd::start();
    let group = Group::new();
    let specs = [
        sshd.spec(""),
        format!("popen//via=gw0//python={}", python()),
    ];
    let mut gateways = Vec::new();
    for result in within(60, group.makegateways(&specs)).await {
        gateways.push(result.unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text())));
    }
    let pid = |gw: &execdeck::Gateway, code: &'static str| {
        let gw = gw.clone();
        async move {
            let ch = gw.remote_exec(code).await.unwrap();
            match ch.receive(T).await.unwrap() {
                Value::Int(n) => n,
                other => panic!("{other:?}"),
            }
        }
    };
    let ssh_worker = pid(&gateways[0], "import os; channel.send(os.getpid())").await;
    let parent = pid(&gateways[1], "import os; channel.send(os.getppid())").await;
    assert_eq!(parent, ssh_worker);
    assert_eq!(gateways[1].address(), Some("via gw0"));
    let proxied = pid(&gateways[1], "import os; channel.send(os.getpid())").await;
    group.terminate(Duration::from_secs(5)).await;
    assert!(wait_gone(u32::try_from(proxied).unwrap(), 10).await);

    // A socket server installed through an ssh gateway would listen on the
    // remote host's loopback: refused, saying so.
    let group = Group::new();
    let specs = [sshd.spec(""), "socket//installvia=gw0".to_owned()];
    let results = within(60, group.makegateways(&specs)).await;
    assert!(results[0].is_ok());
    match &results[1] {
        Err(Error::Connect(e @ ConnectError::Via { .. })) => {
            assert!(e.to_string().contains("local"), "{e}");
        }
        Err(other) => panic!("expected a via error, got {other}"),
        Ok(_) => panic!("installvia through ssh started"),
    }
    group.terminate(Duration::from_secs(5)).await;
}
