//! Socket gateways (`socket=host:port`) against execnet's own socket server
//! (`execnet/script/socketserver.py` from the installed package): our master
//! sends execdeck's worker over the socket, the server execs it, and the
//! usual messages follow. Plus the ways a start can fail, each bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use execdeck::engine::{Error, ExecSource, GroupOptions};
use execdeck::transport::{ConnectError, worker_cache};
use execdeck::wire::pyrepr::same_value;
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// execnet's socket server, listening on 127.0.0.1 at a free port and
/// serving connections one after another (as `python socketserver.py` does).
/// Killed when dropped.
struct ExecnetServer {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

fn socketserver_script() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import execnet, os; print(os.path.dirname(execnet.__file__))",
        ])
        .output()
        .expect("run the test interpreter");
    assert!(out.status.success(), "execnet is not importable");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("script/socketserver.py")
}

impl ExecnetServer {
    fn start() -> ExecnetServer {
        ExecnetServer::start_script(&socketserver_script(), "127.0.0.1:0", &[])
    }

    /// execnet's server with its user's cache directory in `cache`.
    fn start_with_cache(cache: &std::path::Path) -> ExecnetServer {
        let cache = cache.to_string_lossy();
        ExecnetServer::start_script(
            &socketserver_script(),
            "127.0.0.1:0",
            &[("XDG_CACHE_HOME", &cache)],
        )
    }

    /// Runs `script` with `address` as its argument; it must print its
    /// address as `... ('host', port)` on its first line, as execnet's does.
    fn start_script(
        script: &std::path::Path,
        address: &str,
        env: &[(&str, &str)],
    ) -> ExecnetServer {
        let mut child = Command::new(python())
            .envs(env.iter().copied())
            .arg("-u")
            .arg(script)
            .arg(address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the socket server");
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    output.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = loop {
            let first = output.lock().unwrap().first().cloned();
            if let Some(line) = first {
                let port = line
                    .trim_end_matches(')')
                    .rsplit(", ")
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
                break port.unwrap_or_else(|| panic!("no port in {line:?}"));
            }
            assert!(Instant::now() < deadline, "the socket server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        ExecnetServer {
            child,
            port,
            output,
        }
    }

    fn spec(&self) -> String {
        format!("socket=127.0.0.1:{}", self.port)
    }

    fn count(&self, needle: &str) -> usize {
        let lines = self.output.lock().unwrap();
        lines.iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the server has printed `needle` `n` times, at most 10 s.
    async fn wait_for(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "server never printed {needle:?} {n} times: {:?}",
                self.output.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ExecnetServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The line execnet's server prints when a connection's code has returned
/// and it goes back to accepting.
const FINISHED: &str = "finished executing code";
const ACCEPTING: &str = "Entering Accept loop";

macro_rules! bounded {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                within(60, self::cases::$name()).await
            }
        )*
    };
}

bounded!(
    values_of_every_type_both_ways,
    remote_errors_are_remote_errors,
    remote_status_and_rinfo_show_the_server_process,
    terminate_leaves_the_server_accepting,
    kill_wakes_a_blocked_receive_and_names_the_address,
    refused_names_the_address,
    unknown_host_names_the_address,
    server_closing_before_the_handshake_is_a_clear_error,
    garbage_instead_of_the_handshake_is_a_clear_error,
    silent_server_is_a_startup_timeout,
    ipv6_literal_addresses_connect,
    the_worker_is_kept_in_the_server_hosts_cache,
);

mod cases {
    use super::*;

    pub async fn the_worker_is_kept_in_the_server_hosts_cache() {
        let cache = tempfile::tempdir().unwrap();
        let server = ExecnetServer::start_with_cache(cache.path());
        let file = cache
            .path()
            .join("execdeck/worker")
            .join(format!("{}.py", worker_cache::module_name()));
        let source = "import sys\nchannel.send(sys.modules['__main__'] is not None)";
        // The first start asks for the source and keeps it; the second
        // loads it (and its pyc); with the cache off the source goes whole.
        for round in 0..2 {
            let group = Group::new();
            let gw = group.makegateway(&server.spec()).await.unwrap();
            let ch = gw.remote_exec(source).await.unwrap();
            assert_eq!(
                ch.receive(T).await.unwrap(),
                Value::Bool(true),
                "round {round}"
            );
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                execdeck::transport::bootstrap::WORKER_SOURCE
            );
            group.terminate(Duration::from_secs(5)).await;
            server.wait_for(ACCEPTING, round + 2).await;
        }
        let pycache = file.parent().unwrap().join("__pycache__");
        assert_eq!(std::fs::read_dir(&pycache).unwrap().count(), 1);
        std::fs::remove_file(&file).unwrap();
        let group = Group::with_options(GroupOptions {
            worker_cache: worker_cache::WorkerCache::Off,
            ..GroupOptions::default()
        });
        let gw = group.makegateway(&server.spec()).await.unwrap();
        let ch = gw.remote_exec(source).await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Bool(true));
        assert!(!file.exists(), "the cache is off");
        group.terminate(Duration::from_secs(5)).await;
    }

