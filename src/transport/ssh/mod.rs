//! ssh gateways (`ssh=[options] [user@]host`) with an in-process ssh client
//! (russh): connect, check the server's host key against a known_hosts
//! file, authenticate with the keys of an ssh-agent (`SSH_AUTH_SOCK`, or
//! `-o IdentityAgent=`), then with identity files (`-i`, else
//! `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`; an encrypted one's passphrase
//! asked through the [`super::prompt::Prompter`] of the launch options),
//! then a password (asked the same way), all of it through jump hosts when
//! `-J`/`ProxyJump` names some (`session.rs`), run `<python> -c "<boot line>"`
//! on an exec channel, and boot execdeck's worker over the channel's
//! stdin/stdout (PROTOCOL.md §1). The channel's stderr (extended data) goes
//! to the group's stderr sink line by line, and its exit status is kept for
//! the description of the worker's end.
//!
//! The `ssh=` value is read as OpenSSH reads its command line
//! ([`crate::spec::parse_ssh_value`]); [`settings`] turns it into what this
//! client uses. Options it does not support are named in one warning.
//!
//! Host keys: the key must be listed for the host (`host`, or `[host]:port`
//! for a port other than 22; plain or hashed entries) in the known_hosts
//! file (`-o UserKnownHostsFile=`, else `~/.ssh/known_hosts`). An unknown
//! key is refused unless `-o StrictHostKeyChecking=accept-new` (or `no`),
//! which records it; a changed key is always refused.

use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::bootstrap::{BOOT_LINE, BootStream, Handshake};
use super::handshake::{BootOutcome, boot_stream};
use super::popen::{DEFAULT_STARTUP_TIMEOUT, LaunchOptions};
use super::prompt::SharedPrompter;
use super::{ConnectError, Connection, RemoteHandle, WorkerHandle};
use crate::spec::{ConfigMatch, SshTarget, XSpec, parse_ssh_value, ssh_config_for};

/// What an ssh gateway's [`RemoteHandle`] calls its worker.
pub const PEER_KIND: &str = "ssh";

/// The ssh port when none is given.
pub const DEFAULT_PORT: u16 = 22;

/// Buffer between the channel and the gateway's reader (stdout).
const PIPE_BUFFER: usize = 256 * 1024;

/// A stderr "line" longer than this is passed on in pieces, so that a
/// worker writing without newlines cannot make the master buffer without
/// limit.
const STDERR_LINE_LIMIT: usize = 16 * 1024;

/// How long a stop waits for the channel to report the worker's end, and a
/// disconnect for the server's answer.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Keepalive requests when the server has been silent this long (unless
/// `ServerAliveInterval` says otherwise; 0 turns them off) …
const DEFAULT_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// … and how many may go unanswered before the connection counts as dead
/// (`ServerAliveCountMax`): a host that vanished without a word is noticed
/// in about 90 s instead of never.
const DEFAULT_ALIVE_COUNT: usize = 3;

/// How long a stop waits for the remote command to die of SIGKILL before
/// it closes the channel anyway.
const SIGNAL_WAIT: Duration = Duration::from_secs(1);

/// The identity files tried when none is given, in OpenSSH's order.
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// Where an ssh gateway connects: `user@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAt {
    /// The remote user name.
    pub user: String,
    /// The host as written in the spec.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for SshAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

mod auth;
mod hostkeys;
mod relay;
mod session;
mod settings;
#[cfg(test)]
mod tests;

use auth::*;
use hostkeys::*;
use relay::*;
use session::*;
pub use settings::*;

