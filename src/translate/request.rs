//! Client request bodies -> [`CanonicalRequest`]: Claude Messages and OpenAI Chat Completions.
//!
//! Bodies are parsed in place with simd-json (the caller's buffer is mutated: strings are
//! unescaped into it and borrowed from there). Unknown fields are ignored; what cannot be mapped
//! is a [`RequestError`] (answered 400 in the client's format) naming the offending parameter.
//!
//! OpenAI specifics: `system` and `developer` messages become the system prompt (in order);
//! consecutive `tool` messages become one user turn of `tool_result` blocks; assistant
//! `tool_calls` become `tool_use` blocks (their `arguments` text kept as is); an assistant
//! `reasoning_content` becomes a thinking block; `n` other than 1 is refused;
//! `max_completion_tokens` wins over `max_tokens`.

use super::canonical::{
    Block, CanonicalRequest, ImageSource, Json, Message, Role, Thinking, Tool, ToolChoice, WireFormat,
};
use super::messages_cache::{self, Mark, Prefix};
use super::text::{Locator, Sent};
use crate::api::message_list::MessageList;
use crate::api::tool_list::ToolList;
use crate::api::{claude, openai};
use bytes::Bytes;
use std::borrow::Cow;

mod reuse;

/// A request that cannot be served as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub message: String,
    /// The parameter at fault (OpenAI `param`), when one is.
    pub param: Option<&'static str>,
}

