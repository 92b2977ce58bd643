//! ssh gateways to a throwaway OpenSSH server on 127.0.0.1 (the approach of
//! `tests/common/sshd.rs`, cut down to what the bench needs): execdeck's
//! in-process client (russh) against execnet, which runs OpenSSH's `ssh`.
//! Both get the same `ssh=` spec: port, the user key, a known_hosts file
//! with the server's key, no agent, no `~/.ssh/config`, so neither asks
//! anything.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::{Better, Row};
use crate::workloads::{self, Fallible};
use crate::{Bench, fill, limits, set_limit, target_ratio};

/// Where sshd lives on Debian and Ubuntu.
const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd with its keys in a temp dir; killed when dropped.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    user_key: PathBuf,
    known_hosts: PathBuf,
}

fn keygen(path: &Path) -> Fallible<()> {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "execdeck-bench",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn user() -> Fallible<String> {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .map_err(|e| format!("cannot run id -un: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Sshd {
    /// Starts sshd (generous `MaxStartups`/`MaxSessions`, so a burst of 32
    /// connections is not refused) and waits until it accepts connections.
    pub fn start() -> Fallible<Sshd> {
        if !Path::new(SSHD).exists() {
            return Err(format!(
                "{SSHD} is missing: apt-get install openssh-server (scripts/test.sh does as root)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let host_key = dir.path().join("host_ed25519");
        let user_key = dir.path().join("user_ed25519");
        keygen(&host_key)?;
        keygen(&user_key)?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(user_key.with_extension("pub"), &authorized)
            .map_err(|e| format!("authorized_keys: {e}"))?;
        let host_public = std::fs::read_to_string(host_key.with_extension("pub"))
            .map_err(|e| format!("host key: {e}"))?;
        let host_public: Vec<&str> = host_public.split_whitespace().take(2).collect();
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
                 AuthorizedKeysFile {auth}\nPidFile none\nStrictModes no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 LogLevel ERROR\nMaxStartups 1000\nMaxSessions 1000\n",
                host = host_key.display(),
                auth = authorized.display(),
            ),
        )
        .map_err(|e| format!("sshd_config: {e}"))?;
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", host_public.join(" ")),
        )
        .map_err(|e| format!("known_hosts: {e}"))?;
        let log_file = std::fs::File::create(&log).map_err(|e| format!("sshd log: {e}"))?;
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {SSHD}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let said = || std::fs::read_to_string(&log).unwrap_or_default();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("sshd exited ({status}): {}", said().trim()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "sshd did not listen within 10 s: {}",
                    said().trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Sshd {
            child,
            port,
            dir,
            user_key,
            known_hosts,
        })
    }

    /// `ssh` options and destination that log in without asking anything.
    fn ssh_args(&self) -> Fallible<Vec<String>> {
        Ok(vec![
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            self.user_key.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-F".into(),
            "none".into(),
            format!("{}@127.0.0.1", user()?),
        ])
    }

    /// The `ssh=` spec both masters use.
    pub fn spec(&self, python: &str) -> Fallible<String> {
        Ok(format!(
            "ssh={}//python={python}",
            self.ssh_args()?.join(" ")
        ))
    }

    /// What sshd logged (errors only).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The listener only: connection handlers end with their connections.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ssh rows: one gateway's start, a group's, and the echo round trip.
pub fn rows(b: &Bench) -> Vec<Row> {
    let sshd = match Sshd::start() {
        Ok(s) => s,
        Err(e) => {
            let mut row = Row::new("ssh gateway (127.0.0.1)", "ms", Better::Lower);
            row.errors.push(format!("cannot start the test sshd: {e}"));
            return vec![row];
        }
    };
    let spec = match sshd.spec(&b.python) {
        Ok(s) => s,
        Err(e) => {
            let mut row = Row::new("ssh gateway (127.0.0.1)", "ms", Better::Lower);
            row.errors.push(e);
            return vec![row];
        }
    };
    let mut rows = vec![startup(b, &sshd, &spec), group(b, &spec)];
    rows.push(crate::net::echo_row(
        b,
        "echo round trip over ssh (int)",
        &spec,
        &spec,
    ));
    for row in &mut rows {
        if !row.errors.is_empty() {
            let log = sshd.log();
            if !log.trim().is_empty() {
                row.errors.push(format!("sshd said: {}", log.trim()));
            }
        }
    }
    rows
}

fn startup(b: &Bench, sshd: &Sshd, spec: &str) -> Row {
    let mut row = Row::new(
        "ssh gateway (127.0.0.1): start, exec, exit",
        "ms",
        Better::Lower,
    );
    let reps = b.plan.ssh_reps;
    let ours = b.run(workloads::startup_on(spec.to_owned(), reps, false));
    let theirs = b.execnet_with("startup", 1, reps, &["--spec", spec]);
    fill(&mut row, ours, theirs);
    let limit = sshd.ssh_args().and_then(|args| {
        limits::time_command(
            || {
                let mut c = Command::new("ssh");
                c.args(&args).arg("true");
                c
            },
            reps,
            Some(""),
        )
    });
    set_limit(&mut row, "ssh host true", limit);
    target_ratio(&mut row, 1.4);
    row
}

/// `n` gateways at once; ms per gateway.
fn group(b: &Bench, spec: &str) -> Row {
    let (n, reps) = b.plan.ssh_group;
    let mut row = Row::new(
        format!("group of {n} ssh gateways: ready, exec, terminate"),
        "ms/gw",
        Better::Lower,
    );
    let per = |s: Fallible<Vec<f64>>| s.map(|v| v.iter().map(|t| t / n as f64).collect());
    let ours = per(b.run(workloads::group(spec.to_owned(), n, reps)));
    let theirs = per(b.execnet_with("group", n, reps, &["--spec", spec]));
    fill(&mut row, ours, theirs);
    row.extra.insert("gateways".into(), json!(n));
    target_ratio(&mut row, 8.0);
    row
}
