//! The loader: [`loads`] and [`load_unversioned`], an iterative stack machine
//! over a byte slice that is safe on hostile input.

use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use num_bigint::BigInt;

use super::{DataFormatError, FORMAT_VERSION, LoadOptions, MAX_DEPTH, MAX_LONGINT_DIGITS, op};
use crate::wire::Value;
use crate::wire::pyrepr::bytes_repr;

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

/// The Python repr of (the start of) a byte string, for error messages.
fn preview(text: &[u8]) -> String {
    let mut s = bytes_repr(&text[..text.len().min(40)]);
    if text.len() > 40 {
        let _ = write!(s, "... ({} bytes)", text.len());
    }
    s
}
