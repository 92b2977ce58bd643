//! The read side of a gateway: whole messages out of the connection's byte
//! stream, through one reused buffer.
//!
//! Small messages are cut out of the buffer (many per read when they come in
//! bursts); a payload larger than what is buffered is read straight into its
//! own allocation, without passing through the buffer. A large CHANNEL_DATA
//! payload that is one `bytes` value (`A`, length, data, `Q`) is read
//! straight into that value's own buffer: bulk data is never copied on
//! this side.

use tokio::io::AsyncReadExt;

use crate::transport::BoxedReader;
use crate::wire::MsgCode;
use crate::wire::message::{HEADER_LEN, parse_header};
use crate::wire::serial::op;

/// The read buffer starts this small (an idle gateway costs little memory)...
const BUFFER_START: usize = 4 << 10;
/// ...and doubles, up to this, while reads keep filling it (bursts of small messages).
const BUFFER_MAX: usize = 64 << 10;

/// CHANNEL_DATA payloads at least this large are checked for a lone `bytes` value.
const BULK: usize = 64 << 10;

/// A message's payload.
pub(crate) enum Body {
    /// The serialized payload.
    Encoded(Vec<u8>),
    /// A payload that was exactly one `bytes` value: the value's contents.
    Bytes(Vec<u8>),
}

impl Body {
    /// The payload as it came over the wire (rebuilt for [`Body::Bytes`]).
    pub(crate) fn encoded(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Body::Encoded(p) => std::borrow::Cow::Borrowed(p),
            Body::Bytes(data) => {
                let mut p = Vec::with_capacity(data.len() + 6);
                p.push(op::BYTES);
                p.extend_from_slice(&(data.len() as u32).to_be_bytes());
                p.extend_from_slice(data);
                p.push(op::STOP);
                std::borrow::Cow::Owned(p)
            }
        }
    }
}

/// One message.
pub(crate) struct Frame {
    pub(crate) code: MsgCode,
    pub(crate) channel: i32,
    pub(crate) body: Body,
}

/// Reads whole messages from a connection.
pub(crate) struct FrameReader {
    inner: BoxedReader,
    /// Unread bytes are `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    max_payload: usize,
}

impl FrameReader {
    pub(crate) fn new(inner: BoxedReader, max_payload: usize) -> FrameReader {
        FrameReader {
            inner,
            buf: Vec::with_capacity(BUFFER_START),
            start: 0,
            max_payload,
        }
    }

    fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Marks `n` buffered bytes consumed.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more into the buffer; the number of new bytes (0 at the end).
    async fn fill(&mut self) -> Result<usize, String> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = (&mut self.inner)
            .take(room as u64)
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("reading from the worker failed: {e}"))?;
        if n == room && self.buf.capacity() < BUFFER_MAX {
            self.buf.reserve(self.buf.capacity());
        }
        Ok(n)
    }

    /// The next message; `Ok(None)` is a clean end at a message boundary.
    pub(crate) async fn next(&mut self) -> Result<Option<Frame>, String> {
        while self.buffered() < HEADER_LEN {
            if self.fill().await? == 0 {
                return match self.buffered() {
                    0 => Ok(None),
                    got => Err(format!(
                        "the connection ended inside a message header ({got} of {HEADER_LEN} bytes)"
                    )),
                };
            }
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[self.start..self.start + HEADER_LEN]);
        let h =
            parse_header(&header, self.max_payload).map_err(|e| format!("protocol error: {e}"))?;
        self.consume(HEADER_LEN);
        if h.code == MsgCode::ChannelData && h.len >= BULK {
            while self.buffered() < 5 {
                if self.fill().await? == 0 {
                    return Err(self.ended_inside(h.code, self.buffered(), h.len));
                }
            }
            let at = self.start;
            let n = u32::from_be_bytes([
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
                self.buf[at + 4],
            ]);
            if self.buf[at] == op::BYTES && n as usize == h.len - 6 {
                self.consume(5);
                let data = self.read_exact_vec(n as usize, h.code, h.len).await?;
                while self.buffered() < 1 {
                    if self.fill().await? == 0 {
                        return Err(self.ended_inside(h.code, h.len - 1, h.len));
                    }
                }
                let stop = self.buf[self.start];
                self.consume(1);
                if stop != op::STOP {
                    return Err(format!(
                        "protocol error: a CHANNEL_DATA message of {} bytes holding bytes ends with {stop:#04x}, not STOP",
                        h.len
                    ));
                }
                return Ok(Some(Frame {
                    code: h.code,
                    channel: h.channel,
                    body: Body::Bytes(data),
                }));
            }
        }
        let payload = self.read_exact_vec(h.len, h.code, h.len).await?;
        Ok(Some(Frame {
            code: h.code,
            channel: h.channel,
            body: Body::Encoded(payload),
        }))
    }

    fn ended_inside(&self, code: MsgCode, got: usize, len: usize) -> String {
        format!("the connection ended inside a {code} message ({got} of {len} payload bytes)")
    }

    /// The next `n` bytes in a new vector: first from the buffer, the rest
    /// read straight into the vector.
    async fn read_exact_vec(
        &mut self,
        n: usize,
        code: MsgCode,
        len: usize,
    ) -> Result<Vec<u8>, String> {
        let take = n.min(self.buffered());
        let mut out = Vec::with_capacity(n);
        out.extend_from_slice(&self.buf[self.start..self.start + take]);
        self.consume(take);
        while out.len() < n {
            let left = (n - out.len()) as u64;
            let got = (&mut self.inner)
                .take(left)
                .read_buf(&mut out)
                .await
                .map_err(|e| format!("reading from the worker failed: {e}"))?;
            if got == 0 {
                return Err(self.ended_inside(code, len - (n - out.len()), len));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::encode_header;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, ReadBuf};

    /// Yields the bytes in pieces of at most `step`, then the end.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self
                .step
                .min(buf.remaining())
                .min(self.data.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    fn frame(code: MsgCode, channel: i32, payload: &[u8]) -> Vec<u8> {
        let mut f = encode_header(code, channel, payload.len()).to_vec();
        f.extend_from_slice(payload);
        f
    }

    fn bytes_payload(data: &[u8], stop: u8) -> Vec<u8> {
        let mut p = vec![op::BYTES];
        p.extend_from_slice(&(data.len() as u32).to_be_bytes());
        p.extend_from_slice(data);
        p.push(stop);
        p
    }

    fn reader(data: Vec<u8>, step: usize) -> FrameReader {
        FrameReader::new(Box::new(Trickle { data, pos: 0, step }), 1 << 30)
    }

    async fn all(mut r: FrameReader) -> Result<Vec<(MsgCode, i32, bool, Vec<u8>)>, String> {
        let mut out = Vec::new();
        while let Some(f) = r.next().await? {
            let bulk = matches!(f.body, Body::Bytes(_));
            out.push((f.code, f.channel, bulk, f.body.encoded().into_owned()));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn frames_come_out_whole_whatever_the_read_sizes() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let bulk = bytes_payload(&big, op::STOP);
        // A large payload that starts like bytes but is not one lone value.
        let mut tuple = bytes_payload(&big, op::BUILDTUPLE);
        tuple.extend_from_slice(&[0, 0, 0, 1, op::STOP]);
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (i, payload) in [
            b"small".to_vec(),
            bulk.clone(),
            Vec::new(),
            big.clone(),
            tuple.clone(),
        ]
        .into_iter()
        .enumerate()
        {
            let code = if i == 2 {
                MsgCode::ChannelClose
            } else {
                MsgCode::ChannelData
            };
            stream.extend(frame(code, i as i32, &payload));
            want.push((code, i as i32, i == 1, payload));
        }
        for step in [1, 7, 4096, 1 << 20] {
            let got = all(reader(stream.clone(), step)).await.unwrap();
            assert_eq!(got, want, "read step {step}");
        }
    }

    #[tokio::test]
    async fn a_lone_bytes_value_arrives_as_its_contents() {
        let data = vec![7u8; BULK];
        let stream = frame(MsgCode::ChannelData, 3, &bytes_payload(&data, op::STOP));
        let mut r = reader(stream, 1000);
        let f = r.next().await.unwrap().unwrap();
        assert!(matches!(f.body, Body::Bytes(ref d) if *d == data));
        assert!(r.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn broken_streams_are_errors_that_say_where() {
        let data = vec![0u8; BULK];
        let bad_stop = frame(MsgCode::ChannelData, 1, &bytes_payload(&data, b'X'));
        let e = all(reader(bad_stop, 5000)).await.unwrap_err();
        assert!(e.contains("not STOP"), "{e}");

        let mut cut = frame(MsgCode::ChannelData, 1, &bytes_payload(&data, op::STOP));
        cut.truncate(cut.len() - 100);
        let e = all(reader(cut, 5000)).await.unwrap_err();
        assert!(e.contains("ended inside a CHANNEL_DATA message"), "{e}");

        let mut cut = frame(MsgCode::ChannelData, 1, b"abc");
        cut.truncate(HEADER_LEN + 1);
        let e = all(reader(cut, 3)).await.unwrap_err();
        assert!(e.contains("(1 of 3 payload bytes)"), "{e}");

        let e = all(reader(vec![4, 0, 0], 3)).await.unwrap_err();
        assert!(e.contains("inside a message header (3 of 9 bytes)"), "{e}");

        let e = all(reader(frame(MsgCode::ChannelData, 1, &[]), 3))
            .await
            .map(|f| f.len());
        assert_eq!(e, Ok(1));

        let mut huge = encode_header(MsgCode::ChannelData, 1, 0).to_vec();
        huge[5..9].copy_from_slice(&(-5i32).to_be_bytes());
        let e = all(reader(huge, 9)).await.unwrap_err();
        assert!(e.starts_with("protocol error"), "{e}");
    }
}
