//! The keymap: one table feeds key dispatch, the status-line and dialog
//! hints, the help overlay and the README's keys table, so they can never
//! disagree; the config's `[keys]` table patches it ([`apply_overrides`]).
//!
//! Every binding has a [`Context`]: everywhere, one part of a screen (the
//! gateway tree), or one dialog. Keys become [`Action`]s here and in the
//! per-screen and per-dialog handlers ([`gateways`], [`dialog`]); only the
//! app loop acts on them. A new screen adds its context and its handler.

pub mod dialog;
pub mod gateways;
mod help;
mod overrides;
pub mod prompt;
pub mod rsync;
pub mod traffic;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::Focus;
pub use help::{help_rows, markdown_table};
pub use overrides::{apply_overrides, parse_key};
pub use rsync::RsyncAction;

/// Something the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Quit (asks first when work runs).
    Quit,
    /// Show or hide the key help.
    Help,
    /// Switch focus between the gateway tree and the editor.
    FocusNext,
    /// Select the next gateway.
    SelectNext,
    /// Select the previous gateway.
    SelectPrev,
    /// Open the add-gateway dialog.
    AddGateway,
    /// Exit the selected gateway.
    ExitGateway,
    /// Run the active pane's code on the selected gateway.
    RunSelected,
    /// Run the active pane's code on every live gateway.
    RunAll,
    /// Open a new code pane.
    NewPane,
    /// Show the next pane.
    NextPane,
    /// Show the previous pane.
    PrevPane,
    /// Forget the runs shown under the active pane.
    ClearRuns,
    /// Type a Python literal and send it into the running code.
    SendValue,
    /// Copy the last run's output to the clipboard (OSC 52).
    Copy,
    /// Suspend to the shell (resume with `fg`).
    Suspend,
    /// Filter gateway rows and output lines.
    Filter,
    /// Exit the selected gateway and start it again from its spec.
    RestartGateway,
    /// Raise KeyboardInterrupt in the running code.
    Interrupt,
    /// Exit every gateway of the group.
    TerminateGroup,
    /// Open the command palette.
    Palette,
    /// Show the gateways + code screen.
    ShowGateways,
    /// Show the traffic inspector.
    ShowTraffic,
    /// Show the trace view.
    ShowTrace,
    /// Pause or resume the table (new rows are counted meanwhile).
    Pause,
    /// Go to the newest row and follow new ones.
    Follow,
    /// Move a page of rows up.
    PageUp,
    /// Move a page of rows down.
    PageDown,
    /// Open the selected message in full.
    OpenDetail,
    /// Close the message opened in full.
    Back,
    /// Fold or unfold the value under the cursor.
    ToggleFold,
    /// Write the rows shown to a trace file.
    Export,
    /// Restart a gateway with remote tracing (`debug=stream`).
    RemoteDebug,
    /// Show the rsync screen (on it: back to the gateways).
    ShowRsync,
    /// A key of the rsync screen (bound in [`Context::Rsync`] only).
    Rsync(RsyncAction),
    /// A key inside a dialog (bound in [`Context::Dialog`] only).
    Dialog(DialogAction),
}

/// What a key does inside a dialog. One action means the same in every
/// dialog, so rebinding it (`accept = ["ctrl-o"]`) changes every dialog's
/// keys and hints at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogAction {
    /// Do what the dialog is for: start the gateway, send the value, apply
    /// the filter, run the command.
    Accept,
    /// Close the dialog and do nothing (in a question: the answer no).
    Cancel,
    /// Answer yes to a question.
    Yes,
    /// Complete what was typed.
    Complete,
    /// The entry before: an older spec, the palette line above.
    PrevEntry,
    /// The entry after: a newer spec, the palette line below.
    NextEntry,
    /// Answer yes and remember it (an unknown host key: accept and record).
    Always,
}

