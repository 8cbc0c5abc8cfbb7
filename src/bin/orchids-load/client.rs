//! A minimal HTTP/1.1 client connection for the load generator: send a prebuilt request, read
//! the response head (httparse), then the body piece by piece (by length, chunked through the
//! crate's [`ChunkedDecoder`], or until close), stamping each piece with the time its read
//! completed. One connection per task; buffers are reused across requests.

use bytes::{Bytes, BytesMut};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use orchids2api::http::chunked::{Chunk, ChunkedDecoder};
use orchids2api::http::read_more::read_more;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Why a request failed (one JSON error counter per kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Connect(String),
    Io(String),
    /// The peer closed before the response was complete.
    Truncated,
    Timeout,
    BadHead,
    BadChunk,
    /// A non-200 status; the first bytes of the body for the report.
    Status(u16, String),
    /// 200, but the body was not the expected answer (or the stream lost/reordered text).
    BadBody(String),
    /// The stream carried an error event.
    StreamError(String),
    /// The stream ended without its terminal event.
    Incomplete,
}

impl Failure {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Io(_) => "io",
            Self::Truncated => "truncated",
            Self::Timeout => "timeout",
            Self::BadHead => "bad_head",
            Self::BadChunk => "bad_chunk",
            Self::Status(..) => "status",
            Self::BadBody(_) => "bad_body",
            Self::StreamError(_) => "stream_error",
            Self::Incomplete => "incomplete",
        }
    }

    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Connect(e) => format!("connect: {e}"),
            Self::Io(e) => format!("io: {e}"),
            Self::Truncated => "connection closed before the response was complete".to_owned(),
            Self::Timeout => "no bytes within the read timeout".to_owned(),
            Self::BadHead => "unparsable response head".to_owned(),
            Self::BadChunk => "invalid chunked framing".to_owned(),
            Self::Status(s, body) => format!("status {s}: {body}"),
            Self::BadBody(why) => format!("unexpected body: {why}"),
            Self::StreamError(e) => format!("error event in the stream: {e}"),
            Self::Incomplete => "stream ended without its terminal event".to_owned(),
        }
    }
}

/// How the response body is delimited.
#[derive(Debug)]
pub(crate) enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct RespHead {
    pub(crate) status: u16,
    pub(crate) keep_alive: bool,
    pub(crate) body: BodyState,
}

/// One keep-alive connection.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    read_timeout: Duration,
    /// When the last read completed (the timestamp of every piece it produced).
    pub(crate) last_read: Instant,
    /// The server said `connection: close` (or the body ran until close).
    pub(crate) closing: bool,
}

