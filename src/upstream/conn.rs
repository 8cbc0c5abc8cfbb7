//! One HTTP/1.1 connection to an upstream: writing a request (head + Content-Length or chunked
//! body) and reading the response head. Body reading lives in [`super::body`]; pooling in
//! [`super::pool`].
//!
//! [`encode_request_head`] is pure. Header names and values were validated when the request
//! was built (`http::HeaderName` / `HeaderValue`: no CR, LF or NUL can reach the wire), and
//! framing headers are always ours: user-supplied `Content-Length` / `Transfer-Encoding` are
//! dropped so the body can never be framed two ways.

use super::connect::PhaseDeadline;
use super::error::{ErrorKind, UpstreamError};
use super::response_head::{ResponseHead, parse_response_head};
use super::transport::{ReadOutcome, Transport};
use super::url::Target;
use crate::http::chunked;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method};

/// Bodies up to this size are written in the same write as the head.
const COALESCE: usize = 64 * 1024;

/// An encoded request head, ready to write; `body_inline`: the (small, whole) body is appended
/// to it already. Cloning shares the bytes (a retry on a fresh connection resends them).
#[derive(Debug, Clone)]
pub struct Wire {
    pub head: Bytes,
    pub body_inline: bool,
}

/// The request's head ([`encode_request_head`]) with a whole body of up to [`COALESCE`] bytes
/// appended, encoded once.
pub fn encode_request(
    method: &Method,
    target: &Target,
    headers: &[(HeaderName, HeaderValue)],
    body: &RequestBody,
) -> Wire {
    let inline = match body {
        RequestBody::Full(b) if b.len() <= COALESCE => Some(b),
        _ => None,
    };
    let mut head = Vec::with_capacity(512 + inline.map_or(0, Bytes::len));
    encode_request_head(&mut head, method, target, headers, body);
    if let Some(b) = inline {
        head.extend_from_slice(b);
    }
    Wire { head: Bytes::from(head), body_inline: inline.is_some() }
}

/// What a request carries.
#[derive(Debug, Default)]
pub enum RequestBody {
    #[default]
    Empty,
    /// Sent with `Content-Length`.
    Full(Bytes),
    /// Sent with `Transfer-Encoding: chunked`, one chunk per piece.
    Chunked(Vec<Bytes>),
    /// Streamed with `Transfer-Encoding: chunked` until the sender is dropped. Cannot be sent
    /// twice, so a request with it is never retried on a stale pooled connection.
    Stream(async_channel::Receiver<Bytes>),
}

impl RequestBody {
    /// Whether the same body can be sent again after a failed attempt.
    pub fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }
}

