//! The account pool through the real server with the test channel and several accounts:
//! failover on each retryable class, no retry after the first byte, TTFT failover,
//! error-in-200, the whole-pool-cooling answer, per-account caps, explain and reset, sticky
//! sessions, and a persisted cooldown surviving a restart.
//!
//! Accounts fail by script (`credentials.fail`, see `src/sim/test_channel.rs`); the `whoami`
//! message makes the test channel answer with the id of the account that served it.

#![allow(
    clippy::allow_attributes,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code: failing loudly is the point"
)]

pub mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Server, ServerBuilder, TempDir, http, poll_until, post_json, sse_events};

const KEY: &str = "sk-test-key-0001";
const ADMIN: &str = "admin-token-0123456789";
/// An orchids model (the test channel's `orchids` instance yields canonical events).
const MODEL: &str = "claude-sonnet-4-5";

fn acct(id: &str, priority: i32, creds: &Value) -> Value {
    let mut c = json!({"api_key": "k-0123456789abcdefXYZ"});
    for (k, v) in creds.as_object().unwrap() {
        c[k] = v.clone();
    }
    json!({"id": id, "channel": "orchids", "priority": priority, "credentials": c})
}

fn config(accounts: &[Value], pool: &Value) -> Value {
    json!({"api_keys": [KEY], "test_channel": true, "admin_token": ADMIN, "accounts": accounts, "pool": pool})
}

fn server(accounts: &[Value], pool: &Value) -> Server {
    Server::start(&config(accounts, pool))
}

