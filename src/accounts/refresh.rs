//! Running token refreshes for the gateway: which refresher and lock an account gets, and what
//! a refresh's outcome writes to the store.
//!
//! Key components:
//! - [`ensure_fresh`]: the request path (after taking a slot): the definition to send, refreshed
//!   first when its token is about to expire (the channel's refresher, the store lock; never
//!   waits for another instance).
//! - [`after_401`]: the background refresh a 401 asks for (spawned on the worker).
//! - [`refresh_and_settle`]: one background refresh (after a 401, or by the sweeper) and its
//!   persistence: a rejection persists `disabled(auth)` and records the refresher's message as
//!   the account's last error; any other status change (a 401 cooldown lifted, a
//!   `refresh_failed` cooldown) persists the new status. New credentials are saved by the lock
//!   (`StoreLock::save`) before it is released.

use super::lock::StoreLock;
use super::persist;
use crate::channel::refresh::ChannelRefresher;
use crate::domain::{AccountDef, FailureClass};
use crate::pool::{Lease, RefreshFailure, Shard};
use crate::runtime::ctx::Worker;
use crate::store::Store;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The store lock a worker uses (TTL `pool.refresh_timeout_ms`).
pub fn lock_for(store: Option<Store>, refresh_timeout_ms: u64) -> StoreLock {
    StoreLock::new(store, Duration::from_millis(refresh_timeout_ms))
}

/// The definition a request holding `lease` should send (see the module docs). A refresh it
/// ran that changed the account's status (rejected: `disabled(auth)`; transient on an expired
/// token: `refresh_failed`) is persisted like a background one, off the response path.
pub async fn ensure_fresh(worker: &Worker, lease: &Lease) -> Result<Arc<AccountDef>, RefreshFailure> {
    let cfg = worker.config();
    let refresher = ChannelRefresher::for_channel(&cfg, lease.def().channel);
    let lock = lock_for(worker.store().cloned(), cfg.pool.refresh_timeout_ms);
    let shard = worker.pool();
    let before = lease.account().status(shard.now_ms());
    let out = shard.ensure_fresh(lease, &refresher, &lock).await;
    if let Err(e) = &out {
        let after = lease.account().status(shard.now_ms());
        if after != before {
            persist::status(worker, lease.id(), after);
        }
        if let (RefreshFailure::Rejected(m), Some(store)) = (e, worker.store()) {
            log::warn!("account {} disabled (auth): token refresh rejected: {m}", lease.id());
            let (store, id, msg) = (store.clone(), lease.id().to_owned(), format!("token refresh rejected: {m}"));
            monoio::spawn(async move { persist::write_error(&store, &id, FailureClass::Auth, &msg).await });
        }
    }
    out
}

/// Runs the single-flight refresh a 401 asked for, in the background on this worker.
pub fn after_401(worker: &Rc<Worker>, id: &str) {
    let w = Rc::clone(worker);
    let id = id.to_owned();
    monoio::spawn(async move {
        let shard = w.pool();
        let Some(acc) = shard.account(&id) else { return };
        let cfg = w.config();
        let refresher = ChannelRefresher::for_channel(&cfg, acc.def().channel);
        let lock = lock_for(w.store().cloned(), cfg.pool.refresh_timeout_ms);
        refresh_and_settle(shard, w.store(), &refresher, &lock, &id, "after a 401").await;
    });
}

/// One background refresh of `id` and its persistence (module docs). `why` is for the log.
pub async fn refresh_and_settle(
    shard: &Shard,
    store: Option<&Store>,
    refresher: &ChannelRefresher,
    lock: &StoreLock,
    id: &str,
    why: &str,
) {
    let Some(acc) = shard.account(id) else { return };
    let before = acc.status(shard.now_ms());
    let result = shard.refresh(id, refresher, lock).await;
    match &result {
        Ok(r) if r.leader => log::info!("account {id}: token refreshed ({why})"),
        Ok(_) => log::info!("account {id}: token refreshed by another instance or worker ({why})"),
        Err(RefreshFailure::Rejected(m)) => log::warn!("account {id} disabled (auth): token refresh rejected: {m}"),
        Err(e) => log::info!("account {id}: {e} ({why})"),
    }
    let Some(store) = store else { return };
    let Some(acc) = shard.account(id) else { return };
    let after = acc.status(shard.now_ms());
    if after != before {
        persist::write_status(store, id, &after).await;
    }
    if let Err(RefreshFailure::Rejected(m)) = &result {
        persist::write_error(store, id, FailureClass::Auth, &format!("token refresh rejected: {m}")).await;
    }
}
