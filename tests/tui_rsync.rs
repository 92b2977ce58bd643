//! The rsync screen and the ssh question dialogs driven through `App` with
//! key events on a `TestBackend`, against real popen gateways and a real
//! OpenSSH server (`tests/common/sshd.rs`). Every wait is bounded (only to
//! guard against hangs) and asserts on what the frame shows or on files.

mod common;

use std::path::Path;
use std::time::Duration;

use common::popen;
use common::sshd::{Sshd, TempUser, keygen_with, user};
use common::tui::Tui;
use crossterm::event::KeyCode;
use execdeck::Group;
use execdeck::engine::GroupOptions;
use execdeck::transport::SharedPrompter;
use execdeck::tui::app::App;
use execdeck::tui::theme::Theme;

/// Starts the app with gateways for `specs` and `[keys]` overrides,
/// its group asking ssh questions through the TUI's prompter.
fn start(specs: &[String], overrides: &[(&str, &str)]) -> Tui {
    let (prompter, prompts) = execdeck::tui::prompt::channel();
    let group = Group::with_options(GroupOptions {
        prompter: Some(SharedPrompter::new(prompter)),
        ..GroupOptions::default()
    });
    let overrides = overrides
        .iter()
        .map(|(action, key)| (action.to_string(), vec![key.to_string()]))
        .collect();
    let mut problems = Vec::new();
    let app = App::new(group, Theme::fallback(true), Duration::from_millis(200))
        .with_key_overrides(&overrides, &mut problems)
        .with_mouse(false)
        .with_prompts(prompts);
    assert_eq!(problems, Vec::<String>::new());
    app.start_gateways(specs.to_vec());
    Tui::run(app)
}

