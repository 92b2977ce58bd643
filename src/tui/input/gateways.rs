//! Keys, pastes and the mouse on the gateways + code screen: keys of the
//! keymap become actions (contexts [`Context::Global`](super::Context) and,
//! with the tree focused, [`Context::Tree`](super::Context)); in the editor
//! every other key edits the code.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{Action, Binding, lookup};
use crate::tui::state::{Focus, State, TreeRow};
use crate::tui::view;

/// Handles `key` (no dialog open): the action it is bound to, if any; else
/// the editor takes it (Esc leaves the editor for the tree).
pub fn on_key(state: &mut State, keymap: &[Binding], key: KeyEvent) -> Option<Action> {
    if let Some(action) = lookup(keymap, &key, state.focus) {
        return Some(action);
    }
    if state.focus == Focus::Editor {
        if key.code == KeyCode::Esc {
            state.focus = Focus::Tree;
        } else if let Some(p) = state.pane_mut() {
            p.editor.input(key);
        }
    }
    None
}

/// Pasted text goes into the editor when it has focus.
pub fn on_paste(state: &mut State, text: &str) {
    if state.focus == Focus::Editor
        && let Some(p) = state.pane_mut()
    {
        p.editor.insert_str(text);
    }
}

/// A click focuses (and selects a gateway row); the wheel scrolls the
/// output. `screen` is the area last drawn. Returns whether to redraw.
pub fn on_mouse(state: &mut State, screen: Rect, m: MouseEvent) -> bool {
    let a = view::areas(screen);
    let at = Position::new(m.column, m.row);
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) if a.tree.contains(at) => {
            state.focus = Focus::Tree;
            // Row 0 is the border; then the tree's rows.
            let row = m.row.saturating_sub(a.tree.y + 1) as usize;
            if m.row > a.tree.y
                && let Some(TreeRow::Gateway(i)) = state.tree_rows().get(row)
            {
                state.selected = *i;
            }
            true
        }
        MouseEventKind::Down(MouseButton::Left)
            if a.editor.contains(at) || a.output.contains(at) =>
        {
            state.focus = Focus::Editor;
            true
        }
        MouseEventKind::ScrollUp if a.output.contains(at) => {
            state.output_scroll = state.output_scroll.saturating_add(3);
            true
        }
        MouseEventKind::ScrollDown if a.output.contains(at) => {
            state.output_scroll = state.output_scroll.saturating_sub(3);
            true
        }
        _ => false,
    }
}
