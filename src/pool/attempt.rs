//! One request's dealings with the pool: its attempts, its slot, waiting for a slot, and the
//! answer when the pool cannot serve it.
//!
//! Key components:
//! - [`Attempt`]: the tried set (inline, no allocation) and attempt count vs `max_attempts`.
//! - [`Lease`]: the RAII slot on the chosen account. While it lives it counts in the account's
//!   global in-flight count (what `max_concurrency` caps, across cores) and this core's; dropping
//!   it releases both and wakes this core's slot waiters.
//! - [`Shard::acquire_wait`]: [`Shard::acquire`] plus a bounded wait (`queue_wait_ms`) while every
//!   usable account is full. Waiters wake on a release on this core, and otherwise re-check every
//!   [`SLOT_POLL_MS`] (a release on another core sends no message here).
//! - [`Unavailable`]: the typed "the whole pool is busy, cooling or disabled" answer: the kind and
//!   the `Retry-After` seconds (the earliest cooldown end). What the client gets for it (status,
//!   error type, message) is `proxy::answer`'s business.

use super::config::MAX_ATTEMPTS_LIMIT;
use super::select::SelectRequest;
use super::shard::{LocalAccount, Shard};
use super::snapshot::Account;
use crate::domain::AccountDef;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How often a slot waiter re-checks for releases made on other cores.
pub const SLOT_POLL_MS: u64 = 20;

const TRIED_CAP: usize = MAX_ATTEMPTS_LIMIT as usize;

/// A request's attempts so far (see the module docs).
#[derive(Debug, Clone)]
pub struct Attempt {
    tried: [u64; TRIED_CAP],
    len: usize,
    max: u32,
}

impl Attempt {
    /// `max_attempts` is clamped to `1..=MAX_ATTEMPTS_LIMIT`.
    pub fn new(max_attempts: u32) -> Self {
        Self { tried: [0; TRIED_CAP], len: 0, max: max_attempts.clamp(1, MAX_ATTEMPTS_LIMIT) }
    }

    /// Accounts leased so far (each lease is one attempt).
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.len).unwrap_or(u32::MAX)
    }

    pub fn max_attempts(&self) -> u32 {
        self.max
    }

    /// Whether another account may be leased: before the first attempt, or after a retryable
    /// failure while fewer than `max_attempts` were made.
    pub fn can_attempt(&self) -> bool {
        self.attempts() < self.max
    }

    /// Keys of the accounts tried so far, in order.
    pub fn tried(&self) -> &[u64] {
        self.tried.get(..self.len).unwrap_or(&[])
    }

    pub fn has_tried(&self, key: u64) -> bool {
        self.tried().contains(&key)
    }

    pub(crate) fn record(&mut self, key: u64) {
        if let Some(slot) = self.tried.get_mut(self.len) {
            *slot = key;
            self.len += 1;
        }
    }
}

/// A slot on an account (see the module docs). Not `Send`: it belongs to the core that took it.
#[derive(Debug)]
pub struct Lease {
    account: Arc<Account>,
    def: Arc<AccountDef>,
    local: Rc<LocalAccount>,
    notify: Rc<SlotNotify>,
    sticky: bool,
}

impl Lease {
    pub(crate) fn new(
        account: Arc<Account>,
        def: Arc<AccountDef>,
        local: Rc<LocalAccount>,
        notify: Rc<SlotNotify>,
        sticky: bool,
    ) -> Self {
        Self { account, def, local, notify, sticky }
    }

    /// The account as the snapshot holds it (cross-core state, scope).
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// The definition to use (credentials, proxy); may be fresher than the snapshot's.
    pub fn def(&self) -> &Arc<AccountDef> {
        &self.def
    }

    pub fn id(&self) -> &str {
        &self.def.id
    }

    pub fn key(&self) -> u64 {
        self.account.key()
    }

    /// Whether the account came from the request's sticky session.
    pub fn was_sticky(&self) -> bool {
        self.sticky
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.account.shared().release();
        self.local.in_flight.set(self.local.in_flight.get().saturating_sub(1));
        self.notify.notify();
    }
}

/// Wakes this core's slot waiters when a slot is released (or a snapshot installed).
#[derive(Debug, Default)]
pub struct SlotNotify {
    generation: Cell<u64>,
    next_id: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
}

impl SlotNotify {
    pub fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Resolves at the next [`Self::notify`] after this call.
    pub fn notified(self: &Rc<Self>) -> Notified {
        Notified { notify: Rc::clone(self), seen: self.generation.get(), id: None }
    }

