//! The xAI API request body (OpenAI Chat Completions) from a canonical request, and a
//! non-streaming completion turned into the chunk frames a streaming one would have sent.
//!
//! Mapping (reference A.2): system prompt pieces -> `system` messages; a user turn's
//! `tool_result` blocks -> `tool` messages (before the turn's other content); text and images ->
//! `content` (a string for plain text, parts otherwise); assistant `tool_use` blocks ->
//! `tool_calls` (arguments text kept as is); thinking blocks are not sent back (xAI keeps no
//! reasoning state). Passed through: `tools`, `tool_choice`, `parallel_tool_calls`,
//! `max_tokens`, `temperature`, `top_p`, `stop`, `user`, `reasoning_effort` (only when the
//! client named an effort: xAI refuses it on models that do not take it), `response_format`.
//! Streaming asks for usage (`stream_options.include_usage`) for the gateway's accounting; the
//! passthrough drops the usage chunk unless the client asked for it.
//!
//! Built with `serde_json::Value`: once per request, small next to the answer.

use crate::translate::canonical::{Block, CanonicalRequest, ImageSource, Role, ToolChoice};
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The JSON body for `POST /chat/completions` with `model` = the upstream id.
pub fn chat_body(req: &CanonicalRequest, model: &str, stream: bool) -> Vec<u8> {
    let mut messages: Vec<Value> = Vec::with_capacity(req.messages.len() + req.system.len());
    for s in &req.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => user_messages(&m.content, &mut messages),
            Role::Assistant => messages.push(assistant_message(&m.content)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), stream.into());
    if stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let params = serde_json::from_str::<Value>(&t.parameters).unwrap_or_else(|_| json!({"type": "object"}));
                let mut f = json!({"name": t.name, "parameters": params});
                if !t.description.is_empty() {
                    set(&mut f, "description", t.description.clone().into());
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(p) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), p.into());
        }
    }
    if let Some(tc) = &req.tool_choice {
        let v = match tc {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Any => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".into(), v);
    }
    if let Some(n) = req.max_tokens {
        body.insert("max_tokens".into(), n.into());
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), p.into());
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), req.stop.clone().into());
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), u.clone().into());
    }
    if let Some(e) = req.effort.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        body.insert("reasoning_effort".into(), e.to_ascii_lowercase().into());
    }
    if let Some(rf) = req.response_format.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()) {
        body.insert("response_format".into(), rf);
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// Sets `key` on an object (a no-op on anything else).
fn set(v: &mut Value, key: &str, x: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), x);
    }
}

fn text_of(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        if let Block::Text(t) = b {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(t);
        }
    }
    out
}

fn user_messages(blocks: &[Block], out: &mut Vec<Value>) {
    let mut parts: Vec<Value> = Vec::new();
    let mut plain = true;
    for b in blocks {
        match b {
            Block::ToolResult { tool_use_id, content, is_error } => {
                let mut text = text_of(content);
                if *is_error && !text.starts_with("Error") {
                    text.insert_str(0, "Error: ");
                }
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": text}));
            }
            Block::Text(t) => parts.push(json!({"type": "text", "text": t})),
            Block::Image(src) => {
                plain = false;
                let url = match src {
                    ImageSource::Url(u) => u.clone(),
                    ImageSource::Base64 { media_type, data } => {
                        format!("data:{media_type};base64,{data}")
                    }
                };
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            Block::ToolUse { .. } | Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
        }
    }
    if parts.is_empty() {
        return;
    }
    let content = if plain { Value::String(text_of(blocks)) } else { Value::Array(parts) };
    out.push(json!({"role": "user", "content": content}));
}

fn assistant_message(blocks: &[Block]) -> Value {
    let text = text_of(blocks);
    let calls: Vec<Value> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolUse { id, name, input } => Some(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": if input.is_empty() { "{}" } else { input.as_str() }}
            })),
            _ => None,
        })
        .collect();
    let mut m = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { text.into() }});
    if !calls.is_empty() {
        set(&mut m, "tool_calls", Value::Array(calls));
    }
    m
}

