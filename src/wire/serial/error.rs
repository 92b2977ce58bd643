//! The serializer's errors: [`DataFormatError`] for bytes that do not load,
//! [`DumpError`] for values that cannot be written, and how they read.

use super::MAX_LONGINT_DIGITS;
use crate::wire::pyrepr::bytes_repr;

/// Bytes that are not a valid serialized value (execnet's `DataFormatError`).
///
/// Every variant carries `offset`: the byte position, from the start of the
/// slice given to the loader, of the opcode (or version byte) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataFormatError {
    /// The first byte is not [`FORMAT_VERSION`](super::FORMAT_VERSION)
    /// (`None`: the input is empty).
    #[error("wrong serializer version {} at byte 0 (expected 2)", fmt_version(.found))]
    WrongVersion {
        /// The byte found, if any.
        found: Option<u8>,
    },
    /// A byte that is no opcode.
    #[error("unknown opcode {} at byte {offset}", fmt_opcode(*.opcode))]
    UnknownOpcode {
        /// The byte.
        opcode: u8,
        /// Where it is.
        offset: usize,
    },
    /// An operand runs past the end of the input.
    #[error(
        "truncated input: {op} at byte {offset} needs {needed} more bytes, only {available} left"
    )]
    Truncated {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// How many operand bytes it needs.
        needed: usize,
        /// How many bytes were left after the opcode (and any length operand).
        available: usize,
    },
    /// A length or count operand below zero.
    #[error("negative length or count {value} for {op} at byte {offset}")]
    NegativeLength {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// The operand.
        value: i32,
    },
    /// A NEWLIST count larger than the number of input bytes left.
    #[error("absurd count {count} for {op} at byte {offset}: only {available} bytes of input left")]
    AbsurdCount {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// The count.
        count: usize,
        /// Input bytes left after the operand.
        available: usize,
    },
    /// An opcode needs more items than the stack holds.
    #[error("{op} at byte {offset} needs {needed} items on the stack, found {found}")]
    StackUnderflow {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// Items needed.
        needed: usize,
        /// Items on the stack.
        found: usize,
    },
    /// STOP with other than exactly one item on the stack.
    #[error("STOP at byte {offset} with {items} items on the stack (expected exactly 1)")]
    BadStop {
        /// Where STOP is.
        offset: usize,
        /// Items on the stack.
        items: usize,
    },
    /// SETITEM whose target is neither a list nor a dict.
    #[error("SETITEM at byte {offset} on a {type_name}, which is not a list or dict")]
    NotAContainer {
        /// Where SETITEM is.
        offset: usize,
        /// The Python type of the target.
        type_name: &'static str,
    },
    /// SETITEM on a list with an index outside it.
    #[error("SETITEM at byte {offset}: list index {index} out of range for a list of {len} items")]
    ListIndexOutOfRange {
        /// Where SETITEM is.
        offset: usize,
        /// The index, in decimal.
        index: String,
        /// The list's length.
        len: usize,
    },
    /// SETITEM on a list with an index that is not an int.
    #[error("SETITEM at byte {offset}: list index must be an int, not {type_name}")]
    ListIndexNotInt {
        /// Where SETITEM is.
        offset: usize,
        /// The Python type of the index.
        type_name: &'static str,
    },
    /// A dict key or set member Python cannot hash.
    #[error("{op} at byte {offset}: unhashable type '{type_name}' as {role}")]
    Unhashable {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// The Python type of the offending item.
        type_name: &'static str,
        /// `"dict key"`, `"set member"` or `"frozenset member"`.
        role: &'static str,
    },
    /// The input ended without STOP.
    #[error("missing STOP: input ends at byte {offset}")]
    MissingStop {
        /// The input's length.
        offset: usize,
    },
    /// Bytes after STOP.
    #[error("{count} trailing bytes after STOP at byte {offset}")]
    TrailingBytes {
        /// Where STOP is.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// A UTF-8 string operand that is not valid UTF-8.
    #[error("invalid UTF-8 in {op} at byte {offset}: bad byte at string position {valid_up_to}")]
    InvalidUtf8 {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// Length of the valid prefix of the string.
        valid_up_to: usize,
    },
    /// LONGINT/LONGLONG with more than [`MAX_LONGINT_DIGITS`] digits.
    #[error("{op} at byte {offset} has {digits} digits, more than the limit of {max}", max = MAX_LONGINT_DIGITS)]
    LongIntTooLong {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// How many bytes of digits it has.
        digits: usize,
    },
    /// LONGINT/LONGLONG text that is not `[+-]?[0-9]+`.
    #[error("bad digits for {op} at byte {offset}: {text}")]
    BadLongInt {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// The text (escaped, cut after 40 bytes).
        text: String,
    },
    /// Containers nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("{op} at byte {offset} nests containers deeper than {max}")]
    TooDeep {
        /// The opcode's name.
        op: &'static str,
        /// Where the opcode is.
        offset: usize,
        /// The limit.
        max: u32,
    },
}

impl DataFormatError {
    /// The byte offset the error refers to.
    pub fn offset(&self) -> usize {
        use DataFormatError::*;
        match self {
            WrongVersion { .. } => 0,
            UnknownOpcode { offset, .. }
            | Truncated { offset, .. }
            | NegativeLength { offset, .. }
            | AbsurdCount { offset, .. }
            | StackUnderflow { offset, .. }
            | BadStop { offset, .. }
            | NotAContainer { offset, .. }
            | ListIndexOutOfRange { offset, .. }
            | ListIndexNotInt { offset, .. }
            | Unhashable { offset, .. }
            | MissingStop { offset }
            | TrailingBytes { offset, .. }
            | InvalidUtf8 { offset, .. }
            | BadLongInt { offset, .. }
            | LongIntTooLong { offset, .. }
            | TooDeep { offset, .. } => *offset,
        }
    }
}

fn fmt_version(found: &Option<u8>) -> String {
    match found {
        Some(b) => fmt_opcode(*b),
        None => "(empty input)".to_owned(),
    }
}

/// A byte as Python shows a one-byte `bytes` (its repr), plus its hex value.
fn fmt_opcode(b: u8) -> String {
    format!("{} (0x{b:02x})", bytes_repr(&[b]))
}

/// A value that cannot be serialized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// A length or count that does not fit the int32 operand.
    #[error(
        "cannot serialize {type_name} of {len} {unit}{}: longer than 2**31-1",
        fmt_at(.path)
    )]
    TooLong {
        /// The Python type of the offending item.
        type_name: &'static str,
        /// Its length or count.
        len: usize,
        /// `"bytes"`, `"items"` or `"digits"`.
        unit: &'static str,
        /// Where it sits in the dumped value, Python style: `[2]['key']` (empty
        /// for the value itself). List and tuple items show as `[i]`, dict
        /// values as `[repr(key)]`, a dict's i-th key as `<key #i>` and a set's
        /// i-th member as `<member #i>`.
        path: String,
    },
}

impl DumpError {
    /// Where the offending item sits in the dumped value (see
    /// [`DumpError::TooLong`]).
    pub fn path(&self) -> &str {
        match self {
            DumpError::TooLong { path, .. } => path,
        }
    }
}

fn fmt_at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}