    /// Waiters registered now.
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// Future of [`SlotNotify::notified`]; unregisters itself when dropped.
#[derive(Debug)]
pub struct Notified {
    notify: Rc<SlotNotify>,
    seen: u64,
    id: Option<u64>,
}

impl Future for Notified {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.seen {
            return Poll::Ready(());
        }
        let id = if let Some(id) = self.id {
            id
        } else {
            let id = self.notify.next_id.get();
            self.notify.next_id.set(id.wrapping_add(1));
            self.id = Some(id);
            id
        };
        let mut waiters = self.notify.waiters.borrow_mut();
        match waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => waiters.push((id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.notify.waiters.borrow_mut().retain(|(i, _)| *i != id);
        }
    }
}

/// Why the pool cannot serve a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableKind {
    /// No account of the channel may serve this model at all (none configured, none allowed).
    NoAccount,
    /// Every account that could serve this model is disabled by the pool (credentials
    /// rejected, or blocked): an operator must act.
    Disabled,
    /// Usable accounts exist but all are at `max_concurrency` (or mid-refresh).
    Busy,
    /// Every account that could serve is cooling (or the model is unavailable on it).
    Cooling,
    /// Every account that could serve was already tried, or `max_attempts` is spent.
    AllTried,
}

/// The answer data when nothing can serve (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Unavailable {
    pub kind: UnavailableKind,
    /// The earliest cooldown end (epoch ms), for `Cooling`.
    pub until_ms: Option<u64>,
    /// The `Retry-After` value to send, in seconds.
    pub retry_after_s: Option<u64>,
}

impl Unavailable {
    pub(crate) fn busy() -> Self {
        Self { kind: UnavailableKind::Busy, until_ms: None, retry_after_s: Some(1) }
    }

    pub(crate) fn all_tried() -> Self {
        Self { kind: UnavailableKind::AllTried, until_ms: None, retry_after_s: None }
    }

    fn plain(kind: UnavailableKind) -> Self {
        Self { kind, until_ms: None, retry_after_s: None }
    }
}

/// What one selection saw, for the [`Unavailable`] answer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Accounts that could serve the model at all (enabled, allowed, fit).
    pub fit: u32,
    /// Accounts that would fit but are disabled by the pool (auth / blocked).
    pub disabled: u32,
    /// Full or mid-refresh.
    pub busy: u32,
    pub tried: u32,
    /// The earliest cooldown end among cooling accounts.
    pub cooling_until: Option<u64>,
}

impl Tally {
    pub(crate) fn cooling(&mut self, until_ms: u64) {
        self.cooling_until = Some(self.cooling_until.map_or(until_ms, |u| u.min(until_ms)));
    }

    pub(crate) fn verdict(&self, now_ms: u64) -> Unavailable {
        if self.fit == 0 {
            let kind = if self.disabled > 0 { UnavailableKind::Disabled } else { UnavailableKind::NoAccount };
            return Unavailable::plain(kind);
        }
        if self.busy > 0 {
            return Unavailable::busy();
        }
        match self.cooling_until {
            Some(until) => Unavailable {
                kind: UnavailableKind::Cooling,
                until_ms: Some(until),
                retry_after_s: Some(until.saturating_sub(now_ms).div_ceil(1000).max(1)),
            },
            None => Unavailable::all_tried(),
        }
    }
}

impl Shard {
    /// [`Shard::acquire`], waiting up to `queue_wait_ms` for a slot while the answer is `Busy`.
    ///
    /// `sleep` makes a timer future (in the server: `monoio::time::sleep`); the wait ends early
    /// when a lease on this core is dropped. Time is read from the shard's clock, so tests drive
    /// the wait with a manual clock and a `sleep` that advances it.
    pub async fn acquire_wait<S, F>(
        &self,
        req: &SelectRequest<'_>,
        attempt: &mut Attempt,
        mut sleep: S,
    ) -> Result<Lease, Unavailable>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        // Read the clock for the deadline only when a first try finds the pool busy.
        let mut deadline = None;
        loop {
            let notified = self.notify.notified();
            match self.acquire(req, attempt) {
                Err(u) if u.kind == UnavailableKind::Busy => {
                    let now = self.clock.now_ms();
                    let deadline = *deadline.get_or_insert_with(|| now.saturating_add(self.config().queue_wait_ms));
                    if now >= deadline {
                        return Err(u);
                    }
                    let wait = Duration::from_millis((deadline - now).min(SLOT_POLL_MS));
                    let mut notified = pin!(notified);
                    let mut timer = pin!(sleep(wait));
                    std::future::poll_fn(|cx| {
                        if notified.as_mut().poll(cx).is_ready() || timer.as_mut().poll(cx).is_ready() {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                }
                other => return other,
            }
        }
    }
}
