//! Interpreters behind shims. `python3` on PATH is often a script that picks
//! the interpreter (pyenv, asdf) and costs ~100 ms per start. The first
//! popen gateway of a group that names such a script runs it once, asks
//! the interpreter it chose for `sys.executable` and the environment the
//! shim set up, and the group's later gateways with the same `python=`,
//! `env:` keys and working directory start that interpreter directly, with
//! the same environment changes: the interpreter the shim would have
//! chosen, without paying for the shim each time.
//!
//! Only a version manager's shim is asked: a script (`#!` first) that names
//! pyenv, asdf or mise (rtx) in its first 4 KiB. Any other program, a
//! wrapper script of the user's among them (it may do more than choose),
//! is started as it is, every time; so is a shim whose question fails.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::OnceCell;

/// How long the shim may take to answer, at most (and at most half of the
/// start's own timeout): a real shim answers in a fraction of a second; a
/// start that is not answered in time goes on through the shim itself.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the interpreter behind a shim printed: its executable, then each
/// environment variable as `NAME=VALUE`, NUL-separated.
const ASK: &str = "import os, sys\n\
sys.stdout.buffer.write(os.fsencode(sys.executable) + b'\\0' + b'\\0'.join(\
os.fsencode(k) + b'=' + os.fsencode(v) for k, v in os.environ.items()))";

/// The interpreter a shim chose, and how it changed the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The interpreter itself.
    pub executable: PathBuf,
    /// Variables the shim set or changed, to set again when starting it directly.
    pub env: Vec<(OsString, OsString)>,
}

/// Which shim, started how: the program, the spec's `env:` pairs, and the
/// working directory the process starts in.
type Key = (String, Vec<(String, String)>, PathBuf);

/// One question per key, answered once.
type Answers = HashMap<Key, Arc<OnceCell<Option<Resolved>>>>;

/// The answers of a group's shims (cheap to clone; shared by its starts).
#[derive(Debug, Clone, Default)]
pub struct ShimCache {
    answers: Arc<Mutex<Answers>>,
}

impl ShimCache {
    /// The interpreter to start for `python` with `env`: `None` to start
    /// `python` itself (it is not a shim, or the shim could not be asked).
    /// Concurrent starts with the same key wait for one question.
    pub async fn resolve(
        &self,
        python: &str,
        env: &[(String, String)],
        startup_timeout: Duration,
    ) -> Option<Resolved> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let key = (python.to_owned(), env.to_vec(), cwd);
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            answers.entry(key).or_default().clone()
        };
        let patience = ASK_TIMEOUT.min(startup_timeout / 2);
        // Boxed: every popen start awaits this, and a group's starts run at
        // once; the question's state must not make each start's future big.
        cell.get_or_init(|| Box::pin(ask(python, env, patience)))
            .await
            .clone()
    }
}

/// Finds `python` as a spawn would (a path, or a name on PATH, as the
/// spec's `env:PATH` would change it) and asks it when it is a script.
async fn ask(python: &str, env: &[(String, String)], patience: Duration) -> Option<Resolved> {
    let path_var = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let program = find_program(python, path_var.as_deref())?;
    if !is_shim(&program) {
        return None;
    }
    let mut cmd = Command::new(&program);
    cmd.args(["-c", ASK])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let answer = tokio::time::timeout(patience, read_answer(cmd))
        .await
        .ok()??;
    let mut launched: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in env {
        launched.insert(k.into(), v.into());
    }
    parse_answer(&answer, &launched)
}

/// Runs the question and reads its answer; gives up at once when what it
/// prints cannot be an answer (it must start with an absolute path), and
/// when it does not exit with status 0.
async fn read_answer(mut cmd: Command) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut child = cmd.spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = stdout.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.first() != Some(&b'/') {
            return None;
        }
    }
    child.wait().await.ok()?.success().then_some(answer)
}

/// Reads the answer to [`ASK`]: the executable (an existing absolute
/// path) and the variables that differ from `launched`, what the shim was
/// started with.
fn parse_answer(answer: &[u8], launched: &BTreeMap<OsString, OsString>) -> Option<Resolved> {
    use std::os::unix::ffi::OsStrExt;
    let mut parts = answer.split(|b| *b == 0);
    let executable = PathBuf::from(std::ffi::OsStr::from_bytes(parts.next()?));
    if !executable.is_absolute() || !executable.is_file() {
        return None;
    }
    let mut env = Vec::new();
    for part in parts {
        let at = part.iter().position(|b| *b == b'=')?;
        let name = std::ffi::OsStr::from_bytes(&part[..at]).to_owned();
        let value = std::ffi::OsStr::from_bytes(&part[at + 1..]).to_owned();
        if launched.get(&name) != Some(&value) {
            env.push((name, value));
        }
    }
    Some(Resolved { executable, env })
}

/// `python` as a path when it has a `/`, else the first executable file of
/// that name on `path_var`.
fn find_program(python: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if python.contains('/') {
        return Some(PathBuf::from(python));
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(python))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `program` is a version manager's shim: a script (`#!` first)
/// that names one of them in its first 4 KiB (following symlinks).
fn is_shim(program: &Path) -> bool {
    use std::io::Read;
    const MANAGERS: [&[u8]; 4] = [b"pyenv", b"asdf", b"mise", b"rtx"];
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(program).and_then(|f| f.take(4096).read_to_end(&mut head));
    read.is_ok()
        && head.starts_with(b"#!")
        && MANAGERS
            .iter()
            .any(|m| head.windows(m.len()).any(|w| w == *m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_the_interpreter_and_what_the_shim_changed() {
        let launched: BTreeMap<OsString, OsString> = [("PATH", "/bin"), ("HOME", "/root")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let answer = b"/bin/sh\0PATH=/opt/py/bin:/bin\0HOME=/root\0PYENV_VERSION=3.11";
        let resolved = parse_answer(answer, &launched).unwrap();
        assert_eq!(resolved.executable, PathBuf::from("/bin/sh"));
        assert_eq!(
            resolved.env,
            [
                ("PATH".into(), "/opt/py/bin:/bin".into()),
                ("PYENV_VERSION".into(), "3.11".into())
            ]
        );
        assert_eq!(parse_answer(b"relative/python\0", &launched), None);
        assert_eq!(parse_answer(b"/no/such/python\0", &launched), None);
        assert_eq!(parse_answer(b"/bin/sh\0garbage", &launched), None);
    }

    #[test]
    fn programs_are_found_as_a_spawn_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("py");
        std::fs::write(&script, "#!/bin/sh\nexec true\n").unwrap();
        let shim = dir.path().join("python3");
        std::fs::write(
            &shim,
            "#!/usr/bin/env bash\nexec pyenv exec python3 \"$@\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(find_program("py", Some(&path)), Some(script.clone()));
        assert_eq!(find_program("nope", Some(&path)), None);
        assert!(is_shim(&shim), "a script that names pyenv");
        assert!(!is_shim(&script), "a script of the user's");
        assert!(!is_shim(Path::new("/bin/sh")));
    }
}
