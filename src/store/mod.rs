//! The store: durable accounts (definition + secrets + runtime state), models, client keys,
//! settings, admin sessions and usage counters, behind one API with two backends.
//!
//! Key components:
//! - [`StoreApi`]: the one API (native `async fn`, no `Send` bound). Both backends implement it,
//!   and so does [`Store`], so one test suite runs against both.
//! - [`Store`]: the concrete handle a worker holds (cheap to clone, one per worker). `async fn`
//!   traits are not dyn-compatible, so it dispatches over an enum instead of a `dyn`.
//! - [`StoreHub`]: opened once per process ([`StoreHub::open`]); `Send + Sync`, shared as `Arc`.
//!   It owns the embedded store thread or the Redis settings and the pub/sub subscriber, hands
//!   each worker its [`Store`] ([`StoreHub::handle`]), reports [`Health`], and carries the
//!   change feed ([`StoreHub::events`]).
//! - [`embedded`]: one data directory, append-only log + snapshot, group commit on a store thread.
//! - [`redis`]: our RESP client on monoio (one pipelined connection per worker), hashes + sets,
//!   pub/sub change propagation, cross-instance concurrency slots.
//! - Short locks ([`StoreApi::try_lock`] / [`StoreApi::unlock`]): one owner at a time per name
//!   with a TTL (token refresh single-flight across instances), and [`Hold`]s: scope cooldowns and
//!   (account|scope, model) unavailability, kept so they survive restarts and reach every instance.
//! - [`secret`]: credentials sealed at rest when a key is configured.
//! - [`transfer`]: JSON import/export of accounts and models.
//!
//! Error handling: every operation returns a typed [`StoreError`]; a write is either
//! acknowledged durable, or refused with an error — never dropped silently.
//! Layouts, guarantees and the threat model: `docs/storage.md`.

pub mod embedded;
pub mod feed;
pub mod redis;
pub mod secret;
pub mod settings;
pub mod transfer;
pub mod types;

pub use settings::{RedisSettings, StoreSettings};
pub use types::{
    AccountRecord, CounterDelta, Day, Health, Hold, HoldSubject, SlotLease, StoreError, StoreEvent, UsageKey,
};

