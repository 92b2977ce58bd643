//! Keys in the dialogs: each key is looked up in the dialog's keymap
//! context; what is left types into the dialog's line. The dialog's own text
//! changes here; whatever must happen outside it comes back as an
//! [`Outcome`] for the app loop to perform.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Action, Binding, Context, Dialog, DialogAction, lookup_in};
use crate::spec::XSpec;
use crate::tui::config::Saved;
use crate::tui::filter::Filter;
use crate::tui::palette;
use crate::tui::state::Overlay;
use crate::tui::state::traffic::TrafficFilter;
use crate::wire::pyrepr::parse_literal;

/// What a key in a dialog asks of the app (the dialog has already closed
/// when it asks for more than [`Outcome::Nothing`] or [`Outcome::Problem`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing beyond the dialog's own change.
    Nothing,
    /// Tell the user why the key did nothing (the dialog stays).
    Problem(String),
    /// Quit (the user confirmed).
    Quit,
    /// Start a gateway from what was typed (a spec or a saved name).
    StartGateway(String),
    /// Send a Python literal into a running run.
    SendValue {
        /// The run.
        run: u64,
        /// The literal as typed (already checked).
        text: String,
    },
    /// Use this filter (checked; empty clears it).
    SetFilter(String),
    /// Run a palette command line.
    Command(String),
    /// Exit this gateway (the user confirmed).
    ExitGateway(String),
    /// Terminate this TUI group (the user confirmed).
    TerminateGroup(String),
    /// Use this filter in the traffic and trace views (checked; empty clears it).
    SetTrafficFilter(String),
    /// Restart this gateway with remote tracing (the user confirmed).
    RemoteDebug(String),
    /// Write the rows shown to this file.
    Export(String),
    /// Answer the ssh question shown (the dialog closed).
    Answer(Option<crate::tui::prompt::Reply>),
}

/// What the dialogs read besides their own text.
pub struct Known<'a> {
    /// The keymap (overrides applied).
    pub keymap: &'a [Binding],
    /// Specs added before, newest last (completion and recall).
    pub history: &'a [String],
    /// Saved gateway names.
    pub saved: &'a Saved,
}

/// The keymap context of `overlay`, if it is a dialog.
pub fn context(overlay: &Overlay) -> Option<Dialog> {
    Some(match overlay {
        Overlay::None => return None,
        Overlay::Help { .. } => Dialog::Help,
        Overlay::ConfirmQuit
        | Overlay::ConfirmExit { .. }
        | Overlay::ConfirmTerminate { .. }
        | Overlay::ConfirmDebug { .. } => Dialog::Confirm,
        Overlay::TrafficFilter { .. } => Dialog::Filter,
        Overlay::Export { .. } => Dialog::Export,
        Overlay::AddGateway { .. } => Dialog::AddGateway,
        Overlay::SendValue { .. } => Dialog::SendValue,
        Overlay::Filter { .. } => Dialog::Filter,
        Overlay::Palette { .. } => Dialog::Palette,
        Overlay::Prompt(a) if a.is_secret() => Dialog::Secret,
        Overlay::Prompt(_) => Dialog::HostKey,
    })
}

