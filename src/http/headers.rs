//! The header lines of a parsed head (a client's request, an upstream's response): the frozen
//! head buffer and, per header, where its name and value lie in it.
//!
//! One shared buffer and plain offsets, not a `Bytes` per name and value: slicing a `Bytes`
//! bumps an atomic reference count, and a head of ten headers would take (and later drop)
//! twenty of them on every request and every upstream answer.

use bytes::Bytes;
use std::ops::Range;

/// Where one header's name and value lie in the head buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// The headers of one head, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    raw: Bytes,
    spans: Vec<Span>,
}

impl Headers {
    /// Headers over `raw` at the given (name, value) byte ranges. A range that does not fit
    /// `raw` reads as empty.
    pub fn new(raw: Bytes, ranges: impl IntoIterator<Item = (Range<usize>, Range<usize>)>) -> Self {
        Self { raw, spans: ranges.into_iter().map(|(name, value)| Span { name, value }).collect() }
    }

    /// Headers over `raw` at spans already built (by [`super::head_lines::header_lines`]).
    pub fn from_spans(raw: Bytes, spans: Vec<Span>) -> Self {
        Self { raw, spans }
    }

    fn part(&self, r: &Range<usize>) -> &[u8] {
        self.raw.get(r.clone()).unwrap_or_default()
    }

    /// Every (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|s| (self.part(&s.name), self.part(&s.value)))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// First value of a header, case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.spans.iter().find(|s| self.is_named(s, name.as_bytes())).map(|s| self.part(&s.value))
    }

    /// Whether a header's name is `name` (any case): lengths first, from the spans alone, so
    /// most headers are passed over without touching the buffer.
    fn is_named(&self, s: &Span, name: &[u8]) -> bool {
        s.name.len() == name.len() && self.part(&s.name).eq_ignore_ascii_case(name)
    }

    /// Every value of a header, in order, case-insensitive name.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.spans.iter().filter(move |s| self.is_named(s, name.as_bytes())).map(|s| self.part(&s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_read_from_the_buffer() {
        let raw = Bytes::from_static(b"Host: a\r\nX-Two: 2\r\nx-two: 3\r\n");
        let h = Headers::new(raw, [(0..4, 6..7), (9..14, 16..17), (19..24, 26..27), (5..99, 0..1)]);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("host"), Some(&b"a"[..]));
        assert_eq!(h.get("x-two"), Some(&b"2"[..]));
        assert_eq!(h.get_all("X-TWO").collect::<Vec<_>>(), [&b"2"[..], b"3"]);
        assert_eq!(h.iter().nth(3), Some((&b""[..], &b"H"[..])), "a range past the end reads as empty");
        assert_eq!(h.get("missing"), None);
        assert!(Headers::default().is_empty());
    }
}
