//! The app loop: one `tokio::select!` over terminal input, engine events,
//! results of engine tasks and a tick; redraw after each. Keys become
//! actions; only this loop acts on the engine, always in spawned tasks, so a
//! slow or hung gateway never freezes the screen.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEventKind,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::input::{Action, Binding, lookup};
use super::palette::{self, Command};
use super::snippets;
use super::state::panes::Pane;
use super::state::{Focus, Overlay, State, TaskMsg, TreeRow};
use super::term::Term;
use super::theme::Theme;
use super::view;
use crate::engine::{Error, EventKind, Group, Received, Subscription};
use crate::spec::XSpec;
use crate::wire::pyrepr::{parse_literal, repr_pretty};

/// How long gateways get to exit when the TUI quits.
const QUIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Width used to pretty-print large items.
const PRETTY_WIDTH: usize = 72;

/// The running TUI: state, engine handles and the loop's channels.
pub struct App {
    state: State,
    group: Group,
    events: Subscription,
    theme: Theme,
    keymap: Vec<Binding>,
    refresh: Duration,
    tasks_tx: mpsc::UnboundedSender<TaskMsg>,
    tasks_rx: mpsc::UnboundedReceiver<TaskMsg>,
    /// Gateways with a status poll in flight (no second one is started).
    polling: HashSet<String>,
    quit: bool,
    /// Specs added before (newest last), for completion and recall.
    spec_history: Vec<String>,
    /// Saved gateways from the config: name → spec.
    saved: std::collections::BTreeMap<String, String>,
    /// Groups from the config: name → specs.
    groups: std::collections::BTreeMap<String, Vec<String>>,
    /// Where the spec history is kept.
    history_file: Option<std::path::PathBuf>,
    /// Number for the next batch of runs.
    next_batch: u64,
    /// Set by Ctrl-Z: suspend after this turn of the loop.
    suspend: bool,
    /// Whether the mouse is captured (to restore it after a suspend).
    mouse: bool,
    /// Running runs, to send values into and to interrupt.
    runs: std::collections::HashMap<u64, crate::engine::run::Run>,
    /// The user's themes directory.
    themes_dir: Option<std::path::PathBuf>,
    /// Whether NO_COLOR is set.
    no_color: bool,
    /// Where panes are saved between sessions.
    snippets_dir: Option<std::path::PathBuf>,
}

impl App {
    /// An app over `group` (already subscribed to by `events`).
    pub fn new(group: Group, events: Subscription, theme: Theme, refresh: Duration) -> App {
        let (tasks_tx, tasks_rx) = mpsc::unbounded_channel();
        App {
            state: State::default(),
            group,
            events,
            theme,
            keymap: super::input::default_keymap(),
            refresh,
            tasks_tx,
            tasks_rx,
            polling: HashSet::new(),
            quit: false,
            suspend: false,
            next_batch: 1,
            spec_history: Vec::new(),
            saved: std::collections::BTreeMap::new(),
            groups: std::collections::BTreeMap::new(),
            history_file: None,
            mouse: true,
            runs: std::collections::HashMap::new(),
            themes_dir: None,
            no_color: false,
            snippets_dir: None,
        }
    }

    /// Applies key overrides from the config; returns the problems found.
    pub fn with_key_overrides(
        mut self,
        overrides: &std::collections::BTreeMap<String, Vec<String>>,
        problems: &mut Vec<String>,
    ) -> App {
        problems.extend(super::input::apply_overrides(&mut self.keymap, overrides));
        self
    }

    /// Loads the spec history from `path` (and keeps it there); `known`
    /// specs (from the config) are offered for completion too.
    pub fn with_spec_history(mut self, path: Option<std::path::PathBuf>, known: &[String]) -> App {
        let saved = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        for spec in known.iter().map(String::as_str).chain(saved.lines()) {
            let spec = spec.trim();
            if !spec.is_empty() {
                self.spec_history.retain(|s| s != spec);
                self.spec_history.push(spec.to_owned());
            }
        }
        self.history_file = path;
        self
    }

