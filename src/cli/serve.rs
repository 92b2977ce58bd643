//! `execdeck serve`: a socket server that execnet's masters (and execdeck's)
//! can boot workers through. The server is `bootstrap/socketserver.py`, run
//! in a Python interpreter; on Unix this process becomes that interpreter
//! (`exec`), so its pid, signals and exit status are the server's.

use std::process::Command;

use super::{EXIT_USAGE, Failure};

use crate::transport::bootstrap::SOCKETSERVER_SOURCE;

/// Arguments of `execdeck serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
SECURITY: a client of this server sends Python source and the server runs it
as the user who started it.
Anyone who can reach the port can run code as this user.
Binding to a non-loopback address prints a warning; use --token-file there
(and a firewall or an SSH tunnel): with a token, a client must first
answer an HMAC-SHA256 challenge over a fresh nonce per connection, the secret
never crosses the wire, and a client without the right token is disconnected
before anything it sent is run. With a token the server no longer speaks
execnet's plain socket bootstrap (execnet's own master cannot pass the gate).

The first line on stdout is the address bound (useful with port 0). Without
--loop one connection is served and the server exits; with it, connections
are served side by side, each in its own forked process, and a client
that sends garbage or disconnects never ends the server.

Examples:
  execdeck serve 127.0.0.1:0 --loop
  python3 -c 'import execnet; gw = execnet.makegateway(\"socket=127.0.0.1:8888\")'
  execdeck serve 0.0.0.0:8888 --loop --token-file ~/.config/execdeck/token")]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(value_name = "HOST:PORT", default_value = "127.0.0.1:8888")]
    pub address: String,
    /// Keep serving connections (side by side, each in its own process) instead of exiting after the first.
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Python interpreter that runs the server (and the code clients send).
    #[arg(long, value_name = "PY", default_value = "python3")]
    pub python: String,
    /// Require clients to prove knowledge of the secret in FILE (its content,
    /// surrounding whitespace stripped) before anything they send is run.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

/// The interpreter command line that runs the server with `args`.
pub fn command(args: &ServeArgs) -> Command {
    let mut cmd = Command::new(&args.python);
    cmd.arg("-c").arg(SOCKETSERVER_SOURCE).arg(&args.address);
    if args.repeat {
        cmd.arg("--loop");
    }
    if let Some(file) = &args.token_file {
        cmd.arg("--token-file").arg(file);
    }
    cmd
}

/// Runs `execdeck serve`: on Unix replaces this process with the server's
/// interpreter (returns only if that fails); elsewhere runs it and waits.
/// Returns the exit status: the server's, or 2 when the interpreter cannot
/// be started.
pub fn run(args: ServeArgs) -> i32 {
    let mut cmd = command(&args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        cannot_start(&args.python, &e).report()
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(status) => status.code().unwrap_or(1),
            Err(e) => cannot_start(&args.python, &e).report(),
        }
    }
}

fn cannot_start(python: &str, e: &std::io::Error) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message: format!("execdeck serve: cannot start the interpreter {python}: {e}"),
    }
}
