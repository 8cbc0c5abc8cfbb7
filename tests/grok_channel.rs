//! The grok channel end to end: the real gateway binary in front of the real simulator binary
//! (`orchids-server simulate grok --port 0`, its try-it line merged into the gateway config),
//! both client formats, streaming and not, both credential kinds (API-key models and web models
//! force each), tool round trips, reasoning, and each upstream failure's client answer.

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

const ANSWER: &str = "Hello! This is the grok simulator answering you.";
/// API-key-only and web-only models from the simulator's try-it table.
const API_MODEL: &str = "grok-4-fast";
const API_REASONING: &str = "grok-4-fast-reasoning";
const WEB_MODEL: &str = "grok-4.20-fast";
const WEB_EXPERT: &str = "grok-4.20-expert";

fn gateway(sim: &Sim) -> Server {
    let mut cfg = sim.tryit.clone();
    cfg["admin_token"] = json!("admin-secret-token-for-tests");
    Server::start(&cfg)
}

/// Clears every simulator account's cooldown or runtime disable (admin reset), so each case of a
/// failure table starts from usable accounts: the pool rightly cools or disables an account
/// after the failures these tests provoke on purpose.
fn reset_accounts(s: &Server) {
    let auth = [("authorization", "Bearer admin-secret-token-for-tests")];
    for id in ["sim-grok-api-1", "sim-grok-web-1"] {
        let r = support::http(s.addr, "POST", &format!("/api/accounts/{id}/reset"), &auth, b"");
        assert_eq!(r.status, 200, "reset {id}: {}", r.text());
    }
}

fn chat(s: &Server, path: &str, body: &Value) -> Response {
    post_json(s.addr, path, &[], body)
}

fn openai(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

fn claude(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

fn last_request(sim: &Sim, surface: &str) -> Value {
    sim.get(&format!("/sim/last-request?surface={surface}"), &[]).json()
}

fn header<'a>(req: &'a Value, name: &str) -> Option<&'a str> {
    req["headers"].as_array()?.iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

/// OpenAI chunks -> (content, reasoning, tool name, tool args, finish reasons, saw [DONE]).
fn openai_stream(r: &Response) -> (String, String, String, String, Vec<String>, bool) {
    assert_eq!(r.status, 200, "{}", r.text());
    let (mut content, mut reasoning, mut name, mut args, mut finish, mut done) =
        (String::new(), String::new(), String::new(), String::new(), Vec::new(), false);
    for (_, data) in sse_events(&r.body) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&data).unwrap();
        assert!(v.get("error").is_none(), "error chunk: {data}");
        for c in v["choices"].as_array().unwrap() {
            let d = &c["delta"];
            content.push_str(d["content"].as_str().unwrap_or(""));
            reasoning.push_str(d["reasoning_content"].as_str().unwrap_or(""));
            if let Some(tc) = d["tool_calls"].get(0) {
                name.push_str(tc["function"]["name"].as_str().unwrap_or(""));
                args.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
            }
            if let Some(f) = c["finish_reason"].as_str() {
                finish.push(f.to_owned());
            }
        }
    }
    (content, reasoning, name, args, finish, done)
}

/// Claude SSE -> (text, thinking, tool name, tool input json, stop reason).
fn claude_stream(r: &Response) -> (String, String, String, String, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    let (mut text, mut thinking, mut name, mut input, mut stop) =
        (String::new(), String::new(), String::new(), String::new(), String::new());
    for (ev, data) in sse_events(&r.body) {
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_ne!(ev.as_deref(), Some("error"), "error event: {data}");
        match v["type"].as_str().unwrap_or("") {
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                v["content_block"]["name"].as_str().unwrap().clone_into(&mut name);
            }
            "content_block_delta" => {
                let d = &v["delta"];
                text.push_str(d["text"].as_str().unwrap_or(""));
                thinking.push_str(d["thinking"].as_str().unwrap_or(""));
                input.push_str(d["partial_json"].as_str().unwrap_or(""));
            }
            "message_delta" => v["delta"]["stop_reason"].as_str().unwrap_or("").clone_into(&mut stop),
            _ => {}
        }
    }
    (text, thinking, name, input, stop)
}

