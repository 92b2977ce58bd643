//! A real OpenSSH server for the ssh gateway tests: `/usr/sbin/sshd -D -e`
//! on 127.0.0.1 at a free port, with a throwaway host key, a throwaway user
//! key (ed25519, no passphrase) in its authorized_keys, and a known_hosts
//! file that knows the host key under `[127.0.0.1]:PORT`. It runs as the
//! current user (root in the test container), in its own process group,
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where sshd lives on Debian and Ubuntu.
pub const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd with its keys and files in a temp dir.
pub struct Sshd {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The temp dir holding every file below.
    pub dir: tempfile::TempDir,
    /// The user key that the server accepts (private half; `.pub` beside it).
    pub user_key: PathBuf,
    /// A known_hosts file with the server's host key.
    pub known_hosts: PathBuf,
    /// The server's host public key line (`ssh-ed25519 AAAA…`).
    pub host_public_key: String,
    /// What sshd printed on stderr (`-e`), for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Runs `ssh-keygen` to make a key pair at `path` (no passphrase).
pub fn keygen(path: &Path, kind: &str) {
    keygen_with(path, kind, "");
}

/// Runs `ssh-keygen` to make a key pair at `path`, encrypted with
/// `passphrase` (none when empty).
pub fn keygen_with(path: &Path, kind: &str, passphrase: &str) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "execdeck-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether sshd is installed (scripts/test.sh installs it when root).
pub fn available() -> bool {
    Path::new(SSHD).exists()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// The current user's name (sshd logs in as it).
pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Sshd {
    /// Starts sshd and waits (at most 10 s) until it accepts connections.
    /// Panics, with what sshd printed, when it does not.
    pub fn start() -> Sshd {
        Sshd::start_with("")
    }

    /// [`Sshd::start`] with `extra` appended to its sshd_config (a
    /// `PermitOpen`, a `Match` block).
    pub fn start_with(extra: &str) -> Sshd {
        assert!(
            available(),
            "{SSHD} is missing: run scripts/test.sh as root (it installs openssh-server) \
             or apt-get install openssh-server"
        );
        let dir = tempfile::tempdir().expect("make a temp dir");
        let host_key = dir.path().join("host_ed25519");
        let user_key = dir.path().join("user_ed25519");
        keygen(&host_key, "ed25519");
        keygen(&user_key, "ed25519");
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(user_key.with_extension("pub"), &authorized).expect("authorized_keys");
        let host_public_key = std::fs::read_to_string(host_key.with_extension("pub"))
            .expect("read the host key")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        // sshd running as root wants its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
                 AuthorizedKeysFile {auth}\nPidFile none\nStrictModes no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 LogLevel VERBOSE\nMaxStartups 100\n{extra}",
                host = host_key.display(),
                auth = authorized.display(),
            ),
        )
        .expect("write sshd_config");
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {host_public_key}\n"),
        )
        .expect("write known_hosts");
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start sshd");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "sshd exited ({status}): {:?}",
                    log.lock().map(|l| l.clone())
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen within 10s: {:?}",
                log.lock().map(|l| l.clone())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            child,
            port,
            dir,
            user_key,
            known_hosts,
            host_public_key,
            log,
        }
    }

    /// An `ssh=` spec for this server with the user key and known_hosts file
    /// (and no ssh-agent, whatever `SSH_AUTH_SOCK` says, and no
    /// `~/.ssh/config`), the test
    /// interpreter as `python=`, plus `extra` spec keys.
    pub fn spec(&self, extra: &str) -> String {
        self.spec_with_key(&self.user_key, extra)
    }

    /// [`Sshd::spec`] logging in with the identity file `key` instead.
    pub fn spec_with_key(&self, key: &Path, extra: &str) -> String {
        format!(
            "ssh=-p {port} -i {key} -o UserKnownHostsFile={kh} -o IdentityAgent=none -F none \
             {user}@127.0.0.1//python={py}{extra}",
            port = self.port,
            key = key.display(),
            kh = self.known_hosts.display(),
            user = user(),
            py = super::python(),
        )
    }

    /// Kills sshd and every sshd process it forked for a connection (they
    /// run in sessions of their own, so the listener's process group does
    /// not reach them); the workers those started are left alone, as a
    /// crashed server would leave them.
    pub fn kill_all(&mut self) {
        let listener = self.child.id();
        let mut doomed = vec![listener];
        for pid in descendants(listener) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim().starts_with("sshd") {
                doomed.push(pid);
            }
        }
        for pid in doomed {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }

    /// Every process below sshd (connection handlers, their workers).
    pub fn descendants(&self) -> Vec<u32> {
        descendants(self.child.id())
    }

    /// Adds the public key `public_key` (a `.pub` file) to the keys the
    /// server accepts.
    pub fn authorize(&self, public_key: &Path) {
        let line = std::fs::read_to_string(public_key).expect("read the public key");
        let authorized = self.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&authorized).expect("read authorized_keys");
        keys.push_str(&line);
        std::fs::write(&authorized, keys).expect("write authorized_keys");
    }

    /// A known_hosts file (`changed_known_hosts` in the server's directory)
    /// whose line for this server holds another key, as after a change of
    /// host key; `before` comes first in the file (comments, other hosts).
    /// Also returns that other key (its base64 part).
    pub fn known_hosts_with_another_key(&self, before: &str) -> (PathBuf, String) {
        let other = self.dir.path().join("other_host_key");
        keygen(&other, "ed25519");
        let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("read the key");
        let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
        let known_hosts = self.dir.path().join("changed_known_hosts");
        let line = format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port, other_pub[0], other_pub[1]
        );
        std::fs::write(&known_hosts, format!("{before}{line}")).expect("write known_hosts");
        (known_hosts, other_pub[1].to_owned())
    }

    /// What sshd logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The processes below `root`, from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// A real `ssh-agent -D` on a socket in a temp dir, killed when dropped.
