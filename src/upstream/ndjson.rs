//! Newline-delimited JSON reader on the same line machinery as the SSE parser.
//!
//! Feed body chunks; pull one line at a time as a *mutable* borrowed slice of the received
//! bytes (simd-json parses in place). Blank and whitespace-only lines are skipped (grok's web
//! API may separate objects with extra whitespace); `\r\n` and `\r` endings are accepted; a
//! line longer than `max_line_bytes` is an error. The last line may lack its newline: call
//! [`NdjsonReader::finish`] at end of stream.

use super::lines::LineBuf;
use bytes::BytesMut;

/// Default cap on one line.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdjsonError {
    LineTooLong { limit: usize },
}

impl std::fmt::Display for NdjsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LineTooLong { limit } => write!(f, "NDJSON line longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for NdjsonError {}

#[derive(Debug)]
pub struct NdjsonReader {
    lines: LineBuf,
    current: BytesMut,
    max_line_bytes: usize,
}

impl Default for NdjsonReader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl NdjsonReader {
    pub fn new(max_line_bytes: usize) -> Self {
        Self { lines: LineBuf::new(), current: BytesMut::new(), max_line_bytes }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.lines.feed(chunk);
    }

    /// The next non-blank line (without its terminator).
    pub fn next_line(&mut self) -> Result<Option<&mut [u8]>, NdjsonError> {
        loop {
            let Some(range) = self.lines.next_line() else {
                if self.lines.partial_len() > self.max_line_bytes {
                    return Err(NdjsonError::LineTooLong { limit: self.max_line_bytes });
                }
                return Ok(None);
            };
            if range.len() > self.max_line_bytes {
                return Err(NdjsonError::LineTooLong { limit: self.max_line_bytes });
            }
            if is_blank(self.lines.bytes().get(range.clone()).unwrap_or_default()) {
                continue;
            }
            self.current = self.lines.take_consumed();
            return Ok(self.current.get_mut(range));
        }
    }

    /// At end of stream: the last line if it had no newline (and is not blank).
    pub fn finish(&mut self) -> Result<Option<&mut [u8]>, NdjsonError> {
        let Some(range) = self.lines.finish_line() else {
            return Ok(None);
        };
        if range.len() > self.max_line_bytes {
            return Err(NdjsonError::LineTooLong { limit: self.max_line_bytes });
        }
        if is_blank(self.lines.bytes().get(range.clone()).unwrap_or_default()) {
            return Ok(None);
        }
        self.current = self.lines.take_consumed();
        Ok(self.current.get_mut(range))
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Every line of `pieces` (tests, fuzzing).
pub fn parse_all<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_line_bytes: usize,
) -> Result<Vec<Vec<u8>>, NdjsonError> {
    let mut r = NdjsonReader::new(max_line_bytes);
    let mut out = Vec::new();
    for p in pieces {
        r.feed(p);
        while let Some(line) = r.next_line()? {
            out.push(line.to_vec());
        }
    }
    if let Some(line) = r.finish()? {
        out.push(line.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_blank_skipped_last_without_newline() {
        let got = parse_all([&b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":"[..], b"3}"], 1024).unwrap();
        assert_eq!(got, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), b"{\"c\":3}".to_vec()]);
    }

    #[test]
    fn lines_are_mutable_in_place() {
        let mut r = NdjsonReader::default();
        r.feed(b"abc\n");
        let line = r.next_line().unwrap().unwrap();
        line[0] = b'x';
        assert_eq!(line, b"xbc");
    }

    #[test]
    fn long_lines_are_refused() {
        let mut r = NdjsonReader::new(8);
        r.feed(b"0123456789");
        assert_eq!(r.next_line(), Err(NdjsonError::LineTooLong { limit: 8 }));
    }
}
