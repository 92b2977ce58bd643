//! Effects: everything the TUI does outside itself, in one place. Engine
//! calls run in spawned tasks whose results come back to the loop as
//! [`TaskMsg`]s, so a slow or hung gateway never freezes the screen; files
//! are written atomically and failures come back as messages naming the
//! file; the clipboard is set with OSC 52.
//!
//! Only the app loop calls these; key handlers return actions.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

mod rsync;

use super::snippets;
use super::state::{State, TaskMsg};
use crate::engine::run::{OutputStream, Run};
use crate::engine::{Error, Group};
use crate::wire::Value;
use crate::wire::pyrepr::repr_pretty;

/// How long gateways get to exit when the TUI quits or a group is terminated.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Width used to pretty-print large items.
const PRETTY_WIDTH: usize = 72;
/// Most specs kept in the history.
const SPEC_HISTORY: usize = 100;

/// The engine side of the TUI: the group, the channel back to the loop, and
/// the handles of work in flight.
pub struct Effects {
    group: Group,
    tx: mpsc::UnboundedSender<TaskMsg>,
    /// Running runs, to send values into and to interrupt.
    runs: HashMap<u64, Run>,
    /// Gateways with a status poll in flight (no second one is started).
    polling: HashSet<String>,
    /// Number for the next batch of runs.
    next_batch: u64,
    /// Running rsync jobs (by their number in the TUI), to cancel.
    rsyncs: HashMap<u64, crate::engine::rsync::CancelHandle>,
}

impl Effects {
    /// Effects on `group`, reporting to the loop through `tx`.
    pub fn new(group: Group, tx: mpsc::UnboundedSender<TaskMsg>) -> Effects {
        Effects {
            group,
            tx,
            runs: HashMap::new(),
            polling: HashSet::new(),
            next_batch: 1,
            rsyncs: HashMap::new(),
        }
    }

    /// The engine's group.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// Keeps track of work in flight from a task's message (before the
    /// state sees it).
    pub fn note(&mut self, msg: &TaskMsg) {
        match msg {
            TaskMsg::Polled { gateway } => {
                self.polling.remove(gateway);
            }
            TaskMsg::RunStarted { run, handle } => {
                self.runs.insert(*run, handle.clone());
            }
            TaskMsg::RunEnded { run, .. } => {
                self.runs.remove(run);
            }
            TaskMsg::RsyncEnded { job, .. } => {
                self.rsyncs.remove(job);
            }
            _ => {}
        }
    }

