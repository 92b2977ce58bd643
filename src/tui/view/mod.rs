//! Views: pure functions that draw the [`State`] on a frame. They never call
//! the engine and never change state.

mod overlay;
mod panes;
mod status;
mod tree;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Paragraph};

use super::input::Binding;
use super::state::State;
use super::theme::Theme;

/// Smallest screen the layout is made for.
pub const MIN_WIDTH: u16 = 80;
/// Smallest screen height the layout is made for.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, state: &State, theme: &Theme, keymap: &[Binding]) {
    let area = frame.area();
    frame.render_widget(Block::default().style(theme.base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "execdeck needs at least {MIN_WIDTH}x{MIN_HEIGHT}; this terminal is {}x{}.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).style(theme.error), area);
        return;
    }
    let [main, status_line] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(tree_width(main)), Constraint::Min(20)]).areas(main);
    tree::draw(frame, left, state, theme);
    panes::draw(frame, right, state, theme);
    status::draw(frame, status_line, state, theme, keymap);
    overlay::draw(frame, area, state, theme, keymap);
}

fn tree_width(area: Rect) -> u16 {
    (area.width / 3).clamp(28, 48)
}

#[cfg(test)]
mod tests;
