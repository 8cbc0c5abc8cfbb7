//! The embedded store thread: owns the state and the files, serves requests from every worker
//! in arrival order, and commits writes in groups.
//!
//! Group commit: the thread blocks for one request, then takes whatever else is already queued
//! (up to [`MAX_BATCH`]), applies them all in memory, writes their log records with one
//! `write` + one `fdatasync`, and only then answers. Workers never block on the disk: they
//! await their answer on the channel. Reads are answered from memory in the same order.
//!
//! A failed append or sync poisons the store (memory now holds changes the disk may not):
//! every later write is refused with `StoreError::Io`, reads keep working, and `health()` says
//! `degraded`. A restart recovers the durable state from disk.

use super::files::{self, DirLock, LogWriter};
use super::state::{Applied, Op, State, StoredAccount};
use crate::domain::{AdminSession, ClientKey, ModelDef, UsageCounters, UsageScope, now_ms};
use crate::store::feed::Feed;
use crate::store::types::{Day, StoreError, UsageKey};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Most requests taken into one group commit.
pub const MAX_BATCH: usize = 4096;

/// A read (answered from memory, never logged) or a control request.
#[derive(Debug)]
pub enum Query {
    GetAccount(String),
    ListAccounts,
    ListModels,
    ListKeys,
    FindKey(String),
    GetSetting(String),
    ListSettings,
    GetSession(String),
    GetUsage(UsageKey),
    ListUsage(UsageScope, Day),
    Acquire {
        account: String,
        cap: u32,
        ttl: Duration,
        token: String,
    },
    Release {
        account: String,
        token: String,
    },
    /// A short lock: taken when free, expired, or already `owner`'s.
    Lock {
        name: String,
        owner: String,
        ttl: Duration,
    },
    /// Released only if `owner` holds it.
    Unlock {
        name: String,
        owner: String,
    },
    /// Live holds at `now_ms`.
    ListHolds(u64),
    /// Fold the log into a snapshot now.
    Snapshot,
}

/// What the thread answers.
#[derive(Debug)]
pub enum Answer {
    Done,
    /// A write that changed nothing (not logged, not announced).
    Unchanged,
    Existed(bool),
    Account(Option<StoredAccount>),
    Accounts(Vec<StoredAccount>),
    Models(Vec<ModelDef>),
    Keys(Vec<ClientKey>),
    Key(Option<ClientKey>),
    Setting(Option<String>),
    Settings(BTreeMap<String, String>),
    Session(Option<AdminSession>),
    Usage(UsageCounters),
    UsageList(BTreeMap<String, UsageCounters>),
    Slot(bool),
    Holds(Vec<crate::store::types::Hold>),
}

pub type Reply = async_channel::Sender<Result<Answer, StoreError>>;

/// One message to the store thread.
#[derive(Debug)]
pub enum Request {
    Write(Op, Reply),
    Read(Query, Reply),
    /// Snapshot, release the lock, stop; the sender is told when done.
    Close(std::sync::mpsc::Sender<()>),
}