use crate::config::{Config, StoreMode};
use crate::domain::{
    AccountDef, AccountStatus, AdminSession, ClientKey, FailureClass, ModelDef, UsageCounters, UsageScope,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The store API. `async fn` without `Send`: each worker awaits on its own thread.
#[expect(async_fn_in_trait, reason = "thread-per-core: futures never cross threads, so no Send bound")]
pub trait StoreApi {
    /// Creates or replaces an account definition (secrets included). Runtime state is kept.
    async fn put_account(&self, def: &AccountDef) -> Result<(), StoreError>;
    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError>;
    /// Deletes definition and state; `false` when there was none.
    async fn delete_account(&self, id: &str) -> Result<bool, StoreError>;
    /// Field update of the status only. `NotFound` for an unknown account.
    async fn set_status(&self, id: &str, status: &AccountStatus) -> Result<(), StoreError>;
    /// Adds to the hot counters, field-wise. `NotFound` for an unknown account.
    async fn incr_counters(&self, id: &str, delta: &CounterDelta) -> Result<(), StoreError>;
    /// Counts one failure of `class` and records it as the last error.
    async fn record_error(&self, id: &str, class: FailureClass, message: &str, at_ms: u64) -> Result<(), StoreError>;

    async fn put_model(&self, model: &ModelDef) -> Result<(), StoreError>;
    async fn list_models(&self) -> Result<Vec<ModelDef>, StoreError>;
    async fn delete_model(&self, id: &str) -> Result<bool, StoreError>;

    async fn put_key(&self, key: &ClientKey) -> Result<(), StoreError>;
    async fn list_keys(&self) -> Result<Vec<ClientKey>, StoreError>;
    async fn delete_key(&self, id: &str) -> Result<bool, StoreError>;
    async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ClientKey>, StoreError>;

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    async fn list_settings(&self) -> Result<BTreeMap<String, String>, StoreError>;

    async fn put_session(&self, session: &AdminSession) -> Result<(), StoreError>;
    /// `None` once `expires_ms` has passed.
    async fn get_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;

    async fn incr_usage(&self, scope: UsageScope, id: &str, day: Day, delta: &UsageCounters) -> Result<(), StoreError>;
    async fn get_usage(&self, scope: UsageScope, id: &str, day: Day) -> Result<UsageCounters, StoreError>;
    async fn list_usage(&self, scope: UsageScope, day: Day) -> Result<BTreeMap<String, UsageCounters>, StoreError>;

    /// Takes one of `cap` concurrency slots on `account` (across every instance in Redis mode);
    /// `None` when all are taken. An unreleased slot frees itself after `ttl`.
    async fn acquire_slot(&self, account: &str, cap: u32, ttl: Duration) -> Result<Option<SlotLease>, StoreError>;
    async fn release_slot(&self, lease: &SlotLease) -> Result<(), StoreError>;

    /// Takes the short lock `name` for `owner` (a random token) for `ttl`, unless another owner
    /// holds it. `true` when `owner` holds it now (asking again as its holder answers `true` and
    /// leaves the TTL alone). Redis: `SET NX PX`, shared by every instance; embedded: in memory.
    async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Releases `name` only if `owner` holds it (compare-and-delete); `true` when it did.
    async fn unlock(&self, name: &str, owner: &str) -> Result<bool, StoreError>;

    /// Stores a [`Hold`], keeping a later deadline already stored for the same subject and
    /// model; announced (`StoreEvent::Hold`) only when the stored deadline moved.
    async fn put_hold(&self, hold: &Hold) -> Result<(), StoreError>;
    /// Every hold still running at `now_ms` (expired ones are dropped on the way).
    async fn list_holds(&self, now_ms: u64) -> Result<Vec<Hold>, StoreError>;

    fn health(&self) -> Health;

    /// Convenience: cool an account until `until_ms`.
    async fn set_cooldown(&self, id: &str, until_ms: u64, reason: &str) -> Result<(), StoreError> {
        self.set_status(id, &AccountStatus::Cooling { until_ms, reason: reason.to_owned() }).await
    }
}

/// One worker's store handle.
#[derive(Debug, Clone)]
pub enum Store {
    Embedded(embedded::EmbeddedStore),
    Redis(redis::RedisStore),
}

macro_rules! dispatch {
    ($self:ident . $m:ident ( $($a:expr),* )) => {
        match $self {
            Store::Embedded(s) => s.$m($($a),*).await,
            Store::Redis(s) => s.$m($($a),*).await,
        }
    };
}

impl StoreApi for Store {
    async fn put_account(&self, def: &AccountDef) -> Result<(), StoreError> {
        dispatch!(self.put_account(def))
    }
    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        dispatch!(self.get_account(id))
    }
    async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        dispatch!(self.list_accounts())
    }
    async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_account(id))
    }
    async fn set_status(&self, id: &str, status: &AccountStatus) -> Result<(), StoreError> {
        dispatch!(self.set_status(id, status))
    }
    async fn incr_counters(&self, id: &str, delta: &CounterDelta) -> Result<(), StoreError> {
        dispatch!(self.incr_counters(id, delta))
    }
    async fn record_error(&self, id: &str, class: FailureClass, message: &str, at_ms: u64) -> Result<(), StoreError> {
        dispatch!(self.record_error(id, class, message, at_ms))
    }
    async fn put_model(&self, model: &ModelDef) -> Result<(), StoreError> {
        dispatch!(self.put_model(model))
    }
    async fn list_models(&self) -> Result<Vec<ModelDef>, StoreError> {
        dispatch!(self.list_models())
    }
    async fn delete_model(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_model(id))
    }
    async fn put_key(&self, key: &ClientKey) -> Result<(), StoreError> {
        dispatch!(self.put_key(key))
    }
    async fn list_keys(&self) -> Result<Vec<ClientKey>, StoreError> {
        dispatch!(self.list_keys())
    }
    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_key(id))
    }
    async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ClientKey>, StoreError> {
        dispatch!(self.find_key_by_hash(hash))
    }
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.get_setting(key))
    }
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        dispatch!(self.set_setting(key, value))
    }
    async fn list_settings(&self) -> Result<BTreeMap<String, String>, StoreError> {
        dispatch!(self.list_settings())
    }
    async fn put_session(&self, session: &AdminSession) -> Result<(), StoreError> {
        dispatch!(self.put_session(session))
    }
    async fn get_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        dispatch!(self.get_session(id_hash))
    }
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_session(id_hash))
    }
    async fn incr_usage(&self, scope: UsageScope, id: &str, day: Day, delta: &UsageCounters) -> Result<(), StoreError> {
        dispatch!(self.incr_usage(scope, id, day, delta))
    }
    async fn get_usage(&self, scope: UsageScope, id: &str, day: Day) -> Result<UsageCounters, StoreError> {
        dispatch!(self.get_usage(scope, id, day))
    }
    async fn list_usage(&self, scope: UsageScope, day: Day) -> Result<BTreeMap<String, UsageCounters>, StoreError> {
        dispatch!(self.list_usage(scope, day))
    }
    async fn acquire_slot(&self, account: &str, cap: u32, ttl: Duration) -> Result<Option<SlotLease>, StoreError> {
        dispatch!(self.acquire_slot(account, cap, ttl))
    }
    async fn release_slot(&self, lease: &SlotLease) -> Result<(), StoreError> {
        dispatch!(self.release_slot(lease))
    }
    async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        dispatch!(self.try_lock(name, owner, ttl))
    }
    async fn unlock(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        dispatch!(self.unlock(name, owner))
    }
    async fn put_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        dispatch!(self.put_hold(hold))
    }
    async fn list_holds(&self, now_ms: u64) -> Result<Vec<Hold>, StoreError> {
        dispatch!(self.list_holds(now_ms))
    }
    fn health(&self) -> Health {
        match self {
            Self::Embedded(s) => s.health(),
            Self::Redis(s) => s.health(),
        }
    }
}

