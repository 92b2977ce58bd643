//! Splitting a file that may still grow into lines.

use std::io::{self, Read};

/// How much one read asks for.
const CHUNK: usize = 64 * 1024;

/// One line of the file, without its `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `false` for a last line that has no `\n` (yet).
    pub complete: bool,
}

/// Bytes read but not yet handed out as lines: a partial last line waits for
/// its `\n`.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    start: usize,
    /// Lines handed out so far.
    number: u64,
    /// Bytes read from the file so far.
    read: u64,
}

impl Lines {
    /// Reads once (at most one chunk); returns how many bytes came (0 at the
    /// end of the file, for now).
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let n = loop {
            match r.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        self.read += n as u64;
        Ok(n)
    }

    /// The next complete line, if one has been read.
    pub fn next_line(&mut self) -> Option<Line> {
        let rest = &self.buf[self.start..];
        let end = rest.iter().position(|&b| b == b'\n')?;
        let bytes = rest[..end].to_vec();
        self.start += end + 1;
        self.number += 1;
        Some(Line {
            number: self.number,
            bytes,
            complete: true,
        })
    }

    /// What is left after the last `\n`, as a last incomplete line.
    pub fn take_rest(&mut self) -> Option<Line> {
        if self.start >= self.buf.len() {
            return None;
        }
        let bytes = self.buf[self.start..].to_vec();
        self.buf.clear();
        self.start = 0;
        self.number += 1;
        Some(Line {
            number: self.number,
            bytes,
            complete: false,
        })
    }

    /// Bytes read from the file so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its data in the given pieces, one per read.
    struct Pieces(Vec<&'static [u8]>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    fn drain(lines: &mut Lines) -> Vec<(u64, String, bool)> {
        std::iter::from_fn(|| lines.next_line())
            .map(|l| (l.number, String::from_utf8(l.bytes).unwrap(), l.complete))
            .collect()
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let mut r = Pieces(vec![b"one\ntw", b"o\n", b"", b"thr", b"ee\n\nfour"]);
        let mut lines = Lines::default();
        assert_eq!(lines.fill(&mut r).unwrap(), 6);
        assert_eq!(drain(&mut lines), [(1, "one".into(), true)]);
        lines.fill(&mut r).unwrap();
        assert_eq!(drain(&mut lines), [(2, "two".into(), true)]);
        assert_eq!(lines.fill(&mut r).unwrap(), 0);
        lines.fill(&mut r).unwrap();
        assert_eq!(drain(&mut lines), []);
        lines.fill(&mut r).unwrap();
        assert_eq!(
            drain(&mut lines),
            [(3, "three".into(), true), (4, "".into(), true)]
        );
        assert_eq!(lines.bytes_read(), 19);
        let rest = lines.take_rest().unwrap();
        assert_eq!(
            (rest.number, rest.bytes, rest.complete),
            (5, b"four".to_vec(), false)
        );
        assert_eq!(lines.take_rest(), None);
    }

    #[test]
    fn nothing_left_after_a_final_newline() {
        let mut r = Pieces(vec![b"a\n"]);
        let mut lines = Lines::default();
        lines.fill(&mut r).unwrap();
        assert_eq!(drain(&mut lines).len(), 1);
        assert_eq!(lines.take_rest(), None);
    }
}
