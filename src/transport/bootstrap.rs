//! Starting the worker program in a fresh interpreter: the bootstrap line,
//! the worker source we send, and reading the handshake (PROTOCOL.md §1).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// execdeck's socket server (`bootstrap/socketserver.py`, standard library
/// only, Python 3.8+): run by `execdeck serve`, and started through another
/// gateway for `socket//installvia=`.
pub const SOCKETSERVER_SOURCE: &str = include_str!("../../bootstrap/socketserver.py");

/// Our worker program (`bootstrap/worker.py`).
pub const WORKER_SOURCE: &str = include_str!("../../bootstrap/worker.py");

/// The one-line program given to `python -c`: it reads and runs one line of source.
pub const BOOT_LINE: &str = "import sys;exec(eval(sys.stdin.readline()))";

/// Bytes our worker writes right before the handshake `1` when bootstrapped
/// by execdeck, so text printed earlier (sitecustomize, banners) can be told apart.
pub const HANDSHAKE_MARKER: &[u8] = b"\x00EXECDECK\x00";

/// What follows [`HANDSHAKE_MARKER`] instead of `1` when a cached boot
/// (see [`cached_boot_source`]) could not load the worker file: the
/// interpreter then waits for the whole source as one more line.
pub const SOURCE_REQUEST: u8 = b'S';

/// Most bytes of stray output accepted before the handshake.
const MAX_BANNER: usize = 1 << 20;

/// What a worker's trace lines on stderr start with (`debug=stream`).
pub const REMOTE_TRACE_PREFIX: &str = "execdeck-trace: ";

/// Tracing in the worker (spec key `debug=`, env `EXECDECK_DEBUG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugMode {
    /// A trace file per worker process in its temp dir (`execdeck-debug-<pid>`).
    File,
    /// Trace lines on stderr, each starting with [`REMOTE_TRACE_PREFIX`].
    Stream,
}

impl DebugMode {
    /// The `EXECDECK_DEBUG` value: `"1"` or `"2"`.
    pub fn level(self) -> &'static str {
        match self {
            DebugMode::File => "1",
            DebugMode::Stream => "2",
        }
    }
}

/// Which program the interpreter is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BootSource {
    /// execdeck's worker; its handshake carries [`HANDSHAKE_MARKER`].
    #[default]
    Execdeck,
    /// Any other worker source that ends by writing a bare `1` and serving
    /// the protocol (for example execnet's own `gateway_base` plus a few lines).
    Raw(String),
}

impl BootSource {
    /// The source text to send for a worker with this id, execution model
    /// and tracing.
    pub fn source(&self, id: &str, execmodel: &str, debug: Option<DebugMode>) -> String {
        match self {
            BootSource::Execdeck => format!(
                "EXECDECK_BOOT = {{'id': {}, 'execmodel': {}, 'debug': {}}}\n{}",
                py_ascii_literal(id),
                py_ascii_literal(execmodel),
                py_ascii_literal(debug.map_or("", DebugMode::level)),
                WORKER_SOURCE
            ),
            BootSource::Raw(src) => src.clone(),
        }
    }

    /// Whether the handshake carries [`HANDSHAKE_MARKER`].
    pub fn has_marker(&self) -> bool {
        matches!(self, BootSource::Execdeck)
    }
}

