//! Scoped grok failures through the real gateway and the real simulator, in both client formats:
//! a team 429 cools every account of that team (and the request moves to another team, or gets
//! the whole-pool 429), a 403 about one model leaves the account serving other models, a
//! challenge pauses the web surface without touching the API accounts, and the upstream's
//! `x-ratelimit-*` windows are recorded on the account and set the cooldown of a 429 that names
//! no time.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

#[expect(dead_code, reason = "the simulator helpers are shared with grok_sim.rs; this file uses a few")]
mod grok_support;
pub mod support;

use grok_support::Sim;
use serde_json::{Value, json};
use support::{Response, Server, post_json, sse_events};

const ADMIN: &str = "admin-secret-token-for-tests";
const ANSWER: &str = "Hello! This is the grok simulator answering you.";
const API_MODEL: &str = "grok-4-fast";
const API_REASONING: &str = "grok-4-fast-reasoning";
const WEB_MODEL: &str = "grok-4.20-fast";

/// The gateway for the simulator's try-it config, with `priorities[i]` on the i-th account and
/// `edit` applied to the config last.
fn gateway_with(sim: &Sim, priorities: &[i64], edit: impl FnOnce(&mut Value)) -> Server {
    let mut cfg = sim.tryit.clone();
    cfg["admin_token"] = json!(ADMIN);
    for (acc, p) in cfg["accounts"].as_array_mut().unwrap().iter_mut().zip(priorities) {
        acc["priority"] = json!(p);
    }
    edit(&mut cfg);
    Server::start(&cfg)
}

fn gateway(sim: &Sim, priorities: &[i64]) -> Server {
    gateway_with(sim, priorities, |_| {})
}

fn openai(gw: &Server, model: &str, text: &str, stream: bool) -> Response {
    let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]});
    post_json(gw.addr, "/grok/v1/chat/completions", &[], &body)
}

fn claude(gw: &Server, model: &str, text: &str, stream: bool) -> Response {
    let body = json!({"model": model, "max_tokens": 64, "stream": stream,
        "messages": [{"role": "user", "content": text}]});
    post_json(gw.addr, "/grok/v1/messages", &[], &body)
}

/// The answer text of a 200 in either format, streamed or not.
fn text_of(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    if r.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")) {
        sse_events(&r.body)
            .iter()
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
            .map(|v| {
                let claude = v["delta"]["text"].as_str().unwrap_or("").to_owned();
                claude + v["choices"][0]["delta"]["content"].as_str().unwrap_or("")
            })
            .collect()
    } else {
        let v = r.json();
        v["content"][0]["text"].as_str().or(v["choices"][0]["message"]["content"].as_str()).unwrap().to_owned()
    }
}

fn admin(gw: &Server, path: &str) -> Value {
    let r = support::http(gw.addr, "GET", path, &[("authorization", &format!("Bearer {ADMIN}"))], b"");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn explain(gw: &Server, model: &str) -> Value {
    admin(gw, &format!("/api/pool/explain?channel=grok&model={model}"))
}

fn skip<'a>(ex: &'a Value, id: &str) -> &'a str {
    ex["accounts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["skip"]["reason"].as_str().unwrap_or("")
}

/// Requests the simulator saw per credential.
fn seen(sim: &Sim, cred: &str) -> u64 {
    sim.get("/sim/stats", &[]).json()["requests"][cred].as_u64().unwrap_or(0)
}

fn last_key(sim: &Sim) -> String {
    let up = sim.get("/sim/last-request?surface=api", &[]).json();
    let h = up["headers"].as_array().unwrap().iter().find(|h| h[0] == "authorization").unwrap();
    h[1].as_str().unwrap().trim_start_matches("Bearer ").to_owned()
}

fn retry_after(r: &Response) -> u64 {
    r.header("retry-after").unwrap_or_else(|| panic!("no Retry-After: {}", r.text())).parse().unwrap()
}

