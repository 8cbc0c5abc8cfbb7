//! The one typed error of the upstream client: [`UpstreamError`] = kind + side + whether another
//! account may be tried while nothing has been written to the client + human context.
//!
//! Callers decide policy from [`ErrorKind`] (and [`UpstreamError::failure_class`]), never from the
//! context text, which exists only for logs. The context never contains secrets (proxy passwords,
//! tokens): every constructor site passes host names, ports and static words only.

use crate::domain::failure::FailureClass;
use std::borrow::Cow;
use std::fmt;

/// What went wrong, as a closed set. Each kind has one metric label and one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The host name did not resolve (or resolved to nothing).
    Dns,
    /// TCP connect failed (refused, unreachable).
    Connect,
    /// TCP connect (including name resolution) did not finish within `upstream_connect_ms`.
    ConnectTimeout,
    /// TLS handshake failed (certificate, protocol alert, bad server name).
    Tls,
    /// TLS handshake did not finish within `upstream_tls_ms`.
    TlsTimeout,
    /// The outbound proxy refused or broke the tunnel (not an auth problem).
    Proxy,
    /// The outbound proxy rejected our credentials (HTTP 407, SOCKS5 auth failure).
    ProxyAuth,
    /// No complete response head within `upstream_head_ms`.
    HeadTimeout,
    /// No body bytes (or WebSocket frame) for `upstream_idle_ms`.
    IdleTimeout,
    /// The whole exchange exceeded `upstream_total_ms`.
    TotalTimeout,
    /// The peer broke HTTP/1.1, chunked, TLS record or WebSocket framing rules.
    Protocol,
    /// The response head exceeded `upstream_max_head_bytes` (or the header count cap).
    HeadTooLarge,
    /// The response body exceeded `upstream_max_body_bytes` (or a WebSocket message its cap).
    BodyTooLarge,
    /// The connection failed with an io error (reset, broken pipe) mid-exchange.
    Reset,
    /// The peer closed the connection before the response was complete.
    Closed,
    /// The caller gave up (the gateway's client went away); nothing more will be read.
    Cancelled,
    /// Our own request was unusable (bad URL, header with CR/LF, unsupported scheme).
    InvalidRequest,
    /// The WebSocket upgrade was answered with something other than 101 (see `http_status`).
    WsHandshake,
}

impl ErrorKind {
    pub const ALL: [Self; 18] = [
        Self::Dns,
        Self::Connect,
        Self::ConnectTimeout,
        Self::Tls,
        Self::TlsTimeout,
        Self::Proxy,
        Self::ProxyAuth,
        Self::HeadTimeout,
        Self::IdleTimeout,
        Self::TotalTimeout,
        Self::Protocol,
        Self::HeadTooLarge,
        Self::BodyTooLarge,
        Self::Reset,
        Self::Closed,
        Self::Cancelled,
        Self::InvalidRequest,
        Self::WsHandshake,
    ];

    /// Low-cardinality label for metrics (`upstream_errors_total{kind=...}`).
    pub fn metric_label(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::ConnectTimeout => "connect_timeout",
            Self::Tls => "tls",
            Self::TlsTimeout => "tls_timeout",
            Self::Proxy => "proxy",
            Self::ProxyAuth => "proxy_auth",
            Self::HeadTimeout => "head_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::TotalTimeout => "total_timeout",
            Self::Protocol => "protocol",
            Self::HeadTooLarge => "head_too_large",
            Self::BodyTooLarge => "body_too_large",
            Self::Reset => "reset",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::InvalidRequest => "invalid_request",
            Self::WsHandshake => "ws_handshake",
        }
    }

    /// The status the gateway answers with when this error ends a request before any byte was
    /// written: 504 for timeouts, 499 for a cancelled request, 500 for our own bad request,
    /// 502 for everything the upstream (or the path to it) did.
    pub fn status(self) -> u16 {
        match self {
            Self::ConnectTimeout | Self::TlsTimeout | Self::HeadTimeout | Self::IdleTimeout | Self::TotalTimeout => 504,
            Self::Cancelled => 499,
            Self::InvalidRequest => 500,
            _ => 502,
        }
    }

    /// The default for [`UpstreamError::retryable_before_first_byte`]: network-level failures
    /// may be retried on another account; our own bad request, a cancelled request, an exhausted
    /// total budget or an oversized body may not.
    pub fn default_retryable(self) -> bool {
        !matches!(
            self,
            Self::Cancelled | Self::InvalidRequest | Self::TotalTimeout | Self::BodyTooLarge | Self::WsHandshake
        )
    }

    /// Where this kind of failure usually comes from.
    pub fn default_side(self) -> Side {
        match self {
            Self::Proxy | Self::ProxyAuth => Side::Proxy,
            Self::Cancelled | Self::InvalidRequest => Side::Local,
            _ => Side::Upstream,
        }
    }
}