impl DialogAction {
    /// Every dialog action.
    pub const ALL: [DialogAction; 7] = [
        DialogAction::Accept,
        DialogAction::Cancel,
        DialogAction::Yes,
        DialogAction::Complete,
        DialogAction::PrevEntry,
        DialogAction::NextEntry,
        DialogAction::Always,
    ];

    /// Its name in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            DialogAction::Accept => "accept",
            DialogAction::Cancel => "cancel",
            DialogAction::Yes => "yes",
            DialogAction::Complete => "complete",
            DialogAction::PrevEntry => "prev-entry",
            DialogAction::NextEntry => "next-entry",
            DialogAction::Always => "always",
        }
    }

    /// What it does.
    pub fn describe(self) -> &'static str {
        match self {
            DialogAction::Accept => "do what the dialog is for",
            DialogAction::Cancel => "close the dialog (answer no)",
            DialogAction::Yes => "answer yes",
            DialogAction::Complete => "complete what was typed",
            DialogAction::PrevEntry => "older spec, or the entry above",
            DialogAction::NextEntry => "newer spec, or the entry below",
            DialogAction::Always => "answer yes and record it (a host key)",
        }
    }
}

/// A dialog over the screen, as a keymap context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialog {
    /// The key help.
    Help,
    /// A yes/no question (quit, exit a gateway, terminate a group).
    Confirm,
    /// Typing a spec to start a gateway.
    AddGateway,
    /// Typing a Python literal to send into running code.
    SendValue,
    /// Typing a filter.
    Filter,
    /// The command palette.
    Palette,
    /// Typing the file to export the shown rows to.
    Export,
    /// Typing a passphrase or password (masked) for an ssh start.
    Secret,
    /// An unknown or changed ssh host key.
    HostKey,
}

impl Action {
    /// Every action, in the order the palette lists them.
    pub const ALL: [Action; 33] = [
        Action::ShowGateways,
        Action::ShowTraffic,
        Action::ShowTrace,
        Action::Pause,
        Action::Follow,
        Action::PageUp,
        Action::PageDown,
        Action::OpenDetail,
        Action::Back,
        Action::ToggleFold,
        Action::Export,
        Action::RemoteDebug,
        Action::Interrupt,
        Action::RestartGateway,
        Action::Filter,
        Action::SendValue,
        Action::Copy,
        Action::Suspend,
        Action::RunSelected,
        Action::RunAll,
        Action::AddGateway,
        Action::ExitGateway,
        Action::TerminateGroup,
        Action::NewPane,
        Action::NextPane,
        Action::PrevPane,
        Action::ClearRuns,
        Action::FocusNext,
        Action::SelectNext,
        Action::SelectPrev,
        Action::Help,
        Action::ShowRsync,
        Action::Quit,
    ];

