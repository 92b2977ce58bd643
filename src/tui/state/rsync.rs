//! The rsync screen's model: the form of a new job, the running job with
//! each target's progress (from `rsync_progress` / `rsync_done` events),
//! and past jobs with their reports. Nothing here calls the engine.

use std::time::Instant;

use super::gateways::Gateways;
use crate::engine::EventKind;
use crate::engine::rsync::TargetReport;

/// One row of the form, in the order they are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// The local source directory.
    Source,
    /// A live gateway that can be a target (checked or not).
    Target(String),
    /// The destination directory on every target.
    Dest,
    /// Exclude patterns (gitignore style, comma- or space-separated).
    Excludes,
    /// Delete what the destination has and the source lacks.
    Delete,
    /// Also leave out what the source's `.gitignore` files ignore.
    Gitignore,
    /// Write nothing, report what would be done.
    DryRun,
}

impl Row {
    /// Whether the row is typed into (else Space toggles it).
    pub fn is_text(&self) -> bool {
        matches!(self, Row::Source | Row::Dest | Row::Excludes)
    }
}

/// The form of a new job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The source directory as typed.
    pub source: String,
    /// The gateways checked as targets.
    pub targets: Vec<String>,
    /// The destination directory as typed.
    pub dest: String,
    /// Exclude patterns as typed.
    pub excludes: String,
    /// The delete option.
    pub delete: bool,
    /// The `.gitignore` filtering option.
    pub gitignore: bool,
    /// The dry-run option.
    pub dry_run: bool,
    /// Index of the row with the cursor.
    pub cursor: usize,
}

impl Form {
    /// The rows for these live gateways.
    pub fn rows(&self, live: &[String]) -> Vec<Row> {
        let mut rows = vec![Row::Source];
        rows.extend(live.iter().cloned().map(Row::Target));
        rows.extend([
            Row::Dest,
            Row::Excludes,
            Row::Delete,
            Row::Gitignore,
            Row::DryRun,
        ]);
        rows
    }

    /// The row with the cursor (kept in range).
    pub fn row(&self, live: &[String]) -> Row {
        let rows = self.rows(live);
        let at = self.cursor.min(rows.len() - 1);
        rows[at].clone()
    }

    /// Moves the cursor by `delta` rows, staying in range.
    pub fn move_cursor(&mut self, delta: isize, live: &[String]) {
        let n = self.rows(live).len() as isize;
        let at = (self.cursor.min(n as usize - 1) as isize + delta).clamp(0, n - 1);
        self.cursor = at as usize;
    }

    /// The text of a text row, to edit.
    pub fn text_mut(&mut self, row: &Row) -> Option<&mut String> {
        match row {
            Row::Source => Some(&mut self.source),
            Row::Dest => Some(&mut self.dest),
            Row::Excludes => Some(&mut self.excludes),
            _ => None,
        }
    }

    /// Checks or unchecks a toggle row.
    pub fn toggle(&mut self, row: &Row) {
        match row {
            Row::Target(id) => {
                if let Some(at) = self.targets.iter().position(|t| t == id) {
                    self.targets.remove(at);
                } else {
                    self.targets.push(id.clone());
                }
            }
            Row::Delete => self.delete = !self.delete,
            Row::Gitignore => self.gitignore = !self.gitignore,
            Row::DryRun => self.dry_run = !self.dry_run,
            _ => {}
        }
    }

    /// The exclude patterns: split at commas and white space.
    pub fn patterns(&self) -> Vec<String> {
        split_patterns(&self.excludes)
    }

    /// The job this form describes, with only the `live` gateways checked
    /// as targets (in the order of `live`); why not, when it cannot start.
    pub fn job(&self, live: &[String]) -> Result<JobSpec, String> {
        let source = self.source.trim();
        if source.is_empty() {
            return Err("type the source directory".into());
        }
        let targets: Vec<String> = live
            .iter()
            .filter(|id| self.targets.contains(id))
            .cloned()
            .collect();
        if targets.is_empty() {
            return Err("check at least one live gateway as a target (Space)".into());
        }
        let dest = self.dest.trim();
        if dest.is_empty() {
            return Err("type the destination directory".into());
        }
        Ok(JobSpec {
            source: source.to_owned(),
            targets,
            dest: dest.to_owned(),
            excludes: self.patterns(),
            delete: self.delete,
            gitignore: self.gitignore,
            dry_run: self.dry_run,
        })
    }
}

