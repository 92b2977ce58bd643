//! The execnet serializer, format version 2 (PROTOCOL.md §3).
//!
//! A serialized value is a program for a small stack machine: one opcode byte,
//! then the opcode's operands (big-endian), until `Q` (STOP). [`dumps`] writes
//! exactly the bytes execnet 2.x writes for the same Python value; [`loads`]
//! runs any program execnet could write, including the legacy opcodes of older
//! execnet versions.
//!
//! # Dumping
//!
//! Every [`Value`](crate::wire::Value) can be written, except a string,
//! bytes, container or big integer whose length or count does not fit in a
//! signed 32-bit operand. The writer is a single iterative pass (no
//! recursion, so arbitrarily deep values are fine) that appends to one
//! `Vec<u8>`. Integers outside the signed 32-bit range — in both directions —
//! use LONGINT (execnet 2.1 itself fails on ints below `-2**31`, but loads
//! them fine). The writer does not check Python's rules that the value itself
//! must obey (e.g. a [`Value::Set`](crate::wire::Value::Set) holding a list is
//! written as is, and no Python peer can load it).
//!
//! # Loading
//!
//! The loader is an iterative stack machine over a byte slice and is safe on
//! hostile input: every problem is a [`DataFormatError`] that names the byte
//! offset (counted from the start of the slice given to [`loads`] or
//! [`load_unversioned`]). Beyond what execnet's own loader checks, it decides:
//!
//! - Bytes after STOP are an error ([`DataFormatError::TrailingBytes`]); execnet
//!   ignores them, but neither side ever writes them, so they mean corruption.
//! - A NEWLIST count larger than the number of input bytes left is absurd
//!   ([`DataFormatError::AbsurdCount`]); the list's slots are only allocated as
//!   SETITEMs fill them (and at the end), so memory stays proportional to input.
//! - A count for BUILDTUPLE/SET/FROZENSET larger than the stack is an error
//!   (execnet silently takes fewer items).
//! - A list index is an int or bool; negative indices count from the end, as
//!   in Python.
//! - LONGINT/LONGLONG digits are an optional `+`/`-` then ASCII digits only
//!   (Python's `int()` would also take spaces and underscores; no writer emits
//!   them). There is no digit-count limit (Python's default `int()` limit of
//!   4300 digits means execnet never writes longer ones); note that decimal
//!   conversion is quadratic, about 1 s for a million digits.
//! - Values nested deeper than [`MAX_DEPTH`] are refused, so that code which
//!   walks a loaded value recursively (drop, equality, repr) cannot overflow
//!   the stack. execnet itself cannot dump values nested deeper than about 330.
//! - Duplicate set members collapse (first one wins) and a dict SETITEM whose
//!   key is already present replaces the value in place, as in Python.
//!
//! # Files
//!
//! - `mod.rs`: the constants, the opcodes, [`LoadOptions`] and this overview.
//! - `error.rs`: [`DataFormatError`] and [`DumpError`] and their texts.
//! - `dump.rs`: the writer, [`dumps`] and [`dump_into`].
//! - `load.rs`: the loader, [`loads`] and [`load_unversioned`].
//! - `tests.rs`: unit and property tests.

mod dump;
mod error;
mod load;
#[cfg(test)]
mod tests;

pub use dump::{dump_into, dumps};
pub use error::{DataFormatError, DumpError};
pub use load::{load_unversioned, loads};

/// The serializer format version byte written first by [`dumps`].
pub const FORMAT_VERSION: u8 = 2;

/// The deepest nesting of containers [`loads`] accepts (a scalar has depth 0,
/// a container one more than its deepest item).
///
/// Chosen so that recursive walks of a loaded value (drop, clone, equality,
/// `Debug`) stay well inside a 2 MiB thread stack even in debug builds, where
/// a clone costs about 1 KiB of stack per level. execnet's own (recursive)
/// dumper stops at about 330 levels.
pub const MAX_DEPTH: u32 = 500;

/// Most digits a LONGINT may have when loading (turning decimal text into a
/// big integer takes time quadratic in its length). CPython itself refuses
/// int/str conversions beyond 4300 digits by default.
pub const MAX_LONGINT_DIGITS: usize = 100_000;

/// The largest length or count an int32 operand can carry.
const MAX_LEN: usize = i32::MAX as usize;

/// The opcode bytes, named as in execnet's `gateway_base.py`.
pub(crate) mod op {
    /// Pops `count` items into a tuple.
    pub const BUILDTUPLE: u8 = b'@';
    /// A `bytes` of `len` bytes.
    pub const BYTES: u8 = b'A';
    /// A channel, by id.
    pub const CHANNEL: u8 = b'B';
    /// `False`.
    pub const FALSE: u8 = b'C';
    /// A float (8 bytes, IEEE 754 big-endian).
    pub const FLOAT: u8 = b'D';
    /// Pops `count` items into a frozenset.
    pub const FROZENSET: u8 = b'E';
    /// An int in a signed 32-bit operand.
    pub const INT: u8 = b'F';
    /// Legacy: an int in a signed 32-bit operand, like INT.
    pub const LONG: u8 = b'G';
    /// An int as decimal text.
    pub const LONGINT: u8 = b'H';
    /// Legacy: an int as decimal text.
    pub const LONGLONG: u8 = b'I';
    /// An empty dict, filled by SETITEM.
    pub const NEWDICT: u8 = b'J';
    /// A list of `count` items, filled by SETITEM.
    pub const NEWLIST: u8 = b'K';
    /// `None`.
    pub const NONE: u8 = b'L';
    /// A Python 2 `str`: bytes (latin-1 text with `py2str_as_py3str`).
    pub const PY2STRING: u8 = b'M';
    /// A Python 3 `str`, UTF-8 (bytes with `py3str_as_py2str`).
    pub const PY3STRING: u8 = b'N';
    /// Pops `count` items into a set.
    pub const SET: u8 = b'O';
    /// Pops value and key and sets `container[key] = value`.
    pub const SETITEM: u8 = b'P';
    /// The end of the program.
    pub const STOP: u8 = b'Q';
    /// `True`.
    pub const TRUE: u8 = b'R';
    /// Legacy: a Python 2 `unicode`, UTF-8.
    pub const UNICODE: u8 = b'S';
    /// A complex (two floats: real, imaginary).
    pub const COMPLEX: u8 = b'T';

    /// The execnet name of an opcode.
    pub fn name(op: u8) -> &'static str {
        match op {
            BUILDTUPLE => "BUILDTUPLE",
            BYTES => "BYTES",
            CHANNEL => "CHANNEL",
            FALSE => "FALSE",
            FLOAT => "FLOAT",
            FROZENSET => "FROZENSET",
            INT => "INT",
            LONG => "LONG",
            LONGINT => "LONGINT",
            LONGLONG => "LONGLONG",
            NEWDICT => "NEWDICT",
            NEWLIST => "NEWLIST",
            NONE => "NONE",
            PY2STRING => "PY2STRING",
            PY3STRING => "PY3STRING",
            SET => "SET",
            SETITEM => "SETITEM",
            STOP => "STOP",
            TRUE => "TRUE",
            UNICODE => "UNICODE",
            COMPLEX => "COMPLEX",
            _ => "unknown",
        }
    }
}

/// String coercion flags used when loading (PROTOCOL.md §3, RECONFIGURE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load Python 2 `str` (PY2STRING) as text (latin-1) instead of bytes.
    pub py2str_as_py3str: bool,
    /// Load Python 3 `str` (PY3STRING) as bytes.
    pub py3str_as_py2str: bool,
}
