//! Holds leaving the pool: the changes to shared state that must be persisted and reach other
//! instances beyond the account status — a scope's cooldown, and the unavailability of one
//! model on an account or on a scope.
//!
//! Key components:
//! - [`HoldChange`]: one such change, as the setters in [`super::shared`] report it (the
//!   account by its process-unique key, the scope by name).
//! - [`HoldSink`]: the bounded queue they are reported to. One per pool (carried from snapshot to
//!   snapshot); the process's accounts thread drains it into the store, which announces them to
//!   every instance. Applying a hold that arrived from the store goes through the `restore_*`
//!   methods, which report nothing (no echo).
//!
//! Reporting never blocks and never allocates beyond the change itself: the queue is a lock-free
//! bounded channel; when nobody drains it (unit tests, benches) or it is full, the change is
//! dropped and counted ([`HoldSink::dropped`]) — the in-memory state is already right, only its
//! persistence is lost.

use super::shared::CoolReason;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Changes queued before further ones are dropped.
pub const SINK_LEN: usize = 4096;

/// One change to persist (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldChange {
    /// The whole scope cools until `until_ms`.
    ScopeCooling { scope: Arc<str>, until_ms: u64, reason: CoolReason },
    /// `model` is unavailable in the scope until `until_ms`.
    ScopeModel { scope: Arc<str>, model: String, until_ms: u64 },
    /// `model` is unavailable on the account with this key until `until_ms`.
    AccountModel { key: u64, model: String, until_ms: u64 },
}

/// The queue of [`HoldChange`]s (see the module docs).
#[derive(Debug)]
pub struct HoldSink {
    tx: async_channel::Sender<HoldChange>,
    rx: async_channel::Receiver<HoldChange>,
    dropped: AtomicU64,
}

impl Default for HoldSink {
    fn default() -> Self {
        let (tx, rx) = async_channel::bounded(SINK_LEN);
        Self { tx, rx, dropped: AtomicU64::new(0) }
    }
}

impl HoldSink {
    pub(crate) fn report(&self, change: HoldChange) {
        if self.tx.try_send(change).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// The consumer's end (one consumer per process: the accounts thread).
    pub fn receiver(&self) -> async_channel::Receiver<HoldChange> {
        self.rx.clone()
    }

    /// Changes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sink_drops_and_counts() {
        let s = HoldSink::default();
        for i in 0..=SINK_LEN as u64 {
            s.report(HoldChange::AccountModel { key: i, model: "m".into(), until_ms: 1 });
        }
        assert_eq!(s.dropped(), 1);
        let rx = s.receiver();
        assert_eq!(rx.try_recv().unwrap(), HoldChange::AccountModel { key: 0, model: "m".into(), until_ms: 1 });
    }
}
