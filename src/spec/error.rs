//! Why a spec string was refused: [`SpecError`] names the spec, and its
//! [`SpecErrorKind`] the key and the reason.

/// A spec string that could not be parsed; its message names the spec and,
/// where there is one, the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec {spec:?}: {kind}")]
pub struct SpecError {
    spec: String,
    kind: SpecErrorKind,
}

impl SpecError {
    pub(super) fn new(spec: &str, kind: SpecErrorKind) -> SpecError {
        SpecError {
            spec: spec.to_owned(),
            kind,
        }
    }

    /// The spec string that was refused.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &SpecErrorKind {
        &self.kind
    }
}

/// The reason a spec string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecErrorKind {
    /// The spec string is empty.
    #[error("empty spec")]
    Empty,
    /// A part between `//` separators is empty (e.g. `popen//` or `a////b`).
    #[error("part {position} is empty (nothing between \"//\" separators)")]
    EmptyPart {
        /// 1-based position of the empty part.
        position: usize,
    },
    /// A part starts with `=`, so its key is empty.
    #[error("part {part:?} has an empty key")]
    EmptyKey {
        /// The whole part, e.g. `=x`.
        part: String,
    },
    /// The same key appears twice.
    #[error("key {key:?} given twice")]
    Duplicate {
        /// The repeated key.
        key: String,
    },
    /// A key starts with `_`.
    #[error("key {key:?}: keys starting with \"_\" are reserved")]
    Reserved {
        /// The key.
        key: String,
    },
    /// The bare key `env` was used.
    #[error("key \"env\" is reserved (set variables with env:NAME=value)")]
    EnvKey,
    /// `env:=value`: no variable name.
    #[error("key {key:?}: empty environment variable name (expected env:NAME=value)")]
    EmptyEnvName {
        /// The key as written (`env:`).
        key: String,
    },
    /// `env:NAME` without `=value`.
    #[error("key {key:?} needs a value (env:NAME=value)")]
    EnvNeedsValue {
        /// The key as written, e.g. `env:A`.
        key: String,
    },
    /// A key that takes a value was given as a bare flag.
    #[error("key {key:?} needs a value ({key}={hint})")]
    NeedsValue {
        /// The key.
        key: String,
        /// What the value should look like.
        hint: &'static str,
    },
    /// A key that takes a value was given an empty (or, for `ssh`/`cmd`,
    /// whitespace-only) value.
    #[error("key {key:?} has an empty value")]
    EmptyValue {
        /// The key.
        key: String,
    },
    /// A flag-only key (`popen`, `dont_write_bytecode`) was given a value.
    #[error("key {key:?} is a flag and takes no value (got {key}={value})")]
    FlagWithValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
    },
    /// None of `popen`, `ssh=`, `socket=`, `cmd=` is present.
    #[error("no gateway type (expected one of popen, ssh=..., socket=..., cmd=...)")]
    NoGatewayType,
    /// More than one gateway type is present.
    #[error("two gateway types: {first} and {second}")]
    TwoGatewayTypes {
        /// The first type key, in written order.
        first: String,
        /// The second type key.
        second: String,
    },
    /// An integer key (`nice`) has a value that is not an integer.
    #[error("{key}={value} is not an integer")]
    NotAnInteger {
        /// The key.
        key: String,
        /// The value given.
        value: String,
    },
    /// An integer key (`nice`) has a value outside the allowed range.
    #[error("{key}={value} is out of range")]
    OutOfRange {
        /// The key.
        key: String,
        /// The value given.
        value: String,
    },
    /// `socket=` is not `host:port`.
    #[error("socket={value} must be host:port (port 1-65535; IPv6 hosts in brackets)")]
    BadSocket {
        /// The value given.
        value: String,
    },
    /// An unknown `execmodel=` value.
    #[error("execmodel={value} is unknown (expected thread, main_thread_only, gevent or eventlet)")]
    UnknownExecModel {
        /// The value given.
        value: String,
    },
    /// An unknown `ssh_client=` value.
    #[error("ssh_client={value} is unknown (expected russh, the built-in client, or openssh)")]
    UnknownSshClient {
        /// The value given.
        value: String,
    },
    /// A key that does not apply together with another key or gateway type.
    #[error("key {key:?}{} {reason}", shown_value(.key, .value))]
    Conflict {
        /// The key that does not fit.
        key: String,
        /// Its value, when worth quoting (the gateway id of `via`/`installvia`).
        value: Option<String>,
        /// Why, e.g. `cannot be combined with socket`.
        reason: &'static str,
    },
    /// `with_id` was given an id that cannot be written into a spec.
    #[error(
        "key \"id\": {id:?} cannot be used as a gateway id (must be non-empty and free of \"//\")"
    )]
    BadId {
        /// The id given.
        id: String,
    },
}

/// ` (key=value)` for a conflict that quotes its value, else nothing.
fn shown_value(key: &str, value: &Option<String>) -> String {
    match value {
        Some(v) => format!(" ({key}={v})"),
        None => String::new(),
    }
}
