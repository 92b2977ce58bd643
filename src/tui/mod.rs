//! The terminal UI: gateways with live status, code panes that run
//! `remote_exec`, a traffic inspector (every message) and a trace view
//! (events, remote trace lines, stderr), built on the engine's public API and
//! its event stream; `execdeck tui --trace FILE` shows a recorded trace file in
//! the last two, read-only.
//!
//! Layout follows tokio-console:
//! - `app.rs` is the one loop: a `select!` over terminal input (a stream,
//!   so tests feed key events), engine events, task results and a tick,
//!   drawing on any ratatui backend. It alone performs actions.
//! - `screen.rs` names the screens (gateways + code, traffic, trace, rsync
//!   jobs; F2, F3, F4, F8) and which events each needs; the loop widens its
//!   subscription from life cycles to full traffic only while a screen asks
//!   for it (the traffic inspector), and takes queued messages in batches
//!   before drawing.
//! - `state/` is fed by events and task results; `view/` only renders it,
//!   one file per screen (`view/gateways.rs`; `view/traffic.rs` for the
//!   traffic and trace screens) plus the dialogs over them
//!   (`view/overlay.rs`). The traffic and trace screens keep their rows in
//!   bounded rings with a filtered index kept up to date as rows arrive
//!   (`state/ring.rs`, `state/traffic.rs`), so a frame formats only the rows
//!   on screen; `state/detail.rs` is one message in full.
//! - `input/` is the one keymap (contexts: everywhere, per screen part, per
//!   dialog), feeding dispatch, hints, help, the config's overrides and the
//!   README's table; `input/gateways.rs`, `input/traffic.rs` and
//!   `input/dialog.rs` turn keys of the screens and of the dialogs into
//!   actions and outcomes.
//! - `tracefile.rs` reads a trace file for `--trace` and exports the rows a
//!   view shows.
//! - `effects.rs` is everything done outside the TUI: engine calls in
//!   spawned tasks, files, the clipboard.
//! - `prompt.rs` is the group's ssh prompter: passphrase, password and
//!   host-key questions of starting gateways travel to the loop, which shows
//!   them one at a time as dialogs and sends the answers back.
//! - `config.rs` (including the one resolution of saved gateway names),
//!   `theme.rs`, `palette.rs`, `filter.rs`, `snippets.rs`, `syntax.rs` and
//!   `term.rs` (the terminal restored whatever happens) serve them.
//!
//! # Adding a screen
//!
//! 1. A variant of [`screen::Screen`], with [`screen::Screen::feed`] saying
//!    whether it needs every message ([`screen::Feed::Traffic`]) or life
//!    cycles only; [`app::App::show`] switches to it and widens or narrows
//!    the subscription.
//! 2. Its model in `state/<screen>.rs`, a field of [`state::State`], fed by
//!    `State::apply_event` (and by task results).
//! 3. Its render function in `view/<screen>.rs`, called from [`view::draw`].
//! 4. Its keys: a [`input::Context`] of its own with default bindings in
//!    [`input::default_keymap`] (they show in the help and in the README's
//!    table, which a test checks), and `input/<screen>.rs` turning keys
//!    into [`input::Action`]s; the app's `on_key` dispatches by screen. A
//!    `Show…` action bound everywhere switches to it (and names it in the
//!    status line, `view/status.rs`); the help shows the keys of the screen
//!    shown (`view/overlay.rs`).
//! 5. Engine calls it needs go in [`effects`]; `App::perform` calls them.

pub mod app;
pub mod config;
pub mod effects;
pub mod filter;
pub mod input;
pub mod palette;
pub mod prompt;
pub mod screen;
pub mod snippets;
pub mod state;
pub mod syntax;
pub mod term;
pub mod theme;
pub mod tracefile;
pub mod view;

use std::path::PathBuf;

use crate::engine::Group;
use crate::trace::record::{RecordOptions, Recorder};
use config::{Config, Dirs};
use theme::Theme;

