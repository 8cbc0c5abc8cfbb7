//! Cross-core, lock-free state of each account and each shared scope (team).
//!
//! Key components:
//! - [`AccountShared`]: one per account, created when a definitions snapshot is first built with
//!   that account and carried over (same `Arc`) by every later snapshot. It holds the cooldown
//!   deadline, runtime disable, global in-flight count (so `max_concurrency` holds across cores),
//!   the failure window, (account, model) unavailability, refresh coordination, counters and the
//!   upstream's last-reported rate-limit windows ([`super::rate_limits`]).
//! - [`ScopeShared`]: one per shared scope (a team whose accounts share a rate limit): the scope's
//!   cooldown and its (scope, model) unavailability.
//! - [`Cooldown`], [`ModelSlots`]: the packed atomics they are made of.
//!
//! Every core reads these on its selection path with relaxed loads; nothing here blocks.
//!
//! # Concurrency note
//! - A cooldown is one `AtomicU64` packing `until_ms << 8 | reason`, updated by CAS so it only
//!   ever moves later (a 60 s rate limit never shortens a 24 h quota cooldown). A 429 on core 3 is
//!   visible to the next selection on every core. `reset` stores 0 and can race with a failure
//!   recorded at the same instant; either order is a valid outcome.
//! - The in-flight count is a CAS loop that refuses to pass `max_concurrency`, so the cap is exact
//!   across cores. Release is a saturating decrement.
//! - (account, model) entries are packed `hash32 << 32 | until_secs` in a few slots, one CAS each,
//!   so an entry is never torn. When every slot is live, the one ending first is replaced; two
//!   models with equal 32-bit FNV hashes share an entry (harmless: one waits a little longer).
//! - Refresh: `refreshing` is claimed with a CAS (one core refreshes at a time); `min_revision`
//!   is raised with `fetch_max` *before* `refreshing` is released (Release/Acquire), so a core that
//!   sees the flag clear also sees which definitions are stale.
//! - Counters are independent relaxed adds; a reader may see `requests` one ahead of `successes`.
//!
//! # Persisted holds
//! A scope's cooldown and (account|scope, model) unavailability are written through the setters
//! [`ScopeShared::cool_scope`], [`ScopeShared::mark_model_unavailable`] and
//! [`AccountShared::mark_model_unavailable`]: besides the atomics, each reports the change to the
//! pool's [`HoldSink`] when it moved a deadline later, so the accounts thread persists it and
//! every instance applies it (`docs/failover.md`). Whoever sets these (the failure policy, a
//! channel) must use the setters; the `restore_*` twins apply a hold that came from the store
//! without reporting it again.

use crate::domain::{Counters, FailureClass};
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use super::holds::{HoldChange, HoldSink};
use super::rate_limits::RateLimits;
use super::window::SlidingWindow;

/// Why an account (or scope) is cooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoolReason {
    /// 429 for this account (or a shared-scope 429 for an account without a scope).
    RateLimit,
    /// 402 / credits exhausted.
    Quota,
    /// `failure_threshold` network/server failures inside the window.
    Failures,
    /// A 401: skipped while its token is refreshed.
    AuthRefresh,
    /// The refresh endpoint failed transiently.
    RefreshFailed,
    /// Loaded from the store with a reason this build does not know.
    Restored,
    /// 429 for the account's shared scope (team).
    ScopeRateLimit,
    /// The account's channel surface refused the gateway (e.g. a challenge page): every account
    /// of that surface pauses.
    ChannelPaused,
}

impl CoolReason {
    const ALL: [Self; 8] = [
        Self::RateLimit,
        Self::Quota,
        Self::Failures,
        Self::AuthRefresh,
        Self::RefreshFailed,
        Self::Restored,
        Self::ScopeRateLimit,
        Self::ChannelPaused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimit => "rate_limit",
            Self::Quota => "quota",
            Self::Failures => "failures",
            Self::AuthRefresh => "auth_refresh",
            Self::RefreshFailed => "refresh_failed",
            Self::Restored => "restored",
            Self::ScopeRateLimit => "scope_rate_limit",
            Self::ChannelPaused => "channel_paused",
        }
    }

    /// The reason named by [`Self::as_str`]; anything else is `Restored`.
    pub fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|r| r.as_str() == s).unwrap_or(Self::Restored)
    }

    fn code(self) -> u64 {
        // 1-based so that a packed 0 means "never cooled".
        Self::ALL.iter().position(|r| *r == self).map_or(0, |i| i as u64 + 1)
    }

    fn from_code(c: u64) -> Self {
        usize::try_from(c)
            .ok()
            .and_then(|c| c.checked_sub(1))
            .and_then(|i| Self::ALL.get(i).copied())
            .unwrap_or(Self::Restored)
    }
}

