//! Proptest strategies for [`Value`]s, shared by the property tests of the
//! serializer (`serial/tests.rs`) and of the Python text (`pyrepr/proptests.rs`).
//!
//! Both want the same shapes (scalars, then lists, tuples, dicts, sets and
//! frozensets of them, with hashable keys and members) but differ in which
//! scalars make sense: [`Kind`] says which.

use std::collections::HashSet;

use num_bigint::BigInt;
use proptest::prelude::*;

use super::Value;
use super::pyrepr::py_eq;

/// Which values a strategy makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Anything the serializer carries: every float bit pattern (NaN and
    /// infinities too), channels, any text. Set members and dict keys are
    /// unique by [`Value`] equality, as the loader keeps them.
    Wire,
    /// Values whose `repr` reads back through `parse_literal`: finite
    /// floats, complex numbers whose repr round-trips, no channels. Set
    /// members and dict keys are unique by Python equality, as a literal
    /// keeps them.
    Literal,
}

/// Whether a complex number's repr reads back to the same bits. Like in
/// CPython it does not always: `(1-0j)` reads as `1 - 0j == (1+0j)`, and
/// `-1j` as `-(1j) == (-0-1j)`.
fn complex_roundtrips(re: f64, im: f64) -> bool {
    if !re.is_finite() || !im.is_finite() {
        return false;
    }
    if re == 0.0 {
        re.is_sign_positive() && im.is_sign_positive()
    } else {
        !(im == 0.0 && im.is_sign_negative())
    }
}

/// Finite floats, with the edge cases (zeros, 1e16, the smallest
/// subnormal) and short decimals mixed in.
fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<i32>().prop_map(f64::from),
        (any::<i32>(), 0u32..12).prop_map(|(m, e)| f64::from(m) / f64::from(10u32.pow(e.min(9)))),
        Just(0.0),
        Just(-0.0),
        Just(1e16),
        Just(5e-324),
    ]
    .prop_filter("finite", |x| x.is_finite())
}

/// Values without items.
pub(crate) fn scalar(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Wire => prop_oneof![
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
        .boxed(),
        Kind::Literal => prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (any::<i128>(), any::<u64>()).prop_map(|(a, b)| {
                Value::from_bigint(BigInt::from(a) * BigInt::from(b) * BigInt::from(b))
            }),
            finite_f64().prop_map(Value::Float),
            (finite_f64(), finite_f64())
                .prop_filter("round-trips", |(re, im)| complex_roundtrips(*re, *im))
                .prop_map(|(re, im)| Value::Complex(re, im)),
            any::<String>().prop_map(Value::Str),
            "[a'\"\\\\\n\t\u{0}\u{7f}\u{a0}é\u{2028}\u{fffe}😀 ]{0,12}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        ]
        .boxed(),
    }
}

/// Sizes of the generated trees, per kind (as each test suite had them).
struct Shape {
    /// `prop_recursive` depth, desired size and expected branch size for
    /// hashable values.
    hashable: (u32, u32, u32),
    /// The same for any value.
    value: (u32, u32, u32),
    /// Most entries in a dict.
    dict_entries: usize,
}

fn shape(kind: Kind) -> Shape {
    match kind {
        Kind::Wire => Shape {
            hashable: (3, 16, 4),
            value: (5, 64, 6),
            dict_entries: 6,
        },
        Kind::Literal => Shape {
            hashable: (2, 12, 4),
            value: (3, 48, 6),
            dict_entries: 5,
        },
    }
}

/// Keeps the first of items that are equal for `kind` (see [`Kind`]).
fn unique(kind: Kind, items: Vec<Value>) -> Vec<Value> {
    match kind {
        Kind::Wire => {
            let mut seen = HashSet::new();
            items
                .into_iter()
                .filter(|v| seen.insert(v.clone()))
                .collect()
        }
        Kind::Literal => {
            let mut out: Vec<Value> = Vec::new();
            for v in items {
                if !out.iter().any(|x| py_eq(x, &v)) {
                    out.push(v);
                }
            }
            out
        }
    }
}

/// Keeps the first entry of keys that are equal for `kind` (see [`Kind`]).
fn unique_keys(kind: Kind, items: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    match kind {
        Kind::Wire => {
            let mut seen = HashSet::new();
            items
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect()
        }
        Kind::Literal => {
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (k, v) in items {
                if !out.iter().any(|(x, _)| py_eq(x, &k)) {
                    out.push((k, v));
                }
            }
            out
        }
    }
}

/// Values Python can hash: scalars, and tuples and frozensets of them.
pub(crate) fn hashable(kind: Kind) -> BoxedStrategy<Value> {
    let (depth, size, branch) = shape(kind).hashable;
    scalar(kind)
        .prop_recursive(depth, size, branch, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Tuple),
                proptest::collection::vec(inner, 0..4)
                    .prop_map(move |v| Value::FrozenSet(unique(kind, v))),
            ]
        })
        .boxed()
}

/// Any value: scalars and nested containers, with hashable dict keys and
/// set members.
pub(crate) fn value(kind: Kind) -> BoxedStrategy<Value> {
    let Shape {
        value: (depth, size, branch),
        dict_entries,
        ..
    } = shape(kind);
    scalar(kind)
        .prop_recursive(depth, size, branch, move |inner| {
            let members = move || {
                proptest::collection::vec(hashable(kind), 0..6).prop_map(move |v| unique(kind, v))
            };
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
                proptest::collection::vec((hashable(kind), inner), 0..dict_entries)
                    .prop_map(move |kv| Value::Dict(unique_keys(kind, kv))),
                members().prop_map(Value::Set),
                members().prop_map(Value::FrozenSet),
            ]
        })
        .boxed()
}
