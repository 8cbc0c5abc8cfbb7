//! Secrets at rest (both backends), SELECT of `redis_db`, and the reply timeout against a
//! server that never answers.
#![expect(clippy::unwrap_used, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::domain::AccountDef;
use orchids2api::store::secret::SecretBox;
use orchids2api::store::{RedisSettings, Store, StoreApi, StoreError, StoreHub, StoreSettings};
use std::time::{Duration, Instant};
use support::store::{PurgeOnDrop, redis_settings, run, temp_dir};

const KEY: &str = "8f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
const SECRET: &str = "sso-cookie-VERY-SECRET-0123456789";

fn account() -> AccountDef {
    serde_json::from_str(&format!(r#"{{"id":"s1","channel":"grok","credentials":{{"sso":"{SECRET}"}}}}"#)).unwrap()
}

fn dir_contains(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .any(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).contains(needle))
}

#[test]
fn embedded_seals_credentials_when_a_key_is_set() {
    let dir = temp_dir("sealed");
    let mut settings = StoreSettings::embedded(&dir);
    settings.secrets = SecretBox::from_hex(KEY).unwrap();
    let hub = StoreHub::open_with(&settings).unwrap();
    run(hub.handle().put_account(&account())).unwrap();
    assert!(!dir_contains(&dir, SECRET), "the secret is on disk in clear");
    hub.close();
    assert!(!dir_contains(&dir, SECRET), "the snapshot holds the secret in clear");
    // Reopened with the key: readable. Without it: a typed error, never the sealed bytes.
    let hub = StoreHub::open_with(&settings).unwrap();
    assert_eq!(run(hub.handle().get_account("s1")).unwrap().unwrap().def.credentials["sso"], SECRET);
    hub.close();
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    assert!(matches!(run(hub.handle().get_account("s1")), Err(StoreError::Secret(_))));
    hub.close();
    // Without a key at all, the secret is stored as plain JSON (documented threat model).
    let plain_dir = temp_dir("plain");
    let hub = StoreHub::open_with(&StoreSettings::embedded(&plain_dir)).unwrap();
    run(hub.handle().put_account(&account())).unwrap();
    assert!(dir_contains(&plain_dir, SECRET));
    hub.close();
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&plain_dir).ok();
}

#[test]
fn redis_seals_credentials_and_uses_the_selected_db() {
    let settings = RedisSettings { db: 3, ..redis_settings("sealed") };
    let _cleanup = PurgeOnDrop(settings.clone());
    let mut store_settings = StoreSettings::redis(settings.clone());
    store_settings.secrets = SecretBox::from_hex(KEY).unwrap();
    let hub = StoreHub::open_with(&store_settings).unwrap();
    let Store::Redis(s) = hub.handle() else { unreachable!() };
    run(async {
        s.put_account(&account()).await.unwrap();
        assert_eq!(s.get_account("s1").await.unwrap().unwrap().def.credentials["sso"], SECRET);
        let key = format!("{}account:s1", settings.prefix).into_bytes();
        let raw = s.client().exec1(vec![b"HGET".to_vec(), key.clone(), b"creds".to_vec()], true).await.unwrap();
        let raw = raw.as_str().unwrap().to_owned();
        assert!(raw.starts_with("enc1:") && !raw.contains(SECRET), "{raw}");
        // The record is in db 3, not db 0.
        let db0 = RedisSettings { db: 0, ..settings.clone() };
        let hub0 = StoreHub::open_with(&StoreSettings::redis(db0)).unwrap();
        let Store::Redis(s0) = hub0.handle() else { unreachable!() };
        let there = s0.client().exec1(vec![b"EXISTS".to_vec(), key], true).await.unwrap();
        assert_eq!(there.as_int(), Some(0));
        drop(s0);
        hub0.close();
    });
    hub.close();
}

#[test]
fn a_silent_server_times_out_instead_of_hanging() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let settings =
        RedisSettings { addr: addr.to_string(), timeout: Duration::from_millis(300), ..RedisSettings::default() };
    let started = Instant::now();
    let err = StoreHub::open_with(&StoreSettings::redis(settings)).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
