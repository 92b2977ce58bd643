//! The gateways + code screen: the gateway tree and the selected gateway's
//! details on the left, the code panes with their runs on the right, the
//! status line below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::{panes, status, tree};
use crate::tui::input::Binding;
use crate::tui::state::State;
use crate::tui::theme::Theme;

/// Draws the screen in `area`.
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let a = areas(area);
    tree::draw(frame, a.tree, a.details, state, theme);
    panes::draw(frame, &a, state, theme);
    status::draw(frame, a.status, state, theme, keymap);
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
