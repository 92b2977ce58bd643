//! Python's `==` and `<` on values, a hash key that follows `==` (for
//! de-duplicating set items and dict keys), and CPython's sort order as
//! `pprint` uses it.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_traits::FromPrimitive;

use super::Value;

/// A real number as Python compares it.
enum Real<'a> {
    Int(BigInt),
    Big(&'a BigInt),
    Float(f64),
}

/// A number: `None` imaginary part for `bool`/`int`/`float`.
fn as_number(v: &Value) -> Option<(Real<'_>, Option<f64>)> {
    match v {
        Value::Bool(b) => Some((Real::Int(BigInt::from(u8::from(*b))), None)),
        Value::Int(n) => Some((Real::Int(BigInt::from(*n)), None)),
        Value::BigInt(n) => Some((Real::Big(n), None)),
        Value::Float(x) => Some((Real::Float(*x), None)),
        Value::Complex(re, im) => Some((Real::Float(*re), Some(*im))),
        _ => None,
    }
}

fn int_float_cmp(n: &BigInt, x: f64) -> Option<Ordering> {
    if x.is_nan() {
        return None;
    }
    if x.is_infinite() {
        return Some(if x > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let floor = x.floor();
    let fl = BigInt::from_f64(floor)?;
    Some(match n.cmp(&fl) {
        Ordering::Less => Ordering::Less,
        Ordering::Greater => Ordering::Greater,
        Ordering::Equal => {
            if x > floor {
                Ordering::Less
            } else {
                Ordering::Equal
            }
        }
    })
}

/// Exact comparison of two reals; `None` when a NaN is involved.
fn real_cmp(a: &Real<'_>, b: &Real<'_>) -> Option<Ordering> {
    let int = |r: &Real<'_>| -> Option<BigInt> {
        match r {
            Real::Int(n) => Some(n.clone()),
            Real::Big(n) => Some((*n).clone()),
            Real::Float(_) => None,
        }
    };
    match (a, b) {
        (Real::Float(x), Real::Float(y)) => x.partial_cmp(y),
        (Real::Float(x), _) => {
            let n = int(b)?;
            int_float_cmp(&n, *x).map(Ordering::reverse)
        }
        (_, Real::Float(y)) => {
            let n = int(a)?;
            int_float_cmp(&n, *y)
        }
        _ => Some(int(a)?.cmp(&int(b)?)),
    }
}

/// Python's `a == b` for these values (`1 == 1.0 == True`, `{1} ==
/// frozenset({1})`, NaN unequal to itself, order-insensitive sets).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some((ra, ia)), Some((rb, ib))) = (as_number(a), as_number(b)) {
        return real_cmp(&ra, &rb) == Some(Ordering::Equal)
            && ia.unwrap_or(0.0) == ib.unwrap_or(0.0);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Channel(x), Value::Channel(y)) => x == y,
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Set(x) | Value::FrozenSet(x), Value::Set(y) | Value::FrozenSet(y)) => set_eq(x, y),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| py_eq(k, k2))
                        .is_some_and(|(_, v2)| py_eq(v, v2))
                })
        }
        _ => false,
    }
}

/// Whether `b` is `a` as a round trip should give it back: equal with the
/// same types at every level (`True` is not `1`, `1` is not `1.0`), dicts
/// in the same order, sets and frozensets in any order.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Set(x), Value::Set(y)) | (Value::FrozenSet(x), Value::FrozenSet(y)) => {
            x.len() == y.len() && x.iter().all(|i| y.iter().any(|j| same_value(i, j)))
        }
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| same_value(i, j))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same_value(k1, k2) && same_value(v1, v2))
        }
        _ => a == b,
    }
}

fn contains(set: &[Value], item: &Value) -> bool {
    set.iter().any(|x| py_eq(x, item))
}

fn set_eq(x: &[Value], y: &[Value]) -> bool {
    x.iter().all(|i| contains(y, i)) && y.iter().all(|i| contains(x, i))
}

/// Python's `a < b`, or `None` where Python raises `TypeError` (different
/// types, complex numbers, dicts, `None`). NaN compares false.
pub fn py_lt(a: &Value, b: &Value) -> Option<bool> {
    if let (Some((ra, ia)), Some((rb, ib))) = (as_number(a), as_number(b)) {
        if ia.is_some() || ib.is_some() {
            return None;
        }
        return Some(real_cmp(&ra, &rb) == Some(Ordering::Less));
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x < y),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x < y),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            match x.iter().zip(y).position(|(p, q)| !py_eq(p, q)) {
                Some(i) => py_lt(&x[i], &y[i]),
                None => Some(x.len() < y.len()),
            }
        }
        (Value::Set(x) | Value::FrozenSet(x), Value::Set(y) | Value::FrozenSet(y)) => {
            // Proper subset.
            Some(x.len() < y.len() && x.iter().all(|i| contains(y, i)))
        }
        _ => None,
    }
}

