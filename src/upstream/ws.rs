//! The WebSocket client (RFC 6455) the orchids channel speaks.
//!
//! [`UpstreamClient::websocket`] opens a dedicated connection (never pooled: a socket carries
//! one conversation at a time) through the same DNS, proxy and TLS path as HTTP requests, sends
//! the upgrade, and checks `101`, `Upgrade`, `Connection` and `Sec-WebSocket-Accept`. A refused
//! upgrade is `ErrorKind::WsHandshake` with the HTTP status (401/403 = re-mint the token).
//!
//! [`WebSocket`]: masked text/binary frames (optionally fragmented), ping/pong (pings from the
//! server are answered at once), the close handshake, frame and message size caps, the idle
//! timeout between frames, and [`WebSocket::recv_keepalive`], which pings while waiting —
//! possible because every read is cancel-safe (see `transport`): the wait is interrupted, the
//! ping written, and the read resumes with nothing lost.
//!
//! `upstream_connect_ms` / `upstream_tls_ms` / `upstream_head_ms` bound the handshake; the
//! total timeout bounds only the handshake too (a socket may live for hours); `upstream_idle_ms`
//! bounds each wait for a frame.

use super::b64;
use super::client::{ProxyChoice, UpstreamClient};
use super::conn::Connection;
use super::connect::{Dial, PhaseDeadline, establish};
use super::error::{ErrorKind, UpstreamError};
use super::response_head::ResponseHead;
use super::settings::UpstreamTimeouts;
use super::transport::ReadOutcome;
use super::url::Target;
use super::ws_frame::{Assembler, FrameDecoder, FrameError, Message, Opcode, close_payload, encode_frame};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use std::time::{Duration, Instant};

const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// How long `close` waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// An upgrade request.
#[derive(Debug, Clone)]
pub struct WsRequest {
    pub target: Target,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub proxy: ProxyChoice,
    pub timeouts: Option<UpstreamTimeouts>,
    /// Largest frame accepted from the server.
    pub max_frame: u64,
    /// Largest (reassembled) message accepted from the server.
    pub max_message: u64,
    invalid_header: Option<String>,
}

impl WsRequest {
    /// For a `ws://` or `wss://` URL (`http(s)://` is accepted as the same thing).
    pub fn new(url: &str) -> Result<Self, UpstreamError> {
        Ok(Self {
            target: Target::parse(url)?,
            headers: Vec::new(),
            proxy: ProxyChoice::Default,
            timeouts: None,
            max_frame: 16 * 1024 * 1024,
            max_message: 16 * 1024 * 1024,
            invalid_header: None,
        })
    }

    /// Adds a handshake header (`Origin`, `Cookie`, ...); an invalid one fails the connect.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_ref())) {
            (Ok(n), Ok(v)) => self.headers.push((n, v)),
            _ => self.invalid_header = Some(name.chars().take(64).collect()),
        }
        self
    }
}

/// An open WebSocket.
#[derive(Debug)]
pub struct WebSocket {
    conn: Connection,
    decoder: FrameDecoder,
    asm: Assembler,
    rng: MaskRng,
    out: BytesMut,
    idle: Duration,
    host: Box<str>,
    handshake: ResponseHead,
    close_sent: bool,
    /// Closed or failed: nothing more can be received.
    done: bool,
}

