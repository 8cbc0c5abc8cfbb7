//! The pool's settings (`pool` object in `config.json`): attempts, deadlines, cooldown defaults,
//! failure windows, the slot wait queue, stickiness and token refresh.
//!
//! Key components: [`PoolConfig`] (typed, `Copy`, with the shipped defaults) and [`read`], which
//! the config loader calls for the `pool` object; every key is range-checked and reported with
//! its path, unknown keys are rejected by the caller's `finish`. Documented in `docs/config.md`
//! and `docs/failover.md`. All durations are milliseconds, like every pool deadline.

use crate::config::reader::{ObjReader, Problems};

/// Upper bound of `max_attempts` (the tried set is a fixed inline array of this size).
pub const MAX_ATTEMPTS_LIMIT: u32 = 16;

const DAY_MS: u64 = 24 * 3600 * 1000;

/// See the module docs and `docs/failover.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Accounts tried per request (the first one included) before giving up.
    pub max_attempts: u32,
    /// No first upstream token within this: class `slow`, fail over while nothing was written.
    pub ttft_timeout_ms: u64,
    /// `rate_limit` / `rate_limit_shared` cooldown when the upstream gives no hint.
    pub cooldown_rate_limit_ms: u64,
    /// `quota` cooldown when the upstream gives no reset hint.
    pub cooldown_quota_ms: u64,
    /// How long an (account, model) pair stays unavailable after a `model` failure.
    pub cooldown_model_ms: u64,
    /// The sliding window in which `network` / `server` failures are counted.
    pub failure_window_ms: u64,
    /// Failures in the window that cool the account.
    pub failure_threshold: u32,
    /// Cooldown after `failure_threshold` failures in the window.
    pub cooldown_failures_ms: u64,
    /// Longest wait for a free slot when every usable account is at `max_concurrency`.
    pub queue_wait_ms: u64,
    /// A sticky session forgets its account after this long unused.
    pub sticky_ttl_ms: u64,
    /// Sticky sessions remembered per worker; 0 turns stickiness off.
    pub sticky_max_entries: usize,
    /// Refresh a token this long before it expires.
    pub refresh_ahead_ms: u64,
    /// After a 401 the account is skipped this long while its refresh runs; also the TTL of the
    /// cross-instance refresh lock and the longest a background refresh waits for it.
    pub refresh_timeout_ms: u64,
    /// How often the background sweeper looks for tokens expiring within `refresh_ahead_ms`
    /// (one sweeper per process); 0 turns it off.
    pub refresh_sweep_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            ttft_timeout_ms: 60_000,
            cooldown_rate_limit_ms: 60_000,
            cooldown_quota_ms: DAY_MS,
            cooldown_model_ms: 600_000,
            failure_window_ms: 60_000,
            failure_threshold: 3,
            cooldown_failures_ms: 30_000,
            queue_wait_ms: 2_000,
            sticky_ttl_ms: 3_600_000,
            sticky_max_entries: 10_000,
            refresh_ahead_ms: 300_000,
            refresh_timeout_ms: 15_000,
            refresh_sweep_ms: 30_000,
        }
    }
}

impl PoolConfig {
    pub fn ttft_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ttft_timeout_ms)
    }
}

