//! Request head parsing on httparse, with the framing and smuggling rules of RFC 9112 §6.
//!
//! [`parse_request_head`] is incremental and pure: call it after every read with the whole
//! buffer; `Ok(None)` means "need more bytes". On success the head is split off the buffer and
//! frozen; path and query are zero-copy `Bytes` slices of it and the headers offsets into it
//! ([`Headers`]; the pingora/hyper idea).
//!
//! Framing decisions made here, so no later code can get them wrong:
//! - `Transfer-Encoding` must be exactly one final `chunked` (HTTP/1.1 only), else 400.
//! - `Content-Length` must be one valid decimal; duplicates must agree, else 400.
//! - both present -> 400 (we close instead of guessing).

pub use super::headers::Headers;
use bytes::{Bytes, BytesMut};
use std::mem::MaybeUninit;

/// Largest header count the parser can hold; `limits.max_headers` is capped to this.
pub const MAX_HEADERS_CAP: usize = 1024;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: http::Method,
    /// The path exactly as sent (still percent-encoded), without the query.
    pub path: Bytes,
    /// The raw query string after `?`, if any.
    pub query: Option<Bytes>,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Headers,
    pub framing: BodyFraming,
    /// The connection may be reused after this request.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes the head occupied on the wire.
    pub head_len: usize,
}

impl RequestHead {
    /// First value of a header, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    /// First value of a header as UTF-8 text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The path as text (httparse already rejected non-token bytes).
    pub fn path_str(&self) -> &str {
        std::str::from_utf8(&self.path).unwrap_or("/")
    }
}

/// Why a head was refused; each maps to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Head larger than `max_head_bytes` (431).
    TooLarge,
    /// More than `max_headers` headers (431).
    TooManyHeaders,
    /// Syntax error in the request line or a header (400).
    Malformed(&'static str),
    /// Content-Length invalid, duplicated with different values, or beside Transfer-Encoding (400).
    BadContentLength,
    /// Transfer-Encoding other than a single final `chunked`, or on HTTP/1.0 (400).
    BadTransferEncoding,
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            Self::TooLarge | Self::TooManyHeaders => 431,
            Self::Malformed(_) | Self::BadContentLength | Self::BadTransferEncoding => 400,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::TooLarge => "request head too large",
            Self::TooManyHeaders => "too many request headers",
            Self::Malformed(what) => what,
            Self::BadContentLength => "invalid or conflicting Content-Length",
            Self::BadTransferEncoding => "unsupported Transfer-Encoding (only a final chunked is accepted)",
        }
    }

    pub fn metric_label(self) -> &'static str {
        match self {
            Self::TooLarge => "head_too_large",
            Self::TooManyHeaders => "too_many_headers",
            Self::Malformed(_) => "malformed_head",
            Self::BadContentLength => "bad_content_length",
            Self::BadTransferEncoding => "bad_transfer_encoding",
        }
    }
}

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

/// Parses a request head from the front of `buf`.
///
/// `Ok(None)`: incomplete, read more (unless the buffer is already over the limit, which is an
/// error). `Ok(Some(head))`: the head bytes were removed from `buf`; the body (if any) follows.
pub fn parse_request_head(buf: &mut BytesMut, limits: HeadLimits) -> Result<Option<RequestHead>, HeadError> {
    // Leading empty lines before a request line are allowed (RFC 9112 §2.2); drop them so they
    // never count toward the next request's head.
    let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    if skip > 0 {
        let _ = buf.split_to(skip);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    #[expect(clippy::large_stack_arrays, reason = "uninitialised slots cost nothing; a heap copy per request would")]
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let max = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let slots = storage.get_mut(..max).ok_or(HeadError::TooManyHeaders)?;
    let mut req = httparse::Request::new(&mut []);
    // Only the first `max_head_bytes` are ever handed to httparse. Without this window a syntax
    // error lying past the limit would be reported as `Malformed` when the whole head arrives in
    // one read but as `TooLarge` when it trickles in: the verdict must not depend on how the
    // bytes were split (found by the split-invariance proptest).
    let window = buf.get(..limits.max_head_bytes).unwrap_or(buf);
    let parsed = req.parse_with_uninit_headers(window, slots);
    let head_len = match parsed {
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head_bytes { Err(HeadError::TooLarge) } else { Ok(None) };
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(malformed_reason(e))),
    };
    if head_len > limits.max_head_bytes {
        return Err(HeadError::TooLarge);
    }
    let method = req.method.and_then(|m| http::Method::from_bytes(m.as_bytes()).ok());
    let method = method.ok_or(HeadError::Malformed("invalid method"))?;
    let minor_version = req.version.unwrap_or(1);
    let target = req.path.unwrap_or("/");
    let (path_range, query_range) = split_target(buf.as_ptr() as usize, target)?;
    // Record offsets while `req` borrows `buf`, then freeze and slice (zero copy).
    let base = buf.as_ptr() as usize;
    let mut offsets = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let n0 = h.name.as_ptr() as usize - base;
        let v0 = h.value.as_ptr() as usize - base;
        offsets.push((n0..n0 + h.name.len(), v0..v0 + h.value.len()));
    }
    let frozen = buf.split_to(head_len).freeze();
    let path = frozen.slice(path_range);
    let query = query_range.map(|r| frozen.slice(r));
    let headers = Headers::new(frozen, offsets);
    let (framing, keep_alive, expect_continue) = framing_rules(&headers, minor_version)?;
    Ok(Some(RequestHead {
        method,
        path,
        query,
        minor_version,
        headers,
        framing,
        keep_alive,
        expect_continue,
        head_len,
    }))
}

