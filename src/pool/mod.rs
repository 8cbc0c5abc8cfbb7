//! The account pool: which upstream account serves each attempt of a request, what a typed
//! failure does to an account, and token refresh. See `docs/failover.md` for the operator's view.
//!
//! Key components:
//! - [`Snapshot`] (immutable, `Arc`, built on a cold path, sent to every core) of [`Account`]s,
//!   each with its cross-core [`AccountShared`] atomics (cooldown, disable, global in-flight,
//!   failure window, model unavailability, refresh flag, counters, [`RateLimits`]), an
//!   optional team [`ScopeShared`] and its channel surface (also a [`ScopeShared`]).
//! - [`Shard`] (one per core, `!Send`): the current snapshot, this core's in-flight counts and
//!   round-robin credit, the sticky-session map and refresh flights. All request-path calls are
//!   methods on it: [`Shard::acquire`] / [`Shard::acquire_wait`] -> [`Lease`];
//!   [`Shard::ensure_fresh`]; [`Shard::on_failure`] / [`Shard::fail`] (with a [`FailureScope`])
//!   -> [`Effect`]; [`Shard::on_success`];
//!   [`Shard::explain`]; [`Shard::reset`]; [`Shard::refresh`] / [`Shard::refresh_due`] (with a
//!   channel's [`Refresher`] and an [`InstanceLock`] for single flight across instances).
//! - [`HoldSink`]: where the shared-state setters report scope cooldowns and (account|scope,
//!   model) unavailability so the accounts layer persists them and other instances apply them.
//! - [`Attempt`] (per request: tried set, attempt count), [`Unavailable`] (the 429/529/503
//!   answer data), [`SessionKey`] (stickiness), [`HintParser`] (`Retry-After` and reset hints),
//!   [`Clock`] (real or manual), [`PoolConfig`] (the `pool` config object).
//!
//! Error handling: nothing here panics on input; "no account" is the typed [`Unavailable`],
//! refresh problems are [`RefreshFailure`], bad snapshots are [`SnapshotError`].
//!
//! Performance: selection takes no lock and allocates nothing (`benches/pool_select.rs`); the
//! cross-core facts are relaxed atomics read once per candidate.

pub mod attempt;
pub mod clock;
pub mod config;
pub mod explain;
pub mod failure_scope;
mod hint_names;
pub mod holds;
pub mod policy;
pub mod rate_limits;
pub mod refresh;
pub mod retry_after;
pub mod select;
pub mod shard;
pub mod shared;
pub mod snapshot;
pub mod sticky;
pub mod window;

pub use attempt::{Attempt, Lease, Unavailable, UnavailableKind};
pub use clock::Clock;
pub use config::PoolConfig;
pub use explain::{ExplainRow, Explanation};
pub use failure_scope::FailureScope;
pub use holds::{HoldChange, HoldSink};
pub use policy::{Effect, Failure};
pub use rate_limits::{LimitsView, Observed, RateLimits};
pub use refresh::{
    InstanceLock, LocalOnly, LockAttempt, NewCredentials, RefreshError, RefreshFailure, Refreshed, Refresher,
};
pub use retry_after::{HintParser, deadline_from_headers};
pub use select::{SelectRequest, Skip};
pub use shard::Shard;
pub use shared::{AccountShared, CoolReason, DisableReason, ScopeShared};
pub use snapshot::{Account, Snapshot, SnapshotError, surface_name, team_scope};
pub use sticky::{SessionKey, SessionSource, SessionSources};

#[cfg(test)]
mod tests;
