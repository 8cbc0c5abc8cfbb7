//! What a classified upstream failure applies to: this account, this account for one model, a
//! shared team, the whole channel surface, or nothing (the request itself was wrong).
//!
//! Channels decide the scope while classifying (they read the upstream's text; e.g. grok's
//! `classify` tells a per-account 429 from a team 429 and a Cloudflare challenge). The pool
//! applies it in [`super::policy`]; the scope refines the class, it never replaces it:
//!
//! | class | scope | what cools |
//! |---|---|---|
//! | `rate_limit` | `account` | the account |
//! | `rate_limit` | `account_model` | (account, model) only: the account keeps serving other models |
//! | `rate_limit_shared` | `team` | the team's scope for the model (every account carrying that team), and (account, model) when the account is not a known member |
//! | `rate_limit_shared` | `channel` | the account's channel surface (every account of the same channel and credential kind) |
//! | `model` | `account_model` | (account, model) |
//! | any | `request` | nothing (counted only) |
//!
//! Every other combination is the class's own row (`docs/failover.md`).

use crate::domain::FailureClass;

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FailureScope {
    /// The account that made the call.
    #[default]
    Account,
    /// This account, for the request's model only.
    AccountModel,
    /// A limit shared by every account of a team. `team` is the team id as the upstream named it
    /// (`None`: the account's own `team` credential, if any).
    Team { team: Option<String> },
    /// The whole channel surface (e.g. grok.com refusing the gateway's browser context): no
    /// single account is at fault, so every account of that surface pauses.
    Channel,
    /// Nothing to cool: the request itself was wrong.
    Request,
}

impl FailureScope {
    /// The scope a failure has when its channel named none: `rate_limit_shared` is the
    /// account's team, `model` the (account, model) pair, `client` the request, the rest the
    /// account.
    pub fn default_for(class: FailureClass) -> Self {
        match class {
            FailureClass::RateLimitShared => Self::Team { team: None },
            FailureClass::Model => Self::AccountModel,
            FailureClass::Client => Self::Request,
            _ => Self::Account,
        }
    }

    /// A short label for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::AccountModel => "account_model",
            Self::Team { .. } => "team",
            Self::Channel => "channel",
            Self::Request => "request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_class() {
        assert_eq!(FailureScope::default_for(FailureClass::RateLimitShared), FailureScope::Team { team: None });
        assert_eq!(FailureScope::default_for(FailureClass::Model), FailureScope::AccountModel);
        assert_eq!(FailureScope::default_for(FailureClass::Client), FailureScope::Request);
        for c in [FailureClass::RateLimit, FailureClass::Auth, FailureClass::Server, FailureClass::Quota] {
            assert_eq!(FailureScope::default_for(c), FailureScope::Account, "{c:?}");
        }
        assert_eq!(FailureScope::Team { team: Some("t".into()) }.label(), "team");
    }
}
