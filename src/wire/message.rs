//! Message framing (PROTOCOL.md §2): a 9-byte header, then the payload.
//!
//! Parsing does no I/O: [`parse_frame`] looks at a buffer and says "complete
//! message", "need more bytes" or "error", like mini-redis's `frame.rs`.

use std::fmt;

/// Length of a message header: code (1), channel id (4), payload length (4).
pub const HEADER_LEN: usize = 9;

/// Default cap on a single payload: 1 GiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 30;

/// The message codes of execnet's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum MsgCode {
    /// Ask for `{"numchannels", "numexecuting", "execmodel"}` on a fresh channel id.
    Status = 0,
    /// Set string coercion flags (channel 0: gateway default).
    Reconfigure = 1,
    /// Shut the receiving gateway down.
    GatewayTerminate = 2,
    /// Run `(source, file_name, call_name, kwargs)` on a new channel.
    ChannelExec = 3,
    /// One serialized item for a channel.
    ChannelData = 4,
    /// The sender closed the channel.
    ChannelClose = 5,
    /// The sender closed the channel with an error text.
    ChannelCloseError = 6,
    /// The sender will send nothing more on this channel but still receives.
    ChannelLastMessage = 7,
}

impl MsgCode {
    /// Every code, in numeric order.
    pub const ALL: [MsgCode; 8] = [
        MsgCode::Status,
        MsgCode::Reconfigure,
        MsgCode::GatewayTerminate,
        MsgCode::ChannelExec,
        MsgCode::ChannelData,
        MsgCode::ChannelClose,
        MsgCode::ChannelCloseError,
        MsgCode::ChannelLastMessage,
    ];

    /// The code for a header byte, or `None` for an unknown one.
    pub fn from_i8(code: i8) -> Option<MsgCode> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// execnet's name for the code (`"CHANNEL_DATA"`, …).
    pub fn name(self) -> &'static str {
        match self {
            MsgCode::Status => "STATUS",
            MsgCode::Reconfigure => "RECONFIGURE",
            MsgCode::GatewayTerminate => "GATEWAY_TERMINATE",
            MsgCode::ChannelExec => "CHANNEL_EXEC",
            MsgCode::ChannelData => "CHANNEL_DATA",
            MsgCode::ChannelClose => "CHANNEL_CLOSE",
            MsgCode::ChannelCloseError => "CHANNEL_CLOSE_ERROR",
            MsgCode::ChannelLastMessage => "CHANNEL_LAST_MESSAGE",
        }
    }
}

impl fmt::Display for MsgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One message: code, channel id and the (unversioned) serialized payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What the message means.
    pub code: MsgCode,
    /// The channel it belongs to (0 for gateway-wide messages).
    pub channel: i32,
    /// Payload bytes; empty for codes without payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with an empty payload.
    pub fn empty(code: MsgCode, channel: i32) -> Message {
        Message {
            code,
            channel,
            payload: Vec::new(),
        }
    }

    /// Appends header and payload to `out`.
    ///
    /// Payloads longer than `i32::MAX` cannot be framed; callers check that
    /// with [`check_payload_len`] before building the message.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&encode_header(self.code, self.channel, self.payload.len()));
        out.extend_from_slice(&self.payload);
    }
}

/// A header for a message whose payload is `len` bytes long.
///
/// `len` must fit in an `i32` (see [`check_payload_len`]); a larger value is
/// saturated, which the peer will reject as a bad frame.
pub fn encode_header(code: MsgCode, channel: i32, len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = code as i8 as u8;
    h[1..5].copy_from_slice(&channel.to_be_bytes());
    let len = i32::try_from(len).unwrap_or(i32::MAX);
    h[5..9].copy_from_slice(&len.to_be_bytes());
    h
}

/// Whether a payload of `len` bytes can be framed (the length field is an `i32`).
pub fn check_payload_len(len: usize) -> Result<(), FrameError> {
    if len > i32::MAX as usize {
        Err(FrameError::TooLarge {
            len: len as u64,
            max: i32::MAX as u64,
        })
    } else {
        Ok(())
    }
}

