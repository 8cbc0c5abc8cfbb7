//! The per-core upstream HTTP client: [`UpstreamClient::send`] turns a [`Request`] into a
//! [`Response`] whose body streams as `Bytes` chunks.
//!
//! Flow: pick the proxy (request option, else the config default, unless `no_proxy` matches)
//! -> take a pooled connection or establish one (DNS, connect, proxy, TLS) -> write the request
//! -> read the head (`upstream_head_ms`) -> hand back the head and a streaming body
//! (`upstream_idle_ms` between reads, `upstream_total_ms` overall).
//!
//! A pooled connection that the server closed while idle fails the first write or read with
//! nothing received; such a request (if its body can be replayed) is sent once more on a fresh
//! connection. Any other failure is returned as is.
//!
//! Cancellation: dropping the `send` future or the body drops the connection, which closes it.

use super::body::{ResponseBody, Return};
use super::conn::{Connection, RequestBody, Wire, encode_request};
use super::connect::{Dial, PhaseDeadline, establish};
use super::dns::DnsCache;
use super::error::{ErrorKind, UpstreamError};
use super::pool::{Pool, PoolKey, PoolStats};
use super::proxy::ProxyConfig;
use super::response_head::{ResponseHead, response_framing};
use super::settings::{UpstreamShared, UpstreamTimeouts};
use super::url::Target;
use http::{HeaderName, HeaderValue, Method};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Which proxy a request uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// The config's `upstream_proxy` (if any), unless `no_proxy` matches the host.
    #[default]
    Default,
    /// Connect directly whatever the config says.
    Direct,
    /// This proxy (e.g. an account's own), unless `no_proxy` matches the host.
    Via(Arc<ProxyConfig>),
}

/// Per-request overrides of the client settings.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub proxy: ProxyChoice,
    /// Replaces the configured timeouts for this request.
    pub timeouts: Option<UpstreamTimeouts>,
    /// Replaces `upstream_max_body_bytes` for this request.
    pub max_body_bytes: Option<u64>,
    /// Use (and return to) the keep-alive pool; on by default.
    pub no_pool: bool,
}

/// An outgoing request.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub target: Target,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: RequestBody,
    pub options: RequestOptions,
    invalid_header: Option<String>,
}

impl Request {
    /// A request to an absolute `http(s)://` URL.
    pub fn new(method: Method, url: &str) -> Result<Self, UpstreamError> {
        Self::to(method, Target::parse(url)?)
    }

    /// A request to a target parsed beforehand (a channel parses its fixed URLs once, not per
    /// request).
    pub fn to(method: Method, target: Target) -> Result<Self, UpstreamError> {
        if target.websocket {
            return Err(UpstreamError::new(
                ErrorKind::InvalidRequest,
                "ws:// URLs go through UpstreamClient::websocket",
            ));
        }
        Ok(Self {
            method,
            target,
            // Room for what a channel sets (auth, content type, accept, a few more) in one go.
            headers: Vec::with_capacity(8),
            body: RequestBody::Empty,
            options: RequestOptions::default(),
            invalid_header: None,
        })
    }

    pub fn get(url: &str) -> Result<Self, UpstreamError> {
        Self::new(Method::GET, url)
    }

    pub fn post(url: &str, body: impl Into<bytes::Bytes>) -> Result<Self, UpstreamError> {
        Ok(Self::new(Method::POST, url)?.body(RequestBody::Full(body.into())))
    }

    /// [`Request::post`] to a parsed target.
    pub fn post_to(target: Target, body: impl Into<bytes::Bytes>) -> Result<Self, UpstreamError> {
        Ok(Self::to(Method::POST, target)?.body(RequestBody::Full(body.into())))
    }

    /// Adds a header. An invalid name or value (CR, LF, NUL, ...) makes `send` fail with
    /// `InvalidRequest` naming the header (never its value, which may be a secret).
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_ref())) {
            (Ok(n), Ok(v)) => self.headers.push((n, v)),
            _ => self.invalid_header = Some(name.chars().take(64).collect()),
        }
        self
    }

    /// Adds a header with a known name and a value already in a `Bytes` (a static string, or a
    /// formatted one handed over): no name lookup and no copy of the value. In place, not a
    /// by-value builder, so a request built on the hot path is not moved (a copy of about 340
    /// bytes) once per header. An invalid value fails `send` as [`Request::header`] says.
    pub fn push_header_bytes(&mut self, name: HeaderName, value: bytes::Bytes) {
        match HeaderValue::from_maybe_shared(value) {
            Ok(v) => self.headers.push((name, v)),
            Err(_) => self.invalid_header = Some(name.as_str().chars().take(64).collect()),
        }
    }

    #[must_use]
    pub fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    #[must_use]
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    pub(crate) fn check_headers(&self) -> Result<(), UpstreamError> {
        match &self.invalid_header {
            Some(name) => Err(UpstreamError::new(
                ErrorKind::InvalidRequest,
                format!("invalid header {name:?} (bad name or value)"),
            )),
            None => Ok(()),
        }
    }
}

/// A response: status and headers now, body as it arrives.
#[derive(Debug)]
pub struct Response {
    pub head: ResponseHead,
    pub body: ResponseBody,
    /// The exchange ran on a connection taken from the pool.
    pub reused_connection: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.head.header_str(name)
    }
}

/// One core's client: its pool and DNS cache over the process-wide settings, TLS config and
/// resolver. Cheap to clone (`Rc`).
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<UpstreamShared>,
    pool: Rc<Pool>,
    dns: DnsCache,
}

