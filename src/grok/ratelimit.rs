//! Quota for display (reference B.7): the grok.com `POST /rest/rate-limits` probe. (The
//! `x-ratelimit-*` / `ratelimit-*` headers a chat response may carry are read by
//! `pool::rate_limits` and kept on the account, for both grok surfaces.)
//!
//! [`request_body`] builds the probe body; [`parse_response`] reads the answer, preferring the
//! pair that has both a limit and a remaining value in the order tokens, queries, generic
//! `limit`/`remaining`. The window reset is not given exactly (the window starts at first use),
//! so `resets_in` is only set from `resetAt` / `nextReset` when present. Probing is cheap for us
//! but not for the upstream: the original probed at most [`PROBES_PER_MINUTE`] accounts a minute
//! and backed off for [`PROBE_BACKOFF`] after a 429 on this endpoint.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

pub const PROBES_PER_MINUTE: u32 = 5;
pub const PROBE_BACKOFF: Duration = Duration::from_secs(600);

/// Which counter the quota numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaUnit {
    Tokens,
    Queries,
    Generic,
}

/// An account's quota as read from the upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub unit: QuotaUnit,
    pub limit: u64,
    pub remaining: u64,
    /// `windowSizeSeconds`.
    pub window: Option<Duration>,
    /// Time until reset when the upstream said (`resetAt`/`nextReset`).
    pub resets_in: Option<Duration>,
    /// `lowEffortRateLimits.remainingQueries` / `highEffortRateLimits.remainingQueries`.
    pub low_effort_remaining: Option<u64>,
    pub high_effort_remaining: Option<u64>,
}

impl Quota {
    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }
}

/// `{"requestKind":"DEFAULT","modelName":"<mode>"}`; an empty mode means `fast`.
pub fn request_body(mode_id: &str) -> Vec<u8> {
    let mode = if mode_id.is_empty() { "fast" } else { mode_id };
    let mut out = Vec::with_capacity(48 + mode.len());
    out.extend_from_slice(b"{\"requestKind\":\"DEFAULT\",\"modelName\":");
    crate::util::json::push_str(&mut out, mode);
    out.push(b'}');
    out
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Wire {
    #[serde(rename = "windowSizeSeconds")]
    window_size_seconds: Option<f64>,
    #[serde(rename = "remainingQueries")]
    remaining_queries: Option<f64>,
    #[serde(rename = "totalQueries")]
    total_queries: Option<f64>,
    #[serde(rename = "remainingTokens")]
    remaining_tokens: Option<f64>,
    #[serde(rename = "totalTokens")]
    total_tokens: Option<f64>,
    limit: Option<f64>,
    remaining: Option<f64>,
    #[serde(rename = "resetAt")]
    reset_at: Option<Value>,
    #[serde(rename = "nextReset")]
    next_reset: Option<Value>,
    #[serde(rename = "lowEffortRateLimits")]
    low: Option<Effort>,
    #[serde(rename = "highEffortRateLimits")]
    high: Option<Effort>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Effort {
    #[serde(rename = "remainingQueries")]
    remaining_queries: Option<f64>,
}

#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "finite, non-negative, clamped")]
fn count(v: Option<f64>) -> Option<u64> {
    v.filter(|f| f.is_finite() && *f >= 0.0).map(|f| f.min(9.0e15) as u64)
}

/// Reads a `/rest/rate-limits` answer. `None` when it names no usable limit.
pub fn parse_response(body: &[u8], now_ms: u64) -> Option<Quota> {
    let w: Wire = serde_json::from_slice(body).ok()?;
    let pairs = [
        (QuotaUnit::Tokens, count(w.total_tokens), count(w.remaining_tokens)),
        (QuotaUnit::Queries, count(w.total_queries), count(w.remaining_queries)),
        (QuotaUnit::Generic, count(w.limit), count(w.remaining)),
    ];
    let (unit, limit, remaining) = pairs.into_iter().find_map(|(u, l, r)| match (l, r) {
        (Some(l), Some(r)) if l > 0 => Some((u, l, r)),
        _ => None,
    })?;
    let resets_in = w.reset_at.as_ref().or(w.next_reset.as_ref()).and_then(|v| reset_value(v, now_ms));
    Some(Quota {
        unit,
        limit,
        remaining: remaining.min(limit),
        window: w
            .window_size_seconds
            .filter(|s| s.is_finite() && *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        resets_in,
        low_effort_remaining: w.low.and_then(|e| count(e.remaining_queries)),
        high_effort_remaining: w.high.and_then(|e| count(e.remaining_queries)),
    })
}

/// `resetAt` as epoch seconds or milliseconds (number or numeric string).
fn reset_value(v: &Value, now_ms: u64) -> Option<Duration> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // Milliseconds when it is too large to be seconds.
    let at =
        if n > 1e11 { Duration::try_from_secs_f64(n / 1000.0).ok()? } else { Duration::try_from_secs_f64(n).ok()? };
    Some(at.saturating_sub(Duration::from_millis(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        assert_eq!(request_body("expert"), br#"{"requestKind":"DEFAULT","modelName":"expert"}"#);
        assert_eq!(request_body(""), br#"{"requestKind":"DEFAULT","modelName":"fast"}"#);
    }

    #[test]
    fn reference_example_prefers_tokens() {
        let body = br#"{"windowSizeSeconds":72000,"remainingQueries":0,"totalQueries":0,"remainingTokens":80,"totalTokens":80,
            "lowEffortRateLimits":{"cost":1,"remainingQueries":80},"highEffortRateLimits":{"cost":4,"remainingQueries":20}}"#;
        let q = parse_response(body, 0).unwrap();
        assert_eq!((q.unit, q.limit, q.remaining), (QuotaUnit::Tokens, 80, 80));
        assert_eq!(q.window, Some(Duration::from_secs(72000)));
        assert_eq!((q.low_effort_remaining, q.high_effort_remaining), (Some(80), Some(20)));
        assert!(!q.exhausted());
    }

    #[test]
    fn queries_then_generic_and_reset() {
        let q = parse_response(br#"{"remainingQueries":0,"totalQueries":25,"resetAt":1000}"#, 400_000).unwrap();
        assert_eq!((q.unit, q.remaining, q.resets_in), (QuotaUnit::Queries, 0, Some(Duration::from_secs(600))));
        assert!(q.exhausted());
        let g =
            parse_response(br#"{"limit":10,"remaining":3,"nextReset":"2000000000000"}"#, 1_999_999_000_000).unwrap();
        assert_eq!((g.unit, g.remaining, g.resets_in), (QuotaUnit::Generic, 3, Some(Duration::from_secs(1000))));
        assert_eq!(parse_response(br#"{"windowSizeSeconds":1}"#, 0), None);
        assert_eq!(parse_response(b"nope", 0), None);
    }
}
