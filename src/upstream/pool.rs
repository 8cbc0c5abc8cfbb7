//! One core's keep-alive pool of upstream connections.
//!
//! Keyed by (TLS or not, host, port, proxy); LIFO per key (the most recently used connection is
//! the one least likely to have been closed by the server); at most
//! `upstream_pool_max_idle_per_origin` idle per key (the oldest is closed first); an idle
//! connection older than `upstream_pool_idle_ms` is closed instead of reused. A sweeper task
//! holding only a `Weak` closes expired connections and dies with the pool.
//!
//! Only [`super::body::ResponseBody`] puts connections back, and only after the whole response
//! was read, the server allowed keep-alive, no stray bytes followed and no timeout hit the
//! connection. Everything else is dropped, which closes it.
//!
//! # Concurrency note
//! Per core (`Rc<RefCell>`); borrows never cross an `.await`.

use super::conn::Connection;
use super::proxy::ProxyConfig;
use crate::util::fast_hash::FastMap;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What makes two connections interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub tls: bool,
    pub host: Arc<str>,
    pub port: u16,
    pub proxy: Option<Arc<ProxyConfig>>,
}

#[derive(Debug)]
struct Idle {
    conn: Connection,
    since: Instant,
}

/// Counters for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections handed out from the pool.
    pub reused: u64,
    /// Connections accepted back.
    pub returned: u64,
    /// Idle connections closed for age or over the cap.
    pub evicted: u64,
}

#[derive(Debug)]
pub struct Pool {
    /// Oldest first. A key's list stays in the map when it empties (the sweep drops empty ones),
    /// so a request that takes the only idle connection and gives it back does not remove and
    /// re-create the entry each time.
    idle: RefCell<FastMap<PoolKey, VecDeque<Idle>>>,
    max_per_origin: usize,
    idle_timeout: Duration,
    stats: Cell<PoolStats>,
    sweeper: Cell<bool>,
}

impl Pool {
    pub fn new(max_per_origin: usize, idle_timeout: Duration) -> Rc<Self> {
        Rc::new(Self {
            idle: RefCell::new(FastMap::default()),
            max_per_origin,
            idle_timeout,
            stats: Cell::new(PoolStats::default()),
            sweeper: Cell::new(false),
        })
    }

    /// The most recently returned live connection for `key`, if any.
    pub fn take(&self, key: &PoolKey) -> Option<Connection> {
        let now = Instant::now();
        let mut map = self.idle.borrow_mut();
        let list = map.get_mut(key)?;
        let mut evicted = 0;
        let found = loop {
            let Some(idle) = list.pop_back() else { break None };
            if now.duration_since(idle.since) < self.idle_timeout {
                break Some(idle.conn);
            }
            evicted += 1;
        };
        drop(map);
        self.bump(|s| {
            s.evicted += evicted;
            s.reused += u64::from(found.is_some());
        });
        found
    }

    /// Accepts a connection whose exchange finished cleanly.
    pub fn put(self: &Rc<Self>, key: PoolKey, mut conn: Connection) {
        if self.max_per_origin == 0 || self.idle_timeout.is_zero() {
            return;
        }
        conn.served += 1;
        let mut evicted = 0;
        {
            let mut map = self.idle.borrow_mut();
            let list = map.entry(key).or_default();
            list.push_back(Idle { conn, since: Instant::now() });
            while list.len() > self.max_per_origin {
                list.pop_front();
                evicted += 1;
            }
        }
        self.bump(|s| {
            s.returned += 1;
            s.evicted += evicted;
        });
        self.ensure_sweeper();
    }

    /// Closes every idle connection past its idle timeout.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut evicted = 0;
        self.idle.borrow_mut().retain(|_, list| {
            let before = list.len();
            list.retain(|i| now.duration_since(i.since) < self.idle_timeout);
            evicted += (before - list.len()) as u64;
            !list.is_empty()
        });
        self.bump(|s| s.evicted += evicted);
    }

    /// Idle connections held now.
    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(VecDeque::len).sum()
    }

    pub fn stats(&self) -> PoolStats {
        self.stats.get()
    }

    /// Closes every idle connection (shutdown, proxy change).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }

    fn bump(&self, f: impl FnOnce(&mut PoolStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Starts the sweeper on first use (we are inside the runtime then).
    fn ensure_sweeper(self: &Rc<Self>) {
        if self.sweeper.replace(true) {
            return;
        }
        let weak: Weak<Self> = Rc::downgrade(self);
        let every = (self.idle_timeout / 2).max(Duration::from_millis(500));
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(every).await;
                let Some(pool) = weak.upgrade() else { return };
                pool.sweep();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::transport::Transport;
    use bytes::BytesMut;

    fn key() -> PoolKey {
        PoolKey { tls: false, host: Arc::from("127.0.0.1"), port: 1, proxy: None }
    }

    /// A connection to a throwaway listener, told apart by the marker in its read buffer.
    async fn conn(listener: &std::net::TcpListener, marker: &str) -> Connection {
        let tcp = monoio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        Connection::new(Transport::plain(tcp), BytesMut::from(marker))
    }

    fn marker(c: Option<Connection>) -> Option<String> {
        c.map(|c| String::from_utf8(c.rbuf.to_vec()).unwrap())
    }

    fn run(f: impl std::future::Future<Output = ()>) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(f);
    }

    #[test]
    fn newest_first_and_the_oldest_evicted_past_the_cap() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        run(async {
            let pool = Pool::new(2, Duration::from_secs(60));
            for m in ["a", "b", "c"] {
                pool.put(key(), conn(&listener, m).await);
            }
            assert_eq!(pool.idle_count(), 2);
            assert_eq!(pool.stats().evicted, 1);
            assert_eq!(marker(pool.take(&key())).as_deref(), Some("c"));
            // Taking the last one keeps the key's (empty) list; the next put reuses it.
            assert_eq!(marker(pool.take(&key())).as_deref(), Some("b"));
            assert_eq!(marker(pool.take(&key())), None);
            pool.put(key(), conn(&listener, "d").await);
            assert_eq!(marker(pool.take(&key())).as_deref(), Some("d"));
            assert_eq!(pool.stats().reused, 3);
            // The sweep drops emptied lists.
            pool.sweep();
            assert!(pool.idle.borrow().is_empty());
        });
    }

    #[test]
    fn expired_connections_are_closed_not_reused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        run(async {
            let pool = Pool::new(8, Duration::from_millis(300));
            pool.put(key(), conn(&listener, "old").await);
            monoio::time::sleep(Duration::from_millis(400)).await;
            pool.put(key(), conn(&listener, "new").await);
            assert_eq!(marker(pool.take(&key())).as_deref(), Some("new"));
            assert_eq!(marker(pool.take(&key())), None);
            assert_eq!(pool.stats().evicted, 1);
            let zero = Pool::new(0, Duration::from_secs(60));
            zero.put(key(), conn(&listener, "x").await);
            assert_eq!(zero.idle_count(), 0, "a cap of 0 disables pooling");
        });
    }
}
