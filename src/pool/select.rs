//! Account selection: which account serves the next attempt of a request.
//!
//! Key components: [`SelectRequest`] (channel, model, the caller's `can_serve` predicate, the
//! session), [`Skip`] (why an account was passed over), and `impl Shard` with
//! [`Shard::acquire`] — select, take a slot, return a [`Lease`] — or the typed
//! [`Unavailable`] answer when nothing can serve.
//!
//! # The rule
//! 1. **Sticky**: if the request has a session pinned on this core to an account that passes
//!    every check below, and no higher tier than that account's has a usable account, that
//!    account is used (no round-robin state moves). Otherwise the session is re-pinned to the
//!    account the rules below choose.
//! 2. **Checks**, in this order (the first failing one is the skip reason): disabled by the
//!    operator; disabled by the pool (auth / blocked); model not allowed by the account's lists;
//!    `can_serve` false (channel kind fit, decided by the caller); its channel surface paused;
//!    account cooling; its scope cooling; (scope, model) unavailable; (account, model) unavailable; credentials stale or
//!    being refreshed after expiry; already tried by this request; at `max_concurrency`
//!    (the global in-flight count across cores).
//! 3. **Tiers**: the channel's accounts grouped by `priority`, highest first. The first tier with
//!    any account passing the checks is used; lower tiers are not considered.
//! 4. **Weighted least-in-flight**: inside the tier, the accounts with the lowest
//!    `in_flight / weight` (global in-flight; compared exactly by cross-multiplication) are tied.
//! 5. **Smooth tie-break**: smooth weighted round-robin credit (nginx's algorithm, extended):
//!    every eligible account of the tier gains its weight in per-core credit; among the tied
//!    accounts the highest credit wins (ties: lowest id); the winner's credit drops by the sum of
//!    the eligible weights. Credits are clamped to ±8× that sum. Busy accounts keep earning
//!    credit, so an account that was briefly busier catches up when it is tied again; nginx's
//!    tie-only credit loses up to ~20% of a heavy account's share at moderate concurrency
//!    (`tests/pool_simulation.rs` measures this).
//!
//!    What this gives: when requests finish before the next arrives, picks follow the weights
//!    exactly, evenly interleaved (weights 5:1:1 give `a a b a c a a`). While fewer requests are
//!    in flight than there are accounts, picks stay within a few percent of the weights. Under
//!    heavy concurrency the in-flight counts follow the weights to within one request per account
//!    (a weight-1 account cannot hold half a request), so light accounts carry slightly more.
//! 6. **Slot**: the winner's global in-flight count is raised by CAS against `max_concurrency`;
//!    if another core took the last slot meanwhile, the account counts as full and selection
//!    runs again (bounded).
//!
//! Performance: one pass over the tier plus one over its eligible accounts, with a reused
//! scratch vector: no allocation per selection.

use super::attempt::{Attempt, Lease, Tally, Unavailable};
use super::shard::{Cand, LocalAccount, Shard};
use super::shared::{CoolReason, DisableReason, model_hash};
use super::snapshot::{Account, Snapshot};
use super::sticky::SessionKey;
use crate::domain::{AccountDef, Channel};
use std::rc::Rc;
use std::sync::Arc;

/// What a request asks of the pool.
#[derive(Clone, Copy)]
pub struct SelectRequest<'a> {
    pub channel: Channel,
    /// The model id as the account lists name it (`allowed_models` / `denied_models`).
    pub model: &'a str,
    /// Extra fit decided by the caller (e.g. credential kind vs. model kinds); `None` = any.
    pub can_serve: Option<&'a dyn Fn(&AccountDef) -> bool>,
    pub session: Option<SessionKey>,
}

impl std::fmt::Debug for SelectRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectRequest")
            .field("channel", &self.channel)
            .field("model", &self.model)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<'a> SelectRequest<'a> {
    /// Any account of `channel` that allows `model`; no session.
    pub fn new(channel: Channel, model: &'a str) -> Self {
        Self { channel, model, can_serve: None, session: None }
    }

    #[must_use]
    pub fn with_session(mut self, session: Option<SessionKey>) -> Self {
        self.session = session;
        self
    }

    #[must_use]
    pub fn with_can_serve(mut self, can_serve: &'a dyn Fn(&AccountDef) -> bool) -> Self {
        self.can_serve = Some(can_serve);
        self
    }
}

