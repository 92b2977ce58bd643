//! Render tests of the rsync screen: the form, a running job with its
//! progress, a finished job's report, its help.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::rsync::TargetReport;
use crate::engine::{Event, EventKind, Received};
use crate::tui::input::{Context, apply_overrides, default_keymap};
use crate::tui::screen::Screen;
use crate::tui::state::rsync::Form;
use crate::tui::state::{Overlay, State};

fn screen(state: &State) -> String {
    super::tests::screen(state, 170, 34)
}

fn event(gw: &str, kind: EventKind) -> Received {
    Received::Event(Event {
        time: Duration::ZERO,
        gateway: Arc::from(gw),
        kind,
    })
}

/// Two live gateways, the rsync screen shown, the form filled.
fn sample() -> State {
    let mut st = State::default();
    for gw in ["gw0", "gw1"] {
        st.apply_event(&event(
            gw,
            EventKind::GatewayStarting {
                spec: "popen".into(),
            },
        ));
        st.apply_event(&event(
            gw,
            EventKind::GatewayReady {
                pid: Some(1),
                python: None,
                executable: None,
                address: None,
            },
        ));
    }
    st.screen = Screen::Rsync;
    st.rsync.form = Form {
        source: "project/src".into(),
        targets: vec!["gw1".into()],
        dest: "copy".into(),
        excludes: "*.pyc build/".into(),
        delete: true,
        cursor: 3,
        ..Form::default()
    };
    st
}

fn report(gw: &str, error: Option<&str>) -> TargetReport {
    TargetReport {
        gateway: gw.into(),
        dest: "copy".into(),
        files_checked: 40,
        files_sent: 3,
        bytes_sent: 3 << 20,
        bytes_on_wire: 1 << 20,
        seconds: 0.5,
        deleted: vec!["old.txt".into()],
        errors: vec!["x/locked: Permission denied".into()],
        error: error.map(str::to_owned),
        ..TargetReport::default()
    }
}

#[test]
fn the_form_shows_every_field_and_the_hints() {
    let st = sample();
    let text = screen(&st);
    for needle in [
        "New rsync job",
        "source project/src",
        "target [ ] gw0 popen",
        "target [x] gw1 popen",
        "dest copy▏",
        "exclude *.pyc build/",
        "delete [x] files the source lacks",
        "filter [ ] by .gitignore files",
        "dry run [ ] write nothing",
        "Enter start, Space check, Tab complete",
        "no jobs yet",
        "Enter start",
        "Ctrl-X cancel",
        "F2 gateways",
        "F8 rsync",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}\n{text}");
    }
    // Rebinding changes the hints.
    let mut keymap = default_keymap();
    let overrides = [("rsync-start".to_string(), vec!["ctrl-s".to_string()])];
    assert!(apply_overrides(&mut keymap, &overrides.into_iter().collect()).is_empty());
    let text = super::tests::screen_with(&st, 170, 34, &keymap);
    assert!(text.contains("Ctrl-S start"), "{text}");
}

#[test]
fn a_problem_and_no_live_gateway_are_told() {
    let mut st = State::default();
    st.screen = Screen::Rsync;
    st.rsync.problem = Some("type the source directory".into());
    let text = screen(&st);
    assert!(text.contains("no live gateway to send to"), "{text}");
    assert!(text.contains("type the source directory"), "{text}");
}

#[test]
fn a_running_job_shows_each_targets_progress() {
    let mut st = sample();
    let spec = st.rsync.form.job(&["gw0".into(), "gw1".into()]).unwrap();
    let spec = crate::tui::state::rsync::JobSpec {
        targets: vec!["gw0".into(), "gw1".into()],
        ..spec
    };
    st.rsync
        .start(spec, Instant::now() - Duration::from_secs(2));
    st.apply_event(&event(
        "gw0",
        EventKind::RsyncProgress {
            job: 4,
            dest: "copy".into(),
            files_listed: 40,
            compared: true,
            files_total: 10,
            files_done: 4,
            bytes_total: 4 << 20,
            bytes_done: 2 << 20,
            bytes_on_wire: 512 << 10,
            current: Some("pkg/data.bin".into()),
        },
    ));
    st.apply_event(&event(
        "gw1",
        EventKind::RsyncProgress {
            job: 4,
            dest: "copy".into(),
            files_listed: 40,
            compared: false,
            files_total: 2,
            files_done: 0,
            bytes_total: 100,
            bytes_done: 0,
            bytes_on_wire: 300,
            current: None,
        },
    ));
    let text = screen(&st);
    for needle in [
        "Job 1",
        "project/src → copy",
        "delete, exclude *.pyc build/",
        "gw0: 4/10 files, 2.0 MiB/4.0 MiB, ",
        "/s, ETA ",
        "512.0 KiB on the wire, delta saved 1.5 MiB",
        "now pkg/data.bin",
        // Still comparing: totals grow.
        "gw1: 0/2+ files, 0 B/100 B+",
        "300 B on the wire",
        "#1 … project/src → copy on gw0, gw1",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}\n{text}");
    }
    assert!(!text.contains("300 B on the wire, delta"), "{text}");
}

#[test]
fn a_finished_job_shows_its_report_and_past_jobs_stay() {
    let mut st = sample();
    let now = Instant::now();
    let spec = st.rsync.form.job(&["gw0".into(), "gw1".into()]).unwrap();
    let first = st.rsync.start(spec.clone(), now);
    st.rsync
        .ended(first, Ok(vec![report("gw1", Some("cancelled"))]), now);
    let second = st.rsync.start(spec, now);
    st.rsync.ended(
        second,
        Ok(vec![report("gw1", None)]),
        now + Duration::from_secs(1),
    );
    let text = screen(&st);
    for needle in [
        "Job 2",
        "gw1 → copy: 3 of 40 files sent, 3.0 MiB (1.0 MiB on the wire), 0.50s, deleted 1, 1 errors",
        "delta saved 2.0 MiB",
        "deleted: old.txt",
        "x/locked: Permission denied",
        "#1 ✗ project/src",
        "#2 ✗ project/src",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}\n{text}");
    }
    st.rsync.move_selection(-1);
    let text = screen(&st);
    assert!(text.contains("Job 1"), "{text}");
    assert!(text.contains("gw1 → copy: FAILED: cancelled"), "{text}");
}

#[test]
fn the_help_on_the_rsync_screen_lists_its_keys() {
    let mut st = sample();
    st.overlay = Overlay::Help { scroll: 0 };
    let text = screen(&st);
    assert!(text.contains("On the rsync screen"), "{text}");
    for b in default_keymap()
        .into_iter()
        .filter(|b| b.context == Context::Rsync)
    {
        assert!(text.contains(b.help), "help lacks {:?}\n{text}", b.help);
    }
    assert!(!text.contains("In the gateway list"), "{text}");
    // Of the keys for everywhere, only those that work here.
    assert!(
        text.contains("rsync screen (again: back to the gateways)"),
        "{text}"
    );
    assert!(text.contains("command palette"), "{text}");
    assert!(
        !text.contains("run the pane on the selected gateway"),
        "{text}"
    );
}

#[test]
fn quitting_during_a_job_names_it() {
    let mut st = sample();
    let spec = st.rsync.form.job(&["gw0".into(), "gw1".into()]).unwrap();
    st.rsync.start(spec, Instant::now());
    st.overlay = Overlay::ConfirmQuit;
    let text = screen(&st);
    assert!(
        text.contains("rsync job 1 is still running. Quit, cancel it and stop every gateway?"),
        "{text}"
    );
}