fn claude_with(s: &Server, text: &str, stream: bool, extra: &[(&str, &str)]) -> support::Response {
    let mut h = vec![("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
    h.extend_from_slice(extra);
    post_json(
        s.addr,
        "/v1/messages",
        &h,
        &json!({"model": MODEL, "max_tokens": 50, "stream": stream,
        "messages": [{"role": "user", "content": text}]}),
    )
}

fn claude(s: &Server, text: &str, stream: bool) -> support::Response {
    claude_with(s, text, stream, &[])
}

fn openai(s: &Server, text: &str, stream: bool) -> support::Response {
    post_json(
        s.addr,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {KEY}"))],
        &json!({"model": MODEL,
        "stream": stream, "messages": [{"role": "user", "content": text}]}),
    )
}

/// The text of a Claude answer (JSON or SSE).
fn answer_text(r: &support::Response) -> String {
    if r.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")) {
        sse_events(&r.body)
            .iter()
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
            .collect()
    } else {
        r.json()["content"][0]["text"].as_str().unwrap_or_default().to_owned()
    }
}

fn admin(s: &Server, method: &str, path: &str) -> support::Response {
    http(s.addr, method, path, &[("authorization", &format!("Bearer {ADMIN}"))], b"")
}

fn account(s: &Server, id: &str) -> Value {
    let r = admin(s, "GET", &format!("/api/accounts/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Waits until the account's status has `state` (and `reason` when given).
fn wait_status(s: &Server, id: &str, state: &str, reason: Option<&str>) -> Value {
    poll_until(Duration::from_secs(10), || {
        let a = account(s, id);
        let st = &a["status"];
        (st["state"] == state && reason.is_none_or(|r| st["reason"] == r)).then_some(a)
    })
    .unwrap_or_else(|| panic!("{id} never became {state} {reason:?}: {}\n{}", account(s, id), s.log()))
}

fn explain(s: &Server) -> Value {
    let r = admin(s, "GET", &format!("/api/pool/explain?channel=orchids&model={MODEL}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn skip_of<'a>(ex: &'a Value, id: &str) -> &'a Value {
    &ex["accounts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["skip"]
}

#[test]
fn failover_on_each_retryable_class() {
    // (script, pool overrides, expected status of the failing account: state, reason)
    let cases: [(&str, Value, &str, Option<&str>); 9] = [
        ("rate_limit", json!({}), "cooling", Some("rate_limit")),
        ("rate_limit_shared", json!({}), "active", None),
        ("quota", json!({}), "cooling", Some("quota")),
        ("blocked", json!({}), "disabled", Some("blocked")),
        ("auth", json!({}), "disabled", Some("auth")),
        ("server", json!({"failure_threshold": 1}), "cooling", Some("failures")),
        ("network", json!({"failure_threshold": 1}), "cooling", Some("failures")),
        ("error_in_200", json!({}), "cooling", Some("rate_limit")),
        ("model", json!({}), "active", None),
    ];
    for (i, (script, pool, state, reason)) in cases.into_iter().enumerate() {
        // auth: the test channel's refresher would bring the account back; make it reject.
        let creds = if script == "auth" {
            json!({"fail": script, "refresh_fail": "rejected"})
        } else {
            json!({"fail": script})
        };
        let s = server(&[acct("bad", 10, &creds), acct("good", 0, &json!({}))], &pool);
        let stream = i % 2 == 0;
        let r = claude(&s, "whoami", stream);
        assert_eq!(r.status, 200, "{script}: {}\n{}", r.text(), s.log());
        assert_eq!(answer_text(&r), "account=good", "{script}: answered by the second account");
        let bad = wait_status(&s, "bad", state, reason);
        let class = if script == "error_in_200" { "rate_limit" } else { script };
        // auth: the 401, then the rejected refresh (counted as auth too).
        let failures = bad["counters"]["failures"][class].as_u64().unwrap_or(0);
        assert!(failures == 1 || (script == "auth" && failures == 2), "{script}: {bad}");
        assert_eq!(bad["counters"]["successes"], 0);
        let good = account(&s, "good");
        assert_eq!(good["counters"]["successes"], 1, "{script}: {good}");
        let ex = explain(&s);
        assert_eq!(ex["picked"], "good", "{script}: {ex}");
        if script == "model" || script == "rate_limit_shared" {
            // A shared limit on an account with no team: only (account, model) waits.
            assert_eq!(skip_of(&ex, "bad")["reason"], "model_unavailable", "{script}: {ex}");
        }
        if script == "rate_limit" {
            let until = bad["status"]["until_ms"].as_u64().unwrap();
            let now = ex["now_ms"].as_u64().unwrap();
            assert!(until > now && until <= now + 8_000, "Retry-After 7 s sets the cooldown: {until} vs {now}");
        }
    }
}

#[test]
fn client_errors_are_answered_without_failover() {
    let s = server(&[acct("bad", 10, &json!({"fail": "client"})), acct("good", 0, &json!({}))], &json!({}));
    let r = claude(&s, "whoami", false);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(account(&s, "good")["counters"]["requests"], 0, "no second account was tried");
    assert_eq!(account(&s, "bad")["status"]["state"], "active", "a client error leaves the account alone");
}

#[test]
fn no_retry_after_the_first_byte() {
    let s = server(&[acct("bad", 10, &json!({"fail": "after_first_byte"})), acct("good", 0, &json!({}))], &json!({}));
    let r = claude(&s, "whoami", true);
    assert_eq!(r.status, 200);
    let events = sse_events(&r.body);
    let names: Vec<_> = events.iter().map(|(e, _)| e.clone().unwrap_or_default()).collect();
    assert!(r.text().contains("Partial answer"), "{}", r.text());
    assert_eq!(names.last().map(String::as_str), Some("error"), "{names:?}");
    assert!(!names.iter().any(|n| n == "message_stop"), "{names:?}");
    let err: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "overloaded_error");

    let r = openai(&s, "whoami", true);
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains("Partial answer"), "{text}");
    assert!(!text.contains("[DONE]"), "an OpenAI stream cut by an error has no [DONE]: {text}");
    let last: Value = serde_json::from_str(&sse_events(&r.body).last().unwrap().1).unwrap();
    assert!(last["error"]["message"].as_str().unwrap().contains("mid-stream"), "{last}");

    let bad = poll_until(Duration::from_secs(10), || {
        let a = account(&s, "bad");
        (a["counters"]["failures"]["server"] == 2).then_some(a)
    })
    .unwrap_or_else(|| panic!("failures not recorded: {}", account(&s, "bad")));
    assert_eq!(bad["counters"]["requests"], 2);
    assert_eq!(account(&s, "good")["counters"]["requests"], 0, "only one account was tried");
}

#[test]
fn a_silent_upstream_fails_over_at_the_ttft_deadline() {
    let s = server(
        &[acct("bad", 10, &json!({"fail": "slow"})), acct("good", 0, &json!({}))],
        &json!({"ttft_timeout_ms": 1000}),
    );
    for stream in [false, true] {
        let r = claude(&s, "whoami", stream);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(answer_text(&r), "account=good");
    }
    let bad = account(&s, "bad");
    assert_eq!(bad["counters"]["failures"]["slow"], 2, "{bad}");
    assert_eq!(bad["status"]["state"], "active", "slow is counted, not cooled");
}

#[test]
fn a_cooling_pool_answers_429_with_retry_after_in_both_formats() {
    let creds = json!({"fail": "rate_limit", "retry_after": "30"});
    let s = server(&[acct("a", 0, &creds), acct("b", 0, &creds)], &json!({}));
    // First request: both accounts answer 429; the client sees the last upstream error.
    let r = claude(&s, "hi", false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("30"));
    wait_status(&s, "a", "cooling", Some("rate_limit"));
    wait_status(&s, "b", "cooling", Some("rate_limit"));

    // Now the whole pool is cooling: the pool's own answer, no upstream call.
    let r = claude(&s, "hi again", true);
    assert_eq!(r.status, 429, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("cooling"), "{v}");
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&ra), "{ra}");

    let r = openai(&s, "hi again", false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.json()["error"]["message"].is_string());
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&ra), "{ra}");
    assert_eq!(account(&s, "a")["counters"]["requests"], 1, "cooling accounts are not called again");
}

/// Sends a request on a thread; the handle yields its response.
fn background(s: &Server, text: &'static str) -> std::thread::JoinHandle<support::Response> {
    let addr = s.addr;
    std::thread::spawn(move || {
        post_json(
            addr,
            "/v1/messages",
            &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
            &json!({"model": MODEL,
            "max_tokens": 50, "messages": [{"role": "user", "content": text}]}),
        )
    })
}

fn wait_in_flight(s: &Server, id: &str, n: u64) {
    poll_until(Duration::from_secs(10), || (account(s, id)["in_flight"] == n).then_some(()))
        .unwrap_or_else(|| panic!("{id} never had {n} in flight: {}", account(s, id)));
}

#[test]
fn max_concurrency_moves_to_another_account_waits_or_answers_529() {
    let capped = |hold: &str| {
        let mut a = acct("a", 10, &json!({"hold_ms": hold}));
        a["max_concurrency"] = json!(1);
        a
    };
    // A full account: the next request goes to another one.
    let s = server(&[capped("4000"), acct("b", 0, &json!({}))], &json!({"queue_wait_ms": 0}));
    let first = background(&s, "whoami");
    wait_in_flight(&s, "a", 1);
    let r = claude(&s, "whoami", false);
    assert_eq!(answer_text(&r), "account=b", "{}", r.text());
    let first = first.join().unwrap();
    assert_eq!(answer_text(&first), "account=a");
    drop(s);

    // The only account is full: a short wait, then 529 (Claude) / 503 (OpenAI) + Retry-After.
    let s = server(&[capped("4000")], &json!({"queue_wait_ms": 200}));
    let first = background(&s, "whoami");
    wait_in_flight(&s, "a", 1);
    let r = claude(&s, "whoami", false);
    assert_eq!(r.status, 529, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = openai(&s, "whoami", false);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(first.join().unwrap().status, 200);
    drop(s);

    // A long enough wait gets the slot when it frees.
    let s = server(&[capped("1000")], &json!({"queue_wait_ms": 20000}));
    let first = background(&s, "whoami");
    wait_in_flight(&s, "a", 1);
    let r = claude(&s, "whoami", false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(answer_text(&r), "account=a");
    assert_eq!(first.join().unwrap().status, 200);
}

#[test]
fn explain_and_reset() {
    let s = server(
        &[acct("a", 10, &json!({"fail": "rate_limit", "retry_after": "600"})), acct("b", 0, &json!({}))],
        &json!({}),
    );
    // Admin token required.
    let r = http(s.addr, "GET", &format!("/api/pool/explain?channel=orchids&model={MODEL}"), &[], b"");
    assert_eq!(r.status, 401);
    let r = http(s.addr, "GET", "/api/accounts", &[("x-admin-token", "wrong-token-0123456789")], b"");
    assert_eq!(r.status, 401);

    let ex = explain(&s);
    assert_eq!(ex["picked"], "a", "{ex}");
    assert_eq!(skip_of(&ex, "b")["reason"], "lower_tier");

    assert_eq!(claude(&s, "hi", false).status, 200);
    wait_status(&s, "a", "cooling", Some("rate_limit"));
    let ex = explain(&s);
    assert_eq!(ex["picked"], "b", "{ex}");
    assert_eq!(skip_of(&ex, "a")["reason"], "cooling");
    assert_eq!(skip_of(&ex, "a")["cause"], "rate_limit");

    let r = admin(&s, "POST", "/api/accounts/a/reset");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["state"], "active");
    assert_eq!(explain(&s)["picked"], "a", "reset clears the cooldown");
    assert_eq!(account(&s, "a")["status"]["state"], "active");
    assert_eq!(admin(&s, "POST", "/api/accounts/nope/reset").status, 404);
    assert_eq!(admin(&s, "GET", "/api/accounts/nope").status, 404);
    assert_eq!(admin(&s, "GET", "/api/pool/explain?channel=mars&model=x").status, 400);

    let list = admin(&s, "GET", "/api/accounts");
    assert_eq!(list.status, 200);
    let text = list.text();
    assert!(!text.contains("k-0123456789abcdefXYZ"), "credentials are redacted: {text}");
    let ids: Vec<String> = list.json()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"a".to_owned()) && ids.contains(&"b".to_owned()), "{ids:?}");
    assert!(!account(&s, "a").to_string().contains("k-0123456789abcdefXYZ"));
}