    /// Starts a gateway for `spec` in the background; a failure comes back
    /// as a flash message.
    pub fn make_gateway(&self, spec: String) {
        let group = self.group.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Err(e) = group.makegateway(&spec).await {
                flash_error(&tx, &e);
            }
        });
    }

    /// Starts gateways as members of the TUI group `name` (the spec's
    /// `group=` key, which execnet and execdeck otherwise ignore).
    pub fn start_group(&self, name: &str, specs: Vec<String>) {
        for spec in specs {
            let labelled = crate::spec::XSpec::parse(&spec)
                .ok()
                .and_then(|s| s.with_group(name))
                .map_or(spec, |s| s.as_str().to_owned());
            self.make_gateway(labelled);
        }
    }

    /// Asks gateway `id` for its Python version (for gateways whose ready
    /// event did not say).
    pub fn fetch_python(&self, id: String) {
        let Some(gw) = self.group.get(&id) else {
            return;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Ok(info) = gw.rinfo(Some(Duration::from_secs(10))).await {
                let _ = tx.send(TaskMsg::Python {
                    gateway: id,
                    version: info.version,
                    executable: info.executable,
                });
            }
        });
    }

    /// Asks every live gateway for its status (answers arrive as events),
    /// one poll per gateway at a time.
    pub fn poll_status(&mut self) {
        for gw in self.group.gateways() {
            if !gw.is_alive() || !self.polling.insert(gw.id().to_owned()) {
                continue;
            }
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = gw.remote_status(Some(Duration::from_secs(5))).await;
                let _ = tx.send(TaskMsg::Polled {
                    gateway: gw.id().to_owned(),
                });
            });
        }
    }

    /// Exits gateway `id` and starts it again from its spec.
    pub fn restart(&self, id: String) {
        let group = self.group.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Err(e) = group.restart(&id, QUIT_TIMEOUT).await {
                flash_error(&tx, &e);
            }
        });
    }

    /// Exits gateway `id` and starts it again under the same id with
    /// `debug=stream` added to its spec, so its worker sends trace lines.
    pub fn restart_with_debug(&self, id: String) {
        let group = self.group.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let Some(old) = group.remove(&id) else {
                let _ = tx.send(TaskMsg::Flash {
                    text: format!("no gateway {id}"),
                    error: true,
                });
                return;
            };
            old.exit();
            if !old.wait_exit(QUIT_TIMEOUT).await {
                old.kill();
                old.wait_exit(QUIT_TIMEOUT).await;
            }
            let spec = match old.spec().with_id(&id) {
                Ok(s) if s.as_str().ends_with('/') => format!("debug=stream//{}", s.as_str()),
                Ok(s) => format!("{}//debug=stream", s.as_str()),
                Err(e) => {
                    flash_error(&tx, &Error::Usage(e.to_string()));
                    return;
                }
            };
            if let Err(e) = group.makegateway(&spec).await {
                flash_error(&tx, &e);
            }
        });
    }

    /// Exits the gateways `ids` in parallel (killing what does not end in
    /// time) and takes them out of the group.
    pub fn terminate(&self, ids: Vec<String>) {
        for id in ids {
            if let Some(gw) = self.group.remove(&id) {
                tokio::spawn(async move {
                    gw.exit();
                    if !gw.wait_exit(QUIT_TIMEOUT).await {
                        gw.kill();
                    }
                });
            }
        }
    }

    /// Asks gateway `id` to exit; `false` when it is not live.
    pub fn exit_gateway(&self, id: &str) -> bool {
        match self.group.get(id) {
            Some(gw) if gw.is_alive() => {
                gw.exit();
                true
            }
            _ => false,
        }
    }

    /// Sends `value` into run `run`'s channel; `false` when the run has ended.
    pub fn send_value(&self, run: u64, value: Value) -> bool {
        let Some(channel) = self.runs.get(&run).map(|r| r.channel().clone()) else {
            return false;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Err(e) = channel.send(value).await {
                flash_error(&tx, &e);
            }
        });
        true
    }

    /// Raises KeyboardInterrupt in run `run`; `false` when it has ended.
    pub fn interrupt(&self, run: u64) -> bool {
        let Some(run) = self.runs.get(&run).cloned() else {
            return false;
        };
        tokio::spawn(async move {
            let _ = run.interrupt().await;
        });
        true
    }

    /// Runs the active pane's code on each gateway in `ids` as one batch,
    /// recording the runs in `state`; items, output and the end come back
    /// as task messages.
    pub fn run_pane(&mut self, state: &mut State, ids: &[String]) {
        let Some(pane) = state.pane() else {
            return;
        };
        let code = pane.code();
        let file_name = format!("<pane {}>", pane.name);
        let batch = self.next_batch;
        self.next_batch += 1;
        for id in ids {
            let now = Instant::now();
            let Some(gw) = self.group.get(id) else {
                state.flash(format!("{id} is not live"), true, now);
                continue;
            };
            let run = state.start_run(id, batch, now);
            state.output_scroll = 0;
            let tx = self.tx.clone();
            let (code, file_name) = (code.clone(), file_name.clone());
            tokio::spawn(async move {
                let error = match gw.run(&code, &file_name).await {
                    Err(e) => Some(e.to_string()),
                    Ok(handle) => {
                        let _ = tx.send(TaskMsg::RunStarted {
                            run,
                            handle: handle.clone(),
                        });
                        stream_run(run, &handle, &tx).await
                    }
                };
                let _ = tx.send(TaskMsg::RunEnded { run, error });
            });
        }
    }

    /// Cancels running rsync jobs and terminates every gateway (the TUI is quitting).
    pub async fn terminate_all(&self) {
        for job in self.rsyncs.values() {
            job.cancel();
        }
        self.group.terminate(QUIT_TIMEOUT).await;
    }
}

