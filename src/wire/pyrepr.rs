//! Python text for values. PLACEHOLDER: being written.

use super::Value;

/// A Python literal that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Python literal at column {column}: {message}")]
pub struct LiteralError {
    /// 1-based column (in characters) where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Exactly what CPython's `repr()` gives for the same value.
pub fn repr(_v: &Value) -> String {
    unimplemented!()
}

/// Parses a Python literal (what `ast.literal_eval` accepts).
pub fn parse_literal(_s: &str) -> Result<Value, LiteralError> {
    unimplemented!()
}
