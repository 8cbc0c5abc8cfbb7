//! What the upstream client is configured with, and the process-wide part of it.
//!
//! - [`UpstreamTimeouts`] / [`UpstreamLimits`]: from `timeouts.upstream_*` and
//!   `limits.upstream_*`; a request may override the timeouts and the body cap.
//! - [`ClientSettings`]: the above plus the default proxy and the `no_proxy` list.
//! - [`UpstreamShared`]: built once at start (`Arc`, `Send + Sync`): the settings, the one rustls
//!   `ClientConfig`, and the resolver threads. Each core builds its own
//!   [`super::UpstreamClient`] (pool, DNS cache) from it.

use super::dns::Resolver;
use super::proxy::{NoProxy, ProxyConfig};
use crate::config::Config;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Time limits of one upstream exchange; each one, when hit, is its own error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// Name resolution + TCP connect + proxy handshake.
    pub connect: Duration,
    /// TLS handshake.
    pub tls: Duration,
    /// From the request being sent until the response head is complete.
    pub head: Duration,
    /// Longest silence between two reads of the body (or two WebSocket frames).
    pub idle: Duration,
    /// The whole exchange, connect to last body byte.
    pub total: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            head: Duration::from_secs(120),
            idle: Duration::from_secs(300),
            total: Duration::from_secs(1800),
        }
    }
}

/// Size and pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// Status line + headers of a response.
    pub max_head_bytes: usize,
    /// Response body bytes (after de-chunking); a request may raise or lower it.
    pub max_body_bytes: u64,
    /// An idle pooled connection is closed after this.
    pub pool_idle: Duration,
    /// Idle connections kept per (scheme, host, port, proxy); 0 disables pooling.
    pub pool_max_idle_per_origin: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 64 * 1024,
            max_body_bytes: 512 * 1024 * 1024,
            pool_idle: Duration::from_secs(90),
            pool_max_idle_per_origin: 1024,
        }
    }
}

/// Everything a per-core client needs to know.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub timeouts: UpstreamTimeouts,
    pub limits: UpstreamLimits,
    /// The default outbound proxy (`upstream_proxy`), if any.
    pub proxy: Option<Arc<ProxyConfig>>,
    pub no_proxy: NoProxy,
    /// How long a resolved name is reused.
    pub dns_ttl: Duration,
    /// Resolver threads for the process.
    pub dns_threads: usize,
}

impl ClientSettings {
    /// Reads the upstream part of a validated config. `Err` only for values the config reader
    /// already rejects (so it cannot happen after `config::load`).
    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        let t = &cfg.timeouts;
        let l = &cfg.limits;
        let proxy = match &cfg.upstream_proxy {
            Some(url) => Some(Arc::new(ProxyConfig::parse(url.expose()).map_err(|e| format!("upstream_proxy: {e}"))?)),
            None => None,
        };
        Ok(Self {
            timeouts: UpstreamTimeouts {
                connect: t.upstream_connect,
                tls: t.upstream_tls,
                head: t.upstream_head,
                idle: t.upstream_idle,
                total: t.upstream_total,
            },
            limits: UpstreamLimits {
                max_head_bytes: l.upstream_max_head_bytes,
                max_body_bytes: l.upstream_max_body_bytes,
                pool_idle: l.upstream_pool_idle,
                pool_max_idle_per_origin: l.upstream_pool_max_idle_per_origin,
            },
            proxy,
            no_proxy: NoProxy::parse(&cfg.no_proxy)?,
            ..Self::default_runtime()
        })
    }

    /// Defaults plus the resolver settings (DNS TTL 60 s, 2 threads).
    pub fn default_runtime() -> Self {
        Self { dns_ttl: Duration::from_secs(60), dns_threads: 2, ..Self::default() }
    }
}

/// The process-wide half: settings, TLS config and resolver, shared by every core.
#[derive(Debug)]
pub struct UpstreamShared {
    pub settings: ClientSettings,
    pub tls: Arc<rustls::ClientConfig>,
    pub resolver: Resolver,
}

impl UpstreamShared {
    /// Builds the shared part; `extra_ca_file` is read here (start-up, cold path).
    pub fn new(settings: ClientSettings, extra_ca_file: Option<&Path>) -> Result<Arc<Self>, String> {
        let tls = super::tls::client_config(extra_ca_file)?;
        let resolver =
            Resolver::start(settings.dns_threads).map_err(|e| format!("cannot start resolver threads: {e}"))?;
        Ok(Arc::new(Self { settings, tls, resolver }))
    }

    /// From a validated config.
    pub fn from_config(cfg: &Config) -> Result<Arc<Self>, String> {
        Self::new(ClientSettings::from_config(cfg)?, cfg.extra_ca_file.as_deref())
    }
}
