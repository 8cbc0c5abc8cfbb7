//! Which grok surface an account speaks, read from its credentials (see `docs/channels/grok.md`):
//! `{"api_key": "xai-…"}` -> the official xAI API; `{"sso": "…", "cookies": "…"?}` -> the
//! grok.com web chat. An account with both is an API account (the key is the stable credential);
//! one with neither cannot be used, which is an `auth` failure (the operator must fix it).

use crate::channel::AttemptError;
use crate::domain::{AccountDef, FailureClass};

/// The credential kind, as named in `ModelDef::kinds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Api,
    Web,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Web => "web",
        }
    }
}

/// The credentials of one account, borrowed from its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creds<'a> {
    Api { key: &'a str },
    Web { sso: &'a str, cookies: Option<&'a str> },
}

impl<'a> Creds<'a> {
    /// Reads an account's credentials; a missing or unusable credential is an `auth` failure.
    pub fn of(account: &'a AccountDef) -> Result<Self, AttemptError> {
        let get = |k: &str| account.credentials.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(key) = get("api_key") {
            if crate::util::scan::any_byte(key.as_bytes(), |b| b <= b' ' || b == 0x7f) {
                return Err(bad(account, "its api_key contains spaces or control characters"));
            }
            return Ok(Self::Api { key });
        }
        if let Some(sso) = get("sso") {
            return Ok(Self::Web { sso, cookies: get("cookies") });
        }
        Err(bad(account, "it has neither an api_key nor an sso credential"))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Api { .. } => Kind::Api,
            Self::Web { .. } => Kind::Web,
        }
    }
}

/// The kind of an account without validating it (`None`: no usable credential).
pub fn kind_of(account: &AccountDef) -> Option<Kind> {
    Creds::of(account).ok().map(|c| c.kind())
}

fn bad(account: &AccountDef, why: &str) -> AttemptError {
    AttemptError::new(FailureClass::Auth, format!("grok account {} cannot be used: {why}", account.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn acct(pairs: &[(&str, &str)]) -> AccountDef {
        let mut a: AccountDef = serde_json::from_value(serde_json::json!({"id": "a1", "channel": "grok"})).unwrap();
        a.credentials = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>();
        a
    }

    #[test]
    fn kinds_follow_the_credentials() {
        assert_eq!(Creds::of(&acct(&[("api_key", "xai-1")])).unwrap(), Creds::Api { key: "xai-1" });
        assert_eq!(
            Creds::of(&acct(&[("sso", "t"), ("cookies", "a=b")])).unwrap(),
            Creds::Web { sso: "t", cookies: Some("a=b") }
        );
        assert_eq!(kind_of(&acct(&[("api_key", "k"), ("sso", "t")])), Some(Kind::Api));
        let e = Creds::of(&acct(&[("sso", "  ")])).unwrap_err();
        assert_eq!(e.class, FailureClass::Auth);
        assert!(!e.message.contains("  "));
        assert_eq!(Creds::of(&acct(&[("api_key", "xai\nX: y")])).unwrap_err().class, FailureClass::Auth);
    }
}
