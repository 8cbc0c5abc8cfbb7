//! The embedded backend (`store_mode: "embedded"`, the default): one data directory owned by one
//! process, served by a dedicated store thread.
//!
//! Key components:
//! - [`EmbeddedHub`]: opens the directory (lock, snapshot, log replay) and starts the thread.
//! - [`EmbeddedStore`]: a worker's handle; each call is one message to the thread and one
//!   awaited answer, so workers never block on the disk.
//! - [`engine`]: the thread (group commit), [`files`]: on-disk formats, [`state`]: the data.
//!
//! Performance: one `fdatasync` per group of queued writes, not per write; reads are answered
//! from memory. Layout and guarantees: `docs/storage.md`.

pub mod engine;
pub mod files;
pub mod state;

use super::feed::Feed;
use super::secret::SecretBox;
use super::settings::StoreSettings;
use super::types::{AccountRecord, CounterDelta, Day, Health, Hold, SlotLease, StoreError, UsageKey, check_id};
use super::{StoreApi, random_id};
use crate::domain::{
    AccountDef, AccountStatus, AdminSession, ClientKey, FailureClass, ModelDef, UsageCounters, UsageScope,
};
use engine::{Answer, Engine, Poison, Query, Request};
use state::{Op, StoredAccount};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Requests queued to the store thread before senders wait (backpressure). The queue's slots
/// are allocated and touched up front (about 240 bytes each), so this is resident memory:
/// 1,024 is 240 KiB (16 Ki slots were 3.9 MiB of the idle RSS). Writes are few per request
/// (counters are batched every 250 ms), so a full queue means a stalled disk, not a burst.
const QUEUE: usize = 1024;

/// Longest wait in [`EmbeddedHub::close`] for the store thread's final snapshot.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The open embedded store of this process.
#[derive(Debug)]
pub struct EmbeddedHub {
    tx: async_channel::Sender<Request>,
    feed: Feed,
    poison: Arc<Poison>,
    secrets: SecretBox,
}

impl EmbeddedHub {
    /// Opens `settings.data_dir` (created if missing) and starts the store thread.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let feed = Feed::default();
        let poison = Arc::new(Poison::default());
        let engine =
            Engine::open(settings.data_dir.clone(), settings.snapshot_bytes, feed.clone(), Arc::clone(&poison))?;
        let (tx, rx) = async_channel::bounded(QUEUE);
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || engine.run(&rx))
            .map_err(|e| StoreError::Io(format!("cannot start the store thread: {e}")))?;
        Ok(Self { tx, feed, poison, secrets: settings.secrets.clone() })
    }

    pub fn handle(&self) -> EmbeddedStore {
        EmbeddedStore { tx: self.tx.clone(), secrets: self.secrets.clone(), poison: Arc::clone(&self.poison) }
    }

    pub fn events(&self) -> async_channel::Receiver<super::StoreEvent> {
        self.feed.receiver()
    }

    pub fn health(&self) -> Health {
        health_of(&self.poison, &self.tx)
    }

    /// (group commits, writes they carried) since open: writes / commits is the batching factor.
    pub fn commit_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (self.poison.commits.load(Ordering::Relaxed), self.poison.writes.load(Ordering::Relaxed))
    }

    /// Writes a final snapshot, releases the lock and stops the thread (blocking, at most
    /// [`CLOSE_WAIT`]). Later calls on any handle fail with `Unavailable`.
    ///
    /// The wait is bounded because the store thread can be stuck answering a request whose
    /// sender's runtime is already gone (a worker that ended with a store write in flight: the
    /// wake drops that task on the store thread while the reply channel's lock is held). Every
    /// acknowledged write is already in the synced log, so giving up on the final snapshot
    /// loses nothing; the next start replays the log.
    pub fn close(&self) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if self.tx.send_blocking(Request::Close(done_tx)).is_ok()
            && matches!(done_rx.recv_timeout(CLOSE_WAIT), Err(std::sync::mpsc::RecvTimeoutError::Timeout))
        {
            log::warn!(
                "store: the store thread did not finish its final snapshot within {} s; the log holds every \
                 acknowledged write and is replayed at the next start",
                CLOSE_WAIT.as_secs()
            );
        }
        self.tx.close();
    }
}

