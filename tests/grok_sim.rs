//! The grok simulator end to end: the real binary (`orchids-server simulate grok --port 0`),
//! both surfaces, every keyword behaviour, auth and body checks, and that what it sends
//! decodes with the channel's own decoders (`orchids2api::grok`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

mod grok_support;

use grok_support::{API_KEY, Resp, SSO, Sim, read_response, send};
use orchids2api::domain::{AccountDef, FailureClass, ModelDef};
use orchids2api::grok::classify::{ErrorResponse, classify_api, classify_web};
use orchids2api::grok::flatten::{Item, Role, ToolChoice, ToolSetup, ToolSpec, Turn, flatten};
use orchids2api::grok::ndjson::{GrokWebEvent, NdjsonError, WebErrorKind, decode_line};
use orchids2api::grok::tool_markup::{MarkupEvent, ToolCall, ToolMarkupError, ToolMarkupParser, ToolPolicy};
use orchids2api::grok::web_request::WebChatRequest;
use orchids2api::grok::web_text::{AnswerAssembler, TextPiece};
use orchids2api::grok::{ratelimit, web_request};
use orchids2api::pool::FailureScope;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DEFAULT_ANSWER: &str = "Hello! This is the grok simulator answering you.";

fn user(text: &str) -> Value {
    json!({"model": "grok-4-fast-non-reasoning", "messages": [{"role": "user", "content": text}]})
}

fn streamed(text: &str) -> Value {
    let mut v = user(text);
    v["stream"] = json!(true);
    v
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}])
}

/// The reset deadline the gateway reads from a response's headers (at time 0).
fn hint_at(r: &Resp) -> Option<u64> {
    orchids2api::pool::deadline_from_headers(r.headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), 0)
}

fn classify_api_resp(r: &Resp) -> orchids2api::grok::classify::Classified {
    classify_api(&ErrorResponse { status: r.status, hint_at_ms: hint_at(r), body: &r.body, ..Default::default() }, 0)
}

fn classify_web_resp(r: &Resp) -> orchids2api::grok::classify::Classified {
    let cf = r.header("cf-mitigated").map(str::as_bytes);
    classify_web(&ErrorResponse { status: r.status, hint_at_ms: hint_at(r), cf_mitigated: cf, body: &r.body }, 0)
}

/// Chunks of an OpenAI stream: (content, reasoning, tool args, finish reasons, usage seen, done).
struct ApiStream {
    content: String,
    reasoning: String,
    tool_name: Option<String>,
    tool_args: String,
    arg_frames: usize,
    finish: Vec<String>,
    usage: Option<Value>,
    done: bool,
    bad_frames: usize,
}

fn api_stream(r: &Resp) -> ApiStream {
    let mut s = ApiStream {
        content: String::new(),
        reasoning: String::new(),
        tool_name: None,
        tool_args: String::new(),
        arg_frames: 0,
        finish: Vec::new(),
        usage: None,
        done: false,
        bad_frames: 0,
    };
    for data in r.sse_data() {
        if data == "[DONE]" {
            s.done = true;
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            s.bad_frames += 1;
            continue;
        };
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(u) = v.get("usage") {
            s.usage = Some(u.clone());
        }
        let choice = &v["choices"][0];
        let d = &choice["delta"];
        s.content.push_str(d["content"].as_str().unwrap_or_default());
        s.reasoning.push_str(d["reasoning_content"].as_str().unwrap_or_default());
        if let Some(tc) = d["tool_calls"].get(0) {
            if let Some(n) = tc["function"]["name"].as_str() {
                s.tool_name = Some(n.to_owned());
                assert!(tc["id"].as_str().unwrap().starts_with("call_"));
            }
            if let Some(a) = tc["function"]["arguments"].as_str().filter(|a| !a.is_empty()) {
                s.tool_args.push_str(a);
                s.arg_frames += 1;
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            s.finish.push(f.to_owned());
        }
    }
    s
}

/// What a web NDJSON answer decodes to through the channel's decoders.
#[derive(Debug, Default)]
struct WebAnswer {
    answer: String,
    thinking: String,
    calls: Vec<ToolCall>,
    invalid: Vec<ToolMarkupError>,
    events: Vec<String>,
    final_message: Option<String>,
    decode_error: Option<NdjsonError>,
    errors: Vec<WebErrorKind>,
}

fn web_answer(r: &Resp, policy: &ToolPolicy) -> WebAnswer {
    let mut out = WebAnswer::default();
    let mut asm = AnswerAssembler::new();
    let mut tools = ToolMarkupParser::new(policy.clone());
    let mut answer = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    let mut invalid = Vec::new();
    let mut on_piece = |p: TextPiece<'_>, tools: &mut ToolMarkupParser| match p {
        TextPiece::Thinking(t) => thinking.push_str(t),
        TextPiece::Answer(t) => tools.push(t, &mut |ev| match ev {
            MarkupEvent::Text(t) => answer.push_str(t),
            MarkupEvent::ToolCall(c) => calls.push(c),
            MarkupEvent::Invalid(e) => invalid.push(e),
        }),
    };
    for line in r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match decode_line(line) {
            Ok(GrokWebEvent::Token { text, is_thinking, .. }) => {
                out.events.push(if is_thinking { "thinking" } else { "token" }.to_owned());
                asm.on_token(&text, is_thinking, &mut |p| on_piece(p, &mut tools));
            }
            Ok(GrokWebEvent::Final(f)) => {
                out.events.push("final".to_owned());
                out.final_message = Some(f.message.to_string());
                asm.on_final(&f.message, &mut |p| on_piece(p, &mut tools));
            }
            Ok(GrokWebEvent::Error(e)) => {
                out.events.push("error".to_owned());
                out.errors.push(e.kind);
            }
            Ok(GrokWebEvent::Conversation { .. }) => out.events.push("conversation".to_owned()),
            Ok(_) => out.events.push("ignored".to_owned()),
            Err(e) => {
                out.decode_error = Some(e);
                break;
            }
        }
    }
    asm.finish(&mut |p| on_piece(p, &mut tools));
    tools.finish(&mut |ev| match ev {
        MarkupEvent::Text(t) => answer.push_str(t),
        MarkupEvent::ToolCall(c) => calls.push(c),
        MarkupEvent::Invalid(e) => invalid.push(e),
    });
    out.answer = answer;
    out.thinking = thinking;
    out.calls = calls;
    out.invalid = invalid;
    out
}