impl RequestError {
    fn new(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self { message: message.into(), param }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

/// Bodies up to this size are parsed with the thread's reused parser buffers.
const SHARED_BUFFERS_MAX: usize = 256 * 1024;

thread_local! {
    /// simd-json's scratch (structural indexes, string buffer, padded input copy), kept per
    /// thread so a request body parse does not allocate it anew. Only bodies up to
    /// [`SHARED_BUFFERS_MAX`] use it: its string and input buffers are reserved at about that
    /// size each on a worker's first parse (pages are touched only as bodies fill them), and its
    /// index buffers grow to the most structural characters a body of that size has held.
    static PARSER_BUFFERS: std::cell::RefCell<simd_json::Buffers> =
        std::cell::RefCell::new(simd_json::Buffers::new(SHARED_BUFFERS_MAX));
}

/// Deserialises a request body (mutated in place), with the thread's parser buffers when it fits.
fn from_body<'a, T: serde::Deserialize<'a>>(body: &'a mut [u8]) -> Result<T, simd_json::Error> {
    if body.len() > SHARED_BUFFERS_MAX {
        return simd_json::serde::from_slice(body);
    }
    PARSER_BUFFERS.with(|b| match b.try_borrow_mut() {
        Ok(mut buffers) => simd_json::serde::from_slice_with_buffers(body, &mut buffers),
        Err(_) => simd_json::serde::from_slice(body),
    })
}

fn parse_error(e: &simd_json::Error) -> RequestError {
    RequestError::new(format!("invalid request body: {e}"), None)
}

fn u32_param(v: Option<u64>, param: &'static str) -> Result<Option<u32>, RequestError> {
    v.map(|n| u32::try_from(n).map_err(|_| RequestError::new(format!("{param} is too large"), Some(param)))).transpose()
}

/// Which Claude endpoint a body is for (count_tokens has no `max_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudeEndpoint {
    Messages,
    CountTokens,
}

/// Decodes a Claude Messages body.
///
/// For a caller that holds the body as bytes only (tests, fuzzing): a copy is shared by the
/// request's text. The front end calls [`decode_claude_shared`].
pub fn decode_claude(body: &[u8], endpoint: ClaudeEndpoint) -> Result<CanonicalRequest, RequestError> {
    decode_claude_shared(&Bytes::copy_from_slice(body), endpoint)
}

/// Decodes a Claude Messages body; the request's text blocks are slices of `body`
/// (`translate::text`), so they keep it alive and are not copied.
pub fn decode_claude_shared(body: &Bytes, endpoint: ClaudeEndpoint) -> Result<CanonicalRequest, RequestError> {
    reuse::decode(body, WireFormat::Claude, |b, sent, prefix| claude_in_place(b, sent, prefix, endpoint))
}

/// Decodes an OpenAI Chat Completions body.
///
/// For a caller that holds the body as bytes only (tests, fuzzing); the front end calls
/// [`decode_openai_shared`].
pub fn decode_openai(body: &[u8]) -> Result<CanonicalRequest, RequestError> {
    decode_openai_shared(&Bytes::copy_from_slice(body))
}

/// Decodes an OpenAI Chat Completions body; the request's text parts are slices of `body`.
pub fn decode_openai_shared(body: &Bytes) -> Result<CanonicalRequest, RequestError> {
    reuse::decode(body, WireFormat::OpenAi, openai_in_place)
}

/// A decoded request, how many of its first tools came from the body's `tools` member (the rest
/// from an OpenAI body's legacy `functions`), whether that member was the tools cache's marker,
/// and what the messages cache needs to keep its conversation.
struct Decoded {
    req: CanonicalRequest,
    from_tools: usize,
    cached: bool,
    /// The messages cache's marker stood first in `messages` (its prefix was replayed).
    prefix_read: bool,
    /// One mark per element of the body's `messages` (the replayed ones included), for a body
    /// the messages cache keeps (`messages_cache::keeps`); none for another.
    marks: Vec<Mark>,
    /// How many of `req.system` came from outside `messages` (a Claude body's `system`).
    system_base: usize,
    /// A Claude body's top-level `system` was the system cache's marker (its texts are the
    /// caller's to put in).
    system_cached: bool,
}

/// `tools` as sent -> the definitions, and whether the cache's marker stood there instead.
fn tool_defs<T>(tools: Option<ToolList<T>>) -> (Vec<T>, bool) {
    match tools {
        None => (Vec::new(), false),
        Some(ToolList::Defs(defs)) => (defs, false),
        Some(ToolList::Cached) => (Vec::new(), true),
    }
}

/// Decodes a Claude Messages body (mutated in place).
fn claude_in_place(
    body: &mut [u8],
    sent: Sent<'_>,
    prefix: Option<&Prefix>,
    endpoint: ClaudeEndpoint,
) -> Result<Decoded, RequestError> {
    let loc = Locator::new(sent, body);
    let req: claude::MessagesRequest<'_> = from_body(body).map_err(|e| parse_error(&e))?;
    if req.model.trim().is_empty() {
        return Err(RequestError::new("model: field required", Some("model")));
    }
    if endpoint == ClaudeEndpoint::Messages && req.max_tokens.is_none() {
        return Err(RequestError::new("max_tokens: field required", Some("max_tokens")));
    }
    let mut out = CanonicalRequest {
        model: req.model.into_owned(),
        max_tokens: u32_param(req.max_tokens, "max_tokens")?,
        stream: req.stream.unwrap_or(false),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: u32_param(req.top_k, "top_k")?,
        stop: req.stop_sequences.unwrap_or_default().into_iter().map(Cow::into_owned).collect(),
        user: req.metadata.and_then(|m| m.user_id).map(Cow::into_owned),
        effort: req.output_config.and_then(|o| o.effort).map(Cow::into_owned),
        ..CanonicalRequest::default()
    };
    let system_cached = matches!(req.system, Some(claude::System::Cached));
    match req.system {
        Some(claude::System::Text(t)) => out.system.push(loc.text(t)),
        Some(claude::System::Blocks(bs)) => {
            for b in bs {
                if let claude::ContentBlock::Text { text } = b {
                    out.system.push(loc.text(text));
                }
            }
        }
        Some(claude::System::Cached) | None => {}
    }
    let system_base = out.system.len();
    let (prefix_read, marks) = decode_messages(req.messages, prefix, sent, &mut out, system_base, |out, i, m| {
        claude_message(out, i, m, &loc)
    })?;
    let (defs, cached) = tool_defs(req.tools);
    out.tools = claude_tools(defs).into();
    if let Some(tc) = req.tool_choice {
        let (choice, no_parallel) = match tc {
            claude::ToolChoice::Auto { disable_parallel_tool_use } => (ToolChoice::Auto, disable_parallel_tool_use),
            claude::ToolChoice::Any { disable_parallel_tool_use } => (ToolChoice::Any, disable_parallel_tool_use),
            claude::ToolChoice::Tool { name, disable_parallel_tool_use } => {
                (ToolChoice::Tool(name.into_owned()), disable_parallel_tool_use)
            }
            claude::ToolChoice::None => (ToolChoice::None, None),
        };
        out.tool_choice = Some(choice);
        out.parallel_tool_calls = no_parallel.map(|d| !d);
    }
    out.thinking = req.thinking.map(|t| match t {
        claude::Thinking::Enabled { budget_tokens } => {
            Thinking::Enabled { budget_tokens: budget_tokens.and_then(|b| u32::try_from(b).ok()).unwrap_or(1024) }
        }
        claude::Thinking::Adaptive => Thinking::Adaptive,
        claude::Thinking::Disabled => Thinking::Disabled,
    });
    let from_tools = out.tools.len();
    Ok(Decoded { req: out, from_tools, cached, prefix_read, marks, system_base, system_cached })
}

/// A body's `messages` into `out`, the same for both formats: the messages cache's prefix
/// replayed when its marker stood first (refused where the cache put none: no client can know
/// it), then each element by `each` (its index counts the replayed elements), with a mark after
/// each for a body the cache keeps (`system_base`: the system texts from outside `messages`).
/// Whether the prefix was read, and the marks.
fn decode_messages<M>(
    list: MessageList<M>,
    prefix: Option<&Prefix>,
    sent: Sent<'_>,
    out: &mut CanonicalRequest,
    system_base: usize,
    mut each: impl FnMut(&mut CanonicalRequest, usize, M) -> Result<(), RequestError>,
) -> Result<(bool, Vec<Mark>), RequestError> {
    let mut marks = Vec::new();
    if list.cached_prefix {
        let p = prefix.ok_or_else(|| RequestError::new("messages: expected an array of messages", Some("messages")))?;
        p.replay(sent.body(), &mut out.system, &mut out.messages);
        marks.extend_from_slice(p.marks());
    }
    let (first, keep) = (marks.len(), messages_cache::keeps(sent.body().len()));
    for (i, m) in list.items.into_iter().enumerate() {
        each(out, first + i, m)?;
        if keep {
            marks.push(Mark::after(out.system.len() - system_base, &out.messages));
        }
    }
    Ok((list.cached_prefix, marks))
}

/// One element of a Claude body's `messages` (index `i`) into `out`.
fn claude_message(
    out: &mut CanonicalRequest,
    i: usize,
    m: claude::InputMessage<'_>,
    loc: &Locator<'_>,
) -> Result<(), RequestError> {
    let role = match &*m.role {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => {
            out.system.extend(claude_blocks(m.content, loc).into_iter().filter_map(|b| match b {
                Block::Text(t) => Some(t),
                _ => None,
            }));
            return Ok(());
        }
        other => {
            return Err(RequestError::new(
                format!("messages.{i}.role: unexpected role {other:?} (expected user or assistant)"),
                Some("messages"),
            ));
        }
    };
    out.messages.push(Message { role, content: claude_blocks(m.content, loc) });
    Ok(())
}

fn claude_blocks(c: claude::Content<'_>, loc: &Locator<'_>) -> Vec<Block> {
    match c {
        claude::Content::Text(t) => vec![Block::Text(loc.text(t))],
        claude::Content::Blocks(bs) => bs.into_iter().filter_map(|b| claude_block(b, loc)).collect(),
    }
}

fn claude_block(b: claude::ContentBlock<'_>, loc: &Locator<'_>) -> Option<Block> {
    Some(match b {
        claude::ContentBlock::Text { text } => Block::Text(loc.text(text)),
        claude::ContentBlock::Image { source } => Block::Image(match source {
            claude::ImageSource::Base64 { media_type, data } => {
                ImageSource::Base64 { media_type: media_type.into_owned(), data: data.into_owned() }
            }
            claude::ImageSource::Url { url } => ImageSource::Url(url.into_owned()),
            claude::ImageSource::Other => return None,
        }),
        claude::ContentBlock::ToolUse { id, name, input } => Block::ToolUse {
            id: id.into_owned(),
            name: name.into_owned(),
            input: input.map_or_else(|| "{}".to_owned(), crate::api::JsonText::into_string).into(),
        },
        claude::ContentBlock::ToolResult { tool_use_id, content, is_error } => Block::ToolResult {
            tool_use_id: tool_use_id.into_owned(),
            content: content.map(|c| claude_blocks(c, loc)).unwrap_or_default(),
            is_error: is_error.unwrap_or(false),
        },
        claude::ContentBlock::Thinking { thinking, signature } => Block::Thinking {
            thinking: thinking.into_owned(),
            signature: signature.map(Cow::into_owned).unwrap_or_default(),
        },
        claude::ContentBlock::RedactedThinking { data } => Block::RedactedThinking { data: data.into_owned() },
        claude::ContentBlock::Other => return None,
    })
}

/// Decodes an OpenAI Chat Completions body (mutated in place).
fn openai_in_place(body: &mut [u8], sent: Sent<'_>, prefix: Option<&Prefix>) -> Result<Decoded, RequestError> {
    let loc = Locator::new(sent, body);
    let req: openai::ChatRequest<'_> = from_body(body).map_err(|e| parse_error(&e))?;
    if req.model.trim().is_empty() {
        return Err(RequestError::new("you must provide a model parameter", Some("model")));
    }
    if let Some(n) = req.n.filter(|n| *n != 1) {
        return Err(RequestError::new(format!("n={n} is not supported; only n=1 is"), Some("n")));
    }
    if req.messages.is_empty() {
        return Err(RequestError::new("messages must not be empty", Some("messages")));
    }
    let stream = req.stream.unwrap_or(false);
    let mut out = CanonicalRequest {
        model: req.model.into_owned(),
        stream,
        include_usage: stream && req.stream_options.and_then(|o| o.include_usage).unwrap_or(false),
        max_tokens: u32_param(req.max_completion_tokens.or(req.max_tokens), "max_completion_tokens")?,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: match req.stop {
            Some(openai::Stop::One(s)) => vec![s.into_owned()],
            Some(openai::Stop::Many(v)) => v.into_iter().map(Cow::into_owned).collect(),
            None => Vec::new(),
        },
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user.map(Cow::into_owned),
        effort: req.reasoning_effort.map(Cow::into_owned),
        response_format: req.response_format.map(Json::from),
        ..CanonicalRequest::default()
    };
    let (prefix_read, marks) =
        decode_messages(req.messages, prefix, sent, &mut out, 0, |out, i, m| openai_message(out, i, m, &loc))?;
    let (defs, cached) = tool_defs(req.tools);
    let from_tools = defs.len();
    let defs = defs.into_iter().map(|t| t.function).chain(req.functions.unwrap_or_default());
    out.tools = openai_tools(defs).into();
    out.tool_choice = match req.tool_choice {
        None => None,
        Some(openai::ToolChoice::Mode(m)) => Some(match &*m {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Any,
            other => {
                return Err(RequestError::new(
                    format!("tool_choice: expected none, auto, required or a named function, found {other:?}"),
                    Some("tool_choice"),
                ));
            }
        }),
        Some(openai::ToolChoice::Named(n)) => Some(ToolChoice::Tool(n.function.name.into_owned())),
    };
    Ok(Decoded { req: out, from_tools, cached, prefix_read, marks, system_base: 0, system_cached: false })
}

fn text_of(c: Option<openai::MessageContent<'_>>, loc: &Locator<'_>) -> Vec<Block> {
    match c {
        None => Vec::new(),
        Some(openai::MessageContent::Text(t)) if t.is_empty() => Vec::new(),
        Some(openai::MessageContent::Text(t)) => vec![Block::Text(loc.text(t))],
        Some(openai::MessageContent::Parts(ps)) => ps
            .into_iter()
            .filter_map(|p| match p {
                openai::Part::Text { text } => Some(Block::Text(loc.text(text))),
                openai::Part::Refusal { refusal } => Some(Block::Text(loc.text(refusal))),
                openai::Part::ImageUrl { image_url } => {
                    let url = match image_url {
                        openai::ImageUrl::Object { url } | openai::ImageUrl::Bare(url) => url,
                    };
                    Some(Block::Image(image_source(&url)))
                }
                openai::Part::Other => None,
            })
            .collect(),
    }
}

/// `data:image/png;base64,…` -> base64 source; anything else is a URL.
fn image_source(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return ImageSource::Base64 { media_type: media_type.to_owned(), data: data.to_owned() };
            }
        }
    }
    ImageSource::Url(url.to_owned())
}

