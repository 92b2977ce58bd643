//! Views: pure functions that draw the [`State`] on a frame. They never call
//! the engine and never change state. Each screen has its own view
//! (`gateways.rs` for gateways + code, `traffic.rs` for the traffic
//! inspector and the trace view); dialogs are drawn over any screen
//! (`overlay.rs`), their key hints taken from the keymap.

mod gateways;
mod overlay;
mod panes;
mod prompt;
mod rsync;
mod status;
mod traffic;
mod tree;

use ratatui::Frame;
use ratatui::widgets::{Block, Paragraph};

use super::input::Binding;
use super::screen::Screen;
use super::state::State;
use super::theme::Theme;
pub use gateways::{Areas, areas};

/// Smallest screen the layout is made for.
pub const MIN_WIDTH: u16 = 80;
/// Smallest screen height the layout is made for.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen: the shown [`Screen`], and the open dialog over it.
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
    match state.screen {
        Screen::Gateways => gateways::draw(frame, area, state, theme, keymap),
        Screen::Traffic => traffic::draw(frame, area, state, theme, keymap),
        Screen::Trace => traffic::draw_trace(frame, area, state, theme, keymap),
        Screen::Rsync => rsync::draw(frame, area, state, theme, keymap),
    }
    overlay::draw(frame, area, state, theme, keymap);
}

#[cfg(test)]
mod rsync_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod traffic_tests;
