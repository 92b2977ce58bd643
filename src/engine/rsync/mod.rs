//! Mirroring a directory tree to one or many gateways, in execnet's shape
//! (`RSync`, `add_target`, `send`) without its limits: file data streams in
//! chunks of at most 1 MiB under a window of acknowledgements, so memory
//! does not grow with file size on either side; every file is written to a
//! temporary name and renamed into place once its SHA-256 checks; a file
//! that exists but differs costs only what changed (rsync's delta: the
//! receiver sends block signatures of its copy, this side finds the blocks
//! with a rolling checksum); the source is walked once for all targets,
//! which run concurrently and fail alone.
//!
//! The receiver is `bootstrap/rsync_remote.py`, run on each gateway with
//! `remote_exec`; its docstring is the protocol. Here: the walk and what to
//! leave out (`walk.rs`, `filter.rs`), the delta (`delta.rs`), and one
//! driver per target (`target.rs`), which publishes progress as
//! [`EventKind::RsyncProgress`](crate::engine::EventKind::RsyncProgress)
//! and its report as
//! [`EventKind::RsyncDone`](crate::engine::EventKind::RsyncDone) on the
//! gateway's event stream.
//!
//! ```no_run
//! # async fn example(gw: execdeck::engine::Gateway) -> Result<(), Box<dyn std::error::Error>> {
//! use execdeck::engine::rsync::{RSync, TargetOptions};
//! let mut rsync = RSync::new("src/");
//! rsync.exclude("*.pyc").exclude("build/");
//! rsync.add_target(gw, "/tmp/copy", TargetOptions { delete: true });
//! for report in rsync.send().await? {
//!     println!("{}: {} of {} files sent", report.gateway, report.files_sent, report.files_checked);
//! }
//! # Ok(()) }
//! ```

mod delta;
mod filter;
mod target;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use filter::PathFilter;

use super::gateway::Gateway;
use filter::Rules;

/// Source of the receiver each target runs (`bootstrap/rsync_remote.py`).
pub const RECEIVER_SOURCE: &str = include_str!("../../../bootstrap/rsync_remote.py");

/// Numbers the jobs of this process, so events of concurrent jobs can be told apart.
static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

/// Options of one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetOptions {
    /// Remove what the destination has and the source lacks (except what
    /// the excludes leave out, which is protected, as in rsync).
    pub delete: bool,
}

/// What a target's run did (also the `rsync_done` event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The gateway's id.
    pub gateway: String,
    /// The destination directory, as given.
    pub dest: String,
    /// Regular files of the source compared with the destination.
    pub files_checked: u64,
    /// Files sent (whole or as a delta); in a dry run, those that would be.
    pub files_sent: u64,
    /// Size of the files sent: the file data brought up to date.
    pub bytes_sent: u64,
    /// Bytes both ways on the wire for this target: frames with their
    /// headers, signatures, literal data and instructions.
    pub bytes_on_wire: u64,
    /// Wall-clock seconds from the start of the target to its end.
    pub seconds: f64,
    /// Source paths sent (or that would be, in a dry run), in walk order.
    pub sent: Vec<String>,
    /// Destination paths deleted (or that would be, in a dry run).
    pub deleted: Vec<String>,
    /// Paths that were skipped or could not be written, each as `PATH: reason`;
    /// the rest of the tree went on.
    pub errors: Vec<String>,
    /// Why the target failed as a whole (worker gone, destination not
    /// writable, disk full, cancelled), if it did.
    pub error: Option<String>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// The receiving worker's peak resident memory, as it reported it.
    pub remote_peak_rss_kib: Option<u64>,
}

impl TargetReport {
    /// Whether everything of this target went well.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.errors.is_empty()
    }
}

/// Why a job could not start (each target's own failures are in its report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsyncError {
    /// `send` without a target, as execnet refuses it.
    #[error("rsync: no targets to send to (add_target first)")]
    NoTargets,
    /// An exclude pattern that does not parse.
    #[error("rsync: {0}")]
    Pattern(String),
    /// The source is not a readable directory.
    #[error("rsync: {0}")]
    Source(String),
}

/// Stops a running [`RSync::send`]: each target aborts its current file
/// (the destination keeps its old copy) and ends with the error
/// `cancelled`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CancelHandle(Arc<watch::Sender<bool>>);

impl CancelHandle {
    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }
}

type FinishedCallback = Box<dyn FnOnce(&TargetReport) + Send>;

struct Target {
    gateway: Gateway,
    dest: String,
    options: TargetOptions,
    finished: Option<FinishedCallback>,
}

