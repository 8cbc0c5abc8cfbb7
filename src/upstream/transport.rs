//! A byte stream to an upstream: plain TCP or TLS (rustls) over TCP, with reads that can wait
//! until a deadline *without losing data*.
//!
//! Why our own TLS adapter rather than monoio-rustls: under io_uring a read that is simply
//! dropped (a `select!` or `timeout` losing the race) may already have consumed bytes in the
//! kernel, and those bytes are gone. Every read here is a monoio *cancelable* read: when its
//! deadline passes we cancel it and still await its completion, keeping whatever it read. That
//! lets the WebSocket client wake up to send a ping and go back to reading on the same
//! connection, on both the io_uring and the epoll driver. The exception is
//! [`Transport::read_or_abandon`], for a caller that gives the connection up at its deadline:
//! that read is simply dropped, and the transport refuses all further use. The TLS state machine is rustls's
//! `ClientConnection` driven synchronously between reads and writes.
//!
//! Dropping a `Transport` (or a future that borrows it) closes the socket: that is how a
//! cancelled request gives its connection up.

use super::error::{ErrorKind, UpstreamError};
use bytes::{Buf, Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;
use rustls::ClientConfig;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::time::Instant;

/// The least spare room a socket read gets. Small on purpose: a streamed answer keeps one read
/// in flight per upstream connection for its whole life (with io_uring the buffer is lent to
/// the kernel), so this is per-stream memory. A body that accumulates grows the room with
/// what is buffered (see [`read_room`]), so large bodies still take few reads.
const READ_CHUNK: usize = 1024;

/// Spare room to make before a read into a buffer holding `buffered` bytes.
fn read_room(buffered: usize) -> usize {
    READ_CHUNK.max(buffered)
}

/// What one [`Transport::read`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes were appended to the buffer.
    Data(usize),
    /// The peer closed its side (for TLS: with or without `close_notify`).
    Eof,
    /// The deadline passed first. After [`Transport::read`] nothing was lost and the stream is
    /// still usable; after [`Transport::read_or_abandon`] the transport is finished.
    TimedOut,
}

/// Plain or TLS stream over one TCP connection.
#[derive(Debug)]
pub struct Transport {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    /// Ciphertext read from the socket but not yet given to rustls.
    cipher_in: BytesMut,
    /// Owned write buffer for monoio's rent-style writes.
    scratch: Vec<u8>,
    /// Cancels a read whose deadline passed; kept for the connection's life, so a read with a
    /// deadline does not allocate a fresh one (an `Rc` and a hash set) every time.
    canceller: ReadCanceller,
    /// A read was dropped at its deadline ([`Transport::read_or_abandon`]): bytes may have been
    /// lost, so every later read or write fails.
    abandoned: bool,
}

/// monoio's [`Canceller`], reused by every deadline read of one connection.
#[derive(Default)]
struct ReadCanceller(Canceller);

impl std::fmt::Debug for ReadCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadCanceller")
    }
}

impl Transport {
    pub fn plain(tcp: TcpStream) -> Self {
        let _ = tcp.set_nodelay(true);
        Self {
            tcp,
            tls: None,
            cipher_in: BytesMut::new(),
            scratch: Vec::new(),
            canceller: ReadCanceller::default(),
            abandoned: false,
        }
    }

