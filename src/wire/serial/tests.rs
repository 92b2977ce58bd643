//! Unit and property tests of the serializer.

use num_bigint::BigInt;
use proptest::prelude::*;

use super::dump::dump_with_limit;
use super::*;
use crate::wire::Value;
use crate::wire::strategies::{self, Kind};

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
fn big_dict_round_trips() {
    // Far past DICT_INDEX_THRESHOLD, so keys are found through the index.
    // How fast a 1M-entry dict goes is measured by `cargo bench --bench
    // compare` (the `serializer-dict` workload), not asserted here.
    let items: Vec<(Value, Value)> = (0..20_000).map(|k| (s(&format!("k{k}")), i(k))).collect();
    let v = Value::Dict(items);
    let b = dumps(&v).unwrap();
    assert_eq!(load(&b).unwrap(), v);
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
    // Opcodes show as Python writes a one-byte bytes.
    assert_eq!(
        err(b"\x02'").to_string(),
        "unknown opcode b\"'\" (0x27) at byte 1"
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

    let e =
        dump_with_limit(&big("123456789012345678901234567890"), &mut Vec::new(), 5).unwrap_err();
    assert!(matches!(
        e,
        DumpError::TooLong {
            type_name: "int",
            unit: "digits",
            ..
        }
    ));

    // Dict keys in paths are Python reprs (as `repr()` writes them), cut
    // after 60 characters.
    let key = s(&"q'\n".repeat(50));
    let v = Value::Dict(vec![(key.clone(), s(&"x".repeat(200)))]);
    let e = dump_with_limit(&v, &mut Vec::new(), 160).unwrap_err();
    let shown: String = crate::wire::pyrepr::repr(&key).chars().take(60).collect();
    assert!(shown.starts_with("\"q'\\nq'\\n"), "{shown}");
    assert_eq!(e.path(), format!("[{shown}...]"));

    // Floats in keys read as Python writes them; deep keys are cut, not
    // followed to the bottom.
    let v = Value::Dict(vec![(
        Value::Tuple(vec![Value::Float(1e16), Value::Float(f64::NAN)]),
        s("too long"),
    )]);
    let e = dump_with_limit(&v, &mut Vec::new(), 5).unwrap_err();
    assert_eq!(e.path(), "[(1e+16, nan)]");
    let mut deep = i(1);
    for _ in 0..20_000 {
        deep = Value::Tuple(vec![deep]);
    }
    let v = Value::Dict(vec![(deep, s("too long"))]);
    let e = dump_with_limit(&v, &mut Vec::new(), 5).unwrap_err();
    assert_eq!(e.path(), format!("[{}...]", "(".repeat(60)));
    // Tear the value down without recursion.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Tuple(items) => stack.extend(items),
            Value::Dict(items) => stack.extend(items.into_iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
    }
}

// ---- property tests ----

fn value() -> impl Strategy<Value = Value> {
    strategies::value(Kind::Wire)
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
