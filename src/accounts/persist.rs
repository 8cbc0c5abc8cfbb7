//! Worker-side writes of account state to the store, off the response path.
//!
//! Each write is a spawned task on the worker's runtime with the worker's own store handle
//! (`Worker::spawn_write`, counted so a draining worker waits for it), so a slow store never
//! delays a client. Writes are field-wise (`set_status`, `incr_counters`,
//! `record_error`), never a rewrite of the account record. Accounts that exist only in memory
//! (the test-channel defaults) answer `NotFound`, which is ignored.

use super::counters::FLUSH_INTERVAL;
use crate::domain::{AccountStatus, FailureClass};
use crate::runtime::ctx::Worker;
use crate::store::{CounterDelta, Store, StoreApi, StoreError};
use std::rc::Rc;

fn log_failure(what: &str, id: &str, e: &StoreError) {
    if !matches!(e, StoreError::NotFound(_)) {
        log::warn!("accounts: cannot persist {what} of account {id}: {e}");
    }
}

/// Persists an account's new status (cooling / disabled / active).
pub fn status(worker: &Worker, id: &str, status: AccountStatus) {
    let Some(store) = worker.store().cloned() else {
        return;
    };
    let id = id.to_owned();
    worker.spawn_write(async move { write_status(&store, &id, &status).await });
}

/// Writes an account's status now (callers already off the response path), logging a failure.
pub async fn write_status(store: &Store, id: &str, status: &AccountStatus) {
    if let Err(e) = store.set_status(id, status).await {
        log_failure("the status", id, &e);
    }
}

/// Records a failure of `class` with `message` as the account's last error now.
pub async fn write_error(store: &Store, id: &str, class: FailureClass, message: &str) {
    if let Err(e) = store.record_error(id, class, message, crate::domain::now_ms()).await {
        log_failure("the last error", id, &e);
    }
}

/// The outcome of one attempt: counters, and the failure when there was one.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub success: bool,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub failure: Option<(FailureClass, String)>,
}

/// Persists one attempt's counters (batched per worker, see [`super::counters`]) and, at once,
/// its error when there was one.
pub fn outcome(worker: &Worker, id: &str, o: Outcome) {
    let Some(store) = worker.store() else {
        return;
    };
    let now = crate::domain::now_ms();
    let delta = CounterDelta {
        requests: 1,
        successes: u64::from(o.success),
        tokens_in: o.tokens_in,
        tokens_out: o.tokens_out,
        last_used_ms: Some(now),
    };
    if worker.counters.add(id, &delta) {
        let (store, batch) = (store.clone(), Rc::clone(&worker.counters));
        worker.spawn_write(async move {
            monoio::time::sleep(FLUSH_INTERVAL).await;
            batch.flush(&store).await;
        });
    }
    if let Some((class, message)) = o.failure {
        let (store, id) = (store.clone(), id.to_owned());
        worker.spawn_write(async move {
            if let Err(e) = store.record_error(&id, class, &message, now).await {
                log_failure("the last error", &id, &e);
            }
        });
    }
}
