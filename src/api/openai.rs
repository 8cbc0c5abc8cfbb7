//! OpenAI Chat Completions request types (`POST /v1/chat/completions`).
//!
//! Typed: what the gateway maps. Ignored: `seed`, penalties, `logit_bias`, `logprobs`, `store`,
//! `metadata`, `modalities`, `audio`, `prediction`, `web_search_options`, `service_tier`… The
//! deprecated `functions` / `function_call` are mapped onto tools.

use super::JsonText;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Deserialize)]
pub struct ChatRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: super::message_list::MessageList<ChatMessage<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default, borrow)]
    pub stop: Option<Stop<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<super::tool_list::ToolList<ToolDef<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, borrow)]
    pub functions: Option<Vec<FunctionDef<'a>>>,
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_effort: Option<Cow<'a, str>>,
    #[serde(default)]
    pub response_format: Option<JsonText>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    #[serde(borrow)]
    Many(Vec<Cow<'a, str>>),
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Option<MessageContent<'a>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(default, borrow)]
    pub tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Deprecated assistant `function_call`.
    #[serde(default, borrow)]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
}

/// A message's `content`: a string or an array of parts (read in one pass, `openai_part.rs`).
#[derive(Debug)]
pub enum MessageContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

/// One content part; other part types (`input_audio`, `file`…) are [`Part::Other`].
#[derive(Debug)]
pub enum Part<'a> {
    Text {
        text: Cow<'a, str>,
    },
    ImageUrl {
        image_url: ImageUrl<'a>,
    },
    /// `refusal` parts in assistant history.
    Refusal {
        refusal: Cow<'a, str>,
    },
    Other,
}

/// A part's `image_url`: `{"url": …}` or a bare URL string.
#[derive(Debug)]
pub enum ImageUrl<'a> {
    Object { url: Cow<'a, str> },
    Bare(Cow<'a, str>),
}

#[derive(Debug, Deserialize)]
pub struct ToolCall<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub function: FunctionCall<'a>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct ToolDef<'a> {
    #[serde(borrow)]
    pub function: FunctionDef<'a>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionDef<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(default)]
    pub parameters: Option<JsonText>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice<'a> {
    #[serde(borrow)]
    Mode(Cow<'a, str>),
    #[serde(borrow)]
    Named(NamedChoice<'a>),
}

#[derive(Debug, Deserialize)]
pub struct NamedChoice<'a> {
    #[serde(borrow)]
    pub function: NamedFunction<'a>,
}

#[derive(Debug, Deserialize)]
pub struct NamedFunction<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
}
