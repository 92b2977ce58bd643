//! Property tests: `parse_literal` never panics, and `repr` / `repr_pretty`
//! output reads back as the same value.

use num_bigint::BigInt;
use proptest::prelude::*;

use super::{parse_literal, py_eq, repr, repr_prefix, repr_pretty};
use crate::wire::Value;

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

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
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
}

/// Keeps the first of items Python considers equal (as a set literal
/// would), so that the value survives a round trip.
fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.iter().any(|x| py_eq(x, &v)) {
            out.push(v);
        }
    }
    out
}

fn dedup_keys(items: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    let mut out: Vec<(Value, Value)> = Vec::new();
    for (k, v) in items {
        if !out.iter().any(|(x, _)| py_eq(x, &k)) {
            out.push((k, v));
        }
    }
    out
}

fn hashable() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Tuple),
            proptest::collection::vec(inner, 0..4).prop_map(|v| Value::FrozenSet(dedup(v))),
        ]
    })
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            proptest::collection::vec((hashable(), inner), 0..5)
                .prop_map(|v| Value::Dict(dedup_keys(v))),
            proptest::collection::vec(hashable(), 0..6).prop_map(|v| Value::Set(dedup(v))),
            proptest::collection::vec(hashable(), 0..6).prop_map(|v| Value::FrozenSet(dedup(v))),
        ]
    })
}

/// Sets in a canonical order (pretty printing sorts the sets it breaks).
fn canon(v: &Value) -> Value {
    let sorted = |items: &[Value]| {
        let mut c: Vec<Value> = items.iter().map(canon).collect();
        c.sort_by_key(repr);
        c
    };
    match v {
        Value::List(i) => Value::List(i.iter().map(canon).collect()),
        Value::Tuple(i) => Value::Tuple(i.iter().map(canon).collect()),
        Value::Set(i) => Value::Set(sorted(i)),
        Value::FrozenSet(i) => Value::FrozenSet(sorted(i)),
        Value::Dict(i) => Value::Dict(i.iter().map(|(k, x)| (canon(k), canon(x))).collect()),
        v => v.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_literal(&s);
    }

    #[test]
    fn parse_never_panics_on_python_like_text(
        s in "[\\[\\](){}'\"\\\\,:+\\-0-9a-fA-F_.#\n\r\t jJxXoObBeEuUrRnN]{0,40}"
    ) {
        if let Err(e) = parse_literal(&s) {
            let text = e.to_string();
            prop_assert!(text.contains('^'));
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }

    #[test]
    fn parse_never_panics_on_damaged_reprs(v in value(), cut in any::<prop::sample::Index>(), junk in any::<char>()) {
        let text = repr(&v);
        let chars: Vec<char> = text.chars().collect();
        let at = cut.index(chars.len() + 1);
        let truncated: String = chars[..at].iter().collect();
        let _ = parse_literal(&truncated);
        let mut inserted = chars.clone();
        inserted.insert(at, junk);
        let _ = parse_literal(&inserted.into_iter().collect::<String>());
        if at < chars.len() {
            let mut removed = chars;
            removed.remove(at);
            let _ = parse_literal(&removed.into_iter().collect::<String>());
        }
    }

    #[test]
    fn repr_reads_back(v in value()) {
        let text = repr(&v);
        match parse_literal(&text) {
            Ok(back) => prop_assert_eq!(back, v, "{}", text),
            Err(e) => prop_assert!(false, "{text} does not parse: {e}"),
        }
    }

    #[test]
    fn repr_prefix_is_a_prefix_of_repr(v in value(), max in 0usize..80) {
        let want: String = repr(&v).chars().take(max).collect();
        prop_assert_eq!(repr_prefix(&v, max), want);
    }

    #[test]
    fn pretty_reads_back(v in value(), width in 1usize..100) {
        let text = repr_pretty(&v, width);
        match parse_literal(&text) {
            Ok(back) => prop_assert_eq!(canon(&back), canon(&v), "{}", text),
            Err(e) => prop_assert!(false, "{text} does not parse: {e}"),
        }
    }
}

#[test]
fn non_finite_floats_are_not_literals() {
    for x in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        assert!(parse_literal(&repr(&Value::Float(x))).is_err());
    }
    assert!(parse_literal(&repr(&Value::Channel(3))).is_err());
}