/// Why an account was not picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Skip {
    DisabledByOperator,
    Disabled {
        cause: DisableReason,
    },
    ModelNotAllowed,
    CannotServe,
    /// The account's channel surface is paused (e.g. the upstream refused the gateway).
    ChannelPaused {
        until_ms: u64,
    },
    Cooling {
        until_ms: u64,
        cause: CoolReason,
    },
    ScopeCooling {
        until_ms: u64,
    },
    ScopeModelUnavailable {
        until_ms: u64,
    },
    ModelUnavailable {
        until_ms: u64,
    },
    /// Credentials replaced by a refresh elsewhere (this core awaits the new snapshot), or the
    /// token expired while another core refreshes it.
    RefreshPending,
    Tried,
    Full {
        in_flight: u32,
        max_concurrency: u32,
    },
    /// Usable, but a higher tier had a usable account.
    LowerTier,
    /// Usable, but another account had a lower in-flight / weight ratio.
    Busier {
        in_flight: u32,
        weight: u32,
    },
    /// Tied on ratio; the smooth round-robin chose another.
    LostTieBreak,
}

/// Receives skip reasons; the hot path uses [`Quiet`], explain records them.
pub(crate) trait Observer {
    const ACTIVE: bool;
    fn skip(&mut self, idx: u32, why: Skip);
}

/// Ignores everything (compiles to nothing).
pub(crate) struct Quiet;

impl Observer for Quiet {
    const ACTIVE: bool = false;
    fn skip(&mut self, _: u32, _: Skip) {}
}

/// One selection's inputs, computed once.
pub(crate) struct Ctx<'r> {
    pub channel: Channel,
    pub model: &'r str,
    pub can_serve: Option<&'r dyn Fn(&AccountDef) -> bool>,
    pub model_hash: u32,
    pub tried: &'r [u64],
    /// Accounts found full by a lost slot race during this call.
    pub raced: &'r [u64],
    pub now: u64,
}

impl<'r> Ctx<'r> {
    pub(crate) fn new(req: &'r SelectRequest<'r>, tried: &'r [u64], raced: &'r [u64], now: u64) -> Self {
        Self {
            channel: req.channel,
            model: req.model,
            can_serve: req.can_serve,
            model_hash: model_hash(req.model),
            tried,
            raced,
            now,
        }
    }
}

/// `a.in_flight / a.weight < b.in_flight / b.weight`, exactly.
fn lower(a: Cand, b: Cand) -> bool {
    u64::from(a.in_flight) * u64::from(b.weight) < u64::from(b.in_flight) * u64::from(a.weight)
}

fn same_ratio(a: Cand, b: Cand) -> bool {
    u64::from(a.in_flight) * u64::from(b.weight) == u64::from(b.in_flight) * u64::from(a.weight)
}

const RACE_RETRIES: usize = 4;

/// Credits are clamped to this many times the tier's eligible weight total.
const CREDIT_BOUND: i64 = 8;

