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
//! - [`Limited`]: every refresher call is bounded to 3/4 of `pool.refresh_timeout_ms` (the lock's
//!   TTL), so the lock cannot expire under a slow token endpoint and let another instance refresh
//!   the same credentials; a call cut short is a transient failure.

use super::lock::StoreLock;
use super::persist;
use crate::channel::refresh::ChannelRefresher;
use crate::domain::{AccountDef, FailureClass};
use crate::pool::{Lease, NewCredentials, RefreshError, RefreshFailure, Refresher, Shard};
use crate::runtime::ctx::Worker;
use crate::store::Store;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The store lock for refreshes (TTL `pool.refresh_timeout_ms`).
pub fn lock_for(store: Option<Store>, refresh_timeout_ms: u64) -> StoreLock {
    StoreLock::new(store, Duration::from_millis(refresh_timeout_ms))
}

/// The lock for one refresh with `refresher`: the store lock when the channel can refresh; none
/// (always granted, no store round trip) when it cannot — a static rejection has nothing to
/// coordinate, and the 401 then disables the account at once.
fn lock_with(refresher: &Limited<ChannelRefresher>, store: Option<&Store>, refresh_timeout_ms: u64) -> StoreLock {
    lock_for(store.filter(|_| refresher.inner.can_refresh()).cloned(), refresh_timeout_ms)
}

/// A refresher whose calls end within `limit` (module docs).
#[derive(Debug, Clone, Copy)]
pub struct Limited<R> {
    pub inner: R,
    pub limit: Duration,
}

impl Limited<ChannelRefresher> {
    /// The channel's refresher for `channel`, bounded for a lock TTL of `refresh_timeout_ms`.
    pub fn for_channel(cfg: &crate::config::Config, channel: crate::domain::Channel) -> Self {
        Self {
            inner: ChannelRefresher::for_channel(cfg, channel),
            limit: Duration::from_millis(cfg.pool.refresh_timeout_ms.saturating_mul(3) / 4),
        }
    }
}

impl<R: Refresher> Refresher for Limited<R> {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError> {
        match monoio::time::timeout(self.limit, self.inner.refresh(account)).await {
            Ok(r) => r,
            Err(_) => Err(RefreshError::Transient(format!(
                "the token endpoint did not answer within {} ms",
                self.limit.as_millis()
            ))),
        }
    }

    fn expires_ms(&self, account: &AccountDef) -> Option<u64> {
        self.inner.expires_ms(account)
    }
}

/// The definition a request holding `lease` should send (see the module docs). A refresh it
/// ran that changed the account's status (rejected: `disabled(auth)`; transient on an expired
/// token: `refresh_failed`) is persisted like a background one, off the response path.
pub async fn ensure_fresh(worker: &Worker, lease: &Lease) -> Result<Arc<AccountDef>, RefreshFailure> {
    // Most requests: credentials that never expire, or a token far from its end.
    if let Some(def) = worker.pool().fresh_def(lease) {
        return Ok(def);
    }
    let cfg = worker.config();
    let refresher = Limited::for_channel(&cfg, lease.def().channel);
    let lock = lock_with(&refresher, worker.store(), cfg.pool.refresh_timeout_ms);
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
            worker.spawn_write(async move { persist::write_error(&store, &id, FailureClass::Auth, &msg).await });
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
        let refresher = Limited::for_channel(&cfg, acc.def().channel);
        let lock = lock_with(&refresher, w.store(), cfg.pool.refresh_timeout_ms);
        refresh_and_settle(shard, w.store(), &refresher, &lock, &id, "after a 401").await;
    });
}

/// One background refresh of `id` and its persistence (module docs). `why` is for the log.
pub async fn refresh_and_settle<R: Refresher>(
    shard: &Shard,
    store: Option<&Store>,
    refresher: &R,
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;

    impl Refresher for Never {
        async fn refresh(&self, _: &AccountDef) -> Result<NewCredentials, RefreshError> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_refresher_that_never_answers_is_cut_short_as_transient() {
        let d: AccountDef = serde_json::from_value(serde_json::json!({"id": "a", "channel": "grok"})).unwrap();
        let limited = Limited { inner: Never, limit: Duration::from_millis(20) };
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        let r = rt.block_on(limited.refresh(&d));
        assert!(matches!(r, Err(RefreshError::Transient(m)) if m.contains("20 ms")));
    }
}
