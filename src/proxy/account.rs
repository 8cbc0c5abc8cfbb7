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
//! - [`unavailable_response`]: the pool's `Unavailable` in the client's format.

use crate::accounts::persist::{self, Outcome};
use crate::channel::AttemptError;
use crate::domain::FailureClass;
use crate::http::Response;
use crate::pool::{Effect, Lease, Unavailable, UnavailableKind};
use crate::runtime::ctx::Worker;
use crate::store::{SlotLease, Store, StoreApi};
use crate::translate::canonical::{ErrorKind, Usage, WireFormat};
use std::rc::Rc;
use std::time::Duration;

/// How long a cross-instance slot lives if its holder dies without releasing it.
pub const SLOT_TTL: Duration = Duration::from_secs(900);

fn hint_deadline(now_ms: u64, e: &AttemptError) -> Option<u64> {
    e.retry_after.map(|d| now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// Applies the failure policy to the lease's account and persists what changed.
pub fn record_failure(worker: &Rc<Worker>, lease: &Lease, e: &AttemptError, model: &str) -> Effect {
    let shard = worker.pool();
    let now = shard.now_ms();
    if crate::accounts::boot::is_test_default(lease.def()) {
        // The test channel's implicit account only counts (see `accounts::boot`).
        lease.account().shared().stats().failure(e.class, now);
        return Effect::None;
    }
    let effect = shard.on_failure(lease, e.class, Some(model), hint_deadline(now, e));
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

/// The pool's "nothing can serve" answer in the client's format: Claude 529 / 429 / 503,
/// OpenAI 503 / 429 / 503, with `Retry-After` when the pool knows one.
pub fn unavailable_response(format: WireFormat, u: &Unavailable) -> Response {
    let kind = match u.kind {
        UnavailableKind::Busy => ErrorKind::Overloaded,
        UnavailableKind::Cooling => ErrorKind::RateLimit,
        UnavailableKind::NoAccount | UnavailableKind::AllTried => ErrorKind::Api,
    };
    let status = match (format, u.kind) {
        (WireFormat::OpenAi, UnavailableKind::Busy) => 503,
        _ => u.status(),
    };
    let mut r = super::error_response(format, kind, u.message(), None, None);
    r.status = status;
    match u.retry_after_s {
        Some(s) => r.header("retry-after", s.max(1).to_string()),
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(kind: UnavailableKind, retry_after_s: Option<u64>) -> Unavailable {
        Unavailable { kind, until_ms: None, retry_after_s }
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref())
    }

    #[test]
    fn the_pools_answer_per_format() {
        let cases = [
            (WireFormat::Claude, UnavailableKind::Busy, Some(1), 529),
            (WireFormat::OpenAi, UnavailableKind::Busy, Some(1), 503),
            (WireFormat::Claude, UnavailableKind::Cooling, Some(42), 429),
            (WireFormat::OpenAi, UnavailableKind::Cooling, Some(42), 429),
            (WireFormat::Claude, UnavailableKind::NoAccount, None, 503),
            (WireFormat::OpenAi, UnavailableKind::AllTried, None, 503),
        ];
        for (format, kind, ra, status) in cases {
            let r = unavailable_response(format, &u(kind, ra));
            assert_eq!(r.status, status, "{format:?} {kind:?}");
            assert_eq!(header(&r, "retry-after").map(str::to_owned), ra.map(|s| s.to_string()), "{format:?} {kind:?}");
        }
    }

    #[test]
    fn hints_become_deadlines() {
        let mut e = AttemptError::new(FailureClass::RateLimit, "x");
        assert_eq!(hint_deadline(1_000, &e), None);
        e.retry_after = Some(Duration::from_secs(7));
        assert_eq!(hint_deadline(1_000, &e), Some(8_000));
    }
}
