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
    let a = areas(area);
    tree::draw(frame, a.tree, a.details, state, theme);
    panes::draw(frame, &a, state, theme);
    status::draw(frame, a.status, state, theme, keymap);
    overlay::draw(frame, area, state, theme, keymap);
}

/// Where each part of the screen is (also used to place mouse clicks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The gateway list.
    pub tree: Rect,
    /// The selected gateway's details.
    pub details: Rect,
    /// The pane tabs.
    pub tabs: Rect,
    /// The code editor.
    pub editor: Rect,
    /// The run output.
    pub output: Rect,
    /// The status line.
    pub status: Rect,
}

/// The layout for a screen of this size.
pub fn areas(area: Rect) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let tree_width = (main.width / 3).clamp(28, 48);
    let [left, right] =
        Layout::horizontal([Constraint::Length(tree_width), Constraint::Min(20)]).areas(main);
    let [tree, details] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(left);
    let [tabs, editor, output] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(45),
        Constraint::Min(4),
    ])
    .areas(right);
    Areas {
        tree,
        details,
        tabs,
        editor,
        output,
        status,
    }
}

#[cfg(test)]
mod tests;
