//! One target of a job: runs the receiver on the gateway and drives the
//! protocol of `bootstrap/rsync_remote.py` (its docstring) from this side.
//!
//! The entries go out first, in batches. The receiver answers `need` or
//! `sig` for each file that differs; those files queue here and are sent
//! one at a time. A blocking task reads the file and computes its delta
//! against the receiver's signatures (`delta.rs`), handing over at most a
//! few operations at a time; this side sends them while fewer than
//! [`WINDOW`] literal bytes wait for the receiver's `ack`s, so neither
//! side holds more than a few MiB of any file.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::delta::{self, Op, Signature};
use super::filter::Rules;
use super::walk::{EntryKind, Tree};
use super::{RECEIVER_SOURCE, TargetOptions, TargetReport};
use crate::engine::channel::Channel;
use crate::engine::error::Error;
use crate::engine::events::EventKind;
use crate::engine::gateway::{ExecSource, Gateway};
use crate::wire::Value;
use crate::wire::serial::dumps;

/// Entries per `entries` item.
const ENTRY_BATCH: usize = 1000;

/// Literal bytes sent and not yet acknowledged, at most (about).
const WINDOW: u64 = 4 << 20;

/// Operations the reading task may have ready ahead of the sender.
const READ_AHEAD: usize = 4;

/// Progress events of a target, at most this often (and at each file's end).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Files of at least this many bytes are announced by a progress event as
/// their transfer starts, whenever the last event was: they take a while,
/// and a view of the transfer should name them at once.
const ANNOUNCE_SIZE: u64 = 1 << 20;

/// How long the receiver has to end its code after its report.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Bytes of a frame's header (code, channel, length).
const FRAME_HEADER: u64 = 9;

/// What every target of a job shares.
pub(crate) struct Job {
    /// Numbers the job in events.
    pub id: u64,
    /// The source directory.
    pub root: PathBuf,
    /// The source, walked once.
    pub tree: Arc<Tree>,
    /// What is left out (also protects destination entries from `delete`).
    pub rules: Arc<Rules>,
    /// Write nothing, report what would be done.
    pub dry_run: bool,
    /// Becomes true when the job is cancelled.
    pub cancel: watch::Receiver<bool>,
}

/// Starts the receiver for `dest` on `gw` (it waits for the entries, and
/// makes nothing before the first item comes).
pub(crate) async fn start(
    gw: &Gateway,
    dest: &str,
    options: TargetOptions,
    dry_run: bool,
) -> Result<Channel, String> {
    let source = ExecSource::code(RECEIVER_SOURCE)
        .call("serve")
        .kwarg("dest", Value::str(dest))
        .kwarg("delete", Value::Bool(options.delete))
        .kwarg("dry_run", Value::Bool(dry_run));
    gw.remote_exec(source).await.map_err(describe)
}

/// Syncs `dest` on `gw` with the job's tree through the receiver `start`ed
/// on `channel` at `started`; never fails: the report says what went wrong.
/// Publishes progress and the report on `gw`'s events.
pub(crate) async fn run(
    job: &Job,
    gw: &Gateway,
    dest: &str,
    channel: Result<Channel, String>,
    started: Instant,
) -> TargetReport {
    let mut driver = Driver::new(job, gw, dest);
    let outcome = match channel {
        Ok(channel) => driver.drive(&channel).await,
        Err(e) => Err(e),
    };
    let mut report = driver.report;
    report.seconds = started.elapsed().as_secs_f64();
    if let Err(error) = outcome {
        report.error = Some(error);
    }
    let id = job.id;
    gw.publish(|| EventKind::RsyncDone {
        job: id,
        report: Box::new(report.clone()),
    });
    report
}

/// A file waiting to be sent.
struct Work {
    index: usize,
    sig: Signature,
    /// The receiver's SHA-256 of its copy, when its size equals the source's.
    remote_sha: Option<[u8; 32]>,
}

/// What the reading task hands over.
enum Produced {
    Op(Op),
    /// The contents equal the receiver's copy.
    Same,
    /// All read; the SHA-256 of what was read.
    End([u8; 32]),
    /// The file could not be read (`PATH: reason`).
    Failed(String),
}