/// What `execdeck tui` was given on the command line.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// Gateways to start (else the config's, else one `popen`).
    pub specs: Vec<String>,
    /// Theme name, overriding the config.
    pub theme: Option<String>,
    /// Write every event to this trace file.
    pub trace_file: Option<PathBuf>,
    /// Show this recorded trace file (read-only, no gateways).
    pub replay: Option<PathBuf>,
}

/// Runs the TUI until the user quits; returns the exit status.
pub async fn run(opts: TuiOptions) -> i32 {
    let dirs = Dirs::find();
    let (config, config_problem) = match &dirs {
        Some(d) => Config::load(&d.config_file()),
        None => (Config::default(), None),
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme_name = opts.theme.clone().unwrap_or_else(|| config.theme.clone());
    let user_themes = dirs.as_ref().map(Dirs::themes);
    let (theme, theme_problem) = match Theme::load(&theme_name, user_themes.as_deref(), no_color) {
        Ok(t) => (t, None),
        Err(e) if opts.theme.is_some() => {
            eprintln!("execdeck: {e}");
            return crate::exit::EXIT_USAGE;
        }
        Err(e) => (Theme::fallback(no_color), Some(e.to_string())),
    };
    let (specs, group_problem) = if opts.specs.is_empty() {
        config.startup_specs()
    } else {
        (
            opts.specs.iter().map(|s| config.saved.resolve(s)).collect(),
            None,
        )
    };
    for spec in &specs {
        if let Err(e) = crate::spec::XSpec::parse(spec) {
            eprintln!("execdeck: {e}");
            return crate::exit::EXIT_USAGE;
        }
    }
    let replay = match &opts.replay {
        Some(path) => match tracefile::load(path) {
            Ok((records, problems)) => Some((path.display().to_string(), records, problems)),
            Err(e) => {
                eprintln!("execdeck: {e}");
                return crate::exit::EXIT_USAGE;
            }
        },
        None => None,
    };
    // ssh questions (passphrases, passwords, host keys) go to dialogs.
    let (prompter, prompts) = prompt::channel();
    let group = Group::with_options(crate::engine::GroupOptions {
        prompter: Some(crate::transport::SharedPrompter::new(prompter)),
        ..crate::engine::GroupOptions::default()
    });
    let record = RecordOptions {
        trace_file: opts.trace_file.clone(),
        payloads: false,
    };
    // The TUI owns the terminal: the recorder only writes the trace file.
    let recorder = match opts.trace_file {
        Some(_) => match Recorder::start(&group, &record, None) {
            Ok(recorder) => Some(recorder),
            Err(e) => {
                eprintln!("execdeck: {e}");
                return crate::exit::EXIT_USAGE;
            }
        },
        None => None,
    };
    let mut guard = match term::TermGuard::enter(config.mouse) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("execdeck: cannot set up the terminal: {e}");
            return 1;
        }
    };
    let mut problems: Vec<String> = config_problem.into_iter().chain(theme_problem).collect();
    let mut app = app::App::new(group.clone(), theme, config.refresh())
        .with_key_overrides(&config.keys, &mut problems)
        .with_themes(user_themes, no_color)
        .with_mouse(config.mouse)
        .with_prompts(prompts)
        .with_names(&config)
        .with_spec_history(
            dirs.as_ref().map(|d| d.data.join("spec_history")),
            &config.gateways,
        )
        .with_snippets(dirs.as_ref().map(|d| d.data.join("snippets")));
    problems.extend(group_problem);
    if let Some((name, records, bad)) = replay {
        problems.extend(bad);
        app = app.with_replay(name, records);
    } else {
        match (&config.default_group, opts.specs.is_empty()) {
            (Some(name), true) if config.group(name).is_some() => app.start_group(name, specs),
            _ => app.start_gateways(specs),
        }
    }
    let input = crossterm::event::EventStream::new();
    let result = app
        .run_with_notice(&mut guard.terminal, input, problems)
        .await;
    drop(guard);
    if let Some(recorder) = recorder
        && let Err(e) = recorder.stop().await
    {
        eprintln!("execdeck: {e}");
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("execdeck: terminal error: {e}");
            group.terminate(std::time::Duration::from_secs(3)).await;
            1
        }
    }
}
