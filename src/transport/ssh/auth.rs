//! Authentication: the keys of an ssh-agent first, then identity files;
//! every refusal is kept for the error message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};

use super::*;

/// Why authentication did not succeed.
pub(super) enum AuthFailure {
    /// Every method was refused: what was tried, what the server accepts.
    Refused { tried: Vec<String>, methods: String },
    /// The session failed meanwhile.
    Session(String),
}

/// The names of the methods a server accepts, e.g. `publickey,password`.
pub(super) fn method_names(methods: &russh::MethodSet) -> String {
    methods
        .iter()
        .map(<&str>::from)
        .collect::<Vec<_>>()
        .join(",")
}

/// Tries the agent's keys (when there is an agent), then each identity
/// file (the given ones, else the default ones that exist) until one is
/// accepted.
pub(super) async fn authenticate(
    session: &mut Handle<Client>,
    s: &SshSettings,
    home: Option<&Path>,
) -> Result<(), AuthFailure> {
    let mut tried = Vec::new();
    let mut methods = String::from("(not told)");
    if try_agent(session, s, &mut tried, &mut methods).await? {
        return Ok(());
    }
    let files: Vec<PathBuf> = if s.identity_files.is_empty() {
        home.map(|h| {
            DEFAULT_IDENTITIES
                .iter()
                .map(|name| h.join(".ssh").join(name))
                .collect()
        })
        .unwrap_or_default()
    } else {
        s.identity_files.clone()
    };
    let explicit = !s.identity_files.is_empty();
    for file in files {
        let path = file.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            if !path.exists() {
                return Err(None);
            }
            russh::keys::load_secret_key(&path, None).map_err(|e| Some(e.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(Some(e.to_string())));
        let key = match loaded {
            Ok(key) => key,
            Err(None) => {
                if explicit {
                    tried.push(format!("{} (no such file)", file.display()));
                }
                continue;
            }
            Err(Some(message)) => {
                tried.push(format!("{} (cannot load: {message})", file.display()));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            session
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match session
            .authenticate_publickey(s.at.user.as_str(), key)
            .await
        {
            Ok(client::AuthResult::Success) => return Ok(()),
            Ok(client::AuthResult::Failure {
                remaining_methods, ..
            }) => {
                tried.push(format!("publickey {} (refused)", file.display()));
                methods = method_names(&remaining_methods);
            }
            Err(e) => return Err(AuthFailure::Session(format!("while authenticating: {e}"))),
        }
    }
    if !tried.iter().any(|t| !t.starts_with("ssh-agent")) && !explicit {
        tried.push(format!(
            "no identity file ({} missing; give one with -i FILE)",
            home.map_or_else(
                || "~/.ssh/id_ed25519, id_ecdsa, id_rsa".to_owned(),
                |h| format!("{}/.ssh/id_ed25519, id_ecdsa, id_rsa", h.display())
            )
        ));
    }
    Err(AuthFailure::Refused { tried, methods })
}

/// Offers each key of the ssh-agent `s.agent` names; `Ok(true)` when one
/// is accepted. An agent that cannot be reached is noted in `tried`, not
/// an error: the identity files come next.
pub(super) async fn try_agent(
    session: &mut Handle<Client>,
    s: &SshSettings,
    tried: &mut Vec<String>,
    methods: &mut String,
) -> Result<bool, AuthFailure> {
    let socket = match &s.agent {
        AgentChoice::Off => return Ok(false),
        AgentChoice::Socket(path) => path.clone(),
        AgentChoice::Env => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => return Ok(false),
        },
    };
    let mut agent = match AgentClient::connect_uds(&socket).await {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!(
                "ssh-agent at {} (cannot connect: {e})",
                socket.display()
            ));
            return Ok(false);
        }
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!(
                "ssh-agent at {} (cannot list its keys: {e})",
                socket.display()
            ));
            return Ok(false);
        }
    };
    if identities.is_empty() {
        tried.push(format!("ssh-agent at {} (no keys)", socket.display()));
    }
    for identity in identities {
        let key = identity.public_key().into_owned();
        let name = format!(
            "ssh-agent key {} {}",
            key.algorithm().as_str(),
            key.fingerprint(HashAlg::Sha256)
        );
        let hash = if key.algorithm().is_rsa() {
            session
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        match session
            .authenticate_publickey_with(s.at.user.as_str(), key, hash, &mut agent)
            .await
        {
            Ok(client::AuthResult::Success) => return Ok(true),
            Ok(client::AuthResult::Failure {
                remaining_methods, ..
            }) => {
                tried.push(format!("{name} (refused)"));
                *methods = method_names(&remaining_methods);
            }
            Err(e) => tried.push(format!("{name} (the agent did not sign: {e})")),
        }
        if session.is_closed() {
            return Err(AuthFailure::Session(
                "the server closed the connection while authenticating".into(),
            ));
        }
    }
    Ok(false)
}
