//! Anthropic Messages request types (`POST /v1/messages`, `/v1/messages/count_tokens`).
//!
//! Only what the gateway maps is typed; everything else a client sends (`cache_control`,
//! `context_management`, `container`, `service_tier`, `mcp_servers`, citations…) is ignored.
//! Content block types we do not model (`document`, `search_result`, server tool blocks…)
//! deserialize as [`ContentBlock::Other`] and are skipped by the mapper.

use super::JsonText;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Deserialize)]
pub struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Required by the API for Messages; absent in count_tokens.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(borrow)]
    pub messages: Vec<InputMessage<'a>>,
    #[serde(default, borrow)]
    pub system: Option<System<'a>>,
    #[serde(default, borrow)]
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u64>,
    #[serde(default, borrow)]
    pub metadata: Option<Metadata<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default, borrow)]
    pub output_config: Option<OutputConfig<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum System<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    #[serde(borrow)]
    Blocks(Vec<ContentBlock<'a>>),
}

#[derive(Debug, Deserialize)]
pub struct InputMessage<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub content: Content<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    #[serde(borrow)]
    Blocks(Vec<ContentBlock<'a>>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock<'a> {
    Text {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    Image {
        #[serde(borrow)]
        source: ImageSource<'a>,
    },
    ToolUse {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        input: Option<JsonText>,
    },
    ToolResult {
        #[serde(borrow)]
        tool_use_id: Cow<'a, str>,
        #[serde(default, borrow)]
        content: Option<Content<'a>>,
        #[serde(default)]
        is_error: Option<bool>,
    },
    Thinking {
        #[serde(borrow)]
        thinking: Cow<'a, str>,
        #[serde(default, borrow)]
        signature: Option<Cow<'a, str>>,
    },
    RedactedThinking {
        #[serde(borrow)]
        data: Cow<'a, str>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource<'a> {
    Base64 {
        #[serde(borrow)]
        media_type: Cow<'a, str>,
        #[serde(borrow)]
        data: Cow<'a, str>,
    },
    Url {
        #[serde(borrow)]
        url: Cow<'a, str>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub struct Metadata<'a> {
    #[serde(default, borrow)]
    pub user_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Tool<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(default)]
    pub input_schema: Option<JsonText>,
    /// Server tools carry a versioned type (`web_search_20250305`…); custom tools none or `custom`.
    #[serde(default, borrow, rename = "type")]
    pub kind: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice<'a> {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled {
        #[serde(default)]
        budget_tokens: Option<u64>,
    },
    Adaptive,
    Disabled,
}

#[derive(Debug, Deserialize)]
pub struct OutputConfig<'a> {
    #[serde(default, borrow)]
    pub effort: Option<Cow<'a, str>>,
}
