//! execnet spec strings: `key=value//flag//env:NAME=value`.
//!
//! A spec string such as `popen//python=python3//chdir=build//env:A=1//id=gw7`
//! says how to start one gateway and how to set it up. [`XSpec::parse`] follows
//! execnet's `XSpec` rules for splitting the string and then validates it for
//! execdeck, which refuses at parse time what execnet would only fail on later
//! (when the gateway is made).
//!
//! # Parsing rules (as execnet)
//!
//! - The string is split on `//`, left to right (so `a///b` gives `a` and `/b`).
//! - Each part is split at its **first** `=` into key and value; the value may hold
//!   more `=`. A part without `=` is a flag (execnet sets it to `True`).
//! - Keys and values are kept verbatim: no whitespace is trimmed and keys are case
//!   sensitive (`popen// id=x` has the unknown key `" id"`).
//! - `env:NAME=value` parts go into the environment list. The same `NAME` twice is
//!   allowed: the last value wins and the name keeps its first position, as in the
//!   Python dict execnet fills.
//! - The same key twice is an error, and so is a key starting with `_` and the bare
//!   key `env`.
//! - Unknown keys are kept and can be read with [`XSpec::get`].
//! - Specs compare and hash by their string, and display as that string.
//!
//! # Stricter than execnet
//!
//! execnet's `XSpec` accepts nearly any string; these are refused here with a
//! [`SpecError`] (most of them execnet would only fail on in `makegateway`):
//! an empty spec or empty part (execnet raises `IndexError`); an empty key;
//! no gateway type or two of them (execnet silently prefers `popen`); a known
//! key that needs a value given as a flag or with an empty value; `popen` or
//! `dont_write_bytecode` given a value; a `nice` that is not an integer; a
//! `socket` that is not `host:port`; an `execmodel` other than `thread`,
//! `main_thread_only`, `gevent` or `eventlet`; an `ssh_client` other than
//! `russh` or `openssh`; `env:NAME` without a value or
//! with an empty name; and the combinations `via`+`socket`, `python`+`socket`,
//! `installvia` without `socket`, `socket=host:port`+`installvia`,
//! `ssh_config` without `ssh` or `vagrant_ssh`, and `ssh_client` without
//! `ssh`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

mod error;
mod ssh;
mod ssh_config;

pub use error::{SpecError, SpecErrorKind};
pub use ssh::{SshTarget, parse_ssh_value};
pub use ssh_config::{ConfigMatch, ssh_config_for};

/// How a gateway's worker process is reached or started.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GatewayKind {
    /// `popen`: a local Python subprocess.
    Popen,
    /// `ssh=<options and host>`: the whole option string as written, e.g.
    /// `-p 5000 host` (execnet splits it on whitespace to build the ssh command).
    Ssh(String),
    /// `socket=host:port`: connect to a running socket server. `None` for
    /// `socket//installvia=<gateway id>`, where a server is first installed
    /// through that gateway and its address is learnt from it.
    Socket(Option<String>),
    /// `cmd=<command line>` (execdeck only): start the worker with an arbitrary
    /// command line.
    Cmd(String),
    /// `vagrant_ssh=<machine>`: `vagrant ssh <machine> -- -C <python> -c …`,
    /// as execnet runs it.
    VagrantSsh(String),
}

impl GatewayKind {
    /// The spec key that selects this kind: `popen`, `ssh`, `socket`, `cmd`
    /// or `vagrant_ssh`.
    pub fn key(&self) -> &'static str {
        match self {
            GatewayKind::Popen => "popen",
            GatewayKind::Ssh(_) => "ssh",
            GatewayKind::Socket(_) => "socket",
            GatewayKind::Cmd(_) => "cmd",
            GatewayKind::VagrantSsh(_) => "vagrant_ssh",
        }
    }
}

/// Which ssh client an ssh gateway uses (`ssh_client=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SshClient {
    /// execdeck's built-in client (russh); the default.
    #[default]
    Russh,
    /// The system's `ssh` binary, run as a local child process as execnet
    /// does (Kerberos, ControlMaster, hardware tokens, the whole ssh config).
    OpenSsh,
}

impl SshClient {
    /// The client a `ssh_client=` value names (`russh` or `openssh`).
    pub fn from_value(value: &str) -> Option<SshClient> {
        match value {
            "russh" => Some(SshClient::Russh),
            "openssh" => Some(SshClient::OpenSsh),
            _ => None,
        }
    }
}

/// The execution model the worker runs remote code with (`execmodel=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecModel {
    /// `thread`: each remote_exec runs in its own thread.
    Thread,
    /// `main_thread_only`: remote code runs only in the worker's main thread.
    MainThreadOnly,
    /// `gevent`: the worker's I/O and remote code run in gevent greenlets
    /// (gevent must be importable by the remote Python).
    Gevent,
    /// `eventlet`: the worker's I/O and remote code run in eventlet
    /// greenthreads (eventlet must be importable by the remote Python).
    Eventlet,
}

impl ExecModel {
    /// The name execnet uses for this model (`thread`, `main_thread_only`,
    /// `gevent`, `eventlet`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecModel::Thread => "thread",
            ExecModel::MainThreadOnly => "main_thread_only",
            ExecModel::Gevent => "gevent",
            ExecModel::Eventlet => "eventlet",
        }
    }
}

