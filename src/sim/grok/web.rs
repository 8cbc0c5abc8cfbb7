//! The simulated grok.com web surface (reference B.1–B.9): the NDJSON chat and the rate-limit
//! probe, with cookie auth, B.3 body validation and the B.9 error signals.

use super::script::{Fail, Script, ToolVariant};
use super::text;
use super::wire::{Conn, Req, Streamer};
use super::{KeepOpen, State};
use crate::grok::flatten::{TOOL_BLOCK_END, TOOL_BLOCK_HEADING, TOOL_NAME_PREFIX, TOOL_PARAMS_PREFIX};
use crate::util::json::push_str;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io;

/// `modeId`s the simulated web app accepts.
pub const MODES: [&str; 5] = ["fast", "auto", "expert", "heavy", "grok-420-computer-use-sa"];
/// The rate-limit window (B.7 example).
pub const WINDOW_SECONDS: u64 = 72_000;
const JSON: &str = "application/json";

/// The B.3 payload, typed so that a field of the wrong type is a 400 like the real one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "fields exist to be type-checked, not read")]
struct ChatBody<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
    mode_id: String,
    temporary: Option<bool>,
    disable_memory: Option<bool>,
    file_attachments: Option<Vec<String>>,
    image_attachments: Option<Vec<String>>,
    enable_image_generation: Option<bool>,
    image_generation_count: Option<u32>,
    enable_image_streaming: Option<bool>,
    return_image_bytes: Option<bool>,
    disable_search: Option<bool>,
    send_final_metadata: Option<bool>,
    is_reasoning: Option<bool>,
    force_concise: Option<bool>,
    force_side_by_side: Option<bool>,
    is_async_chat: Option<bool>,
    link_query: Option<bool>,
    disable_text_follow_ups: Option<bool>,
    return_raw_grok_in_xai_request: Option<bool>,
    disable_self_harm_short_circuit: Option<bool>,
    enable_side_by_side: Option<bool>,
    collection_ids: Option<Vec<String>>,
    disabled_connector_ids: Option<Vec<String>>,
    response_metadata: Option<Map<String, Value>>,
    model_name: Option<String>,
    model_mode: Option<String>,
    model_tier: Option<String>,
    prefer_best: Option<bool>,
    tool_overrides: Option<Map<String, Value>>,
    custom_personality: Option<String>,
    device_env_info: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "fields exist to be type-checked")]
struct RateLimitBody {
    request_kind: String,
    model_name: String,
}

async fn grpc_error(
    conn: &mut Conn,
    status: u16,
    code: u16,
    msg: &str,
    extra: &[(&str, &str)],
    close: bool,
) -> io::Result<()> {
    let body = serde_json::json!({"error": {"code": code, "message": msg, "details": []}}).to_string();
    conn.respond(status, JSON, extra, body.as_bytes(), close).await
}

/// The `sso` cookie, checked; `Err` when the 401 was already answered.
async fn auth<'r>(state: &State, conn: &mut Conn, req: &'r Req, close: bool) -> Result<&'r str, KeepOpen> {
    let mut sso = None;
    let mut sso_rw = None;
    if let Some(cookie) = req.head.header_str("cookie") {
        for pair in cookie.split(';') {
            match pair.trim().split_once('=') {
                Some(("sso", v)) => sso = Some(v.trim()),
                Some(("sso-rw", v)) => sso_rw = Some(v.trim()),
                _ => {}
            }
        }
    }
    let ok = sso.filter(|t| state.opts.sso_tokens.iter().any(|k| k == t)).filter(|t| sso_rw.is_none_or(|rw| rw == *t));
    match ok {
        Some(t) => Ok(t),
        None => Err(grpc_error(conn, 401, 16, "Unauthenticated: missing or invalid session cookie", &[], close)
            .await
            .is_ok()),
    }
}