/// Why the pool disabled an account (operator disable is `AccountDef::enabled = false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableReason {
    /// Token refresh rejected, or fresh credentials rejected again.
    Auth,
    /// 403: the upstream blocked the account.
    Blocked,
}

impl DisableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auth" => Some(Self::Auth),
            "blocked" => Some(Self::Blocked),
            _ => None,
        }
    }
}

const UNTIL_MAX: u64 = (1 << 56) - 1;

/// A cooldown deadline and its reason in one atomic (see the concurrency note).
#[derive(Debug, Default)]
pub struct Cooldown(AtomicU64);

impl Cooldown {
    /// Cools until `until_ms` unless already cooling longer; returns the deadline now in force.
    pub fn extend(&self, until_ms: u64, reason: CoolReason) -> u64 {
        self.raise(until_ms, reason).0
    }

    /// [`Self::extend`], also saying whether the deadline moved.
    pub fn raise(&self, until_ms: u64, reason: CoolReason) -> (u64, bool) {
        let until = until_ms.min(UNTIL_MAX);
        let new = (until << 8) | reason.code();
        match self.0.fetch_update(Relaxed, Relaxed, |old| (until > old >> 8).then_some(new)) {
            Ok(_) => (until, true),
            Err(old) => (old >> 8, false),
        }
    }

    /// `(until_ms, reason)` while cooling at `now_ms`.
    pub fn get(&self, now_ms: u64) -> Option<(u64, CoolReason)> {
        let v = self.0.load(Relaxed);
        let until = v >> 8;
        (until > now_ms).then(|| (until, CoolReason::from_code(v & 0xff)))
    }

    pub fn clear(&self) {
        self.0.store(0, Relaxed);
    }

    /// Clears the cooldown only if its reason is `reason`.
    pub fn clear_if(&self, reason: CoolReason) {
        // A failed update means the reason differs: nothing to do.
        let _ = self.0.fetch_update(Relaxed, Relaxed, |v| (v & 0xff == reason.code()).then_some(0));
    }
}

/// Slots per account (and per scope) for (·, model) unavailability.
pub const MODEL_SLOTS: usize = 4;

/// A 32-bit FNV-1a hash of a model id (the key of [`ModelSlots`]).
pub fn model_hash(model: &str) -> u32 {
    model.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// (·, model) unavailability deadlines (see the concurrency note).
#[derive(Debug, Default)]
pub struct ModelSlots([AtomicU64; MODEL_SLOTS]);

fn slot_unpack(v: u64) -> (u32, u64) {
    (u32::try_from(v >> 32).unwrap_or(0), (v & 0xffff_ffff) * 1000)
}

impl ModelSlots {
    /// Marks the model unavailable until `until_ms` (rounded up to a whole second), keeping a
    /// later deadline already set for it. `true` when its deadline moved later.
    pub fn mark(&self, hash: u32, until_ms: u64, now_ms: u64) -> bool {
        let secs = u32::try_from(until_ms.div_ceil(1000)).unwrap_or(u32::MAX);
        for _ in 0..8 {
            let vals: [u64; MODEL_SLOTS] = std::array::from_fn(|i| self.0.get(i).map_or(0, |a| a.load(Relaxed)));
            let live = |v: u64| slot_unpack(v).1 > now_ms;
            let target = vals
                .iter()
                .position(|&v| live(v) && slot_unpack(v).0 == hash)
                .or_else(|| vals.iter().position(|&v| !live(v)))
                .or_else(|| vals.iter().enumerate().min_by_key(|(_, v)| slot_unpack(**v).1).map(|(i, _)| i))
                .unwrap_or(0);
            let old = vals.get(target).copied().unwrap_or(0);
            let (old_hash, old_until) = slot_unpack(old);
            let keep =
                if old_hash == hash && old_until > now_ms { u32::try_from(old_until / 1000).unwrap_or(0) } else { 0 };
            let new = (u64::from(hash) << 32) | u64::from(secs.max(keep));
            let Some(slot) = self.0.get(target) else {
                return false;
            };
            if slot.compare_exchange(old, new, Relaxed, Relaxed).is_ok() {
                return secs > keep;
            }
        }
        false
    }

    /// When the model becomes available again, if it is unavailable at `now_ms`.
    pub fn until(&self, hash: u32, now_ms: u64) -> Option<u64> {
        self.0.iter().map(|a| slot_unpack(a.load(Relaxed))).find(|(h, u)| *h == hash && *u > now_ms).map(|(_, u)| u)
    }

    pub fn clear(&self) {
        for a in &self.0 {
            a.store(0, Relaxed);
        }
    }

    /// Live `(model_hash, until_ms)` entries.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.0.iter().map(|a| slot_unpack(a.load(Relaxed))).filter(move |(_, u)| *u > now_ms)
    }
}

