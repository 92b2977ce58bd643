//! ssh gateways (`ssh=[options] [user@]host`) with an in-process ssh client
//! (russh): connect, check the server's host key against a known_hosts
//! file, authenticate with the keys of an ssh-agent (`SSH_AUTH_SOCK`, or
//! `-o IdentityAgent=`), then with identity files (`-i`, else
//! `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`), run `<python> -c "<boot line>"`
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::bootstrap::{BOOT_LINE, Handshake};
use super::handshake::{BootOutcome, BootPlan, boot_stream};
use super::popen::{DEFAULT_STARTUP_TIMEOUT, LaunchOptions};
use super::process::RemoteProcess;
use super::{ConnectError, Connection, RemoteHandle, WorkerHandle};
use crate::spec::{ConfigMatch, XSpec, parse_ssh_value, ssh_config_for};

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

/// What to do with a host key the known_hosts file does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse it (`StrictHostKeyChecking=yes` or `ask`, the default: there
    /// is nobody to ask).
    Strict,
    /// Accept it and record it (`accept-new`; `no` too, except that a
    /// changed key is still refused).
    AcceptNew,
}

/// Which ssh-agent to ask for keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChoice {
    /// The one `SSH_AUTH_SOCK` names, if set (the default).
    Env,
    /// None (`-o IdentityAgent=none`).
    Off,
    /// The agent listening on this socket (`-o IdentityAgent=PATH`).
    Socket(PathBuf),
}

