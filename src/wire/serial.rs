//! The execnet serializer, format version 2 (PROTOCOL.md §3).
//! PLACEHOLDER: being written.

use super::Value;

/// String coercion flags used when loading (PROTOCOL.md §3, RECONFIGURE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load Python 2 `str` (PY2STRING) as text (latin-1) instead of bytes.
    pub py2str_as_py3str: bool,
    /// Load Python 3 `str` (PY3STRING) as bytes.
    pub py3str_as_py2str: bool,
}

/// Bytes that are not a valid serialized value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data format error: {0}")]
pub struct DataFormatError(pub String);

/// A value that cannot be serialized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot serialize {0}")]
pub struct DumpError(pub String);

/// Serializes with the leading version byte.
pub fn dumps(_v: &Value) -> Result<Vec<u8>, DumpError> {
    unimplemented!()
}

/// Appends the unversioned form (as used inside messages) to `out`.
pub fn dump_into(_v: &Value, _out: &mut Vec<u8>) -> Result<(), DumpError> {
    unimplemented!()
}

/// Loads bytes that start with the version byte.
pub fn loads(_b: &[u8], _opts: LoadOptions) -> Result<Value, DataFormatError> {
    unimplemented!()
}

/// Loads the unversioned form used inside messages.
pub fn load_unversioned(_b: &[u8], _opts: LoadOptions) -> Result<Value, DataFormatError> {
    unimplemented!()
}
