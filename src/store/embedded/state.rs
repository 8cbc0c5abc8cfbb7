//! The embedded store's in-memory state, and the operations that change it.
//!
//! Every change is an [`Op`]: validated and applied here, then appended to the log by the store
//! thread. Replaying the same ops onto a snapshot rebuilds the same state, so `apply` must be
//! deterministic (timestamps travel inside the op, never read from the clock here).

use crate::domain::{
    AccountDef, AccountState, AccountStatus, AdminSession, ClientKey, FailureClass, ModelDef, UsageCounters, UsageScope,
};
use crate::store::types::{CounterDelta, Day, Hold, HoldSubject, StoreError, StoreEvent, UsageKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An account as held on disk: definition without secrets, the stored (maybe sealed)
/// credentials, and runtime state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAccount {
    pub def: AccountDef,
    pub creds: String,
    #[serde(default)]
    pub state: AccountState,
}

/// One logged change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    PutAccount { def: AccountDef, creds: String },
    DeleteAccount { id: String },
    SetStatus { id: String, status: AccountStatus },
    IncrCounters { id: String, delta: CounterDelta },
    RecordError { id: String, class: FailureClass, message: String, at_ms: u64 },
    PutModel { model: ModelDef },
    DeleteModel { id: String },
    PutKey { key: ClientKey },
    DeleteKey { id: String },
    SetSetting { key: String, value: String },
    PutSession { session: AdminSession },
    DeleteSession { id_hash: String },
    IncrUsage { key: UsageKey, delta: UsageCounters },
    PutHold { hold: Hold },
}

impl Op {
    /// The change-feed event this op announces, if any (hot counters announce nothing).
    pub fn event(&self) -> Option<StoreEvent> {
        Some(match self {
            Self::PutAccount { def, .. } => StoreEvent::AccountPut { id: def.id.clone(), revision: def.revision },
            Self::DeleteAccount { id } => StoreEvent::AccountDeleted { id: id.clone() },
            Self::SetStatus { id, status } => StoreEvent::AccountStatus { id: id.clone(), status: status.clone() },
            Self::PutModel { model } => StoreEvent::ModelPut { id: model.id.clone() },
            Self::DeleteModel { id } => StoreEvent::ModelDeleted { id: id.clone() },
            Self::PutKey { key } => StoreEvent::KeyPut { id: key.id.clone() },
            Self::DeleteKey { id } => StoreEvent::KeyDeleted { id: id.clone() },
            Self::SetSetting { key, .. } => StoreEvent::SettingChanged { key: key.clone() },
            Self::PutHold { hold } => StoreEvent::Hold { hold: hold.clone() },
            Self::IncrCounters { .. }
            | Self::RecordError { .. }
            | Self::PutSession { .. }
            | Self::DeleteSession { .. }
            | Self::IncrUsage { .. } => return None,
        })
    }
}

/// What an applied op answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// For deletes: whether there was something to delete.
    Existed(bool),
    /// Nothing changed (a hold no later than the stored one): not logged, not announced.
    Unchanged,
}

/// Everything the embedded store holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub accounts: BTreeMap<String, StoredAccount>,
    pub models: BTreeMap<String, ModelDef>,
    pub keys: BTreeMap<String, ClientKey>,
    pub settings: BTreeMap<String, String>,
    pub sessions: BTreeMap<String, AdminSession>,
    /// Serialised as a list: JSON object keys must be strings.
    #[serde(with = "usage_list")]
    pub usage: BTreeMap<UsageKey, UsageCounters>,
    /// Holds by [`Hold::key`] (absent in snapshots written before holds existed).
    #[serde(default)]
    pub holds: BTreeMap<String, Hold>,
}

impl State {
    /// Validates and applies one op. On `Err` nothing changed.
    pub fn apply(&mut self, op: &Op) -> Result<Applied, StoreError> {
        match op {
            Op::PutAccount { def, creds } => {
                let entry = self.accounts.entry(def.id.clone()).or_insert_with(|| StoredAccount {
                    def: def.clone(),
                    creds: String::new(),
                    state: AccountState::default(),
                });
                entry.def = def.clone();
                entry.creds.clone_from(creds);
            }
            Op::DeleteAccount { id } => {
                self.clear_account_holds(id);
                return Ok(Applied::Existed(self.accounts.remove(id).is_some()));
            }
            Op::SetStatus { id, status } => {
                self.account(id)?.state.status = status.clone();
                // Active again (an admin reset) also ends the account's model holds.
                if *status == AccountStatus::Active {
                    self.clear_account_holds(id);
                }
            }
            Op::IncrCounters { id, delta } => {
                let c = &mut self.account(id)?.state.counters;
                c.requests = c.requests.saturating_add(delta.requests);
                c.successes = c.successes.saturating_add(delta.successes);
                c.tokens_in = c.tokens_in.saturating_add(delta.tokens_in);
                c.tokens_out = c.tokens_out.saturating_add(delta.tokens_out);
                if let Some(t) = delta.last_used_ms {
                    c.last_used_ms = t;
                }
            }
            Op::RecordError { id, class, message, at_ms } => {
                let c = &mut self.account(id)?.state.counters;
                let n = c.failures.entry(class.as_str().to_owned()).or_insert(0);
                *n = n.saturating_add(1);
                c.last_error = Some(message.clone());
                c.last_error_ms = *at_ms;
            }
            Op::PutModel { model } => {
                self.models.insert(model.id.clone(), model.clone());
            }
            Op::DeleteModel { id } => {
                return Ok(Applied::Existed(self.models.remove(id).is_some()));
            }
            Op::PutKey { key } => {
                if let Some(other) = self.keys.values().find(|k| k.hash == key.hash && k.id != key.id) {
                    return Err(StoreError::Invalid(format!("key hash already belongs to key {:?}", other.id)));
                }
                self.keys.insert(key.id.clone(), key.clone());
            }
            Op::DeleteKey { id } => return Ok(Applied::Existed(self.keys.remove(id).is_some())),
            Op::SetSetting { key, value } => {
                self.settings.insert(key.clone(), value.clone());
            }
            Op::PutSession { session } => {
                self.sessions.insert(session.id_hash.clone(), session.clone());
            }
            Op::DeleteSession { id_hash } => {
                return Ok(Applied::Existed(self.sessions.remove(id_hash).is_some()));
            }
            Op::IncrUsage { key, delta } => {
                let u = self.usage.entry(key.clone()).or_default();
                u.requests = u.requests.saturating_add(delta.requests);
                u.tokens_in = u.tokens_in.saturating_add(delta.tokens_in);
                u.tokens_out = u.tokens_out.saturating_add(delta.tokens_out);
                u.errors = u.errors.saturating_add(delta.errors);
            }
            Op::PutHold { hold } => {
                let key = hold.key();
                if self.holds.get(&key).is_some_and(|h| h.until_ms >= hold.until_ms) {
                    return Ok(Applied::Unchanged);
                }
                self.holds.insert(key, hold.clone());
            }
        }
        Ok(Applied::Done)
    }

