//! A WebSocket echo server (plain or TLS) with a hand-written server-side frame codec, so the
//! client's codec is checked against an independent implementation.
//!
//! Behaviour: echoes text and binary messages (reassembling fragments); answers pings; answers
//! a close with a close. Special text messages script the rest:
//! - `server-ping`: sends a ping, waits for the matching pong, then sends `pong-received`;
//! - `fragment-me`: sends `fragmented` as three fragments with a ping in between;
//! - `wait-pings:N`: replies `pinged N` once N pings have arrived;
//! - `close-me`: sends close 1000 `bye` and waits for the client's close.
//!
//! Paths containing `deny` get `401` instead of the upgrade.

use super::http_server::{Wire, read_request};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Default)]
pub struct WsCounters {
    pub accepts: Arc<AtomicUsize>,
    pub pings: Arc<AtomicUsize>,
    pub pongs: Arc<AtomicUsize>,
    /// Close frames received from the client.
    pub closes: Arc<AtomicUsize>,
}

impl WsCounters {
    pub fn get(a: &Arc<AtomicUsize>) -> usize {
        a.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct WsServer {
    pub addr: SocketAddr,
    pub counters: WsCounters,
}

impl WsServer {
    pub fn start(tls: Option<Arc<ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counters = WsCounters::default();
        let c = counters.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                c.accepts.fetch_add(1, Ordering::SeqCst);
                let (c, tls) = (c.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    Some(cfg) => {
                        let Ok(conn) = ServerConnection::new(cfg) else {
                            return;
                        };
                        session(StreamOwned::new(conn, tcp), &c);
                    }
                    None => session(tcp, &c),
                });
            }
        });
        Self { addr, counters }
    }

    pub fn url(&self, scheme: &str, host: &str, path: &str) -> String {
        format!("{scheme}://{host}:{}{path}", self.addr.port())
    }
}

struct Frame {
    fin: bool,
    op: u8,
    payload: Vec<u8>,
}

fn read_frame<W: Read>(w: &mut W, buf: &mut Vec<u8>) -> Option<Frame> {
    let need = |w: &mut W, buf: &mut Vec<u8>, n: usize| -> Option<()> {
        let mut tmp = [0u8; 16 * 1024];
        while buf.len() < n {
            let k = w.read(&mut tmp).ok()?;
            if k == 0 {
                return None;
            }
            buf.extend_from_slice(&tmp[..k]);
        }
        Some(())
    };
    need(w, buf, 2)?;
    let (b0, b1) = (buf[0], buf[1]);
    assert!(b1 & 0x80 != 0, "client frames must be masked");
    let mut at = 2;
    let len = match b1 & 0x7f {
        126 => {
            need(w, buf, 4)?;
            at = 4;
            usize::from(u16::from_be_bytes([buf[2], buf[3]]))
        }
        127 => {
            need(w, buf, 10)?;
            at = 10;
            let mut a = [0u8; 8];
            a.copy_from_slice(&buf[2..10]);
            usize::try_from(u64::from_be_bytes(a)).ok()?
        }
        l => usize::from(l),
    };
    need(w, buf, at + 4 + len)?;
    let key = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    let payload: Vec<u8> = buf[at + 4..at + 4 + len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
    buf.drain(..at + 4 + len);
    Some(Frame { fin: b0 & 0x80 != 0, op: b0 & 0x0f, payload })
}

fn write_frame(w: &mut dyn Wire, fin: bool, op: u8, payload: &[u8]) {
    let mut out = vec![if fin { 0x80 } else { 0 } | op];
    match payload.len() {
        n if n < 126 => out.push(u8::try_from(n).expect("len")),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).expect("len").to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    let _ = w.write_all(&out);
    let _ = w.flush();
}

fn session<W: Wire>(mut w: W, c: &WsCounters) {
    let mut buf = Vec::new();
    let Some(req) = read_request(&mut w, &mut buf) else {
        return;
    };
    if req.path.contains("deny") {
        let _ = w.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let Some(key) = req.header("sec-websocket-key") else {
        return;
    };
    let accept = orchids2api::upstream::ws::accept_for(key);
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nX-Origin-Seen: {}\r\n\r\n",
        req.header("origin").unwrap_or("-")
    );
    if w.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut message: Option<(u8, Vec<u8>)> = None;
    let mut waiting_pings: Option<usize> = None;
    let mut waiting_pong = false;
    while let Some(f) = read_frame(&mut w, &mut buf) {
        match f.op {
            9 => {
                let n = c.pings.fetch_add(1, Ordering::SeqCst) + 1;
                write_frame(&mut w, true, 10, &f.payload);
                if waiting_pings.is_some_and(|want| n >= want) {
                    waiting_pings = None;
                    write_frame(&mut w, true, 1, format!("pinged {n}").as_bytes());
                }
            }
            10 => {
                c.pongs.fetch_add(1, Ordering::SeqCst);
                if waiting_pong && f.payload == b"sp" {
                    waiting_pong = false;
                    write_frame(&mut w, true, 1, b"pong-received");
                }
            }
            8 => {
                c.closes.fetch_add(1, Ordering::SeqCst);
                let code = f.payload.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
                write_frame(&mut w, true, 8, &code);
                return;
            }
            op => {
                let (mop, mut data) = match (op, message.take()) {
                    (0, Some(m)) => m,
                    (1 | 2, None) => (op, Vec::new()),
                    _ => {
                        write_frame(&mut w, true, 8, &1002u16.to_be_bytes());
                        return;
                    }
                };
                data.extend_from_slice(&f.payload);
                if !f.fin {
                    message = Some((mop, data));
                    continue;
                }
                match (mop, data.as_slice()) {
                    (1, b"server-ping") => {
                        waiting_pong = true;
                        write_frame(&mut w, true, 9, b"sp");
                    }
                    (1, b"fragment-me") => {
                        write_frame(&mut w, false, 1, b"frag");
                        write_frame(&mut w, true, 9, b"mid");
                        write_frame(&mut w, false, 0, b"ment");
                        write_frame(&mut w, true, 0, b"ed");
                    }
                    (1, b"close-me") => {
                        let mut p = 1000u16.to_be_bytes().to_vec();
                        p.extend_from_slice(b"bye");
                        write_frame(&mut w, true, 8, &p);
                    }
                    (1, t) if t.starts_with(b"wait-pings:") => {
                        let want: usize = String::from_utf8_lossy(&t[11..]).parse().unwrap_or(1);
                        let have = c.pings.load(Ordering::SeqCst);
                        if have >= want {
                            write_frame(&mut w, true, 1, format!("pinged {have}").as_bytes());
                        } else {
                            waiting_pings = Some(want);
                        }
                    }
                    (op, d) => write_frame(&mut w, true, op, d),
                }
            }
        }
    }
}