    /// The action's name in the command palette.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::FocusNext => "focus",
            Action::SelectNext => "next-gateway",
            Action::SelectPrev => "prev-gateway",
            Action::AddGateway => "add-gateway",
            Action::ExitGateway => "exit-gateway",
            Action::TerminateGroup => "terminate",
            Action::RunSelected => "run",
            Action::RunAll => "run-all",
            Action::NewPane => "new-pane",
            Action::NextPane => "next-pane",
            Action::PrevPane => "prev-pane",
            Action::ClearRuns => "clear",
            Action::SendValue => "send",
            Action::Copy => "copy",
            Action::Suspend => "suspend",
            Action::Filter => "filter",
            Action::RestartGateway => "restart-gateway",
            Action::Interrupt => "interrupt",
            Action::Palette => "palette",
            Action::ShowGateways => "gateways",
            Action::ShowTraffic => "traffic",
            Action::ShowTrace => "trace",
            Action::Pause => "pause",
            Action::Follow => "follow",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::OpenDetail => "detail",
            Action::Back => "back",
            Action::ToggleFold => "fold",
            Action::Export => "export",
            Action::RemoteDebug => "remote-debug",
            Action::ShowRsync => "rsync",
            Action::Rsync(r) => r.name(),
            Action::Dialog(d) => d.name(),
        }
    }

    /// What the action does, for the palette.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit (asks first when code runs)",
            Action::Help => "show the keys",
            Action::FocusNext => "switch between gateways and editor",
            Action::SelectNext => "select the next gateway",
            Action::SelectPrev => "select the previous gateway",
            Action::AddGateway => "add a gateway from a spec",
            Action::ExitGateway => "exit the selected gateway",
            Action::TerminateGroup => "exit every gateway of the selected group",
            Action::RunSelected => "run the pane on the selected gateway",
            Action::RunAll => "run the pane on every live gateway",
            Action::NewPane => "open a new code pane",
            Action::NextPane => "show the next pane",
            Action::PrevPane => "show the previous pane",
            Action::ClearRuns => "clear the pane's finished runs",
            Action::SendValue => "send a Python literal into the running code",
            Action::Copy => "copy the last run's output (OSC 52)",
            Action::Suspend => "suspend to the shell (fg resumes)",
            Action::Filter => "filter gateways and output by a regex (! inverts)",
            Action::RestartGateway => "restart the selected gateway from its spec",
            Action::Interrupt => "interrupt the running code (KeyboardInterrupt)",
            Action::Palette => "open the command palette",
            Action::ShowGateways => "show gateways and code",
            Action::ShowTraffic => "show the traffic inspector (every message)",
            Action::ShowTrace => "show the trace view (events, remote trace, stderr)",
            Action::Pause => "pause or resume the table (PAUSED +N counts new rows)",
            Action::Follow => "go to the newest row and follow",
            Action::PageUp => "a page of rows up",
            Action::PageDown => "a page of rows down",
            Action::OpenDetail => "open the selected message: value and hex dump",
            Action::Back => "close the message",
            Action::ToggleFold => "fold or unfold the value under the cursor",
            Action::Export => "write the rows shown to a trace file",
            Action::RemoteDebug => "restart a gateway with remote tracing (debug=stream)",
            Action::ShowRsync => "switch between the rsync screen and the gateways",
            Action::Rsync(r) => r.describe(),
            Action::Dialog(d) => d.describe(),
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// On every screen when no dialog is open (also while typing in the editor).
    Global,
    /// Only while the gateway tree (of the gateways + code screen) has focus.
    Tree,
    /// On the traffic inspector's table.
    Traffic,
    /// On a message opened in full (traffic inspector).
    Detail,
    /// On the trace view.
    Trace,
    /// Only on the rsync screen.
    Rsync,
    /// Only while this dialog is open.
    Dialog(Dialog),
}

impl Context {
    /// Whether a key bound in both contexts would be ambiguous: `Global`
    /// meets every screen context, any other context only itself.
    pub fn meets(self, other: Context) -> bool {
        match (self, other) {
            (Context::Dialog(_), _) | (_, Context::Dialog(_)) => self == other,
            (Context::Global, _) | (_, Context::Global) => true,
            _ => self == other,
        }
    }

    /// Where the README's table says the binding applies.
    pub fn place(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Tree => "gateway list",
            Context::Traffic => "traffic",
            Context::Detail => "message detail",
            Context::Trace => "trace",
            Context::Rsync => "rsync screen",
            Context::Dialog(_) => "dialog",
        }
    }
}

/// One key binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The key.
    pub code: KeyCode,
    /// Modifiers that must be held.
    pub mods: KeyModifiers,
    /// What it does.
    pub action: Action,
    /// Where it applies.
    pub context: Context,
    /// What the help overlay says.
    pub help: &'static str,
}

const fn bind(
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    context: Context,
    help: &'static str,
) -> Binding {
    Binding {
        code,
        mods,
        action,
        context,
        help,
    }
}

pub(crate) const NONE: KeyModifiers = KeyModifiers::NONE;
pub(crate) const CTRL: KeyModifiers = KeyModifiers::CONTROL;
pub(crate) const ALT: KeyModifiers = KeyModifiers::ALT;

