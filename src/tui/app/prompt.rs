//! The app's side of ssh questions: they queue as they come, the first is
//! shown as a dialog when no other dialog is open, its answer goes back to
//! the waiting start, and a question nobody waits for any more goes away.

use tokio::sync::mpsc;

use super::App;
use crate::tui::prompt::{Asked, Reply};
use crate::tui::state::Overlay;

/// The next question, or never when the app has no prompter.
pub(super) async fn next(rx: &mut Option<mpsc::UnboundedReceiver<Asked>>) -> Option<Asked> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl App {
    /// Takes the questions of the TUI's prompter (see
    /// [`crate::tui::prompt::channel`]).
    pub fn with_prompts(mut self, rx: mpsc::UnboundedReceiver<Asked>) -> App {
        self.prompts = Some(rx);
        self
    }

    /// Opens the first waiting question when no dialog is open; returns
    /// whether it did.
    pub(super) fn show_prompt(&mut self) -> bool {
        if self.state.overlay != Overlay::None {
            return false;
        }
        while self.asked.front().is_some_and(Asked::is_abandoned) {
            self.asked.pop_front();
        }
        match self.asked.front() {
            Some(asked) => {
                self.state.overlay = Overlay::Prompt(asked.asking.clone());
                true
            }
            None => false,
        }
    }

    /// Sends the answer of the question shown (its dialog has closed).
    pub(super) fn answer_prompt(&mut self, reply: Option<Reply>) {
        if let Some(asked) = self.asked.pop_front()
            && let (Some(to), Some(reply)) = (asked.reply, reply)
        {
            // The start may have given up meanwhile.
            let _ = to.send(reply);
        }
    }

    /// Closes the dialog of a question nobody waits for any more (its
    /// start failed or gave up); returns whether it did.
    pub(super) fn drop_abandoned_prompt(&mut self) -> bool {
        if matches!(self.state.overlay, Overlay::Prompt(_))
            && self.asked.front().is_some_and(Asked::is_abandoned)
        {
            self.asked.pop_front();
            self.state.overlay = Overlay::None;
            return true;
        }
        false
    }
}
