//! The keymap: one table feeds key dispatch and the help overlay, so the two
//! can never disagree. Keys return [`Action`]s; only the app loop acts.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::Focus;

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
}

impl Action {
    /// Every action, in the order the palette lists them.
    pub const ALL: [Action; 20] = [
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
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere (also while typing in the editor).
    Global,
    /// Only while the gateway tree has focus.
    Tree,
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

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;
const ALT: KeyModifiers = KeyModifiers::ALT;

/// The built-in key bindings.
pub fn default_keymap() -> Vec<Binding> {
    use Action::*;
    use Context::*;
    vec![
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
    ]
}

/// The action bound to `key` where `focus` is, if any. Key releases and
/// repeats reported by some terminals are ignored (no doubled keys).
pub fn lookup(keymap: &[Binding], key: &KeyEvent, focus: Focus) -> Option<Action> {
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
        .find(|b| {
            b.code == key.code
                && b.mods == mods
                && (b.context == Context::Global || focus == Focus::Tree)
        })
        .map(|b| b.action)
}

/// How a key is written in hints and help (`Ctrl-R`, `F5`, `Alt-→`).
pub fn key_name(code: KeyCode, mods: KeyModifiers) -> String {
    let key = match code {
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

/// The help rows: keys joined per action and context, in keymap order.
pub fn help_rows(keymap: &[Binding]) -> Vec<(String, &'static str, Context)> {
    let mut rows: Vec<(String, &'static str, Context, Action)> = Vec::new();
    for b in keymap {
        let name = key_name(b.code, b.mods);
        match rows
            .iter_mut()
            .find(|r| r.3 == b.action && r.2 == b.context)
        {
            Some(row) => row.0 = format!("{}, {name}", row.0),
            None => rows.push((name, b.help, b.context, b.action)),
        }
    }
    rows.into_iter().map(|(k, h, c, _)| (k, h, c)).collect()
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

/// Parses a key as written in the config: `ctrl-r`, `alt-right`, `f5`, `x`,
/// `enter`, `tab`, `esc`, `up`, `down`, `left`, `right`, `pageup`, `pagedown`.
pub fn parse_key(text: &str) -> Result<(KeyCode, KeyModifiers), String> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = text.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        if let Some(r) = lower
            .strip_prefix("ctrl-")
            .or_else(|| lower.strip_prefix("c-"))
        {
            mods |= KeyModifiers::CONTROL;
            rest = &rest[rest.len() - r.len()..];
        } else if let Some(r) = lower
            .strip_prefix("alt-")
            .or_else(|| lower.strip_prefix("m-"))
        {
            mods |= KeyModifiers::ALT;
            rest = &rest[rest.len() - r.len()..];
        } else {
            break;
        }
    }
    let lower = rest.to_ascii_lowercase();
    let code = match lower.as_str() {
        "enter" | "return" => KeyCode::Enter,
        "tab" => KeyCode::Tab,
        "esc" | "escape" => KeyCode::Esc,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "space" => KeyCode::Char(' '),
        f if f.len() > 1
            && f.starts_with('f')
            && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
        {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        _ => {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if mods.contains(KeyModifiers::CONTROL) => {
                    KeyCode::Char(c.to_ascii_lowercase())
                }
                (Some(c), None) => KeyCode::Char(c),
                _ => {
                    return Err(format!(
                        "{text:?} is not a key (try ctrl-r, f5, alt-right, x)"
                    ));
                }
            }
        }
    };
    Ok((code, mods))
}

/// Applies the config's `[keys]` table (action name → keys) to `keymap`: an
/// action listed there gets exactly the given keys, in the context of its
/// default bindings. Returns one message per bad entry.
pub fn apply_overrides(
    keymap: &mut Vec<Binding>,
    overrides: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, keys) in overrides {
        let Some(action) = Action::ALL
            .iter()
            .copied()
            .chain([Action::Palette])
            .find(|a| a.name() == name)
        else {
            problems.push(format!("[keys] {name}: no such action"));
            continue;
        };
        let template = keymap.iter().find(|b| b.action == action).copied();
        let (context, help) = template.map_or((Context::Global, action.describe()), |b| {
            (b.context, b.help)
        });
        let mut parsed = Vec::new();
        for key in keys {
            match parse_key(key) {
                Ok((code, mods)) => parsed.push(Binding {
                    code,
                    mods,
                    action,
                    context,
                    help,
                }),
                Err(e) => problems.push(format!("[keys] {name}: {e}")),
            }
        }
        if parsed.is_empty() {
            continue;
        }
        keymap.retain(|b| b.action != action);
        // A key now given to this action leaves its old action.
        keymap.retain(|b| !parsed.iter().any(|p| p.code == b.code && p.mods == b.mods));
        keymap.extend(parsed);
    }
    problems
}

#[cfg(test)]
mod override_tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_parse() {
        assert_eq!(parse_key("ctrl-r"), Ok((KeyCode::Char('r'), CTRL)));
        assert_eq!(parse_key("C-R"), Ok((KeyCode::Char('r'), CTRL)));
        assert_eq!(parse_key("f12"), Ok((KeyCode::F(12), NONE)));
        assert_eq!(parse_key("alt-right"), Ok((KeyCode::Right, ALT)));
        assert_eq!(parse_key("X"), Ok((KeyCode::Char('X'), NONE)));
        assert!(parse_key("ctrl-foo").is_err());
        assert!(parse_key("f13").is_err());
    }

    #[test]
    fn overrides_replace_the_defaults_and_show_in_help() {
        let mut km = default_keymap();
        let mut o = BTreeMap::new();
        o.insert("run".to_string(), vec!["ctrl-g".to_string()]);
        o.insert("nonsense".to_string(), vec!["x".to_string()]);
        o.insert("quit".to_string(), vec!["ctrl-nope".to_string()]);
        let problems = apply_overrides(&mut km, &o);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            lookup(&km, &KeyEvent::new(KeyCode::Char('g'), CTRL), Focus::Editor),
            Some(Action::RunSelected)
        );
        assert_eq!(
            lookup(&km, &KeyEvent::new(KeyCode::F(5), NONE), Focus::Editor),
            None
        );
        assert!(
            help_rows(&km)
                .iter()
                .any(|(k, h, _)| k == "Ctrl-G" && h.contains("selected gateway"))
        );
        // A bad entry keeps the defaults.
        assert_eq!(
            lookup(&km, &KeyEvent::new(KeyCode::Char('q'), CTRL), Focus::Editor),
            Some(Action::Quit)
        );
    }
}

/// The keys as a Markdown table (the README's copy is checked against it).
pub fn markdown_table(keymap: &[Binding]) -> String {
    let mut out = String::from("| keys | where | what |\n|---|---|---|\n");
    for (keys, help, context) in help_rows(keymap) {
        let place = match context {
            Context::Global => "everywhere",
            Context::Tree => "gateway list",
        };
        out.push_str(&format!(
            "| {} | {place} | {help} |\n",
            keys.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_key() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = markdown_table(&default_keymap());
        assert!(
            readme.contains(&table),
            "README.md must contain this keys table:\n{table}"
        );
        for a in Action::ALL {
            assert!(
                readme.contains(&format!("`{}`", a.name())),
                "README.md lacks palette command {}",
                a.name()
            );
        }
    }
}