/// A small tree: two files to send, one the exclude leaves out.
fn small_tree(root: &Path) -> std::path::PathBuf {
    let src = root.join("tree_src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "beta ".repeat(5000)).unwrap();
    std::fs::write(src.join("skip.pyc"), "compiled").unwrap();
    src
}

#[tokio::test]
async fn an_rsync_job_from_the_form_reaches_two_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_tree(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for d in [&one, &two] {
        std::fs::create_dir_all(d).unwrap();
    }
    let tui = start(
        &[
            popen(&format!("//chdir={}", one.display())),
            popen(&format!("//chdir={}", two.display())),
        ],
        &[],
    );
    tui.wait_for("● gw0 popen").await;
    tui.wait_for("● gw1 popen").await;
    tui.key(KeyCode::F(8));
    tui.wait_for("New rsync job").await;
    // Enter on an empty form says what is missing.
    tui.key(KeyCode::Enter);
    tui.wait_for("type the source directory").await;
    // Tab completes the source.
    tui.type_text(&format!("{}/tree_s", dir.path().display()));
    tui.key(KeyCode::Tab);
    tui.wait_for("tree_src/▏").await;
    // Both gateways as targets.
    for _ in 0..2 {
        tui.key(KeyCode::Down);
        tui.key(KeyCode::Char(' '));
    }
    tui.wait_for("[x] gw0").await;
    tui.wait_for("[x] gw1").await;
    tui.key(KeyCode::Down);
    tui.type_text("copy");
    tui.key(KeyCode::Down);
    tui.type_text("*.pyc, .nothing");
    tui.key(KeyCode::Enter);
    let screen = tui
        .wait_until("both targets to end", |s| {
            s.contains("gw0 → copy: 2 of 2 files sent")
                && s.contains("gw1 → copy: 2 of 2 files sent")
        })
        .await;
    tui.wait_for("#1 ✓").await;
    assert!(screen.contains("exclude *.pyc .nothing"), "{screen}");
    for d in [&one, &two] {
        let copy = d.join("copy");
        assert_eq!(
            std::fs::read_to_string(copy.join("a.txt")).unwrap(),
            "alpha\n"
        );
        assert_eq!(
            std::fs::read(copy.join("sub/b.txt")).unwrap().len(),
            "beta ".len() * 5000
        );
        assert!(!copy.join("skip.pyc").exists(), "excluded");
    }
    // A second job (a dry run) is listed under the first; PgUp shows the first.
    tui.key(KeyCode::Down);
    tui.key(KeyCode::Down);
    tui.key(KeyCode::Down);
    tui.key(KeyCode::Char(' '));
    tui.wait_for("dry run [x] write nothing").await;
    std::fs::write(src.join("a.txt"), "changed\n").unwrap();
    tui.key(KeyCode::Enter);
    tui.wait_until("the dry run to end", |s| {
        s.contains("gw0 → copy: 1 of 2 files would send") && s.contains("#2 ✓")
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(one.join("copy/a.txt")).unwrap(),
        "alpha\n",
        "a dry run writes nothing"
    );
    tui.key(KeyCode::PageUp);
    tui.wait_for("gw1 → copy: 2 of 2 files sent").await;
    // Nothing runs: cancel says so. F8 goes back to the gateways.
    tui.ctrl('x');
    tui.wait_for("no rsync job is running").await;
    tui.key(KeyCode::F(8));
    tui.wait_for("● gw0 popen").await;
    tui.quit().await;
}

/// An ssh spec for `sshd` logging in with `key`, checking host keys
/// against `known_hosts`.
fn ssh_spec(sshd: &Sshd, key: &Path, known_hosts: &Path) -> String {
    format!(
        "ssh=-p {} -i {} -o UserKnownHostsFile={} -o IdentityAgent=none -F none \
         {}@127.0.0.1//python={}",
        sshd.port,
        key.display(),
        known_hosts.display(),
        user(),
        common::python()
    )
}

/// Adds a gateway through the add dialog (`a` in the gateway list).
fn add_gateway(tui: &Tui, spec: &str) {
    tui.key(KeyCode::Esc);
    tui.key(KeyCode::Char('a'));
    tui.type_text(spec);
    tui.key(KeyCode::Enter);
}

#[tokio::test]
async fn an_unknown_host_key_is_answered_in_a_dialog() {
    let sshd = Sshd::start();
    let recorded = sshd.dir.path().join("recorded_known_hosts");
    let once = sshd.dir.path().join("once_known_hosts");
    let refused = sshd.dir.path().join("refused_known_hosts");
    let key_b64 = sshd.host_public_key.split_whitespace().nth(1).unwrap();
    let tui = start(&[], &[]);
    // Accept and record.
    add_gateway(&tui, &ssh_spec(&sshd, &sshd.user_key, &recorded));
    let screen = tui.wait_for("Unknown host key").await;
    assert!(screen.contains("SHA256:"), "{screen}");
    assert!(screen.contains("ssh-ed25519"), "{screen}");
    assert!(
        screen.contains("y accept once") && screen.contains("a accept and record"),
        "{screen}"
    );
    // The start waits at its host key step, which its row shows.
    assert!(
        screen.contains("◌ gw0 ssh connecting to 127.0.0.1:")
            && screen.contains("step connecting to"),
        "{screen}"
    );
    tui.key(KeyCode::Char('a'));
    tui.wait_for("● gw0 ssh").await;
    let text = std::fs::read_to_string(&recorded).unwrap();
    assert!(text.contains(key_b64), "{text}");
    // Accept once: nothing recorded.
    add_gateway(&tui, &ssh_spec(&sshd, &sshd.user_key, &once));
    tui.wait_for("Unknown host key").await;
    tui.key(KeyCode::Char('y'));
    tui.wait_for("● gw1 ssh").await;
    assert!(!once.exists());
    // Refuse: the start fails with the explanation.
    add_gateway(&tui, &ssh_spec(&sshd, &sshd.user_key, &refused));
    tui.wait_for("Unknown host key").await;
    tui.key(KeyCode::Esc);
    tui.wait_for("✗ gw2 ssh").await;
    assert!(!refused.exists());
    tui.quit().await;
}

#[tokio::test]
async fn a_changed_host_key_is_explained_and_refused() {
    let sshd = Sshd::start();
    let (known_hosts, other_key) = sshd.known_hosts_with_another_key("");
    let tui = start(&[ssh_spec(&sshd, &sshd.user_key, &known_hosts)], &[]);
    let screen = tui.wait_for("Host key changed: refused").await;
    assert!(screen.contains("HAS CHANGED"), "{screen}");
    assert!(screen.contains("nothing to accept"), "{screen}");
    tui.wait_for("✗ gw0 ssh").await;
    tui.key(KeyCode::Char('y'));
    tui.wait_until("the notice to close", |s| !s.contains("HAS CHANGED"))
        .await;
    let kept = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(kept.contains(other_key.as_str()), "{kept}");
    tui.quit().await;
}

#[tokio::test]
async fn a_key_passphrase_is_asked_masked_and_a_wrong_one_again() {
    let sshd = Sshd::start();
    let key = sshd.dir.path().join("locked_key");
    keygen_with(&key, "ed25519", "s3cret words");
    sshd.authorize(&key.with_extension("pub"));
    let tui = start(&[ssh_spec(&sshd, &key, &sshd.known_hosts)], &[]);
    tui.wait_for("Key passphrase").await;
    tui.type_text("nope");
    let screen = tui.wait_for("> ••••▏").await;
    assert!(!screen.contains("nope"), "{screen}");
    tui.key(KeyCode::Enter);
    tui.wait_for("That did not work (try 2)").await;
    tui.type_text("s3cret words");
    let screen = tui.wait_for(&format!("> {}▏", "•".repeat(12))).await;
    assert!(!screen.contains("s3cret"), "{screen}");
    tui.key(KeyCode::Enter);
    tui.wait_for("● gw0 ssh").await;
    tui.quit().await;
}

#[tokio::test]
async fn a_running_rsync_job_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    small_tree(dir.path());
    // A worker whose only thread is busy: the job waits for its receiver.
    let tui = start(
        &[popen(&format!(
            "//execmodel=main_thread_only//chdir={}",
            dir.path().display()
        ))],
        &[],
    );
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('n');
    tui.type_text("import time\ntime.sleep(60)");
    tui.ctrl('r');
    tui.wait_for("── run 1 on gw0 running").await;
    tui.key(KeyCode::F(8));
    tui.wait_for("New rsync job").await;
    tui.type_text(&format!("{}/tree_src", dir.path().display()));
    tui.key(KeyCode::Down);
    tui.key(KeyCode::Char(' '));
    tui.key(KeyCode::Down);
    tui.type_text("copy");
    tui.key(KeyCode::Enter);
    tui.wait_for("#1 … ").await;
    // A second job waits for the first.
    tui.key(KeyCode::Enter);
    tui.wait_for("rsync job 1 is still running").await;
    tui.ctrl('x');
    let screen = tui
        .wait_until("the job to end cancelled", |s| {
            s.contains("gw0 → copy: FAILED: cancelled") && s.contains("#1 ✗")
        })
        .await;
    assert!(!screen.contains("#2"), "{screen}");
    assert!(!dir.path().join("copy/a.txt").exists(), "{screen}");
    tui.ctrl('q');
    tui.wait_for(" Quit? ").await;
    tui.key(KeyCode::Char('y'));
    tui.finished().await.expect("the app ends cleanly");
}

#[tokio::test]
async fn questions_of_two_starts_come_one_at_a_time_and_nothing_else_waits() {
    let sshd = Sshd::start();
    let first = sshd.dir.path().join("first_known_hosts");
    let second = sshd.dir.path().join("second_known_hosts");
    let tui = start(
        &[
            ssh_spec(&sshd, &sshd.user_key, &first),
            ssh_spec(&sshd, &sshd.user_key, &second),
            popen(""),
        ],
        &[],
    );
    let screen = tui.wait_for("Unknown host key").await;
    // The popen gateway came up while the question was open.
    let screen = if screen.contains("● gw2 popen") {
        screen
    } else {
        tui.wait_for("● gw2 popen").await
    };
    assert!(screen.contains("Unknown host key"), "{screen}");
    let known = |s: &str| {
        ["● gw0 ssh", "● gw1 ssh"]
            .iter()
            .filter(|g| s.contains(*g))
            .count()
    };
    assert_eq!(known(&screen), 0, "{screen}");
    tui.key(KeyCode::Char('y'));
    // One started; the other's question is shown now.
    let screen = tui
        .wait_until("one ssh gateway to be live", |s| known(s) == 1)
        .await;
    let screen = if screen.contains("Unknown host key") {
        screen
    } else {
        tui.wait_for("Unknown host key").await
    };
    assert_eq!(known(&screen), 1, "{screen}");
    tui.key(KeyCode::Char('y'));
    tui.wait_until("both ssh gateways to be live", |s| known(s) == 2)
        .await;
    let screen = tui
        .wait_until("the dialog to close", |s| !s.contains("Unknown host key"))
        .await;
    assert_eq!(known(&screen), 2, "{screen}");
    tui.quit().await;
}

#[tokio::test]
async fn a_password_is_asked_masked_and_a_refused_one_again() {
    let account = TempUser::create("xdtui", "pass word");
    let (sshd, spec) = account.sshd_and_spec();
    let tui = start(&[spec], &[]);
    tui.wait_for(&format!("Password for {}@127.0.0.1:", account.name))
        .await;
    tui.type_text("guess");
    tui.wait_for("> •••••▏").await;
    tui.key(KeyCode::Enter);
    tui.wait_for("That did not work (try 2)").await;
    tui.type_text("pass word");
    let screen = tui.wait_for(&format!("> {}▏", "•".repeat(9))).await;
    assert!(!screen.contains("pass word"), "{screen}");
    tui.key(KeyCode::Enter);
    // The step after the login: the remote command ran.
    let screen = tui.wait_for("✗ gw0 ssh").await;
    assert!(
        screen.contains("step true started"),
        "the login was not accepted:\n{screen}\nsshd log:\n{}",
        sshd.log_text()
    );
    tui.quit().await;
}
