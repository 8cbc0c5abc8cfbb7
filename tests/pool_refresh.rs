//! Token refresh through the real server with the test channel's refresher (its credentials
//! drive it: `expires_at`, `refresh_fail`, see `src/sim/test_channel.rs`):
//!
//! - the background sweeper refreshes a token expiring within `refresh_ahead_ms` without any
//!   request, once, and the new credentials are persisted (a restart keeps using them);
//! - a 401 triggers the refresh, after which the account serves again with the new token;
//! - a rejected refresh disables the account (`auth`), persisted with the refresher's message as
//!   the last error — after a 401, from the sweeper, and on the request path (a token about to
//!   expire when a request picks the account).
//!
//! The message `refreshes` makes the test channel answer `account=<id> refreshes=<n>`.

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
use support::{Server, ServerBuilder, TempDir, http, poll_until, post_json};

const KEY: &str = "sk-test-key-0001";
const ADMIN: &str = "admin-token-0123456789";
const MODEL: &str = "claude-sonnet-4-5";
const WAIT: Duration = Duration::from_secs(15);

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn acct(id: &str, priority: i32, creds: &Value) -> Value {
    let mut c = json!({"api_key": "k-0123456789abcdefXYZ", "token": "test-token-0"});
    for (k, v) in creds.as_object().unwrap() {
        c[k] = v.clone();
    }
    json!({"id": id, "channel": "orchids", "priority": priority, "credentials": c})
}

fn config(accounts: &[Value], data: &TempDir) -> Value {
    json!({"api_keys": [KEY], "test_channel": true, "admin_token": ADMIN, "accounts": accounts,
        "pool": {"refresh_sweep_ms": 200, "queue_wait_ms": 0},
        "data_dir": data.path().join("data").to_string_lossy()})
}

