//! Responses: what a handler returns, how its head is serialised, and the small JSON error
//! bodies every failure answers with (in the client's own format when the path tells it).

use crate::util::json;
use bytes::Bytes;
use std::borrow::Cow;

/// Which error shape a path's clients expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFlavor {
    /// `{"error":{"type":…,"message":…}}` for our own endpoints.
    Plain,
    /// Anthropic: `{"type":"error","error":{"type":…,"message":…}}`.
    Claude,
    /// OpenAI: `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
    OpenAi,
}

impl ErrorFlavor {
    /// Picks the flavor from the request path (works before routing, e.g. for a 431).
    pub fn for_path(path: &[u8]) -> Self {
        let ends = |s: &[u8]| path.windows(s.len()).any(|w| w == s);
        if ends(b"/messages") {
            Self::Claude
        } else if ends(b"/chat/completions") || ends(b"/images/") || ends(b"/models") {
            Self::OpenAi
        } else {
            Self::Plain
        }
    }
}

/// The error `type` string for a status in each flavor.
pub fn error_type(flavor: ErrorFlavor, status: u16) -> &'static str {
    match flavor {
        ErrorFlavor::Claude => match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 | 503 => "overloaded_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        },
        ErrorFlavor::OpenAi => match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_exceeded",
            s if s >= 500 => "server_error",
            _ => "invalid_request_error",
        },
        ErrorFlavor::Plain => match status {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            413 => "payload_too_large",
            431 => "request_header_fields_too_large",
            429 => "too_many_requests",
            503 => "unavailable",
            s if s >= 500 => "internal_error",
            _ => "error",
        },
    }
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Bytes),
    /// An event stream: the connection drives the producer, which queues complete SSE frames;
    /// the server writes each as it comes (chunked), sends heartbeats when idle, and drops the
    /// producer and the receiver when the client goes away (see `http::sse_writer`).
    Sse(super::sse_queue::Receiver, super::sse_writer::Producer),
}

/// What a handler returns.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, body: Body) -> Self {
        Self { status, headers: Vec::new(), body, close: false }
    }

    /// A JSON body from bytes already serialised.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, Body::Full(body.into())).header("content-type", "application/json")
    }

    /// An error in the given flavor.
    pub fn error(flavor: ErrorFlavor, status: u16, message: &str) -> Self {
        Self::json(status, error_body(flavor, status, message, None))
    }

    pub fn sse(rx: super::sse_queue::Receiver, producer: super::sse_writer::Producer) -> Self {
        Self::new(200, Body::Sse(rx, producer))
            .header("content-type", "text/event-stream; charset=utf-8")
            .header("cache-control", "no-cache")
            .header("x-accel-buffering", "no")
    }

    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    #[must_use]
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// Serialises an error body.
pub fn error_body(flavor: ErrorFlavor, status: u16, message: &str, code: Option<&str>) -> Vec<u8> {
    let ty = error_type(flavor, status);
    let mut out = Vec::with_capacity(96 + message.len());
    match flavor {
        ErrorFlavor::Claude => {
            out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":");
            json::push_str(&mut out, ty);
            out.extend_from_slice(b",\"message\":");
            json::push_str(&mut out, message);
            out.extend_from_slice(b"}}");
        }
        ErrorFlavor::OpenAi => {
            out.extend_from_slice(b"{\"error\":{\"message\":");
            json::push_str(&mut out, message);
            out.extend_from_slice(b",\"type\":");
            json::push_str(&mut out, ty);
            out.extend_from_slice(b",\"param\":null,\"code\":");
            match code {
                Some(c) => json::push_str(&mut out, c),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b"}}");
        }
        ErrorFlavor::Plain => {
            out.extend_from_slice(b"{\"error\":{\"type\":");
            json::push_str(&mut out, ty);
            out.extend_from_slice(b",\"message\":");
            json::push_str(&mut out, message);
            out.extend_from_slice(b",\"status\":");
            crate::util::decimal::push_u64(&mut out, u64::from(status));
            out.extend_from_slice(b"}}");
        }
    }
    out
}

/// The reason phrase for a status line.
pub fn reason(status: u16) -> &'static str {
    match status {
        529 => "Overloaded",
        s => http::StatusCode::from_u16(s).ok().and_then(|c| c.canonical_reason()).unwrap_or("Unknown"),
    }
}