    pub async fn values_of_every_type_both_ways() {
        let server = ExecnetServer::start();
        let group = Group::new();
        let gw = group.makegateway(&server.spec()).await.unwrap();
        assert_eq!(gw.pid(), None, "no local process for a socket gateway");
        assert_eq!(
            gw.address(),
            Some(format!("127.0.0.1:{}", server.port).as_str())
        );
        let ch = gw
            .remote_exec("for item in channel:\n    channel.send(item)\n")
            .await
            .unwrap();
        for v in corpus() {
            ch.send(v.clone()).await.unwrap();
            let back = ch.receive(T).await.unwrap();
            assert!(same_value(&v, &back), "{v:?} came back as {back:?}");
        }
        // And values made remotely come over too.
        let ch = gw
            .remote_exec("channel.send({'t': (1, 2.5, b'x', None, {1, 2}, 2**70, 'é')})")
            .await
            .unwrap();
        let v = ch.receive(T).await.unwrap();
        let t = v.get("t").cloned().unwrap();
        match t {
            Value::Tuple(items) => assert_eq!(items.len(), 7, "{items:?}"),
            other => panic!("{other:?}"),
        }
        group.terminate(Duration::from_secs(5)).await;
    }

    pub async fn remote_errors_are_remote_errors() {
        let server = ExecnetServer::start();
        let group = Group::new();
        let gw = group.makegateway(&server.spec()).await.unwrap();
        let ch = gw
            .remote_exec("def culprit():\n    raise ValueError('boom')\nculprit()\n")
            .await
            .unwrap();
        let err = ch.receive(T).await.unwrap_err();
        let remote = err
            .remote()
            .unwrap_or_else(|| panic!("not a remote error: {err}"));
        assert_eq!(remote.summary(), "ValueError: boom");
        assert!(remote.text.contains("culprit"), "{}", remote.text);
        // The gateway goes on after a remote error.
        let ch = gw
            .remote_exec(
                ExecSource::code("def f(channel, x):\n    channel.send(x * 2)\n")
                    .call("f")
                    .kwarg("x", 21),
            )
            .await
            .unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
        group.terminate(Duration::from_secs(5)).await;
    }