/// `str(type(v))`, for `pprint`'s fallback order of incomparable values.
fn type_str(v: &Value) -> String {
    match v {
        Value::Channel(_) => "<class 'execnet.gateway_base.Channel'>".to_owned(),
        v => format!("<class '{}'>", v.type_name()),
    }
}

/// A key equal for two values exactly when Python's `==` says they are
/// (for hashable values), so that a hash map can de-duplicate set items and
/// dict keys like Python does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    None,
    Int(BigInt),
    Float(u64),
    Complex(u64, u64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(u8, Vec<Key>),
    Set(Vec<Key>),
    Dict(Vec<(Key, Key)>),
    Channel(i32),
    /// Never equal to another key (NaN).
    Unique(usize),
}

fn real_key(x: f64, unique: &mut usize) -> Key {
    if x.is_nan() {
        *unique += 1;
        return Key::Unique(*unique);
    }
    if x.is_finite()
        && x.fract() == 0.0
        && let Some(n) = BigInt::from_f64(x)
    {
        return Key::Int(n);
    }
    Key::Float(x.to_bits())
}

/// The `==`-respecting key of `v`; `unique` numbers NaNs apart.
pub(crate) fn key(v: &Value, unique: &mut usize) -> Key {
    match v {
        Value::None => Key::None,
        Value::Bool(b) => Key::Int(BigInt::from(u8::from(*b))),
        Value::Int(n) => Key::Int(BigInt::from(*n)),
        Value::BigInt(n) => Key::Int(n.clone()),
        Value::Float(x) => real_key(*x, unique),
        Value::Complex(re, im) => {
            if *im == 0.0 {
                real_key(*re, unique)
            } else if re.is_nan() || im.is_nan() {
                *unique += 1;
                Key::Unique(*unique)
            } else {
                // `+ 0.0` turns -0.0 into 0.0.
                Key::Complex((re + 0.0).to_bits(), im.to_bits())
            }
        }
        Value::Str(s) => Key::Str(s.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::List(items) => Key::Seq(0, items.iter().map(|i| key(i, unique)).collect()),
        Value::Tuple(items) => Key::Seq(1, items.iter().map(|i| key(i, unique)).collect()),
        Value::Set(items) | Value::FrozenSet(items) => {
            let mut keys: Vec<Key> = items.iter().map(|i| key(i, unique)).collect();
            keys.sort();
            keys.dedup();
            Key::Set(keys)
        }
        Value::Dict(items) => {
            let mut keys: Vec<(Key, Key)> = items
                .iter()
                .map(|(k, v)| (key(k, unique), key(v, unique)))
                .collect();
            keys.sort();
            Key::Dict(keys)
        }
        Value::Channel(id) => Key::Channel(*id),
    }
}

/// Sorts `0..n` by `lt` like CPython's `list.sort`: for fewer than 64 items
/// the exact algorithm (a run, then binary insertion), so even inconsistent
/// comparisons (NaN, subsets) give CPython's order; for more, a stable merge
/// sort, which gives the same order whenever `lt` is a consistent order.
fn cpython_sort(n: usize, lt: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    if n < 2 {
        return v;
    }
    if n >= 64 {
        merge_sort(&mut v, lt);
        return v;
    }
    let mut run = 2;
    if lt(v[1], v[0]) {
        while run < n && lt(v[run], v[run - 1]) {
            run += 1;
        }
        v[..run].reverse();
    } else {
        while run < n && !lt(v[run], v[run - 1]) {
            run += 1;
        }
    }
    for start in run..n {
        let pivot = v[start];
        let (mut l, mut r) = (0, start);
        while l < r {
            let p = l + (r - l) / 2;
            if lt(pivot, v[p]) {
                r = p;
            } else {
                l = p + 1;
            }
        }
        v.copy_within(l..start, l + 1);
        v[l] = pivot;
    }
    v
}

fn merge_sort(v: &mut Vec<usize>, lt: &dyn Fn(usize, usize) -> bool) {
    let n = v.len();
    let mut buf = vec![0usize; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                if lt(v[j], v[i]) {
                    buf[k] = v[j];
                    j += 1;
                } else {
                    buf[k] = v[i];
                    i += 1;
                }
                k += 1;
            }
            buf[k..k + (mid - i)].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buf[k..k + (end - j)].copy_from_slice(&v[j..end]);
            start = end;
        }
        std::mem::swap(v, &mut buf);
        width *= 2;
    }
}

