//! The grok.com rate-limit lookup (reference B.7) for quota display: `POST
//! {web_base_url}/rest/rate-limits` with the account's web headers and
//! `{"requestKind":"DEFAULT","modelName":"<mode>"}`, read by `grok::ratelimit::parse_response`.
//!
//! [`lookup`] is what the admin calls for one web account. [`ProbeGate`] keeps this worker
//! within the reference's pacing: at most `PROBES_PER_MINUTE` probes a minute, none for
//! `PROBE_BACKOFF` after the endpoint answered 429. API-key accounts have no such endpoint;
//! their quota shows in the `x-ratelimit-*` headers of chat answers.

use super::GrokChannel;
use super::creds::Creds;
use crate::channel::AttemptError;
use crate::domain::{AccountDef, FailureClass};
use crate::grok::classify::classify_web;
use crate::grok::ratelimit::{PROBE_BACKOFF, PROBES_PER_MINUTE, Quota, parse_response, request_body};
use crate::grok::web_request::{self, RATE_LIMITS_PATH};
use crate::upstream::Request;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Per-worker pacing of quota probes.
#[derive(Debug)]
pub struct ProbeGate {
    window_start: Cell<Option<Instant>>,
    used: Cell<u32>,
    backoff_until: Cell<Option<Instant>>,
}

impl Default for ProbeGate {
    fn default() -> Self {
        Self { window_start: Cell::new(None), used: Cell::new(0), backoff_until: Cell::new(None) }
    }
}

impl ProbeGate {
    /// Takes one probe slot, or says how long to wait.
    pub fn take(&self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.backoff_until.get().filter(|u| *u > now) {
            return Err(until - now);
        }
        let minute = Duration::from_secs(60);
        let start = match self.window_start.get() {
            Some(s) if now.duration_since(s) < minute => s,
            _ => {
                self.window_start.set(Some(now));
                self.used.set(0);
                now
            }
        };
        if self.used.get() >= PROBES_PER_MINUTE {
            return Err(minute.saturating_sub(now.duration_since(start)));
        }
        self.used.set(self.used.get() + 1);
        Ok(())
    }

    /// The endpoint answered 429: no probes for `PROBE_BACKOFF`.
    pub fn back_off(&self, now: Instant) {
        self.backoff_until.set(Some(now + PROBE_BACKOFF));
    }
}

/// Looks up a web account's quota for `mode` (`fast` when empty).
pub async fn lookup(
    ch: &GrokChannel,
    gate: &ProbeGate,
    account: &AccountDef,
    mode: &str,
) -> Result<Quota, AttemptError> {
    let Creds::Web { sso, cookies } = Creds::of(account)? else {
        let msg = format!(
            "grok account {} uses an API key: its rate-limit windows come from the x-ratelimit-* headers of its answers (`upstream_limits` in GET /api/accounts/{{id}})",
            account.id
        );
        return Err(AttemptError::new(FailureClass::Client, msg));
    };
    if let Err(wait) = gate.take(Instant::now()) {
        let mut e =
            AttemptError::new(FailureClass::RateLimit, "quota probes are paced (5 a minute, 10 minutes after a 429)");
        e.retry_after = Some(wait);
        return Err(e);
    }
    let url = format!("{}{RATE_LIMITS_PATH}", ch.web_base_url);
    let headers = web_request::headers(&ch.web_base_url, "/", sso, cookies).map_err(|e| {
        AttemptError::new(FailureClass::Auth, format!("grok account {} has unusable web credentials: {e}", account.id))
    })?;
    let mut http = Request::post(&url, request_body(mode))
        .map_err(|e| super::transport_error("grok.com", &e))?
        .options(super::request_options(account));
    for (name, value) in headers {
        http = http.header(name, value);
    }
    let resp = ch.client().send(http).await.map_err(|e| super::transport_error("grok.com", &e))?;
    if resp.status() == 429 {
        gate.back_off(Instant::now());
    }
    if resp.status() != 200 {
        let hints = super::read_head(&resp.head, None);
        return Err(super::http_error("grok.com rate-limits", resp, &hints, classify_web).await);
    }
    let body = super::read_bounded(resp.body, super::MAX_ERROR_BODY)
        .await
        .map_err(|e| super::transport_error("grok.com", &e))?;
    parse_response(&body, super::now_ms())
        .ok_or_else(|| AttemptError::new(FailureClass::Server, "grok.com rate-limits answered without a usable limit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_paces_and_backs_off() {
        let g = ProbeGate::default();
        let t0 = Instant::now();
        for _ in 0..PROBES_PER_MINUTE {
            g.take(t0).unwrap();
        }
        assert!(g.take(t0 + Duration::from_secs(1)).is_err());
        g.take(t0 + Duration::from_secs(61)).unwrap();
        g.back_off(t0 + Duration::from_secs(61));
        let wait = g.take(t0 + Duration::from_secs(62)).unwrap_err();
        assert!(wait > Duration::from_secs(500));
    }
}
