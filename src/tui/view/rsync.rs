//! The rsync screen: the form of a new job and the list of jobs on the
//! left, the shown job on the right (each target's progress while it runs:
//! files and bytes done of the total, rate, ETA, current file, bytes on the
//! wire and what the delta saved; then its report), the status line below.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::fmt::{duration, size, summary};
use crate::tui::input::{Action, Binding, Context, RsyncAction, keys_for};
use crate::tui::state::State;
use crate::tui::state::rsync::{Job, JobState, Row, TargetView, live_ids};
use crate::tui::theme::Theme;

/// Most per-path errors listed under a target's report.
const ERRORS_SHOWN: usize = 8;

/// Draws the screen in `area`.
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let left_width = (main.width * 45 / 100).max(42);
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(20)]).areas(main);
    let live = live_ids(&state.gateways);
    let form_height = (live.len().max(1) as u16 + 9).min(left.height.saturating_sub(4));
    let [form, jobs] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Min(3)]).areas(left);
    draw_form(frame, form, state, theme, keymap, &live);
    draw_jobs(frame, jobs, state, theme);
    draw_job(frame, right, state, theme);
    super::status::draw(frame, status, state, theme, keymap);
}

fn block<'a>(title: &'a str, theme: &Theme, focus: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focus {
            theme.border_focus
        } else {
            theme.border
        })
        .title(Span::styled(title, theme.title))
}

fn check(on: bool) -> &'static str {
    if on { "[x]" } else { "[ ]" }
}

fn draw_form(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
    live: &[String],
) {
    let form = &state.rsync.form;
    let rows = form.rows(live);
    let cursor = form.cursor.min(rows.len() - 1);
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let text = |label: &str, value: &str| {
            let mut spans = vec![
                Span::styled(format!("{label:>8} "), theme.dim),
                Span::raw(value.to_owned()),
            ];
            if i == cursor {
                spans.push(Span::styled("▏", theme.key));
            }
            spans
        };
        let option = |label: &str, on: bool, what: &str| {
            vec![
                Span::styled(format!("{label:>8} "), theme.dim),
                Span::raw(format!("{} {what}", check(on))),
            ]
        };
        let spans = match row {
            Row::Source => text("source", &form.source),
            Row::Dest => text("dest", &form.dest),
            Row::Excludes => text("exclude", &form.excludes),
            Row::Target(id) => {
                let kind = state.gateways.get(id).map_or("", |g| g.kind.as_str());
                vec![
                    Span::styled(format!("{:>8} ", "target"), theme.dim),
                    Span::raw(format!("{} {id}", check(form.targets.contains(id)))),
                    Span::styled(format!(" {kind}"), theme.dim),
                ]
            }
            Row::Delete => option("delete", form.delete, "files the source lacks"),
            Row::Gitignore => option("filter", form.gitignore, "by .gitignore files"),
            Row::DryRun => option("dry run", form.dry_run, "write nothing"),
        };
        let mut line = Line::from(spans);
        if i == cursor {
            line = line.style(theme.selected);
        }
        lines.push(line);
        if *row == Row::Source && live.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("{:>8} no live gateway to send to", "target"),
                theme.error,
            )));
        }
    }
    let keys = |a: RsyncAction| keys_for(keymap, Context::Rsync, Action::Rsync(a)).join("/");
    lines.push(match &state.rsync.problem {
        Some(p) => Line::from(Span::styled(p.as_str(), theme.error)),
        None => Line::from(Span::styled(
            format!(
                "{} start, {} check, {} complete",
                keys(RsyncAction::Start),
                keys(RsyncAction::Toggle),
                keys(RsyncAction::Complete)
            ),
            theme.dim,
        )),
    });
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(" New rsync job ", theme, true))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// A job in one line: number, mark, what went where, how long.
fn job_line(job: &Job, now: Instant) -> String {
    let mark = match &job.state {
        JobState::Running => "…",
        JobState::Cancelling => "⊘",
        JobState::Failed(_) => "✗",
        JobState::Done if job.is_ok() => "✓",
        JobState::Done => "✗",
    };
    let took = job
        .ended
        .unwrap_or(now)
        .saturating_duration_since(job.started);
    format!(
        "#{} {mark} {} → {} on {}  {}",
        job.id,
        job.spec.source,
        job.spec.dest,
        job.spec.targets.join(", "),
        duration(took.as_secs_f64())
    )
}

