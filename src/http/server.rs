//! The per-connection HTTP/1.1 loop: read head -> route -> read body -> handle -> write.
//!
//! Key behaviour:
//! - keep-alive and pipelining: bytes after one request stay in the read buffer and are parsed
//!   next, so pipelined requests are answered in order;
//! - limits: head bytes / header count (431), body bytes (413), head read timeout (408),
//!   body read timeout (408), idle keep-alive timeout (silent close);
//! - `Expect: 100-continue` is answered only once the route and size are known to be fine;
//! - a response sent without reading the request body closes the connection (nothing left
//!   unread can be mistaken for the next request);
//! - SSE bodies are written chunk by chunk as frames arrive, with heartbeats on idle streams and
//!   a readiness watch on the socket that notices a client that went away.
//!
//! Buffers are owned (`BytesMut` for reads, `Vec<u8>` for writes) and moved through monoio's
//! rent-style calls, reused across requests on the same connection.

use super::chunked::{self, Chunk, ChunkedDecoder};
use super::head::{BodyFraming, HeadLimits, RequestHead, parse_request_head};
use super::request::Request;
use super::response::{Body, ErrorFlavor, Response, WireFraming, error_body, write_head};
use super::sse_writer::Producer;
use crate::runtime::ctx::Worker;
use bytes::{Bytes, BytesMut};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

const READ_CHUNK: usize = 8 * 1024;
/// Coalesce queued SSE frames into one write up to this many bytes.
const SSE_BATCH: usize = 64 * 1024;
/// How long a stream must have had nothing to send before its client's socket is watched for a
/// close (see [`stream_sse`]).
const WATCH_AFTER: Duration = Duration::from_secs(1);

/// A failure that ends the connection after (maybe) an error response.
enum Stop {
    /// Peer closed, idle timeout, shutdown, or an io error: close silently.
    Quiet,
    /// Answer with this status and message, then close.
    Reply(u16, &'static str),
}

/// Serves one client connection until it closes.
pub async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, worker: &Rc<Worker>) {
    let _ = stream.set_nodelay(true);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        let cfg = worker.config();
        let limits = HeadLimits { max_head_bytes: cfg.limits.max_head_bytes, max_headers: cfg.limits.max_headers };
        let head = match read_head(&mut stream, &mut rbuf, worker, limits).await {
            Ok(h) => h,
            Err(Stop::Quiet) => return,
            Err(Stop::Reply(status, msg)) => {
                let flavor = ErrorFlavor::for_path(peek_path(&rbuf));
                let _ = send_error(&mut stream, out, flavor, status, msg).await;
                return;
            }
        };
        let _req_guard = worker.request_guard();
        // The error flavor is worked out only for an error (a substring search of the path).
        let flavor = |head: &RequestHead| ErrorFlavor::for_path(&head.path);
        let is_head = head.method == http::Method::HEAD;
        let keep_alive = head.keep_alive;
        let minor = head.minor_version;
        let routed = crate::route::resolve_with_admin(&head.method, &head.path, &cfg.admin_path);
        let (response, body_consumed) = match routed {
            crate::route::Resolved::Found(route, params) => {
                let limit = route.body_limit(&cfg.limits);
                match read_body(&mut stream, &mut rbuf, &mut out, &head, limit, cfg.timeouts.body_read).await {
                    Ok(body) => {
                        let req = Request { head, body, params, peer };
                        // Boxed: the handler future (the whole proxy lifecycle) is large and is
                        // done once the response starts; boxing keeps it out of the connection
                        // future, which lives as long as the connection (a stream: minutes).
                        (pin_in_place(|| crate::handlers::handle(worker, route, req)).await, true)
                    }
                    Err(Stop::Quiet) => return,
                    Err(Stop::Reply(status, msg)) => (Response::error(flavor(&head), status, msg).closing(), false),
                }
            }
            crate::route::Resolved::MethodNotAllowed(allow) => (
                Response::error(flavor(&head), 405, "method not allowed for this path").header("allow", allow),
                head.framing == BodyFraming::None,
            ),
            crate::route::Resolved::NotFound => {
                (Response::error(flavor(&head), 404, "no such endpoint"), head.framing == BodyFraming::None)
            }
        };
        let close = response.close || !keep_alive || !body_consumed || worker.draining();
        let result = write_response(&mut stream, &mut rbuf, out, response, is_head, close, minor, worker).await;
        match result {
            Ok(buf) if !close => out = buf,
            _ => return,
        }
    }
}

