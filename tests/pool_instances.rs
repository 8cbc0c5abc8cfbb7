//! The pool across instances, below the HTTP layer: two store clients (two instances, or two
//! independent pools on one embedded store), each with its own snapshot and shard.
//!
//! - Token refresh is single-flight across instances: both ask at once, the refresher runs once,
//!   the loser waits for the winner and adopts its stored definition (the old credentials are
//!   never sent twice), and the new definition is stored. Redis (the real server at
//!   127.0.0.1:6379, unique prefix) and embedded.
//! - A scope cooldown and an (account, model) hold set through the pool's setters on one
//!   instance are persisted and reach the other instance's shared state (Redis).

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::accounts::holds;
use orchids2api::accounts::lock::StoreLock;
use orchids2api::domain::{AccountDef, now_ms};
use orchids2api::pool::{
    Clock, CoolReason, NewCredentials, PoolConfig, RefreshError, Refresher, SelectRequest, Shard, Skip, Snapshot,
};
use orchids2api::store::{Store, StoreApi, StoreEvent, StoreHub, StoreSettings};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use support::store::{PurgeOnDrop, redis_settings, run, temp_dir};

/// Counts calls (shared by both instances: one token endpoint) and takes `delay` to answer.
struct Endpoint {
    calls: Rc<Cell<u32>>,
    delay: Duration,
}

impl Refresher for Endpoint {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError> {
        assert_eq!(account.credentials["token"], "old", "only the old credentials are ever refreshed");
        self.calls.set(self.calls.get() + 1);
        let n = self.calls.get();
        monoio::time::sleep(self.delay).await;
        Ok(NewCredentials {
            credentials: [("token".to_owned(), format!("new-{n}"))].into(),
            expires_ms: Some(now_ms() + 3_600_000),
        })
    }
}

fn account(id: &str, team: Option<&str>) -> AccountDef {
    let mut d: AccountDef = serde_json::from_value(serde_json::json!({
        "id": id, "channel": "grok", "credentials": {"token": "old", "refresh": "r1"}, "revision": 1
    }))
    .unwrap();
    if let Some(t) = team {
        d.credentials.insert("team".into(), t.into());
    }
    d
}

/// One instance's pool, built from what its store holds.
async fn pool(store: &Store) -> Shard {
    let defs: Vec<AccountDef> = store.list_accounts().await.unwrap().into_iter().map(|r| r.def).collect();
    Shard::new(Arc::new(Snapshot::build(defs, None).unwrap()), PoolConfig::default(), Clock::system())
}

async fn refresh_once_across(one: Store, two: Store) {
    one.put_account(&account("a", None)).await.unwrap();
    let (p1, p2) = (pool(&one).await, pool(&two).await);
    let (l1, l2) = (
        StoreLock::new(Some(one.clone()), Duration::from_secs(15)),
        StoreLock::new(Some(two.clone()), Duration::from_secs(15)),
    );
    let calls = Rc::new(Cell::new(0));
    let endpoint = Endpoint { calls: Rc::clone(&calls), delay: Duration::from_millis(300) };
    let (r1, r2) = monoio::join!(p1.refresh("a", &endpoint, &l1), p2.refresh("a", &endpoint, &l2));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(calls.get(), 1, "the token endpoint was called once for both instances");
    assert_eq!(u8::from(r1.leader) + u8::from(r2.leader), 1, "one instance refreshed, the other adopted");
    assert_eq!(r1.def.credentials["token"], "new-1");
    assert_eq!(r2.def.credentials["token"], "new-1");
    assert_eq!(r1.def.revision, r2.def.revision);
    let stored = two.get_account("a").await.unwrap().unwrap().def;
    assert_eq!(stored.credentials["token"], "new-1", "saved before the lock was released");
    assert_eq!(stored.credentials["refresh"], "r1");
    assert_eq!(stored.revision, 2);
    // Each instance now sends the new token.
    for p in [&p1, &p2] {
        let lease = p
            .acquire(
                &SelectRequest::new(orchids2api::domain::Channel::Grok, "m"),
                &mut orchids2api::pool::Attempt::new(1),
            )
            .unwrap();
        let def = p.ensure_fresh(&lease, &endpoint, &orchids2api::pool::LocalOnly).await.unwrap();
        assert_eq!(def.credentials["token"], "new-1");
    }
    assert_eq!(calls.get(), 1);
}

