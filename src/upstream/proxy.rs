//! The outbound proxy: `http://[user:pass@]host:port` (HTTP CONNECT tunnel with `Basic`
//! credentials) or `socks5://[user:pass@]host:port` (RFC 1928 with RFC 1929 username/password;
//! the target *name* is sent so the proxy resolves it, `socks5h` is accepted as a synonym), and
//! the `no_proxy` list that bypasses it.
//!
//! The proxy is a per-request option ([`super::client::ProxyChoice`]); the config's
//! `upstream_proxy` is the default. Credentials are a [`Secret`]: `Debug` and every error
//! message show the proxy as `scheme://host:port` only.

use super::b64;
use super::error::{ErrorKind, Side, UpstreamError};
use super::response_head::parse_response_head;
use super::transport::{ReadOutcome, Transport};
use super::url::split_host_port;
use crate::config::Secret;
use bytes::{Buf, BytesMut};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    Http,
    Socks5,
}

/// One outbound proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Secret,
}

impl Hash for ProxyConfig {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.host.hash(state);
        self.port.hash(state);
        self.username.hash(state);
        self.password.expose().hash(state);
    }
}

impl ProxyConfig {
    /// Parses a proxy URL; the message says what is wrong without echoing credentials.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or("expected http://host:port or socks5://host:port")?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 8080),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            other => {
                return Err(format!("unsupported proxy scheme {other:?} (use http or socks5)"));
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a proxy URL has no path".to_owned());
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport).ok_or("invalid proxy host or port")?;
        let (username, password) = match userinfo {
            None => (None, Secret::default()),
            Some(u) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                let user = crate::util::percent::decode(user.as_bytes(), false)
                    .ok_or("invalid percent-encoding in proxy user")?;
                let pass = crate::util::percent::decode(pass.as_bytes(), false)
                    .ok_or("invalid percent-encoding in proxy password")?;
                if kind == ProxyKind::Socks5 && (user.len() > 255 || pass.len() > 255) {
                    return Err("socks5 user and password are limited to 255 bytes".to_owned());
                }
                (Some(user), Secret::new(pass))
            }
        };
        Ok(Self { kind, host, port: port.unwrap_or(default_port), username, password })
    }

    /// `scheme://host:port`, safe for logs.
    pub fn redacted(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Hosts that bypass the proxy: `*` (everything), a name (itself and every subdomain; a
/// leading `.` or `*.` is optional), an IP literal, or a CIDR block like `10.0.0.0/8`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    names: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// Parses the list; `Err` names the first bad entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut out = Self::default();
        for raw in entries {
            let e = raw.as_ref().trim().to_ascii_lowercase();
            if e.is_empty() {
                continue;
            }
            if e == "*" {
                out.all = true;
            } else if let Some((ip, bits)) = e.split_once('/') {
                let ip: IpAddr =
                    ip.parse().map_err(|_| format!("no_proxy entry {e:?}: expected a CIDR block like 10.0.0.0/8"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("no_proxy entry {e:?}: bad prefix length"))?;
                out.nets.push((ip, bits));
            } else if let Ok(ip) = e.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                out.nets.push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else {
                let name = e.trim_start_matches("*.").trim_start_matches('.');
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                    return Err(format!("no_proxy entry {e:?}: expected *, a host name, an IP or a CIDR block"));
                }
                out.names.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Whether `host` (lower-case name or IP literal) goes direct.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits));
        }
        self.names.iter().any(|n| {
            host == n
                || (host.len() > n.len()
                    && host.ends_with(n.as_str())
                    && host.as_bytes().get(host.len() - n.len() - 1) == Some(&b'.'))
        })
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32u32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128u32),
        _ => return false,
    };
    let bits = u32::from(bits);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

