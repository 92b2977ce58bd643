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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::input::NONE;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, NONE)
    }

    fn asking(kind: AskKind) -> Asking {
        Asking {
            at: "me@box:22".into(),
            kind,
            input: String::new(),
        }
    }

    #[test]
    fn secrets_are_typed_then_sent_or_cancelled() {
        let mut a = asking(AskKind::Password { attempt: 1 });
        for c in "pw!".chars() {
            assert_eq!(on_key(&mut a, None, &key(KeyCode::Char(c))), None);
        }
        on_key(&mut a, None, &key(KeyCode::Backspace));
        assert_eq!(a.input, "pw");
        assert_eq!(
            on_key(&mut a, Some(DialogAction::Accept), &key(KeyCode::Enter)),
            Some(Some(Reply::Secret(Some("pw".into()))))
        );
        assert_eq!(a.input, "", "the secret does not stay behind");
        let mut a = asking(AskKind::Password { attempt: 1 });
        a.input = "x".into();
        assert_eq!(
            on_key(&mut a, Some(DialogAction::Cancel), &key(KeyCode::Esc)),
            Some(Some(Reply::Secret(None)))
        );
        assert_eq!(a.input, "");
    }

    #[test]
    fn host_keys_take_three_answers_and_a_changed_one_only_closes() {
        let unknown = AskKind::HostKey {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:x".into(),
            known_hosts: "/kh".into(),
        };
        let k = key(KeyCode::Char('z'));
        for (action, decision) in [
            (DialogAction::Yes, HostKeyDecision::AcceptOnce),
            (DialogAction::Always, HostKeyDecision::AcceptAndRecord),
            (DialogAction::Cancel, HostKeyDecision::Refuse),
        ] {
            let mut a = asking(unknown.clone());
            assert_eq!(
                on_key(&mut a, Some(action), &k),
                Some(Some(Reply::HostKey(decision)))
            );
        }
        // Other keys do nothing (no accident answers).
        let mut a = asking(unknown);
        assert_eq!(on_key(&mut a, None, &k), None);
        assert_eq!(on_key(&mut a, Some(DialogAction::Accept), &k), None);
        let mut changed = asking(AskKind::HostKeyChanged {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:x".into(),
            known_hosts: "/kh".into(),
            line: 3,
        });
        assert_eq!(on_key(&mut changed, None, &k), Some(None));
    }
}
