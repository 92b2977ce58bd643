//! Checking the server's host key against a known_hosts file (and learning
//! it under `accept-new`): the russh client handler.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client::{self};
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

use super::*;
use crate::transport::prompt::{HostKeyDecision, HostKeyQuestion};

/// What the host key check found, for the error after a refused key exchange.
#[derive(Debug, Clone)]
pub(super) enum KeyVerdict {
    Known,
    /// Unknown, and the user trusted it for this connection only.
    AcceptedOnce {
        key_type: String,
        fingerprint: String,
    },
    Learned {
        key_type: String,
        fingerprint: String,
    },
    Unknown {
        key_type: String,
        fingerprint: String,
    },
    Changed {
        key_type: String,
        fingerprint: String,
        line: usize,
    },
    Certificate,
    Failed(String),
}

/// russh's handler: checks the host key and records what it found.
pub(super) struct Client {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) known_hosts: PathBuf,
    pub(super) policy: HostKeyPolicy,
    pub(super) verdict: Arc<Mutex<Option<KeyVerdict>>>,
    /// Who decides on an unknown key and is told of a changed one (when
    /// prompts are allowed), with the start's prompt clock.
    pub(super) asker: Option<(SharedPrompter, Prompts)>,
    /// User, host and port, for the question.
    pub(super) at: SshAt,
}

impl Client {
    /// Looks `key` up in the known_hosts file and records it there when the
    /// policy allows; an unknown key is then put to the prompter (if any),
    /// and it is told of a changed one.
    pub(super) async fn check(&self, key: PublicKey) -> KeyVerdict {
        let verdict = self.look_up(key.clone()).await;
        let Some((asker, prompts)) = &self.asker else {
            return verdict;
        };
        let question = |key_type: &str, fingerprint: &str, changed_line| HostKeyQuestion {
            at: self.at.clone(),
            key_type: key_type.to_owned(),
            fingerprint: fingerprint.to_owned(),
            known_hosts: self.known_hosts.clone(),
            changed_line,
        };
        match &verdict {
            KeyVerdict::Unknown {
                key_type,
                fingerprint,
            } => {
                let q = question(key_type, fingerprint, None);
                match prompts.wait(asker.host_key(&q)).await {
                    HostKeyDecision::Refuse => verdict,
                    HostKeyDecision::AcceptOnce => KeyVerdict::AcceptedOnce {
                        key_type: q.key_type,
                        fingerprint: q.fingerprint,
                    },
                    HostKeyDecision::AcceptAndRecord => self.learn(key, q).await,
                }
            }
            KeyVerdict::Changed {
                key_type,
                fingerprint,
                line,
            } => {
                asker.host_key_changed(&question(key_type, fingerprint, Some(*line)));
                verdict
            }
            _ => verdict,
        }
    }

    /// Records `key` in the known_hosts file (the user said so).
    async fn learn(&self, key: PublicKey, q: HostKeyQuestion) -> KeyVerdict {
        let (host, port, path) = (self.host.clone(), self.port, self.known_hosts.clone());
        tokio::task::spawn_blocking(
            move || match russh::keys::known_hosts::learn_known_hosts_path(&host, port, &key, &path)
            {
                Ok(()) => KeyVerdict::Learned {
                    key_type: q.key_type,
                    fingerprint: q.fingerprint,
                },
                Err(e) => KeyVerdict::Failed(format!("cannot record the new key: {e}")),
            },
        )
        .await
        .unwrap_or_else(|e| KeyVerdict::Failed(e.to_string()))
    }

    /// Looks `key` up in the known_hosts file (learning it under
    /// `accept-new`), off the runtime's threads.
    async fn look_up(&self, key: PublicKey) -> KeyVerdict {
        let (host, port, path, policy) = (
            self.host.clone(),
            self.port,
            self.known_hosts.clone(),
            self.policy,
        );
        let checked = tokio::task::spawn_blocking(move || {
            let key_type = key.algorithm().as_str().to_owned();
            let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
            match russh::keys::check_known_hosts_path(&host, port, &key, &path) {
                Ok(true) => KeyVerdict::Known,
                Ok(false) if policy == HostKeyPolicy::AcceptNew => {
                    match russh::keys::known_hosts::learn_known_hosts_path(&host, port, &key, &path)
                    {
                        Ok(()) => KeyVerdict::Learned {
                            key_type,
                            fingerprint,
                        },
                        Err(e) => KeyVerdict::Failed(format!("cannot record the new key: {e}")),
                    }
                }
                Ok(false) => KeyVerdict::Unknown {
                    key_type,
                    fingerprint,
                },
                Err(russh::keys::Error::KeyChanged { line }) => KeyVerdict::Changed {
                    key_type,
                    fingerprint,
                    line: physical_line(&path, line),
                },
                Err(e) => KeyVerdict::Failed(e.to_string()),
            }
        })
        .await;
        checked.unwrap_or_else(|e| KeyVerdict::Failed(e.to_string()))
    }
}

/// The line number, counting every line, of the `entry`-th line that is
/// not a comment: russh counts only those when it reports a changed key,
/// OpenSSH (and an editor) count all. `entry` itself when the file cannot
/// be read again.
pub(super) fn physical_line(path: &Path, entry: usize) -> usize {
    let Ok(text) = std::fs::read_to_string(path) else {
        return entry;
    };
    text.split_inclusive('\n')
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#'))
        .nth(entry.saturating_sub(1))
        .map_or(entry, |(at, _)| at + 1)
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check(key.clone()).await,
            PublicKeyOrCertificate::Certificate(_) => KeyVerdict::Certificate,
        };
        let accepted = matches!(
            verdict,
            KeyVerdict::Known | KeyVerdict::Learned { .. } | KeyVerdict::AcceptedOnce { .. }
        );
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        Ok(accepted)
    }
}