/// The built-in key bindings.
pub fn default_keymap() -> Vec<Binding> {
    use Action::*;
    use Context::*;
    let mut keymap = vec![
        bind(
            KeyCode::Char('r'),
            CTRL,
            RunSelected,
            Global,
            "run the pane on the selected gateway",
        ),
        bind(
            KeyCode::F(5),
            NONE,
            RunSelected,
            Global,
            "run the pane on the selected gateway",
        ),
        bind(
            KeyCode::F(6),
            NONE,
            RunAll,
            Global,
            "run the pane on every live gateway",
        ),
        bind(
            KeyCode::Tab,
            NONE,
            FocusNext,
            Global,
            "switch between gateways and editor",
        ),
        bind(KeyCode::Char('n'), CTRL, NewPane, Global, "new code pane"),
        bind(KeyCode::Right, ALT, NextPane, Global, "next pane"),
        bind(KeyCode::Left, ALT, PrevPane, Global, "previous pane"),
        bind(
            KeyCode::Char('l'),
            CTRL,
            ClearRuns,
            Global,
            "clear the pane's output",
        ),
        bind(KeyCode::F(1), NONE, Help, Global, "show or hide this help"),
        bind(
            KeyCode::Char('c'),
            CTRL,
            Interrupt,
            Global,
            "interrupt the running code",
        ),
        bind(
            KeyCode::Char('e'),
            CTRL,
            SendValue,
            Global,
            "send a value into the running code",
        ),
        bind(
            KeyCode::Char('y'),
            CTRL,
            Copy,
            Global,
            "copy the last run's output",
        ),
        bind(
            KeyCode::Char('y'),
            NONE,
            Copy,
            Tree,
            "copy the last run's output",
        ),
        bind(
            KeyCode::Char('z'),
            CTRL,
            Suspend,
            Global,
            "suspend (fg resumes)",
        ),
        bind(KeyCode::Char('q'), CTRL, Quit, Global, "quit"),
        bind(KeyCode::Char('p'), CTRL, Palette, Global, "command palette"),
        bind(KeyCode::Char(':'), NONE, Palette, Tree, "command palette"),
        bind(
            KeyCode::Char('/'),
            NONE,
            Filter,
            Tree,
            "filter gateways and output (regex, ! inverts)",
        ),
        bind(
            KeyCode::Char('f'),
            CTRL,
            Filter,
            Global,
            "filter gateways and output (regex, ! inverts)",
        ),
        bind(
            KeyCode::Char('?'),
            NONE,
            Help,
            Tree,
            "show or hide this help",
        ),
        bind(KeyCode::Char('j'), NONE, SelectNext, Tree, "next gateway"),
        bind(KeyCode::Down, NONE, SelectNext, Tree, "next gateway"),
        bind(
            KeyCode::Char('k'),
            NONE,
            SelectPrev,
            Tree,
            "previous gateway",
        ),
        bind(KeyCode::Up, NONE, SelectPrev, Tree, "previous gateway"),
        bind(
            KeyCode::Char('a'),
            NONE,
            AddGateway,
            Tree,
            "add a gateway (type a spec)",
        ),
        bind(
            KeyCode::Char('T'),
            NONE,
            TerminateGroup,
            Tree,
            "terminate the selected gateway's group",
        ),
        bind(
            KeyCode::Char('x'),
            NONE,
            ExitGateway,
            Tree,
            "exit the selected gateway",
        ),
        bind(
            KeyCode::Char('r'),
            NONE,
            RestartGateway,
            Tree,
            "restart the selected gateway",
        ),
        bind(KeyCode::Enter, NONE, FocusNext, Tree, "edit the code pane"),
        bind(KeyCode::Char('q'), NONE, Quit, Tree, "quit"),
        bind(KeyCode::F(2), NONE, ShowGateways, Global, "gateways + code"),
        bind(
            KeyCode::F(3),
            NONE,
            ShowTraffic,
            Global,
            "traffic inspector",
        ),
        bind(KeyCode::F(4), NONE, ShowTrace, Global, "trace view"),
        bind(
            KeyCode::F(8),
            NONE,
            ShowRsync,
            Global,
            "rsync screen (again: back to the gateways)",
        ),
    ];
    keymap.extend(traffic::keymap());
    keymap.extend(rsync::keymap());
    keymap.extend(dialog_keymap());
    keymap
}

