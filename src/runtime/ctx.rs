//! `Worker`: the per-core context every connection on one worker thread shares.
//!
//! It is `!Send` by construction (`Cell`, `Rc` inside), so per-core state cannot leak to another
//! thread by accident. Cross-core facts live in [`Shared`] (immutable, `Arc`) or arrive as
//! [`super::control::Control`] messages.

use crate::config::Config;
use crate::store::{Store, StoreHub};
use std::cell::{Cell, OnceCell, RefCell};
use std::sync::Arc;
use std::time::Instant;

/// Facts about the whole process, the same on every worker.
#[derive(Debug)]
pub struct Shared {
    pub started: Instant,
    /// `"io_uring"` or `"epoll"`.
    pub driver: &'static str,
    pub workers: usize,
    pub version: &'static str,
    /// Upstream client settings, the one TLS config and the resolver threads.
    pub upstream: Arc<crate::upstream::UpstreamShared>,
    /// The store opened at start (`None` only in tests that build a bare runtime).
    pub store: Option<Arc<StoreHub>>,
    /// The account-pool snapshot built at start; each worker's [`crate::pool::Shard`] starts
    /// from it, later snapshots arrive as `Control::Accounts`.
    pub pool_init: Arc<crate::pool::Snapshot>,
}

/// One worker thread's context.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    config: RefCell<Arc<Config>>,
    pub shared: Arc<Shared>,
    /// Given once this worker starts draining; idle connections wait on it so shutdown can cut
    /// them.
    pub closing: super::closing::Closing,
    open_conns: Cell<usize>,
    in_flight: Cell<usize>,
    /// Front-end state (models, keys, channels) derived from the current config.
    pub front: crate::proxy::FrontCache,
    /// This core's upstream client (pool, DNS cache), made on first use.
    upstream: std::cell::OnceCell<crate::upstream::UpstreamClient>,
    store: OnceCell<Store>,
    /// This core's account-pool shard, made on first use from `shared.pool_init`.
    pool: OnceCell<crate::pool::Shard>,
    /// Account counters not yet written to the store (`accounts::counters`).
    pub counters: std::rc::Rc<crate::accounts::counters::CounterBatch>,
    /// Store writes spawned off the response path and not finished yet ([`Worker::spawn_write`]).
    writes: std::rc::Rc<Cell<usize>>,
}

/// Counts one spawned store write while it lives (also when the task is dropped unfinished).
struct WriteGuard(std::rc::Rc<Cell<usize>>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl Worker {
    pub fn new(id: usize, config: Arc<Config>, shared: Arc<Shared>) -> Self {
        Self {
            id,
            config: RefCell::new(config),
            shared,
            closing: super::closing::Closing::default(),
            open_conns: Cell::new(0),
            in_flight: Cell::new(0),
            front: crate::proxy::FrontCache::default(),
            upstream: std::cell::OnceCell::new(),
            store: OnceCell::new(),
            pool: OnceCell::new(),
            counters: std::rc::Rc::default(),
            writes: std::rc::Rc::default(),
        }
    }

    /// Spawns a store write off the response path, counted so a draining worker can wait for
    /// its writes to finish before its runtime ends (a store reply to a task whose runtime is
    /// gone can hang the store's thread).
    pub fn spawn_write(&self, write: impl std::future::Future<Output = ()> + 'static) {
        let counter = std::rc::Rc::clone(&self.writes);
        counter.set(counter.get() + 1);
        let guard = WriteGuard(counter);
        monoio::spawn(async move {
            let _guard = guard;
            write.await;
        });
    }

    /// Store writes still running.
    pub fn pending_writes(&self) -> usize {
        self.writes.get()
    }

    /// This worker's store handle (set once at worker start).
    pub fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    pub fn set_store(&self, store: Store) {
        let _ = self.store.set(store);
    }

    /// This core's account-pool shard (selection, failure policy, explain).
    pub fn pool(&self) -> &crate::pool::Shard {
        self.pool.get_or_init(|| {
            crate::pool::Shard::new(
                Arc::clone(&self.shared.pool_init),
                self.config().pool,
                crate::pool::Clock::system(),
            )
        })
    }

    /// The current config snapshot (cheap `Arc` clone; never hold a borrow across `.await`).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }

    /// Swaps in a new snapshot; connections pick it up at their next request.
    pub fn set_config(&self, cfg: Arc<Config>) {
        if let Some(shard) = self.pool.get() {
            shard.set_config(cfg.pool);
        }
        *self.config.borrow_mut() = cfg;
    }

    /// This core's upstream client (its own keep-alive pool and DNS cache).
    pub fn upstream(&self) -> &crate::upstream::UpstreamClient {
        self.upstream.get_or_init(|| crate::upstream::UpstreamClient::new(Arc::clone(&self.shared.upstream)))
    }

    pub fn draining(&self) -> bool {
        self.closing.is_closed()
    }

    /// Starts draining: wakes every connection waiting idle (and the accept loop).
    pub fn start_draining(&self) {
        self.closing.close();
    }

    pub fn open_conns(&self) -> usize {
        self.open_conns.get()
    }

    /// Requests being handled or streamed right now on this worker.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Counts a connection for as long as the guard lives.
    pub fn conn_guard(&self) -> CountGuard<'_> {
        CountGuard::new(&self.open_conns)
    }

    /// Counts an in-flight request for as long as the guard lives.
    pub fn request_guard(&self) -> CountGuard<'_> {
        CountGuard::new(&self.in_flight)
    }
}

/// Increments a counter now and decrements it on drop.
#[derive(Debug)]
pub struct CountGuard<'a> {
    cell: &'a Cell<usize>,
}

impl<'a> CountGuard<'a> {
    fn new(cell: &'a Cell<usize>) -> Self {
        cell.set(cell.get() + 1);
        Self { cell }
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.cell.set(self.cell.get().saturating_sub(1));
    }
}