    /// Runs the TLS handshake for `host` (SNI; an IP literal is sent without SNI). The caller
    /// bounds it with `upstream_tls_ms`; a dropped handshake just drops the socket.
    pub async fn tls(tcp: TcpStream, config: &Arc<ClientConfig>, host: &str) -> Result<Self, UpstreamError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            UpstreamError::new(ErrorKind::InvalidRequest, format!("not a valid TLS server name: {host}"))
        })?;
        let conn = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| UpstreamError::new(ErrorKind::Tls, format!("tls setup for {host}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut t = Self {
            tcp,
            tls: Some(Box::new(conn)),
            cipher_in: BytesMut::with_capacity(READ_CHUNK),
            scratch: Vec::new(),
            canceller: ReadCanceller::default(),
            abandoned: false,
        };
        let tls_err = |e: &io::Error| UpstreamError::new(ErrorKind::Tls, format!("tls handshake with {host}: {e}"));
        loop {
            t.flush_tls().await.map_err(|e| tls_err(&e))?;
            let Some(tls) = t.tls.as_deref_mut() else {
                break;
            };
            if !tls.is_handshaking() {
                break;
            }
            if t.cipher_in.is_empty() {
                let buf = std::mem::take(&mut t.cipher_in);
                let (r, buf) = read_tcp(&mut t.tcp, &mut t.canceller, buf, None).await;
                t.cipher_in = buf;
                match r {
                    Ok(Some(0)) => {
                        return Err(UpstreamError::new(
                            ErrorKind::Tls,
                            format!("tls handshake with {host}: connection closed"),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(tls_err(&e)),
                }
            }
            if let Err(e) = feed(tls, &mut t.cipher_in) {
                // Send the alert rustls queued, best effort, then fail.
                let _ = t.flush_tls().await;
                return Err(tls_err(&e));
            }
        }
        Ok(t)
    }

    /// The TCP stream back, for a plain transport (after a proxy handshake, before TLS).
    pub fn into_plain_tcp(self) -> Option<TcpStream> {
        if self.tls.is_some() || !self.cipher_in.is_empty() || self.abandoned { None } else { Some(self.tcp) }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls.as_deref().and_then(|t| t.alpn_protocol())
    }

    /// Appends at least one byte of plaintext to `dst`, or reports EOF, or gives up at
    /// `deadline` (`None`: wait as long as it takes).
    pub async fn read(&mut self, dst: &mut BytesMut, deadline: Option<Instant>) -> io::Result<ReadOutcome> {
        if self.abandoned {
            return Err(abandoned());
        }
        if self.tls.is_none() {
            if dst.capacity() - dst.len() < READ_CHUNK / 4 {
                dst.reserve(read_room(dst.len()));
            }
            let buf = std::mem::take(dst);
            let (r, buf) = read_tcp(&mut self.tcp, &mut self.canceller, buf, deadline).await;
            *dst = buf;
            crate::runtime::busy_poll::activity();
            return Ok(match r? {
                None => ReadOutcome::TimedOut,
                Some(0) => ReadOutcome::Eof,
                Some(n) => ReadOutcome::Data(n),
            });
        }
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return Ok(ReadOutcome::Eof);
            };
            let mut reader = tls.reader();
            match reader.fill_buf() {
                Ok([]) => return Ok(ReadOutcome::Eof),
                Ok(chunk) => {
                    let n = chunk.len();
                    dst.extend_from_slice(chunk);
                    reader.consume(n);
                    return Ok(ReadOutcome::Data(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP EOF without close_notify: framing above us decides whether that truncated
                // anything (Content-Length and chunked bodies notice; close-delimited ones end).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(ReadOutcome::Eof),
                Err(e) => return Err(e),
            }
            if !self.cipher_in.is_empty() {
                feed(tls, &mut self.cipher_in)?;
                // Key updates and alerts may need an answer.
                self.flush_tls().await?;
                continue;
            }
            let buf = std::mem::take(&mut self.cipher_in);
            let (r, buf) = read_tcp(&mut self.tcp, &mut self.canceller, buf, deadline).await;
            self.cipher_in = buf;
            crate::runtime::busy_poll::activity();
            match r? {
                None => return Ok(ReadOutcome::TimedOut),
                Some(0) => {
                    // Tell rustls the transport ended; the next fill_buf reports how.
                    tls.read_tls(&mut io::empty())?;
                    tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Some(_) => {}
            }
        }
    }

    /// Like [`Transport::read`] with a deadline, for a caller that gives the connection up when
    /// the deadline passes (a response head or body that stopped coming). The read is simply
    /// dropped at the deadline rather than cancelled and awaited: no cancellation bookkeeping
    /// per read (monoio's canceller hashes every read it guards into a set), at the price of
    /// the bytes an io_uring read may already hold. So after `TimedOut` every later read or
    /// write fails, and the caller must not pool the connection.
    pub async fn read_or_abandon(&mut self, dst: &mut BytesMut, deadline: Instant) -> io::Result<ReadOutcome> {
        let r = {
            let read = std::pin::pin!(self.read(dst, None));
            crate::runtime::coarse_timer::timeout_at(deadline, read).await
        };
        r.unwrap_or_else(|_| {
            self.abandoned = true;
            Ok(ReadOutcome::TimedOut)
        })
    }

    /// Writes all of `data` (encrypting it first on TLS).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.abandoned {
            return Err(abandoned());
        }
        if self.tls.is_none() {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            buf.extend_from_slice(data);
            let (r, buf) = self.tcp.write_all(buf).await;
            self.scratch = buf;
            return r.map(|_| ());
        }
        let mut rest = data;
        while !rest.is_empty() {
            let Some(tls) = self.tls.as_deref_mut() else {
                break;
            };
            let n = tls.writer().write(rest)?;
            rest = rest.get(n..).unwrap_or_default();
            let wrote = self.flush_tls().await?;
            if n == 0 && !wrote {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "tls refused more plaintext"));
            }
        }
        Ok(())
    }

    /// Writes an owned buffer; on plain TCP without copying it.
    pub async fn write_bytes(&mut self, data: Bytes) -> io::Result<()> {
        if self.abandoned {
            return Err(abandoned());
        }
        if self.tls.is_some() {
            return self.write_all(&data).await;
        }
        let (r, _) = self.tcp.write_all(data).await;
        r.map(|_| ())
    }

    /// Best-effort orderly close: TLS `close_notify`, then a TCP FIN.
    pub async fn shutdown(&mut self) {
        if self.abandoned {
            // A read was dropped mid-way (maybe mid-record): nothing orderly can follow.
            return;
        }
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            let _ = self.flush_tls().await;
        }
        let _ = monoio::io::AsyncWriteRent::shutdown(&mut self.tcp).await;
    }

    /// Sends every TLS record rustls has queued; returns whether anything was written.
    async fn flush_tls(&mut self) -> io::Result<bool> {
        let mut wrote = false;
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return Ok(wrote);
            };
            if !tls.wants_write() {
                return Ok(wrote);
            }
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            tls.write_tls(&mut buf)?;
            let (r, buf) = self.tcp.write_all(buf).await;
            self.scratch = buf;
            r?;
            wrote = true;
        }
    }
}

