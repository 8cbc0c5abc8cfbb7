//! What the client gets when its request fails: the one table from a failure to the HTTP
//! status, error type, message and retry headers, for both client formats (`docs/failover.md`,
//! "What the client gets").
//!
//! Key components:
//! - [`for_class`]: the answer for a request whose last attempt failed with a class (every
//!   attempt failed, or a `client` error that is never retried). Its `kind` is also the error
//!   type of an in-stream error event after the first byte.
//! - [`for_unavailable`]: the answer when the pool has no account to try at all.
//! - [`failed`] / [`unavailable`]: those answers as responses; [`error_response`]: the shared
//!   body writer (Claude `{"type":"error","error":{"type","message"}}`, OpenAI
//!   `{"error":{"message","type","param","code"}}`), also used by the front end.
//!
//! The rule behind the table: the client did nothing wrong unless the class is `client`, so an
//! upstream's 401/403 about *our* account is never the client's 401/403. It is a 503 that names
//! the cause and says not to retry (an operator must act). Rate limits and quota are 429 with
//! `Retry-After` (the soonest moment an account is usable again, when known); an overloaded
//! upstream is Claude's 529 (OpenAI has no 529: 503); an unreachable one 502; a silent one 504.

use crate::channel::AttemptError;
use crate::domain::FailureClass;
use crate::http::Response;
use crate::pool::{Unavailable, UnavailableKind};
use crate::translate::canonical::{ErrorKind, WireFormat};
use crate::translate::out as wire;
use bytes::{BufMut, BytesMut};

/// How one failure is answered (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The error type (Claude `error.type` / OpenAI `error.type`).
    pub kind: ErrorKind,
    pub claude_status: u16,
    pub openai_status: u16,
    /// `x-should-retry`: whether an SDK should retry on its own.
    pub should_retry: bool,
    /// Whether a `Retry-After` is sent when a time is known.
    pub retry_after: bool,
    /// What went wrong, for the client's message (empty: the upstream's message alone).
    pub lead: &'static str,
}

impl Answer {
    pub fn status(&self, format: WireFormat) -> u16 {
        match format {
            WireFormat::Claude => self.claude_status,
            WireFormat::OpenAi => self.openai_status,
        }
    }
}

const fn answer(kind: ErrorKind, claude: u16, openai: u16, should_retry: bool, lead: &'static str) -> Answer {
    let retry_after = matches!(kind, ErrorKind::RateLimit | ErrorKind::Overloaded);
    Answer { kind, claude_status: claude, openai_status: openai, should_retry, retry_after, lead }
}

/// The answer for a request whose last attempt failed with `class` (module docs).
pub fn for_class(class: FailureClass) -> Answer {
    use ErrorKind as K;
    match class {
        FailureClass::Client => answer(K::InvalidRequest, 400, 400, false, ""),
        FailureClass::Model => {
            answer(K::NotFound, 404, 404, false, "the model is not available on the upstream accounts")
        }
        FailureClass::RateLimit => answer(K::RateLimit, 429, 429, true, "the upstream accounts are rate limited"),
        FailureClass::RateLimitShared => {
            answer(K::RateLimit, 429, 429, true, "the upstream's shared (team or channel) limit was reached")
        }
        FailureClass::Quota => {
            answer(K::RateLimit, 429, 429, true, "the upstream accounts are out of credits or quota")
        }
        FailureClass::Auth => answer(
            K::Api,
            503,
            503,
            false,
            "the upstream rejected the gateway's account credentials; an operator must update the account",
        ),
        FailureClass::Blocked => answer(
            K::Api,
            503,
            503,
            false,
            "the upstream blocked the gateway's account; an operator must replace or re-enable it",
        ),
        FailureClass::Server => answer(K::Overloaded, 529, 503, true, "the upstream failed or is overloaded"),
        FailureClass::Network => answer(K::Api, 502, 502, true, "the upstream could not be reached"),
        FailureClass::Slow => answer(K::Timeout, 504, 504, true, "the upstream did not start answering in time"),
    }
}

/// The answer when the pool has no account to try (module docs).
pub fn for_unavailable(kind: UnavailableKind) -> Answer {
    use ErrorKind as K;
    match kind {
        UnavailableKind::Busy => answer(K::Overloaded, 529, 503, true, "every upstream account is busy; retry shortly"),
        UnavailableKind::Cooling => {
            answer(K::RateLimit, 429, 429, true, "every upstream account is rate limited or cooling down")
        }
        UnavailableKind::NoAccount => answer(K::Api, 503, 503, false, "no upstream account can serve this model"),
        UnavailableKind::Disabled => answer(
            K::Api,
            503,
            503,
            false,
            "every upstream account that can serve this model is disabled (credentials rejected or account \
             blocked); an operator must fix the accounts",
        ),
        UnavailableKind::AllTried => answer(K::Api, 503, 503, true, "every upstream account failed for this request"),
    }
}

