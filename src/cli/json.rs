//! The JSON form of values printed by `--json` (one JSON document per line).
//!
//! | Python | JSON |
//! |---|---|
//! | `None`, `True`/`False` | `null`, `true`/`false` |
//! | `int` (any size) | number (all digits, never rounded) |
//! | `float` | number; `nan`, `inf`, `-inf` as `{"$float": "nan"}` etc. |
//! | `str` | string |
//! | `list`, `tuple` | array |
//! | `dict` with only `str` keys | object (insertion order) |
//! | other `dict` | `{"$dict": [[key, value], ...]}` |
//! | `bytes` | `{"$bytes": "<base64>"}` |
//! | `complex` | `{"$complex": [real, imag]}` |
//! | `set`, `frozenset` | `{"$set": [...]}`, `{"$frozenset": [...]}` |
//! | channel | `{"$channel": id}` |

use base64::Engine as _;

use crate::wire::Value;

/// The JSON text for `v` (see the module docs for the mapping).
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_str(s: &str, out: &mut String) {
    // serde_json's string escaping cannot fail for a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str(r#"{"$float": "nan"}"#);
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 {
            r#"{"$float": "inf"}"#
        } else {
            r#"{"$float": "-inf"}"#
        });
    } else {
        out.push_str(&format!("{f:?}"));
    }
}

fn write_seq<'a>(items: impl IntoIterator<Item = &'a Value>, out: &mut String) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_json(item, out);
    }
    out.push(']');
}

fn write_tagged(tag: &str, out: &mut String, body: impl FnOnce(&mut String)) {
    out.push_str("{\"$");
    out.push_str(tag);
    out.push_str("\": ");
    body(out);
    out.push('}');
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::BigInt(n) => out.push_str(&n.to_string()),
        Value::Float(f) => write_float(*f, out),
        Value::Complex(re, im) => write_tagged("complex", out, |out| {
            out.push('[');
            write_float(*re, out);
            out.push_str(", ");
            write_float(*im, out);
            out.push(']');
        }),
        Value::Bytes(b) => write_tagged("bytes", out, |out| {
            write_str(&base64::engine::general_purpose::STANDARD.encode(b), out)
        }),
        Value::Str(s) => write_str(s, out),
        Value::List(items) | Value::Tuple(items) => write_seq(items, out),
        Value::Dict(items) if items.iter().all(|(k, _)| matches!(k, Value::Str(_))) => {
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(k, out);
                out.push_str(": ");
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Dict(items) => write_tagged("dict", out, |out| {
            out.push('[');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('[');
                write_json(k, out);
                out.push_str(", ");
                write_json(v, out);
                out.push(']');
            }
            out.push(']');
        }),
        Value::Set(items) => write_tagged("set", out, |out| write_seq(items, out)),
        Value::FrozenSet(items) => write_tagged("frozenset", out, |out| write_seq(items, out)),
        Value::Channel(id) => write_tagged("channel", out, |out| out.push_str(&id.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    fn parses(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON: {s}: {e}"))
    }

    #[test]
    fn mapping() {
        let v = Value::Dict(vec![
            (
                Value::str("a"),
                Value::List(vec![Value::Int(1), Value::Float(1.5), Value::None]),
            ),
            (
                Value::str("b"),
                Value::Tuple(vec![Value::Bool(true), Value::str("x\"y")]),
            ),
        ]);
        let s = to_json(&v);
        assert_eq!(s, r#"{"a": [1, 1.5, null], "b": [true, "x\"y"]}"#);
        parses(&s);
    }

    #[test]
    fn tagged_types_are_valid_json() {
        let big = Value::from_bigint(BigInt::from(2).pow(100));
        assert_eq!(to_json(&big), "1267650600228229401496703205376");
        for (v, want) in [
            (Value::Bytes(b"hi".to_vec()), r#"{"$bytes": "aGk="}"#),
            (Value::Float(f64::NAN), r#"{"$float": "nan"}"#),
            (Value::Complex(1.0, -2.0), r#"{"$complex": [1.0, -2.0]}"#),
            (Value::Set(vec![Value::Int(1)]), r#"{"$set": [1]}"#),
            (Value::Channel(3), r#"{"$channel": 3}"#),
            (
                Value::Dict(vec![(Value::Int(1), Value::Int(2))]),
                r#"{"$dict": [[1, 2]]}"#,
            ),
        ] {
            let s = to_json(&v);
            assert_eq!(s, want);
            parses(&s);
        }
        parses(&to_json(&Value::Float(1e300)));
        parses(&to_json(&Value::Float(1e-7)));
    }
}