fn class_index(c: FailureClass) -> usize {
    FailureClass::ALL.iter().position(|x| *x == c).unwrap_or(0)
}

/// Per-account counters, summed over every core.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    successes: AtomicU64,
    failures: [AtomicU64; FailureClass::ALL.len()],
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    last_used_ms: AtomicU64,
    last_error_ms: AtomicU64,
    /// `class_index + 1`; 0 = none yet.
    last_error: AtomicU8,
}

impl Stats {
    pub(crate) fn request(&self, now_ms: u64) {
        self.requests.fetch_add(1, Relaxed);
        self.last_used_ms.fetch_max(now_ms, Relaxed);
    }

    pub(crate) fn success(&self, tokens_in: u64, tokens_out: u64) {
        self.successes.fetch_add(1, Relaxed);
        self.tokens_in.fetch_add(tokens_in, Relaxed);
        self.tokens_out.fetch_add(tokens_out, Relaxed);
    }

    pub(crate) fn failure(&self, class: FailureClass, now_ms: u64) {
        let i = class_index(class);
        if let Some(f) = self.failures.get(i) {
            f.fetch_add(1, Relaxed);
        }
        self.last_error.store(u8::try_from(i + 1).unwrap_or(0), Relaxed);
        self.last_error_ms.store(now_ms, Relaxed);
    }

    /// Failures of one class so far.
    pub fn failures(&self, class: FailureClass) -> u64 {
        self.failures.get(class_index(class)).map_or(0, |a| a.load(Relaxed))
    }

    /// A plain copy in the shape the store persists.
    pub fn counters(&self) -> Counters {
        let last = usize::from(self.last_error.load(Relaxed));
        Counters {
            requests: self.requests.load(Relaxed),
            successes: self.successes.load(Relaxed),
            failures: FailureClass::ALL
                .iter()
                .map(|c| (c.as_str().to_owned(), self.failures(*c)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            tokens_in: self.tokens_in.load(Relaxed),
            tokens_out: self.tokens_out.load(Relaxed),
            last_used_ms: self.last_used_ms.load(Relaxed),
            last_error: last.checked_sub(1).and_then(|i| FailureClass::ALL.get(i)).map(|c| c.as_str().to_owned()),
            last_error_ms: self.last_error_ms.load(Relaxed),
        }
    }
}

/// One account's cross-core state (see the module docs).
///
/// Layout: the fields every selection reads come first and share one 64-byte line (the struct
/// is 64-aligned), so checking an account costs one cache line here.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct AccountShared {
    pub(crate) cool: Cooldown,
    min_revision: AtomicU64,
    expires_ms: AtomicU64,
    pub(crate) models: ModelSlots,
    in_flight: AtomicU32,
    disabled: AtomicU8,
    refreshing: AtomicBool,
    // Cold from here.
    key: u64,
    pub(crate) failures: SlidingWindow,
    last_refresh_ms: AtomicU64,
    pub(crate) stats: Stats,
    pub(crate) rate_limits: RateLimits,
    sink: Arc<HoldSink>,
}

// The hot fields end inside the first cache line.
const _: () = assert!(std::mem::offset_of!(AccountShared, key) <= 64);

impl AccountShared {
    /// With a sink of its own (tests; nothing drains it).
    #[cfg(test)]
    pub(crate) fn new(key: u64) -> Self {
        Self::with_sink(key, Arc::new(HoldSink::default()))
    }

