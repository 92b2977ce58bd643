//! ssh gateways against real OpenSSH servers (`tests/common/sshd.rs`):
//! encrypted keys and passwords answered by a prompter (or refused without
//! one), and jump hosts (`-J`, `ProxyJump`) through a second sshd.

mod common;

use std::process::Command;
use std::time::Duration;

use common::sshd::{Sshd, TempUser, keygen_with, user};
use common::*;
use execdeck::engine::{Error, GroupOptions};
use execdeck::transport::{ConnectError, FixedAnswers, SharedPrompter};
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// The start error of `spec`, within 30 s.
async fn start_error(group: &Group, spec: &str) -> ConnectError {
    match within(30, group.makegateway(spec)).await {
        Err(Error::Connect(e)) => {
            eprintln!("{spec}\n  -> {e}");
            e
        }
        Err(other) => panic!("{spec}: expected a connect error, got {other}"),
        Ok(_) => panic!("{spec}: the gateway started"),
    }
}

/// A group whose prompts are answered with `answers`.
fn answering(answers: FixedAnswers) -> Group {
    Group::with_options(GroupOptions {
        prompter: Some(SharedPrompter::new(answers)),
        ..GroupOptions::default()
    })
}

/// What was tried, from an authentication refusal.
fn tried(e: &ConnectError) -> &[String] {
    match e {
        ConnectError::SshAuthRefused { tried, .. } => tried,
        other => panic!("expected SshAuthRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn an_encrypted_key_is_unlocked_by_the_prompter_and_named_without_one() {
    let sshd = Sshd::start();
    let key = sshd.dir.path().join("locked_ed25519");
    keygen_with(&key, "ed25519", "pass phrase");
    sshd.authorize(&key.with_extension("pub"));
    let spec = sshd.spec_with_key(&key, "");

    let group = answering(FixedAnswers {
        passphrase: Some("pass phrase".into()),
        password: None,
    });
    let gw = within(30, group.makegateway(&spec))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    let ch = gw.remote_exec("channel.send(6 * 7)").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    group.terminate(Duration::from_secs(5)).await;

    // Nobody to ask: the key is named, with what to do.
    let e = start_error(&Group::new(), &spec).await;
    let shown = key.display().to_string();
    assert!(
        tried(&e)
            .iter()
            .any(|t| t.contains(&shown) && t.contains("encrypted") && t.contains("ssh-agent")),
        "{e}"
    );
    assert!(e.to_string().contains("no terminal to ask"), "{e}");

    // A wrong passphrase.
    let wrong = answering(FixedAnswers {
        passphrase: Some("not it".into()),
        password: None,
    });
    let e = start_error(&wrong, &spec).await;
    assert!(
        tried(&e)
            .iter()
            .any(|t| t.contains(&shown) && t.contains("wrong passphrase")),
        "{e}"
    );

    // BatchMode forbids prompts even with a prompter.
    let batch = spec.replace("-F none", "-F none -o BatchMode=yes");
    let e = start_error(&group, &batch).await;
    assert!(e.to_string().contains("BatchMode"), "{e}");
}

#[tokio::test]
async fn password_authentication_needs_a_prompter() {
    // The suite runs as root (scripts/test.sh, CI): a test user must be possible.
    let account = TempUser::create("xdpw", "s3cret word");
    let (sshd, spec) = account.sshd_and_spec();
    let group = answering(FixedAnswers {
        passphrase: None,
        password: Some("s3cret word".into()),
    });
    let e = start_error(&group, &spec).await;
    assert!(
        matches!(e, ConnectError::SshRemoteExit { .. }),
        "expected the login to work and `true` to end: {e}\nsshd log:\n{}",
        sshd.log_text()
    );

    let e = start_error(&Group::new(), &spec).await;
    assert!(
        tried(&e)
            .iter()
            .any(|t| t.starts_with("password") && t.contains("no terminal")),
        "{e}"
    );
    assert!(e.to_string().contains(&account.name), "{e}");
    assert!(e.to_string().contains("password"), "{e}");

    let wrong = answering(FixedAnswers {
        passphrase: None,
        password: Some("guess".into()),
    });
    let e = start_error(&wrong, &spec).await;
    assert!(
        tried(&e)
            .iter()
            .any(|t| t.starts_with("password") && t.contains("refused")),
        "{e}"
    );
    // -o PasswordAuthentication=no: not even offered.
    let off = spec.replace("-F none", "-F none -o PasswordAuthentication=no");
    let e = start_error(&group, &off).await;
    assert!(!tried(&e).iter().any(|t| t.starts_with("password")), "{e}");
}

/// A known_hosts file that knows every server in `servers`.
fn known_hosts_of(servers: &[&Sshd], dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("known_hosts_all");
    let text: String = servers
        .iter()
        .map(|s| format!("[127.0.0.1]:{} {}\n", s.port, s.host_public_key))
        .collect();
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test]
async fn a_jump_host_forwards_to_the_target_and_names_itself_when_it_fails() {
    let target = Sshd::start();
    let jump = Sshd::start_with(&format!(
        "AllowTcpForwarding yes\nPermitOpen 127.0.0.1:{}\n",
        target.port
    ));
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = known_hosts_of(&[&target, &jump], dir.path());
    let spec = |jump_option: &str, target_port: u16, keys: &str| {
        format!(
            "ssh={jump_option} -p {target_port} {keys} -o UserKnownHostsFile={kh} \
             -o IdentityAgent=none -F none {user}@127.0.0.1//python={py}",
            kh = known_hosts.display(),
            user = user(),
            py = python()
        )
    };
    let both_keys = format!(
        "-i {} -i {}",
        target.user_key.display(),
        jump.user_key.display()
    );
    let group = Group::new();
    let via_j = spec(
        &format!("-J {}@127.0.0.1:{}", user(), jump.port),
        target.port,
        &both_keys,
    );
    let gw = within(30, group.makegateway(&via_j))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\njump log:\n{}\ntarget log:\n{}",
                jump.log_text(),
                target.log_text()
            )
        });
    let ch = gw.remote_exec("channel.send(6 * 7)").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    assert_eq!(
        gw.worker().address(),
        Some(format!("{}@127.0.0.1:{}", user(), target.port).as_str())
    );
    assert!(
        jump.log_text().contains("Accepted publickey"),
        "the jump host saw no login:\n{}",
        jump.log_text()
    );
    group.terminate(Duration::from_secs(5)).await;

    // The jump host only forwards to the target: a jump to any other port
    // fails there (so the bytes do go through it), naming the jump host.
    let elsewhere = spec(
        &format!("-o ProxyJump=127.0.0.1:{}", jump.port),
        jump.port,
        &both_keys,
    );
    let e = start_error(&group, &elsewhere).await;
    match &e {
        ConnectError::SshSession { spec, at, message } => {
            assert!(spec.contains("jump host 1 of 1"), "{e}");
            assert_eq!(at.port, jump.port, "{e}");
            assert!(message.contains("did not open a connection"), "{e}");
        }
        other => panic!("expected SshSession naming the jump host, got {other:?}"),
    }

    // The jump host refuses the key: the error is about the jump host.
    let e = start_error(
        &group,
        &spec(
            &format!("-J 127.0.0.1:{}", jump.port),
            target.port,
            &format!("-i {}", target.user_key.display()),
        ),
    )
    .await;
    match &e {
        ConnectError::SshAuthRefused { spec, at, .. } => {
            assert!(spec.contains("jump host 1 of 1"), "{e}");
            assert_eq!(at.port, jump.port, "{e}");
        }
        other => panic!("expected SshAuthRefused on the jump host, got {other:?}"),
    }
}

