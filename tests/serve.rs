//! `execdeck serve` driven by the real `execnet` master: the binary is run
//! as a user would, its first stdout line gives the address, and a Python
//! script with execnet connects to it. Every wait is bounded and every
//! server is killed when its guard drops.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{corpus, python, run_bounded, within};
use execdeck::engine::{Error, GroupOptions};
use execdeck::transport::ConnectError;
use execdeck::wire::pyrepr::same_value;
use execdeck::{Group, Value};

/// How long a server may take to print its address.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long a client script may run.
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// A running `execdeck serve`; killed (and reaped) on drop.
struct Server {
    child: Child,
    /// The first stdout line: the bound address.
    addr: String,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `execdeck serve ARGS --python <test python>` and reads the
    /// address line.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_execdeck"))
            .arg("serve")
            .args(args)
            .arg("--python")
            .arg(python())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start execdeck serve");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .expect("stderr lock")
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Server {
            child,
            addr: String::new(),
            stderr,
        };
        match rx.recv_timeout(START_LIMIT) {
            Ok(line) => server.addr = line,
            Err(e) => panic!(
                "no address line from execdeck serve {args:?} within {START_LIMIT:?} ({e}); stderr: {}",
                server.stderr_text()
            ),
        }
        server
    }

    fn port(&self) -> u16 {
        let (_, port) = self
            .addr
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("address line {:?} has no port", self.addr));
        port.parse()
            .unwrap_or_else(|e| panic!("port in {:?}: {e}", self.addr))
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// Waits until stderr contains `text` (true) or `limit` passes (false).
    fn stderr_shows(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stderr_text().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The exit status if the server ends within `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` (Python, with execnet importable) with the server address
/// as `sys.argv[1]`; fails the test unless it exits 0 and prints `OK`.
fn run_client(script: &str, server: &Server) -> String {
    let out = run_bounded(
        Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(&server.addr)
            .env("PYTHONPATH", bootstrap_dir()),
        None,
        SCRIPT_LIMIT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "OK"),
        "client script failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}\nserver stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.stderr_text()
    );
    stdout
}

fn bootstrap_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bootstrap")
}

/// execnet's master: remote_exec, values of every type both ways, channels
/// made remotely, remote errors as execnet.RemoteError; then a second
/// gateway through the same (looping) server.
const EXECNET_ROUND_TRIP: &str = r#"
import sys, execnet
spec = "socket=" + sys.argv[1]
values = [
    None, True, False, 0, 1, -1, 2**31 - 1, -2**31, 2**31, 2**63, 2**70, 10**40,
    0.0, -1.5, 1e300, float("inf"), 1j, complex(-2.5, 3),
    "", "text", "üñï©ødé \u2603 \U0001f600", "x" * 100000,
    b"", b"\x00\xff" * 1000,
    (), (1,), (1, "a", (None,)), [], [1, [2, [3]]],
    {}, {"a": 1, 2: (3,), (4, 5): [6]}, set(), {1, "b", (2,)}, frozenset(), frozenset({3, 4}),
    [{"nested": [(1, b"2", {3.0}), frozenset({"x"})]}],
]
gw = execnet.makegateway(spec)
ch = gw.remote_exec("""
for item in channel:
    channel.send((type(item).__name__, item))
""")
for v in values:
    ch.send(v)
    name, back = ch.receive(10)
    assert name == type(v).__name__, (name, v)
    assert type(back) is type(v) and back == v, (v, back)
ch.close()
ch.waitclose(10)
ch = gw.remote_exec("""
c = channel.gateway.newchannel()
channel.send(c)
c.send(channel.receive() + 1)
""")
remote = ch.receive(10)
ch.send(41)
assert remote.receive(10) == 42
ch.waitclose(10)
try:
    gw.remote_exec("def f():\n    raise ValueError('boom')\nf()").waitclose(10)
except execnet.RemoteError as e:
    assert "ValueError: boom" in str(e), str(e)
else:
    raise AssertionError("no RemoteError")
ch = gw.remote_exec("channel.receive()\nraise KeyError('k')")
ch.send(1)
try:
    ch.receive(10)
except execnet.RemoteError as e:
    assert "KeyError: 'k'" in str(e), str(e)
else:
    raise AssertionError("no RemoteError from receive")
pid = gw.remote_exec("import os; channel.send(os.getpid())").receive(10)
gw.exit()
gw = execnet.makegateway(spec)
assert gw.remote_exec("channel.send(6 * 7)").receive(10) == 42
assert gw.remote_exec("import os; channel.send(os.getpid())").receive(10) != pid
gw.exit()
print("OK")
"#;

#[test]
fn execnet_master_drives_serve() {
    let server = Server::start(&["127.0.0.1:0", "--loop"]);
    run_client(EXECNET_ROUND_TRIP, &server);
}

