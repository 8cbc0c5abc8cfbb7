//! [`StoreLock`]: the pool's [`InstanceLock`] over the store, so one account's token refresh runs
//! on one instance at a time (redis mode: a short `SET NX PX` lock every instance sees).
//!
//! - `try_lock`: the store lock `refresh:<account id>` with a fresh random owner token for
//!   `pool.refresh_timeout_ms` (a holder that dies frees it by expiry). Without a store (tests
//!   with a bare runtime, and channels that cannot refresh: nothing to coordinate) it is always
//!   granted and nothing is read or saved. While the store is degraded it answers `Failed`
//!   at once instead of waiting out `redis_retry_ms`: no refresh is better than one whose new
//!   credentials cannot be saved (a rotated refresh token would be lost).
//! - `stored`: the account as stored now (read under the lock; see the pool's protocol).
//! - `save`: `put_account` of the refreshed definition, under the lock; it announces
//!   `AccountPut`, which rebuilds the snapshot on every instance. Test-channel default accounts
//!   (never stored) are not saved.
//! - `unlock`: compare-and-delete with the owner token taken by `try_lock`.
//! - `pause`: [`PAUSE_MS`] between tries while another instance holds the lock.
//!
//! Error handling: store failures are logged here and become `Failed` (lock) or "unknown"
//! (`stored`); a failed save keeps the new credentials in memory only (logged as a warning).

use super::boot::is_test_default;
use crate::domain::AccountDef;
use crate::pool::{InstanceLock, LockAttempt};
use crate::store::{Store, StoreApi, random_id};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Wait between lock tries while another instance refreshes.
pub const PAUSE_MS: u64 = 50;

/// See the module docs.
#[derive(Debug)]
pub struct StoreLock {
    store: Option<Store>,
    ttl: Duration,
    /// Owner tokens of the locks this handle holds, by account id.
    held: RefCell<HashMap<String, String>>,
}

fn lock_name(account_id: &str) -> String {
    format!("refresh:{account_id}")
}

impl StoreLock {
    /// Locks on `store` (none: always granted) for `ttl`.
    pub fn new(store: Option<Store>, ttl: Duration) -> Self {
        Self { store, ttl, held: RefCell::new(HashMap::new()) }
    }
}

impl InstanceLock for StoreLock {
    async fn try_lock(&self, account_id: &str) -> LockAttempt {
        let Some(store) = &self.store else {
            return LockAttempt::Acquired;
        };
        let health = store.health();
        if !health.is_ok() {
            return LockAttempt::Failed(format!("store {}: refresh postponed", health.as_str()));
        }
        let token = random_id();
        match store.try_lock(&lock_name(account_id), &token, self.ttl).await {
            Ok(true) => {
                self.held.borrow_mut().insert(account_id.to_owned(), token);
                LockAttempt::Acquired
            }
            Ok(false) => LockAttempt::HeldElsewhere,
            Err(e) => {
                log::warn!("accounts: refresh lock for {account_id} unavailable: {e}");
                LockAttempt::Failed(e.to_string())
            }
        }
    }

    async fn unlock(&self, account_id: &str) {
        let token = self.held.borrow_mut().remove(account_id);
        if let (Some(store), Some(token)) = (&self.store, token) {
            if let Err(e) = store.unlock(&lock_name(account_id), &token).await {
                log::debug!("accounts: refresh lock for {account_id} not released ({e}); it expires by its TTL");
            }
        }
    }

    async fn stored(&self, account_id: &str) -> Option<AccountDef> {
        let store = self.store.as_ref()?;
        match store.get_account(account_id).await {
            Ok(rec) => rec.map(|r| r.def),
            Err(e) => {
                log::warn!("accounts: cannot re-read account {account_id} before refreshing: {e}");
                None
            }
        }
    }

    async fn save(&self, def: &AccountDef) {
        let Some(store) = &self.store else { return };
        if is_test_default(def) {
            return;
        }
        if let Err(e) = store.put_account(def).await {
            log::warn!(
                "accounts: refreshed credentials of {} NOT saved ({e}); they live in memory until a restart",
                def.id
            );
        }
    }

    async fn pause(&self) -> bool {
        monoio::time::sleep(Duration::from_millis(PAUSE_MS)).await;
        true
    }
}
