//! The TUI's loop driven by key events, without a terminal: `App::run` reads
//! keys from a channel and draws on a `TestBackend` whose frames the test
//! reads, with real popen gateways running the test interpreter. Every wait
//! is bounded (only to guard against hangs) and asserts on what the frame shows.

mod common;

use std::time::{Duration, Instant};

use common::tui::Tui;
use common::{popen, python};
use crossterm::event::KeyCode;
use execdeck::Group;
use execdeck::tui::app::App;
use execdeck::tui::theme::Theme;

/// Starts the app with gateways for `specs` and `[keys]` overrides.
fn start(specs: &[String], overrides: &[(&str, &str)]) -> Tui {
    let group = Group::new();
    let overrides = overrides
        .iter()
        .map(|(action, key)| (action.to_string(), vec![key.to_string()]))
        .collect();
    let mut problems = Vec::new();
    let app = App::new(group, Theme::fallback(true), Duration::from_millis(200))
        .with_key_overrides(&overrides, &mut problems)
        .with_mouse(false);
    assert_eq!(problems, Vec::<String>::new());
    app.start_gateways(specs.to_vec());
    Tui::run(app)
}

#[tokio::test]
async fn code_typed_in_a_pane_runs_and_shows_its_result() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('n');
    tui.wait_for("pane2").await;
    tui.type_text("import sys\nchannel.send(6 * 7)");
    tui.ctrl('r');
    tui.wait_for("→ 42").await;
    // The item may show before the run's end does.
    tui.wait_for("── run 1 on gw0 done").await;
    tui.quit().await;
}

#[tokio::test]
async fn a_traceback_from_remote_code_is_shown() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('n');
    tui.type_text("def f():\n    raise ValueError('from the pane')\nf()");
    tui.key(KeyCode::F(5));
    let screen = tui.wait_for("ValueError: from the pane").await;
    assert!(screen.contains("Traceback"), "{screen}");
    assert!(screen.contains("── run 1 on gw0 failed"), "{screen}");
    tui.quit().await;
}

#[tokio::test]
async fn a_gateway_is_added_through_the_dialog() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.key(KeyCode::Tab);
    tui.key(KeyCode::Char('a'));
    tui.wait_for("Enter starts it, Tab completes, ↑/↓ recall, Esc cancels.")
        .await;
    // A bad spec is explained as it is typed, and Enter does nothing.
    tui.type_text("popen//python=a//python=b");
    tui.wait_for("given twice").await;
    tui.key(KeyCode::Enter);
    for _ in 0.."popen//python=a//python=b".len() {
        tui.key(KeyCode::Backspace);
    }
    tui.type_text(&format!("popen//python={}//id=second", python()));
    tui.wait_until("the problem to go", |s| !s.contains("given twice"))
        .await;
    tui.key(KeyCode::Enter);
    let screen = tui.wait_for("● second popen").await;
    assert!(screen.contains("● gw0 popen"), "{screen}");
    assert!(!screen.contains("Add gateway"), "{screen}");
    tui.quit().await;
}

#[tokio::test]
async fn the_palette_runs_a_command_by_name() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('p');
    tui.wait_for("Command (Tab completes, Enter runs)").await;
    tui.type_text("new-p");
    tui.wait_for("open a new code pane").await;
    tui.key(KeyCode::Tab);
    tui.wait_for(": new-pane").await;
    tui.key(KeyCode::Enter);
    let screen = tui.wait_for("pane2").await;
    assert!(!screen.contains("Command ("), "{screen}");
    // An unknown command is listed as such; Esc closes the palette.
    tui.ctrl('p');
    tui.type_text("nonsense");
    tui.wait_for("no such command").await;
    tui.key(KeyCode::Esc);
    tui.wait_until("the palette to close", |s| !s.contains("Command ("))
        .await;
    tui.quit().await;
}

#[tokio::test]
async fn the_filter_hides_gateways_that_do_not_match() {
    let tui = start(&[popen("//id=alpha"), popen("//id=beta")], &[]);
    tui.wait_for("● alpha popen").await;
    tui.wait_for("● beta popen").await;
    tui.ctrl('f');
    tui.wait_for("Enter applies (empty clears), Esc cancels.")
        .await;
    tui.type_text("(");
    tui.wait_until("the regex problem", |s| {
        !s.contains("Enter applies") && s.contains(" Filter ")
    })
    .await;
    tui.key(KeyCode::Backspace);
    tui.type_text("beta");
    tui.key(KeyCode::Enter);
    let screen = tui
        .wait_until("alpha to be hidden", |s| !s.contains("alpha popen"))
        .await;
    assert!(screen.contains("● beta popen"), "{screen}");
    assert!(!screen.contains(" Filter "), "{screen}");
    // An empty filter shows everything again.
    tui.ctrl('f');
    tui.wait_for("/ beta").await;
    for _ in 0..4 {
        tui.key(KeyCode::Backspace);
    }
    tui.key(KeyCode::Enter);
    tui.wait_for("● alpha popen").await;
    tui.quit().await;
}