/// Boxes the future `make` builds, allocating first: with the room there before the future is
/// built, the compiler can build it in place instead of building it on the stack and copying it
/// (8 KiB for the handler future) into a box allocated after it. Nothing guarantees that; it is
/// what this compiler does (callgrind: no 8 KiB `memcpy` per request; `docs/benchmarks.md`).
#[inline]
fn pin_in_place<F: std::future::Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

/// Best-effort path of a request that failed before its head parsed (for the error flavor).
fn peek_path(buf: &[u8]) -> &[u8] {
    let mut parts = buf.splitn(3, |b| *b == b' ');
    let _method = parts.next();
    parts.next().unwrap_or_default()
}

/// Reads until a full head is parsed. Waiting for the first byte uses the idle keep-alive
/// timeout (and gives up on shutdown); once a byte arrived, the head must complete within the
/// head read timeout.
async fn read_head(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    worker: &Rc<Worker>,
    limits: HeadLimits,
) -> Result<RequestHead, Stop> {
    let cfg = worker.config();
    let mut head_deadline: Option<Instant> = None;
    loop {
        match parse_request_head(rbuf, limits) {
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(e) => return Err(Stop::Reply(e.status(), e.message())),
        }
        if rbuf.is_empty() {
            if worker.draining() {
                return Err(Stop::Quiet);
            }
            // Idle: wait for the first byte of the next request, or shutdown.
            let buf = std::mem::take(rbuf);
            let more = std::pin::pin!(read_more(stream, buf));
            let read = crate::runtime::coarse_timer::timeout(cfg.timeouts.keepalive_idle, more);
            monoio::select! {
                r = read => match r {
                    Ok((Ok(n), buf)) if n > 0 => {
                        crate::runtime::busy_poll::activity();
                        *rbuf = buf;
                    }
                    _ => return Err(Stop::Quiet),
                },
                () = worker.closing.wait() => return Err(Stop::Quiet),
            }
        } else {
            let deadline = *head_deadline.get_or_insert_with(|| Instant::now() + cfg.timeouts.head_read);
            let buf = std::mem::take(rbuf);
            match crate::runtime::coarse_timer::timeout_at(deadline, std::pin::pin!(read_more(stream, buf))).await {
                Ok((Ok(n), buf)) if n > 0 => *rbuf = buf,
                Ok(_) => return Err(Stop::Quiet),
                Err(_) => return Err(Stop::Reply(408, "timed out reading the request head")),
            }
        }
    }
}

/// One read appending to `buf` (`http::read_more`), grown by [`READ_CHUNK`].
async fn read_more(stream: &mut TcpStream, buf: BytesMut) -> (std::io::Result<usize>, BytesMut) {
    super::read_more::read_more(stream, buf, READ_CHUNK).await
}

/// Reads the whole request body under `limit` bytes.
async fn read_body(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    head: &RequestHead,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, Stop> {
    const TOO_BIG: Stop = Stop::Reply(413, "request body too large");
    match head.framing {
        BodyFraming::None => Ok(Bytes::new()),
        BodyFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| TOO_BIG)?;
            if n > limit {
                return Err(TOO_BIG);
            }
            if head.expect_continue && rbuf.len() < n {
                send_continue(stream, out).await?;
            }
            while rbuf.len() < n {
                rbuf.reserve(n - rbuf.len());
                fill(stream, rbuf, idle).await?;
            }
            Ok(rbuf.split_to(n).freeze())
        }
        BodyFraming::Chunked => {
            if head.expect_continue && rbuf.is_empty() {
                send_continue(stream, out).await?;
            }
            let mut dec = ChunkedDecoder::new();
            let mut body = BytesMut::new();
            loop {
                let step = dec.decode(rbuf);
                // Count the rest of the current chunk as already received: a declared chunk
                // size over the limit is refused at once, as a too-large Content-Length is,
                // instead of waiting (up to the body timeout) for data we would refuse anyway.
                let owed = (body.len() as u64)
                    .saturating_add(step.as_ref().map_or(0, |c| match c {
                        Chunk::Data(d) => d.len() as u64,
                        _ => 0,
                    }))
                    .saturating_add(dec.chunk_remaining());
                if owed > limit as u64 {
                    return Err(TOO_BIG);
                }
                match step {
                    Ok(Chunk::Data(d)) => body.extend_from_slice(&d),
                    Ok(Chunk::Done) => return Ok(body.freeze()),
                    Ok(Chunk::NeedMore) => fill(stream, rbuf, idle).await?,
                    Err(e) => return Err(Stop::Reply(400, e.message())),
                }
            }
        }
    }
}

