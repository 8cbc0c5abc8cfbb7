//! Accounts: the upstream credentials the pool hands out, and their runtime state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An upstream channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Orchids,
    Warp,
    Grok,
}

impl Channel {
    pub const ALL: [Self; 3] = [Self::Orchids, Self::Warp, Self::Grok];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Orchids => "orchids",
            Self::Warp => "warp",
            Self::Grok => "grok",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "orchids" => Some(Self::Orchids),
            "warp" => Some(Self::Warp),
            "grok" => Some(Self::Grok),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_weight() -> u32 {
    1
}

fn default_true() -> bool {
    true
}

/// An account's definition: what an operator sets. `credentials` is channel-specific and secret
/// (e.g. `{"api_key": "xai-…"}` or `{"sso": "…", "cookies": "…"}` for grok); it is redacted in
/// every export and API response unless secrets are explicitly requested.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDef {
    pub id: String,
    pub channel: Channel,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// Relative share of traffic inside its priority tier (>= 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Higher tiers are tried first.
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Concurrent requests allowed on this account; 0 = unlimited.
    #[serde(default)]
    pub max_concurrency: u32,
    /// Per-account outbound proxy overriding `upstream_proxy`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Only these models (empty = any the channel serves).
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Never these models.
    #[serde(default)]
    pub denied_models: Vec<String>,
    #[serde(default)]
    pub notes: String,
    /// Creation time, ms since epoch.
    #[serde(default)]
    pub created_ms: u64,
    /// Bumped on every definition change (optimistic concurrency, change propagation).
    #[serde(default)]
    pub revision: u64,
}

impl fmt::Debug for AccountDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountDef")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("name", &self.name)
            .field("credentials", &self.credentials.keys().map(|k| (k, "***")).collect::<Vec<_>>())
            .field("weight", &self.weight)
            .field("priority", &self.priority)
            .field("enabled", &self.enabled)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}

impl AccountDef {
    /// Whether this account may serve `model` (allow/deny lists only; channel fit is the
    /// caller's business).
    pub fn allows_model(&self, model: &str) -> bool {
        if self.denied_models.iter().any(|m| m == model) {
            return false;
        }
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }

    /// A copy with every credential value replaced by a mask that keeps only a short hint.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        for v in out.credentials.values_mut() {
            *v = mask(v);
        }
        out
    }
}

/// `abcd…wxyz` for long secrets, `***` for short ones.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "***".to_owned();
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

/// Runtime status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum AccountStatus {
    #[default]
    Active,
    /// Skipped until `until_ms` (then active again by itself).
    Cooling { until_ms: u64, reason: String },
    /// Skipped until an operator (or a successful refresh) re-enables it.
    Disabled { reason: String },
}

/// Per-account counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counters {
    pub requests: u64,
    pub successes: u64,
    /// Failures by `FailureClass::as_str()`.
    pub failures: BTreeMap<String, u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub last_used_ms: u64,
    pub last_error: Option<String>,
    pub last_error_ms: u64,
}

/// Everything about an account that changes while serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccountState {
    pub status: AccountStatus,
    pub counters: Counters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_redaction() {
        let a: AccountDef =
            serde_json::from_str(r#"{"id":"a1","channel":"grok","credentials":{"api_key":"xai-0123456789abcdefXYZ"}}"#)
                .unwrap();
        assert_eq!(a.weight, 1);
        assert!(a.enabled);
        assert_eq!(a.redacted().credentials["api_key"], "xai-…fXYZ");
        assert!(!format!("{a:?}").contains("0123456789"));
    }

    #[test]
    fn model_lists() {
        let mut a: AccountDef = serde_json::from_str(r#"{"id":"a","channel":"warp"}"#).unwrap();
        assert!(a.allows_model("x"));
        a.allowed_models = vec!["x".into()];
        assert!(a.allows_model("x") && !a.allows_model("y"));
        a.denied_models = vec!["x".into()];
        assert!(!a.allows_model("x"));
    }
}