impl fmt::Display for ExecModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed execnet spec string.
///
/// Equality, hashing and [`Display`](fmt::Display) all use the original string,
/// as execnet does; `XSpec` also borrows as `str`, so a `HashMap<XSpec, _>` can
/// be looked up by string.
#[derive(Clone)]
pub struct XSpec {
    spec: String,
    /// Non-env keys in written order; `None` value for a bare flag.
    entries: Vec<(String, Option<String>)>,
    /// `env:NAME=value` settings, first position of each name, last value.
    env: Vec<(String, String)>,
    kind: GatewayKind,
    nice: Option<i32>,
    execmodel: Option<ExecModel>,
}

/// Keys that must be given as `key=value` with a non-empty value, with a hint
/// for the message.
const VALUE_KEYS: &[(&str, &str)] = &[
    ("id", "<gateway id>"),
    ("python", "<interpreter command>"),
    ("chdir", "<directory>"),
    ("nice", "<integer>"),
    ("execmodel", "thread|main_thread_only|gevent|eventlet"),
    ("via", "<gateway id>"),
    ("installvia", "<gateway id>"),
    ("ssh_config", "<path>"),
    ("ssh_client", "russh|openssh"),
    ("token_file", "<path of the socket server's shared secret>"),
    ("ssh", "<ssh options and host>"),
    ("vagrant_ssh", "<vagrant machine name>"),
    ("cmd", "<command line>"),
    ("socket", "host:port, or socket//installvia=<gateway id>"),
];

/// Keys that are bare flags.
const FLAG_KEYS: &[&str] = &["popen", "dont_write_bytecode"];

impl XSpec {
    /// Parse a spec string (see the module documentation for the rules).
    pub fn parse(spec: &str) -> Result<XSpec, SpecError> {
        let err = |kind| SpecError::new(spec, kind);
        if spec.is_empty() {
            return Err(err(SpecErrorKind::Empty));
        }
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        for (i, part) in spec.split("//").enumerate() {
            if part.is_empty() {
                return Err(err(SpecErrorKind::EmptyPart { position: i + 1 }));
            }
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            if key.is_empty() {
                return Err(err(SpecErrorKind::EmptyKey {
                    part: part.to_owned(),
                }));
            }
            if let Some(name) = key.strip_prefix("env:") {
                if name.is_empty() {
                    return Err(err(SpecErrorKind::EmptyEnvName {
                        key: key.to_owned(),
                    }));
                }
                let Some(value) = value else {
                    return Err(err(SpecErrorKind::EnvNeedsValue {
                        key: key.to_owned(),
                    }));
                };
                match env.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.to_owned(),
                    None => env.push((name.to_owned(), value.to_owned())),
                }
                continue;
            }
            if key.starts_with('_') {
                return Err(err(SpecErrorKind::Reserved {
                    key: key.to_owned(),
                }));
            }
            if key == "env" {
                return Err(err(SpecErrorKind::EnvKey));
            }
            if entries.iter().any(|(k, _)| k == key) {
                return Err(err(SpecErrorKind::Duplicate {
                    key: key.to_owned(),
                }));
            }
            entries.push((key.to_owned(), value.map(str::to_owned)));
        }

