//! The canonical model every channel decodes into and every client format encodes from:
//! [`CanonicalRequest`] (what the client asked for) and [`CanonicalEvent`] (one step of the
//! answer). See `docs/translation.md` for the mapping tables.
//!
//! Text travels as [`JsonStr`]: the *escaped* content of a JSON string, usually a zero-copy
//! slice of the upstream frame. Encoders copy it into their JSON output as is, so a token is never
//! unescaped, re-escaped or turned into a `String`.
//!
//! A well-formed event stream is: `MessageStart`, then blocks (`BlockStart` or `ToolCallStart`,
//! deltas of that block's kind, `BlockStop`), then `Usage` (cumulative; may repeat), then `Stop`.
//! `Error` may come at any point and ends the stream. Blocks never interleave.

use crate::util::json;
use bytes::Bytes;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::rc::Rc;

pub use super::text::Text;

/// Escaped JSON string content (the bytes between the quotes), always valid.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct JsonStr(Bytes);

impl JsonStr {
    /// Wraps escaped content that is already known valid (e.g. from [`super::jscan`]).
    pub(crate) fn from_validated(b: Bytes) -> Self {
        Self(b)
    }

    /// Validates escaped content from an untrusted source.
    pub fn from_escaped(b: Bytes) -> Result<Self, super::jscan::ScanError> {
        super::jscan::validate_str_content(&b)?;
        Ok(Self(b))
    }

    /// Escapes plain text (allocates; for text that does not come from JSON).
    pub fn from_text(s: &str) -> Self {
        let mut out = Vec::with_capacity(s.len() + 2);
        json::escape_str_into(&mut out, s);
        Self(Bytes::from(out))
    }

    /// Static text that needs no escaping is borrowed; anything else is escaped.
    pub fn from_static(s: &'static str) -> Self {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            Self(Bytes::from_static(s.as_bytes()))
        } else {
            Self::from_text(s)
        }
    }

    /// The escaped bytes, ready to go between two quotes.
    pub fn escaped(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text itself (allocates only when the content has escapes).
    pub fn unescape(&self) -> Cow<'_, str> {
        if !self.0.contains(&b'\\') {
            if let Ok(s) = std::str::from_utf8(&self.0) {
                return Cow::Borrowed(s);
            }
        }
        let mut quoted = Vec::with_capacity(self.0.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(&self.0);
        quoted.push(b'"');
        Cow::Owned(serde_json::from_slice::<String>(&quoted).unwrap_or_default())
    }
}

impl std::fmt::Debug for JsonStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonStr({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// The two client wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// Anthropic Messages (SSE with `event:` names; JSON message).
    Claude,
    /// OpenAI Chat Completions (bare `data:` chunks ending in `[DONE]`; JSON completion).
    OpenAi,
}

/// Why the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    PauseTurn,
    Refusal,
    /// The context window was exhausted (Claude `model_context_window_exceeded`).
    ContextWindow,
}

impl StopReason {
    pub fn claude(self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::ToolUse => "tool_use",
            Self::PauseTurn => "pause_turn",
            Self::Refusal => "refusal",
            Self::ContextWindow => "model_context_window_exceeded",
        }
    }

    pub fn from_claude(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"end_turn" => Self::EndTurn,
            b"max_tokens" => Self::MaxTokens,
            b"stop_sequence" => Self::StopSequence,
            b"tool_use" => Self::ToolUse,
            b"pause_turn" => Self::PauseTurn,
            b"refusal" => Self::Refusal,
            b"model_context_window_exceeded" => Self::ContextWindow,
            _ => return None,
        })
    }

    pub fn openai(self) -> &'static str {
        match self {
            Self::EndTurn | Self::StopSequence | Self::PauseTurn => "stop",
            Self::MaxTokens | Self::ContextWindow => "length",
            Self::ToolUse => "tool_calls",
            Self::Refusal => "content_filter",
        }
    }

    pub fn from_openai(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"stop" => Self::EndTurn,
            b"length" => Self::MaxTokens,
            b"tool_calls" | b"function_call" => Self::ToolUse,
            b"content_filter" => Self::Refusal,
            _ => return None,
        })
    }
}

