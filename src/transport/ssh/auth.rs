//! Authentication: the keys of an ssh-agent first, then identity files
//! (asking for the passphrase of an encrypted one), then a password when
//! the server takes one and someone can be asked; every refusal is kept
//! for the error message.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// How many times a passphrase or password is asked (OpenSSH's
/// `NumberOfPasswordPrompts` default).
const PROMPT_TRIES: u32 = 3;

/// Who may be asked for secrets during one start, and for how long they
/// have been asked: the startup timeout does not run while a prompt is
/// open.
#[derive(Default, Clone)]
pub(super) struct Prompts {
    pub(super) prompter: Option<SharedPrompter>,
    /// Time spent in finished prompts, and the start of an open one
    /// (shared with the host key check, which may ask too).
    clock: Arc<Mutex<(Duration, Option<Instant>)>>,
}

impl Prompts {
    /// `prompter` when `s` allows prompts (not `BatchMode yes`).
    pub(super) fn new(prompter: Option<SharedPrompter>) -> Prompts {
        Prompts {
            prompter,
            clock: Arc::new(Mutex::new((Duration::ZERO, None))),
        }
    }

    /// The prompter, if the settings allow asking.
    pub(super) fn asker(&self, s: &SshSettings) -> Option<&SharedPrompter> {
        self.prompter.as_ref().filter(|_| s.prompts)
    }