/// Exclude patterns typed as one line: split at commas and white space.
pub fn split_patterns(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a job is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The local source directory.
    pub source: String,
    /// The target gateways.
    pub targets: Vec<String>,
    /// The destination directory on each.
    pub dest: String,
    /// Exclude patterns.
    pub excludes: Vec<String>,
    /// Delete extraneous destination files.
    pub delete: bool,
    /// Filter with `.gitignore` files.
    pub gitignore: bool,
    /// Write nothing.
    pub dry_run: bool,
}

/// One target of a job as it runs, then its report.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetView {
    /// The gateway.
    pub gateway: String,
    /// Regular files of the source.
    pub files_listed: u64,
    /// Whether every entry has been compared (the totals are final).
    pub compared: bool,
    /// Files to send, found so far.
    pub files_total: u64,
    /// Files done.
    pub files_done: u64,
    /// Bytes to send, found so far.
    pub bytes_total: u64,
    /// Bytes written.
    pub bytes_done: u64,
    /// Bytes on the wire, both ways.
    pub bytes_on_wire: u64,
    /// The file being sent.
    pub current: Option<String>,
    /// The report, once the target ended.
    pub report: Option<TargetReport>,
}

impl TargetView {
    fn new(gateway: &str) -> TargetView {
        TargetView {
            gateway: gateway.to_owned(),
            files_listed: 0,
            compared: false,
            files_total: 0,
            files_done: 0,
            bytes_total: 0,
            bytes_done: 0,
            bytes_on_wire: 0,
            current: None,
            report: None,
        }
    }

    /// What the delta saved so far: file bytes brought up to date minus
    /// bytes on the wire, when positive.
    pub fn saving(&self) -> Option<u64> {
        let (sent, wire) = match &self.report {
            Some(r) => (r.bytes_sent, r.bytes_on_wire),
            None => (self.bytes_done, self.bytes_on_wire),
        };
        sent.checked_sub(wire).filter(|s| *s > 0)
    }
}

/// How a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Running.
    Running,
    /// Cancel asked, still running.
    Cancelling,
    /// Ended; every target has its report.
    Done,
    /// Could not start (bad pattern, unreadable source): why.
    Failed(String),
}

/// One job, running or past.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its number in this TUI (from 1).
    pub id: u64,
    /// What it was asked to do.
    pub spec: JobSpec,
    /// The engine's job number, learned from its first event.
    pub engine_job: Option<u64>,
    /// Its targets, in the order of the spec.
    pub targets: Vec<TargetView>,
    /// How it stands.
    pub state: JobState,
    /// When it started.
    pub started: Instant,
    /// When it ended.
    pub ended: Option<Instant>,
}

impl Job {
    /// Whether it still runs.
    pub fn is_running(&self) -> bool {
        matches!(self.state, JobState::Running | JobState::Cancelling)
    }

    /// Whether every target ended well.
    pub fn is_ok(&self) -> bool {
        self.state == JobState::Done
            && self
                .targets
                .iter()
                .all(|t| t.report.as_ref().is_some_and(TargetReport::is_ok))
    }
}

/// Everything the rsync screen shows.
#[derive(Debug, Clone, Default)]
pub struct Rsync {
    /// The form of the next job.
    pub form: Form,
    /// Jobs, oldest first.
    pub jobs: Vec<Job>,
    /// Index of the job shown (its progress or its report).
    pub selected: usize,
    /// Why the form could not start, shown under it.
    pub problem: Option<String>,
}

impl Rsync {
    /// The running job, if one runs.
    pub fn running(&self) -> Option<&Job> {
        self.jobs.iter().find(|j| j.is_running())
    }

    /// The job shown.
    pub fn shown(&self) -> Option<&Job> {
        self.jobs.get(self.selected)
    }

    /// Records a new running job for `spec`, shows it, and returns its number.
    pub fn start(&mut self, spec: JobSpec, now: Instant) -> u64 {
        let id = self.jobs.last().map_or(1, |j| j.id + 1);
        let targets = spec.targets.iter().map(|g| TargetView::new(g)).collect();
        self.jobs.push(Job {
            id,
            spec,
            engine_job: None,
            targets,
            state: JobState::Running,
            started: now,
            ended: None,
        });
        self.selected = self.jobs.len() - 1;
        self.problem = None;
        id
    }