impl UpstreamClient {
    /// Opens a WebSocket.
    pub async fn websocket(&self, req: WsRequest) -> Result<WebSocket, UpstreamError> {
        if let Some(name) = &req.invalid_header {
            return Err(UpstreamError::new(
                ErrorKind::InvalidRequest,
                format!("invalid header {name:?} (bad name or value)"),
            ));
        }
        let settings = &self.shared().settings;
        let timeouts = req.timeouts.unwrap_or(settings.timeouts);
        let total = Instant::now() + timeouts.total;
        let t = &req.target;
        let proxy = self.proxy_for(&t.host, &req.proxy);
        let dial = Dial { host: &t.host, port: t.port, tls: t.scheme.is_tls(), proxy: proxy.as_deref() };
        let mut conn = establish(self.shared(), self.dns(), dial, &timeouts, total).await?;
        let key = b64::encode(&random_bytes::<16>());
        let mut head = format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n",
            t.path_and_query,
            t.host_header()
        )
        .into_bytes();
        for (n, v) in &req.headers {
            head.extend_from_slice(n.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(v.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let deadline = PhaseDeadline::new(timeouts.head, total);
        let exchange = async {
            conn.t
                .write_all(&head)
                .await
                .map_err(|e| UpstreamError::io(&e, &format!("sending the upgrade to {}", t.host)))?;
            conn.read_response_head(deadline, settings.limits.max_head_bytes, true, &t.host).await
        };
        let resp = monoio::time::timeout_at(deadline.at.into(), exchange).await.map_err(|_| {
            deadline.expired(ErrorKind::HeadTimeout, format!("no upgrade answer from {} in time", t.host))
        })??;
        if resp.status != 101 {
            return Err(UpstreamError::new(
                ErrorKind::WsHandshake,
                format!("{} refused the websocket upgrade with {}", t.host, resp.status),
            )
            .with_status(resp.status));
        }
        let expected = accept_for(&key);
        let ok = resp.has_token("upgrade", "websocket")
            && resp.has_token("connection", "upgrade")
            && resp.header("sec-websocket-accept").is_some_and(|v| v == expected.as_bytes());
        if !ok {
            return Err(UpstreamError::new(
                ErrorKind::Protocol,
                format!("{}: invalid websocket upgrade response", t.host),
            ));
        }
        Ok(WebSocket {
            conn,
            decoder: FrameDecoder::client(req.max_frame),
            asm: Assembler::new(req.max_message),
            rng: MaskRng::new(),
            out: BytesMut::new(),
            idle: timeouts.idle,
            host: Box::from(&*t.host),
            handshake: resp,
            close_sent: false,
            done: false,
        })
    }
}

impl WebSocket {
    /// The `101` response (its headers: cookies, protocol, ...).
    pub fn handshake(&self) -> &ResponseHead {
        &self.handshake
    }

    pub async fn send_text(&mut self, text: &str) -> Result<(), UpstreamError> {
        self.send_frame(true, Opcode::Text, text.as_bytes()).await
    }

    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), UpstreamError> {
        self.send_frame(true, Opcode::Binary, data).await
    }

    /// Sends one message split into the given fragments (text must be valid UTF-8 as a whole).
    pub async fn send_fragmented(&mut self, text: bool, parts: &[&[u8]]) -> Result<(), UpstreamError> {
        let n = parts.len();
        if n == 0 {
            return self.send_frame(true, if text { Opcode::Text } else { Opcode::Binary }, &[]).await;
        }
        for (i, p) in parts.iter().enumerate() {
            let op = match (i, text) {
                (0, true) => Opcode::Text,
                (0, false) => Opcode::Binary,
                _ => Opcode::Continuation,
            };
            self.send_frame(i + 1 == n, op, p).await?;
        }
        Ok(())
    }

    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), UpstreamError> {
        let p = payload.get(..payload.len().min(125)).unwrap_or_default();
        self.send_frame(true, Opcode::Ping, p).await
    }

    /// The next message. Server pings are answered with a pong and also returned; a close is
    /// answered and returned, after which `recv` fails with `Closed`.
    pub async fn recv(&mut self) -> Result<Message, UpstreamError> {
        self.recv_inner(None).await
    }

    /// Like [`WebSocket::recv`], but sends a ping every `ping_every` while nothing arrives.
    /// The idle timeout still applies to the silence as a whole.
    pub async fn recv_keepalive(&mut self, ping_every: Duration) -> Result<Message, UpstreamError> {
        self.recv_inner(Some(ping_every)).await
    }

