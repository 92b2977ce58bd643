//! [`Value`]: every Python value that can cross an execnet channel.

use std::hash::{Hash, Hasher};

use num_bigint::BigInt;
use num_traits::ToPrimitive;

/// A Python value as carried by the execnet serializer (PROTOCOL.md §3).
///
/// Integers are [`Value::Int`] when they fit in an `i64` and [`Value::BigInt`]
/// otherwise; every constructor in this crate keeps that rule, so derived
/// equality compares integers by value. Dicts, sets and frozensets keep the
/// order in which their items were written (a dict's insertion order is part
/// of its value in Python too; for sets it is only the wire order).
///
/// Equality is structural: floats compare by bit pattern (so `NaN == NaN` and
/// `0.0 != -0.0`), which makes `Value` usable as a map key. Python's
/// cross-type equalities (`1 == 1.0 == True`) are not modelled.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` outside the `i64` range (never used for values that fit).
    BigInt(BigInt),
    /// A `float`.
    Float(f64),
    /// A `complex` as (real, imag).
    Complex(f64, f64),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `str`.
    Str(String),
    /// `list`.
    List(Vec<Value>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// `set`, in wire order.
    Set(Vec<Value>),
    /// `frozenset`, in wire order.
    FrozenSet(Vec<Value>),
    /// A channel of the gateway the value travels on, by channel id.
    Channel(i32),
}

impl Value {
    /// An integer value from a big integer, using [`Value::Int`] when it fits.
    pub fn from_bigint(n: BigInt) -> Value {
        match n.to_i64() {
            Some(small) => Value::Int(small),
            None => Value::BigInt(n),
        }
    }

    /// A `str` value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The Python type name of this value (`"int"`, `"dict"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Channel(_) => "Channel",
        }
    }

    /// The string, when this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when this is an `int` that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Looks up `key` in a dict value by string key; `None` for other values
    /// or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether Python could use this value as a dict key or set member
    /// (no list, dict or set inside).
    pub fn is_hashable(&self) -> bool {
        match self {
            Value::List(_) | Value::Dict(_) | Value::Set(_) => false,
            Value::Tuple(items) | Value::FrozenSet(items) => items.iter().all(Value::is_hashable),
            _ => true,
        }
    }

    /// Calls `f` with every channel id inside this value, depth first.
    pub fn for_each_channel(&self, f: &mut impl FnMut(i32)) {
        match self {
            Value::Channel(id) => f(*id),
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => items.iter().for_each(|v| v.for_each_channel(f)),
            Value::Dict(items) => items.iter().for_each(|(k, v)| {
                k.for_each_channel(f);
                v.for_each_channel(f);
            }),
            _ => {}
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Complex(a, b), Complex(c, d)) => {
                a.to_bits() == c.to_bits() && b.to_bits() == d.to_bits()
            }
            (Bytes(a), Bytes(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (List(a), List(b))
            | (Tuple(a), Tuple(b))
            | (Set(a), Set(b))
            | (FrozenSet(a), FrozenSet(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            (Channel(a), Channel(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::None => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(n) => n.hash(state),
            Value::BigInt(n) => n.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::Complex(re, im) => {
                re.to_bits().hash(state);
                im.to_bits().hash(state);
            }
            Value::Bytes(b) => b.hash(state),
            Value::Str(s) => s.hash(state),
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => items.hash(state),
            Value::Dict(items) => items.hash(state),
            Value::Channel(id) => id.hash(state),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

impl From<BigInt> for Value {
    fn from(n: BigInt) -> Value {
        Value::from_bigint(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::None, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_normalises_to_int_when_it_fits() {
        assert_eq!(Value::from_bigint(BigInt::from(5)), Value::Int(5));
        let big = BigInt::from(i64::MAX) + 1;
        assert!(matches!(Value::from_bigint(big), Value::BigInt(_)));
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    }

    #[test]
    fn hashable_follows_python_rules() {
        assert!(Value::Tuple(vec![Value::Int(1), Value::str("a")]).is_hashable());
        assert!(!Value::Tuple(vec![Value::List(vec![])]).is_hashable());
        assert!(!Value::Set(vec![]).is_hashable());
        assert!(Value::FrozenSet(vec![]).is_hashable());
    }

    #[test]
    fn channels_are_found_anywhere() {
        let v = Value::Dict(vec![(
            Value::str("a"),
            Value::List(vec![
                Value::Channel(3),
                Value::Tuple(vec![Value::Channel(5)]),
            ]),
        )]);
        let mut ids = vec![];
        v.for_each_channel(&mut |id| ids.push(id));
        assert_eq!(ids, vec![3, 5]);
    }
}
