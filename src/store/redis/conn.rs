//! One pipelined RESP connection on the current monoio runtime.
//!
//! Commands from any task on this thread are appended to one output buffer and a queue of
//! reply slots, in the same order; a writer task flushes the buffer (everything queued since its
//! last write goes out in one `write`), a reader task decodes replies and fills the slots
//! front to back. So requests are written back to back and replies matched in order.
//!
//! TLS (`redis_tls`): one task drives both directions of a [`Transport`] (rustls over TCP, with
//! reads that time out without losing bytes): it flushes queued commands, then reads while
//! replies are due (with a 1 ms deadline so newly queued commands go out promptly), and while
//! idle waits for work, probing the socket once a second so a server-side close is noticed.
//!
//! A connection that fails in any way (I/O error, malformed reply, a reply timeout) is killed:
//! every waiting slot gets the error and it is never used again, because after a lost reply the
//! order no longer tells which reply belongs to whom. In subscribe mode `["message", …]` pushes
//! go to the `push` sink instead of a slot.

use super::oneshot;
use super::resp::{self, Reply};
use crate::upstream::transport::{ReadOutcome, Transport};
use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use rustls::ClientConfig;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Replies buffered beyond this many bytes without completing a frame kill the connection.
const MAX_READ_BUF: usize = 600 * 1024 * 1024;

pub type ReplySlot = oneshot::Receiver<Result<Reply, String>>;

#[derive(Debug, Default)]
struct Inner {
    out: BytesMut,
    pending: VecDeque<oneshot::Sender<Result<Reply, String>>>,
    dead: Option<String>,
}

/// A live (or killed) connection. Shared by the tasks of one thread as `Rc<Conn>`.
#[derive(Debug)]
pub struct Conn {
    inner: RefCell<Inner>,
    kick: async_channel::Sender<()>,
    stop: async_channel::Sender<()>,
}

impl Conn {
    /// Connects to `addr` within `timeout` and starts the writer and reader tasks. `push`
    /// receives subscribe-mode messages.
    pub async fn connect(
        addr: &str,
        timeout: Duration,
        tls: Option<&Arc<ClientConfig>>,
        push: Option<async_channel::Sender<Reply>>,
    ) -> Result<Rc<Self>, String> {
        let stream = match monoio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot connect to redis at {addr}: {e}")),
            Err(_) => {
                return Err(format!("connecting to redis at {addr} timed out after {} ms", timeout.as_millis()));
            }
        };
        let _ = stream.set_nodelay(true);
        let (kick, kick_rx) = async_channel::bounded(1);
        let (stop, stop_rx) = async_channel::bounded(1);
        let conn = Rc::new(Self { inner: RefCell::new(Inner::default()), kick, stop });
        if let Some(cfg) = tls {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
            let t = match monoio::time::timeout(timeout, Transport::tls(stream, cfg, host)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return Err(format!("redis at {addr}: {e}")),
                Err(_) => return Err(format!("TLS handshake with redis at {addr} timed out")),
            };
            monoio::spawn(tls_loop(Rc::clone(&conn), t, kick_rx, push));
            return Ok(conn);
        }
        let (r, w) = stream.into_split();
        monoio::spawn(write_loop(Rc::clone(&conn), w, kick_rx));
        monoio::spawn(read_loop(Rc::clone(&conn), r, stop_rx, push));
        Ok(conn)
    }

    /// Queues commands (each an argument list); returns one reply slot per command, or `Err`
    /// when the connection is already dead (nothing was sent).
    pub fn send<A: AsRef<[u8]>>(&self, cmds: &[Vec<A>]) -> Result<Vec<ReplySlot>, String> {
        let mut slots = Vec::with_capacity(cmds.len());
        {
            let mut inner = self.inner.borrow_mut();
            if let Some(why) = &inner.dead {
                return Err(why.clone());
            }
            for c in cmds {
                resp::encode_command(&mut inner.out, c).map_err(|e| e.to_string())?;
                let (tx, rx) = oneshot::channel();
                inner.pending.push_back(tx);
                slots.push(rx);
            }
        }
        let _ = self.kick.try_send(());
        Ok(slots)
    }

    pub fn is_dead(&self) -> bool {
        self.inner.borrow().dead.is_some()
    }

    /// Kills the connection: every waiting slot gets `why`, both tasks stop.
    pub fn kill(&self, why: &str) {
        let pending = {
            let mut inner = self.inner.borrow_mut();
            if inner.dead.is_none() {
                inner.dead = Some(why.to_owned());
            }
            inner.out.clear();
            std::mem::take(&mut inner.pending)
        };
        for tx in pending {
            tx.send(Err(why.to_owned()));
        }
        self.kick.close();
        self.stop.close();
    }
}