impl UpstreamClient {
    pub fn new(shared: Arc<UpstreamShared>) -> Self {
        let l = shared.settings.limits;
        let pool = Pool::new(l.pool_max_idle_per_origin, l.pool_idle);
        let dns = DnsCache::new(shared.resolver.clone(), shared.settings.dns_ttl);
        Self { inner: Rc::new(Inner { shared, pool, dns }) }
    }

    pub fn shared(&self) -> &Arc<UpstreamShared> {
        &self.inner.shared
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    pub(crate) fn dns(&self) -> &DnsCache {
        &self.inner.dns
    }

    /// The proxy a request to `host` goes through.
    pub fn proxy_for(&self, host: &str, choice: &ProxyChoice) -> Option<Arc<ProxyConfig>> {
        let s = &self.inner.shared.settings;
        let proxy = match choice {
            ProxyChoice::Direct => None,
            ProxyChoice::Default => s.proxy.clone(),
            ProxyChoice::Via(p) => Some(Arc::clone(p)),
        };
        proxy.filter(|_| !s.no_proxy.matches(host))
    }

    /// Sends `req` and returns once the response head has arrived.
    pub async fn send(&self, mut req: Request) -> Result<Response, UpstreamError> {
        req.check_headers()?;
        let settings = &self.inner.shared.settings;
        let timeouts = req.options.timeouts.unwrap_or(settings.timeouts);
        let max_body = req.options.max_body_bytes.unwrap_or(settings.limits.max_body_bytes);
        let total = Instant::now() + timeouts.total;
        let proxy = self.proxy_for(&req.target.host, &req.options.proxy);
        let key = PoolKey {
            tls: req.target.scheme.is_tls(),
            host: Arc::clone(&req.target.host),
            port: req.target.port,
            proxy: proxy.clone(),
        };
        // Encoded once (a small whole body appended: one write); a retry resends the same bytes.
        let wire = encode_request(&req.method, &req.target, &req.headers, &req.body);
        let use_pool = !req.options.no_pool;
        let mut retried = false;
        loop {
            let pooled = if use_pool { self.inner.pool.take(&key) } else { None };
            let reused = pooled.is_some();
            let mut conn = if let Some(c) = pooled {
                c
            } else {
                let dial =
                    Dial { host: &req.target.host, port: req.target.port, tls: key.tls, proxy: proxy.as_deref() };
                // Boxed: a new connection is the cold path, and its future (DNS, TCP, TLS,
                // proxy tunnel) would otherwise size every request's future.
                Box::pin(establish(&self.inner.shared, &self.inner.dns, dial, &timeouts, total)).await?
            };
            match exchange(&mut conn, wire.clone(), &mut req, &timeouts, total, settings.limits.max_head_bytes).await {
                Ok(head) => {
                    let framing = response_framing(&head, req.method == Method::HEAD).map_err(|e| {
                        UpstreamError::new(ErrorKind::Protocol, format!("{}: {}", req.target.host, e.message()))
                    })?;
                    let ret = use_pool.then(|| Return { pool: Rc::clone(&self.inner.pool), key: key.clone() });
                    let body = ResponseBody::new(
                        framing.body,
                        framing.keep_alive,
                        conn,
                        ret,
                        timeouts.idle,
                        total,
                        max_body,
                        &req.target.host,
                    );
                    return Ok(Response { head, body, reused_connection: reused });
                }
                Err(e) => {
                    let stale = reused
                        && conn.rbuf.is_empty()
                        && matches!(e.kind, ErrorKind::Closed | ErrorKind::Reset)
                        && req.body.replayable();
                    if stale && !retried {
                        retried = true;
                        log::debug!(
                            "pooled connection to {} was stale ({e}); retrying on a fresh one",
                            req.target.authority()
                        );
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Writes the request and reads the response head.
async fn exchange(
    conn: &mut Connection,
    head: Wire,
    req: &mut Request,
    timeouts: &UpstreamTimeouts,
    total: Instant,
    max_head: usize,
) -> Result<ResponseHead, UpstreamError> {
    let deadline = PhaseDeadline::new(timeouts.head, total);
    let host = req.target.host.clone();
    // The write has no deadline of its own; the head deadline covers write + wait. The block is
    // pinned in place (`pin!`), so the future holds one copy of it.
    let io = std::pin::pin!(async {
        conn.send_request(head, &mut req.body, &host).await?;
        conn.read_response_head(deadline, max_head, false, &host).await
    });
    match crate::runtime::coarse_timer::timeout_at(deadline.at, io).await {
        Ok(r) => r,
        Err(_) => Err(deadline.expired(ErrorKind::HeadTimeout, format!("no response head from {host} in time"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, AUTHORIZATION};

    #[test]
    fn an_invalid_header_value_fails_the_request_naming_only_the_header() {
        let mut ok = Request::post("http://127.0.0.1:9/x", "{}").unwrap();
        ok.push_header_bytes(ACCEPT, bytes::Bytes::from_static(b"application/json"));
        assert!(ok.check_headers().is_ok());
        assert_eq!(ok.headers.len(), 1);

        let mut bad = Request::post("http://127.0.0.1:9/x", "{}").unwrap();
        bad.push_header_bytes(AUTHORIZATION, bytes::Bytes::from_static(b"Bearer secret\r\nx: y"));
        let e = bad.check_headers().unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.context.contains("authorization"), "{}", e.context);
        assert!(!e.to_string().contains("secret"), "the value is never shown: {e}");
        assert!(bad.headers.is_empty());
    }
}