/// The program sent instead of the whole worker when the worker source is
/// in the file `worker_file` (see `worker_cache`): it loads the worker's code
/// through CPython's `SourceFileLoader`, so that the compiled code is kept in
/// the `__pycache__` next to the file and later interpreters skip compiling.
/// Unless `dont_write_bytecode` (spec key, `-B`), the pyc is written even when
/// `PYTHONDONTWRITEBYTECODE` is set: it lives in execdeck's own cache, not
/// next to anyone's sources. The code runs in `__main__` as the source sent
/// over stdin would. If the file cannot be loaded (another file system, a
/// damaged pyc, a Python without `SourceFileLoader`), the interpreter writes
/// [`HANDSHAKE_MARKER`] and [`SOURCE_REQUEST`] and reads the whole source
/// (see [`BootSource::source`]) from the next line.
pub fn cached_boot_source(
    worker_file: &str,
    module: &str,
    id: &str,
    execmodel: &str,
    debug: Option<DebugMode>,
    dont_write_bytecode: bool,
) -> String {
    let module = py_ascii_literal(module);
    let path = py_ascii_literal(worker_file);
    let id = py_ascii_literal(id);
    let execmodel = py_ascii_literal(execmodel);
    let debug = py_ascii_literal(debug.map_or("", DebugMode::level));
    let allow_write = if dont_write_bytecode {
        ""
    } else {
        "\n        sys.dont_write_bytecode = False"
    };
    let request: String = HANDSHAKE_MARKER
        .iter()
        .chain(std::iter::once(&SOURCE_REQUEST))
        .map(|b| format!("\\x{b:02x}"))
        .collect();
    format!(
        r#"EXECDECK_BOOT = {{'id': {id}, 'execmodel': {execmodel}, 'debug': {debug}}}
def _execdeck_boot(g):
    import os, sys
    p = {path}
    try:
        try:
            import _frozen_importlib_external as m
        except ImportError:
            from importlib import _bootstrap_external as m
        b = sys.dont_write_bytecode{allow_write}
        try:
            c = m.SourceFileLoader({module}, p).get_code({module})
        finally:
            sys.dont_write_bytecode = b
    except Exception:
        c = None
        try:  # a damaged pyc would fail every later boot as well
            os.remove(m.cache_from_source(p))
        except Exception:
            pass
    if c is None:
        os.write(1, b'{request}')
        c = eval(sys.stdin.readline())
    del g['_execdeck_boot']
    exec(c, g)
_execdeck_boot(globals())
"#
    )
}

/// The first stage for workers on other hosts (`bootstrap/remote_boot.py`).
const REMOTE_BOOT_SOURCE: &str = include_str!("../../bootstrap/remote_boot.py");

/// Where a remote first stage ([`remote_boot_source`]) talks to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootStream {
    /// The interpreter's stdin and stdout (ssh, via): the worker serves
    /// them once loaded, as a worker booted from [`BootSource::source`].
    Stdio,
    /// The connected socket a socket server gives the source it `exec`s
    /// (`clientsock`); the worker then serves it as [`socket_boot_source`]'s.
    Socket,
}

/// The program sent instead of the whole worker to an interpreter on
/// another host (ssh, via, socket): it loads the worker from the cache
/// directory of that host's user, where CPython's pyc cache spares
/// compiling it, after checking the file's SHA-256. When it cannot, it
/// writes [`HANDSHAKE_MARKER`] and [`SOURCE_REQUEST`], reads the worker
/// source ([`WORKER_SOURCE`] alone, as one line) and keeps it for the next
/// boot. Either way the handshake that follows carries [`HANDSHAKE_MARKER`].
/// With `keep_bytecode` the pyc is written even under `-B` or
/// `PYTHONDONTWRITEBYTECODE`.
pub fn remote_boot_source(
    id: &str,
    execmodel: &str,
    debug: Option<DebugMode>,
    keep_bytecode: bool,
    stream: BootStream,
) -> String {
    let name = py_ascii_literal(super::worker_cache::module_name());
    let digest = py_ascii_literal(super::worker_cache::worker_digest());
    let keep = if keep_bytecode { "True" } else { "False" };
    let id = py_ascii_literal(id);
    let execmodel = py_ascii_literal(execmodel);
    match stream {
        BootStream::Stdio => format!(
            "EXECDECK_BOOT = {{'id': {id}, 'execmodel': {execmodel}, 'debug': {}}}\n\
             {REMOTE_BOOT_SOURCE}\n\
             _execdeck_boot(globals(), {name}, {digest}, \
             lambda b: __import__('os').write(1, b), \
             __import__('sys').stdin.readline, {keep})\n",
            py_ascii_literal(debug.map_or("", DebugMode::level)),
        ),
        BootStream::Socket => {
            let tracing = match debug {
                Some(d) => format!("setup_tracing({})\n", py_ascii_literal(d.level())),
                None => String::new(),
            };
            format!(
                "__name__ = '__execdeck_socket_worker__'\n\
                 {REMOTE_BOOT_SOURCE}\n\
                 def _execdeck_readline():\n    \
                     f = clientsock.makefile('rb')\n    \
                     try:\n        return f.readline()\n    \
                     finally:\n        f.close()\n\
                 _execdeck_boot(globals(), {name}, {digest}, clientsock.sendall, \
                 _execdeck_readline, {keep})\n\
                 del _execdeck_readline\n\
                 {tracing}serve_socket(clientsock, id={id}, execmodel={execmodel}, marker=True)\n"
            )
        }
    }
}