impl Shard {
    /// The checks of rule 2; `Ok` means eligible. Feeds `tally` for the "nothing available" answer.
    pub(crate) fn check(&self, acc: &Account, cx: &Ctx<'_>, tally: &mut Tally) -> Result<(), Skip> {
        let sh = acc.shared();
        if !acc.enabled() {
            return Err(Skip::DisabledByOperator);
        }
        if let Some(cause) = sh.disabled() {
            if Self::fits(acc, cx) {
                tally.disabled += 1;
            }
            return Err(Skip::Disabled { cause });
        }
        if acc.has_model_lists() && !acc.def().allows_model(cx.model) {
            return Err(Skip::ModelNotAllowed);
        }
        if cx.can_serve.is_some_and(|f| !f(acc.def())) {
            return Err(Skip::CannotServe);
        }
        tally.fit += 1;
        if let Some((until_ms, _)) = acc.surface().cooldown(cx.now) {
            tally.cooling(until_ms);
            return Err(Skip::ChannelPaused { until_ms });
        }
        if let Some((until_ms, cause)) = sh.cooldown(cx.now) {
            tally.cooling(until_ms);
            return Err(Skip::Cooling { until_ms, cause });
        }
        if let Some(scope) = acc.scope() {
            if let Some((until_ms, _)) = scope.cooldown(cx.now) {
                tally.cooling(until_ms);
                return Err(Skip::ScopeCooling { until_ms });
            }
            if let Some(until_ms) = scope.models.until(cx.model_hash, cx.now) {
                tally.cooling(until_ms);
                return Err(Skip::ScopeModelUnavailable { until_ms });
            }
        }
        if let Some(until_ms) = sh.models.until(cx.model_hash, cx.now) {
            tally.cooling(until_ms);
            return Err(Skip::ModelUnavailable { until_ms });
        }
        let expired = sh.expires_ms() != 0 && sh.expires_ms() <= cx.now;
        if self.is_stale(acc) || (expired && sh.is_refreshing()) {
            tally.busy += 1;
            return Err(Skip::RefreshPending);
        }
        let key = acc.key();
        if cx.tried.contains(&key) {
            tally.tried += 1;
            return Err(Skip::Tried);
        }
        let (in_flight, max_concurrency) = (sh.in_flight(), acc.max_concurrency());
        if cx.raced.contains(&key) || (max_concurrency != 0 && in_flight >= max_concurrency) {
            tally.busy += 1;
            return Err(Skip::Full { in_flight, max_concurrency });
        }
        Ok(())
    }

    /// Whether the account's lists and the caller's fit allow the model (the checks after the
    /// disable checks, for telling "disabled" from "cannot serve" in the pool's answer).
    fn fits(acc: &Account, cx: &Ctx<'_>) -> bool {
        (!acc.has_model_lists() || acc.def().allows_model(cx.model)) && cx.can_serve.is_none_or(|f| f(acc.def()))
    }

    /// Rules 3–5 over the channel's tiers. `dry` leaves the round-robin credit untouched.
    pub(crate) fn choose<O: Observer>(
        &self,
        snap: &Snapshot,
        local: &[Rc<LocalAccount>],
        cx: &Ctx<'_>,
        obs: &mut O,
        tally: &mut Tally,
        dry: bool,
    ) -> Option<u32> {
        let mut scratch = self.scratch.borrow_mut();
        let mut picked = None;
        for tier in snap.tiers(cx.channel) {
            if picked.is_some() {
                if !O::ACTIVE {
                    break;
                }
                for &i in &tier.members {
                    if let Some(acc) = snap.at(i) {
                        obs.skip(i, self.check(acc, cx, &mut Tally::default()).err().unwrap_or(Skip::LowerTier));
                    }
                }
                continue;
            }
            scratch.clear();
            let mut min: Option<Cand> = None;
            for &idx in &tier.members {
                let Some(acc) = snap.at(idx) else { continue };
                if let Err(why) = self.check(acc, cx, tally) {
                    obs.skip(idx, why);
                    continue;
                }
                let c = Cand { idx, in_flight: acc.shared().in_flight(), weight: acc.weight() };
                if min.is_none_or(|m| lower(c, m)) {
                    min = Some(c);
                }
                scratch.push(c);
            }
            let Some(min) = min else { continue };
            let total: i64 = scratch.iter().map(|c| i64::from(c.weight)).sum();
            let bound = total.saturating_mul(CREDIT_BOUND);
            let mut win: Option<(u32, i64)> = None;
            for c in scratch.iter() {
                let Some(l) = local_of(local, c.idx) else {
                    continue;
                };
                let credit = l.current.get().saturating_add(i64::from(c.weight)).clamp(-bound, bound);
                if !dry {
                    l.current.set(credit);
                }
                if !same_ratio(*c, min) {
                    obs.skip(c.idx, Skip::Busier { in_flight: c.in_flight, weight: c.weight });
                } else if win.is_none_or(|(_, best)| credit > best) {
                    win = Some((c.idx, credit));
                }
            }
            let Some((winner, credit)) = win else {
                continue;
            };
            if !dry {
                if let Some(l) = local_of(local, winner) {
                    l.current.set(credit.saturating_sub(total).clamp(-bound, bound));
                }
            }
            if O::ACTIVE {
                for c in scratch.iter().filter(|c| c.idx != winner && same_ratio(**c, min)) {
                    obs.skip(c.idx, Skip::LostTieBreak);
                }
            }
            picked = Some(winner);
        }
        picked
    }

