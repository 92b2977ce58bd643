//! The app loop: one `tokio::select!` over terminal input, engine events,
//! results of engine tasks and a tick; redraw after each.
//!
//! Keys go to the open dialog ([`input::dialog`]) or else to the shown
//! screen's handler (e.g. [`input::gateways`]); both look keys up in the one
//! keymap and hand back actions or outcomes, which only this loop performs,
//! through [`Effects`] (engine calls in spawned tasks, files, clipboard), so a
//! slow or hung gateway never freezes the screen.
//!
//! The loop takes its input as a stream and draws on any ratatui backend, so
//! tests drive it with key events and read frames from a `TestBackend`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEvent, KeyEventKind};
use futures_core::Stream;
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;
use tokio::sync::mpsc;

mod prompt;
mod rsync;

use super::config::{Config, Saved};
use super::effects::{self, Effects, SpecHistory};
use super::filter::Filter;
use super::input::dialog::{self, Known, Outcome};
use super::input::{self, Action, Binding};
use super::palette::{self, Command};
use super::screen::{Feed, Screen};
use super::snippets;
use super::state::panes::Pane;
use super::state::traffic::{Traffic, TrafficFilter};
use super::state::{Focus, Overlay, State, TaskMsg};
use super::theme::Theme;
use super::tracefile;
use super::view;
use crate::engine::{EventKind, Group, Received, Subscription};
use crate::trace::read::Record;
use crate::wire::pyrepr::parse_literal;

/// Most queued events (of each subscription) taken in before the next frame.
const TRAFFIC_BATCH: usize = 4096;

/// The running TUI: state, effects, and the loop's sources.
pub struct App {
    state: State,
    effects: Effects,
    /// Life cycles of every gateway (always on).
    events: Subscription,
    /// Every event, while a screen that shows traffic is up (see [`Feed`]).
    traffic: Option<Subscription>,
    theme: Theme,
    keymap: Vec<Binding>,
    refresh: Duration,
    tasks_rx: mpsc::UnboundedReceiver<TaskMsg>,
    quit: bool,
    /// Set by Ctrl-Z: suspend after this turn of the loop.
    suspend: bool,
    /// Whether the mouse is captured (to restore it after a suspend).
    mouse: bool,
    /// Specs added before, for completion and recall.
    history: SpecHistory,
    /// Saved gateways from the config.
    saved: Saved,
    /// Groups from the config: name → specs.
    groups: BTreeMap<String, Vec<String>>,
    /// The user's themes directory.
    themes_dir: Option<PathBuf>,
    /// Whether NO_COLOR is set.
    no_color: bool,
    /// Where panes are saved between sessions.
    snippets_dir: Option<PathBuf>,
    /// The area last drawn (to place mouse clicks).
    area: Rect,
    /// Questions of ssh starts (see [`super::prompt`]).
    prompts: Option<mpsc::UnboundedReceiver<super::prompt::Asked>>,
    /// Questions waiting for their dialog; the first is shown.
    asked: std::collections::VecDeque<super::prompt::Asked>,
}

impl App {
    /// An app over `group`, subscribed to its events from now on (make it
    /// before starting gateways so none of their events are missed).
    pub fn new(group: Group, theme: Theme, refresh: Duration) -> App {
        let (tasks_tx, tasks_rx) = mpsc::unbounded_channel();
        let screen = Screen::default();
        App {
            events: group.subscribe_lifecycle(),
            traffic: (screen.feed() == Feed::Traffic).then(|| group.subscribe()),
            state: State::default(),
            effects: Effects::new(group, tasks_tx),
            theme,
            keymap: input::default_keymap(),
            refresh,
            tasks_rx,
            quit: false,
            suspend: false,
            mouse: true,
            history: SpecHistory::default(),
            saved: Saved::default(),
            groups: BTreeMap::new(),
            themes_dir: None,
            no_color: false,
            snippets_dir: None,
            area: Rect::default(),
            prompts: None,
            asked: std::collections::VecDeque::new(),
        }
    }

    /// Applies key overrides from the config; adds the problems found.
    pub fn with_key_overrides(
        mut self,
        overrides: &BTreeMap<String, Vec<String>>,
        problems: &mut Vec<String>,
    ) -> App {
        problems.extend(input::apply_overrides(&mut self.keymap, overrides));
        self
    }

