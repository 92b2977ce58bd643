//! The TUI's model: fed by engine events and task results, read by views.
//! Nothing here calls the engine or draws.

pub mod detail;
pub mod gateways;
pub mod panes;
pub mod prompt;
pub mod ring;
pub mod rsync;
pub mod traffic;

use std::time::{Duration, Instant};

use gateways::Gateways;
use panes::{Pane, RunState, RunView};

use crate::engine::Received;

/// How long a flash message stays.
pub const FLASH_FOR: Duration = Duration::from_secs(4);

/// The code a first pane starts with.
pub const WELCOME_CODE: &str =
    "import sys, os\nchannel.send((sys.version.split()[0], os.getpid()))\n";

/// One row of the gateway tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRow {
    /// A group heading with the number of its gateways shown.
    Group {
        /// The group's name.
        name: String,
        /// How many of its gateways are shown.
        shown: usize,
    },
    /// A gateway, by index into the gateway list.
    Gateway(usize),
}

/// Which part of the screen takes keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The gateway tree.
    Tree,
    /// The code editor of the active pane.
    Editor,
}

/// What is shown over the main screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// Nothing.
    None,
    /// The key help, scrolled down this many lines.
    Help {
        /// Lines scrolled away.
        scroll: u16,
    },
    /// The add-gateway dialog with the spec typed so far and its problem.
    AddGateway {
        /// The spec text.
        input: String,
        /// Why the spec is not valid, if it is not.
        problem: Option<String>,
    },
    /// Asking whether to quit while work runs.
    ConfirmQuit,
    /// Typing a Python literal to send into a running run.
    SendValue {
        /// The run it goes to.
        run: u64,
        /// The literal typed so far.
        input: String,
        /// Why it is not a valid literal (with the column), if it is not.
        problem: Option<String>,
    },
    /// Asking whether to terminate a group whose gateways still run code.
    ConfirmTerminate {
        /// The group.
        group: String,
    },
    /// Asking whether to exit a gateway that still runs code.
    ConfirmExit {
        /// The gateway.
        gateway: String,
    },
    /// Typing a filter (a regular expression; `!` keeps what does not match).
    Filter {
        /// The filter typed so far.
        input: String,
        /// Why it is not a valid expression, if it is not.
        problem: Option<String>,
    },
    /// Typing a filter of the traffic and trace views.
    TrafficFilter {
        /// The filter typed so far.
        input: String,
        /// Why it is not a valid filter, if it is not.
        problem: Option<String>,
    },
    /// Asking whether to restart a gateway with remote tracing.
    ConfirmDebug {
        /// The gateway.
        gateway: String,
    },
    /// Typing the file to write the shown rows to.
    Export {
        /// The path typed so far.
        input: String,
    },
    /// A question of an ssh start: a passphrase or password (masked), an
    /// unknown host key, a changed host key.
    Prompt(prompt::Asking),
    /// The command palette with what was typed and the highlighted entry.
    Palette {
        /// The command typed so far.
        input: String,
        /// Index of the highlighted match.
        selected: usize,
    },
}

/// A short message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// The text.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
    /// When it goes away.
    pub until: Instant,
}

/// Results of engine work done on behalf of the TUI.
#[derive(Debug, Clone)]
pub enum TaskMsg {
    /// A run sent an item (its Python repr).
    RunItem {
        /// The run.
        run: u64,
        /// The item.
        text: String,
    },
    /// A run printed something (a piece of text, not always a whole line).
    RunOutput {
        /// The run.
        run: u64,
        /// Whether it went to stderr.
        stderr: bool,
        /// The text.
        text: String,
    },
    /// A run ended: `None` normally, else the error text.
    RunEnded {
        /// The run.
        run: u64,
        /// Traceback or error, if it failed.
        error: Option<String>,
    },
    /// The Python version of a gateway.
    Python {
        /// Gateway id.
        gateway: String,
        /// Version text.
        version: String,
        /// `sys.executable`.
        executable: String,
    },
    /// A run has started (so values can be sent into it and it can be interrupted).
    RunStarted {
        /// The run.
        run: u64,
        /// Its handle.
        handle: crate::engine::run::Run,
    },
    /// A status poll of this gateway finished (its answer came as an event).
    Polled {
        /// Gateway id.
        gateway: String,
    },
    /// An rsync job ended: its targets' reports, or why it could not start.
    RsyncEnded {
        /// The job's number in the TUI.
        job: u64,
        /// The reports, or the error.
        result: Result<Vec<crate::engine::rsync::TargetReport>, String>,
    },
    /// Something to tell the user.
    Flash {
        /// The text.
        text: String,
        /// Whether it reports a failure.
        error: bool,
    },
}

