//! The terminal: raw mode and the alternate screen for as long as the TUI
//! runs, restored on every way out (normal exit, error, panic).

use std::io::{self, Stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The terminal the TUI draws on.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal setup; dropping it restores the terminal.
pub struct TermGuard {
    /// The terminal to draw on.
    pub terminal: Term,
    mouse: bool,
}

impl TermGuard {
    /// Enters raw mode and the alternate screen (with mouse capture when
    /// `mouse`), and installs a panic hook that restores the terminal first.
    pub fn enter(mouse: bool) -> io::Result<TermGuard> {
        install_panic_hook(mouse);
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if mouse {
            execute!(stdout, EnterAlternateScreen, EnableMouseCapture)?;
        } else {
            execute!(stdout, EnterAlternateScreen)?;
        }
        let terminal = Terminal::new(CrosstermBackend::new(stdout))?;
        Ok(TermGuard { terminal, mouse })
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore(self.mouse);
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves the alternate screen and raw mode; safe to call more than once.
pub fn restore(mouse: bool) {
    let mut stdout = io::stdout();
    if mouse {
        let _ = execute!(stdout, DisableMouseCapture);
    }
    let _ = execute!(stdout, LeaveAlternateScreen);
    let _ = disable_raw_mode();
}

fn install_panic_hook(mouse: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore(mouse);
        previous(info);
    }));
}

/// Suspends the process like Ctrl-Z in a shell: restores the terminal, stops
/// (SIGTSTP), and on `fg` takes the terminal back and redraws everything.
pub fn suspend<B>(terminal: &mut Terminal<B>, mouse: bool) -> io::Result<()>
where
    B: ratatui::backend::Backend,
    B::Error: Send + Sync + 'static,
{
    restore(mouse);
    // SAFETY: raising a signal has no memory-safety preconditions.
    unsafe {
        libc::raise(libc::SIGTSTP);
    }
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if mouse {
        execute!(stdout, EnterAlternateScreen, EnableMouseCapture)?;
    } else {
        execute!(stdout, EnterAlternateScreen)?;
    }
    terminal.clear().map_err(io::Error::other)
}
