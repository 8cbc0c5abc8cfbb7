//! The typed, validated configuration every other module reads.
//!
//! Built once at start by [`super::load`] from `config.json`; shared read-only as `Arc<Config>`.
//! Durations are `Duration`, sizes are `usize`, secrets are [`Secret`] (never printed).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string: its `Debug`/`Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The value itself; call sites are the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where durable state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Embedded,
    Redis,
}

impl StoreMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Redis => "redis",
        }
    }
}

/// Which io driver each worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    Uring,
    Epoll,
}

impl DriverChoice {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "uring" | "io_uring" | "iouring" => Some(Self::Uring),
            "epoll" | "legacy" => Some(Self::Epoll),
            _ => None,
        }
    }
}

/// Size and count limits on what clients may send (`limits` in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Request line + headers, bytes (over -> 431).
    pub max_head_bytes: usize,
    /// Header count (over -> 431).
    pub max_headers: usize,
    /// Request body bytes after de-chunking (over -> 413).
    pub max_body_bytes: usize,
    /// Open client connections per worker; further accepts wait.
    pub max_connections_per_worker: usize,
    /// Upstream response status line + headers, bytes.
    pub upstream_max_head_bytes: usize,
    /// Upstream response body bytes (after de-chunking); a request may override it.
    pub upstream_max_body_bytes: u64,
    /// An idle pooled upstream connection is closed after this.
    pub upstream_pool_idle: Duration,
    /// Idle upstream connections kept per (scheme, host, port, proxy) on each core.
    pub upstream_pool_max_idle_per_origin: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 8 * 1024 * 1024,
            max_connections_per_worker: 10_000,
            upstream_max_head_bytes: 64 * 1024,
            upstream_max_body_bytes: 512 * 1024 * 1024,
            upstream_pool_idle: Duration::from_secs(90),
            upstream_pool_max_idle_per_origin: 1024,
        }
    }
}

/// Time limits (`timeouts` in the file, all in milliseconds there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request until its head is complete.
    pub head_read: Duration,
    /// Longest wait for the next byte of a request body.
    pub body_read: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_idle: Duration,
    /// On SIGINT/SIGTERM, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// An SSE stream with nothing to send gets a heartbeat this often.
    pub sse_heartbeat: Duration,
    /// Upstream name resolution + TCP connect + proxy handshake.
    pub upstream_connect: Duration,
    /// Upstream TLS handshake.
    pub upstream_tls: Duration,
    /// From sending an upstream request until its response head is complete.
    pub upstream_head: Duration,
    /// Longest silence between two reads of an upstream body (or WebSocket frames).
    pub upstream_idle: Duration,
    /// One whole upstream exchange, connect to last byte.
    pub upstream_total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            head_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            keepalive_idle: Duration::from_secs(75),
            shutdown_grace: Duration::from_secs(30),
            sse_heartbeat: Duration::from_secs(15),
            upstream_connect: Duration::from_secs(10),
            upstream_tls: Duration::from_secs(10),
            upstream_head: Duration::from_secs(120),
            upstream_idle: Duration::from_secs(300),
            upstream_total: Duration::from_secs(1800),
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
#[expect(clippy::struct_excessive_bools, reason = "independent on/off keys of the config file, one field each")]
pub struct Config {
    /// The file it came from (for messages).
    pub source: PathBuf,
    pub host: IpAddr,
    pub port: u16,
    pub store_mode: StoreMode,
    pub data_dir: PathBuf,
    pub redis_addr: String,
    pub redis_password: Secret,
    pub redis_db: u32,
    pub redis_prefix: String,
    /// ACL user for `AUTH user password` (empty: `AUTH password` when a password is set).
    pub redis_username: String,
    /// Connect to Redis over TLS (rustls; trust = webpki roots + `extra_ca_file`).
    pub redis_tls: bool,
    /// Per-command timeout (connect, and each reply).
    pub redis_timeout: Duration,
    /// How long a write keeps retrying while Redis is unreachable before it is refused.
    pub redis_retry: Duration,
    /// 64 hex characters sealing account credentials at rest (`ORCHIDS_SECRET_KEY` overrides).
    pub secret_key: Secret,
    pub admin_user: String,
    pub admin_pass: Secret,
    pub admin_path: String,
    pub admin_token: Secret,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// How long a worker's loop keeps polling without sleeping after network activity
    /// (`busy_poll_us`; zero, the default, never spins). See `runtime::busy_poll`.
    pub busy_poll: Duration,
    /// Move the executable's code and constants onto 2 MiB pages at start (`huge_code_pages`,
    /// default on). See `runtime::huge_code`.
    pub huge_code_pages: bool,
    pub public_base_url: Option<String>,
    /// `error | warn | info | debug | trace`.
    pub log_level: log::LevelFilter,
    /// Serve the `/debug/*` diagnostic endpoints (tests and troubleshooting only).
    pub debug_endpoints: bool,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Accounts declared in the file, imported into the store when absent (`accounts`).
    pub accounts: Vec<crate::domain::AccountDef>,
    /// Per-channel upstream settings (`channels`).
    pub channels: super::channels::Channels,
    /// Account pool: attempts, cooldown defaults, windows, stickiness (`pool` in the file).
    pub pool: crate::pool::PoolConfig,
    /// Client API keys accepted on the proxy endpoints (`x-api-key` or `Authorization: Bearer`).
    /// Empty: only loopback clients are served.
    pub api_keys: Vec<Secret>,
    /// Model table overrides and additions (see `docs/config.md`, "Models").
    pub models: Vec<crate::domain::ModelDef>,
    /// Tests only: serve every channel from the scripted in-process test channel.
    pub test_channel: bool,
    /// Default outbound proxy for upstream requests (`http://` or `socks5://`, may carry
    /// credentials, hence a secret).
    pub upstream_proxy: Option<Secret>,
    /// Upstream hosts that bypass the proxy.
    pub no_proxy: Vec<String>,
    /// Extra trusted CA certificates (PEM) for upstream TLS.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: PathBuf::from("config.json"),
            host: IpAddr::from([0, 0, 0, 0]),
            port: 3002,
            store_mode: StoreMode::Embedded,
            data_dir: PathBuf::from("data"),
            redis_addr: "127.0.0.1:6379".to_owned(),
            redis_password: Secret::default(),
            redis_db: 0,
            redis_prefix: "orchids:".to_owned(),
            redis_username: String::new(),
            redis_tls: false,
            redis_timeout: Duration::from_secs(2),
            redis_retry: Duration::from_secs(5),
            secret_key: Secret::default(),
            admin_user: "admin".to_owned(),
            admin_pass: Secret::default(),
            admin_path: "/admin".to_owned(),
            admin_token: Secret::default(),
            workers: 0,
            busy_poll: Duration::ZERO,
            public_base_url: None,
            log_level: log::LevelFilter::Info,
            debug_endpoints: false,
            huge_code_pages: true,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            accounts: Vec::new(),
            channels: super::channels::Channels::default(),
            pool: crate::pool::PoolConfig::default(),
            api_keys: Vec::new(),
            models: Vec::new(),
            test_channel: false,
            upstream_proxy: None,
            no_proxy: Vec::new(),
            extra_ca_file: None,
        }
    }
}

impl Config {
    /// Worker count after resolving `0` to the number of cores.
    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }
}