/// A non-streaming completion as the chunk frames (`data:` payloads, ending with `[DONE]`) a
/// streaming answer would carry, so one decoder path serves both. `Err` names what is missing.
pub fn completion_frames(body: &[u8]) -> Result<Vec<Bytes>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the completion is not JSON: {e}"))?;
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or("the completion has no choices")?;
    let msg = choice.get("message").ok_or("the completion's choice has no message")?;
    let head = |delta: Value, finish: Value| {
        json!({
            "id": v.get("id").cloned().unwrap_or_else(|| json!("chatcmpl-grok")),
            "object": "chat.completion.chunk",
            "created": v.get("created").cloned().unwrap_or_else(|| json!(0)),
            "model": v.get("model").cloned().unwrap_or(Value::Null),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut frames: Vec<Value> = vec![head(json!({"role": "assistant", "content": ""}), Value::Null)];
    let nonempty = |k: &str| msg.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(r) = nonempty("reasoning_content") {
        frames.push(head(json!({"reasoning_content": r}), Value::Null));
    }
    if let Some(c) = nonempty("content") {
        frames.push(head(json!({"content": c}), Value::Null));
    }
    for (i, tc) in msg.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let mut call = tc.clone();
        set(&mut call, "index", i.into());
        frames.push(head(json!({"tool_calls": [call]}), Value::Null));
    }
    let finish = choice.get("finish_reason").cloned().filter(|f| !f.is_null()).unwrap_or_else(|| json!("stop"));
    frames.push(head(json!({}), finish));
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let mut last = head(json!({}), Value::Null);
        set(&mut last, "choices", json!([]));
        set(&mut last, "usage", u.clone());
        frames.push(last);
    }
    let mut out: Vec<Bytes> = frames.iter().map(|f| Bytes::from(serde_json::to_vec(f).unwrap_or_default())).collect();
    out.push(Bytes::from_static(b"[DONE]"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::canonical::{Message, Tool, WireFormat};
    use crate::translate::{CanonicalEvent, StreamDecoder};

    #[test]
    fn body_maps_history_tools_and_options() {
        let req = CanonicalRequest {
            model: "grok-4-fast".into(),
            system: vec!["be brief".into()],
            messages: vec![
                Message { role: Role::User, content: vec![Block::Text("weather?".into())] },
                Message {
                    role: Role::Assistant,
                    content: vec![Block::ToolUse {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        input: r#"{"city":"Paris"}"#.into(),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Block::ToolResult {
                        tool_use_id: "call_1".into(),
                        content: vec![Block::Text("sunny".into())],
                        is_error: false,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "get_weather".into(),
                description: "w".into(),
                parameters: r#"{"type":"object"}"#.into(),
            }],
            tool_choice: Some(ToolChoice::Any),
            max_tokens: Some(100),
            effort: Some("High".into()),
            ..CanonicalRequest::default()
        };
        let v: Value = serde_json::from_slice(&chat_body(&req, "grok-4-fast-non-reasoning", true)).unwrap();
        assert_eq!(v["model"], "grok-4-fast-non-reasoning");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["messages"][0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(v["messages"][1], json!({"role": "user", "content": "weather?"}));
        assert_eq!(v["messages"][2]["content"], Value::Null);
        assert_eq!(v["messages"][2]["tool_calls"][0]["function"]["arguments"], r#"{"city":"Paris"}"#);
        assert_eq!(v["messages"][3], json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"}));
        assert_eq!(v["tools"][0]["function"]["parameters"], json!({"type": "object"}));
        assert_eq!(v["tool_choice"], "required");
        assert_eq!(v["max_tokens"], 100);
        assert_eq!(v["reasoning_effort"], "high");
        let v: Value = serde_json::from_slice(&chat_body(&CanonicalRequest::default(), "m", false)).unwrap();
        assert!(v.get("stream_options").is_none() && v.get("reasoning_effort").is_none() && v.get("tools").is_none());
    }

    #[test]
    fn completion_becomes_decodable_frames() {
        let body = br#"{"id":"c1","object":"chat.completion","created":5,"model":"grok-4","choices":[{"index":0,
            "message":{"role":"assistant","content":"hi","reasoning_content":"hmm","tool_calls":[{"id":"call_9","type":"function",
            "function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;
        let frames = completion_frames(body).unwrap();
        assert_eq!(frames.last().unwrap().as_ref(), b"[DONE]");
        let mut dec = StreamDecoder::new(WireFormat::OpenAi);
        let mut evs = Vec::new();
        for f in &frames {
            dec.frame(None, f, &mut evs).unwrap();
        }
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::ThinkingDelta(t) if t.unescape() == "hmm")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::TextDelta(t) if t.unescape() == "hi")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::ToolCallStart { name, .. } if name.unescape() == "f")));
        assert!(evs.iter().any(|e| matches!(e, CanonicalEvent::Usage(u) if u.output_tokens == 4)));
        assert!(matches!(evs.last(), Some(CanonicalEvent::Stop { .. })));
        assert!(completion_frames(b"{}").is_err());
        assert!(completion_frames(b"nope").is_err());
    }
}
