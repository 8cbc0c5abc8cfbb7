//! The store's own value types: what its operations take and return beyond the domain records
//! (`crate::domain`), plus its error, health and change-event types.

use crate::domain::{AccountDef, AccountState, AccountStatus, UsageScope};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An account as stored: definition (secrets included, decrypted) and runtime state.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    pub def: AccountDef,
    pub state: AccountState,
}

/// Field-wise increments for an account's hot counters (nothing else is rewritten).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDelta {
    pub requests: u64,
    pub successes: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// When set, `last_used_ms` becomes this value.
    pub last_used_ms: Option<u64>,
}

/// A UTC calendar day, as days since 1970-01-01. Displays as `YYYY-MM-DD`; Redis keys use
/// `YYYYMMDD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Day(pub u32);

impl Day {
    /// The day a wall-clock instant (ms since epoch) falls on.
    pub fn of_ms(ms: u64) -> Self {
        Self(u32::try_from(ms / 86_400_000).unwrap_or(u32::MAX))
    }

    pub fn today() -> Self {
        Self::of_ms(crate::domain::now_ms())
    }

    /// (year, month 1-12, day 1-31), Howard Hinnant's `civil_from_days`.
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
    }

    /// `YYYYMMDD`, the form used in key names.
    pub fn compact(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}{m:02}{d:02}")
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A held concurrency slot on one account; give it back with `release_slot`. If the holder dies
/// the slot expires by itself after the TTL it was acquired with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLease {
    pub account: String,
    pub token: String,
}

/// What a [`Hold`] applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldSubject {
    /// One account (with a model: that (account, model) pair).
    Account(String),
    /// A shared scope (`channel:team`): its whole cooldown, or one (scope, model) pair.
    Scope(String),
}

/// A deadline the pool keeps outside the account status: a scope's cooldown, or the
/// unavailability of one model on an account or a scope. Stored so it survives a restart and
/// reaches every instance (`StoreEvent::Hold`); a hold only ever moves later and is dropped once
/// `until_ms` has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub subject: HoldSubject,
    /// `None`: the whole subject (a scope cooldown). `Some`: only this model.
    #[serde(default)]
    pub model: Option<String>,
    /// Epoch ms.
    pub until_ms: u64,
    /// The pool's reason (`scope_rate_limit`, `model`, …).
    #[serde(default)]
    pub reason: String,
}

impl Hold {
    /// The hold's address: one live deadline per (subject, model). A JSON array, so names with
    /// any characters stay unambiguous.
    pub fn key(&self) -> String {
        let (kind, name) = match &self.subject {
            HoldSubject::Account(id) => ("account", id),
            HoldSubject::Scope(s) => ("scope", s),
        };
        serde_json::json!([kind, name, self.model]).to_string()
    }

    /// The prefix every [`Self::key`] of account `id` starts with.
    pub fn account_key_prefix(id: &str) -> String {
        let full = serde_json::json!(["account", id]).to_string();
        format!("{},", full.trim_end_matches(']'))
    }

    /// Checks the names used in the key.
    pub fn check(&self) -> Result<(), StoreError> {
        match &self.subject {
            HoldSubject::Account(id) => check_id("account", id)?,
            HoldSubject::Scope(s) if s.is_empty() || s.len() > 400 => {
                return Err(StoreError::Invalid(format!("a hold's scope must be 1-400 bytes, found {s:?}")));
            }
            HoldSubject::Scope(_) => {}
        }
        if self.model.as_ref().is_some_and(|m| m.is_empty() || m.len() > 400) {
            return Err(StoreError::Invalid("a hold's model must be 1-400 bytes".into()));
        }
        Ok(())
    }
}

/// One change, announced to every instance (`{prefix}events` in Redis mode) and delivered to
/// each instance's change feed ([`super::StoreHub::events`]) exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreEvent {
    /// An account definition was created or edited (reload it).
    AccountPut {
        id: String,
        revision: u64,
    },
    AccountDeleted {
        id: String,
    },
    /// Status changed: disabled, cooling until a deadline, or active again.
    AccountStatus {
        id: String,
        status: AccountStatus,
    },
    ModelPut {
        id: String,
    },
    ModelDeleted {
        id: String,
    },
    /// A client key was created or edited (e.g. disabled).
    KeyPut {
        id: String,
    },
    /// A client key was revoked.
    KeyDeleted {
        id: String,
    },
    SettingChanged {
        key: String,
    },
    /// A hold was set or moved later (scope cooldown, (account|scope, model) unavailability).
    Hold {
        hold: Hold,
    },
    /// This instance may have missed changes (its subscription was down): reload everything.
    Resync,
}