/// Shared between the thread and every handle: set once when the store is poisoned; also
/// counts group commits (one `fdatasync` each) and the writes they carried.
#[derive(Debug, Default)]
pub struct Poison {
    pub set: AtomicBool,
    pub reason: OnceLock<String>,
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

impl Poison {
    fn poison(&self, why: &str) {
        let _ = self.reason.set(why.to_owned());
        self.set.store(true, Ordering::Release);
    }
    pub fn reason(&self) -> Option<String> {
        self.set.load(Ordering::Acquire).then(|| self.reason.get().cloned().unwrap_or_default())
    }
}

/// The thread's state.
#[derive(Debug)]
pub struct Engine {
    dir: PathBuf,
    state: State,
    log: LogWriter,
    snapshot_bytes: u64,
    feed: Feed,
    poison: Arc<Poison>,
    slots: HashMap<String, Vec<(String, Instant)>>,
    /// Short locks: name -> (owner, expiry). In memory: one process owns the directory.
    locks: HashMap<String, (String, Instant)>,
    _lock: DirLock,
}

impl Engine {
    /// Locks the directory, loads the snapshot, replays the log (truncating a torn tail).
    pub fn open(dir: PathBuf, snapshot_bytes: u64, feed: Feed, poison: Arc<Poison>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::Io(format!("cannot create data_dir {}: {e}", dir.display())))?;
        let lock = files::lock_dir(&dir)?;
        let (mut state, gen_no) = files::read_snapshot(&dir)?;
        let (ops, dropped) = files::replay_log(&dir, gen_no)?;
        if dropped > 0 {
            log::warn!(
                "store: dropped a torn tail of {dropped} byte(s) from {} (an unacknowledged write cut by a crash)",
                files::log_path(&dir, gen_no).display()
            );
        }
        let replayed = ops.len();
        for op in &ops {
            if let Err(e) = state.apply(op) {
                log::warn!("store: replayed op no longer applies ({e}); skipped");
            }
        }
        files::remove_stale_logs(&dir, gen_no);
        let log = LogWriter::open(&dir, gen_no)?;
        log::info!(
            "store: embedded data_dir {} opened: {} account(s), {} model(s), {} key(s); {replayed} logged op(s) replayed",
            dir.display(),
            state.accounts.len(),
            state.models.len(),
            state.keys.len()
        );
        Ok(Self {
            dir,
            state,
            log,
            snapshot_bytes,
            feed,
            poison,
            slots: HashMap::new(),
            locks: HashMap::new(),
            _lock: lock,
        })
    }