async fn fill(stream: &mut TcpStream, rbuf: &mut BytesMut, idle: Duration) -> Result<(), Stop> {
    let buf = std::mem::take(rbuf);
    match crate::runtime::coarse_timer::timeout(idle, std::pin::pin!(read_more(stream, buf))).await {
        Ok((Ok(n), buf)) if n > 0 => {
            *rbuf = buf;
            Ok(())
        }
        Ok(_) => Err(Stop::Quiet),
        Err(_) => Err(Stop::Reply(408, "timed out reading the request body")),
    }
}

async fn send_continue(stream: &mut TcpStream, out: &mut Vec<u8>) -> Result<(), Stop> {
    let mut buf = std::mem::take(out);
    buf.clear();
    buf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    let (r, buf) = stream.write_all(buf).await;
    *out = buf;
    r.map(|_| ()).map_err(|_| Stop::Quiet)
}

async fn send_error(
    stream: &mut TcpStream,
    mut out: Vec<u8>,
    flavor: ErrorFlavor,
    status: u16,
    msg: &str,
) -> std::io::Result<()> {
    let body = error_body(flavor, status, msg, None);
    out.clear();
    let headers = [("content-type", "application/json".into())];
    write_head(&mut out, status, &headers, WireFraming::Length(body.len()), false);
    out.extend_from_slice(&body);
    let (r, _) = stream.write_all(out).await;
    r.map(|_| ())
}

/// Writes a response; returns the write buffer for reuse, or `Err` when the connection is done.
#[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename the same fields")]
async fn write_response(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    mut out: Vec<u8>,
    resp: Response,
    is_head: bool,
    close: bool,
    minor: u8,
    worker: &Rc<Worker>,
) -> Result<Vec<u8>, ()> {
    out.clear();
    let keep_alive = !close;
    match resp.body {
        Body::Empty => {
            write_head(&mut out, resp.status, &resp.headers, WireFraming::Length(0), keep_alive);
            write_out(stream, out).await
        }
        Body::Full(bytes) => {
            write_head(&mut out, resp.status, &resp.headers, WireFraming::Length(bytes.len()), keep_alive);
            if !is_head {
                out.extend_from_slice(&bytes);
            }
            write_out(stream, out).await
        }
        Body::Sse(rx, mut producer) => {
            let framing = if minor >= 1 { WireFraming::Chunked } else { WireFraming::Close };
            write_head(&mut out, resp.status, &resp.headers, framing, keep_alive && minor >= 1);
            if is_head {
                // No body: the producer is dropped unstarted, and its upstream request with it.
                return write_out(stream, out).await;
            }
            // Run the producer once first: it queues what its upstream has already sent and
            // starts its next upstream read, which then travels with the head's write.
            poll_fn(|cx| {
                producer.step(cx);
                Poll::Ready(())
            })
            .await;
            // Frames the producer queued already (its first, as a proxied stream queues it) go
            // out with the head: one write, one wake-up of the client.
            reserve_batch(&mut out, 0, &rx, framing);
            push_queued(&mut out, &rx, framing);
            // A stream may stay open for minutes: keep no idle buffers for it. The head buffer
            // goes back to the allocator (frames are written from a small buffer that grows only
            // as large as the batches it carries), and an empty read buffer is released.
            let _ = write_out(stream, out).await?;
            let out = Vec::new();
            if rbuf.is_empty() {
                *rbuf = BytesMut::new();
            }
            let heartbeat = worker.config().timeouts.sse_heartbeat;
            let max_pending = worker.config().limits.max_head_bytes;
            let source = SseSource { rx: &rx, producer: &mut producer, framing };
            let streamed = stream_sse(stream, rbuf, out, source, heartbeat, max_pending).await;
            if rx.is_ended() {
                // The producer ended the stream: what it has left to do (a proxied stream reads
                // its upstream's tail) runs on in a task of its own, whether the body's end
                // reached the client or the client left during its last writes.
                producer.detach();
            } else if producer.is_running() {
                log::debug!("client went away; dropping the stream's producer and its upstream request");
            }
            let out = streamed?;
            if minor >= 1 { Ok(out) } else { Err(()) }
        }
    }
}

