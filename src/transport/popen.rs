//! popen gateways: a local `python -u [-B] -c <boot line>` child whose
//! stdin/stdout carry the protocol and whose stderr is captured.
//!
//! A popen gateway's stdin and stdout are both one end of a Unix socketpair
//! (the worker reads fd 0 and writes fd 1 as it would pipes): bytes move
//! through a socketpair nearly twice as fast as through a pipe (the bulk
//! rows of `cargo bench --bench compare` measure both). `cmd=`, `vagrant_ssh=`
//! and OpenSSH gateways keep pipes: the programs they run are not ours to
//! hand a socket.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::Command;

use super::bootstrap::{
    BOOT_LINE, BootSource, BootStream, DebugMode, Expect, Handshake, WORKER_SOURCE,
    cached_boot_source, remote_boot_source, socket_boot_source,
};
use super::handshake::{BootOutcome, BootPlan, boot_stream};
use super::worker_cache::{self, WorkerCache};
use super::{ConnectError, Connection, ProcessHandle, StderrSink, WorkerHandle};
use crate::spec::XSpec;

/// Buffer for reading the handshake (a few bytes; a banner in a few more
/// reads). Small: after the handshake the gateway's own frame reader does
/// large reads, and a group's starts at once would leave holes of this size
/// between the gateways' lasting allocations.
const HANDSHAKE_BUFFER: usize = 512;

/// Capacity asked for the protocol pipes (Linux; the default is 64 KiB).
/// Bulk transfers then need far fewer wake-ups per MiB. The kernel refuses
/// it past the user's pipe quota; the default size works too.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Bytes asked for as the send and receive buffers of a popen gateway's
/// socketpair (the kernel caps them at `net.core.wmem_max`/`rmem_max`).
const SOCKET_BUFFER: libc::c_int = 1 << 20;

/// What carries a worker's protocol stream (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// The child's stdin and stdout are two pipes.
    Pipes,
    /// The child's stdin and stdout are one end of a socketpair.
    SocketPair,
}

/// How a worker is launched; shared by the process-based transports.
#[derive(Clone, Default)]
pub struct LaunchOptions {
    /// How long the interpreter may take to send its handshake.
    pub startup_timeout: Option<Duration>,
    /// Which program to bootstrap.
    pub boot: BootSource,
    /// Receives every stderr line of the worker.
    pub stderr_sink: Option<StderrSink>,
    /// Tracing in the worker (spec key `debug=`).
    pub debug: Option<DebugMode>,
    /// Where popen gateways of execdeck's worker boot from (see
    /// [`worker_cache`]); the source goes over stdin when that fails.
    pub worker_cache: WorkerCache,
    /// Who answers passphrase and password prompts of ssh gateways; `None`:
    /// nobody can be asked (see [`super::prompt`]).
    pub prompter: Option<super::prompt::SharedPrompter>,
    /// ssh gateways accept and record host keys known_hosts does not list
    /// yet (`StrictHostKeyChecking=accept-new`, whatever the spec says).
    pub accept_new_host_keys: bool,
    /// Receives each step of the start as it is done (`spawned pid 42`,
    /// `host key checked`, …), to show where a slow or failed start stands.
    pub progress: Option<ProgressSink>,
    /// Interpreters behind shims that popen gateways start directly (see
    /// [`super::shim`]); one per group.
    pub shims: super::shim::ShimCache,
}

/// Receives the steps of a gateway's start, in words (see
/// [`LaunchOptions::progress`]).
pub type ProgressSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl LaunchOptions {
    /// Passes one step of the start to the progress sink, if there is one.
    pub fn step(&self, step: &str) {
        if let Some(progress) = &self.progress {
            progress(step);
        }
    }
}

/// What to send to boot gateway `id` of `spec` on another host.
pub struct RemoteBoot {
    /// The source line to send first.
    pub source: String,
    /// Whether the worker may ask for [`WORKER_SOURCE`], which a cached
    /// boot does when the host's cache cannot give it the worker.
    pub may_request: bool,
    /// What the handshake looks like.
    pub expect: Expect,
}