async fn write_loop(conn: Rc<Conn>, mut w: OwnedWriteHalf<TcpStream>, kick: async_channel::Receiver<()>) {
    while kick.recv().await.is_ok() {
        let buf = {
            let mut inner = conn.inner.borrow_mut();
            if inner.dead.is_some() {
                break;
            }
            inner.out.split()
        };
        if buf.is_empty() {
            continue;
        }
        let (r, _) = w.write_all(buf).await;
        if let Err(e) = r {
            conn.kill(&format!("redis write failed: {e}"));
            break;
        }
    }
}

/// The TLS connection's only task: see the module doc.
async fn tls_loop(
    conn: Rc<Conn>,
    mut t: Transport,
    kick: async_channel::Receiver<()>,
    push: Option<async_channel::Sender<Reply>>,
) {
    const REPLY_POLL: Duration = Duration::from_millis(1);
    const PUSH_POLL: Duration = Duration::from_millis(50);
    const IDLE_PROBE: Duration = Duration::from_secs(1);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        let (out, due) = {
            let mut inner = conn.inner.borrow_mut();
            if inner.dead.is_some() {
                return;
            }
            (inner.out.split(), !inner.pending.is_empty())
        };
        if !out.is_empty() {
            if let Err(e) = t.write_all(&out).await {
                return conn.kill(&format!("redis write failed: {e}"));
            }
            continue;
        }
        let wait = if due {
            REPLY_POLL
        } else if push.is_some() {
            PUSH_POLL
        } else {
            // Idle: wait for a command, probing the socket now and then.
            match monoio::time::timeout(IDLE_PROBE, kick.recv()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return,
                Err(_) => Duration::ZERO,
            }
        };
        let _ = kick.try_recv();
        match t.read(&mut buf, Some(Instant::now() + wait)).await {
            Ok(ReadOutcome::Data(_)) => {
                if let Err(e) = dispatch(&conn, &mut buf, push.as_ref()) {
                    return conn.kill(&e);
                }
            }
            Ok(ReadOutcome::TimedOut) => {}
            Ok(ReadOutcome::Eof) => return conn.kill("redis closed the connection"),
            Err(e) => return conn.kill(&format!("redis read failed: {e}")),
        }
    }
}

/// Hands every complete reply in `buf` to its slot (or the push sink).
fn dispatch(conn: &Conn, buf: &mut BytesMut, push: Option<&async_channel::Sender<Reply>>) -> Result<(), String> {
    loop {
        match resp::parse_reply(buf) {
            Ok(Some(reply)) => {
                if let (Some(p), true) = (push, is_message(&reply)) {
                    let _ = p.try_send(reply);
                    continue;
                }
                let slot = conn.inner.borrow_mut().pending.pop_front();
                match slot {
                    Some(tx) => tx.send(Ok(reply)),
                    None => return Err("redis sent a reply nobody asked for".into()),
                }
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if buf.len() > MAX_READ_BUF {
        return Err("redis reply exceeds the read buffer limit".into());
    }
    Ok(())
}

async fn read_loop(
    conn: Rc<Conn>,
    mut r: OwnedReadHalf<TcpStream>,
    stop: async_channel::Receiver<()>,
    push: Option<async_channel::Sender<Reply>>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        // monoio reads into `write_ptr()`, which for a BytesMut is its start: read into a view
        // of the spare capacity so a partial reply already buffered is kept.
        let len = buf.len();
        let read = monoio::select! {
            res = r.read(IoBufMut::slice_mut(buf, len..)) => res,
            _ = stop.recv() => return,
        };
        let (res, spare) = read;
        buf = spare.into_inner();
        match res {
            Ok(0) => return conn.kill("redis closed the connection"),
            Ok(_) => {}
            Err(e) => return conn.kill(&format!("redis read failed: {e}")),
        }
        if let Err(e) = dispatch(&conn, &mut buf, push.as_ref()) {
            return conn.kill(&e);
        }
    }
}

/// A subscribe-mode push: `["message", channel, payload]`.
fn is_message(r: &Reply) -> bool {
    matches!(r, Reply::Array(a) if a.first().and_then(Reply::as_bytes) == Some(b"message"))
}