/// `pprint`'s `_safe_key` order: `<` where Python allows it, else the type
/// name and then the position (CPython uses the object's address).
fn safe_lt(items: &[&Value], i: usize, j: usize) -> bool {
    let (a, b) = (items[i], items[j]);
    match py_lt(a, b) {
        Some(lt) => lt,
        None => (type_str(a), i) < (type_str(b), j),
    }
}

/// The order `sorted(items, key=_safe_key)` puts set items in.
pub(crate) fn sorted_set_order(items: &[Value]) -> Vec<usize> {
    let refs: Vec<&Value> = items.iter().collect();
    cpython_sort(refs.len(), &|i, j| safe_lt(&refs, i, j))
}

/// The order `sorted(d.items(), key=_safe_tuple)` puts dict items in (by
/// key only: two different `_safe_key` objects never compare equal).
pub(crate) fn sorted_dict_order(items: &[(Value, Value)]) -> Vec<usize> {
    let refs: Vec<&Value> = items.iter().map(|(k, _)| k).collect();
    cpython_sort(refs.len(), &|i, j| safe_lt(&refs, i, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> Value {
        Value::from_bigint(s.parse().unwrap())
    }

    #[test]
    fn cross_type_equality() {
        assert!(py_eq(&Value::Int(1), &Value::Float(1.0)));
        assert!(py_eq(&Value::Bool(true), &Value::Complex(1.0, 0.0)));
        assert!(!py_eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
        assert!(py_eq(&Value::Float(0.0), &Value::Float(-0.0)));
        assert!(!py_eq(
            &big("9007199254740993"),
            &Value::Float(9007199254740992.0)
        ));
        assert!(py_eq(
            &Value::Set(vec![Value::Int(1), Value::Int(2)]),
            &Value::FrozenSet(vec![Value::Int(2), Value::Int(1)])
        ));
        assert!(!py_eq(&Value::Tuple(vec![]), &Value::List(vec![])));
    }

    #[test]
    fn ordering() {
        assert_eq!(py_lt(&Value::Int(1), &Value::Float(1.5)), Some(true));
        assert_eq!(
            py_lt(&big("9007199254740993"), &Value::Float(9007199254740992.0)),
            Some(false)
        );
        assert_eq!(
            py_lt(&Value::Float(9007199254740992.0), &big("9007199254740993")),
            Some(true)
        );
        assert_eq!(py_lt(&Value::Int(1), &Value::str("a")), None);
        assert_eq!(
            py_lt(&Value::Complex(0.0, 1.0), &Value::Complex(0.0, 2.0)),
            None
        );
        assert_eq!(py_lt(&Value::str("a"), &Value::str("b")), Some(true));
        let t = |v: Vec<Value>| Value::Tuple(v);
        assert_eq!(
            py_lt(
                &t(vec![Value::Int(1)]),
                &t(vec![Value::Int(1), Value::Int(0)])
            ),
            Some(true)
        );
        assert_eq!(
            py_lt(&t(vec![Value::Int(1)]), &t(vec![Value::str("x")])),
            None
        );
    }

    #[test]
    fn keys_follow_equality() {
        let mut u = 0;
        assert_eq!(key(&Value::Int(1), &mut u), key(&Value::Float(1.0), &mut u));
        assert_eq!(
            key(&Value::Bool(true), &mut u),
            key(&Value::Complex(1.0, -0.0), &mut u)
        );
        assert_eq!(
            key(&Value::Complex(-0.0, 2.0), &mut u),
            key(&Value::Complex(0.0, 2.0), &mut u)
        );
        assert_ne!(
            key(&Value::Float(f64::NAN), &mut u),
            key(&Value::Float(f64::NAN), &mut u)
        );
        assert_ne!(key(&Value::Float(1.5), &mut u), key(&Value::Int(1), &mut u));
    }

    #[test]
    fn sort_like_cpython() {
        let items: Vec<Value> = [3, 1, 2].iter().map(|n| Value::Int(*n)).collect();
        assert_eq!(sorted_set_order(&items), vec![1, 2, 0]);
        let mixed = vec![
            Value::str("b"),
            Value::Int(2),
            Value::str("a"),
            Value::Int(1),
        ];
        // ints (<class 'int'>) before strs (<class 'str'>), each sorted.
        assert_eq!(sorted_set_order(&mixed), vec![3, 1, 2, 0]);
        let many: Vec<Value> = (0..200).rev().map(Value::Int).collect();
        let order = sorted_set_order(&many);
        assert_eq!(order, (0..200).rev().collect::<Vec<_>>());
    }
}