    /// Loads the spec history from `path` (and keeps it there); `known`
    /// specs (from the config) are offered for completion too.
    pub fn with_spec_history(mut self, path: Option<PathBuf>, known: &[String]) -> App {
        self.history.read(path, known);
        self
    }

    /// Saved gateway names and groups, and buffer sizes, from the config.
    pub fn with_names(mut self, config: &Config) -> App {
        self.saved = config.saved.clone();
        self.groups = config
            .groups
            .keys()
            .filter_map(|name| config.group(name).map(|specs| (name.clone(), specs)))
            .collect();
        self.state.buffer_lines = config.buffer_lines;
        self.state.traffic = Traffic::new(config.traffic_messages);
        self.state.gateways.stderr_lines = config.stderr_lines;
        self.history
            .list
            .extend(config.saved.names().map(str::to_owned));
        self
    }

    /// Whether the mouse is captured.
    pub fn with_mouse(mut self, mouse: bool) -> App {
        self.mouse = mouse;
        self
    }

    /// Where user themes live, and whether colours are off (for `:theme`).
    pub fn with_themes(mut self, dir: Option<PathBuf>, no_color: bool) -> App {
        self.themes_dir = dir;
        self.no_color = no_color;
        self
    }

    /// Restores the panes saved in `dir` and saves them there on quit.
    pub fn with_snippets(mut self, dir: Option<PathBuf>) -> App {
        if let Some(dir) = &dir {
            let saved = snippets::load(dir);
            if !saved.is_empty() {
                self.state.panes = saved
                    .iter()
                    .map(|(name, code)| Pane::new(name, code))
                    .collect();
                self.state.active = 0;
            }
        }
        self.snippets_dir = dir;
        self
    }

    /// Shows the events of a recorded trace file (`name`) in the traffic
    /// and trace views, read-only.
    pub fn with_replay(mut self, name: String, records: Vec<Record>) -> App {
        for r in records {
            self.state.traffic.apply_record(r);
        }
        self.state.traffic.replay = Some(name);
        self.state.screen = Screen::Traffic;
        self
    }

    /// Starts gateways for `specs` in the background.
    pub fn start_gateways(&self, specs: Vec<String>) {
        for spec in specs {
            self.effects.make_gateway(spec);
        }
    }

    /// Starts gateways as members of the TUI group `name`.
    pub fn start_group(&self, name: &str, specs: Vec<String>) {
        self.effects.start_group(name, specs);
    }

    /// Shows `screen`, and widens the event feed to full traffic while it
    /// needs it (or narrows it back).
    pub fn show(&mut self, screen: Screen) {
        self.state.screen = screen;
        self.traffic = match screen.feed() {
            // A recorded trace is read, not listened to.
            Feed::Traffic if self.state.traffic.replay.is_some() => None,
            Feed::Traffic => self
                .traffic
                .take()
                .or_else(|| Some(self.effects.group().subscribe())),
            Feed::Lifecycle => None,
        };
    }

    /// Like [`App::run`], first showing `problems` (a broken config file, a
    /// missing theme) as a flash message.
    pub async fn run_with_notice<B, S>(
        mut self,
        term: &mut Terminal<B>,
        input: S,
        problems: Vec<String>,
    ) -> io::Result<()>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
        S: Stream<Item = io::Result<TermEvent>> + Unpin,
    {
        if !problems.is_empty() {
            self.state.flash(
                format!("{} (using defaults)", problems.join("; ")),
                true,
                Instant::now(),
            );
        }
        self.run(term, input).await
    }