#[tokio::test]
async fn quitting_with_a_busy_gateway_asks_first() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('n');
    tui.type_text("import time\ntime.sleep(60)");
    tui.ctrl('r');
    tui.wait_for("── run 1 on gw0 running").await;
    tui.ctrl('q');
    tui.wait_for("Code is still running. Quit and stop every gateway?")
        .await;
    let screen = tui.wait_for("y quit   n / Esc stay").await;
    assert!(screen.contains(" Quit? "), "{screen}");
    // No keeps everything running.
    tui.key(KeyCode::Char('n'));
    let screen = tui
        .wait_until("the question to close", |s| !s.contains(" Quit? "))
        .await;
    assert!(screen.contains("running"), "{screen}");
    tui.ctrl('q');
    tui.wait_for(" Quit? ").await;
    tui.key(KeyCode::Char('y'));
    let started = Instant::now();
    tui.finished().await.expect("the app ends cleanly");
    // The sleeping worker is stopped, not waited for.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_rebound_dialog_key_changes_dispatch_and_hint() {
    let tui = start(&[popen("")], &[("accept", "ctrl-o")]);
    tui.wait_for("● gw0 popen").await;
    tui.key(KeyCode::Tab);
    tui.key(KeyCode::Char('a'));
    tui.wait_for("Ctrl-O starts it, Tab completes").await;
    tui.type_text(&format!("popen//python={}//id=second", python()));
    // Enter no longer accepts: the dialog stays and takes more text.
    tui.key(KeyCode::Enter);
    tui.type_text("z");
    tui.ctrl('o');
    let screen = tui.wait_for("● secondz popen").await;
    assert!(!screen.contains("● second popen"), "{screen}");
    tui.quit().await;
}

#[tokio::test]
async fn an_item_that_cannot_be_decoded_ends_the_run_at_once() {
    // A fake worker that answers every CHANNEL_DATA with an item whose opcode
    // is unknown, and never closes anything.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("garbling.py");
    std::fs::write(
        &fake,
        "import os, struct\nos.write(1, b'1')\n\
         def read(n):\n    b = b''\n    while len(b) < n:\n        c = os.read(0, n - len(b))\n        \
         if not c: raise SystemExit\n        b += c\n    return b\n\
         while True:\n    code, ch, n = struct.unpack('>bii', read(9))\n    read(n)\n    \
         if code == 4:\n        os.write(1, struct.pack('>bii', 4, ch, 2) + b'\\xeeQ')\n",
    )
    .unwrap();
    let spec = format!("cmd={} -u {}", python(), fake.display());
    let tui = start(&[spec], &[]);
    tui.wait_for("● gw0 cmd").await;
    tui.ctrl('n');
    tui.wait_for("pane2").await;
    tui.type_text("channel.send(1)");
    tui.ctrl('r');
    // The run ends with the decode error at once, though its output
    // channel never closes.
    let screen = tui.wait_for("unknown opcode").await;
    assert!(screen.contains("run 1 on gw0 failed"), "{screen}");
    tui.quit().await;
}

/// The channel column of the table row showing `text`.
fn channel_of(screen: &str, text: &str) -> i32 {
    let row = screen
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no row with {text}:\n{screen}"));
    row.split_whitespace()
        .skip_while(|w| !w.starts_with("CHANNEL_"))
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no channel in {row}"))
}

/// Types `code` into a new pane and shows the traffic inspector (F3), which
/// records messages from then on; then runs the pane (Ctrl-R works on every
/// screen).
async fn run_on_traffic_screen(tui: &Tui, code: &str) {
    tui.ctrl('n');
    tui.wait_for("pane2").await;
    tui.type_text(code);
    tui.key(KeyCode::F(3));
    tui.wait_for("Traffic: 0 of 0 held · following").await;
    tui.ctrl('r');
}

#[tokio::test]
async fn the_traffic_inspector_shows_filters_and_opens_messages() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    run_on_traffic_screen(&tui, "for i in range(300):\n    channel.send(('item', i))").await;
    let screen = tui.wait_for("('item', 299)").await;
    let channel = channel_of(&screen, "('item', 299)");
    // Filtered to the run's channel and a text: 15, 115, 150…159, 215.
    tui.key(KeyCode::Char('/'));
    tui.wait_for("Filter traffic and trace").await;
    tui.type_text(&format!("ch:{channel} 15"));
    tui.key(KeyCode::Enter);
    let screen = tui.wait_for(&format!("filter ch:{channel} 15")).await;
    assert!(screen.contains("Traffic: 13 of "), "{screen}");
    assert!(!screen.contains("('item', 299)"), "{screen}");
    // The channel's summary: 300 items in, closed normally.
    let screen = tui.wait_for("in    300 items").await;
    assert!(
        screen.contains(&format!("ch {channel:<4} exec")),
        "{screen}"
    );
    // Up from ('item', 215) to ('item', 158), then open it.
    tui.key(KeyCode::Char('k'));
    tui.key(KeyCode::Char('k'));
    tui.key(KeyCode::Enter);
    let screen = tui.wait_for("Message: gw0 in CHANNEL_DATA").await;
    assert!(screen.contains("▾ tuple, 2 items"), "{screen}");
    assert!(screen.contains("[1] 158"), "{screen}");
    assert!(screen.contains("00000000 "), "{screen}");
    assert!(screen.contains("|N....item"), "{screen}");
    tui.key(KeyCode::Esc);
    tui.wait_until("the table again", |s| !s.contains("Message: gw0"))
        .await;
    tui.quit().await;
}

