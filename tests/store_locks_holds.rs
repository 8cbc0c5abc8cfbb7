//! The store's short locks and holds, run against both backends (embedded in a temp dir; Redis
//! against the real server at 127.0.0.1:6379 with a unique prefix), plus two Redis instances
//! sharing one prefix: a lock held by one is refused to the other, and a hold set by one reaches
//! the other's change feed.

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::domain::{AccountDef, AccountStatus, now_ms};
use orchids2api::store::{Hold, HoldSubject, StoreApi, StoreEvent, StoreHub, StoreSettings};
use std::time::{Duration, Instant};
use support::store::{PurgeOnDrop, redis_settings, run, temp_dir};

const LONG: Duration = Duration::from_secs(60);

fn account(id: &str) -> AccountDef {
    serde_json::from_value(serde_json::json!({"id": id, "channel": "grok"})).unwrap()
}

fn hold(subject: HoldSubject, model: Option<&str>, until_ms: u64, reason: &str) -> Hold {
    Hold { subject, model: model.map(str::to_owned), until_ms, reason: reason.to_owned() }
}

fn drain(hub: &StoreHub) -> Vec<StoreEvent> {
    let rx = hub.events();
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn holds_of(events: &[StoreEvent]) -> Vec<Hold> {
    events
        .iter()
        .filter_map(|e| match e {
            StoreEvent::Hold { hold } => Some(hold.clone()),
            _ => None,
        })
        .collect()
}

/// The behaviour both backends share.
async fn suite(hub: &StoreHub) {
    let s = hub.handle();

    // Locks: one owner at a time; only the owner releases.
    assert!(s.try_lock("refresh:a", "owner-1", LONG).await.unwrap());
    assert!(!s.try_lock("refresh:a", "owner-2", LONG).await.unwrap(), "held by owner-1");
    assert!(s.try_lock("refresh:a", "owner-1", LONG).await.unwrap(), "asking again as the holder");
    assert!(s.try_lock("refresh:b", "owner-2", LONG).await.unwrap(), "locks are per name");
    assert!(!s.unlock("refresh:a", "owner-2").await.unwrap(), "not the owner: nothing released");
    assert!(!s.try_lock("refresh:a", "owner-2", LONG).await.unwrap());
    assert!(s.unlock("refresh:a", "owner-1").await.unwrap());
    assert!(!s.unlock("refresh:a", "owner-1").await.unwrap(), "already released");
    assert!(s.try_lock("refresh:a", "owner-2", LONG).await.unwrap(), "free again");
    assert!(s.try_lock("bad name", "o", LONG).await.is_err());

    // A lock whose holder never releases it frees itself after its TTL.
    assert!(s.try_lock("refresh:ttl", "dead-holder", Duration::from_millis(150)).await.unwrap());
    let start = Instant::now();
    let mut got = false;
    while start.elapsed() < Duration::from_secs(10) {
        if s.try_lock("refresh:ttl", "next", LONG).await.unwrap() {
            got = true;
            break;
        }
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(got, "an expired lock is taken by the next owner");

    // Holds: later deadlines win, announced only when they move.
    s.put_account(&account("h1")).await.unwrap();
    drain(hub);
    let now = now_ms();
    let acc = || HoldSubject::Account("h1".into());
    let scope = || HoldSubject::Scope("grok:team one".into());
    let h_model = hold(acc(), Some("grok-4"), now + 60_000, "model");
    s.put_hold(&h_model).await.unwrap();
    s.put_hold(&hold(acc(), Some("grok-4"), now + 30_000, "model")).await.unwrap();
    let h_scope = hold(scope(), None, now + 90_000, "scope_rate_limit");
    s.put_hold(&h_scope).await.unwrap();
    let h_scope_model = hold(scope(), Some("grok-4"), now + 45_000, "scope_rate_limit");
    s.put_hold(&h_scope_model).await.unwrap();
    s.put_hold(&hold(HoldSubject::Account("h1".into()), Some("gone"), now - 1, "model")).await.unwrap();
    assert!(s.put_hold(&hold(HoldSubject::Account("bad id".into()), None, now, "x")).await.is_err());
    let mut listed = s.list_holds(now).await.unwrap();
    listed.sort_by_key(Hold::key);
    let mut want = vec![h_model.clone(), h_scope.clone(), h_scope_model.clone()];
    want.sort_by_key(Hold::key);
    assert_eq!(listed, want, "the earlier deadline did not replace the later; the expired one is not listed");
    let announced = holds_of(&drain(hub));
    assert_eq!(announced.len(), 4, "the unchanged put announced nothing: {announced:?}");
    assert_eq!(announced[0], h_model);

    // Active again (an admin reset) ends the account's holds, not the scope's.
    s.set_status("h1", &AccountStatus::Active).await.unwrap();
    let mut listed = s.list_holds(now).await.unwrap();
    listed.sort_by_key(Hold::key);
    let mut want = vec![h_scope.clone(), h_scope_model.clone()];
    want.sort_by_key(Hold::key);
    assert_eq!(listed, want);
    s.put_hold(&h_model).await.unwrap();
    s.delete_account("h1").await.unwrap();
    assert_eq!(s.list_holds(now).await.unwrap().len(), 2, "deleting the account deletes its holds");
    // Listing at a later time drops what expired by then.
    assert_eq!(s.list_holds(now + 50_000).await.unwrap(), [h_scope]);
}

#[test]
fn embedded_locks_and_holds() {
    let dir = temp_dir("locks-emb");
    let hub = StoreHub::open_with(&StoreSettings::embedded(dir.clone())).unwrap();
    run(suite(&hub));
    // Holds survive a restart (expired ones are dropped at the snapshot).
    let before = run(async { hub.handle().list_holds(now_ms()).await.unwrap() });
    hub.close();
    let hub = StoreHub::open_with(&StoreSettings::embedded(dir.clone())).unwrap();
    let after = run(async { hub.handle().list_holds(now_ms()).await.unwrap() });
    assert_eq!(after, before);
    assert_eq!(after.len(), 2, "the scope cooldown and the (scope, model) hold");
    hub.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn redis_locks_and_holds() {
    let settings = redis_settings("locks");
    let _purge = PurgeOnDrop(settings.clone());
    let hub = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    run(suite(&hub));
    hub.close();
}

#[test]
fn redis_instances_share_locks_and_holds() {
    let settings = redis_settings("locks-multi");
    let _purge = PurgeOnDrop(settings.clone());
    let one = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    let two = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    let (a, b) = (one.handle(), two.handle());
    let events = two.events();
    run(async {
        assert!(a.try_lock("refresh:x", "instance-1", LONG).await.unwrap());
        assert!(!b.try_lock("refresh:x", "instance-2", LONG).await.unwrap(), "held by the other instance");
        assert!(!b.unlock("refresh:x", "instance-2").await.unwrap());
        assert!(a.unlock("refresh:x", "instance-1").await.unwrap());
        assert!(b.try_lock("refresh:x", "instance-2", LONG).await.unwrap());

        let h = hold(HoldSubject::Scope("grok:t".into()), None, now_ms() + 60_000, "scope_rate_limit");
        a.put_hold(&h).await.unwrap();
        let got = monoio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(StoreEvent::Hold { hold }) = events.recv().await {
                    return hold;
                }
            }
        })
        .await
        .expect("the hold never reached the other instance");
        assert_eq!(got, h);
        assert_eq!(b.list_holds(now_ms()).await.unwrap(), [h]);
    });
    one.close();
    two.close();
}
