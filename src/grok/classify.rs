//! Upstream failure classification for both grok surfaces: status + headers + body ->
//! [`FailureClass`], the scope it applies to, and a reset hint (reference A.3 and B.9).
//!
//! This is the one place where grok's error *texts* are read (xAI reports some key errors as
//! 400, credits exhaustion as 429, and team limits only in prose); everything downstream works
//! on the typed result. Reset hints: the caller reads the response headers once with
//! `pool::retry_after::HintParser` (`Retry-After`, then the reset of a used-up `x-ratelimit-*`
//! window, then any reset header) and passes the deadline in [`ErrorResponse::hint_at_ms`]; when
//! the headers name none, a phrase in the body counts ("retry after 7 seconds", "try again in 2
//! minutes"). No hint means the pool's default for the class.
//!
//! | surface | signal | class | scope |
//! |---|---|---|---|
//! | api | 400 mentioning an API key | auth | account |
//! | api | 400 other, 404, 405, 409, 413, 415, 422 | client | request |
//! | api/web | 401 | auth | account |
//! | api | 402; 429 "ran out of credits" / "spending limit" | quota | account |
//! | api | 403 mentioning a model | model | account+model |
//! | api | 403 other | blocked | account |
//! | web | 403 + `CF-Mitigated` or challenge HTML | rate_limit_shared | channel (10 min) |
//! | web | 403 `blocked-user` | blocked | account |
//! | web | 403 other | model | account+model |
//! | api/web | 429 team text (`resource-exhausted`, "too many requests for team", …) | rate_limit_shared | team (named in the text) |
//! | api/web | 429 other | rate_limit | account |
//! | api/web | 408, 425, 5xx, anything else | server | account |
//!
//! The scope is the pool's [`FailureScope`]: the pool cools exactly what it names.

use super::ndjson::{WebErrorKind, WebStreamError};
use crate::domain::FailureClass;
use crate::pool::FailureScope;
use serde_json::Value;
use std::time::Duration;

/// Cooldown for a Cloudflare challenge: the egress/browser context was refused, not an account.
pub const CHALLENGE_COOLDOWN: Duration = Duration::from_secs(600);
/// Team cooldown when only the per-minute limit (or nothing parseable) is known.
pub const TEAM_COOLDOWN: Duration = Duration::from_secs(60);
/// Team cooldown when only the per-second limit was hit.
pub const TEAM_SECOND_COOLDOWN: Duration = Duration::from_secs(5);
/// Longest upstream message kept (for logs and client-error relays).
const MAX_MESSAGE: usize = 500;

/// What the classifier reads from an upstream error response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorResponse<'a> {
    pub status: u16,
    /// The reset deadline (epoch ms) the response headers named (`pool::retry_after`).
    pub hint_at_ms: Option<u64>,
    /// `CF-Mitigated` (web only).
    pub cf_mitigated: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// The message a challenge gets instead of the challenge page's HTML.
pub const CHALLENGE_MESSAGE: &str = "grok.com refused the gateway's request context with a challenge page \
(an operator must check the accounts' cookies and the gateway's egress); the web channel is paused";

/// A parsed team limit message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamLimit {
    pub team: Option<String>,
    pub model: Option<String>,
    /// Requests per second (actual, limit).
    pub per_second: Option<(u32, u32)>,
    /// Requests per minute (actual, limit).
    pub per_minute: Option<(u32, u32)>,
}

/// The classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub class: FailureClass,
    pub scope: FailureScope,
    /// How long to cool down; `None` = the pool's default for the class.
    pub retry_after: Option<Duration>,
    /// The upstream's own message (trimmed, bounded), for logs and relayed client errors.
    pub message: String,
    /// The upstream's error code, when it gave one.
    pub code: Option<String>,
}

/// Classifies an xAI API (api.x.ai) error response.
pub fn classify_api(resp: &ErrorResponse<'_>, now_ms: u64) -> Classified {
    let (code, message) = error_text(resp.body);
    let lower = message.to_ascii_lowercase();
    let code_lower = code.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
    let hint = reset_hint(resp, &lower, now_ms);
    let (class, scope, retry_after) = match resp.status {
        400 if lower.contains("api key") => (FailureClass::Auth, FailureScope::Account, None),
        401 => (FailureClass::Auth, FailureScope::Account, None),
        402 => (FailureClass::Quota, FailureScope::Account, hint),
        403 if lower.contains("model") => (FailureClass::Model, FailureScope::AccountModel, hint),
        403 => (FailureClass::Blocked, FailureScope::Account, None),
        429 if lower.contains("ran out of credits")
            || lower.contains("spending limit")
            || lower.contains("credits") =>
        {
            (FailureClass::Quota, FailureScope::Account, hint)
        }
        429 if is_team_text(&lower, &code_lower) => team(hint, &message),
        429 => (FailureClass::RateLimit, FailureScope::Account, hint),
        400 | 404 | 405 | 409 | 411 | 413 | 414 | 415 | 422 => (FailureClass::Client, FailureScope::Request, None),
        _ => (FailureClass::Server, FailureScope::Account, hint),
    };
    Classified { class, scope, retry_after, message, code }
}