/// The built-in keys of the dialogs (the order sets the order of hints).
fn dialog_keymap() -> Vec<Binding> {
    use DialogAction::*;
    use KeyCode::{Char, Down, Enter, Esc, F, Tab, Up};
    let d = |code, action, dialog, help| {
        bind(
            code,
            NONE,
            Action::Dialog(action),
            Context::Dialog(dialog),
            help,
        )
    };
    vec![
        d(F(1), Cancel, Dialog::Help, "close the help"),
        d(Esc, Cancel, Dialog::Help, "close the help"),
        d(Char('?'), Cancel, Dialog::Help, "close the help"),
        d(Char('q'), Cancel, Dialog::Help, "close the help"),
        d(Down, NextEntry, Dialog::Help, "scroll down"),
        d(Up, PrevEntry, Dialog::Help, "scroll up"),
        d(Char('y'), Yes, Dialog::Confirm, "yes"),
        d(Char('Y'), Yes, Dialog::Confirm, "yes"),
        d(
            Char('n'),
            Cancel,
            Dialog::Confirm,
            "no (so does any other key)",
        ),
        d(Esc, Cancel, Dialog::Confirm, "no (so does any other key)"),
        d(Enter, Accept, Dialog::AddGateway, "start the gateway"),
        d(
            Tab,
            Complete,
            Dialog::AddGateway,
            "complete from known specs",
        ),
        d(Up, PrevEntry, Dialog::AddGateway, "older spec"),
        d(Down, NextEntry, Dialog::AddGateway, "newer spec"),
        d(Esc, Cancel, Dialog::AddGateway, "cancel"),
        d(Enter, Accept, Dialog::SendValue, "send the value"),
        d(Esc, Cancel, Dialog::SendValue, "cancel"),
        d(
            Enter,
            Accept,
            Dialog::Filter,
            "apply the filter (empty clears)",
        ),
        d(Esc, Cancel, Dialog::Filter, "cancel"),
        d(Tab, Complete, Dialog::Palette, "complete the command"),
        d(Enter, Accept, Dialog::Palette, "run the command"),
        d(Up, PrevEntry, Dialog::Palette, "entry above"),
        d(Down, NextEntry, Dialog::Palette, "entry below"),
        d(Esc, Cancel, Dialog::Palette, "cancel"),
        d(Enter, Accept, Dialog::Export, "write the file"),
        d(Esc, Cancel, Dialog::Export, "cancel"),
        d(Enter, Accept, Dialog::Secret, "send it"),
        d(Esc, Cancel, Dialog::Secret, "cancel (no answer)"),
        d(Char('y'), Yes, Dialog::HostKey, "accept once"),
        d(Char('a'), Always, Dialog::HostKey, "accept and record"),
        d(Char('n'), Cancel, Dialog::HostKey, "refuse"),
        d(Esc, Cancel, Dialog::HostKey, "refuse"),
    ]
}

/// The action bound to `key` on the gateways + code screen where `focus`
/// is, if any (no dialog open). Key releases and repeats reported by some
/// terminals are ignored (no doubled keys).
pub fn lookup(keymap: &[Binding], key: &KeyEvent, focus: Focus) -> Option<Action> {
    match focus {
        Focus::Tree => lookup_in(keymap, key, &[Context::Global, Context::Tree]),
        Focus::Editor => lookup_in(keymap, key, &[Context::Global]),
    }
}

