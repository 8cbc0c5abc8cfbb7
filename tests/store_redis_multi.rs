//! Several instances on one Redis: change propagation through pub/sub (< 1 s), shared
//! concurrency caps, and Redis going away and coming back (a throwaway redis-server).
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::domain::{AccountDef, AccountStatus, ClientKey, ModelDef};
use orchids2api::store::{CounterDelta, RedisSettings, StoreApi, StoreError, StoreEvent, StoreHub, StoreSettings};
use std::time::{Duration, Instant};
use support::store::{PurgeOnDrop, TempRedis, free_port, redis_settings, run};

fn account(id: &str) -> AccountDef {
    serde_json::from_str(&format!(
        r#"{{"id":"{id}","channel":"warp","credentials":{{"refresh_token":"rt-secret-value"}}}}"#
    ))
    .unwrap()
}

/// Waits (bounded) for `want` on `hub`'s feed, skipping anything else; returns how long it took.
async fn expect_event(hub: &StoreHub, want: &StoreEvent) -> Duration {
    let rx = hub.events();
    let start = Instant::now();
    loop {
        match monoio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Ok(ev)) if ev == *want => return start.elapsed(),
            Ok(Ok(_)) => {}
            other => panic!("waiting for {want:?}: {other:?}"),
        }
    }
}