fn openai_message(
    out: &mut CanonicalRequest,
    i: usize,
    m: openai::ChatMessage<'_>,
    loc: &Locator<'_>,
) -> Result<(), RequestError> {
    match &*m.role {
        "system" | "developer" => {
            for b in text_of(m.content, loc) {
                if let Block::Text(t) = b {
                    out.system.push(t);
                }
            }
        }
        "user" => out.messages.push(Message { role: Role::User, content: text_of(m.content, loc) }),
        "assistant" => {
            let mut content = Vec::new();
            if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
                content.push(Block::Thinking { thinking: r.into_owned(), signature: String::new() });
            }
            content.extend(text_of(m.content, loc));
            for c in m.tool_calls.unwrap_or_default() {
                content.push(Block::ToolUse {
                    id: c.id.into_owned(),
                    name: c.function.name.into_owned(),
                    input: non_empty_args(c.function.arguments).into(),
                });
            }
            if let Some(f) = m.function_call {
                content.push(Block::ToolUse {
                    id: format!("call_{}", f.name),
                    name: f.name.into_owned(),
                    input: non_empty_args(f.arguments).into(),
                });
            }
            out.messages.push(Message { role: Role::Assistant, content });
        }
        "tool" | "function" => {
            let id = match (m.tool_call_id, m.name) {
                (Some(id), _) => id.into_owned(),
                (None, Some(name)) => format!("call_{name}"),
                (None, None) => {
                    return Err(RequestError::new(
                        format!("messages[{i}].tool_call_id: required for role tool"),
                        Some("messages"),
                    ));
                }
            };
            let result = Block::ToolResult { tool_use_id: id, content: text_of(m.content, loc), is_error: false };
            let merge = out.messages.last().is_some_and(|last| {
                last.role == Role::User
                    && !last.content.is_empty()
                    && last.content.iter().all(|b| matches!(b, Block::ToolResult { .. }))
            });
            match out.messages.last_mut() {
                Some(last) if merge => last.content.push(result),
                _ => out.messages.push(Message { role: Role::User, content: vec![result] }),
            }
        }
        other => {
            return Err(RequestError::new(format!("messages[{i}].role: unknown role {other:?}"), Some("messages")));
        }
    }
    Ok(())
}

