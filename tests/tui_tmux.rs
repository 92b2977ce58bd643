//! The TUI in a real terminal: tmux runs the binary, send-keys types like a
//! person, capture-pane reads the screen. Needs tmux (scripts/test.sh installs it).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str, env: &[(&str, String)]) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("execdeck-test-{}-{n}", std::process::id());
        let mut c = Command::new("tmux");
        c.args(["new-session", "-d", "-s", &session, "-x", "110", "-y", "32"]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={v}")]);
        }
        c.arg(cmd);
        let status = c
            .status()
            .expect("tmux is needed for this test (scripts/test.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// Waits until the screen contains `needle`, at most 20 s.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn a_person_runs_code_adds_a_gateway_and_quits() {
    let home = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let env = isolated(home.path());
    let tmux = Tmux::start(&format!("{exe} tui -g popen//python={}", python()), &env);
    let screen = tmux.wait_for("● gw0 popen");
    assert!(screen.contains("Code (Python)"), "{screen}");
    // The details show the live worker's pid.
    let screen = tmux.wait_for("      pid ");
    assert!(screen.contains("status live"), "{screen}");

    // Run the welcome code: it sends the Python version and the worker's pid.
    tmux.keys(&["C-r"]);
    let screen = tmux.wait_for("→ ('3.");
    let pid: u32 = screen
        .lines()
        .find_map(|l| l.split("→ ('3.").nth(1))
        .and_then(|rest| rest.split(", ").nth(1))
        .and_then(|p| p.split(')').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid on screen:\n{screen}"));
    assert!(pid_alive(pid));

    // Type more code at the end of the buffer and run it again.
    tmux.keys(&["Down", "Down", "End", "Enter"]);
    tmux.type_text("channel.send(6 * 7)");
    tmux.keys(&["C-r"]);
    tmux.wait_for("→ 42");

    // A failing run shows its traceback.
    tmux.keys(&["C-n"]);
    tmux.type_text("raise ValueError('from the pane')");
    tmux.keys(&["F5"]);
    tmux.wait_for("ValueError: from the pane");

    // What the code prints shows under its run; Ctrl-C interrupts it.
    tmux.keys(&["C-n"]);
    tmux.type_text("print('hello from print')");
    tmux.keys(&["Enter"]);
    tmux.type_text("while True: pass");
    tmux.keys(&["F5"]);
    tmux.wait_for("│ hello from print");
    tmux.keys(&["C-c"]);
    tmux.wait_for("KeyboardInterrupt");

    // Send a value into running code; a bad literal is refused with its column.
    tmux.keys(&["C-n"]);
    tmux.type_text("x = channel.receive()");
    tmux.keys(&["Enter"]);
    tmux.type_text("channel.send(x * 2)");
    tmux.keys(&["F5"]);
    tmux.wait_for("running");
    tmux.keys(&["C-e"]);
    tmux.type_text("[1, 2");
    tmux.wait_for("column 1");
    tmux.type_text("]");
    tmux.keys(&["Enter"]);
    tmux.wait_for("→ [1, 2, 1, 2]");

    // Help comes from the keymap.
    tmux.keys(&["F1"]);
    tmux.wait_for("Everywhere");
    // F1 again closes it (a bare Escape followed at once by more keys reads
    // as Alt-<key> to a terminal, as it would for a fast typist).
    tmux.keys(&["F1"]);

    // Add a gateway with a bad interpreter: it fails and says why.
    tmux.keys(&["Tab", "a"]);
    tmux.wait_for("Add gateway");
    tmux.type_text("popen//python=/no/such/python");
    tmux.keys(&["Enter"]);
    tmux.wait_for("✗ gw1");

    // Add a working second gateway by typing its spec, and run on both.
    tmux.keys(&["a"]);
    tmux.wait_for("Add gateway");
    tmux.type_text(&format!("popen//python={}//id=second", python()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("● second popen");
    tmux.keys(&["Tab"]);
    tmux.keys(&["C-n"]);
    tmux.type_text("channel.send(channel.gateway.id * 2)");
    tmux.keys(&["F6"]);
    let screen = tmux.wait_for("→ 'secondsecond'");
    let row = screen
        .lines()
        .find(|l| l.contains("'secondsecond'"))
        .unwrap_or("");
    assert!(
        row.contains("→ 'gw0gw0'"),
        "results not side by side:\n{screen}"
    );
    tmux.keys(&["Tab"]);

    // The palette: switch the theme, save the pane to a file.
    tmux.keys(&[":"]);
    tmux.wait_for("Command (Tab completes");
    tmux.type_text("th");
    tmux.keys(&["Tab"]);
    tmux.type_text("light");
    tmux.keys(&["Enter"]);
    tmux.wait_for("theme light");
    let saved = home.path().join("saved.py");
    tmux.keys(&[":"]);
    tmux.type_text(&format!("save {}", saved.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("saved ");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "channel.send(channel.gateway.id * 2)"
    );

    // Quit: the TUI ends and so does its worker.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive(), "the TUI did not quit");
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(pid), "worker {pid} outlived the TUI");
    drop(tmux);

    // The panes come back in the next session.
    let tmux = Tmux::start(&format!("{exe} tui -g popen//python={}", python()), &env);
    let screen = tmux.wait_for("● gw0 popen");
    assert!(
        screen.contains("2 pane2") && screen.contains("4 pane4"),
        "{screen}"
    );
    // The add-gateway dialog recalls the specs typed before.
    tmux.keys(&["Tab", "a"]);
    tmux.wait_for("Add gateway");
    tmux.keys(&["Up"]);
    tmux.wait_for("//id=second");
    tmux.keys(&["Up"]);
    tmux.wait_for("> popen//python=/no/such/python");
    tmux.keys(&["Escape"]);
    tmux.keys(&["C-q"]);
}

#[test]
fn config_groups_saved_names_themes_and_a_broken_file() {
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("config/execdeck");
    std::fs::create_dir_all(&config_dir).unwrap();
    let py = python();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "theme = 'high-contrast'\ndefault_group = 'pair'\n[saved]\nmine = 'popen//python={py}//id=mine'\n\
             [groups]\npair = ['mine', 'popen//python={py}//id=other']\n"
        ),
    )
    .unwrap();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let env = [
        (
            "XDG_CONFIG_HOME",
            home.path().join("config").display().to_string(),
        ),
        (
            "XDG_DATA_HOME",
            home.path().join("data").display().to_string(),
        ),
    ];
    let tmux = Tmux::start(exe, &env);
    tmux.wait_for("● mine popen");
    tmux.wait_for("● other popen");
    tmux.wait_for("▾ pair (2)");
    tmux.keys(&["C-q"]);
    drop(tmux);

    // A broken config is reported with its line, and the defaults are used.
    std::fs::write(
        config_dir.join("config.toml"),
        "theme = 'light'\nrefresh_ms = 'often'\n",
    )
    .unwrap();
    let tmux = Tmux::start(exe, &env);
    let screen = tmux.wait_for("config.toml:2");
    assert!(screen.contains("using defaults"), "{screen}");
    tmux.wait_for("● gw0 popen");
    tmux.keys(&["C-q"]);
}

/// XDG directories in `home`, so the user's config and panes stay out.
fn isolated(home: &std::path::Path) -> [(&'static str, String); 3] {
    [
        ("XDG_CONFIG_HOME", home.join("config").display().to_string()),
        ("XDG_DATA_HOME", home.join("data").display().to_string()),
        ("HOME", home.display().to_string()),
    ]
}

#[test]
fn the_traffic_view_shows_a_bulk_run_filters_and_opens_a_message() {
    let home = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let tmux = Tmux::start(
        &format!("{exe} tui -g popen//python={}", python()),
        &isolated(home.path()),
    );
    tmux.wait_for("● gw0 popen");
    tmux.keys(&["C-n"]);
    tmux.wait_for("pane2");
    tmux.type_text("for i in range(1000): channel.send(('bulk', i))");
    tmux.keys(&["F3"]);
    tmux.wait_for("Traffic: 0 of 0 held · following");
    tmux.keys(&["C-r"]);
    let screen = tmux.wait_for("('bulk', 999)");
    assert!(screen.contains("CHANNEL_DATA"), "{screen}");
    let channel: i32 = screen
        .lines()
        .find(|l| l.contains("('bulk', 999)"))
        .and_then(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "CHANNEL_DATA")
                .nth(1)
        })
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no channel column:\n{screen}"));
    tmux.wait_for("in   1000 items");
    // One channel, data with "bulk" in it: the 1000 items.
    tmux.keys(&["/"]);
    tmux.wait_for("Filter traffic and trace");
    tmux.type_text(&format!("ch:{channel} type:data bulk"));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Traffic: 1000 of ");
    assert!(
        screen.contains(&format!("filter ch:{channel} type:data bulk")),
        "{screen}"
    );
    // Pause, go up one row and open it: its value and hex dump.
    tmux.keys(&["Space"]);
    tmux.wait_for("PAUSED +0");
    tmux.keys(&["k", "Enter"]);
    tmux.wait_for("Message: gw0 in CHANNEL_DATA");
    // (Waiting for the last thing drawn: a capture may catch a frame half written.)
    let screen = tmux.wait_for("00000000  4e 00 00 00 04 62 75 6c");
    assert!(screen.contains("[1] 998"), "{screen}");
    assert!(screen.contains("|N....bulk"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("PAUSED +0");
    tmux.keys(&["C-q"]);
}

#[test]
fn remote_tracing_is_turned_on_for_a_running_gateway() {
    let home = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let tmux = Tmux::start(
        &format!("{exe} tui -g popen//python={}", python()),
        &isolated(home.path()),
    );
    tmux.wait_for("● gw0 popen");
    tmux.keys(&["F4"]);
    let screen = tmux.wait_for("gateway_ready");
    assert!(!screen.contains("remote_trace"), "{screen}");
    tmux.keys(&["D"]);
    tmux.wait_for("Restart gw0 with debug=stream?");
    tmux.keys(&["y"]);
    tmux.wait_for("remote_trace");
    // Only the remote trace lines.
    tmux.keys(&["/"]);
    tmux.type_text("type:remote_trace");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("filter type:remote_trace");
    assert!(!screen.contains("gateway_ready"), "{screen}");
    assert!(screen.contains("remote_trace"), "{screen}");
    tmux.keys(&["C-q"]);
}

#[test]
fn a_trace_file_recorded_by_exec_opens_in_the_tui() {
    let home = tempfile::tempdir().unwrap();
    let trace = home.path().join("run.jsonl");
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let out = Command::new(exe)
        .args(["exec", "--trace-file"])
        .arg(&trace)
        .args(["-g", &format!("popen//python={}", python())])
        .args(["-c", "channel.send(('from exec', channel.receive() + 1))"])
        .args(["--send", "41"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let tmux = Tmux::start(
        &format!("{exe} tui --trace {}", trace.display()),
        &isolated(home.path()),
    );
    let screen = tmux.wait_for("(read-only)");
    assert!(screen.contains("('from exec', 42)"), "{screen}");
    assert!(screen.contains("out CHANNEL_DATA"), "{screen}");
    // No gateway was started.
    tmux.keys(&["F2"]);
    tmux.wait_for("no gateways");
    tmux.keys(&["F4"]);
    let screen = tmux.wait_for("gateway_ready");
    assert!(screen.contains("gateway_exited"), "{screen}");
    tmux.keys(&["C-q"]);
}

#[test]
fn a_trace_that_cannot_be_read_is_refused_before_the_screen_is_taken() {
    let home = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let missing = home.path().join("nope.jsonl");
    let cmd = &mut Command::new(exe);
    cmd.args(["tui", "--trace"])
        .arg(&missing)
        .envs(isolated(home.path()));
    let out = run_bounded(cmd, None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read") && err.contains("nope.jsonl"),
        "{err}"
    );
    let not_trace = home.path().join("notes.txt");
    std::fs::write(&not_trace, "hello\n").unwrap();
    let cmd = &mut Command::new(exe);
    cmd.args(["tui", "--trace"])
        .arg(&not_trace)
        .envs(isolated(home.path()));
    let out = run_bounded(cmd, None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an execdeck trace file"), "{err}");
    // Reading a trace starts no gateway, so gateways cannot be asked for.
    let out = run_bounded(
        Command::new(exe)
            .args(["tui", "-g", "popen", "--trace"])
            .arg(&not_trace),
        None,
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_person_syncs_a_small_tree_to_two_gateways_from_the_rsync_screen() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "beta\n".repeat(1000)).unwrap();
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    for d in [&one, &two] {
        std::fs::create_dir_all(d).unwrap();
    }
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let env = isolated(home.path());
    let tmux = Tmux::start(
        &format!(
            "{exe} tui -g popen//python={py}//chdir={one} -g popen//python={py}//chdir={two}",
            py = python(),
            one = one.display(),
            two = two.display()
        ),
        &env,
    );
    tmux.wait_for("● gw0 popen");
    tmux.wait_for("● gw1 popen");
    // The status line names the key of the rsync screen.
    tmux.wait_for("F8 rsync");
    tmux.keys(&["F8"]);
    tmux.wait_for("New rsync job");
    tmux.type_text(&format!("{}/tre", work.path().display()));
    tmux.keys(&["Tab"]);
    tmux.wait_for("tree/");
    tmux.keys(&["Down", "Space", "Down", "Space"]);
    tmux.wait_for("[x] gw1");
    tmux.keys(&["Down"]);
    tmux.type_text("copy");
    tmux.keys(&["Enter"]);
    tmux.wait_for("gw0 → copy: 2 of 2 files sent");
    tmux.wait_for("gw1 → copy: 2 of 2 files sent");
    tmux.wait_for("#1 ✓");
    for d in [&one, &two] {
        assert_eq!(
            std::fs::read_to_string(d.join("copy/a.txt")).unwrap(),
            "alpha\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("copy/sub/b.txt")).unwrap(),
            "beta\n".repeat(1000)
        );
    }
    tmux.keys(&["C-q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive(), "the TUI did not quit:\n{}", tmux.screen());
}
