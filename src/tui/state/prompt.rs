//! Questions the ssh transport asks while a gateway starts, as the dialog
//! shows them: a key's passphrase or a password (typed masked), an unknown
//! host key to accept or refuse, a changed host key (refused; only told).

use std::fmt;

/// What is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskKind {
    /// The passphrase of an encrypted private key.
    Passphrase {
        /// The key file.
        key: String,
        /// 1 for the first try; more after a wrong one.
        attempt: u32,
    },
    /// A password.
    Password {
        /// 1 for the first try; more after a refusal.
        attempt: u32,
    },
    /// A host key the known_hosts file does not list.
    HostKey {
        /// Its algorithm.
        key_type: String,
        /// Its SHA-256 fingerprint.
        fingerprint: String,
        /// The known_hosts file it would be recorded in.
        known_hosts: String,
    },
    /// A host key that differs from the recorded one: refused.
    HostKeyChanged {
        /// The new key's algorithm.
        key_type: String,
        /// The new key's SHA-256 fingerprint.
        fingerprint: String,
        /// The known_hosts file.
        known_hosts: String,
        /// The line with the recorded key.
        line: usize,
    },
}

/// A question in its dialog, with what was typed (never shown).
#[derive(Clone, PartialEq, Eq)]
pub struct Asking {
    /// Who is logged in to: `user@host:port`.
    pub at: String,
    /// What is asked.
    pub kind: AskKind,
    /// The secret typed so far.
    pub input: String,
}

impl Asking {
    /// Whether the answer is typed (masked).
    pub fn is_secret(&self) -> bool {
        matches!(
            self.kind,
            AskKind::Passphrase { .. } | AskKind::Password { .. }
        )
    }
}

/// Never prints what was typed.
impl fmt::Debug for Asking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Asking({} {:?}, {} characters typed)",
            self.at,
            self.kind,
            self.input.chars().count()
        )
    }
}