/// Token usage so far (cumulative). `input_tokens` excludes cache reads and writes (Anthropic's
/// convention); OpenAI's `prompt_tokens` is the sum of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    /// Of `output_tokens`, how many were thinking / reasoning.
    pub reasoning_tokens: u64,
}

/// Error categories an answer can end with, mapped to each format's `type` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    Billing,
    Api,
    Overloaded,
    Timeout,
}

impl ErrorKind {
    pub const ALL: [Self; 9] = [
        Self::InvalidRequest,
        Self::Authentication,
        Self::Permission,
        Self::NotFound,
        Self::RateLimit,
        Self::Billing,
        Self::Api,
        Self::Overloaded,
        Self::Timeout,
    ];

    pub fn claude(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RateLimit => "rate_limit_error",
            Self::Billing => "billing_error",
            Self::Api => "api_error",
            Self::Overloaded => "overloaded_error",
            Self::Timeout => "timeout_error",
        }
    }

    pub fn openai(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RateLimit => "rate_limit_exceeded",
            Self::Billing => "insufficient_quota",
            Self::Api => "server_error",
            Self::Overloaded => "server_overloaded",
            Self::Timeout => "timeout",
        }
    }

    /// Reads either format's type string (unknown strings become `Api`).
    pub fn parse(s: &[u8]) -> Self {
        Self::ALL.into_iter().find(|k| k.claude().as_bytes() == s || k.openai().as_bytes() == s).unwrap_or(Self::Api)
    }

    /// The HTTP status this kind answers with before the first byte.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Authentication => 401,
            Self::Billing => 402,
            Self::Permission => 403,
            Self::NotFound => 404,
            Self::RateLimit => 429,
            Self::Api => 502,
            Self::Overloaded => 529,
            Self::Timeout => 504,
        }
    }
}

/// Which kind of content block a `BlockStart` opens (tool blocks open with `ToolCallStart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    Text,
    Thinking,
}

/// One step of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalEvent {
    MessageStart {
        id: JsonStr,
        model: JsonStr,
    },
    BlockStart {
        index: u32,
        kind: BlockKind,
    },
    TextDelta(JsonStr),
    ThinkingDelta(JsonStr),
    /// The signature of the open thinking block (may arrive in pieces; concatenate).
    ThinkingSignature(JsonStr),
    ToolCallStart {
        index: u32,
        id: JsonStr,
        name: JsonStr,
    },
    /// A fragment of the open tool call's arguments JSON text (as escaped string content).
    ToolArgsDelta(JsonStr),
    BlockStop {
        index: u32,
    },
    Usage(Usage),
    Stop {
        reason: StopReason,
        stop_sequence: Option<JsonStr>,
    },
    Error {
        kind: ErrorKind,
        message: JsonStr,
    },
}

/// What a stream that ended without a terminal event says to the client (every encoder, the
/// passthrough and the non-streaming collector use it, so a cut answer reads the same everywhere).
pub const CUT_STREAM_MESSAGE: &str = "upstream stream ended before the answer was complete";

impl CanonicalEvent {
    /// The error event that closes a stream which ended without a terminal event, so the client
    /// never mistakes a cut answer for a complete one.
    pub fn cut_stream() -> Self {
        Self::Error { kind: ErrorKind::Api, message: JsonStr::from_static(CUT_STREAM_MESSAGE) }
    }