/// Handles `key` in the open dialog (nothing when none is open).
pub fn on_key(overlay: &mut Overlay, key: &KeyEvent, known: &Known) -> Outcome {
    let Some(dialog) = context(overlay) else {
        return Outcome::Nothing;
    };
    let action = match lookup_in(known.keymap, key, &[Context::Dialog(dialog)]) {
        Some(Action::Dialog(a)) => Some(a),
        _ => None,
    };
    let close = |overlay: &mut Overlay, outcome| {
        *overlay = Overlay::None;
        outcome
    };
    use DialogAction::*;
    match overlay {
        Overlay::None => Outcome::Nothing,
        Overlay::Prompt(asking) => match super::prompt::on_key(asking, action, key) {
            Some(reply) => close(overlay, Outcome::Answer(reply)),
            None => Outcome::Nothing,
        },
        Overlay::Help { scroll } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(NextEntry) => {
                *scroll = scroll.saturating_add(1);
                Outcome::Nothing
            }
            Some(PrevEntry) => {
                *scroll = scroll.saturating_sub(1);
                Outcome::Nothing
            }
            _ => Outcome::Nothing,
        },
        // Anything but yes keeps things as they are.
        Overlay::ConfirmQuit => match action {
            Some(Yes) => close(overlay, Outcome::Quit),
            _ => close(overlay, Outcome::Nothing),
        },
        Overlay::ConfirmExit { gateway } => match action {
            Some(Yes) => {
                let id = std::mem::take(gateway);
                close(overlay, Outcome::ExitGateway(id))
            }
            _ => close(overlay, Outcome::Nothing),
        },
        Overlay::ConfirmTerminate { group } => match action {
            Some(Yes) => {
                let name = std::mem::take(group);
                close(overlay, Outcome::TerminateGroup(name))
            }
            _ => close(overlay, Outcome::Nothing),
        },
        Overlay::ConfirmDebug { gateway } => match action {
            Some(Yes) => {
                let id = std::mem::take(gateway);
                close(overlay, Outcome::RemoteDebug(id))
            }
            _ => close(overlay, Outcome::Nothing),
        },
        Overlay::TrafficFilter { input, problem } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(Accept) if problem.is_none() => {
                let text = std::mem::take(input);
                close(overlay, Outcome::SetTrafficFilter(text))
            }
            _ => {
                if edit_line(input, key) {
                    *problem = TrafficFilter::new(input).err();
                }
                Outcome::Nothing
            }
        },
        Overlay::Export { input } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(Accept) if !input.trim().is_empty() => {
                let path = input.trim().to_owned();
                close(overlay, Outcome::Export(path))
            }
            _ => {
                edit_line(input, key);
                Outcome::Nothing
            }
        },
        Overlay::SendValue {
            run,
            input,
            problem,
        } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(Accept) if problem.is_none() && !input.trim().is_empty() => {
                let (run, text) = (*run, std::mem::take(input));
                close(overlay, Outcome::SendValue { run, text })
            }
            _ => {
                if edit_line(input, key) {
                    *problem = literal_problem(input);
                }
                Outcome::Nothing
            }
        },
        Overlay::Filter { input, problem } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(Accept) if problem.is_none() => {
                let text = std::mem::take(input);
                close(overlay, Outcome::SetFilter(text))
            }
            _ => {
                if edit_line(input, key) {
                    *problem = Filter::new(input).err();
                }
                Outcome::Nothing
            }
        },
        Overlay::Palette { input, selected } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(PrevEntry) => {
                *selected = selected.saturating_sub(1);
                Outcome::Nothing
            }
            Some(NextEntry) => {
                *selected += 1;
                Outcome::Nothing
            }
            Some(Complete) => {
                if let Some(done) = palette::complete(input) {
                    *input = done;
                    *selected = 0;
                }
                Outcome::Nothing
            }
            Some(Accept) => {
                let typed = input.trim().to_owned();
                let chosen = palette::matches(&typed).into_iter().nth(*selected);
                let line = match (palette::parse(&typed), chosen) {
                    (Ok(_), _) => typed,
                    // Nothing complete typed: take the highlighted entry.
                    (Err(_), Some(e)) if e.arg.is_none() => e.name.to_owned(),
                    (Err(_), Some(e)) => {
                        *input = format!("{} ", e.name);
                        *selected = 0;
                        return Outcome::Nothing;
                    }
                    (Err(e), None) => return Outcome::Problem(e),
                };
                close(overlay, Outcome::Command(line))
            }
            _ => {
                if edit_line(input, key) {
                    *selected = 0;
                }
                Outcome::Nothing
            }
        },
        Overlay::AddGateway { input, problem } => match action {
            Some(Cancel) => close(overlay, Outcome::Nothing),
            Some(Accept) if problem.is_none() && !input.is_empty() => {
                let spec = std::mem::take(input);
                close(overlay, Outcome::StartGateway(spec))
            }
            Some(Complete) => {
                if let Some(done) = complete_spec(known.history, input) {
                    *input = done;
                    *problem = spec_problem(known.saved, input);
                }
                Outcome::Nothing
            }
            Some(step @ (PrevEntry | NextEntry)) => {
                if let Some(spec) = recall(known.history, input, step == PrevEntry) {
                    *input = spec;
                    *problem = spec_problem(known.saved, input);
                }
                Outcome::Nothing
            }
            _ => {
                if edit_line(input, key) {
                    *problem = spec_problem(known.saved, input);
                }
                Outcome::Nothing
            }
        },
    }
}