    /// Marks job `id` as being cancelled.
    pub fn cancelling(&mut self, id: u64) {
        if let Some(job) = self.job_mut(id)
            && job.state == JobState::Running
        {
            job.state = JobState::Cancelling;
        }
    }

    /// Job `id` ended: with the reports of its targets, or why it could not start.
    pub fn ended(&mut self, id: u64, result: Result<Vec<TargetReport>, String>, now: Instant) {
        let Some(job) = self.job_mut(id) else {
            return;
        };
        job.ended = Some(now);
        match result {
            Ok(reports) => {
                for report in reports {
                    if let Some(t) = job.targets.iter_mut().find(|t| t.gateway == report.gateway) {
                        t.current = None;
                        t.report = Some(report);
                    }
                }
                job.state = JobState::Done;
            }
            Err(e) => job.state = JobState::Failed(e),
        }
    }

    fn job_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Moves the shown job by `delta`, staying in range.
    pub fn move_selection(&mut self, delta: isize) {
        if self.jobs.is_empty() {
            return;
        }
        let n = self.jobs.len() as isize;
        self.selected = (self.selected as isize + delta).clamp(0, n - 1) as usize;
    }

    /// Updates the running job from an engine event of `gateway`. Events of
    /// other jobs (another destination, or another engine job number once
    /// this one's is known) are ignored.
    pub fn apply(&mut self, gateway: &str, kind: &EventKind) {
        let (job_no, dest) = match kind {
            EventKind::RsyncProgress { job, dest, .. } => (*job, dest.as_str()),
            EventKind::RsyncDone { job, report } => (*job, report.dest.as_str()),
            _ => return,
        };
        let Some(job) = self.jobs.iter_mut().find(|j| {
            j.is_running()
                && j.engine_job.is_none_or(|n| n == job_no)
                && j.spec.dest == dest
                && j.spec.targets.iter().any(|t| t == gateway)
        }) else {
            return;
        };
        job.engine_job = Some(job_no);
        let Some(t) = job.targets.iter_mut().find(|t| t.gateway == gateway) else {
            return;
        };
        match kind {
            EventKind::RsyncProgress {
                files_listed,
                compared,
                files_total,
                files_done,
                bytes_total,
                bytes_done,
                bytes_on_wire,
                current,
                ..
            } => {
                t.files_listed = *files_listed;
                t.compared = *compared;
                t.files_total = *files_total;
                t.files_done = *files_done;
                t.bytes_total = *bytes_total;
                t.bytes_done = *bytes_done;
                t.bytes_on_wire = *bytes_on_wire;
                t.current.clone_from(current);
            }
            EventKind::RsyncDone { report, .. } => {
                t.current = None;
                t.report = Some((**report).clone());
            }
            _ => {}
        }
    }
}

/// The ids of the live gateways, in list order (the form's targets).
pub fn live_ids(gateways: &Gateways) -> Vec<String> {
    gateways
        .list
        .iter()
        .filter(|g| g.is_live())
        .map(|g| g.id.clone())
        .collect()
}

/// Tab on the source row: the longest completion of `input` as a local
/// path (a directory gets its `/`); `None` when nothing extends it.
pub fn complete_path(input: &str) -> Option<String> {
    let (dir, prefix) = match input.rfind('/') {
        Some(at) => (&input[..=at], &input[at + 1..]),
        None => ("", input),
    };
    let read_from = match dir {
        "" => ".".to_owned(),
        d if d.starts_with("~/") => match std::env::var_os("HOME") {
            Some(home) => format!("{}/{}", home.to_string_lossy(), &d[2..]),
            None => d.to_owned(),
        },
        d => d.to_owned(),
    };
    let mut found: Vec<(String, bool)> = std::fs::read_dir(&read_from)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let hidden = name.starts_with('.') && !prefix.starts_with('.');
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            (name.starts_with(prefix) && !hidden).then_some((name, is_dir))
        })
        .collect();
    found.sort();
    let (first, first_dir) = found.first()?.clone();
    let mut common = first.clone();
    for (name, _) in &found[1..] {
        let same = common
            .chars()
            .zip(name.chars())
            .take_while(|(a, b)| a == b)
            .count();
        common = common.chars().take(same).collect();
    }
    let mut out = format!("{dir}{common}");
    if found.len() == 1 && first_dir {
        out.push('/');
    }
    (out.len() > input.len()).then_some(out)
}

#[cfg(test)]
mod tests;