#[test]
fn port_zero_prints_the_bound_address_first() {
    let server = Server::start(&["127.0.0.1:0", "--loop"]);
    assert!(
        server.addr.starts_with("127.0.0.1:"),
        "first line {:?}",
        server.addr
    );
    assert_ne!(server.port(), 0);
    let conn = std::net::TcpStream::connect(("127.0.0.1", server.port()));
    assert!(conn.is_ok(), "cannot connect to {}: {conn:?}", server.addr);
}

#[test]
fn without_loop_one_connection_then_exit() {
    let mut server = Server::start(&["127.0.0.1:0"]);
    run_client(
        r#"
import sys, execnet
gw = execnet.makegateway("socket=" + sys.argv[1])
assert gw.remote_exec("channel.send(1)").receive(10) == 1
gw.exit()
print("OK")
"#,
        &server,
    );
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "server did not exit 0 after one connection: {status:?}; stderr: {}",
        server.stderr_text()
    );
}

#[test]
fn loop_survives_garbage_clients() {
    let mut server = Server::start(&["127.0.0.1:0", "--loop"]);
    run_client(
        r#"
import socket, sys, execnet
host, port = sys.argv[1].rsplit(":", 1)
addr = (host, int(port))
def client(data, shut=True):
    s = socket.create_connection(addr, 10)
    s.settimeout(10)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
        while s.recv(100):
            pass
    s.close()
client(b"")                                   # connects and hangs up
client(b"this is not python\n")               # garbage line
client(b"\x00\xff\xfe garbage bytes\r\n")     # binary garbage
client(repr("print('never')" * 100).encode()[:50], shut=False)  # half a source line
client(b"'raise SystemExit(3)'\n")            # code that exits
gw = execnet.makegateway("socket=" + sys.argv[1])
assert gw.remote_exec("channel.send('alive')").receive(10) == "alive"
gw.exit()
print("OK")
"#,
        &server,
    );
    assert!(
        server.wait_exit(Duration::from_millis(200)).is_none(),
        "the server ended; stderr: {}",
        server.stderr_text()
    );
}

#[test]
fn non_loopback_address_prints_a_warning() {
    let server = Server::start(&["0.0.0.0:0", "--loop"]);
    assert!(
        server.addr.starts_with("0.0.0.0:"),
        "first line {:?}",
        server.addr
    );
    assert!(
        server.stderr_shows(
            "anyone who can reach this port can run code as this user",
            Duration::from_secs(5)
        ),
        "no warning on stderr: {:?}",
        server.stderr_text()
    );
}

