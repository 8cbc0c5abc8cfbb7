//! The simulated xAI API surface (reference A.1–A.3): `POST /v1/chat/completions` and
//! `GET /v1/models`, with xAI's flat error shape.

use super::script::{Fail, Script};
use super::text;
use super::wire::{Conn, Req, Streamer};
use super::{KeepOpen, State};
use crate::util::json::push_str;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io;

/// Model ids the simulated API serves (`GET /v1/models`).
pub const MODELS: [&str; 5] =
    ["grok-4-fast-non-reasoning", "grok-4-fast-reasoning", "grok-4", "grok-3-mini", "grok-code-fast-1"];

/// Reasoning models answer with `reasoning_content` first.
pub fn is_reasoning_model(m: &str) -> bool {
    (m.ends_with("-reasoning") && !m.ends_with("non-reasoning")) || m == "grok-3-mini"
}

const JSON: &str = "application/json";

#[derive(Deserialize)]
struct ChatReq {
    model: String,
    messages: Vec<Msg>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
}

#[derive(Deserialize)]
struct Msg {
    role: String,
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    function: Option<ToolFn>,
}

#[derive(Deserialize)]
struct ToolFn {
    name: String,
    #[serde(default)]
    parameters: Option<Value>,
}

/// The text of a message's `content` (a string or text parts).
fn content_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// xAI's flat error body.
pub(crate) async fn error(
    conn: &mut Conn,
    status: u16,
    code: &str,
    msg: &str,
    extra: &[(&str, &str)],
    close: bool,
) -> io::Result<()> {
    let body = json!({ "code": code, "error": msg }).to_string();
    conn.respond(status, JSON, extra, body.as_bytes(), close).await
}

async fn fail(conn: &mut Conn, f: Fail, model: &str, cred: &str, state: &State, close: bool) -> io::Result<()> {
    match f {
        Fail::Expired => {
            error(conn, 401, "Unauthenticated", "The API key has expired or been revoked.", &[], close).await
        }
        Fail::BadKey => {
            error(
                conn,
                400,
                "Client specified an invalid argument",
                "Incorrect API key provided: xa***. You can obtain an API key from https://console.x.ai.",
                &[],
                close,
            )
            .await
        }
        Fail::RateLimit(s) => {
            let secs = s.to_string();
            let msg = format!("Rate limit exceeded for this API key. Please retry after {s} seconds.");
            error(conn, 429, "Some resource has been exhausted", &msg, &[("retry-after", &secs)], close).await
        }
        Fail::RateLimitReset(_) | Fail::WindowExhausted => {
            let s = if let Fail::RateLimitReset(s) = f { s } else { 60 };
            let reset = format!("{s}s");
            let limit = super::API_RPM.to_string();
            let headers = [
                ("x-ratelimit-limit-requests", limit.as_str()),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", reset.as_str()),
            ];
            let msg = "Rate limit exceeded for this API key.";
            error(conn, 429, "Some resource has been exhausted", msg, &headers, close).await
        }
        Fail::TeamRateLimit => {
            let msg = team_message(state.opts.team_of(cred), model);
            error(conn, 429, "resource-exhausted", &msg, &[], close).await
        }
        Fail::ModelDenied => {
            let msg = format!("The model {model} is not permitted for team {}.", state.opts.team_of(cred));
            let code = "The caller does not have permission to execute the specified operation";
            error(conn, 403, code, &msg, &[], close).await
        }
        Fail::Credits => {
            let body = br#"{"code":429,"error":"You ran out of credits."}"#;
            conn.respond(429, JSON, &[], body, close).await
        }
        Fail::Blocked | Fail::Challenge => {
            error(
                conn,
                403,
                "The caller does not have permission to execute the specified operation",
                "Your team is blocked.",
                &[],
                close,
            )
            .await
        }
        Fail::Server(s) => {
            error(conn, s, "Internal error", "The service is temporarily unavailable.", &[], close).await
        }
    }
}

/// The B.9 team limit text (shared by both surfaces).
pub(crate) fn team_message(team: &str, model: &str) -> String {
    format!(
        "Too many requests for team {team} and model {model}. Your team's rate limit is — Requests per Second (actual/limit): 2/2, Requests per Minute (actual/limit): 73/60."
    )
}

