//! Token refresh: the per-channel [`Refresher`] hook, single-flight per account, refresh ahead of
//! expiry, and the hook for cross-instance locking.
//!
//! Key components:
//! - [`Refresher`]: implemented once per channel (orchids, warp, grok fill it in later). Returns
//!   [`NewCredentials`] (keys that replace the account's; keys not returned are kept) and the new
//!   expiry, or a [`RefreshError`]: `Rejected` (the credential is dead: the account is disabled
//!   with reason `auth`) or `Transient` (token endpoint down: cooled `cooldown_failures_ms` with
//!   reason `refresh_failed` if its token is unusable, otherwise left alone). Channels with
//!   static keys return `Rejected`, which turns a 401 into `disabled(auth)` as the table says.
//! - [`InstanceLock`]: taken around the refresher call so only one *instance* refreshes an account
//!   (Redis `SET NX PX` in redis mode, supplied by the store). [`LocalOnly`] is the single-instance
//!   lock that always succeeds.
//! - [`Shard::refresh`]: single flight. On one core, concurrent callers await the same flight.
//!   Across cores, an atomic flag in [`super::AccountShared`] lets one core refresh; the others
//!   get [`RefreshFailure::Busy`] at once (and selection skips the account while its token is
//!   expired and the flag is set), so requests fail over instead of waiting.
//! - [`Shard::ensure_fresh`]: what a request calls after taking a slot: the definition to use,
//!   refreshed first when the token expires within `refresh_ahead_ms`.
//! - [`Shard::refresh_due`]: accounts a background task should refresh now (token close to
//!   expiry, or an `auth_refresh` cooldown after a 401).
//!
//! Propagation: a successful refresh builds the new definition (credentials merged, `revision`
//! bumped past every earlier one) and raises the account's `min_revision`, so every core treats
//! older definitions as stale: never sent, never refreshed again (rotating refresh tokens must
//! not be replayed). The refreshing core uses the new definition at once; the leader's caller
//! must persist it and broadcast a snapshot containing it, which brings the other cores along.
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
}

/// Cross-instance mutual exclusion for one account's refresh (redis mode).
#[expect(async_fn_in_trait, reason = "thread-per-core: futures never leave their core, no Send bound wanted")]
pub trait InstanceLock {
    /// `true` when this instance may refresh `account_id` now.
    async fn try_lock(&self, account_id: &str) -> bool;
    async fn unlock(&self, account_id: &str);
}

/// The single-instance [`InstanceLock`]: always granted.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOnly;

impl InstanceLock for LocalOnly {
    async fn try_lock(&self, _: &str) -> bool {
        true
    }
    async fn unlock(&self, _: &str) {}
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

/// A successful refresh: the definition to use, and whether this caller ran it (the leader must
/// persist `def` and broadcast a snapshot with it; joiners must not).
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
        if !lock.try_lock(&def.id).await {
            return guard.finish(Err(RefreshFailure::Busy)).map(|def| Refreshed { def, leader: true });
        }
        let res = refresher.refresh(&def).await;
        lock.unlock(&def.id).await;
        let now = self.clock.now_ms();
        let out = match res {
            Ok(new) => {
                let mut d = AccountDef::clone(&def);
                d.credentials.extend(new.credentials);
                d.revision = def.revision.max(sh.min_revision()).saturating_add(1);
                let d = Arc::new(d);
                sh.set_expires_ms(new.expires_ms.unwrap_or(0));
                sh.set_last_refresh_ms(now);
                sh.enable_if(DisableReason::Auth);
                sh.cool.clear_if(CoolReason::AuthRefresh);
                sh.cool.clear_if(CoolReason::RefreshFailed);
                self.fresh.borrow_mut().insert(key, Arc::clone(&d));
                sh.raise_min_revision(d.revision);
                Ok(d)
            }
            Err(RefreshError::Rejected(m)) => {
                sh.disable(DisableReason::Auth);
                sh.stats.failure(FailureClass::Auth, now);
                Err(RefreshFailure::Rejected(m.into()))
            }
            Err(RefreshError::Transient(m)) => {
                let expired = sh.expires_ms() != 0 && sh.expires_ms() <= now;
                let after_401 = sh.cooldown(now).is_some_and(|(_, r)| r == CoolReason::AuthRefresh);
                if expired || after_401 {
                    sh.cool.extend(now.saturating_add(self.config().cooldown_failures_ms), CoolReason::RefreshFailed);
                }
                Err(RefreshFailure::Transient(m.into()))
            }
        };
        guard.finish(out).map(|def| Refreshed { def, leader: true })
    }

    /// The definition a request holding `lease` should send: refreshed first when its token
    /// expires within `refresh_ahead_ms`. While the token is still valid and a refresh already
    /// runs (here or on another core), the current definition is returned without waiting.
    pub async fn ensure_fresh<R: Refresher, L: InstanceLock>(
        &self,
        lease: &Lease,
        refresher: &R,
        lock: &L,
    ) -> Result<Arc<AccountDef>, RefreshFailure> {
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
        match self.refresh(acc.id(), refresher, lock).await {
            Ok(r) => Ok(r.def),
            Err(RefreshFailure::Busy) if valid => Ok(def),
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