impl LaunchOptions {
    /// What boots gateway `id` of `spec` on another host over `stream`:
    /// the first stage that loads execdeck's worker from that host's cache
    /// ([`remote_boot_source`]), unless the worker cache is off or another
    /// program is booted ([`BootSource::Raw`], never for a socket server):
    /// then the program is sent whole.
    pub fn remote_boot(&self, spec: &XSpec, id: &str, stream: BootStream) -> RemoteBoot {
        let execmodel = spec.execmodel().map_or("thread", |m| m.as_str());
        match (&self.boot, &self.worker_cache, stream) {
            (BootSource::Execdeck, WorkerCache::Default | WorkerCache::Dir(_), _) => RemoteBoot {
                source: remote_boot_source(
                    id,
                    execmodel,
                    self.debug,
                    !spec.dont_write_bytecode(),
                    stream,
                ),
                may_request: true,
                expect: match stream {
                    BootStream::Stdio => Expect::Marker,
                    BootStream::Socket => Expect::MarkerFirst,
                },
            },
            // A socket server is always given execdeck's worker.
            (_, _, BootStream::Socket) => RemoteBoot {
                source: socket_boot_source(id, execmodel, self.debug),
                may_request: false,
                expect: Expect::Bare,
            },
            (boot, _, BootStream::Stdio) => RemoteBoot {
                source: boot.source(id, execmodel, self.debug),
                may_request: false,
                expect: Expect::marker(boot.has_marker()),
            },
        }
    }
}

impl RemoteBoot {
    /// The plan that sends it within `timeout`, answering a request for
    /// the worker with [`WORKER_SOURCE`] alone.
    pub fn plan(&self, timeout: Duration) -> BootPlan<'_> {
        fn worker_source() -> String {
            WORKER_SOURCE.to_owned()
        }
        BootPlan {
            source: &self.source,
            on_request: self.may_request.then_some(&worker_source),
            expect: self.expect,
            timeout,
        }
    }
}

/// Default time allowed from spawn to handshake.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a local interpreter for `spec` (a popen spec) as gateway `id`.
pub async fn spawn(
    spec: &XSpec,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let named = spec.python().unwrap_or("python3");
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let resolved = opts.shims.resolve(named, spec.env(), timeout).await;
    let python = match &resolved {
        Some(r) => r.executable.display().to_string(),
        None => named.to_owned(),
    };
    let mut cmd = Command::new(&python);
    cmd.arg("-u");
    if spec.dont_write_bytecode() {
        cmd.arg("-B");
    }
    cmd.arg("-c").arg(BOOT_LINE);
    for (name, value) in spec.env() {
        cmd.env(name, value);
    }
    if let Some(r) = &resolved {
        cmd.envs(r.env.iter().map(|(k, v)| (k, v)));
        opts.step(&format!("{named} is a shim for {python}: started directly"));
    }
    let execmodel = spec.execmodel().map_or("thread", |m| m.as_str());
    let full_source = || opts.boot.source(id, execmodel, opts.debug);
    let cached = match (&opts.boot, &opts.worker_cache) {
        (BootSource::Raw(_), _) | (_, WorkerCache::Off) => None,
        (BootSource::Execdeck, cache) => match cache.known_file() {
            Some(file) => Some(file),
            None => checked_worker_file(cache).await,
        },
    };
    match cached.as_deref().and_then(|p| p.to_str()) {
        Some(file) => {
            let source = cached_boot_source(
                file,
                worker_cache::module_name(),
                id,
                execmodel,
                opts.debug,
                spec.dont_write_bytecode(),
            );
            start(
                cmd,
                spec,
                &python,
                &source,
                Some(&full_source),
                Link::SocketPair,
                opts,
            )
            .await
        }
        None => {
            start(
                cmd,
                spec,
                &python,
                &full_source(),
                None,
                Link::SocketPair,
                opts,
            )
            .await
        }
    }
}

/// The protocol stream after the handshake: the pipe or socket itself when
/// nothing is left in the handshake buffer (the gateway's frame reader
/// buffers), so the buffer's memory is not kept for the gateway's life.
fn unbuffered(reader: BufReader<super::BoxedReader>) -> super::BoxedReader {
    if reader.buffer().is_empty() {
        reader.into_inner()
    } else {
        Box::new(reader)
    }
}