    /// Reporting persisted holds to `sink` (the pool's).
    pub(crate) fn with_sink(key: u64, sink: Arc<HoldSink>) -> Self {
        Self {
            sink,
            key,
            cool: Cooldown::default(),
            disabled: AtomicU8::new(0),
            in_flight: AtomicU32::new(0),
            failures: SlidingWindow::new(),
            models: ModelSlots::default(),
            refreshing: AtomicBool::new(false),
            min_revision: AtomicU64::new(0),
            expires_ms: AtomicU64::new(0),
            last_refresh_ms: AtomicU64::new(0),
            stats: Stats::default(),
            rate_limits: RateLimits::default(),
        }
    }

    /// Process-unique account key (stable across snapshots; what a tried set records).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// Requests in flight on every core.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Takes a slot unless `cap` (0 = unlimited) is reached.
    pub(crate) fn try_acquire(&self, cap: u32) -> bool {
        self.in_flight
            .fetch_update(AcqRel, Relaxed, |n| if cap == 0 || n < cap { n.checked_add(1) } else { None })
            .is_ok()
    }

    pub(crate) fn release(&self) {
        let _ = self.in_flight.fetch_update(AcqRel, Relaxed, |n| n.checked_sub(1));
    }

    pub fn cooldown(&self, now_ms: u64) -> Option<(u64, CoolReason)> {
        self.cool.get(now_ms)
    }

    pub fn disabled(&self) -> Option<DisableReason> {
        match self.disabled.load(Relaxed) {
            1 => Some(DisableReason::Auth),
            2 => Some(DisableReason::Blocked),
            _ => None,
        }
    }

    pub(crate) fn disable(&self, r: DisableReason) {
        self.disabled.store(if r == DisableReason::Auth { 1 } else { 2 }, Relaxed);
    }

    /// Clears a runtime disable of exactly this reason.
    pub(crate) fn enable_if(&self, r: DisableReason) {
        let code = if r == DisableReason::Auth { 1 } else { 2 };
        let _ = self.disabled.compare_exchange(code, 0, Relaxed, Relaxed);
    }

    pub(crate) fn enable(&self) {
        self.disabled.store(0, Relaxed);
    }

    /// When `model` becomes available again on this account, if it is unavailable now.
    pub fn model_unavailable_until(&self, model: &str, now_ms: u64) -> Option<u64> {
        self.models.until(model_hash(model), now_ms)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The upstream's rate-limit windows for this account, as its responses last reported them.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// Claims the right to refresh (one core at a time).
    pub(crate) fn begin_refresh(&self) -> bool {
        self.refreshing.compare_exchange(false, true, AcqRel, Acquire).is_ok()
    }

    pub(crate) fn end_refresh(&self) {
        self.refreshing.store(false, Release);
    }

    pub fn is_refreshing(&self) -> bool {
        self.refreshing.load(Acquire)
    }

    /// Definitions with a lower revision carry credentials replaced by a refresh.
    pub fn min_revision(&self) -> u64 {
        self.min_revision.load(Acquire)
    }

    pub(crate) fn raise_min_revision(&self, rev: u64) {
        self.min_revision.fetch_max(rev, AcqRel);
    }

    /// When the current token expires (epoch ms; 0 = unknown / never).
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms.load(Relaxed)
    }

    pub(crate) fn set_expires_ms(&self, ms: u64) {
        self.expires_ms.store(ms, Relaxed);
    }

    pub fn last_refresh_ms(&self) -> u64 {
        self.last_refresh_ms.load(Relaxed)
    }

    pub(crate) fn set_last_refresh_ms(&self, ms: u64) {
        self.last_refresh_ms.store(ms, Relaxed);
    }

    /// Marks `model` unavailable on this account until `until_ms` (a later deadline already set
    /// is kept) and, when that moved its deadline, reports it for persistence. `true` if moved.
    pub fn mark_model_unavailable(&self, model: &str, until_ms: u64, now_ms: u64) -> bool {
        let moved = self.models.mark(model_hash(model), until_ms, now_ms);
        if moved {
            self.sink.report(HoldChange::AccountModel { key: self.key, model: model.to_owned(), until_ms });
        }
        moved
    }