#[test]
fn loopback_address_prints_no_warning() {
    let server = Server::start(&["127.0.0.1:0", "--loop"]);
    assert!(!server.stderr_shows("WARNING", Duration::from_millis(300)));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("local address").to_string();
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_execdeck")).args(["serve", &addr, "--python", &python()]),
        None,
        Duration::from_secs(15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("in use"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_interpreter_is_a_clear_error() {
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_execdeck")).args([
            "serve",
            "127.0.0.1:0",
            "--python",
            "/nonexistent/python3",
        ]),
        None,
        Duration::from_secs(15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("/nonexistent/python3"), "stderr: {stderr}");
}

#[test]
fn help_documents_the_warning_and_the_token() {
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_execdeck")).args(["serve", "--help"]),
        None,
        Duration::from_secs(15),
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for words in [
        "Anyone who can reach the port can run code as this user",
        "--token-file",
        "HMAC-SHA256",
        "--loop",
        "--python",
    ] {
        assert!(help.contains(words), "help lacks {words:?}:\n{help}");
    }
}

#[test]
fn token_gate_refuses_execnet_and_admits_the_token() {
    let dir = std::env::temp_dir().join(format!("execdeck-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let token_arg = token.display().to_string();
    let server = Server::start(&["127.0.0.1:0", "--loop", "--token-file", &token_arg]);
    let marker = dir.join("marker");
    let script = format!(
        r#"
import os, sys, execnet
import socketserver as ss
assert ss.__file__.endswith("bootstrap/socketserver.py"), ss.__file__
host, port = sys.argv[1].rsplit(":", 1)
marker = {marker:?}
try:
    execnet.makegateway("socket=" + sys.argv[1])
except Exception:
    pass
else:
    raise AssertionError("execnet's master passed the token gate")
try:
    ss.connect(host, int(port), b"wrong")
except ss.AuthError:
    pass
else:
    raise AssertionError("a wrong token passed")
assert not os.path.exists(marker)
s = ss.connect(host, int(port), b"s3cret")
s.sendall((repr("open(%r, 'w').close(); clientsock.sendall(b'ok')" % marker) + "\n").encode())
s.settimeout(10)
assert s.recv(10) == b"ok"
assert os.path.exists(marker)
print("OK")
"#
    );
    run_client(&script, &server);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readme_usage_line_names_every_option() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("read README.md");
    let usage = "execdeck serve [HOST:PORT] [--loop] [--python PY] [--token-file FILE]";
    assert!(readme.contains(usage), "README lacks {usage:?}");
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_execdeck")).args(["serve", "--help"]),
        None,
        Duration::from_secs(15),
    );
    let help = String::from_utf8_lossy(&out.stdout);
    // The option table: lines that start with a long option.
    let options: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(options.len() >= 3, "no option table in:\n{help}");
    for option in options {
        let option = format!("--{option}");
        assert!(
            usage.contains(&option),
            "the README usage line lacks {option}"
        );
    }
}

/// execdeck's own master (`socket=HOST:PORT` gateways) boots its worker
/// through `execdeck serve`: values both ways, a remote error, and two
/// gateways one after another, each in its own forked process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_master_drives_serve() {
    let server = Server::start(&["127.0.0.1:0", "--loop"]);
    let spec = format!("socket={}", server.addr);
    let t = Some(Duration::from_secs(20));
    within(60, async {
        let group = Group::new();
        let gw = group
            .makegateway(&spec)
            .await
            .unwrap_or_else(|e| panic!("{spec}: {e}; server: {}", server.stderr_text()));
        let ch = gw
            .remote_exec("for item in channel:\n    channel.send(item)\n")
            .await
            .expect("remote_exec");
        for v in corpus() {
            ch.send(v.clone()).await.expect("send");
            let back = ch.receive(t).await.expect("receive");
            assert!(same_value(&v, &back), "{v:?} came back as {back:?}");
        }
        let err = gw
            .remote_exec("raise KeyError('k')")
            .await
            .expect("remote_exec")
            .receive(t)
            .await
            .expect_err("a remote error");
        let remote = err
            .remote()
            .unwrap_or_else(|| panic!("not a remote error: {err}"));
        assert_eq!(remote.summary(), "KeyError: 'k'");
        let pid = |gw: execdeck::Gateway| async move {
            gw.remote_exec("import os; channel.send(os.getpid())")
                .await
                .expect("remote_exec")
                .receive(t)
                .await
                .expect("pid")
        };
        let first = pid(gw).await;
        group.terminate(Duration::from_secs(5)).await;
        let group = Group::new();
        let gw = group.makegateway(&spec).await.expect("second gateway");
        let second = pid(gw).await;
        assert!(matches!(first, Value::Int(_)), "{first:?}");
        assert_ne!(first, second, "each connection has its own process");
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[test]
fn exec_command_through_serve() {
    let server = Server::start(&["127.0.0.1:0", "--loop"]);
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_execdeck")).args([
            "exec",
            "-g",
            &format!("socket={}", server.addr),
            "-c",
            "channel.send(6 * 7)",
        ]),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
}

/// `token_file=` on our master: the right secret gets a worker, a wrong one
/// is refused by the server (which keeps serving), and a token against a
/// server that asks for none is an error, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_master_passes_the_token_gate_with_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "guess\n").expect("write wrong token");
    let token_arg = token.display().to_string();
    let server = Server::start(&["127.0.0.1:0", "--loop", "--token-file", &token_arg]);
    let t = Some(Duration::from_secs(20));
    within(60, async {
        let group = Group::new();
        let spec = format!("socket={}//token_file={}", server.addr, wrong.display());
        let err = group.makegateway(&spec).await.expect_err("a wrong token");
        assert!(
            matches!(err, Error::Connect(ConnectError::Token { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("refused the token"), "{err}");

        let spec = format!("socket={}//token_file={}", server.addr, token.display());
        let gw = group
            .makegateway(&spec)
            .await
            .unwrap_or_else(|e| panic!("{spec}: {e}; server: {}", server.stderr_text()));
        let answer = gw
            .remote_exec("channel.send(6 * 7)")
            .await
            .expect("remote_exec")
            .receive(t)
            .await
            .expect("receive");
        assert_eq!(answer, Value::Int(42));
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;

    // A server without a token never asks: bounded by the startup timeout.
    let open_server = Server::start(&["127.0.0.1:0", "--loop"]);
    let group = Group::with_options(GroupOptions {
        startup_timeout: Duration::from_secs(3),
        ..GroupOptions::default()
    });
    let spec = format!(
        "socket={}//token_file={}",
        open_server.addr,
        token.display()
    );
    let err = within(20, group.makegateway(&spec))
        .await
        .expect_err("no challenge");
    assert!(
        err.to_string()
            .contains("is the server running with --token-file"),
        "{err}"
    );
}
