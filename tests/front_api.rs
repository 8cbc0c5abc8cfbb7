//! The Claude and OpenAI front-ends end to end: the real binary with `test_channel: true`.

#![allow(
    clippy::allow_attributes,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::single_match_else,
    clippy::match_same_arms,
    clippy::too_many_lines,
    reason = "test code: failing loudly is the point"
)]

pub mod support;

use serde_json::{Value, json};
use support::{Server, http as request, post_json, sse_events};

const KEY: &str = "sk-test-key-0001";

fn server() -> Server {
    Server::start(&json!({"api_keys": [KEY], "test_channel": true, "workers": 2}))
}

fn claude(s: &Server, body: &Value) -> support::Response {
    post_json(s.addr, "/v1/messages?beta=true", &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")], body)
}

fn openai(s: &Server, path: &str, body: &Value) -> support::Response {
    post_json(s.addr, path, &[("authorization", &format!("Bearer {KEY}"))], body)
}

fn msg(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": text}]})
}

#[test]
fn claude_non_streaming_on_every_channel() {
    let s = server();
    for model in ["claude-sonnet-4-5", "grok-3", "warp-auto"] {
        let r = claude(&s, &msg(model, "hi", false));
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "message");
        assert_eq!(v["model"], model);
        assert_eq!(v["content"][0]["text"], "Hello from the test channel!");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert!(r.header("request-id").is_some());
    }
}

#[test]
fn claude_stream_has_the_exact_event_order() {
    let s = server();
    for model in ["claude-sonnet-4-5", "grok-3"] {
        let r = claude(&s, &msg(model, "think please", true));
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
        let events = sse_events(&r.body);
        let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
        for (name, data) in &events {
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], name.as_deref().unwrap(), "type equals the event name");
        }
        assert_eq!(&names[..2], &["message_start", "ping"]);
        assert_eq!(&names[names.len() - 2..], &["message_delta", "message_stop"]);
        let thinking: String = events
            .iter()
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
            .filter(|v| v["delta"]["type"] == "thinking_delta")
            .map(|v| v["delta"]["thinking"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(thinking, "Let me think about this carefully.");
        if model.starts_with("claude") {
            assert!(events.iter().any(|(_, d)| d.contains("signature_delta")), "{model}: signature kept");
        }
        let start: Value = serde_json::from_str(&events[0].1).unwrap();
        assert_eq!(start["message"]["model"], model);
    }
}