#[tokio::test]
async fn proxy_jump_from_a_config_file_with_the_hop_s_own_section() {
    let target = Sshd::start();
    let jump = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = known_hosts_of(&[&target, &jump], dir.path());
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host box\n    HostName 127.0.0.1\n    Port {tp}\n    ProxyJump gate\n\
             \x20   IdentityFile {tk}\n\n\
             Host gate\n    HostName 127.0.0.1\n    Port {jp}\n    IdentityFile {jk}\n\n\
             Host *\n    User {user}\n    UserKnownHostsFile {kh}\n    IdentityAgent none\n",
            tp = target.port,
            jp = jump.port,
            tk = target.user_key.display(),
            jk = jump.user_key.display(),
            user = user(),
            kh = known_hosts.display(),
        ),
    )
    .unwrap();
    let group = Group::new();
    let spec = format!(
        "ssh=box//ssh_config={}//python={}",
        config.display(),
        python()
    );
    let gw = within(30, group.makegateway(&spec))
        .await
        .unwrap_or_else(|e| panic!("{e}\njump log:\n{}", jump.log_text()));
    let ch = gw.remote_exec("channel.send(6 * 7)").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    assert!(
        jump.log_text().contains("Accepted publickey"),
        "{}",
        jump.log_text()
    );
    group.terminate(Duration::from_secs(5)).await;
}

