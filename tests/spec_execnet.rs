//! Compare `XSpec::parse` with execnet's own `XSpec` on a list of spec strings.
//!
//! The interpreter comes from `EXECDECK_TEST_PYTHON`, else
//! `<CARGO_MANIFEST_DIR>/.venv/bin/python`; it must have execnet installed.
//! The Python side is `tests/py/xspec_dump.py`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{python, run_bounded};

use execdeck::spec::XSpec;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What we expect of a spec compared with execnet.
enum Expect {
    /// Both accept with the same values, or both refuse.
    Same,
    /// execnet's XSpec accepts it, execdeck refuses it (the reason why).
    Stricter(&'static str),
}
use Expect::*;

const CASES: &[(&str, Expect)] = &[
    // Accepted by both.
    ("popen", Same),
    ("popen//python=p//chdir=d//nice=5//env:A=1", Same),
    ("ssh=-p 5000 host", Same),
    ("ssh=user@host//python=python3.12//chdir=/tmp/w", Same),
    ("socket=localhost:8888", Same),
    ("socket=10.0.0.2:1//id=s1", Same),
    ("socket//installvia=gw0", Same),
    ("popen//id=gw7", Same),
    ("popen//via=gw0//python=python3", Same),
    ("popen//a=b=c", Same),
    ("popen//python=a==b", Same),
    ("popen// id=x", Same),
    ("popen//id = x", Same),
    ("popen//env:A=1//env:B=2//env:A=3", Same),
    ("popen//env:a b=c d//env:_X=1", Same),
    ("popen//env:A=", Same),
    ("popen//foo//bar=baz", Same),
    ("popen//dont_write_bytecode", Same),
    ("popen//execmodel=main_thread_only", Same),
    ("popen//execmodel=gevent", Same),
    ("popen//execmodel=eventlet//id=e", Same),
    ("popen//execmodel=thread//nice=-3", Same),
    ("popen//nice= 5", Same),
    ("popen//nice=1_0", Same),
    ("popen///x", Same),
    ("popen//chdir=/tmp/", Same),
    ("cmd=docker exec -i box python3", Same),
    ("popen//é=ü", Same),
    // Refused by both.
    ("", Same),
    ("//", Same),
    ("popen//", Same),
    ("//popen", Same),
    ("popen////id=x", Same),
    ("popen//=x", Same),
    ("popen//python=a//python=b", Same),
    ("popen//popen", Same),
    ("popen//_x=1", Same),
    ("popen//__init__", Same),
    ("popen//env=1", Same),
    ("popen//env:A=1//env=3", Same),
    // Accepted by execnet's XSpec, refused here.
    (
        "python=x",
        Stricter("no gateway type (makegateway fails too)"),
    ),
    (" popen", Stricter("no gateway type: keys are not trimmed")),
    (
        "ssh=h//popen",
        Stricter("two gateway types (execnet picks popen)"),
    ),
    (
        "popen//nice=abc",
        Stricter("nice must be an integer (execnet: int() fails later)"),
    ),
    ("socket=foo", Stricter("socket must be host:port")),
    (
        "popen//execmodel=bogus",
        Stricter("unknown execmodel (execnet fails later)"),
    ),
    ("vagrant_ssh=default", Same),
    ("vagrant_ssh=box//python=python3.11//ssh_config=/c", Same),
    (
        "popen//ssh_config=/c",
        Stricter("ssh_config applies only to ssh and vagrant_ssh"),
    ),
    ("popen//env:A", Stricter("env:NAME needs a value")),
    ("popen//env:=x", Stricter("empty env name cannot be set")),
    ("popen=1", Stricter("popen is a flag")),
    ("popen//id=", Stricter("empty id (execnet asserts later)")),
    ("popen//python=", Stricter("empty value for a known key")),
    ("popen//chdir", Stricter("chdir needs a value")),
    (
        "socket=h:1//via=gw0",
        Stricter("via with socket (execnet asserts later)"),
    ),
    (
        "popen//installvia=gw0",
        Stricter("installvia applies only to socket"),
    ),
];

/// Run tests/py/xspec_dump.py on `specs`, bounded by `TIMEOUT`.
fn execnet_results(specs: &[&str]) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/xspec_dump.py");
    let input = serde_json::to_vec(specs).unwrap();
    let out = run_bounded(Command::new(python()).arg(&script), Some(input), TIMEOUT);
    assert!(
        out.status.success(),
        "{} {} failed ({}); is execnet installed?\n{}",
        python(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON from xspec_dump.py");
    assert_eq!(results.len(), specs.len());
    results
}

/// Our values in the shape xspec_dump.py prints execnet's.
fn our_fields(x: &XSpec) -> Value {
    let field = |k: &str| match x.get(k) {
        None => Value::Null,
        Some(_) if x.is_flag(k) => Value::Bool(true),
        Some(v) => Value::String(v.to_owned()),
    };
    let env: Vec<Value> = x.env().iter().map(|(k, v)| json!([k, v])).collect();
    json!({
        "python": field("python"),
        "chdir": field("chdir"),
        "nice": field("nice"),
        "id": field("id"),
        "ssh": field("ssh"),
        "socket": field("socket"),
        "via": field("via"),
        "popen": field("popen"),
        "vagrant_ssh": field("vagrant_ssh"),
        "ssh_config": field("ssh_config"),
        "env": env,
        "nice_int": x.nice(),
    })
}

#[test]
fn parse_agrees_with_execnet() {
    let specs: Vec<&str> = CASES.iter().map(|(s, _)| *s).collect();
    let theirs = execnet_results(&specs);
    let mut problems = Vec::new();
    for ((spec, expect), t) in CASES.iter().zip(&theirs) {
        let ours = XSpec::parse(spec);
        let t_ok = t["ok"] == Value::Bool(true);
        match (expect, &ours, t_ok) {
            (Same, Ok(x), true) => {
                if t["str"] != Value::String(x.to_string()) {
                    problems.push(format!("{spec:?}: str differs: {} vs {x}", t["str"]));
                }
                let mine = our_fields(x);
                if mine != t["fields"] {
                    problems.push(format!(
                        "{spec:?}: fields differ\n  execdeck: {mine}\n  execnet:  {}",
                        t["fields"]
                    ));
                }
            }
            (Same, Err(_), false) => {}
            (Same, _, _) => problems.push(format!(
                "{spec:?}: execdeck {:?} but execnet {t}",
                ours.as_ref()
                    .map(|x| x.to_string())
                    .map_err(|e| e.to_string())
            )),
            (Stricter(_), Err(_), true) => {}
            (Stricter(why), _, _) => problems.push(format!(
                "{spec:?} (expected: execnet accepts, execdeck refuses: {why}): \
                 execdeck {:?}, execnet {t}",
                ours.as_ref()
                    .map(|x| x.to_string())
                    .map_err(|e| e.to_string())
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
