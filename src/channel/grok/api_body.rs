//! The xAI API request body (OpenAI Chat Completions) from a canonical request.
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
//! Written straight into the body buffer (no `serde_json::Value` tree): strings escaped by
//! `util::json`, the client's tool schemas and `response_format` copied as the JSON they are.

use super::api_tools;
use crate::translate::canonical::{Block, CanonicalRequest, ImageSource, Role, Text, ToolChoice};
use crate::util::json::{escape_str_into, push_str};
use std::io::Write as _;

/// The JSON body for `POST /chat/completions` with `model` = the upstream id.
pub fn chat_body(req: &CanonicalRequest, model: &str, stream: bool) -> Vec<u8> {
    // Sized from the request's text, with room for escapes and the per-message framing, so a
    // large agent turn is written without growing (and copying) the buffer again and again.
    let text = req.text_bytes();
    let mut w = Obj::new(Vec::with_capacity(256 + text + text / 8 + (req.messages.len() + req.tools.len()) * 128));
    w.key("model");
    push_str(w.out(), model);
    w.key("messages");
    w.out().push(b'[');
    let mut first = true;
    for s in &req.system {
        let m = begin_element(w.out(), &mut first);
        message(m, "system", std::iter::once(s), None);
    }
    for m in &req.messages {
        match m.role {
            Role::User => user_messages(&m.content, w.out(), &mut first),
            Role::Assistant => assistant_message(&m.content, begin_element(w.out(), &mut first)),
        }
    }
    w.out().push(b']');
    w.raw("stream", if stream { b"true" } else { b"false" });
    if stream {
        w.raw("stream_options", br#"{"include_usage":true}"#);
    }
    if !req.tools.is_empty() {
        w.key("tools");
        api_tools::write(&req.tools, w.out());
        if let Some(p) = req.parallel_tool_calls {
            w.raw("parallel_tool_calls", if p { b"true" } else { b"false" });
        }
    }
    if let Some(tc) = &req.tool_choice {
        match tc {
            ToolChoice::Auto => w.raw("tool_choice", br#""auto""#),
            ToolChoice::None => w.raw("tool_choice", br#""none""#),
            ToolChoice::Any => w.raw("tool_choice", br#""required""#),
            ToolChoice::Tool(name) => {
                w.key("tool_choice");
                w.out().extend_from_slice(br#"{"type":"function","function":{"name":"#);
                push_str(w.out(), name);
                w.out().extend_from_slice(b"}}");
            }
        }
    }
    if let Some(n) = req.max_tokens {
        w.key("max_tokens");
        let _ = write!(w.out(), "{n}");
    }
    for (key, v) in [("temperature", req.temperature), ("top_p", req.top_p)] {
        if let Some(x) = v.filter(|x| x.is_finite()) {
            w.key(key);
            let _ = write!(w.out(), "{x}");
        }
    }
    if !req.stop.is_empty() {
        w.key("stop");
        w.out().push(b'[');
        let mut first = true;
        for s in &req.stop {
            push_str(begin_element(w.out(), &mut first), s);
        }
        w.out().push(b']');
    }
    if let Some(u) = &req.user {
        w.key("user");
        push_str(w.out(), u);
    }
    if let Some(e) = req.effort.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        w.key("reasoning_effort");
        push_str(w.out(), &e.to_ascii_lowercase());
    }
    if let Some(rf) = &req.response_format {
        w.raw("response_format", rf.as_str().as_bytes());
    }
    w.finish()
}

/// Writes one JSON object field by field (keys are plain ASCII names).
struct Obj {
    out: Vec<u8>,
    fields: usize,
}

impl Obj {
    fn new(mut out: Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, fields: 0 }
    }

    /// Starts the field `name`; the caller writes its value.
    fn key(&mut self, name: &str) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A field whose value is already JSON.
    fn raw(&mut self, name: &str, value: &[u8]) {
        self.key(name);
        self.out.extend_from_slice(value);
    }

    fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Writes the comma before an array element (none before the first).
fn begin_element<'a>(out: &'a mut Vec<u8>, first: &mut bool) -> &'a mut Vec<u8> {
    if !std::mem::replace(first, false) {
        out.push(b',');
    }
    out
}

/// `{"role": role, "content": text}`.
fn message<'a>(out: &mut Vec<u8>, role: &str, texts: impl Iterator<Item = &'a Text>, prefix: Option<&str>) {
    out.extend_from_slice(b"{\"role\":\"");
    out.extend_from_slice(role.as_bytes());
    out.extend_from_slice(b"\",\"content\":");
    joined(out, texts, prefix);
    out.push(b'}');
}

/// The text blocks among `blocks`.
fn texts(blocks: &[Block]) -> impl Iterator<Item = &Text> {
    blocks.iter().filter_map(|b| if let Block::Text(t) = b { Some(t) } else { None })
}

/// `texts` joined as one JSON string, `prefix` first: a newline goes before a text once some
/// text came before it (leading empty texts leave no newline), and the client's escaped text
/// is copied as it is (`translate::text`), never unescaped and escaped again.
fn joined<'a>(out: &mut Vec<u8>, texts: impl Iterator<Item = &'a Text>, prefix: Option<&str>) {
    out.push(b'"');
    if let Some(p) = prefix {
        escape_str_into(out, p);
    }
    let mut any = false;
    for t in texts {
        if any {
            out.extend_from_slice(b"\\n");
        }
        out.extend_from_slice(t.escaped());
        any |= !t.is_empty();
    }
    out.push(b'"');
}