/// The file being sent.
struct Transfer {
    index: usize,
    rx: mpsc::Receiver<Produced>,
    /// Whether its `file` item went out.
    begun: bool,
}

/// What one turn of the loop brought.
enum Step {
    Cancelled,
    In(Result<Value, Error>),
    Out(Option<Produced>),
}

struct Driver<'a> {
    job: &'a Job,
    gw: &'a Gateway,
    report: TargetReport,
    queue: VecDeque<Work>,
    current: Option<Transfer>,
    /// Files whose answer (`done`, `failed`, `retry`) is awaited: true when
    /// data was sent, false for a `touch`.
    awaiting: HashMap<usize, bool>,
    /// Files with an error in the report.
    failed: HashSet<usize>,
    in_flight: u64,
    listed: bool,
    finished: bool,
    progress: Progress,
}

/// The numbers of a progress event.
#[derive(Default)]
struct Progress {
    files_total: u64,
    files_done: u64,
    bytes_total: u64,
    bytes_done: u64,
    current: Option<String>,
    last: Option<Instant>,
}

impl<'a> Driver<'a> {
    fn new(job: &'a Job, gw: &'a Gateway, dest: &str) -> Driver<'a> {
        let report = TargetReport {
            gateway: gw.id().to_string(),
            dest: dest.to_string(),
            dry_run: job.dry_run,
            errors: job.tree.skipped.clone(),
            ..TargetReport::default()
        };
        Driver {
            job,
            gw,
            report,
            queue: VecDeque::new(),
            current: None,
            awaiting: HashMap::new(),
            failed: HashSet::new(),
            in_flight: 0,
            listed: false,
            finished: false,
            progress: Progress::default(),
        }
    }

    async fn drive(&mut self, channel: &Channel) -> Result<(), String> {
        self.send_entries(channel).await?;
        let mut cancel = self.job.cancel.clone();
        loop {
            self.start_next();
            if self.listed
                && !self.finished
                && self.queue.is_empty()
                && self.current.is_none()
                && self.awaiting.is_empty()
            {
                self.finished = true;
                self.send(channel, tuple(vec![Value::str("finish")]))
                    .await?;
            }
            self.publish_progress(false);
            let sending = self.current.is_some() && self.in_flight < WINDOW;
            let step = tokio::select! {
                Ok(_) = cancel.wait_for(|c| *c) => Step::Cancelled,
                item = channel.receive(None) => Step::In(item),
                produced = next_produced(&mut self.current), if sending => Step::Out(produced),
            };
            match step {
                Step::Cancelled => {
                    let _ = channel.close(Some("cancelled")).await;
                    return Err("cancelled".into());
                }
                Step::In(Ok(item)) => {
                    if self.incoming(channel, item).await? {
                        break;
                    }
                }
                Step::In(Err(e)) => return Err(describe(e)),
                Step::Out(produced) => self.outgoing(channel, produced).await?,
            }
        }
        self.publish_progress(true);
        match channel.wait_close(Some(CLOSE_GRACE)).await {
            Ok(()) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }

    async fn send_entries(&mut self, channel: &Channel) -> Result<(), String> {
        for batch in self.job.tree.entries.chunks(ENTRY_BATCH) {
            let mut text = String::with_capacity(batch.len() * 64);
            for entry in batch {
                entry.pack(&mut text);
            }
            let item = tuple(vec![Value::str("packed"), Value::Str(text)]);
            self.send(channel, item).await?;
        }
        self.send(channel, tuple(vec![Value::str("end_entries")]))
            .await
    }

    /// Sends `item`, counting its bytes on the wire.
    async fn send(&mut self, channel: &Channel, item: Value) -> Result<(), String> {
        self.report.bytes_on_wire += wire_len(&item);
        match channel.send_ref(&item).await {
            Ok(()) => Ok(()),
            Err(e) => Err(why_closed(channel, e).await),
        }
    }

    /// Starts reading the next queued file, if none is being sent.
    fn start_next(&mut self) {
        if self.current.is_some() {
            return;
        }
        let Some(work) = self.queue.pop_front() else {
            return;
        };
        let entry = &self.job.tree.entries[work.index];
        let path = self.job.root.join(&entry.relpath);
        let name = entry.relpath.clone();
        self.progress.current = Some(name.clone());
        let index = work.index;
        if self.file_size(index) >= ANNOUNCE_SIZE {
            self.publish_progress(true);
        }
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        tokio::task::spawn_blocking(move || read_file(&path, &name, work, &tx));
        self.current = Some(Transfer {
            index,
            rx,
            begun: false,
        });
    }

    /// Handles one item from the receiver; true when it was the last (`report`).
    async fn incoming(&mut self, channel: &Channel, item: Value) -> Result<bool, String> {
        self.report.bytes_on_wire += wire_len(&item);
        let bad = || {
            format!(
                "rsync: unexpected item from the receiver: {}",
                preview(&item)
            )
        };
        let Value::Tuple(parts) = &item else {
            return Err(bad());
        };
        let Some(tag) = parts.first().and_then(Value::as_str) else {
            return Err(bad());
        };
        let int = |i: usize| parts.get(i).and_then(Value::as_i64);
        match (tag, parts.len()) {
            ("need", 2) => {
                let index = self.file_index(int(1)).ok_or_else(bad)?;
                self.wanted(Work {
                    index,
                    sig: Signature::empty(),
                    remote_sha: None,
                });
            }
            ("sig", 6) => {
                let index = self.file_index(int(1)).ok_or_else(bad)?;
                let (Some(size), Some(block_size)) = (int(2), int(3)) else {
                    return Err(bad());
                };
                let (Some(Value::Bytes(sha)), Some(Value::Bytes(sigs))) =
                    (parts.get(4), parts.get(5))
                else {
                    return Err(bad());
                };
                let sig = usize::try_from(block_size)
                    .map_err(|_| bad())
                    .and_then(|bs| Signature::parse(bs, sigs))?;
                let same_size = u64::try_from(size).ok() == Some(self.file_size(index));
                let remote_sha = <[u8; 32]>::try_from(sha.as_slice()).ok();
                self.wanted(Work {
                    index,
                    sig,
                    remote_sha: remote_sha.filter(|_| same_size),
                });
            }
            ("listed", 2) => {
                let count = int(1).and_then(|n| usize::try_from(n).ok());
                if count != Some(self.job.tree.entries.len()) {
                    return Err(format!(
                        "rsync: the receiver listed {} entries of {}",
                        preview(&item),
                        self.job.tree.entries.len()
                    ));
                }
                self.listed = true;
                self.report.files_checked = self.job.tree.files;
            }
            ("ack", 3) => {
                let (Some(literal), Some(written)) = (int(1), int(2)) else {
                    return Err(bad());
                };
                self.in_flight = self.in_flight.saturating_sub(literal.max(0) as u64);
                self.progress.bytes_done += written.max(0) as u64;
            }
            ("done", 2) => {
                let index = self.file_index(int(1)).ok_or_else(bad)?;
                let sent = self.awaiting.remove(&index).ok_or_else(bad)?;
                self.file_done(index, sent);
            }
            ("retry", 2) => {
                let index = self.file_index(int(1)).ok_or_else(bad)?;
                self.awaiting.remove(&index).ok_or_else(bad)?;
                let size = self.file_size(index);
                self.progress.bytes_done = self.progress.bytes_done.saturating_sub(size);
                self.queue.push_front(Work {
                    index,
                    sig: Signature::empty(),
                    remote_sha: None,
                });
            }
            ("failed", 3) => {
                let index = int(1)
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|i| *i < self.job.tree.entries.len())
                    .ok_or_else(bad)?;
                let reason = parts.get(2).and_then(Value::as_str).ok_or_else(bad)?;
                self.awaiting.remove(&index);
                self.file_failed(index, reason.to_string());
            }
            ("extra", 2) => {
                let Some(Value::List(extra)) = parts.get(1) else {
                    return Err(bad());
                };
                let mut doomed = Vec::new();
                for e in extra {
                    let Value::Tuple(pair) = e else {
                        return Err(bad());
                    };
                    let (Some(Value::Str(path)), Some(Value::Bool(is_dir))) =
                        (pair.first(), pair.get(1))
                    else {
                        return Err(bad());
                    };
                    if !self.job.rules.excluded(path, *is_dir) && !self.unread(path) {
                        doomed.push(path.clone());
                    }
                }
                let listed = if self.job.dry_run {
                    Vec::new()
                } else {
                    doomed.iter().map(|p| Value::str(p.clone())).collect()
                };
                self.report.deleted = doomed;
                self.send(
                    channel,
                    tuple(vec![Value::str("delete"), Value::List(listed)]),
                )
                .await?;
            }
            ("report", 2) => {
                self.report.remote_peak_rss_kib = parts
                    .get(1)
                    .and_then(|r| r.get("peak_rss_kib"))
                    .and_then(Value::as_i64)
                    .and_then(|n| u64::try_from(n).ok());
                return Ok(true);
            }
            _ => return Err(bad()),
        }
        Ok(false)
    }

    /// The receiver wants a file: queue it (in a dry run, count it as sent).
    fn wanted(&mut self, work: Work) {
        let size = self.file_size(work.index);
        self.progress.files_total += 1;
        self.progress.bytes_total += size;
        if self.job.dry_run {
            self.file_done(work.index, true);
        } else {
            self.queue.push_back(work);
        }
    }

    /// File `index` is in place: `sent` when its data went over.
    fn file_done(&mut self, index: usize, sent: bool) {
        let size = self.file_size(index);
        if sent {
            self.report.files_sent += 1;
            self.report.bytes_sent += size;
            self.report
                .sent
                .push(self.job.tree.entries[index].relpath.clone());
        } else {
            self.progress.bytes_done += size;
        }
        if self.job.dry_run {
            self.progress.bytes_done += size;
        }
        self.progress.files_done += 1;
        self.publish_progress(true);
    }

    /// File `index` could not be sent or written: once in the errors.
    fn file_failed(&mut self, index: usize, reason: String) {
        if self.failed.insert(index) {
            self.report.errors.push(reason);
        }
        if matches!(self.job.tree.entries[index].kind, EntryKind::File { .. }) {
            self.progress.files_done += 1;
        }
        self.publish_progress(true);
    }

    /// Sends what the reading task handed over.
    async fn outgoing(
        &mut self,
        channel: &Channel,
        produced: Option<Produced>,
    ) -> Result<(), String> {
        let Some(transfer) = self.current.as_mut() else {
            return Ok(());
        };
        let index = transfer.index;
        let begun = std::mem::replace(&mut transfer.begun, true);
        let produced = produced.unwrap_or_else(|| {
            Produced::Failed(format!(
                "{}: the reading task stopped",
                self.job.tree.entries[index].relpath
            ))
        });
        let needs_header = matches!(produced, Produced::Op(_) | Produced::End(_));
        if needs_header && !begun {
            let size = self.file_size(index) as i64;
            let item = tuple(vec![
                Value::str("file"),
                Value::Int(index as i64),
                Value::Int(size),
            ]);
            self.send(channel, item).await?;
        }
        match produced {
            Produced::Op(Op::Literal(data)) => {
                self.in_flight += data.len() as u64;
                self.send(channel, tuple(vec![Value::str("data"), Value::Bytes(data)]))
                    .await?;
            }
            Produced::Op(Op::Copy { block, count }) => {
                let item = tuple(vec![
                    Value::str("copy"),
                    Value::Int(block as i64),
                    Value::Int(count as i64),
                ]);
                self.send(channel, item).await?;
            }
            Produced::Same => {
                self.current = None;
                self.awaiting.insert(index, false);
                let item = tuple(vec![Value::str("touch"), Value::Int(index as i64)]);
                self.send(channel, item).await?;
            }
            Produced::End(sha) => {
                self.current = None;
                self.awaiting.insert(index, true);
                self.send(
                    channel,
                    tuple(vec![Value::str("end"), Value::Bytes(sha.to_vec())]),
                )
                .await?;
            }
            Produced::Failed(reason) => {
                self.current = None;
                if begun {
                    let item = tuple(vec![Value::str("abort"), Value::str(reason.clone())]);
                    self.send(channel, item).await?;
                }
                self.file_failed(index, reason);
            }
        }
        Ok(())
    }

    /// Whether `relpath` is, or is inside, a source path the walk could not read.
    fn unread(&self, relpath: &str) -> bool {
        self.job.tree.skipped_relpaths.iter().any(|skipped| {
            relpath == skipped
                || relpath
                    .strip_prefix(skipped.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// The index of a regular file of the tree, from an item's field.
    fn file_index(&self, field: Option<i64>) -> Option<usize> {
        let index = usize::try_from(field?).ok()?;
        match self.job.tree.entries.get(index)?.kind {
            EntryKind::File { .. } => Some(index),
            _ => None,
        }
    }

    /// The size of file `index` when the source was walked.
    fn file_size(&self, index: usize) -> u64 {
        match self.job.tree.entries[index].kind {
            EntryKind::File { size } => size,
            _ => 0,
        }
    }

    /// Publishes a progress event, at most every [`PROGRESS_EVERY`] unless `now`.
    fn publish_progress(&mut self, now: bool) {
        let due = self
            .progress
            .last
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if !(now || due) {
            return;
        }
        self.progress.last = Some(Instant::now());
        let p = &self.progress;
        self.gw.publish(|| EventKind::RsyncProgress {
            job: self.job.id,
            dest: self.report.dest.clone(),
            files_listed: self.job.tree.files,
            compared: self.listed,
            files_total: p.files_total,
            files_done: p.files_done,
            bytes_total: p.bytes_total,
            bytes_done: p.bytes_done,
            bytes_on_wire: self.report.bytes_on_wire,
            current: p.current.clone(),
        });
    }
}

/// The next thing the reading task of `current` hands over.
async fn next_produced(current: &mut Option<Transfer>) -> Option<Produced> {
    match current {
        Some(t) => t.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads the file of `work` and hands over what to send (runs on a blocking thread).
fn read_file(path: &std::path::Path, name: &str, work: Work, tx: &mpsc::Sender<Produced>) {
    let failed = |e: std::io::Error| Produced::Failed(format!("{name}: {e}"));
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(failed(e));
            return;
        }
    };
    if let Some(remote) = work.remote_sha {
        match sha256_of(&mut file) {
            Ok(sha) if sha == remote => {
                let _ = tx.blocking_send(Produced::Same);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.blocking_send(failed(e));
                return;
            }
        }
        file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(failed(e));
                return;
            }
        };
    }
    let mut emit = |op: Op| {
        tx.blocking_send(Produced::Op(op))
            .map_err(|_| std::io::Error::other("the transfer was stopped"))
    };
    let last = match delta::delta(&mut file, &work.sig, &mut emit) {
        Ok(sha) => Produced::End(sha),
        Err(e) => failed(e),
    };
    let _ = tx.blocking_send(last);
}

/// SHA-256 of everything `file` holds.
fn sha256_of(file: &mut File) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// A short repr of an item for an error message.
fn preview(item: &Value) -> String {
    crate::wire::pyrepr::repr_prefix(item, 120)
}

/// A tuple item.
fn tuple(items: Vec<Value>) -> Value {
    Value::Tuple(items)
}

/// Bytes `item` takes on the wire, header included.
fn wire_len(item: &Value) -> u64 {
    if let Value::Tuple(items) = item
        && let [Value::Str(tag), Value::Bytes(data)] = items.as_slice()
        && tag == "data"
    {
        let empty = tuple(vec![Value::str("data"), Value::Bytes(Vec::new())]);
        return encoded_len(&empty) + data.len() as u64;
    }
    encoded_len(item)
}

/// Bytes of `item`'s frame.
fn encoded_len(item: &Value) -> u64 {
    FRAME_HEADER + dumps(item).map_or(0, |b| b.len() as u64)
}

/// Why sending failed: the receiver's own error when it raised (the
/// channel closed with it) or its worker died, else `e`.
async fn why_closed(channel: &Channel, e: Error) -> String {
    match channel.wait_close(Some(Duration::from_secs(5))).await {
        Err(closed) if closed.remote().is_some() || matches!(closed, Error::GatewayDied { .. }) => {
            describe(closed)
        }
        _ => describe(e),
    }
}

/// The text of an error for a report: a remote error's last line (the
/// exception and its message), else the error itself.
fn describe(e: Error) -> String {
    match e.remote() {
        Some(r) => r.summary().to_string(),
        None => e.to_string(),
    }
}