fn draw_jobs(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let now = Instant::now();
    let rs = &state.rsync;
    let inner = area.height.saturating_sub(2) as usize;
    let skip = (rs.selected + 1).saturating_sub(inner.max(1));
    let lines: Vec<Line> = if rs.jobs.is_empty() {
        vec![Line::from(Span::styled("no jobs yet", theme.dim))]
    } else {
        rs.jobs
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, job)| {
                let style = match &job.state {
                    JobState::Running | JobState::Cancelling => theme.starting,
                    JobState::Done if job.is_ok() => theme.live,
                    _ => theme.failed,
                };
                let line = Line::from(Span::styled(job_line(job, now), style));
                if i == rs.selected {
                    line.style(theme.selected)
                } else {
                    line
                }
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(block(" Jobs ", theme, false)),
        area,
    );
}

fn draw_job(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(job) = state.rsync.shown() else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "Fill the form and start a job: each target's progress and report show here.",
                theme.dim,
            ))
            .wrap(Wrap { trim: false })
            .block(block(" Job ", theme, false)),
            area,
        );
        return;
    };
    let now = Instant::now();
    let mut options: Vec<String> = Vec::new();
    if job.spec.delete {
        options.push("delete".into());
    }
    if job.spec.gitignore {
        options.push(".gitignore".into());
    }
    if job.spec.dry_run {
        options.push("dry run".into());
    }
    if !job.spec.excludes.is_empty() {
        options.push(format!("exclude {}", job.spec.excludes.join(" ")));
    }
    let mut lines = vec![Line::from(Span::styled(
        format!("{} → {}", job.spec.source, job.spec.dest),
        theme.title,
    ))];
    if !options.is_empty() {
        lines.push(Line::from(Span::styled(options.join(", "), theme.dim)));
    }
    match &job.state {
        JobState::Failed(e) => {
            lines.push(Line::from(Span::styled(
                format!("could not start: {e}"),
                theme.error,
            )));
        }
        JobState::Cancelling => {
            lines.push(Line::from(Span::styled("cancelling…", theme.starting)));
        }
        _ => {}
    }
    let elapsed = job
        .ended
        .unwrap_or(now)
        .saturating_duration_since(job.started)
        .as_secs_f64();
    for t in &job.targets {
        lines.push(Line::default());
        target_lines(&mut lines, t, elapsed, theme);
    }
    let title = format!(" Job {} ", job.id);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(&title, theme, false)),
        area,
    );
}

/// A target's lines: its progress while it runs, its report once it ended.
fn target_lines(lines: &mut Vec<Line<'static>>, t: &TargetView, elapsed: f64, theme: &Theme) {
    let saving = t.saving().map(|s| format!(", delta saved {}", size(s)));
    if let Some(report) = &t.report {
        let style = if report.is_ok() {
            theme.live
        } else {
            theme.failed
        };
        lines.push(Line::from(Span::styled(summary(report), style)));
        if let Some(saved) = saving {
            lines.push(Line::from(Span::styled(
                format!("  {}", saved.trim_start_matches(", ")),
                theme.dim,
            )));
        }
        if !report.deleted.is_empty() {
            let verb = if report.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            lines.push(Line::from(Span::styled(
                format!("  {verb}: {}", report.deleted.join(", ")),
                theme.dim,
            )));
        }
        for e in report.errors.iter().take(ERRORS_SHOWN) {
            lines.push(Line::from(Span::styled(format!("  {e}"), theme.error)));
        }
        if report.errors.len() > ERRORS_SHOWN {
            lines.push(Line::from(Span::styled(
                format!("  … {} more errors", report.errors.len() - ERRORS_SHOWN),
                theme.error,
            )));
        }
        return;
    }
    let more = if t.compared { "" } else { "+" };
    let rate = if elapsed > 0.0 {
        t.bytes_done as f64 / elapsed
    } else {
        0.0
    };
    let mut head = format!(
        "{}: {}/{}{more} files, {}/{}{more}, {}/s",
        t.gateway,
        t.files_done,
        t.files_total,
        size(t.bytes_done),
        size(t.bytes_total),
        size(rate as u64)
    );
    if t.compared && rate > 0.0 && t.bytes_total > t.bytes_done {
        let eta = (t.bytes_total - t.bytes_done) as f64 / rate;
        head.push_str(&format!(", ETA {}", duration(eta)));
    }
    lines.push(Line::from(Span::styled(head, theme.starting)));
    lines.push(Line::from(Span::styled(
        format!(
            "  {} on the wire{}",
            size(t.bytes_on_wire),
            saving.unwrap_or_default()
        ),
        theme.dim,
    )));
    if let Some(current) = &t.current {
        lines.push(Line::from(Span::styled(
            format!("  now {current}"),
            theme.dim,
        )));
    }
}
