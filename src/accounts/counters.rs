//! Per-worker batching of account counters on their way to the store.
//!
//! Every finished attempt adds to its account's counters (requests, successes, tokens, last
//! used). Writing each one to the store on its own cost a spawned task and a store operation per
//! request — on the embedded store a log record serialised and appended by the writer thread,
//! which shares the core with the worker. Instead each worker sums the deltas per account in
//! memory ([`CounterBatch::add`], no I/O, no lock) and writes the sums once per
//! [`FLUSH_INTERVAL`]: the first delta after a flush schedules the next flush, so an idle worker
//! runs no timer. A worker that drains flushes what it holds before it exits
//! ([`CounterBatch::flush`]), so a clean shutdown loses nothing; a crash loses at most one
//! interval of counters (statuses and errors are not batched — see `persist`).
//!
//! # Concurrency note
//! Per core (`RefCell`); the map is taken out whole before any `.await`.

use crate::store::{CounterDelta, Store, StoreApi, StoreError};
use crate::util::fast_hash::FastMap;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// How long counters may wait in memory before they are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// One worker's unwritten counter deltas, per account id.
#[derive(Debug, Default)]
pub struct CounterBatch {
    pending: RefCell<FastMap<Box<str>, CounterDelta>>,
    scheduled: Cell<bool>,
}

/// Adds `d` into `into` (sums; the later `last_used_ms` wins).
fn merge(into: &mut CounterDelta, d: &CounterDelta) {
    into.requests += d.requests;
    into.successes += d.successes;
    into.tokens_in += d.tokens_in;
    into.tokens_out += d.tokens_out;
    if d.last_used_ms.is_some() {
        into.last_used_ms = into.last_used_ms.max(d.last_used_ms);
    }
}

impl CounterBatch {
    /// Adds one attempt's delta. Returns true when the caller must schedule a flush (the batch
    /// was empty and no flush is pending).
    pub fn add(&self, id: &str, delta: &CounterDelta) -> bool {
        let mut pending = self.pending.borrow_mut();
        match pending.get_mut(id) {
            Some(sum) => merge(sum, delta),
            None => {
                pending.insert(id.into(), *delta);
            }
        }
        !self.scheduled.replace(true)
    }

    /// Accounts with counters waiting.
    pub fn len(&self) -> usize {
        self.pending.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.borrow().is_empty()
    }

    /// Takes everything waiting (and clears the "flush scheduled" mark).
    fn take(&self) -> FastMap<Box<str>, CounterDelta> {
        self.scheduled.set(false);
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// Writes everything waiting to `store`. Accounts that exist only in memory (`NotFound`) are
    /// skipped silently; other failures are logged and the counters dropped (a store outage
    /// must not grow memory without bound).
    pub async fn flush(&self, store: &Store) {
        for (id, delta) in self.take() {
            if let Err(e) = store.incr_counters(&id, &delta).await {
                if !matches!(e, StoreError::NotFound(_)) {
                    log::warn!("accounts: cannot persist the counters of account {id}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(requests: u64, successes: u64, tin: u64, tout: u64, used: Option<u64>) -> CounterDelta {
        CounterDelta { requests, successes, tokens_in: tin, tokens_out: tout, last_used_ms: used }
    }

    #[test]
    fn sums_per_account_and_schedules_once() {
        let b = CounterBatch::default();
        assert!(b.add("a", &d(1, 1, 10, 20, Some(5))));
        assert!(!b.add("a", &d(1, 0, 3, 4, Some(3))));
        assert!(!b.add("b", &d(1, 1, 0, 0, None)));
        assert_eq!(b.len(), 2);
        let taken = b.take();
        let a = taken.get("a").copied().unwrap_or_default();
        assert_eq!((a.requests, a.successes, a.tokens_in, a.tokens_out, a.last_used_ms), (2, 1, 13, 24, Some(5)));
        assert!(b.is_empty());
        // After a flush took the batch, the next delta schedules again.
        assert!(b.add("a", &d(1, 1, 0, 0, None)));
    }
}