#[test]
fn a_team_429_cools_the_whole_team_and_fails_over_to_another_team() {
    // xai-a and xai-b share team-one (a always answers the team 429); xai-c is team-two.
    let sim = Sim::start(&[
        "--api-key",
        "xai-a",
        "--api-key",
        "xai-b",
        "--api-key",
        "xai-c",
        "--team",
        "xai-a=team-one",
        "--team",
        "xai-b=team-one",
        "--team",
        "xai-c=team-two",
        "--behave",
        "xai-a=sim:team429",
    ]);
    // Only team-one may serve the reasoning model: there the whole pool is the team.
    let gw = gateway_with(&sim, &[20, 10, 0], |cfg| cfg["accounts"][2]["denied_models"] = json!([API_REASONING]));
    assert_eq!(sim.tryit["accounts"][0]["credentials"]["team"], "team-one", "try-it accounts carry their team");

    // a fails with the team limit; b (same team) is never tried; c (team-two) answers.
    assert_eq!(text_of(&openai(&gw, API_MODEL, "hi", false)), ANSWER);
    assert_eq!(last_key(&sim), "xai-c");
    assert_eq!((seen(&sim, "xai-a"), seen(&sim, "xai-b"), seen(&sim, "xai-c")), (1, 0, 1));
    let ex = explain(&gw, API_MODEL);
    assert_eq!(skip(&ex, "sim-grok-api-1"), "scope_model_unavailable", "{ex}");
    assert_eq!(skip(&ex, "sim-grok-api-2"), "scope_model_unavailable", "{ex}");
    assert_eq!(ex["picked"], "sim-grok-api-3", "{ex}");
    // The team limit is per model: a is still first for the other model, and itself not cooling.
    assert_eq!(explain(&gw, API_REASONING)["picked"], "sim-grok-api-1");
    assert_eq!(admin(&gw, "/api/accounts/sim-grok-api-1")["status"]["state"], "active");

    // Claude, streaming: the cooled team is skipped from the start.
    assert_eq!(text_of(&claude(&gw, API_MODEL, "and now?", true)), ANSWER);
    assert_eq!((seen(&sim, "xai-a"), seen(&sim, "xai-b")), (1, 0));

    // For the reasoning model the team is the whole pool: the 429 with the team's Retry-After
    // (60 s; (scope, model) deadlines are kept in whole seconds, so up to 61).
    let r = claude(&gw, API_REASONING, "think", false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!((1..=61).contains(&retry_after(&r)), "{r:?}");
    let v = r.json();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("rate_limit_error")));
    assert!(v["error"]["message"].as_str().unwrap().contains("team"), "{v}");
    assert_eq!((seen(&sim, "xai-a"), seen(&sim, "xai-b")), (2, 0), "b is not burned");
    let r = openai(&gw, API_REASONING, "think again", true);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!((1..=61).contains(&retry_after(&r)));
    assert_eq!(r.json()["error"]["type"], "rate_limit_exceeded");
    assert_eq!(seen(&sim, "xai-a"), 2, "the whole pool answer tries nobody");
}

#[test]
fn a_403_about_one_model_leaves_the_account_serving_others() {
    let sim = Sim::start(&[
        "--api-key",
        "xai-a",
        "--api-key",
        "xai-b",
        "--behave",
        "xai-a=sim:deny=grok-4-fast-non-reasoning",
    ]);
    let gw = gateway(&sim, &[10, 0]);
    assert_eq!(text_of(&openai(&gw, API_MODEL, "hi", false)), ANSWER);
    assert_eq!(last_key(&sim), "xai-b", "a may not use grok-4-fast: b answered");
    assert_eq!(text_of(&claude(&gw, API_REASONING, "something else", true)), ANSWER);
    assert_eq!(last_key(&sim), "xai-a", "a still serves the reasoning model");
    assert_eq!(skip(&explain(&gw, API_MODEL), "sim-grok-api-1"), "model_unavailable");
    assert_eq!(admin(&gw, "/api/accounts/sim-grok-api-1")["status"]["state"], "active");

    // Both accounts refusing the model: 404 in each format, with the cause.
    for (i, format) in ["claude", "openai"].into_iter().enumerate() {
        for id in ["sim-grok-api-1", "sim-grok-api-2"] {
            let r = support::http(
                gw.addr,
                "POST",
                &format!("/api/accounts/{id}/reset"),
                &[("authorization", &format!("Bearer {ADMIN}"))],
                b"",
            );
            assert_eq!(r.status, 200);
        }
        let text = format!("deny {i} sim:deny=grok-4-fast-non-reasoning");
        let r = if format == "claude" {
            claude(&gw, API_MODEL, &text, i == 0)
        } else {
            openai(&gw, API_MODEL, &text, i == 0)
        };
        assert_eq!(r.status, 404, "{format}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["type"], "not_found_error", "{format}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("not available"), "{v}");
        assert_eq!(r.header("x-should-retry"), Some("false"));
    }
}