/// Polls `f` (bounded) on the runtime's timer.
async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[test]
fn changes_reach_the_other_instance_within_a_second_and_caps_are_shared() {
    let settings = redis_settings("multi");
    let _cleanup = PurgeOnDrop(settings.clone());
    let a = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    let b = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    run(async {
        let (sa, sb) = (a.handle(), b.handle());
        sa.put_account(&account("acc1")).await.unwrap();
        expect_event(&b, &StoreEvent::AccountPut { id: "acc1".into(), revision: 0 }).await;

        // Account disabled, cooldown set, key revoked, model edited, setting changed.
        let disabled = AccountStatus::Disabled { reason: "blocked".into() };
        sa.set_status("acc1", &disabled).await.unwrap();
        let took = expect_event(&b, &StoreEvent::AccountStatus { id: "acc1".into(), status: disabled }).await;
        assert!(took < Duration::from_secs(1), "disable took {took:?}");

        sa.set_cooldown("acc1", 42, "429").await.unwrap();
        let cooling = AccountStatus::Cooling { until_ms: 42, reason: "429".into() };
        let took = expect_event(&b, &StoreEvent::AccountStatus { id: "acc1".into(), status: cooling.clone() }).await;
        assert!(took < Duration::from_secs(1), "cooldown took {took:?}");

        let k: ClientKey = serde_json::from_str(r#"{"id":"k1","hash":"abc"}"#).unwrap();
        sa.put_key(&k).await.unwrap();
        sa.delete_key("k1").await.unwrap();
        let took = expect_event(&b, &StoreEvent::KeyDeleted { id: "k1".into() }).await;
        assert!(took < Duration::from_secs(1), "revocation took {took:?}");

        let m: ModelDef = serde_json::from_str(r#"{"id":"grok-4","channel":"grok"}"#).unwrap();
        sa.put_model(&m).await.unwrap();
        let took = expect_event(&b, &StoreEvent::ModelPut { id: "grok-4".into() }).await;
        assert!(took < Duration::from_secs(1), "model edit took {took:?}");

        sa.set_setting("mode", "strict").await.unwrap();
        let took = expect_event(&b, &StoreEvent::SettingChanged { key: "mode".into() }).await;
        assert!(took < Duration::from_secs(1), "setting took {took:?}");

        // The state is shared, too.
        assert_eq!(sb.get_account("acc1").await.unwrap().unwrap().state.status, cooling);
        // Own changes are fed once locally, never echoed back a second time.
        let own: Vec<StoreEvent> = std::iter::from_fn(|| a.events().try_recv().ok()).collect();
        assert_eq!(
            own.iter().filter(|e| **e == StoreEvent::SettingChanged { key: "mode".into() }).count(),
            1,
            "{own:?}"
        );

        // A cap of 2 holds across both instances.
        let ttl = Duration::from_secs(30);
        let l1 = sa.acquire_slot("acc1", 2, ttl).await.unwrap().unwrap();
        let _l2 = sb.acquire_slot("acc1", 2, ttl).await.unwrap().unwrap();
        assert_eq!(sa.acquire_slot("acc1", 2, ttl).await.unwrap(), None);
        assert_eq!(sb.acquire_slot("acc1", 2, ttl).await.unwrap(), None);
        sa.release_slot(&l1).await.unwrap();
        assert!(sb.acquire_slot("acc1", 2, ttl).await.unwrap().is_some());
        // A holder that never releases: its slot frees itself after the TTL.
        let short = Duration::from_millis(300);
        assert!(sa.acquire_slot("acc2x", 1, short).await.unwrap().is_some());
        assert_eq!(sb.acquire_slot("acc2x", 1, short).await.unwrap(), None);
        assert!(
            eventually(Duration::from_secs(5), async || sb.acquire_slot("acc2x", 1, short).await.unwrap().is_some())
                .await
        );
    });
    a.close();
    b.close();
}

#[test]
fn redis_going_away_degrades_refuses_writes_and_resumes() {
    let port = free_port();
    let mut redis = TempRedis::start(port);
    let settings = RedisSettings {
        addr: format!("127.0.0.1:{port}"),
        timeout: Duration::from_millis(500),
        retry: Duration::from_millis(400),
        ..redis_settings("restart")
    };
    let hub = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap();
    run(async {
        let s = hub.handle();
        s.put_account(&account("r1")).await.unwrap();
        assert!(hub.health().is_ok());

        redis.kill();
        let degraded = eventually(Duration::from_secs(5), async || !hub.health().is_ok()).await;
        assert!(degraded, "health never turned degraded");
        assert!(!s.health().is_ok());
        // Writes are retried for `retry`, then refused with a typed error; never silently dropped.
        let started = Instant::now();
        let err = s.set_setting("x", "1").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { outcome_unknown: false, .. }), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(300), "refused without retrying");
        assert!(err.to_string().contains("not applied"), "{err}");
        let err = s.incr_counters("r1", &CounterDelta::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");

        // Redis comes back (empty: it had no persistence): health recovers, writes resume, and
        // the feed says to resync because changes may have been missed.
        let _back = TempRedis::start(port);
        let healthy = eventually(Duration::from_secs(10), async || hub.health().is_ok()).await;
        assert!(healthy, "health never recovered: {:?}", hub.health());
        expect_event(&hub, &StoreEvent::Resync).await;
        s.set_setting("x", "2").await.unwrap();
        assert_eq!(s.get_setting("x").await.unwrap().as_deref(), Some("2"));
    });
    hub.close();
}

#[test]
fn bad_credentials_and_unreachable_redis_fail_the_open_clearly() {
    let port = free_port();
    let _redis = {
        // A server that requires a password.
        let r = TempRedis::start(port);
        run(async {
            let hub = StoreHub::open_with(&StoreSettings::redis(RedisSettings {
                addr: format!("127.0.0.1:{port}"),
                ..RedisSettings::default()
            }))
            .unwrap();
            let s = hub.handle();
            if let orchids2api::store::Store::Redis(r) = &s {
                r.client()
                    .exec1(vec![b"CONFIG".to_vec(), b"SET".to_vec(), b"requirepass".to_vec(), b"pw-123".to_vec()], true)
                    .await
                    .unwrap();
            }
            hub.close();
        });
        r
    };
    let wrong = RedisSettings {
        addr: format!("127.0.0.1:{port}"),
        password: orchids2api::config::Secret::new("nope"),
        ..RedisSettings::default()
    };
    let err = StoreHub::open_with(&StoreSettings::redis(wrong.clone())).unwrap_err();
    assert!(matches!(err, StoreError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("refused our credentials"), "{err}");
    let right = RedisSettings { password: orchids2api::config::Secret::new("pw-123"), ..wrong };
    assert!(StoreHub::open_with(&StoreSettings::redis(right)).is_ok());

    let nowhere = RedisSettings {
        addr: format!("127.0.0.1:{}", free_port()),
        timeout: Duration::from_millis(300),
        ..RedisSettings::default()
    };
    let err = StoreHub::open_with(&StoreSettings::redis(nowhere)).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}