    /// Starts the close handshake and waits (briefly) for the peer's close frame.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), UpstreamError> {
        if !self.close_sent {
            self.close_sent = true;
            let payload = close_payload(code, reason);
            self.write_frame(Opcode::Close, &payload).await?;
        }
        let wait_until = Instant::now() + CLOSE_WAIT.min(self.idle);
        while !self.done {
            match self.next_message(wait_until, None).await {
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::Closed => break,
                Err(e) => return Err(e),
            }
        }
        self.done = true;
        self.conn.t.shutdown().await;
        Ok(())
    }

    async fn recv_inner(&mut self, ping_every: Option<Duration>) -> Result<Message, UpstreamError> {
        if self.done {
            return Err(UpstreamError::new(ErrorKind::Closed, format!("websocket to {} is closed", self.host)));
        }
        let idle_until = Instant::now() + self.idle;
        self.next_message(idle_until, ping_every).await
    }

    async fn next_message(
        &mut self,
        idle_until: Instant,
        ping_every: Option<Duration>,
    ) -> Result<Message, UpstreamError> {
        let mut idle_until = idle_until;
        let mut next_ping = ping_every.map(|d| Instant::now() + d);
        loop {
            match self.decoder.decode(&mut self.conn.rbuf).and_then(|f| f.map(|f| self.asm.push(f)).transpose()) {
                Ok(Some(Some(msg))) => return self.on_message(msg).await,
                Ok(Some(None)) => continue,
                Ok(None) => {}
                Err(e) => return Err(self.protocol_error(e).await),
            }
            let wake = next_ping.map_or(idle_until, |p| p.min(idle_until));
            match self.conn.t.read(&mut self.conn.rbuf, Some(wake)).await {
                Ok(ReadOutcome::Data(_)) => {
                    idle_until = Instant::now() + self.idle;
                }
                Ok(ReadOutcome::Eof) => {
                    self.done = true;
                    return Err(UpstreamError::new(
                        ErrorKind::Closed,
                        format!("{} closed the websocket without a close frame", self.host),
                    ));
                }
                Ok(ReadOutcome::TimedOut) => {
                    let now = Instant::now();
                    if now >= idle_until {
                        self.done = true;
                        return Err(UpstreamError::new(
                            ErrorKind::IdleTimeout,
                            format!("{}: no websocket frame for {} ms", self.host, self.idle.as_millis()),
                        ));
                    }
                    if let (Some(p), Some(every)) = (next_ping, ping_every) {
                        if now >= p {
                            self.write_frame(Opcode::Ping, b"").await?;
                            next_ping = Some(now + every);
                        }
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Err(UpstreamError::io(&e, &format!("reading the websocket from {}", self.host)));
                }
            }
        }
    }

    async fn on_message(&mut self, msg: Message) -> Result<Message, UpstreamError> {
        match &msg {
            Message::Ping(p) => {
                let p = p.clone();
                self.write_frame(Opcode::Pong, &p).await?;
            }
            Message::Close(c) => {
                if !self.close_sent {
                    self.close_sent = true;
                    let payload = c.as_ref().map(|c| close_payload(c.code, "")).unwrap_or_default();
                    let _ = self.write_frame(Opcode::Close, &payload).await;
                }
                self.done = true;
            }
            _ => {}
        }
        Ok(msg)
    }

    /// Fails the connection with the right close code.
    async fn protocol_error(&mut self, e: FrameError) -> UpstreamError {
        if !self.close_sent {
            self.close_sent = true;
            let _ = self.write_frame(Opcode::Close, &close_payload(e.close_code(), "")).await;
        }
        self.done = true;
        let kind = if matches!(e, FrameError::TooLarge { .. }) { ErrorKind::BodyTooLarge } else { ErrorKind::Protocol };
        UpstreamError::new(kind, format!("{}: {}", self.host, e.message()))
    }

    async fn send_frame(&mut self, fin: bool, op: Opcode, payload: &[u8]) -> Result<(), UpstreamError> {
        if self.close_sent || self.done {
            return Err(UpstreamError::new(ErrorKind::Closed, format!("websocket to {} is closing", self.host)));
        }
        self.write_frame_fin(fin, op, payload).await
    }

    async fn write_frame(&mut self, op: Opcode, payload: &[u8]) -> Result<(), UpstreamError> {
        self.write_frame_fin(true, op, payload).await
    }

    async fn write_frame_fin(&mut self, fin: bool, op: Opcode, payload: &[u8]) -> Result<(), UpstreamError> {
        self.out.clear();
        let mask = self.rng.next_mask();
        encode_frame(&mut self.out, fin, op, payload, Some(mask));
        let frame: Bytes = self.out.split().freeze();
        self.conn.t.write_bytes(frame).await.map_err(|e| {
            self.done = true;
            UpstreamError::io(&e, &format!("writing to the websocket of {}", self.host))
        })
    }
}

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_for(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(ACCEPT_GUID);
    b64::encode(ctx.finish().as_ref())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    if ring::rand::SystemRandom::new().fill(&mut out).is_err() {
        // The OS generator failing is not survivable for secrets, but a mask/handshake key only
        // needs to be unpredictable to third parties; fall back to time-derived bits.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for (b, t) in out.iter_mut().zip(t.to_le_bytes().iter().cycle()) {
            *b = *t;
        }
    }
    out
}

/// Per-connection masking keys: SplitMix64 seeded from the OS generator (one syscall per
/// connection rather than per frame).
#[derive(Debug)]
struct MaskRng(u64);

impl MaskRng {
    fn new() -> Self {
        Self(u64::from_ne_bytes(random_bytes::<8>()))
    }

    fn next_mask(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let b = z.to_ne_bytes();
        [b[0], b[1], b[2], b[3]]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(super::accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
