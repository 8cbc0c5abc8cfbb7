//! The simulator's HTTP/1.1 plumbing: read one request (head via
//! [`crate::http::head::parse_request_head`], body by length or [`crate::http::chunked`]),
//! write a full response, or stream a chunked one.
//!
//! Streaming coalesces events: payload bytes collect in `pending` and go out as one chunk per
//! flush. Without pacing the whole answer is one write (the zero-delay mode benchmarks want);
//! with `pace N/M` every N events are flushed and followed by an M ms sleep. Buffers are owned
//! `Vec`s moved through monoio's rent-style writes and reused across requests.

use crate::http::chunked::{Chunk, ChunkedDecoder};
use crate::http::head::{BodyFraming, HeadLimits, RequestHead, parse_request_head};
use crate::http::read_more::read_more;
use bytes::{Bytes, BytesMut};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use std::io;
use std::time::Duration;

const LIMITS: HeadLimits = HeadLimits { max_head_bytes: 64 * 1024, max_headers: 128 };
/// Largest request body accepted.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Unpaced streams flush when this much is pending.
const FLUSH_AT: usize = 32 * 1024;

/// One request.
#[derive(Debug)]
pub struct Req {
    pub head: RequestHead,
    pub body: Bytes,
}

/// Why reading a request stopped.
#[derive(Debug)]
pub enum ReadEnd {
    /// Clean close or io error: close silently.
    Closed,
    /// Answer this status and close.
    Bad(u16, &'static str),
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    out: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self { stream, rbuf: BytesMut::with_capacity(16 * 1024), out: Vec::with_capacity(16 * 1024) }
    }

    async fn fill(&mut self) -> Result<(), ReadEnd> {
        // Appending (`http::read_more`): a request that came in more than one read once never
        // completed here.
        let (r, buf) = read_more(&mut self.stream, std::mem::take(&mut self.rbuf), 16 * 1024).await;
        self.rbuf = buf;
        match r {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(ReadEnd::Closed),
        }
    }

    /// Reads the next request (head and whole body).
    pub async fn read_request(&mut self) -> Result<Req, ReadEnd> {
        let head = loop {
            match parse_request_head(&mut self.rbuf, LIMITS) {
                Ok(Some(h)) => break h,
                Ok(None) => self.fill().await?,
                Err(e) => return Err(ReadEnd::Bad(e.status(), e.message())),
            }
        };
        let body = match head.framing {
            BodyFraming::None => Bytes::new(),
            BodyFraming::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > MAX_BODY {
                    return Err(ReadEnd::Bad(413, "request body too large"));
                }
                if head.expect_continue && self.rbuf.len() < n {
                    self.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await.map_err(|_| ReadEnd::Closed)?;
                }
                while self.rbuf.len() < n {
                    self.rbuf.reserve(n - self.rbuf.len());
                    self.fill().await?;
                }
                self.rbuf.split_to(n).freeze()
            }
            BodyFraming::Chunked => {
                if head.expect_continue && self.rbuf.is_empty() {
                    self.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await.map_err(|_| ReadEnd::Closed)?;
                }
                let mut dec = ChunkedDecoder::new();
                let mut body = BytesMut::new();
                loop {
                    match dec.decode(&mut self.rbuf) {
                        Ok(Chunk::Data(d)) => {
                            if body.len() + d.len() > MAX_BODY {
                                return Err(ReadEnd::Bad(413, "request body too large"));
                            }
                            body.extend_from_slice(&d);
                        }
                        Ok(Chunk::Done) => break body.freeze(),
                        Ok(Chunk::NeedMore) => self.fill().await?,
                        Err(e) => return Err(ReadEnd::Bad(400, e.message())),
                    }
                }
            }
        };
        Ok(Req { head, body })
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out.extend_from_slice(bytes);
        self.flush_out().await
    }

    async fn flush_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.out);
        let (r, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.out = buf;
        r.map(|_| ())
    }

    /// Writes a complete response.
    pub async fn respond(
        &mut self,
        status: u16,
        content_type: &str,
        extra: &[(&str, &str)],
        body: &[u8],
        close: bool,
    ) -> io::Result<()> {
        self.out.clear();
        push_head(&mut self.out, status, content_type, extra, close);
        self.out.extend_from_slice(b"content-length: ");
        self.out.extend_from_slice(itoa(body.len()).as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.flush_out().await
    }

    /// Declares `declared_len` body bytes but sends only `partial` (then the caller closes): a
    /// connection cut mid-body.
    pub async fn respond_partial(
        &mut self,
        status: u16,
        content_type: &str,
        declared_len: usize,
        partial: &[u8],
    ) -> io::Result<()> {
        self.out.clear();
        push_head(&mut self.out, status, content_type, &[], false);
        self.out.extend_from_slice(b"content-length: ");
        self.out.extend_from_slice(itoa(declared_len).as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(partial);
        self.flush_out().await
    }

    /// Starts a chunked streaming response; the head is sent with the first flush.
    pub fn stream(
        &mut self,
        content_type: &str,
        extra: &[(&str, &str)],
        close: bool,
        pace: Option<(usize, u64)>,
    ) -> Streamer<'_> {
        self.out.clear();
        push_head(&mut self.out, 200, content_type, extra, close);
        self.out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
        Streamer { conn: self, pending: Vec::with_capacity(4096), pace, events: 0 }
    }
}

/// A chunked response in progress.
#[derive(Debug)]
pub struct Streamer<'c> {
    conn: &'c mut Conn,
    pending: Vec<u8>,
    pace: Option<(usize, u64)>,
    events: usize,
}

impl Streamer<'_> {
    /// Where the next event's bytes go.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Marks the end of one event: flushes and sleeps per the pace, or when a lot is pending.
    pub async fn end_event(&mut self) -> io::Result<()> {
        self.events += 1;
        match self.pace {
            Some((n, ms)) if self.events.is_multiple_of(n) => {
                self.flush().await?;
                if ms > 0 {
                    monoio::time::sleep(Duration::from_millis(ms)).await;
                }
                Ok(())
            }
            _ if self.pending.len() >= FLUSH_AT => self.flush().await,
            _ => Ok(()),
        }
    }

    /// Sends the head (if not yet sent) and whatever is pending, as one chunk.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            crate::http::chunked::encode_chunk(&mut self.conn.out, &self.pending);
            self.pending.clear();
        }
        self.conn.flush_out().await
    }

    /// Sends the rest and the terminating chunk.
    pub async fn finish(mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            crate::http::chunked::encode_chunk(&mut self.conn.out, &self.pending);
            self.pending.clear();
        }
        crate::http::chunked::encode_last(&mut self.conn.out);
        self.conn.flush_out().await
    }

    /// Sleeps (a stall), after flushing what is pending so the peer sees it first.
    pub async fn stall(&mut self, ms: u64) -> io::Result<()> {
        self.flush().await?;
        monoio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }
}

fn push_head(out: &mut Vec<u8>, status: u16, content_type: &str, extra: &[(&str, &str)], close: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa(usize::from(status)).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in extra {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
}

fn itoa(n: usize) -> String {
    n.to_string()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