/// The client's answer when every attempt failed (or a `client` error ended the request):
/// `e` is the last failure, `attempts` how many accounts were tried, `pool` the pool's verdict
/// when it had nothing left to try (its `Retry-After` is the soonest an account is usable).
pub fn failed(format: WireFormat, e: &AttemptError, attempts: u32, pool: Option<&Unavailable>) -> Response {
    let a = for_class(e.class);
    let message = match (a.lead, attempts) {
        ("", _) => e.message.clone(),
        (lead, 0 | 1) => format!("{lead}: {}", e.message),
        (lead, n) => format!("{lead} ({n} accounts tried): {}", e.message),
    };
    let pool_wait = pool.filter(|u| u.kind == UnavailableKind::Cooling).and_then(|u| u.retry_after_s);
    let hint = e.retry_after.map(|d| d.as_secs().max(1));
    respond(format, &a, &message, pool_wait.or(hint))
}

/// The pool's "nothing can serve" answer.
pub fn unavailable(format: WireFormat, u: &Unavailable) -> Response {
    let a = for_unavailable(u.kind);
    respond(format, &a, a.lead, u.retry_after_s)
}

fn respond(format: WireFormat, a: &Answer, message: &str, retry_after_s: Option<u64>) -> Response {
    let mut r = body_response(format, a.kind, message, None, None);
    r.status = a.status(format);
    let r = r.header("x-should-retry", if a.should_retry { "true" } else { "false" });
    match retry_after_s.filter(|_| a.retry_after) {
        Some(s) => r.header("retry-after", s.max(1).to_string()),
        None => r,
    }
}

/// The HTTP status for an error kind in a format (OpenAI has no 529), for front-end errors.
pub fn status_for(format: WireFormat, kind: ErrorKind) -> u16 {
    match (format, kind) {
        (WireFormat::OpenAi, ErrorKind::Overloaded) => 503,
        _ => kind.status(),
    }
}

/// An error body in the client's format with the kind's status (front-end errors: auth, unknown
/// model, bad request): Claude `{"type":"error","error":{"type","message"}}`, OpenAI
/// `{"error":{"message","type","param","code"}}`.
pub fn error_response(
    format: WireFormat,
    kind: ErrorKind,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let r = body_response(format, kind, message, param, code);
    let status = r.status;
    if status >= 500 { r } else { r.header("x-should-retry", if status == 429 { "true" } else { "false" }) }
}

