//! Shared helpers for the integration tests: the test interpreter, worker
//! sources, bounded waits and process checks.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use execdeck::engine::GroupOptions;
use execdeck::transport::bootstrap::BootSource;
use execdeck::{Group, Value};

/// The Python interpreter with `execnet` installed: `EXECDECK_TEST_PYTHON`,
/// else `.venv/bin/python` in the repository (made by `scripts/test.sh`).
pub fn python() -> String {
    if let Ok(p) = std::env::var("EXECDECK_TEST_PYTHON") {
        return p;
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "no test interpreter: {} is missing; run scripts/test.sh (it creates the venv with execnet) \
         or set EXECDECK_TEST_PYTHON",
        p.display()
    );
    p.display().to_string()
}

/// A popen spec using the test interpreter, plus `extra` (e.g. `//chdir=x`).
pub fn popen(extra: &str) -> String {
    format!("popen//python={}{extra}", python())
}

/// The source of execnet's own worker (from the installed package), set up
/// to serve stdin/stdout like execnet's popen bootstrap does.
pub fn execnet_worker_source() -> String {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let out = Command::new(python())
                .args(["-c", "import execnet.gateway_base as g; print(g.__file__)"])
                .output()
                .expect("run the test interpreter");
            assert!(
                out.status.success(),
                "execnet is not importable: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let base = std::fs::read_to_string(&path).expect("read execnet's gateway_base.py");
            format!(
                "{base}\nexecmodel = get_execmodel('thread')\nio = init_popen_io(execmodel)\n\
                 io.write('1'.encode('ascii'))\nserve(io, id='execnet-worker')\n"
            )
        })
        .clone()
}

/// Which worker a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// execdeck's `bootstrap/worker.py`.
    Ours,
    /// execnet's own worker from the installed package.
    Execnet,
}

/// A group whose popen gateways start `worker`.
pub fn group(worker: Worker) -> Group {
    let boot = match worker {
        Worker::Ours => BootSource::Execdeck,
        Worker::Execnet => BootSource::Raw(execnet_worker_source()),
    };
    Group::with_options(GroupOptions {
        boot,
        ..GroupOptions::default()
    })
}

/// Runs `cmd` to its end with `input` on its stdin (or none), reading its
/// stdout and stderr all along so a child that prints much never blocks;
/// kills it and fails the test when it runs longer than `limit`.
pub fn run_bounded(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default();
        std::thread::spawn(move || {
            // The child may stop reading; that is its answer, not ours to judge.
            let _ = stdin.write_all(&input);
        })
    });
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// The `execdeck` binary of this build.
pub fn execdeck() -> Command {
    Command::new(env!("CARGO_BIN_EXE_execdeck"))
}

/// Runs an `execdeck` command with a 60 s limit, so a hang fails the test.
pub fn run_cli(cmd: &mut Command) -> Output {
    run_bounded(cmd, None, Duration::from_secs(60))
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Awaits `fut`, failing the test if it takes longer than `secs`.
pub async fn within<F: Future>(secs: u64, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s"),
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls until `pid` is gone, at most `secs`.
pub async fn wait_gone(pid: u32, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !pid_alive(pid)
}

/// Shorthand for a str value.
pub fn s(text: &str) -> Value {
    Value::str(text)
}

/// Whether `v` is an int below -2**31 (execnet 2.1.2 cannot dump those).
pub fn below_int32(v: &Value) -> bool {
    match v {
        Value::Int(n) => *n < i32::MIN as i64,
        Value::BigInt(n) => n.sign() == num_bigint::Sign::Minus,
        _ => false,
    }
}

/// Values of every type the serializer knows, edge cases included.
pub fn corpus() -> Vec<Value> {
    let big = num_bigint::BigInt::from(2).pow(100);
    vec![
        Value::None,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(-1),
        Value::Int(i32::MAX as i64),
        Value::Int(i32::MAX as i64 + 1),
        Value::Int(i32::MIN as i64),
        Value::Int(i32::MIN as i64 - 1),
        Value::Int(i64::MAX),
        Value::Int(i64::MIN),
        Value::from_bigint(big.clone()),
        Value::from_bigint(-big),
        Value::Float(1.5),
        Value::Float(-0.0),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NAN),
        Value::Float(5e-324),
        Value::Complex(1.0, -2.5),
        Value::Bytes(vec![0, 1, 2, 255]),
        Value::Bytes(vec![]),
        s(""),
        s("héllo wörld ✓ \u{1F600} \0 nul"),
        Value::List(vec![]),
        Value::List(vec![
            Value::Int(1),
            s("two"),
            Value::List(vec![Value::None]),
        ]),
        Value::Tuple(vec![]),
        Value::Tuple(vec![Value::Int(1)]),
        Value::Dict(vec![]),
        Value::Dict(vec![
            (s("b"), Value::Int(1)),
            (s("a"), Value::Int(2)),
            (Value::Int(3), Value::Tuple(vec![Value::Bool(true)])),
            (Value::Tuple(vec![Value::Int(1), s("x")]), Value::None),
        ]),
        Value::Set(vec![]),
        Value::Set(vec![Value::Int(1), Value::Int(2), s("three")]),
        Value::FrozenSet(vec![Value::Int(1), Value::FrozenSet(vec![])]),
    ]
}
pub mod sshd;
pub mod tui;
