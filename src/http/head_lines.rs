//! The lines of an HTTP/1.x head, scanned by hand: the status line of a response and the header
//! lines of any head (RFC 9112 §4 and §5), as offsets into the buffer.
//!
//! Why not httparse here: an upstream answer's head is parsed on every proxied request, and
//! `parse_response_head` took about 3.2k instructions with httparse on the simulator's
//! eight-header answer, 2.8k with this scanner. Values are checked eight bytes at a time, and
//! names eight at a time while they are letters, digits and dashes (the table takes the rest).
//!
//! The grammar is httparse's, so the two accept and reject the same heads (a property test in
//! `upstream::response_head` holds them to it): names are tokens; a value is HTAB, SP, VCHAR
//! and obs-text, trimmed of SP/HTAB at both ends; a line ends in CRLF or a bare LF; a CR not
//! followed by LF, obs-fold, and any other control byte are errors. One difference: a reason
//! phrase holding obs-text is kept as sent (httparse hands back an empty one).

use super::headers::Span;
use crate::util::swar;
use std::ops::Range;

/// What is wrong with a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Not `HTTP/1.0` or `HTTP/1.1`, or no space after it.
    Version,
    /// A status code that is not three digits, or a bad byte in the reason phrase.
    Status,
    /// An empty name, a byte that is not a token character, or no colon.
    HeaderName,
    /// A control byte (other than HTAB) in a value, or a CR without its LF.
    HeaderValue,
    /// The blank line that ends the head is a CR without its LF.
    NewLine,
    /// More header lines than the caller allows.
    TooManyHeaders,
}

/// A response's status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    /// Where the reason phrase lies (empty when there is none).
    pub reason: Range<usize>,
    /// Where the header lines start.
    pub end: usize,
}

/// A token character (RFC 9110 §5.6.2).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// The status line at the start of `buf`; `Ok(None)` while it is incomplete.
pub fn status_line(buf: &[u8]) -> Result<Option<StatusLine>, LineError> {
    let minor_version = match buf.get(..8) {
        Some(b"HTTP/1.1") => 1,
        Some(b"HTTP/1.0") => 0,
        Some(_) => return Err(LineError::Version),
        None => {
            let n = buf.len().min(7);
            return if buf.get(..n) == b"HTTP/1.".get(..n) { Ok(None) } else { Err(LineError::Version) };
        }
    };
    let mut pos = 8;
    match buf.get(pos) {
        None => return Ok(None),
        Some(b' ') => pos += 1,
        Some(_) => return Err(LineError::Version),
    }
    pos = skip_spaces(buf, pos);
    let mut status = 0u16;
    for _ in 0..3 {
        match buf.get(pos) {
            None => return Ok(None),
            Some(d @ b'0'..=b'9') => status = status * 10 + u16::from(d - b'0'),
            Some(_) => return Err(LineError::Status),
        }
        pos += 1;
    }
    let (reason, end) = match buf.get(pos) {
        None => return Ok(None),
        Some(b' ') => {
            let start = skip_spaces(buf, pos + 1);
            let mut i = start;
            loop {
                match buf.get(i) {
                    None => return Ok(None),
                    Some(b'\r') => match buf.get(i + 1) {
                        None => return Ok(None),
                        Some(b'\n') => break (start..i, i + 2),
                        Some(_) => return Err(LineError::Status),
                    },
                    Some(b'\n') => break (start..i, i + 1),
                    Some(&b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => i += 1,
                    Some(_) => return Err(LineError::Status),
                }
            }
        }
        Some(b'\r') => match buf.get(pos + 1) {
            None => return Ok(None),
            Some(b'\n') => (pos..pos, pos + 2),
            Some(_) => return Err(LineError::Status),
        },
        Some(b'\n') => (pos..pos, pos + 1),
        Some(_) => return Err(LineError::Status),
    };
    Ok(Some(StatusLine { minor_version, status, reason, end }))
}

fn skip_spaces(buf: &[u8], mut pos: usize) -> usize {
    while buf.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

/// Scans header lines from `pos` up to and including the blank line that ends the head,
/// appending each header's spans to `out`. `Ok(Some(end))`: the head ends at `end`;
/// `Ok(None)`: more bytes are needed (call again with the whole buffer and a cleared `out`).
/// `space_before_colon` tolerates SP/HTAB between a name and its colon (answers only: in a
/// request that is a smuggling vector, RFC 9112 §5.1).
pub fn header_lines(
    buf: &[u8],
    mut pos: usize,
    max_headers: usize,
    space_before_colon: bool,
    out: &mut Vec<Span>,
) -> Result<Option<usize>, LineError> {
    loop {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'\n') => return Ok(Some(pos + 1)),
            Some(b'\r') => {
                return match buf.get(pos + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(pos + 2)),
                    Some(_) => Err(LineError::NewLine),
                };
            }
            Some(_) => {}
        }
        let name_start = pos;
        pos = token_run_end(buf, pos);
        let name = name_start..pos;
        loop {
            match buf.get(pos) {
                None => return Ok(None),
                Some(b':') if !name.is_empty() => break,
                Some(b' ' | b'\t') if space_before_colon && !name.is_empty() => pos += 1,
                Some(_) => return Err(LineError::HeaderName),
            }
        }
        pos += 1;
        while matches!(buf.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        let value_start = pos;
        let line_end = value_run_end(buf, pos);
        pos = match buf.get(line_end) {
            None => return Ok(None),
            Some(b'\n') => line_end + 1,
            Some(b'\r') => match buf.get(line_end + 1) {
                None => return Ok(None),
                Some(b'\n') => line_end + 2,
                Some(_) => return Err(LineError::HeaderValue),
            },
            Some(_) => return Err(LineError::HeaderValue),
        };
        let mut value_end = line_end;
        while value_end > value_start && matches!(buf.get(value_end - 1), Some(b' ' | b'\t')) {
            value_end -= 1;
        }
        if out.len() == max_headers {
            return Err(LineError::TooManyHeaders);
        }
        out.push(Span { name, value: value_start..value_end });
    }
}

