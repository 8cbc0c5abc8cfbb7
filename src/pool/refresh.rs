//! Token refresh: the per-channel [`Refresher`] hook, single-flight per account (per core, across
//! cores, across instances), refresh ahead of expiry, and adoption of a refresh made elsewhere.
//!
//! Key components:
//! - [`Refresher`]: implemented once per channel (orchids, warp, grok fill it in later; the test
//!   channel has one). Returns [`NewCredentials`] (keys that replace the account's; keys not
//!   returned are kept) and the new expiry, or a [`RefreshError`]: `Rejected` (the credential is
//!   dead: the account is disabled with reason `auth`) or `Transient` (token endpoint down:
//!   cooled `cooldown_failures_ms` with reason `refresh_failed` if its token is unusable,
//!   otherwise left alone). Channels with static keys return `Rejected`, which turns a 401 into
//!   `disabled(auth)` as the table says. [`Refresher::expires_ms`] tells when a definition's
//!   token expires, when the channel can read it from the credentials.
//! - [`InstanceLock`]: cross-instance coordination around the refresher call: a short lock
//!   (Redis `SET NX PX` in redis mode, supplied by the accounts layer over the store), the stored
//!   definition (re-read under the lock), and saving the new one before the lock is released.
//!   [`LocalOnly`] is the single-instance implementation (always granted, nothing stored).
//! - [`Shard::refresh`]: single flight. On one core, concurrent callers await the same flight
//!   (no lock, no store round trip). Across cores, an atomic flag in [`super::AccountShared`]
//!   lets one core refresh; the others get [`RefreshFailure::Busy`] at once (and selection skips
//!   the account while its token is expired and the flag is set), so requests fail over instead
//!   of waiting. Across instances, the instance lock (see "Protocol").
//! - [`Shard::ensure_fresh`]: what a request calls after taking a slot: the definition to use,
//!   refreshed first when the token expires within `refresh_ahead_ms`. It never waits for
//!   another instance.
//! - [`Shard::refresh_due`]: accounts a background task should refresh now (token close to
//!   expiry, or an `auth_refresh` cooldown after a 401).
//!
//! # Protocol across instances
//! 1. Take the account's lock. Held elsewhere: another instance is refreshing. A background
//!    caller waits ([`InstanceLock::pause`], bounded by `refresh_timeout_ms`) for that instance's
//!    new definition to arrive by the change feed (a newer snapshot on this core), then adopts
//!    it; or, once the lock is free again, takes it. A request ([`Shard::ensure_fresh`]) does
//!    not wait: `Busy`, and it uses the still-valid token or fails over.
//! 2. With the lock, re-read the stored definition: a newer revision than ours means another
//!    instance refreshed meanwhile (its snapshot has not reached us yet): adopt it, never send
//!    our older credentials to the token endpoint (rotating refresh tokens must not be replayed).
//! 3. Otherwise refresh, save the new definition through the lock, then release it. So whoever
//!    takes the lock next finds the new definition stored.
//!
//! Propagation: a successful refresh builds the new definition (credentials merged, `revision`
//! bumped past every earlier one) and raises the account's `min_revision`, so every core treats
//! older definitions as stale: never sent, never refreshed again. The refreshing core uses the
//! new definition at once; saving it through the lock announces it (`AccountPut`), and the
//! snapshot rebuilt from the store brings the other cores and instances along.
//!
//! Cancellation: dropping a refresh future releases the flag and completes waiters with
//! `Cancelled`; an instance lock taken by it is left to expire by its TTL.

use super::attempt::Lease;
use super::shard::Shard;
use super::shared::{AccountShared, CoolReason, DisableReason};
use super::snapshot::Account;
use crate::domain::{AccountDef, FailureClass};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

/// What a successful refresh returns.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewCredentials {
    /// Replaces these keys of `AccountDef::credentials`; other keys are kept.
    pub credentials: BTreeMap<String, String>,
    /// When the new token expires (epoch ms); `None` = unknown.
    pub expires_ms: Option<u64>,
}

impl fmt::Debug for NewCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCredentials")
            .field("credentials", &self.credentials.keys().map(|k| (k, "***")).collect::<Vec<_>>())
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// Why a refresher failed (messages must not contain secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// The credential is dead (e.g. `INVALID_REFRESH_TOKEN`): disable the account.
    Rejected(String),
    /// Try again later (network, 5xx, 429 from the token endpoint).
    Transient(String),
}

/// The per-channel refresh hook. Futures are core-local (no `Send`).
#[expect(async_fn_in_trait, reason = "thread-per-core: futures never leave their core, no Send bound wanted")]
pub trait Refresher {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError>;