/// Everything the views show.
pub struct State {
    /// The screen shown.
    pub screen: crate::tui::screen::Screen,
    /// The gateways.
    pub gateways: Gateways,
    /// Index of the selected gateway.
    pub selected: usize,
    /// Code panes.
    pub panes: Vec<Pane>,
    /// Index of the active pane.
    pub active: usize,
    /// Where keys go.
    pub focus: Focus,
    /// What is shown on top.
    pub overlay: Overlay,
    /// The current flash message.
    pub flash: Option<Flash>,
    /// Events lost because the TUI fell behind.
    pub lost_events: u64,
    /// The `/` filter over gateway rows and output lines.
    pub filter: Option<crate::tui::filter::Filter>,
    /// How many lines the output is scrolled back from its newest line.
    pub output_scroll: u16,
    /// Lines kept per run (config `buffer_lines`).
    pub buffer_lines: usize,
    /// Messages and other events for the traffic and trace screens.
    pub traffic: traffic::Traffic,
    /// The rsync screen: its form, the running job, past jobs.
    pub rsync: rsync::Rsync,
    next_run: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            screen: crate::tui::screen::Screen::default(),
            gateways: Gateways::default(),
            selected: 0,
            panes: vec![Pane::new("scratch", WELCOME_CODE)],
            active: 0,
            focus: Focus::Editor,
            overlay: Overlay::None,
            flash: None,
            lost_events: 0,
            filter: None,
            output_scroll: 0,
            buffer_lines: 5000,
            traffic: traffic::Traffic::default(),
            rsync: rsync::Rsync::default(),
            next_run: 1,
        }
    }
}

impl State {
    /// Applies an engine event.
    pub fn apply_event(&mut self, received: &Received) {
        match received {
            Received::Event(ev) => {
                self.gateways.apply(&ev.gateway, &ev.kind);
                self.rsync.apply(&ev.gateway, &ev.kind);
                self.traffic.apply(ev);
            }
            Received::Lost(n) => self.lost_events += n,
        }
    }

    /// Applies a task result.
    pub fn apply_task(&mut self, msg: TaskMsg, now: Instant) {
        let cap = self.buffer_lines;
        match msg {
            TaskMsg::RunItem { run, text } => {
                if let Some(r) = self.run_mut(run) {
                    r.items.push(text);
                    r.trim(cap);
                }
            }
            TaskMsg::RunOutput { run, stderr, text } => {
                if let Some(r) = self.run_mut(run) {
                    r.push_output(stderr, &text);
                    r.trim(cap);
                }
            }
            TaskMsg::RunEnded { run, error } => {
                if let Some(r) = self.run_mut(run) {
                    r.took = Some(now.saturating_duration_since(r.started));
                    r.state = match error {
                        None => RunState::Done,
                        Some(e) => RunState::Failed(e),
                    };
                }
            }
            TaskMsg::Python {
                gateway,
                version,
                executable,
            } => self.gateways.set_python(&gateway, version, executable),
            TaskMsg::Flash { text, error } => self.flash(text, error, now),
            TaskMsg::RsyncEnded { job, result } => self.rsync.ended(job, result, now),
            TaskMsg::Polled { .. } | TaskMsg::RunStarted { .. } => {}
        }
    }

    fn run_mut(&mut self, id: u64) -> Option<&mut RunView> {
        self.panes.iter_mut().find_map(|p| p.run_mut(id))
    }