    /// Whether this event ends the stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Stop { .. } | Self::Error { .. })
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url(String),
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Text, kept as the client escaped it ([`Text`]).
    Text(Text),
    Image(ImageSource),
    /// An earlier tool call by the assistant; `input` is JSON text (an object).
    ToolUse {
        id: String,
        name: String,
        input: Arguments,
    },
    /// The result of a tool call, sent by the user side.
    ToolResult {
        tool_use_id: String,
        content: Vec<Block>,
        is_error: bool,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
}

impl Block {
    /// A copy with every text (nested in tool results too) replaced by `f` of it.
    pub(crate) fn with_texts(&self, f: &impl Fn(&Text) -> Text) -> Self {
        match self {
            Self::Text(t) => Self::Text(f(t)),
            Self::ToolResult { tool_use_id, content, is_error } => Self::ToolResult {
                tool_use_id: tool_use_id.clone(),
                content: content.iter().map(|b| b.with_texts(f)).collect(),
                is_error: *is_error,
            },
            other => other.clone(),
        }
    }
}

/// A tool call's input (`Block::ToolUse`): JSON text, an object. Shared: a clone (the
/// conversation cache replays a conversation's calls on every turn, `translate::messages_cache`)
/// copies no text. Its form as a JSON string, which OpenAI-format bodies carry
/// (`function.arguments`), is made the first time a writer asks and kept with the text, so a
/// call written into every later turn's upstream body is escaped once.
#[derive(Clone)]
pub struct Arguments(Rc<ArgumentsInner>);

struct ArgumentsInner {
    text: Box<str>,
    /// The text as a JSON string literal, quotes included (made on first use).
    quoted: OnceCell<Box<[u8]>>,
}

impl Arguments {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Appends the text as a JSON string literal (quotes included), escaped once per call.
    pub fn write_quoted(&self, out: &mut Vec<u8>) {
        let quoted = self.0.quoted.get_or_init(|| {
            let mut q = Vec::with_capacity(self.0.text.len() + 8);
            crate::util::json::push_str(&mut q, &self.0.text);
            q.into_boxed_slice()
        });
        out.extend_from_slice(quoted);
    }
}

impl std::ops::Deref for Arguments {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Arguments {
    fn from(text: String) -> Self {
        Self(Rc::new(ArgumentsInner { text: text.into_boxed_str(), quoted: OnceCell::new() }))
    }
}

impl From<&str> for Arguments {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl PartialEq for Arguments {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Arguments {}

impl std::fmt::Debug for Arguments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

/// A function the model may call; `parameters` is a JSON Schema as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub parameters: Json,
}

/// One JSON value as compact text, valid by construction: made only from a value the request
/// decoder parsed ([`From<crate::api::JsonText>`]) or through [`Json::parse`], so a writer copies
/// it into an upstream body as it is, without scanning it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json(String);

impl Json {
    /// `text` (surrounding whitespace trimmed) when it is one valid JSON value.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        super::jscan::parse(text.as_bytes()).ok().map(|_| Self(text.to_owned()))
    }