    /// Saved gateway names and groups, and buffer sizes, from the config.
    pub fn with_names(mut self, config: &super::config::Config) -> App {
        self.saved = config.saved.clone();
        self.groups = config
            .groups
            .keys()
            .filter_map(|name| config.group(name).map(|specs| (name.clone(), specs)))
            .collect();
        self.state.buffer_lines = config.buffer_lines;
        self.state.gateways.stderr_lines = config.stderr_lines;
        for name in config.saved.keys() {
            self.spec_history.push(name.clone());
        }
        self
    }

    /// The spec a saved name stands for, or the text itself.
    fn resolve(&self, name_or_spec: &str) -> String {
        resolve(&self.saved, name_or_spec)
    }

    /// Whether the mouse is captured.
    pub fn with_mouse(mut self, mouse: bool) -> App {
        self.mouse = mouse;
        self
    }

    /// Where user themes live, and whether colours are off (for `:theme`).
    pub fn with_themes(mut self, dir: Option<std::path::PathBuf>, no_color: bool) -> App {
        self.themes_dir = dir;
        self.no_color = no_color;
        self
    }

    /// Restores the panes saved in `dir` and saves them there on quit.
    pub fn with_snippets(mut self, dir: Option<std::path::PathBuf>) -> App {
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

    /// Starts gateways for `specs` in the background.
    pub fn start_gateways(&self, specs: Vec<String>) {
        for spec in specs {
            self.make_gateway(spec);
        }
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

    fn make_gateway(&self, spec: String) {
        let group = self.group.clone();
        let tx = self.tasks_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = group.makegateway(&spec).await {
                let _ = tx.send(TaskMsg::Flash {
                    text: first_line(&e.to_string()),
                    error: true,
                });
            }
        });
    }

    /// Like [`App::run`], first showing `problems` (a broken config file, a
    /// missing theme) as a flash message.
    pub async fn run_with_notice(
        mut self,
        term: &mut Term,
        problems: Vec<String>,
    ) -> std::io::Result<()> {
        if !problems.is_empty() {
            self.state.flash(
                format!("{} (using defaults)", problems.join("; ")),
                true,
                Instant::now(),
            );
        }
        self.run(term).await
    }

    /// Runs until the user quits; then terminates every gateway.
    pub async fn run(mut self, term: &mut Term) -> std::io::Result<()> {
        let mut input = EventStream::new();
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = true;
        while !self.quit {
            if self.suspend {
                self.suspend = false;
                super::term::suspend(term, self.mouse)?;
                dirty = true;
            }
            if dirty {
                term.draw(|f| view::draw(f, &self.state, &self.theme, &self.keymap))?;
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
                        dirty = true;
                    }
                }
                                Some(msg) = self.tasks_rx.recv() => {
                    match &msg {
                        TaskMsg::Polled { gateway } => {
                            self.polling.remove(gateway);
                        }
                                                TaskMsg::RunStarted { run, handle } => {
                            self.runs.insert(*run, handle.clone());
                        }
                                                TaskMsg::RunEnded { run, .. } => {
                            self.runs.remove(run);
                        }
                        _ => {}
                    }
                    self.state.apply_task(msg, Instant::now());
                    dirty = true;
                }
                _ = tick.tick() => {
                    self.poll_status();
                    dirty = self.state.expire(Instant::now());
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
            if let Err(e) = snippets::save(dir, &panes) {
                self.state.flash(
                    format!("cannot save panes in {}: {e}", dir.display()),
                    true,
                    Instant::now(),
                );
            }
        }
        self.state
            .flash("stopping gateways…", false, Instant::now());
        term.draw(|f| view::draw(f, &self.state, &self.theme, &self.keymap))?;
        self.group.terminate(QUIT_TIMEOUT).await;
        Ok(())
    }

