//! Render tests: views drawn into a `TestBackend` from hand-made state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::engine::{Event, EventKind, Received};
use crate::tui::input::{Binding, Context, apply_overrides, default_keymap};
use crate::tui::state::{Focus, Overlay, State, TaskMsg};
use crate::tui::theme::Theme;

/// The frame `view::draw` makes of `state`, as text (shared by the view tests).
pub(super) fn screen(state: &State, width: u16, height: u16) -> String {
    screen_with(state, width, height, &default_keymap())
}

/// Like [`screen`], with `keymap`.
pub(super) fn screen_with(state: &State, width: u16, height: u16, keymap: &[Binding]) -> String {
    let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
    let theme = Theme::fallback(true);
    term.draw(|f| super::draw(f, state, &theme, keymap))
        .unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn event(gw: &str, kind: EventKind) -> Received {
    Received::Event(Event {
        time: Duration::ZERO,
        gateway: Arc::from(gw),
        kind,
    })
}

fn sample() -> State {
    let mut st = State::default();
    st.apply_event(&event(
        "gw0",
        EventKind::GatewayStarting {
            spec: "popen".into(),
        },
    ));
    st.apply_event(&event(
        "gw0",
        EventKind::GatewayReady {
            pid: Some(4242),
            python: Some("3.11.7".into()),
            executable: None,
            address: None,
        },
    ));
    st.apply_event(&event(
        "gw1",
        EventKind::GatewayStarting {
            spec: "popen//python=nope".into(),
        },
    ));
    st.apply_event(&event(
        "gw1",
        EventKind::GatewayFailed {
            error: "cannot start \"nope\"".into(),
        },
    ));
    st
}

#[test]
fn gateways_runs_and_hints_are_shown() {
    let mut st = sample();
    let now = Instant::now();
    let run = st.start_run("gw0", 1, now);
    st.apply_task(
        TaskMsg::RunItem {
            run,
            text: "('3.11.7', 4242)".into(),
        },
        now,
    );
    st.apply_task(
        TaskMsg::RunEnded { run, error: None },
        now + Duration::from_millis(12),
    );
    let text = screen(&st, 100, 30);
    assert!(text.contains("● gw0 popen py3.11.7"), "{text}");
    assert!(text.contains("✗ gw1 popen"), "{text}");
    assert!(text.contains("run 1 on gw0 done in 0.012s"), "{text}");
    assert!(
        text.contains("#1 scratch done 0.012s"),
        "history per gateway: {text}"
    );
    assert!(text.contains("→ ('3.11.7', 4242)"), "{text}");
    assert!(
        text.contains("channel.send((sys.version.split()[0], os.getpid()))"),
        "{text}"
    );
    assert!(text.contains("Ctrl-R run"), "{text}");
    assert!(text.contains("pid 4242") || text.contains("4242"), "{text}");
}

#[test]
fn failed_runs_show_the_traceback() {
    let mut st = sample();
    let now = Instant::now();
    let run = st.start_run("gw0", 1, now);
    let tb = "Traceback (most recent call last):\n  File \"<pane scratch>\", line 1, in <module>\nValueError: boom";
    st.apply_task(
        TaskMsg::RunEnded {
            run,
            error: Some(tb.into()),
        },
        now,
    );
    let text = screen(&st, 100, 30);
    assert!(text.contains("failed"), "{text}");
    assert!(text.contains("ValueError: boom"), "{text}");
}

#[test]
fn help_overlay_comes_from_the_keymap() {
    let mut st = sample();
    st.overlay = Overlay::Help { scroll: 0 };
    let text = screen(&st, 100, 40);
    assert!(text.contains("Ctrl-R, F5"), "{text}");
    assert!(text.contains("add a gateway"), "{text}");
    // The help shows the keys of everywhere and of the screen shown;
    // dialogs show their own keys in their hints.
    for b in default_keymap()
        .into_iter()
        .filter(|b| matches!(b.context, Context::Global | Context::Tree))
    {
        assert!(text.contains(b.help), "help lacks {:?}\n{text}", b.help);
    }
    assert!(!text.contains("In the traffic table"), "{text}");
}

#[test]
fn the_help_of_the_traffic_screen_scrolls_through_its_keys() {
    let mut st = sample();
    st.screen = crate::tui::screen::Screen::Traffic;
    let mut seen = String::new();
    for scroll in 0..40 {
        st.overlay = Overlay::Help { scroll };
        seen.push_str(&screen(&st, 100, 30));
    }
    assert!(
        seen.contains("↑/↓ scroll. F1 or Esc closes this help."),
        "{seen}"
    );
    for b in default_keymap().into_iter().filter(|b| {
        matches!(
            b.context,
            Context::Global | Context::Traffic | Context::Detail
        )
    }) {
        assert!(seen.contains(b.help), "help lacks {:?}", b.help);
    }
    assert!(!seen.contains("In the gateway list"), "{seen}");
}

#[test]
fn add_gateway_dialog_shows_spec_problems() {
    let mut st = sample();
    st.focus = Focus::Tree;
    st.overlay = Overlay::AddGateway {
        input: "popen//python=a//python=b".into(),
        problem: Some(
            "invalid spec \"popen//python=a//python=b\": key \"python\" given twice".into(),
        ),
    };
    let text = screen(&st, 100, 30);
    assert!(text.contains("Add gateway"), "{text}");
    assert!(text.contains("given twice"), "{text}");
}

#[test]
fn too_small_terminals_are_told_so() {
    let text = screen(&sample(), 60, 20);
    assert!(text.contains("needs at least 80x24"), "{text}");
    let text = screen(&sample(), 80, 24);
    assert!(text.contains("gw0"), "{text}");
}

#[test]
fn palette_lists_matching_commands() {
    let mut st = sample();
    st.overlay = Overlay::Palette {
        input: "th".into(),
        selected: 0,
    };
    let text = screen(&st, 100, 30);
    assert!(text.contains(": th"), "{text}");
    assert!(text.contains("theme NAME"), "{text}");
    assert!(!text.contains("run-all"), "{text}");
}

#[test]
fn a_run_on_all_shows_results_side_by_side() {
    let mut st = sample();
    let now = Instant::now();
    for gw in ["gw0", "gw2"] {
        let run = st.start_run(gw, 7, now);
        st.apply_task(
            TaskMsg::RunItem {
                run,
                text: format!("'from {gw}'"),
            },
            now,
        );
        st.apply_task(TaskMsg::RunEnded { run, error: None }, now);
    }
    let text = screen(&st, 120, 30);
    let row = text
        .lines()
        .find(|l| l.contains("'from gw0'"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("'from gw2'"), "not side by side:\n{text}");
}

#[test]
fn the_filter_hides_gateways_and_output_lines() {
    let mut st = sample();
    let now = Instant::now();
    let run = st.start_run("gw0", 1, now);
    st.apply_task(
        TaskMsg::RunItem {
            run,
            text: "'keep me'".into(),
        },
        now,
    );
    st.apply_task(
        TaskMsg::RunItem {
            run,
            text: "'drop me'".into(),
        },
        now,
    );
    st.filter = crate::tui::filter::Filter::new("!drop|gw1").ok();
    let text = screen(&st, 100, 30);
    assert!(text.contains("'keep me'"), "{text}");
    assert!(!text.contains("'drop me'"), "{text}");
    assert!(!text.contains("✗ gw1"), "{text}");
    assert!(text.contains("Output /!drop|gw1/"), "{text}");
}

#[test]
fn areas_and_visible_rows_place_mouse_clicks() {
    use ratatui::layout::{Position, Rect};
    let a = super::areas(Rect::new(0, 0, 100, 30));
    assert!(a.tree.contains(Position::new(5, 3)));
    assert!(a.editor.contains(Position::new(60, 5)));
    assert!(a.output.contains(Position::new(60, 25)));
    assert_eq!(a.status.y, 29);
    let mut st = sample();
    use crate::tui::state::TreeRow;
    let group = |shown| TreeRow::Group {
        name: "default".into(),
        shown,
    };
    assert_eq!(
        st.tree_rows(),
        vec![group(2), TreeRow::Gateway(0), TreeRow::Gateway(1)]
    );
    st.filter = crate::tui::filter::Filter::new("failed").ok();
    assert_eq!(st.tree_rows(), vec![group(1), TreeRow::Gateway(1)]);
}

#[test]
fn groups_from_the_spec_label_become_tree_nodes() {
    let mut st = sample();
    st.apply_event(&event(
        "gw2",
        EventKind::GatewayStarting {
            spec: "popen//group=lab".into(),
        },
    ));
    let text = screen(&st, 100, 30);
    assert!(text.contains("▾ default (2)"), "{text}");
    assert!(text.contains("▾ lab (1)"), "{text}");
    st.selected = 0;
    st.move_selection(2);
    assert_eq!(st.selected_gateway(), Some("gw2"));
    assert_eq!(
        st.selected_group(),
        Some(("lab".to_string(), vec!["gw2".to_string()]))
    );
}

#[test]
fn every_confirmation_and_input_dialog_renders() {
    let cases = [
        (Overlay::ConfirmQuit, "Code is still running"),
        (
            Overlay::ConfirmExit {
                gateway: "gw0".into(),
            },
            "gw0 is still running code",
        ),
        (
            Overlay::ConfirmTerminate {
                group: "lab".into(),
            },
            "Group lab still runs code",
        ),
        (
            Overlay::SendValue {
                run: 3,
                input: "[1,".into(),
                problem: Some("column 1: '[' was never closed".into()),
            },
            "column 1: '[' was never closed",
        ),
        (
            Overlay::Filter {
                input: "gw".into(),
                problem: None,
            },
            "Enter applies",
        ),
    ];
    for (overlay, needle) in cases {
        let mut st = sample();
        st.overlay = overlay;
        let text = screen(&st, 100, 30);
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}

#[test]
fn the_editor_colours_python_syntax() {
    let st = sample();
    let theme = Theme::load("default", None, false).unwrap();
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    term.draw(|f| super::draw(f, &st, &theme, &default_keymap()))
        .unwrap();
    let buf = term.backend().buffer().clone();
    let find = |text: &str| {
        (0..buf.area.height)
            .find_map(|y| {
                let row: String = (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect();
                row.find(text)
                    .map(|col| (row[..col].chars().count() as u16, y))
            })
            .unwrap_or_else(|| panic!("{text} not on screen"))
    };
    let (x, y) = find("import sys");
    assert_eq!(buf[(x, y)].fg, theme.keyword.fg.unwrap());
    let (x, y) = find("channel.send");
    assert_eq!(buf[(x, y)].fg, theme.builtin.fg.unwrap());
    assert_ne!(
        buf[(x + 8, y)].fg,
        theme.builtin.fg.unwrap(),
        "send is not a builtin"
    );
}

#[test]
fn dialog_hints_come_from_the_keymap() {
    let hints = [
        (
            Overlay::AddGateway {
                input: String::new(),
                problem: None,
            },
            "Enter starts it, Tab completes, ↑/↓ recall, Esc cancels.",
        ),
        (
            Overlay::Palette {
                input: String::new(),
                selected: 0,
            },
            "Command (Tab completes, Enter runs)",
        ),
        (Overlay::Help { scroll: 0 }, "F1 or Esc closes this help."),
        (Overlay::ConfirmQuit, "y quit   n / Esc stay"),
    ];
    for (overlay, needle) in hints {
        let mut st = sample();
        st.overlay = overlay;
        let text = screen(&st, 100, 40);
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    let mut keymap = default_keymap();
    let overrides = [
        ("accept".to_string(), vec!["ctrl-o".to_string()]),
        ("cancel".to_string(), vec!["ctrl-g".to_string()]),
    ];
    assert!(apply_overrides(&mut keymap, &overrides.into_iter().collect()).is_empty());
    let mut st = sample();
    st.overlay = Overlay::AddGateway {
        input: String::new(),
        problem: None,
    };
    let text = screen_with(&st, 100, 30, &keymap);
    assert!(
        text.contains("Ctrl-O starts it, Tab completes, ↑/↓ recall, Ctrl-G cancels."),
        "{text}"
    );
    st.overlay = Overlay::Help { scroll: 0 };
    let text = screen_with(&st, 100, 40, &keymap);
    assert!(text.contains("Ctrl-G closes this help."), "{text}");
}

#[test]
fn details_show_the_route_of_a_via_gateway_and_an_installvia_address() {
    let mut st = State::default();
    for (gw, spec, address) in [
        ("gw2", "popen//via=gw1", "via gw0 ← gw1"),
        ("s1", "socket//installvia=gw0", "127.0.0.1:40123"),
    ] {
        st.apply_event(&event(gw, EventKind::GatewayStarting { spec: spec.into() }));
        st.apply_event(&event(
            gw,
            EventKind::GatewayReady {
                pid: Some(77),
                python: None,
                executable: None,
                address: Some(address.into()),
            },
        ));
    }
    let text = screen(&st, 120, 40);
    assert!(text.contains("route via gw0 ← gw1"), "{text}");
    assert!(text.contains("gw2 via"), "{text}");
}

#[test]
fn details_show_the_latest_start_step_while_starting() {
    let mut st = State::default();
    st.apply_event(&event(
        "gw0",
        EventKind::GatewayStarting {
            spec: "ssh=box".into(),
        },
    ));
    for step in ["resolving box", "connecting to 10.0.0.7:22"] {
        st.apply_event(&event("gw0", EventKind::StartStep { step: step.into() }));
    }
    let text = screen(&st, 120, 40);
    assert!(text.contains("step connecting to 10.0.0.7:22"), "{text}");
    assert!(!text.contains("resolving box"), "{text}");
    st.apply_event(&event(
        "gw0",
        EventKind::GatewayReady {
            pid: None,
            python: None,
            executable: None,
            address: None,
        },
    ));
    let text = screen(&st, 120, 40);
    assert!(!text.contains("connecting to"), "{text}");
    assert!(!text.contains(" exe "), "{text}");
    // The interpreter that runs the worker, once known (the one a shim chose).
    st.gateways
        .set_python("gw0", "3.11.7".into(), "/opt/py/bin/python3.11".into());
    let text = screen(&st, 120, 40);
    assert!(text.contains("exe /opt/py/bin/python3.11"), "{text}");
}