pub struct Agent {
    child: Child,
    /// Its socket (for `-o IdentityAgent=` or `SSH_AUTH_SOCK`).
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts the agent and waits (at most 10 s) for its socket.
    pub fn start() -> Agent {
        let dir = tempfile::tempdir().expect("make a temp dir");
        let socket = dir.path().join("agent.sock");
        let mut child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ssh-agent exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "ssh-agent made no socket within 10s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }

    /// Adds the private key in `key` (`ssh-add`).
    pub fn add(&self, key: &Path) {
        let out = super::run_bounded(
            Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &self.socket),
            None,
            Duration::from_secs(10),
        );
        assert!(
            out.status.success(),
            "ssh-add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local user with a password, removed when dropped (the suite runs as
/// root: `useradd` and `chpasswd` must work).
pub struct TempUser {
    /// The user's name.
    pub name: String,
}

impl TempUser {
    /// Creates user `PREFIX<pid>` with `password`.
    pub fn create(prefix: &str, password: &str) -> TempUser {
        let name = format!("{prefix}{}", std::process::id());
        let made = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", &name])
            .output()
            .expect("useradd is needed for this test");
        assert!(
            made.status.success(),
            "cannot create a test user (this test needs root): {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let user = TempUser { name };
        let out = super::run_bounded(
            &mut Command::new("chpasswd"),
            Some(format!("{}:{password}\n", user.name).into_bytes()),
            Duration::from_secs(10),
        );
        assert!(out.status.success(), "chpasswd failed");
        user
    }

    /// A server that takes this user's password, and an ssh spec that logs
    /// in as the user with no key and runs `true` as the interpreter (the
    /// start ends with the remote command's exit, which shows that the
    /// login was accepted).
    pub fn sshd_and_spec(&self) -> (Sshd, String) {
        let sshd = Sshd::start_with(&format!(
            "Match User {}\n    PasswordAuthentication yes\n",
            self.name
        ));
        let spec = format!(
            "ssh=-p {} -o UserKnownHostsFile={} -o IdentityAgent=none -F none \
             -i {} {}@127.0.0.1//python=true",
            sshd.port,
            sshd.known_hosts.display(),
            sshd.dir.path().join("no_key").display(),
            self.name,
        );
        (sshd, spec)
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}
