//! Response head parsing (`http::head_lines`) and response body framing (RFC 9112 §6.3), as pure
//! functions: the upstream client, the proxy CONNECT handshake, the WebSocket upgrade and the
//! `http_response_head` fuzz target all call these.
//!
//! [`parse_response_head`] is incremental: call it after every read with the whole buffer;
//! `Ok(None)` means "need more bytes". On success the head is split off the buffer and frozen,
//! and header names/values are offsets into it ([`Headers`]).
//!
//! Framing ([`response_framing`]): no body for HEAD requests, 1xx, 204 and 304; a final
//! `chunked` transfer coding wins (and forbids reuse when a Content-Length came along); other
//! transfer codings, or neither header, mean "until close"; Content-Length values must be valid
//! and agree.

use crate::http::head::{Headers, parse_content_length};
use crate::http::head_lines::{self, LineError};
use bytes::{Bytes, BytesMut};

/// Most headers a response may carry.
pub const MAX_RESPONSE_HEADERS: usize = 256;

/// A parsed status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Bytes,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Headers,
    /// Bytes the head occupied on the wire.
    pub head_len: usize,
}

impl ResponseHead {
    /// First value of a header, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    /// First value of a header as UTF-8 text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of a header, in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.get_all(name)
    }

    /// Whether a comma-separated header (Connection, Upgrade, ...) lists `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_all(name).flat_map(list_items).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// Why a response head (or its framing) is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseHeadError {
    /// Longer than the head limit.
    TooLarge,
    TooManyHeaders,
    /// Syntax error in the status line or a header.
    Malformed(&'static str),
    /// Content-Length invalid or conflicting.
    BadContentLength,
}

impl ResponseHeadError {
    pub fn message(self) -> &'static str {
        match self {
            Self::TooLarge => "response head too large",
            Self::TooManyHeaders => "too many response headers",
            Self::Malformed(m) => m,
            Self::BadContentLength => "invalid or conflicting Content-Length in response",
        }
    }
}

/// Parses a response head from the front of `buf` (leading empty lines are skipped).
pub fn parse_response_head(
    buf: &mut BytesMut,
    max_head_bytes: usize,
) -> Result<Option<ResponseHead>, ResponseHeadError> {
    let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    if skip > 0 {
        let _ = buf.split_to(skip);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    let incomplete = if buf.len() > max_head_bytes { Err(ResponseHeadError::TooLarge) } else { Ok(None) };
    // Only the first `max_head_bytes` are scanned, so a bad byte past the limit is `TooLarge`
    // however the bytes were split across reads (as for request heads, `http::head`).
    let window = buf.get(..max_head_bytes).unwrap_or(buf);
    let line = match head_lines::status_line(window) {
        Ok(Some(line)) => line,
        Ok(None) => return incomplete,
        Err(e) => return Err(malformed(e)),
    };
    // Room for a typical answer's headers in one allocation.
    let mut spans = Vec::with_capacity(16);
    let head_len = match head_lines::header_lines(window, line.end, MAX_RESPONSE_HEADERS, true, &mut spans) {
        Ok(Some(end)) => end,
        Ok(None) => return incomplete,
        Err(e) => return Err(malformed(e)),
    };
    let frozen = buf.split_to(head_len).freeze();
    let r = line.reason;
    let reason = if r.start <= r.end && r.end <= frozen.len() { frozen.slice(r) } else { Bytes::new() };
    Ok(Some(ResponseHead {
        status: line.status,
        reason,
        minor_version: line.minor_version,
        headers: Headers::from_spans(frozen, spans),
        head_len,
    }))
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// Framing plus whether the connection may carry another request afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub body: BodyFraming,
    pub keep_alive: bool,
}

/// Decides body framing and reuse for a response to a request (HEAD or not).
pub fn response_framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, ResponseHeadError> {
    let fields = FramingFields::read(head);
    let mut keep_alive = if head.minor_version >= 1 { !fields.close } else { fields.keep_alive };
    if request_was_head || (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
        return Ok(Framing { body: BodyFraming::Empty, keep_alive });
    }
    let body = body_framing(fields.last_coding, fields.content_length?, head.minor_version, &mut keep_alive);
    Ok(Framing { body, keep_alive })
}

/// The body's framing from the last transfer coding and the content length; clears
/// `keep_alive` where the end of the body is the end of the connection or the message is
/// suspect.
fn body_framing(
    last_coding: Option<&[u8]>,
    content_length: Option<u64>,
    minor_version: u8,
    keep_alive: &mut bool,
) -> BodyFraming {
    if let Some(last) = last_coding {
        // Transfer-Encoding overrides Content-Length; a message with both is suspect, so the
        // connection is not reused afterwards.
        if content_length.is_some() {
            *keep_alive = false;
        }
        if last.eq_ignore_ascii_case(b"chunked") && minor_version >= 1 {
            BodyFraming::Chunked
        } else {
            *keep_alive = false;
            BodyFraming::Close
        }
    } else {
        match content_length {
            Some(0) => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
            None => {
                *keep_alive = false;
                BodyFraming::Close
            }
        }
    }
}

/// What the framing depends on, read in one pass over the headers (names matched by length
/// first, then case-insensitively).
struct FramingFields<'a> {
    /// `Connection` lists `close` / `keep-alive`.
    close: bool,
    keep_alive: bool,
    /// Every `Content-Length` value (comma lists included) agrees; `Err` at the first that
    /// does not parse or differs (reported only when the framing needs it).
    content_length: Result<Option<u64>, ResponseHeadError>,
    /// The last non-empty `Transfer-Encoding` coding.
    last_coding: Option<&'a [u8]>,
}