async fn fail(conn: &mut Conn, f: Fail, mode: &str, sso: &str, state: &State, close: bool) -> io::Result<()> {
    match f {
        Fail::Expired | Fail::BadKey => grpc_error(conn, 401, 16, "Unauthenticated: session expired", &[], close).await,
        Fail::RateLimit(s) => {
            let secs = s.to_string();
            let msg = format!("Too many requests. Retry after {s} seconds.");
            grpc_error(conn, 429, 8, &msg, &[("retry-after", &secs)], close).await
        }
        Fail::Credits | Fail::WindowExhausted => grpc_error(conn, 429, 8, "Too many requests", &[], close).await,
        Fail::RateLimitReset(s) => {
            let (limit, reset) = (state.opts.web_quota.to_string(), s.to_string());
            let headers = [
                ("x-ratelimit-limit", limit.as_str()),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ];
            grpc_error(conn, 429, 8, "Too many requests", &headers, close).await
        }
        Fail::TeamRateLimit => {
            let msg = super::api::team_message(state.opts.team_of(sso), mode);
            let body = serde_json::json!({"code": "resource-exhausted", "error": msg});
            conn.respond(429, JSON, &[], body.to_string().as_bytes(), close).await
        }
        Fail::ModelDenied => {
            let msg = format!("Your plan does not include the {mode} mode");
            let body = serde_json::json!({"error": {"code": "permission-denied", "message": msg}});
            conn.respond(403, JSON, &[], body.to_string().as_bytes(), close).await
        }
        Fail::Blocked => {
            conn.respond(403, JSON, &[], br#"{"error":{"code":"blocked-user","message":"user is blocked"}}"#, close)
                .await
        }
        Fail::Challenge => {
            let html = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script></body></html>";
            conn.respond(403, "text/html; charset=UTF-8", &[("cf-mitigated", "challenge")], html, close).await
        }
        Fail::Server(s) => grpc_error(conn, s, 13, "internal error", &[], close).await,
    }
}

/// The part of the prompt after the last assistant turn (the newest user input).
fn newest_part(message: &str) -> &str {
    message.rfind("\n\nassistant: ").map_or(message, |i| message.get(i..).unwrap_or(message))
}

/// `tool (name, id): content` in the newest part -> the content.
fn tool_result(newest: &str) -> Option<&str> {
    newest.split("\n\n").find_map(|msg| {
        let msg = msg.strip_prefix("user: ").unwrap_or(msg);
        msg.strip_prefix("tool (").and_then(|r| r.split_once("): ")).map(|(_, c)| c)
    })
}

/// Declared tools in the instruction block: `(name, schema)`.
fn declared_tools(message: &str) -> Vec<(&str, Option<Value>)> {
    let Some(start) = message.find(TOOL_BLOCK_HEADING) else {
        return Vec::new();
    };
    let block = message.get(start..).unwrap_or_default();
    let block = block.find(TOOL_BLOCK_END).and_then(|e| block.get(..e)).unwrap_or(block);
    let mut out: Vec<(&str, Option<Value>)> = Vec::new();
    for line in block.lines() {
        if let Some(name) = line.strip_prefix(TOOL_NAME_PREFIX) {
            out.push((name.trim(), None));
        } else if let (Some(params), Some(last)) = (line.strip_prefix(TOOL_PARAMS_PREFIX), out.last_mut()) {
            last.1 = serde_json::from_str(params).ok();
        }
    }
    out
}

/// The `<tool_call>` block the simulated model writes.
fn tool_block(name: &str, args: &str, v: ToolVariant) -> String {
    let name_json = Value::String(name.to_owned()).to_string();
    let inner = match v {
        ToolVariant::Clean => format!("{{\"name\":{name_json},\"arguments\":{args}}}"),
        ToolVariant::Fenced => {
            format!("```json\n{{\"name\":{name_json},\n\"arguments\":{args}}}\n```")
        }
        ToolVariant::TrailingComma => {
            let args = args.strip_suffix('}').map_or_else(|| args.to_owned(), |a| format!("{a},}}"));
            format!("{{\"name\":{name_json},\"arguments\":{args},}}")
        }
        ToolVariant::MissingBrace => format!("{{\"name\":{name_json},\"arguments\":{args}"),
        ToolVariant::Undeclared => {
            format!("{{\"name\":\"undeclared_tool_sim\",\"arguments\":{args}}}")
        }
    };
    format!("<tool_call>{inner}</tool_call>")
}

/// `POST /rest/app-chat/conversations/new`.
pub(crate) async fn chat(state: &State, conn: &mut Conn, req: &Req, close: bool) -> KeepOpen {
    let sso = match auth(state, conn, req, close).await {
        Ok(t) => t,
        Err(keep) => return keep,
    };
    *state.last_web.borrow_mut() = Some((req.head.clone(), req.body.clone()));
    state.count(sso);
    if !req.head.header_str("content-type").is_some_and(|c| c.contains("application/json")) {
        return grpc_error(conn, 400, 3, "Invalid argument: expected Content-Type: application/json", &[], close)
            .await
            .is_ok();
    }
    let body: ChatBody<'_> = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return grpc_error(conn, 400, 3, &format!("Invalid argument: {e}"), &[], close).await.is_ok();
        }
    };
    if !MODES.contains(&body.mode_id.as_str()) {
        let msg = format!("Invalid argument: unknown modeId {:?}", body.mode_id);
        return grpc_error(conn, 400, 3, &msg, &[], close).await.is_ok();
    }
    if body.message.trim().is_empty() && body.file_attachments.as_ref().is_none_or(Vec::is_empty) {
        return grpc_error(conn, 400, 3, "Invalid argument: message must not be empty", &[], close).await.is_ok();
    }
    let now = super::now_ms();
    let usage = state.use_quota(sso, WINDOW_SECONDS * 1000, now);
    if usage.web.used > state.opts.web_quota {
        return fail(conn, Fail::WindowExhausted, &body.mode_id, sso, state, close).await.is_ok();
    }
    let quota = state.opts.web_quota;
    let reset_s = usage.web.reset_s(WINDOW_SECONDS * 1000, now);
    let limits = [
        ("x-ratelimit-limit", quota.to_string()),
        ("x-ratelimit-remaining", quota.saturating_sub(usage.web.used).to_string()),
        ("x-ratelimit-reset", reset_s.to_string()),
    ];
    let newest = newest_part(&body.message);
    let mut script = Script::default();
    script.scan(newest.as_bytes());
    state.extra_keywords(req, sso, &mut script);
    if let Some(ms) = script.stall_head_ms {
        monoio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(f) = script.failure_for(&body.mode_id) {
        return fail(conn, f, &body.mode_id, sso, state, close).await.is_ok();
    }
    let thinking = script.reasoning || matches!(body.mode_id.as_str(), "expert" | "heavy");
    let id = state.next_id();
    let headers: Vec<(&str, &str)> = limits.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut w = conn.stream(JSON, &headers, close, script.pace);
    let r = stream(&mut w, id, &body.message, newest, thinking, &script).await;
    match r {
        Ok(true) => w.finish().await.is_ok() && !close,
        Ok(false) | Err(_) => false,
    }
}

