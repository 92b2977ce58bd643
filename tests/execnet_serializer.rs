//! The serializer against the real execnet package.
//!
//! The Python interpreter (with `execnet` importable) is `$EXECDECK_TEST_PYTHON`,
//! else `<crate>/.venv/bin/python`. The test fails, rather than skips, when it
//! is missing. The Python side is `tests/py/serializer_corpus.py`:
//!
//! 1. `dump`: execnet dumps every corpus value; we load each, compare it with
//!    the corpus description and re-dump it: the bytes must be identical.
//! 2. `check`: execnet loads our bytes (the re-dumps, plus ints only we can
//!    write) and compares them with the corpus values.
//! 3. `legacy`: hand-written programs (legacy opcodes, coercion flags, Python
//!    container semantics, rejected input) loaded by execnet with each flag
//!    pair; we must give the same value, or an error where execnet errors.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{python, run_bounded};

use execdeck::wire::Value;
use execdeck::wire::serial::{LoadOptions, dumps, loads};
use num_bigint::BigInt;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the corpus script in `mode`, feeding `input`; returns stdout. Panics
/// on a non-zero exit or when it takes longer than [`TIMEOUT`].
fn run_corpus(mode: &str, input: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/serializer_corpus.py");
    let out = run_bounded(
        Command::new(python())
            .arg(&script)
            .arg(mode)
            .env("PYTHONHASHSEED", "0"),
        Some(input.as_bytes().to_vec()),
        TIMEOUT,
    );
    assert!(
        out.status.success(),
        "serializer_corpus.py {mode} failed ({}); is execnet installed for {}?\n{}",
        out.status,
        python(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        write!(s, "{x:02x}").unwrap();
    }
    s
}

fn f(x: f64) -> String {
    to_hex(&x.to_bits().to_be_bytes())
}

/// The same canonical text as `describe()` in serializer_corpus.py (sets in
/// wire order).
fn describe(v: &Value) -> String {
    let join = |items: &[Value]| items.iter().map(describe).collect::<Vec<_>>().join(",");
    match v {
        Value::None => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(n) => format!("i:{n}"),
        Value::BigInt(n) => format!("i:{n}"),
        Value::Float(x) => format!("f:{}", f(*x)),
        Value::Complex(re, im) => format!("c:{}:{}", f(*re), f(*im)),
        Value::Bytes(b) => format!("y:{}", to_hex(b)),
        Value::Str(s) => format!("s:{}", to_hex(s.as_bytes())),
        Value::List(items) => format!("[{}]", join(items)),
        Value::Tuple(items) => format!("({})", join(items)),
        Value::Dict(items) => format!(
            "{{{}}}",
            items
                .iter()
                .map(|(k, v)| format!("{}=>{}", describe(k), describe(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Set(items) => format!("set{{{}}}", join(items)),
        Value::FrozenSet(items) => format!("frozenset{{{}}}", join(items)),
        Value::Channel(id) => format!("channel:{id}"),
    }
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn short(s: &str) -> &str {
    let end = s.char_indices().nth(200).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

#[test]
fn execnet_corpus_round_trips_both_ways() {
    let corpus = json_lines(&run_corpus("dump", ""));
    assert!(
        corpus.len() >= 200,
        "corpus has only {} values",
        corpus.len()
    );

    // execnet → us → same bytes.
    let mut failures = Vec::new();
    let mut requests = String::new();
    for rec in &corpus {
        let i = rec["i"].as_u64().unwrap();
        let bytes = from_hex(rec["hex"].as_str().unwrap());
        let want = rec["desc"].as_str().unwrap();
        let v = match loads(&bytes, LoadOptions::default()) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("#{i}: we cannot load execnet's bytes: {e}"));
                continue;
            }
        };
        let have = describe(&v);
        if have != want {
            failures.push(format!(
                "#{i}: loaded value differs\n  want {}\n  have {}",
                short(want),
                short(&have)
            ));
        }
        let again = dumps(&v).unwrap();
        if again != bytes {
            let at = again.iter().zip(&bytes).take_while(|(a, b)| a == b).count();
            failures.push(format!(
                "#{i}: re-dumped bytes differ from execnet's at byte {at} (ours {} bytes, execnet {})",
                again.len(),
                bytes.len()
            ));
        }
        requests.push_str(&serde_json::json!({"i": i, "hex": to_hex(&again)}).to_string());
        requests.push('\n');
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Ints that execnet 2.1.2 cannot dump itself (below -2**31) but must load.
    let ints: Vec<BigInt> = [
        "-2147483649",
        "-2147483650",
        "-4294967296",
        "-9223372036854775807",
        "-9223372036854775808",
        "-9223372036854775809",
        "-18446744073709551616",
        "-10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000007",
    ]
    .iter()
    .map(|s| s.parse::<BigInt>().unwrap())
    .chain([-(BigInt::from(1) << 1000u32), BigInt::from(1) << 1000u32])
    .collect();
    for n in &ints {
        let v = Value::from_bigint(n.clone());
        let hex = to_hex(&dumps(&v).unwrap());
        requests.push_str(&serde_json::json!({"int": n.to_string(), "hex": hex}).to_string());
        requests.push('\n');
    }

    // us → execnet → same value.
    let results = json_lines(&run_corpus("check", &requests));
    assert_eq!(
        results.len(),
        corpus.len() + ints.len(),
        "execnet answered {} of {} checks",
        results.len(),
        corpus.len() + ints.len()
    );
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] != serde_json::Value::Bool(true))
        .map(|r| {
            let n = r["n"].as_u64().unwrap() as usize;
            let what = if n < corpus.len() {
                format!("corpus #{n}")
            } else {
                format!("int {}", ints[n - corpus.len()])
            };
            format!("{what}: {}", r["detail"].as_str().unwrap_or("?"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "execnet disagrees with our bytes in {} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn legacy_programs_load_like_execnet() {
    let cases = json_lines(&run_corpus("legacy", ""));
    assert!(cases.len() >= 40, "only {} legacy cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let hex = case["hex"].as_str().unwrap();
        let flags = case["flags"].as_array().unwrap();
        let opts = LoadOptions {
            py2str_as_py3str: flags[0].as_bool().unwrap(),
            py3str_as_py2str: flags[1].as_bool().unwrap(),
        };
        let ours = loads(&from_hex(hex), opts);
        match (case.get("desc").and_then(|d| d.as_str()), ours) {
            (Some(want), Ok(v)) => {
                let have = describe(&v);
                if have != want {
                    failures.push(format!("{hex} {opts:?}: want {want}, have {have}"));
                }
            }
            (Some(want), Err(e)) => failures.push(format!(
                "{hex} {opts:?}: execnet loads {want}, we fail: {e}"
            )),
            (None, Ok(v)) => failures.push(format!(
                "{hex} {opts:?}: execnet fails ({}), we load {}",
                case["error"],
                describe(&v)
            )),
            (None, Err(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