        let lookup = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_deref())
        };
        let has_installvia = lookup("installvia").is_some();

        // Per-key checks, in written order so the first problem is reported.
        let mut nice = None;
        let mut execmodel = None;
        let mut types: Vec<GatewayKind> = Vec::new();
        for (key, value) in &entries {
            let key_s = key.as_str();
            if FLAG_KEYS.contains(&key_s) {
                if let Some(v) = value {
                    return Err(err(SpecErrorKind::FlagWithValue {
                        key: key.clone(),
                        value: v.clone(),
                    }));
                }
                if key_s == "popen" {
                    types.push(GatewayKind::Popen);
                }
                continue;
            }
            let Some(&(_, hint)) = VALUE_KEYS.iter().find(|(k, _)| *k == key_s) else {
                continue; // unknown key: kept as is
            };
            let value = match value {
                Some(v) => v.as_str(),
                None if key_s == "socket" && has_installvia => {
                    types.push(GatewayKind::Socket(None));
                    continue;
                }
                None => {
                    return Err(err(SpecErrorKind::NeedsValue {
                        key: key.clone(),
                        hint,
                    }));
                }
            };
            let blank = match key_s {
                "ssh" | "cmd" => value.trim().is_empty(),
                _ => value.is_empty(),
            };
            if blank {
                return Err(err(SpecErrorKind::EmptyValue { key: key.clone() }));
            }
            match key_s {
                "nice" => nice = Some(parse_nice(key, value).map_err(err)?),
                "execmodel" => {
                    execmodel = Some(match value {
                        "thread" => ExecModel::Thread,
                        "main_thread_only" => ExecModel::MainThreadOnly,
                        "gevent" => ExecModel::Gevent,
                        "eventlet" => ExecModel::Eventlet,
                        _ => {
                            return Err(err(SpecErrorKind::UnknownExecModel {
                                value: value.to_owned(),
                            }));
                        }
                    })
                }
                "ssh" => types.push(GatewayKind::Ssh(value.to_owned())),
                "ssh_client" if SshClient::from_value(value).is_none() => {
                    return Err(err(SpecErrorKind::UnknownSshClient {
                        value: value.to_owned(),
                    }));
                }
                "vagrant_ssh" => types.push(GatewayKind::VagrantSsh(value.to_owned())),
                "cmd" => types.push(GatewayKind::Cmd(value.to_owned())),
                "socket" => {
                    if !is_host_port(value) {
                        return Err(err(SpecErrorKind::BadSocket {
                            value: value.to_owned(),
                        }));
                    }
                    types.push(GatewayKind::Socket(Some(value.to_owned())));
                }
                _ => {}
            }
        }

        let kind = match types.len() {
            0 => return Err(err(SpecErrorKind::NoGatewayType)),
            1 => types.pop().expect("one type"),
            _ => {
                return Err(err(SpecErrorKind::TwoGatewayTypes {
                    first: types[0].key().to_owned(),
                    second: types[1].key().to_owned(),
                }));
            }
        };

        let conflict = |key: &str, reason| {
            // The gateway ids of via/installvia are quoted: which one is wrong.
            let value = match key {
                "via" | "installvia" => lookup(key).flatten().map(str::to_owned),
                _ => None,
            };
            err(SpecErrorKind::Conflict {
                key: key.to_owned(),
                value,
                reason,
            })
        };
        let is_socket = matches!(kind, GatewayKind::Socket(_));
        if is_socket {
            if lookup("via").is_some() {
                return Err(conflict("via", "cannot be combined with socket"));
            }
            if lookup("python").is_some() {
                return Err(conflict(
                    "python",
                    "cannot be combined with socket (the server's interpreter is used)",
                ));
            }
        }
        if has_installvia {
            if !is_socket {
                return Err(conflict("installvia", "applies only to socket gateways"));
            }
            if matches!(kind, GatewayKind::Socket(Some(_))) {
                return Err(conflict(
                    "installvia",
                    "cannot be combined with socket=host:port (use socket//installvia=...)",
                ));
            }
        }
        if lookup("ssh_config").is_some()
            && !matches!(kind, GatewayKind::Ssh(_) | GatewayKind::VagrantSsh(_))
        {
            return Err(conflict(
                "ssh_config",
                "applies only to ssh and vagrant_ssh gateways",
            ));
        }
        if lookup("ssh_client").is_some() && !matches!(kind, GatewayKind::Ssh(_)) {
            return Err(conflict("ssh_client", "applies only to ssh gateways"));
        }
        if lookup("token_file").is_some() && !is_socket {
            return Err(conflict("token_file", "applies only to socket gateways"));
        }

        Ok(XSpec {
            spec: spec.to_owned(),
            entries,
            env,
            kind,
            nice,
            execmodel,
        })
    }

    /// The original spec string.
    pub fn as_str(&self) -> &str {
        &self.spec
    }

    /// The gateway type.
    pub fn kind(&self) -> &GatewayKind {
        &self.kind
    }

    /// The value written for `key` (any key, known or not); `Some("")` for a
    /// bare flag, `None` when absent. `env:NAME` keys look up the environment
    /// list.
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(name) = key.strip_prefix("env:") {
            return self
                .env
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str());
        }
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Whether `key` was written (as a flag or with a value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether `key` was written as a bare flag (without `=`).
    pub fn is_flag(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, v)| k == key && v.is_none())
    }

    /// The keys in written order, without the `env:NAME` settings (see
    /// [`env`](XSpec::env)).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// `id=`: the gateway id.
    pub fn id(&self) -> Option<&str> {
        self.value("id")
    }

    /// `python=`: the interpreter command (execnet splits it shell-style).
    pub fn python(&self) -> Option<&str> {
        self.value("python")
    }

    /// `chdir=`: the worker's working directory (created when missing).
    pub fn chdir(&self) -> Option<&str> {
        self.value("chdir")
    }

    /// `nice=`: the niceness increment for the worker.
    pub fn nice(&self) -> Option<i32> {
        self.nice
    }

    /// `env:NAME=value` settings in written order (a repeated name keeps its
    /// first position and its last value).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `dont_write_bytecode`: start Python with `-B`.
    pub fn dont_write_bytecode(&self) -> bool {
        self.contains_key("dont_write_bytecode")
    }

    /// `execmodel=`: the worker's execution model, when given.
    pub fn execmodel(&self) -> Option<ExecModel> {
        self.execmodel
    }

    /// `via=`: id of the gateway this one is started through.
    pub fn via(&self) -> Option<&str> {
        self.value("via")
    }

    /// `installvia=`: id of the gateway that installs the socket server.
    pub fn installvia(&self) -> Option<&str> {
        self.value("installvia")
    }

    /// `socket=`: the `host:port` address (`None` for `socket//installvia=...`).
    pub fn socket(&self) -> Option<&str> {
        self.value("socket")
    }

    /// `ssh=`: the whole ssh option string, e.g. `-p 5000 host`.
    pub fn ssh(&self) -> Option<&str> {
        self.value("ssh")
    }

    /// `ssh_config=`: an ssh config file passed as `ssh -F <path>`.
    pub fn ssh_config(&self) -> Option<&str> {
        self.value("ssh_config")
    }

    /// `ssh_client=`: which ssh client an ssh gateway uses (the built-in
    /// one when not given).
    pub fn ssh_client(&self) -> SshClient {
        self.value("ssh_client")
            .and_then(SshClient::from_value)
            .unwrap_or_default()
    }

    /// `token_file=`: the file with the shared secret a socket server started
    /// with `execdeck serve --token-file` asks for (execdeck only).
    pub fn token_file(&self) -> Option<&str> {
        self.value("token_file")
    }

    /// `cmd=`: the command line that starts the worker (execdeck only).
    pub fn cmd(&self) -> Option<&str> {
        self.value("cmd")
    }

    /// `group=`: the label a front end files the gateway under (execdeck only).
    pub fn group(&self) -> Option<&str> {
        self.value("group")
    }

    /// Where an `ssh=` spec connects to (`None` for other kinds), or what is
    /// wrong with its option string.
    pub fn ssh_target(&self) -> Option<Result<SshTarget, String>> {
        match &self.kind {
            GatewayKind::Ssh(value) => Some(parse_ssh_value(value)),
            _ => None,
        }
    }

    /// The host the worker runs on as the spec names it: `localhost` for
    /// popen and cmd, the ssh destination's host, the socket address's host;
    /// `None` when the spec does not say (`socket//installvia=`, a bad ssh value).
    pub fn host(&self) -> Option<String> {
        match &self.kind {
            GatewayKind::Popen | GatewayKind::Cmd(_) => Some("localhost".to_owned()),
            GatewayKind::Ssh(_) => self.ssh_target()?.ok().map(|t| t.host),
            GatewayKind::Socket(Some(addr)) => {
                let host = match addr.strip_prefix('[').and_then(|a| a.split_once(']')) {
                    Some((v6, _)) => v6,
                    None => addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h),
                };
                Some(host.to_owned())
            }
            GatewayKind::Socket(None) => None,
            GatewayKind::VagrantSsh(machine) => Some(machine.clone()),
        }
    }

    /// This spec with `id=<id>` added, or a copy of it when it already has an
    /// id. The id is appended (`popen//id=gw0`); when the spec ends with `/` it
    /// is put in front instead (`id=gw0//...`) so the separators stay
    /// unambiguous. The result's string is the new spec.
    ///
    /// Fails when `id` is empty, contains `//`, or cannot be written
    /// unambiguously.
    pub fn with_id(&self, id: &str) -> Result<XSpec, SpecError> {
        if self.id().is_some() {
            return Ok(self.clone());
        }
        self.with_entry("id", id)
            .ok_or_else(|| SpecError::new(&self.spec, SpecErrorKind::BadId { id: id.to_owned() }))
    }

    /// This spec with `group=<name>` added, or a copy of it when it already
    /// has a group; `None` when `name` cannot be written unambiguously.
    pub fn with_group(&self, name: &str) -> Option<XSpec> {
        if self.group().is_some() {
            return Some(self.clone());
        }
        self.with_entry("group", name)
    }

    /// This spec with `key=value` added (see [`with_id`](XSpec::with_id)),
    /// when it reads back as exactly that.
    fn with_entry(&self, key: &str, value: &str) -> Option<XSpec> {
        if value.is_empty() || value.contains("//") {
            return None;
        }
        let new = if self.spec.ends_with('/') {
            format!("{key}={value}//{}", self.spec)
        } else {
            format!("{}//{key}={value}", self.spec)
        };
        let parsed = XSpec::parse(&new).ok()?;
        (parsed.value(key) == Some(value) && parsed.entries.len() == self.entries.len() + 1)
            .then_some(parsed)
    }
}

