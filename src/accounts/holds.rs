//! Holds between the pool and the store: scope cooldowns and (account|scope, model)
//! unavailability.
//!
//! - [`persist`]: a [`HoldChange`] the pool's setters reported becomes a store [`Hold`]
//!   (`put_hold`: kept only if later than the stored one, and then announced to every instance).
//! - [`apply`]: a [`Hold`] from the store (at start, on `Resync`, or announced by any instance,
//!   this one included) is applied to the snapshot's shared state through the pool's `restore_*`
//!   methods, which report nothing (no echo). Applying is idempotent: deadlines only move later.
//!   Holds naming an account or scope this instance does not have are ignored.

use crate::pool::{CoolReason, HoldChange, Snapshot};
use crate::store::{Hold, HoldSubject, Store, StoreApi};

/// The reason stored with an (account, model) hold.
pub const MODEL_REASON: &str = "model";
/// The reason stored with a (scope, model) hold.
pub const SCOPE_MODEL_REASON: &str = "scope_rate_limit";

/// The store form of a change; `None` when its account is no longer in `snap`.
pub fn to_hold(change: &HoldChange, snap: &Snapshot) -> Option<Hold> {
    Some(match change {
        HoldChange::ScopeCooling { scope, until_ms, reason } => Hold {
            subject: HoldSubject::Scope(scope.to_string()),
            model: None,
            until_ms: *until_ms,
            reason: reason.as_str().to_owned(),
        },
        HoldChange::ScopeModel { scope, model, until_ms } => Hold {
            subject: HoldSubject::Scope(scope.to_string()),
            model: Some(model.clone()),
            until_ms: *until_ms,
            reason: SCOPE_MODEL_REASON.to_owned(),
        },
        HoldChange::AccountModel { key, model, until_ms } => Hold {
            subject: HoldSubject::Account(snap.by_key(*key)?.id().to_owned()),
            model: Some(model.clone()),
            until_ms: *until_ms,
            reason: MODEL_REASON.to_owned(),
        },
    })
}

/// Writes one change to the store (logged on failure: the in-memory state is already right).
pub async fn persist(store: &Store, change: &HoldChange, snap: &Snapshot) {
    let Some(hold) = to_hold(change, snap) else { return };
    if let Err(e) = store.put_hold(&hold).await {
        log::warn!("accounts: cannot persist hold {}: {e}", hold.key());
    }
}

/// Applies a stored hold to `snap` (module docs).
pub fn apply(snap: &Snapshot, hold: &Hold, now_ms: u64) {
    match (&hold.subject, &hold.model) {
        (HoldSubject::Scope(name), None) => {
            if let Some(s) = snap.scope(name) {
                if hold.until_ms > now_ms {
                    s.restore_cooldown(hold.until_ms, CoolReason::parse(&hold.reason));
                }
            }
        }
        (HoldSubject::Scope(name), Some(model)) => {
            if let Some(s) = snap.scope(name) {
                s.restore_model_unavailable(model, hold.until_ms, now_ms);
            }
        }
        (HoldSubject::Account(id), Some(model)) => {
            if let Some(a) = snap.get(id) {
                a.shared().restore_model_unavailable(model, hold.until_ms, now_ms);
            }
        }
        // The account's own cooldown travels as its status, never as a hold.
        (HoldSubject::Account(_), None) => {}
    }
}

/// Loads every live hold from the store into `snap`; returns how many were applied.
pub async fn restore_all(store: &Store, snap: &Snapshot) -> usize {
    let now = crate::domain::now_ms();
    match store.list_holds(now).await {
        Ok(holds) => {
            for h in &holds {
                apply(snap, h, now);
            }
            holds.len()
        }
        Err(e) => {
            log::warn!("accounts: cannot load scope cooldowns and model holds from the store: {e}");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountDef, Channel};
    use crate::pool::Snapshot;

    const NOW: u64 = 1_700_000_000_000;

    fn def(id: &str, team: Option<&str>) -> AccountDef {
        let mut d: AccountDef =
            serde_json::from_value(serde_json::json!({"id": id, "channel": Channel::Grok})).unwrap();
        if let Some(t) = team {
            d.credentials.insert("team".into(), t.into());
        }
        d
    }

    #[test]
    fn changes_become_holds_and_holds_apply_back_without_echo() {
        let snap = Snapshot::build(vec![def("a", Some("t1")), def("b", None)], None).unwrap();
        let rx = snap.holds().receiver();
        let a = snap.get("a").unwrap();
        a.shared().mark_model_unavailable("m", NOW + 5_000, NOW);
        a.scope().unwrap().cool_scope(NOW + 9_000, CoolReason::ScopeRateLimit);
        let holds: Vec<Hold> = std::iter::from_fn(|| rx.try_recv().ok()).filter_map(|c| to_hold(&c, &snap)).collect();
        assert_eq!(holds[0].subject, HoldSubject::Account("a".into()));
        assert_eq!(
            (holds[0].model.as_deref(), holds[0].until_ms, holds[0].reason.as_str()),
            (Some("m"), NOW + 5_000, "model")
        );
        assert_eq!(holds[1].subject, HoldSubject::Scope("grok:t1".into()));
        assert_eq!((holds[1].model.as_deref(), holds[1].reason.as_str()), (None, "scope_rate_limit"));

        // Another instance's pool gets them through the store.
        let other = Snapshot::build(vec![def("a", Some("t1")), def("b", None)], None).unwrap();
        for h in &holds {
            apply(&other, h, NOW);
        }
        apply(
            &other,
            &Hold {
                subject: HoldSubject::Scope("grok:t1".into()),
                model: Some("x".into()),
                until_ms: NOW + 1,
                reason: String::new(),
            },
            NOW,
        );
        apply(
            &other,
            &Hold {
                subject: HoldSubject::Account("ghost".into()),
                model: Some("m".into()),
                until_ms: NOW + 1,
                reason: String::new(),
            },
            NOW,
        );
        let oa = other.get("a").unwrap();
        assert_eq!(oa.shared().model_unavailable_until("m", NOW), Some(NOW + 5_000));
        assert_eq!(oa.scope().unwrap().cooldown(NOW), Some((NOW + 9_000, CoolReason::ScopeRateLimit)));
        assert_eq!(oa.scope().unwrap().model_unavailable_until("x", NOW), Some(NOW + 1_000), "rounded up to a second");
        assert!(other.holds().receiver().try_recv().is_err(), "applying reports nothing");
    }
}