/// Pasted text: into the add-gateway dialog's line (trimmed). Returns
/// whether a dialog took it.
pub fn on_paste(overlay: &mut Overlay, text: &str) -> bool {
    match overlay {
        Overlay::AddGateway { input, .. } | Overlay::Export { input } => {
            input.push_str(text.trim());
            true
        }
        Overlay::Prompt(asking) if asking.is_secret() => {
            asking.input.push_str(text.trim_end_matches(['\r', '\n']));
            true
        }
        _ => false,
    }
}

/// The spec recalled from the history by Up (`older`) or Down: from the
/// newest when `input` is not in it, else one step, staying in range.
fn recall(history: &[String], input: &str, older: bool) -> Option<String> {
    let n = history.len();
    if n == 0 {
        return None;
    }
    let at = history.iter().position(|s| s == input);
    let next = match (at, older) {
        (None, _) => n - 1,
        (Some(i), true) => i.saturating_sub(1),
        (Some(i), false) => (i + 1).min(n - 1),
    };
    Some(history[next].clone())
}

/// Why `spec` (or the saved name) is not usable, if it is not (shown as the user types).
fn spec_problem(saved: &Saved, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return None;
    }
    XSpec::parse(&saved.resolve(spec))
        .err()
        .map(|e| e.to_string())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::input::{NONE, default_keymap};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, NONE)
    }

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

    #[test]
    fn the_add_dialog_types_recalls_resolves_and_starts() {
        let keymap = default_keymap();
        let history = vec!["popen".to_string(), "py".into()];
        let saved = Saved::from([("py", "popen//python=python3")]);
        let known = Known {
            keymap: &keymap,
            history: &history,
            saved: &saved,
        };
        let mut o = Overlay::AddGateway {
            input: String::new(),
            problem: None,
        };
        for c in "ssh".chars() {
            assert_eq!(
                on_key(&mut o, &key(KeyCode::Char(c)), &known),
                Outcome::Nothing
            );
        }
        assert!(matches!(
            &o,
            Overlay::AddGateway {
                problem: Some(_),
                ..
            }
        ));
        assert_eq!(
            on_key(&mut o, &key(KeyCode::Enter), &known),
            Outcome::Nothing
        );
        on_key(&mut o, &key(KeyCode::Up), &known);
        on_key(&mut o, &key(KeyCode::Up), &known);
        on_key(&mut o, &key(KeyCode::Down), &known);
        // A saved name is a valid entry.
        assert_eq!(
            o,
            Overlay::AddGateway {
                input: "py".into(),
                problem: None
            }
        );
        assert_eq!(
            on_key(&mut o, &key(KeyCode::Enter), &known),
            Outcome::StartGateway("py".into())
        );
        assert_eq!(o, Overlay::None);
    }

    #[test]
    fn questions_take_yes_and_anything_else_is_no() {
        let keymap = default_keymap();
        let known = Known {
            keymap: &keymap,
            history: &[],
            saved: &Saved::default(),
        };
        let mut o = Overlay::ConfirmExit {
            gateway: "gw0".into(),
        };
        assert_eq!(
            on_key(&mut o, &key(KeyCode::Char('Y')), &known),
            Outcome::ExitGateway("gw0".into())
        );
        let mut o = Overlay::ConfirmQuit;
        assert_eq!(
            on_key(&mut o, &key(KeyCode::Char('x')), &known),
            Outcome::Nothing
        );
        assert_eq!(o, Overlay::None);
    }
}
