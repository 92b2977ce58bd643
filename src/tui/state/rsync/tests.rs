//! The rsync screen's model: the form, progress from events, cancel, past jobs.

use std::time::{Duration, Instant};

use super::*;

fn live() -> Vec<String> {
    vec!["gw0".into(), "gw1".into()]
}

fn progress(job: u64, dest: &str, done: u64, wire: u64, current: Option<&str>) -> EventKind {
    EventKind::RsyncProgress {
        job,
        dest: dest.into(),
        files_listed: 4,
        compared: true,
        files_total: 3,
        files_done: done,
        bytes_total: 3000,
        bytes_done: done * 1000,
        bytes_on_wire: wire,
        current: current.map(str::to_owned),
    }
}

fn report(gw: &str, dest: &str, error: Option<&str>) -> TargetReport {
    TargetReport {
        gateway: gw.into(),
        dest: dest.into(),
        files_checked: 4,
        files_sent: 3,
        bytes_sent: 3000,
        bytes_on_wire: 1200,
        error: error.map(str::to_owned),
        ..TargetReport::default()
    }
}

fn filled() -> Form {
    Form {
        source: "src".into(),
        targets: vec!["gw1".into(), "gw0".into(), "gone".into()],
        dest: " copy ".into(),
        excludes: "*.pyc, build/  .cache".into(),
        delete: true,
        ..Form::default()
    }
}

#[test]
fn the_form_checks_what_it_needs_and_splits_the_excludes() {
    let mut form = Form::default();
    assert!(form.job(&live()).unwrap_err().contains("source"));
    form.source = "src".into();
    assert!(form.job(&live()).unwrap_err().contains("target"));
    form.toggle(&Row::Target("gw0".into()));
    assert!(form.job(&live()).unwrap_err().contains("destination"));
    let job = filled().job(&live()).unwrap();
    // Only live gateways, in list order.
    assert_eq!(job.targets, ["gw0", "gw1"]);
    assert_eq!(job.dest, "copy");
    assert_eq!(job.excludes, ["*.pyc", "build/", ".cache"]);
    assert!(job.delete && !job.dry_run && !job.gitignore);
}

#[test]
fn the_cursor_walks_the_rows_and_toggles_them() {
    let mut form = Form::default();
    assert_eq!(form.row(&live()), Row::Source);
    form.move_cursor(1, &live());
    assert_eq!(form.row(&live()), Row::Target("gw0".into()));
    form.toggle(&form.row(&live()));
    assert_eq!(form.targets, ["gw0"]);
    form.toggle(&Row::Target("gw0".into()));
    assert!(form.targets.is_empty());
    form.move_cursor(99, &live());
    assert_eq!(form.row(&live()), Row::DryRun);
    form.toggle(&Row::DryRun);
    assert!(form.dry_run);
    // Fewer gateways: the cursor stays on a row.
    assert_eq!(form.row(&[]), Row::DryRun);
    form.move_cursor(-99, &[]);
    assert_eq!(form.row(&[]), Row::Source);
    assert!(Row::Dest.is_text() && !Row::Delete.is_text());
}

#[test]
fn progress_and_reports_come_from_the_events_of_this_job_only() {
    let mut rs = Rsync::default();
    let t0 = Instant::now();
    let id = rs.start(filled().job(&live()).unwrap(), t0);
    assert_eq!(rs.running().map(|j| j.id), Some(id));
    // Another destination, or a gateway that is no target: not ours.
    rs.apply("gw0", &progress(7, "elsewhere", 1, 10, None));
    rs.apply("gw9", &progress(7, "copy", 1, 10, None));
    assert_eq!(rs.jobs[0].engine_job, None);
    rs.apply("gw0", &progress(7, "copy", 2, 500, Some("a/b.txt")));
    let t = &rs.jobs[0].targets[0];
    assert_eq!(
        (t.files_done, t.bytes_done, t.bytes_on_wire),
        (2, 2000, 500)
    );
    assert_eq!(t.current.as_deref(), Some("a/b.txt"));
    assert_eq!(t.saving(), Some(1500));
    // Once the engine's job number is known, other jobs are ignored.
    rs.apply("gw1", &progress(8, "copy", 3, 10, None));
    assert_eq!(rs.jobs[0].targets[1].files_done, 0);
    rs.apply(
        "gw0",
        &EventKind::RsyncDone {
            job: 7,
            report: Box::new(report("gw0", "copy", None)),
        },
    );
    let t = &rs.jobs[0].targets[0];
    assert_eq!(t.current, None);
    assert_eq!(t.report.as_ref().map(|r| r.files_sent), Some(3));
    assert_eq!(t.saving(), Some(1800));
    assert!(rs.running().is_some(), "gw1 still runs");
    rs.ended(
        id,
        Ok(vec![
            report("gw0", "copy", None),
            report("gw1", "copy", Some("cancelled")),
        ]),
        t0 + Duration::from_secs(2),
    );
    let job = &rs.jobs[0];
    assert_eq!(job.state, JobState::Done);
    assert!(!job.is_ok(), "gw1 failed");
    assert_eq!(
        job.targets[1]
            .report
            .as_ref()
            .and_then(|r| r.error.as_deref()),
        Some("cancelled")
    );
    assert!(rs.running().is_none());
}

