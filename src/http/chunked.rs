//! Incremental `Transfer-Encoding: chunked` decoder and encoder (RFC 9112 §7.1).
//!
//! The decoder is a state machine over a `BytesMut` the caller keeps filling; it hands out body
//! data as zero-copy `Bytes` split off that buffer and never re-scans bytes it has consumed, so it
//! works identically whatever the read boundaries. Used for request bodies on the server and for
//! response bodies in the upstream client. Chunk extensions are skipped; trailers are read and
//! dropped. Size lines and trailers are bounded so a peer cannot grow the buffer forever.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Longest chunk-size line (with extensions) we accept.
pub const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes we accept after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data; this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the zero chunk: trailer lines until an empty line. Counts trailer bytes seen.
    Trailers(usize),
    Done,
}

/// What [`ChunkedDecoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Body bytes (never empty).
    Data(Bytes),
    /// Need more input.
    NeedMore,
    /// The terminating chunk and trailers were read; the body is complete.
    Done,
}

/// Why a chunked body is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    BadSize,
    SizeLineTooLong,
    MissingCrlf,
    TrailersTooLarge,
}

impl ChunkedError {
    pub fn message(self) -> &'static str {
        match self {
            Self::BadSize => "invalid chunk size",
            Self::SizeLineTooLong => "chunk size line too long",
            Self::MissingCrlf => "missing CRLF after chunk data",
            Self::TrailersTooLarge => "chunked trailers too large",
        }
    }
}

/// Incremental decoder; one per body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self { state: State::Size }
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes of the current chunk that were declared but not handed out yet (0 outside chunk
    /// data), so a caller can refuse a body whose declared size is already over its limit.
    pub fn chunk_remaining(&self) -> u64 {
        match self.state {
            State::Data(left) => left,
            _ => 0,
        }
    }

    /// Consumes what it can from `input`; returns the next piece of body data, `NeedMore`, or
    /// `Done`. Bytes after the end of the body stay in `input` (the next pipelined request).
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Chunk, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(Chunk::Done),
                State::Size => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        if input.len() > MAX_SIZE_LINE {
                            return Err(ChunkedError::SizeLineTooLong);
                        }
                        return Ok(Chunk::NeedMore);
                    };
                    if nl > MAX_SIZE_LINE {
                        return Err(ChunkedError::SizeLineTooLong);
                    }
                    let size = parse_size_line(input.get(..=nl).unwrap_or_default())?;
                    // Dropped in place: no second handle on the buffer to make and drop.
                    input.advance(nl + 1);
                    self.state = if size == 0 { State::Trailers(0) } else { State::Data(size) };
                }
                State::Data(left) => {
                    if input.is_empty() {
                        return Ok(Chunk::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    let data = input.split_to(take).freeze();
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                    return Ok(Chunk::Data(data));
                }
                State::DataEnd => match input.first().copied() {
                    None => return Ok(Chunk::NeedMore),
                    Some(b'\r') => match input.get(1).copied() {
                        None => return Ok(Chunk::NeedMore),
                        Some(b'\n') => {
                            input.advance(2);
                            self.state = State::Size;
                        }
                        Some(_) => return Err(ChunkedError::MissingCrlf),
                    },
                    Some(b'\n') => {
                        input.advance(1);
                        self.state = State::Size;
                    }
                    Some(_) => return Err(ChunkedError::MissingCrlf),
                },
                State::Trailers(seen) => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        if seen + input.len() > MAX_TRAILERS {
                            return Err(ChunkedError::TrailersTooLarge);
                        }
                        return Ok(Chunk::NeedMore);
                    };
                    let seen = seen + nl + 1;
                    if seen > MAX_TRAILERS {
                        return Err(ChunkedError::TrailersTooLarge);
                    }
                    let empty = matches!(input.get(..=nl), Some(b"\n" | b"\r\n"));
                    input.advance(nl + 1);
                    self.state = if empty { State::Done } else { State::Trailers(seen) };
                }
            }
        }
    }
}