/// A socketpair for a worker's protocol: our end, split for the gateway,
/// and the child's end twice (its stdin and its stdout). Both ends' buffers
/// are asked for [`SOCKET_BUFFER`] bytes.
fn socketpair() -> std::io::Result<(super::BoxedReader, super::BoxedWriter, Stdio, Stdio)> {
    use std::os::fd::{AsRawFd, OwnedFd};
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let size = SOCKET_BUFFER;
    for fd in [ours.as_raw_fd(), theirs.as_raw_fd()] {
        for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
            // SAFETY: setsockopt on a socket we own with a c_int of the size
            // given; failure only leaves the kernel's default size.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&raw const size).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
    ours.set_nonblocking(true)?;
    let (read, write) = tokio::net::UnixStream::from_std(ours)?.into_split();
    let stdin = Stdio::from(OwnedFd::from(theirs.try_clone()?));
    Ok((
        Box::new(read),
        Box::new(write),
        stdin,
        Stdio::from(OwnedFd::from(theirs)),
    ))
}

/// [`WorkerCache::worker_file`], off the runtime's threads (it reads and may
/// write files), one gateway at a time: when a group starts many at once,
/// the first checks the file and the others find it known, instead of each
/// occupying a blocking thread of its own.
async fn checked_worker_file(cache: &WorkerCache) -> Option<std::path::PathBuf> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    if let Some(file) = cache.known_file() {
        return Some(file);
    }
    let cache = cache.clone();
    tokio::task::spawn_blocking(move || cache.worker_file())
        .await
        .ok()
        .flatten()
}

/// Starts a worker with a shell command line (`cmd=` specs), e.g.
/// `cmd=python3 -u bootstrap/worker.py`: the command must itself run a worker
/// that writes a bare `1` and serves the protocol on its stdin/stdout.
pub async fn spawn_cmd(
    spec: &XSpec,
    command: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    for (name, value) in spec.env() {
        cmd.env(name, value);
    }
    if let Some(debug) = opts.debug {
        cmd.env("EXECDECK_DEBUG", debug.level());
    }
    // Our worker run as a script discards fd 1 as execnet's does, unless
    // told that this master shows it (per gateway, like popen's).
    cmd.env("EXECDECK_STDOUT", "stderr");
    let opts = LaunchOptions {
        boot: BootSource::Raw(String::new()),
        ..opts.clone()
    };
    start(cmd, spec, command, "", None, Link::Pipes, &opts).await
}

/// Starts a worker on a Vagrant machine (`vagrant_ssh=<machine>`) as
/// execnet does: `vagrant ssh <machine> -- -C [-F <ssh_config>] "<python> -c
/// \"<boot line>\""`, then sends execdeck's worker over stdin. The remote
/// interpreter is the spec's `python=`, else `python3`.
pub async fn spawn_vagrant(
    spec: &XSpec,
    machine: &str,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let python = spec.python().unwrap_or("python3");
    let mut cmd = Command::new("vagrant");
    cmd.args(["ssh", machine, "--", "-C"]);
    if let Some(config) = spec.ssh_config() {
        cmd.args(["-F", config]);
    }
    cmd.arg(format!("{python} -c \"{BOOT_LINE}\""));
    let execmodel = spec.execmodel().map_or("thread", |m| m.as_str());
    let source = opts.boot.source(id, execmodel, opts.debug);
    start(cmd, spec, "vagrant", &source, None, Link::Pipes, opts).await
}