    /// Applies an (account, model) hold from the store (not reported again).
    pub fn restore_model_unavailable(&self, model: &str, until_ms: u64, now_ms: u64) {
        if until_ms > now_ms {
            self.models.mark(model_hash(model), until_ms, now_ms);
        }
    }
}

/// A shared scope's (team's) cross-core state.
#[derive(Debug)]
pub struct ScopeShared {
    name: Arc<str>,
    pub(crate) cool: Cooldown,
    pub(crate) models: ModelSlots,
    sink: Arc<HoldSink>,
}

impl ScopeShared {
    pub(crate) fn new(name: Arc<str>, sink: Arc<HoldSink>) -> Self {
        Self { name, cool: Cooldown::default(), models: ModelSlots::default(), sink }
    }

    /// Cools the whole scope until `until_ms` unless it already cools longer, reporting it for
    /// persistence when the deadline moved. Returns the deadline in force.
    pub fn cool_scope(&self, until_ms: u64, reason: CoolReason) -> u64 {
        let (until, moved) = self.cool.raise(until_ms, reason);
        if moved {
            self.sink.report(HoldChange::ScopeCooling { scope: Arc::clone(&self.name), until_ms: until, reason });
        }
        until
    }

    /// Marks `model` unavailable in this scope until `until_ms` (keeping a later deadline),
    /// reporting it for persistence when it moved. `true` if moved.
    pub fn mark_model_unavailable(&self, model: &str, until_ms: u64, now_ms: u64) -> bool {
        let moved = self.models.mark(model_hash(model), until_ms, now_ms);
        if moved {
            self.sink.report(HoldChange::ScopeModel {
                scope: Arc::clone(&self.name),
                model: model.to_owned(),
                until_ms,
            });
        }
        moved
    }

    /// Applies a scope cooldown from the store (not reported again).
    pub fn restore_cooldown(&self, until_ms: u64, reason: CoolReason) {
        self.cool.extend(until_ms, reason);
    }

    /// Applies a (scope, model) hold from the store (not reported again).
    pub fn restore_model_unavailable(&self, model: &str, until_ms: u64, now_ms: u64) {
        if until_ms > now_ms {
            self.models.mark(model_hash(model), until_ms, now_ms);
        }
    }

    /// `channel:team`.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub fn cooldown(&self, now_ms: u64) -> Option<(u64, CoolReason)> {
        self.cool.get(now_ms)
    }

