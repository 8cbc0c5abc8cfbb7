//! `Shard`: one core's view of the pool.
//!
//! Key components:
//! - [`Shard`]: the current [`Snapshot`] (an `Arc` swapped by [`Shard::install`] when a control
//!   message brings a new one), this core's per-account [`LocalAccount`] state (in-flight count
//!   on this core, smooth-weighted-round-robin credit), the sticky map, the refresh flights of
//!   this core, and the slot-release notifier. It is `!Send` (`Rc`, `RefCell`, `Cell`): each worker
//!   builds its own and passes it down by reference.
//! - Selection ([`super::select`]), failure policy ([`super::policy`]), refresh
//!   ([`super::refresh`]), explain ([`super::explain`]) and attempts ([`super::attempt`]) are
//!   `impl Shard` blocks in their own files.
//!
//! Nothing here takes a lock: `RefCell` borrows are short, never held across `.await`, and the
//! cross-core facts are the atomics in [`super::shared`].

use super::attempt::SlotNotify;
use super::clock::Clock;
use super::config::PoolConfig;
use super::refresh::Flight;
use super::snapshot::{Account, Snapshot};
use super::sticky::StickyMap;
use crate::domain::AccountDef;
use crate::util::fast_hash::FastMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// This core's state for one account; survives snapshot swaps (matched by account key).
#[derive(Debug, Default)]
pub struct LocalAccount {
    pub(crate) in_flight: Cell<u32>,
    /// Smooth weighted round-robin credit (see `select`).
    pub(crate) current: Cell<i64>,
}

impl LocalAccount {
    /// Requests in flight on this core.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.get()
    }
}

/// A selection candidate of the current tier (scratch, reused without allocating).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub idx: u32,
    pub in_flight: u32,
    pub weight: u32,
}

/// See the module docs.
#[derive(Debug)]
pub struct Shard {
    pub(crate) clock: Clock,
    cfg: Cell<PoolConfig>,
    snap: RefCell<Arc<Snapshot>>,
    local: RefCell<Rc<[Rc<LocalAccount>]>>,
    pub(crate) scratch: RefCell<Vec<Cand>>,
    pub(crate) sticky: RefCell<StickyMap>,
    pub(crate) flights: RefCell<FastMap<u64, Rc<Flight>>>,
    /// Definitions refreshed on this core, used until a snapshot carrying them arrives.
    pub(crate) fresh: RefCell<FastMap<u64, Arc<AccountDef>>>,
    pub(crate) notify: Rc<SlotNotify>,
}

impl Shard {
    pub fn new(snapshot: Arc<Snapshot>, cfg: PoolConfig, clock: Clock) -> Self {
        let local: Rc<[Rc<LocalAccount>]> = snapshot.accounts().iter().map(|_| Rc::default()).collect();
        Self {
            clock,
            cfg: Cell::new(cfg),
            sticky: RefCell::new(StickyMap::new(cfg.sticky_max_entries, cfg.sticky_ttl_ms)),
            snap: RefCell::new(snapshot),
            local: RefCell::new(local),
            scratch: RefCell::new(Vec::new()),
            flights: RefCell::new(FastMap::default()),
            fresh: RefCell::new(FastMap::default()),
            notify: Rc::new(SlotNotify::default()),
        }
    }

    /// Swaps in a new snapshot, keeping this core's state of every account that remains.
    pub fn install(&self, snapshot: Arc<Snapshot>) {
        let local: Rc<[Rc<LocalAccount>]> = {
            let old = self.snap.borrow();
            let old_local = self.local.borrow();
            snapshot
                .accounts()
                .iter()
                .map(|a| {
                    old.index_of_key(a.key())
                        .and_then(|i| old_local.get(usize::try_from(i).ok()?))
                        .map_or_else(Rc::default, Rc::clone)
                })
                .collect()
        };
        self.fresh.borrow_mut().retain(|key, def| {
            snapshot.index_of_key(*key).and_then(|i| snapshot.at(i)).is_some_and(|a| a.def().revision < def.revision)
        });
        *self.local.borrow_mut() = local;
        *self.snap.borrow_mut() = snapshot;
        // A notify lets slot waiters re-run selection against the new accounts.
        self.notify.notify();
    }

    pub fn config(&self) -> PoolConfig {
        self.cfg.get()
    }

    /// Applies new pool settings (sticky limits take effect at once).
    pub fn set_config(&self, cfg: PoolConfig) {
        self.cfg.set(cfg);
        self.sticky.borrow_mut().configure(cfg.sticky_max_entries, cfg.sticky_ttl_ms);
    }

    /// The current snapshot (an `Arc` clone; cheap, and safe to keep across `.await`).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snap.borrow())
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The account with this id in the current snapshot.
    pub fn account(&self, id: &str) -> Option<Arc<Account>> {
        self.snap.borrow().get(id).cloned()
    }

    /// Requests in flight on this core for the account.
    pub fn local_in_flight(&self, id: &str) -> u32 {
        let snap = self.snap.borrow();
        let Some(i) = snap.get(id).and_then(|a| snap.index_of_key(a.key())) else {
            return 0;
        };
        self.local_at(i).map_or(0, |l| l.in_flight())
    }

    /// Sticky sessions remembered on this core.
    pub fn sticky_len(&self) -> usize {
        self.sticky.borrow().len()
    }

    pub(crate) fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot, &[Rc<LocalAccount>]) -> R) -> R {
        let snap = self.snap.borrow();
        let local = Rc::clone(&self.local.borrow());
        f(&snap, &local)
    }

    pub(crate) fn local_at(&self, idx: u32) -> Option<Rc<LocalAccount>> {
        self.local.borrow().get(usize::try_from(idx).ok()?).cloned()
    }

    /// The definition to use for `acc` on this core: the snapshot's, or a fresher one refreshed
    /// here; `None` when the snapshot's credentials are stale and no fresher copy is here.
    pub(crate) fn current_def(&self, acc: &Account) -> Option<Arc<AccountDef>> {
        let min = acc.shared().min_revision();
        if acc.revision() >= min {
            return Some(Arc::clone(acc.def()));
        }
        self.fresh.borrow().get(&acc.key()).filter(|d| d.revision >= min).cloned()
    }

    /// Whether `acc`'s snapshot credentials are stale with no fresher copy on this core.
    pub(crate) fn is_stale(&self, acc: &Account) -> bool {
        let min = acc.shared().min_revision();
        acc.revision() < min && self.fresh.borrow().get(&acc.key()).is_none_or(|d| d.revision < min)
    }
}
