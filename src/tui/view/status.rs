//! The status line: a flash message, or hints for the focused part.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::input::{Action, Binding, key_name};
use crate::tui::state::{Focus, State};
use crate::tui::theme::Theme;

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    if let Some(flash) = &state.flash {
        let style = if flash.error {
            theme.error
        } else {
            theme.flash
        };
        frame.render_widget(
            Paragraph::new(Span::styled(flash.text.as_str(), style)),
            area,
        );
        return;
    }
    let hints: &[(Action, &str)] = match state.focus {
        Focus::Tree => &[
            (Action::AddGateway, "add"),
            (Action::ExitGateway, "exit"),
            (Action::RunSelected, "run"),
            (Action::FocusNext, "editor"),
            (Action::ShowRsync, "rsync"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Focus::Editor => &[
            (Action::RunSelected, "run"),
            (Action::RunAll, "run on all"),
            (Action::FocusNext, "gateways"),
            (Action::NewPane, "new pane"),
            (Action::ShowRsync, "rsync"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
    };
    let mut spans = Vec::new();
    for (action, word) in hints {
        if let Some(b) = keymap.iter().find(|b| b.action == *action) {
            spans.push(Span::styled(key_name(b.code, b.mods), theme.key));
            spans.push(Span::styled(format!(" {word}  "), theme.dim));
        }
    }
    if state.lost_events > 0 {
        spans.push(Span::styled(
            format!("({} events lost)", state.lost_events),
            theme.error,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
