//! Test support for the upstream client: local servers (plain and TLS HTTP, CONNECT and SOCKS5
//! proxies, a WebSocket echo server) built on std threads and blocking sockets, a throw-away CA,
//! runtime helpers and an RSS probe. Included by `tests/upstream_*.rs` as
//! `pub mod upstream_support;` (public, so helpers one test file does not use are not dead code).

pub mod http_server;
pub mod proxies;
pub mod tls_ca;
pub mod ws_server;

use orchids2api::upstream::{ClientSettings, UpstreamClient, UpstreamShared, UpstreamTimeouts};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `make()` to completion on the epoll driver, then again on io_uring where the kernel
/// allows it (cancel-safety differs between the two, so both are exercised).
pub fn on_each_driver<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("epoll runtime")
        .block_on(make());
    if monoio::utils::detect_uring() {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()
            .expect("io_uring runtime")
            .block_on(make());
    }
}

/// Runs one future on the epoll driver.
pub fn run<Fut: Future>(fut: Fut) -> Fut::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().expect("epoll runtime").block_on(fut)
}

/// Settings with generous but finite timeouts for tests.
pub fn settings() -> ClientSettings {
    let mut s = ClientSettings::default_runtime();
    s.timeouts = UpstreamTimeouts {
        connect: Duration::from_secs(10),
        tls: Duration::from_secs(10),
        head: Duration::from_secs(20),
        idle: Duration::from_secs(20),
        total: Duration::from_secs(60),
    };
    s
}

pub fn client_with(settings: ClientSettings, extra_ca: Option<&Path>) -> UpstreamClient {
    UpstreamClient::new(UpstreamShared::new(settings, extra_ca).expect("upstream shared"))
}

pub fn client() -> UpstreamClient {
    client_with(settings(), None)
}

/// Polls `cond` until it holds or `limit` passes (from async code: yields to the runtime).
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// Resident set size of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("o2a-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