#[test]
fn sticky_sessions_keep_a_conversation_on_one_account() {
    let s = server(&[acct("a", 0, &json!({})), acct("b", 0, &json!({}))], &json!({}));
    let mut seen = Vec::new();
    for _ in 0..6 {
        let r = claude_with(&s, "whoami", false, &[("x-claude-code-session-id", "6c1f-session-one")]);
        seen.push(answer_text(&r));
    }
    assert!(seen.iter().all(|x| *x == seen[0]), "one session, one account: {seen:?}");

    // Distinct sessions are spread by the normal rule (equal weights alternate).
    let mut spread = std::collections::BTreeSet::new();
    for i in 0..6 {
        let sid = format!("session-{i}");
        let r = claude_with(&s, "whoami", false, &[("x-session-id", sid.as_str())]);
        spread.insert(answer_text(&r));
    }
    assert_eq!(spread.len(), 2, "{spread:?}");

    // Other sessions in between did not move it.
    let r = claude_with(&s, "whoami", false, &[("x-claude-code-session-id", "6c1f-session-one")]);
    assert_eq!(answer_text(&r), seen[0]);
}

#[test]
fn a_persisted_cooldown_survives_a_restart() {
    let data = TempDir::new("pool-restart");
    let mut cfg = config(&[acct("a", 10, &json!({"fail": "quota"})), acct("b", 0, &json!({}))], &json!({}));
    cfg["data_dir"] = json!(data.path().join("data").to_string_lossy());
    let mut s = ServerBuilder::new().config(&cfg).start();
    let r = claude(&s, "whoami", false);
    assert_eq!(answer_text(&r), "account=b");
    let before = poll_until(Duration::from_secs(10), || {
        let a = account(&s, "a");
        // Counters are batched per worker and written within 250 ms.
        (a["stored"]["status"]["state"] == "cooling" && a["stored"]["counters"]["requests"] == 1).then_some(a)
    })
    .unwrap_or_else(|| panic!("cooldown and counters never persisted: {}", account(&s, "a")));
    assert_eq!(before["stored"]["status"]["reason"], "quota");
    assert_eq!(before["stored"]["counters"]["requests"], 1);
    s.sigterm();
    assert!(s.wait_exit(Duration::from_secs(20)).is_some_and(|st| st.success()));

    let s = ServerBuilder::new().config(&cfg).start();
    let a = account(&s, "a");
    assert_eq!(a["status"]["state"], "cooling", "{a}");
    assert_eq!(a["status"]["reason"], "quota");
    assert_eq!(a["status"]["until_ms"], before["status"]["until_ms"]);
    assert_eq!(explain(&s)["picked"], "b");
    let r = claude(&s, "whoami", false);
    assert_eq!(answer_text(&r), "account=b");
}

#[test]
fn a_client_that_leaves_a_silent_stream_frees_its_account_at_once() {
    use std::io::{Read, Write};
    let s = server(&[acct("a", 0, &json!({}))], &json!({}));
    let body = json!({"model": MODEL, "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "stall"}]})
    .to_string();
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "POST /v1/messages HTTP/1.1\r\nhost: t\r\nx-api-key: {KEY}\r\nanthropic-version: 2023-06-01\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The text arrives, then the upstream stays silent (60 s).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("stalls") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(account(&s, "a")["in_flight"], 1, "the stream holds its account");
    drop(c);
    // Only dropping the upstream at once frees the slot before the 60 s silence ends.
    let freed = poll_until(Duration::from_secs(10), || (account(&s, "a")["in_flight"] == 0).then_some(()));
    assert!(freed.is_some(), "the silent upstream still holds the account: {}", account(&s, "a"));
}