    /// When `model` becomes available again in this scope, if it is unavailable now.
    pub fn model_unavailable_until(&self, model: &str, now_ms: u64) -> Option<u64> {
        self.models.until(model_hash(model), now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn cooldowns_only_move_later_and_expire() {
        let c = Cooldown::default();
        assert_eq!(c.extend(NOW + 60_000, CoolReason::RateLimit), NOW + 60_000);
        assert_eq!(c.extend(NOW + 1_000, CoolReason::Failures), NOW + 60_000);
        assert_eq!(c.get(NOW), Some((NOW + 60_000, CoolReason::RateLimit)));
        c.extend(NOW + 86_400_000, CoolReason::Quota);
        assert_eq!(c.get(NOW).map(|x| x.1), Some(CoolReason::Quota));
        assert_eq!(c.get(NOW + 86_400_000), None, "expires by itself at its deadline");
        c.clear_if(CoolReason::RateLimit);
        assert!(c.get(NOW).is_some(), "clear_if leaves other reasons");
        c.clear_if(CoolReason::Quota);
        assert!(c.get(NOW).is_none());
    }

    #[test]
    fn reasons_roundtrip() {
        for r in CoolReason::ALL {
            assert_eq!(CoolReason::from_code(r.code()), r);
            assert_eq!(CoolReason::parse(r.as_str()), r);
        }
        assert_eq!(CoolReason::parse("what"), CoolReason::Restored);
        assert_eq!(DisableReason::parse("blocked"), Some(DisableReason::Blocked));
    }

    #[test]
    fn model_slots_keep_the_latest_and_evict_the_earliest() {
        let m = ModelSlots::default();
        let (a, b) = (model_hash("a"), model_hash("b"));
        m.mark(a, NOW + 10_000, NOW);
        m.mark(a, NOW + 5_000, NOW);
        assert_eq!(m.until(a, NOW), Some(NOW + 10_000));
        assert_eq!(m.until(b, NOW), None);
        assert_eq!(m.until(a, NOW + 10_000), None, "expired");
        for (i, name) in ["c", "d", "e"].into_iter().enumerate() {
            m.mark(model_hash(name), NOW + 20_000 + i as u64 * 1000, NOW);
        }
        m.mark(b, NOW + 99_000, NOW);
        assert_eq!(m.until(a, NOW), None, "the entry ending first was evicted");
        assert_eq!(m.until(b, NOW), Some(NOW + 99_000));
        assert_eq!(m.live(NOW).count(), MODEL_SLOTS);
        m.clear();
        assert_eq!(m.live(NOW).count(), 0);
    }

    #[test]
    fn setters_report_only_when_a_deadline_moves_and_restores_never() {
        let sink = Arc::new(HoldSink::default());
        let rx = sink.receiver();
        let acc = AccountShared::with_sink(7, Arc::clone(&sink));
        assert!(acc.mark_model_unavailable("m", NOW + 10_000, NOW));
        assert!(!acc.mark_model_unavailable("m", NOW + 5_000, NOW), "earlier: kept, not reported");
        assert_eq!(acc.model_unavailable_until("m", NOW), Some(NOW + 10_000));
        let scope = ScopeShared::new("grok:t".into(), Arc::clone(&sink));
        assert_eq!(scope.cool_scope(NOW + 60_000, CoolReason::ScopeRateLimit), NOW + 60_000);
        assert_eq!(scope.cool_scope(NOW + 1_000, CoolReason::ScopeRateLimit), NOW + 60_000);
        assert!(scope.mark_model_unavailable("m", NOW + 20_000, NOW));
        let got: Vec<HoldChange> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            [
                HoldChange::AccountModel { key: 7, model: "m".into(), until_ms: NOW + 10_000 },
                HoldChange::ScopeCooling {
                    scope: "grok:t".into(),
                    until_ms: NOW + 60_000,
                    reason: CoolReason::ScopeRateLimit
                },
                HoldChange::ScopeModel { scope: "grok:t".into(), model: "m".into(), until_ms: NOW + 20_000 },
            ]
        );
        acc.restore_model_unavailable("n", NOW + 9_000, NOW);
        scope.restore_cooldown(NOW + 90_000, CoolReason::ScopeRateLimit);
        scope.restore_model_unavailable("n", NOW + 9_000, NOW);
        acc.restore_model_unavailable("old", NOW - 1, NOW);
        assert!(rx.try_recv().is_err(), "restores report nothing");
        assert_eq!(acc.model_unavailable_until("n", NOW), Some(NOW + 9_000));
        assert_eq!(acc.model_unavailable_until("old", NOW - 2), None, "an expired hold is not applied");
        assert_eq!(scope.cooldown(NOW), Some((NOW + 90_000, CoolReason::ScopeRateLimit)));
        assert_eq!(scope.model_unavailable_until("n", NOW), Some(NOW + 9_000));
    }

    #[test]
    fn in_flight_cap_is_exact_across_threads() {
        let s = Arc::new(AccountShared::new(1));
        let got: u32 = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || (0..1000).filter(|_| s.try_acquire(50)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| u32::try_from(t.join().unwrap()).unwrap())
            .sum();
        assert_eq!(got, 50);
        assert_eq!(s.in_flight(), 50);
        for _ in 0..60 {
            s.release();
        }
        assert_eq!(s.in_flight(), 0, "release saturates at zero");
        assert!(s.try_acquire(0), "0 = unlimited");
    }

    #[test]
    fn counters_snapshot() {
        let s = AccountShared::new(1);
        s.stats.request(NOW);
        s.stats.success(10, 20);
        s.stats.failure(FailureClass::RateLimit, NOW + 5);
        let c = s.stats.counters();
        assert_eq!((c.requests, c.successes, c.tokens_in, c.tokens_out), (1, 1, 10, 20));
        assert_eq!(c.failures.get("rate_limit"), Some(&1));
        assert_eq!(c.last_error.as_deref(), Some("rate_limit"));
        assert_eq!(c.last_error_ms, NOW + 5);
    }
}
