//! The gateway's records, shared by the store, the pool, the front-ends and the admin:
//! accounts (definition + runtime state), models, client keys, settings, admin sessions and
//! usage counters. Plain serde structs with no behaviour beyond small helpers; every layer that
//! persists or moves them uses these exact types.

pub mod account;
pub mod failure;
pub mod key;
pub mod model;
pub mod session;
pub mod usage;

pub use account::{AccountDef, AccountState, AccountStatus, Channel, Counters};
pub use failure::FailureClass;
pub use key::ClientKey;
pub use model::{Capabilities, ModelDef};
pub use session::AdminSession;
pub use usage::{UsageCounters, UsageScope};

/// Milliseconds since the Unix epoch (wall clock; for persisted timestamps and deadlines).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
