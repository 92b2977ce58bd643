//! What an `ssh=` spec and its config file make of a connection: user, host,
//! port, identity files, known_hosts and the host-key policy, the agent,
//! timeouts and keepalives; options this client does not support are named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

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
    /// Whether to ask for passphrases and passwords when there is a
    /// prompter (`BatchMode yes` says no).
    pub prompts: bool,
    /// Whether password authentication may be tried
    /// (`PasswordAuthentication`, default yes; it needs a prompter).
    pub password_auth: bool,
    /// The jump hosts to go through, first to last (`-J`, `ProxyJump`).
    pub jump: Vec<JumpHop>,
    /// Options read but not supported, as written (`-4`, `-o ForwardAgent=yes`).
    pub unsupported: Vec<String>,
    /// Notes on options taken in a narrower sense than OpenSSH's.
    pub notes: Vec<String>,
}

/// A jump host of `-J` or `ProxyJump`: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    /// The user, if given (else the hop's config, else the local user).
    pub user: Option<String>,
    /// The host (an alias of the config file, or a name or address).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl JumpHop {
    /// The hop as an `ssh=` target that carries `options` (the
    /// identity, known_hosts and other settings of the command line;
    /// those naming the destination are left out).
    pub fn target(&self, options: &[(char, String)]) -> SshTarget {
        let carried = options
            .iter()
            .filter(|(flag, argument)| match flag {
                'i' | 'F' => true,
                'o' => {
                    let key = argument
                        .split(['=', ' '])
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    !matches!(
                        key.as_str(),
                        "port" | "user" | "hostname" | "proxyjump" | "proxycommand"
                    )
                }
                _ => false,
            })
            .cloned()
            .collect();
        SshTarget {
            host: self.host.clone(),
            user: self.user.clone(),
            port: self.port,
            options: carried,
        }
    }
}

/// Reads a `-J`/`ProxyJump` value: `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`, comma-separated, first hop first; `none` is
/// no jump. IPv6 addresses go in brackets (`[::1]:2222`).
pub fn parse_jump(text: &str) -> Result<Vec<JumpHop>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|hop| {
            let hop = hop.trim();
            let rest = hop.strip_prefix("ssh://").unwrap_or(hop);
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((user, host)) if !user.is_empty() => (Some(user.to_owned()), host),
                Some(_) => return Err(format!("empty user name in jump host {hop:?}")),
                None => (None, rest),
            };
            let bad_port = |p: &str| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("bad port {p:?} in jump host {hop:?}"))
            };
            let (host, port) = match hostport.strip_prefix('[').and_then(|h| h.split_once(']')) {
                Some((host, tail)) => match tail.strip_prefix(':') {
                    Some(port) => (host, Some(bad_port(port)?)),
                    None if tail.is_empty() => (host, None),
                    None => return Err(format!("bad jump host {hop:?}")),
                },
                None => match hostport.split_once(':') {
                    Some((host, port)) => (host, Some(bad_port(port)?)),
                    None => (hostport, None),
                },
            };
            if host.is_empty() {
                return Err(format!("no host name in jump host {hop:?}"));
            }
            Ok(JumpHop {
                user,
                host: host.to_owned(),
                port,
            })
        })
        .collect()
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

pub(super) fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
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
    settings_for(parse_ssh_value(value)?, config, home, local_user)
}

/// [`settings`] for a target already read (a jump host's, from
/// [`JumpHop::target`]).
pub fn settings_for(
    target: SshTarget,
    config: &ConfigMatch,
    home: Option<&Path>,
    local_user: &str,
) -> Result<SshSettings, String> {
    let expand = |path: &str| expand_tilde(path, home);
    let mut identity_files = Vec::new();
    let mut known_hosts: Option<PathBuf> = None;
    let mut policy: Option<HostKeyPolicy> = None;
    let mut connect_timeout: Option<Duration> = None;
    let mut agent: Option<AgentChoice> = None;
    let mut alive_interval: Option<Option<Duration>> = None;
    let mut alive_count: Option<usize> = None;
    let mut host_name: Option<String> = None;
    let mut batch_mode: Option<bool> = None;
    let mut password_auth: Option<bool> = None;
    let mut jump: Option<Vec<JumpHop>> = None;
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
            'J' => {
                if jump.is_none() {
                    jump = Some(parse_jump(argument)?);
                }
            }
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
            "batchmode" => {
                batch_mode.get_or_insert(yes_no(&key, &val)?);
            }
            "passwordauthentication" => {
                password_auth.get_or_insert(yes_no(&key, &val)?);
            }
            "proxyjump" => {
                if jump.is_none() {
                    jump = Some(parse_jump(&val)?);
                }
            }
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
        prompts: !batch_mode.unwrap_or(false),
        password_auth: password_auth.unwrap_or(true),
        jump: jump.unwrap_or_default(),
        unsupported,
        notes,
    })
}

/// A yes/no option's value.
fn yes_no(key: &str, val: &str) -> Result<bool, String> {
    match val.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key}={val}: expected yes or no")),
    }
}

/// The local user's name: `USER`, `LOGNAME`, else the password database.
pub(super) fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.is_empty()
        {
            return name;
        }
    }
    passwd_name().unwrap_or_else(|| "root".to_owned())
}

pub(super) fn passwd_name() -> Option<String> {
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