/// How the body of a response is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFraming {
    Length(usize),
    Chunked,
    /// HTTP/1.0 streaming: delimited by closing the connection.
    Close,
}

/// The most bytes [`write_head`] writes for `headers`: the status line, `server`, the framing
/// and `connection` lines and the blank line take at most 160, each header its name, its value
/// and four bytes of punctuation.
fn head_room(headers: &[(&'static str, Cow<'static, str>)]) -> usize {
    160 + headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum::<usize>()
}

/// Writes the status line and headers. Header values containing CR or LF are dropped (a handler
/// bug must never become response splitting).
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&'static str, Cow<'static, str>)],
    framing: WireFraming,
    keep_alive: bool,
) {
    // One allocation for the whole head (the buffer is often new: a stream's is released after
    // every write).
    out.reserve(head_room(headers));
    out.extend_from_slice(b"HTTP/1.1 ");
    crate::util::decimal::push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nserver: orchids-server\r\n");
    for (name, value) in headers {
        if crate::util::scan::any_byte(value.as_bytes(), |b| b == b'\r' || b == b'\n') {
            log::warn!("dropped response header {name} with a line break in its value");
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        WireFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            crate::util::decimal::push_u64(out, n as u64);
            out.extend_from_slice(b"\r\n");
        }
        WireFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        WireFraming::Close => {}
    }
    out.extend_from_slice(if keep_alive { b"connection: keep-alive\r\n\r\n" } else { b"connection: close\r\n\r\n" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_from_path() {
        assert_eq!(ErrorFlavor::for_path(b"/grok/v1/messages"), ErrorFlavor::Claude);
        assert_eq!(ErrorFlavor::for_path(b"/v1/messages/count_tokens"), ErrorFlavor::Claude);
        assert_eq!(ErrorFlavor::for_path(b"/v1/chat/completions"), ErrorFlavor::OpenAi);
        assert_eq!(ErrorFlavor::for_path(b"/health"), ErrorFlavor::Plain);
    }

    #[test]
    fn error_bodies_are_valid_json_in_each_shape() {
        let c: serde_json::Value =
            serde_json::from_slice(&error_body(ErrorFlavor::Claude, 404, "no \"x\"", None)).unwrap();
        assert_eq!(c["type"], "error");
        assert_eq!(c["error"]["type"], "not_found_error");
        assert_eq!(c["error"]["message"], "no \"x\"");
        let o: serde_json::Value =
            serde_json::from_slice(&error_body(ErrorFlavor::OpenAi, 400, "bad", Some("n"))).unwrap();
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["code"], "n");
        assert!(o["error"]["param"].is_null());
        let p: serde_json::Value = serde_json::from_slice(&error_body(ErrorFlavor::Plain, 431, "big", None)).unwrap();
        assert_eq!(p["error"]["status"], 431);
    }

    #[test]
    fn a_head_is_written_in_one_reservation() {
        let headers = vec![
            ("content-type", Cow::Borrowed("text/event-stream")),
            ("cache-control", Cow::Borrowed("no-cache")),
            ("request-id", Cow::Owned("req_0123456789abcdef0123456789".to_owned())),
        ];
        // The longest reason phrase, a made-up status and ours; the longest framing line.
        for status in [200, 511, 529, 999] {
            for framing in [WireFraming::Length(usize::MAX), WireFraming::Chunked, WireFraming::Close] {
                for keep_alive in [true, false] {
                    let mut out = Vec::new();
                    write_head(&mut out, status, &headers, framing, keep_alive);
                    // A new buffer reserved once holds exactly the reservation unless it regrew.
                    assert_eq!(out.capacity(), head_room(&headers), "{status} {framing:?}: the head regrew its buffer");
                    assert!(out.ends_with(b"\r\n\r\n"));
                }
            }
        }
    }

    #[test]
    fn header_with_newline_is_dropped() {
        let mut out = Vec::new();
        let headers = vec![("x-ok", Cow::Borrowed("1")), ("x-bad", Cow::Borrowed("a\r\nset-cookie: x"))];
        write_head(&mut out, 200, &headers, WireFraming::Length(0), true);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("x-ok: 1"));
        assert!(!s.contains("set-cookie"));
    }
}