#[tokio::test]
async fn a_paused_table_counts_what_comes_and_an_export_reads_back() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.ctrl('n');
    tui.type_text("for i in range(10):\n    channel.send(('n', i))");
    tui.key(KeyCode::F(3));
    tui.wait_for("· following").await;
    // Only this run's items (status polls send messages too).
    tui.key(KeyCode::Char('/'));
    tui.type_text("type:data 'n'");
    tui.key(KeyCode::Enter);
    tui.wait_for("filter type:data 'n' · following").await;
    tui.key(KeyCode::Char(' '));
    tui.wait_for("PAUSED +0 ").await;
    tui.ctrl('r');
    // The ten items: none shown, all counted.
    let screen = tui.wait_for("PAUSED +10 ").await;
    assert!(screen.contains("Traffic: 0 of "), "{screen}");
    assert!(!screen.contains("('n', 0)"), "{screen}");
    tui.key(KeyCode::Char(' '));
    let screen = tui.wait_for("Traffic: 10 of ").await;
    assert!(screen.contains("('n', 9)"), "{screen}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("view.jsonl");
    tui.key(KeyCode::Char('w'));
    tui.wait_for("Enter writes it, Esc cancels.").await;
    for _ in 0.."execdeck-traffic.jsonl".len() {
        tui.key(KeyCode::Backspace);
    }
    tui.type_text(&path.display().to_string());
    tui.key(KeyCode::Enter);
    tui.wait_for("wrote 10 rows to").await;
    let (records, problems) = execdeck::tui::tracefile::load(&path).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(records.len(), 10);
    assert_eq!(records[4].detail(), "('n', 4)");
    tui.quit().await;
}

#[tokio::test]
async fn remote_tracing_is_switched_on_for_a_running_gateway() {
    let tui = start(&[popen("")], &[]);
    tui.wait_for("● gw0 popen").await;
    tui.key(KeyCode::F(4));
    let screen = tui.wait_for("gateway_ready").await;
    assert!(!screen.contains("remote_trace"), "{screen}");
    tui.key(KeyCode::Char('D'));
    tui.wait_for("Restart gw0 with debug=stream?").await;
    tui.key(KeyCode::Char('y'));
    let screen = tui.wait_for("remote_trace").await;
    assert!(screen.contains("gateway_exited"), "{screen}");
    // The new gateway has the key in its spec, so D says it is on.
    tui.key(KeyCode::F(2));
    tui.wait_for("debug=stream").await;
    tui.key(KeyCode::F(4));
    tui.key(KeyCode::Char('D'));
    tui.wait_for("gw0 already has debug=stream").await;
    tui.quit().await;
}

#[tokio::test]
async fn a_recorded_trace_is_shown_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ci.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"execdeck_trace":1,"started":"2026-12-03T10:00:00Z","command":["execdeck","exec"]}"#,
            "\n",
            r#"{"t":0.1,"gw":"gw0","kind":"gateway_ready","pid":7,"python":"3.11.7"}"#,
            "\n",
            r#"{"t":0.2,"gw":"gw0","kind":"message","dir":"in","code":4,"name":"CHANNEL_DATA","channel":1,"len":3,"preview":"'recorded'"}"#,
            "\n",
            r#"{"t":0.3,"gw":"gw0","kind":"remote_trace","line":"[7] done"}"#,
            "\n",
        ),
    )
    .unwrap();
    let (records, problems) = execdeck::tui::tracefile::load(&path).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let app = App::new(
        Group::new(),
        Theme::fallback(true),
        Duration::from_millis(200),
    )
    .with_mouse(false)
    .with_replay("ci.jsonl".into(), records);
    let tui = Tui::run(app);
    let screen = tui.wait_for("ci.jsonl (read-only)").await;
    assert!(screen.contains("'recorded'"), "{screen}");
    tui.key(KeyCode::Enter);
    tui.wait_for("the trace file keeps only this preview").await;
    tui.key(KeyCode::Esc);
    tui.key(KeyCode::F(4));
    tui.wait_for("[7] done").await;
    tui.key(KeyCode::Char('D'));
    tui.wait_for("a recorded trace is read-only").await;
    // No gateway can be added either.
    tui.key(KeyCode::F(2));
    tui.key(KeyCode::Tab);
    tui.key(KeyCode::Char('a'));
    let screen = tui.wait_for("read-only: no gateways").await;
    assert!(!screen.contains("Add gateway"), "{screen}");
    tui.quit().await;
}