    /// Runs until the user quits or `input` ends; then saves the panes and
    /// terminates every gateway. Errors are the terminal's.
    pub async fn run<B, S>(mut self, term: &mut Terminal<B>, mut input: S) -> io::Result<()>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
        S: Stream<Item = io::Result<TermEvent>> + Unpin,
    {
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = true;
        while !self.quit {
            if self.suspend {
                self.suspend = false;
                super::term::suspend(term, self.mouse)?;
                dirty = true;
            }
            dirty |= self.show_prompt();
            if dirty {
                self.draw(term)?;
                dirty = false;
            }
            tokio::select! {
                ev = input.next() => match ev {
                    Some(Ok(ev)) => dirty = self.on_terminal(ev),
                    Some(Err(e)) => return Err(e),
                    None => break,
                },
                received = self.events.recv() => {
                    if let Some(received) = received {
                        self.on_engine_event(&received);
                        // Trace lines of a chatty worker come by the
                        // thousand: take what queued up before drawing.
                        let queued: Vec<Received> = std::iter::from_fn(|| self.events.try_recv())
                            .take(TRAFFIC_BATCH)
                            .collect();
                        for received in &queued {
                            self.on_engine_event(received);
                        }
                        dirty = true;
                    }
                }
                Some(received) = next_traffic(&mut self.traffic) => {
                    self.on_traffic(&received);
                    // In a bulk transfer, take what has queued up before
                    // drawing again, not one frame per message.
                    let queued: Vec<Received> = match self.traffic.as_mut() {
                        Some(sub) => std::iter::from_fn(|| sub.try_recv())
                            .take(TRAFFIC_BATCH)
                            .collect(),
                        None => Vec::new(),
                    };
                    for received in &queued {
                        self.on_traffic(received);
                    }
                    dirty = true;
                }
                Some(asked) = prompt::next(&mut self.prompts) => {
                    self.asked.push_back(asked);
                    dirty = true;
                }
                Some(msg) = self.tasks_rx.recv() => {
                    self.effects.note(&msg);
                    self.state.apply_task(msg, Instant::now());
                    dirty = true;
                }
                _ = tick.tick() => {
                    self.effects.poll_status();
                    dirty = self.state.expire(Instant::now()) | self.drop_abandoned_prompt();
                }
            }
        }
        if let Some(dir) = &self.snippets_dir {
            let panes: Vec<(String, String)> = self
                .state
                .panes
                .iter()
                .map(|p| (p.name.clone(), p.code()))
                .collect();
            if let Err(e) = effects::save_panes(dir, &panes) {
                self.state.flash(e, true, Instant::now());
            }
        }
        self.state
            .flash("stopping gateways…", false, Instant::now());
        self.draw(term)?;
        self.effects.terminate_all().await;
        Ok(())
    }

    fn draw<B>(&mut self, term: &mut Terminal<B>) -> io::Result<()>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
    {
        let frame = term
            .draw(|f| view::draw(f, &self.state, &self.theme, &self.keymap))
            .map_err(io::Error::other)?;
        self.area = frame.area;
        Ok(())
    }

    fn on_engine_event(&mut self, received: &Received) {
        if let Received::Event(ev) = received
            && let EventKind::GatewayReady { python: None, .. } = ev.kind
        {
            self.effects.fetch_python(ev.gateway.to_string());
        }
        self.state.apply_event(received);
    }

    /// From the full subscription only messages (and losses) are taken:
    /// everything else comes from the life-cycle one.
    fn on_traffic(&mut self, received: &Received) {
        match received {
            Received::Event(ev) if !matches!(ev.kind, EventKind::Message { .. }) => {}
            _ => self.state.apply_event(received),
        }
    }