fn flash_error(tx: &mpsc::UnboundedSender<TaskMsg>, e: &Error) {
    let _ = tx.send(TaskMsg::Flash {
        text: first_line(&e.to_string()),
        error: true,
    });
}

/// Forwards a run's items and printed output to the loop until it ends;
/// returns its error text, if it failed.
async fn stream_run(run: u64, handle: &Run, tx: &mpsc::UnboundedSender<TaskMsg>) -> Option<String> {
    let items = async {
        while let Ok(v) = handle.channel().receive(None).await {
            let text = repr_pretty(&v, PRETTY_WIDTH);
            let _ = tx.send(TaskMsg::RunItem { run, text });
        }
    };
    let output = async {
        let mut output = handle.output();
        while let Some(piece) = output.recv().await {
            let stderr = piece.stream == OutputStream::Stderr;
            let _ = tx.send(TaskMsg::RunOutput {
                run,
                stderr,
                text: piece.text,
            });
        }
    };
    tokio::join!(items, output);
    match handle.wait().await {
        Ok(()) => None,
        Err(Error::Remote(r)) => Some(r.text),
        Err(e) => Some(e.to_string()),
    }
}

/// Specs added before (newest last, no duplicates), kept in a file.
#[derive(Debug, Default)]
pub struct SpecHistory {
    /// The specs, newest last.
    pub list: Vec<String>,
    file: Option<PathBuf>,
}

impl SpecHistory {
    /// Adds the `known` specs (from the config), then those kept in `file`
    /// (missing or unreadable: none), and keeps the history there from now on.
    pub fn read(&mut self, file: Option<PathBuf>, known: &[String]) {
        let saved = file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        for spec in known.iter().map(String::as_str).chain(saved.lines()) {
            let spec = spec.trim();
            if !spec.is_empty() {
                self.list.retain(|s| s != spec);
                self.list.push(spec.to_owned());
            }
        }
        self.file = file;
    }

    /// Adds `spec` as the newest and saves the file; the error names it.
    pub fn remember(&mut self, spec: &str) -> Result<(), String> {
        self.list.retain(|s| s != spec);
        self.list.push(spec.to_owned());
        let excess = self.list.len().saturating_sub(SPEC_HISTORY);
        self.list.drain(..excess);
        match &self.file {
            Some(path) => {
                let mut text = self.list.join("\n");
                text.push('\n');
                write_file(path, &text)
            }
            None => Ok(()),
        }
    }
}

/// Writes `text` to `path` atomically; the error names the file.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    snippets::write_atomic(path, text).map_err(|e| format!("cannot save {}: {e}", path.display()))
}

/// Reads a text file; the error names it.
pub fn read_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Saves the panes (name, code) in `dir`; the error names it.
pub fn save_panes(dir: &Path, panes: &[(String, String)]) -> Result<(), String> {
    snippets::save(dir, panes).map_err(|e| format!("cannot save panes in {}: {e}", dir.display()))
}

/// Puts `text` on the clipboard of the terminal (and over ssh and tmux) with OSC 52.
pub fn copy_osc52(text: &str) {
    use base64::Engine as _;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

/// The first line of an error (flash messages are one line).
pub fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_history_keeps_the_newest_once_and_saves_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spec_history");
        std::fs::write(&file, "popen\nssh=a\n").unwrap();
        let mut h = SpecHistory::default();
        h.list.push("popen".into());
        h.read(Some(file.clone()), &["ssh=a".into(), "py".into()]);
        assert_eq!(h.list, ["py", "popen", "ssh=a"]);
        h.remember("popen").unwrap();
        assert_eq!(h.list, ["py", "ssh=a", "popen"]);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "py\nssh=a\npopen\n"
        );
        // A file where its directory should be.
        let mut broken = SpecHistory::default();
        broken.read(Some(file.join("x")), &[]);
        let err = broken.remember("popen").unwrap_err();
        assert!(err.contains("spec_history/x"), "{err}");
    }
}
