//! The WebSocket frame codec (RFC 6455 §5) as pure functions and two small state machines,
//! free of IO so proptest and the `ws_frame` fuzz target can drive them directly.
//!
//! - [`encode_frame`]: one frame, masked when a key is given (the client always masks).
//! - [`FrameDecoder`]: frames off the front of a `BytesMut`; `Ok(None)` = need more bytes.
//!   Enforces reserved bits, known opcodes, control-frame rules, the 63-bit length rule, the
//!   frame size cap and the masking direction (server frames must not be masked).
//! - [`Assembler`]: frames -> messages: continuation rules, interleaved control frames, the
//!   message size cap, UTF-8 of text messages and close payloads, valid close codes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    pub fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Continuation,
            1 => Self::Text,
            2 => Self::Binary,
            8 => Self::Close,
            9 => Self::Ping,
            10 => Self::Pong,
            _ => return None,
        })
    }

    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0,
            Self::Text => 1,
            Self::Binary => 2,
            Self::Close => 8,
            Self::Ping => 9,
            Self::Pong => 10,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A protocol violation; each maps to the close code we send before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    ReservedBits,
    UnknownOpcode(u8),
    /// Control frame with more than 125 bytes or without FIN.
    BadControlFrame,
    /// 64-bit length with the most significant bit set.
    BadLength,
    /// A frame or message over the size cap.
    TooLarge {
        limit: u64,
    },
    /// A server frame was masked, or a client frame was not.
    BadMasking,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text/binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// Text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// Close payload of one byte, or a close code that may not be sent.
    BadClosePayload,
}

impl FrameError {
    /// The close code to send (1002 protocol error, 1007 invalid data, 1009 too big).
    pub fn close_code(self) -> u16 {
        match self {
            Self::InvalidUtf8 => 1007,
            Self::TooLarge { .. } => 1009,
            _ => 1002,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::ReservedBits => "websocket frame with reserved bits set",
            Self::UnknownOpcode(_) => "websocket frame with unknown opcode",
            Self::BadControlFrame => "websocket control frame too long or fragmented",
            Self::BadLength => "websocket frame length out of range",
            Self::TooLarge { .. } => "websocket frame or message too large",
            Self::BadMasking => "websocket frame masked the wrong way",
            Self::UnexpectedContinuation => "websocket continuation without a message",
            Self::ExpectedContinuation => "websocket data frame inside a fragmented message",
            Self::InvalidUtf8 => "websocket text is not valid UTF-8",
            Self::BadClosePayload => "websocket close frame payload invalid",
        }
    }
}

/// XORs `data` with `mask`, starting at byte `offset` of the mask cycle.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = [0u8; 8];
    for (i, slot) in m.iter_mut().enumerate() {
        *slot = mask.get((offset + i) % 4).copied().unwrap_or(0);
    }
    let word = u64::from_ne_bytes(m);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(m.iter()) {
        *b ^= k;
    }
}

/// Appends one frame.
pub fn encode_frame(out: &mut BytesMut, fin: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    out.reserve(payload.len() + 14);
    out.put_u8(if fin { 0x80 } else { 0 } | opcode.bits());
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.put_u8(m | u8::try_from(len).unwrap_or(0));
    } else if let Ok(l) = u16::try_from(len) {
        out.put_u8(m | 0x7e);
        out.put_u16(l);
    } else {
        out.put_u8(m | 0x7f);
        out.put_u64(len as u64);
    }
    match mask {
        Some(k) => {
            out.put_slice(&k);
            let start = out.len();
            out.put_slice(payload);
            if let Some(tail) = out.get_mut(start..) {
                apply_mask(tail, k, 0);
            }
        }
        None => out.put_slice(payload),
    }
}

/// One decoded (unmasked) frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Bytes,
}

/// Splits frames off a buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    pub max_frame: u64,
    /// `true` on a server (client frames must be masked), `false` on our client.
    pub expect_masked: bool,
}

impl FrameDecoder {
    pub fn client(max_frame: u64) -> Self {
        Self { max_frame, expect_masked: false }
    }

