//! The ssh question dialogs: a passphrase or password typed masked (one
//! `•` per character), an unknown host key with its fingerprint and the
//! three answers, a changed host key explained (refused; nothing to
//! accept). Keys in the hints come from the keymap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::input::{Action, Binding, Context, Dialog, DialogAction, keys_for};
use crate::tui::state::prompt::{AskKind, Asking};
use crate::tui::theme::Theme;

/// Draws the dialog of `asking` over `area`.
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    asking: &Asking,
    theme: &Theme,
    keymap: &[Binding],
) {
    let keys = |dialog, action| {
        keys_for(keymap, Context::Dialog(dialog), Action::Dialog(action)).join("/")
    };
    let hint = |parts: &[(String, &str)]| {
        let mut spans = Vec::new();
        for (k, what) in parts.iter().filter(|(k, _)| !k.is_empty()) {
            spans.push(Span::styled(k.clone(), theme.key));
            spans.push(Span::raw(format!(" {what}   ")));
        }
        Line::from(spans)
    };
    let at = asking.at.as_str();
    let (title, lines) = match &asking.kind {
        AskKind::Passphrase { key, attempt } => (
            " Key passphrase ",
            secret_lines(
                format!("Passphrase for the key {key} ({at}):"),
                *attempt,
                asking,
                theme,
                hint(&[
                    (keys(Dialog::Secret, DialogAction::Accept), "sends it"),
                    (keys(Dialog::Secret, DialogAction::Cancel), "cancels"),
                ]),
            ),
        ),
        AskKind::Password { attempt } => (
            " Password ",
            secret_lines(
                format!("Password for {at}:"),
                *attempt,
                asking,
                theme,
                hint(&[
                    (keys(Dialog::Secret, DialogAction::Accept), "sends it"),
                    (keys(Dialog::Secret, DialogAction::Cancel), "cancels"),
                ]),
            ),
        ),
        AskKind::HostKey {
            key_type,
            fingerprint,
            known_hosts,
        } => (
            " Unknown host key ",
            vec![
                Line::from(format!("The host {at} is not in {known_hosts}.")),
                Line::from(vec![
                    Span::raw(format!("Its {key_type} key fingerprint is ")),
                    Span::styled(fingerprint.clone(), theme.title),
                ]),
                Line::from("Trust it only if you know this is the right fingerprint."),
                hint(&[
                    (keys(Dialog::HostKey, DialogAction::Yes), "accept once"),
                    (
                        keys(Dialog::HostKey, DialogAction::Always),
                        "accept and record",
                    ),
                    (keys(Dialog::HostKey, DialogAction::Cancel), "refuse"),
                ]),
            ],
        ),
        AskKind::HostKeyChanged {
            key_type,
            fingerprint,
            known_hosts,
            line,
        } => (
            " Host key changed: refused ",
            vec![
                Line::from(Span::styled(
                    format!("The host key of {at} HAS CHANGED: the connection is refused."),
                    theme.error,
                )),
                Line::from(format!("It now offers a {key_type} key {fingerprint},")),
                Line::from(format!(
                    "not the one recorded in {known_hosts} line {line}. Someone may be \
                     in between (or the host was reinstalled): check with its owner, \
                     then remove that line to connect again. There is nothing to accept."
                )),
                Line::from(Span::styled("Any key closes this.", theme.dim)),
            ],
        ),
    };
    let rect = centered(area, 84, lines.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus)
                .title(Span::styled(title, theme.title))
                .style(theme.base),
        ),
        rect,
    );
}

/// A secret's question, its masked line and the keys.
fn secret_lines(
    question: String,
    attempt: u32,
    asking: &Asking,
    theme: &Theme,
    keys: Line<'static>,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if attempt > 1 {
        lines.push(Line::from(Span::styled(
            format!("That did not work (try {attempt})."),
            theme.error,
        )));
    }
    lines.push(Line::from(question));
    lines.push(Line::from(vec![
        Span::styled("> ", theme.key),
        Span::raw("•".repeat(asking.input.chars().count())),
        Span::styled("▏", theme.key),
    ]));
    lines.push(keys);
    lines
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::tui::input::{apply_overrides, default_keymap};
    use crate::tui::state::prompt::{AskKind, Asking};
    use crate::tui::state::{Overlay, State};
    use crate::tui::theme::Theme;

    fn screen(state: &State, keymap: &[crate::tui::input::Binding]) -> String {
        let mut term = Terminal::new(TestBackend::new(120, 34)).unwrap();
        let theme = Theme::fallback(true);
        term.draw(|f| super::super::draw(f, state, &theme, keymap))
            .unwrap();
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn with(kind: AskKind, input: &str) -> State {
        let mut st = State::default();
        st.overlay = Overlay::Prompt(Asking {
            at: "me@box:2222".into(),
            kind,
            input: input.into(),
        });
        st
    }

    #[test]
    fn secrets_are_masked_and_a_retry_is_told() {
        let st = with(
            AskKind::Passphrase {
                key: "/home/me/.ssh/id_ed25519".into(),
                attempt: 2,
            },
            "hunter2",
        );
        let text = screen(&st, &default_keymap());
        for needle in [
            " Key passphrase ",
            "That did not work (try 2).",
            "Passphrase for the key /home/me/.ssh/id_ed25519 (me@box:2222):",
            "> •••••••▏",
            "Enter sends it   Esc cancels",
        ] {
            assert!(text.contains(needle), "lacks {needle:?}\n{text}");
        }
        assert!(!text.contains("hunter2"), "{text}");
        let text = screen(
            &with(AskKind::Password { attempt: 1 }, ""),
            &default_keymap(),
        );
        assert!(text.contains("Password for me@box:2222:"), "{text}");
        assert!(!text.contains("did not work"), "{text}");
    }

    #[test]
    fn host_key_dialogs_show_the_fingerprint_and_their_keys() {
        let unknown = AskKind::HostKey {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:AbCdEf".into(),
            known_hosts: "/home/me/.ssh/known_hosts".into(),
        };
        let text = screen(&with(unknown.clone(), ""), &default_keymap());
        for needle in [
            " Unknown host key ",
            "The host me@box:2222 is not in /home/me/.ssh/known_hosts.",
            "Its ssh-ed25519 key fingerprint is SHA256:AbCdEf",
            "y accept once   a accept and record   n/Esc refuse",
        ] {
            assert!(text.contains(needle), "lacks {needle:?}\n{text}");
        }
        // Rebound keys show in the hint.
        let mut keymap = default_keymap();
        let overrides = [("always".to_string(), vec!["ctrl-a".to_string()])];
        assert!(apply_overrides(&mut keymap, &overrides.into_iter().collect()).is_empty());
        let text = screen(&with(unknown, ""), &keymap);
        assert!(text.contains("Ctrl-A accept and record"), "{text}");
        let changed = AskKind::HostKeyChanged {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:AbCdEf".into(),
            known_hosts: "/kh".into(),
            line: 7,
        };
        let text = screen(&with(changed, ""), &default_keymap());
        for needle in [
            " Host key changed: refused ",
            "The host key of me@box:2222 HAS CHANGED",
            "/kh line 7",
            "nothing to accept",
            "Any key closes this.",
        ] {
            assert!(text.contains(needle), "lacks {needle:?}\n{text}");
        }
    }
}