/// Appends the request line and headers (with our `Host` and framing headers).
pub fn encode_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &Target,
    headers: &[(HeaderName, HeaderValue)],
    body: &RequestBody,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n == http::header::HOST) {
        out.extend_from_slice(b"host: ");
        target.write_host_header(out);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match body {
        RequestBody::Empty => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
        }
        RequestBody::Full(b) => {
            out.extend_from_slice(b"content-length: ");
            crate::util::decimal::push_u64(out, b.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        RequestBody::Chunked(_) | RequestBody::Stream(_) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A live connection: the stream plus bytes read past what has been consumed.
#[derive(Debug)]
pub struct Connection {
    pub(crate) t: Transport,
    pub(crate) rbuf: BytesMut,
    /// Requests completed on it (0 for a fresh connection).
    pub(crate) served: u32,
}

impl Connection {
    pub fn new(t: Transport, rbuf: BytesMut) -> Self {
        Self { t, rbuf, served: 0 }
    }

    /// Whether it came back from the pool.
    pub fn reused(&self) -> bool {
        self.served > 0
    }

    /// Writes the head and the body (the body only when it is not already in `wire.head`).
    pub async fn send_request(&mut self, wire: Wire, body: &mut RequestBody, host: &str) -> Result<(), UpstreamError> {
        let werr = |e: std::io::Error| UpstreamError::io(&e, &format!("sending the request to {host}"));
        let head = wire.head;
        if wire.body_inline {
            return self.t.write_bytes(head).await.map_err(werr);
        }
        match body {
            RequestBody::Empty => self.t.write_bytes(head).await.map_err(werr),
            RequestBody::Full(b) => {
                self.t.write_bytes(head).await.map_err(werr)?;
                self.t.write_bytes(b.clone()).await.map_err(werr)
            }
            RequestBody::Chunked(parts) => {
                let mut out = BytesMut::from(&head[..]);
                for p in parts.iter().filter(|p| !p.is_empty()) {
                    chunked::encode_chunk_bytes(&mut out, p);
                    if out.len() >= COALESCE {
                        self.t.write_bytes(out.split().freeze()).await.map_err(werr)?;
                    }
                }
                out.extend_from_slice(b"0\r\n\r\n");
                self.t.write_bytes(out.freeze()).await.map_err(werr)
            }
            RequestBody::Stream(rx) => {
                self.t.write_bytes(head).await.map_err(werr)?;
                let mut out = BytesMut::new();
                while let Ok(p) = rx.recv().await {
                    if p.is_empty() {
                        continue;
                    }
                    chunked::encode_chunk_bytes(&mut out, &p);
                    self.t.write_bytes(out.split().freeze()).await.map_err(werr)?;
                }
                self.t.write_bytes(Bytes::from_static(b"0\r\n\r\n")).await.map_err(werr)
            }
        }
    }

    /// Reads until a final response head (interim 1xx answers are skipped; `101` is final when
    /// `upgrade` is set). The deadline's kind is `HeadTimeout`.
    pub async fn read_response_head(
        &mut self,
        deadline: PhaseDeadline,
        max_head_bytes: usize,
        upgrade: bool,
        host: &str,
    ) -> Result<ResponseHead, UpstreamError> {
        loop {
            match parse_response_head(&mut self.rbuf, max_head_bytes) {
                Ok(Some(head)) if (100..200).contains(&head.status) && !(upgrade && head.status == 101) => {
                    continue;
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => {
                    let kind = match e {
                        super::response_head::ResponseHeadError::TooLarge
                        | super::response_head::ResponseHeadError::TooManyHeaders => ErrorKind::HeadTooLarge,
                        _ => ErrorKind::Protocol,
                    };
                    return Err(UpstreamError::new(kind, format!("{host}: {}", e.message())));
                }
            }
            match self.t.read_or_abandon(&mut self.rbuf, deadline.at).await {
                Ok(ReadOutcome::Data(_)) => {}
                Ok(ReadOutcome::Eof) => {
                    return Err(UpstreamError::new(
                        ErrorKind::Closed,
                        format!("{host} closed the connection before the response head"),
                    ));
                }
                Ok(ReadOutcome::TimedOut) => {
                    return Err(
                        deadline.expired(ErrorKind::HeadTimeout, format!("no response head from {host} in time"))
                    );
                }
                Err(e) => {
                    return Err(UpstreamError::io(&e, &format!("reading the response head from {host}")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn head_has_host_and_exactly_one_framing() {
        let t = Target::parse("http://up.test:8080/v1/x?y=1").unwrap();
        let headers =
            vec![(HeaderName::from_static("content-length"), hv("999")), (HeaderName::from_static("x-a"), hv("b"))];
        let mut out = Vec::new();
        encode_request_head(&mut out, &Method::POST, &t, &headers, &RequestBody::Full(Bytes::from_static(b"abc")));
        assert_eq!(out, b"POST /v1/x?y=1 HTTP/1.1\r\nhost: up.test:8080\r\nx-a: b\r\ncontent-length: 3\r\n\r\n");
        out.clear();
        encode_request_head(&mut out, &Method::POST, &t, &[], &RequestBody::Chunked(vec![]));
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
        out.clear();
        encode_request_head(&mut out, &Method::GET, &t, &[(http::header::HOST, hv("other"))], &RequestBody::Empty);
        assert_eq!(out, b"GET /v1/x?y=1 HTTP/1.1\r\nhost: other\r\n\r\n");
    }

    #[test]
    fn header_values_cannot_smuggle_lines() {
        assert!(HeaderValue::from_str("a\r\nx: y").is_err());
        assert!(HeaderName::from_bytes(b"a b").is_err());
    }
}
