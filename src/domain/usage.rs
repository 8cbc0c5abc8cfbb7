//! Usage counters per (scope, id, day).

use serde::{Deserialize, Serialize};

/// What a usage row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageScope {
    Account,
    Key,
    Model,
}

impl UsageScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Key => "key",
            Self::Model => "model",
        }
    }
}

/// One day's totals for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UsageCounters {
    pub requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub errors: u64,
}