struct Lines<'w, 'c> {
    w: &'w mut Streamer<'c>,
    rid: String,
    answer: String,
    answer_tokens: usize,
}

impl Lines<'_, '_> {
    async fn raw(&mut self, line: &[u8]) -> io::Result<()> {
        let b = self.w.buf();
        b.extend_from_slice(line);
        b.push(b'\n');
        self.w.end_event().await
    }

    async fn token(&mut self, t: &str, thinking: bool, script: &Script) -> io::Result<bool> {
        if !thinking {
            if script.malformed && self.answer_tokens == 2 {
                self.raw(b"this is not json {\"result\":").await?;
            }
            if script.disconnect && self.answer_tokens == 3 {
                self.w.flush().await?;
                return Ok(false);
            }
            self.answer_tokens += 1;
            self.answer.push_str(t);
        }
        let b = self.w.buf();
        b.extend_from_slice(b"{\"result\":{\"response\":{\"token\":");
        push_str(b, t);
        b.extend_from_slice(if thinking {
            b",\"isThinking\":true,\"messageTag\":\"header\""
        } else {
            b",\"isThinking\":false,\"messageTag\":\"final\""
        });
        b.extend_from_slice(b",\"responseId\":\"");
        b.extend_from_slice(self.rid.as_bytes());
        b.extend_from_slice(b"\"}}}\n");
        self.w.end_event().await?;
        Ok(true)
    }
}