/// Parse an integer the way Python's `int(str)` does for ASCII text:
/// surrounding whitespace, an optional sign, digits with single `_` between them.
fn parse_py_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut n: i128 = 0;
    let mut prev_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
            continue;
        }
        prev_underscore = false;
        let d = c.to_digit(10)?;
        // Saturate: anything this large is out of every range we check.
        n = n.saturating_mul(10).saturating_add(i128::from(d));
    }
    Some(if neg { -n } else { n })
}

fn parse_nice(key: &str, value: &str) -> Result<i32, SpecErrorKind> {
    let n = parse_py_int(value).ok_or_else(|| SpecErrorKind::NotAnInteger {
        key: key.to_owned(),
        value: value.to_owned(),
    })?;
    i32::try_from(n).map_err(|_| SpecErrorKind::OutOfRange {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// `host:port` with a non-empty host (without `:` unless in `[...]`) and a
/// port 1-65535.
fn is_host_port(value: &str) -> bool {
    let Some((host, port)) = value.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|h| !h.is_empty())
    } else {
        !host.is_empty() && !host.contains(':') && !host.contains(['[', ']'])
    };
    host_ok && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0)
}

impl FromStr for XSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<XSpec, SpecError> {
        XSpec::parse(s)
    }
}

impl TryFrom<&str> for XSpec {
    type Error = SpecError;
    fn try_from(s: &str) -> Result<XSpec, SpecError> {
        XSpec::parse(s)
    }
}