#[test]
fn redis_refresh_is_single_flight_across_instances() {
    let settings = redis_settings("refresh-multi");
    let _purge = PurgeOnDrop(settings.clone());
    let one = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    let two = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    run(refresh_once_across(one.handle(), two.handle()));
    one.close();
    two.close();
}

#[test]
fn embedded_refresh_is_single_flight_across_pools() {
    let dir = temp_dir("refresh-emb");
    let hub = StoreHub::open_with(&StoreSettings::embedded(dir.clone())).unwrap();
    run(refresh_once_across(hub.handle(), hub.handle()));
    hub.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn redis_scope_cooldowns_and_model_holds_reach_the_other_instance() {
    let settings = redis_settings("holds-multi");
    let _purge = PurgeOnDrop(settings.clone());
    let one = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    let two = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    let (s1, s2) = (one.handle(), two.handle());
    let feed2 = two.events();
    run(async {
        s1.put_account(&account("t1", Some("team-x"))).await.unwrap();
        s1.put_account(&account("t2", Some("team-x"))).await.unwrap();
        s1.put_account(&account("solo", None)).await.unwrap();
        let (p1, p2) = (pool(&s1).await, pool(&s2).await);
        while feed2.try_recv().is_ok() {}

        // Instance 1: a team-wide 429 and a model the solo account lacks, through the setters.
        let now = now_ms();
        let snap1 = p1.snapshot();
        let until = snap1.get("t1").unwrap().scope().unwrap().cool_scope(now + 60_000, CoolReason::ScopeRateLimit);
        snap1.get("solo").unwrap().shared().mark_model_unavailable("grok-4", now + 120_000, now);
        let rx = snap1.holds().receiver();
        for change in std::iter::from_fn(|| rx.try_recv().ok()) {
            holds::persist(&s1, &change, &snap1).await;
        }

        // Instance 2 gets both from its change feed and applies them.
        let snap2 = p2.snapshot();
        let mut applied = 0;
        let got = monoio::time::timeout(Duration::from_secs(5), async {
            while applied < 2 {
                if let Ok(StoreEvent::Hold { hold }) = feed2.recv().await {
                    holds::apply(&snap2, &hold, now_ms());
                    applied += 1;
                }
            }
        })
        .await;
        assert!(got.is_ok(), "only {applied} hold(s) reached instance 2");
        assert_eq!(
            snap2.get("t2").unwrap().scope().unwrap().cooldown(now_ms()),
            Some((until, CoolReason::ScopeRateLimit))
        );
        assert!(snap2.get("solo").unwrap().shared().model_unavailable_until("grok-4", now_ms()).is_some());
        let ex = p2.explain(orchids2api::domain::Channel::Grok, "grok-4", &|_| true);
        let skip = |id: &str| ex.accounts.iter().find(|r| r.id == id).unwrap().skip;
        assert!(matches!(skip("t1"), Some(Skip::ScopeCooling { .. })), "{:?}", skip("t1"));
        assert!(matches!(skip("t2"), Some(Skip::ScopeCooling { .. })), "{:?}", skip("t2"));
        assert!(matches!(skip("solo"), Some(Skip::ModelUnavailable { .. })), "{:?}", skip("solo"));

        // A new instance loads them at start.
        let p3 = pool(&s2).await;
        assert_eq!(holds::restore_all(&s2, &p3.snapshot()).await, 2);
        assert!(p3.snapshot().get("t1").unwrap().scope().unwrap().cooldown(now_ms()).is_some());
    });
    one.close();
    two.close();
}
