//! `pyrepr` against real CPython: `tests/py/repr_corpus.py` prints what the
//! interpreter says about ~1100 values (repr, `ast.literal_eval` of the
//! repr, `pprint.pformat` at several widths) and ~200 literal sources; every
//! line is checked here against `repr`, `parse_literal` and `repr_pretty` /
//! `pformat`.
//!
//! Interpreter: the test suite's (`common::python()`: `$EXECDECK_TEST_PYTHON`,
//! else `<crate>/.venv/bin/python`, which `scripts/test.sh` creates). Python
//! is required: when it is missing or cannot be started the tests fail and
//! say why. `EXECDECK_CORPUS_SEED` changes the random part of the corpus.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use execdeck::wire::Value;
use execdeck::wire::pyrepr::{
    PrettyOptions, is_printable, parse_literal, pformat, repr, repr_pretty,
};
use num_bigint::BigInt;
use serde_json::Value as Json;

const TIMEOUT: Duration = Duration::from_secs(120);

struct Corpus {
    lines: Vec<Json>,
    /// Code points whose printability differs between this crate's Unicode
    /// tables and the interpreter's.
    diff_chars: HashSet<char>,
}

fn run_python() -> Vec<Json> {
    let python = common::python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/repr_corpus.py");
    let mut cmd = Command::new(&python);
    cmd.arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(seed) = std::env::var("EXECDECK_CORPUS_SEED") {
        cmd.arg(seed);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot start {python}: {e}; these tests need Python 3: set EXECDECK_TEST_PYTHON \
             or run scripts/test.sh"
        ),
    };
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait for python") {
            Some(status) => break status,
            None if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{python} {script} took longer than {TIMEOUT:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = out_reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    assert!(
        status.success(),
        "{python} {script} failed: {status}\n{err}"
    );
    let lines: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus line is JSON"))
        .collect();
    assert!(
        lines.len() > 1000,
        "corpus too small: {} lines",
        lines.len()
    );
    lines
}

fn in_ranges(ranges: &Json) -> Vec<bool> {
    let mut table = vec![false; 0x110000];
    for r in ranges.as_array().expect("ranges") {
        let a = r[0].as_u64().expect("start") as usize;
        let b = r[1].as_u64().expect("end") as usize;
        table[a..=b].iter_mut().for_each(|x| *x = true);
    }
    table
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let lines = run_python();
        let uni = lines
            .iter()
            .find(|l| l["kind"] == "unicode")
            .expect("unicode line");
        let nonprintable = in_ranges(&uni["nonprintable"]);
        let unassigned = in_ranges(&uni["unassigned"]);
        let mut diff_chars = HashSet::new();
        let mut bad = Vec::new();
        for cp in 0..0x110000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let py = !nonprintable[cp as usize];
            if is_printable(c) != py {
                diff_chars.insert(c);
                // Only characters the interpreter's (older) Unicode
                // does not know yet may differ.
                if py || !unassigned[cp as usize] {
                    bad.push(format!("U+{cp:04X}"));
                }
            }
        }
        eprintln!(
            "python {} (Unicode {}): {} code points differ in printability, all unassigned there",
            uni["python"],
            uni["unidata_version"],
            diff_chars.len()
        );
        assert!(
            bad.is_empty(),
            "printability differs from CPython beyond new assignments: {bad:?}"
        );
        Corpus { lines, diff_chars }
    })
}

