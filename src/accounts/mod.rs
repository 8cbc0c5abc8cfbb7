//! The account pool at run time: where its snapshots come from and where its state goes.
//!
//! Key components:
//! - [`boot`]: at start, imports the config's `accounts` into the store when absent (never
//!   overwriting one that exists), loads every account with its persisted status and builds the
//!   first [`crate::pool::Snapshot`] (every worker's shard starts from it).
//! - [`sync`]: the `accounts` thread, the one consumer of the store's change feed. Definition
//!   changes (this instance's admin, or another instance through Redis pub/sub) rebuild the
//!   snapshot and send it to every worker as `Control::Accounts`; status changes from other
//!   instances are applied to the shared atomics directly.
//! - [`persist`]: what a worker writes back, field-wise and off the response path (spawned):
//!   status changes (cooling, disabled, active again) and per-attempt counters (summed per
//!   worker by [`counters`] and written every 250 ms).
//!   status changes (cooling, disabled, active again) and per-attempt counters.
//! - [`holds`]: scope cooldowns and (account|scope, model) unavailability between the pool and
//!   the store (persisted by the sync thread, applied from any instance).
//! - [`lock`]: [`lock::StoreLock`], the pool's cross-instance refresh lock over the store.
//! - [`refresh`]: running refreshes (request path, after a 401, background) and persisting their
//!   outcome; [`sweep`]: the background refresh sweeper (one per process, on the sync thread).
//!
//! Error handling: a store that cannot be read at start stops the server with the reason; later
//! store failures are logged and never fail a request (the pool serves from memory).

pub mod boot;
pub mod counters;
pub mod holds;
pub mod lock;
pub mod persist;
pub mod refresh;
pub mod sweep;
pub mod sync;