/// Hands buffered ciphertext to rustls and processes it.
fn feed(tls: &mut ClientConnection, cipher_in: &mut BytesMut) -> io::Result<()> {
    let mut slice: &[u8] = cipher_in;
    let n = tls.read_tls(&mut slice)?;
    cipher_in.advance(n);
    tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(())
}

/// One socket read into `buf`'s spare capacity. `Ok(None)`: the deadline passed and nothing
/// was read. The read is cancelled and then awaited, so bytes the kernel already delivered are
/// kept even when the deadline wins the race.
async fn read_tcp(
    tcp: &mut TcpStream,
    canceller: &mut ReadCanceller,
    mut buf: BytesMut,
    deadline: Option<Instant>,
) -> (io::Result<Option<usize>>, BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(read_room(buf.len()));
    }
    // monoio reads into `write_ptr()`, the *start* of a BytesMut; read into a view of the
    // spare capacity instead so bytes already buffered are kept.
    let len = buf.len();
    let spare = buf.slice_mut(len..);
    let Some(deadline) = deadline else {
        let (r, spare) = tcp.read(spare).await;
        return (r.map(Some), spare.into_inner());
    };
    let fut = tcp.cancelable_read(spare, canceller.0.handle());
    let mut fut = std::pin::pin!(fut);
    // A coarse deadline on a gateway worker (`runtime::coarse_timer`), not a 640-byte monoio
    // `Sleep` inline: a stream keeps this read in flight for its whole life.
    let mut expiry = crate::runtime::coarse_timer::timer_at(deadline);
    monoio::select! {
        done = &mut fut => {
            let (r, spare) = done;
            return (r.map(Some), spare.into_inner());
        }
        () = &mut expiry => {}
    }
    // A cancelled canceller stays cancelled: the next read gets the fresh one `cancel` gives.
    canceller.0 = std::mem::take(&mut canceller.0).cancel();
    let (r, spare) = fut.await;
    let buf = spare.into_inner();
    match r {
        Ok(n) => (Ok(Some(n)), buf),
        Err(e) if e.raw_os_error() == Some(ECANCELED) => (Ok(None), buf),
        Err(e) => (Err(e), buf),
    }
}