/// The process-wide store: opened once at start, shared by every worker as `Arc<StoreHub>`.
#[derive(Debug)]
pub enum StoreHub {
    Embedded(embedded::EmbeddedHub),
    Redis(redis::RedisHub),
}

impl StoreHub {
    /// Opens the store the config names. Blocking (start-up only). Fails with a clear message
    /// when the data directory is locked by another process, or Redis is unreachable or refuses
    /// our credentials.
    pub fn open(config: &Config) -> Result<Self, StoreError> {
        Self::open_with(&StoreSettings::from_config(config)?)
    }

    pub fn open_with(settings: &StoreSettings) -> Result<Self, StoreError> {
        match settings.mode {
            StoreMode::Embedded => Ok(Self::Embedded(embedded::EmbeddedHub::open(settings)?)),
            StoreMode::Redis => Ok(Self::Redis(redis::RedisHub::open(settings)?)),
        }
    }

    /// A handle for the calling worker (Redis: its own pipelined connection, opened lazily on
    /// first use on this thread's runtime).
    pub fn handle(&self) -> Store {
        match self {
            Self::Embedded(h) => Store::Embedded(h.handle()),
            Self::Redis(h) => Store::Redis(h.handle()),
        }
    }

    /// The change feed: every change, from this instance or another, exactly once. It is one
    /// queue (clones share it): give it to one consumer that fans out to the workers.
    pub fn events(&self) -> async_channel::Receiver<StoreEvent> {
        match self {
            Self::Embedded(h) => h.events(),
            Self::Redis(h) => h.events(),
        }
    }

    pub fn health(&self) -> Health {
        match self {
            Self::Embedded(h) => h.health(),
            Self::Redis(h) => h.health(),
        }
    }

    pub fn mode(&self) -> StoreMode {
        match self {
            Self::Embedded(_) => StoreMode::Embedded,
            Self::Redis(_) => StoreMode::Redis,
        }
    }

    /// Flushes and stops background threads (embedded: final snapshot). Blocking.
    pub fn close(&self) {
        match self {
            Self::Embedded(h) => h.close(),
            Self::Redis(h) => h.close(),
        }
    }
}

/// A random 128-bit hex id (instance ids, slot tokens).
pub fn random_id() -> String {
    use chacha20poly1305::aead::OsRng;
    use chacha20poly1305::aead::rand_core::RngCore;
    use std::fmt::Write;
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b.iter().fold(String::with_capacity(32), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