fn untag(t: &Json) -> Value {
    let kind = t[0].as_str().expect("tag kind");
    let items = || -> Vec<Value> { t[1].as_array().expect("items").iter().map(untag).collect() };
    let float = |j: &Json| {
        f64::from_bits(u64::from_str_radix(j.as_str().expect("bits"), 16).expect("hex bits"))
    };
    match kind {
        "none" => Value::None,
        "bool" => Value::Bool(t[1].as_bool().expect("bool")),
        "int" => Value::from_bigint(
            t[1].as_str()
                .expect("int")
                .parse::<BigInt>()
                .expect("int text"),
        ),
        "float" => Value::Float(float(&t[1])),
        "complex" => Value::Complex(float(&t[1]), float(&t[2])),
        "str" => Value::Str(
            t[1].as_array()
                .expect("code points")
                .iter()
                .map(|c| char::from_u32(c.as_u64().expect("cp") as u32).expect("not a surrogate"))
                .collect(),
        ),
        "bytes" => {
            let hex = t[1].as_str().expect("hex");
            Value::Bytes(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex byte"))
                    .collect(),
            )
        }
        "list" => Value::List(items()),
        "tuple" => Value::Tuple(items()),
        "set" => Value::Set(items()),
        "frozenset" => Value::FrozenSet(items()),
        "dict" => Value::Dict(
            t[1].as_array()
                .expect("dict items")
                .iter()
                .map(|kv| (untag(&kv[0]), untag(&kv[1])))
                .collect(),
        ),
        other => panic!("unknown tag {other}"),
    }
}

fn any(v: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
    if pred(v) {
        return true;
    }
    match v {
        Value::List(i) | Value::Tuple(i) | Value::Set(i) | Value::FrozenSet(i) => {
            i.iter().any(|x| any(x, pred))
        }
        Value::Dict(i) => i.iter().any(|(k, x)| any(k, pred) || any(x, pred)),
        _ => false,
    }
}

/// The value with every set's items in repr order, for comparing values
/// whose set order CPython's hashing may have changed.
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

/// Whether our reading of some text gives what CPython's `literal_eval`
/// gave (its repr `lit`), allowing a different set order.
fn same_as_python(ours: &Value, lit: &str) -> bool {
    if repr(ours) == lit {
        return true;
    }
    match parse_literal(lit) {
        Ok(theirs) => canon(ours) == canon(&theirs),
        Err(_) => false,
    }
}

fn has_diff_char(v: &Value, diff: &HashSet<char>) -> bool {
    any(
        v,
        &|x| matches!(x, Value::Str(s) if s.chars().any(|c| diff.contains(&c))),
    )
}

#[test]
fn unicode_printability_matches_cpython() {
    // The checks run while loading the corpus.
    let _ = corpus();
}

