//! The failure policy: what a typed upstream failure does to the account (ARCHITECTURE.md's
//! table, as built — the same table is in `docs/failover.md`).
//!
//! | class | account effect |
//! |---|---|
//! | `network`, `server` | counted in the sliding window (`failure_window_ms`); the `failure_threshold`-th failure in the window cools the account for `cooldown_failures_ms` and empties the window |
//! | `auth` | cooled `refresh_timeout_ms` with reason `auth_refresh` and [`Effect::RefreshNeeded`]: the caller runs the single-flight refresh; success lifts the cooldown, rejection disables (`auth`). A 401 within [`AUTH_REPEAT_MS`] of a successful refresh (the fresh token is rejected too) disables (`auth`) at once. A 401 on credentials already replaced by a refresh does nothing. |
//! | `quota` | cooled until the reset hint, else `cooldown_quota_ms` |
//! | `rate_limit` | cooled until `Retry-After` / reset hint, else `cooldown_rate_limit_ms` |
//! | `rate_limit_shared` | the account's scope is cooled (for `model` when given, else the whole scope) until the hint, else `cooldown_rate_limit_ms`; an account without a scope is cooled itself as `rate_limit` |
//! | `blocked` | disabled (`blocked`) |
//! | `model` | (account, model) unavailable until the hint, else `cooldown_model_ms` (no model given: nothing) |
//! | `client` | nothing |
//! | `slow` | counted (`failures.slow` in the counters), no cooldown |
//!
//! Every class is also counted in the account's counters (`failures` by class, last error).
//! Hints are clamped to `[now + MIN_COOLDOWN_MS, now + MAX_HINT_MS]`; a cooldown only ever moves
//! later. Cooldowns end by themselves at their deadline; [`Account::reset`] (the admin's
//! `POST /api/accounts/{id}/reset`) clears them, the window, model unavailability and a runtime
//! disable. Request-level decisions (retry elsewhere while nothing was written) belong to the
//! caller: see `FailureClass::retry_elsewhere` and [`super::Attempt`].

use super::attempt::Lease;
use super::config::PoolConfig;
use super::retry_after::MAX_HINT_MS;
use super::shard::Shard;
use super::shared::{CoolReason, DisableReason};
use super::snapshot::Account;
use crate::domain::{AccountStatus, Counters, FailureClass};

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

fn deadline(hint: Option<u64>, default_ms: u64, now_ms: u64) -> u64 {
    match hint {
        Some(t) => t.clamp(now_ms.saturating_add(MIN_COOLDOWN_MS), now_ms.saturating_add(MAX_HINT_MS)),
        None => now_ms.saturating_add(default_ms),
    }
}

impl Account {
    /// Applies the policy row of `class` (module docs). `retry_at_ms` is the hint deadline from
    /// [`super::retry_after`]; `model` is the model the request asked for.
    pub fn on_failure(
        &self,
        cfg: &PoolConfig,
        class: FailureClass,
        model: Option<&str>,
        retry_at_ms: Option<u64>,
        now_ms: u64,
    ) -> Effect {
        let sh = self.shared();
        sh.stats.failure(class, now_ms);
        let cool = |default_ms, reason| {
            let until_ms = sh.cool.extend(deadline(retry_at_ms, default_ms, now_ms), reason);
            Effect::Cooled { until_ms, reason }
        };
        match class {
            FailureClass::Network | FailureClass::Server => {
                let in_window = sh.failures.record(now_ms, cfg.failure_window_ms);
                if in_window >= cfg.failure_threshold {
                    sh.failures.clear();
                    let until_ms =
                        sh.cool.extend(now_ms.saturating_add(cfg.cooldown_failures_ms), CoolReason::Failures);
                    Effect::Cooled { until_ms, reason: CoolReason::Failures }
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
            FailureClass::Quota => cool(cfg.cooldown_quota_ms, CoolReason::Quota),
            FailureClass::RateLimit => cool(cfg.cooldown_rate_limit_ms, CoolReason::RateLimit),
            FailureClass::RateLimitShared => match self.scope() {
                Some(scope) => {
                    let until_ms = deadline(retry_at_ms, cfg.cooldown_rate_limit_ms, now_ms);
                    // Through the setters: they also report the hold for persistence.
                    match model {
                        Some(m) => {
                            scope.mark_model_unavailable(m, until_ms, now_ms);
                        }
                        None => {
                            scope.cool_scope(until_ms, CoolReason::ScopeRateLimit);
                        }
                    }
                    Effect::ScopeCooled { scope: scope.name().to_string(), until_ms, model_only: model.is_some() }
                }
                None => cool(cfg.cooldown_rate_limit_ms, CoolReason::RateLimit),
            },
            FailureClass::Blocked => {
                sh.disable(DisableReason::Blocked);
                Effect::Disabled { reason: DisableReason::Blocked }
            }
            FailureClass::Model => match model {
                Some(m) => {
                    let until_ms = deadline(retry_at_ms, cfg.cooldown_model_ms, now_ms);
                    sh.mark_model_unavailable(m, until_ms, now_ms);
                    Effect::ModelUnavailable { until_ms }
                }
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
        match own.into_iter().chain(scope).max_by_key(|(until, _)| *until) {
            Some((until_ms, r)) => AccountStatus::Cooling { until_ms, reason: r.as_str().to_owned() },
            None => AccountStatus::Active,
        }
    }

    /// Loads a persisted status (at start, or from another instance). `operator` disables are
    /// the definition's business and ignored here.
    pub fn restore(&self, status: &AccountStatus, now_ms: u64) {
        let sh = self.shared();
        match status {
            AccountStatus::Active => {}
            AccountStatus::Cooling { until_ms, reason } => {
                if *until_ms > now_ms {
                    sh.cool.extend(*until_ms, CoolReason::parse(reason));
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
    /// [`Account::on_failure`] for a lease, with the shard's clock and config. A 401 on
    /// credentials that a refresh has already replaced does nothing (the request just moves on).
    pub fn on_failure(
        &self,
        lease: &Lease,
        class: FailureClass,
        model: Option<&str>,
        retry_at_ms: Option<u64>,
    ) -> Effect {
        let acc = lease.account();
        let now = self.clock.now_ms();
        if class == FailureClass::Auth && lease.def().revision < acc.shared().min_revision() {
            acc.shared().stats.failure(class, now);
            return Effect::None;
        }
        acc.on_failure(&self.config(), class, model, retry_at_ms, now)
    }

    pub fn on_success(&self, lease: &Lease, tokens_in: u64, tokens_out: u64) {
        lease.account().on_success(tokens_in, tokens_out);
    }

    /// Admin reset of one account; `false` when the id is unknown.
    pub fn reset(&self, id: &str) -> bool {
        self.account(id).map(|a| a.reset()).is_some()
    }
}
