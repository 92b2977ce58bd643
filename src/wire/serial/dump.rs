//! The writer: [`dumps`] and [`dump_into`], a single iterative pass over a
//! [`Value`] that appends execnet's opcodes to one `Vec<u8>`.

use std::fmt::Write as _;

use num_traits::ToPrimitive;

use super::{DumpError, FORMAT_VERSION, MAX_LEN, op};
use crate::wire::{Value, pyrepr};

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

/// [`dump_into`] with a lower length limit than the int32 operand's (for
/// tests); on error `out` is left as it was.
pub(super) fn dump_with_limit(v: &Value, out: &mut Vec<u8>, limit: usize) -> Result<(), DumpError> {
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
                    path.push_str(&short_repr(&items[*next].0));
                    path.push(']');
                } else {
                    let _ = write!(path, "<key #{next}>");
                }
            }
        }
    }
    path
}

/// How many characters of a dict key's repr an error path shows.
const KEY_REPR_CHARS: usize = 60;

/// The Python repr of a dict key for an error path, cut after
/// [`KEY_REPR_CHARS`] characters with `...`.
fn short_repr(v: &Value) -> String {
    let mut text = pyrepr::repr_prefix(v, KEY_REPR_CHARS + 1);
    if let Some((at, _)) = text.char_indices().nth(KEY_REPR_CHARS) {
        text.truncate(at);
        text.push_str("...");
    }
    text
}