impl<'a> FramingFields<'a> {
    fn read(head: &'a ResponseHead) -> Self {
        let mut f = Self { close: false, keep_alive: false, content_length: Ok(None), last_coding: None };
        for (name, v) in head.headers.iter() {
            // `eq_ignore_ascii_case` compares lengths first, so most names stop there.
            let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
            if is(b"connection") {
                for t in list_items(v) {
                    f.close |= t.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if is(b"content-length") {
                // Some servers send `Content-Length: 5, 5`; accept identical repeats only.
                for part in v.split(|b| *b == b',') {
                    f.content_length = match (f.content_length, parse_content_length(part)) {
                        (Ok(prev), Some(n)) if prev.is_none_or(|p| p == n) => Ok(Some(n)),
                        (Err(e), _) => Err(e),
                        _ => Err(ResponseHeadError::BadContentLength),
                    };
                }
            } else if is(b"transfer-encoding") {
                if let Some(last) = list_items(v).rfind(|c| !c.is_empty()) {
                    f.last_coding = Some(last);
                }
            }
        }
        f
    }
}

/// The items of a comma-separated header value, each trimmed (empty ones included).
fn list_items(v: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(trim)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

fn malformed(e: LineError) -> ResponseHeadError {
    ResponseHeadError::Malformed(match e {
        LineError::HeaderName => "invalid header name in response",
        LineError::HeaderValue => "invalid header value in response",
        LineError::NewLine => "invalid line ending in response",
        LineError::Status => "invalid response status",
        LineError::TooManyHeaders => return ResponseHeadError::TooManyHeaders,
        LineError::Version => "unsupported HTTP version in response",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> ResponseHead {
        parse_response_head(&mut BytesMut::from(s), 8192).unwrap().unwrap()
    }

    fn framing(s: &str) -> Framing {
        response_framing(&head(s), false).unwrap()
    }

    #[test]
    fn parses_status_reason_headers_and_leaves_body() {
        let mut b = BytesMut::from("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-A : b\r\n\r\nokNEXT");
        let h = parse_response_head(&mut b, 8192).unwrap().unwrap();
        assert_eq!((h.status, &h.reason[..], h.minor_version), (404, &b"Not Found"[..], 1));
        assert_eq!(h.header_str("x-a"), Some("b"));
        assert_eq!(&b[..], b"okNEXT");
        assert_eq!(parse_response_head(&mut BytesMut::from("HTTP/1.1 200 OK\r\nA: b\r\n"), 8192).unwrap(), None);
    }

    #[test]
    fn framing_table() {
        use BodyFraming::*;
        let cases = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Length(5), true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Empty, true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Chunked, true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Chunked, true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n", Chunked, false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Close, false),
            ("HTTP/1.1 200 OK\r\n\r\n", Close, false),
            ("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", Empty, true),
            ("HTTP/1.1 304 Not Modified\r\n\r\n", Empty, true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", Length(1), false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Length(1), false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", Length(1), true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", Length(3), true),
        ];
        for (text, body, keep) in cases {
            assert_eq!(framing(text), Framing { body, keep_alive: keep }, "{text:?}");
        }
        assert_eq!(response_framing(&head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true).unwrap().body, Empty);
    }

    #[test]
    fn missing_reason_phrase_is_empty_not_a_panic() {
        // Found by the http_response_head fuzz target: httparse returns a static "" here.
        let h = head("HTTP/1.0 101\n\n");
        assert_eq!((h.status, &h.reason[..]), (101, &b""[..]));
        assert_eq!(head("HTTP/1.1 204\r\nX-Empty:\r\n\r\n").header("x-empty"), Some(&b""[..]));
    }

    #[test]
    fn bad_lengths_and_limits() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            assert_eq!(response_framing(&head(bad), false), Err(ResponseHeadError::BadContentLength));
        }
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse_response_head(&mut BytesMut::from(big.as_str()), 8192), Err(ResponseHeadError::TooLarge));
        assert!(matches!(
            parse_response_head(&mut BytesMut::from("HTTP/9 x\r\n\r\n"), 8192),
            Err(ResponseHeadError::Malformed(_))
        ));
    }

    /// What httparse (configured as this module used to configure it) makes of a head: `None`
    /// while partial, else the head or the error this module reports for httparse's error.
    type Parsed = Option<Result<(u16, u8, Option<Vec<u8>>, Vec<(Vec<u8>, Vec<u8>)>, usize), ResponseHeadError>>;

    fn by_httparse(buf: &[u8]) -> Parsed {
        // Leading CR/LF bytes are dropped before parsing, as this module always did.
        let buf = buf.get(buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count()..).unwrap_or_default();
        if buf.is_empty() {
            return None;
        }
        let mut storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut storage);
        let mut config = httparse::ParserConfig::default();
        config.allow_spaces_after_header_name_in_responses(true);
        config.allow_multiple_spaces_in_response_status_delimiters(true);
        match config.parse_response(&mut resp, buf) {
            Ok(httparse::Status::Partial) => None,
            Err(e) => Some(Err(match e {
                httparse::Error::HeaderName => malformed(LineError::HeaderName),
                httparse::Error::HeaderValue => malformed(LineError::HeaderValue),
                httparse::Error::NewLine => malformed(LineError::NewLine),
                httparse::Error::Status | httparse::Error::Token => malformed(LineError::Status),
                httparse::Error::TooManyHeaders => ResponseHeadError::TooManyHeaders,
                httparse::Error::Version => malformed(LineError::Version),
            })),
            Ok(httparse::Status::Complete(n)) => {
                // httparse hides a reason phrase holding obs-text: compare only ASCII ones.
                let reason = resp.reason.filter(|r| !r.is_empty()).map(|r| r.as_bytes().to_vec());
                let headers = resp.headers.iter().map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec())).collect();
                Some(Ok((resp.code.unwrap_or(0), resp.version.unwrap_or(9), reason, headers, n)))
            }
        }
    }

    fn by_us(buf: &[u8]) -> Parsed {
        match parse_response_head(&mut BytesMut::from(buf), 1 << 20) {
            Ok(None) => None,
            Err(e) => Some(Err(e)),
            Ok(Some(h)) => {
                let reason = (!h.reason.is_empty() && h.reason.is_ascii()).then(|| h.reason.to_vec());
                let headers = h.headers.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
                Some(Ok((h.status, h.minor_version, reason, headers, h.head_len)))
            }
        }
    }

    #[test]
    fn header_count_and_size_limits() {
        let head = |n: usize| {
            let lines = (0..n).map(|i| format!("x-h{i}: {i}\r\n")).collect::<Vec<_>>().concat();
            format!("HTTP/1.1 200 OK\r\n{lines}\r\n")
        };
        let at_limit = head(MAX_RESPONSE_HEADERS);
        assert_eq!(by_us(at_limit.as_bytes()).unwrap().unwrap().3.len(), MAX_RESPONSE_HEADERS);
        let over = head(MAX_RESPONSE_HEADERS + 1);
        assert_eq!(by_us(over.as_bytes()), Some(Err(ResponseHeadError::TooManyHeaders)));
        assert_eq!(by_us(over.as_bytes()), by_httparse(over.as_bytes()));
        // A bad byte past the size limit is `TooLarge`, whole or trickled in.
        let bad_late = format!("HTTP/1.1 200 OK\r\nx: {}\x01\r\n\r\n", "a".repeat(100));
        assert_eq!(parse_response_head(&mut BytesMut::from(bad_late.as_str()), 64), Err(ResponseHeadError::TooLarge));
        let mut trickled = BytesMut::new();
        let mut verdict = Ok(None);
        for b in bad_late.bytes() {
            trickled.extend_from_slice(&[b]);
            verdict = parse_response_head(&mut trickled, 64);
            if verdict != Ok(None) {
                break;
            }
        }
        assert_eq!(verdict, Err(ResponseHeadError::TooLarge));
    }

    /// The framing's inputs as they were read before the one-pass read: a pass over the headers
    /// per name (`has_token`, every `content-length`, the collected codings).
    fn reference_framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, ResponseHeadError> {
        let mut keep_alive = if head.minor_version >= 1 {
            !head.has_token("connection", "close")
        } else {
            head.has_token("connection", "keep-alive")
        };
        if request_was_head || (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            return Ok(Framing { body: BodyFraming::Empty, keep_alive });
        }
        let mut content_length: Option<u64> = None;
        for v in head.header_all("content-length") {
            for part in v.split(|b| *b == b',') {
                let n = parse_content_length(part).ok_or(ResponseHeadError::BadContentLength)?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(ResponseHeadError::BadContentLength);
                }
                content_length = Some(n);
            }
        }
        let codings: Vec<&[u8]> =
            head.header_all("transfer-encoding").flat_map(list_items).filter(|c| !c.is_empty()).collect();
        let body = body_framing(codings.last().copied(), content_length, head.minor_version, &mut keep_alive);
        Ok(Framing { body, keep_alive })
    }

    proptest::proptest! {
        /// The one-pass read decides what the per-name passes decided, on heads made of the
        /// three framing headers (any case, comma lists, blanks, junk) and others.
        #[test]
        fn one_pass_framing_agrees_with_the_reference(
            minor in 0u8..2,
            status in proptest::sample::select(vec![100u16, 200, 204, 304, 404, 500]),
            request_was_head: bool,
            headers in proptest::collection::vec((
                proptest::sample::select(vec!["Connection", "connection", "CONTENT-LENGTH", "content-length", "Transfer-Encoding", "transfer-encoding", "x-other", "Content-Type"]),
                proptest::sample::select(vec!["close", "keep-alive", "Keep-Alive, Upgrade", " close ,x", "chunked", "gzip, chunked", "chunked, gzip", ",", "", "5", "5, 5", "5,6", "0", "x", "12 ", "99999999999999999999"]),
            ), 0..6),
        ) {
            let lines: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
            let lines = lines.concat();
            let text = format!("HTTP/1.{minor} {status} X\r\n{lines}\r\n");
            let h = head(&text);
            proptest::prop_assert_eq!(response_framing(&h, request_was_head), reference_framing(&h, request_was_head), "{}", text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The hand-written scanner accepts, rejects (with the same error) and splits exactly
        /// what httparse does, for well-formed heads, heads with a stray byte anywhere (a bare
        /// CR among them), and every prefix of them.
        #[test]
        fn agrees_with_httparse(
            status in proptest::sample::select(vec![
                "HTTP/1.1 200 OK", "HTTP/1.0 404 Not Found", "HTTP/1.1  503  Busy now", "HTTP/1.1 204",
                "HTTP/1.1 200 OK", "HTTP/1.1 302 Found", "HTTP/1.1 200 \u{e9}t\u{e9}",
                "HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 200\tOK", "HTTP/1.1 099 x",
            ]),
            headers in proptest::collection::vec(("[A-Za-z0-9!#$%&'*+.^_`|~-]{0,24}", "[ \t]{0,2}", "[ -~\t\u{80}-\u{ff}]{0,40}"), 0..12),
            crlf in proptest::collection::vec(proptest::prelude::any::<bool>(), 14),
            stray in proptest::option::of((0usize..400, proptest::sample::select(vec![0u8, 1, 9, 10, 13, 32, 58, 127, 200, b'(']))),
        ) {
            let end = |i: usize| if crlf.get(i % crlf.len()).copied().unwrap_or(true) { "\r\n" } else { "\n" };
            let mut text: Vec<u8> = format!("{status}{}", end(0)).into_bytes();
            for (i, (name, pad, value)) in headers.iter().enumerate() {
                let value: Vec<u8> = value.chars().map(|c| u8::try_from(c).unwrap_or(b'?')).collect();
                text.extend_from_slice(name.as_bytes());
                text.extend_from_slice(pad.as_bytes());
                text.push(b':');
                text.extend_from_slice(&value);
                text.extend_from_slice(end(i + 1).as_bytes());
            }
            text.extend_from_slice(end(13).as_bytes());
            text.extend_from_slice(b"body");
            if let Some((at, b)) = stray {
                let at = at % text.len();
                text.insert(at, b);
            }
            proptest::prop_assert_eq!(by_us(&text), by_httparse(&text), "{:?}", String::from_utf8_lossy(&text));
            for cut in 0..text.len() {
                let prefix = text.get(..cut).unwrap_or_default();
                proptest::prop_assert_eq!(by_us(prefix), by_httparse(prefix), "prefix {:?}", String::from_utf8_lossy(prefix));
            }
        }
    }
}