/// The action bound to `key` in one of `contexts`, if any (releases ignored).
pub fn lookup_in(keymap: &[Binding], key: &KeyEvent, contexts: &[Context]) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Shift is part of the character for printable keys ('?' is Shift-/).
    let mods = match key.code {
        KeyCode::Char(_) => key.modifiers - KeyModifiers::SHIFT,
        _ => key.modifiers,
    };
    keymap
        .iter()
        .find(|b| b.code == key.code && b.mods == mods && contexts.contains(&b.context))
        .map(|b| b.action)
}

/// The names of the keys bound to `action` in `context`, in keymap order
/// (for hints: they follow the user's overrides).
pub fn keys_for(keymap: &[Binding], context: Context, action: Action) -> Vec<String> {
    keymap
        .iter()
        .filter(|b| b.context == context && b.action == action)
        .map(|b| key_name(b.code, b.mods))
        .collect()
}

/// How a key is written in hints and help (`Ctrl-R`, `F5`, `Alt-→`).
pub fn key_name(code: KeyCode, mods: KeyModifiers) -> String {
    let key = match code {
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
            c.to_ascii_uppercase().to_string()
        }
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Tab => "Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::End => "End".into(),
        KeyCode::Home => "Home".into(),
        other => format!("{other:?}"),
    };
    let mut name = String::new();
    if mods.contains(KeyModifiers::CONTROL) {
        name.push_str("Ctrl-");
    }
    if mods.contains(KeyModifiers::ALT) {
        name.push_str("Alt-");
    }
    name.push_str(&key);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn tree_keys_only_in_the_tree() {
        let km = default_keymap();
        assert_eq!(
            lookup(&km, &key(KeyCode::Char('j'), NONE), Focus::Tree),
            Some(Action::SelectNext)
        );
        assert_eq!(
            lookup(&km, &key(KeyCode::Char('j'), NONE), Focus::Editor),
            None
        );
        assert_eq!(
            lookup(&km, &key(KeyCode::Char('r'), CTRL), Focus::Editor),
            Some(Action::RunSelected)
        );
        assert_eq!(
            lookup(
                &km,
                &key(KeyCode::Char('?'), KeyModifiers::SHIFT),
                Focus::Tree
            ),
            Some(Action::Help)
        );
    }

    #[test]
    fn releases_are_ignored() {
        let km = default_keymap();
        let mut k = key(KeyCode::Char('q'), NONE);
        k.kind = KeyEventKind::Release;
        assert_eq!(lookup(&km, &k, Focus::Tree), None);
    }

    #[test]
    fn dialog_keys_only_in_their_dialog() {
        let km = default_keymap();
        let enter = key(KeyCode::Enter, NONE);
        let add = Context::Dialog(Dialog::AddGateway);
        assert_eq!(
            lookup_in(&km, &enter, &[add]),
            Some(Action::Dialog(DialogAction::Accept))
        );
        assert_eq!(
            lookup_in(&km, &enter, &[Context::Dialog(Dialog::Help)]),
            None
        );
        assert_eq!(
            lookup_in(
                &km,
                &key(KeyCode::Char('Y'), KeyModifiers::SHIFT),
                &[Context::Dialog(Dialog::Confirm)]
            ),
            Some(Action::Dialog(DialogAction::Yes))
        );
        assert_eq!(
            lookup(&km, &key(KeyCode::Char('y'), NONE), Focus::Editor),
            None
        );
        assert_eq!(
            keys_for(&km, add, Action::Dialog(DialogAction::Cancel)),
            ["Esc"]
        );
        assert!(!markdown_table(&km).contains("start the gateway"));
    }

    #[test]
    fn help_lists_every_action_of_the_keymap() {
        let km = default_keymap();
        let rows = help_rows(&km);
        for b in &km {
            let name = key_name(b.code, b.mods);
            assert!(
                rows.iter()
                    .any(|(keys, help, _)| keys.contains(&name) && *help == b.help),
                "{name}"
            );
        }
        assert!(rows.iter().any(|(keys, _, _)| keys == "Ctrl-R, F5"));
    }
}