type Range = std::ops::Range<usize>;

/// Splits the request target into path and query byte ranges relative to `base`.
fn split_target(base: usize, target: &str) -> Result<(Range, Option<Range>), HeadError> {
    if !target.starts_with('/') {
        // Absolute-form and authority-form targets are not for an origin server like us; `*`
        // (OPTIONS) is routed as a path and answered 404/405.
        if target != "*" {
            return Err(HeadError::Malformed("request target must be an absolute path"));
        }
    }
    let start = target.as_ptr() as usize - base;
    Ok(match target.find('?') {
        Some(q) => (start..start + q, Some(start + q + 1..start + target.len())),
        None => (start..start + target.len(), None),
    })
}

fn framing_rules(headers: &Headers, minor: u8) -> Result<(BodyFraming, bool, bool), HeadError> {
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut saw_te = false;
    let mut keep_alive = minor >= 1;
    let mut expect_continue = false;
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = parse_content_length(value).ok_or(HeadError::BadContentLength)?;
            if content_length.is_some_and(|prev| prev != v) {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if minor == 0 {
                return Err(HeadError::BadTransferEncoding);
            }
            // Every listed coding, across repeated headers, must end in exactly one chunked.
            for coding in value.split(|b| *b == b',') {
                let coding = trim(coding);
                if coding.is_empty() {
                    continue;
                }
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::BadTransferEncoding);
                }
                chunked = true;
            }
            saw_te = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|b| *b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect")
            && trim(value).eq_ignore_ascii_case(b"100-continue")
            && minor >= 1
        {
            expect_continue = true;
        }
    }
    if saw_te && !chunked {
        return Err(HeadError::BadTransferEncoding);
    }
    let framing = match (chunked, content_length) {
        (true, Some(_)) => return Err(HeadError::BadContentLength),
        (true, None) => BodyFraming::Chunked,
        (false, Some(0) | None) => BodyFraming::None,
        (false, Some(n)) => BodyFraming::Length(n),
    };
    Ok((framing, keep_alive, expect_continue))
}

/// Strict `1*DIGIT` (no sign, no spaces inside, no overflow).
pub fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None }
    })
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

fn malformed_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::TooManyHeaders => "too many request headers",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits { max_head_bytes: 8192, max_headers: 32 };

    fn parse(s: &str) -> Result<Option<RequestHead>, HeadError> {
        parse_request_head(&mut BytesMut::from(s), LIMITS)
    }

    #[test]
    fn simple_get_with_query() {
        let h = parse("GET /a%20b?x=1&y HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.method, http::Method::GET);
        assert_eq!(&h.path[..], b"/a%20b");
        assert_eq!(h.query.as_deref(), Some(&b"x=1&y"[..]));
        assert!(h.keep_alive);
        assert_eq!(h.framing, BodyFraming::None);
        assert_eq!(h.header_str("HOST"), Some("x"));
    }

    #[test]
    fn leaves_body_in_buffer() {
        let mut b = BytesMut::from("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET");
        let h = parse_request_head(&mut b, LIMITS).unwrap().unwrap();
        assert_eq!(h.framing, BodyFraming::Length(3));
        assert_eq!(&b[..], b"abcGET");
    }

    #[test]
    fn partial_is_none() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
    }

    #[test]
    fn smuggling_rules() {
        let bad = [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3,3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ];
        for case in bad {
            let err = parse(case).unwrap_err();
            assert_eq!(err.status(), 400, "{case:?} -> {err:?}");
        }
        let same = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(same.unwrap().unwrap().framing, BodyFraming::Length(3));
    }

    #[test]
    fn limits_give_431() {
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect::<Vec<_>>().concat();
        let err = parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err();
        assert_eq!(err, HeadError::TooManyHeaders);
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse(&big).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn error_past_the_limit_is_too_large_however_split() {
        let limits = HeadLimits { max_head_bytes: 1024, max_headers: 8 };
        let mut s = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(1100)).into_bytes();
        s.extend_from_slice(b"Bad Header\r\n\r\n");
        let whole = parse_request_head(&mut BytesMut::from(&s[..]), limits);
        let prefix = parse_request_head(&mut BytesMut::from(&s[..1050]), limits);
        assert_eq!(whole, Err(HeadError::TooLarge));
        assert_eq!(prefix, Err(HeadError::TooLarge));
    }

    #[test]
    fn http10_defaults_to_close_and_connection_close_is_honoured() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap().unwrap().keep_alive);
    }

    #[test]
    fn expect_continue_detected() {
        let h = parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(h.unwrap().unwrap().expect_continue);
    }

    #[test]
    fn garbage_is_400() {
        assert_eq!(parse("\x01\x02 / HTTP/1.1\r\n\r\n").unwrap_err().status(), 400);
        assert_eq!(parse("GET http://evil/ HTTP/1.1\r\n\r\n").unwrap_err().status(), 400);
    }
}