/// What this client makes of an `ssh=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSettings {
    /// User, host and port.
    pub at: SshAt,
    /// Identity files given (`-i`, `-o IdentityFile=`), in order; when
    /// empty, the default ones that exist are tried.
    pub identity_files: Vec<PathBuf>,
    /// The known_hosts file.
    pub known_hosts: PathBuf,
    /// The ssh-agent whose keys are tried before the identity files.
    pub agent: AgentChoice,
    /// The unknown-host policy.
    pub policy: HostKeyPolicy,
    /// `-o ConnectTimeout=`: bounds the TCP connection (the startup timeout
    /// bounds the whole start in any case).
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval` (`None` for 0: no keepalives).
    pub alive_interval: Option<Duration>,
    /// `ServerAliveCountMax`.
    pub alive_count: usize,
    /// Options read but not supported, as written (`-4`, `-o ForwardAgent=yes`).
    pub unsupported: Vec<String>,
    /// Notes on options taken in a narrower sense than OpenSSH's.
    pub notes: Vec<String>,
}

/// Which config file to read for an `ssh=` value: `-F FILE` in the value,
/// else the spec's `ssh_config=`, else `~/.ssh/config` (when it exists).
/// `None` for `-F none`. The flag says whether the file was named (a named
/// file that cannot be read is an error; a missing `~/.ssh/config` is not).
pub fn config_file(
    value: &str,
    spec_config: Option<&str>,
    home: Option<&Path>,
) -> Option<(PathBuf, bool)> {
    let named = parse_ssh_value(value)
        .ok()
        .and_then(|t| t.options.into_iter().find(|(f, _)| *f == 'F'))
        .map(|(_, file)| file)
        .or_else(|| spec_config.map(str::to_owned));
    match named.as_deref() {
        Some("none") => None,
        Some(file) => Some((expand_tilde(file, home), true)),
        None => home.map(|h| (h.join(".ssh/config"), false)),
    }
}

fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Reads an `ssh=` value, then the directives of a config file that apply
/// to its host (`config`, from [`ssh_config_for`]): as in OpenSSH the
/// command line's options come first and the first value of each option
/// counts, except identity files, which add up. `home` is the local home
/// directory (for `~` and the default files), `local_user` the user name
/// used when none is given. Fails with a message naming the option that
/// cannot be used.
pub fn settings(
    value: &str,
    config: &ConfigMatch,
    home: Option<&Path>,
    local_user: &str,
) -> Result<SshSettings, String> {
    let target = parse_ssh_value(value)?;
    let expand = |path: &str| expand_tilde(path, home);
    let mut identity_files = Vec::new();
    let mut known_hosts: Option<PathBuf> = None;
    let mut policy: Option<HostKeyPolicy> = None;
    let mut connect_timeout: Option<Duration> = None;
    let mut agent: Option<AgentChoice> = None;
    let mut alive_interval: Option<Option<Duration>> = None;
    let mut alive_count: Option<usize> = None;
    let mut host_name: Option<String> = None;
    let mut user = target.user.clone();
    let mut port = target.port;
    let mut unsupported = Vec::new();
    let mut notes = Vec::new();
    // Every `-o Key=Value`, then every config directive, as (key, value,
    // how to name it in a warning).
    let mut keyed: Vec<(String, String, String)> = Vec::new();
    for (flag, argument) in &target.options {
        match flag {
            // Read by parse_ssh_value; -F by config_file; -T (no terminal)
            // is what we do anyway.
            'p' | 'l' | 'F' | 'T' => {}
            'i' => identity_files.push(expand(argument)),
            'o' => {
                let (key, val) = argument
                    .split_once(['=', ' '])
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .unwrap_or((argument.as_str(), ""));
                keyed.push((key.to_owned(), val.to_owned(), format!("-o {argument}")));
            }
            _ if argument.is_empty() => unsupported.push(format!("-{flag}")),
            _ => unsupported.push(format!("-{flag} {argument}")),
        }
    }
    for (key, val) in &config.directives {
        keyed.push((
            key.clone(),
            val.clone(),
            format!("{key} {val} (config file)"),
        ));
    }
    for skipped in &config.skipped {
        unsupported.push(format!("config file {skipped}"));
    }
    for (key, val, written) in keyed {
        match key.to_ascii_lowercase().as_str() {
            // The command line's -p, -l and user@ come first.
            "port" => {
                if port.is_none() {
                    port = Some(val.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                        format!("bad ssh port {val:?}: expected a number from 1 to 65535")
                    })?);
                }
            }
            "user" => {
                user.get_or_insert(val);
            }
            "hostname" => {
                host_name.get_or_insert(val);
            }
            // We never prompt.
            "batchmode" => {}
            "identityfile" => identity_files.push(expand(&val)),
            // Only the first file of a list is read.
            "userknownhostsfile" => {
                if known_hosts.is_none() {
                    let first = val.split_whitespace().next().unwrap_or("");
                    if first.is_empty() {
                        return Err("UserKnownHostsFile needs a file name".into());
                    }
                    known_hosts = Some(expand(first));
                }
            }
            "stricthostkeychecking" => {
                let p = match val.to_ascii_lowercase().as_str() {
                    "yes" | "ask" => HostKeyPolicy::Strict,
                    "accept-new" => HostKeyPolicy::AcceptNew,
                    "no" | "off" => {
                        if policy.is_none() {
                            notes.push(
                                "StrictHostKeyChecking=no is taken as accept-new: a changed \
                                 host key is still refused"
                                    .to_owned(),
                            );
                        }
                        HostKeyPolicy::AcceptNew
                    }
                    other => {
                        return Err(format!(
                            "StrictHostKeyChecking={other}: expected yes, ask, accept-new or no"
                        ));
                    }
                };
                policy.get_or_insert(p);
            }
            "identityagent" => {
                let choice = match val.as_str() {
                    "" => return Err("IdentityAgent needs a socket path or none".into()),
                    "none" => AgentChoice::Off,
                    "SSH_AUTH_SOCK" | "$SSH_AUTH_SOCK" => AgentChoice::Env,
                    path => AgentChoice::Socket(expand(path)),
                };
                agent.get_or_insert(choice);
            }
            "serveraliveinterval" => {
                let secs = val.parse::<u64>().map_err(|_| {
                    format!("ServerAliveInterval={val}: expected a whole number of seconds")
                })?;
                alive_interval.get_or_insert((secs > 0).then(|| Duration::from_secs(secs)));
            }
            "serveralivecountmax" => {
                let n = val
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("ServerAliveCountMax={val}: expected a whole number above 0")
                    })?;
                alive_count.get_or_insert(n);
            }
            "connecttimeout" => {
                let secs = val.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("ConnectTimeout={val}: expected a whole number of seconds above 0")
                })?;
                connect_timeout.get_or_insert(Duration::from_secs(secs));
            }
            _ => unsupported.push(written),
        }
    }
    let known_hosts = match known_hosts {
        Some(path) => path,
        None => home
            .map(|h| h.join(".ssh/known_hosts"))
            .ok_or("no home directory for ~/.ssh/known_hosts: give -o UserKnownHostsFile=FILE")?,
    };
    Ok(SshSettings {
        at: SshAt {
            user: user.unwrap_or_else(|| local_user.to_owned()),
            host: host_name.unwrap_or(target.host),
            port: port.unwrap_or(DEFAULT_PORT),
        },
        identity_files,
        known_hosts,
        agent: agent.unwrap_or(AgentChoice::Env),
        policy: policy.unwrap_or(HostKeyPolicy::Strict),
        connect_timeout,
        alive_interval: alive_interval.unwrap_or(Some(DEFAULT_ALIVE_INTERVAL)),
        alive_count: alive_count.unwrap_or(DEFAULT_ALIVE_COUNT),
        unsupported,
        notes,
    })
}

/// The local user's name: `USER`, `LOGNAME`, else the password database.
fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.is_empty()
        {
            return name;
        }
    }
    passwd_name().unwrap_or_else(|| "root".to_owned())
}

fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value to be filled in.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (of the length given)
    // and sets `result` to `&pwd` on success, else to null.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// What the host key check found, for the error after a refused key exchange.
#[derive(Debug, Clone)]
enum KeyVerdict {
    Known,
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
struct Client {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    policy: HostKeyPolicy,
    verdict: Arc<Mutex<Option<KeyVerdict>>>,
}

impl Client {
    /// Looks `key` up in the known_hosts file (off the runtime's threads)
    /// and records it there when the policy allows.
    async fn check(&self, key: PublicKey) -> KeyVerdict {
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
fn physical_line(path: &Path, entry: usize) -> usize {
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
        let accepted = matches!(verdict, KeyVerdict::Known | KeyVerdict::Learned { .. });
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        Ok(accepted)
    }
}

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
    let config = match config_file(value, spec.ssh_config(), home.as_deref()) {
        None => ConfigMatch::default(),
        Some((file, named)) => match tokio::fs::read_to_string(&file).await {
            Ok(text) => {
                let host = parse_ssh_value(value).map_err(bad)?.host;
                ssh_config_for(&text, &host)
            }
            Err(e) if named || e.kind() != ErrorKind::NotFound => {
                return Err(bad(format!(
                    "cannot read the ssh config file {}: {e}",
                    file.display()
                )));
            }
            Err(_) => ConfigMatch::default(),
        },
    };
    let s = settings(value, &config, home.as_deref(), &local_user()).map_err(bad)?;
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

    let connect_timeout = s.connect_timeout.map_or(timeout, |t| t.min(timeout));
    let tcp = open(spec, &at, connect_timeout).await?;
    let verdict = Arc::new(Mutex::new(None));
    let handler = Client {
        host: at.host.clone(),
        port: at.port,
        known_hosts: s.known_hosts.clone(),
        policy: s.policy,
        verdict: verdict.clone(),
    };
    let config = Arc::new(client::Config {
        nodelay: true,
        keepalive_interval: s.alive_interval,
        keepalive_max: s.alive_count,
        ..client::Config::default()
    });
    let started = tokio::time::timeout_at(deadline, client::connect_stream(config, tcp, handler));
    let verdict_now = || verdict.lock().ok().and_then(|v| v.clone());
    let mut session = match started.await {
        Err(_) => {
            return Err(ConnectError::SshConnectTimeout {
                spec: spec.to_string(),
                at: Box::new(at.clone()),
                secs: timeout.as_secs_f64(),
            });
        }
        Ok(Err(e)) => {
            return Err(key_error(spec, &s, verdict_now())
                .unwrap_or_else(|| session_failed(format!("the key exchange failed: {e}"))));
        }
        Ok(Ok(session)) => session,
    };
    if let Some(KeyVerdict::Learned {
        key_type,
        fingerprint,
    }) = verdict_now()
    {
        warnings.push(format!(
            "{spec}: permanently added the {key_type} host key of {at} ({fingerprint}) to {}",
            s.known_hosts.display()
        ));
    }
    match tokio::time::timeout_at(deadline, authenticate(&mut session, &s, home.as_deref())).await {
        Err(_) => {
            return Err(ConnectError::SshStartupTimeout {
                spec: spec.to_string(),
                at: Box::new(at.clone()),
                secs: timeout.as_secs_f64(),
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        Ok(Err(AuthFailure::Refused { tried, methods })) => {
            return Err(ConnectError::SshAuthRefused {
                spec: spec.to_string(),
                at: Box::new(at.clone()),
                tried,
                server_methods: methods,
            });
        }
        Ok(Err(AuthFailure::Session(message))) => return Err(session_failed(message)),
        Ok(Ok(())) => {}
    }

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

    let remote = Relay::start(channel, session, opts.stderr_sink.clone());
    let mut reader = BufReader::with_capacity(8 * 1024, remote.stdout);
    let mut writer = remote.stdin;
    let execmodel = spec.execmodel().map_or("thread", |m| m.as_str());
    let source = opts.boot.source(id, execmodel, opts.debug);
    let plan = BootPlan {
        source: &source,
        on_request: None,
        marker: opts.boot.has_marker(),
        timeout: deadline.saturating_duration_since(Instant::now()),
    };
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
            let reader: super::BoxedReader = if reader.buffer().is_empty() {
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
fn key_error(spec: &XSpec, s: &SshSettings, verdict: Option<KeyVerdict>) -> Option<ConnectError> {
    let known_hosts = s.known_hosts.display().to_string();
    let at = s.at.clone();
    let spec = spec.to_string();
    Some(match verdict? {
        KeyVerdict::Known | KeyVerdict::Learned { .. } => return None,
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
async fn open(spec: &XSpec, at: &SshAt, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || ConnectError::SshConnectTimeout {
        spec: spec.to_string(),
        at: Box::new(at.clone()),
        secs: timeout.as_secs_f64(),
    };
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

/// Why authentication did not succeed.
enum AuthFailure {
    /// Every method was refused: what was tried, what the server accepts.
    Refused { tried: Vec<String>, methods: String },
    /// The session failed meanwhile.
    Session(String),
}

/// The names of the methods a server accepts, e.g. `publickey,password`.
fn method_names(methods: &russh::MethodSet) -> String {
    methods
        .iter()
        .map(<&str>::from)
        .collect::<Vec<_>>()
        .join(",")
}

/// Tries the agent's keys (when there is an agent), then each identity
/// file (the given ones, else the default ones that exist) until one is
/// accepted.
async fn authenticate(
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
async fn try_agent(
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

/// The exec channel seen as a process: stdin, stdout, what is known of the
/// remote process (stderr lines, which also go to the sink, and the exit
/// status), and a way to stop it.
struct Relay {
    stdin: super::BoxedWriter,
    stdout: DuplexStream,
    process: Arc<RemoteProcess>,
    stop: Arc<Notify>,
}

impl Relay {
    /// Starts the task that owns `session` and moves the channel's output
    /// into the streams; it ends when the channel closes or on a stop
    /// (which sends SIGKILL to the remote command, closes the channel and
    /// disconnects).
    fn start(
        channel: russh::Channel<client::Msg>,
        session: Handle<Client>,
        sink: Option<super::StderrSink>,
    ) -> Relay {
        let (mut read_half, write_half) = channel.split();
        let stdin_dropped = Arc::new(Notify::new());
        let stdin: super::BoxedWriter = Box::new(ChannelStdin {
            inner: Box::pin(write_half.make_writer()),
            dropped: stdin_dropped.clone(),
        });
        let (stdout, mut stdout_in) = tokio::io::duplex(PIPE_BUFFER);
        let process = RemoteProcess::new(sink);
        let stop = Arc::new(Notify::new());
        let (reports, stop_in) = (process.clone(), stop.clone());
        tokio::spawn(async move {
            let relay = async {
                let mut stderr = StderrLines::default();
                while let Some(msg) = read_half.wait().await {
                    match msg {
                        // A gateway that went away stops reading; the rest
                        // is drained, not kept.
                        ChannelMsg::Data { data } => {
                            let _ = stdout_in.write_all(&data).await;
                        }
                        ChannelMsg::ExtendedData { data, ext: 1 } => {
                            stderr.push(&data, &reports);
                        }
                        ChannelMsg::ExitStatus { exit_status } => {
                            reports.exited(i64::from(exit_status));
                        }
                        ChannelMsg::ExitSignal {
                            signal_name,
                            error_message,
                            ..
                        } => {
                            match signal_number(&signal_name) {
                                Some(signo) => reports.exited(-i64::from(signo)),
                                None => reports.set_note(format!(
                                    "killed by signal {}",
                                    signal_text(&signal_name)
                                )),
                            }
                            if !error_message.is_empty() {
                                reports.set_note(error_message);
                            }
                        }
                        _ => {}
                    }
                }
                stderr.finish(&reports);
            };
            tokio::pin!(relay);
            let mut eof_sent = false;
            let stopped = loop {
                tokio::select! {
                    _ = &mut relay => break false,
                    _ = stop_in.notified() => break true,
                    // Stdin dropped without a shutdown: the worker sees its
                    // end all the same, as a popen worker sees its pipe close.
                    _ = stdin_dropped.notified(), if !eof_sent => {
                        eof_sent = true;
                        let _ = write_half.eof().await;
                    }
                }
            };
            if stopped {
                // The server ends the channel once the command is dead, with
                // its exit signal; closing first would lose that (and a
                // server that ignores signals gets the close after a while).
                let _ = write_half.signal(Sig::KILL).await;
                if tokio::time::timeout(SIGNAL_WAIT, &mut relay).await.is_err() {
                    let _ = write_half.eof().await;
                    let _ = write_half.close().await;
                    let _ = tokio::time::timeout(CLOSE_WAIT, &mut relay).await;
                }
            }
            // Whatever was not reported by now never will be.
            if reports.exit_info().is_none() {
                reports.set_note("the ssh channel closed without an exit status".into());
                reports.ended_without_status();
            }
            reports.stderr_closed();
            let bye = session.disconnect(Disconnect::ByApplication, "", "en");
            let _ = tokio::time::timeout(CLOSE_WAIT, bye).await;
        });
        Relay {
            stdin,
            stdout,
            process,
            stop,
        }
    }
}

/// The channel's stdin for the gateway's writer task. A shutdown sends EOF
/// (russh's writer does that); so does a drop without one (through the
/// relay), which russh's writer does not do by itself.
struct ChannelStdin<W> {
    inner: std::pin::Pin<Box<W>>,
    dropped: Arc<Notify>,
}

impl<W> Drop for ChannelStdin<W> {
    fn drop(&mut self) {
        self.dropped.notify_one();
    }
}

impl<W: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ChannelStdin<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// Splits the channel's stderr bytes into lines for a [`RemoteProcess`].
#[derive(Default)]
struct StderrLines {
    partial: Vec<u8>,
}

impl StderrLines {
    /// Passes on every complete line of `data` (and a piece of an overlong one).
    fn push(&mut self, data: &[u8], to: &RemoteProcess) {
        self.partial.extend_from_slice(data);
        while let Some(at) = self.partial.iter().position(|b| *b == b'\n') {
            to.stderr_line(&self.partial[..at]);
            self.partial.drain(..=at);
        }
        while self.partial.len() >= STDERR_LINE_LIMIT {
            to.stderr_line(&self.partial[..STDERR_LINE_LIMIT]);
            self.partial.drain(..STDERR_LINE_LIMIT);
        }
    }

    /// Passes on a last line that had no newline.
    fn finish(&mut self, to: &RemoteProcess) {
        if !self.partial.is_empty() {
            to.stderr_line(&self.partial);
            self.partial.clear();
        }
    }
}

/// The number of a signal named in an exit-signal message, when it has one
/// here.
fn signal_number(sig: &Sig) -> Option<i32> {
    Some(match sig {
        Sig::ABRT => libc::SIGABRT,
        Sig::ALRM => libc::SIGALRM,
        Sig::FPE => libc::SIGFPE,
        Sig::HUP => libc::SIGHUP,
        Sig::ILL => libc::SIGILL,
        Sig::INT => libc::SIGINT,
        Sig::KILL => libc::SIGKILL,
        Sig::PIPE => libc::SIGPIPE,
        Sig::QUIT => libc::SIGQUIT,
        Sig::SEGV => libc::SIGSEGV,
        Sig::TERM => libc::SIGTERM,
        Sig::USR1 => libc::SIGUSR1,
        Sig::Custom(_) => return None,
    })
}

/// `SIGKILL` for [`Sig::KILL`], the name as sent for others.
fn signal_text(sig: &Sig) -> String {
    let name = match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    };
    format!("SIG{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_openssh_options() {
        let home = Path::new("/home/ann");
        let none = ConfigMatch::default();
        let s = settings(
            "-p 2222 -i ~/k1 -o IdentityFile=/k2 -o UserKnownHostsFile=~/kh \
             -o StrictHostKeyChecking=accept-new -o ConnectTimeout=7 bob@h",
            &none,
            Some(home),
            "ann",
        )
        .unwrap();
        assert_eq!(
            s.at,
            SshAt {
                user: "bob".into(),
                host: "h".into(),
                port: 2222
            }
        );
        assert_eq!(s.at.to_string(), "bob@h:2222");
        assert_eq!(
            s.identity_files,
            vec![PathBuf::from("/home/ann/k1"), PathBuf::from("/k2")]
        );
        assert_eq!(s.known_hosts, PathBuf::from("/home/ann/kh"));
        assert_eq!(s.policy, HostKeyPolicy::AcceptNew);
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(s.agent, AgentChoice::Env);
        assert_eq!(s.alive_interval, Some(DEFAULT_ALIVE_INTERVAL));
        let alive = |v: &str| {
            let s = settings(v, &none, Some(home), "ann").unwrap();
            (s.alive_interval, s.alive_count)
        };
        assert_eq!(
            alive("-o ServerAliveInterval=5 -o ServerAliveCountMax=2 h"),
            (Some(Duration::from_secs(5)), 2)
        );
        assert_eq!(alive("-o ServerAliveInterval=0 h").0, None);
        assert!(s.unsupported.is_empty());
        let agent = |v: &str| settings(v, &none, Some(home), "ann").unwrap().agent;
        assert_eq!(agent("-o IdentityAgent=none h"), AgentChoice::Off);
        assert_eq!(
            agent("-o IdentityAgent=~/a.sock -o IdentityAgent=none h"),
            AgentChoice::Socket(PathBuf::from("/home/ann/a.sock"))
        );
        assert_eq!(agent("-o IdentityAgent=SSH_AUTH_SOCK h"), AgentChoice::Env);
    }

    #[test]
    fn defaults_and_unsupported_options() {
        let s = settings(
            "-4 -o ForwardAgent=yes -T h",
            &ConfigMatch::default(),
            Some(Path::new("/r")),
            "root",
        )
        .unwrap();
        assert_eq!(s.at.to_string(), "root@h:22");
        assert_eq!(s.known_hosts, PathBuf::from("/r/.ssh/known_hosts"));
        assert_eq!(s.policy, HostKeyPolicy::Strict);
        assert_eq!(s.unsupported, vec!["-4", "-o ForwardAgent=yes"]);
        let s = settings(
            "-o StrictHostKeyChecking=no ::1",
            &ConfigMatch::default(),
            Some(Path::new("/r")),
            "u",
        )
        .unwrap();
        assert_eq!(s.policy, HostKeyPolicy::AcceptNew);
        assert_eq!(s.notes.len(), 1);
        assert_eq!(s.at.to_string(), "u@[::1]:22");
    }

    #[test]
    fn a_config_file_fills_in_what_the_command_line_leaves_open() {
        let config = ssh_config_for(
            "Host box\n HostName 10.1.2.3\n User alice\n Port 2200\n IdentityFile ~/box\n \
             UserKnownHostsFile ~/kh\n ConnectTimeout 4\n ProxyJump gw\nMatch all\n",
            "box",
        );
        let home = Path::new("/h");
        let s = settings("-i /cli -o ConnectTimeout=2 box", &config, Some(home), "me").unwrap();
        assert_eq!(s.at.to_string(), "alice@10.1.2.3:2200");
        assert_eq!(
            s.identity_files,
            vec![PathBuf::from("/cli"), PathBuf::from("/h/box")]
        );
        assert_eq!(s.known_hosts, PathBuf::from("/h/kh"));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            s.unsupported,
            vec![
                "config file line 9: Match all".to_owned(),
                "ProxyJump gw (config file)".to_owned()
            ]
        );
        // The command line wins.
        let s = settings("-p 22 -l bob box", &config, Some(home), "me").unwrap();
        assert_eq!(s.at.to_string(), "bob@10.1.2.3:22");
    }

    #[test]
    fn which_config_file() {
        let home = Some(Path::new("/h"));
        assert_eq!(
            config_file("h", None, home),
            Some((PathBuf::from("/h/.ssh/config"), false))
        );
        assert_eq!(
            config_file("h", Some("~/c"), home),
            Some((PathBuf::from("/h/c"), true))
        );
        assert_eq!(
            config_file("-F /f h", Some("/c"), home),
            Some((PathBuf::from("/f"), true))
        );
        assert_eq!(config_file("-F none h", None, home), None);
        assert_eq!(config_file("h", None, None), None);
    }

    #[test]
    fn stderr_bytes_become_lines() {
        let process = RemoteProcess::new(None);
        let mut lines = StderrLines::default();
        lines.push(b"one\ntw", &process);
        lines.push(b"o\r\nthree", &process);
        lines.push(&vec![b'x'; STDERR_LINE_LIMIT + 1], &process);
        lines.finish(&process);
        let tail = process.stderr_tail(10);
        assert_eq!(&tail[..2], ["one", "two"]);
        assert_eq!(tail[2].len(), STDERR_LINE_LIMIT);
        assert!(tail[2].starts_with("threex"));
        assert_eq!(tail[3], "xxxxxx");
        assert_eq!(tail.len(), 4);
    }

    #[test]
    fn changed_key_lines_count_comments_too() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kh");
        std::fs::write(&file, "# one\na k1\n# three\n\nb k2\n").unwrap();
        // russh's entries: "a k1" is 1, the blank line 2, "b k2" 3.
        assert_eq!(physical_line(&file, 1), 2);
        assert_eq!(physical_line(&file, 3), 5);
        assert_eq!(physical_line(&dir.path().join("none"), 4), 4);
    }

    #[test]
    fn bad_option_values_are_named() {
        let none = ConfigMatch::default();
        let e = settings("-o ConnectTimeout=soon h", &none, None, "u").unwrap_err();
        assert!(e.contains("ConnectTimeout=soon"), "{e}");
        let e = settings("-o StrictHostKeyChecking=maybe h", &none, None, "u").unwrap_err();
        assert!(e.contains("StrictHostKeyChecking=maybe"), "{e}");
        let e = settings("h", &none, None, "u").unwrap_err();
        assert!(e.contains("UserKnownHostsFile"), "{e}");
    }
}