/// Classifies a grok.com web error response.
pub fn classify_web(resp: &ErrorResponse<'_>, now_ms: u64) -> Classified {
    let (code, message) = error_text(resp.body);
    let lower = message.to_ascii_lowercase();
    let code_lower = code.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
    let hint = reset_hint(resp, &lower, now_ms);
    if resp.status == 403 && (resp.cf_mitigated.is_some() || is_challenge_body(resp.body)) {
        return Classified {
            class: FailureClass::RateLimitShared,
            scope: FailureScope::Channel,
            retry_after: Some(hint.unwrap_or(CHALLENGE_COOLDOWN)),
            message: CHALLENGE_MESSAGE.to_owned(),
            code: None,
        };
    }
    let (class, scope, retry_after) = match resp.status {
        401 => (FailureClass::Auth, FailureScope::Account, None),
        403 if code_lower == "blocked-user" || lower.contains("user is blocked") => {
            (FailureClass::Blocked, FailureScope::Account, None)
        }
        403 => (FailureClass::Model, FailureScope::AccountModel, hint),
        429 if is_team_text(&lower, &code_lower) => team(hint, &message),
        429 => (FailureClass::RateLimit, FailureScope::Account, hint),
        400 | 404 | 405 | 409 | 411 | 413 | 414 | 415 | 422 => (FailureClass::Client, FailureScope::Request, None),
        _ => (FailureClass::Server, FailureScope::Account, hint),
    };
    Classified { class, scope, retry_after, message, code }
}

/// Classifies an error reported inside a 200 NDJSON stream.
pub fn classify_stream_error(err: &WebStreamError) -> Classified {
    let (class, scope) = match err.kind {
        WebErrorKind::ImageRateLimited => (FailureClass::RateLimit, FailureScope::AccountModel),
        WebErrorKind::TopLevel | WebErrorKind::Stream => (FailureClass::Server, FailureScope::Account),
    };
    Classified { class, scope, retry_after: None, message: bounded(&err.message), code: err.code.clone() }
}

fn team(hint: Option<Duration>, message: &str) -> (FailureClass, FailureScope, Option<Duration>) {
    let limit = parse_team_limit(message).unwrap_or_default();
    let over = |p: Option<(u32, u32)>| p.is_some_and(|(a, l)| a >= l);
    let fallback = if over(limit.per_second) && !over(limit.per_minute) { TEAM_SECOND_COOLDOWN } else { TEAM_COOLDOWN };
    (FailureClass::RateLimitShared, FailureScope::Team { team: limit.team }, Some(hint.unwrap_or(fallback)))
}

fn is_team_text(lower: &str, code_lower: &str) -> bool {
    code_lower == "resource-exhausted"
        || code_lower == "resource_exhausted"
        || lower.contains("too many requests for team")
        || lower.contains("resource_exhausted")
        || lower.contains("resource-exhausted")
        || lower.contains("please try again in a bit")
}

fn is_challenge_body(body: &[u8]) -> bool {
    let probe = body.get(..body.len().min(64 * 1024)).unwrap_or_default();
    [&b"challenge-platform"[..], b"cf-chl", b"Just a moment...", b"cf_chl_opt"]
        .iter()
        .any(|needle| memchr::memmem::find(probe, needle).is_some())
}

/// `(code, message)` from a flat xAI body, a nested `{"error":{…}}` body, or plain text.
pub fn error_text(body: &[u8]) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (None, bounded(&String::from_utf8_lossy(body)));
    };
    let code_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut code = code_of(v.get("code"));
    let message = match v.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(e @ Value::Object(_)) => {
            code = code_of(e.get("code")).or(code);
            match e.get("message") {
                Some(Value::String(s)) => s.clone(),
                _ => e.to_string(),
            }
        }
        _ => match v.get("message") {
            Some(Value::String(s)) => s.clone(),
            _ => code.clone().unwrap_or_else(|| v.to_string()),
        },
    };
    (code, bounded(&message))
}

