//! Account selection cost: one `acquire` + lease drop (select, take a slot, release) per
//! iteration, for pools of 10, 100 and 1000 accounts in one tier, with and without a sticky
//! session; plus allocations per selection, counted by a wrapping global allocator and printed
//! before the timings.

use criterion::{Criterion, criterion_group};
use orchids2api::domain::{AccountDef, Channel};
use orchids2api::pool::{Attempt, Clock, PoolConfig, SelectRequest, SessionKey, SessionSources, Shard, Snapshot};
use orchids2api::util::alloc_count::{Counting, per_call};
use std::hint::black_box;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pool(n: u32) -> Shard {
    let defs: Vec<AccountDef> = (0..n)
        .map(|i| {
            let mut d: AccountDef =
                serde_json::from_value(serde_json::json!({"id": format!("acc{i:04}"), "channel": "grok"}))
                    .unwrap_or_else(|e| unreachable!("{e}"));
            d.weight = 1 + i % 7;
            d.max_concurrency = if i % 3 == 0 { 4 } else { 0 };
            d
        })
        .collect();
    let snap = Snapshot::build(defs, None).unwrap_or_else(|e| unreachable!("{e}"));
    Shard::new(Arc::new(snap), PoolConfig::default(), Clock::system())
}

fn session() -> Option<SessionKey> {
    SessionKey::derive(&SessionSources {
        claude_code_session_id: Some(b"5f0c7d2e-bench-session"),
        ..SessionSources::default()
    })
}

fn select_once(shard: &Shard, req: &SelectRequest<'_>) -> bool {
    shard.acquire(req, &mut Attempt::new(3)).is_ok()
}

#[expect(clippy::print_stderr, reason = "the bench reports allocation counts next to criterion's timings")]
fn report_allocations() {
    for n in [10, 100, 1000] {
        for (label, sess) in [("no session", None), ("sticky session", session())] {
            let shard = pool(n);
            let req = SelectRequest::new(Channel::Grok, "m").with_session(sess);
            for _ in 0..1000 {
                select_once(&shard, &req);
            }
            let per = per_call(10_000, || {
                black_box(select_once(&shard, &req));
            });
            eprintln!("pool_select: {n:>4} accounts, {label}: {per} allocations per selection");
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_select");
    for n in [10, 100, 1000] {
        let shard = pool(n);
        let req = SelectRequest::new(Channel::Grok, "m");
        g.bench_function(format!("acquire_release/{n}"), |b| {
            b.iter(|| black_box(select_once(&shard, black_box(&req))));
        });
        let sticky = SelectRequest::new(Channel::Grok, "m").with_session(session());
        g.bench_function(format!("acquire_release_sticky/{n}"), |b| {
            b.iter(|| black_box(select_once(&shard, black_box(&sticky))));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