fn non_empty_args(a: Option<Cow<'_, str>>) -> String {
    match a {
        Some(s) if !s.trim().is_empty() => s.into_owned(),
        _ => "{}".to_owned(),
    }
}

/// Claude tool definitions -> canonical tools. Server tools (web search, code execution…) have
/// no meaning upstream of a gateway and are dropped.
fn claude_tools(defs: Vec<claude::Tool<'_>>) -> Vec<Tool> {
    defs.into_iter()
        .filter(|t| t.kind.as_deref().is_none_or(|k| k == "custom"))
        .map(|t| Tool {
            name: t.name.into_owned(),
            description: t.description.map(Cow::into_owned).unwrap_or_default(),
            parameters: t.input_schema.map_or_else(Json::any_object, Json::from),
        })
        .collect()
}

/// OpenAI function definitions -> canonical tools.
fn openai_tools<'a>(defs: impl Iterator<Item = openai::FunctionDef<'a>>) -> Vec<Tool> {
    defs.map(|f| Tool {
        name: f.name.into_owned(),
        description: f.description.map(Cow::into_owned).unwrap_or_default(),
        parameters: f.parameters.map_or_else(Json::any_object, Json::from),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::text::Text;

    fn claude(s: &str) -> Result<CanonicalRequest, RequestError> {
        decode_claude(s.as_bytes(), ClaudeEndpoint::Messages)
    }

    fn oai(s: &str) -> Result<CanonicalRequest, RequestError> {
        decode_openai(s.as_bytes())
    }

    #[test]
    fn claude_code_style_body_is_accepted() {
        let r = claude(
            r#"{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,
            "system":[{"type":"text","text":"You are \"CC\"","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":[{"type":"text","text":"hi\n"},{"type":"document","source":{}}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"tool_use","id":"t1","name":"ls","input":{"p":"/"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}],
            "tools":[{"name":"ls","input_schema":{"type":"object"},"cache_control":{}},{"type":"web_search_20250305","name":"web_search"}],
            "metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":31999,"display":"omitted"},
            "context_management":{"edits":[]},"tool_choice":{"type":"auto"},"future_field":42}"#,
        )
        .unwrap();
        assert_eq!(r.system, vec![Text::from("You are \"CC\"")]);
        assert_eq!(r.messages.len(), 3);
        assert_eq!(r.messages[0].content, vec![Block::Text("hi\n".into())]);
        assert!(matches!(&r.messages[1].content[1], Block::ToolUse { input, .. } if input.as_str() == r#"{"p":"/"}"#));
        assert_eq!(r.tools.len(), 1, "server tools are dropped");
        assert_eq!(r.thinking, Some(Thinking::Enabled { budget_tokens: 31999 }));
        assert_eq!(r.user.as_deref(), Some("u"));
        assert!(r.stream);
        assert_eq!(r.last_user_text(), "ok\n");
    }

    #[test]
    fn claude_errors_name_the_field() {
        assert_eq!(claude(r#"{"model":"m","messages":[]}"#).unwrap_err().param, Some("max_tokens"));
        assert!(claude(r#"{"model":"m","max_tokens":1,"messages":[{"role":"robot","content":"x"}]}"#).is_err());
        assert!(claude("{not json").is_err());
        assert!(decode_claude(br#"{"model":"m","messages":[]}"#, ClaudeEndpoint::CountTokens).is_ok());
    }

    #[test]
    fn openai_body_maps() {
        let r = oai(
            r#"{"model":"grok-3","messages":[{"role":"developer","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"r1"},{"role":"tool","tool_call_id":"c2","content":"r2"}],
            "stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"max_completion_tokens":9,"stop":"END",
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required",
            "response_format":{"type":"json_object"},"seed":1,"logit_bias":{}}"#,
        )
        .unwrap();
        assert_eq!(r.system, vec![Text::from("be brief")]);
        assert_eq!(r.max_tokens, Some(9));
        assert!(r.include_usage);
        assert_eq!(r.stop, vec!["END".to_owned()]);
        assert_eq!(r.tool_choice, Some(ToolChoice::Any));
        assert_eq!(r.messages.len(), 3, "the two tool results merge into one user turn");
        assert_eq!(r.messages[2].content.len(), 2);
        assert!(
            matches!(&r.messages[0].content[1], Block::Image(ImageSource::Base64 { media_type, .. }) if media_type == "image/png")
        );
        assert_eq!(r.response_format.as_ref().map(Json::as_str), Some(r#"{"type":"json_object"}"#));
    }

    /// The thread's reused parser buffers give the same result as fresh ones, after a failed
    /// parse, after a larger body and for a body over the reuse limit.
    #[test]
    fn reused_parser_buffers_change_nothing() {
        let body = |text: &str| format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{text}"}}]}}"#);
        let text_of = |r: &CanonicalRequest| match r.messages.first().and_then(|m| m.content.first()) {
            Some(Block::Text(t)) => t.text().into_owned(),
            other => panic!("{other:?}"),
        };
        let long = r"x\\y".repeat(6_000);
        let huge = "z".repeat(SHARED_BUFFERS_MAX + 10);
        for text in ["a", long.as_str(), r#"b \"q\""#, huge.as_str(), "c"] {
            assert!(oai(r#"{"model":"m","messages":[{"role":"user","content":"x"#).is_err());
            let got = oai(&body(text)).unwrap();
            let want: String = simd_json::serde::from_slice::<String>(&mut format!("\"{text}\"").into_bytes()).unwrap();
            assert_eq!(text_of(&got), want);
        }
    }

    #[test]
    fn openai_refusals() {
        assert_eq!(
            oai(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}"#).unwrap_err().param,
            Some("n")
        );
        assert!(oai(r#"{"model":"m","messages":[]}"#).is_err());
        assert!(oai(r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#).is_err());
        assert!(oai(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"maybe"}"#).is_err());
    }
}