#[test]
fn a_challenge_pauses_the_web_surface_without_touching_accounts_or_the_api() {
    let sim = Sim::start(&["--sso", "sso-1", "--sso", "sso-2", "--behave", "sso-1=sim:challenge"]);
    // Accounts: sim-grok-api-1, sim-grok-web-1 (challenged), sim-grok-web-2.
    let gw = gateway(&sim, &[0, 10, 0]);
    let r = openai(&gw, WEB_MODEL, "hi", false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!((590..=600).contains(&retry_after(&r)), "{r:?}");
    let e = &r.json()["error"];
    assert!(e["message"].as_str().unwrap().contains("challenge"), "{e}");
    assert!(!e["message"].as_str().unwrap().contains("<html"), "{e}");
    assert_eq!((seen(&sim, "sso-1"), seen(&sim, "sso-2")), (1, 0), "the second web account is not burned");
    let ex = explain(&gw, WEB_MODEL);
    assert_eq!(skip(&ex, "sim-grok-web-2"), "channel_paused", "{ex}");
    for id in ["sim-grok-web-1", "sim-grok-web-2"] {
        let st = &admin(&gw, &format!("/api/accounts/{id}"))["status"];
        assert_eq!((st["state"].as_str(), st["reason"].as_str()), (Some("cooling"), Some("channel_paused")), "{id}");
    }
    let r = claude(&gw, WEB_MODEL, "again", true);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(seen(&sim, "sso-1"), 1);
    // The API surface is not paused.
    assert_eq!(text_of(&claude(&gw, API_MODEL, "api please", false)), ANSWER);
    assert_eq!(admin(&gw, "/api/accounts/sim-grok-api-1")["status"]["state"], "active");
}

#[test]
fn api_rate_limit_windows_are_recorded_and_set_the_cooldown_of_a_429_without_retry_after() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim, &[]);
    assert_eq!(text_of(&openai(&gw, API_MODEL, "hi", true)), ANSWER);
    let a = admin(&gw, "/api/accounts/sim-grok-api-1");
    let lim = &a["upstream_limits"];
    assert_eq!((lim["requests"]["limit"].as_u64(), lim["requests"]["remaining"].as_u64()), (Some(480), Some(479)));
    assert_eq!(lim["tokens"]["limit"], 2_000_000, "{a}");
    let now = explain(&gw, API_MODEL)["now_ms"].as_u64().unwrap();
    let reset = lim["requests"]["reset_at_ms"].as_u64().unwrap();
    assert!(reset > now - 5_000 && reset <= now + 61_000, "{reset} vs {now}");
    assert!(lim["observed_ms"].as_u64().unwrap() <= now);
    assert!(admin(&gw, "/api/accounts/sim-grok-web-1")["upstream_limits"].is_null(), "not used yet");

    // A 429 without Retry-After: the used-up window's reset (90 s) is the cooldown, not 60 s.
    let r = claude(&gw, API_MODEL, "hi sim:429-reset=90", false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!((85..=90).contains(&retry_after(&r)), "{r:?}");
    let a = admin(&gw, "/api/accounts/sim-grok-api-1");
    let now = explain(&gw, API_MODEL)["now_ms"].as_u64().unwrap();
    let until = a["status"]["until_ms"].as_u64().unwrap();
    assert_eq!(a["status"]["reason"], "rate_limit");
    assert!(until > now + 80_000 && until <= now + 90_000, "{until} vs {now}");
    assert_eq!(a["upstream_limits"]["requests"]["remaining"], 0, "{a}");
}

#[test]
fn a_plain_web_429_waits_for_the_window_the_last_answer_reported() {
    let sim = Sim::start(&["--web-quota", "1"]);
    let gw = gateway(&sim, &[]);
    assert_eq!(text_of(&claude(&gw, WEB_MODEL, "hi", true)), ANSWER);
    let lim = admin(&gw, "/api/accounts/sim-grok-web-1")["upstream_limits"].clone();
    assert_eq!((lim["requests"]["limit"].as_u64(), lim["requests"]["remaining"].as_u64()), (Some(1), Some(0)));
    // The window is used up; the next chat gets a 429 with no time in it (B.9 "plain 429").
    let r = openai(&gw, WEB_MODEL, "one more", false);
    assert_eq!(r.status, 429, "{}", r.text());
    let wait = retry_after(&r);
    assert!((71_000..=72_000).contains(&wait), "the window's reset, not the 60 s default: {wait}");
    let st = admin(&gw, "/api/accounts/sim-grok-web-1")["status"].clone();
    assert_eq!((st["state"].as_str(), st["reason"].as_str()), (Some("cooling"), Some("rate_limit")), "{st}");
    assert_eq!(seen(&sim, "sim-sso-token-0001"), 2);
}