/// One sync job: a source directory, what to leave out of it, and targets.
pub struct RSync {
    source: PathBuf,
    filter: Option<PathFilter>,
    excludes: Vec<String>,
    gitignore: bool,
    dry_run: bool,
    targets: Vec<Target>,
    cancel: Arc<watch::Sender<bool>>,
}

impl RSync {
    /// A job that mirrors the contents of `source` (like `rsync -a SOURCE/ DEST`).
    pub fn new(source: impl AsRef<Path>) -> RSync {
        RSync {
            source: source.as_ref().to_path_buf(),
            filter: None,
            excludes: Vec::new(),
            gitignore: false,
            dry_run: false,
            targets: Vec::new(),
            cancel: Arc::new(watch::channel(false).0),
        }
    }

    /// execnet's `filter`: called with each absolute source path; `false`
    /// leaves it out (a directory with everything in it).
    pub fn filter(&mut self, filter: impl Fn(&Path) -> bool + Send + Sync + 'static) -> &mut Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Leaves out what matches a gitignore-style `pattern` (`*.pyc`,
    /// `build/`, `/top-only`, `a/**/b`, `!keep`).
    pub fn exclude(&mut self, pattern: impl Into<String>) -> &mut Self {
        self.excludes.push(pattern.into());
        self
    }

    /// Also leaves out what the source's `.gitignore` files ignore.
    pub fn filter_gitignore(&mut self, on: bool) -> &mut Self {
        self.gitignore = on;
        self
    }

    /// Writes and deletes nothing: the reports say what would be sent and deleted.
    pub fn dry_run(&mut self, on: bool) -> &mut Self {
        self.dry_run = on;
        self
    }

    /// Adds a target: `dest` on `gateway` becomes a mirror of the source.
    pub fn add_target(
        &mut self,
        gateway: Gateway,
        dest: impl Into<String>,
        options: TargetOptions,
    ) -> &mut Self {
        self.targets.push(Target {
            gateway,
            dest: dest.into(),
            options,
            finished: None,
        });
        self
    }

    /// Like [`RSync::add_target`], with `finished` called with the
    /// target's report as soon as that target ends (execnet's
    /// `finishedcallback`).
    pub fn add_target_with_callback(
        &mut self,
        gateway: Gateway,
        dest: impl Into<String>,
        options: TargetOptions,
        finished: impl FnOnce(&TargetReport) + Send + 'static,
    ) -> &mut Self {
        self.add_target(gateway, dest, options);
        if let Some(target) = self.targets.last_mut() {
            target.finished = Some(Box::new(finished));
        }
        self
    }

    /// A handle that stops [`RSync::send`] from elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// Walks the source once and syncs every target concurrently; one
    /// report per target, in the order they were added. A target that
    /// fails does not stop the others: its report carries the error.
    pub async fn send(self) -> Result<Vec<TargetReport>, RsyncError> {
        if self.targets.is_empty() {
            return Err(RsyncError::NoTargets);
        }
        let rules = Rules::new(&self.source, &self.excludes, self.gitignore, self.filter)
            .map_err(RsyncError::Pattern)?;
        let rules = Arc::new(rules);
        let root = self.source.clone();
        let walk_rules = rules.clone();
        let started = tokio::time::Instant::now();
        // The receivers start (compile, import) while the source is walked.
        let walk = tokio::task::spawn_blocking(move || walk::walk(&root, &walk_rules));
        let starts = futures_util::future::join_all(
            self.targets
                .iter()
                .map(|t| target::start(&t.gateway, &t.dest, t.options, self.dry_run)),
        );
        let (tree, channels) = tokio::join!(walk, starts);
        let tree = tree.unwrap_or_else(|e| Err(format!("the walk of the source failed: {e}")));
        let tree = match tree {
            Ok(tree) => tree,
            Err(why) => {
                // The receivers have made nothing yet: they end on the close.
                for channel in channels.into_iter().flatten() {
                    let _ = channel.close(Some(&why)).await;
                }
                return Err(RsyncError::Source(why));
            }
        };
        let job = Arc::new(target::Job {
            id: NEXT_JOB.fetch_add(1, Ordering::Relaxed),
            root: self.source,
            tree: Arc::new(tree),
            rules,
            dry_run: self.dry_run,
            cancel: self.cancel.subscribe(),
        });
        let runs = self.targets.into_iter().zip(channels).map(|(t, channel)| {
            let job = job.clone();
            async move {
                let report = target::run(&job, &t.gateway, &t.dest, channel, started).await;
                if let Some(finished) = t.finished {
                    finished(&report);
                }
                report
            }
        });
        Ok(futures_util::future::join_all(runs).await)
    }
}
