//! The line machinery under the SSE and NDJSON readers: a growing buffer that finds line ends
//! (`\n`, `\r\n` or a lone `\r`) incrementally, scanning every byte exactly once.
//!
//! Lines are reported as ranges into the buffer; nothing is copied or removed until the owner
//! calls [`LineBuf::take_consumed`], which splits every finished line off the front in O(1).
//! A `\r` that ends one read may be the first half of a `\r\n` split across reads; the `\n`
//! that follows is then skipped, so any split of the input gives the same lines.

use bytes::BytesMut;
use std::ops::Range;

#[derive(Debug, Default)]
pub struct LineBuf {
    buf: BytesMut,
    /// Next byte not yet examined.
    pos: usize,
    /// Start of the line being assembled (everything before it is finished lines).
    line_start: usize,
    /// The last line ended in `\r` at the very end of the data: a leading `\n` is part of it.
    skip_lf: bool,
}

impl LineBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends input.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line's content (without its terminator), as a range into
    /// [`LineBuf::bytes`]; `None` until more input arrives.
    pub fn next_line(&mut self) -> Option<Range<usize>> {
        if self.skip_lf && self.pos < self.buf.len() {
            self.skip_lf = false;
            if self.buf.get(self.pos) == Some(&b'\n') {
                self.pos += 1;
                self.line_start = self.pos;
            }
        }
        let rest = self.buf.get(self.pos..)?;
        let Some(i) = memchr::memchr2(b'\r', b'\n', rest) else {
            self.pos = self.buf.len();
            return None;
        };
        let end = self.pos + i;
        let next = if self.buf.get(end) == Some(&b'\r') {
            match self.buf.get(end + 1) {
                Some(b'\n') => end + 2,
                Some(_) => end + 1,
                None => {
                    self.skip_lf = true;
                    end + 1
                }
            }
        } else {
            end + 1
        };
        let line = self.line_start..end;
        self.line_start = next;
        self.pos = next;
        Some(line)
    }

    /// At end of input: the unterminated last line, if any (and it is consumed).
    pub fn finish_line(&mut self) -> Option<Range<usize>> {
        if self.line_start >= self.buf.len() {
            return None;
        }
        let line = self.line_start..self.buf.len();
        self.line_start = self.buf.len();
        self.pos = self.buf.len();
        Some(line)
    }

    /// The buffer the ranges index into.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Splits every finished line off the front (zero-copy); ranges handed out so far index
    /// into the returned buffer.
    pub fn take_consumed(&mut self) -> BytesMut {
        let n = self.line_start;
        self.pos -= n;
        self.line_start = 0;
        self.buf.split_to(n)
    }

    /// The bytes from the start of the line being assembled (not yet returned as a line), when
    /// no `\n` is pending to be skipped; for a caller that recognises whole lines itself.
    pub fn unread(&self) -> Option<&[u8]> {
        if self.skip_lf { None } else { self.buf.get(self.line_start..) }
    }

    /// Splits off every finished line and the next `n` bytes of [`LineBuf::unread`] (which the
    /// caller recognised as whole lines, the last ending in `\n`).
    pub fn take_unread(&mut self, n: usize) -> BytesMut {
        let total = (self.line_start + n).min(self.buf.len());
        self.pos = self.pos.saturating_sub(total);
        self.line_start = 0;
        self.buf.split_to(total)
    }

    /// Whether nothing is held and no `\n` is pending to be skipped: the next byte fed starts
    /// a line.
    pub fn is_clear(&self) -> bool {
        self.buf.is_empty() && !self.skip_lf
    }

    /// Whether [`LineBuf::next_line`] has looked at part of the line being assembled (it
    /// resumes where it stopped; a caller that recognises whole lines itself would start over).
    pub fn partial_scanned(&self) -> bool {
        self.pos > self.line_start
    }

    /// Bytes held: finished lines not yet taken plus the partial line.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of the line still being assembled.
    pub fn partial_len(&self) -> usize {
        self.buf.len() - self.line_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut lb = LineBuf::new();
        let mut out = Vec::new();
        for p in parts {
            lb.feed(p);
            while let Some(r) = lb.next_line() {
                out.push(lb.bytes()[r].to_vec());
            }
            let _ = lb.take_consumed();
        }
        if let Some(r) = lb.finish_line() {
            out.push(lb.bytes()[r].to_vec());
        }
        out
    }

    #[test]
    fn unread_lines_can_be_taken_whole() {
        let mut lb = LineBuf::new();
        lb.feed(b"a\nbc\nde");
        assert_eq!(lb.next_line(), Some(0..1));
        assert_eq!(lb.unread(), Some(&b"bc\nde"[..]));
        assert_eq!(&lb.take_unread(3)[..], b"a\nbc\n");
        assert_eq!(lb.next_line(), None);
        lb.feed(b"\n");
        assert_eq!(lb.next_line().map(|r| lb.bytes()[r].to_vec()), Some(b"de".to_vec()));
        lb.feed(b"x\r");
        assert_eq!(lb.next_line().map(|r| lb.bytes()[r].to_vec()), Some(b"x".to_vec()));
        assert_eq!(lb.unread(), None, "a \\n after that \\r belongs to it");
    }

    #[test]
    fn every_terminator_and_split() {
        let want: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec(), b"".to_vec(), b"c".to_vec(), b"d".to_vec()];
        assert_eq!(lines_of(&[b"a\nb\r\n\rc\rd"]), want);
        assert_eq!(lines_of(&[b"a\nb\r", b"\n\r", b"c\r", b"d"]), want);
        let bytes = b"a\nb\r\n\rc\rd";
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(lines_of(&single), want);
    }
}
