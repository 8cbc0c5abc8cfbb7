//! The failure policy: what a typed upstream failure does to the account (ARCHITECTURE.md's
//! table, as built — the same table is in `docs/failover.md`). A [`Failure`] is the class plus
//! the [`FailureScope`] the channel found (`super::failure_scope`); the scope refines the rows
//! marked below.
//!
//! | class | account effect |
//! |---|---|
//! | `network`, `server` | counted in the sliding window (`failure_window_ms`); the `failure_threshold`-th failure in the window cools the account for `cooldown_failures_ms` and empties the window |
//! | `auth` | cooled `refresh_timeout_ms` with reason `auth_refresh` and [`Effect::RefreshNeeded`]: the caller runs the single-flight refresh; success lifts the cooldown, rejection disables (`auth`). A 401 within [`AUTH_REPEAT_MS`] of a successful refresh (the fresh token is rejected too) disables (`auth`) at once. A 401 on credentials already replaced by a refresh does nothing. |
//! | `quota` | cooled until the reset hint, else `cooldown_quota_ms` |
//! | `rate_limit` | cooled until `Retry-After` / reset hint, else the reset of the account's recorded upstream window ([`super::rate_limits`]), else `cooldown_rate_limit_ms`. Scope `account_model`: only (account, model), until the hint else `cooldown_rate_limit_ms` |
//! | `rate_limit_shared` | scope `team`: the team's scope (the one the upstream named, else the account's own) for the request's model (no model: the whole scope) until the hint, else `cooldown_rate_limit_ms`; an account that is not a known member of that scope also gets (account, model) (no model: its own `rate_limit` cooldown). Scope `channel`: the account's surface pauses (reason `channel_paused`) until the hint, else `cooldown_rate_limit_ms` |
//! | `blocked` | disabled (`blocked`) |
//! | `model` | (account, model) unavailable until the hint, else `cooldown_model_ms` (no model given: nothing) |
//! | `client` | nothing |
//! | `slow` | counted (`failures.slow` in the counters), no cooldown |
//! | any, scope `request` | nothing but the count |
//!
//! Every class is also counted in the account's counters (`failures` by class, last error).
//! Hints are clamped to `[now + MIN_COOLDOWN_MS, now + MAX_HINT_MS]`; a cooldown only ever moves
//! later. Cooldowns end by themselves at their deadline; [`Account::reset`] (the admin's
//! `POST /api/accounts/{id}/reset`) clears them, the window, model unavailability and a runtime
//! disable. Request-level decisions (retry elsewhere while nothing was written) belong to the
//! caller: see `FailureClass::retry_elsewhere` and [`super::Attempt`].

use super::attempt::Lease;
use super::config::PoolConfig;
use super::failure_scope::FailureScope;
use super::retry_after::MAX_HINT_MS;
use super::shard::Shard;
use super::shared::{CoolReason, DisableReason, ScopeShared};
use super::snapshot::Account;
use crate::domain::{AccountStatus, Counters, FailureClass};
use std::sync::Arc;

/// The shortest cooldown a hint can produce (a `Retry-After: 0` still rests the account 1 s).
pub const MIN_COOLDOWN_MS: u64 = 1_000;

/// A 401 this soon after a successful refresh means the new credentials are rejected too.
pub const AUTH_REPEAT_MS: u64 = 60_000;

/// What a failure did to the account; the caller persists the account's new status when
/// [`Effect::changes_status`] and runs a refresh on `RefreshNeeded`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    None,
    Counted { in_window: u32 },
    Cooled { until_ms: u64, reason: CoolReason },
    ScopeCooled { scope: String, until_ms: u64, model_only: bool },
    ModelUnavailable { until_ms: u64 },
    RefreshNeeded { until_ms: u64 },
    Disabled { reason: DisableReason },
}

impl Effect {
    /// Whether the account's (or its scope's) status changed.
    pub fn changes_status(&self) -> bool {
        !matches!(self, Self::None | Self::Counted { .. })
    }
}

/// One failure as the policy takes it.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub class: FailureClass,
    pub scope: &'a FailureScope,
    /// The model the request asked for.
    pub model: Option<&'a str>,
    /// The hint deadline (epoch ms) from [`super::retry_after`].
    pub retry_at_ms: Option<u64>,
}

fn deadline(hint: Option<u64>, default_ms: u64, now_ms: u64) -> u64 {
    match hint {
        Some(t) => t.clamp(now_ms.saturating_add(MIN_COOLDOWN_MS), now_ms.saturating_add(MAX_HINT_MS)),
        None => now_ms.saturating_add(default_ms),
    }
}

