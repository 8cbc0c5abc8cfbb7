//! The embedded store's files: a torn last record is truncated on open without losing the
//! records before it, a corrupt snapshot refuses to start, and replaying logged ops rebuilds
//! exactly the state that produced them (proptest).
#![expect(clippy::unwrap_used, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::domain::{AccountStatus, FailureClass, UsageCounters, UsageScope};
use orchids2api::store::embedded::files::{decode_records, encode_record};
use orchids2api::store::embedded::state::{Op, State};
use orchids2api::store::{CounterDelta, Day, StoreApi, StoreError, StoreHub, StoreSettings, UsageKey};
use proptest::prelude::*;
use support::store::{run, temp_dir};

#[test]
fn a_torn_tail_is_truncated_and_writes_continue_after_it() {
    let dir = temp_dir("torn");
    let mut log = Vec::new();
    for i in 0..3 {
        encode_record(&mut log, &Op::SetSetting { key: format!("k{i}"), value: "v".into() }).unwrap();
    }
    let good = log.len();
    let mut torn = Vec::new();
    encode_record(&mut torn, &Op::SetSetting { key: "k3".into(), value: "v".into() }).unwrap();
    log.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(dir.join("log.0"), &log).unwrap();

    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    assert_eq!(std::fs::metadata(dir.join("log.0")).unwrap().len(), good as u64, "torn tail not truncated");
    let s = hub.handle();
    run(async {
        let all = s.list_settings().await.unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["k0", "k1", "k2"]);
        s.set_setting("k4", "after").await.unwrap();
    });
    drop(s);
    hub.close();
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    let got = run(hub.handle().get_setting("k4")).unwrap();
    assert_eq!(got.as_deref(), Some("after"));
    hub.close();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_snapshot_refuses_to_start() {
    let dir = temp_dir("badsnap");
    let hub = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap();
    run(hub.handle().set_setting("a", "b")).unwrap();
    hub.close();
    let path = dir.join("snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let err = StoreHub::open_with(&StoreSettings::embedded(&dir)).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).ok();
}

fn op() -> impl Strategy<Value = Op> {
    let id = prop_oneof![Just("a".to_owned()), Just("b".to_owned()), Just("c".to_owned())];
    prop_oneof![
        id.clone().prop_map(|id| Op::PutAccount {
            def: serde_json::from_str(&format!(r#"{{"id":"{id}","channel":"grok"}}"#)).unwrap(),
            creds: "{}".into()
        }),
        id.clone().prop_map(|id| Op::DeleteAccount { id }),
        (id.clone(), 0u64..10).prop_map(|(id, n)| Op::IncrCounters {
            id,
            delta: CounterDelta { requests: n, tokens_out: n * 3, last_used_ms: Some(n), ..CounterDelta::default() }
        }),
        (id.clone(), any::<u64>()).prop_map(|(id, until_ms)| Op::SetStatus {
            id,
            status: AccountStatus::Cooling { until_ms, reason: "r".into() }
        }),
        (id.clone(), "[a-z ]{0,8}").prop_map(|(id, message)| Op::RecordError {
            id,
            class: FailureClass::Server,
            message,
            at_ms: 7
        }),
        (id.clone(), "[a-z]{0,4}").prop_map(|(key, value)| Op::SetSetting { key, value }),
        (id, 0u32..3, 0u64..5).prop_map(|(id, day, n)| Op::IncrUsage {
            key: UsageKey { scope: UsageScope::Key, day: Day(day), id },
            delta: UsageCounters { requests: n, ..UsageCounters::default() }
        }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_log_rebuilds_the_same_state(ops in proptest::collection::vec(op(), 0..40), cut in 0usize..40) {
        // The live store: apply, and log only what applied.
        let mut live = State::default();
        let mut log = Vec::new();
        for op in &ops {
            if live.apply(op).is_ok() {
                encode_record(&mut log, op).unwrap();
            }
        }
        let (replayed_ops, valid) = decode_records(&log);
        prop_assert_eq!(valid, log.len());
        let mut replayed = State::default();
        for op in &replayed_ops {
            replayed.apply(op).unwrap();
        }
        prop_assert_eq!(&replayed, &live);
        // Snapshot at any point + the rest of the log = the same state.
        let cut = cut.min(replayed_ops.len());
        let mut snap = State::default();
        for op in &replayed_ops[..cut] {
            snap.apply(op).unwrap();
        }
        let mut resumed: State = serde_json::from_slice(&serde_json::to_vec(&snap).unwrap()).unwrap();
        for op in &replayed_ops[cut..] {
            resumed.apply(op).unwrap();
        }
        prop_assert_eq!(resumed, live);
    }
}