/// A header that cannot start a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The code byte is not one of the eight message codes.
    #[error("unknown message code {code} (channel {channel})")]
    UnknownCode {
        /// The code byte, as a signed number.
        code: i8,
        /// The channel id of the header.
        channel: i32,
    },
    /// The payload length is negative.
    #[error("negative payload length {len} in a {code} message")]
    NegativeLength {
        /// The length field.
        len: i32,
        /// The message code.
        code: MsgCode,
    },
    /// The payload length is above the configured cap.
    #[error("payload of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The length field.
        len: u64,
        /// The cap in force.
        max: u64,
    },
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Message code.
    pub code: MsgCode,
    /// Channel id.
    pub channel: i32,
    /// Payload length in bytes (checked against the cap).
    pub len: usize,
}

/// Parses a 9-byte header, checking the code and the length against `max_payload`.
pub fn parse_header(h: &[u8; HEADER_LEN], max_payload: usize) -> Result<Header, FrameError> {
    let channel = i32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    let raw_code = h[0] as i8;
    let code = MsgCode::from_i8(raw_code).ok_or(FrameError::UnknownCode {
        code: raw_code,
        channel,
    })?;
    let len = i32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    if len < 0 {
        return Err(FrameError::NegativeLength { len, code });
    }
    let len = len as usize;
    if len > max_payload {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: max_payload as u64,
        });
    }
    Ok(Header { code, channel, len })
}

/// Parses one message from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole message, and
/// `Ok(Some((message, consumed)))` when it does.
pub fn parse_frame(buf: &[u8], max_payload: usize) -> Result<Option<(Message, usize)>, FrameError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = parse_header(h, max_payload)?;
    let end = HEADER_LEN + header.len;
    if buf.len() < end {
        return Ok(None);
    }
    let msg = Message {
        code: header.code,
        channel: header.channel,
        payload: buf[HEADER_LEN..end].to_vec(),
    };
    Ok(Some((msg, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_big_endian() {
        let h = encode_header(MsgCode::ChannelData, 3, 258);
        assert_eq!(h, [4, 0, 0, 0, 3, 0, 0, 1, 2]);
    }

    #[test]
    fn round_trip() {
        let m = Message {
            code: MsgCode::ChannelExec,
            channel: -7,
            payload: b"abc".to_vec(),
        };
        let mut out = vec![];
        m.encode_into(&mut out);
        out.extend_from_slice(b"extra");
        let (back, used) = parse_frame(&out, DEFAULT_MAX_PAYLOAD).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(used, 12);
    }

    #[test]
    fn incomplete_is_none() {
        let mut out = vec![];
        Message::empty(MsgCode::Status, 1).encode_into(&mut out);
        for cut in 0..out.len() {
            assert_eq!(parse_frame(&out[..cut], DEFAULT_MAX_PAYLOAD), Ok(None));
        }
        let h = encode_header(MsgCode::ChannelData, 1, 10);
        assert_eq!(parse_frame(&h, DEFAULT_MAX_PAYLOAD), Ok(None));
    }

    #[test]
    fn unknown_code_is_an_error() {
        let mut h = encode_header(MsgCode::Status, 9, 0);
        h[0] = 8;
        assert_eq!(
            parse_frame(&h, DEFAULT_MAX_PAYLOAD),
            Err(FrameError::UnknownCode {
                code: 8,
                channel: 9
            })
        );
        h[0] = 0xff;
        assert!(matches!(
            parse_frame(&h, DEFAULT_MAX_PAYLOAD),
            Err(FrameError::UnknownCode { code: -1, .. })
        ));
    }

    #[test]
    fn negative_and_huge_lengths_are_errors_not_allocations() {
        let mut h = encode_header(MsgCode::ChannelData, 1, 0);
        h[5..9].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            parse_frame(&h, DEFAULT_MAX_PAYLOAD),
            Err(FrameError::NegativeLength { len: -1, .. })
        ));
        let h = encode_header(MsgCode::ChannelData, 1, 1000);
        assert_eq!(
            parse_frame(&h, 999),
            Err(FrameError::TooLarge {
                len: 1000,
                max: 999
            })
        );
        let h = encode_header(MsgCode::ChannelData, 1, i32::MAX as usize);
        assert!(parse_frame(&h, DEFAULT_MAX_PAYLOAD).is_err());
    }

    #[test]
    fn names_match_execnet() {
        assert_eq!(
            MsgCode::from_i8(6).map(MsgCode::name),
            Some("CHANNEL_CLOSE_ERROR")
        );
        assert!(check_payload_len(i32::MAX as usize + 1).is_err());
        assert!(check_payload_len(5).is_ok());
    }
}