    pub async fn remote_status_and_rinfo_show_the_server_process() {
        let server = ExecnetServer::start();
        let group = Group::new();
        let gw = group.makegateway(&server.spec()).await.unwrap();
        let status = gw.remote_status(T).await.unwrap();
        assert_eq!(status.numexecuting, 0, "{status:?}");
        assert_eq!(status.execmodel, "thread");
        let ch = gw.remote_exec("channel.receive()").await.unwrap();
        let busy = loop {
            let st = gw.remote_status(T).await.unwrap();
            if st.numexecuting >= 1 {
                break st;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(busy.numchannels >= 1, "{busy:?}");
        ch.send(1).await.unwrap();
        ch.wait_close(T).await.unwrap();
        // The worker runs inside the server's process.
        let info = gw.rinfo(T).await.unwrap();
        assert_eq!(info.pid, i64::from(server.child.id()));
        group.terminate(Duration::from_secs(5)).await;
    }

    pub async fn terminate_leaves_the_server_accepting() {
        let mut server = ExecnetServer::start();
        for round in 1..=2 {
            let group = Group::new();
            let gw = group.makegateway(&server.spec()).await.unwrap();
            let ch = gw
                .remote_exec("channel.send(channel.receive() + 1)")
                .await
                .unwrap();
            ch.send(round).await.unwrap();
            assert_eq!(ch.receive(T).await.unwrap(), Value::Int(round + 1));
            let started = Instant::now();
            group.terminate(Duration::from_secs(5)).await;
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "terminate waited for the timeout"
            );
            assert!(!gw.is_alive());
            // execnet's master leaves the server looping: the worker's code
            // returns and the server accepts the next connection.
            server.wait_for(FINISHED, round as usize).await;
            server.wait_for(ACCEPTING, round as usize + 1).await;
            assert!(server.alive(), "the server ended");
        }
    }

    pub async fn kill_wakes_a_blocked_receive_and_names_the_address() {
        let mut server = ExecnetServer::start();
        let group = Group::new();
        let gw = group.makegateway(&server.spec()).await.unwrap();
        let ch = gw.remote_exec("channel.receive()").await.unwrap();
        let killer = gw.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            killer.kill();
        });
        let started = Instant::now();
        let err = ch.receive(None).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        match &err {
            Error::GatewayDied { reason, .. } => {
                assert!(
                    reason.contains(&format!("socket peer 127.0.0.1:{}", server.port)),
                    "{reason}"
                )
            }
            other => panic!("expected GatewayDied, got {other}"),
        }
        assert!(gw.wait_exit(Duration::from_secs(5)).await);
        // The server's worker sees the connection end and the server goes on.
        server.wait_for(FINISHED, 1).await;
        assert!(server.alive());
        group.terminate(Duration::from_secs(5)).await;
    }

    fn connect_error(result: Result<execdeck::Gateway, Error>) -> ConnectError {
        match result {
            Err(Error::Connect(e)) => e,
            Err(other) => panic!("expected a ConnectError, got {other}"),
            Ok(_) => panic!("the gateway started"),
        }
    }

    /// A port nobody listens on: bound, then released.
    fn free_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    pub async fn refused_names_the_address() {
        let port = free_port();
        let spec = format!("socket=127.0.0.1:{port}");
        let started = Instant::now();
        let err = connect_error(Group::new().makegateway(&spec).await);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("refused"), "{text}");
    }

    pub async fn unknown_host_names_the_address() {
        let spec = "socket=no-such-host.invalid:8888";
        // A resolver that never answers is a connect timeout, not a hang.
        let group = Group::with_options(GroupOptions {
            startup_timeout: Duration::from_secs(5),
            ..GroupOptions::default()
        });
        let err = connect_error(group.makegateway(spec).await);
        assert!(
            matches!(
                err,
                ConnectError::HostNotFound { .. } | ConnectError::ConnectTimeout { .. }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("no-such-host.invalid:8888"),
            "{err}"
        );
    }

    /// A listener on 127.0.0.1 that handles one connection with `handle`.
    fn one_shot(handle: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((conn, _)) = l.accept() {
                handle(conn);
            }
        });
        port
    }

    pub async fn server_closing_before_the_handshake_is_a_clear_error() {
        let port = one_shot(drop);
        let spec = format!("socket=127.0.0.1:{port}");
        let err = connect_error(Group::new().makegateway(&spec).await);
        assert!(
            matches!(err, ConnectError::ClosedBeforeHandshake { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(
            text.contains("closed the connection before the worker started"),
            "{text}"
        );
    }

    pub async fn garbage_instead_of_the_handshake_is_a_clear_error() {
        let port = one_shot(|mut conn| {
            let _ = conn.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
            std::thread::sleep(Duration::from_millis(500));
        });
        let spec = format!("socket=127.0.0.1:{port}");
        let err = connect_error(Group::new().makegateway(&spec).await);
        assert!(
            matches!(err, ConnectError::SocketBadHandshake { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("HTTP/1.0 400"), "{err}");
    }

    pub async fn silent_server_is_a_startup_timeout() {
        let port = one_shot(|conn| {
            std::thread::sleep(Duration::from_secs(10));
            drop(conn);
        });
        let group = Group::with_options(GroupOptions {
            startup_timeout: Duration::from_secs(1),
            ..GroupOptions::default()
        });
        let started = Instant::now();
        let err = connect_error(group.makegateway(&format!("socket=127.0.0.1:{port}")).await);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert!(
            matches!(err, ConnectError::SocketStartupTimeout { .. }),
            "{err:?}"
        );
        assert!(err.is_timeout());
    }

    pub async fn ipv6_literal_addresses_connect() {
        if TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipped");
            return;
        }
        // execnet's server listens on IPv4 only: an equivalent on ::1.
        let dir = std::env::temp_dir().join(format!("execdeck-v6-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("server6.py");
        std::fs::write(
            &script,
            "import socket, sys\n\
             s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n\
             s.bind(('::1', 0))\n\
             s.listen(1)\n\
             print('listening', s.getsockname()[:2], flush=True)\n\
             c, a = s.accept()\n\
             line = c.makefile('rb').readline().rstrip()\n\
             exec(compile(eval(line) + '\\n', '<server>', 'exec'), {'clientsock': c, 'address': a})\n\
             print('finished executing code', flush=True)\n",
        )
        .unwrap();
        let server = ExecnetServer::start_script(&script, "", &[]);
        let group = Group::new();
        let gw = group
            .makegateway(&format!("socket=[::1]:{}", server.port))
            .await
            .unwrap();
        let ch = gw.remote_exec("channel.send('over v6')").await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), s("over v6"));
        group.terminate(Duration::from_secs(5)).await;
        server.wait_for(FINISHED, 1).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The `exec` and `status` commands take socket specs like any other.
#[test]
fn exec_and_status_commands_take_socket_specs() {
    let server = ExecnetServer::start();
    let bin = env!("CARGO_BIN_EXE_execdeck");
    let out = run_bounded(
        Command::new(bin).args(["exec", "-g", &server.spec(), "-c", "channel.send(6 * 7)"]),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    let out = run_bounded(
        Command::new(bin).args(["status", "-g", &server.spec()]),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&server.spec()), "{text}");
    assert!(text.contains(&server.child.id().to_string()), "{text}");
    // installvia through another gateway of the same command works; an
    // unknown gateway is an error naming the key and the value.
    let out = run_bounded(
        Command::new(bin).args([
            "exec",
            "-g",
            &format!("popen//python={}", python()),
            "-g",
            "socket//installvia=gw0",
            "-c",
            "channel.send(channel.gateway.id)",
        ]),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gw1: 'gw1'"), "{text}");
    let out = run_bounded(
        Command::new(bin).args(["exec", "-g", "socket//installvia=gw5", "-c", "pass"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("installvia=gw5"), "{err}");
    // A bad socket value names the key and the value.
    let out = run_bounded(
        Command::new(bin).args(["exec", "-g", "socket=nowhere", "-c", "pass"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("socket=nowhere"), "{err}");
    assert!(err.contains("host:port"), "{err}");
}