/// Opens a tunnel to `host:port` through the proxy on an established plain connection to it.
/// Bytes the proxy sent after its answer stay in `rbuf`.
pub async fn tunnel(
    proxy: &ProxyConfig,
    t: &mut Transport,
    rbuf: &mut BytesMut,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(), UpstreamError> {
    match proxy.kind {
        ProxyKind::Http => http_connect(proxy, t, rbuf, host, port, deadline).await,
        ProxyKind::Socks5 => socks5_connect(proxy, t, rbuf, host, port, deadline).await,
    }
}

fn perr(kind: ErrorKind, proxy: &ProxyConfig, what: &str) -> UpstreamError {
    UpstreamError::new(kind, format!("proxy {}: {what}", proxy.redacted())).on(Side::Proxy)
}

/// Reads more bytes into `rbuf` before `deadline`, mapping every failure to a proxy error.
async fn fill(
    proxy: &ProxyConfig,
    t: &mut Transport,
    rbuf: &mut BytesMut,
    deadline: Instant,
) -> Result<(), UpstreamError> {
    match t.read(rbuf, Some(deadline)).await {
        Ok(ReadOutcome::Data(_)) => Ok(()),
        Ok(ReadOutcome::Eof) => Err(perr(ErrorKind::Proxy, proxy, "closed the connection during the handshake")),
        Ok(ReadOutcome::TimedOut) => Err(perr(ErrorKind::ConnectTimeout, proxy, "handshake timed out")),
        Err(e) => Err(perr(ErrorKind::Proxy, proxy, &format!("handshake failed: {e}"))),
    }
}

async fn send(proxy: &ProxyConfig, t: &mut Transport, data: &[u8]) -> Result<(), UpstreamError> {
    t.write_all(data).await.map_err(|e| perr(ErrorKind::Proxy, proxy, &format!("write failed: {e}")))
}

async fn http_connect(
    proxy: &ProxyConfig,
    t: &mut Transport,
    rbuf: &mut BytesMut,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(), UpstreamError> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = &proxy.username {
        let token = b64::encode(format!("{user}:{}", proxy.password.expose()).as_bytes());
        req.push_str("Proxy-Authorization: Basic ");
        req.push_str(&token);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    send(proxy, t, req.as_bytes()).await?;
    loop {
        match parse_response_head(rbuf, 16 * 1024) {
            Ok(Some(head)) => {
                return match head.status {
                    200..=299 => Ok(()),
                    407 => Err(perr(ErrorKind::ProxyAuth, proxy, "credentials rejected (407)").with_status(407)),
                    s => Err(perr(ErrorKind::Proxy, proxy, &format!("CONNECT to {authority} refused with {s}"))
                        .with_status(s)),
                };
            }
            Ok(None) => fill(proxy, t, rbuf, deadline).await?,
            Err(e) => return Err(perr(ErrorKind::Proxy, proxy, e.message())),
        }
    }
}

async fn socks5_connect(
    proxy: &ProxyConfig,
    t: &mut Transport,
    rbuf: &mut BytesMut,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(), UpstreamError> {
    let with_auth = proxy.username.is_some();
    send(proxy, t, if with_auth { &[5, 2, 0, 2] } else { &[5, 1, 0] }).await?;
    let reply = take(proxy, t, rbuf, 2, deadline).await?;
    match reply.as_slice() {
        [5, 0] => {}
        [5, 2] if with_auth => {
            let user = proxy.username.as_deref().unwrap_or_default().as_bytes();
            let pass = proxy.password.expose().as_bytes();
            let mut msg = Vec::with_capacity(3 + user.len() + pass.len());
            msg.push(1);
            msg.push(u8::try_from(user.len()).unwrap_or(u8::MAX));
            msg.extend_from_slice(user);
            msg.push(u8::try_from(pass.len()).unwrap_or(u8::MAX));
            msg.extend_from_slice(pass);
            send(proxy, t, &msg).await?;
            let status = take(proxy, t, rbuf, 2, deadline).await?;
            if status.get(1) != Some(&0) {
                return Err(perr(ErrorKind::ProxyAuth, proxy, "socks5 credentials rejected"));
            }
        }
        [5, 0xff | 2] => {
            return Err(perr(ErrorKind::ProxyAuth, proxy, "socks5 proxy requires credentials we do not have"));
        }
        _ => {
            return Err(perr(ErrorKind::Proxy, proxy, "not a socks5 proxy (bad greeting reply)"));
        }
    }
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len())
                .map_err(|_| perr(ErrorKind::InvalidRequest, proxy, "host name too long for socks5"))?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    send(proxy, t, &req).await?;
    let head = take(proxy, t, rbuf, 4, deadline).await?;
    let (rep, atyp) = (head.get(1).copied().unwrap_or(0xff), head.get(3).copied().unwrap_or(0));
    if head.first() != Some(&5) {
        return Err(perr(ErrorKind::Proxy, proxy, "bad socks5 connect reply"));
    }
    if rep != 0 {
        return Err(perr(
            ErrorKind::Proxy,
            proxy,
            &format!("socks5 connect to {host}:{port} failed: {}", socks5_reply(rep)),
        ));
    }
    let addr_len = match atyp {
        1 => 4,
        4 => 16,
        3 => usize::from(take(proxy, t, rbuf, 1, deadline).await?.first().copied().unwrap_or(0)),
        _ => {
            return Err(perr(ErrorKind::Proxy, proxy, "bad socks5 address type in reply"));
        }
    };
    take(proxy, t, rbuf, addr_len + 2, deadline).await?;
    Ok(())
}

/// Reads exactly `n` bytes off the front of the stream.
async fn take(
    proxy: &ProxyConfig,
    t: &mut Transport,
    rbuf: &mut BytesMut,
    n: usize,
    deadline: Instant,
) -> Result<Vec<u8>, UpstreamError> {
    while rbuf.len() < n {
        fill(proxy, t, rbuf, deadline).await?;
    }
    let out = rbuf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
    rbuf.advance(n);
    Ok(out)
}

fn socks5_reply(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by the proxy's rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls_without_leaking_passwords() {
        let p = ProxyConfig::parse("http://bob:s%40cret@Proxy.local:3128/").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Http, "proxy.local", 3128));
        assert_eq!(p.username.as_deref(), Some("bob"));
        assert_eq!(p.password.expose(), "s@cret");
        assert!(!format!("{p:?}").contains("cret"));
        assert_eq!(p.redacted(), "http://proxy.local:3128");
        let s = ProxyConfig::parse("socks5h://[::1]").unwrap();
        assert_eq!((s.kind, s.port, s.redacted()), (ProxyKind::Socks5, 1080, "socks5://[::1]:1080".to_owned()));
        for bad in ["ftp://x:1", "x:1", "http://x:1/path", "http://:1", "http://a:b@x:0"] {
            let e = ProxyConfig::parse(bad).unwrap_err();
            assert!(!e.contains('b') || !bad.contains("a:b"), "{e}");
        }
    }

    #[test]
    fn no_proxy_matching() {
        let np = NoProxy::parse(&["example.com", ".internal", "10.0.0.0/8", "::1", "*.corp"]).unwrap();
        for yes in ["example.com", "api.example.com", "x.internal", "10.1.2.3", "::1", "a.b.corp"] {
            assert!(np.matches(yes), "{yes}");
        }
        for no in ["badexample.com", "example.org", "11.0.0.1", "::2", "internal.x"] {
            assert!(!np.matches(no), "{no}");
        }
        assert!(NoProxy::parse(&["*"]).unwrap().matches("anything"));
        assert!(!NoProxy::default().matches("x"));
        assert!(NoProxy::parse(&["10.0.0.0/99"]).is_err());
        assert!(NoProxy::parse(&["a b"]).is_err());
    }
}