/// The source sent to a socket server (execnet's `socketserver.py` or ours)
/// for a socket gateway: the server `exec`s it in a namespace holding the
/// connected socket as `clientsock` (PROTOCOL.md §1); it defines the worker
/// and serves on that socket (`serve_socket`), writing a bare `1` first. It
/// returns when the connection ends, so a looping server accepts the next
/// one. `__name__` is set so that the worker's start-up code for stdio
/// (`if __name__ == "__main__"`) never runs, whatever the server's namespace.
pub fn socket_boot_source(id: &str, execmodel: &str, debug: Option<DebugMode>) -> String {
    let tracing = match debug {
        Some(d) => format!("setup_tracing({})\n", py_ascii_literal(d.level())),
        None => String::new(),
    };
    format!(
        "__name__ = '__execdeck_socket_worker__'\n{WORKER_SOURCE}\n{tracing}serve_socket(clientsock, id={}, execmodel={})\n",
        py_ascii_literal(id),
        py_ascii_literal(execmodel),
    )
}

/// The line written to the interpreter's stdin: a Python string literal of
/// `source` (pure ASCII, whatever the interpreter's stdin encoding) and `\n`.
pub fn boot_input(source: &str) -> String {
    let mut line = py_ascii_literal(source);
    line.push('\n');
    line
}

/// A Python string literal for `s` that uses only printable ASCII.
pub fn py_ascii_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8 + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('\'');
    out
}

/// How the handshake went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// The worker is ready. `banner` holds what came before the handshake, if anything.
    Ready {
        /// Stray output before the worker started.
        banner: Vec<u8>,
    },
    /// A cached boot could not load the worker file and asks for the whole
    /// source ([`SOURCE_REQUEST`]). `banner` holds what came before.
    SourceRequested {
        /// Stray output before the request.
        banner: Vec<u8>,
    },
    /// The stream ended first; `seen` is everything that came.
    Eof {
        /// Everything read.
        seen: Vec<u8>,
    },
    /// Something other than the handshake came (no marker expected).
    Unexpected {
        /// Everything read.
        seen: Vec<u8>,
    },
}

impl Handshake {
    /// This outcome with `earlier` output in front of what it saw. A
    /// [`Handshake::SourceRequested`] that nobody answers becomes
    /// [`Handshake::Unexpected`].
    pub fn after(self, earlier: Vec<u8>) -> Handshake {
        let prefixed = |seen: &[u8]| [earlier.as_slice(), seen].concat();
        match self {
            Handshake::Ready { banner } => Handshake::Ready {
                banner: prefixed(&banner),
            },
            Handshake::SourceRequested { banner } => Handshake::Unexpected {
                seen: prefixed(&[banner.as_slice(), HANDSHAKE_MARKER, &[SOURCE_REQUEST]].concat()),
            },
            Handshake::Eof { seen } => Handshake::Eof {
                seen: prefixed(&seen),
            },
            Handshake::Unexpected { seen } => Handshake::Unexpected {
                seen: prefixed(&seen),
            },
        }
    }
}

/// What the handshake looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A bare `1` first (execnet's workers, execdeck's `socket_boot_source`).
    Bare,
    /// [`HANDSHAKE_MARKER`] then `1` (or [`SOURCE_REQUEST`]), after any
    /// output: an interpreter's stdout may carry banners first.
    Marker,
    /// The same with nothing before the marker: a socket carries only what
    /// the worker writes, so anything else is at once a bad handshake.
    MarkerFirst,
}

impl Expect {
    /// [`Expect::Marker`] when `marker`, else [`Expect::Bare`].
    pub fn marker(marker: bool) -> Expect {
        if marker { Expect::Marker } else { Expect::Bare }
    }
}

/// Reads the handshake from `reader`, leaving every later byte unread.
///
/// With `marker`, any output before [`HANDSHAKE_MARKER`]`1` is returned as the
/// banner, and [`HANDSHAKE_MARKER`] followed by [`SOURCE_REQUEST`] ends the
/// read with [`Handshake::SourceRequested`]. Without, the first byte must be `1`.
pub async fn read_handshake<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    marker: bool,
) -> std::io::Result<Handshake> {
    read_handshake_into(reader, Expect::marker(marker), &mut Vec::new()).await
}

