//! Property tests: `parse_literal` never panics, and `repr` / `repr_pretty`
//! output reads back as the same value.

use proptest::prelude::*;

use super::{parse_literal, repr, repr_prefix, repr_pretty};
use crate::wire::Value;
use crate::wire::strategies::{self, Kind};

fn value() -> impl Strategy<Value = Value> {
    strategies::value(Kind::Literal)
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
