//! `execdeck rsync`'s live lines on a terminal: one line per target, redrawn
//! in place at most ten times a second from the job's progress events, each
//! ending as its target's summary.

use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::engine::EventKind;
use crate::fmt::duration;
pub use crate::fmt::{size, summary};

/// Redraws no more often than this.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// What a target's line shows while it runs.
#[derive(Debug, Clone, Default)]
struct Live {
    gateway: String,
    dest: String,
    files_total: u64,
    files_done: u64,
    bytes_total: u64,
    bytes_done: u64,
    compared: bool,
    current: Option<String>,
    started: Option<Instant>,
    done: Option<String>,
}

impl Live {
    fn line(&self, width: usize) -> String {
        if let Some(done) = &self.done {
            return cut(done, width);
        }
        let elapsed = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let rate = if elapsed > 0.0 {
            self.bytes_done as f64 / elapsed
        } else {
            0.0
        };
        let more = if self.compared { "" } else { "+" };
        let mut line = format!(
            "{} → {}: {}/{}{more} files, {}/{}{more}, {}/s",
            self.gateway,
            self.dest,
            self.files_done,
            self.files_total,
            size(self.bytes_done),
            size(self.bytes_total),
            size(rate as u64)
        );
        if self.compared && rate > 0.0 && self.bytes_total > self.bytes_done {
            let eta = (self.bytes_total - self.bytes_done) as f64 / rate;
            let _ = write!(line, ", ETA {}", duration(eta));
        }
        if let Some(current) = &self.current {
            let _ = write!(line, " {current}");
        }
        cut(&line, width)
    }
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The live lines of a job, one per target, in the order targets were added.
pub struct Lines {
    lines: Vec<Live>,
    drawn: usize,
    last: Option<Instant>,
    width: usize,
}

impl Lines {
    /// Lines for the targets on these gateways (id, destination).
    pub fn new(targets: &[(String, String)]) -> Lines {
        let width = crossterm::terminal::size().map_or(100, |(w, _)| usize::from(w.max(20)) - 1);
        Lines {
            lines: targets
                .iter()
                .map(|(gateway, dest)| Live {
                    gateway: gateway.clone(),
                    dest: dest.clone(),
                    ..Live::default()
                })
                .collect(),
            drawn: 0,
            last: None,
            width,
        }
    }

    /// Takes in an event of gateway `gw`; redraws on `out` when due.
    pub fn event(&mut self, gw: &str, kind: &EventKind, out: &mut impl Write) {
        let Some(live) = self.lines.iter_mut().find(|l| l.gateway == gw) else {
            return;
        };
        match kind {
            EventKind::RsyncProgress {
                compared,
                files_total,
                files_done,
                bytes_total,
                bytes_done,
                current,
                ..
            } => {
                live.started.get_or_insert_with(Instant::now);
                live.compared = *compared;
                live.files_total = *files_total;
                live.files_done = *files_done;
                live.bytes_total = *bytes_total;
                live.bytes_done = *bytes_done;
                live.current.clone_from(current);
            }
            EventKind::RsyncDone { report, .. } => {
                live.done = Some(summary(report));
                return self.draw(out);
            }
            _ => return,
        }
        if self.last.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) {
            self.draw(out);
        }
    }

    /// Marks target `gw` as ended with `line` (a gateway that did not start).
    pub fn end(&mut self, gw: &str, line: String, out: &mut impl Write) {
        if let Some(live) = self.lines.iter_mut().find(|l| l.gateway == gw) {
            live.done = Some(line);
        }
        self.draw(out);
    }

    /// Redraws every line in place.
    pub fn draw(&mut self, out: &mut impl Write) {
        self.last = Some(Instant::now());
        let mut text = String::new();
        if self.drawn > 0 {
            let _ = write!(text, "\x1b[{}F", self.drawn);
        }
        for live in &self.lines {
            let _ = writeln!(text, "\x1b[2K{}", live.line(self.width));
        }
        self.drawn = self.lines.len();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rsync::TargetReport;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(64 << 20), "64.0 MiB");
        assert_eq!(duration(65.2), "1m05s");
        assert_eq!(duration(4.6), "5s");
    }

    #[test]
    fn a_summary_names_what_was_sent_deleted_and_what_failed() {
        let mut report = TargetReport {
            gateway: "gw0".into(),
            dest: "/tmp/d".into(),
            files_checked: 40,
            files_sent: 3,
            bytes_sent: 2048,
            bytes_on_wire: 3000,
            seconds: 0.5,
            deleted: vec!["old".into()],
            ..TargetReport::default()
        };
        assert_eq!(
            summary(&report),
            "gw0 → /tmp/d: 3 of 40 files sent, 2.0 KiB (2.9 KiB on the wire), 0.50s, deleted 1"
        );
        report.dry_run = true;
        assert!(summary(&report).contains("files would send, "));
        assert!(summary(&report).ends_with("would delete 1"));
        report.error = Some("worker died".into());
        assert_eq!(summary(&report), "gw0 → /tmp/d: FAILED: worker died");
    }

    #[test]
    fn lines_redraw_in_place_and_end_as_summaries() {
        let mut lines = Lines::new(&[("gw0".into(), "/a".into()), ("gw1".into(), "/b".into())]);
        let mut out = Vec::new();
        let progress = EventKind::RsyncProgress {
            job: 1,
            dest: "/a".into(),
            files_listed: 10,
            compared: true,
            files_total: 4,
            files_done: 1,
            bytes_total: 4096,
            bytes_done: 1024,
            bytes_on_wire: 1100,
            current: Some("big.bin".into()),
        };
        lines.event("gw0", &progress, &mut out);
        let first = String::from_utf8(out.clone()).unwrap();
        assert!(
            first.contains("gw0 → /a: 1/4 files, 1.0 KiB/4.0 KiB"),
            "{first}"
        );
        assert!(first.contains("big.bin"), "{first}");
        assert!(first.contains("gw1 → /b: 0/0+ files"), "{first}");
        out.clear();
        let report = TargetReport {
            gateway: "gw0".into(),
            dest: "/a".into(),
            ..TargetReport::default()
        };
        let done = EventKind::RsyncDone {
            job: 1,
            report: Box::new(report),
        };
        lines.event("gw0", &done, &mut out);
        let second = String::from_utf8(out).unwrap();
        assert!(
            second.starts_with("\x1b[2F"),
            "moves up over both lines: {second:?}"
        );
        assert!(second.contains("gw0 → /a: 0 of 0 files sent"), "{second}");
    }
}