fn weather_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

fn weather_claude() -> Value {
    json!([{"name": "get_weather", "description": "Weather now.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[test]
fn api_key_account_serves_openai_clients_streaming_and_not() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let r = chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi", true));
    let (content, _, _, _, finish, done) = openai_stream(&r);
    assert_eq!(content, ANSWER);
    assert_eq!(finish, ["stop"]);
    assert!(done, "passthrough keeps [DONE]");
    // Passthrough rewrites only the model.
    let first: Value = serde_json::from_str(&sse_events(&r.body)[0].1).unwrap();
    assert_eq!(first["model"], API_MODEL);
    assert_eq!(first["system_fingerprint"], "fp_sim", "frames are the upstream's own");
    let up = last_request(&sim, "api");
    assert_eq!(up["path"], "/v1/chat/completions");
    assert_eq!(header(&up, "authorization"), Some("Bearer xai-simulator-key-0001"));
    assert_eq!(up["body"]["model"], "grok-4-fast-non-reasoning");
    assert_eq!(up["body"]["stream"], true);
    assert_eq!(up["body"]["stream_options"]["include_usage"], true);

    let r = chat(&gw, "/v1/chat/completions", &openai(API_MODEL, "hi", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["message"]["content"], ANSWER);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["model"], API_MODEL);
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(last_request(&sim, "api")["body"]["stream"], false);
}

#[test]
fn api_key_account_serves_claude_clients_with_reasoning() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let r = chat(&gw, "/grok/v1/messages", &claude(API_REASONING, "hi", true));
    let (text, thinking, _, _, stop) = claude_stream(&r);
    assert_eq!(text, ANSWER);
    assert_eq!(thinking, "Let me think about this carefully.");
    assert_eq!(stop, "end_turn");

    let r = chat(&gw, "/v1/messages", &claude(API_REASONING, "hi", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let blocks = v["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "thinking");
    assert_eq!(blocks.last().unwrap()["text"], ANSWER);
    assert_eq!(v["model"], API_REASONING);
}

#[test]
fn web_account_serves_both_formats_with_thinking() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let r = chat(&gw, "/grok/v1/messages", &claude(WEB_MODEL, "hi", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["content"][0]["text"], ANSWER);
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let up = last_request(&sim, "web");
    assert_eq!(up["path"], "/rest/app-chat/conversations/new");
    assert_eq!(header(&up, "cookie"), Some("sso=sim-sso-token-0001; sso-rw=sim-sso-token-0001"));
    assert_eq!(up["body"]["modeId"], "fast");
    assert_eq!(up["body"]["message"], "hi");

    // The expert mode always thinks; OpenAI clients get reasoning_content.
    let r = chat(&gw, "/v1/chat/completions", &openai(WEB_EXPERT, "hi", true));
    let (content, reasoning, _, _, finish, done) = openai_stream(&r);
    assert_eq!(content, ANSWER);
    assert_eq!(reasoning, "Let me think about this carefully.");
    assert_eq!(finish, ["stop"]);
    assert!(done);
    assert_eq!(last_request(&sim, "web")["body"]["modeId"], "expert");

    let r = chat(&gw, "/grok/v1/messages", &claude(WEB_MODEL, "hi sim:markup", true));
    let (text, _, _, _, _) = claude_stream(&r);
    assert!(!text.contains("grok:render") && !text.contains("xai:tool_usage_card"), "{text}");
}

#[test]
fn api_tool_round_trip_in_both_formats() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let mut body = openai(API_MODEL, "weather in Paris? sim:tool", true);
    body["tools"] = weather_openai();
    let (_, _, name, args, finish, _) = openai_stream(&chat(&gw, "/grok/v1/chat/completions", &body));
    assert_eq!(name, "get_weather");
    let parsed: Value = serde_json::from_str(&args).unwrap_or_else(|e| panic!("{e}: {args}"));
    assert!(parsed["city"].is_string(), "{args}");
    assert_eq!(finish, ["tool_calls"]);

    let follow = json!({"model": API_MODEL, "tools": weather_openai(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}]});
    let r = chat(&gw, "/grok/v1/chat/completions", &follow);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "The tool returned: sunny, 21C");
    let up = last_request(&sim, "api");
    assert_eq!(up["body"]["messages"][2]["role"], "tool");
    assert_eq!(up["body"]["tools"][0]["function"]["name"], "get_weather");

    let mut body = claude(API_MODEL, "weather in Paris? sim:tool", false);
    body["tools"] = weather_claude();
    let r = chat(&gw, "/grok/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    let tool = v["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone();
    assert_eq!(tool["name"], "get_weather");
    assert!(tool["input"]["city"].is_string());
}

#[test]
fn web_tool_round_trip_in_both_formats() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let mut body = claude(WEB_MODEL, "weather in Paris? sim:tool", true);
    body["tools"] = weather_claude();
    let (text, _, name, input, stop) = claude_stream(&chat(&gw, "/grok/v1/messages", &body));
    assert_eq!(name, "get_weather");
    assert!(serde_json::from_str::<Value>(&input).unwrap()["city"].is_string(), "{input}");
    assert_eq!(stop, "tool_use");
    assert!(!text.contains("tool_call"), "markup leaked: {text}");
    let up = last_request(&sim, "web");
    assert!(up["body"]["message"].as_str().unwrap().starts_with("# Tool calling"));

    let follow = json!({"model": WEB_MODEL, "max_tokens": 256, "tools": weather_claude(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21C"}]}]});
    let r = chat(&gw, "/grok/v1/messages", &follow);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["content"][0]["text"], "The tool returned: sunny, 21C");
    let prompt = last_request(&sim, "web")["body"]["message"].as_str().unwrap().to_owned();
    assert!(prompt.contains("tool (get_weather, toolu_1): sunny, 21C"), "{prompt}");

    // OpenAI client, repaired markup (trailing comma), non-streaming.
    let mut body = openai(WEB_MODEL, "weather in Paris? sim:tool-comma", false);
    body["tools"] = weather_openai();
    let r = chat(&gw, "/v1/chat/completions", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(!content.contains("tool_call"), "{content}");
}

/// (model, keyword, OpenAI status, OpenAI type, Claude status, Claude type, Retry-After, the
/// message names)
type FailureCase =
    (&'static str, &'static str, u16, &'static str, u16, &'static str, Option<&'static str>, &'static str);

/// Each upstream failure before the first byte, as the client sees it (one account of each
/// kind, so each is also the last attempt): the status, error type and `Retry-After` of the
/// table in `proxy::answer`, in both formats. Shared-scope failures (team 429, challenge) are in
/// `grok_failover.rs`: they pause more than the one account these cases reset.
#[test]
fn upstream_failures_become_client_errors() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    let cases: &[FailureCase] = &[
        (API_MODEL, "sim:expired", 503, "server_error", 503, "api_error", None, "credentials"),
        (API_MODEL, "sim:badkey", 503, "server_error", 503, "api_error", None, "operator"),
        (API_MODEL, "sim:429=9", 429, "rate_limit_exceeded", 429, "rate_limit_error", Some("9"), "rate limited"),
        (API_MODEL, "sim:credits", 429, "rate_limit_exceeded", 429, "rate_limit_error", Some("86400"), "credits"),
        (API_MODEL, "sim:blocked", 503, "server_error", 503, "api_error", None, "blocked"),
        (API_MODEL, "sim:500", 503, "server_overloaded", 529, "overloaded_error", None, "overloaded"),
        (WEB_MODEL, "sim:expired", 503, "server_error", 503, "api_error", None, "credentials"),
        (WEB_MODEL, "sim:429", 429, "rate_limit_exceeded", 429, "rate_limit_error", Some("7"), "rate limited"),
        (WEB_MODEL, "sim:blocked", 503, "server_error", 503, "api_error", None, "blocked"),
        (WEB_MODEL, "sim:502", 503, "server_overloaded", 529, "overloaded_error", None, "overloaded"),
        (WEB_MODEL, "sim:503", 503, "server_overloaded", 529, "overloaded_error", None, "overloaded"),
    ];
    for (model, kw, status, ty, c_status, c_ty, retry, says) in cases {
        for stream in [false, true] {
            reset_accounts(&gw);
            let r = chat(&gw, "/grok/v1/chat/completions", &openai(model, &format!("hi {kw}"), stream));
            assert_eq!(r.status, *status, "{model} {kw} stream={stream}: {}", r.text());
            assert_eq!(r.header("retry-after"), *retry, "{model} {kw}");
            let e = &r.json()["error"];
            assert_eq!(e["type"], *ty, "{model} {kw}: {e}");
            assert!(e["message"].as_str().unwrap().contains(says), "{model} {kw}: {e}");
            reset_accounts(&gw);
            let r = chat(&gw, "/grok/v1/messages", &claude(model, &format!("hi {kw}"), stream));
            assert_eq!(r.status, *c_status, "{model} {kw} stream={stream}: {}", r.text());
            assert_eq!(r.header("retry-after"), *retry, "{model} {kw}");
            let v = r.json();
            assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some(*c_ty)), "{v}");
        }
    }
}

/// Failures after the answer started end the stream with an in-stream error.
#[test]
fn midstream_failures_end_the_stream_with_an_error() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    for (model, kw) in [(WEB_MODEL, "sim:disconnect"), (WEB_MODEL, "sim:malformed"), (API_MODEL, "sim:disconnect")] {
        reset_accounts(&gw);
        let r = chat(&gw, "/grok/v1/messages", &claude(model, &format!("hi {kw}"), true));
        assert_eq!(r.status, 200, "{model} {kw}: {}", r.text());
        let events = sse_events(&r.body);
        assert!(events.iter().any(|(e, _)| e.as_deref() == Some("content_block_delta")), "{model} {kw}: {}", r.text());
        assert_eq!(events.last().unwrap().0.as_deref(), Some("error"), "{model} {kw}: {}", r.text());
        reset_accounts(&gw);
        let r = chat(&gw, "/grok/v1/chat/completions", &openai(model, &format!("hi {kw}"), true));
        let text = r.text();
        assert!(!text.contains("[DONE]"), "{model} {kw}: {text}");
        assert!(sse_events(&r.body).last().unwrap().1.contains("\"error\""), "{model} {kw}: {text}");
    }
}

/// A non-streaming API answer that is not a completion (half a JSON body) is a failed attempt:
/// the client gets an error in its own format, never a 200 with a broken body.
#[test]
fn an_unusable_whole_answer_is_an_error_in_the_clients_format() {
    let sim = Sim::start(&[]);
    let gw = gateway(&sim);
    reset_accounts(&gw);
    let r = chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi sim:malformed", false));
    assert!(r.status >= 500, "{}: {}", r.status, r.text());
    assert!(r.json()["error"]["message"].is_string(), "{}", r.text());
    reset_accounts(&gw);
    let r = chat(&gw, "/grok/v1/messages", &claude(API_MODEL, "hi sim:malformed", false));
    assert!(r.status >= 500, "{}: {}", r.status, r.text());
    assert_eq!(r.json()["type"], "error", "{}", r.text());
    reset_accounts(&gw);
    // The account is usable again for a good answer.
    let r = chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi", false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], ANSWER);
}

/// Two API-key accounts, the first always answering 429: the pool must fail over to the second.
/// Needs the account pool wired into the lifecycle (the `wire` branch); before that the
/// lifecycle makes one attempt on the first account that can serve the model.
#[test]
fn failover_to_the_second_api_key() {
    let sim = Sim::start(&["--api-key", "xai-a", "--api-key", "xai-b", "--behave", "xai-a=sim:429"]);
    let gw = gateway(&sim);
    // Several requests, so the always-429 key is certainly tried (selection alternates): every
    // answer still comes from the second key.
    for _ in 0..3 {
        let r = chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi", false));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["choices"][0]["message"]["content"], ANSWER);
        assert_eq!(header(&last_request(&sim, "api"), "authorization"), Some("Bearer xai-b"));
    }
    // The 429 cooled the first key, visibly in its account state; the second is active.
    let auth = [("authorization", "Bearer admin-secret-token-for-tests")];
    let a = support::http(gw.addr, "GET", "/api/accounts/sim-grok-api-1", &auth, b"").json();
    assert_eq!(a["status"]["state"], "cooling", "{a}");
    assert_eq!(a["status"]["reason"], "rate_limit", "{a}");
    let b = support::http(gw.addr, "GET", "/api/accounts/sim-grok-api-2", &auth, b"").json();
    assert_eq!(b["status"]["state"], "active", "{b}");
}

/// A blocked key (403) is disabled with the reason, and the request fails over to the next key.
#[test]
fn blocked_api_key_is_disabled_and_failed_over() {
    let sim = Sim::start(&["--api-key", "xai-a", "--api-key", "xai-b", "--behave", "xai-a=sim:blocked"]);
    let gw = gateway(&sim);
    for _ in 0..3 {
        let r = chat(&gw, "/grok/v1/messages", &claude(API_MODEL, "hi", false));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let auth = [("authorization", "Bearer admin-secret-token-for-tests")];
    let a = support::http(gw.addr, "GET", "/api/accounts/sim-grok-api-1", &auth, b"").json();
    assert_eq!(a["status"]["state"], "disabled", "{a}");
    assert_eq!(a["status"]["reason"], "blocked", "{a}");
}

/// The admin quota lookup for a web account (reference B.7), through the real endpoint.
#[test]
fn admin_quota_lookup_for_a_web_account() {
    let sim = Sim::start(&["--web-quota", "5"]);
    let mut cfg = sim.tryit.clone();
    cfg["admin_token"] = json!("admin-secret-token-for-tests");
    let gw = Server::start(&cfg);
    let auth = [("authorization", "Bearer admin-secret-token-for-tests")];
    let get = |path: &str, h: &[(&str, &str)]| support::http(gw.addr, "GET", path, h, b"");
    assert_eq!(get("/api/accounts/sim-grok-web-1/quota", &[]).status, 401);
    let r = get("/api/accounts/sim-grok-web-1/quota", &auth);
    assert_eq!(r.status, 200, "{}", r.text());
    let q = r.json();
    assert_eq!(q["limit"], 5);
    assert_eq!(q["remaining"], 5);
    assert_eq!(q["mode"], "fast");
    // One chat uses one query of the window.
    assert_eq!(chat(&gw, "/grok/v1/messages", &claude(WEB_MODEL, "hi", false)).status, 200);
    let q = get("/api/accounts/sim-grok-web-1/quota?mode=fast", &auth).json();
    assert_eq!(q["remaining"], 4, "{q}");
    let up = last_request(&sim, "web");
    assert_eq!(header(&up, "cookie"), Some("sso=sim-sso-token-0001; sso-rw=sim-sso-token-0001"));
    assert_eq!(get("/api/accounts/sim-grok-api-1/quota", &auth).status, 400);
    assert_eq!(get("/api/accounts/nope/quota", &auth).status, 404);
}

/// `GET /models` with each API key, fetched in the background on first use, narrows what an
/// API-key account is offered: a model whose upstream id the key does not list is no longer
/// sent upstream (here: no other account can serve it, so "no upstream account").
#[test]
fn model_listing_narrows_api_accounts() {
    let sim = Sim::start(&[]);
    let mut cfg = sim.tryit.clone();
    cfg["models"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "grok-unlisted", "channel": "grok", "upstream_id": "grok-9-unlisted", "kinds": ["api"]}));
    let gw = Server::start(&cfg);
    // The first request starts the refresh; the unlisted model then stops reaching the upstream.
    assert_eq!(chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi", false)).status, 200);
    let settled = support::poll_until(std::time::Duration::from_secs(20), || {
        let r = chat(&gw, "/grok/v1/chat/completions", &openai("grok-unlisted", "hi", false));
        (r.status == 503).then_some(r)
    })
    .expect("the unlisted model is refused once the listing is in");
    assert!(settled.text().contains("no upstream account"), "{}", settled.text());
    // Listed models still work.
    assert_eq!(chat(&gw, "/grok/v1/chat/completions", &openai(API_MODEL, "hi", false)).status, 200);
}

/// `sim::agent_turn`'s body after so many turns: model, streaming, last user text, turns.
type TurnBody = fn(&str, bool, &str, usize) -> Vec<u8>;

/// An agent's consecutive turns (the next turn, a retry, a step back: the conversation cache's
/// hits) reach the upstream exactly as a gateway that never saw the conversation sends them.
#[test]
fn an_agents_turns_reach_the_upstream_as_a_fresh_gateway_sends_them() {
    use orchids2api::sim::agent_turn::{TURNS, claude_after, openai_after};
    let sim = Sim::start(&[]);
    let warm = gateway(&sim);
    let send = |s: &Server, path: &str, body: &[u8]| {
        let r = support::http(s.addr, "POST", path, &[("Content-Type", "application/json")], body);
        assert_eq!(r.status, 200, "{}", r.text());
        last_request(&sim, "api")["body"].clone()
    };
    let formats: [(&str, TurnBody); 2] =
        [("/grok/v1/messages", claude_after), ("/grok/v1/chat/completions", openai_after)];
    for (path, body_of) in formats {
        for turns in [TURNS, TURNS + 1, TURNS + 1, TURNS + 2, TURNS] {
            let body = body_of(API_MODEL, false, "LAST", turns);
            let through_warm = send(&warm, path, &body);
            let fresh = gateway(&sim);
            assert_eq!(through_warm, send(&fresh, path, &body), "{path} after {turns} turns");
            let messages = through_warm["messages"].as_array().unwrap();
            assert!(messages.len() > 2 * turns, "{path}: {} messages", messages.len());
        }
    }
}

/// A client that leaves while the upstream is silent is noticed within seconds: the connection
/// watches the client's socket once a stream has had nothing to send for a second, long before
/// the next heartbeat (15 s) or the next token (30 s) would show it.
#[test]
fn a_client_that_leaves_a_silent_stream_is_noticed_within_seconds() {
    let sim = Sim::start(&[]);
    let mut cfg = sim.tryit.clone();
    cfg["log_level"] = json!("debug");
    let s = Server::start(&cfg);
    // Two events (the role chunk and the first token), then 30 s of silence.
    let body = serde_json::to_vec(&openai(API_MODEL, "sim:tokens=5 sim:pace=2/30000 hi", true)).unwrap();
    let mut c = support::Conn::connect(s.addr);
    c.send(&support::request_with_body("POST", "/grok/v1/chat/completions", &body, ""));
    assert_eq!(c.read_head().status, 200);
    assert!(c.read_chunk().is_some(), "the first events arrive");
    let left = std::time::Instant::now();
    drop(c);
    let line = s.wait_for_line(std::time::Duration::from_secs(8), |l| l.contains("client went away"));
    assert!(line.is_some(), "not noticed within 8 s:\n{}", s.log());
    assert!(left.elapsed() < std::time::Duration::from_secs(8));
}