    /// When `account`'s current token expires (epoch ms), if the channel can tell from the
    /// definition alone. The accounts layer applies it to every snapshot it builds.
    fn expires_ms(&self, account: &AccountDef) -> Option<u64> {
        let _ = account;
        None
    }
}

/// The outcome of asking for an account's cross-instance refresh lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    /// This instance holds it now.
    Acquired,
    /// Another instance holds it: it is refreshing the account.
    HeldElsewhere,
    /// The lock could not be asked for (store unreachable): do not refresh now.
    Failed(String),
}

/// Cross-instance coordination of one account's refresh (see the module's protocol).
#[expect(async_fn_in_trait, reason = "thread-per-core: futures never leave their core, no Send bound wanted")]
pub trait InstanceLock {
    async fn try_lock(&self, account_id: &str) -> LockAttempt;
    async fn unlock(&self, account_id: &str);
    /// While holding the lock: the account's definition as stored now (`None`: not known).
    async fn stored(&self, account_id: &str) -> Option<AccountDef>;
    /// While holding the lock: persist the refreshed definition (the implementation logs a
    /// failure; the new credentials are used from memory either way).
    async fn save(&self, def: &AccountDef);
    /// Waits a little before asking again for a lock held elsewhere; `false`: do not wait.
    async fn pause(&self) -> bool;
}

/// The single-instance [`InstanceLock`]: always granted, nothing stored, never waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOnly;

impl InstanceLock for LocalOnly {
    async fn try_lock(&self, _: &str) -> LockAttempt {
        LockAttempt::Acquired
    }
    async fn unlock(&self, _: &str) {}
    async fn stored(&self, _: &str) -> Option<AccountDef> {
        None
    }
    async fn save(&self, _: &AccountDef) {}
    async fn pause(&self) -> bool {
        false
    }
}

/// A lock used by a request: never waits for another instance.
struct NoWait<'a, L>(&'a L);

impl<L: InstanceLock> InstanceLock for NoWait<'_, L> {
    async fn try_lock(&self, id: &str) -> LockAttempt {
        self.0.try_lock(id).await
    }
    async fn unlock(&self, id: &str) {
        self.0.unlock(id).await;
    }
    async fn stored(&self, id: &str) -> Option<AccountDef> {
        self.0.stored(id).await
    }
    async fn save(&self, def: &AccountDef) {
        self.0.save(def).await;
    }
    async fn pause(&self) -> bool {
        false
    }
}

/// Why [`Shard::refresh`] produced no new definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The refresher rejected the credential; the account is now `disabled(auth)`.
    Rejected(Arc<str>),
    /// The refresher failed transiently.
    Transient(Arc<str>),
    /// Another core or instance is refreshing this account.
    Busy,
    /// This core's definition was replaced by a refresh elsewhere; wait for the new snapshot.
    Stale,
    /// The refreshing future was dropped.
    Cancelled,
    UnknownAccount,
}

impl fmt::Display for RefreshFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(m) => write!(f, "refresh rejected: {m}"),
            Self::Transient(m) => write!(f, "refresh failed: {m}"),
            Self::Busy => f.write_str("refresh in progress elsewhere"),
            Self::Stale => f.write_str("credentials replaced by a refresh; new snapshot pending"),
            Self::Cancelled => f.write_str("refresh cancelled"),
            Self::UnknownAccount => f.write_str("unknown account"),
        }
    }
}

impl std::error::Error for RefreshFailure {}

/// A successful refresh: the definition to use, and whether this caller ran the refresher (and
/// saved the result through the instance lock). `false` for callers that joined a flight, and
/// for a leader that adopted a refresh another instance made.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    pub def: Arc<AccountDef>,
    pub leader: bool,
}

type FlightResult = Result<Arc<AccountDef>, RefreshFailure>;

/// One in-progress refresh on this core, awaited by every caller that joins it.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    result: RefCell<Option<FlightResult>>,
    wakers: RefCell<Vec<Waker>>,
}

impl Flight {
    fn complete(&self, r: FlightResult) {
        *self.result.borrow_mut() = Some(r);
        for w in std::mem::take(&mut *self.wakers.borrow_mut()) {
            w.wake();
        }
    }