fn health_of(poison: &Poison, tx: &async_channel::Sender<Request>) -> Health {
    if let Some(why) = poison.reason() {
        return Health::Degraded(format!("disk error, writes refused: {why}"));
    }
    if tx.is_closed() {
        return Health::Degraded("store closed".into());
    }
    Health::Ok
}

/// A worker's handle on the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    tx: async_channel::Sender<Request>,
    secrets: SecretBox,
    poison: Arc<Poison>,
}

fn gone() -> StoreError {
    StoreError::unavailable("the embedded store thread has stopped")
}

fn unexpected() -> StoreError {
    StoreError::Corrupt("store thread answered with the wrong shape".into())
}

impl EmbeddedStore {
    async fn write(&self, op: Op) -> Result<Answer, StoreError> {
        let (tx, rx) = async_channel::bounded(1);
        self.tx.send(Request::Write(op, tx)).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())?
    }

    async fn read(&self, q: Query) -> Result<Answer, StoreError> {
        let (tx, rx) = async_channel::bounded(1);
        self.tx.send(Request::Read(q, tx)).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())?
    }

    async fn done(&self, op: Op) -> Result<(), StoreError> {
        self.write(op).await.map(|_| ())
    }

    async fn existed(&self, op: Op) -> Result<bool, StoreError> {
        match self.write(op).await? {
            Answer::Existed(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    fn open_account(&self, a: StoredAccount) -> Result<AccountRecord, StoreError> {
        let mut def = a.def;
        def.credentials = self.secrets.open(&def.id, &a.creds)?;
        Ok(AccountRecord { def, state: a.state })
    }

    /// Folds the log into a snapshot now (tests, admin maintenance).
    pub async fn snapshot(&self) -> Result<(), StoreError> {
        self.read(Query::Snapshot).await.map(|_| ())
    }
}

impl StoreApi for EmbeddedStore {
    async fn put_account(&self, def: &AccountDef) -> Result<(), StoreError> {
        check_id("account", &def.id)?;
        let creds = self.secrets.seal(&def.id, &def.credentials)?;
        let mut bare = def.clone();
        bare.credentials.clear();
        self.done(Op::PutAccount { def: bare, creds }).await
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        match self.read(Query::GetAccount(id.to_owned())).await? {
            Answer::Account(a) => a.map(|a| self.open_account(a)).transpose(),
            _ => Err(unexpected()),
        }
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        match self.read(Query::ListAccounts).await? {
            Answer::Accounts(list) => list.into_iter().map(|a| self.open_account(a)).collect(),
            _ => Err(unexpected()),
        }
    }

    async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        self.existed(Op::DeleteAccount { id: id.to_owned() }).await
    }

    async fn set_status(&self, id: &str, status: &AccountStatus) -> Result<(), StoreError> {
        self.done(Op::SetStatus { id: id.to_owned(), status: status.clone() }).await
    }

    async fn incr_counters(&self, id: &str, delta: &CounterDelta) -> Result<(), StoreError> {
        self.done(Op::IncrCounters { id: id.to_owned(), delta: *delta }).await
    }

    async fn record_error(&self, id: &str, class: FailureClass, message: &str, at_ms: u64) -> Result<(), StoreError> {
        self.done(Op::RecordError { id: id.to_owned(), class, message: message.to_owned(), at_ms }).await
    }

    async fn put_model(&self, model: &ModelDef) -> Result<(), StoreError> {
        check_id("model", &model.id)?;
        self.done(Op::PutModel { model: model.clone() }).await
    }

    async fn list_models(&self) -> Result<Vec<ModelDef>, StoreError> {
        match self.read(Query::ListModels).await? {
            Answer::Models(m) => Ok(m),
            _ => Err(unexpected()),
        }
    }

    async fn delete_model(&self, id: &str) -> Result<bool, StoreError> {
        self.existed(Op::DeleteModel { id: id.to_owned() }).await
    }

    async fn put_key(&self, key: &ClientKey) -> Result<(), StoreError> {
        check_id("key", &key.id)?;
        check_id("key hash", &key.hash)?;
        self.done(Op::PutKey { key: key.clone() }).await
    }

    async fn list_keys(&self) -> Result<Vec<ClientKey>, StoreError> {
        match self.read(Query::ListKeys).await? {
            Answer::Keys(k) => Ok(k),
            _ => Err(unexpected()),
        }
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.existed(Op::DeleteKey { id: id.to_owned() }).await
    }

    async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ClientKey>, StoreError> {
        match self.read(Query::FindKey(hash.to_owned())).await? {
            Answer::Key(k) => Ok(k),
            _ => Err(unexpected()),
        }
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.read(Query::GetSetting(key.to_owned())).await? {
            Answer::Setting(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        check_id("setting", key)?;
        self.done(Op::SetSetting { key: key.to_owned(), value: value.to_owned() }).await
    }

    async fn list_settings(&self) -> Result<BTreeMap<String, String>, StoreError> {
        match self.read(Query::ListSettings).await? {
            Answer::Settings(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    async fn put_session(&self, session: &AdminSession) -> Result<(), StoreError> {
        check_id("session", &session.id_hash)?;
        self.done(Op::PutSession { session: session.clone() }).await
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        match self.read(Query::GetSession(id_hash.to_owned())).await? {
            Answer::Session(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        self.existed(Op::DeleteSession { id_hash: id_hash.to_owned() }).await
    }

    async fn incr_usage(&self, scope: UsageScope, id: &str, day: Day, delta: &UsageCounters) -> Result<(), StoreError> {
        check_id("usage subject", id)?;
        self.done(Op::IncrUsage { key: UsageKey { scope, day, id: id.to_owned() }, delta: *delta }).await
    }

    async fn get_usage(&self, scope: UsageScope, id: &str, day: Day) -> Result<UsageCounters, StoreError> {
        match self.read(Query::GetUsage(UsageKey { scope, day, id: id.to_owned() })).await? {
            Answer::Usage(u) => Ok(u),
            _ => Err(unexpected()),
        }
    }

    async fn list_usage(&self, scope: UsageScope, day: Day) -> Result<BTreeMap<String, UsageCounters>, StoreError> {
        match self.read(Query::ListUsage(scope, day)).await? {
            Answer::UsageList(u) => Ok(u),
            _ => Err(unexpected()),
        }
    }

    async fn acquire_slot(&self, account: &str, cap: u32, ttl: Duration) -> Result<Option<SlotLease>, StoreError> {
        let token = random_id();
        let q = Query::Acquire { account: account.to_owned(), cap, ttl, token: token.clone() };
        match self.read(q).await? {
            Answer::Slot(true) => Ok(Some(SlotLease { account: account.to_owned(), token })),
            Answer::Slot(false) => Ok(None),
            _ => Err(unexpected()),
        }
    }

    async fn release_slot(&self, lease: &SlotLease) -> Result<(), StoreError> {
        self.read(Query::Release { account: lease.account.clone(), token: lease.token.clone() }).await.map(|_| ())
    }

    async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        check_id("lock", name)?;
        match self.read(Query::Lock { name: name.to_owned(), owner: owner.to_owned(), ttl }).await? {
            Answer::Slot(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        match self.read(Query::Unlock { name: name.to_owned(), owner: owner.to_owned() }).await? {
            Answer::Slot(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn put_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        hold.check()?;
        self.done(Op::PutHold { hold: hold.clone() }).await
    }

    async fn list_holds(&self, now_ms: u64) -> Result<Vec<Hold>, StoreError> {
        match self.read(Query::ListHolds(now_ms)).await? {
            Answer::Holds(h) => Ok(h),
            _ => Err(unexpected()),
        }
    }

    fn health(&self) -> Health {
        health_of(&self.poison, &self.tx)
    }
}