impl fmt::Display for XSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

impl fmt::Debug for XSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XSpec({:?})", self.spec)
    }
}

impl PartialEq for XSpec {
    fn eq(&self, other: &XSpec) -> bool {
        self.spec == other.spec
    }
}

impl Eq for XSpec {}

impl Hash for XSpec {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must match `str`'s hash for the `Borrow<str>` impl.
        self.spec.as_str().hash(state)
    }
}

impl Borrow<str> for XSpec {
    fn borrow(&self) -> &str {
        &self.spec
    }
}

impl AsRef<str> for XSpec {
    fn as_ref(&self) -> &str {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;
    use std::collections::{HashMap, HashSet};

    fn ok(s: &str) -> XSpec {
        XSpec::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn bad(s: &str) -> SpecError {
        match XSpec::parse(s) {
            Ok(x) => panic!("{s:?} should be refused, got {x:?}"),
            Err(e) => e,
        }
    }

    /// The error's message names the spec and contains `needle`.
    fn bad_msg(s: &str, needle: &str) -> SpecError {
        let e = bad(s);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("invalid spec {s:?}: ")),
            "message {msg:?} does not name the spec"
        );
        assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
        assert_eq!(e.spec(), s);
        e
    }

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn protocol_example_typed_fields() {
        let x = ok("popen//python=p//chdir=d//nice=5//env:A=1");
        assert_eq!(x.kind(), &GatewayKind::Popen);
        assert_eq!(x.python(), Some("p"));
        assert_eq!(x.chdir(), Some("d"));
        assert_eq!(x.nice(), Some(5));
        assert_eq!(x.env(), &[("A".to_owned(), "1".to_owned())]);
        assert_eq!(x.id(), None);
        assert_eq!(x.via(), None);
        assert_eq!(x.execmodel(), None);
        assert!(!x.dont_write_bytecode());
        assert_eq!(x.get("env:A"), Some("1"));
        assert_eq!(
            x.keys().collect::<Vec<_>>(),
            ["popen", "python", "chdir", "nice"]
        );
    }

    #[test]
    fn ssh_client_is_checked() {
        assert_eq!(ok("ssh=h").ssh_client(), SshClient::Russh);
        assert_eq!(
            ok("ssh=h//ssh_client=openssh").ssh_client(),
            SshClient::OpenSsh
        );
        assert_eq!(ok("ssh=h//ssh_client=russh").ssh_client(), SshClient::Russh);
        let e = XSpec::parse("ssh=h//ssh_client=putty").unwrap_err();
        assert!(e.to_string().contains("ssh_client=putty is unknown"), "{e}");
        let e = XSpec::parse("popen//ssh_client=openssh").unwrap_err();
        assert!(e.to_string().contains("applies only to ssh"), "{e}");
    }

    #[test]
    fn ssh_keeps_whole_option_string() {
        let x = ok("ssh=-p 5000 host");
        assert_eq!(x.kind(), &GatewayKind::Ssh("-p 5000 host".into()));
        assert_eq!(x.ssh(), Some("-p 5000 host"));
        let x = ok("ssh=  -p 5000   host //python=python3");
        assert_eq!(x.ssh(), Some("  -p 5000   host "));
        assert_eq!(x.python(), Some("python3"));
    }

    #[test]
    fn all_typed_accessors() {
        let x = ok(
            "popen//id=gw7//python=python3 -X dev//chdir=x//nice=-3//execmodel=thread\
                    //dont_write_bytecode//via=gw0//env:A=1//env:B=two words",
        );
        assert_eq!(x.id(), Some("gw7"));
        assert_eq!(x.python(), Some("python3 -X dev"));
        assert_eq!(x.nice(), Some(-3));
        assert_eq!(x.execmodel(), Some(ExecModel::Thread));
        assert!(x.dont_write_bytecode());
        assert!(x.is_flag("dont_write_bytecode"));
        assert!(x.is_flag("popen"));
        assert!(!x.is_flag("id"));
        assert_eq!(x.via(), Some("gw0"));
        assert_eq!(x.env()[1], ("B".to_owned(), "two words".to_owned()));
        assert_eq!(
            ok("popen//execmodel=main_thread_only").execmodel(),
            Some(ExecModel::MainThreadOnly)
        );
        assert_eq!(ExecModel::MainThreadOnly.to_string(), "main_thread_only");
        assert_eq!(ExecModel::Thread.as_str(), "thread");
        let s = ok("ssh=host//ssh_config=/etc/cfg//python=python3.12");
        assert_eq!(s.ssh_config(), Some("/etc/cfg"));
        let c = ok("cmd=docker exec -i box python3");
        assert_eq!(
            c.kind(),
            &GatewayKind::Cmd("docker exec -i box python3".into())
        );
        assert_eq!(c.cmd(), Some("docker exec -i box python3"));
        assert_eq!(c.kind().key(), "cmd");
    }

