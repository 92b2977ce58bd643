//! What the machine allows, measured in the same run: a bare interpreter
//! start, and bytes through the kind of pipe popen gateways use. Also the
//! whole-process CLI workload, which is timed from outside.

use std::process::{Command, Stdio};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::workloads::{BULK_ITEM, Fallible};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Times `cmd` run to completion `reps` times; ms. Each run must succeed
/// and, when `stdout` is given, print exactly that.
pub fn time_command(
    mut make: impl FnMut() -> Command,
    reps: usize,
    stdout: Option<&str>,
) -> Fallible<Vec<f64>> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut cmd = make();
        cmd.stdin(Stdio::null());
        let start = Instant::now();
        let out = cmd.output().map_err(err)?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
        if !out.status.success() {
            return Err(format!(
                "{cmd:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if let Some(want) = stdout
            && out.stdout != want.as_bytes()
        {
            return Err(format!(
                "{cmd:?} printed {:?}, expected {want:?}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    Ok(samples)
}

/// `python -c pass`; ms.
pub fn bare_python(python: &str, reps: usize) -> Fallible<Vec<f64>> {
    time_command(
        || {
            let mut c = Command::new(python);
            c.args(["-c", "pass"]);
            c
        },
        reps,
        Some(""),
    )
}

/// CPU time (user + system) of one `python -c pass`, ms: the mean of
/// `reps` runs, from this process's rusage of waited-for children.
pub fn python_cpu_ms(python: &str, reps: usize) -> Fallible<f64> {
    fn children_cpu_ms() -> f64 {
        // SAFETY: getrusage writes into the struct we pass and nothing else.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
        ms(usage.ru_utime) + ms(usage.ru_stime)
    }
    let reps = reps.max(1);
    let before = children_cpu_ms();
    bare_python(python, reps)?;
    Ok((children_cpu_ms() - before) / reps as f64)
}

/// What carries the bytes of a bulk limit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// A pipe, sized as popen gateways size theirs (1 MiB).
    Pipe,
    /// A Unix socketpair whose buffers are asked for the same 1 MiB.
    SocketPair,
}

/// Bytes asked for as each socketpair end's send and receive buffer.
const SOCKET_BUFFER: libc::c_int = 1 << 20;

/// A socketpair: our end as a tokio stream, the other end for the child's
/// stdin or stdout, both ends' buffers asked for [`SOCKET_BUFFER`] bytes.
fn socketpair() -> Fallible<(tokio::net::UnixStream, Stdio)> {
    use std::os::fd::{AsRawFd, OwnedFd};
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(err)?;
    let size = SOCKET_BUFFER;
    for fd in [ours.as_raw_fd(), theirs.as_raw_fd()] {
        for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
            // SAFETY: setsockopt on a socket we own, with a c_int value of the
            // size given; failure only leaves the kernel's default.
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
    ours.set_nonblocking(true).map_err(err)?;
    let ours = tokio::net::UnixStream::from_std(ours).map_err(err)?;
    Ok((ours, Stdio::from(OwnedFd::from(theirs))))
}

/// A Python process writes `n` items of [`BULK_ITEM`] bytes on its stdout
/// (a pipe sized as popen gateways size theirs, or a socketpair) that Rust
/// reads; GB/s.
pub async fn pipe_out(python: String, n: usize, reps: usize, link: Link) -> Fallible<Vec<f64>> {
    let code = format!(
        "import os\nview = memoryview(bytes({BULK_ITEM}))\nfor _ in range({n}):\n    \
         left = view\n    while left:\n        left = left[os.write(1, left):]\n"
    );
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut cmd = tokio::process::Command::new(&python);
        cmd.args(["-c", &code]).kill_on_drop(true);
        let mut out: Box<dyn AsyncRead + Unpin + Send> = match link {
            Link::Pipe => {
                let mut child = cmd.stdout(Stdio::piped()).spawn().map_err(err)?;
                let out = child.stdout.take().ok_or("no stdout pipe")?;
                execdeck::transport::popen::enlarge_pipe(&out);
                tokio::spawn(async move { child.wait().await });
                Box::new(out)
            }
            Link::SocketPair => {
                let (ours, theirs) = socketpair()?;
                let mut child = cmd.stdout(theirs).spawn().map_err(err)?;
                drop(cmd); // it holds the child's end: no end of file while it lives
                tokio::spawn(async move { child.wait().await });
                Box::new(ours)
            }
        };
        let mut buf = vec![0u8; 256 * 1024];
        let start = Instant::now();
        let mut total = 0usize;
        loop {
            let got = out.read(&mut buf).await.map_err(err)?;
            if got == 0 {
                break;
            }
            total += got;
        }
        let secs = start.elapsed().as_secs_f64();
        if total != n * BULK_ITEM {
            return Err(format!("read {total} bytes, expected {}", n * BULK_ITEM));
        }
        samples.push(total as f64 / secs / 1e9);
    }
    Ok(samples)
}

/// Rust writes `n` items of [`BULK_ITEM`] bytes on a Python process's
/// stdin (a pipe sized as popen gateways size theirs, or a socketpair), which
/// it reads into a reused buffer; GB/s.
pub async fn pipe_in(python: String, n: usize, reps: usize, link: Link) -> Fallible<Vec<f64>> {
    let code = format!(
        "import sys\nf = open(0, 'rb', buffering=0)\nbuf = bytearray({BULK_ITEM})\ntotal = 0\n\
         while True:\n    got = f.readinto(buf)\n    if not got:\n        break\n    total += got\n\
         print(total)\n"
    );
    let data = vec![0u8; BULK_ITEM];
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut cmd = tokio::process::Command::new(&python);
        cmd.args(["-c", &code])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let (child, mut input): (_, Box<dyn AsyncWrite + Unpin + Send>) = match link {
            Link::Pipe => {
                let mut child = cmd.stdin(Stdio::piped()).spawn().map_err(err)?;
                let input = child.stdin.take().ok_or("no stdin pipe")?;
                execdeck::transport::popen::enlarge_pipe(&input);
                (child, Box::new(input))
            }
            Link::SocketPair => {
                let (ours, theirs) = socketpair()?;
                let child = cmd.stdin(theirs).spawn().map_err(err)?;
                drop(cmd); // it holds the child's end: no end of file while it lives
                (child, Box::new(ours))
            }
        };
        let start = Instant::now();
        for _ in 0..n {
            input.write_all(&data).await.map_err(err)?;
        }
        input.shutdown().await.map_err(err)?;
        drop(input);
        let out = child.wait_with_output().await.map_err(err)?;
        let secs = start.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if said != (n * BULK_ITEM).to_string() {
            return Err(format!("the reader counted {said:?} bytes"));
        }
        samples.push((n * BULK_ITEM) as f64 / secs / 1e9);
    }
    Ok(samples)
}

/// One byte to a Python process and back through its stdin/stdout pipes
/// (sized as popen gateways size theirs), `n` times per sample; µs per
/// round trip. Two processes waking each other: the floor under any echo.
pub async fn pipe_ping_pong(python: String, n: usize, reps: usize) -> Fallible<Vec<f64>> {
    let code = "import os\nwhile True:\n    b = os.read(0, 64)\n    if not b:\n        break\n    os.write(1, b)\n";
    let mut child = tokio::process::Command::new(&python)
        .args(["-c", code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(err)?;
    let mut input = child.stdin.take().ok_or("no stdin pipe")?;
    let mut output = child.stdout.take().ok_or("no stdout pipe")?;
    execdeck::transport::popen::enlarge_pipe(&input);
    execdeck::transport::popen::enlarge_pipe(&output);
    let mut samples = Vec::with_capacity(reps);
    let mut byte = [0u8; 1];
    for _ in 0..reps {
        let start = Instant::now();
        for i in 0..n {
            input.write_all(&[i as u8]).await.map_err(err)?;
            output.read_exact(&mut byte).await.map_err(err)?;
            if byte[0] != i as u8 {
                return Err(format!("sent {}, got {} back", i as u8, byte[0]));
            }
        }
        samples.push(start.elapsed().as_secs_f64() / n as f64 * 1e6);
    }
    drop(input);
    child.wait().await.map_err(err)?;
    Ok(samples)
}