#[test]
fn cancel_marks_the_job_until_it_ends_and_past_jobs_stay_listed() {
    let mut rs = Rsync::default();
    let now = Instant::now();
    let first = rs.start(filled().job(&live()).unwrap(), now);
    rs.cancelling(first);
    assert_eq!(rs.jobs[0].state, JobState::Cancelling);
    assert!(rs.jobs[0].is_running());
    rs.ended(
        first,
        Ok(vec![report("gw0", "copy", Some("cancelled"))]),
        now,
    );
    let second = rs.start(filled().job(&live()).unwrap(), now);
    assert_eq!(second, first + 1);
    assert_eq!(rs.selected, 1, "a new job is shown");
    rs.ended(second, Err("rsync: bad pattern".into()), now);
    assert_eq!(
        rs.jobs[1].state,
        JobState::Failed("rsync: bad pattern".into())
    );
    // Cancelling an ended job changes nothing.
    rs.cancelling(second);
    assert!(matches!(rs.jobs[1].state, JobState::Failed(_)));
    rs.move_selection(-5);
    assert_eq!(rs.shown().map(|j| j.id), Some(first));
    rs.move_selection(5);
    assert_eq!(rs.shown().map(|j| j.id), Some(second));
}

#[test]
fn tab_completes_local_paths() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("project/src")).unwrap();
    std::fs::create_dir_all(dir.path().join("produce")).unwrap();
    std::fs::write(dir.path().join("pr.txt"), "").unwrap();
    std::fs::create_dir_all(dir.path().join(".hidden")).unwrap();
    // The common part of several matches.
    assert_eq!(
        complete_path(&format!("{base}/p")),
        Some(format!("{base}/pr"))
    );
    // One directory: with its slash.
    assert_eq!(
        complete_path(&format!("{base}/proj")),
        Some(format!("{base}/project/"))
    );
    assert_eq!(
        complete_path(&format!("{base}/project/")),
        Some(format!("{base}/project/src/"))
    );
    assert_eq!(complete_path(&format!("{base}/x")), None);
    assert_eq!(complete_path(&format!("{base}/pr")), None, "nothing longer");
    assert_eq!(
        complete_path(&format!("{base}/.h")),
        Some(format!("{base}/.hidden/"))
    );
    assert_eq!(split_patterns(" a,,b  c "), ["a", "b", "c"]);
}

#[test]
fn a_running_job_counts_as_work_and_its_events_reach_it_through_the_state() {
    use crate::engine::{Event, Received};
    use crate::tui::state::{State, TaskMsg};
    use std::sync::Arc;
    let mut st = State::default();
    let now = Instant::now();
    assert!(!st.work_running());
    let id = st.rsync.start(filled().job(&live()).unwrap(), now);
    assert!(st.work_running(), "quitting asks first");
    st.apply_event(&Received::Event(Event {
        time: Duration::ZERO,
        gateway: Arc::from("gw1"),
        kind: progress(3, "copy", 1, 10, Some("x")),
    }));
    assert_eq!(st.rsync.jobs[0].targets[1].files_done, 1);
    st.apply_task(
        TaskMsg::RsyncEnded {
            job: id,
            result: Ok(vec![
                report("gw0", "copy", None),
                report("gw1", "copy", None),
            ]),
        },
        now,
    );
    assert!(st.rsync.jobs[0].is_ok());
    assert!(!st.work_running());
}