    /// Why nobody is asked, for the list of what was tried.
    fn why_not(&self, s: &SshSettings) -> &'static str {
        if self.prompter.is_some() && !s.prompts {
            "BatchMode yes: no prompts"
        } else {
            "no terminal to ask"
        }
    }

    /// Waits for `answer`, with the clock stopped meanwhile.
    pub(super) async fn wait<T, F: Future<Output = T>>(&self, answer: F) -> T {
        if let Ok(mut clock) = self.clock.lock() {
            clock.1 = Some(Instant::now());
        }
        let answer = answer.await;
        if let Ok(mut clock) = self.clock.lock()
            && let Some(since) = clock.1.take()
        {
            clock.0 += since.elapsed();
        }
        answer
    }

    /// Time spent in prompts so far, and whether one is open.
    pub(super) fn paused(&self) -> (Duration, bool) {
        match self.clock.lock() {
            Ok(clock) => match clock.1 {
                Some(since) => (clock.0 + since.elapsed(), true),
                None => (clock.0, false),
            },
            Err(_) => (Duration::ZERO, false),
        }
    }

    /// Runs `work` until `deadline`, moved on by the time spent in prompts
    /// (a prompt that is open never times out); `None` on timeout.
    pub(super) async fn until<F: Future>(&self, deadline: Instant, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        loop {
            let (paused, open) = self.paused();
            let wake = if open {
                Instant::now() + Duration::from_millis(500)
            } else {
                deadline + paused
            };
            tokio::select! {
                out = &mut work => return Some(out),
                _ = tokio::time::sleep_until(wake) => {
                    let (paused, open) = self.paused();
                    if !open && Instant::now() >= deadline + paused {
                        return None;
                    }
                }
            }
        }
    }
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
    prompts: &Prompts,
) -> Result<String, AuthFailure> {
    let mut tried = Vec::new();
    let mut methods = String::from(NOT_TOLD);
    if let Some(key) = try_agent(session, s, &mut tried, &mut methods).await? {
        return Ok(key);
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
        if !path.exists() {
            if explicit {
                tried.push(format!("{} (no such file)", file.display()));
            }
            continue;
        }
        let key = match load_key(&file, None).await {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                match unlock(&file, s, prompts, &mut tried).await {
                    Some(key) => key,
                    None => continue,
                }
            }
            Err(e) => {
                tried.push(format!("{} (cannot load: {e})", file.display()));
                continue;
            }
        };
        let hash = rsa_hash(session, key.algorithm().is_rsa()).await;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match session
            .authenticate_publickey(s.at.user.as_str(), key)
            .await
        {
            Ok(client::AuthResult::Success) => {
                return Ok(format!("publickey {}", file.display()));
            }
            Ok(client::AuthResult::Failure {
                remaining_methods, ..
            }) => {
                tried.push(format!("publickey {} (refused)", file.display()));
                methods = method_names(&remaining_methods);
            }
            Err(e) => return Err(AuthFailure::Session(format!("while authenticating: {e}"))),
        }
    }
    if methods == NOT_TOLD {
        // Nothing was offered yet: ask the server what it takes.
        match session.authenticate_none(s.at.user.as_str()).await {
            Ok(client::AuthResult::Success) => return Ok("none".to_owned()),
            Ok(client::AuthResult::Failure {
                remaining_methods, ..
            }) => methods = method_names(&remaining_methods),
            Err(e) => return Err(AuthFailure::Session(format!("while authenticating: {e}"))),
        }
    }
    if s.password_auth
        && methods.split(',').any(|m| m == "password")
        && try_password(session, s, prompts, &mut tried, &mut methods).await?
    {
        return Ok("password".to_owned());
    }
    if !tried
        .iter()
        .any(|t| !t.starts_with("ssh-agent") && !t.starts_with("password"))
        && !explicit
    {
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

/// What `methods` says before the server told anything.
const NOT_TOLD: &str = "(not told)";

/// Reads the private key in `file`, decrypting it with `passphrase`.
async fn load_key(
    file: &Path,
    passphrase: Option<String>,
) -> Result<russh::keys::PrivateKey, russh::keys::Error> {
    let path = file.to_path_buf();
    tokio::task::spawn_blocking(move || russh::keys::load_secret_key(&path, passphrase.as_deref()))
        .await
        .unwrap_or_else(|e| Err(russh::keys::Error::IO(std::io::Error::other(e.to_string()))))
}

/// Asks for the passphrase of the encrypted key in `file` (up to
/// [`PROMPT_TRIES`] times) and decrypts it; `None`, with a note in
/// `tried`, when nobody can be asked, nobody answers or every answer is
/// wrong.
async fn unlock(
    file: &Path,
    s: &SshSettings,
    prompts: &Prompts,
    tried: &mut Vec<String>,
) -> Option<russh::keys::PrivateKey> {
    let shown = file.display();
    let Some(asker) = prompts.asker(s) else {
        tried.push(format!(
            "{shown} (encrypted, and {} for its passphrase: add it to ssh-agent with ssh-add {shown})",
            prompts.why_not(s)
        ));
        return None;
    };
    let mut last = String::new();
    for attempt in 1..=PROMPT_TRIES {
        let Some(passphrase) = prompts.wait(asker.passphrase(file, &s.at, attempt)).await else {
            tried.push(format!("{shown} (encrypted; no passphrase given)"));
            return None;
        };
        match load_key(file, Some(passphrase)).await {
            Ok(key) => return Some(key),
            Err(e) => last = e.to_string(),
        }
    }
    tried.push(format!(
        "{shown} (encrypted; wrong passphrase, {PROMPT_TRIES} tries: {last})"
    ));
    None
}

/// Asks for the password of `s.at` and offers it, up to [`PROMPT_TRIES`]
/// times; `Ok(true)` when accepted. Without a prompter it is only noted
/// in `tried`.
async fn try_password(
    session: &mut Handle<Client>,
    s: &SshSettings,
    prompts: &Prompts,
    tried: &mut Vec<String>,
    methods: &mut String,
) -> Result<bool, AuthFailure> {
    let Some(asker) = prompts.asker(s) else {
        tried.push(format!(
            "password (not tried: {} for it)",
            prompts.why_not(s)
        ));
        return Ok(false);
    };
    for attempt in 1..=PROMPT_TRIES {
        let Some(password) = prompts.wait(asker.password(&s.at, attempt)).await else {
            tried.push("password (none given)".into());
            return Ok(false);
        };
        match session
            .authenticate_password(s.at.user.as_str(), password)
            .await
        {
            Ok(client::AuthResult::Success) => return Ok(true),
            Ok(client::AuthResult::Failure {
                remaining_methods, ..
            }) => *methods = method_names(&remaining_methods),
            Err(e) => return Err(AuthFailure::Session(format!("while authenticating: {e}"))),
        }
        if session.is_closed() {
            break;
        }
        if !methods.split(',').any(|m| m == "password") {
            break;
        }
    }
    tried.push(format!("password (refused, {PROMPT_TRIES} tries)"));
    Ok(false)
}

/// Offers each key of the ssh-agent `s.agent` names; `Ok(Some(key))` when one
/// is accepted. An agent that cannot be reached is noted in `tried`, not
/// an error: the identity files come next.
/// The signature hash for a key: for an RSA key the best SHA-2 the server
/// accepts (`rsa-sha2-512`/`256`), else none.
async fn rsa_hash(session: &mut Handle<Client>, is_rsa: bool) -> Option<HashAlg> {
    if !is_rsa {
        return None;
    }
    session
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten()
}

pub(super) async fn try_agent(
    session: &mut Handle<Client>,
    s: &SshSettings,
    tried: &mut Vec<String>,
    methods: &mut String,
) -> Result<Option<String>, AuthFailure> {
    let socket = match &s.agent {
        AgentChoice::Off => return Ok(None),
        AgentChoice::Socket(path) => path.clone(),
        AgentChoice::Env => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => return Ok(None),
        },
    };
    let mut agent = match AgentClient::connect_uds(&socket).await {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!(
                "ssh-agent at {} (cannot connect: {e})",
                socket.display()
            ));
            return Ok(None);
        }
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!(
                "ssh-agent at {} (cannot list its keys: {e})",
                socket.display()
            ));
            return Ok(None);
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
        let hash = rsa_hash(session, key.algorithm().is_rsa()).await;
        match session
            .authenticate_publickey_with(s.at.user.as_str(), key, hash, &mut agent)
            .await
        {
            Ok(client::AuthResult::Success) => return Ok(Some(name)),
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
    Ok(None)
}