/// Spawns `cmd` with its stdin and stdout on `link` and stderr piped, sends
/// `source` as the boot line (when not empty), and reads the handshake within
/// the startup timeout. When the worker asks for its source
/// ([`super::bootstrap::SOURCE_REQUEST`], after a cached boot failed),
/// `on_request` gives the source to send as one more line.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start(
    mut cmd: Command,
    spec: &XSpec,
    program: &str,
    source: &str,
    on_request: Option<&(dyn Fn() -> String + Sync)>,
    link: Link,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let spawn_error = |message: String| ConnectError::Spawn {
        spec: spec.to_string(),
        program: program.to_owned(),
        message,
    };
    let ours = match link {
        Link::Pipes => {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
            None
        }
        Link::SocketPair => {
            let (reader, writer, stdin, stdout) =
                socketpair().map_err(|e| spawn_error(format!("cannot make a socketpair: {e}")))?;
            cmd.stdin(stdin).stdout(stdout);
            Some((reader, writer))
        }
    };
    cmd.stderr(Stdio::piped()).kill_on_drop(true);
    // Its own process group, so a kill reaches what the worker started too
    // (`cmd=` shells, subprocesses of user code), and a Ctrl-C meant for the
    // master does not hit the workers directly.
    cmd.process_group(0);
    die_with_parent(&mut cmd);
    // `spawn_child` drops `cmd`, and with it this process's copies of the
    // child's ends: the worker's exit is then an end of file here.
    let mut child = spawn_child(cmd)
        .await
        .map_err(|e| spawn_error(e.to_string()))?;
    let (stdout, mut stdin): (super::BoxedReader, super::BoxedWriter) = match ours {
        Some(pair) => pair,
        None => {
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(spawn_error("stdin/stdout pipes missing".into()));
            };
            enlarge_pipe(&stdin);
            enlarge_pipe(&stdout);
            (Box::new(stdout), Box::new(stdin))
        }
    };
    let process = ProcessHandle::watch(child, opts.stderr_sink.clone());
    opts.step(&format!("spawned {program} pid {}", process.pid()));
    let mut reader = BufReader::with_capacity(HANDSHAKE_BUFFER, stdout);
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let plan = BootPlan {
        source,
        on_request,
        expect: Expect::marker(opts.boot.has_marker()),
        timeout,
    };
    let outcome = boot_stream(&mut reader, &mut stdin, &plan).await;
    let failure = |stdout: &[u8], process: &ProcessHandle| {
        (
            String::from_utf8_lossy(stdout).into_owned(),
            process.stderr_tail(20).join("\n"),
        )
    };
    match outcome {
        BootOutcome::Read(Handshake::Ready { banner }) => {
            opts.step("handshake done");
            let mut warnings = Vec::new();
            if !banner.is_empty() {
                warnings.push(format!(
                    "{spec}: the interpreter printed on stdout before the worker started (ignored): {:?}",
                    String::from_utf8_lossy(&banner)
                ));
            }
            Ok(Connection {
                reader: unbuffered(reader),
                writer: stdin,
                worker: WorkerHandle::Process(process),
                warnings,
            })
        }
        BootOutcome::Read(Handshake::Eof { seen }) => {
            let status = process.wait(Duration::from_secs(2)).await;
            process.kill();
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            let (stdout, stderr) = failure(&seen, &process);
            Err(ConnectError::DiedDuringStartup {
                spec: spec.to_string(),
                status: status.map_or_else(|| "still running".into(), |s| s.to_string()),
                stdout,
                stderr,
            })
        }
        BootOutcome::Read(
            Handshake::Unexpected { seen } | Handshake::SourceRequested { banner: seen },
        ) => {
            process.kill();
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            let (stdout, stderr) = failure(&seen, &process);
            Err(ConnectError::BadHandshake {
                spec: spec.to_string(),
                stdout,
                stderr,
            })
        }
        BootOutcome::TimedOut { printed } => {
            process.kill();
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            let (stdout, stderr) = failure(&printed, &process);
            Err(ConnectError::StartupTimeout {
                spec: spec.to_string(),
                secs: timeout.as_secs_f64(),
                stdout,
                stderr,
            })
        }
    }
}

/// A request to the spawner thread.
struct SpawnRequest {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    reply: tokio::sync::oneshot::Sender<std::io::Result<tokio::process::Child>>,
}

/// Spawns `cmd` from one long-lived thread.
///
/// Linux sends the parent-death signal when the *thread* that forked the
/// child ends, not the process; spawning from whatever thread the caller is
/// on (a blocking-pool thread, a thread of the caller's) would kill workers
/// when that thread goes away. This thread lives as long as the process.
async fn spawn_child(cmd: Command) -> std::io::Result<tokio::process::Child> {
    use std::sync::{Mutex, OnceLock, mpsc};
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("execdeck-spawner".into())
            .spawn(move || {
                for SpawnRequest {
                    mut cmd,
                    runtime,
                    reply,
                } in rx
                {
                    let _context = runtime.enter();
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("execdeck: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = SpawnRequest {
        cmd,
        runtime: tokio::runtime::Handle::current(),
        reply,
    };
    let sent = spawner
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send(request);
    if sent.is_err() {
        return Err(std::io::Error::other("the spawner thread is gone"));
    }
    answer
        .await
        .map_err(|_| std::io::Error::other("the spawner thread did not answer"))?
}

/// Asks for a 1 MiB pipe buffer, as popen gateways do for their
/// protocol pipes; keeps the default size when refused.
pub fn enlarge_pipe(pipe: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ on an fd we own; failure only leaves the size as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
}

/// Makes the child receive SIGKILL when this process dies (Linux), so a
/// worker never outlives its master even when the master is killed with -9.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs
        // between fork and exec here.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
