//! One store test suite, run against both backends: the embedded store in a temp dir and the
//! Redis store against the real server at 127.0.0.1:6379 (unique prefix, purged afterwards).
#![expect(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::indexing_slicing,
    reason = "test code: failures should be loud; the suite reads as one story"
)]

pub mod support;

use orchids2api::domain::{
    AccountDef, AccountStatus, AdminSession, ClientKey, FailureClass, ModelDef, UsageCounters, UsageScope, now_ms,
};
use orchids2api::store::{CounterDelta, Day, StoreApi, StoreError, StoreEvent, StoreHub, StoreSettings, transfer};
use std::time::Duration;
use support::store::{PurgeOnDrop, redis_settings, run, temp_dir};

fn account(id: &str, secret: &str) -> AccountDef {
    serde_json::from_value(serde_json::json!({
        "id": id, "channel": "grok", "name": format!("acct {id}"),
        "credentials": {"api_key": secret}, "weight": 3, "revision": 1
    }))
    .unwrap()
}

fn model(id: &str) -> ModelDef {
    serde_json::from_value(serde_json::json!({"id": id, "channel": "grok", "aliases": [format!("{id}-alias")]}))
        .unwrap()
}

fn key(id: &str, hash: &str) -> ClientKey {
    serde_json::from_value(serde_json::json!({"id": id, "hash": hash, "name": "k", "prefix": "sk-ab"})).unwrap()
}

