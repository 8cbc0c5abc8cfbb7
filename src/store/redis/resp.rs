//! RESP2 framing on top of the `redis-protocol` crate: commands out, replies in.
//!
//! - [`encode_command`]: an array of bulk strings, written straight into the output buffer (no
//!   intermediate frame vector: zero allocations once the buffer has room).
//! - [`parse_reply`]: one reply from the front of a read buffer, or `Ok(None)` when more bytes
//!   are needed ("need more bytes" is never an error). Before handing a frame to the crate's
//!   recursive decoder, an iterative scan checks that it is complete, at most [`MAX_DEPTH`]
//!   arrays deep, and within size limits, so a hostile or broken server cannot overflow our
//!   stack or make us reserve huge buffers.
//! - [`encode_reply`]: the server side (tests, fuzzing, benches' fake servers).
//!
//! Any split of the input gives the same replies (proptest in `tests/resp_props.rs`).

use crate::util::decimal::push_u64;
use bytes::BufMut;
use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use std::fmt;

/// Deepest array nesting accepted in a reply.
pub const MAX_DEPTH: usize = 32;
/// Largest bulk string accepted (Redis' own limit).
pub const MAX_BULK: i64 = 512 * 1024 * 1024;
/// Largest array length accepted.
pub const MAX_ARRAY: i64 = 1 << 24;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(Bytes),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bulk(b) | Self::Simple(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Bulk(b) | Self::Simple(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// Malformed or oversized replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// Bytes that are not RESP2.
    Protocol(String),
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A length beyond [`MAX_BULK`] / [`MAX_ARRAY`].
    TooLarge(i64),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(s) => write!(f, "malformed RESP reply: {s}"),
            Self::TooDeep => write!(f, "RESP reply nested deeper than {MAX_DEPTH}"),
            Self::TooLarge(n) => write!(f, "RESP length {n} is over the limit"),
        }
    }
}

impl std::error::Error for RespError {}

/// Appends `args` as one command (an array of bulk strings).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) -> Result<(), RespError> {
    let body: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    out.reserve(body + 16);
    out.put_u8(b'*');
    push_u64(out, args.len() as u64);
    out.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.put_u8(b'$');
        push_u64(out, arg.len() as u64);
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
    Ok(())
}

/// Appends `reply` in RESP2 (server side).
pub fn encode_reply(out: &mut BytesMut, reply: &Reply) -> Result<(), RespError> {
    extend_encode(out, &to_frame(reply), false).map(|_| ()).map_err(|e| RespError::Protocol(e.to_string()))
}

fn to_frame(r: &Reply) -> BytesFrame {
    match r {
        Reply::Simple(b) => BytesFrame::SimpleString(b.clone()),
        Reply::Error(s) => BytesFrame::Error(s.as_str().into()),
        Reply::Int(i) => BytesFrame::Integer(*i),
        Reply::Bulk(b) => BytesFrame::BulkString(b.clone()),
        Reply::Nil => BytesFrame::Null,
        Reply::Array(a) => BytesFrame::Array(a.iter().map(to_frame).collect()),
    }
}

fn from_frame(f: BytesFrame) -> Reply {
    match f {
        BytesFrame::SimpleString(b) => Reply::Simple(b),
        BytesFrame::Error(s) => Reply::Error(s.to_string()),
        BytesFrame::Integer(i) => Reply::Int(i),
        BytesFrame::BulkString(b) => Reply::Bulk(b),
        BytesFrame::Null => Reply::Nil,
        BytesFrame::Array(a) => Reply::Array(a.into_iter().map(from_frame).collect()),
    }
}

/// Takes one complete reply off the front of `buf`; `Ok(None)` leaves `buf` untouched.
pub fn parse_reply(buf: &mut BytesMut) -> Result<Option<Reply>, RespError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    match decode_bytes_mut(buf) {
        Ok(Some((frame, used, _))) if used == len => Ok(Some(from_frame(frame))),
        Ok(Some((_, used, _))) => Err(RespError::Protocol(format!("frame length mismatch ({used} vs {len})"))),
        Ok(None) => Err(RespError::Protocol("decoder wants more bytes for a complete frame".into())),
        Err(e) => Err(RespError::Protocol(e.to_string())),
    }
}