    async fn wait(self: Rc<Self>) -> FlightResult {
        std::future::poll_fn(|cx| {
            if let Some(r) = self.result.borrow().as_ref() {
                return Poll::Ready(r.clone());
            }
            let mut wakers = self.wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// Ends a flight exactly once: on `finish`, or with `Cancelled` when dropped.
struct FlightGuard<'a> {
    shard: &'a Shard,
    key: u64,
    shared: Arc<AccountShared>,
    flight: Rc<Flight>,
    done: bool,
}

impl FlightGuard<'_> {
    fn finish(mut self, r: FlightResult) -> FlightResult {
        self.complete(r.clone());
        r
    }

    fn complete(&mut self, r: FlightResult) {
        if self.done {
            return;
        }
        self.done = true;
        self.shard.flights.borrow_mut().remove(&self.key);
        self.shared.end_refresh();
        self.flight.complete(r);
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.complete(Err(RefreshFailure::Cancelled));
    }
}

impl Account {
    /// Records when the account's current token expires (epoch ms; 0 = unknown). Channels call
    /// it when they learn the expiry (e.g. a JWT's `exp`).
    pub fn set_token_expiry(&self, expires_ms: u64) {
        self.shared().set_expires_ms(expires_ms);
    }
}

impl Shard {
    /// Refreshes the account's credentials, single-flight (module docs).
    pub async fn refresh<R: Refresher, L: InstanceLock>(
        &self,
        id: &str,
        refresher: &R,
        lock: &L,
    ) -> Result<Refreshed, RefreshFailure> {
        let acc = self.account(id).ok_or(RefreshFailure::UnknownAccount)?;
        let key = acc.key();
        let joined = self.flights.borrow().get(&key).cloned();
        if let Some(flight) = joined {
            return flight.wait().await.map(|def| Refreshed { def, leader: false });
        }
        let def = self.current_def(&acc).ok_or(RefreshFailure::Stale)?;
        let sh = Arc::clone(acc.shared());
        if !sh.begin_refresh() {
            return Err(RefreshFailure::Busy);
        }
        let flight = Rc::new(Flight::default());
        self.flights.borrow_mut().insert(key, Rc::clone(&flight));
        let guard = FlightGuard { shard: self, key, shared: Arc::clone(&sh), flight, done: false };
        let out = self.lead(&acc, def, refresher, lock).await;
        let leader = matches!(out, Ok((_, true)));
        guard.finish(out.map(|(d, _)| d)).map(|def| Refreshed { def, leader })
    }

    /// The leader's part: lock, re-read, refresh, save, unlock. `Ok((def, ran_refresher))`.
    async fn lead<R: Refresher, L: InstanceLock>(
        &self,
        acc: &Account,
        def: Arc<AccountDef>,
        refresher: &R,
        lock: &L,
    ) -> Result<(Arc<AccountDef>, bool), RefreshFailure> {
        let sh = acc.shared();
        let give_up_at = self.clock.now_ms().saturating_add(self.config().refresh_timeout_ms);
        loop {
            match lock.try_lock(&def.id).await {
                LockAttempt::Acquired => break,
                LockAttempt::Failed(m) => return Err(self.transient(sh, m)),
                LockAttempt::HeldElsewhere => {
                    if self.clock.now_ms() >= give_up_at || !lock.pause().await {
                        return Err(RefreshFailure::Busy);
                    }
                    // The winner's new definition may have arrived (a newer snapshot) meanwhile.
                    if let Some(newer) = self.newer_def(&def) {
                        return Ok((self.adopt(sh, acc.key(), newer, refresher), false));
                    }
                }
            }
        }
        // Another instance may have finished a refresh whose snapshot has not reached us yet.
        if let Some(stored) = lock.stored(&def.id).await.filter(|s| s.revision > def.revision) {
            lock.unlock(&def.id).await;
            return Ok((self.adopt(sh, acc.key(), Arc::new(stored), refresher), false));
        }
        let res = refresher.refresh(&def).await;
        let now = self.clock.now_ms();
        let out = match res {
            Ok(new) => {
                let mut d = AccountDef::clone(&def);
                d.credentials.extend(new.credentials);
                d.revision = def.revision.max(sh.min_revision()).saturating_add(1);
                let expires = new.expires_ms.or_else(|| refresher.expires_ms(&d));
                let d = self.install_fresh(sh, acc.key(), Arc::new(d), expires);
                lock.save(&d).await;
                Ok((d, true))
            }
            Err(RefreshError::Rejected(m)) => {
                sh.disable(DisableReason::Auth);
                sh.stats.failure(FailureClass::Auth, now);
                Err(RefreshFailure::Rejected(m.into()))
            }
            Err(RefreshError::Transient(m)) => Err(self.transient(sh, m)),
        };
        lock.unlock(&def.id).await;
        out
    }

    /// A definition of the same account newer than `def` on this core (a snapshot that arrived
    /// while we waited, or a refresh made here).
    fn newer_def(&self, def: &AccountDef) -> Option<Arc<AccountDef>> {
        let acc = self.account(&def.id)?;
        self.current_def(&acc).filter(|d| d.revision > def.revision)
    }

    /// Takes a definition refreshed elsewhere as current.
    fn adopt<R: Refresher>(&self, sh: &AccountShared, key: u64, d: Arc<AccountDef>, refresher: &R) -> Arc<AccountDef> {
        let expires = refresher.expires_ms(&d);
        self.install_fresh(sh, key, d, expires)
    }

    /// Makes `d` the account's current definition on every core: lifts what waited for new
    /// credentials, records the expiry, and marks older revisions stale.
    fn install_fresh(&self, sh: &AccountShared, key: u64, d: Arc<AccountDef>, expires: Option<u64>) -> Arc<AccountDef> {
        sh.set_expires_ms(expires.unwrap_or(0));
        sh.set_last_refresh_ms(self.clock.now_ms());
        sh.enable_if(DisableReason::Auth);
        sh.cool.clear_if(CoolReason::AuthRefresh);
        sh.cool.clear_if(CoolReason::RefreshFailed);
        self.fresh.borrow_mut().insert(key, Arc::clone(&d));
        sh.raise_min_revision(d.revision);
        d
    }

    /// A transient failure: cools the account when its token cannot be used meanwhile.
    fn transient(&self, sh: &AccountShared, m: String) -> RefreshFailure {
        let now = self.clock.now_ms();
        let expired = sh.expires_ms() != 0 && sh.expires_ms() <= now;
        let after_401 = sh.cooldown(now).is_some_and(|(_, r)| r == CoolReason::AuthRefresh);
        if expired || after_401 {
            sh.cool.extend(now.saturating_add(self.config().cooldown_failures_ms), CoolReason::RefreshFailed);
        }
        RefreshFailure::Transient(m.into())
    }

    /// The definition a request holding `lease` should send when no refresh is due: its
    /// credentials never expire (no clock read), or expire after `refresh_ahead_ms`. `None` when
    /// [`Self::ensure_fresh`] has more to do (a refresh, or stale credentials).
    pub fn fresh_def(&self, lease: &Lease) -> Option<Arc<AccountDef>> {
        let acc = lease.account();
        let sh = acc.shared();
        let exp = sh.expires_ms();
        if exp != 0 && self.clock.now_ms().saturating_add(self.config().refresh_ahead_ms) >= exp {
            return None;
        }
        if lease.def().revision >= sh.min_revision() { Some(Arc::clone(lease.def())) } else { self.current_def(acc) }
    }

    /// The definition a request holding `lease` should send: refreshed first when its token
    /// expires within `refresh_ahead_ms`. While the token is still valid and a refresh already
    /// runs (here or on another core), the current definition is returned without waiting; a
    /// refresh held by another instance is never waited for; and a transient refresh failure
    /// (or a store that cannot lock) still returns the valid token.
    pub async fn ensure_fresh<R: Refresher, L: InstanceLock>(
        &self,
        lease: &Lease,
        refresher: &R,
        lock: &L,
    ) -> Result<Arc<AccountDef>, RefreshFailure> {
        if let Some(def) = self.fresh_def(lease) {
            return Ok(def);
        }
        let acc = lease.account();
        let sh = acc.shared();
        let def = if lease.def().revision >= sh.min_revision() {
            Arc::clone(lease.def())
        } else {
            self.current_def(acc).ok_or(RefreshFailure::Stale)?
        };
        let now = self.clock.now_ms();
        let exp = sh.expires_ms();
        if exp == 0 || now.saturating_add(self.config().refresh_ahead_ms) < exp {
            return Ok(def);
        }
        let valid = now < exp;
        let running = sh.is_refreshing() || self.flights.borrow().contains_key(&acc.key());
        if valid && running {
            return Ok(def);
        }
        // Boxed: a refresh is rare, and its future is large; inline it would size every
        // request's future (see docs/benchmarks.md, "future sizes").
        match Box::pin(self.refresh(acc.id(), refresher, &NoWait(lock))).await {
            Ok(r) => Ok(r.def),
            // The token still works: use it; the sweeper or a later request tries again.
            Err(RefreshFailure::Busy | RefreshFailure::Transient(_)) if valid => Ok(def),
            Err(e) => Err(e),
        }
    }

    /// Accounts to refresh now: enabled, not disabled, not already refreshing, and with a token
    /// expiring within `refresh_ahead_ms` or an `auth_refresh` cooldown (a 401 awaiting refresh).
    pub fn refresh_due(&self) -> Vec<Arc<Account>> {
        let now = self.clock.now_ms();
        let ahead = self.config().refresh_ahead_ms;
        let snap = self.snapshot();
        snap.accounts()
            .iter()
            .filter(|a| {
                let sh = a.shared();
                let expiring = sh.expires_ms() != 0 && now.saturating_add(ahead) >= sh.expires_ms();
                let after_401 = sh.cooldown(now).is_some_and(|(_, r)| r == CoolReason::AuthRefresh);
                a.def().enabled && sh.disabled().is_none() && !sh.is_refreshing() && (expiring || after_401)
            })
            .cloned()
            .collect()
    }
}