/// Reads the keys of the `pool` object into `c` (absent keys keep their value).
pub fn read(r: &mut ObjReader<'_>, p: &mut Problems, c: &mut PoolConfig) {
    const WEEK_MS: u64 = 7 * DAY_MS;
    if let Some(v) = r.uint(p, "max_attempts", 1, u64::from(MAX_ATTEMPTS_LIMIT)) {
        c.max_attempts = u32::try_from(v).unwrap_or(c.max_attempts);
    }
    if let Some(v) = r.uint(p, "failure_threshold", 1, 10_000) {
        c.failure_threshold = u32::try_from(v).unwrap_or(c.failure_threshold);
    }
    if let Some(v) = r.uint(p, "sticky_max_entries", 0, 10_000_000) {
        c.sticky_max_entries = usize::try_from(v).unwrap_or(c.sticky_max_entries);
    }
    let mut ms = |key, min, max, slot: &mut u64| {
        if let Some(v) = r.uint(p, key, min, max) {
            *slot = v;
        }
    };
    ms("ttft_timeout_ms", 1_000, 3_600_000, &mut c.ttft_timeout_ms);
    ms("cooldown_rate_limit_ms", 1_000, WEEK_MS, &mut c.cooldown_rate_limit_ms);
    ms("cooldown_quota_ms", 1_000, 31 * DAY_MS, &mut c.cooldown_quota_ms);
    ms("cooldown_model_ms", 1_000, WEEK_MS, &mut c.cooldown_model_ms);
    ms("failure_window_ms", 1_000, DAY_MS, &mut c.failure_window_ms);
    ms("cooldown_failures_ms", 1_000, DAY_MS, &mut c.cooldown_failures_ms);
    ms("queue_wait_ms", 0, 60_000, &mut c.queue_wait_ms);
    ms("sticky_ttl_ms", 1_000, 7 * DAY_MS, &mut c.sticky_ttl_ms);
    ms("refresh_ahead_ms", 0, DAY_MS, &mut c.refresh_ahead_ms);
    ms("refresh_timeout_ms", 1_000, 600_000, &mut c.refresh_timeout_ms);
    if let Some(v) = r.uint(p, "refresh_sweep_ms", 0, 3_600_000) {
        if (1..100).contains(&v) {
            p.push(r.path("refresh_sweep_ms"), "must be 0 (off) or from 100 to 3600000");
        } else {
            c.refresh_sweep_ms = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, parse};
    use std::path::Path;

    fn check(text: &str) -> Result<Config, crate::config::ConfigError> {
        parse(Path::new("t.json"), text)
    }

    #[test]
    fn defaults_when_absent() {
        let cfg = check("{}").unwrap();
        assert_eq!(cfg.pool, super::PoolConfig::default());
        assert_eq!(cfg.pool.max_attempts, 3);
        assert_eq!(cfg.pool.cooldown_quota_ms, 86_400_000);
    }

    #[test]
    fn the_shipped_config_shows_the_defaults() {
        let cfg = parse(Path::new("config.json"), include_str!("../../config.json")).unwrap();
        assert_eq!(cfg.pool, super::PoolConfig::default());
    }

    #[test]
    fn every_key_is_read() {
        let cfg = check(
            r#"{"pool":{"max_attempts":5,"ttft_timeout_ms":20000,"cooldown_rate_limit_ms":1000,
                "cooldown_quota_ms":3600000,"cooldown_model_ms":2000,"failure_window_ms":10000,
                "failure_threshold":2,"cooldown_failures_ms":5000,"queue_wait_ms":0,
                "sticky_ttl_ms":60000,"sticky_max_entries":0,"refresh_ahead_ms":0,
                "refresh_timeout_ms":3000,"refresh_sweep_ms":0}}"#,
        )
        .unwrap();
        let p = cfg.pool;
        assert_eq!(
            (p.max_attempts, p.ttft_timeout_ms, p.cooldown_rate_limit_ms, p.cooldown_quota_ms, p.cooldown_model_ms),
            (5, 20_000, 1_000, 3_600_000, 2_000)
        );
        assert_eq!(
            (p.failure_window_ms, p.failure_threshold, p.cooldown_failures_ms, p.queue_wait_ms),
            (10_000, 2, 5_000, 0)
        );
        assert_eq!(
            (p.sticky_ttl_ms, p.sticky_max_entries, p.refresh_ahead_ms, p.refresh_timeout_ms),
            (60_000, 0, 0, 3_000)
        );
        assert_eq!(p.refresh_sweep_ms, 0);
        assert!(check(r#"{"pool":{"refresh_sweep_ms":50}}"#).is_err(), "0 or at least 100");
        assert_eq!(check(r#"{"pool":{"refresh_sweep_ms":100}}"#).unwrap().pool.refresh_sweep_ms, 100);
    }

    #[test]
    fn bad_values_and_unknown_keys_are_reported_with_paths() {
        let err = check(r#"{"pool":{"max_attempts":0,"failure_threshold":"x","queue_wait_ms":999999,"retries":2}}"#)
            .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in ["pool.max_attempts", "pool.failure_threshold", "pool.queue_wait_ms", "pool.retries"] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
        let err = check(r#"{"pool":{"max_attempts":17}}"#).unwrap_err();
        assert!(err.to_string().contains("from 1 to 16"));
        assert!(check(r#"{"pool":[]}"#).is_err());
    }
}