    /// Shows a flash message.
    pub fn flash(&mut self, text: impl Into<String>, error: bool, now: Instant) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
            until: now + FLASH_FOR,
        });
    }

    /// Drops an expired flash message; returns whether something changed.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.flash.as_ref().is_some_and(|f| f.until <= now) {
            self.flash = None;
            return true;
        }
        false
    }

    /// Records a new run of the active pane on `gateway` in `batch` and
    /// returns its id.
    pub fn start_run(&mut self, gateway: &str, batch: u64, now: Instant) -> u64 {
        let id = self.next_run;
        self.next_run += 1;
        if let Some(pane) = self.panes.get_mut(self.active) {
            pane.runs.push(RunView {
                id,
                gateway: gateway.to_owned(),
                batch,
                state: RunState::Running,
                started: now,
                took: None,
                items: Vec::new(),
                output: Vec::new(),
                output_done: true,
                dropped: 0,
            });
        }
        id
    }

    /// The newest running run of the active pane.
    pub fn running_run(&self) -> Option<u64> {
        let pane = self.pane()?;
        pane.runs
            .iter()
            .rev()
            .find(|r| r.state == RunState::Running)
            .map(|r| r.id)
    }

    /// Whether a run on `gateway` is still executing.
    pub fn gateway_busy(&self, gateway: &str) -> bool {
        self.panes
            .iter()
            .flat_map(|p| &p.runs)
            .any(|r| r.gateway == gateway && r.state == RunState::Running)
    }

    /// The text of the active pane's last run: its items, then its traceback.
    pub fn last_output(&self) -> Option<String> {
        let run = self.pane()?.runs.last()?;
        let mut text = run.items.join("\n");
        if let RunState::Failed(tb) = &run.state {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(tb);
        }
        Some(text)
    }

    /// Whether any run is still executing.
    pub fn work_running(&self) -> bool {
        self.panes.iter().any(Pane::is_running) || self.rsync.running().is_some()
    }

    /// The selected gateway's id.
    pub fn selected_gateway(&self) -> Option<&str> {
        self.gateways.list.get(self.selected).map(|g| g.id.as_str())
    }

    /// The tree's rows: each group (in order of first appearance) with its
    /// gateways that pass the filter.
    pub fn tree_rows(&self) -> Vec<TreeRow> {
        let mut groups: Vec<&str> = Vec::new();
        for gw in &self.gateways.list {
            if !groups.contains(&gw.group.as_str()) {
                groups.push(&gw.group);
            }
        }
        let mut rows = Vec::new();
        for name in groups {
            let members: Vec<usize> = self
                .gateways
                .list
                .iter()
                .enumerate()
                .filter(|(_, gw)| gw.group == name)
                .filter(|(_, gw)| {
                    self.filter.as_ref().is_none_or(|f| {
                        f.keeps(&format!(
                            "{} {} {} {}",
                            gw.id,
                            gw.kind,
                            gw.spec,
                            gw.status.word()
                        ))
                    })
                })
                .map(|(i, _)| i)
                .collect();
            rows.push(TreeRow::Group {
                name: name.to_owned(),
                shown: members.len(),
            });
            rows.extend(members.into_iter().map(TreeRow::Gateway));
        }
        rows
    }

    /// Moves the selection by `delta` gateways in tree order, staying in range.
    pub fn move_selection(&mut self, delta: isize) {
        let order: Vec<usize> = self
            .tree_rows()
            .into_iter()
            .filter_map(|r| match r {
                TreeRow::Gateway(i) => Some(i),
                TreeRow::Group { .. } => None,
            })
            .collect();
        if order.is_empty() {
            return;
        }
        let at = order.iter().position(|&i| i == self.selected).unwrap_or(0) as isize;
        let to = (at + delta).clamp(0, order.len() as isize - 1) as usize;
        self.selected = order[to];
    }

    /// The gateways of the selected gateway's group.
    pub fn selected_group(&self) -> Option<(String, Vec<String>)> {
        let name = self.gateways.list.get(self.selected)?.group.clone();
        let ids = self
            .gateways
            .list
            .iter()
            .filter(|g| g.group == name)
            .map(|g| g.id.clone())
            .collect();
        Some((name, ids))
    }

    /// The active pane.
    pub fn pane(&self) -> Option<&Pane> {
        self.panes.get(self.active)
    }

    /// The active pane, to edit.
    pub fn pane_mut(&mut self) -> Option<&mut Pane> {
        self.panes.get_mut(self.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Event, EventKind};
    use std::sync::Arc;

    #[test]
    fn runs_record_items_and_endings() {
        let mut st = State::default();
        let now = Instant::now();
        let id = st.start_run("gw0", 1, now);
        assert!(st.work_running());
        st.apply_task(
            TaskMsg::RunItem {
                run: id,
                text: "42".into(),
            },
            now,
        );
        st.apply_task(
            TaskMsg::RunEnded {
                run: id,
                error: None,
            },
            now + Duration::from_millis(5),
        );
        let run = &st.panes[0].runs[0];
        assert_eq!(run.items, vec!["42".to_string()]);
        assert_eq!(run.state, RunState::Done);
        assert_eq!(run.took, Some(Duration::from_millis(5)));
        assert!(!st.work_running());
    }

    #[test]
    fn flash_expires_and_selection_stays_in_range() {
        let mut st = State::default();
        let now = Instant::now();
        st.flash("hi", false, now);
        assert!(!st.expire(now));
        assert!(st.expire(now + FLASH_FOR));
        st.move_selection(5);
        assert_eq!(st.selected, 0);
        for id in ["gw0", "gw1"] {
            st.apply_event(&Received::Event(Event {
                time: Duration::ZERO,
                gateway: Arc::from(id),
                kind: EventKind::GatewayStarting {
                    spec: "popen".into(),
                },
            }));
        }
        st.move_selection(5);
        assert_eq!(st.selected_gateway(), Some("gw1"));
        st.move_selection(-9);
        assert_eq!(st.selected_gateway(), Some("gw0"));
        st.apply_event(&Received::Lost(3));
        assert_eq!(st.lost_events, 3);
    }
}