    /// Handles one terminal event; returns whether to redraw.
    fn on_terminal(&mut self, ev: TermEvent) -> bool {
        match ev {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(key);
                true
            }
            TermEvent::Mouse(m) => match self.state.screen {
                Screen::Gateways => input::gateways::on_mouse(&mut self.state, self.area, m),
                Screen::Traffic | Screen::Trace => input::traffic::on_mouse(&mut self.state, m),
                Screen::Rsync => false,
            },
            TermEvent::Resize(..) => true,
            TermEvent::Paste(text) => {
                if !dialog::on_paste(&mut self.state.overlay, &text) {
                    match self.state.screen {
                        Screen::Gateways => input::gateways::on_paste(&mut self.state, &text),
                        Screen::Traffic | Screen::Trace => {}
                        Screen::Rsync => input::rsync::on_paste(&mut self.state, &text),
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// A key goes to the open dialog, else to the shown screen.
    fn on_key(&mut self, key: KeyEvent) {
        if dialog::context(&self.state.overlay).is_some() {
            let known = Known {
                keymap: &self.keymap,
                history: &self.history.list,
                saved: &self.saved,
            };
            let outcome = dialog::on_key(&mut self.state.overlay, &key, &known);
            self.on_outcome(outcome);
            return;
        }
        let action = match self.state.screen {
            Screen::Gateways => input::gateways::on_key(&mut self.state, &self.keymap, key),
            Screen::Traffic | Screen::Trace => {
                input::traffic::on_key(&self.state, &self.keymap, key)
            }
            Screen::Rsync => input::rsync::on_key(&mut self.state, &self.keymap, key),
        };
        if let Some(action) = action {
            self.perform(action);
        }
    }

    /// Does what a dialog asked for.
    fn on_outcome(&mut self, outcome: Outcome) {
        let now = Instant::now();
        match outcome {
            Outcome::Nothing => {}
            Outcome::Problem(e) => self.state.flash(e, true, now),
            Outcome::Quit => self.quit = true,
            Outcome::StartGateway(spec) => {
                self.state.flash(format!("starting {spec}"), false, now);
                if let Err(e) = self.history.remember(&spec) {
                    self.state.flash(e, true, now);
                }
                self.effects.make_gateway(self.saved.resolve(&spec));
            }
            Outcome::SendValue { run, text } => self.send_value(run, &text),
            Outcome::SetFilter(text) if text.is_empty() => self.state.filter = None,
            Outcome::SetFilter(text) => self.state.filter = Filter::new(&text).ok(),
            Outcome::Command(line) => self.command(&line),
            Outcome::ExitGateway(id) => self.exit_gateway(&id),
            Outcome::TerminateGroup(name) => self.terminate_group(&name),
            Outcome::SetTrafficFilter(text) if text.trim().is_empty() => {
                self.state.traffic.set_filter(None)
            }
            Outcome::SetTrafficFilter(text) => match TrafficFilter::new(&text) {
                Ok(f) => self.state.traffic.set_filter(Some(f)),
                Err(e) => self.state.flash(e, true, now),
            },
            Outcome::RemoteDebug(id) => {
                self.state
                    .flash(format!("restarting {id} with debug=stream"), false, now);
                self.effects.restart_with_debug(id);
            }
            Outcome::Export(path) => {
                let trace = self.state.screen == Screen::Trace;
                match tracefile::export(Path::new(&path), &self.state.traffic, trace) {
                    Ok(n) => self
                        .state
                        .flash(format!("wrote {n} rows to {path}"), false, now),
                    Err(e) => self.state.flash(e, true, now),
                }
            }
            Outcome::Answer(reply) => self.answer_prompt(reply),
        }
    }

    /// Exits every gateway of a TUI group in parallel (killing what does not
    /// end in time) and takes them out of the engine's group.
    fn terminate_group(&mut self, name: &str) {
        let ids: Vec<String> = self
            .state
            .gateways
            .list
            .iter()
            .filter(|g| g.group == name)
            .map(|g| g.id.clone())
            .collect();
        self.effects.terminate(ids);
        self.state
            .flash(format!("terminating group {name}"), false, Instant::now());
    }

    fn exit_gateway(&mut self, id: &str) {
        let now = Instant::now();
        if self.effects.exit_gateway(id) {
            self.state.flash(format!("exiting {id}"), false, now);
        } else {
            self.state.flash(format!("{id} is not live"), true, now);
        }
    }

    /// Sends a Python literal into a running run's channel.
    fn send_value(&mut self, run: u64, text: &str) {
        let now = Instant::now();
        match parse_literal(text) {
            Err(e) => self.state.flash(e.to_string(), true, now),
            Ok(value) => {
                if self.effects.send_value(run, value) {
                    self.state.flash(format!("sent {text}"), false, now)
                } else {
                    self.state.flash("that run has ended", true, now)
                }
            }
        }
    }

    /// Runs a palette command line.
    fn command(&mut self, line: &str) {
        let now = Instant::now();
        match palette::parse(line) {
            Err(e) => self.state.flash(e, true, now),
            Ok(Command::Action(a)) => self.perform(a),
            Ok(Command::Group(_)) if self.state.traffic.replay.is_some() => {
                self.state
                    .flash("a recorded trace is read-only: no gateways", true, now)
            }
            Ok(Command::Group(name)) => match self.groups.get(&name) {
                Some(specs) => {
                    self.effects.start_group(&name, specs.clone());
                    self.state
                        .flash(format!("starting group {name}"), false, now);
                }
                None => {
                    let known: Vec<&str> = self.groups.keys().map(String::as_str).collect();
                    self.state.flash(
                        format!(
                            "no group {name:?} in config.toml (groups: {})",
                            known.join(", ")
                        ),
                        true,
                        now,
                    )
                }
            },
            Ok(Command::Theme(name)) => {
                match Theme::load(&name, self.themes_dir.as_deref(), self.no_color) {
                    Ok(theme) => {
                        self.theme = theme;
                        self.state.flash(format!("theme {name}"), false, now);
                    }
                    Err(e) => self.state.flash(e.to_string(), true, now),
                }
            }
            Ok(Command::Open(path)) => match effects::read_file(&path) {
                Ok(code) => {
                    let name = path
                        .file_stem()
                        .map_or_else(|| "file".into(), |s| s.to_string_lossy().into_owned());
                    self.state.panes.push(Pane::new(&name, &code));
                    self.state.active = self.state.panes.len() - 1;
                    self.state.focus = Focus::Editor;
                    self.state
                        .flash(format!("opened {}", path.display()), false, now);
                }
                Err(e) => self.state.flash(e, true, now),
            },
            Ok(Command::Save(path)) => {
                let code = self.state.pane().map(Pane::code).unwrap_or_default();
                match effects::write_file(&path, &code) {
                    Ok(()) => self
                        .state
                        .flash(format!("saved {}", path.display()), false, now),
                    Err(e) => self.state.flash(e, true, now),
                }
            }
        }
    }

    /// Performs an action of the keymap or the palette.
    fn perform(&mut self, action: Action) {
        let now = Instant::now();
        if self.state.screen != Screen::Gateways && input::traffic::act(&mut self.state, action) {
            return;
        }
        let state = &mut self.state;
        if state.traffic.replay.is_some() && matches!(action, Action::AddGateway) {
            state.flash("a recorded trace is read-only: no gateways", true, now);
            return;
        }
        match action {
            Action::ShowGateways => self.show(Screen::Gateways),
            Action::ShowTraffic => self.show(Screen::Traffic),
            Action::ShowTrace => self.show(Screen::Trace),
            Action::Filter if state.screen != Screen::Gateways => {
                state.overlay = Overlay::TrafficFilter {
                    input: state
                        .traffic
                        .filter
                        .as_ref()
                        .map(|f| f.text.clone())
                        .unwrap_or_default(),
                    problem: None,
                }
            }
            Action::Export => {
                let name = if state.screen == Screen::Trace {
                    "execdeck-trace-view.jsonl"
                } else {
                    "execdeck-traffic.jsonl"
                };
                state.overlay = Overlay::Export { input: name.into() }
            }
            Action::RemoteDebug => self.ask_remote_debug(),
            Action::Pause
            | Action::Follow
            | Action::PageUp
            | Action::PageDown
            | Action::OpenDetail
            | Action::Back
            | Action::ToggleFold => {
                state.flash("only on the traffic and trace screens (F3, F4)", true, now)
            }
            Action::Palette => {
                state.overlay = Overlay::Palette {
                    input: String::new(),
                    selected: 0,
                }
            }
            Action::RestartGateway => match state.selected_gateway().map(str::to_owned) {
                Some(id) => {
                    state.flash(format!("restarting {id}"), false, now);
                    self.effects.restart(id);
                }
                None => state.flash("no gateway selected", true, now),
            },
            Action::TerminateGroup => match state.selected_group() {
                Some((name, ids)) if ids.iter().any(|id| state.gateway_busy(id)) => {
                    state.overlay = Overlay::ConfirmTerminate { group: name }
                }
                Some((name, _)) => self.terminate_group(&name),
                None => state.flash("no gateway selected", true, now),
            },
            Action::Quit => {
                if state.work_running() {
                    state.overlay = Overlay::ConfirmQuit;
                } else {
                    self.quit = true;
                }
            }
            Action::Help => state.overlay = Overlay::Help { scroll: 0 },
            Action::FocusNext => {
                state.focus = match state.focus {
                    Focus::Tree => Focus::Editor,
                    Focus::Editor => Focus::Tree,
                }
            }
            Action::SelectNext => state.move_selection(1),
            Action::SelectPrev => state.move_selection(-1),
            Action::AddGateway => {
                state.overlay = Overlay::AddGateway {
                    input: String::new(),
                    problem: None,
                }
            }
            Action::ExitGateway => match state.selected_gateway().map(str::to_owned) {
                Some(id) if state.gateway_busy(&id) => {
                    state.overlay = Overlay::ConfirmExit { gateway: id }
                }
                Some(id) => self.exit_gateway(&id),
                None => state.flash("no gateway selected", true, now),
            },
            Action::SendValue => match state.running_run() {
                Some(run) => {
                    state.overlay = Overlay::SendValue {
                        run,
                        input: String::new(),
                        problem: None,
                    }
                }
                None => state.flash("no run of this pane is running", true, now),
            },
            Action::Copy => match state.last_output() {
                Some(text) => {
                    effects::copy_osc52(&text);
                    state.flash(
                        format!("copied {} characters", text.chars().count()),
                        false,
                        now,
                    );
                }
                None => state.flash("nothing to copy: run the pane first", true, now),
            },
            Action::Suspend => self.suspend = true,
            Action::Interrupt => match state.running_run() {
                Some(run) if self.effects.interrupt(run) => {
                    state.flash("interrupting (KeyboardInterrupt)", false, now)
                }
                _ => state.flash("no run of this pane is running", true, now),
            },
            Action::Filter => {
                state.overlay = Overlay::Filter {
                    input: state
                        .filter
                        .as_ref()
                        .map(|f| f.text.clone())
                        .unwrap_or_default(),
                    problem: None,
                }
            }
            Action::RunSelected => match state.selected_gateway().map(str::to_owned) {
                Some(id) => self.effects.run_pane(state, &[id]),
                None => state.flash("no gateway selected: press a to add one", true, now),
            },
            Action::RunAll => {
                let ids: Vec<String> = state
                    .gateways
                    .list
                    .iter()
                    .filter(|g| g.is_live())
                    .map(|g| g.id.clone())
                    .collect();
                if ids.is_empty() {
                    state.flash("no live gateway", true, now);
                } else {
                    self.effects.run_pane(state, &ids);
                }
            }
            Action::NewPane => {
                let n = state.panes.len() + 1;
                state.panes.push(Pane::new(&format!("pane{n}"), ""));
                state.active = state.panes.len() - 1;
                state.focus = Focus::Editor;
            }
            Action::NextPane => {
                state.active = (state.active + 1) % state.panes.len().max(1);
            }
            Action::PrevPane => {
                let n = state.panes.len().max(1);
                state.active = (state.active + n - 1) % n;
            }
            Action::ClearRuns => {
                if let Some(p) = state.pane_mut() {
                    p.runs.retain(|r| r.took.is_none());
                }
            }
            Action::ShowRsync => self.toggle_rsync(),
            Action::Rsync(a) => self.rsync_action(a),
            // Dialog keys are handled by the dialogs.
            Action::Dialog(_) => {}
        }
    }
}

impl App {
    /// Asks whether to restart a gateway with remote tracing: the selected
    /// row's gateway on the traffic and trace screens, else the one
    /// selected in the gateway list.
    fn ask_remote_debug(&mut self) {
        let now = Instant::now();
        let state = &mut self.state;
        if state.traffic.replay.is_some() {
            state.flash("a recorded trace is read-only", true, now);
            return;
        }
        let row = match state.screen {
            Screen::Trace => state.traffic.selected_line().map(|r| r.gw.clone()),
            Screen::Traffic => state
                .traffic
                .selected_msg()
                .map(|(_, m)| m.gateway.to_string()),
            Screen::Gateways | Screen::Rsync => None,
        };
        let id = row
            .filter(|id| state.gateways.get(id).is_some())
            .or_else(|| state.selected_gateway().map(str::to_owned));
        let Some(gw) = id.and_then(|id| state.gateways.get(&id)) else {
            state.flash("no gateway to trace", true, now);
            return;
        };
        let on = crate::spec::XSpec::parse(&gw.spec)
            .ok()
            .is_some_and(|s| matches!(s.get("debug"), Some("stream" | "2")));
        if on {
            state.flash(format!("{} already has debug=stream", gw.id), true, now);
        } else {
            state.overlay = Overlay::ConfirmDebug {
                gateway: gw.id.clone(),
            };
        }
    }
}

/// The next event of the full subscription, or never when there is none.
async fn next_traffic(traffic: &mut Option<Subscription>) -> Option<Received> {
    match traffic {
        Some(sub) => sub.recv().await,
        None => std::future::pending().await,
    }
}