    /// The next frame at the front of `buf`, consuming it; `Ok(None)` if incomplete.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(FrameError::UnknownOpcode(b0 & 0x0f))?;
        let masked = b1 & 0x80 != 0;
        if masked != self.expect_masked {
            return Err(FrameError::BadMasking);
        }
        let (len, mut at) = match b1 & 0x7f {
            126 => {
                let Some(&[b2, b3]) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([b2, b3])), 4usize)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let l = u64::from_be_bytes(a);
                if l >> 63 != 0 {
                    return Err(FrameError::BadLength);
                }
                (l, 10)
            }
            l => (u64::from(l), 2),
        };
        if opcode.is_control() && (len > 125 || !fin) {
            return Err(FrameError::BadControlFrame);
        }
        if len > self.max_frame {
            return Err(FrameError::TooLarge { limit: self.max_frame });
        }
        let mask = if masked {
            let Some(&[k0, k1, k2, k3]) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([k0, k1, k2, k3])
        } else {
            None
        };
        let len = usize::try_from(len).map_err(|_| FrameError::TooLarge { limit: self.max_frame })?;
        if buf.len() < at + len {
            return Ok(None);
        }
        buf.advance(at);
        let mut payload = buf.split_to(len);
        if let Some(k) = mask {
            apply_mask(&mut payload, k, 0);
        }
        Ok(Some(Frame { fin, opcode, payload: payload.freeze() }))
    }
}

/// A close frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// A complete message (or a control frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// `None`: the peer closed without a code.
    Close(Option<CloseFrame>),
}

/// Frames -> messages.
#[derive(Debug, Default)]
pub struct Assembler {
    pub max_message: u64,
    partial: Option<(Opcode, BytesMut)>,
}

impl Assembler {
    pub fn new(max_message: u64) -> Self {
        Self { max_message, partial: None }
    }

    /// Takes one frame; returns a message when one is complete.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, FrameError> {
        match frame.opcode {
            Opcode::Ping => Ok(Some(Message::Ping(frame.payload))),
            Opcode::Pong => Ok(Some(Message::Pong(frame.payload))),
            Opcode::Close => parse_close(&frame.payload).map(|c| Some(Message::Close(c))),
            Opcode::Text | Opcode::Binary => {
                if self.partial.is_some() {
                    return Err(FrameError::ExpectedContinuation);
                }
                if frame.payload.len() as u64 > self.max_message {
                    return Err(FrameError::TooLarge { limit: self.max_message });
                }
                if frame.fin {
                    return finish(frame.opcode, frame.payload).map(Some);
                }
                self.partial = Some((frame.opcode, BytesMut::from(&frame.payload[..])));
                Ok(None)
            }
            Opcode::Continuation => {
                let Some((op, buf)) = self.partial.as_mut() else {
                    return Err(FrameError::UnexpectedContinuation);
                };
                if (buf.len() + frame.payload.len()) as u64 > self.max_message {
                    return Err(FrameError::TooLarge { limit: self.max_message });
                }
                buf.extend_from_slice(&frame.payload);
                if !frame.fin {
                    return Ok(None);
                }
                let op = *op;
                let data = self.partial.take().map(|(_, b)| b.freeze()).unwrap_or_default();
                finish(op, data).map(Some)
            }
        }
    }
}

fn finish(op: Opcode, data: Bytes) -> Result<Message, FrameError> {
    if op == Opcode::Text {
        std::str::from_utf8(&data).map_err(|_| FrameError::InvalidUtf8)?;
        Ok(Message::Text(data))
    } else {
        Ok(Message::Binary(data))
    }
}

fn parse_close(p: &[u8]) -> Result<Option<CloseFrame>, FrameError> {
    match p {
        [] => Ok(None),
        [_] => Err(FrameError::BadClosePayload),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !allowed {
                return Err(FrameError::BadClosePayload);
            }
            let reason = std::str::from_utf8(rest).map_err(|_| FrameError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason: reason.to_owned() }))
        }
    }
}

