//! The gateway's public data types: what `remote_exec` runs and what
//! `remote_status` and `rinfo` report.

use std::path::Path;

use crate::engine::error::{Error, Result};
use crate::wire::Value;

/// What `remote_exec` runs: source text, optionally a file name for
/// tracebacks, and optionally a function to call with keyword arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecSource {
    /// Python source text.
    pub source: String,
    /// Name used in tracebacks (default `<remote exec>`).
    pub file_name: Option<String>,
    /// A function defined by `source` to call as `name(channel, **kwargs)`.
    pub call_name: Option<String>,
    /// Keyword arguments for `call_name`.
    pub kwargs: Vec<(String, Value)>,
}

impl ExecSource {
    /// Source text to run as is.
    pub fn code(source: impl Into<String>) -> ExecSource {
        ExecSource {
            source: source.into(),
            file_name: None,
            call_name: None,
            kwargs: Vec::new(),
        }
    }

    /// The contents of a local file; tracebacks name the file.
    pub fn file(path: impl AsRef<Path>) -> Result<ExecSource> {
        let path = path.as_ref();
        let source =
            std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), &e))?;
        Ok(ExecSource {
            source,
            file_name: Some(path.display().to_string()),
            call_name: None,
            kwargs: Vec::new(),
        })
    }

    /// After running the source, call the function `name(channel, **kwargs)`.
    pub fn call(mut self, name: impl Into<String>) -> ExecSource {
        self.call_name = Some(name.into());
        self
    }

    /// Adds a keyword argument for the called function.
    pub fn kwarg(mut self, key: impl Into<String>, value: impl Into<Value>) -> ExecSource {
        self.kwargs.push((key.into(), value.into()));
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        let opt = |s: &Option<String>| s.as_ref().map_or(Value::None, |s| Value::str(s.clone()));
        Value::Tuple(vec![
            Value::str(self.source.clone()),
            opt(&self.file_name),
            opt(&self.call_name),
            Value::Dict(
                self.kwargs
                    .iter()
                    .map(|(k, v)| (Value::str(k.clone()), v.clone()))
                    .collect(),
            ),
        ])
    }
}

impl From<&str> for ExecSource {
    fn from(s: &str) -> ExecSource {
        ExecSource::code(s)
    }
}

impl From<String> for ExecSource {
    fn from(s: String) -> ExecSource {
        ExecSource::code(s)
    }
}

/// What `remote_status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatus {
    /// Channels open in the worker.
    pub numchannels: i64,
    /// Executions running in the worker.
    pub numexecuting: i64,
    /// The worker's execution model.
    pub execmodel: String,
}

/// What `rinfo` reports about the remote interpreter.
#[derive(Debug, Clone, PartialEq)]
pub struct RInfo {
    /// `sys.executable`.
    pub executable: String,
    /// `sys.version_info[:5]`, e.g. `(3, 11, 7, 'final', 0)`.
    pub version_info: Value,
    /// The version as text, e.g. `3.11.7`.
    pub version: String,
    /// `sys.platform`.
    pub platform: String,
    /// `os.getcwd()`.
    pub cwd: String,
    /// `os.getpid()`.
    pub pid: i64,
}