async fn stream(
    w: &mut Streamer<'_>,
    id: u64,
    message: &str,
    newest: &str,
    thinking: bool,
    script: &Script,
) -> io::Result<bool> {
    if let Some(ms) = script.stall_ms {
        w.stall(ms).await?;
    }
    let mut l = Lines { w, rid: format!("r-sim-{id}"), answer: String::new(), answer_tokens: 0 };
    l.raw(
        format!(
            "{{\"result\":{{\"conversation\":{{\"conversationId\":\"c-sim-{id}\",\"title\":\"New conversation\"}}}}}}"
        )
        .as_bytes(),
    )
    .await?;
    let mut echo = Vec::with_capacity(128);
    echo.extend_from_slice(b"{\"result\":{\"response\":{\"userResponse\":{\"responseId\":\"u-sim-");
    echo.extend_from_slice(id.to_string().as_bytes());
    echo.extend_from_slice(b"\",\"message\":");
    let mut cut = message.len().min(64);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    push_str(&mut echo, message.get(..cut).unwrap_or_default());
    echo.extend_from_slice(b",\"sender\":\"human\"}}}}");
    l.raw(&echo).await?;
    if script.image_limit {
        l.raw(
            format!("{{\"result\":{{\"response\":{{\"renderToolRateLimited\":true,\"responseId\":\"{}\"}}}}}}", l.rid)
                .as_bytes(),
        )
        .await?;
        return Ok(true);
    }
    if thinking {
        for t in text::THINKING {
            l.token(t, true, script).await?;
        }
        if script.markup {
            l.token(
                "<xai:tool_usage_card><xai:tool_name>web_search</xai:tool_name></xai:tool_usage_card>",
                true,
                script,
            )
            .await?;
        }
    }
    if !answer(&mut l, message, newest, script).await? {
        return Ok(false);
    }
    let mut fin = Vec::with_capacity(l.answer.len() + 256);
    fin.extend_from_slice(b"{\"result\":{\"response\":{\"modelResponse\":{\"responseId\":\"");
    fin.extend_from_slice(l.rid.as_bytes());
    fin.extend_from_slice(b"\",\"message\":");
    push_str(&mut fin, &l.answer);
    fin.extend_from_slice(b",\"sender\":\"ASSISTANT\",\"generatedImageUrls\":[],\"streamErrors\":[],\"metadata\":{\"llm_info\":{\"modelHash\":\"sim-model-hash\"}}},\"isThinking\":false,\"responseId\":\"");
    fin.extend_from_slice(l.rid.as_bytes());
    fin.extend_from_slice(b"\"}}}");
    l.raw(&fin).await?;
    l.raw(b"{\"result\":{\"response\":{\"finalMetadata\":{\"followUpSuggestions\":[]}}}}").await?;
    Ok(true)
}