/// Whether the store is fully working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Serving from memory; durable writes may be refused. The string says why.
    Degraded(String),
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded(_) => "degraded",
        }
    }
}

/// Why a store operation failed. Every variant says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend cannot be reached (Redis down after retries, store thread gone). The write
    /// was NOT applied, or (`outcome_unknown`) it may or may not have been.
    Unavailable { reason: String, outcome_unknown: bool },
    /// Disk or socket failure.
    Io(String),
    /// Stored bytes could not be decoded.
    Corrupt(String),
    /// A field update or lookup named a record that does not exist.
    NotFound(String),
    /// The request itself is invalid (empty id, control characters, …).
    Invalid(String),
    /// Secrets could not be sealed or opened (missing or wrong `secret_key`).
    Secret(String),
    /// Another process holds the data directory.
    Locked(String),
    /// Redis refused our credentials.
    Auth(String),
    /// Redis answered with an error.
    Redis(String),
}

impl StoreError {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable { reason: reason.into(), outcome_unknown: false }
    }

    /// Low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "unavailable",
            Self::Io(_) => "io",
            Self::Corrupt(_) => "corrupt",
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid",
            Self::Secret(_) => "secret",
            Self::Locked(_) => "locked",
            Self::Auth(_) => "auth",
            Self::Redis(_) => "redis",
        }
    }

    /// The HTTP status an admin API would answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Invalid(_) => 400,
            Self::Unavailable { .. } => 503,
            _ => 500,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { reason, outcome_unknown: false } => {
                write!(f, "store unavailable, write not applied: {reason}")
            }
            Self::Unavailable { reason, outcome_unknown: true } => {
                write!(f, "store unavailable, write may or may not have been applied: {reason}")
            }
            Self::Io(s) => write!(f, "store i/o error: {s}"),
            Self::Corrupt(s) => write!(f, "stored data is corrupt: {s}"),
            Self::NotFound(s) => write!(f, "not found: {s}"),
            Self::Invalid(s) => write!(f, "invalid store request: {s}"),
            Self::Secret(s) => write!(f, "secret sealing failed: {s}"),
            Self::Locked(s) | Self::Auth(s) => f.write_str(s),
            Self::Redis(s) => write!(f, "redis error: {s}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Checks an id used in a key name: 1..=200 bytes, no control characters or whitespace.
pub fn check_id(what: &str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(StoreError::Invalid(format!(
            "{what} id must be 1-200 bytes without whitespace or control characters, found {id:?}"
        )));
    }
    Ok(())
}

/// A usage row's address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UsageKey {
    pub scope: UsageScope,
    pub day: Day,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_format_as_civil_dates() {
        assert_eq!(Day(0).to_string(), "1970-01-01");
        assert_eq!(Day(19_723).to_string(), "2024-01-01");
        assert_eq!(Day(19_782).compact(), "20240229");
        assert_eq!(Day::of_ms(86_400_000 * 3 + 5), Day(3));
    }

    #[test]
    fn hold_keys_are_unambiguous_and_prefixed_per_account() {
        let h = |subject, model: Option<&str>| Hold {
            subject,
            model: model.map(str::to_owned),
            until_ms: 1,
            reason: String::new(),
        };
        let a = h(HoldSubject::Account("a1".into()), Some("m:x"));
        assert_eq!(a.key(), r#"["account","a1","m:x"]"#);
        assert!(a.key().starts_with(&Hold::account_key_prefix("a1")));
        assert!(!h(HoldSubject::Account("a10".into()), Some("m")).key().starts_with(&Hold::account_key_prefix("a1")));
        assert_eq!(h(HoldSubject::Scope("grok:t 1".into()), None).key(), r#"["scope","grok:t 1",null]"#);
        assert!(h(HoldSubject::Account("a b".into()), None).check().is_err());
        assert!(h(HoldSubject::Scope(String::new()), None).check().is_err());
        let ev = StoreEvent::Hold { hold: a };
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<StoreEvent>(&text).unwrap(), ev);
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("account", "a-1").is_ok());
        assert!(check_id("account", "").is_err());
        assert!(check_id("account", "a b").is_err());
        assert!(check_id("account", "a\nb").is_err());
    }
}