/// [`read_handshake`] that appends every byte it reads to `printed`, so a
/// caller that gives up waiting (the future is dropped) still has what the
/// interpreter printed to show in its error.
pub async fn read_handshake_into<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    expect: Expect,
    printed: &mut Vec<u8>,
) -> std::io::Result<Handshake> {
    let marker = expect != Expect::Bare;
    let base = printed.len();
    let seen = printed;
    let mut want: Vec<u8> = if marker {
        HANDSHAKE_MARKER.to_vec()
    } else {
        Vec::new()
    };
    let request: Vec<u8> = if marker {
        [HANDSHAKE_MARKER, &[SOURCE_REQUEST]].concat()
    } else {
        Vec::new()
    };
    want.push(b'1');
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Handshake::Eof {
                seen: seen[base..].to_vec(),
            });
        }
        // Take bytes one at a time up to the end of the handshake, never beyond it.
        let mut used = 0;
        let mut done = false;
        let mut requested = false;
        let mut stray = false;
        for &b in buf {
            used += 1;
            seen.push(b);
            let this = &seen[base..];
            if this.ends_with(&want) {
                done = true;
                break;
            }
            if marker && this.ends_with(&request) {
                requested = true;
                break;
            }
            if !marker || this.len() > MAX_BANNER {
                break;
            }
            if expect == Expect::MarkerFirst
                && !want.starts_with(this)
                && !request.starts_with(this)
            {
                stray = true;
                break;
            }
        }
        reader.consume(used);
        let this = &seen[base..];
        if done {
            return Ok(Handshake::Ready {
                banner: this[..this.len() - want.len()].to_vec(),
            });
        }
        if requested {
            return Ok(Handshake::SourceRequested {
                banner: this[..this.len() - request.len()].to_vec(),
            });
        }
        if !marker || stray || this.len() > MAX_BANNER {
            // Show what follows in the error message, waiting only briefly.
            let wait = std::time::Duration::from_millis(100);
            if let Ok(Ok(more)) = tokio::time::timeout(wait, reader.fill_buf()).await {
                seen.extend_from_slice(&more[..more.len().min(4096)]);
            }
            return Ok(Handshake::Unexpected {
                seen: seen[base..].to_vec(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_is_ascii_and_escapes() {
        assert_eq!(py_ascii_literal("a'b\\c\n"), "'a\\'b\\\\c\\n'");
        assert_eq!(
            py_ascii_literal("é—\u{1F600}\x01"),
            "'\\xe9\\u2014\\U0001f600\\x01'"
        );
    }

    #[tokio::test]
    async fn handshake_with_banner() {
        let mut input: &[u8] = b"hello\n\x00EXECDECK\x001rest";
        let hs = read_handshake(&mut input, true).await.unwrap();
        assert_eq!(
            hs,
            Handshake::Ready {
                banner: b"hello\n".to_vec()
            }
        );
        assert_eq!(input, b"rest");
    }

    #[tokio::test]
    async fn marker_first_refuses_anything_before_the_marker_at_once() {
        async fn read(mut input: &[u8]) -> (Handshake, Vec<u8>) {
            let mut printed = Vec::new();
            let hs = read_handshake_into(&mut input, Expect::MarkerFirst, &mut printed)
                .await
                .unwrap();
            (hs, input.to_vec())
        }
        let (hs, rest) = read(b"\x00EXECDECK\x00S\x00EXECDECK\x001more").await;
        assert_eq!(hs, Handshake::SourceRequested { banner: vec![] });
        assert_eq!(rest, b"\x00EXECDECK\x001more");
        assert_eq!(read(&rest).await.0, Handshake::Ready { banner: vec![] });
        // The stream stays open after the stray bytes: no waiting for more.
        let (mut tx, rx) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut tx, b"\x00EXHTTP/1.0 400")
            .await
            .unwrap();
        let mut rx = tokio::io::BufReader::new(rx);
        let hs = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read_handshake_into(&mut rx, Expect::MarkerFirst, &mut Vec::new()),
        )
        .await
        .expect("no wait")
        .unwrap();
        match hs {
            Handshake::Unexpected { seen } => assert!(seen.ends_with(b"HTTP/1.0 400"), "{seen:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn remote_boot_source_names_the_worker_file_and_its_digest() {
        let name = super::super::worker_cache::module_name();
        let digest = super::super::worker_cache::worker_digest();
        assert_eq!(digest.len(), 64);
        for stream in [BootStream::Stdio, BootStream::Socket] {
            let src = remote_boot_source("gw1", "thread", Some(DebugMode::File), true, stream);
            assert!(src.contains(REMOTE_BOOT_SOURCE), "{stream:?}");
            assert!(
                src.contains(&format!("_execdeck_boot(globals(), '{name}', '{digest}', ")),
                "{src}"
            );
            assert!(src.trim_end().ends_with(match stream {
                BootStream::Stdio => "__import__('sys').stdin.readline, True)",
                BootStream::Socket => {
                    "serve_socket(clientsock, id='gw1', execmodel='thread', marker=True)"
                }
            }));
        }
        let stdio = remote_boot_source(
            "gw1",
            "thread",
            Some(DebugMode::File),
            false,
            BootStream::Stdio,
        );
        assert!(
            stdio.starts_with(
                "EXECDECK_BOOT = {'id': 'gw1', 'execmodel': 'thread', 'debug': '1'}\n"
            )
        );
        assert!(stdio.trim_end().ends_with(", False)"));
        let socket = remote_boot_source(
            "gw1",
            "thread",
            Some(DebugMode::File),
            true,
            BootStream::Socket,
        );
        assert!(socket.contains("\nsetup_tracing('1')\nserve_socket("));
    }

    #[tokio::test]
    async fn handshake_source_request() {
        let mut input: &[u8] = b"hi\x00EXECDECK\x00S\x00EXECDECK\x001rest";
        let hs = read_handshake(&mut input, true).await.unwrap();
        assert_eq!(
            hs,
            Handshake::SourceRequested {
                banner: b"hi".to_vec()
            }
        );
        assert_eq!(
            read_handshake(&mut input, true).await.unwrap(),
            Handshake::Ready { banner: vec![] }
        );
        assert_eq!(input, b"rest");
        // Without the marker there is no request: 'S' is just wrong.
        let mut input: &[u8] = b"S";
        assert!(matches!(
            read_handshake(&mut input, false).await.unwrap(),
            Handshake::Unexpected { .. }
        ));
    }

    #[test]
    fn cached_boot_source_is_python() {
        let src = cached_boot_source("/c/x.py", "m_1", "gw0", "thread", None, false);
        assert!(
            src.starts_with("EXECDECK_BOOT = {'id': 'gw0', 'execmodel': 'thread', 'debug': ''}\n")
        );
        assert!(
            src.contains("\n        sys.dont_write_bytecode = False\n"),
            "{src}"
        );
        assert!(src.contains("    p = '/c/x.py'\n"), "{src}");
        assert!(
            src.contains("SourceFileLoader('m_1', p).get_code('m_1')"),
            "{src}"
        );
        assert!(src.contains("os.write(1, b'\\x00\\x45\\x58"), "{src}");
        let b = cached_boot_source("/c/x.py", "m_1", "gw0", "thread", None, true);
        assert!(!b.contains("= False"), "{b}");
    }

    #[tokio::test]
    async fn bytes_read_before_giving_up_are_kept() {
        // A stream that sends `1` and more, but never the marker, then stalls.
        let (mut tx, rx) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut tx, b"1 hello")
            .await
            .unwrap();
        let mut reader = tokio::io::BufReader::new(rx);
        let mut printed = Vec::new();
        let wait = std::time::Duration::from_millis(200);
        let read = read_handshake_into(&mut reader, Expect::Marker, &mut printed);
        assert!(tokio::time::timeout(wait, read).await.is_err());
        assert_eq!(printed, b"1 hello");
    }

    #[tokio::test]
    async fn handshake_plain_and_eof() {
        let mut input: &[u8] = b"1xyz";
        assert_eq!(
            read_handshake(&mut input, false).await.unwrap(),
            Handshake::Ready { banner: vec![] }
        );
        assert_eq!(input, b"xyz");
        let mut input: &[u8] = b"oops";
        assert!(matches!(
            read_handshake(&mut input, false).await.unwrap(),
            Handshake::Unexpected { .. }
        ));
        let mut input: &[u8] = b"junk";
        assert_eq!(
            read_handshake(&mut input, true).await.unwrap(),
            Handshake::Eof {
                seen: b"junk".to_vec()
            }
        );
    }
}