    /// Selects an account for the next attempt of a request and takes a slot on it.
    ///
    /// Records the account in `attempt`'s tried set and pins the request's session to it. Never
    /// waits: when every usable account is full the answer is `Unavailable { kind: Busy }` and
    /// [`Shard::acquire_wait`] is the variant that waits for a slot.
    pub fn acquire(&self, req: &SelectRequest<'_>, attempt: &mut Attempt) -> Result<Lease, Unavailable> {
        let now = self.clock.now_ms();
        if !attempt.can_attempt() {
            return Err(Unavailable::all_tried());
        }
        self.with_snapshot(|snap, local| {
            let session = req.session.filter(|_| self.sticky.borrow().enabled());
            if let Some(sk) = session {
                let pinned = self.sticky.borrow_mut().get(sk, req.channel, now);
                if let Some(lease) = pinned.and_then(|key| self.try_sticky(snap, local, req, attempt, key, now)) {
                    return Ok(lease);
                }
            }
            let mut raced = [0u64; RACE_RETRIES];
            let mut n_raced = 0;
            loop {
                let mut tally = Tally::default();
                let cx = Ctx::new(req, attempt.tried(), raced.get(..n_raced).unwrap_or(&[]), now);
                let Some(idx) = self.choose(snap, local, &cx, &mut Quiet, &mut tally, false) else {
                    return Err(tally.verdict(now));
                };
                let (Some(acc), Some(l)) = (snap.at(idx), local_of(local, idx)) else {
                    return Err(tally.verdict(now));
                };
                if acc.shared().try_acquire(acc.max_concurrency()) {
                    if let Some(sk) = session {
                        self.sticky.borrow_mut().pin(sk, req.channel, acc.key(), now);
                    }
                    return Ok(self.lease(acc, l, attempt, now, false));
                }
                let Some(slot) = raced.get_mut(n_raced) else {
                    return Err(Unavailable::busy());
                };
                *slot = acc.key();
                n_raced += 1;
            }
        })
    }

    fn try_sticky(
        &self,
        snap: &Snapshot,
        local: &[Rc<LocalAccount>],
        req: &SelectRequest<'_>,
        attempt: &mut Attempt,
        key: u64,
        now: u64,
    ) -> Option<Lease> {
        let idx = snap.index_of_key(key)?;
        let acc = snap.at(idx)?;
        let cx = Ctx::new(req, attempt.tried(), &[], now);
        if acc.def().channel != req.channel || self.check(acc, &cx, &mut Tally::default()).is_err() {
            return None;
        }
        // Stickiness never overrides the tiers: a usable account in a higher tier wins.
        let higher = snap.tiers(req.channel).iter().take_while(|t| t.priority > acc.def().priority);
        if higher
            .flat_map(|t| t.members.iter())
            .filter_map(|&i| snap.at(i))
            .any(|o| self.check(o, &cx, &mut Tally::default()).is_ok())
        {
            return None;
        }
        let l = local_of(local, idx)?;
        if !acc.shared().try_acquire(acc.max_concurrency()) {
            return None;
        }
        Some(self.lease(acc, l, attempt, now, true))
    }

    fn lease(
        &self,
        acc: &Arc<Account>,
        local: &Rc<LocalAccount>,
        attempt: &mut Attempt,
        now: u64,
        sticky: bool,
    ) -> Lease {
        local.in_flight.set(local.in_flight.get().saturating_add(1));
        acc.shared().stats.request(now);
        attempt.record(acc.key());
        let def = self.current_def(acc).unwrap_or_else(|| Arc::clone(acc.def()));
        Lease::new(Arc::clone(acc), def, Rc::clone(local), Rc::clone(&self.notify), sticky)
    }
}

fn local_of(local: &[Rc<LocalAccount>], idx: u32) -> Option<&Rc<LocalAccount>> {
    local.get(usize::try_from(idx).ok()?)
}