    #[test]
    fn socket_kinds() {
        let x = ok("socket=localhost:8888");
        assert_eq!(
            x.kind(),
            &GatewayKind::Socket(Some("localhost:8888".into()))
        );
        assert_eq!(x.socket(), Some("localhost:8888"));
        ok("socket=10.0.0.1:1");
        ok("socket=[::1]:65535");
        let v = ok("socket//installvia=gw0//id=sock");
        assert_eq!(v.kind(), &GatewayKind::Socket(None));
        assert_eq!(v.socket(), None);
        assert_eq!(v.installvia(), Some("gw0"));
        for s in [
            "socket=foo",
            "socket=:80",
            "socket=host:",
            "socket=host:0",
            "socket=host:65536",
            "socket=host:+80",
            "socket=a:b:80",
            "socket=[::1:80",
            "socket=[]:80",
        ] {
            bad_msg(s, "must be host:port");
        }
        bad_msg("socket", "key \"socket\" needs a value");
        bad_msg(
            "socket=h:1//installvia=gw0",
            "key \"installvia\" (installvia=gw0) cannot be combined",
        );
        bad_msg(
            "socket=h:1//via=gw0",
            "key \"via\" (via=gw0) cannot be combined with socket",
        );
        bad_msg(
            "socket=h:1//python=p",
            "key \"python\" cannot be combined with socket",
        );
    }

    #[test]
    fn duplicate_key_is_error() {
        let e = bad_msg("popen//python=a//python=b", "key \"python\" given twice");
        assert_eq!(
            e.to_string(),
            "invalid spec \"popen//python=a//python=b\": key \"python\" given twice"
        );
        bad_msg("popen//id=gw0//id=gw1", "key \"id\" given twice");
        bad_msg("popen//popen", "key \"popen\" given twice");
        bad_msg("popen//foo//foo=1", "key \"foo\" given twice");
    }

