//! The status line: a flash message, or hints for the focused part with
//! the screens and their keys on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::input::traffic::contexts;
use crate::tui::input::{Action, Binding, Context, RsyncAction, key_name};
use crate::tui::screen::Screen;
use crate::tui::state::{Focus, State};
use crate::tui::theme::Theme;

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let here = contexts(state);
    // The screen's own key first, else the one bound everywhere.
    let key = |action: Action| {
        let bound = |b: &&Binding| b.action == action;
        keymap
            .iter()
            .filter(bound)
            .find(|b| b.context != Context::Global && here.contains(&b.context))
            .or_else(|| {
                keymap
                    .iter()
                    .filter(bound)
                    .find(|b| b.context == Context::Global)
            })
            .map(|b| key_name(b.code, b.mods))
    };
    let mut tabs = Vec::new();
    for (screen, action, word) in [
        (Screen::Gateways, Action::ShowGateways, "gateways"),
        (Screen::Traffic, Action::ShowTraffic, "traffic"),
        (Screen::Trace, Action::ShowTrace, "trace"),
        (Screen::Rsync, Action::ShowRsync, "rsync"),
    ] {
        if let Some(k) = key(action) {
            tabs.push(Span::styled(format!(" {k}"), theme.key));
            let style = if state.screen == screen {
                theme.selected
            } else {
                theme.dim
            };
            tabs.push(Span::styled(format!(" {word}"), style));
        }
    }
    // A flash message takes the whole line.
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
    let tabs = Line::from(tabs);
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(tabs.width() as u16)])
            .areas(area);
    frame.render_widget(Paragraph::new(tabs), right);
    let hints: &[(Action, &str)] = match (state.screen, state.focus) {
        (Screen::Gateways, Focus::Tree) => &[
            (Action::AddGateway, "add"),
            (Action::ExitGateway, "exit"),
            (Action::RunSelected, "run"),
            (Action::FocusNext, "editor"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        (Screen::Gateways, Focus::Editor) => &[
            (Action::RunSelected, "run"),
            (Action::RunAll, "run on all"),
            (Action::FocusNext, "gateways"),
            (Action::NewPane, "new pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        (Screen::Traffic, _) if state.traffic.detail.is_some() => &[
            (Action::ToggleFold, "fold"),
            (Action::PageDown, "hex"),
            (Action::Back, "back"),
            (Action::Help, "help"),
        ],
        (Screen::Traffic, _) => &[
            (Action::OpenDetail, "open"),
            (Action::Filter, "filter"),
            (Action::Pause, "pause"),
            (Action::Export, "export"),
            (Action::Help, "help"),
        ],
        (Screen::Trace, _) => &[
            (Action::Filter, "filter"),
            (Action::Pause, "pause"),
            (Action::RemoteDebug, "debug"),
            (Action::Export, "export"),
            (Action::Help, "help"),
        ],
        (Screen::Rsync, _) => &[
            (Action::Rsync(RsyncAction::Start), "start"),
            (Action::Rsync(RsyncAction::Cancel), "cancel"),
            (Action::Rsync(RsyncAction::Toggle), "check"),
            (Action::Help, "help"),
        ],
    };
    let mut spans = Vec::new();
    for (action, word) in hints {
        if let Some(k) = key(*action) {
            spans.push(Span::styled(k, theme.key));
            spans.push(Span::styled(format!(" {word}  "), theme.dim));
        }
    }
    if state.lost_events > 0 {
        spans.push(Span::styled(
            format!("({} events lost)", state.lost_events),
            theme.error,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
}
