//! A split-safe incremental SSE reader for the stream decoders: feed bytes as they arrive, take
//! complete events out. Lines end in `\n` or `\r\n`; `:` comment lines are skipped; several
//! `data:` lines are joined with `\n` (the only case that copies); one `data:` line comes back as
//! a zero-copy slice of the input. Results are the same for any split of the input.
//!
//! The upstream HTTP client has its own reader for the network side; this one is what tests,
//! benches, fuzz targets and same-process channels use to decode whole recorded streams.

use bytes::{Bytes, BytesMut};

/// One event: its `event:` name (if any) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    pub event: Option<Bytes>,
    pub data: Bytes,
}

/// The incremental reader.
#[derive(Debug, Default)]
pub struct SseReader {
    buf: BytesMut,
    /// Bytes of `buf` already known to hold no event end.
    scanned: usize,
    /// Largest event accepted (0 = no limit).
    max_event: usize,
}

/// An event larger than the reader's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl SseReader {
    pub fn new(max_event: usize) -> Self {
        Self { buf: BytesMut::new(), scanned: 0, max_event }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes fed but not yet part of a complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete event, if one is buffered. Events with no data are skipped.
    pub fn next_frame(&mut self) -> Result<Option<SseFrame>, TooLarge> {
        loop {
            let Some(end) = self.find_end() else {
                if self.max_event > 0 && self.buf.len() > self.max_event {
                    return Err(TooLarge);
                }
                return Ok(None);
            };
            self.scanned = 0;
            let block = self.buf.split_to(end).freeze();
            if let Some(f) = parse_block(&block) {
                return Ok(Some(f));
            }
        }
    }

    /// Offset just past the blank line that ends the first event.
    fn find_end(&mut self) -> Option<usize> {
        let mut i = self.scanned;
        while let Some(off) = memchr::memchr(b'\n', self.buf.get(i..).unwrap_or_default()) {
            let nl = i + off;
            let next = nl + 1;
            match self.buf.get(next) {
                Some(b'\n') => return Some(next + 1),
                Some(b'\r') => match self.buf.get(next + 1) {
                    Some(b'\n') => return Some(next + 2),
                    Some(_) => i = next,
                    None => {
                        self.scanned = nl;
                        return None;
                    }
                },
                Some(_) => i = next,
                None => {
                    self.scanned = nl;
                    return None;
                }
            }
        }
        self.scanned = self.buf.len().saturating_sub(1);
        None
    }
}

/// Parses the lines of one event block.
fn parse_block(block: &Bytes) -> Option<SseFrame> {
    let mut event = None;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    let mut start = 0;
    while start < block.len() {
        let rel = memchr::memchr(b'\n', block.get(start..).unwrap_or_default()).unwrap_or(block.len() - start);
        let mut end = start + rel;
        let next = end + 1;
        if end > start && block.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line = block.slice(start..end);
        start = next;
        if line.is_empty() || line.first() == Some(&b':') {
            continue;
        }
        let (name, value) = match memchr::memchr(b':', &line) {
            Some(c) => {
                let v = if line.get(c + 1) == Some(&b' ') { c + 2 } else { c + 1 };
                (line.slice(..c), line.slice(v.min(line.len())..))
            }
            None => (line.clone(), Bytes::new()),
        };
        match &name[..] {
            b"event" => event = Some(value),
            b"data" => match (&first, &mut joined) {
                (None, _) => first = Some(value),
                (Some(f), None) => {
                    let mut j = f.to_vec();
                    j.push(b'\n');
                    j.extend_from_slice(&value);
                    joined = Some(j);
                }
                (Some(_), Some(j)) => {
                    j.push(b'\n');
                    j.extend_from_slice(&value);
                }
            },
            _ => {}
        }
    }
    let data = match joined {
        Some(j) => Bytes::from(j),
        None => first?,
    };
    Some(SseFrame { event, data })
}

/// Reads every event of a complete stream (tests, benches, fuzzing).
pub fn read_all(input: &[u8]) -> Vec<SseFrame> {
    let mut r = SseReader::new(0);
    r.feed(input);
    if !input.ends_with(b"\n\n") {
        r.feed(b"\n\n");
    }
    let mut out = Vec::new();
    while let Ok(Some(f)) = r.next_frame() {
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &[u8] =
        b"event: a\ndata: {\"x\":1}\n\n: comment\n\nevent: b\r\ndata: one\r\ndata:two\r\n\r\ndata: [DONE]\n\n";

    #[test]
    fn reads_events() {
        let f = read_all(STREAM);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].event.as_deref(), Some(&b"a"[..]));
        assert_eq!(&f[0].data[..], b"{\"x\":1}");
        assert_eq!(&f[1].data[..], b"one\ntwo");
        assert_eq!(f[2].event, None);
        assert_eq!(&f[2].data[..], b"[DONE]");
    }

    #[test]
    fn limit_applies() {
        let mut r = SseReader::new(8);
        r.feed(b"data: 0123456789");
        assert_eq!(r.next_frame(), Err(TooLarge));
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..STREAM.len(), 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut r = SseReader::new(0);
            let mut got = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([STREAM.len()]) {
                r.feed(&STREAM[last..c]);
                last = c;
                while let Some(f) = r.next_frame().unwrap() { got.push(f); }
            }
            prop_assert_eq!(got, read_all(STREAM));
        }
    }
}
