//! Starting the worker program in a fresh interpreter: the bootstrap line,
//! the worker source we send, and reading the handshake (PROTOCOL.md §1).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Our worker program (`bootstrap/worker.py`).
pub const WORKER_SOURCE: &str = include_str!("../../bootstrap/worker.py");

/// The one-line program given to `python -c`: it reads and runs one line of source.
pub const BOOT_LINE: &str = "import sys;exec(eval(sys.stdin.readline()))";

/// Bytes our worker writes right before the handshake `1` when bootstrapped
/// by execdeck, so text printed earlier (sitecustomize, banners) can be told apart.
pub const HANDSHAKE_MARKER: &[u8] = b"\x00EXECDECK\x00";

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

/// Reads the handshake from `reader`, leaving every later byte unread.
///
/// With `marker`, any output before [`HANDSHAKE_MARKER`]`1` is returned as the
/// banner. Without, the first byte must be `1`.
pub async fn read_handshake<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    marker: bool,
) -> std::io::Result<Handshake> {
    let mut seen = Vec::new();
    let mut want: Vec<u8> = if marker {
        HANDSHAKE_MARKER.to_vec()
    } else {
        Vec::new()
    };
    want.push(b'1');
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Handshake::Eof { seen });
        }
        // Take bytes one at a time up to the end of the handshake, never beyond it.
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            seen.push(b);
            if seen.ends_with(&want) {
                done = true;
                break;
            }
            if !marker || seen.len() > MAX_BANNER {
                break;
            }
        }
        reader.consume(used);
        if done {
            seen.truncate(seen.len() - want.len());
            return Ok(Handshake::Ready { banner: seen });
        }
        if !marker || seen.len() > MAX_BANNER {
            // Show what follows in the error message, waiting only briefly.
            let wait = std::time::Duration::from_millis(100);
            if let Ok(Ok(more)) = tokio::time::timeout(wait, reader.fill_buf()).await {
                seen.extend_from_slice(&more[..more.len().min(4096)]);
            }
            return Ok(Handshake::Unexpected { seen });
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