/// `1*HEXDIG [ chunk-ext ] CRLF`; tolerant of a bare LF, strict about the digits.
fn parse_size_line(line: &[u8]) -> Result<u64, ChunkedError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 16 {
        return Err(ChunkedError::BadSize);
    }
    // After the size: optional whitespace then `;ext`, nothing else.
    let rest_trimmed =
        rest.iter().position(|b| *b != b' ' && *b != b'\t').map_or(&[][..], |i| rest.get(i..).unwrap_or_default());
    if !rest_trimmed.is_empty() && rest_trimmed.first() != Some(&b';') {
        return Err(ChunkedError::BadSize);
    }
    digits.iter().try_fold(0u64, |acc, b| {
        let d = u64::from(match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ChunkedError::BadSize),
        });
        acc.checked_mul(16).and_then(|v| v.checked_add(d)).ok_or(ChunkedError::BadSize)
    })
}

/// Appends one chunk frame (`{len:x}\r\n{data}\r\n`) for non-empty `data`.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    push_hex(out, data.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the terminating zero chunk with no trailers.
pub fn encode_last(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Appends a chunk frame into a `BytesMut` (client side request bodies); nothing for empty
/// `data`, like [`encode_chunk`].
pub fn encode_chunk_bytes(out: &mut BytesMut, data: &[u8]) {
    // An empty frame would be `0\r\n\r\n`, the last-chunk marker: it would end the body early
    // and leave the rest to be read as the next message.
    if data.is_empty() {
        return;
    }
    let mut tmp = Vec::with_capacity(20);
    push_hex(&mut tmp, data.len());
    out.put_slice(&tmp);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn push_hex(out: &mut Vec<u8>, mut n: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let (Some(slot), Some(h)) = (digits.get_mut(i), HEX.get(n & 0xf)) {
            *slot = *h;
        }
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// Decodes a complete chunked body in one go (tests, fuzzing, small bodies).
pub fn decode_all(input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ChunkedError> {
    let mut buf = BytesMut::from(input);
    let mut dec = ChunkedDecoder::new();
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf)? {
            Chunk::Data(d) => out.extend_from_slice(&d),
            Chunk::NeedMore => return Ok(None),
            Chunk::Done => return Ok(Some((out, input.len() - buf.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_extensions_and_trailers() {
        let body = b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (out, used) = decode_all(body).unwrap().unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&body[used..], b"NEXT");
    }

    #[test]
    fn rejects_bad_sizes() {
        for bad in [&b"x\r\n"[..], b"-1\r\n", b"1 2\r\n", b"11111111111111111\r\n", b"\r\n"] {
            assert!(decode_all(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_all(b"3\r\nabcX\r\n"), Err(ChunkedError::MissingCrlf));
    }

    #[test]
    fn byte_by_byte_equals_one_shot() {
        let body = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in body {
            buf.extend_from_slice(&[*b]);
            while let Chunk::Data(d) = dec.decode(&mut buf).unwrap() {
                out.extend_from_slice(&d);
            }
        }
        assert!(dec.is_done());
        assert_eq!(out, b"abc0123456789abcdef");
    }

    #[test]
    fn empty_data_never_encodes_a_last_chunk() {
        let mut out = BytesMut::new();
        encode_chunk_bytes(&mut out, b"ab");
        encode_chunk_bytes(&mut out, b"");
        encode_chunk_bytes(&mut out, b"cd");
        out.extend_from_slice(b"0\r\n\r\n");
        let (body, used) = decode_all(&out).unwrap().unwrap();
        assert_eq!(body, b"abcd");
        assert_eq!(used, out.len());
    }

    #[test]
    fn chunk_remaining_reports_the_declared_rest() {
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"10\r\nabc"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(Chunk::Data(Bytes::from_static(b"abc"))));
        assert_eq!(dec.chunk_remaining(), 13);
        buf.extend_from_slice(b"0123456789abc\r\n");
        assert!(matches!(dec.decode(&mut buf), Ok(Chunk::Data(_))));
        assert_eq!(dec.chunk_remaining(), 0);
    }

    #[test]
    fn encode_roundtrip() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, &[7u8; 300]);
        encode_last(&mut out);
        let (body, _) = decode_all(&out).unwrap().unwrap();
        assert_eq!(body.len(), 305);
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
    }
}