impl Account {
    /// Applies the policy row of `class` with the class's default scope (module docs).
    /// `retry_at_ms` is the hint deadline from [`super::retry_after`]; `model` is the model the
    /// request asked for.
    pub fn on_failure(
        &self,
        cfg: &PoolConfig,
        class: FailureClass,
        model: Option<&str>,
        retry_at_ms: Option<u64>,
        now_ms: u64,
    ) -> Effect {
        let scope = FailureScope::default_for(class);
        self.apply(cfg, &Failure { class, scope: &scope, model, retry_at_ms }, None, now_ms)
    }

    /// Applies the policy row of `f` (module docs). `named` is the team scope a
    /// `Team { team: Some(..) }` failure names, when some account carries that team (the shard
    /// looks it up: [`Shard::fail`]).
    pub fn apply(&self, cfg: &PoolConfig, f: &Failure<'_>, named: Option<&Arc<ScopeShared>>, now_ms: u64) -> Effect {
        let sh = self.shared();
        sh.stats.failure(f.class, now_ms);
        if *f.scope == FailureScope::Request {
            return Effect::None;
        }
        let cool = |until_ms: u64, reason| Effect::Cooled { until_ms: sh.cool.extend(until_ms, reason), reason };
        // Holds go through the setters: they also report the hold for persistence.
        let mark_model = |m: &str, until_ms: u64| {
            sh.mark_model_unavailable(m, until_ms, now_ms);
            Effect::ModelUnavailable { until_ms }
        };
        match f.class {
            FailureClass::Network | FailureClass::Server => {
                let in_window = sh.failures.record(now_ms, cfg.failure_window_ms);
                if in_window >= cfg.failure_threshold {
                    sh.failures.clear();
                    cool(now_ms.saturating_add(cfg.cooldown_failures_ms), CoolReason::Failures)
                } else {
                    Effect::Counted { in_window }
                }
            }
            FailureClass::Auth => {
                let last = sh.last_refresh_ms();
                if last != 0 && now_ms.saturating_sub(last) < AUTH_REPEAT_MS {
                    sh.disable(DisableReason::Auth);
                    return Effect::Disabled { reason: DisableReason::Auth };
                }
                let until_ms = sh.cool.extend(now_ms.saturating_add(cfg.refresh_timeout_ms), CoolReason::AuthRefresh);
                Effect::RefreshNeeded { until_ms }
            }
            FailureClass::Quota => cool(deadline(f.retry_at_ms, cfg.cooldown_quota_ms, now_ms), CoolReason::Quota),
            FailureClass::RateLimit => {
                if let (FailureScope::AccountModel, Some(m)) = (f.scope, f.model) {
                    mark_model(m, deadline(f.retry_at_ms, cfg.cooldown_rate_limit_ms, now_ms))
                } else {
                    let hint = f.retry_at_ms.or_else(|| sh.rate_limits.reset_deadline(now_ms));
                    cool(deadline(hint, cfg.cooldown_rate_limit_ms, now_ms), CoolReason::RateLimit)
                }
            }
            FailureClass::RateLimitShared => {
                let until_ms = deadline(f.retry_at_ms, cfg.cooldown_rate_limit_ms, now_ms);
                if *f.scope == FailureScope::Channel {
                    let surface = self.surface();
                    let until_ms = surface.cool_scope(until_ms, CoolReason::ChannelPaused);
                    return Effect::ScopeCooled { scope: surface.name().to_string(), until_ms, model_only: false };
                }
                let team = match f.scope {
                    FailureScope::Team { team: Some(t) } if !t.trim().is_empty() => named,
                    _ => self.scope(),
                };
                let member = team.is_some_and(|t| self.scope().is_some_and(|own| Arc::ptr_eq(own, t)));
                let own = if member {
                    Effect::None
                } else {
                    match f.model {
                        Some(m) => mark_model(m, until_ms),
                        None => cool(until_ms, CoolReason::RateLimit),
                    }
                };
                let Some(team) = team else {
                    return own;
                };
                match f.model {
                    Some(m) => {
                        team.mark_model_unavailable(m, until_ms, now_ms);
                    }
                    None => {
                        team.cool_scope(until_ms, CoolReason::ScopeRateLimit);
                    }
                }
                Effect::ScopeCooled { scope: team.name().to_string(), until_ms, model_only: f.model.is_some() }
            }
            FailureClass::Blocked => {
                sh.disable(DisableReason::Blocked);
                Effect::Disabled { reason: DisableReason::Blocked }
            }
            FailureClass::Model => match f.model {
                Some(m) => mark_model(m, deadline(f.retry_at_ms, cfg.cooldown_model_ms, now_ms)),
                None => Effect::None,
            },
            FailureClass::Client | FailureClass::Slow => Effect::None,
        }
    }