/// The error of any use of a transport after [`Transport::read_or_abandon`] timed out.
fn abandoned() -> io::Error {
    io::Error::other("the connection was given up after a read deadline")
}

/// What monoio reports for a cancelled operation.
const ECANCELED: i32 = 125;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `make()` on the epoll driver and, where the kernel has it, on io_uring.
    fn on_each_driver<F: Fn() -> Fut, Fut: std::future::Future<Output = ()>>(make: F) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(make());
        if monoio::utils::detect_uring() {
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().enable_timer().build().unwrap().block_on(make());
        }
    }

    /// A peer that stays silent for `quiet`, then sends `late` and keeps the socket open a while.
    fn late_peer(quiet: Duration, late: &'static [u8]) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten().take(2) {
                std::thread::spawn(move || {
                    #[expect(clippy::disallowed_methods, reason = "a test peer pacing its answer")]
                    std::thread::sleep(quiet);
                    let _ = s.write_all(late);
                    #[expect(clippy::disallowed_methods, reason = "a test peer holding its socket open")]
                    std::thread::sleep(Duration::from_secs(2));
                });
            }
        });
        addr
    }

    /// A plain transport to `addr` and an empty read buffer.
    async fn connect(addr: std::net::SocketAddr) -> (Transport, BytesMut) {
        (Transport::plain(TcpStream::connect(addr).await.unwrap()), BytesMut::new())
    }

    #[test]
    fn a_timed_out_deadline_read_keeps_the_stream_usable() {
        let addr = late_peer(Duration::from_millis(800), b"late bytes");
        on_each_driver(|| async move {
            let (mut t, mut buf) = connect(addr).await;
            let soon = Instant::now() + Duration::from_millis(50);
            assert_eq!(t.read(&mut buf, Some(soon)).await.unwrap(), ReadOutcome::TimedOut);
            while buf.len() < 10 {
                assert!(matches!(t.read(&mut buf, None).await.unwrap(), ReadOutcome::Data(_)));
            }
            assert_eq!(&buf[..], b"late bytes");
        });
    }

    #[test]
    fn an_abandoned_read_finishes_the_transport() {
        let addr = late_peer(Duration::from_millis(800), b"late bytes");
        on_each_driver(|| async move {
            let (mut t, mut buf) = connect(addr).await;
            let soon = Instant::now() + Duration::from_millis(50);
            assert_eq!(t.read_or_abandon(&mut buf, soon).await.unwrap(), ReadOutcome::TimedOut);
            // Bytes that arrive later may have gone to the dropped read: nothing is read again.
            monoio::time::sleep(Duration::from_millis(400)).await;
            assert!(t.read(&mut buf, None).await.is_err());
            assert!(t.read_or_abandon(&mut buf, Instant::now() + Duration::from_secs(1)).await.is_err());
            assert!(t.write_all(b"x").await.is_err());
            assert!(t.write_bytes(Bytes::from_static(b"x")).await.is_err());
        });
    }

    #[test]
    fn a_deadline_read_that_is_answered_in_time_returns_the_data() {
        let addr = late_peer(Duration::from_millis(10), b"prompt");
        on_each_driver(|| async move {
            let (mut t, mut buf) = connect(addr).await;
            let later = Instant::now() + Duration::from_secs(5);
            while buf.len() < 6 {
                assert!(matches!(t.read_or_abandon(&mut buf, later).await.unwrap(), ReadOutcome::Data(_)));
            }
            assert_eq!(&buf[..], b"prompt");
        });
    }
}