fn bounded(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

fn reset_hint(resp: &ErrorResponse<'_>, lower_message: &str, now_ms: u64) -> Option<Duration> {
    resp.hint_at_ms.map(|at| Duration::from_millis(at.saturating_sub(now_ms))).or_else(|| body_hint(lower_message))
}

/// "retry after 7 seconds", "try again in 2 minutes", "retry in 500ms" (lower-case input).
fn body_hint(lower: &str) -> Option<Duration> {
    for lead in ["retry after ", "try again in ", "retry in "] {
        let Some(at) = lower.find(lead) else { continue };
        let rest = lower.get(at + lead.len()..).unwrap_or_default();
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let Ok(n) = rest.get(..num_end).unwrap_or_default().parse::<f64>() else {
            continue;
        };
        let unit = rest.get(num_end..).unwrap_or_default().trim_start();
        let secs = if unit.starts_with("ms") || unit.starts_with("milli") {
            n / 1000.0
        } else if unit.starts_with("min") || unit.starts_with("m ") || unit == "m" {
            n * 60.0
        } else if unit.starts_with('h') {
            n * 3600.0
        } else {
            n
        };
        if let Ok(d) = Duration::try_from_secs_f64(secs) {
            return Some(d);
        }
    }
    None
}

/// Parses the B.9 team message.
pub fn parse_team_limit(message: &str) -> Option<TeamLimit> {
    let lower = message.to_ascii_lowercase();
    let word_after = |needle: &str| -> Option<String> {
        let at = lower.find(needle)? + needle.len();
        let rest = message.get(at..)?;
        let word: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        let word = word.trim_end_matches(['.', ',', ';']).to_owned();
        (!word.is_empty()).then_some(word)
    };
    let pair_after = |needle: &str| -> Option<(u32, u32)> {
        let at = lower.find(needle)? + needle.len();
        let rest = lower.get(at..)?.trim_start();
        let (a, tail) = rest.split_once('/')?;
        let b: String = tail.chars().take_while(char::is_ascii_digit).collect();
        Some((a.trim().parse().ok()?, b.parse().ok()?))
    };
    let out = TeamLimit {
        team: word_after("for team "),
        model: word_after(" and model "),
        per_second: pair_after("requests per second (actual/limit):"),
        per_minute: pair_after("requests per minute (actual/limit):"),
    };
    (out != TeamLimit::default()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> Classified {
        classify_api(&ErrorResponse { status, body: body.as_bytes(), ..Default::default() }, 0)
    }

    fn web(status: u16, body: &str) -> Classified {
        classify_web(&ErrorResponse { status, body: body.as_bytes(), ..Default::default() }, 0)
    }

    #[test]
    fn api_table() {
        let c =
            api(400, r#"{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***."}"#);
        assert_eq!((c.class, c.scope.clone()), (FailureClass::Auth, FailureScope::Account));
        assert_eq!(c.code.as_deref(), Some("Client specified an invalid argument"));
        assert!(c.message.starts_with("Incorrect API key"));
        assert_eq!(
            api(400, r#"{"code":"x","error":"This model's maximum prompt length is 131072"}"#).class,
            FailureClass::Client
        );
        assert_eq!(api(401, "").class, FailureClass::Auth);
        assert_eq!(api(402, "{}").class, FailureClass::Quota);
        assert_eq!(api(429, r#"{"code":429,"error":"You ran out of credits."}"#).class, FailureClass::Quota);
        assert_eq!(api(429, r#"{"code":429,"error":"You ran out of credits."}"#).code.as_deref(), Some("429"));
        assert_eq!(api(429, r#"{"error":"Monthly spending limit reached"}"#).class, FailureClass::Quota);
        assert_eq!(api(429, r#"{"error":"slow down"}"#).class, FailureClass::RateLimit);
        assert_eq!(
            api(403, r#"{"error":"The model grok-x is not permitted for your team"}"#).class,
            FailureClass::Model
        );
        assert_eq!(api(403, r#"{"error":"Your team is blocked"}"#).class, FailureClass::Blocked);
        assert_eq!(api(404, r#"{"error":"no such model"}"#).class, FailureClass::Client);
        assert_eq!(api(422, "missing field `messages`").class, FailureClass::Client);
        assert_eq!(api(503, "overloaded").class, FailureClass::Server);
        assert_eq!(api(500, "").scope, FailureScope::Account);
        assert_eq!(api(422, "x").scope, FailureScope::Request);
        assert_eq!(
            api(403, r#"{"error":"The model grok-x is not permitted for your team"}"#).scope,
            FailureScope::AccountModel
        );
    }

    #[test]
    fn web_table() {
        assert_eq!(web(401, "").class, FailureClass::Auth);
        assert_eq!(web(403, r#"{"code":"blocked-user"}"#).class, FailureClass::Blocked);
        assert_eq!(
            web(403, r#"{"error":{"code":"blocked-user","message":"user is blocked"}}"#).class,
            FailureClass::Blocked
        );
        let cf = classify_web(
            &ErrorResponse { status: 403, cf_mitigated: Some(b"challenge"), body: b"<html>", ..Default::default() },
            0,
        );
        assert_eq!(
            (cf.class, cf.scope, cf.retry_after),
            (FailureClass::RateLimitShared, FailureScope::Channel, Some(CHALLENGE_COOLDOWN))
        );
        assert_eq!(cf.message, CHALLENGE_MESSAGE, "no HTML in the message");
        let html = web(403, "<html><title>Just a moment...</title><script src=/cdn-cgi/challenge-platform/x></script>");
        assert_eq!(html.scope, FailureScope::Channel);
        let other = web(403, r#"{"error":{"code":"permission-denied","message":"upgrade required"}}"#);
        assert_eq!((other.class, other.scope), (FailureClass::Model, FailureScope::AccountModel));
        assert_eq!(web(429, "").class, FailureClass::RateLimit);
        assert_eq!(web(502, "bad gateway").class, FailureClass::Server);
        assert_eq!(web(400, r#"{"error":{"message":"bad modeId"}}"#).class, FailureClass::Client);
    }

    #[test]
    fn team_429() {
        let body = r#"{"code":"resource-exhausted","error":"Too many requests for team 0b6f-11aa and model grok-4. Your team's rate limit is — Requests per Second (actual/limit): 2/2, Requests per Minute (actual/limit): 73/60."}"#;
        let c = web(429, body);
        assert_eq!(c.class, FailureClass::RateLimitShared);
        assert_eq!(c.scope, FailureScope::Team { team: Some("0b6f-11aa".into()) });
        assert_eq!(c.retry_after, Some(TEAM_COOLDOWN));
        let rps_only = r#"{"code":"resource-exhausted","error":"Too many requests for team t and model m. Your team's rate limit is — Requests per Second (actual/limit): 3/2, Requests per Minute (actual/limit): 10/60."}"#;
        assert_eq!(web(429, rps_only).retry_after, Some(TEAM_SECOND_COOLDOWN));
        assert_eq!(api(429, r#"{"error":"please try again in a bit"}"#).class, FailureClass::RateLimitShared);
        let t = parse_team_limit("Too many requests for team abc and model grok-4.").unwrap();
        assert_eq!((t.team.as_deref(), t.model.as_deref(), t.per_second), (Some("abc"), Some("grok-4"), None));
    }

    #[test]
    fn reset_hints_come_from_the_headers_then_the_body() {
        const NOW: u64 = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        let with = |headers: &[(&str, &str)], body: &'static str| {
            let hint_at_ms =
                crate::pool::deadline_from_headers(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), NOW);
            classify_web(&ErrorResponse { status: 429, hint_at_ms, body: body.as_bytes(), ..Default::default() }, NOW)
                .retry_after
        };
        assert_eq!(with(&[("retry-after", "17")], ""), Some(Duration::from_secs(17)));
        assert_eq!(with(&[("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")], ""), Some(Duration::ZERO));
        assert_eq!(with(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")], ""), Some(Duration::from_secs(60)));
        assert_eq!(with(&[("x-ratelimit-reset", "6m0s")], ""), Some(Duration::from_secs(360)));
        assert_eq!(with(&[("ratelimit-reset", "1.5")], ""), Some(Duration::from_millis(1500)));
        let used_up = [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "20s")];
        assert_eq!(with(&used_up, "try again in 2 minutes"), Some(Duration::from_secs(20)), "headers first");
        assert_eq!(with(&[], r#"{"error":"Rate limited, retry after 7 seconds"}"#), Some(Duration::from_secs(7)));
        assert_eq!(with(&[], r#"{"error":"try again in 2 minutes"}"#), Some(Duration::from_secs(120)));
        assert_eq!(with(&[], r#"{"error":"retry in 250ms"}"#), Some(Duration::from_millis(250)));
        assert_eq!(with(&[("retry-after", "soon")], "nothing"), None);
    }

    #[test]
    fn stream_errors() {
        let e = WebStreamError { kind: WebErrorKind::ImageRateLimited, code: None, message: "limit".into() };
        let c = classify_stream_error(&e);
        assert_eq!((c.class, c.scope), (FailureClass::RateLimit, FailureScope::AccountModel));
        let e = WebStreamError { kind: WebErrorKind::Stream, code: None, message: "x".into() };
        assert_eq!(classify_stream_error(&e).class, FailureClass::Server);
    }

    #[test]
    fn long_bodies_are_bounded() {
        let c = api(500, &"é".repeat(2000));
        assert!(c.message.len() <= MAX_MESSAGE + 3);
    }
}
