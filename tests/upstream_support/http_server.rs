//! A scriptable HTTP/1.1 origin on a std thread per connection (plain or TLS). The handler sees
//! each parsed request and writes whatever bytes it likes, then says what the connection does
//! next. Counters let tests check what the client really did: accepted connections, requests,
//! and connections the client closed.

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A server-side byte stream (TCP or TLS over TCP).
pub trait Wire: Read + Write + Send {}
impl<T: Read + Write + Send> Wire for T {}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct SReq {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SReq {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What happens to the connection after the handler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next request.
    Keep,
    /// Close now.
    Close,
    /// Stop answering; wait until the client closes (then count it).
    WaitForClientClose,
}

pub type Handler = Arc<dyn Fn(&SReq, &mut dyn Wire) -> Flow + Send + Sync>;

#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub accepts: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    /// Connections that ended because the client closed (EOF or error reading).
    pub client_closed: Arc<AtomicUsize>,
}

impl Counters {
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn client_closed(&self) -> usize {
        self.client_closed.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub counters: Counters,
}

impl TestServer {
    pub fn start(handler: impl Fn(&SReq, &mut dyn Wire) -> Flow + Send + Sync + 'static) -> Self {
        Self::spawn(Arc::new(handler), None)
    }

    pub fn start_tls(
        tls: Arc<ServerConfig>,
        handler: impl Fn(&SReq, &mut dyn Wire) -> Flow + Send + Sync + 'static,
    ) -> Self {
        Self::spawn(Arc::new(handler), Some(tls))
    }

    /// Accepts connections and never writes a byte (reads until the client closes).
    pub fn silent() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counters = Counters::default();
        let c = counters.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                c.accepts.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                    c.client_closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, counters }
    }

    fn spawn(handler: Handler, tls: Option<Arc<ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counters = Counters::default();
        let c = counters.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                c.accepts.fetch_add(1, Ordering::SeqCst);
                let (c, h, tls) = (c.clone(), Arc::clone(&handler), tls.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_nodelay(true);
                    match tls {
                        Some(cfg) => {
                            let Ok(conn) = ServerConnection::new(cfg) else {
                                return;
                            };
                            serve(StreamOwned::new(conn, tcp), &h, &c);
                        }
                        None => serve(tcp, &h, &c),
                    }
                });
            }
        });
        Self { addr, counters }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn https_url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn serve<W: Wire>(mut wire: W, handler: &Handler, c: &Counters) {
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut wire, &mut buf) else {
            c.client_closed.fetch_add(1, Ordering::SeqCst);
            return;
        };
        c.requests.fetch_add(1, Ordering::SeqCst);
        match handler(&req, &mut wire) {
            Flow::Keep => {}
            Flow::Close => return,
            Flow::WaitForClientClose => {
                let mut sink = [0u8; 4096];
                while matches!(wire.read(&mut sink), Ok(n) if n > 0) {}
                c.client_closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

fn fill<W: Read>(wire: &mut W, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16 * 1024];
    match wire.read(&mut tmp) {
        Ok(n) if n > 0 => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (head + Content-Length or chunked body); `None` when the client closed.
pub fn read_request<W: Read>(wire: &mut W, buf: &mut Vec<u8>) -> Option<SReq> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if !fill(wire, buf) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))).collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while buf.len() < len {
            if !fill(wire, buf) {
                return None;
            }
        }
        body = buf.drain(..len).collect();
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(wire, buf) {
                    return None;
                }
            };
            let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).trim(), 16).ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill(wire, buf) {
                    return None;
                }
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    }
    Some(SReq { method, path, headers, body })
}

/// Writes a complete response with Content-Length.
pub fn respond(wire: &mut dyn Wire, status: u16, extra_headers: &[(&str, &str)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in extra_headers {
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    let _ = wire.write_all(&bytes);
    let _ = wire.flush();
}

/// Writes raw bytes.
pub fn raw(wire: &mut dyn Wire, bytes: &[u8]) {
    let _ = wire.write_all(bytes);
    let _ = wire.flush();
}

/// A listener whose accept queue is full: connecting to it hangs (SYNs are dropped), which is
/// how the connect-timeout test gets a connect that never completes without leaving loopback.
#[derive(Debug)]
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let bind: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        s.bind(&bind.into()).expect("bind");
        s.listen(0).expect("listen");
        let addr = s.local_addr().expect("addr").as_socket().expect("inet");
        let mut fillers = Vec::new();
        // Fill the backlog (never accepted); later SYNs get no answer.
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)) {
                Ok(c) => fillers.push(c),
                Err(_) => break,
            }
        }
        Self { addr, _listener: s, _fillers: fillers }
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        Self::new()
    }
}