/// `Authorization: Bearer <key>` -> the key, or the error already answered.
async fn auth<'r>(state: &State, conn: &mut Conn, req: &'r Req, close: bool) -> Result<&'r str, KeepOpen> {
    let key = req
        .head
        .header_str("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        let r = error(
            conn,
            401,
            "Unauthenticated",
            "No API key provided. Send it as `Authorization: Bearer <key>`.",
            &[],
            close,
        )
        .await;
        return Err(r.is_ok());
    };
    if !state.opts.api_keys.iter().any(|k| k == key) {
        let r = fail(conn, Fail::BadKey, "", "", state, close).await;
        return Err(r.is_ok());
    }
    Ok(key)
}

/// `GET /v1/models`.
pub(crate) async fn models(state: &State, conn: &mut Conn, req: &Req, close: bool) -> io::Result<()> {
    if auth(state, conn, req, close).await.is_err() {
        return Ok(());
    }
    let data: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 1_735_689_600, "owned_by": "xai"}))
        .collect();
    let body = json!({"object": "list", "data": data}).to_string();
    conn.respond(200, JSON, &[], body.as_bytes(), close).await
}

/// What one chat answer contains.
struct Answer {
    thinking: bool,
    /// Plain answer text tokens (owned only for tool-result echoes).
    tokens: Vec<std::borrow::Cow<'static, str>>,
    tool: Option<(String, String)>,
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(state: &State, conn: &mut Conn, req: &Req, close: bool) -> KeepOpen {
    let arrived_ns = super::stamp::now_ns();
    let key = match auth(state, conn, req, close).await {
        Ok(k) => k,
        Err(keep) => return keep,
    };
    *state.last_api.borrow_mut() = Some((req.head.clone(), req.body.clone()));
    state.count(key);
    let json_ct = req.head.header_str("content-type").is_some_and(|c| c.contains("application/json"));
    if !json_ct {
        return error(
            conn,
            415,
            "Unsupported media type",
            "Expected request with `Content-Type: application/json`",
            &[],
            close,
        )
        .await
        .is_ok();
    }
    let parsed: ChatReq = match serde_json::from_slice(&req.body) {
        Ok(p) => p,
        Err(e) => {
            let status = if e.is_data() { 422 } else { 400 };
            let msg = format!("Failed to deserialize the JSON body into the target type: {e}");
            return error(conn, status, "Client specified an invalid argument", &msg, &[], close).await.is_ok();
        }
    };
    if !MODELS.contains(&parsed.model.as_str()) {
        let msg = format!("The model {} does not exist or your team does not have access to it.", parsed.model);
        return error(conn, 404, "Some requested entity was not found", &msg, &[], close).await.is_ok();
    }
    if parsed.messages.is_empty() {
        return error(conn, 400, "Client specified an invalid argument", "messages must not be empty", &[], close)
            .await
            .is_ok();
    }
    if let Some(bad) = parsed
        .messages
        .iter()
        .find(|m| !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant" | "tool"))
    {
        let msg =
            format!("Failed to deserialize the JSON body into the target type: messages: unknown role `{}`", bad.role);
        return error(conn, 422, "Client specified an invalid argument", &msg, &[], close).await.is_ok();
    }
    let mut script = Script::default();
    if let Some(last_user) = parsed.messages.iter().rev().find(|m| m.role == "user") {
        script.scan(content_text(last_user.content.as_ref()).as_bytes());
    }
    state.extra_keywords(req, key, &mut script);
    if let Some(ms) = script.stall_head_ms {
        monoio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(f) = script.failure_for(&parsed.model) {
        return fail(conn, f, &parsed.model, key, state, close).await.is_ok();
    }
    let answer = plan(&parsed, &script);
    let prompt_tokens = parsed.messages.iter().map(|m| content_text(m.content.as_ref()).len()).sum::<usize>() / 4 + 1;
    let id = state.next_id();
    let now = super::now_ms();
    let window = state.use_api_window(key, u64::try_from(prompt_tokens).unwrap_or(u64::MAX), now);
    let limits = super::api_limit_headers(&window, now);
    let out =
        Out { model: &parsed.model, id, prompt: prompt_tokens, headers: &super::pairs(&limits), close, arrived_ns };
    if parsed.stream.unwrap_or(false) {
        stream(conn, &out, &answer, &script).await
    } else {
        whole(conn, &out, &answer, &script).await
    }
}

/// What every chat answer of one request shares.
struct Out<'a> {
    model: &'a str,
    id: u64,
    prompt: usize,
    /// The `x-ratelimit-*` headers of this answer.
    headers: &'a [(&'a str, &'a str)],
    close: bool,
    /// When the request had arrived, on the [`super::stamp`] clock.
    arrived_ns: u64,
}

fn plan(parsed: &ChatReq, script: &Script) -> Answer {
    let thinking = script.reasoning || is_reasoning_model(&parsed.model);
    let last = parsed.messages.last();
    if let Some(m) = last.filter(|m| m.role == "tool") {
        let s = text::tool_result_answer(&content_text(m.content.as_ref()));
        let tokens = text::word_tokens(&s).into_iter().map(|t| std::borrow::Cow::Owned(t.to_owned())).collect();
        return Answer { thinking, tokens, tool: None };
    }
    let tools: Vec<&ToolFn> = parsed.tools.iter().flatten().filter_map(|t| t.function.as_ref()).collect();
    let forced =
        parsed.tool_choice.as_ref().and_then(|c| c.get("function")).and_then(|f| f.get("name")).and_then(Value::as_str);
    let choice_none = parsed.tool_choice.as_ref().and_then(Value::as_str) == Some("none");
    if script.tool.is_some() && !choice_none {
        let pick = forced.and_then(|f| tools.iter().find(|t| t.name == f)).or_else(|| tools.first());
        if let Some(t) = pick {
            return Answer {
                thinking,
                tokens: Vec::new(),
                tool: Some((t.name.clone(), text::args_for_schema(t.parameters.as_ref()))),
            };
        }
    }
    let tokens = match script.tokens {
        Some(n) => (0..n).map(|i| std::borrow::Cow::Borrowed(text::long_token(i))).collect(),
        None => text::DEFAULT_ANSWER.iter().map(|t| std::borrow::Cow::Borrowed(*t)).collect(),
    };
    Answer { thinking, tokens, tool: None }
}

fn usage_json(prompt: usize, completion: usize, reasoning: usize) -> String {
    format!(
        "{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{},\"completion_tokens_details\":{{\"reasoning_tokens\":{reasoning}}}}}",
        prompt + completion
    )
}

async fn stream(conn: &mut Conn, out: &Out<'_>, a: &Answer, script: &Script) -> KeepOpen {
    let Out { model, id, prompt, close, .. } = *out;
    let created = super::now_ms() / 1000;
    let mut prefix = Vec::with_capacity(160);
    prefix.extend_from_slice(
        format!(
            "data: {{\"id\":\"chatcmpl-sim-{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":"
        )
        .as_bytes(),
    );
    push_str(&mut prefix, model);
    prefix.extend_from_slice(b",\"system_fingerprint\":\"fp_sim\",\"choices\":[{\"index\":0,\"delta\":");
    let mut headers = vec![("cache-control", "no-cache")];
    headers.extend_from_slice(out.headers);
    let mut w = conn.stream("text/event-stream", &headers, close, script.pace);
    if let Some(ms) = script.stall_ms {
        if w.stall(ms).await.is_err() {
            return false;
        }
    }
    let mut emitted = 0usize;
    let mut completion = 0usize;
    let reasoning = if a.thinking { text::THINKING.len() } else { 0 };
    let r: io::Result<bool> = async {
        frame(&mut w, &prefix, |b| b.extend_from_slice(br#"{"role":"assistant","content":""}"#), "null").await?;
        if a.thinking {
            for t in text::THINKING {
                frame(&mut w, &prefix, |b| delta(b, "reasoning_content", t), "null").await?;
            }
        }
        if let Some((name, args)) = &a.tool {
            let call_id = crate::grok::ids::call_id();
            frame(
                &mut w,
                &prefix,
                |b| {
                    b.extend_from_slice(br#"{"tool_calls":[{"index":0,"id":""#);
                    b.extend_from_slice(call_id.as_bytes());
                    b.extend_from_slice(br#"","type":"function","function":{"name":"#);
                    push_str(b, name);
                    b.extend_from_slice(br#","arguments":""}}]}"#);
                },
                "null",
            )
            .await?;
            for piece in text::pieces(args, 4) {
                if cut(&mut w, script, &mut emitted).await? {
                    return Ok(false);
                }
                frame(
                    &mut w,
                    &prefix,
                    |b| {
                        b.extend_from_slice(br#"{"tool_calls":[{"index":0,"function":{"arguments":"#);
                        push_str(b, piece);
                        b.extend_from_slice(b"}}]}");
                    },
                    "null",
                )
                .await?;
                completion += 1;
            }
        }
        for t in &a.tokens {
            if cut(&mut w, script, &mut emitted).await? {
                return Ok(false);
            }
            if script.stamp {
                let stamp = super::stamp::Stamp { arrived_ns: out.arrived_ns, sent_ns: super::stamp::now_ns() };
                let t = super::stamp::stamped(stamp, t);
                frame(&mut w, &prefix, |b| delta(b, "content", &t), "null").await?;
            } else {
                frame(&mut w, &prefix, |b| delta(b, "content", t), "null").await?;
            }
            completion += 1;
        }
        let finish = if a.tool.is_some() { "\"tool_calls\"" } else { "\"stop\"" };
        let usage = usage_json(prompt, completion + reasoning, reasoning);
        let buf = w.buf();
        buf.extend_from_slice(&prefix);
        buf.extend_from_slice(b"{},\"finish_reason\":");
        buf.extend_from_slice(finish.as_bytes());
        buf.extend_from_slice(b"}],\"usage\":");
        buf.extend_from_slice(usage.as_bytes());
        buf.extend_from_slice(b"}\n\ndata: [DONE]\n\n");
        Ok(true)
    }
    .await;
    match r {
        Ok(true) => w.finish().await.is_ok() && !close,
        Ok(false) | Err(_) => false,
    }
}

/// Malformed frame / disconnect points, counted over content and argument frames. `Ok(true)`:
/// the connection must close now (after flushing what was sent).
async fn cut(w: &mut Streamer<'_>, script: &Script, emitted: &mut usize) -> io::Result<bool> {
    if script.malformed && *emitted == 2 {
        w.buf().extend_from_slice(
            b"data: {\"id\":\"chatcmpl-sim-broken\",\"choices\":[{\"delta\":{\"content\":\"unterminated\n\n",
        );
        w.end_event().await?;
    }
    if script.disconnect && *emitted == 3 {
        w.flush().await?;
        return Ok(true);
    }
    *emitted += 1;
    Ok(false)
}

fn delta(b: &mut Vec<u8>, field: &str, text: &str) {
    b.extend_from_slice(b"{\"");
    b.extend_from_slice(field.as_bytes());
    b.extend_from_slice(b"\":");
    push_str(b, text);
    b.push(b'}');
}

async fn frame(w: &mut Streamer<'_>, prefix: &[u8], body: impl FnOnce(&mut Vec<u8>), finish: &str) -> io::Result<()> {
    let buf = w.buf();
    buf.extend_from_slice(prefix);
    body(buf);
    buf.extend_from_slice(b",\"finish_reason\":");
    buf.extend_from_slice(finish.as_bytes());
    buf.extend_from_slice(b"}]}\n\n");
    w.end_event().await
}

async fn whole(conn: &mut Conn, out: &Out<'_>, a: &Answer, script: &Script) -> KeepOpen {
    let Out { model, id, prompt, close, .. } = *out;
    if let Some(ms) = script.stall_ms {
        monoio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let content: String = a.tokens.concat();
    let reasoning = if a.thinking { text::THINKING.len() } else { 0 };
    let mut message = serde_json::Map::new();
    message.insert("role".into(), "assistant".into());
    let content = if a.tool.is_some() && content.is_empty() { Value::Null } else { Value::String(content) };
    message.insert("content".into(), content);
    if a.thinking {
        message.insert("reasoning_content".into(), Value::String(text::THINKING.concat()));
    }
    if let Some((name, args)) = &a.tool {
        let call = json!([{
            "id": crate::grok::ids::call_id(), "type": "function",
            "function": {"name": name, "arguments": args}
        }]);
        message.insert("tool_calls".into(), call);
    }
    let completion = a.tokens.len() + reasoning + usize::from(a.tool.is_some());
    let usage: Value = serde_json::from_str(&usage_json(prompt, completion, reasoning)).unwrap_or(Value::Null);
    let body = json!({
        "id": format!("chatcmpl-sim-{id}"),
        "object": "chat.completion",
        "created": super::now_ms() / 1000,
        "model": model,
        "system_fingerprint": "fp_sim",
        "choices": [{"index": 0, "message": message, "finish_reason": if a.tool.is_some() { "tool_calls" } else { "stop" }}],
        "usage": usage,
    })
    .to_string();
    if script.disconnect || script.malformed {
        // Half a body, then the connection closes (or a body that is not JSON).
        let half = body.get(..body.len() / 2).unwrap_or_default();
        if script.disconnect {
            let _ = conn.respond_partial(200, JSON, body.len(), half.as_bytes()).await;
            return false;
        }
        return conn.respond(200, JSON, out.headers, half.as_bytes(), close).await.is_ok() && !close;
    }
    conn.respond(200, JSON, out.headers, body.as_bytes(), close).await.is_ok() && !close
}
