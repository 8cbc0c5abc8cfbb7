//! Establishing a connection to an origin: resolve (off-thread, cached) -> TCP connect (each
//! address in turn) -> proxy tunnel (CONNECT or SOCKS5) -> TLS handshake. Each phase has its
//! own deadline and its own error kind; the request's total deadline caps them all.
//!
//! Used by the HTTP client (fresh connections for the pool) and by the WebSocket client.

use super::conn::Connection;
use super::dns::DnsCache;
use super::error::{ErrorKind, Side, UpstreamError};
use super::proxy::{self, ProxyConfig};
use super::settings::{UpstreamShared, UpstreamTimeouts};
use super::transport::Transport;
use bytes::BytesMut;
use monoio::net::TcpStream;
use std::net::SocketAddr;
use std::time::Instant;

/// Where to connect and how.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: bool,
    pub proxy: Option<&'a ProxyConfig>,
}

/// A phase deadline capped by the total deadline; says which one binds.
#[derive(Debug, Clone, Copy)]
pub struct PhaseDeadline {
    pub at: Instant,
    /// The total deadline is the earlier one: running out is `TotalTimeout`.
    pub total_binds: bool,
}

impl PhaseDeadline {
    pub fn new(phase: std::time::Duration, total: Instant) -> Self {
        let own = Instant::now() + phase;
        if total <= own { Self { at: total, total_binds: true } } else { Self { at: own, total_binds: false } }
    }

    /// The error for running out of this deadline.
    pub fn expired(self, kind: ErrorKind, context: String) -> UpstreamError {
        if self.total_binds {
            UpstreamError::new(ErrorKind::TotalTimeout, format!("{context} (total time limit)"))
        } else {
            UpstreamError::new(kind, context)
        }
    }
}

/// Opens a ready-to-use connection (tunnelled and TLS-wrapped as asked).
pub async fn establish(
    shared: &UpstreamShared,
    dns: &DnsCache,
    dial: Dial<'_>,
    timeouts: &UpstreamTimeouts,
    total: Instant,
) -> Result<Connection, UpstreamError> {
    let connect_deadline = PhaseDeadline::new(timeouts.connect, total);
    let (hop_host, hop_port) = match dial.proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (dial.host, dial.port),
    };
    let side = if dial.proxy.is_some() { Side::Proxy } else { Side::Upstream };
    let what = match dial.proxy {
        Some(p) => format!("proxy {}", p.redacted()),
        None => format!("{}:{}", dial.host, dial.port),
    };
    let connect = async {
        let addrs = dns.lookup(hop_host, hop_port).await.map_err(|e| e.on(side))?;
        connect_any(&addrs, &what).await.map_err(|e| e.on(side))
    };
    let tcp = monoio::time::timeout_at(connect_deadline.at.into(), connect).await.map_err(|_| {
        connect_deadline.expired(ErrorKind::ConnectTimeout, format!("connecting to {what} timed out")).on(side)
    })??;
    let mut transport = Transport::plain(tcp);
    let mut rbuf = BytesMut::new();
    if let Some(p) = dial.proxy {
        proxy::tunnel(p, &mut transport, &mut rbuf, dial.host, dial.port, connect_deadline.at).await.map_err(|e| {
            if e.kind == ErrorKind::ConnectTimeout && connect_deadline.total_binds {
                connect_deadline.expired(ErrorKind::ConnectTimeout, e.context.into_owned())
            } else {
                e
            }
        })?;
    }
    if !dial.tls {
        return Ok(Connection::new(transport, rbuf));
    }
    if !rbuf.is_empty() {
        return Err(UpstreamError::new(ErrorKind::Proxy, "proxy sent data before the TLS handshake").on(Side::Proxy));
    }
    let Some(tcp) = transport.into_plain_tcp() else {
        return Err(UpstreamError::new(ErrorKind::InvalidRequest, "TLS requested on a TLS transport"));
    };
    let tls_deadline = PhaseDeadline::new(timeouts.tls, total);
    let transport = monoio::time::timeout_at(tls_deadline.at.into(), Transport::tls(tcp, &shared.tls, dial.host))
        .await
        .map_err(|_| {
            tls_deadline
                .expired(ErrorKind::TlsTimeout, format!("tls handshake with {}:{} timed out", dial.host, dial.port))
        })??;
    Ok(Connection::new(transport, rbuf))
}

/// Tries each address in order; the error names the last failure.
async fn connect_any(addrs: &[SocketAddr], what: &str) -> Result<TcpStream, UpstreamError> {
    let mut last: Option<std::io::Error> = None;
    for addr in addrs {
        match TcpStream::connect_addr(*addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let why = last.map_or_else(|| "no addresses".to_owned(), |e| e.to_string());
    Err(UpstreamError::new(ErrorKind::Connect, format!("cannot connect to {what}: {why}")))
}
