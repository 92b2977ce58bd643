//! Key overrides from the config's `[keys]` table: key names parsed, and
//! the keymap patched so dispatch, hints and help follow alike.

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Action, Binding, Context, DialogAction};

/// Parses a key as written in the config: `ctrl-r`, `alt-right`, `f5`, `x`,
/// `enter`, `tab`, `esc`, `up`, `down`, `left`, `right`, `pageup`, `pagedown`,
/// `home`, `end`, `space`.
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
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
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
/// default bindings (for a dialog action: in every dialog it has keys in). A
/// key given to an action leaves the action it had where the two contexts
/// meet. Returns one message per bad entry.
pub fn apply_overrides(
    keymap: &mut Vec<Binding>,
    overrides: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, keys) in overrides {
        let Some(action) = bindable().find(|a| a.name() == name) else {
            problems.push(format!("[keys] {name}: no such action"));
            continue;
        };
        let templates = templates(keymap, action);
        let mut parsed = Vec::new();
        for key in keys {
            match parse_key(key) {
                Ok((code, mods)) => {
                    parsed.extend(templates.iter().map(|&(context, help)| Binding {
                        code,
                        mods,
                        action,
                        context,
                        help,
                    }))
                }
                Err(e) => problems.push(format!("[keys] {name}: {e}")),
            }
        }
        if parsed.is_empty() {
            continue;
        }
        keymap.retain(|b| b.action != action);
        keymap.retain(|b| {
            !parsed
                .iter()
                .any(|p| p.code == b.code && p.mods == b.mods && p.context.meets(b.context))
        });
        keymap.extend(parsed);
    }
    problems
}

/// Every action a key can be bound to, by its name in `[keys]`.
fn bindable() -> impl Iterator<Item = Action> {
    Action::ALL
        .into_iter()
        .chain([Action::Palette])
        .chain(super::RsyncAction::ALL.into_iter().map(Action::Rsync))
        .chain(DialogAction::ALL.into_iter().map(Action::Dialog))
}

/// Where new keys for `action` go, with their help text: everywhere when it
/// has a key everywhere, else each context it has keys in.
fn templates(keymap: &[Binding], action: Action) -> Vec<(Context, &'static str)> {
    let mut out: Vec<(Context, &'static str)> = Vec::new();
    let global = keymap
        .iter()
        .any(|b| b.action == action && b.context == Context::Global);
    for b in keymap.iter().filter(|b| b.action == action) {
        // A screen action bound everywhere gets its new keys everywhere;
        // else in each screen context (and each dialog) it had keys in.
        let here = !global || b.context == Context::Global;
        if here && !out.iter().any(|t| t.0 == b.context) {
            out.push((b.context, b.help));
        }
    }
    if out.is_empty() {
        out.push((Context::Global, action.describe()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::input::{ALT, CTRL, Dialog, NONE, lookup, lookup_in};
    use crate::tui::input::{default_keymap, help_rows};
    use crate::tui::state::Focus;
    use crossterm::event::KeyEvent;
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

    #[test]
    fn a_key_of_several_screens_is_rebound_on_each() {
        let mut km = default_keymap();
        let mut o = BTreeMap::new();
        o.insert("pause".to_string(), vec!["p".to_string()]);
        o.insert("next-gateway".to_string(), vec!["n".to_string()]);
        assert_eq!(apply_overrides(&mut km, &o), Vec::<String>::new());
        let p = KeyEvent::new(KeyCode::Char('p'), NONE);
        let space = KeyEvent::new(KeyCode::Char(' '), NONE);
        for ctx in [Context::Traffic, Context::Trace] {
            assert_eq!(lookup_in(&km, &p, &[ctx]), Some(Action::Pause));
            assert_eq!(lookup_in(&km, &space, &[ctx]), None);
        }
        // Space still folds a message's value.
        assert_eq!(
            lookup_in(&km, &space, &[Context::Detail]),
            Some(Action::ToggleFold)
        );
        let n = KeyEvent::new(KeyCode::Char('n'), NONE);
        for ctx in [Context::Tree, Context::Traffic, Context::Detail] {
            assert_eq!(lookup_in(&km, &n, &[ctx]), Some(Action::SelectNext));
        }
        let j = KeyEvent::new(KeyCode::Char('j'), NONE);
        assert_eq!(lookup_in(&km, &j, &[Context::Trace]), None);
        // The screen keys stay where they were: one key each, everywhere.
        assert_eq!(
            lookup(&km, &KeyEvent::new(KeyCode::F(3), NONE), Focus::Editor),
            Some(Action::ShowTraffic)
        );
    }

    #[test]
    fn a_dialog_key_is_rebound_in_every_dialog_and_nowhere_else() {
        let mut km = default_keymap();
        let mut o = BTreeMap::new();
        o.insert("accept".to_string(), vec!["ctrl-o".to_string()]);
        o.insert("prev-entry".to_string(), vec!["ctrl-p".to_string()]);
        assert_eq!(apply_overrides(&mut km, &o), Vec::<String>::new());
        let ctrl_o = KeyEvent::new(KeyCode::Char('o'), CTRL);
        let accept = Some(Action::Dialog(DialogAction::Accept));
        for d in [
            Dialog::AddGateway,
            Dialog::SendValue,
            Dialog::Filter,
            Dialog::Palette,
        ] {
            assert_eq!(lookup_in(&km, &ctrl_o, &[Context::Dialog(d)]), accept);
            let enter = KeyEvent::new(KeyCode::Enter, NONE);
            assert_eq!(lookup_in(&km, &enter, &[Context::Dialog(d)]), None);
        }
        // Ctrl-P still opens the palette outside dialogs.
        assert_eq!(
            lookup(&km, &KeyEvent::new(KeyCode::Char('p'), CTRL), Focus::Editor),
            Some(Action::Palette)
        );
        let up = KeyEvent::new(KeyCode::Up, NONE);
        let palette = [Context::Dialog(Dialog::Palette)];
        assert_eq!(lookup_in(&km, &up, &palette), None);
        assert_eq!(lookup(&km, &up, Focus::Tree), Some(Action::SelectPrev));
    }
}
