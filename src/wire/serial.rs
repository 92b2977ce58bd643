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
//! Every [`Value`] can be written, except a string, bytes, container or big
//! integer whose length or count does not fit in a signed 32-bit operand. The
//! writer is a single iterative pass (no recursion, so arbitrarily deep values
//! are fine) that appends to one `Vec<u8>`. Integers outside the signed 32-bit
//! range — in both directions — use LONGINT (execnet 2.1 itself fails on ints
//! below `-2**31`, but loads them fine). The writer does not check Python's
//! rules that the value itself must obey (e.g. a [`Value::Set`] holding a list
//! is written as is, and no Python peer can load it).
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

use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use num_bigint::BigInt;
use num_traits::ToPrimitive;

use super::Value;

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

pub(crate) mod op {
    pub const BUILDTUPLE: u8 = b'@';
    pub const BYTES: u8 = b'A';
    pub const CHANNEL: u8 = b'B';
    pub const FALSE: u8 = b'C';
    pub const FLOAT: u8 = b'D';
    pub const FROZENSET: u8 = b'E';
    pub const INT: u8 = b'F';
    pub const LONG: u8 = b'G';
    pub const LONGINT: u8 = b'H';
    pub const LONGLONG: u8 = b'I';
    pub const NEWDICT: u8 = b'J';
    pub const NEWLIST: u8 = b'K';
    pub const NONE: u8 = b'L';
    pub const PY2STRING: u8 = b'M';
    pub const PY3STRING: u8 = b'N';
    pub const SET: u8 = b'O';
    pub const SETITEM: u8 = b'P';
    pub const STOP: u8 = b'Q';
    pub const TRUE: u8 = b'R';
    pub const UNICODE: u8 = b'S';
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

/// Bytes that are not a valid serialized value (execnet's `DataFormatError`).
///
/// Every variant carries `offset`: the byte position, from the start of the
/// slice given to the loader, of the opcode (or version byte) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataFormatError {
    /// The first byte is not [`FORMAT_VERSION`] (`None`: the input is empty).
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
    /// Containers nested deeper than [`MAX_DEPTH`].
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

/// A byte as Python shows a one-byte `bytes`, plus its hex value.
fn fmt_opcode(b: u8) -> String {
    let mut s = String::from("b'");
    push_escaped_byte(&mut s, b);
    let _ = write!(s, "' (0x{b:02x})");
    s
}

fn push_escaped_byte(s: &mut String, b: u8) {
    match b {
        b'\\' => s.push_str("\\\\"),
        b'\'' => s.push_str("\\'"),
        b'\n' => s.push_str("\\n"),
        b'\r' => s.push_str("\\r"),
        b'\t' => s.push_str("\\t"),
        0x20..=0x7e => s.push(char::from(b)),
        _ => {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
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

// ---------------------------------------------------------------------------
// Dumping
// ---------------------------------------------------------------------------

/// Serializes with the leading version byte: `0x02`, program, STOP.
pub fn dumps(v: &Value) -> Result<Vec<u8>, DumpError> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT_VERSION);
    dump_into(v, &mut out)?;
    Ok(out)
}

/// Appends the unversioned form (program, STOP; as used inside messages) to
/// `out`. On error `out` is left as it was.
pub fn dump_into(v: &Value, out: &mut Vec<u8>) -> Result<(), DumpError> {
    dump_with_limit(v, out, MAX_LEN)
}

/// A container being written: which item comes next.
enum Frame<'a> {
    /// A list: each item is `INT index`, item, SETITEM.
    List { items: &'a [Value], next: usize },
    /// A tuple, set or frozenset: items, then `op count`.
    Seq {
        items: &'a [Value],
        next: usize,
        op: u8,
    },
    /// A dict: key, value, SETITEM per entry. `at_value`: the key of entry
    /// `next` has been written.
    Dict {
        items: &'a [(Value, Value)],
        next: usize,
        at_value: bool,
    },
}

struct TooLong {
    type_name: &'static str,
    len: usize,
    unit: &'static str,
}

fn dump_with_limit(v: &Value, out: &mut Vec<u8>, limit: usize) -> Result<(), DumpError> {
    let start = out.len();
    let mut frames: Vec<Frame<'_>> = Vec::new();
    match write_program(v, out, &mut frames, limit) {
        Ok(()) => {
            out.push(op::STOP);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(DumpError::TooLong {
                type_name: e.type_name,
                len: e.len,
                unit: e.unit,
                path: path_of(&frames),
            })
        }
    }
}

#[inline]
fn put_i32(out: &mut Vec<u8>, n: i32) {
    out.extend_from_slice(&n.to_be_bytes());
}

#[inline]
fn put_len(out: &mut Vec<u8>, n: usize) {
    // Callers check n <= MAX_LEN first.
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

#[inline]
fn check_len(
    len: usize,
    limit: usize,
    type_name: &'static str,
    unit: &'static str,
) -> Result<(), TooLong> {
    if len > limit {
        Err(TooLong {
            type_name,
            len,
            unit,
        })
    } else {
        Ok(())
    }
}

/// Writes an i64 outside the i32 range as LONGINT, without allocating.
fn put_longint_i64(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.push(op::LONGINT);
    put_len(out, buf.len() - i);
    out.extend_from_slice(&buf[i..]);
}

fn write_program<'a>(
    v: &'a Value,
    out: &mut Vec<u8>,
    frames: &mut Vec<Frame<'a>>,
    limit: usize,
) -> Result<(), TooLong> {
    let mut cur = v;
    'value: loop {
        // Write `cur`; containers with items push a frame and continue with
        // their first item.
        match cur {
            Value::None => out.push(op::NONE),
            Value::Bool(true) => out.push(op::TRUE),
            Value::Bool(false) => out.push(op::FALSE),
            Value::Int(n) => match i32::try_from(*n) {
                Ok(small) => {
                    out.push(op::INT);
                    put_i32(out, small);
                }
                Err(_) => put_longint_i64(out, *n),
            },
            Value::BigInt(n) => {
                if let Some(small) = n.to_i32() {
                    out.push(op::INT);
                    put_i32(out, small);
                } else if let Some(mid) = n.to_i64() {
                    put_longint_i64(out, mid);
                } else {
                    let digits = n.to_str_radix(10);
                    check_len(digits.len(), limit, "int", "digits")?;
                    out.push(op::LONGINT);
                    put_len(out, digits.len());
                    out.extend_from_slice(digits.as_bytes());
                }
            }
            Value::Float(f) => {
                out.push(op::FLOAT);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Complex(re, im) => {
                out.push(op::COMPLEX);
                out.extend_from_slice(&re.to_bits().to_be_bytes());
                out.extend_from_slice(&im.to_bits().to_be_bytes());
            }
            Value::Bytes(b) => {
                check_len(b.len(), limit, "bytes", "bytes")?;
                out.push(op::BYTES);
                put_len(out, b.len());
                out.extend_from_slice(b);
            }
            Value::Str(s) => {
                check_len(s.len(), limit, "str", "bytes")?;
                out.push(op::PY3STRING);
                put_len(out, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Channel(id) => {
                out.push(op::CHANNEL);
                put_i32(out, *id);
            }
            Value::List(items) => {
                check_len(items.len(), limit, "list", "items")?;
                out.push(op::NEWLIST);
                put_len(out, items.len());
                if let Some(first) = items.first() {
                    out.push(op::INT);
                    put_i32(out, 0);
                    frames.push(Frame::List { items, next: 0 });
                    cur = first;
                    continue 'value;
                }
            }
            Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
                let (type_name, code) = match cur {
                    Value::Tuple(_) => ("tuple", op::BUILDTUPLE),
                    Value::Set(_) => ("set", op::SET),
                    _ => ("frozenset", op::FROZENSET),
                };
                check_len(items.len(), limit, type_name, "items")?;
                match items.first() {
                    Some(first) => {
                        frames.push(Frame::Seq {
                            items,
                            next: 0,
                            op: code,
                        });
                        cur = first;
                        continue 'value;
                    }
                    None => {
                        out.push(code);
                        put_i32(out, 0);
                    }
                }
            }
            Value::Dict(items) => {
                // A dict has no count operand: no length limit applies.
                out.push(op::NEWDICT);
                if let Some((k, _)) = items.first() {
                    frames.push(Frame::Dict {
                        items,
                        next: 0,
                        at_value: false,
                    });
                    cur = k;
                    continue 'value;
                }
            }
        }
        // `cur` is complete: finish containers until one has a next item.
        loop {
            let Some(top) = frames.last_mut() else {
                return Ok(());
            };
            match top {
                Frame::List { items, next } => {
                    out.push(op::SETITEM);
                    *next += 1;
                    let items: &'a [Value] = items;
                    if let Some(item) = items.get(*next) {
                        out.push(op::INT);
                        // next < items.len() <= MAX_LEN
                        put_len(out, *next);
                        cur = item;
                        continue 'value;
                    }
                }
                Frame::Seq { items, next, op } => {
                    *next += 1;
                    let items: &'a [Value] = items;
                    if let Some(item) = items.get(*next) {
                        cur = item;
                        continue 'value;
                    }
                    out.push(*op);
                    put_len(out, items.len());
                }
                Frame::Dict {
                    items,
                    next,
                    at_value,
                } => {
                    let items: &'a [(Value, Value)] = items;
                    if !*at_value {
                        *at_value = true;
                        cur = &items[*next].1;
                        continue 'value;
                    }
                    out.push(op::SETITEM);
                    *next += 1;
                    *at_value = false;
                    if let Some((k, _)) = items.get(*next) {
                        cur = k;
                        continue 'value;
                    }
                }
            }
            frames.pop();
        }
    }
}

/// The Python-style path to the item being written, from the frame stack.
fn path_of(frames: &[Frame<'_>]) -> String {
    let mut path = String::new();
    for frame in frames {
        match frame {
            Frame::List { next, .. } => {
                let _ = write!(path, "[{next}]");
            }
            Frame::Seq { next, op, .. } => {
                if *op == op::BUILDTUPLE {
                    let _ = write!(path, "[{next}]");
                } else {
                    let _ = write!(path, "<member #{next}>");
                }
            }
            Frame::Dict {
                items,
                next,
                at_value,
            } => {
                if *at_value {
                    path.push('[');
                    let mut budget = 60;
                    short_repr(&items[*next].0, &mut path, &mut budget, 0);
                    path.push(']');
                } else {
                    let _ = write!(path, "<key #{next}>");
                }
            }
        }
    }
    path
}

/// A short Python-like repr for error paths; gives up with `...` once
/// `budget` characters are spent or nesting gets deep.
fn short_repr(v: &Value, s: &mut String, budget: &mut usize, depth: usize) {
    if *budget == 0 || depth > 4 {
        s.push_str("...");
        *budget = 0;
        return;
    }
    let before = s.len();
    match v {
        Value::None => s.push_str("None"),
        Value::Bool(true) => s.push_str("True"),
        Value::Bool(false) => s.push_str("False"),
        Value::Int(n) => {
            let _ = write!(s, "{n}");
        }
        Value::BigInt(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Float(f) => {
            let _ = write!(s, "{f:?}");
        }
        Value::Complex(re, im) => {
            let _ = write!(s, "({re:?}{im:+?}j)");
        }
        Value::Channel(id) => {
            let _ = write!(s, "<Channel id={id}>");
        }
        Value::Str(text) => {
            s.push('\'');
            for (n, c) in text.chars().enumerate() {
                if n >= *budget {
                    s.push_str("...");
                    break;
                }
                match c {
                    '\\' => s.push_str("\\\\"),
                    '\'' => s.push_str("\\'"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                        let _ = write!(s, "\\x{:02x}", c as u32);
                    }
                    c => s.push(c),
                }
            }
            s.push('\'');
        }
        Value::Bytes(b) => {
            s.push_str("b'");
            for (n, &byte) in b.iter().enumerate() {
                if n >= *budget {
                    s.push_str("...");
                    break;
                }
                push_escaped_byte(s, byte);
            }
            s.push('\'');
        }
        Value::Tuple(items) | Value::List(items) | Value::Set(items) | Value::FrozenSet(items) => {
            let (open, close) = match v {
                Value::Tuple(_) => ("(", ")"),
                Value::List(_) => ("[", "]"),
                Value::Set(_) => ("{", "}"),
                _ => ("frozenset({", "})"),
            };
            s.push_str(open);
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    s.push_str(", ");
                }
                short_repr(item, s, budget, depth + 1);
                if *budget == 0 {
                    break;
                }
            }
            if items.len() == 1 && matches!(v, Value::Tuple(_)) {
                s.push(',');
            }
            s.push_str(close);
        }
        Value::Dict(items) => {
            s.push('{');
            for (n, (k, val)) in items.iter().enumerate() {
                if n > 0 {
                    s.push_str(", ");
                }
                short_repr(k, s, budget, depth + 1);
                s.push_str(": ");
                short_repr(val, s, budget, depth + 1);
                if *budget == 0 {
                    break;
                }
            }
            s.push('}');
        }
    }
    *budget = budget.saturating_sub(s.len() - before);
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Loads bytes that start with the version byte.
pub fn loads(b: &[u8], opts: LoadOptions) -> Result<Value, DataFormatError> {
    match b.first() {
        Some(&FORMAT_VERSION) => Loader::new(b, 1, opts).run(),
        found => Err(DataFormatError::WrongVersion {
            found: found.copied(),
        }),
    }
}

/// Loads the unversioned form used inside messages.
pub fn load_unversioned(b: &[u8], opts: LoadOptions) -> Result<Value, DataFormatError> {
    Loader::new(b, 0, opts).run()
}

/// One stack entry: a finished value, or a list/dict that SETITEM may still
/// fill.
struct Slot {
    /// Container nesting depth (0 for scalars).
    depth: u32,
    /// Whether Python could hash it.
    hashable: bool,
    kind: SlotKind,
}

enum SlotKind {
    Done(Value),
    /// A list of `len` items; slots past `items.len()` are still `None`.
    List {
        items: Vec<Value>,
        len: usize,
    },
    Dict {
        items: Vec<(Value, Value)>,
        index: Option<Box<DictIndex>>,
    },
}

impl Slot {
    fn scalar(v: Value) -> Slot {
        Slot {
            depth: 0,
            hashable: true,
            kind: SlotKind::Done(v),
        }
    }

    fn type_name(&self) -> &'static str {
        match &self.kind {
            SlotKind::Done(v) => v.type_name(),
            SlotKind::List { .. } => "list",
            SlotKind::Dict { .. } => "dict",
        }
    }

    fn into_value(self) -> Value {
        match self.kind {
            SlotKind::Done(v) => v,
            SlotKind::List { mut items, len } => {
                items.resize(len, Value::None);
                Value::List(items)
            }
            SlotKind::Dict { items, .. } => Value::Dict(items),
        }
    }
}

/// Dicts up to this size find keys by linear search.
const DICT_INDEX_THRESHOLD: usize = 16;

const NO_ENTRY: usize = usize::MAX;

/// Hash index over a dict's keys: key hash → first entry with that hash, and
/// per entry the next entry with the same hash. Keys are not cloned.
struct DictIndex {
    state: RandomState,
    heads: HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>,
    next: Vec<usize>,
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl DictIndex {
    fn build(items: &[(Value, Value)]) -> DictIndex {
        let mut index = DictIndex {
            state: RandomState::new(),
            heads: HashMap::with_capacity_and_hasher(items.len() * 2, Default::default()),
            next: Vec::with_capacity(items.len() * 2),
        };
        for (i, (k, _)) in items.iter().enumerate() {
            let h = index.state.hash_one(k);
            index.link(h, i);
        }
        index
    }

    fn link(&mut self, h: u64, i: usize) {
        let prev = self.heads.insert(h, i).unwrap_or(NO_ENTRY);
        self.next.push(prev);
    }

    fn find(&self, h: u64, key: &Value, items: &[(Value, Value)]) -> Option<usize> {
        let mut i = *self.heads.get(&h)?;
        while i != NO_ENTRY {
            if items[i].0 == *key {
                return Some(i);
            }
            i = self.next[i];
        }
        None
    }
}

/// Sets `dict[key] = value` with Python semantics (an existing key keeps its
/// place and gets the new value).
fn dict_setitem(
    items: &mut Vec<(Value, Value)>,
    index: &mut Option<Box<DictIndex>>,
    key: Value,
    value: Value,
) {
    if index.is_none() && items.len() >= DICT_INDEX_THRESHOLD {
        *index = Some(Box::new(DictIndex::build(items)));
    }
    match index {
        None => {
            if let Some(entry) = items.iter_mut().find(|(k, _)| *k == key) {
                entry.1 = value;
            } else {
                items.push((key, value));
            }
        }
        Some(index) => {
            let h = index.state.hash_one(&key);
            if let Some(i) = index.find(h, &key, items) {
                items[i].1 = value;
            } else {
                index.link(h, items.len());
                items.push((key, value));
            }
        }
    }
}

/// Removes repeated members, keeping the first of each.
fn dedup_members(items: &mut Vec<Value>) {
    if items.len() <= 8 {
        let mut i = 1;
        while i < items.len() {
            if items[..i].contains(&items[i]) {
                items.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().map(|v| seen.insert(v)).collect()
    };
    if keep.iter().all(|&k| k) {
        return;
    }
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(true));
}

struct Loader<'a> {
    buf: &'a [u8],
    pos: usize,
    opts: LoadOptions,
    stack: Vec<Slot>,
}

impl<'a> Loader<'a> {
    fn new(buf: &'a [u8], pos: usize, opts: LoadOptions) -> Loader<'a> {
        Loader {
            buf,
            pos,
            opts,
            stack: Vec::new(),
        }
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn take(&mut self, n: usize, code: u8, at: usize) -> Result<&'a [u8], DataFormatError> {
        let buf: &'a [u8] = self.buf;
        match buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(DataFormatError::Truncated {
                op: op::name(code),
                offset: at,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    #[inline]
    fn read_i32(&mut self, code: u8, at: usize) -> Result<i32, DataFormatError> {
        match self.take(4, code, at)? {
            &[a, b, c, d] => Ok(i32::from_be_bytes([a, b, c, d])),
            _ => Err(DataFormatError::Truncated {
                op: op::name(code),
                offset: at,
                needed: 4,
                available: 0,
            }),
        }
    }

    #[inline]
    fn read_f64(&mut self, code: u8, at: usize) -> Result<f64, DataFormatError> {
        let bytes = self.take(8, code, at)?;
        let raw = <[u8; 8]>::try_from(bytes).map_err(|_| DataFormatError::Truncated {
            op: op::name(code),
            offset: at,
            needed: 8,
            available: 0,
        })?;
        Ok(f64::from_bits(u64::from_be_bytes(raw)))
    }

    /// Reads a non-negative int32 length or count.
    #[inline]
    fn read_len(&mut self, code: u8, at: usize) -> Result<usize, DataFormatError> {
        let n = self.read_i32(code, at)?;
        usize::try_from(n).map_err(|_| DataFormatError::NegativeLength {
            op: op::name(code),
            offset: at,
            value: n,
        })
    }

    /// Reads a length and then that many bytes.
    #[inline]
    fn read_sized(&mut self, code: u8, at: usize) -> Result<&'a [u8], DataFormatError> {
        let n = self.read_len(code, at)?;
        self.take(n, code, at)
    }

    fn utf8(bytes: &'a [u8], code: u8, at: usize) -> Result<&'a str, DataFormatError> {
        std::str::from_utf8(bytes).map_err(|e| DataFormatError::InvalidUtf8 {
            op: op::name(code),
            offset: at,
            valid_up_to: e.valid_up_to(),
        })
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::scalar(v));
    }

    fn run(mut self) -> Result<Value, DataFormatError> {
        loop {
            let at = self.pos;
            let Some(&code) = self.buf.get(at) else {
                return Err(DataFormatError::MissingStop { offset: at });
            };
            self.pos += 1;
            match code {
                op::STOP => return self.stop(at),
                op::NONE => self.push(Value::None),
                op::TRUE => self.push(Value::Bool(true)),
                op::FALSE => self.push(Value::Bool(false)),
                op::INT | op::LONG => {
                    let n = self.read_i32(code, at)?;
                    self.push(Value::Int(n.into()));
                }
                op::LONGINT | op::LONGLONG => {
                    let text = self.read_sized(code, at)?;
                    if text.len() > MAX_LONGINT_DIGITS + 1 {
                        // Decimal conversion is quadratic: refuse what no
                        // Python peer sends (CPython caps int/str at 4300 digits).
                        return Err(DataFormatError::LongIntTooLong {
                            op: op::name(code),
                            offset: at,
                            digits: text.len(),
                        });
                    }
                    let v = parse_longint(text).ok_or_else(|| DataFormatError::BadLongInt {
                        op: op::name(code),
                        offset: at,
                        text: preview(text),
                    })?;
                    self.push(v);
                }
                op::FLOAT => {
                    let f = self.read_f64(code, at)?;
                    self.push(Value::Float(f));
                }
                op::COMPLEX => {
                    let re = self.read_f64(code, at)?;
                    let im = self.read_f64(code, at)?;
                    self.push(Value::Complex(re, im));
                }
                op::BYTES => {
                    let b = self.read_sized(code, at)?;
                    self.push(Value::Bytes(b.to_vec()));
                }
                op::PY3STRING => {
                    let b = self.read_sized(code, at)?;
                    let v = if self.opts.py3str_as_py2str {
                        Value::Bytes(b.to_vec())
                    } else {
                        Value::Str(Self::utf8(b, code, at)?.to_owned())
                    };
                    self.push(v);
                }
                op::UNICODE => {
                    let b = self.read_sized(code, at)?;
                    let s = Self::utf8(b, code, at)?.to_owned();
                    self.push(Value::Str(s));
                }
                op::PY2STRING => {
                    let b = self.read_sized(code, at)?;
                    let v = if self.opts.py2str_as_py3str {
                        Value::Str(b.iter().map(|&c| char::from(c)).collect())
                    } else {
                        Value::Bytes(b.to_vec())
                    };
                    self.push(v);
                }
                op::CHANNEL => {
                    let id = self.read_i32(code, at)?;
                    self.push(Value::Channel(id));
                }
                op::NEWDICT => self.stack.push(Slot {
                    depth: 1,
                    hashable: false,
                    kind: SlotKind::Dict {
                        items: Vec::new(),
                        index: None,
                    },
                }),
                op::NEWLIST => {
                    let n = self.read_len(code, at)?;
                    let available = self.remaining();
                    if n > available {
                        return Err(DataFormatError::AbsurdCount {
                            op: op::name(code),
                            offset: at,
                            count: n,
                            available,
                        });
                    }
                    // Every item execnet writes takes at least 7 bytes
                    // (INT index, value, SETITEM).
                    let items = Vec::with_capacity(n.min(available / 7));
                    self.stack.push(Slot {
                        depth: 1,
                        hashable: false,
                        kind: SlotKind::List { items, len: n },
                    });
                }
                op::BUILDTUPLE | op::SET | op::FROZENSET => self.build(code, at)?,
                op::SETITEM => self.setitem(at)?,
                _ => {
                    return Err(DataFormatError::UnknownOpcode {
                        opcode: code,
                        offset: at,
                    });
                }
            }
        }
    }

    fn stop(&mut self, at: usize) -> Result<Value, DataFormatError> {
        if self.stack.len() != 1 {
            return Err(DataFormatError::BadStop {
                offset: at,
                items: self.stack.len(),
            });
        }
        let count = self.remaining();
        if count != 0 {
            return Err(DataFormatError::TrailingBytes { offset: at, count });
        }
        match self.stack.pop() {
            Some(slot) => Ok(slot.into_value()),
            None => Err(DataFormatError::BadStop {
                offset: at,
                items: 0,
            }),
        }
    }

    fn build(&mut self, code: u8, at: usize) -> Result<(), DataFormatError> {
        let n = self.read_len(code, at)?;
        let found = self.stack.len();
        if n > found {
            return Err(DataFormatError::StackUnderflow {
                op: op::name(code),
                offset: at,
                needed: n,
                found,
            });
        }
        let start = found - n;
        let mut depth = 0;
        let mut all_hashable = true;
        for slot in &self.stack[start..] {
            depth = depth.max(slot.depth);
            all_hashable &= slot.hashable;
        }
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(DataFormatError::TooDeep {
                op: op::name(code),
                offset: at,
                max: MAX_DEPTH,
            });
        }
        if code != op::BUILDTUPLE && !all_hashable {
            let bad = self.stack[start..].iter().find(|s| !s.hashable);
            return Err(DataFormatError::Unhashable {
                op: op::name(code),
                offset: at,
                type_name: bad.map_or("?", Slot::type_name),
                role: if code == op::SET {
                    "set member"
                } else {
                    "frozenset member"
                },
            });
        }
        let mut items: Vec<Value> = self.stack.drain(start..).map(Slot::into_value).collect();
        let (value, hashable) = match code {
            op::BUILDTUPLE => (Value::Tuple(items), all_hashable),
            op::SET => {
                dedup_members(&mut items);
                (Value::Set(items), false)
            }
            _ => {
                dedup_members(&mut items);
                (Value::FrozenSet(items), true)
            }
        };
        self.stack.push(Slot {
            depth,
            hashable,
            kind: SlotKind::Done(value),
        });
        Ok(())
    }

    fn setitem(&mut self, at: usize) -> Result<(), DataFormatError> {
        let found = self.stack.len();
        if found < 3 {
            return Err(DataFormatError::StackUnderflow {
                op: "SETITEM",
                offset: at,
                needed: 3,
                found,
            });
        }
        let (Some(value), Some(key)) = (self.stack.pop(), self.stack.pop()) else {
            return Err(DataFormatError::StackUnderflow {
                op: "SETITEM",
                offset: at,
                needed: 3,
                found,
            });
        };
        let Some(target) = self.stack.last_mut() else {
            return Err(DataFormatError::StackUnderflow {
                op: "SETITEM",
                offset: at,
                needed: 3,
                found,
            });
        };
        let child_depth = value.depth.max(key.depth);
        let target_type = match &target.kind {
            SlotKind::Done(v) => v.type_name(),
            _ => "",
        };
        match &mut target.kind {
            SlotKind::Done(_) => {
                return Err(DataFormatError::NotAContainer {
                    offset: at,
                    type_name: target_type,
                });
            }
            SlotKind::List { items, len } => {
                let index = match &key.kind {
                    SlotKind::Done(Value::Int(i)) => list_index(*i, *len),
                    SlotKind::Done(Value::Bool(b)) => list_index(i64::from(*b), *len),
                    SlotKind::Done(Value::BigInt(_)) => None,
                    _ => {
                        return Err(DataFormatError::ListIndexNotInt {
                            offset: at,
                            type_name: key.type_name(),
                        });
                    }
                };
                let Some(index) = index else {
                    let shown = match key.kind {
                        SlotKind::Done(Value::Int(i)) => i.to_string(),
                        SlotKind::Done(Value::Bool(b)) => u8::from(b).to_string(),
                        SlotKind::Done(Value::BigInt(n)) => n.to_string(),
                        _ => String::new(),
                    };
                    return Err(DataFormatError::ListIndexOutOfRange {
                        offset: at,
                        index: shown,
                        len: *len,
                    });
                };
                let value = value.into_value();
                if index < items.len() {
                    items[index] = value;
                } else {
                    items.resize(index, Value::None);
                    items.push(value);
                }
            }
            SlotKind::Dict { items, index } => {
                if !key.hashable {
                    return Err(DataFormatError::Unhashable {
                        op: "SETITEM",
                        offset: at,
                        type_name: key.type_name(),
                        role: "dict key",
                    });
                }
                dict_setitem(items, index, key.into_value(), value.into_value());
            }
        }
        let depth = child_depth + 1;
        if depth > MAX_DEPTH {
            return Err(DataFormatError::TooDeep {
                op: "SETITEM",
                offset: at,
                max: MAX_DEPTH,
            });
        }
        target.depth = target.depth.max(depth);
        Ok(())
    }
}

/// A Python list index into a list of `len` items, if in range.
fn list_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        let i = usize::try_from(i).ok()?;
        (i < len).then_some(i)
    } else {
        let back = usize::try_from(i.unsigned_abs()).ok()?;
        len.checked_sub(back)
    }
}

/// Parses `[+-]?[0-9]+` into an int value.
fn parse_longint(text: &[u8]) -> Option<Value> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() <= 18 {
        let mut n: i64 = 0;
        for &d in digits {
            n = n * 10 + i64::from(d - b'0');
        }
        return Some(Value::Int(if negative { -n } else { n }));
    }
    let magnitude = BigInt::parse_bytes(digits, 10)?;
    Some(Value::from_bigint(if negative {
        -magnitude
    } else {
        magnitude
    }))
}

/// Escaped text of (the start of) a byte string, for error messages.
fn preview(text: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in text.iter().take(40) {
        push_escaped_byte(&mut s, b);
    }
    s.push('\'');
    if text.len() > 40 {
        let _ = write!(s, "... ({} bytes)", text.len());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn big(s: &str) -> Value {
        Value::from_bigint(s.parse::<BigInt>().unwrap())
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn i(n: i64) -> Value {
        Value::Int(n)
    }

    fn load(b: &[u8]) -> Result<Value, DataFormatError> {
        loads(b, LoadOptions::default())
    }

    /// (value, execnet 2.1.2's `dumps(value).hex()`), from experiments.
    fn execnet_cases() -> Vec<(Value, &'static str)> {
        use Value as V;
        vec![
            (V::None, "024c51"),
            (V::Bool(true), "025251"),
            (V::Bool(false), "024351"),
            (i(0), "02460000000051"),
            (i(1), "02460000000151"),
            (i(-1), "0246ffffffff51"),
            (i(2147483647), "02467fffffff51"),
            (i(2147483648), "02480000000a3231343734383336343851"),
            (i(-2147483648), "02468000000051"),
            (
                i(i64::MAX),
                "0248000000133932323333373230333638353437373538303751",
            ),
            (
                big("9223372036854775808"),
                "0248000000133932323333373230333638353437373538303851",
            ),
            (
                big("18446744073709551616"),
                "024800000014313834343637343430373337303935353136313651",
            ),
            (
                big("1267650600228229401496703205376"),
                "02480000001f3132363736353036303032323832323934303134393637303332303533373651",
            ),
            (V::Float(1.5), "02443ff800000000000051"),
            (V::Float(-0.0), "0244800000000000000051"),
            (V::Float(f64::INFINITY), "02447ff000000000000051"),
            (V::Float(f64::NAN), "02447ff800000000000051"),
            (V::Float(5e-324), "0244000000000000000151"),
            (
                V::Complex(1.0, 2.0),
                "02543ff0000000000000400000000000000051",
            ),
            (V::Bytes(vec![]), "02410000000051"),
            (V::Bytes(b"ab\0".to_vec()), "02410000000361620051"),
            (s(""), "024e0000000051"),
            (s("hé"), "024e0000000368c3a951"),
            (s("\u{1F600}"), "024e00000004f09f988051"),
            (s("a\0b"), "024e0000000361006251"),
            (V::List(vec![]), "024b0000000051"),
            (
                V::List(vec![i(1), s("a")]),
                "024b00000002460000000046000000015046000000014e00000001615051",
            ),
            (
                V::List(vec![V::List(vec![V::None])]),
                "024b0000000146000000004b0000000146000000004c505051",
            ),
            (V::List(vec![V::Bool(true)]), "024b000000014600000000525051"),
            (V::Tuple(vec![]), "02400000000051"),
            (V::Tuple(vec![i(1)]), "024600000001400000000151"),
            (V::Tuple(vec![V::None]), "024c400000000151"),
            (
                V::Tuple(vec![i(1), i(2)]),
                "0246000000014600000002400000000251",
            ),
            (V::Dict(vec![]), "024a51"),
            (
                V::Dict(vec![(s("a"), i(1)), (i(2), V::None)]),
                "024a4e000000016146000000015046000000024c5051",
            ),
            (V::Dict(vec![(V::Bool(true), i(1))]), "024a5246000000015051"),
            (
                V::Dict(vec![(V::Tuple(vec![i(1), i(2)]), V::List(vec![i(3)]))]),
                "024a4600000001460000000240000000024b0000000146000000004600000003505051",
            ),
            (V::Set(vec![]), "024f0000000051"),
            (V::Set(vec![i(1)]), "0246000000014f0000000151"),
            (V::FrozenSet(vec![]), "02450000000051"),
            (V::FrozenSet(vec![i(2)]), "024600000002450000000151"),
            (
                V::Dict(vec![(s("k"), V::FrozenSet(vec![V::Tuple(vec![i(1)])]))]),
                "024a4e000000016b4600000001400000000145000000015051",
            ),
        ]
    }

    #[test]
    fn dumps_matches_execnet_bytes() {
        for (v, expected) in execnet_cases() {
            assert_eq!(dumps(&v).unwrap(), hex(expected), "dumping {v:?}");
        }
    }

    #[test]
    fn loads_execnet_bytes() {
        for (v, bytes) in execnet_cases() {
            assert_eq!(load(&hex(bytes)).unwrap(), v, "loading {bytes}");
        }
    }

    #[test]
    fn dump_into_is_unversioned_and_appends() {
        let mut out = b"xy".to_vec();
        dump_into(&i(1), &mut out).unwrap();
        assert_eq!(out, b"xyF\0\0\0\x01Q");
        assert_eq!(
            load_unversioned(&out[2..], LoadOptions::default()),
            Ok(i(1))
        );
    }

    #[test]
    fn channel_round_trips() {
        let v = Value::Tuple(vec![Value::Channel(3), Value::Channel(-7)]);
        let b = dumps(&v).unwrap();
        assert_eq!(&b[..6], b"\x02B\0\0\0\x03");
        assert_eq!(load(&b).unwrap(), v);
    }

    #[test]
    fn ints_below_i32_use_longint() {
        // execnet 2.1.2 cannot dump these itself (struct.error) but loads them.
        assert_eq!(
            dumps(&i(-2147483649)).unwrap(),
            hex("02480000000b2d3231343734383336343951")
        );
        let b = dumps(&i(i64::MIN)).unwrap();
        assert_eq!(&b[6..b.len() - 1], b"-9223372036854775808");
        assert_eq!(load(&b).unwrap(), i(i64::MIN));
        let huge = big("-123456789012345678901234567890");
        let b = dumps(&huge).unwrap();
        assert_eq!(&b[6..b.len() - 1], b"-123456789012345678901234567890");
        assert_eq!(load(&b).unwrap(), huge);
    }

    #[test]
    fn unnormalised_bigint_still_dumps_like_python() {
        let v = Value::BigInt(BigInt::from(5));
        assert_eq!(dumps(&v).unwrap(), dumps(&i(5)).unwrap());
        let v = Value::BigInt(BigInt::from(1i64 << 40));
        assert_eq!(dumps(&v).unwrap(), dumps(&i(1 << 40)).unwrap());
    }

    #[test]
    fn longint_loads_normalise() {
        // A LONGINT that fits is an Int; one that doesn't is a BigInt.
        assert_eq!(load(b"\x02H\0\0\0\x02-5Q").unwrap(), i(-5));
        assert_eq!(load(b"\x02H\0\0\0\x03+10Q").unwrap(), i(10));
        assert_eq!(
            load(b"\x02H\0\0\0\x139223372036854775807Q").unwrap(),
            i(i64::MAX)
        );
        assert!(matches!(
            load(b"\x02H\0\0\0\x139223372036854775808Q").unwrap(),
            Value::BigInt(_)
        ));
        assert_eq!(
            load(b"\x02H\0\0\0\x14-9223372036854775808Q").unwrap(),
            i(i64::MIN)
        );
        assert_eq!(
            load(b"\x02H\0\0\0\x160000000000000000000042Q").unwrap(),
            i(42)
        );
    }

    #[test]
    fn legacy_opcodes() {
        let o = LoadOptions::default();
        assert_eq!(loads(b"\x02G\0\0\0\x05Q", o).unwrap(), i(5));
        assert_eq!(loads(b"\x02I\0\0\0\x0212Q", o).unwrap(), i(12));
        assert_eq!(loads(b"\x02S\0\0\0\x03h\xc3\xa9Q", o).unwrap(), s("hé"));
        assert_eq!(
            loads(b"\x02M\0\0\0\x02h\xe9Q", o).unwrap(),
            Value::Bytes(b"h\xe9".to_vec())
        );
    }

    #[test]
    fn coercion_flags_match_execnet() {
        // Results taken from execnet.gateway_base.loads with each flag pair.
        let flags = [(false, false), (true, false), (false, true), (true, true)];
        for (py2, py3) in flags {
            let o = LoadOptions {
                py2str_as_py3str: py2,
                py3str_as_py2str: py3,
            };
            let m = loads(b"\x02M\0\0\0\x02h\xe9Q", o).unwrap();
            let n = loads(b"\x02N\0\0\0\x03h\xc3\xa9Q", o).unwrap();
            let u = loads(b"\x02S\0\0\0\x03h\xc3\xa9Q", o).unwrap();
            if py2 {
                assert_eq!(m, s("hé"));
            } else {
                assert_eq!(m, Value::Bytes(b"h\xe9".to_vec()));
            }
            if py3 {
                assert_eq!(n, Value::Bytes(b"h\xc3\xa9".to_vec()));
            } else {
                assert_eq!(n, s("hé"));
            }
            assert_eq!(u, s("hé"));
        }
        // PY3STRING loaded as bytes is not checked for UTF-8 (execnet neither).
        let o = LoadOptions {
            py2str_as_py3str: false,
            py3str_as_py2str: true,
        };
        assert_eq!(
            loads(b"\x02N\0\0\0\x01\xffQ", o).unwrap(),
            Value::Bytes(vec![0xff])
        );
    }

    #[test]
    fn python_container_semantics() {
        // Negative and bool list indices, as Python's list assignment.
        assert_eq!(
            load(b"\x02K\0\0\0\x02F\xff\xff\xff\xffRPQ").unwrap(),
            Value::List(vec![Value::None, Value::Bool(true)])
        );
        assert_eq!(
            load(b"\x02K\0\0\0\x02RRPQ").unwrap(),
            Value::List(vec![Value::None, Value::Bool(true)])
        );
        // Unfilled list slots are None.
        assert_eq!(
            load(b"\x02K\0\0\0\x03F\0\0\0\x01RPQ").unwrap(),
            Value::List(vec![Value::None, Value::Bool(true), Value::None])
        );
        // Duplicate set members collapse, first wins.
        assert_eq!(
            load(b"\x02F\0\0\0\x01F\0\0\0\x02F\0\0\0\x01O\0\0\0\x03Q").unwrap(),
            Value::Set(vec![i(1), i(2)])
        );
        // A repeated dict key keeps its place and takes the new value.
        assert_eq!(
            load(b"\x02JF\0\0\0\x01RPF\0\0\0\x02RPF\0\0\0\x01CPQ").unwrap(),
            Value::Dict(vec![(i(1), Value::Bool(false)), (i(2), Value::Bool(true))])
        );
    }

    #[test]
    fn big_dict_with_duplicates_uses_index() {
        // 3000 entries, then every key again with a new value, then new keys.
        let mut b = vec![2, b'J'];
        for round in 0..2 {
            for k in 0..3000 {
                dump_into(&i(k), &mut b).unwrap();
                b.pop();
                dump_into(&i(k * 10 + round), &mut b).unwrap();
                b.pop();
                b.push(b'P');
            }
        }
        b.push(b'Q');
        let Value::Dict(items) = load(&b).unwrap() else {
            panic!("not a dict")
        };
        assert_eq!(items.len(), 3000);
        for (k, (key, val)) in items.iter().enumerate() {
            assert_eq!(key, &i(k as i64));
            assert_eq!(val, &i(k as i64 * 10 + 1));
        }
    }

    #[test]
    fn million_entry_dict_loads_fast() {
        let items: Vec<(Value, Value)> = (0..1_000_000)
            .map(|k| (s(&format!("k{k}")), i(k)))
            .collect();
        let v = Value::Dict(items);
        let b = dumps(&v).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(load(&b).unwrap(), v);
        // Quadratic key search would take minutes.
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }

    fn err(b: &[u8]) -> DataFormatError {
        load(b).unwrap_err()
    }

    #[test]
    fn hostile_version_and_framing() {
        assert_eq!(err(b""), DataFormatError::WrongVersion { found: None });
        assert_eq!(
            err(b"\x03Q"),
            DataFormatError::WrongVersion { found: Some(3) }
        );
        assert_eq!(err(b"\x02"), DataFormatError::MissingStop { offset: 1 });
        assert_eq!(err(b"\x02L"), DataFormatError::MissingStop { offset: 2 });
        assert_eq!(
            err(b"\x02LQZZ"),
            DataFormatError::TrailingBytes {
                offset: 2,
                count: 2
            }
        );
        assert_eq!(
            err(b"\x02Q"),
            DataFormatError::BadStop {
                offset: 1,
                items: 0
            }
        );
        assert_eq!(
            err(b"\x02LLQ"),
            DataFormatError::BadStop {
                offset: 3,
                items: 2
            }
        );
        let e = err(b"\x02LZQ");
        assert_eq!(
            e,
            DataFormatError::UnknownOpcode {
                opcode: b'Z',
                offset: 2
            }
        );
        assert_eq!(e.to_string(), "unknown opcode b'Z' (0x5a) at byte 2");
        assert_eq!(e.offset(), 2);
        assert_eq!(
            err(b"\x02\xff").to_string(),
            "unknown opcode b'\\xff' (0xff) at byte 1"
        );
        assert_eq!(
            load_unversioned(b"LL", LoadOptions::default()),
            Err(DataFormatError::MissingStop { offset: 2 })
        );
    }

    #[test]
    fn hostile_truncation() {
        assert_eq!(
            err(b"\x02F\0\0"),
            DataFormatError::Truncated {
                op: "INT",
                offset: 1,
                needed: 4,
                available: 2
            }
        );
        assert!(matches!(
            err(b"\x02D\0\0\0"),
            DataFormatError::Truncated { op: "FLOAT", .. }
        ));
        assert!(matches!(
            err(b"\x02T\0\0\0\0\0\0\0\0\0"),
            DataFormatError::Truncated { op: "COMPLEX", .. }
        ));
        assert_eq!(
            err(b"\x02N\0\0\0\x05abQ"),
            DataFormatError::Truncated {
                op: "PY3STRING",
                offset: 1,
                needed: 5,
                available: 3
            }
        );
        // A claimed 2**31-1 bytes with nothing after: no allocation, an error.
        assert!(matches!(
            err(b"\x02A\x7f\xff\xff\xff"),
            DataFormatError::Truncated {
                op: "BYTES",
                needed: 2147483647,
                ..
            }
        ));
        assert!(matches!(
            err(b"\x02H\0\0"),
            DataFormatError::Truncated { op: "LONGINT", .. }
        ));
        assert!(matches!(
            err(b"\x02B\0"),
            DataFormatError::Truncated { op: "CHANNEL", .. }
        ));
    }

    #[test]
    fn hostile_lengths_and_counts() {
        assert_eq!(
            err(b"\x02N\xff\xff\xff\xffQ"),
            DataFormatError::NegativeLength {
                op: "PY3STRING",
                offset: 1,
                value: -1
            }
        );
        assert!(matches!(
            err(b"\x02K\x80\0\0\0Q"),
            DataFormatError::NegativeLength {
                op: "NEWLIST",
                value: i32::MIN,
                ..
            }
        ));
        assert!(matches!(
            err(b"\x02@\xff\xff\xff\xfeQ"),
            DataFormatError::NegativeLength {
                op: "BUILDTUPLE",
                ..
            }
        ));
        // NEWLIST claiming 2**31-1 items with nothing after.
        assert_eq!(
            err(b"\x02K\x7f\xff\xff\xff"),
            DataFormatError::AbsurdCount {
                op: "NEWLIST",
                offset: 1,
                count: 2147483647,
                available: 0
            }
        );
        assert!(matches!(
            err(b"\x02K\x7f\xff\xff\xffQ"),
            DataFormatError::AbsurdCount { available: 1, .. }
        ));
        assert_eq!(
            err(b"\x02L@\0\0\0\x05Q"),
            DataFormatError::StackUnderflow {
                op: "BUILDTUPLE",
                offset: 2,
                needed: 5,
                found: 1
            }
        );
        assert!(matches!(
            err(b"\x02O\0\0\0\x01Q"),
            DataFormatError::StackUnderflow { op: "SET", .. }
        ));
        assert!(matches!(
            err(b"\x02E\x7f\xff\xff\xffQ"),
            DataFormatError::StackUnderflow {
                op: "FROZENSET",
                ..
            }
        ));
    }

    #[test]
    fn hostile_setitem() {
        assert_eq!(
            err(b"\x02F\0\0\0\x01F\0\0\0\x01PQ"),
            DataFormatError::StackUnderflow {
                op: "SETITEM",
                offset: 11,
                needed: 3,
                found: 2
            }
        );
        assert_eq!(
            err(b"\x02LF\0\0\0\x01F\0\0\0\x01PQ"),
            DataFormatError::NotAContainer {
                offset: 12,
                type_name: "NoneType"
            }
        );
        assert!(matches!(
            err(b"\x02@\0\0\0\0LLPQ"),
            DataFormatError::NotAContainer {
                type_name: "tuple",
                ..
            }
        ));
        assert!(matches!(
            err(b"\x02O\0\0\0\0LLPQ"),
            DataFormatError::NotAContainer {
                type_name: "set",
                ..
            }
        ));
        assert_eq!(
            err(b"\x02K\0\0\0\x02F\0\0\0\x05RPQ"),
            DataFormatError::ListIndexOutOfRange {
                offset: 12,
                index: "5".into(),
                len: 2
            }
        );
        assert!(matches!(
            err(b"\x02K\0\0\0\x02F\xff\xff\xff\xfdRPQ"),
            DataFormatError::ListIndexOutOfRange { .. }
        ));
        assert!(matches!(
            err(b"\x02K\0\0\0\x02H\0\0\0\x1412345678901234567890RPQ"),
            DataFormatError::ListIndexOutOfRange { .. }
        ));
        assert_eq!(
            err(b"\x02K\0\0\0\x02N\0\0\0\x01aRPQ"),
            DataFormatError::ListIndexNotInt {
                offset: 13,
                type_name: "str"
            }
        );
        assert!(matches!(
            err(b"\x02K\0\0\0\x02D\0\0\0\0\0\0\0\0RPQ"),
            DataFormatError::ListIndexNotInt {
                type_name: "float",
                ..
            }
        ));
    }

    #[test]
    fn hostile_unhashable() {
        assert_eq!(
            err(b"\x02JK\0\0\0\0RPQ"),
            DataFormatError::Unhashable {
                op: "SETITEM",
                offset: 8,
                type_name: "list",
                role: "dict key"
            }
        );
        assert!(matches!(
            err(b"\x02JJRPQ"),
            DataFormatError::Unhashable {
                type_name: "dict",
                ..
            }
        ));
        // A tuple holding a list is unhashable too.
        assert!(matches!(
            err(b"\x02JK\0\0\0\0@\0\0\0\x01RPQ"),
            DataFormatError::Unhashable {
                type_name: "tuple",
                ..
            }
        ));
        assert_eq!(
            err(b"\x02O\0\0\0\0O\0\0\0\x01Q"),
            DataFormatError::Unhashable {
                op: "SET",
                offset: 6,
                type_name: "set",
                role: "set member"
            }
        );
        assert!(matches!(
            err(b"\x02JE\0\0\0\x01Q"),
            DataFormatError::Unhashable {
                role: "frozenset member",
                ..
            }
        ));
        // frozensets and tuples of hashables are fine as keys and members.
        assert!(load(b"\x02JE\0\0\0\0RPQ").is_ok());
        assert!(load(b"\x02L@\0\0\0\x01O\0\0\0\x01Q").is_ok());
    }

    #[test]
    fn hostile_text() {
        let e = err(b"\x02N\0\0\0\x02a\xffQ");
        assert_eq!(
            e,
            DataFormatError::InvalidUtf8 {
                op: "PY3STRING",
                offset: 1,
                valid_up_to: 1
            }
        );
        assert!(matches!(
            err(b"\x02S\0\0\0\x01\x80Q"),
            DataFormatError::InvalidUtf8 { op: "UNICODE", .. }
        ));
        // Surrogates encoded in UTF-8 are invalid.
        assert!(matches!(
            err(b"\x02N\0\0\0\x03\xed\xa0\x80Q"),
            DataFormatError::InvalidUtf8 { .. }
        ));
        for bad in [
            &b""[..],
            b"-",
            b"+",
            b"1_0",
            b" 10",
            b"1.0",
            b"--1",
            b"0x10",
            b"\xd9\xa1",
        ] {
            let mut b = vec![2, b'H'];
            b.extend_from_slice(&(bad.len() as i32).to_be_bytes());
            b.extend_from_slice(bad);
            b.push(b'Q');
            assert!(
                matches!(
                    load(&b),
                    Err(DataFormatError::BadLongInt {
                        op: "LONGINT",
                        offset: 1,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let mut b = b"\x02I\0\0\0\x64".to_vec();
        b.extend_from_slice(&[b'x'; 100]);
        b.push(b'Q');
        let msg = err(&b).to_string();
        assert!(
            msg.starts_with("bad digits for LONGLONG at byte 1: b'xxxx"),
            "{msg}"
        );
        assert!(msg.ends_with("... (100 bytes)"), "{msg}");
    }

    /// `depth` nested single-item lists around None, execnet style.
    fn nested_lists(depth: usize) -> Vec<u8> {
        let mut b = vec![2];
        for _ in 0..depth {
            b.extend_from_slice(b"K\0\0\0\x01F\0\0\0\0");
        }
        b.push(b'L');
        b.extend(std::iter::repeat_n(b'P', depth));
        b.push(b'Q');
        b
    }

    #[test]
    fn depth_limit() {
        let ok = nested_lists(MAX_DEPTH as usize);
        let v = load(&ok).unwrap();
        assert_eq!(dumps(&v).unwrap(), ok);
        assert!(matches!(
            load(&nested_lists(MAX_DEPTH as usize + 1)),
            Err(DataFormatError::TooDeep { op: "SETITEM", .. })
        ));
        // Tuples: n LONE items then n BUILDTUPLE 1.
        let mut b = vec![2, b'L'];
        for _ in 0..=MAX_DEPTH {
            b.extend_from_slice(b"@\0\0\0\x01");
        }
        b.push(b'Q');
        assert!(matches!(
            load(&b),
            Err(DataFormatError::TooDeep {
                op: "BUILDTUPLE",
                ..
            })
        ));
        // A hostile 100k-deep input fails cleanly, no stack overflow.
        assert!(load(&nested_lists(100_000)).is_err());
    }

    #[test]
    fn dumping_is_iterative() {
        // Far deeper than the loader accepts; dumping must not recurse.
        let mut v = Value::None;
        for k in 0..20_000 {
            v = match k % 3 {
                0 => Value::List(vec![v]),
                1 => Value::Tuple(vec![i(1), v]),
                _ => Value::Dict(vec![(i(k), v)]),
            };
        }
        let b = dumps(&v).unwrap();
        assert_eq!(b.first(), Some(&2));
        assert_eq!(b.last(), Some(&b'Q'));
        // Tear the value down without recursion.
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::List(items) | Value::Tuple(items) => stack.extend(items),
                Value::Dict(items) => stack.extend(items.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    #[test]
    fn dump_error_names_type_and_path() {
        let v = Value::List(vec![
            i(1),
            s("ok"),
            Value::Dict(vec![(s("a"), i(1)), (s("key"), s("too long"))]),
        ]);
        let mut out = b"keep".to_vec();
        let e = dump_with_limit(&v, &mut out, 5).unwrap_err();
        assert_eq!(out, b"keep", "output restored on error");
        assert_eq!(
            e.to_string(),
            "cannot serialize str of 8 bytes at [2]['key']: longer than 2**31-1"
        );
        assert_eq!(e.path(), "[2]['key']");

        let v = Value::Tuple(vec![Value::Set(vec![Value::Bytes(vec![0; 9])])]);
        let e = dump_with_limit(&v, &mut Vec::new(), 5).unwrap_err();
        assert_eq!(
            e,
            DumpError::TooLong {
                type_name: "bytes",
                len: 9,
                unit: "bytes",
                path: "[0]<member #0>".into()
            }
        );

        let v = Value::Dict(vec![
            (i(1), i(2)),
            (
                Value::Tuple(vec![i(1), s("x"), Value::None]),
                Value::List(vec![Value::None; 6]),
            ),
        ]);
        let e = dump_with_limit(&v, &mut Vec::new(), 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot serialize list of 6 items at [(1, 'x', None)]: longer than 2**31-1"
        );

        let v = Value::Dict(vec![(s("fine"), i(1)), (s("a long key"), i(2))]);
        let e = dump_with_limit(&v, &mut Vec::new(), 5).unwrap_err();
        assert_eq!(e.path(), "<key #1>");

        let e = dump_with_limit(&s("toolong"), &mut Vec::new(), 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot serialize str of 7 bytes: longer than 2**31-1"
        );

        let e = dump_with_limit(&big("123456789012345678901234567890"), &mut Vec::new(), 5)
            .unwrap_err();
        assert!(matches!(
            e,
            DumpError::TooLong {
                type_name: "int",
                unit: "digits",
                ..
            }
        ));

        // Dict keys in paths are Python reprs, cut short.
        let v = Value::Dict(vec![(s(&"q'\n".repeat(50)), s(&"x".repeat(200)))]);
        let e = dump_with_limit(&v, &mut Vec::new(), 160).unwrap_err();
        assert!(e.path().starts_with("['q\\'\\nq\\'\\n"), "{}", e.path());
        assert!(e.path().ends_with("...']"), "{}", e.path());
    }

    // ---- property tests ----

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1000i32..1000).prop_map(|n| Value::Int(n.into())),
            any::<i128>().prop_map(|n| Value::from_bigint(BigInt::from(n))),
            (any::<i128>(), any::<u64>(), 0u32..200)
                .prop_map(|(a, b, sh)| Value::from_bigint((BigInt::from(a) << sh) + b)),
            any::<u64>().prop_map(|bits| Value::Float(f64::from_bits(bits))),
            any::<f64>().prop_map(Value::Float),
            (any::<f64>(), any::<f64>()).prop_map(|(a, b)| Value::Complex(a, b)),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Bytes),
            any::<String>().prop_map(Value::Str),
            "[a-z]{0,5}".prop_map(Value::Str),
            any::<i32>().prop_map(Value::Channel),
        ]
    }

    fn unique(items: Vec<Value>) -> Vec<Value> {
        let mut seen = HashSet::new();
        items
            .into_iter()
            .filter(|v| seen.insert(v.clone()))
            .collect()
    }

    fn hashable() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Tuple),
                proptest::collection::vec(inner, 0..4).prop_map(|v| Value::FrozenSet(unique(v))),
            ]
        })
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(5, 64, 6, |inner| {
            let members = || proptest::collection::vec(hashable(), 0..6).prop_map(unique);
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
                proptest::collection::vec((hashable(), inner), 0..6).prop_map(|kv| {
                    let mut seen = HashSet::new();
                    Value::Dict(
                        kv.into_iter()
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .collect(),
                    )
                }),
                members().prop_map(Value::Set),
                members().prop_map(Value::FrozenSet),
            ]
        })
    }

    proptest! {
        #[test]
        fn prop_round_trip(v in value()) {
            let b = dumps(&v).unwrap();
            prop_assert_eq!(loads(&b, LoadOptions::default()).unwrap(), v.clone());
            let mut u = Vec::new();
            dump_into(&v, &mut u).unwrap();
            prop_assert_eq!(&u[..], &b[1..]);
            prop_assert_eq!(load_unversioned(&u, LoadOptions::default()).unwrap(), v);
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = loads(&b, LoadOptions::default());
            let _ = load_unversioned(&b, LoadOptions { py2str_as_py3str: true, py3str_as_py2str: true });
        }

        #[test]
        fn prop_opcode_soup_never_panics(
            ops in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(b"@ABCDEFGHIJKLMNOPQRST".to_vec()).prop_map(|c| vec![c]),
                    (proptest::sample::select(b"@AEFHKMNOS".to_vec()), 0u8..4)
                        .prop_map(|(c, n)| vec![c, 0, 0, 0, n]),
                    Just(b"N\0\0\0\x01a".to_vec()),
                    Just(b"F\xff\xff\xff\xff".to_vec()),
                ],
                0..40,
            )
        ) {
            let b: Vec<u8> = ops.concat();
            let _ = load_unversioned(&b, LoadOptions::default());
        }

        #[test]
        fn prop_mutated_dumps_never_panic(
            v in value(),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let b = dumps(&v).unwrap();
            // Truncation anywhere is an error, never a panic.
            let at = cut.index(b.len());
            prop_assert!(loads(&b[..at], LoadOptions::default()).is_err());
            let mut m = b.clone();
            for (pos, x) in flips {
                let p = pos.index(m.len());
                m[p] ^= x;
            }
            let _ = loads(&m, LoadOptions::default());
            let _ = loads(&m, LoadOptions { py2str_as_py3str: true, py3str_as_py2str: true });
        }
    }
}

#[cfg(test)]
mod longint_limit_tests {
    use super::*;

    #[test]
    fn huge_longint_text_is_refused_before_conversion() {
        let digits = MAX_LONGINT_DIGITS + 10;
        let mut data = vec![b'H'];
        data.extend_from_slice(&(digits as i32).to_be_bytes());
        data.extend(std::iter::repeat_n(b'7', digits));
        data.push(b'Q');
        let err = load_unversioned(&data, LoadOptions::default()).unwrap_err();
        assert!(
            matches!(err, DataFormatError::LongIntTooLong { offset: 0, .. }),
            "{err}"
        );
        // The limit itself still loads.
        let mut ok = vec![b'H'];
        ok.extend_from_slice(&(5000i32).to_be_bytes());
        ok.extend(std::iter::repeat_n(b'9', 5000));
        ok.push(b'Q');
        assert!(matches!(
            load_unversioned(&ok, LoadOptions::default()),
            Ok(Value::BigInt(_))
        ));
    }
}