/// The answer tokens for this request; `Ok(false)` when the connection must close.
async fn answer(l: &mut Lines<'_, '_>, message: &str, newest: &str, script: &Script) -> io::Result<bool> {
    if let Some(content) = tool_result(newest) {
        let s = text::tool_result_answer(content);
        for t in text::word_tokens(&s) {
            if !l.token(t, false, script).await? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(variant) = script.tool {
        let tools = declared_tools(message);
        if let Some((name, schema)) = tools.first() {
            let block = tool_block(name, &text::args_for_schema(schema.as_ref()), variant);
            for t in ["I'll", " use", " a", " tool", " for", " that.", " "] {
                if !l.token(t, false, script).await? {
                    return Ok(false);
                }
            }
            for piece in text::pieces(&block, 3) {
                if !l.token(piece, false, script).await? {
                    return Ok(false);
                }
            }
            return l.token(" Done.", false, script).await;
        }
    }
    let n = script.tokens.unwrap_or(text::DEFAULT_ANSWER.len());
    for i in 0..n {
        let t = if script.tokens.is_some() {
            text::long_token(i)
        } else {
            text::DEFAULT_ANSWER.get(i).copied().unwrap_or("")
        };
        if !l.token(t, false, script).await? {
            return Ok(false);
        }
        if script.markup && i == 2 {
            for m in [
                "<grok:render card_id=\"c1\" type=\"render_inline_citation\">",
                "<argument name=\"citation_id\">0</argument>",
                "</grok:render>",
            ] {
                if !l.token(m, false, script).await? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// `POST /rest/rate-limits`.
pub(crate) async fn rate_limits(state: &State, conn: &mut Conn, req: &Req, close: bool) -> io::Result<()> {
    let Ok(sso) = auth(state, conn, req, close).await else {
        return Ok(());
    };
    if serde_json::from_slice::<RateLimitBody>(&req.body).is_err() {
        return grpc_error(conn, 400, 3, "Invalid argument: expected {\"requestKind\":…,\"modelName\":…}", &[], close)
            .await;
    }
    let quota = state.opts.web_quota;
    let u = state.peek(sso);
    let now = super::now_ms();
    let in_window = u.web.used > 0 && now.saturating_sub(u.web.start_ms) < WINDOW_SECONDS * 1000;
    let forced_out =
        state.overrides.get(sso).is_some_and(|s| matches!(s.fail, Some(Fail::RateLimit(_) | Fail::RateLimitReset(_))));
    let remaining = if forced_out {
        0
    } else if in_window {
        quota.saturating_sub(u.web.used)
    } else {
        quota
    };
    let body = format!(
        "{{\"windowSizeSeconds\":{WINDOW_SECONDS},\"remainingQueries\":{remaining},\"totalQueries\":{quota},\"remainingTokens\":{remaining},\"totalTokens\":{quota},\"lowEffortRateLimits\":{{\"cost\":1,\"remainingQueries\":{remaining}}},\"highEffortRateLimits\":{{\"cost\":4,\"remainingQueries\":{}}}}}",
        remaining / 4
    );
    conn.respond(200, JSON, &[], body.as_bytes(), close).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_parts() {
        let p = "user: sim:tool weather?\n\nassistant: <tool_call>{}</tool_call>\n\ntool (get_weather, call_1): 22C";
        assert_eq!(tool_result(newest_part(p)), Some("22C"));
        assert_eq!(tool_result(newest_part("user: sim:tool weather?")), None);
        assert!(newest_part(p).starts_with("\n\nassistant: "));
    }

    #[test]
    fn tools_from_block() {
        use crate::grok::flatten::{Item, Role, ToolChoice, ToolSetup, ToolSpec, Turn, flatten};
        let specs = [
            ToolSpec {
                name: "get_weather",
                description: "d",
                parameters: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#,
            },
            ToolSpec { name: "other", description: "", parameters: "" },
        ];
        let f = flatten(
            &[Turn { role: Role::User, items: vec![Item::Text("hi")] }],
            &ToolSetup { tools: &specs, choice: ToolChoice::Auto, parallel: true },
        );
        let tools = declared_tools(&f.prompt);
        assert_eq!(tools.iter().map(|t| t.0).collect::<Vec<_>>(), ["get_weather", "other"]);
        assert!(tools[0].1.is_some());
    }

    #[test]
    fn tool_variants_parse_as_the_reference_says() {
        use crate::grok::tool_markup::{ToolMarkupError, ToolPolicy, parse_all};
        let policy = ToolPolicy { declared: vec!["f".into()], forced: None };
        for v in [ToolVariant::Clean, ToolVariant::Fenced, ToolVariant::TrailingComma, ToolVariant::MissingBrace] {
            let parsed = parse_all(&tool_block("f", r#"{"a":1}"#, v), &policy);
            assert_eq!(parsed.calls.len(), 1, "{v:?}");
            assert_eq!(parsed.calls[0].arguments, r#"{"a":1}"#, "{v:?}");
        }
        let parsed = parse_all(&tool_block("f", "{}", ToolVariant::Undeclared), &policy);
        assert_eq!(parsed.invalid, [ToolMarkupError::Undeclared("undeclared_tool_sim".into())]);
    }
}