fn body_response(
    format: WireFormat,
    kind: ErrorKind,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let mut out = BytesMut::with_capacity(128 + message.len());
    match format {
        WireFormat::Claude => {
            out.put_slice(br#"{"type":"error","error":{"type":""#);
            out.put_slice(kind.claude().as_bytes());
            out.put_slice(br#"","message":"#);
            wire::text(&mut out, message);
            out.put_slice(b"}}");
        }
        WireFormat::OpenAi => {
            out.put_slice(br#"{"error":{"message":"#);
            wire::text(&mut out, message);
            out.put_slice(br#","type":""#);
            out.put_slice(kind.openai().as_bytes());
            out.put_slice(br#"","param":"#);
            match param {
                Some(p) => wire::text(&mut out, p),
                None => out.put_slice(b"null"),
            }
            out.put_slice(br#","code":"#);
            match code {
                Some(c) => wire::text(&mut out, c),
                None => out.put_slice(b"null"),
            }
            out.put_slice(b"}}");
        }
    }
    Response::json(status_for(format, kind), out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref())
    }

    fn body(r: &Response) -> serde_json::Value {
        match &r.body {
            crate::http::response::Body::Full(b) => serde_json::from_slice(b).unwrap(),
            other => panic!("not a full body: {other:?}"),
        }
    }

    /// (class, Claude status, Claude type, OpenAI status, OpenAI type, Retry-After sent, should-retry)
    const TABLE: [(FailureClass, u16, &str, u16, &str, bool, &str); 10] = [
        (FailureClass::Client, 400, "invalid_request_error", 400, "invalid_request_error", false, "false"),
        (FailureClass::Model, 404, "not_found_error", 404, "not_found_error", false, "false"),
        (FailureClass::RateLimit, 429, "rate_limit_error", 429, "rate_limit_exceeded", true, "true"),
        (FailureClass::RateLimitShared, 429, "rate_limit_error", 429, "rate_limit_exceeded", true, "true"),
        (FailureClass::Quota, 429, "rate_limit_error", 429, "rate_limit_exceeded", true, "true"),
        (FailureClass::Auth, 503, "api_error", 503, "server_error", false, "false"),
        (FailureClass::Blocked, 503, "api_error", 503, "server_error", false, "false"),
        (FailureClass::Server, 529, "overloaded_error", 503, "server_overloaded", true, "true"),
        (FailureClass::Network, 502, "api_error", 502, "server_error", false, "true"),
        (FailureClass::Slow, 504, "timeout_error", 504, "timeout", false, "true"),
    ];

    #[test]
    fn every_final_class_in_both_formats() {
        for (class, cs, ct, os, ot, sends_retry_after, should_retry) in TABLE {
            let mut e = AttemptError::new(class, "upstream said no");
            e.retry_after = Some(Duration::from_secs(42));
            let c = failed(WireFormat::Claude, &e, 2, None);
            assert_eq!(c.status, cs, "{class:?}");
            let v = body(&c);
            assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some(ct)), "{class:?}");
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.ends_with("upstream said no"), "{class:?}: {msg}");
            if class != FailureClass::Client {
                assert!(msg.contains("(2 accounts tried)"), "{class:?}: {msg}");
            }
            assert_eq!(header(&c, "retry-after"), sends_retry_after.then_some("42"), "{class:?}");
            assert_eq!(header(&c, "x-should-retry"), Some(should_retry), "{class:?}");
            let o = failed(WireFormat::OpenAi, &e, 1, None);
            assert_eq!(o.status, os, "{class:?}");
            let v = body(&o);
            assert_eq!(v["error"]["type"], ot, "{class:?}");
            assert!(v["error"]["param"].is_null() && v["error"]["code"].is_null());
            assert!(!v["error"]["message"].as_str().unwrap().contains("accounts tried"));
            assert_eq!(header(&o, "retry-after"), sends_retry_after.then_some("42"), "{class:?}");
        }
    }

    #[test]
    fn upstream_auth_and_blocks_name_the_cause_and_are_never_the_clients_401_or_403() {
        for class in [FailureClass::Auth, FailureClass::Blocked] {
            let r = failed(WireFormat::Claude, &AttemptError::new(class, "xAI API answered 401"), 1, None);
            assert_eq!(r.status, 503);
            let msg = body(&r)["error"]["message"].as_str().unwrap().to_owned();
            assert!(msg.contains("operator") && msg.contains("xAI API answered 401"), "{msg}");
        }
    }

    #[test]
    fn a_rate_limit_waits_for_the_pool_when_it_knows_better() {
        let mut e = AttemptError::new(FailureClass::RateLimitShared, "team limit");
        e.retry_after = Some(Duration::from_secs(60));
        let cooling = Unavailable { kind: UnavailableKind::Cooling, until_ms: Some(1), retry_after_s: Some(5) };
        assert_eq!(header(&failed(WireFormat::OpenAi, &e, 2, Some(&cooling)), "retry-after"), Some("5"));
        let tried = Unavailable { kind: UnavailableKind::AllTried, until_ms: None, retry_after_s: None };
        assert_eq!(header(&failed(WireFormat::OpenAi, &e, 2, Some(&tried)), "retry-after"), Some("60"));
        e.retry_after = None;
        assert_eq!(header(&failed(WireFormat::Claude, &e, 1, None), "retry-after"), None);
        let sub_second = AttemptError { retry_after: Some(Duration::from_millis(200)), ..e };
        assert_eq!(header(&failed(WireFormat::Claude, &sub_second, 1, None), "retry-after"), Some("1"));
    }

    #[test]
    fn the_pools_answer_per_format() {
        let cases = [
            (WireFormat::Claude, UnavailableKind::Busy, Some(1), 529, "overloaded_error"),
            (WireFormat::OpenAi, UnavailableKind::Busy, Some(1), 503, "server_overloaded"),
            (WireFormat::Claude, UnavailableKind::Cooling, Some(42), 429, "rate_limit_error"),
            (WireFormat::OpenAi, UnavailableKind::Cooling, Some(42), 429, "rate_limit_exceeded"),
            (WireFormat::Claude, UnavailableKind::NoAccount, None, 503, "api_error"),
            (WireFormat::OpenAi, UnavailableKind::Disabled, None, 503, "server_error"),
            (WireFormat::OpenAi, UnavailableKind::AllTried, None, 503, "server_error"),
        ];
        for (format, kind, ra, status, ty) in cases {
            let r = unavailable(format, &Unavailable { kind, until_ms: None, retry_after_s: ra });
            assert_eq!(r.status, status, "{format:?} {kind:?}");
            assert_eq!(body(&r)["error"]["type"], ty, "{format:?} {kind:?}");
            assert_eq!(header(&r, "retry-after").map(str::to_owned), ra.map(|s| s.to_string()), "{format:?} {kind:?}");
        }
        let disabled = Unavailable { kind: UnavailableKind::Disabled, until_ms: None, retry_after_s: None };
        let r = unavailable(WireFormat::Claude, &disabled);
        assert!(body(&r)["error"]["message"].as_str().unwrap().contains("disabled"));
        assert_eq!(header(&r, "x-should-retry"), Some("false"));
    }

    #[test]
    fn front_end_errors_keep_their_kinds_status() {
        let r = error_response(WireFormat::OpenAi, ErrorKind::Overloaded, "x", None, None);
        assert_eq!(r.status, 503);
        let r = error_response(WireFormat::Claude, ErrorKind::Overloaded, "x", None, None);
        assert_eq!(r.status, 529);
        let r = error_response(WireFormat::OpenAi, ErrorKind::NotFound, "x", Some("model"), Some("model_not_found"));
        assert_eq!((r.status, header(&r, "x-should-retry")), (404, Some("false")));
        assert_eq!(body(&r)["error"]["code"], "model_not_found");
    }
}
