//! Deterministic pool tests: a manual clock, no sleeps, two shards in one thread standing in for
//! two cores, and futures polled by hand with a no-op waker.

mod attempt;
mod explain;
mod policy;
mod refresh;
mod select;
mod sticky;

use super::*;
use crate::domain::{AccountDef, Channel};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(super) const T0: u64 = 1_700_000_000_000;
pub(super) const G: Channel = Channel::Grok;

pub(super) fn def(id: &str, priority: i32, weight: u32) -> AccountDef {
    snapshot::tests::def(id, G, priority, weight)
}

/// An account with one credential `key` (e.g. `sso` or `api_key`, which set its grok surface).
pub(super) fn cred(id: &str, key: &str) -> AccountDef {
    let mut d = def(id, 0, 1);
    d.credentials.insert(key.into(), "secret-value".into());
    d
}

pub(super) fn capped(id: &str, cap: u32) -> AccountDef {
    let mut d = def(id, 0, 1);
    d.max_concurrency = cap;
    d
}

pub(super) fn snap(defs: Vec<AccountDef>) -> Arc<Snapshot> {
    Arc::new(Snapshot::build(defs, None).unwrap())
}

pub(super) fn shard_on(s: &Arc<Snapshot>, clock: &Clock) -> Shard {
    Shard::new(Arc::clone(s), PoolConfig::default(), clock.clone())
}

/// A shard over `defs` with default config and a manual clock at `T0`.
pub(super) fn setup(defs: Vec<AccountDef>) -> (Shard, Clock) {
    let clock = Clock::manual(T0);
    (shard_on(&snap(defs), &clock), clock)
}

pub(super) fn req(model: &str) -> SelectRequest<'_> {
    SelectRequest::new(G, model)
}

/// Leases an account for a fresh request.
pub(super) fn take(shard: &Shard, model: &str) -> Result<Lease, Unavailable> {
    shard.acquire(&req(model), &mut Attempt::new(3))
}

/// The id a fresh request would get (its lease released at once).
pub(super) fn pick(shard: &Shard) -> String {
    take(shard, "m").map_or_else(|u| format!("none:{:?}", u.kind), |l| l.id().to_owned())
}

pub(super) fn picks(shard: &Shard, n: usize) -> Vec<String> {
    (0..n).map(|_| pick(shard)).collect()
}

pub(super) fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs a future that must complete without waiting on anything outside itself.
pub(super) fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match poll_once(f.as_mut()) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future was expected to complete at once"),
    }
}

/// Fails `id` with `class` through a fresh lease on it.
pub(super) fn fail(
    shard: &Shard,
    id: &str,
    class: crate::domain::FailureClass,
    model: Option<&str>,
    hint: Option<u64>,
) -> Effect {
    let acc = shard.account(id).unwrap();
    acc.on_failure(&shard.config(), class, model, hint, shard.now_ms())
}

/// Fails `id` with `class` in `scope`, resolving a named team as [`Shard::fail`] does.
pub(super) fn fail_in(
    shard: &Shard,
    id: &str,
    class: crate::domain::FailureClass,
    scope: &FailureScope,
    model: Option<&str>,
    hint: Option<u64>,
) -> Effect {
    let acc = shard.account(id).unwrap();
    let named = shard.named_scope(&acc, scope);
    acc.apply(&shard.config(), &Failure { class, scope, model, retry_at_ms: hint }, named.as_ref(), shard.now_ms())
}
