//! The request lifecycle's dealings with the account pool for one attempt: what a failure or a
//! success does (policy, counters, persistence, background refresh), the cross-instance slot,
//! and the answer when the whole pool is busy or cooling.
//!
//! Key components:
//! - [`NoRefresher`]: the token-refresh hook of channels that have no refresher yet (every
//!   channel today). It rejects, so per `docs/failover.md` a 401 disables the account
//!   (`disabled(auth)`) once the background refresh has run; new credentials revive it.
//! - [`record_failure`] / [`record_success`]: apply the pool policy (class and scope) and
//!   persist, off the path.
//! - [`SlotGuard`] / [`cross_instance_slot`]: in Redis mode an account with `max_concurrency`
//!   also takes one of its slots in the store (`acquire_slot`), so the cap holds across
//!   instances; released (spawned) when the attempt ends, or expires after [`SLOT_TTL`].
//!
//! What the client gets when the pool cannot serve is `super::answer`'s table.

use crate::accounts::persist::{self, Outcome};
use crate::channel::AttemptError;
use crate::domain::{AccountDef, FailureClass};
use crate::pool::{Effect, Failure, Lease, LocalOnly, NewCredentials, RefreshError, RefreshFailure, Refresher};
use crate::runtime::ctx::Worker;
use crate::store::{SlotLease, Store, StoreApi};
use crate::translate::canonical::Usage;
use std::rc::Rc;
use std::time::Duration;

/// How long a cross-instance slot lives if its holder dies without releasing it.
pub const SLOT_TTL: Duration = Duration::from_secs(900);

/// The refresher of channels without one (module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRefresher;

impl Refresher for NoRefresher {
    async fn refresh(&self, _: &AccountDef) -> Result<NewCredentials, RefreshError> {
        Err(RefreshError::Rejected(
            "this channel cannot refresh tokens; save new credentials for the account".to_owned(),
        ))
    }
}

fn hint_deadline(now_ms: u64, e: &AttemptError) -> Option<u64> {
    e.retry_after.map(|d| now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// Applies the failure policy (the error's class and scope) to the lease's account and persists
/// what changed.
pub fn record_failure(worker: &Rc<Worker>, lease: &Lease, e: &AttemptError, model: &str) -> Effect {
    let shard = worker.pool();
    let now = shard.now_ms();
    if crate::accounts::boot::is_test_default(lease.def()) {
        // The test channel's implicit account only counts (see `accounts::boot`).
        lease.account().shared().stats().failure(e.class, now);
        return Effect::None;
    }
    let failure = Failure { class: e.class, scope: &e.scope, model: Some(model), retry_at_ms: hint_deadline(now, e) };
    let effect = shard.fail(lease, &failure);
    if matches!(effect, Effect::Cooled { .. } | Effect::Disabled { .. } | Effect::RefreshNeeded { .. }) {
        persist::status(worker, lease.id(), lease.account().status(now));
    }
    if matches!(effect, Effect::RefreshNeeded { .. }) {
        spawn_refresh(worker, lease.id());
    }
    persist::outcome(
        worker,
        lease.id(),
        Outcome { success: false, tokens_in: 0, tokens_out: 0, failure: Some((e.class, e.message.clone())) },
    );
    effect
}

/// Counts a success with its usage.
pub fn record_success(worker: &Worker, lease: &Lease, usage: &Usage) {
    worker.pool().on_success(lease, usage.input_tokens, usage.output_tokens);
    persist::outcome(
        worker,
        lease.id(),
        Outcome { success: true, tokens_in: usage.input_tokens, tokens_out: usage.output_tokens, failure: None },
    );
}

/// Runs the single-flight refresh after a 401 in the background, then persists the outcome.
fn spawn_refresh(worker: &Rc<Worker>, id: &str) {
    let w = Rc::clone(worker);
    let id = id.to_owned();
    monoio::spawn(async move {
        let shard = w.pool();
        match shard.refresh(&id, &NoRefresher, &LocalOnly).await {
            Ok(r) if r.leader => {
                if let Some(store) = w.store() {
                    if let Err(e) = store.put_account(&r.def).await {
                        log::warn!("accounts: cannot persist refreshed credentials of {id}: {e}");
                    }
                }
            }
            Ok(_) => {}
            Err(RefreshFailure::Rejected(m)) => log::warn!("account {id} disabled (auth): {m}"),
            Err(e) => log::info!("account {id}: {e}"),
        }
        if let Some(acc) = shard.account(&id) {
            persist::status(&w, &id, acc.status(shard.now_ms()));
        }
    });
}

/// A cross-instance slot, released (in the background) when dropped.
#[derive(Debug)]
pub struct SlotGuard {
    store: Store,
    lease: Option<SlotLease>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let store = self.store.clone();
            monoio::spawn(async move {
                if let Err(e) = store.release_slot(&lease).await {
                    log::debug!("accounts: slot of {} not released ({e}); it expires by its TTL", lease.account);
                }
            });
        }
    }
}

/// In Redis mode, takes one of the account's `max_concurrency` slots across instances.
/// `Ok(None)` when no slot is needed (embedded mode, or no cap); `Err` (class `server`, not
/// counted against the account) when every slot is held elsewhere. A store failure lets the
/// attempt go ahead (the per-instance cap still holds).
pub async fn cross_instance_slot(worker: &Worker, lease: &Lease) -> Result<Option<SlotGuard>, AttemptError> {
    let cap = lease.account().max_concurrency();
    let Some(store @ Store::Redis(_)) = worker.store() else {
        return Ok(None);
    };
    if cap == 0 {
        return Ok(None);
    }
    match store.acquire_slot(lease.id(), cap, SLOT_TTL).await {
        Ok(Some(l)) => Ok(Some(SlotGuard { store: store.clone(), lease: Some(l) })),
        Ok(None) => {
            let mut e = AttemptError::new(FailureClass::Server, "every upstream account is busy; retry shortly");
            e.retry_after = Some(Duration::from_secs(1));
            Err(e)
        }
        Err(e) => {
            log::warn!("accounts: cross-instance slot for {} unavailable ({e}); going ahead", lease.id());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_become_deadlines() {
        let mut e = AttemptError::new(FailureClass::RateLimit, "x");
        assert_eq!(hint_deadline(1_000, &e), None);
        e.retry_after = Some(Duration::from_secs(7));
        assert_eq!(hint_deadline(1_000, &e), Some(8_000));
    }
}
