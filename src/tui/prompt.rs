//! The TUI's [`Prompter`]: the ssh transport's questions (a key's
//! passphrase, a password, an unknown host key) travel over a channel to
//! the app loop, which shows them one at a time in a dialog and sends the
//! answer back; the gateway's start waits for it, nothing else does. A
//! changed host key is only told (it is refused whatever is answered).
//! A question left unanswered for [`TERMINAL_PROMPT_LIMIT`] counts as
//! none given, and its dialog goes away.

use std::path::Path;

use tokio::sync::{mpsc, oneshot};

use super::state::prompt::{AskKind, Asking};
use crate::transport::prompt::{Answer, Decision, TERMINAL_PROMPT_LIMIT};
use crate::transport::{HostKeyDecision, HostKeyQuestion, Prompter, SshAt};

/// The answer to a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A passphrase or password (`None`: cancelled).
    Secret(Option<String>),
    /// What to do with an unknown host key.
    HostKey(HostKeyDecision),
}

/// A question on its way to the loop, with where its answer goes (`None`
/// for what is only told).
#[derive(Debug)]
pub struct Asked {
    /// The question, as its dialog shows it.
    pub asking: Asking,
    /// Where the answer goes.
    pub reply: Option<oneshot::Sender<Reply>>,
}

impl Asked {
    /// Whether nobody waits for the answer any more (the start gave up).
    pub fn is_abandoned(&self) -> bool {
        self.reply.as_ref().is_some_and(oneshot::Sender::is_closed)
    }
}

/// Forwards questions to the app loop (see [`channel`]).
#[derive(Debug, Clone)]
pub struct TuiPrompter {
    tx: mpsc::UnboundedSender<Asked>,
}

/// A prompter for the group and the receiver for the app
/// ([`App::with_prompts`](super::app::App::with_prompts)).
pub fn channel() -> (TuiPrompter, mpsc::UnboundedReceiver<Asked>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (TuiPrompter { tx }, rx)
}

impl TuiPrompter {
    /// Sends `kind` about `at` to the loop and waits for the answer (at
    /// most [`TERMINAL_PROMPT_LIMIT`]); `None` when none came.
    async fn ask(&self, at: &SshAt, kind: AskKind) -> Option<Reply> {
        let (reply, answer) = oneshot::channel();
        let asking = Asking {
            at: at.to_string(),
            kind,
            input: String::new(),
        };
        self.tx
            .send(Asked {
                asking,
                reply: Some(reply),
            })
            .ok()?;
        tokio::time::timeout(TERMINAL_PROMPT_LIMIT, answer)
            .await
            .ok()?
            .ok()
    }

    async fn secret(&self, at: &SshAt, kind: AskKind) -> Option<String> {
        match self.ask(at, kind).await {
            Some(Reply::Secret(s)) => s,
            _ => None,
        }
    }
}

impl Prompter for TuiPrompter {
    fn passphrase<'a>(&'a self, key: &'a Path, at: &'a SshAt, attempt: u32) -> Answer<'a> {
        let kind = AskKind::Passphrase {
            key: key.display().to_string(),
            attempt,
        };
        Box::pin(self.secret(at, kind))
    }

    fn password<'a>(&'a self, at: &'a SshAt, attempt: u32) -> Answer<'a> {
        Box::pin(self.secret(at, AskKind::Password { attempt }))
    }

    fn host_key<'a>(&'a self, q: &'a HostKeyQuestion) -> Decision<'a> {
        Box::pin(async move {
            let kind = AskKind::HostKey {
                key_type: q.key_type.clone(),
                fingerprint: q.fingerprint.clone(),
                known_hosts: q.known_hosts.display().to_string(),
            };
            match self.ask(&q.at, kind).await {
                Some(Reply::HostKey(d)) => d,
                _ => HostKeyDecision::Refuse,
            }
        })
    }

    fn host_key_changed(&self, q: &HostKeyQuestion) {
        let asking = Asking {
            at: q.at.to_string(),
            kind: AskKind::HostKeyChanged {
                key_type: q.key_type.clone(),
                fingerprint: q.fingerprint.clone(),
                known_hosts: q.known_hosts.display().to_string(),
                line: q.changed_line.unwrap_or(0),
            },
            input: String::new(),
        };
        let _ = self.tx.send(Asked {
            asking,
            reply: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SshAt {
        SshAt {
            user: "me".into(),
            host: "box".into(),
            port: 2222,
        }
    }

    #[tokio::test]
    async fn questions_travel_to_the_loop_and_answers_back() {
        let (prompter, mut rx) = channel();
        let at = at();
        let asking = tokio::spawn({
            let prompter = prompter.clone();
            let at = at.clone();
            async move { prompter.password(&at, 2).await }
        });
        let asked = rx.recv().await.unwrap();
        assert_eq!(asked.asking.at, "me@box:2222");
        assert_eq!(asked.asking.kind, AskKind::Password { attempt: 2 });
        assert!(!asked.is_abandoned());
        let _ = asked.reply.unwrap().send(Reply::Secret(Some("pw".into())));
        assert_eq!(asking.await.unwrap(), Some("pw".into()));

        // A host key: a reply of the wrong kind, or none, refuses.
        let q = HostKeyQuestion {
            at: at.clone(),
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:abc".into(),
            known_hosts: "/kh".into(),
            changed_line: None,
        };
        let deciding = tokio::spawn({
            let prompter = prompter.clone();
            let q = q.clone();
            async move { prompter.host_key(&q).await }
        });
        let asked = rx.recv().await.unwrap();
        assert!(matches!(asked.asking.kind, AskKind::HostKey { .. }));
        drop(asked);
        assert_eq!(deciding.await.unwrap(), HostKeyDecision::Refuse);

        // A changed key is only told: nobody waits.
        prompter.host_key_changed(&HostKeyQuestion {
            changed_line: Some(3),
            ..q
        });
        let told = rx.recv().await.unwrap();
        assert!(told.reply.is_none() && !told.is_abandoned());
        assert!(matches!(
            told.asking.kind,
            AskKind::HostKeyChanged { line: 3, .. }
        ));

        // A start that gives up leaves its question abandoned.
        let giving_up = tokio::spawn({
            let prompter = prompter.clone();
            async move { prompter.passphrase(Path::new("k"), &at, 1).await }
        });
        let asked = rx.recv().await.unwrap();
        giving_up.abort();
        let _ = giving_up.await;
        assert!(asked.is_abandoned());
        // The typed secret never shows in debug output.
        let mut shown = asked.asking.clone();
        shown.input = "hunter2".into();
        assert!(!format!("{shown:?}").contains("hunter2"));
    }
}
