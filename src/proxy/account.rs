//! The request lifecycle's dealings with the account pool for one attempt: what a failure or a
//! success does (policy, counters, persistence, background refresh), the cross-instance slot,
//! and the answer when the whole pool is busy or cooling.
//!
//! Key components:
//! - [`record_failure`] / [`record_success`]: apply the pool policy and persist, off the path;
//!   a 401 starts the background refresh (`accounts::refresh::after_401`, with the channel's
//!   refresher and the cross-instance lock).
//! - [`SlotGuard`] / [`cross_instance_slot`]: in Redis mode an account with `max_concurrency`
//!   also takes one of its slots in the store (`acquire_slot`), so the cap holds across
//!   instances; released (spawned) when the attempt ends, or expires after [`SLOT_TTL`].
//!
//! What the client gets when the pool cannot serve is `super::answer`'s table.

use crate::accounts::persist::{self, Outcome};
use crate::channel::AttemptError;
use crate::domain::FailureClass;
use crate::pool::{Effect, Failure, Lease};
use crate::runtime::ctx::Worker;
use crate::store::{SlotLease, Store, StoreApi};
use crate::translate::canonical::Usage;
use std::rc::Rc;
use std::time::Duration;

/// How long a cross-instance slot lives if its holder dies without releasing it.
pub const SLOT_TTL: Duration = Duration::from_secs(900);

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
        crate::accounts::refresh::after_401(worker, lease.id());
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
    // Boxed: Redis mode only, and its future would size every request's future.
    match Box::pin(store.acquire_slot(lease.id(), cap, SLOT_TTL)).await {
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