fn ask(s: &Server, text: &str) -> support::Response {
    post_json(
        s.addr,
        "/v1/messages",
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        &json!({"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}),
    )
}

fn text(r: &support::Response) -> String {
    r.json()["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

fn account(s: &Server, id: &str) -> Value {
    let r = http(s.addr, "GET", &format!("/api/accounts/{id}"), &[("x-admin-token", ADMIN)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn the_sweeper_refreshes_ahead_of_expiry_once_and_the_new_token_is_persisted() {
    let data = TempDir::new("refresh-sweep");
    let cfg = config(&[acct("a", 0, &json!({"expires_at": (now_ms() + 60_000).to_string()}))], &data);
    let mut s = ServerBuilder::new().config(&cfg).start();
    // No request: the sweeper alone notices the token expires within refresh_ahead_ms (5 min).
    s.wait_for_line(WAIT, |l| l.contains("account a: token refreshed (ahead of expiry)"))
        .unwrap_or_else(|| panic!("the sweeper never refreshed a:\n{}", s.log()));
    let r = poll_until(WAIT, || {
        let r = ask(&s, "refreshes");
        (r.status == 200 && text(&r) == "account=a refreshes=1").then_some(r)
    });
    assert!(r.is_some(), "requests never used the refreshed token:\n{}", s.log());
    // The new token lives an hour: later sweeps (every 200 ms) leave it alone.
    support::pause(Duration::from_secs(1));
    let refreshes = s.lines().iter().filter(|l| l.contains("token refreshed")).count();
    assert_eq!(refreshes, 1, "{}", s.log());
    assert_eq!(text(&ask(&s, "refreshes")), "account=a refreshes=1");
    s.sigterm();
    assert!(s.wait_exit(Duration::from_secs(20)).is_some_and(|st| st.success()));

    // Persisted: after a restart the stored (refreshed) credentials are used, not the config's.
    let s = ServerBuilder::new().config(&cfg).start();
    assert_eq!(text(&ask(&s, "refreshes")), "account=a refreshes=1", "{}", s.log());
    assert!(!s.log().contains("token refreshed"), "the persisted expiry is an hour away:\n{}", s.log());
}

#[test]
fn a_401_refreshes_the_token_and_the_account_serves_again() {
    let data = TempDir::new("refresh-401");
    let s = ServerBuilder::new().config(&config(&[acct("a", 0, &json!({"fail": "auth"}))], &data)).start();
    let first = ask(&s, "refreshes");
    assert_ne!(first.status, 200, "the old token is rejected: {}", first.text());
    s.wait_for_line(WAIT, |l| l.contains("account a: token refreshed (after a 401)"))
        .unwrap_or_else(|| panic!("no refresh after the 401:\n{}", s.log()));
    let r = poll_until(WAIT, || {
        let r = ask(&s, "refreshes");
        (r.status == 200).then_some(r)
    })
    .unwrap_or_else(|| panic!("the account never served again:\n{}", s.log()));
    assert_eq!(text(&r), "account=a refreshes=1");
    let a = account(&s, "a");
    assert_eq!(a["status"]["state"], "active", "{a}");
    // The lifted cooldown is written after the log line (off the refresh path): poll for it.
    let stored = poll_until(WAIT, || {
        let a = account(&s, "a");
        (a["stored"]["status"]["state"] == "active").then_some(a)
    });
    assert!(stored.is_some(), "the lifted 401 cooldown is never persisted: {}", account(&s, "a"));
    // The store's feed has echoed every status write by now: the account still serves.
    support::pause(Duration::from_millis(300));
    assert_eq!(account(&s, "a")["status"]["state"], "active");
    assert_eq!(ask(&s, "refreshes").status, 200);
}

#[test]
fn a_rejected_refresh_disables_the_account_with_the_reason() {
    let data = TempDir::new("refresh-reject");
    let soon = (now_ms() + 60_000).to_string();
    let accounts = [
        acct("on401", 10, &json!({"fail": "auth", "refresh_fail": "rejected"})),
        // Below `spare`: no request ever reaches it, only the sweeper.
        acct("swept", -5, &json!({"expires_at": soon, "refresh_fail": "rejected"})),
        acct("spare", 0, &json!({})),
    ];
    let s = ServerBuilder::new().config(&config(&accounts, &data)).start();
    // The sweeper rejects `swept` with no request at all; the 401 path rejects `on401`.
    let r = ask(&s, "whoami");
    assert_eq!(r.status, 200, "{}", r.text());
    for id in ["on401", "swept"] {
        let a = poll_until(WAIT, || {
            let a = account(&s, id);
            (a["stored"]["status"]["state"] == "disabled"
                && a["stored"]["counters"]["last_error"].as_str().is_some_and(|e| e.contains("refresh")))
            .then_some(a)
        })
        .unwrap_or_else(|| panic!("{id} was never disabled and persisted: {}\n{}", account(&s, id), s.log()));
        assert_eq!(a["status"], json!({"state": "disabled", "reason": "auth"}), "{a}");
        assert_eq!(a["stored"]["status"]["reason"], "auth");
        let err = a["stored"]["counters"]["last_error"].as_str().unwrap();
        assert!(
            err.contains("token refresh rejected") && err.contains(&format!("refresh token of {id} rejected")),
            "{err}"
        );
    }
    assert_eq!(text(&ask(&s, "whoami")), "account=spare");
}

#[test]
fn a_refresh_rejected_on_the_request_path_is_persisted_too() {
    let data = TempDir::new("refresh-reject-req");
    let soon = (now_ms() + 60_000).to_string();
    // The sweeper is off: only the request's own refresh (ensure_fresh) can run.
    let mut cfg = config(
        &[acct("a", 10, &json!({"expires_at": soon, "refresh_fail": "rejected"})), acct("b", 0, &json!({}))],
        &data,
    );
    cfg["pool"]["refresh_sweep_ms"] = json!(0);
    let s = ServerBuilder::new().config(&cfg).start();
    assert_eq!(text(&ask(&s, "whoami")), "account=b", "a's token could not be refreshed: failed over");
    let a = poll_until(WAIT, || {
        let a = account(&s, "a");
        (a["stored"]["status"]["state"] == "disabled" && a["stored"]["counters"]["last_error"].is_string()).then_some(a)
    })
    .unwrap_or_else(|| panic!("the rejection was never persisted: {}\n{}", account(&s, "a"), s.log()));
    assert_eq!(a["stored"]["status"]["reason"], "auth");
    assert!(a["stored"]["counters"]["last_error"].as_str().unwrap().contains("token refresh rejected"), "{a}");
}
