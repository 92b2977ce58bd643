//! Recording: a task that follows a group's events while a command or the
//! terminal UI runs, writes them to a trace file when one is asked for, and
//! hands each to an observer (the command line prints workers' stderr).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;

use super::write::TraceWriter;
use crate::engine::{Group, Received, Subscription};

/// Sees every event the recorder receives (or how many were lost).
pub type Observer = Box<dyn FnMut(&Received) + Send>;

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The trace file could not be created.
    #[error("cannot write trace file {}: {source}", path.display())]
    Create {
        /// The trace file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Writing to the trace file failed.
    #[error("writing trace file {}: {source}", path.display())]
    Write {
        /// The trace file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The recording task panicked or was cancelled.
    #[error("event task failed: {0}")]
    Task(String),
}

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Write every event (messages included) to this trace file.
    pub trace_file: Option<PathBuf>,
    /// Also write each message's whole payload (base64).
    pub payloads: bool,
}

/// A task that consumes a group's events until stopped.
pub struct Recorder {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<Result<(), RecordError>>,
}

impl Recorder {
    /// Subscribes to `group` (to every event when there is a trace file, else
    /// to all but messages) and starts the task, which hands each event to
    /// `observer` and writes it to the trace file. Fails when the trace file
    /// cannot be created.
    pub fn start(
        group: &Group,
        opts: &RecordOptions,
        mut observer: Option<Observer>,
    ) -> Result<Recorder, RecordError> {
        let mut trace = match &opts.trace_file {
            Some(path) => Some((path.clone(), create(path, opts.payloads)?)),
            None => None,
        };
        let mut events: Subscription = match trace {
            Some(_) => group.subscribe(),
            None => group.subscribe_lifecycle(),
        };
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut handle = |received: Received| -> Result<(), RecordError> {
                if let Some(observe) = &mut observer {
                    observe(&received);
                }
                if let Some((path, writer)) = &mut trace {
                    writer
                        .write(&received)
                        .map_err(|source| RecordError::Write {
                            path: path.clone(),
                            source,
                        })?;
                }
                Ok(())
            };
            loop {
                tokio::select! {
                    biased;
                    received = events.recv() => match received {
                        Some(received) => handle(received)?,
                        None => break,
                    },
                    _ = stopped.notified() => {
                        while let Some(received) = events.try_recv() {
                            handle(received)?;
                        }
                        break;
                    }
                }
            }
            if let Some((path, writer)) = &mut trace {
                writer.flush().map_err(|source| RecordError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            Ok(())
        });
        Ok(Recorder { stop, task })
    }

    /// Handles what is still queued, flushes the trace file and ends the task.
    /// Fails if the trace file could not be written.
    pub async fn stop(self) -> Result<(), RecordError> {
        self.stop.notify_one();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(RecordError::Task(e.to_string())),
        }
    }
}

/// Creates the trace file; the header names the command line that runs.
fn create(
    path: &Path,
    payloads: bool,
) -> Result<TraceWriter<io::BufWriter<std::fs::File>>, RecordError> {
    let command: Vec<String> = std::env::args().collect();
    TraceWriter::create(path, payloads, &command).map_err(|source| RecordError::Create {
        path: path.to_owned(),
        source,
    })
}
