//! The app's side of the rsync screen: switching to it, and starting and
//! cancelling jobs through [`Effects`](super::Effects).

use std::time::Instant;

use super::App;
use crate::tui::input::{self, RsyncAction};
use crate::tui::screen::Screen;
use crate::tui::state::rsync::live_ids;

impl App {
    /// Shows the rsync screen, or the gateways when it is shown.
    pub(super) fn toggle_rsync(&mut self) {
        let to = match self.state.screen {
            Screen::Rsync => Screen::Gateways,
            _ => Screen::Rsync,
        };
        self.show(to);
    }

    /// Does what a key of the rsync screen asked for.
    pub(super) fn rsync_action(&mut self, action: RsyncAction) {
        if !input::rsync::on_action(&mut self.state, action) {
            return;
        }
        let now = Instant::now();
        let state = &mut self.state;
        match action {
            RsyncAction::Start => {
                if let Some(job) = state.rsync.running() {
                    let text = format!("rsync job {} is still running", job.id);
                    state.rsync.problem = Some(text.clone());
                    state.flash(text, true, now);
                    return;
                }
                let spec = match state.rsync.form.job(&live_ids(&state.gateways)) {
                    Ok(spec) => spec,
                    Err(e) => {
                        state.rsync.problem = Some(e.clone());
                        state.flash(e, true, now);
                        return;
                    }
                };
                let job = state.rsync.start(spec.clone(), now);
                if let Err(e) = self.effects.start_rsync(job, &spec) {
                    state.rsync.ended(job, Err(e.clone()), now);
                    state.flash(e, true, now);
                } else {
                    state.flash(format!("rsync job {job} started"), false, now);
                }
            }
            RsyncAction::Cancel => match state.rsync.running().map(|j| j.id) {
                Some(job) if self.effects.cancel_rsync(job) => {
                    state.rsync.cancelling(job);
                    state.flash(format!("cancelling rsync job {job}"), false, now);
                }
                _ => state.flash("no rsync job is running", true, now),
            },
            _ => {}
        }
    }
}
