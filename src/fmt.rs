//! Numbers for people, shared by the command line and the TUI: byte sizes,
//! durations, and the one-line summary of an rsync target's report.

use std::fmt::Write as _;

use crate::engine::rsync::TargetReport;

/// `1.5 MiB`, `512 B`: sizes for people.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1m05s`, `42s`: durations for people.
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// A target's summary line: `gw0 → /tmp/x: 3 of 40 files sent, 1.2 MiB
/// (4.1 KiB on the wire), 0.42s`, with deletions, errors and failures.
pub fn summary(report: &TargetReport) -> String {
    let mut line = format!("{} → {}: ", report.gateway, report.dest);
    if let Some(error) = &report.error {
        let _ = write!(line, "FAILED: {error}");
        return line;
    }
    let verb = if report.dry_run { "would send" } else { "sent" };
    let _ = write!(
        line,
        "{} of {} files {verb}, {} ({} on the wire), {:.2}s",
        report.files_sent,
        report.files_checked,
        size(report.bytes_sent),
        size(report.bytes_on_wire),
        report.seconds
    );
    if !report.deleted.is_empty() {
        let verb = if report.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let _ = write!(line, ", {verb} {}", report.deleted.len());
    }
    if !report.errors.is_empty() {
        let _ = write!(line, ", {} errors", report.errors.len());
    }
    line
}