    /// The thread body: serve until every handle is gone or `Close` arrives.
    pub fn run(mut self, rx: &async_channel::Receiver<Request>) {
        let mut batch = Vec::with_capacity(64);
        while let Ok(first) = rx.recv_blocking() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if let Some(done) = self.serve(&mut batch) {
                self.close();
                // Release the lock before saying we are done.
                drop(self);
                let _ = done.send(());
                return;
            }
        }
        self.close();
    }

    /// Serves one batch; returns the close notifier if the batch asked to close.
    fn serve(&mut self, batch: &mut Vec<Request>) -> Option<std::sync::mpsc::Sender<()>> {
        let mut records = Vec::new();
        let mut answers: Vec<(Reply, Result<Answer, StoreError>, bool)> = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let mut close = None;
        for req in batch.drain(..) {
            match req {
                Request::Write(op, reply) => {
                    let result = self.write(&op, &mut records);
                    if matches!(result, Ok(Answer::Done | Answer::Existed(_))) {
                        events.extend(op.event());
                    }
                    answers.push((reply, result, true));
                }
                Request::Read(q, reply) => {
                    let result = self.read(q);
                    answers.push((reply, result, false));
                }
                Request::Close(done) => close = Some(done),
            }
        }
        if !records.is_empty() {
            self.poison.commits.fetch_add(1, Ordering::Relaxed);
            let n = answers.iter().filter(|(_, r, w)| *w && r.is_ok()).count() as u64;
            self.poison.writes.fetch_add(n, Ordering::Relaxed);
            if let Err(e) = self.log.append_sync(&records) {
                log::error!("store: {e}; refusing further writes until restart");
                self.poison.poison(&e.to_string());
                for (_, result, is_write) in &mut answers {
                    if *is_write && result.is_ok() {
                        *result = Err(e.clone());
                    }
                }
                events.clear();
            }
        }
        for ev in events {
            self.feed.push(ev);
        }
        for (reply, result, _) in answers {
            let _ = reply.try_send(result);
        }
        if self.log.len > self.snapshot_bytes && self.poison.reason().is_none() {
            if let Err(e) = self.snapshot() {
                log::error!("store: snapshot failed: {e}");
            }
        }
        close
    }

    fn write(&mut self, op: &Op, records: &mut Vec<u8>) -> Result<Answer, StoreError> {
        if let Some(why) = self.poison.reason() {
            return Err(StoreError::Io(format!("store is read-only after a disk error: {why}")));
        }
        // Encode first: an op that cannot be logged must not be applied.
        let mark = records.len();
        files::encode_record(records, op)?;
        match self.state.apply(op) {
            Ok(Applied::Done) => Ok(Answer::Done),
            Ok(Applied::Existed(b)) => Ok(Answer::Existed(b)),
            Ok(Applied::Unchanged) => {
                records.truncate(mark);
                Ok(Answer::Unchanged)
            }
            Err(e) => {
                records.truncate(mark);
                Err(e)
            }
        }
    }

    fn read(&mut self, q: Query) -> Result<Answer, StoreError> {
        let s = &self.state;
        Ok(match q {
            Query::GetAccount(id) => Answer::Account(s.accounts.get(&id).cloned()),
            Query::ListAccounts => Answer::Accounts(s.accounts.values().cloned().collect()),
            Query::ListModels => Answer::Models(s.models.values().cloned().collect()),
            Query::ListKeys => Answer::Keys(s.keys.values().cloned().collect()),
            Query::FindKey(hash) => Answer::Key(s.keys.values().find(|k| k.hash == hash).cloned()),
            Query::GetSetting(k) => Answer::Setting(s.settings.get(&k).cloned()),
            Query::ListSettings => Answer::Settings(s.settings.clone()),
            Query::GetSession(id) => Answer::Session(s.sessions.get(&id).filter(|x| x.expires_ms > now_ms()).cloned()),
            Query::GetUsage(key) => Answer::Usage(s.usage.get(&key).copied().unwrap_or_default()),
            Query::ListUsage(scope, day) => Answer::UsageList(s.usage_of(scope, day)),
            Query::Acquire { account, cap, ttl, token } => {
                let now = Instant::now();
                let held = self.slots.entry(account).or_default();
                held.retain(|(_, until)| *until > now);
                let ok = cap == 0 || held.len() < cap as usize;
                if ok {
                    held.push((token, now + ttl));
                }
                Answer::Slot(ok)
            }
            Query::Release { account, token } => {
                if let Some(held) = self.slots.get_mut(&account) {
                    held.retain(|(t, _)| *t != token);
                    if held.is_empty() {
                        self.slots.remove(&account);
                    }
                }
                Answer::Done
            }
            Query::Lock { name, owner, ttl } => {
                let now = Instant::now();
                let ok = match self.locks.get(&name) {
                    Some((held, until)) if *until > now => *held == owner,
                    _ => {
                        self.locks.insert(name, (owner, now + ttl));
                        true
                    }
                };
                Answer::Slot(ok)
            }
            Query::Unlock { name, owner } => {
                let mine = self.locks.get(&name).is_some_and(|(held, until)| *held == owner && *until > Instant::now());
                if mine {
                    self.locks.remove(&name);
                }
                Answer::Slot(mine)
            }
            Query::ListHolds(now_ms) => {
                Answer::Holds(s.holds.values().filter(|h| h.until_ms > now_ms).cloned().collect())
            }
            Query::Snapshot => {
                self.snapshot()?;
                Answer::Done
            }
        })
    }

    /// Folds the log into a new snapshot and switches to a fresh log generation.
    fn snapshot(&mut self) -> Result<(), StoreError> {
        self.state.purge_expired(now_ms());
        let next = self.log.gen_no + 1;
        // New (empty) log first, then the snapshot that points at it, then drop the old log.
        let fresh = LogWriter::open(&self.dir, next)?;
        files::sync_dir(&self.dir)?;
        files::write_snapshot(&self.dir, &self.state, next)?;
        let old = std::mem::replace(&mut self.log, fresh);
        let _ = std::fs::remove_file(files::log_path(&self.dir, old.gen_no));
        Ok(())
    }

    fn close(&mut self) {
        if self.poison.reason().is_none() {
            if let Err(e) = self.snapshot() {
                log::error!("store: final snapshot failed: {e} (the log still holds every write)");
            }
        }
    }
}
