//! Model table entries: what clients ask for and what each channel's upstream calls it.

use super::account::Channel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[expect(clippy::struct_excessive_bools, reason = "independent capability flags, serialised as such")]
pub struct Capabilities {
    pub vision: bool,
    pub tools: bool,
    pub thinking: bool,
    pub image: bool,
}

fn default_true() -> bool {
    true
}

/// One model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// The id clients send and `/v1/models` lists.
    pub id: String,
    pub channel: Channel,
    /// The id sent upstream (defaults to `id`).
    #[serde(default)]
    pub upstream_id: String,
    /// Other names that resolve to this model.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Credential kinds that can serve it (e.g. grok `api` / `web`); empty = every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Display name (Anthropic list shape).
    #[serde(default)]
    pub display_name: String,
    /// Creation time, seconds since epoch (OpenAI `created`).
    #[serde(default)]
    pub created: u64,
}

impl ModelDef {
    /// The id to send upstream.
    pub fn upstream(&self) -> &str {
        if self.upstream_id.is_empty() { &self.id } else { &self.upstream_id }
    }

    /// Whether `name` is this model's id or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }
}