    fn on_engine_event(&mut self, received: &Received) {
        if let Received::Event(ev) = received
            && let EventKind::GatewayReady { python: None, .. } = ev.kind
        {
            self.fetch_python(ev.gateway.to_string());
        }
        self.state.apply_event(received);
    }

    fn fetch_python(&self, id: String) {
        let Some(gw) = self.group.get(&id) else {
            return;
        };
        let tx = self.tasks_tx.clone();
        tokio::spawn(async move {
            if let Ok(info) = gw.rinfo(Some(Duration::from_secs(10))).await {
                let _ = tx.send(TaskMsg::Python {
                    gateway: id,
                    version: info.version,
                });
            }
        });
    }

    /// Asks every live gateway for its status (answers arrive as events).
    fn poll_status(&mut self) {
        for gw in self.group.gateways() {
            if !gw.is_alive() || !self.polling.insert(gw.id().to_owned()) {
                continue;
            }
            let tx = self.tasks_tx.clone();
            tokio::spawn(async move {
                let _ = gw.remote_status(Some(Duration::from_secs(5))).await;
                let _ = tx.send(TaskMsg::Polled {
                    gateway: gw.id().to_owned(),
                });
            });
        }
    }

    /// Handles one terminal event; returns whether to redraw.
    fn on_terminal(&mut self, ev: TermEvent) -> bool {
        match ev {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(key);
                true
            }
            TermEvent::Mouse(m) => self.on_mouse(m),
            TermEvent::Resize(..) => true,
            TermEvent::Paste(text) => {
                match &mut self.state.overlay {
                    Overlay::AddGateway { input, .. } => input.push_str(text.trim()),
                    _ if self.state.focus == Focus::Editor => {
                        if let Some(p) = self.state.pane_mut() {
                            p.editor.insert_str(text);
                        }
                    }
                    _ => {}
                }
                true
            }
            _ => false,
        }
    }

    /// Click focuses (and selects a gateway row); the wheel scrolls the output.
    fn on_mouse(&mut self, m: crossterm::event::MouseEvent) -> bool {
        let (width, height) = crossterm::terminal::size().unwrap_or((80, 24));
        let a = view::areas(ratatui::layout::Rect::new(0, 0, width, height));
        let at = ratatui::layout::Position::new(m.column, m.row);
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) if a.tree.contains(at) => {
                self.state.focus = Focus::Tree;
                // Row 0 is the border; then the tree's rows.
                let row = m.row.saturating_sub(a.tree.y + 1) as usize;
                if m.row > a.tree.y
                    && let Some(TreeRow::Gateway(i)) = self.state.tree_rows().get(row)
                {
                    self.state.selected = *i;
                }
                true
            }
            MouseEventKind::Down(MouseButton::Left)
                if a.editor.contains(at) || a.output.contains(at) =>
            {
                self.state.focus = Focus::Editor;
                true
            }
            MouseEventKind::ScrollUp if a.output.contains(at) => {
                self.state.output_scroll = self.state.output_scroll.saturating_add(3);
                true
            }
            MouseEventKind::ScrollDown if a.output.contains(at) => {
                self.state.output_scroll = self.state.output_scroll.saturating_sub(3);
                true
            }
            _ => false,
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        match &mut self.state.overlay {
            Overlay::None => {}
            Overlay::Help => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('?') | KeyCode::Char('q')
                ) {
                    self.state.overlay = Overlay::None;
                }
                return;
            }
            Overlay::ConfirmQuit => {
                match key.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') => self.quit = true,
                    _ => self.state.overlay = Overlay::None,
                }
                return;
            }
            Overlay::SendValue {
                run,
                input,
                problem,
            } => {
                match key.code {
                    KeyCode::Esc => self.state.overlay = Overlay::None,
                    KeyCode::Enter if problem.is_none() && !input.trim().is_empty() => {
                        let (run, text) = (*run, std::mem::take(input));
                        self.state.overlay = Overlay::None;
                        self.send_value(run, &text);
                    }
                    _ if edit_line(input, &key) => *problem = literal_problem(input),
                    _ => {}
                }
                return;
            }
            Overlay::Filter { input, problem } => {
                match key.code {
                    KeyCode::Esc => self.state.overlay = Overlay::None,
                    KeyCode::Enter if problem.is_none() => {
                        let text = std::mem::take(input);
                        self.state.overlay = Overlay::None;
                        self.state.filter = if text.is_empty() {
                            None
                        } else {
                            crate::tui::filter::Filter::new(&text).ok()
                        };
                    }
                    _ if edit_line(input, &key) => {
                        *problem = crate::tui::filter::Filter::new(input).err()
                    }
                    _ => {}
                }
                return;
            }
            Overlay::ConfirmTerminate { group } => {
                let group = group.clone();
                self.state.overlay = Overlay::None;
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.terminate_group(&group);
                }
                return;
            }
            Overlay::ConfirmExit { gateway } => {
                let gateway = gateway.clone();
                self.state.overlay = Overlay::None;
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.exit_gateway(&gateway);
                }
                return;
            }
            Overlay::Palette { input, selected } => {
                match key.code {
                    KeyCode::Esc => self.state.overlay = Overlay::None,
                    KeyCode::Up => *selected = selected.saturating_sub(1),
                    KeyCode::Down => *selected += 1,
                    KeyCode::Tab => {
                        if let Some(done) = palette::complete(input) {
                            *input = done;
                            *selected = 0;
                        }
                    }
                    KeyCode::Enter => {
                        let typed = input.trim().to_owned();
                        let chosen = palette::matches(&typed).into_iter().nth(*selected);
                        let line = match (palette::parse(&typed), chosen) {
                            (Ok(_), _) => typed,
                            // Nothing complete typed: take the highlighted entry.
                            (Err(_), Some(e)) if e.arg.is_none() => e.name.to_owned(),
                            (Err(_), Some(e)) => {
                                *input = format!("{} ", e.name);
                                *selected = 0;
                                return;
                            }
                            (Err(e), None) => {
                                self.state.flash(e, true, Instant::now());
                                return;
                            }
                        };
                        self.state.overlay = Overlay::None;
                        self.command(&line);
                    }
                    _ if edit_line(input, &key) => *selected = 0,
                    _ => {}
                }
                return;
            }
            Overlay::AddGateway { input, problem } => {
                match key.code {
                    KeyCode::Esc => self.state.overlay = Overlay::None,
                    KeyCode::Enter if problem.is_none() && !input.is_empty() => {
                        let spec = std::mem::take(input);
                        self.state.overlay = Overlay::None;
                        self.state
                            .flash(format!("starting {spec}"), false, Instant::now());
                        self.remember_spec(&spec);
                        let spec = self.resolve(&spec);
                        self.make_gateway(spec);
                    }
                    KeyCode::Tab => {
                        if let Some(done) = complete_spec(&self.spec_history, input) {
                            *input = done;
                            *problem = spec_problem(&self.saved, input);
                        }
                    }
                    KeyCode::Up | KeyCode::Down => {
                        let n = self.spec_history.len();
                        if n > 0 {
                            let at = self.spec_history.iter().position(|s| s == input);
                            let next = match (at, key.code) {
                                (None, _) => n - 1,
                                (Some(0), KeyCode::Up) => 0,
                                (Some(i), KeyCode::Up) => i - 1,
                                (Some(i), _) => (i + 1).min(n - 1),
                            };
                            *input = self.spec_history[next].clone();
                            *problem = spec_problem(&self.saved, input);
                        }
                    }
                    _ if edit_line(input, &key) => *problem = spec_problem(&self.saved, input),
                    _ => {}
                }
                return;
            }
        }
        if let Some(action) = lookup(&self.keymap, &key, self.state.focus) {
            self.perform(action);
            return;
        }
        if self.state.focus == Focus::Editor {
            if key.code == KeyCode::Esc {
                self.state.focus = Focus::Tree;
            } else if let Some(p) = self.state.pane_mut() {
                p.editor.input(key);
            }
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
        self.state
            .flash(format!("terminating group {name}"), false, Instant::now());
    }

    fn exit_gateway(&mut self, id: &str) {
        let now = Instant::now();
        match self.group.get(id) {
            Some(gw) if gw.is_alive() => {
                gw.exit();
                self.state.flash(format!("exiting {id}"), false, now);
            }
            _ => self.state.flash(format!("{id} is not live"), true, now),
        }
    }

    /// Sends a Python literal into a running run's channel.
    fn send_value(&mut self, run: u64, text: &str) {
        let now = Instant::now();
        let value = match parse_literal(text) {
            Ok(v) => v,
            Err(e) => return self.state.flash(e.to_string(), true, now),
        };
        let Some(channel) = self.runs.get(&run).map(|r| r.channel().clone()) else {
            return self.state.flash("that run has ended", true, now);
        };
        let tx = self.tasks_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = channel.send(value).await {
                let _ = tx.send(TaskMsg::Flash {
                    text: first_line(&e.to_string()),
                    error: true,
                });
            }
        });
        self.state.flash(format!("sent {text}"), false, now);
    }

    /// Adds a spec to the history (newest last, no duplicates) and saves it.
    fn remember_spec(&mut self, spec: &str) {
        self.spec_history.retain(|s| s != spec);
        self.spec_history.push(spec.to_owned());
        let excess = self.spec_history.len().saturating_sub(SPEC_HISTORY);
        self.spec_history.drain(..excess);
        if let Some(path) = &self.history_file {
            let mut text = self.spec_history.join("\n");
            text.push('\n');
            if let Err(e) = snippets::write_atomic(path, &text) {
                self.state.flash(
                    format!("cannot save {}: {e}", path.display()),
                    true,
                    Instant::now(),
                );
            }
        }
    }

    /// Runs a palette command line.
    fn command(&mut self, line: &str) {
        let now = Instant::now();
        match palette::parse(line) {
            Err(e) => self.state.flash(e, true, now),
            Ok(Command::Action(a)) => self.perform(a),
            Ok(Command::Group(name)) => match self.groups.get(&name) {
                Some(specs) => {
                    self.start_group(&name, specs.clone());
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
            Ok(Command::Open(path)) => match std::fs::read_to_string(&path) {
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
                Err(e) => {
                    self.state
                        .flash(format!("cannot open {}: {e}", path.display()), true, now)
                }
            },
            Ok(Command::Save(path)) => {
                let code = self.state.pane().map(Pane::code).unwrap_or_default();
                match snippets::write_atomic(&path, &code) {
                    Ok(()) => self
                        .state
                        .flash(format!("saved {}", path.display()), false, now),
                    Err(e) => {
                        self.state
                            .flash(format!("cannot save {}: {e}", path.display()), true, now)
                    }
                }
            }
        }
    }

    fn perform(&mut self, action: Action) {
        let now = Instant::now();
        match action {
            Action::Palette => {
                self.state.overlay = Overlay::Palette {
                    input: String::new(),
                    selected: 0,
                }
            }
            Action::RestartGateway => match self.state.selected_gateway().map(str::to_owned) {
                Some(id) => {
                    let group = self.group.clone();
                    let tx = self.tasks_tx.clone();
                    self.state.flash(format!("restarting {id}"), false, now);
                    tokio::spawn(async move {
                        if let Err(e) = group.restart(&id, QUIT_TIMEOUT).await {
                            let _ = tx.send(TaskMsg::Flash {
                                text: first_line(&e.to_string()),
                                error: true,
                            });
                        }
                    });
                }
                None => self.state.flash("no gateway selected", true, now),
            },
            Action::TerminateGroup => match self.state.selected_group() {
                Some((name, ids)) if ids.iter().any(|id| self.state.gateway_busy(id)) => {
                    self.state.overlay = Overlay::ConfirmTerminate { group: name }
                }
                Some((name, _)) => self.terminate_group(&name),
                None => self.state.flash("no gateway selected", true, now),
            },
            Action::Quit => {
                if self.state.work_running() {
                    self.state.overlay = Overlay::ConfirmQuit;
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.state.overlay = Overlay::Help,
            Action::FocusNext => {
                self.state.focus = match self.state.focus {
                    Focus::Tree => Focus::Editor,
                    Focus::Editor => Focus::Tree,
                }
            }
            Action::SelectNext => self.state.move_selection(1),
            Action::SelectPrev => self.state.move_selection(-1),
            Action::AddGateway => {
                self.state.overlay = Overlay::AddGateway {
                    input: String::new(),
                    problem: None,
                }
            }
            Action::ExitGateway => match self.state.selected_gateway().map(str::to_owned) {
                Some(id) if self.state.gateway_busy(&id) => {
                    self.state.overlay = Overlay::ConfirmExit { gateway: id }
                }
                Some(id) => self.exit_gateway(&id),
                None => self.state.flash("no gateway selected", true, now),
            },
            Action::SendValue => match self.state.running_run() {
                Some(run) => {
                    self.state.overlay = Overlay::SendValue {
                        run,
                        input: String::new(),
                        problem: None,
                    }
                }
                None => self
                    .state
                    .flash("no run of this pane is running", true, now),
            },
            Action::Copy => match self.state.last_output() {
                Some(text) => {
                    copy_osc52(&text);
                    self.state.flash(
                        format!("copied {} characters", text.chars().count()),
                        false,
                        now,
                    );
                }
                None => self
                    .state
                    .flash("nothing to copy: run the pane first", true, now),
            },
            Action::Suspend => self.suspend = true,
            Action::Interrupt => match self.state.running_run().and_then(|id| self.runs.get(&id)) {
                Some(run) => {
                    let run = run.clone();
                    tokio::spawn(async move {
                        let _ = run.interrupt().await;
                    });
                    self.state
                        .flash("interrupting (KeyboardInterrupt)", false, now);
                }
                None => self
                    .state
                    .flash("no run of this pane is running", true, now),
            },
            Action::Filter => {
                self.state.overlay = Overlay::Filter {
                    input: self
                        .state
                        .filter
                        .as_ref()
                        .map(|f| f.text.clone())
                        .unwrap_or_default(),
                    problem: None,
                }
            }
            Action::RunSelected => {
                let target = self.state.selected_gateway().map(str::to_owned);
                match target {
                    Some(id) => self.run_on(&[id]),
                    None => self
                        .state
                        .flash("no gateway selected: press a to add one", true, now),
                }
            }
            Action::RunAll => {
                let ids: Vec<String> = self
                    .state
                    .gateways
                    .list
                    .iter()
                    .filter(|g| g.is_live())
                    .map(|g| g.id.clone())
                    .collect();
                if ids.is_empty() {
                    self.state.flash("no live gateway", true, now);
                } else {
                    self.run_on(&ids);
                }
            }
            Action::NewPane => {
                let n = self.state.panes.len() + 1;
                self.state.panes.push(Pane::new(&format!("pane{n}"), ""));
                self.state.active = self.state.panes.len() - 1;
                self.state.focus = Focus::Editor;
            }
            Action::NextPane => {
                self.state.active = (self.state.active + 1) % self.state.panes.len().max(1);
            }
            Action::PrevPane => {
                let n = self.state.panes.len().max(1);
                self.state.active = (self.state.active + n - 1) % n;
            }
            Action::ClearRuns => {
                if let Some(p) = self.state.pane_mut() {
                    p.runs.retain(|r| r.took.is_none());
                }
            }
        }
    }

    /// Runs the active pane's code on each gateway in `ids`, in tasks.
    fn run_on(&mut self, ids: &[String]) {
        let Some(pane) = self.state.pane() else {
            return;
        };
        let code = pane.code();
        let file_name = format!("<pane {}>", pane.name);
        let batch = self.next_batch;
        self.next_batch += 1;
        for id in ids {
            let now = Instant::now();
            let Some(gw) = self.group.get(id) else {
                self.state.flash(format!("{id} is not live"), true, now);
                continue;
            };
            let run = self.state.start_run(id, batch, now);
            self.state.output_scroll = 0;
            let tx = self.tasks_tx.clone();
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
}

/// Forwards a run's items and printed output to the loop until it ends;
/// returns its error text, if it failed.
async fn stream_run(
    run: u64,
    handle: &crate::engine::run::Run,
    tx: &mpsc::UnboundedSender<TaskMsg>,
) -> Option<String> {
    let items = async {
        loop {
            match handle.channel().receive(None).await {
                Ok(v) => {
                    let text = repr_pretty(&v, PRETTY_WIDTH);
                    let _ = tx.send(TaskMsg::RunItem { run, text });
                }
                // An item that cannot be decoded is shown at once, not when
                // the code's output ends.
                Err(e @ Error::DataFormat { .. }) => {
                    let text = format!("{e}\n");
                    let _ = tx.send(TaskMsg::RunOutput {
                        run,
                        stderr: true,
                        text,
                    });
                    break;
                }
                Err(_) => break,
            }
        }
    };
    let output = async {
        let mut output = handle.output();
        while let Some(piece) = output.recv().await {
            let stderr = piece.stream == crate::engine::run::OutputStream::Stderr;
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

/// The spec a saved name stands for, or the text itself.
fn resolve(saved: &std::collections::BTreeMap<String, String>, name_or_spec: &str) -> String {
    saved
        .get(name_or_spec)
        .cloned()
        .unwrap_or_else(|| name_or_spec.to_owned())
}

/// Why `spec` (or the saved name) is not usable, if it is not (shown as the user types).
fn spec_problem(saved: &std::collections::BTreeMap<String, String>, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return None;
    }
    XSpec::parse(&resolve(saved, spec))
        .err()
        .map(|e| e.to_string())
}

/// Most specs kept in the history.
const SPEC_HISTORY: usize = 100;

/// Tab in the add-gateway dialog: the newest known spec that extends `input`.
fn complete_spec(history: &[String], input: &str) -> Option<String> {
    history
        .iter()
        .rev()
        .find(|s| s.starts_with(input) && s.len() > input.len())
        .cloned()
}

/// Typing in a one-line input: Backspace deletes, characters are added.
/// Returns whether the text changed.
fn edit_line(input: &mut String, key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Backspace => input.pop().is_some(),
        KeyCode::Char(c) => {
            input.push(c);
            true
        }
        _ => false,
    }
}

/// Why `text` is not a Python literal, with the column, if it is not.
fn literal_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    parse_literal(text)
        .err()
        .map(|e| format!("column {}: {}", e.column, e.message))
}

/// Puts `text` on the clipboard of the terminal (and over ssh and tmux) with OSC 52.
fn copy_osc52(text: &str) {
    use base64::Engine as _;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_completion_takes_the_newest_extension() {
        let history = vec![
            "popen".to_string(),
            "popen//python=python3.11".into(),
            "popen//python=python3.12".into(),
        ];
        assert_eq!(
            complete_spec(&history, "popen//py"),
            Some("popen//python=python3.12".into())
        );
        assert_eq!(complete_spec(&history, "ssh"), None);
        assert_eq!(complete_spec(&history, "popen//python=python3.12"), None);
    }

    #[test]
    fn literal_problems_carry_the_column() {
        assert_eq!(literal_problem("  "), None);
        assert_eq!(literal_problem("[1, 2]"), None);
        assert!(literal_problem("[1, 2").is_some_and(|p| p.starts_with("column 1")));
    }
}
