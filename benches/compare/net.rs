//! Socket gateways to a running server, gateways through another gateway
//! (`via=`), and the echo round trip over any transport.
//!
//! Socket: our master against `execdeck serve --loop`, execnet's against
//! its own `execnet/script/socketserver.py` (each its own server, as each
//! would be deployed); our master against execnet's server is a row of its
//! own, so the server's share can be told apart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::report::{Better, Row};
use crate::workloads::{self, Fallible};
use crate::{Bench, extend, fill, target_ratio};

/// A socket server on 127.0.0.1 at a free port; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Runs `cmd` and takes the port from the first line it prints (with
    /// `parse`); the rest of its stdout is drained so it never blocks.
    fn start(mut cmd: Command, parse: fn(&str) -> Option<u16>) -> Fallible<Server> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines().map_while(Result::ok);
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let first = rx.recv_timeout(Duration::from_secs(15));
        let port = match first {
            Ok(Some(line)) => parse(&line).ok_or(format!("no port in {line:?}")),
            Ok(None) => Err("the server printed nothing".to_owned()),
            Err(_) => Err("the server did not print its address within 15 s".to_owned()),
        };
        match port {
            Ok(port) => Ok(Server { child, port }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{cmd:?}: {e}"))
            }
        }
    }

    /// `execdeck serve 127.0.0.1:0 --loop`: prints `127.0.0.1:PORT`.
    fn execdeck(python: &str) -> Fallible<Server> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_execdeck"));
        cmd.args(["serve", "127.0.0.1:0", "--loop", "--python", python]);
        Server::start(cmd, |line| line.trim().rsplit(':').next()?.parse().ok())
    }

    /// execnet's own server: prints `... Entering Accept loop ('127.0.0.1', PORT)`.
    fn execnet(python: &str) -> Fallible<Server> {
        let out = Command::new(python)
            .args([
                "-c",
                "import execnet, os; print(os.path.dirname(execnet.__file__))",
            ])
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err("execnet is not importable".into());
        }
        let script = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            .join("script/socketserver.py");
        let mut cmd = Command::new(python);
        cmd.arg("-u").arg(script).arg("127.0.0.1:0");
        Server::start(cmd, |line| {
            line.trim()
                .trim_end_matches(')')
                .rsplit(", ")
                .next()?
                .parse()
                .ok()
        })
    }

    fn spec(&self) -> String {
        format!("socket=127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The socket rows: start against each server, and the echo round trip.
pub fn socket_rows(b: &Bench) -> Vec<Row> {
    let reps = b.plan.socket_reps;
    let name = "socket gateway to a running server: start, exec, exit";
    let mut row = Row::new(name, "ms", Better::Lower);
    let servers = Server::execdeck(&b.python).and_then(|ours| {
        Server::execnet(&b.python)
            .map(|theirs| (ours, theirs))
            .map_err(|e| format!("execnet's socket server: {e}"))
    });
    let (ours_server, execnet_server) = match servers {
        Ok(s) => s,
        Err(e) => {
            row.errors.push(e);
            return vec![row];
        }
    };
    let ours = b.run(workloads::startup_on(ours_server.spec(), reps, false));
    let theirs = b.execnet_with("startup", 1, reps, &["--spec", &execnet_server.spec()]);
    fill(&mut row, ours, theirs);
    row.extra
        .insert("execdeck_server".into(), "execdeck serve --loop".into());
    row.extra.insert(
        "execnet_server".into(),
        "execnet/script/socketserver.py".into(),
    );
    target_ratio(&mut row, 2.0);
    let mut mixed = Row::new("  … our master, execnet's server", "ms", Better::Lower);
    let ours_there = b.run(workloads::startup_on(execnet_server.spec(), reps, false));
    match ours_there {
        Ok(s) => {
            mixed.execdeck = crate::median(&s);
            mixed.execnet = row.execnet;
            mixed
                .extra
                .insert("execdeck_samples".into(), serde_json::json!(s));
        }
        Err(e) => mixed.errors.push(format!("execdeck: {e}")),
    }
    target_ratio(&mut mixed, 2.0);
    let echo = echo_row(
        b,
        "echo round trip over socket (int)",
        &ours_server.spec(),
        &execnet_server.spec(),
    );
    vec![row, mixed, echo]
}

/// Echo of an int; ours on `ours_spec`, execnet on `theirs_spec`, taking
/// turns one sample each per round (see `echo` in main.rs); µs.
pub fn echo_row(b: &Bench, name: &str, ours_spec: &str, theirs_spec: &str) -> Row {
    let mut row = Row::new(name, "µs", Better::Lower);
    let (n, reps) = (b.plan.echo_n, b.plan.reps);
    let (mut ours, mut theirs) = (Ok(Vec::new()), Ok(Vec::new()));
    for _ in 0..reps {
        extend(
            &mut ours,
            b.run(workloads::echo(ours_spec.to_owned(), n, 1)),
        );
        extend(
            &mut theirs,
            b.execnet_with("echo", n, 1, &["--spec", theirs_spec]),
        );
    }
    fill(&mut row, ours, theirs);
    target_ratio(&mut row, 1.8);
    row
}

/// A popen gateway through a running popen gateway: start, first result.
pub fn via_row(b: &Bench) -> Row {
    let mut row = Row::new(
        "via gateway (popen through popen): start, exec",
        "ms",
        Better::Lower,
    );
    let reps = b.plan.via_reps;
    let ours = b.run(workloads::via_startup(b.spec(), reps));
    fill(&mut row, ours, b.execnet("via_startup", 1, reps));
    target_ratio(&mut row, 2.0);
    row
}