    /// Counts a success and its tokens.
    pub fn on_success(&self, tokens_in: u64, tokens_out: u64) {
        self.shared().stats.success(tokens_in, tokens_out);
    }

    /// Clears cooldown, failure window, model unavailability and a runtime disable (not the
    /// scope's cooldown: other accounts share it; not an operator's `enabled = false`).
    pub fn reset(&self) {
        let sh = self.shared();
        sh.cool.clear();
        sh.failures.clear();
        sh.models.clear();
        sh.enable();
    }

    /// The status as the store and admin show it.
    pub fn status(&self, now_ms: u64) -> AccountStatus {
        let sh = self.shared();
        if !self.def().enabled {
            return AccountStatus::Disabled { reason: "operator".to_owned() };
        }
        if let Some(r) = sh.disabled() {
            return AccountStatus::Disabled { reason: r.as_str().to_owned() };
        }
        let own = sh.cooldown(now_ms);
        let scope = self.scope().and_then(|s| s.cooldown(now_ms));
        let surface = self.surface().cooldown(now_ms);
        match own.into_iter().chain(scope).chain(surface).max_by_key(|(until, _)| *until) {
            Some((until_ms, r)) => AccountStatus::Cooling { until_ms, reason: r.as_str().to_owned() },
            None => AccountStatus::Active,
        }
    }

    /// Loads a persisted status (at start, or from the store's feed: this or another instance).
    /// `operator` disables are the definition's business and ignored here. An `auth_refresh`
    /// cooldown that began (`until_ms - refresh_timeout_ms`) no later than the account's last
    /// successful refresh is moot and skipped: it is the late echo of a 401 the refresh already
    /// answered (the feed delivers this instance's own write after the refresh lifted it).
    pub fn restore(&self, status: &AccountStatus, now_ms: u64, refresh_timeout_ms: u64) {
        let sh = self.shared();
        match status {
            AccountStatus::Active => {}
            AccountStatus::Cooling { until_ms, reason } => {
                let reason = CoolReason::parse(reason);
                let refreshed = sh.last_refresh_ms();
                let answered = reason == CoolReason::AuthRefresh
                    && refreshed != 0
                    && until_ms.saturating_sub(refresh_timeout_ms) <= refreshed;
                if *until_ms > now_ms && !answered {
                    sh.cool.extend(*until_ms, reason);
                }
            }
            AccountStatus::Disabled { reason } => {
                if let Some(r) = DisableReason::parse(reason) {
                    sh.disable(r);
                }
            }
        }
    }

    /// Counters summed over every core.
    pub fn counters(&self) -> Counters {
        self.shared().stats.counters()
    }
}

impl Shard {
    /// [`Shard::fail`] with the class's default scope.
    pub fn on_failure(
        &self,
        lease: &Lease,
        class: FailureClass,
        model: Option<&str>,
        retry_at_ms: Option<u64>,
    ) -> Effect {
        let scope = FailureScope::default_for(class);
        self.fail(lease, &Failure { class, scope: &scope, model, retry_at_ms })
    }

    /// [`Account::apply`] for a lease, with the shard's clock and config; a team the failure
    /// names is looked up in the current snapshot (`channel:team`). A 401 on credentials that a
    /// refresh has already replaced does nothing (the request just moves on).
    pub fn fail(&self, lease: &Lease, f: &Failure<'_>) -> Effect {
        let acc = lease.account();
        let now = self.clock.now_ms();
        if f.class == FailureClass::Auth && lease.def().revision < acc.shared().min_revision() {
            acc.shared().stats.failure(f.class, now);
            return Effect::None;
        }
        acc.apply(&self.config(), f, self.named_scope(acc, f.scope).as_ref(), now)
    }

    /// The team scope (`channel:team`) a `Team { team: Some(..) }` failure names, when an account
    /// of the current snapshot carries that team.
    pub(crate) fn named_scope(&self, acc: &Account, scope: &FailureScope) -> Option<Arc<ScopeShared>> {
        match scope {
            FailureScope::Team { team: Some(t) } if !t.trim().is_empty() => {
                self.snapshot().scope(&format!("{}:{}", acc.def().channel, t.trim())).cloned()
            }
            _ => None,
        }
    }

    pub fn on_success(&self, lease: &Lease, tokens_in: u64, tokens_out: u64) {
        lease.account().on_success(tokens_in, tokens_out);
    }

    /// Admin reset of one account; `false` when the id is unknown.
    pub fn reset(&self, id: &str) -> bool {
        self.account(id).map(|a| a.reset()).is_some()
    }
}