/// Where a streamed body's frames come from: the producer the connection drives and the queue
/// it fills.
struct SseSource<'a> {
    rx: &'a super::sse_queue::Receiver,
    producer: &'a mut Producer,
    framing: WireFraming,
}

/// Appends one SSE frame as the response's framing carries it (an HTTP chunk, or as it is).
fn push_frame(out: &mut Vec<u8>, framing: WireFraming, frame: &[u8]) {
    match framing {
        WireFraming::Chunked => chunked::encode_chunk(out, frame),
        _ => out.extend_from_slice(frame),
    }
}

/// What `chunked::encode_chunk` reserves beyond a frame (its length in hex and two CRLFs, at
/// most): the last frame of a batch needs that much room left or it regrows the buffer.
const CHUNK_ROOM: usize = 20;

/// The bytes [`push_frame`] writes for a frame of `len` bytes.
fn framed_len(framing: WireFraming, len: usize) -> usize {
    match framing {
        // The length in hex (at least one digit), CRLF, the frame, CRLF.
        WireFraming::Chunked => len + (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize + 4,
        _ => len,
    }
}

/// Reserves room for one write: a frame of `first` bytes (0 when there is none) and the queued
/// frames [`push_queued`] will add behind it, so a batch takes one allocation, not a regrowth
/// (a copy and a reallocation) for each frame it carries.
fn reserve_batch(out: &mut Vec<u8>, first: usize, rx: &super::sse_queue::Receiver, framing: WireFraming) {
    let mut need = out.len() + if first > 0 { framed_len(framing, first) } else { 0 };
    // The same rule as `push_queued`: another frame while the batch is under its limit.
    rx.queued_lens(|len| {
        if need >= SSE_BATCH {
            return false;
        }
        need += framed_len(framing, len);
        true
    });
    out.reserve(need - out.len() + CHUNK_ROOM);
}

/// Appends the frames already queued, up to [`SSE_BATCH`] bytes of output.
fn push_queued(out: &mut Vec<u8>, rx: &super::sse_queue::Receiver, framing: WireFraming) {
    while out.len() < SSE_BATCH {
        let Some(frame) = rx.try_recv() else { break };
        push_frame(out, framing, &frame);
    }
}

async fn write_out(stream: &mut TcpStream, out: Vec<u8>) -> Result<Vec<u8>, ()> {
    let (r, out) = stream.write_all(out).await;
    r.map(|_| out).map_err(|_| ())
}

/// Drives the producer and pumps the frames it queues to the client until it ends the stream
/// (`Ok`) or the client goes away (`Err`; the caller then drops the producer, and with it the
/// upstream request).
///
/// A client that goes away is noticed two ways. While frames flow, the writes fail: the first
/// write after the client closed draws its reset, the next one the error. Once the stream has
/// had nothing to send for [`WATCH_AFTER`] (or the heartbeat interval, if shorter), the
/// client's socket is watched as well (a poll for readability, which a close or a pipelined
/// request completes), so a stream whose upstream went silent (a long thinking phase) notices
/// within a second instead of at the next heartbeat. The watch is not armed while frames flow:
/// a poll armed and cancelled around every frame cost two more io_uring submissions and a
/// cancellation per chunk. One coarse deadline serves both: first the watch's, then the
/// heartbeat's; a stream whose frames come less than a second apart never reaches either.
async fn stream_sse(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    mut out: Vec<u8>,
    source: SseSource<'_>,
    heartbeat: Duration,
    max_pending: usize,
) -> Result<Vec<u8>, ()> {
    let SseSource { rx, producer, framing } = source;
    let push = |out: &mut Vec<u8>, frame: &[u8]| push_frame(out, framing, frame);
    let watch_after = WATCH_AFTER.min(heartbeat);
    let mut wrote = Instant::now();
    // A coarse deadline (`runtime::coarse_timer`): every open stream has one.
    let mut sleep = crate::runtime::coarse_timer::timer_at(wrote + watch_after);
    let mut watch_client = true;
    let mut watching = false;
    loop {
        out.clear();
        // Whether this write carries frames (else a heartbeat).
        let mut frames = true;
        // The next frame: the producer runs until it waits, then the queue is asked.
        let next_frame = poll_fn(|cx| rx.poll_recv_after(cx, |cx| producer.step(cx)));
        monoio::select! {
            biased;
            frame = next_frame => {
                let Some(frame) = frame else {
                    // The producer ended the stream: end the body.
                    if framing == WireFraming::Chunked {
                        chunked::encode_last(&mut out);
                        return write_out(stream, out).await;
                    }
                    return Ok(out);
                };
                reserve_batch(&mut out, frame.len(), rx, framing);
                push(&mut out, &frame);
                // Coalesce whatever else is already queued into the same write.
                push_queued(&mut out, rx, framing);
            },
            () = &mut sleep => {
                if !watching {
                    // Quiet for `watch_after`: watch the client until the next frame.
                    watching = true;
                    if watch_after < heartbeat {
                        sleep.reset(wrote + heartbeat);
                        continue;
                    }
                }
                push(&mut out, b":\n\n");
                frames = false;
            },
            r = stream.readable(false), if watch_client && watching => {
                if r.is_err() {
                    return Err(());
                }
                // Either the client closed (read 0) or it pipelined its next request early.
                let buf = std::mem::take(rbuf);
                let (r, buf) = read_more(stream, buf).await;
                *rbuf = buf;
                match r {
                    Ok(0) | Err(_) => return Err(()),
                    Ok(_) => watch_client = rbuf.len() < max_pending,
                }
                continue;
            }
        }
        write_out(stream, out).await?;
        // A stream waits far longer between frames than it takes to fill the next write: keep
        // no buffer while it waits (10k open streams would hold 10k of them). The next batch
        // allocates what it needs.
        out = Vec::new();
        wrote = Instant::now();
        if frames {
            sleep.reset(wrote + watch_after);
            watching = false;
        } else {
            // Still quiet: keep watching, and the next heartbeat a full interval on.
            sleep.reset(wrote + heartbeat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::io::AsyncWriteRentExt;

    /// A batch of queued frames goes into one write buffer without regrowing it, whether the
    /// buffer starts empty (a stream's next write) or holds the response head (its first).
    #[test]
    fn a_batch_of_frames_fits_its_reservation() {
        // Mixed sizes, one past the limit; and ten frames of 8,180 bytes, whose eighth ends the
        // batch 32 bytes under the limit when chunked, so a ninth still goes in.
        let batches = [vec![300, 1, 4096, 17, 70_000], vec![8180; 10]];
        for (framing, lens, head) in [WireFraming::Chunked, WireFraming::Close].into_iter().flat_map(|f| {
            batches.iter().flat_map(move |lens| {
                [&b""[..], b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"].map(|h| (f, lens, h))
            })
        }) {
            let (tx, rx) = super::super::sse_queue::queue(16);
            for &len in lens {
                assert!(tx.try_send(Bytes::from(vec![b'x'; len])).is_ok(), "the queue holds every frame");
            }
            let mut out = head.to_vec();
            let first = if head.is_empty() { rx.try_recv() } else { None };
            reserve_batch(&mut out, first.as_ref().map_or(0, Bytes::len), &rx, framing);
            let reserved = out.capacity();
            if let Some(frame) = &first {
                push_frame(&mut out, framing, frame);
            }
            push_queued(&mut out, &rx, framing);
            assert!(out.len() >= SSE_BATCH, "the batch stops past its limit, at a frame's end");
            assert_eq!(out.capacity(), reserved, "{framing:?} {lens:?}, head {}: the batch regrew", head.len());
        }
    }

    /// Regression: a second read used to overwrite the bytes of the first one.
    #[test]
    fn read_more_appends_to_what_is_buffered() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        rt.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            for piece in [&b"GET / HT"[..], b"TP/1.1\r\n", b"\r\n"] {
                let (r, _) = client.write_all(piece.to_vec()).await;
                r.unwrap();
                let (r, b) = read_more(&mut server, buf).await;
                assert_eq!(r.unwrap(), piece.len());
                buf = b;
            }
            assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n\r\n");
        });
    }
}
