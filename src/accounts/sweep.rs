//! The background refresh sweeper: one per process, on the `accounts` thread (see [`super::sync`]).
//!
//! Every `pool.refresh_sweep_ms` it asks its own [`Shard`] (a view of the same snapshot the
//! workers hold, sharing their cross-core state) for the accounts due a refresh
//! ([`Shard::refresh_due`]: a token expiring within `pool.refresh_ahead_ms`, or a 401 still
//! waiting), skips channels that cannot refresh and test-channel default accounts, and spawns one
//! [`refresh_and_settle`] per account with the channel's refresher and the store lock: success
//! saves the new credentials (and the snapshot rebuilt from the store brings every worker and
//! instance along), rejection disables the account (`auth`) with the reason recorded, a
//! transient failure is retried at the next sweep. The cross-core refresh flag keeps the
//! sweeper and a worker from refreshing one account at the same time, and the store lock does
//! the same across instances.

use super::boot::is_test_default;
use super::lock::StoreLock;
use super::refresh::{Limited, lock_for, refresh_and_settle};
use crate::config::Config;
use crate::pool::{Clock, Shard, Snapshot};
use crate::store::Store;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// See the module docs.
#[derive(Debug)]
pub struct Sweeper {
    shard: Rc<Shard>,
    store: Store,
    cfg: Arc<Config>,
    lock: Rc<StoreLock>,
}

impl Sweeper {
    pub fn new(store: Store, cfg: Arc<Config>, snapshot: Arc<Snapshot>) -> Self {
        let shard = Rc::new(Shard::new(snapshot, cfg.pool, Clock::system()));
        let lock = Rc::new(lock_for(Some(store.clone()), cfg.pool.refresh_timeout_ms));
        Self { shard, store, cfg, lock }
    }

    /// Follows a new snapshot.
    pub fn install(&self, snapshot: Arc<Snapshot>) {
        self.shard.install(snapshot);
    }

    /// Time between sweeps; `None` when the sweeper is off.
    pub fn interval(&self) -> Option<Duration> {
        (self.cfg.pool.refresh_sweep_ms > 0).then(|| Duration::from_millis(self.cfg.pool.refresh_sweep_ms))
    }

    /// Starts a refresh of every account due one; returns how many were started.
    pub fn sweep(&self) -> usize {
        let mut started = 0;
        for acc in self.shard.refresh_due() {
            let refresher = Limited::for_channel(&self.cfg, acc.def().channel);
            if !refresher.inner.can_refresh() || is_test_default(acc.def()) {
                continue;
            }
            let (shard, store, lock) = (Rc::clone(&self.shard), self.store.clone(), Rc::clone(&self.lock));
            let id = acc.id().to_owned();
            monoio::spawn(async move {
                refresh_and_settle(&shard, Some(&store), &refresher, &lock, &id, "ahead of expiry").await;
            });
            started += 1;
        }
        started
    }
}
