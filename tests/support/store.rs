//! Store test helpers: temp dirs, unique Redis prefixes, a runtime to run async tests on,
//! and throwaway redis-server processes.

use orchids2api::store::{RedisSettings, StoreApi, StoreHub};
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("orchids-{}", unique(tag)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `f` on a fresh monoio runtime (epoll driver, timers on).
pub fn run<F: Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(f)
}

/// Settings for the shared test Redis at 127.0.0.1:6379 with a prefix unique to this call.
pub fn redis_settings(tag: &str) -> RedisSettings {
    RedisSettings { prefix: format!("orchids-test:{}:", unique(tag)), ..RedisSettings::default() }
}

/// Deletes every key under the hub's prefix (SCAN + DEL).
pub fn purge(hub: &StoreHub) {
    let store = hub.handle();
    run(async move {
        if let orchids2api::store::Store::Redis(r) = &store {
            r.purge().await.unwrap();
        }
        let _ = store.health();
    });
}

/// Purges a test prefix when dropped, so a failing test cleans up after itself too.
#[derive(Debug)]
pub struct PurgeOnDrop(pub RedisSettings);

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        if let Ok(hub) = StoreHub::open_with(&orchids2api::store::StoreSettings::redis(self.0.clone())) {
            purge(&hub);
            hub.close();
        }
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway `redis-server` without persistence on `port`; killed on drop.
#[derive(Debug)]
pub struct TempRedis {
    pub port: u16,
    child: Child,
}

impl TempRedis {
    #[expect(clippy::disallowed_methods, reason = "bounded polling in a test helper, not a worker")]
    pub fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server on port {port} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it is true or `within` passes.
#[expect(clippy::disallowed_methods, reason = "bounded polling in a test helper, not a worker")]
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
