//! Selection allocates nothing in steady state (with and without a sticky session): a counting
//! global allocator around `System`, and one test in this binary so no other test allocates
//! meanwhile.
#![cfg(test)]

use orchids2api::domain::{AccountDef, Channel};
use orchids2api::pool::{Attempt, Clock, PoolConfig, SelectRequest, SessionKey, SessionSources, Shard, Snapshot};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is exactly `System`'s; the counter is a relaxed atomic add.
#[expect(unsafe_code, reason = "a counting global allocator must implement the unsafe GlobalAlloc trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn selection_allocates_nothing_in_steady_state() {
    let defs: Vec<AccountDef> = (0..100)
        .map(|i| {
            let mut d: AccountDef = serde_json::from_value(serde_json::json!({"id": format!("a{i}"), "channel": "grok"})).unwrap();
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