fn drain(hub: &StoreHub) -> Vec<StoreEvent> {
    let rx = hub.events();
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// The shared suite: every operation of the API, with the behaviour both backends must share.
async fn suite(hub: &StoreHub) {
    let s = hub.handle();
    assert!(s.health().is_ok(), "{:?}", s.health());

    // Accounts: definition with secrets, runtime state with field-level updates.
    assert_eq!(s.get_account("a1").await.unwrap(), None);
    s.put_account(&account("a1", "xai-secret-one-0123456789")).await.unwrap();
    s.put_account(&account("a2", "xai-secret-two-0123456789")).await.unwrap();
    let a1 = s.get_account("a1").await.unwrap().unwrap();
    assert_eq!(a1.def, account("a1", "xai-secret-one-0123456789"));
    assert_eq!(a1.state.status, AccountStatus::Active);

    let delta = CounterDelta { requests: 2, successes: 1, tokens_in: 100, tokens_out: 7, last_used_ms: Some(1234) };
    s.incr_counters("a1", &delta).await.unwrap();
    s.incr_counters("a1", &delta).await.unwrap();
    s.record_error("a1", FailureClass::RateLimit, "429 from upstream", 999).await.unwrap();
    s.record_error("a1", FailureClass::RateLimit, "429 again", 1000).await.unwrap();
    s.set_cooldown("a1", 5_000, "rate limited").await.unwrap();
    // A definition edit keeps runtime state.
    let mut edited = account("a1", "xai-secret-one-rotated-000");
    edited.revision = 2;
    s.put_account(&edited).await.unwrap();
    let a1 = s.get_account("a1").await.unwrap().unwrap();
    assert_eq!(a1.def.credentials["api_key"], "xai-secret-one-rotated-000");
    let c = &a1.state.counters;
    assert_eq!((c.requests, c.successes, c.tokens_in, c.tokens_out, c.last_used_ms), (4, 2, 200, 14, 1234));
    assert_eq!(c.failures.get("rate_limit"), Some(&2));
    assert_eq!((c.last_error.as_deref(), c.last_error_ms), (Some("429 again"), 1000));
    assert_eq!(a1.state.status, AccountStatus::Cooling { until_ms: 5_000, reason: "rate limited".into() });

    // Field updates on an unknown account are typed errors and create nothing.
    let missing = s.incr_counters("ghost", &delta).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    assert!(matches!(s.set_status("ghost", &AccountStatus::Active).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.get_account("ghost").await.unwrap(), None);
    assert!(matches!(s.put_account(&account("bad id", "x")).await, Err(StoreError::Invalid(_))));

    let ids: Vec<String> = s.list_accounts().await.unwrap().into_iter().map(|a| a.def.id).collect();
    assert_eq!(ids, ["a1", "a2"]);
    assert!(s.delete_account("a2").await.unwrap());
    assert!(!s.delete_account("a2").await.unwrap());
    assert_eq!(s.list_accounts().await.unwrap().len(), 1);

    // Models.
    s.put_model(&model("grok-4")).await.unwrap();
    s.put_model(&model("grok-3")).await.unwrap();
    let mut m = model("grok-4");
    m.enabled = false;
    s.put_model(&m).await.unwrap();
    assert_eq!(s.list_models().await.unwrap(), vec![model("grok-3"), m]);
    assert!(s.delete_model("grok-3").await.unwrap());
    assert_eq!(s.list_models().await.unwrap().len(), 1);

    // Client keys, found by hash; a hash can belong to one key only; re-hashing moves the index.
    s.put_key(&key("k1", "h1")).await.unwrap();
    s.put_key(&key("k2", "h2")).await.unwrap();
    assert_eq!(s.find_key_by_hash("h1").await.unwrap().map(|k| k.id), Some("k1".into()));
    assert!(matches!(s.put_key(&key("k3", "h1")).await, Err(StoreError::Invalid(_))));
    s.put_key(&key("k1", "h1b")).await.unwrap();
    assert_eq!(s.find_key_by_hash("h1").await.unwrap(), None);
    assert_eq!(s.find_key_by_hash("h1b").await.unwrap().map(|k| k.id), Some("k1".into()));
    assert_eq!(s.list_keys().await.unwrap().len(), 2);
    assert!(s.delete_key("k2").await.unwrap());
    assert_eq!(s.find_key_by_hash("h2").await.unwrap(), None);

    // Settings.
    assert_eq!(s.get_setting("theme").await.unwrap(), None);
    s.set_setting("theme", "dark").await.unwrap();
    s.set_setting("retries", "3").await.unwrap();
    assert_eq!(s.get_setting("theme").await.unwrap().as_deref(), Some("dark"));
    assert_eq!(s.list_settings().await.unwrap().len(), 2);

    // Admin sessions expire.
    let now = now_ms();
    let live = AdminSession {
        id_hash: "s1".into(),
        user: "admin".into(),
        csrf: "c".into(),
        created_ms: now,
        expires_ms: now + 60_000,
    };
    let dead = AdminSession { id_hash: "s2".into(), expires_ms: now.saturating_sub(1), ..live.clone() };
    s.put_session(&live).await.unwrap();
    s.put_session(&dead).await.unwrap();
    assert_eq!(s.get_session("s1").await.unwrap(), Some(live));
    assert_eq!(s.get_session("s2").await.unwrap(), None);
    assert!(s.delete_session("s1").await.unwrap());
    assert_eq!(s.get_session("s1").await.unwrap(), None);

    // Usage per scope, subject and day.
    let day = Day(20_000);
    let u = UsageCounters { requests: 1, tokens_in: 10, tokens_out: 5, errors: 0 };
    s.incr_usage(UsageScope::Account, "a1", day, &u).await.unwrap();
    s.incr_usage(UsageScope::Account, "a1", day, &u).await.unwrap();
    s.incr_usage(UsageScope::Model, "grok-4", day, &UsageCounters { errors: 1, ..u }).await.unwrap();
    s.incr_usage(UsageScope::Account, "a1", Day(20_001), &u).await.unwrap();
    let got = s.get_usage(UsageScope::Account, "a1", day).await.unwrap();
    assert_eq!(got, UsageCounters { requests: 2, tokens_in: 20, tokens_out: 10, errors: 0 });
    assert_eq!(s.get_usage(UsageScope::Key, "a1", day).await.unwrap(), UsageCounters::default());
    let listed = s.list_usage(UsageScope::Model, day).await.unwrap();
    assert_eq!(listed.get("grok-4").map(|u| u.errors), Some(1));

    // Concurrency slots.
    let ttl = Duration::from_secs(30);
    let l1 = s.acquire_slot("a1", 2, ttl).await.unwrap().unwrap();
    let _l2 = s.acquire_slot("a1", 2, ttl).await.unwrap().unwrap();
    assert_eq!(s.acquire_slot("a1", 2, ttl).await.unwrap(), None);
    s.release_slot(&l1).await.unwrap();
    assert!(s.acquire_slot("a1", 2, ttl).await.unwrap().is_some());
    assert!(s.acquire_slot("a1", 0, ttl).await.unwrap().is_some(), "cap 0 = unlimited");

    // Export redacts unless asked; import of a redacted export never writes masks.
    let red = transfer::export(&s, false).await.unwrap();
    assert!(!red.secrets);
    assert!(!serde_json::to_string(&red).unwrap().contains("rotated"));
    let full = transfer::export(&s, true).await.unwrap();
    assert!(serde_json::to_string(&full).unwrap().contains("xai-secret-one-rotated-000"));
    let mut doc = transfer::parse(&serde_json::to_string(&red).unwrap()).unwrap();
    doc.accounts.push(account("a9", "masked-anyway"));
    let report = transfer::import(&s, &doc).await.unwrap();
    assert_eq!(report.needs_credentials, ["a9"]);
    assert_eq!(s.get_account("a1").await.unwrap().unwrap().def.credentials["api_key"], "xai-secret-one-rotated-000");
    assert!(s.get_account("a9").await.unwrap().unwrap().def.credentials.is_empty());
    assert!(transfer::parse(r#"{"version":1,"secrets":false,"bogus":1}"#).is_err());

    // The change feed saw every announced change once, in order, and no hot-path noise.
    let events = drain(hub);
    let want_prefix = [
        StoreEvent::AccountPut { id: "a1".into(), revision: 1 },
        StoreEvent::AccountPut { id: "a2".into(), revision: 1 },
        StoreEvent::AccountStatus {
            id: "a1".into(),
            status: AccountStatus::Cooling { until_ms: 5_000, reason: "rate limited".into() },
        },
        StoreEvent::AccountPut { id: "a1".into(), revision: 2 },
        StoreEvent::AccountDeleted { id: "a2".into() },
    ];
    assert_eq!(&events[..want_prefix.len()], &want_prefix, "{events:#?}");
    assert!(events.contains(&StoreEvent::KeyDeleted { id: "k2".into() }));
    assert!(events.contains(&StoreEvent::SettingChanged { key: "theme".into() }));
    // Two puts, then the import put it once more.
    assert_eq!(events.iter().filter(|e| **e == StoreEvent::ModelPut { id: "grok-4".into() }).count(), 3);
    assert!(!events.contains(&StoreEvent::Resync));
}

#[test]
fn embedded_backend_passes_the_suite() {
    let dir = temp_dir("suite");
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    run(suite(&hub));
    hub.close();
    // Everything survives a restart (snapshot on close + log).
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    let s = hub.handle();
    run(async {
        let a1 = s.get_account("a1").await.unwrap().unwrap();
        assert_eq!(a1.state.counters.requests, 4);
        assert_eq!(s.get_setting("theme").await.unwrap().as_deref(), Some("dark"));
        assert_eq!(s.list_models().await.unwrap().len(), 1);
    });
    hub.close();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn redis_backend_passes_the_suite() {
    let settings = redis_settings("suite");
    let _cleanup = PurgeOnDrop(settings.clone());
    let hub = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    run(suite(&hub));
    hub.close();
}

#[test]
fn embedded_writes_are_committed_in_groups() {
    let dir = temp_dir("group");
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    let StoreHub::Embedded(inner) = &hub else { unreachable!() };
    let store = hub.handle();
    run(async {
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let s = store.clone();
                monoio::spawn(async move { s.set_setting(&format!("k{i}"), "v").await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        assert_eq!(store.list_settings().await.unwrap().len(), 400);
    });
    let (commits, writes) = inner.commit_stats();
    assert_eq!(writes, 400);
    assert!(commits * 4 <= writes, "{commits} fsyncs for {writes} concurrent writes: no group commit");
    hub.close();
    std::fs::remove_dir_all(&dir).ok();
}