#[test]
fn openai_stream_with_usage_and_done() {
    let s = server();
    // grok: OpenAI frames passed through; orchids: canonical events encoded.
    for model in ["grok-3", "claude-sonnet-4-5"] {
        let r = openai(&s, "/v1/chat/completions", &chat(model, "hello", true));
        assert_eq!(r.status, 200);
        let events = sse_events(&r.body);
        assert_eq!(events.last().unwrap().1, "[DONE]", "{model}");
        let chunks: Vec<Value> =
            events[..events.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
        let id = &chunks[0]["id"];
        for c in &chunks {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(&c["id"], id, "stable id");
            assert_eq!(c["model"], model, "client's model id");
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, "Hello from the test channel!");
        let finish: Vec<&Value> =
            chunks.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
        assert_eq!(finish, vec![&json!("stop")]);
    }
}

#[test]
fn openai_without_include_usage_gets_no_usage_chunk() {
    let s = server();
    let body = json!({"model":"grok-3","stream":true,"messages":[{"role":"user","content":"hi"}]});
    let r = openai(&s, "/grok/v1/chat/completions", &body);
    let events = sse_events(&r.body);
    assert!(events.iter().all(|(_, d)| !d.contains("\"choices\":[]")));
    assert_eq!(events.last().unwrap().1, "[DONE]");
}

#[test]
fn tool_calls_in_both_formats() {
    let s = server();
    let tools = json!([{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]);
    for model in ["grok-3", "claude-sonnet-4-5"] {
        let mut body = chat(model, "use the tool", true);
        body["tools"] = tools.clone();
        let r = openai(&s, "/v1/chat/completions", &body);
        let mut args = String::new();
        let mut name = None;
        for (_, d) in sse_events(&r.body) {
            let Ok(v) = serde_json::from_str::<Value>(&d) else {
                continue;
            };
            if let Some(tc) = v["choices"][0]["delta"]["tool_calls"].as_array() {
                assert_eq!(tc[0]["index"], 0);
                if let Some(n) = tc[0]["function"]["name"].as_str() {
                    name = Some(n.to_owned());
                }
                args.push_str(tc[0]["function"]["arguments"].as_str().unwrap_or_default());
            }
        }
        assert_eq!(name.as_deref(), Some("lookup"));
        let parsed: Value = serde_json::from_str(&args).unwrap();
        assert_eq!(parsed["location"], "Paris, France");
        let r = claude(
            &s,
            &json!({"model": model, "max_tokens": 50, "messages":[{"role":"user","content":"tool time"}],
                    "tools":[{"name":"lookup","input_schema":{"type":"object"}}]}),
        );
        let v = r.json();
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(v["content"][0]["type"], "tool_use");
        assert_eq!(v["content"][0]["input"]["unit"], "celsius");
    }
}

#[test]
fn errors_before_the_first_byte_use_the_client_shape() {
    let s = server();
    let r = post_json(s.addr, "/v1/messages", &[], &msg("grok-3", "hi", false));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = post_json(
        s.addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer nope-nope-nope")],
        &chat("grok-3", "hi", false),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");

    let r = claude(&s, &msg("gork-3", "hi", false));
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("did you mean grok-3"));
    let r = openai(&s, "/v1/chat/completions", &chat("gork-3", "hi", false));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    let r = openai(&s, "/mars/v1/chat/completions", &chat("grok-3", "hi", false));
    assert_eq!(r.status, 404);
    let r = openai(&s, "/orchids/v1/chat/completions", &chat("grok-3", "hi", false));
    assert_eq!(r.status, 404, "grok-3 is not an orchids model");

    let r = claude(&s, &msg("grok-3", "please fail rate_limit", true));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    for (class, status, ty) in [
        ("client", 400, "invalid_request_error"),
        ("model", 404, "not_found_error"),
        ("quota", 429, "rate_limit_error"),
        ("server", 529, "overloaded_error"),
        ("network", 502, "api_error"),
        ("auth", 503, "api_error"),
        ("blocked", 503, "api_error"),
        ("slow", 504, "timeout_error"),
    ] {
        let r = claude(&s, &msg("claude-sonnet-4-5", &format!("fail {class}"), true));
        assert_eq!((r.status, r.json()["error"]["type"].as_str().unwrap()), (status, ty), "{class}");
    }
    let r = openai(&s, "/v1/chat/completions", &chat("grok-3", "fail-stream server", true));
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_overloaded");

    for model in ["grok-3", "claude-sonnet-4-5"] {
        let r = claude(&s, &msg(model, "error first", true));
        assert_eq!((r.status, r.json()["error"]["type"].as_str().unwrap()), (429, "rate_limit_error"), "{model}");
        let r = openai(&s, "/v1/chat/completions", &chat(model, "error first", true));
        assert_eq!(r.status, 429, "{model}");
    }

    let bad = request(s.addr, "POST", "/v1/messages", &[("x-api-key", KEY)], b"{not json");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["type"], "error");
    let r =
        openai(&s, "/v1/chat/completions", &json!({"model":"grok-3","n":3,"messages":[{"role":"user","content":"x"}]}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "n");
}

#[test]
fn errors_after_the_first_byte_are_in_stream() {
    let s = server();
    for model in ["grok-3", "claude-sonnet-4-5"] {
        let r = claude(&s, &msg(model, "midstream error", true));
        assert_eq!(r.status, 200);
        let events = sse_events(&r.body);
        let (name, data) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{model}");
        assert_eq!(serde_json::from_str::<Value>(data).unwrap()["error"]["type"], "overloaded_error");

        let r = openai(&s, "/v1/chat/completions", &chat(model, "midstream error", true));
        let events = sse_events(&r.body);
        let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
        assert!(last["error"]["message"].as_str().unwrap().contains("overloaded"), "{model}");
        assert!(events.iter().all(|(_, d)| d != "[DONE]"), "no [DONE] after an error");

        let r = claude(&s, &msg(model, "cut stream", true));
        let events = sse_events(&r.body);
        assert_eq!(events.last().unwrap().0.as_deref(), Some("error"), "{model}: a cut stream is reported");
    }
}

#[test]
fn models_in_both_shapes() {
    let s = server();
    let r = request(s.addr, "GET", "/v1/models", &[("authorization", &format!("Bearer {KEY}"))], b"");
    let v = r.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"grok-3") && ids.contains(&"claude-sonnet-4-5"));
    assert_eq!(ids.iter().filter(|i| **i == "claude-sonnet-4-5").count(), 1, "deduplicated");
    assert_eq!(v["data"][0]["object"], "model");

    let r = request(
        s.addr,
        "GET",
        "/grok/v1/models?limit=2",
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        b"",
    );
    let v = r.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["has_more"], true);
    assert_eq!(v["data"][0]["type"], "model");
    assert!(v["data"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    let after = v["last_id"].as_str().unwrap().to_owned();
    let r = request(
        s.addr,
        "GET",
        &format!("/grok/v1/models?limit=100&after_id={after}"),
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        b"",
    );
    assert_eq!(r.json()["has_more"], false);

    let r = request(s.addr, "GET", "/v1/models/grok-3", &[("x-api-key", KEY)], b"");
    assert_eq!(r.json()["owned_by"], "grok");
    let r = request(s.addr, "GET", "/v1/models/gork-3", &[("x-api-key", KEY)], b"");
    assert_eq!(r.status, 404);
}

#[test]
fn count_tokens_uses_the_tokenizer() {
    let s = server();
    let body = json!({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hello world"}]});
    let r = post_json(s.addr, "/v1/messages/count_tokens?beta=true", &[("x-api-key", KEY)], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let n = r.json()["input_tokens"].as_u64().unwrap();
    assert!((5..20).contains(&n), "{n}");
    let r = post_json(s.addr, "/orchids/v1/messages/count_tokens", &[("x-api-key", KEY)], &body);
    assert_eq!(r.json()["input_tokens"].as_u64().unwrap(), n);
}

#[test]
fn no_keys_serves_loopback_and_no_channel_is_503() {
    let s = Server::start(&json!({}));
    // warp has no driver yet; grok has one but no account in this config.
    let r = post_json(s.addr, "/v1/messages", &[], &msg("warp-auto", "hi", false));
    assert_eq!(r.status, 529, "no channel configured: {}", r.text());
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("no upstream"));
    let r = post_json(s.addr, "/v1/chat/completions", &[], &chat("warp-auto", "hi", false));
    assert_eq!(r.status, 503);
    let r = post_json(s.addr, "/v1/chat/completions", &[], &chat("grok-3", "hi", false));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("no upstream account"), "{}", r.text());
}

#[test]
fn producer_stops_when_the_client_goes_away() {
    let s = Server::start(&json!({"api_keys": [KEY], "test_channel": true, "log_level": "debug"}));
    let body = serde_json::to_vec(&msg("claude-sonnet-4-5", "slow please", true)).unwrap();
    let mut c = support::Conn::connect(s.addr);
    c.send(&support::request_with_body("POST", "/v1/messages", &body, &format!("x-api-key: {KEY}\r\n")));
    let head = c.read_head();
    assert_eq!(head.status, 200);
    assert!(c.read_chunk().is_some(), "the first event arrives");
    drop(c);
    let line = s.wait_for_line(std::time::Duration::from_secs(20), |l| l.contains("client went away"));
    assert!(line.is_some(), "the producer noticed the disconnect:\n{}", s.log());
}
