//! Selection allocates nothing in steady state (with and without a sticky session): a counting
//! global allocator around `System`, and one test in this binary so no other test allocates
//! meanwhile.
#![cfg(test)]

use orchids2api::domain::{AccountDef, Channel};
use orchids2api::pool::{Attempt, Clock, PoolConfig, SelectRequest, SessionKey, SessionSources, Shard, Snapshot};
use orchids2api::util::alloc_count::{ALLOCATIONS, Counting};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn selection_allocates_nothing_in_steady_state() {
    let defs: Vec<AccountDef> = (0..100)
        .map(|i| {
            let mut d: AccountDef =
                serde_json::from_value(serde_json::json!({"id": format!("a{i}"), "channel": "grok"})).unwrap();
            d.weight = 1 + i % 5;
            d.priority = i32::try_from(i % 3).unwrap();
            d.max_concurrency = i % 4;
            d
        })
        .collect();
    let clock = Clock::manual(1_700_000_000_000);
    let shard = Shard::new(Arc::new(Snapshot::build(defs, None).unwrap()), PoolConfig::default(), clock.clone());
    let session = SessionKey::derive(&SessionSources { x_session_id: Some(b"s-1"), ..SessionSources::default() });
    let kind = |d: &AccountDef| !d.id.ends_with('7');
    let plain = SelectRequest::new(Channel::Grok, "m").with_can_serve(&kind);
    let sticky = SelectRequest::new(Channel::Grok, "m").with_session(session);
    let mut held = Vec::with_capacity(64);
    let mut run = |n: u32| {
        for i in 0..n {
            clock.advance(1);
            let req = if i % 2 == 0 { &plain } else { &sticky };
            let mut at = Attempt::new(3);
            let first = shard.acquire(req, &mut at).unwrap();
            let second = shard.acquire(req, &mut at).unwrap();
            assert_ne!(first.id(), second.id());
            if held.len() < 60 {
                held.push(first);
            } else {
                held.swap_remove(usize::try_from(i).unwrap() % 60);
            }
        }
    };
    run(1_000); // warm-up: scratch vector, sticky map
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(10_000);
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocs, 0, "{allocs} allocations in 20000 selections");
}