    fn clear_account_holds(&mut self, id: &str) {
        self.holds.retain(|_, h| h.subject != HoldSubject::Account(id.to_owned()));
    }

    fn account(&mut self, id: &str) -> Result<&mut StoredAccount, StoreError> {
        self.accounts.get_mut(id).ok_or_else(|| StoreError::NotFound(format!("account {id:?}")))
    }

    /// Drops sessions and holds that expired before `now_ms` (done before each snapshot).
    pub fn purge_expired(&mut self, now_ms: u64) {
        self.sessions.retain(|_, s| s.expires_ms > now_ms);
        self.holds.retain(|_, h| h.until_ms > now_ms);
    }

    pub fn usage_of(&self, scope: UsageScope, day: Day) -> BTreeMap<String, UsageCounters> {
        self.usage.iter().filter(|(k, _)| k.scope == scope && k.day == day).map(|(k, v)| (k.id.clone(), *v)).collect()
    }
}

mod usage_list {
    use super::{UsageCounters, UsageKey};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub(super) fn serialize<S: Serializer>(m: &BTreeMap<UsageKey, UsageCounters>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<UsageKey, UsageCounters>, D::Error> {
        Ok(Vec::<(UsageKey, UsageCounters)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str) -> AccountDef {
        serde_json::from_str(&format!(r#"{{"id":"{id}","channel":"grok"}}"#)).unwrap()
    }

    #[test]
    fn field_updates_need_the_account_and_keep_the_rest() {
        let mut s = State::default();
        let incr = Op::IncrCounters { id: "a".into(), delta: CounterDelta { requests: 2, ..Default::default() } };
        assert!(matches!(s.apply(&incr), Err(StoreError::NotFound(_))));
        s.apply(&Op::PutAccount { def: def("a"), creds: "{}".into() }).unwrap();
        s.apply(&incr).unwrap();
        s.apply(&incr).unwrap();
        s.apply(&Op::PutAccount { def: def("a"), creds: "{\"k\":\"v\"}".into() }).unwrap();
        assert_eq!(s.accounts["a"].state.counters.requests, 4, "a definition put keeps runtime state");
        assert_eq!(s.apply(&Op::DeleteAccount { id: "a".into() }).unwrap(), Applied::Existed(true));
        assert_eq!(s.apply(&Op::DeleteAccount { id: "a".into() }).unwrap(), Applied::Existed(false));
    }

    #[test]
    fn holds_only_move_later_and_end_with_a_reset() {
        let mut s = State::default();
        s.apply(&Op::PutAccount { def: def("a"), creds: "{}".into() }).unwrap();
        let hold = |subject, until_ms| Op::PutHold {
            hold: Hold { subject, model: Some("m".into()), until_ms, reason: "model".into() },
        };
        let acc = || HoldSubject::Account("a".into());
        assert_eq!(s.apply(&hold(acc(), 100)).unwrap(), Applied::Done);
        assert_eq!(s.apply(&hold(acc(), 50)).unwrap(), Applied::Unchanged);
        assert_eq!(s.apply(&hold(HoldSubject::Scope("grok:t".into()), 70)).unwrap(), Applied::Done);
        assert_eq!(s.holds.values().map(|h| h.until_ms).collect::<Vec<_>>(), [100, 70]);
        s.purge_expired(80);
        assert_eq!(s.holds.len(), 1, "the scope hold ended at 70");
        s.apply(&Op::SetStatus { id: "a".into(), status: AccountStatus::Active }).unwrap();
        assert!(s.holds.is_empty(), "active again clears the account's holds");
        // Old snapshots without holds still load.
        let old: State =
            serde_json::from_str(r#"{"accounts":{},"models":{},"keys":{},"settings":{},"sessions":{},"usage":[]}"#)
                .unwrap();
        assert!(old.holds.is_empty());
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut s = State::default();
        s.apply(&Op::IncrUsage {
            key: UsageKey { scope: UsageScope::Model, day: Day(5), id: "m".into() },
            delta: UsageCounters { requests: 1, ..Default::default() },
        })
        .unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
    }
}