/// Whether the texts of `blocks`, joined, are empty (none, or only empty ones).
fn no_text(blocks: &[Block]) -> bool {
    texts(blocks).all(Text::is_empty)
}

/// Whether the joined texts of a tool result start with `Error` (its first non-empty text
/// does).
fn says_error(blocks: &[Block]) -> bool {
    texts(blocks).find(|t| !t.is_empty()).is_some_and(|t| t.starts_with("Error"))
}

/// A user turn: its tool results as `tool` messages first, then its text and images as one
/// `user` message (a plain string when it is text only).
fn user_messages(blocks: &[Block], out: &mut Vec<u8>, first: &mut bool) {
    let mut has_parts = false;
    let mut plain = true;
    for b in blocks {
        match b {
            Block::ToolResult { tool_use_id, content, is_error } => {
                let prefix = (*is_error && !says_error(content)).then_some("Error: ");
                let o = begin_element(out, first);
                o.extend_from_slice(br#"{"role":"tool","tool_call_id":"#);
                push_str(o, tool_use_id);
                o.extend_from_slice(br#","content":"#);
                joined(o, texts(content), prefix);
                o.push(b'}');
            }
            Block::Text(_) => has_parts = true,
            Block::Image(_) => (has_parts, plain) = (true, false),
            Block::ToolUse { .. } | Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
        }
    }
    if !has_parts {
        return;
    }
    let o = begin_element(out, first);
    if plain {
        message(o, "user", texts(blocks), None);
        return;
    }
    o.extend_from_slice(br#"{"role":"user","content":["#);
    let mut first_part = true;
    for b in blocks {
        match b {
            Block::Text(t) => {
                let p = begin_element(o, &mut first_part);
                p.extend_from_slice(br#"{"type":"text","text":"#);
                t.write_json(p);
                p.push(b'}');
            }
            Block::Image(src) => {
                let p = begin_element(o, &mut first_part);
                p.extend_from_slice(br#"{"type":"image_url","image_url":{"url":""#);
                match src {
                    ImageSource::Url(u) => escape_str_into(p, u),
                    ImageSource::Base64 { media_type, data } => {
                        p.extend_from_slice(b"data:");
                        escape_str_into(p, media_type);
                        p.extend_from_slice(b";base64,");
                        escape_str_into(p, data);
                    }
                }
                p.extend_from_slice(b"\"}}");
            }
            _ => {}
        }
    }
    o.extend_from_slice(b"]}");
}

/// An assistant turn: its text (null when it only calls tools) and its tool calls.
fn assistant_message(blocks: &[Block], out: &mut Vec<u8>) {
    let has_calls = blocks.iter().any(|b| matches!(b, Block::ToolUse { .. }));
    out.extend_from_slice(br#"{"role":"assistant","content":"#);
    if has_calls && no_text(blocks) {
        out.extend_from_slice(b"null");
    } else {
        joined(out, texts(blocks), None);
    }
    if has_calls {
        out.extend_from_slice(br#","tool_calls":["#);
        let mut first = true;
        for b in blocks {
            if let Block::ToolUse { id, name, input } = b {
                let o = begin_element(out, &mut first);
                o.extend_from_slice(br#"{"id":"#);
                push_str(o, id);
                o.extend_from_slice(br#","type":"function","function":{"name":"#);
                push_str(o, name);
                o.extend_from_slice(br#","arguments":"#);
                if input.is_empty() {
                    push_str(o, "{}");
                } else {
                    // Escaped once per call, however many turns carry it.
                    input.write_quoted(o);
                }
                o.extend_from_slice(b"}}");
            }
        }
        out.push(b']');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::canonical::{Json, Message, Tool};
    use serde_json::{Value, json};

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
            tools: vec![Tool { name: "get_weather".into(), description: "w".into(), parameters: Json::any_object() }]
                .into(),
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
}