/// Who caused the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The origin server (or the network path to it).
    Upstream,
    /// The configured outbound proxy.
    Proxy,
    /// This process: a bad request, a cancelled one, a local resource problem.
    Local,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Proxy => "proxy",
            Self::Local => "local",
        }
    }
}

/// A failure talking to an upstream. Cheap to build, never matched by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub kind: ErrorKind,
    pub side: Side,
    /// Whether the request may be sent again (to another account) provided nothing has been
    /// written to the gateway's client yet.
    pub retryable_before_first_byte: bool,
    /// For logs only: what we were doing and to which host (never secrets).
    pub context: Cow<'static, str>,
    /// The HTTP status that came with the failure, where there was one (WebSocket upgrade
    /// refused, proxy CONNECT refused).
    pub http_status: Option<u16>,
}

impl UpstreamError {
    pub fn new(kind: ErrorKind, context: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            side: kind.default_side(),
            retryable_before_first_byte: kind.default_retryable(),
            context: context.into(),
            http_status: None,
        }
    }

    /// Same error, different side.
    #[must_use]
    pub fn on(mut self, side: Side) -> Self {
        self.side = side;
        self
    }

    /// Same error, with the HTTP status that came with it.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Same error, with `retryable_before_first_byte` overridden.
    #[must_use]
    pub fn retryable(mut self, yes: bool) -> Self {
        self.retryable_before_first_byte = yes;
        self
    }

    /// An io error while reading or writing an established connection.
    pub fn io(e: &std::io::Error, doing: &str) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::UnexpectedEof => ErrorKind::Closed,
            K::InvalidData => ErrorKind::Protocol,
            _ => ErrorKind::Reset,
        };
        Self::new(kind, format!("{doing}: {e}"))
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn metric_label(&self) -> &'static str {
        self.kind.metric_label()
    }

    /// The failure class of the pool policy, where the transport alone decides it. `None` for
    /// failures that are not the account's or network's fault (cancelled, our bad request) and
    /// for a refused WebSocket upgrade, which the channel classifies from `http_status`.
    pub fn failure_class(&self) -> Option<FailureClass> {
        match self.kind {
            ErrorKind::Cancelled | ErrorKind::InvalidRequest | ErrorKind::WsHandshake => None,
            _ => Some(FailureClass::Network),
        }
    }

    pub fn is_timeout(&self) -> bool {
        self.kind.status() == 504
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream {} error ({}): {}", self.side.as_str(), self.kind.metric_label(), self.context)?;
        if let Some(s) = self.http_status {
            write!(f, " [status {s}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_statuses_sane() {
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.metric_label()), "duplicate label {}", k.metric_label());
            assert!(matches!(k.status(), 499 | 500 | 502 | 504));
        }
        assert_eq!(ErrorKind::HeadTimeout.status(), 504);
        assert_eq!(ErrorKind::Connect.status(), 502);
    }

    #[test]
    fn defaults_follow_the_policy() {
        let e = UpstreamError::new(ErrorKind::ProxyAuth, "proxy 127.0.0.1:1");
        assert_eq!(e.side, Side::Proxy);
        assert!(e.retryable_before_first_byte);
        assert!(!UpstreamError::new(ErrorKind::Cancelled, "x").retryable_before_first_byte);
        assert_eq!(UpstreamError::new(ErrorKind::Reset, "x").failure_class(), Some(FailureClass::Network));
        assert!(e.to_string().contains("proxy_auth"));
    }
}