const MAX_HEADERS: usize = 64;

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr, read_timeout: Duration) -> Result<Self, Failure> {
        let stream = match monoio::time::timeout(read_timeout, TcpStream::connect_addr(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Failure::Connect(e.to_string())),
            Err(_) => return Err(Failure::Connect("timed out".to_owned())),
        };
        let _ = stream.set_nodelay(true);
        Ok(Self {
            stream,
            rbuf: BytesMut::with_capacity(16 * 1024),
            read_timeout,
            last_read: Instant::now(),
            closing: false,
        })
    }

    /// Writes the whole request.
    pub(crate) async fn send(&mut self, request: Bytes) -> Result<(), Failure> {
        let (r, _) = self.stream.write_all(request).await;
        r.map(|_| ()).map_err(|e| Failure::Io(e.to_string()))
    }

    /// Reads more bytes; `Ok(false)` on a clean end of stream.
    async fn fill(&mut self) -> Result<bool, Failure> {
        // Appending (`http::read_more`), so a partial head or frame kept from the last read stays.
        let read = read_more(&mut self.stream, std::mem::take(&mut self.rbuf), 16 * 1024);
        let Ok((r, buf)) = monoio::time::timeout(self.read_timeout, read).await else {
            return Err(Failure::Timeout);
        };
        self.rbuf = buf;
        self.last_read = Instant::now();
        match r {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(Failure::Io(e.to_string())),
        }
    }

    /// Reads and parses the response head (skipping any `100 Continue`).
    pub(crate) async fn read_head(&mut self) -> Result<RespHead, Failure> {
        loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.rbuf) {
                    Ok(httparse::Status::Complete(n)) => Some((n, head_of(&resp))),
                    Ok(httparse::Status::Partial) => None,
                    Err(_) => return Err(Failure::BadHead),
                }
            };
            if let Some((n, head)) = parsed {
                let _ = self.rbuf.split_to(n);
                let head = head.ok_or(Failure::BadHead)?;
                if head.status == 100 {
                    continue;
                }
                if matches!(head.body, BodyState::UntilClose) || !head.keep_alive {
                    self.closing = true;
                }
                return Ok(head);
            }
            if self.rbuf.len() > 64 * 1024 {
                return Err(Failure::BadHead);
            }
            if !self.fill().await? {
                return Err(Failure::Truncated);
            }
        }
    }

    /// The next piece of the body, or `None` at its end.
    pub(crate) async fn body_piece(&mut self, st: &mut BodyState) -> Result<Option<Bytes>, Failure> {
        loop {
            match st {
                BodyState::Done => return Ok(None),
                BodyState::Length(0) => {
                    *st = BodyState::Done;
                    return Ok(None);
                }
                BodyState::Length(left) => {
                    if self.rbuf.is_empty() && !self.fill().await? {
                        return Err(Failure::Truncated);
                    }
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(self.rbuf.len());
                    *left -= take as u64;
                    return Ok(Some(self.rbuf.split_to(take).freeze()));
                }
                BodyState::Chunked(dec) => match dec.decode(&mut self.rbuf) {
                    Ok(Chunk::Data(d)) => return Ok(Some(d)),
                    Ok(Chunk::Done) => {
                        *st = BodyState::Done;
                        return Ok(None);
                    }
                    Ok(Chunk::NeedMore) => {
                        if !self.fill().await? {
                            return Err(Failure::Truncated);
                        }
                    }
                    Err(_) => return Err(Failure::BadChunk),
                },
                BodyState::UntilClose => {
                    if !self.rbuf.is_empty() {
                        let n = self.rbuf.len();
                        return Ok(Some(self.rbuf.split_to(n).freeze()));
                    }
                    if !self.fill().await? {
                        *st = BodyState::Done;
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads the whole body into `out` (cleared first), up to `cap` bytes kept.
    pub(crate) async fn read_body(&mut self, st: &mut BodyState, out: &mut Vec<u8>, cap: usize) -> Result<(), Failure> {
        out.clear();
        while let Some(piece) = self.body_piece(st).await? {
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
        }
        Ok(())
    }
}

fn head_of(resp: &httparse::Response<'_, '_>) -> Option<RespHead> {
    let status = resp.code?;
    let http11 = resp.version == Some(1);
    let mut keep_alive = http11;
    let mut length = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(std::str::from_utf8(h.value).ok()?.trim().parse::<u64>().ok()?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value.trim_ascii();
            if v.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        BodyState::Length(0)
    } else if chunked {
        BodyState::Chunked(ChunkedDecoder::new())
    } else if let Some(n) = length {
        BodyState::Length(n)
    } else {
        BodyState::UntilClose
    };
    Some(RespHead { status, keep_alive, body })
}

/// Everything needed to build requests to one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) path: String,
}

impl Target {
    /// Parses `http://HOST:PORT/path` (IP literals only: the bench runs on loopback).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest =
            url.strip_prefix("http://").ok_or_else(|| format!("--url: expected http://IP:PORT/path, found {url:?}"))?;
        let (authority, path) =
            rest.find('/').map_or((rest, "/"), |i| (rest.get(..i).unwrap_or(rest), rest.get(i..).unwrap_or("/")));
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| format!("--url: expected an IP:PORT authority (no DNS), found {authority:?}"))?;
        Ok(Self { addr, host: authority.to_owned(), path: path.to_owned() })
    }

    /// The complete request bytes for a JSON POST with these extra headers.
    pub(crate) fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(b"POST ");
        out.extend_from_slice(self.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\ncontent-type: application/json\r\n");
        for (k, v) in headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/grok/v1/messages").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/grok/v1/messages");
        assert_eq!(Target::parse("http://127.0.0.1:80").unwrap().path, "/");
        assert!(Target::parse("https://127.0.0.1:80/").is_err());
        assert!(Target::parse("http://localhost:80/").is_err());
    }

    #[test]
    fn heads() {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut r = httparse::Response::new(&mut headers);
        r.parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        let h = head_of(&r).unwrap();
        assert!(h.keep_alive && matches!(h.body, BodyState::Chunked(_)));
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut r = httparse::Response::new(&mut headers);
        r.parse(b"HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\nconnection: close\r\n\r\n").unwrap();
        let h = head_of(&r).unwrap();
        assert!(!h.keep_alive && matches!(h.body, BodyState::Length(7)) && h.status == 404);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut r = httparse::Response::new(&mut headers);
        r.parse(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert!(matches!(head_of(&r).unwrap().body, BodyState::UntilClose));
    }
}