fn web_body(message: &str, mode: &str) -> Value {
    serde_json::from_slice(&WebChatRequest::new(message, mode).to_json()).unwrap()
}

#[test]
fn try_it_line_points_at_the_bound_port_with_working_accounts() {
    let sim = Sim::start(&[]);
    let port = sim.addr.port();
    assert_ne!(port, 0);
    let grok = &sim.tryit["channels"]["grok"];
    assert_eq!(grok["api_base_url"], format!("http://127.0.0.1:{port}/v1"));
    assert_eq!(grok["web_base_url"], format!("http://127.0.0.1:{port}"));
    let accounts: Vec<AccountDef> = serde_json::from_value(sim.tryit["accounts"].clone()).unwrap();
    let models: Vec<ModelDef> = serde_json::from_value(sim.tryit["models"].clone()).unwrap();
    let key = accounts.iter().find_map(|a| a.credentials.get("api_key")).unwrap();
    let sso = accounts.iter().find_map(|a| a.credentials.get("sso")).unwrap();
    // The API-kind models are served by the simulated API with the printed key.
    for m in models.iter().filter(|m| m.kinds == ["api"]) {
        let auth = format!("Bearer {key}");
        let body = json!({"model": m.upstream(), "messages": [{"role": "user", "content": "hi"}]}).to_string();
        let r =
            sim.post("/v1/chat/completions", &[("authorization", &auth), ("content-type", "application/json")], &body);
        assert_eq!(r.status, 200, "{}: {}", m.id, r.text());
    }
    // The web-kind models' upstream ids are modeIds the web surface accepts with the printed sso.
    for m in models.iter().filter(|m| m.kinds == ["web"]) {
        let cookie = web_request::cookie_header(sso, None).unwrap();
        let body = String::from_utf8(WebChatRequest::new("hi", m.upstream()).to_json()).unwrap();
        let r = sim.post(
            "/rest/app-chat/conversations/new",
            &[("cookie", &cookie), ("content-type", "application/json")],
            &body,
        );
        assert_eq!(r.status, 200, "{}: {}", m.id, r.text());
    }
}

#[test]
fn api_models_and_plain_answers() {
    let sim = Sim::start(&[]);
    let auth = format!("Bearer {API_KEY}");
    let models = sim.get("/v1/models", &[("authorization", &auth)]).json();
    assert_eq!(models["object"], "list");
    assert!(
        models["data"].as_array().unwrap().iter().any(|m| m["id"] == "grok-4-fast-reasoning" && m["object"] == "model")
    );

    let whole = sim.api(&user("hi")).json();
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["choices"][0]["message"]["content"], DEFAULT_ANSWER);
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert!(whole["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(whole["choices"][0]["message"].get("reasoning_content").is_none());

    let r = sim.api(&streamed("hi"));
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let s = api_stream(&r);
    assert!(r.complete && s.done);
    assert_eq!(s.content, DEFAULT_ANSWER);
    assert_eq!(s.finish, ["stop"]);
    assert_eq!(s.usage.unwrap()["completion_tokens"], 10);
}

#[test]
fn api_reads_a_request_that_takes_several_reads() {
    // A 65 KiB agent turn: several reads of the simulator's 16 KiB buffer (each read once
    // overwrote the one before, so such a request never completed).
    let sim = Sim::start(&[]);
    for stream in [false, true] {
        let body = orchids2api::sim::agent_turn::openai("grok-4-fast-non-reasoning", stream, "Go on.");
        let auth = format!("Bearer {API_KEY}");
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let r = sim.post("/v1/chat/completions", &headers, std::str::from_utf8(&body).unwrap());
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.complete);
        if stream {
            assert_eq!(api_stream(&r).content, DEFAULT_ANSWER);
        } else {
            assert_eq!(r.json()["choices"][0]["message"]["content"], DEFAULT_ANSWER);
        }
    }
}