#[test]
fn repr_matches_cpython() {
    let c = corpus();
    let (mut checked, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for line in c.lines.iter().filter(|l| l["kind"] == "value") {
        let v = untag(&line["v"]);
        if has_diff_char(&v, &c.diff_chars) {
            skipped += 1;
            continue;
        }
        let want = line["repr"].as_str().expect("repr");
        let got = repr(&v);
        if got != want {
            failures.push(format!("want {want}\n got {got}"));
        }
        checked += 1;
    }
    eprintln!(
        "repr: {checked} values checked, {skipped} skipped (characters newer than the interpreter's Unicode)"
    );
    assert!(checked > 1000);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bulk_float_reprs_match_cpython() {
    let c = corpus();
    let line = c
        .lines
        .iter()
        .find(|l| l["kind"] == "floats")
        .expect("floats line");
    let bits = line["bits"].as_array().expect("bits");
    let reprs = line["reprs"].as_array().expect("reprs");
    assert_eq!(bits.len(), reprs.len());
    let mut failures = Vec::new();
    for (b, r) in bits.iter().zip(reprs) {
        let x = f64::from_bits(u64::from_str_radix(b.as_str().expect("bits"), 16).expect("hex"));
        let want = r.as_str().expect("repr");
        let got = repr(&Value::Float(x));
        if got != want {
            failures.push(format!("{b}: want {want}, got {got}"));
        }
        // Finite reprs read back to the same double.
        if x.is_finite() {
            match parse_literal(want) {
                Ok(Value::Float(y)) if y.to_bits() == x.to_bits() => {}
                other => failures.push(format!("{want} read back as {other:?}")),
            }
        }
    }
    eprintln!("floats: {} reprs checked", bits.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_literal_reads_cpython_reprs() {
    let c = corpus();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in c.lines.iter().filter(|l| l["kind"] == "value") {
        let v = untag(&line["v"]);
        if has_diff_char(&v, &c.diff_chars) {
            continue;
        }
        let text = line["repr"].as_str().expect("repr");
        let parsed = parse_literal(text);
        checked += 1;
        match (line["lit"].as_str(), parsed) {
            (Some(lit), Ok(p)) => {
                if !same_as_python(&p, lit) {
                    failures.push(format!(
                        "{text}: literal_eval gives {lit}, we read {}",
                        repr(&p)
                    ));
                } else if lit == text && p != v {
                    failures.push(format!("{text}: read back as a different value {p:?}"));
                }
            }
            (Some(lit), Err(e)) => {
                failures.push(format!("{text}: literal_eval gives {lit}, we fail: {e}"))
            }
            (None, result) => {
                // literal_eval refuses inf/nan and frozenset(...); we accept
                // frozenset(...) as an extension.
                let nonfinite = any(&v, &|x| match x {
                    Value::Float(f) => !f.is_finite(),
                    Value::Complex(a, b) => !a.is_finite() || !b.is_finite(),
                    _ => false,
                });
                let has_frozenset = any(&v, &|x| matches!(x, Value::FrozenSet(_)));
                match result {
                    Ok(p) if nonfinite || !has_frozenset => failures.push(format!(
                        "{text}: literal_eval refuses it, we read {}",
                        repr(&p)
                    )),
                    Ok(p) if p != v => failures.push(format!("{text}: read back as {}", repr(&p))),
                    Err(e) if !nonfinite => failures.push(format!("{text}: we fail: {e}")),
                    _ => {}
                }
            }
        }
    }
    eprintln!("parse_literal: {checked} reprs read");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn pretty_matches_pprint() {
    let c = corpus();
    let (mut checked, mut failures) = (0, Vec::new());
    for line in c.lines.iter().filter(|l| l["kind"] == "value") {
        let v = untag(&line["v"]);
        if has_diff_char(&v, &c.diff_chars) {
            continue;
        }
        for (key, sort_dicts) in [("pp", false), ("pps", true)] {
            let Some(widths) = line[key].as_object() else {
                continue;
            };
            for (w, want) in widths {
                let width: usize = w.parse().expect("width");
                let want = want.as_str().expect("pformat text");
                let got = if sort_dicts {
                    pformat(
                        &v,
                        &PrettyOptions {
                            width,
                            ..PrettyOptions::default()
                        },
                    )
                } else {
                    repr_pretty(&v, width)
                };
                checked += 1;
                if got != want {
                    failures.push(format!(
                        "width {width} sort_dicts={sort_dicts} of {}:\nwant:\n{want}\ngot:\n{got}",
                        line["repr"]
                    ));
                }
            }
        }
    }
    eprintln!("pprint: {checked} layouts checked");
    assert!(checked > 3000);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Sources where we knowingly differ from `ast.literal_eval`.
fn known_difference(src: &str) -> bool {
    // `...` has no Value; `\N{...}` needs a name table.
    src.trim() == "..." || src.contains("\\N{")
}

#[test]
fn parse_literal_agrees_with_literal_eval() {
    let c = corpus();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in c.lines.iter().filter(|l| l["kind"] == "source") {
        let src = line["src"].as_str().expect("src");
        if known_difference(src) {
            assert!(parse_literal(src).is_err(), "{src:?}");
            continue;
        }
        checked += 1;
        match (line["lit"].as_str(), parse_literal(src)) {
            (Some(lit), Ok(v)) if !same_as_python(&v, lit) => failures.push(format!(
                "{src:?}: literal_eval gives {lit}, we read {}",
                repr(&v)
            )),
            (Some(lit), Err(e)) => {
                failures.push(format!("{src:?}: literal_eval gives {lit}, we fail: {e}"))
            }
            (None, Ok(v)) => failures.push(format!(
                "{src:?}: literal_eval raises {}, we read {}",
                line["exc"],
                repr(&v)
            )),
            (None, Err(e)) => {
                let text = e.to_string();
                assert!(text.contains('^'), "error display without a caret: {text}");
                assert!(e.line >= 1 && e.column >= 1);
            }
            _ => {}
        }
    }
    eprintln!("sources: {checked} compared with literal_eval");
    assert!(checked > 150);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
