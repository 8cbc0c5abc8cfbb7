//! Local outbound proxies: an HTTP CONNECT proxy (optional Basic credentials) and a SOCKS5
//! proxy (RFC 1928, optional RFC 1929 user/password). Both count tunnels opened and requests
//! refused, and only ever connect to loopback targets.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct ProxyServer {
    pub addr: SocketAddr,
    /// Tunnels opened to a target.
    pub tunnels: Arc<AtomicUsize>,
    /// Handshakes refused (bad or missing credentials).
    pub refused: Arc<AtomicUsize>,
    /// The target each tunnel asked for, as `host:port`.
    #[expect(clippy::disallowed_types, reason = "test proxy bookkeeping shared by std threads")]
    pub targets: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ProxyServer {
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
    pub fn url(&self, scheme: &str, creds: Option<(&str, &str)>) -> String {
        match creds {
            Some((u, p)) => format!("{scheme}://{u}:{p}@127.0.0.1:{}", self.addr.port()),
            None => format!("{scheme}://127.0.0.1:{}", self.addr.port()),
        }
    }
}

type Session = fn(TcpStream, Option<(String, String)>, &ProxyServer) -> Option<TcpStream>;

fn start(creds: Option<(&str, &str)>, session: Session) -> ProxyServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = ProxyServer {
        addr: listener.local_addr().expect("addr"),
        tunnels: Arc::default(),
        refused: Arc::default(),
        targets: Arc::default(),
    };
    let shared = ProxyServer {
        addr: server.addr,
        tunnels: Arc::clone(&server.tunnels),
        refused: Arc::clone(&server.refused),
        targets: Arc::clone(&server.targets),
    };
    let creds = creds.map(|(u, p)| (u.to_owned(), p.to_owned()));
    std::thread::spawn(move || {
        let shared = Arc::new(shared);
        for stream in listener.incoming() {
            let Ok(client) = stream else { continue };
            let (shared, creds) = (Arc::clone(&shared), creds.clone());
            std::thread::spawn(move || {
                let Ok(client2) = client.try_clone() else {
                    return;
                };
                if let Some(target) = session(client, creds, &shared) {
                    shared.tunnels.fetch_add(1, Ordering::SeqCst);
                    pipe(client2, target);
                }
            });
        }
    });
    server
}

/// Copies both ways until either side ends.
fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let t = std::thread::spawn(move || {
        let mut a = a;
        let mut b = b;
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut b2, &mut a2);
    let _ = a2.shutdown(Shutdown::Both);
    let _ = t.join();
}

fn connect_target(host: &str, port: u16) -> Option<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.filter(|a| a.ip().is_loopback()).collect();
    addrs.iter().find_map(|a| TcpStream::connect(a).ok())
}

pub fn connect_proxy(creds: Option<(&str, &str)>) -> ProxyServer {
    start(creds, http_session)
}

fn http_session(mut client: TcpStream, creds: Option<(String, String)>, s: &ProxyServer) -> Option<TcpStream> {
    let mut buf = Vec::new();
    let req = super::http_server::read_request(&mut client, &mut buf)?;
    if req.method != "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return None;
    }
    if let Some((u, p)) = creds {
        let want = format!("Basic {}", orchids2api::upstream::b64::encode(format!("{u}:{p}").as_bytes()));
        if req.header("proxy-authorization") != Some(want.as_str()) {
            s.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"t\"\r\ncontent-length: 0\r\n\r\n");
            return None;
        }
    }
    let (host, port) = req.path.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    s.targets.lock().expect("lock").push(req.path.clone());
    let Some(target) = connect_target(host, port.parse().ok()?) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return None;
    };
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").ok()?;
    Some(target)
}

pub fn socks5_proxy(creds: Option<(&str, &str)>) -> ProxyServer {
    start(creds, socks_session)
}

fn read_n(s: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).ok()?;
    Some(v)
}

fn socks_session(mut c: TcpStream, creds: Option<(String, String)>, s: &ProxyServer) -> Option<TcpStream> {
    let hello = read_n(&mut c, 2)?;
    if hello[0] != 5 {
        return None;
    }
    let methods = read_n(&mut c, usize::from(hello[1]))?;
    match creds {
        None => {
            if !methods.contains(&0) {
                c.write_all(&[5, 0xff]).ok()?;
                return None;
            }
            c.write_all(&[5, 0]).ok()?;
        }
        Some((u, p)) => {
            if !methods.contains(&2) {
                s.refused.fetch_add(1, Ordering::SeqCst);
                c.write_all(&[5, 0xff]).ok()?;
                return None;
            }
            c.write_all(&[5, 2]).ok()?;
            let ver_ulen = read_n(&mut c, 2)?;
            let user = read_n(&mut c, usize::from(ver_ulen[1]))?;
            let plen = read_n(&mut c, 1)?;
            let pass = read_n(&mut c, usize::from(plen[0]))?;
            if user != u.as_bytes() || pass != p.as_bytes() {
                s.refused.fetch_add(1, Ordering::SeqCst);
                c.write_all(&[1, 1]).ok()?;
                return None;
            }
            c.write_all(&[1, 0]).ok()?;
        }
    }
    let head = read_n(&mut c, 4)?;
    if head[0] != 5 || head[1] != 1 {
        c.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).ok()?;
        return None;
    }
    let host = match head[3] {
        1 => {
            let a = read_n(&mut c, 4)?;
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        }
        3 => {
            let len = read_n(&mut c, 1)?;
            String::from_utf8(read_n(&mut c, usize::from(len[0]))?).ok()?
        }
        4 => {
            let a = read_n(&mut c, 16)?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&a);
            std::net::Ipv6Addr::from(o).to_string()
        }
        _ => return None,
    };
    let p = read_n(&mut c, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    s.targets.lock().expect("lock").push(format!("{host}:{port}"));
    let Some(target) = connect_target(&host, port) else {
        c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).ok()?;
        return None;
    };
    c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).ok()?;
    Some(target)
}
