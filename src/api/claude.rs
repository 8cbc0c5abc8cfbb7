//! Anthropic Messages request types (`POST /v1/messages`, `/v1/messages/count_tokens`).
//!
//! Only what the gateway maps is typed; everything else a client sends (`cache_control`,
//! `context_management`, `container`, `service_tier`, `mcp_servers`, citations…) is ignored.
//! Content block types we do not model (`document`, `search_result`, server tool blocks…)
//! deserialize as [`ContentBlock::Other`] and are skipped by the mapper.

use super::JsonText;
use super::cache_marker::Marker;
use super::one_pass::{TextOrList, text_or_list};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

#[derive(Debug, Deserialize)]
pub struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Required by the API for Messages; absent in count_tokens.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(borrow)]
    pub messages: super::message_list::MessageList<InputMessage<'a>>,
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
    pub tools: Option<super::tool_list::ToolList<Tool<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default, borrow)]
    pub output_config: Option<OutputConfig<'a>>,
}

/// `system`: a string or an array of text blocks, or the marker `translate::system_cache`
/// writes in place of a value it already holds (`api::cache_marker`; read at the top level, it
/// proves the spliced bytes were this member's value).
#[derive(Debug)]
pub enum System<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<ContentBlock<'a>>),
    /// The cache's marker stood where the value was.
    Cached,
}

impl<'de: 'a, 'a> Deserialize<'de> for System<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match text_or_list(d, "a string or an array of text blocks")? {
            TextOrList::Text(t) if Marker::System.is(&t) => Self::Cached,
            TextOrList::Text(t) => Self::Text(t),
            TextOrList::List(bs) => Self::Blocks(bs),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct InputMessage<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub content: Content<'a>,
}

/// A message's `content`: a string or an array of content blocks.
#[derive(Debug)]
pub enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<ContentBlock<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_list(d, "a string or an array of content blocks").map(Self::from)
    }
}

/// One content block; read in one pass (`claude_block.rs`). Types the gateway does not map
/// (`document`, `search_result`, server tool blocks…) are [`ContentBlock::Other`].
#[derive(Debug)]
pub enum ContentBlock<'a> {
    Text { text: Cow<'a, str> },
    Image { source: ImageSource<'a> },
    ToolUse { id: Cow<'a, str>, name: Cow<'a, str>, input: Option<JsonText> },
    ToolResult { tool_use_id: Cow<'a, str>, content: Option<Content<'a>>, is_error: Option<bool> },
    Thinking { thinking: Cow<'a, str>, signature: Option<Cow<'a, str>> },
    RedactedThinking { data: Cow<'a, str> },
    Other,
}

/// An image block's `source` (`claude_block.rs`); other source types are `Other`.
#[derive(Debug)]
pub enum ImageSource<'a> {
    Base64 { media_type: Cow<'a, str>, data: Cow<'a, str> },
    Url { url: Cow<'a, str> },
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
