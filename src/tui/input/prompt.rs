//! Keys in the ssh question dialogs: a passphrase or password is typed
//! masked (the accept key sends it, cancel sends none); an unknown host key
//! is accepted once, accepted and recorded, or refused; the notice of a
//! changed host key closes on any key.

use crossterm::event::{KeyCode, KeyEvent};

use super::DialogAction;
use crate::transport::HostKeyDecision;
use crate::tui::prompt::Reply;
use crate::tui::state::prompt::{AskKind, Asking};

/// Handles a key in the dialog of `asking` (`action`: what the key means
/// in that dialog's context). `Some` closes the dialog: with the reply to
/// send (`None` inside for a notice, which has nobody to answer).
pub fn on_key(
    asking: &mut Asking,
    action: Option<DialogAction>,
    key: &KeyEvent,
) -> Option<Option<Reply>> {
    use DialogAction::*;
    match (&asking.kind, action) {
        (AskKind::HostKeyChanged { .. }, _) => Some(None),
        (AskKind::HostKey { .. }, Some(Yes)) => {
            Some(Some(Reply::HostKey(HostKeyDecision::AcceptOnce)))
        }
        (AskKind::HostKey { .. }, Some(Always)) => {
            Some(Some(Reply::HostKey(HostKeyDecision::AcceptAndRecord)))
        }
        (AskKind::HostKey { .. }, Some(Cancel)) => {
            Some(Some(Reply::HostKey(HostKeyDecision::Refuse)))
        }
        (AskKind::HostKey { .. }, _) => None,
        (_, Some(Accept)) => Some(Some(Reply::Secret(Some(std::mem::take(&mut asking.input))))),
        (_, Some(Cancel)) => {
            asking.input.clear();
            Some(Some(Reply::Secret(None)))
        }
        _ => {
            match key.code {
                KeyCode::Backspace => {
                    asking.input.pop();
                }
                KeyCode::Char(c) => asking.input.push(c),
                _ => {}
            }
            None
        }
    }
}