/// A close frame payload: code + reason (truncated to fit a control frame).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(reason.get(..end).unwrap_or_default().as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, op: Opcode, payload: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        encode_frame(&mut b, fin, op, payload, None);
        b
    }

    #[test]
    fn lengths_7_16_64_roundtrip_with_and_without_mask() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let mut b = BytesMut::new();
            encode_frame(&mut b, true, Opcode::Binary, &payload, Some([1, 2, 3, 4]));
            let dec = FrameDecoder { max_frame: 1 << 20, expect_masked: true };
            let f = dec.decode(&mut b).unwrap().unwrap();
            assert_eq!((f.fin, f.opcode, &f.payload[..]), (true, Opcode::Binary, &payload[..]));
            assert!(b.is_empty());
            let mut b = server_frame(false, Opcode::Text, &payload);
            let f = FrameDecoder::client(1 << 20).decode(&mut b).unwrap().unwrap();
            assert_eq!(f.payload.len(), len);
        }
    }

    #[test]
    fn mask_known_vector() {
        // RFC 6455 §5.7: masked "Hello".
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(&b[..], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut odd = *b"abcdefghijk";
        apply_mask(&mut odd, [9, 8, 7, 6], 3);
        apply_mask(&mut odd, [9, 8, 7, 6], 3);
        assert_eq!(&odd, b"abcdefghijk");
    }

    #[test]
    fn protocol_violations() {
        let dec = FrameDecoder::client(1000);
        let cases: [(&[u8], FrameError); 6] = [
            (&[0xC1, 0x00], FrameError::ReservedBits),
            (&[0x83, 0x00], FrameError::UnknownOpcode(3)),
            (&[0x09, 0x00], FrameError::BadControlFrame),
            (&[0x89, 0x7e, 0x00, 0x7e], FrameError::BadControlFrame),
            (&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0], FrameError::BadMasking),
            (&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0], FrameError::BadLength),
        ];
        for (bytes, want) in cases {
            assert_eq!(dec.decode(&mut BytesMut::from(bytes)), Err(want), "{bytes:?}");
        }
        assert_eq!(
            dec.decode(&mut BytesMut::from(&[0x82, 0x7e, 0x10, 0x00][..])),
            Err(FrameError::TooLarge { limit: 1000 })
        );
        assert_eq!(dec.decode(&mut BytesMut::from(&[0x82, 0x05, b'a'][..])), Ok(None));
    }

    #[test]
    fn fragmentation_with_interleaved_ping() {
        let mut a = Assembler::new(100);
        let f = |fin, opcode, p: &'static [u8]| Frame { fin, opcode, payload: Bytes::from_static(p) };
        assert_eq!(a.push(f(false, Opcode::Text, b"he")), Ok(None));
        assert_eq!(a.push(f(true, Opcode::Ping, b"p")), Ok(Some(Message::Ping(Bytes::from_static(b"p")))));
        assert_eq!(a.push(f(false, Opcode::Continuation, b"ll")), Ok(None));
        assert_eq!(a.push(f(true, Opcode::Continuation, b"o")), Ok(Some(Message::Text(Bytes::from_static(b"hello")))));
        assert_eq!(a.push(f(true, Opcode::Continuation, b"x")), Err(FrameError::UnexpectedContinuation));
        assert_eq!(a.push(f(false, Opcode::Binary, b"x")), Ok(None));
        assert_eq!(a.push(f(true, Opcode::Text, b"x")), Err(FrameError::ExpectedContinuation));
        let mut a = Assembler::new(3);
        assert_eq!(a.push(f(false, Opcode::Binary, b"ab")), Ok(None));
        assert_eq!(a.push(f(true, Opcode::Continuation, b"cd")), Err(FrameError::TooLarge { limit: 3 }));
        let mut a = Assembler::new(10);
        assert_eq!(a.push(f(true, Opcode::Text, b"\xff")), Err(FrameError::InvalidUtf8));
    }

    #[test]
    fn close_payloads() {
        let mut a = Assembler::new(10);
        let close = |p: Vec<u8>| Frame { fin: true, opcode: Opcode::Close, payload: Bytes::from(p) };
        assert_eq!(a.push(close(vec![])), Ok(Some(Message::Close(None))));
        assert_eq!(
            a.push(close(close_payload(1000, "bye"))),
            Ok(Some(Message::Close(Some(CloseFrame { code: 1000, reason: "bye".into() }))))
        );
        assert_eq!(a.push(close(vec![3])), Err(FrameError::BadClosePayload));
        assert_eq!(a.push(close(close_payload(1005, ""))), Err(FrameError::BadClosePayload));
        assert_eq!(close_payload(1000, &"é".repeat(100)).len(), 2 + 122);
    }
}