/// Connects gateway `id` of `spec` over ssh as `value` (the `ssh=` value)
/// says and boots execdeck's worker there with the spec's `python=` (else
/// `python3`).
///
/// The whole start is bounded by the startup timeout of `opts` (the TCP
/// connection also by `-o ConnectTimeout=`). Every failure is its own
/// [`ConnectError`] variant naming user, host and port: `SshHostNotFound`,
/// `SshRefused`, `SshConnectFailed`, `SshConnectTimeout`,
/// `SshHostKeyUnknown`, `SshHostKeyChanged`, `SshKnownHosts`,
/// `SshAuthRefused`, `SshSession`, `SshRemoteExit` (e.g. no such python,
/// quoting what the remote printed), `SshStartupTimeout`, `SshBadHandshake`;
/// a bad value is `SshOptions`.
pub async fn connect(
    spec: &XSpec,
    value: &str,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    let bad = |message: String| ConnectError::SshOptions {
        spec: spec.to_string(),
        message,
    };
    let config_text = match config_file(value, spec.ssh_config(), home.as_deref()) {
        None => None,
        Some((file, named)) => match tokio::fs::read_to_string(&file).await {
            Ok(text) => Some(text),
            Err(e) if named || e.kind() != ErrorKind::NotFound => {
                return Err(bad(format!(
                    "cannot read the ssh config file {}: {e}",
                    file.display()
                )));
            }
            Err(_) => None,
        },
    };
    let config = match &config_text {
        Some(text) => ssh_config_for(text, &parse_ssh_value(value).map_err(bad)?.host),
        None => ConfigMatch::default(),
    };
    let mut s = settings(value, &config, home.as_deref(), &local_user()).map_err(bad)?;
    if opts.accept_new_host_keys {
        s.policy = HostKeyPolicy::AcceptNew;
    }
    let at = s.at.clone();
    let mut warnings = Vec::new();
    if !s.unsupported.is_empty() {
        warnings.push(format!(
            "{spec}: ssh options the built-in ssh client does not support yet (ignored): {}",
            s.unsupported.join(", ")
        ));
    }
    for note in &s.notes {
        warnings.push(format!("{spec}: {note}"));
    }
    let session_failed = |message: String| ConnectError::SshSession {
        spec: spec.to_string(),
        at: Box::new(at.clone()),
        message,
    };

    let prompts = Prompts::new(opts.prompter.clone());
    let route = Route {
        spec,
        value,
        config: config_text.as_deref(),
        home: home.as_deref(),
        deadline,
        timeout,
        opts,
    };
    let Sessions {
        target: session,
        hops,
    } = establish(&route, &s, &prompts, &mut warnings).await?;
    // The time spent answering prompts does not count.
    let deadline = deadline + prompts.paused().0;

    let python = spec.python().unwrap_or("python3");
    let command = format!("{python} -c \"{BOOT_LINE}\"");
    let opened = tokio::time::timeout_at(deadline, async {
        let channel = session.channel_open_session().await?;
        channel.exec(true, command.as_bytes()).await?;
        Ok::<_, russh::Error>(channel)
    })
    .await;
    let channel = match opened {
        Err(_) => {
            return Err(ConnectError::SshStartupTimeout {
                spec: spec.to_string(),
                at: Box::new(at.clone()),
                secs: timeout.as_secs_f64(),
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        Ok(Err(e)) => return Err(session_failed(format!("cannot run {command:?}: {e}"))),
        Ok(Ok(channel)) => channel,
    };
    opts.step(&format!("{python} started"));

    let remote = Relay::start(channel, session, hops, opts.stderr_sink.clone());
    let mut reader = BufReader::with_capacity(8 * 1024, remote.stdout);
    let mut writer = remote.stdin;
    let boot = opts.remote_boot(spec, id, BootStream::Stdio);
    let plan = boot.plan(deadline.saturating_duration_since(Instant::now()));
    let outcome = boot_stream(&mut reader, &mut writer, &plan).await;
    let stop = remote.stop.clone();
    let process = remote.process.clone();
    let failed = |stdout: &[u8]| {
        (
            String::from_utf8_lossy(stdout).into_owned(),
            process.stderr_tail(20).join("\n"),
        )
    };
    match outcome {
        BootOutcome::Read(Handshake::Ready { banner }) => {
            opts.step("handshake done");
            if !banner.is_empty() {
                warnings.push(format!(
                    "{spec}: the remote interpreter printed on stdout before the worker started (ignored): {:?}",
                    String::from_utf8_lossy(&banner)
                ));
            }
            let stopper = remote.stop.clone();
            let handle = RemoteHandle::new(
                PEER_KIND,
                at.to_string(),
                Arc::new(move || stopper.notify_one()),
            )
            .with_process(remote.process.clone());
            let reader: crate::transport::BoxedReader = if reader.buffer().is_empty() {
                Box::new(reader.into_inner())
            } else {
                Box::new(reader)
            };
            Ok(Connection {
                reader,
                writer,
                worker: WorkerHandle::Remote(handle),
                warnings,
            })
        }
        BootOutcome::Read(Handshake::Eof { seen }) => {
            // The relay ends with the channel: stderr is then complete and
            // the exit status known, if the server sent one.
            let status = remote.process.wait(CLOSE_WAIT).await;
            remote.process.wait_stderr_closed(CLOSE_WAIT).await;
            stop.notify_one();
            let (stdout, stderr) = failed(&seen);
            Err(ConnectError::SshRemoteExit {
                spec: spec.to_string(),
                at: Box::new(at),
                status: status.map_or_else(|| "no exit status reported".into(), |s| s.to_string()),
                stdout,
                stderr,
            })
        }
        BootOutcome::Read(
            Handshake::Unexpected { seen } | Handshake::SourceRequested { banner: seen },
        ) => {
            stop.notify_one();
            remote.process.wait_stderr_closed(CLOSE_WAIT).await;
            let (stdout, stderr) = failed(&seen);
            Err(ConnectError::SshBadHandshake {
                spec: spec.to_string(),
                at: Box::new(at),
                stdout,
                stderr,
            })
        }
        BootOutcome::TimedOut { printed } => {
            stop.notify_one();
            remote.process.wait_stderr_closed(CLOSE_WAIT).await;
            let (stdout, stderr) = failed(&printed);
            Err(ConnectError::SshStartupTimeout {
                spec: spec.to_string(),
                at: Box::new(at),
                secs: timeout.as_secs_f64(),
                stdout,
                stderr,
            })
        }
    }
}

/// The error for a key exchange that the host key check refused.
fn key_error(spec: &str, s: &SshSettings, verdict: Option<KeyVerdict>) -> Option<ConnectError> {
    let known_hosts = s.known_hosts.display().to_string();
    let at = s.at.clone();
    let spec = spec.to_string();
    Some(match verdict? {
        KeyVerdict::Known | KeyVerdict::Learned { .. } | KeyVerdict::AcceptedOnce { .. } => {
            return None;
        }
        KeyVerdict::Unknown {
            key_type,
            fingerprint,
        } => ConnectError::SshHostKeyUnknown {
            spec,
            at: Box::new(at),
            key_type,
            fingerprint,
            known_hosts,
        },
        KeyVerdict::Changed {
            key_type,
            fingerprint,
            line,
        } => ConnectError::SshHostKeyChanged {
            spec,
            at: Box::new(at),
            key_type,
            fingerprint,
            known_hosts,
            line,
        },
        KeyVerdict::Certificate => ConnectError::SshKnownHosts {
            spec,
            at: Box::new(at),
            known_hosts,
            message: "the server offered a host certificate, which is not supported yet".into(),
        },
        KeyVerdict::Failed(message) => ConnectError::SshKnownHosts {
            spec,
            at: Box::new(at),
            known_hosts,
            message,
        },
    })
}

/// Resolves the host and connects to the first of its addresses that
/// accepts, within `timeout`.
async fn open(
    spec: &str,
    at: &SshAt,
    timeout: Duration,
    opts: &LaunchOptions,
) -> Result<TcpStream, ConnectError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || ConnectError::SshConnectTimeout {
        spec: spec.to_string(),
        at: Box::new(at.clone()),
        secs: timeout.as_secs_f64(),
    };
    opts.step(&format!("resolving {}", at.host));
    let resolved = tokio::time::timeout_at(
        deadline,
        tokio::net::lookup_host((at.host.as_str(), at.port)),
    )
    .await
    .map_err(|_| timed_out())?;
    let not_found = |message: String| ConnectError::SshHostNotFound {
        spec: spec.to_string(),
        at: Box::new(at.clone()),
        message,
    };
    let addrs: Vec<SocketAddr> = resolved.map_err(|e| not_found(e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(not_found("the name has no addresses".into()));
    }
    // Refused everywhere is a refusal; any other failure is reported as such.
    let mut other: Option<std::io::Error> = None;
    for addr in addrs {
        opts.step(&format!("connecting to {addr}"));
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => other = Some(e),
        }
    }
    match other {
        Some(e) => Err(ConnectError::SshConnectFailed {
            spec: spec.to_string(),
            at: Box::new(at.clone()),
            message: e.to_string(),
        }),
        None => Err(ConnectError::SshRefused {
            spec: spec.to_string(),
            at: Box::new(at.clone()),
        }),
    }
}