    #[test]
    fn duplicate_env_name_last_wins_first_position() {
        let x = ok("popen//env:A=1//env:B=2//env:A=3");
        assert_eq!(
            x.env(),
            &[
                ("A".to_owned(), "3".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn reserved_keys() {
        let e = bad_msg(
            "popen//_x=1",
            "key \"_x\": keys starting with \"_\" are reserved",
        );
        assert_eq!(e.kind(), &SpecErrorKind::Reserved { key: "_x".into() });
        bad_msg("popen//__init__", "key \"__init__\"");
        bad_msg("popen//_", "key \"_\"");
        bad_msg("popen//env=1", "key \"env\" is reserved");
        bad_msg("popen//env", "key \"env\" is reserved");
        // env names may start with "_".
        assert_eq!(ok("popen//env:_X=1").env()[0].0, "_X");
    }

    #[test]
    fn env_forms() {
        bad_msg("popen//env:A", "key \"env:A\" needs a value");
        bad_msg(
            "popen//env:=x",
            "key \"env:\": empty environment variable name",
        );
        let x = ok("popen//env:A=//env:B=x=y//env:a b=c d");
        assert_eq!(x.get("env:A"), Some(""));
        assert_eq!(x.get("env:B"), Some("x=y"));
        assert_eq!(x.get("env:a b"), Some("c d"));
        assert_eq!(x.get("env:C"), None);
        // "ENV:" is not the env prefix: it is an unknown key.
        assert_eq!(ok("popen//ENV:A=1").get("ENV:A"), Some("1"));
    }

    #[test]
    fn unknown_keys_kept() {
        let x = ok("popen//foo=bar//flag//weird key= v //a/b=c//é=ü");
        assert_eq!(x.get("foo"), Some("bar"));
        assert_eq!(x.get("flag"), Some(""));
        assert!(x.is_flag("flag"));
        assert!(x.contains_key("flag"));
        assert!(!x.contains_key("nope"));
        assert_eq!(x.get("nope"), None);
        assert_eq!(x.get("weird key"), Some(" v "));
        assert_eq!(x.get("a/b"), Some("c"));
        assert_eq!(x.get("é"), Some("ü"));
        assert_eq!(
            x.keys().collect::<Vec<_>>(),
            ["popen", "foo", "flag", "weird key", "a/b", "é"]
        );
        // vagrant_ssh is a gateway type, with ssh_config.
        let v = ok("vagrant_ssh=box//ssh_config=/c");
        assert_eq!(v.kind(), &GatewayKind::VagrantSsh("box".into()));
        assert_eq!(v.host().as_deref(), Some("box"));
        bad_msg("vagrant_ssh", "key \"vagrant_ssh\" needs a value");
    }

    #[test]
    fn split_rules() {
        // Value split at the first "=".
        assert_eq!(ok("popen//a=b=c").get("a"), Some("b=c"));
        assert_eq!(ok("popen//python=a==b").python(), Some("a==b"));
        // Whitespace is kept verbatim in keys and values.
        let x = ok("popen// id=x");
        assert_eq!(x.id(), None);
        assert_eq!(x.get(" id"), Some("x"));
        let x = ok("popen//id = x");
        assert_eq!(x.get("id "), Some(" x"));
        assert_eq!(ok("popen//chdir= d ").chdir(), Some(" d "));
        bad_msg(" popen", "no gateway type");
        bad_msg("POPEN", "no gateway type");
        // "//" splits left to right: "///" leaves a "/" on the next part.
        let x = ok("popen///x");
        assert_eq!(x.get("/x"), Some(""));
        let x = ok("popen//chdir=/tmp/");
        assert_eq!(x.chdir(), Some("/tmp/"));
        let x = ok("popen//chdir=/tmp///id=gw0");
        assert_eq!(x.chdir(), Some("/tmp"));
        assert_eq!(x.get("/id"), Some("gw0"));
    }

    #[test]
    fn empty_forms() {
        assert_eq!(bad_msg("", "empty spec").kind(), &SpecErrorKind::Empty);
        bad_msg("//", "part 1 is empty");
        bad_msg("popen//", "part 2 is empty");
        bad_msg("//popen", "part 1 is empty");
        bad_msg("popen////id=x", "part 2 is empty");
        bad_msg("popen//=x", "part \"=x\" has an empty key");
        bad_msg("popen//id=", "key \"id\" has an empty value");
        bad_msg("popen//python=", "key \"python\" has an empty value");
        bad_msg("popen//chdir=", "key \"chdir\" has an empty value");
        bad_msg("ssh=", "key \"ssh\" has an empty value");
        bad_msg("ssh=   ", "key \"ssh\" has an empty value");
        bad_msg("cmd= ", "key \"cmd\" has an empty value");
        bad_msg(
            "popen//chdir",
            "key \"chdir\" needs a value (chdir=<directory>)",
        );
        bad_msg("popen//python", "key \"python\" needs a value");
        bad_msg("ssh", "key \"ssh\" needs a value");
        // Unknown keys may have empty values.
        assert_eq!(ok("popen//x=").get("x"), Some(""));
        assert!(!ok("popen//x=").is_flag("x"));
    }

    #[test]
    fn flags_take_no_value() {
        bad_msg(
            "popen=1",
            "key \"popen\" is a flag and takes no value (got popen=1)",
        );
        bad_msg("popen=", "key \"popen\" is a flag");
        bad_msg(
            "popen//dont_write_bytecode=0",
            "key \"dont_write_bytecode\" is a flag",
        );
    }

    #[test]
    fn gateway_type_count() {
        let e = bad_msg(
            "python=x",
            "no gateway type (expected one of popen, ssh=..., socket=..., cmd=...)",
        );
        assert_eq!(e.kind(), &SpecErrorKind::NoGatewayType);
        bad_msg("popen//ssh=h", "two gateway types: popen and ssh");
        bad_msg("ssh=h//popen", "two gateway types: ssh and popen");
        bad_msg("cmd=x//socket=h:1", "two gateway types: cmd and socket");
    }

    #[test]
    fn nice_values() {
        let e = bad_msg("popen//nice=abc", "nice=abc is not an integer");
        assert!(e.to_string().contains("nice"));
        // Python int() rules: surrounding whitespace, sign, single underscores.
        assert_eq!(ok("popen//nice= 5").nice(), Some(5));
        assert_eq!(ok("popen//nice=+7").nice(), Some(7));
        assert_eq!(ok("popen//nice=1_0").nice(), Some(10));
        assert_eq!(ok("popen//nice=-0").nice(), Some(0));
        for v in ["1.5", "1__0", "_1", "1_", "", "-", " ", "0x10", "5 5"] {
            let s = format!("popen//nice={v}");
            assert!(XSpec::parse(&s).is_err(), "{s:?}");
        }
        bad_msg(
            "popen//nice=99999999999",
            "nice=99999999999 is out of range",
        );
        bad_msg("popen//nice", "key \"nice\" needs a value");
    }

    #[test]
    fn execmodel_values() {
        assert_eq!(
            ok("popen//execmodel=gevent").execmodel(),
            Some(ExecModel::Gevent)
        );
        assert_eq!(
            ok("popen//execmodel=eventlet").execmodel(),
            Some(ExecModel::Eventlet)
        );
        assert_eq!(ExecModel::Gevent.to_string(), "gevent");
        assert_eq!(ExecModel::Eventlet.as_str(), "eventlet");
        bad_msg("popen//execmodel=asyncio", "execmodel=asyncio is unknown");
        bad_msg("popen//execmodel=bogus", "execmodel=bogus is unknown");
        bad_msg("popen//execmodel=Thread", "execmodel=Thread is unknown");
    }

    #[test]
    fn combination_rules() {
        ok("popen//via=gw0");
        ok("ssh=h//via=gw0");
        bad_msg(
            "popen//installvia=gw0",
            "key \"installvia\" (installvia=gw0) applies only to socket gateways",
        );
        bad_msg(
            "popen//ssh_config=x",
            "key \"ssh_config\" applies only to ssh and vagrant_ssh gateways",
        );
    }

    #[test]
    fn display_roundtrip_and_from_str() {
        for s in [
            "popen",
            "popen//python=p//chdir=d//nice=5//env:A=1",
            "ssh=-p 5000 host",
            "popen//env:A=1//env:A=2",
            "popen// id=x",
        ] {
            let x: XSpec = s.parse().unwrap();
            assert_eq!(x.to_string(), s);
            assert_eq!(x.as_str(), s);
            assert_eq!(format!("{x:?}"), format!("XSpec({s:?})"));
            assert_eq!(XSpec::try_from(s).unwrap(), x);
        }
        assert!("".parse::<XSpec>().is_err());
    }

    #[test]
    fn eq_and_hash_by_string() {
        let a = ok("popen//id=x");
        let b = ok("popen//id=x");
        let c = ok("id=x//popen");
        assert_eq!(a, b);
        assert_ne!(a, c); // same settings, different string
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&a), hash_of("popen//id=x"));
        let set: HashSet<XSpec> = [a.clone(), b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
        let map: HashMap<XSpec, u8> = [(a, 1)].into_iter().collect();
        assert_eq!(map.get("popen//id=x"), Some(&1));
    }

    #[test]
    fn with_id() {
        let x = ok("popen//python=p");
        let y = x.with_id("gw0").unwrap();
        assert_eq!(y.to_string(), "popen//python=p//id=gw0");
        assert_eq!(y.id(), Some("gw0"));
        assert_eq!(y.python(), Some("p"));
        assert_ne!(x, y);
        // Existing id is kept.
        let z = ok("popen//id=mine");
        assert_eq!(z.with_id("gw1").unwrap(), z);
        // A spec ending in "/" gets the id in front.
        let t = ok("popen//chdir=/tmp/");
        let u = t.with_id("gw2").unwrap();
        assert_eq!(u.to_string(), "id=gw2//popen//chdir=/tmp/");
        assert_eq!(u.chdir(), Some("/tmp/"));
        // Ids that cannot be written.
        for id in ["", "a//python=x", "a//b"] {
            let e = x.with_id(id).unwrap_err();
            assert!(e.to_string().contains("key \"id\""), "{e}");
        }
        assert!(t.with_id("gw/").is_err());
        // An id may itself contain "=" or a single "/".
        assert_eq!(x.with_id("a=b/c").unwrap().id(), Some("a=b/c"));
    }

    fn spec_like() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("popen".to_owned()),
            Just("ssh".to_owned()),
            Just("socket".to_owned()),
            Just("cmd".to_owned()),
            Just("id".to_owned()),
            Just("python".to_owned()),
            Just("chdir".to_owned()),
            Just("nice".to_owned()),
            Just("execmodel".to_owned()),
            Just("via".to_owned()),
            Just("installvia".to_owned()),
            Just("env:A".to_owned()),
            Just("env".to_owned()),
            Just("_x".to_owned()),
            "[a-z/ _:]{0,4}",
        ];
        let value = prop_oneof![
            Just(None),
            Just(Some("thread".to_owned())),
            Just(Some("h:22".to_owned())),
            "-?[0-9]{1,3}".prop_map(Some),
            "[a-z=/ :_]{0,5}".prop_map(Some),
        ];
        proptest::collection::vec((key, value), 0..6).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k,
                })
                .collect::<Vec<_>>()
                .join("//")
        })
    }

    fn check(s: &str) {
        match XSpec::parse(s) {
            Ok(x) => {
                assert_eq!(x.to_string(), s);
                let again = x.to_string();
                assert_eq!(XSpec::parse(&again).unwrap(), x);
                if let Ok(y) = x.with_id("gw9") {
                    assert!(y.id().is_some());
                    assert_eq!(XSpec::parse(y.as_str()).unwrap(), y);
                }
            }
            Err(e) => {
                assert!(e.to_string().starts_with(&format!("invalid spec {s:?}: ")));
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_roundtrips(s in any::<String>()) {
            check(&s);
        }

        #[test]
        fn spec_like_strings(s in spec_like()) {
            check(&s);
        }

        #[test]
        fn slashes_and_equals(s in "[/=a-c]{0,12}") {
            check(&s);
        }
    }

    #[test]
    fn token_file_belongs_to_socket_gateways() {
        let spec = XSpec::parse("socket=h:1//token_file=/k").unwrap();
        assert_eq!(spec.token_file(), Some("/k"));
        bad_msg("popen//token_file=/k", "token_file");
        bad_msg("popen//token_file=/k", "applies only to socket gateways");
    }

    #[test]
    fn typed_access_for_front_ends() {
        let spec = XSpec::parse("ssh=-p 2222 alice@box//group=lab").unwrap();
        assert_eq!(spec.host().as_deref(), Some("box"));
        assert_eq!(spec.group(), Some("lab"));
        let target = spec.ssh_target().unwrap().unwrap();
        assert_eq!(
            (target.user.as_deref(), target.port),
            (Some("alice"), Some(2222))
        );
        let host = |s: &str| XSpec::parse(s).unwrap().host();
        assert_eq!(host("popen").as_deref(), Some("localhost"));
        assert_eq!(host("socket=[::1]:8888").as_deref(), Some("::1"));
        assert_eq!(host("socket=h.example:1").as_deref(), Some("h.example"));
        assert_eq!(host("ssh=-p"), None);
        assert!(XSpec::parse("popen").unwrap().ssh_target().is_none());

        let grouped = XSpec::parse("popen").unwrap().with_group("lab").unwrap();
        assert_eq!(grouped.as_str(), "popen//group=lab");
        assert_eq!(grouped.with_group("other").unwrap().group(), Some("lab"));
        assert!(XSpec::parse("popen").unwrap().with_group("a//b").is_none());
    }
}
