//! Client API keys as stored: never the key itself, only its hash and a display prefix.

use super::account::Channel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKey {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// First characters of the key, for display (`sk-abc…`).
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Empty = every channel.
    #[serde(default)]
    pub allowed_channels: Vec<Channel>,
    /// Empty = every model.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Requests per minute; 0 = unlimited.
    #[serde(default)]
    pub rate_limit_rpm: u32,
    #[serde(default)]
    pub created_ms: u64,
}

fn default_true() -> bool {
    true
}