/// The first index at or after `i` whose byte is not a token character, or `buf.len()`.
/// Header names are nearly always letters, digits and `-`: eight such bytes are recognised at
/// once (exact per-byte range tests on 7-bit bytes, which cannot carry into each other); the
/// first other byte and the rest go through the table.
fn token_run_end(buf: &[u8], mut i: usize) -> usize {
    while let Some(w) = swar::word_at(buf, i) {
        if w & swar::HIGH != 0 {
            break;
        }
        let folded = w | (swar::ONES * 0x20);
        let letter = swar::at_least(folded, b'a') & swar::at_most(folded, b'z');
        let digit = swar::at_least(w, b'0') & swar::at_most(w, b'9');
        let ok = letter | digit | swar::equal_exact(w, b'-');
        if ok != swar::HIGH {
            i += swar::first(!ok & swar::HIGH);
            break;
        }
        i += 8;
    }
    let rest = buf.get(i..).unwrap_or_default();
    i + rest.iter().position(|&b| !is_token(b)).unwrap_or(rest.len())
}

/// The first index at or after `i` whose byte cannot be inside a field value (a control byte
/// other than HTAB, or DEL), or `buf.len()`. Eight bytes at a time: per byte, the high bit of
/// `hit` flags a byte below 0x20 or equal to 0x7f (the "has a zero byte" trick, exact for the
/// lowest flagged byte, which is the only one read); a flagged HTAB is stepped over.
fn value_run_end(buf: &[u8], mut i: usize) -> usize {
    while let Some(w) = swar::word_at(buf, i) {
        let hit = swar::below(w, 0x20) | swar::equal(w, 0x7f);
        if hit == 0 {
            i += 8;
            continue;
        }
        let at = i + swar::first(hit);
        if buf.get(at) != Some(&b'\t') {
            return at;
        }
        i = at + 1;
    }
    while let Some(&b) = buf.get(i) {
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head's end and its (name, value) pairs.
    type Scanned = (usize, Vec<(String, String)>);

    fn lines(s: &str, lenient: bool) -> Result<Option<Scanned>, LineError> {
        let mut out = Vec::new();
        let end = header_lines(s.as_bytes(), 0, 4, lenient, &mut out)?;
        let text = |r: &Range<usize>| s.get(r.clone()).unwrap().to_owned();
        Ok(end.map(|e| (e, out.iter().map(|sp| (text(&sp.name), text(&sp.value))).collect())))
    }

    #[test]
    fn header_lines_trim_values_and_end_at_the_blank_line() {
        let (end, hs) = lines("A: 1\r\nBb:\t x y \t\r\nC:\n\r\nbody", false).unwrap().unwrap();
        assert_eq!(end, 23);
        assert_eq!(hs, [("A".into(), "1".into()), ("Bb".into(), "x y".into()), ("C".into(), String::new())]);
        assert_eq!(
            lines("A: tab\there and a long value past eight\r\n\r\n", false).unwrap().unwrap().1[0].1,
            "tab\there and a long value past eight"
        );
    }

    #[test]
    fn header_line_errors() {
        assert_eq!(lines("A : 1\r\n\r\n", false), Err(LineError::HeaderName));
        assert_eq!(lines("A : 1\r\n\r\n", true).unwrap().unwrap().1, [("A".into(), "1".into())]);
        assert_eq!(lines(": 1\r\n\r\n", true), Err(LineError::HeaderName));
        assert_eq!(lines(" A: 1\r\n\r\n", false), Err(LineError::HeaderName), "obs-fold or leading space");
        assert_eq!(lines("A(: 1\r\n\r\n", false), Err(LineError::HeaderName));
        assert_eq!(lines("A: 1\x7f2\r\n\r\n", false), Err(LineError::HeaderValue));
        assert_eq!(lines("A: 12345678\x01\r\n\r\n", false), Err(LineError::HeaderValue));
        assert_eq!(lines("A: 1\rx\r\n\r\n", false), Err(LineError::HeaderValue));
        assert_eq!(lines("A: 1\r\n\rx", false), Err(LineError::NewLine));
        assert_eq!(lines("A:1\nB:2\nC:3\nD:4\nE:5\n\n", false), Err(LineError::TooManyHeaders));
        for partial in ["", "A", "A:", "A: 1", "A: 1\r", "A: 1\r\n", "A: 1\r\n\r"] {
            assert_eq!(lines(partial, false), Ok(None), "{partial:?}");
        }
    }

    proptest::proptest! {
        /// The eight-at-a-time name scan stops exactly where a byte-by-byte table scan does.
        #[test]
        fn token_runs_match_the_table(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), from in 0usize..8, name in "[A-Za-z0-9@\\[`{/:,._-]{0,30}") {
            let mut buf = name.into_bytes();
            buf.extend_from_slice(&bytes);
            let from = from.min(buf.len());
            let want = from + buf.iter().skip(from).take_while(|&&b| is_token(b)).count();
            proptest::prop_assert_eq!(token_run_end(&buf, from), want);
        }
    }

    #[test]
    fn status_lines() {
        let l = status_line(b"HTTP/1.0  404  Not  Found\r\nX").unwrap().unwrap();
        assert_eq!((l.minor_version, l.status, l.reason, l.end), (0, 404, 15..25, 27));
        let l = status_line(b"HTTP/1.1 204\nX").unwrap().unwrap();
        assert_eq!((l.status, l.reason.is_empty(), l.end), (204, true, 13));
        for bad in [&b"HTTP/2 200 OK\r\n"[..], b"HTTP/1.1x200", b"HTTP/1.9 200", b"XTTP"] {
            assert_eq!(status_line(bad), Err(LineError::Version), "{bad:?}");
        }
        for bad in [&b"HTTP/1.1 2x0 OK\r\n"[..], b"HTTP/1.1 2000", b"HTTP/1.1 200 O\x01K", b"HTTP/1.1 200\rX"] {
            assert_eq!(status_line(bad), Err(LineError::Status), "{bad:?}");
        }
        for partial in [&b"HTTP/1"[..], b"HTTP/1.1", b"HTTP/1.1 20", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r"] {
            assert_eq!(status_line(partial), Ok(None), "{partial:?}");
        }
    }
}