/// The length of the complete frame at the front of `buf`, checking depth and sizes, without
/// recursion. `Ok(None)`: incomplete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, RespError> {
    let mut pos = 0usize;
    // Elements still expected at each open array level; the bottom is the frame itself. A fixed
    // stack (the depth is capped anyway), so the scan never allocates.
    let mut remaining = [0i64; MAX_DEPTH + 2];
    remaining[0] = 1;
    let mut depth = 1usize;
    loop {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(line) = line_at(buf, pos + 1) else {
            return Ok(None);
        };
        let after = pos + 1 + line.len() + 2;
        let mut opened = false;
        match kind {
            b'+' | b'-' => pos = after,
            b':' => {
                int(line)?;
                pos = after;
            }
            b'$' => {
                let n = int(line)?;
                if n == -1 {
                    pos = after;
                } else if !(0..=MAX_BULK).contains(&n) {
                    return Err(if n < 0 {
                        RespError::Protocol(format!("bulk length {n}"))
                    } else {
                        RespError::TooLarge(n)
                    });
                } else {
                    let end = after + usize::try_from(n).unwrap_or(usize::MAX);
                    match buf.get(end..end + 2) {
                        None => return Ok(None),
                        Some(b"\r\n") => pos = end + 2,
                        Some(_) => {
                            return Err(RespError::Protocol("bulk string not followed by CRLF".into()));
                        }
                    }
                }
            }
            b'*' => {
                let n = int(line)?;
                pos = after;
                if n > MAX_ARRAY {
                    return Err(RespError::TooLarge(n));
                } else if n > 0 {
                    let Some(slot) = remaining.get_mut(depth).filter(|_| depth <= MAX_DEPTH) else {
                        return Err(RespError::TooDeep);
                    };
                    *slot = n;
                    depth += 1;
                    opened = true;
                } else if n < -1 {
                    return Err(RespError::Protocol(format!("array length {n}")));
                }
            }
            other => {
                return Err(RespError::Protocol(format!("unknown type byte {other:#04x}")));
            }
        }
        if !opened {
            // One element done; close every array it completes.
            while let Some(top) = depth.checked_sub(1).and_then(|i| remaining.get_mut(i)) {
                *top -= 1;
                if *top > 0 {
                    break;
                }
                depth -= 1;
            }
            if depth == 0 {
                return Ok(Some(pos));
            }
        }
    }
}

/// The bytes from `at` up to the next CRLF (exclusive), if there is one.
fn line_at(buf: &[u8], at: usize) -> Option<&[u8]> {
    let rest = buf.get(at..)?;
    let n = memchr::memmem::find(rest, b"\r\n")?;
    rest.get(..n)
}

fn int(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| RespError::Protocol(format!("bad integer {:?}", String::from_utf8_lossy(line))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Vec<Reply>, RespError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(r) = parse_reply(&mut buf)? {
            out.push(r);
        }
        Ok(out)
    }

    #[test]
    fn replies_decode() {
        let got = parse_all(b"+OK\r\n-ERR x\r\n:-5\r\n$3\r\nabc\r\n$-1\r\n*2\r\n*0\r\n$0\r\n\r\n*-1\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                Reply::Simple(Bytes::from_static(b"OK")),
                Reply::Error("ERR x".into()),
                Reply::Int(-5),
                Reply::Bulk(Bytes::from_static(b"abc")),
                Reply::Nil,
                Reply::Array(vec![Reply::Array(vec![]), Reply::Bulk(Bytes::new())]),
                Reply::Nil,
            ]
        );
    }

    #[test]
    fn incomplete_is_none_and_hostile_is_error() {
        assert_eq!(parse_all(b"*2\r\n$3\r\nab").unwrap(), vec![]);
        assert_eq!(parse_all(b"$3\r\nabcXY"), Err(RespError::Protocol("bulk string not followed by CRLF".into())));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert_eq!(parse_all(deep.as_bytes()), Err(RespError::TooDeep));
        assert!(matches!(parse_all(b"$99999999999\r\n"), Err(RespError::TooLarge(_))));
        assert!(matches!(parse_all(b"!x\r\n"), Err(RespError::Protocol(_))));
        assert!(matches!(parse_all(b":x\r\n"), Err(RespError::Protocol(_))));
    }

    #[test]
    fn commands_encode_as_bulk_arrays() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &["SET", "k", "v"]).unwrap();
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }
}
