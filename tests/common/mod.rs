//! Shared helpers for the integration tests: the test interpreter, worker
//! sources, bounded waits and process checks.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

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