    /// `{"type":"object"}`: the schema of a tool declared without one.
    pub fn any_object() -> Self {
        Self(r#"{"type":"object"}"#.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<crate::api::JsonText> for Json {
    /// The decoder's text of a parsed value: compact and valid (`api::JsonText`).
    fn from(v: crate::api::JsonText) -> Self {
        Self(v.into_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    /// Must call some tool (Claude `any`, OpenAI `required`).
    Any,
    None,
    Tool(String),
}

/// Extended thinking / reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    Enabled { budget_tokens: u32 },
    Adaptive,
    Disabled,
}

/// What the client asked for, in one shape whichever format it used.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CanonicalRequest {
    /// The model id as the client sent it.
    pub model: String,
    /// System prompt pieces, in order.
    pub system: Vec<Text>,
    pub messages: Vec<Message>,
    /// Shared: a conversation's tools are decoded once per worker (`translate::tools_cache`).
    pub tools: std::rc::Rc<[Tool]>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage` (ignored for Claude clients).
    pub include_usage: bool,
    /// Claude `metadata.user_id` or OpenAI `user`.
    pub user: Option<String>,
    pub thinking: Option<Thinking>,
    /// OpenAI `reasoning_effort` or Claude `output_config.effort`.
    pub effort: Option<String>,
    /// OpenAI `response_format` as JSON text, passed to channels that can honour it.
    pub response_format: Option<Json>,
}

impl CanonicalRequest {
    /// The text of the last user message (test scripts key on it).
    pub fn last_user_text(&self) -> String {
        let Some(m) = self.messages.iter().rev().find(|m| m.role == Role::User) else {
            return String::new();
        };
        let mut out = String::new();
        for b in &m.content {
            match b {
                Block::Text(t) => {
                    out.push_str(&t.text());
                    out.push('\n');
                }
                Block::ToolResult { content, .. } => {
                    for c in content {
                        if let Block::Text(t) = c {
                            out.push_str(&t.text());
                            out.push('\n');
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Every piece of text the request carries, for token counting (escaped text is
    /// unescaped first: see [`Self::text_bytes`] for a size that needs no unescaping).
    pub fn for_each_text(&self, mut f: impl FnMut(&str)) {
        for s in &self.system {
            f(&s.text());
        }
        for t in self.tools.iter() {
            f(&t.name);
            f(&t.description);
            f(t.parameters.as_str());
        }
        for m in &self.messages {
            for b in &m.content {
                block_text(b, &mut f);
            }
        }
    }

    /// The bytes of text the request carries, message text counted as escaped (the size it
    /// takes in JSON; a little over its own for text with escapes): what [`Self::for_each_text`]
    /// visits, without unescaping anything.
    pub fn text_bytes(&self) -> usize {
        let mut n = self.system.iter().map(Text::escaped_len).sum::<usize>();
        for t in self.tools.iter() {
            n += t.name.len() + t.description.len() + t.parameters.as_str().len();
        }
        for m in &self.messages {
            n += m.content.iter().map(block_bytes).sum::<usize>();
        }
        n
    }
}

fn block_bytes(b: &Block) -> usize {
    match b {
        Block::Text(t) => t.escaped_len(),
        Block::Image(_) | Block::RedactedThinking { .. } => 0,
        Block::ToolUse { name, input, .. } => name.len() + input.len(),
        Block::ToolResult { content, .. } => content.iter().map(block_bytes).sum(),
        Block::Thinking { thinking, .. } => thinking.len(),
    }
}

fn block_text(b: &Block, f: &mut dyn FnMut(&str)) {
    match b {
        Block::Text(t) => f(&t.text()),
        Block::Image(_) | Block::RedactedThinking { .. } => {}
        Block::ToolUse { name, input, .. } => {
            f(name);
            f(input);
        }
        Block::ToolResult { content, .. } => {
            for c in content {
                block_text(c, f);
            }
        }
        Block::Thinking { thinking, .. } => f(thinking),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_holds_only_one_valid_value() {
        assert_eq!(
            Json::parse(" {\"a\": [1, 2]}\n").map(|j| j.as_str().to_owned()),
            Some("{\"a\": [1, 2]}".to_owned())
        );
        for bad in ["", "   ", "{", "{} {}", "{\"a\":}", "nul"] {
            assert_eq!(Json::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Json::any_object().as_str(), r#"{"type":"object"}"#);
    }

    #[test]
    fn json_str_round_trips_text() {
        let s = JsonStr::from_text("a \"q\" \n ✓");
        assert_eq!(s.escaped(), "a \\\"q\\\" \\n ✓".as_bytes());
        assert_eq!(s.unescape(), "a \"q\" \n ✓");
        assert!(JsonStr::from_escaped(Bytes::from_static(b"bad \" x")).is_err());
        assert_eq!(JsonStr::from_static("plain").escaped(), b"plain");
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for r in [StopReason::EndTurn, StopReason::MaxTokens, StopReason::ToolUse, StopReason::Refusal] {
            assert_eq!(StopReason::from_openai(r.openai().as_bytes()), Some(r));
        }
        assert_eq!(StopReason::from_claude(b"pause_turn"), Some(StopReason::PauseTurn));
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.claude().as_bytes()), k);
            assert_eq!(ErrorKind::parse(k.openai().as_bytes()), k);
        }
    }

    #[test]
    fn arguments_are_written_as_a_json_string_once_per_call() {
        let text = "{\"path\":\"C:\\\\repo\",\"note\":\"tab\\there \u{1}✓\"}";
        let a = Arguments::from(text);
        assert_eq!(a.as_str(), text);
        let mut want = Vec::new();
        json::push_str(&mut want, text);
        let (mut once, mut twice) = (Vec::new(), Vec::new());
        a.write_quoted(&mut once);
        assert_eq!(once, want);
        assert_eq!(serde_json::from_slice::<String>(&once).unwrap(), text, "a JSON string of the text");
        // A clone shares the text and the quoted form made for the original.
        let b = a.clone();
        assert!(Rc::ptr_eq(&a.0, &b.0));
        assert!(b.0.quoted.get().is_some(), "quoted already, through the shared value");
        b.write_quoted(&mut twice);
        assert_eq!(twice, want);
        assert_eq!(a, Arguments::from(text.to_owned()), "equal by text");
        assert_ne!(a, Arguments::from("{}"));
        assert_eq!(format!("{a:?}"), format!("{text:?}"));
        assert_eq!(&*a, text);
    }
}