#[test]
fn api_long_and_reasoning() {
    let sim = Sim::start(&[]);
    let s = api_stream(&sim.api(&streamed("sim:long please")));
    assert_eq!(s.content.split(' ').count(), 400);
    let mut body = streamed("think");
    body["model"] = json!("grok-4-fast-reasoning");
    let s = api_stream(&sim.api(&body));
    assert_eq!(s.reasoning, "Let me think about this carefully.");
    assert_eq!(s.content, DEFAULT_ANSWER);
    assert_eq!(s.usage.unwrap()["completion_tokens_details"]["reasoning_tokens"], 6);
    let forced = api_stream(&sim.api(&streamed("sim:reasoning")));
    assert!(!forced.reasoning.is_empty());
    let whole = sim.api(&json!({"model": "grok-3-mini", "messages": [{"role": "user", "content": "x"}]})).json();
    assert_eq!(whole["choices"][0]["message"]["reasoning_content"], "Let me think about this carefully.");
}

#[test]
fn api_tool_call_arguments_span_many_frames_and_round_trip() {
    let sim = Sim::start(&[]);
    let mut body = streamed("sim:tool weather in Paris?");
    body["tools"] = weather_tool();
    let s = api_stream(&sim.api(&body));
    assert_eq!(s.tool_name.as_deref(), Some("get_weather"));
    assert!(s.arg_frames > 3, "arguments should be split, got {} frames", s.arg_frames);
    assert_eq!(serde_json::from_str::<Value>(&s.tool_args).unwrap(), json!({"city": "sim-city", "days": 1}));
    assert_eq!(s.finish, ["tool_calls"]);
    assert!(s.done);

    body["stream"] = json!(false);
    let whole = sim.api(&body).json();
    let call = &whole["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");

    // The round trip: the tool's result comes back and the answer quotes it.
    let round = json!({"model": "grok-4-fast-non-reasoning", "stream": true, "tools": weather_tool(), "messages": [
        {"role": "user", "content": "sim:tool weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "22C and sunny"},
    ]});
    let s = api_stream(&sim.api(&round));
    assert_eq!(s.content, "The tool returned: 22C and sunny");
    assert_eq!(s.finish, ["stop"]);
    // Without declared tools the keyword cannot call anything.
    assert_eq!(api_stream(&sim.api(&streamed("sim:tool"))).content, DEFAULT_ANSWER);
}

#[test]
fn api_auth_and_body_checks() {
    let sim = Sim::start(&[]);
    let body = user("hi").to_string();
    let none = sim.post("/v1/chat/completions", &[("content-type", "application/json")], &body);
    assert_eq!(none.status, 401);
    assert_eq!(classify_api_resp(&none).class, FailureClass::Auth);
    let wrong = sim.post(
        "/v1/chat/completions",
        &[("authorization", "Bearer xai-wrong"), ("content-type", "application/json")],
        &body,
    );
    assert_eq!(wrong.status, 400);
    assert!(wrong.json()["error"].as_str().unwrap().contains("Incorrect API key"));
    assert_eq!(classify_api_resp(&wrong).class, FailureClass::Auth);

    let auth = format!("Bearer {API_KEY}");
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let cases = [
        ("{not json", 400),
        (r#"{"model":"grok-4"}"#, 422),
        (r#"{"model":"grok-4","messages":[]}"#, 400),
        (r#"{"model":"grok-9000","messages":[{"role":"user","content":"x"}]}"#, 404),
        (r#"{"model":"grok-4","messages":[{"role":"robot","content":"x"}]}"#, 422),
    ];
    for (b, status) in cases {
        let r = sim.post("/v1/chat/completions", &h, b);
        assert_eq!(r.status, status, "{b}: {}", r.text());
        let v = r.json();
        assert!(v["code"].is_string() && v["error"].is_string(), "flat xAI error shape: {v}");
        assert_eq!(classify_api_resp(&r).class, FailureClass::Client, "{b}");
    }
    let r = sim.post("/v1/chat/completions", &[("authorization", &auth), ("content-type", "text/plain")], &body);
    assert_eq!(r.status, 415);
}

#[test]
fn api_failure_keywords_classify_as_the_policy_says() {
    let sim = Sim::start(&[]);
    let cases: [(&str, u16, FailureClass); 8] = [
        ("sim:expired", 401, FailureClass::Auth),
        ("sim:badkey", 400, FailureClass::Auth),
        ("sim:429", 429, FailureClass::RateLimit),
        ("sim:credits", 429, FailureClass::Quota),
        ("sim:team429", 429, FailureClass::RateLimitShared),
        ("sim:blocked", 403, FailureClass::Blocked),
        ("sim:500", 500, FailureClass::Server),
        ("sim:503", 503, FailureClass::Server),
    ];
    for (kw, status, class) in cases {
        for stream in [false, true] {
            let body = if stream { streamed(kw) } else { user(kw) };
            let r = sim.api(&body);
            assert_eq!(r.status, status, "{kw}");
            assert_eq!(classify_api_resp(&r).class, class, "{kw}: {}", r.text());
        }
    }
    let r = sim.api(&user("sim:429=30"));
    assert_eq!(r.header("retry-after"), Some("30"));
    assert_eq!(classify_api_resp(&r).retry_after, Some(Duration::from_secs(30)));
    let team = classify_api_resp(&sim.api(&user("sim:team429")));
    assert_eq!(team.scope, FailureScope::Team { team: Some("5e1f0c2a-7d4b-4c1e-9a3f-5151a1a1b0b0".into()) });
    assert!(team.message.contains("and model grok-4-fast-non-reasoning"), "{}", team.message);
    // No Retry-After: the used-up window's reset header is the hint.
    let r = sim.api(&user("sim:429-reset=20"));
    assert_eq!((r.status, r.header("retry-after")), (429, None));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    let c = classify_api_resp(&r);
    assert_eq!((c.class, c.retry_after), (FailureClass::RateLimit, Some(Duration::from_secs(20))));
    // A denied model is a 403 about that model only.
    let denied = sim.api(&user("sim:deny=grok-4-fast-non-reasoning"));
    assert_eq!(denied.status, 403, "{}", denied.text());
    let c = classify_api_resp(&denied);
    assert_eq!((c.class, c.scope), (FailureClass::Model, FailureScope::AccountModel));
    let mut other = user("sim:deny=grok-4-fast-non-reasoning");
    other["model"] = json!("grok-4-fast-reasoning");
    assert_eq!(sim.api(&other).status, 200);
}

#[test]
fn api_answers_carry_rate_limit_windows_per_key() {
    let sim = Sim::start(&[]);
    for (stream, remaining) in [(false, "479"), (true, "478")] {
        let r = sim.api(&if stream { streamed("hi") } else { user("hi") });
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("480"));
        assert_eq!(r.header("x-ratelimit-remaining-requests"), Some(remaining), "stream={stream}");
        assert_eq!(r.header("x-ratelimit-limit-tokens"), Some("2000000"));
        let tokens: u64 = r.header("x-ratelimit-remaining-tokens").unwrap().parse().unwrap();
        assert!(tokens < 2_000_000, "{tokens}");
        let reset = r.header("x-ratelimit-reset-requests").unwrap();
        assert!(reset.ends_with('s') && reset.trim_end_matches('s').parse::<u64>().unwrap() <= 60, "{reset}");
        let o =
            orchids2api::pool::Observed::from_headers(r.headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), 0);
        assert_eq!(o.requests.limit, Some(480));
        assert!(o.tokens.reset_at_ms.is_some());
    }
}

#[test]
fn api_stall_disconnect_and_malformed() {
    let sim = Sim::start(&[]);
    let r = sim.api(&streamed("sim:stall=300"));
    assert_eq!(r.status, 200);
    // The stall's length is not asserted (timers on a loaded box are no proof); the head must
    // arrive before the body, which the stall separates.
    assert!(r.body_after > r.head_after, "head {:?} body {:?}", r.head_after, r.body_after);
    assert_eq!(api_stream(&r).content, DEFAULT_ANSWER);
    let r = sim.api(&streamed("sim:stall-head=200"));
    assert!(r.head_after > Duration::ZERO);

    let r = sim.api(&streamed("sim:disconnect"));
    assert!(!r.complete, "the stream must be cut");
    let s = api_stream(&r);
    assert!(!s.done);
    assert_eq!(s.content, "Hello! This");

    let s = api_stream(&sim.api(&streamed("sim:malformed")));
    assert_eq!(s.bad_frames, 1);
    assert!(s.done);

    let whole = sim.api(&user("sim:disconnect"));
    assert!(!whole.complete);
}

#[test]
fn web_answer_thinking_and_final_reconcile() {
    let sim = Sim::start(&[]);
    let r = sim.web(&web_body("user: earlier\n\nassistant: ok\n\nhi", "fast"));
    assert_eq!(r.status, 200);
    assert!(r.complete);
    let a = web_answer(&r, &ToolPolicy::default());
    assert_eq!(a.answer, DEFAULT_ANSWER);
    assert_eq!(a.final_message.as_deref(), Some(DEFAULT_ANSWER));
    assert_eq!(a.thinking, "");
    assert_eq!(a.events.first().map(String::as_str), Some("conversation"));
    assert!(a.decode_error.is_none());

    let a = web_answer(&sim.web(&web_body("hi", "expert")), &ToolPolicy::default());
    assert_eq!(a.thinking, "Let me think about this carefully.");
    assert_eq!(a.answer, DEFAULT_ANSWER);

    let a = web_answer(&sim.web(&web_body("hi sim:markup sim:reasoning", "fast")), &ToolPolicy::default());
    assert_eq!(a.answer, DEFAULT_ANSWER, "UI markup stripped");
    assert!(a.final_message.unwrap().contains("<grok:render"), "the raw final keeps the markup");
    assert_eq!(a.thinking, "Let me think about this carefully.");

    let a = web_answer(&sim.web(&web_body("sim:tokens=50", "fast")), &ToolPolicy::default());
    assert_eq!(a.answer.split(' ').count(), 50);
}

fn tool_prompt(keyword: &str) -> (String, ToolPolicy) {
    let params = r#"{"type":"object","properties":{"city":{"type":"string"}}}"#;
    let specs = [ToolSpec { name: "get_weather", description: "Weather now.", parameters: params }];
    let turns = [Turn { role: Role::User, items: vec![Item::Text(keyword)] }];
    let f = flatten(&turns, &ToolSetup { tools: &specs, choice: ToolChoice::Auto, parallel: true });
    (f.prompt, ToolPolicy { declared: vec!["get_weather".into()], forced: None })
}

#[test]
fn web_tool_markup_never_leaks_and_variants_repair() {
    let sim = Sim::start(&[]);
    for kw in ["sim:tool", "sim:tool-fenced", "sim:tool-comma", "sim:tool-nobrace"] {
        let (prompt, policy) = tool_prompt(&format!("weather in Paris? {kw}"));
        let r = sim.web(&web_body(&prompt, "fast"));
        let a = web_answer(&r, &policy);
        let tokens = a.events.iter().filter(|e| *e == "token").count();
        assert!(tokens > 10, "{kw}: the markup must be split across many token lines");
        assert_eq!(a.calls.len(), 1, "{kw}: {a:?}");
        assert_eq!(a.calls[0].name, "get_weather");
        assert_eq!(serde_json::from_str::<Value>(&a.calls[0].arguments).unwrap(), json!({"city": "sim-city"}));
        assert_eq!(a.answer, "I'll use a tool for that.  Done.", "{kw}");
        assert!(!a.answer.contains("tool_call"));
    }
    let (prompt, policy) = tool_prompt("sim:tool-undeclared");
    let a = web_answer(&sim.web(&web_body(&prompt, "fast")), &policy);
    assert!(a.calls.is_empty());
    assert_eq!(a.invalid, [ToolMarkupError::Undeclared("undeclared_tool_sim".into())]);

    // The round trip: the tool result comes back flattened, and the answer quotes it.
    let params = r#"{"type":"object","properties":{"city":{"type":"string"}}}"#;
    let specs = [ToolSpec { name: "get_weather", description: "", parameters: params }];
    let turns = [
        Turn { role: Role::User, items: vec![Item::Text("weather? sim:tool")] },
        Turn {
            role: Role::Assistant,
            items: vec![Item::ToolUse { id: "call_1", name: "get_weather", arguments: r#"{"city":"Paris"}"# }],
        },
        Turn { role: Role::Tool, items: vec![Item::ToolResult { id: "call_1", name: None, content: "22C" }] },
    ];
    let f = flatten(&turns, &ToolSetup { tools: &specs, choice: ToolChoice::Auto, parallel: true });
    let a = web_answer(&sim.web(&web_body(&f.prompt, "fast")), &ToolPolicy::default());
    assert!(a.calls.is_empty());
    assert_eq!(a.answer, "The tool returned: 22C");
}

#[test]
fn web_auth_and_body_checks() {
    let sim = Sim::start(&[]);
    let body = web_body("hi", "fast").to_string();
    let ct = ("content-type", "application/json");
    for cookie in [None, Some("sso=nope; sso-rw=nope"), Some(&*format!("sso={SSO}; sso-rw=other")), Some("other=1")] {
        let mut h = vec![ct];
        if let Some(c) = cookie {
            h.push(("cookie", c));
        }
        let r = sim.post("/rest/app-chat/conversations/new", &h, &body);
        assert_eq!(r.status, 401, "{cookie:?}");
        assert_eq!(classify_web_resp(&r).class, FailureClass::Auth);
    }
    let cookie = format!("sso={SSO}");
    let h = [("cookie", cookie.as_str()), ct];
    assert_eq!(sim.post("/rest/app-chat/conversations/new", &h, &body).status, 200, "sso alone is enough");
    let cases = [
        "not json",
        r#"{"modeId":"fast"}"#,
        r#"{"message":"hi"}"#,
        r#"{"message":"hi","modeId":"warp-speed"}"#,
        r#"{"message":42,"modeId":"fast"}"#,
        r#"{"message":"hi","modeId":"fast","temporary":"yes"}"#,
        r#"{"message":"hi","modeId":"fast","fileAttachments":"f1"}"#,
        r#"{"message":"  ","modeId":"fast"}"#,
    ];
    for b in cases {
        let r = sim.post("/rest/app-chat/conversations/new", &h, b);
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        assert_eq!(classify_web_resp(&r).class, FailureClass::Client);
    }
    let r = sim.post(
        "/rest/app-chat/conversations/new",
        &[("cookie", cookie.as_str()), ("content-type", "text/plain")],
        &body,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn web_failure_keywords_classify_as_the_policy_says() {
    let sim = Sim::start(&[]);
    let cases: [(&str, u16, FailureClass); 7] = [
        ("sim:expired", 401, FailureClass::Auth),
        ("sim:429", 429, FailureClass::RateLimit),
        ("sim:team429", 429, FailureClass::RateLimitShared),
        ("sim:blocked", 403, FailureClass::Blocked),
        ("sim:challenge", 403, FailureClass::RateLimitShared),
        ("sim:500", 500, FailureClass::Server),
        ("sim:502", 502, FailureClass::Server),
    ];
    for (kw, status, class) in cases {
        let r = sim.web(&web_body(kw, "fast"));
        assert_eq!(r.status, status, "{kw}");
        assert_eq!(classify_web_resp(&r).class, class, "{kw}: {}", r.text());
    }
    let r = sim.web(&web_body("sim:429=12", "fast"));
    assert_eq!(r.header("retry-after"), Some("12"));
    assert_eq!(classify_web_resp(&r).retry_after, Some(Duration::from_secs(12)));
    let c = classify_web_resp(&sim.web(&web_body("sim:team429", "expert")));
    assert_eq!(c.scope, FailureScope::Team { team: Some("5e1f0c2a-7d4b-4c1e-9a3f-5151a1a1b0b0".into()) });
    assert!(c.message.contains("and model expert"), "{}", c.message);
    let ch = sim.web(&web_body("sim:challenge", "fast"));
    assert_eq!(ch.header("cf-mitigated"), Some("challenge"));
    assert_eq!(classify_web_resp(&ch).scope, FailureScope::Channel);
    let denied = sim.web(&web_body("sim:deny=expert", "expert"));
    let c = classify_web_resp(&denied);
    assert_eq!((denied.status, c.class, c.scope), (403, FailureClass::Model, FailureScope::AccountModel));
    assert_eq!(sim.web(&web_body("sim:deny=expert", "fast")).status, 200);
    let r = sim.web(&web_body("sim:429-reset=30", "fast"));
    assert_eq!((r.status, r.header("retry-after"), r.header("x-ratelimit-remaining")), (429, None, Some("0")));
    assert_eq!(classify_web_resp(&r).retry_after, Some(Duration::from_secs(30)));
    // A keyword in an earlier turn does not fire again.
    let r = sim.web(&web_body("user: sim:blocked\n\nassistant: no\n\nhi", "fast"));
    assert_eq!(r.status, 200);
}

#[test]
fn web_stream_faults() {
    let sim = Sim::start(&[]);
    let r = sim.web(&web_body("sim:disconnect", "fast"));
    assert!(!r.complete);
    let a = web_answer(&r, &ToolPolicy::default());
    assert_eq!(a.answer, "Hello! This");
    assert!(a.final_message.is_none());

    let a = web_answer(&sim.web(&web_body("sim:malformed", "fast")), &ToolPolicy::default());
    assert!(matches!(a.decode_error, Some(NdjsonError::NotJson { .. })));
    assert_eq!(a.answer, "Hello!");

    let a = web_answer(&sim.web(&web_body("sim:imagelimit", "fast")), &ToolPolicy::default());
    assert_eq!(a.errors, [WebErrorKind::ImageRateLimited]);

    let r = sim.web(&web_body("sim:stall=250", "fast"));
    assert!(r.body_after >= Duration::from_millis(250));
    assert_eq!(web_answer(&r, &ToolPolicy::default()).answer, DEFAULT_ANSWER);
}

#[test]
fn pacing_by_keyword_header_and_query() {
    let sim = Sim::start(&[]);
    let started = Instant::now();
    let a = web_answer(&sim.web(&web_body("sim:pace=2/40", "fast")), &ToolPolicy::default());
    assert_eq!(a.answer, DEFAULT_ANSWER);
    // 14 lines in groups of 2, 40 ms after each group: at least 6 sleeps.
    assert!(started.elapsed() >= Duration::from_millis(240), "{:?}", started.elapsed());

    let auth = format!("Bearer {API_KEY}");
    let body = streamed("hi").to_string();
    let h = [("authorization", auth.as_str()), ("content-type", "application/json"), ("x-sim", "sim:429")];
    assert_eq!(sim.post("/v1/chat/completions", &h, &body).status, 429);
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    assert_eq!(sim.post("/v1/chat/completions?sim=sim%3Ablocked", &h, &body).status, 403);
    let r = sim.post("/v1/chat/completions?sim=sim:tokens=5+sim:pace=1/0", &h, &body);
    assert_eq!(api_stream(&r).content.split(' ').count(), 5);
}

#[test]
fn stamped_tokens_carry_the_simulators_clock() {
    use orchids2api::sim::grok::stamp;
    let sim = Sim::start(&[]);
    let auth = format!("Bearer {API_KEY}");
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let r = sim.post("/v1/chat/completions", &h, &streamed("sim:tokens=6 sim:pace=1/15 sim:stamp").to_string());
    let mut stamps = Vec::new();
    let mut text = String::new();
    for data in r.sse_data().iter().filter(|d| *d != "[DONE]") {
        let v: Value = serde_json::from_str(data).unwrap();
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str().filter(|c| !c.is_empty()) {
            let (plain, st) = stamp::strip(c);
            stamps.push(st.unwrap_or_else(|| panic!("unstamped token {c:?}")));
            text.push_str(&plain);
        }
    }
    let want: String = (0..6).map(orchids2api::sim::grok::text::long_token).collect();
    assert_eq!(text, want, "the stamps come off and leave the answer");
    assert_eq!(stamps.len(), 6);
    assert!(stamps.iter().all(|s| s.arrived_ns == stamps[0].arrived_ns), "one arrival per request");
    for w in stamps.windows(2) {
        // Paced 1/15: every token is written at least 15 ms after the one before it.
        assert!(w[1].sent_ns >= w[0].sent_ns + 15_000_000, "{w:?}");
    }
    // The first token follows the role frame and one pace sleep.
    assert!(stamps[0].sent_ns >= stamps[0].arrived_ns + 15_000_000, "{:?}", stamps[0]);
    // Without the keyword, nothing is stamped.
    let r = sim.post("/v1/chat/completions", &h, &streamed("sim:tokens=3").to_string());
    assert!(!api_stream(&r).content.contains("[[t:"));
    // A credential's `--behave` override stamps every answer of that key.
    let sim = Sim::start(&["--behave", &format!("{API_KEY}=sim:stamp")]);
    let r = sim.post("/v1/chat/completions", &h, &streamed("sim:tokens=3").to_string());
    let content = api_stream(&r).content;
    assert_eq!(content.matches("[[t:").count(), 3, "{content}");
    assert_eq!(stamp::strip(&content).0, (0..3).map(orchids2api::sim::grok::text::long_token).collect::<String>());
}

#[test]
fn per_credential_overrides_and_web_quota() {
    let sim = Sim::start(&[
        "--api-key",
        "xai-good",
        "--api-key",
        "xai-bad",
        "--sso",
        "sso-good",
        "--sso",
        "sso-limited",
        "--behave",
        "xai-bad=sim:429",
        "--behave",
        "sso-limited=blocked",
        "--web-quota",
        "2",
    ]);
    let accounts: Vec<AccountDef> = serde_json::from_value(sim.tryit["accounts"].clone()).unwrap();
    assert_eq!(accounts.len(), 4);
    let call = |key: &str| {
        let auth = format!("Bearer {key}");
        sim.post(
            "/v1/chat/completions",
            &[("authorization", &auth), ("content-type", "application/json")],
            &user("hi").to_string(),
        )
    };
    assert_eq!(call("xai-good").status, 200);
    for _ in 0..3 {
        assert_eq!(call("xai-bad").status, 429);
    }
    let web = |sso: &str| {
        let cookie = web_request::cookie_header(sso, None).unwrap();
        sim.post(
            "/rest/app-chat/conversations/new",
            &[("cookie", &cookie), ("content-type", "application/json")],
            &web_body("hi", "fast").to_string(),
        )
    };
    assert_eq!(web("sso-limited").status, 403);
    let probe = |sso: &str| {
        let cookie = web_request::cookie_header(sso, None).unwrap();
        let body = String::from_utf8(ratelimit::request_body("fast")).unwrap();
        let r = sim.post("/rest/rate-limits", &[("cookie", &cookie), ("content-type", "application/json")], &body);
        assert_eq!(r.status, 200);
        ratelimit::parse_response(&r.body, 0).expect("quota")
    };
    assert_eq!(probe("sso-good").remaining, 2);
    assert_eq!(web("sso-good").status, 200);
    assert_eq!(probe("sso-good").remaining, 1);
    let last = web("sso-good");
    assert_eq!(last.status, 200);
    // B.7: the answer carries the window, now used up, and when it resets.
    assert_eq!((last.header("x-ratelimit-limit"), last.header("x-ratelimit-remaining")), (Some("2"), Some("0")));
    let reset: u64 = last.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((71_000..=72_000).contains(&reset), "{reset}");
    let q = probe("sso-good");
    assert!(q.exhausted());
    assert_eq!(q.window, Some(Duration::from_secs(72000)));
    let r = web("sso-good");
    assert_eq!(r.status, 429);
    let c = classify_web_resp(&r);
    assert_eq!((c.class, c.retry_after), (FailureClass::RateLimit, None), "a plain 429: no hint of its own");
    assert!(r.header("retry-after").is_none() && r.header("x-ratelimit-reset").is_none());
    let stats = sim.get("/sim/stats", &[]).json();
    assert_eq!(stats["requests"]["xai-bad"], 3);
    assert_eq!(stats["requests"]["sso-good"], 3);
    let bad = sim.post("/rest/rate-limits", &[("cookie", "sso=sso-good"), ("content-type", "application/json")], "{}");
    assert_eq!(bad.status, 400);
}

#[test]
fn keep_alive_and_last_request_introspection() {
    let sim = Sim::start(&[]);
    let mut stream = std::net::TcpStream::connect(sim.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let cookie = web_request::cookie_header(SSO, Some("cf_clearance=operator-pasted")).unwrap();
    let body = String::from_utf8(WebChatRequest::new("hello there", "fast").to_json()).unwrap();
    let headers = web_request::headers("http://sim", "/", SSO, Some("cf_clearance=operator-pasted")).unwrap();
    let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for _ in 0..3 {
        send(&mut stream, "POST", "/rest/app-chat/conversations/new", &hdrs, body.as_bytes(), false);
        let r = read_response(&mut stream, &mut buf, Instant::now());
        assert_eq!(r.status, 200);
        assert!(r.complete);
        assert_eq!(web_answer(&r, &ToolPolicy::default()).answer, DEFAULT_ANSWER);
    }
    let auth = format!("Bearer {API_KEY}");
    send(
        &mut stream,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth), ("content-type", "application/json")],
        user("x").to_string().as_bytes(),
        false,
    );
    assert_eq!(read_response(&mut stream, &mut buf, Instant::now()).status, 200);

    let last = sim.get("/sim/last-request?surface=web", &[]).json();
    assert_eq!(last["path"], "/rest/app-chat/conversations/new");
    assert_eq!(last["body"]["message"], "hello there");
    let sent: Vec<(String, String)> = serde_json::from_value(last["headers"].clone()).unwrap();
    let get = |n: &str| sent.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("cookie").unwrap(), cookie);
    assert_eq!(get("x-xai-request-id").unwrap().len(), 36);
    assert_eq!(get("origin").as_deref(), Some("http://sim"));
    let api_last = sim.get("/sim/last-request", &[]).json();
    assert_eq!(api_last["body"]["messages"][0]["content"], "x");
    assert_eq!(sim.get("/nope", &[]).status, 404);
    assert_eq!(sim.get("/v1/chat/completions", &[]).status, 405);
    assert_eq!(sim.get("/health", &[]).status, 200);
}

#[test]
fn bad_cli_arguments_are_refused() {
    for args in [
        &["simulate", "warp", "--port", "0"][..],
        &["simulate", "grok", "--behave", "nonsense"],
        &["simulate", "grok", "--pace", "0/5"],
        &["simulate", "grok", "--team", "xai-key="],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orchids-server")).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

/// The committed NDJSON fixtures (`tests/fixtures/grok/sim_*.ndjson`, decoded by
/// `tests/grok_fixtures.rs`) are what the simulator answers today, byte for byte: a fresh
/// simulator gets the same requests in the same order (so the same ids). Set
/// `GROK_FIXTURES_BLESS=1` to re-record them after a deliberate simulator change.
#[test]
fn recorded_fixtures_match_the_simulator() {
    let sim = Sim::start(&[]);
    let (tool_prompt_comma, _) = tool_prompt("weather in Paris? sim:tool-comma");
    let (tool_prompt_clean, _) = tool_prompt("weather in Paris? sim:tool");
    let cases: [(&str, String, &str); 8] = [
        ("sim_text", "hi".into(), "fast"),
        ("sim_thinking", "hi".into(), "expert"),
        ("sim_markup", "hi sim:markup sim:reasoning".into(), "fast"),
        ("sim_tool", tool_prompt_clean, "fast"),
        ("sim_tool_comma", tool_prompt_comma, "fast"),
        ("sim_malformed", "sim:malformed".into(), "fast"),
        ("sim_disconnect", "sim:disconnect".into(), "fast"),
        ("sim_imagelimit", "sim:imagelimit".into(), "fast"),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grok");
    let bless = std::env::var_os("GROK_FIXTURES_BLESS").is_some();
    for (name, prompt, mode) in cases {
        let r = sim.web(&web_body(&prompt, mode));
        assert_eq!(r.status, 200, "{name}");
        let path = dir.join(format!("{name}.ndjson"));
        if bless {
            std::fs::write(&path, &r.body).unwrap();
        }
        let want = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (record with GROK_FIXTURES_BLESS=1)", path.display()));
        assert_eq!(String::from_utf8_lossy(&r.body), String::from_utf8_lossy(&want), "{name} drifted from its fixture");
    }
}
