//! The account pool across two gateway instances sharing one (throwaway) Redis: a cooldown
//! seen by one instance reaches the other through pub/sub, an admin reset on one clears the
//! other, and `max_concurrency` holds across instances (the store's slots).

#![allow(
    clippy::allow_attributes,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: failing loudly is the point"
)]

pub mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::store::{TempRedis, free_port};
use support::{Server, http, poll_until, post_json};

const KEY: &str = "sk-test-key-0001";
const ADMIN: &str = "admin-token-0123456789";

fn start(port: u16) -> Server {
    let creds = |extra: Value| {
        let mut c = json!({"api_key": "k-0123456789abcdefXYZ"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    Server::start(&json!({
        "api_keys": [KEY], "test_channel": true, "admin_token": ADMIN,
        "store_mode": "redis", "redis_addr": format!("127.0.0.1:{port}"),
        "pool": {"queue_wait_ms": 0},
        "accounts": [
            {"id": "a", "channel": "orchids", "priority": 10, "credentials": creds(json!({"fail": "rate_limit", "retry_after": "600"}))},
            {"id": "b", "channel": "orchids", "credentials": creds(json!({}))},
            {"id": "w", "channel": "warp", "max_concurrency": 1, "credentials": creds(json!({"hold_ms": "4000"}))},
        ],
    }))
}

fn admin(s: &Server, method: &str, path: &str) -> support::Response {
    http(s.addr, method, path, &[("x-admin-token", ADMIN)], b"")
}

fn picked(s: &Server) -> String {
    let r = admin(s, "GET", "/api/pool/explain?channel=orchids&model=claude-sonnet-4-5");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["picked"].as_str().unwrap_or_default().to_owned()
}

fn claude(addr: std::net::SocketAddr, model: &str) -> support::Response {
    post_json(
        addr,
        "/v1/messages",
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        &json!({"model": model,
        "max_tokens": 20, "messages": [{"role": "user", "content": "whoami"}]}),
    )
}

#[test]
fn status_and_caps_hold_across_instances() {
    let redis = TempRedis::start(free_port());
    let s1 = start(redis.port);
    let s2 = start(redis.port);
    assert_eq!(picked(&s1), "a");
    assert_eq!(picked(&s2), "a");

    // A 429 on instance 1 cools `a` on instance 2 too.
    let r = claude(s1.addr, "claude-sonnet-4-5");
    assert_eq!(r.status, 200, "{}", r.text());
    poll_until(Duration::from_secs(10), || (picked(&s2) == "b").then_some(()))
        .unwrap_or_else(|| panic!("the cooldown never reached instance 2:\n{}", s2.log()));

    // A reset on instance 2 clears it on instance 1.
    assert_eq!(admin(&s2, "POST", "/api/accounts/a/reset").status, 200);
    poll_until(Duration::from_secs(10), || (picked(&s1) == "a").then_some(()))
        .unwrap_or_else(|| panic!("the reset never reached instance 1:\n{}", s1.log()));

    // max_concurrency 1 across instances: while instance 1 holds `w`, instance 2 answers 529.
    let addr = s1.addr;
    let first = std::thread::spawn(move || claude(addr, "warp-auto"));
    poll_until(Duration::from_secs(10), || {
        (admin(&s1, "GET", "/api/accounts/w").json()["in_flight"] == 1).then_some(())
    })
    .expect("instance 1 never took w");
    let r = claude(s2.addr, "warp-auto");
    assert_eq!(r.status, 529, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(first.join().unwrap().status, 200);
    // Released: instance 2 gets it now.
    let r = poll_until(Duration::from_secs(10), || {
        let r = claude(s2.addr, "warp-auto");
        (r.status == 200).then_some(r)
    });
    assert!(r.is_some(), "the slot was never released:\n{}", s1.log());
}
