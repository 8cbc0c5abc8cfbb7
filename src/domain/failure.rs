//! The closed set of failure classes from the failure-policy table in ARCHITECTURE.md. Every
//! upstream failure is classified into exactly one; each class has one policy (see `pool`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Connect / TLS / reset / timeout before the response head.
    Network,
    /// 401, expired or invalid token.
    Auth,
    /// 402, credits or quota exhausted.
    Quota,
    /// 429 for this account.
    RateLimit,
    /// 429 for a shared scope (team).
    RateLimitShared,
    /// 403, account blocked.
    Blocked,
    /// 404 / model not allowed for this account.
    Model,
    /// 400 invalid request, context too long: the client's fault, never retried.
    Client,
    /// 5xx, overloaded.
    Server,
    /// No first token within `ttft_timeout`.
    Slow,
}

impl FailureClass {
    pub const ALL: [Self; 10] = [
        Self::Network,
        Self::Auth,
        Self::Quota,
        Self::RateLimit,
        Self::RateLimitShared,
        Self::Blocked,
        Self::Model,
        Self::Client,
        Self::Server,
        Self::Slow,
    ];

    /// Low-cardinality label for metrics and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Auth => "auth",
            Self::Quota => "quota",
            Self::RateLimit => "rate_limit",
            Self::RateLimitShared => "rate_limit_shared",
            Self::Blocked => "blocked",
            Self::Model => "model",
            Self::Client => "client",
            Self::Server => "server",
            Self::Slow => "slow",
        }
    }

    /// Whether another account may be tried (while nothing was written to the client).
    pub fn retry_elsewhere(self) -> bool {
        !matches!(self, Self::Client)
    }
}