/// Runs `command` in a detached tmux session (a real terminal); the
/// session is killed when dropped.
struct Terminal {
    session: String,
}

impl Terminal {
    fn start(command: &str) -> Terminal {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("execdeck-auth-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "40"])
            .arg(command)
            .status()
            .expect("tmux is needed for this test (scripts/test.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Terminal { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` and Enter.
    fn answer(&self, text: &str) {
        for keys in [&["-l", text][..], &["Enter"][..]] {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.session])
                .args(keys)
                .status()
                .expect("tmux send-keys");
            assert!(status.success());
        }
    }

    /// Waits until the screen shows `needle` `times` times, at most 30 s.
    fn wait_for(&self, needle: &str, times: usize) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= times {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{needle:?} never appeared {times} times; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn the_command_line_asks_for_a_passphrase_on_the_terminal_and_names_the_key_without_one() {
    let sshd = Sshd::start();
    let key = sshd.dir.path().join("locked_ed25519");
    keygen_with(&key, "ed25519", "open sesame");
    sshd.authorize(&key.with_extension("pub"));
    let spec = sshd.spec_with_key(&key, "");
    let exe = env!("CARGO_BIN_EXE_execdeck");
    // No terminal: the key is named, with what to do.
    let out = run_bounded(
        Command::new(exe).args(["exec", "-g", &spec, "-c", "channel.send(6 * 7)"]),
        None,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&key.display().to_string())
            && stderr.contains("encrypted, and no terminal to ask for its passphrase")
            && stderr.contains("ssh-agent"),
        "{stderr}"
    );

    // A terminal: asked, a wrong answer asked again, then the right one.
    let terminal = Terminal::start(&format!(
        "{exe} exec -g '{spec}' -c 'channel.send(6 * 7)'; echo exit=$?; sleep 60"
    ));
    terminal.wait_for("passphrase for key", 1);
    terminal.answer("not it");
    terminal.wait_for("wrong passphrase; passphrase for key", 1);
    terminal.answer("open sesame");
    let screen = terminal.wait_for("exit=", 1);
    assert!(screen.contains("42\nexit=0"), "{screen}");
    assert!(!screen.contains("open sesame"), "echoed: {screen}");
    drop(terminal);

    // Ctrl-C at the prompt interrupts the program and leaves the terminal
    // as it was (echo on).
    let terminal = Terminal::start(&format!(
        "{exe} exec -g '{spec}' -c 'channel.send(6 * 7)'; echo exit=$?; \
         stty -a | tr ' ' '\\n' | grep -x -- '-*echo' | sed 's/^/stty:/'; sleep 60"
    ));
    terminal.wait_for("passphrase for key", 1);
    let status = Command::new("tmux")
        .args(["send-keys", "-t", &terminal.session, "C-c"])
        .status()
        .expect("tmux send-keys");
    assert!(status.success());
    let screen = terminal.wait_for("stty:", 1);
    assert!(screen.contains("exit=130"), "{screen}");
    assert!(screen.contains("stty:echo\n"), "{screen}");
    drop(terminal);

    // --timeout passing while the prompt waits: the command ends, and the
    // terminal has its echo back.
    let terminal = Terminal::start(&format!(
        "{exe} exec --timeout 2 -g '{spec}' -c 'channel.send(6 * 7)'; echo exit=$?; \
         stty -a | tr ' ' '\\n' | grep -x -- '-*echo' | sed 's/^/stty:/'; sleep 60"
    ));
    terminal.wait_for("passphrase for key", 1);
    let screen = terminal.wait_for("stty:", 1);
    assert!(screen.contains("exit=3"), "{screen}");
    assert!(screen.contains("stty:echo\n"), "{screen}");
}
