//! Start-up loading of the accounts (see the module docs of [`super`]).
//!
//! Test-channel defaults: with `test_channel: true`, a channel that has no account at all gets
//! one in-memory account `<channel>-test` (never stored), so the scripted channel answers
//! without any account configuration. Its failures are counted but never cool or disable it
//! (see [`is_test_default`]), so message-scripted failures (`fail <class>`) do not change later
//! answers. Configure accounts for a channel (with `fail` credentials) to test the pool itself.

use crate::channel::refresh::ChannelRefresher;
use crate::config::Config;
use crate::domain::{AccountDef, Channel};
use crate::pool::Refresher;
use crate::pool::{Snapshot, SnapshotError};
use crate::store::{AccountRecord, Store, StoreApi, StoreHub};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Imports, loads and builds the first snapshot. Blocking: runs its own short-lived runtime on
/// the calling (main) thread, with its own store handle.
pub fn load(hub: &StoreHub, cfg: &Config) -> Result<Arc<Snapshot>, String> {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("accounts: cannot start a loader runtime: {e}"))?;
    rt.block_on(load_with(hub.handle(), cfg))
}

async fn load_with(store: Store, cfg: &Config) -> Result<Arc<Snapshot>, String> {
    let existing = store.list_accounts().await.map_err(|e| format!("accounts: cannot list stored accounts: {e}"))?;
    let have: HashSet<&str> = existing.iter().map(|r| r.def.id.as_str()).collect();
    let mut imported = 0usize;
    for def in cfg.accounts.iter().filter(|d| !have.contains(d.id.as_str())) {
        let mut d = def.clone();
        if d.created_ms == 0 {
            d.created_ms = crate::domain::now_ms();
        }
        store.put_account(&d).await.map_err(|e| format!("accounts: cannot import account {:?}: {e}", d.id))?;
        imported += 1;
    }
    let records = if imported > 0 {
        store.list_accounts().await.map_err(|e| format!("accounts: cannot list stored accounts: {e}"))?
    } else {
        existing
    };
    let stored = records.len();
    let snap = build(records, None, cfg, true).map_err(|e| format!("accounts: {e}"))?;
    let holds = super::holds::restore_all(&store, &snap).await;
    log::info!(
        "accounts: {stored} stored ({imported} imported from the config), {} in the pool, {holds} hold(s) restored",
        snap.len()
    );
    Ok(Arc::new(snap))
}

/// Builds a snapshot from stored records, carrying state over from `prev`. Persisted statuses
/// are restored for accounts new to the pool, and for all of them when `restore_all`. Token
/// expiries the channels' refreshers read from the credentials are applied (see
/// [`apply_expiries`]).
pub fn build(
    records: Vec<AccountRecord>,
    prev: Option<&Snapshot>,
    cfg: &Config,
    restore_all: bool,
) -> Result<Snapshot, SnapshotError> {
    let test_channel = cfg.test_channel;
    let now = crate::domain::now_ms();
    let fresh: HashSet<String> = records
        .iter()
        .filter(|r| restore_all || prev.is_none_or(|p| p.get(&r.def.id).is_none()))
        .map(|r| r.def.id.clone())
        .collect();
    let statuses: Vec<_> = records.iter().map(|r| (r.def.id.clone(), r.state.status.clone())).collect();
    let mut defs: Vec<AccountDef> = records.into_iter().map(|r| r.def).collect();
    if test_channel {
        for c in Channel::ALL {
            if !defs.iter().any(|d| d.channel == c) {
                defs.push(test_default(c));
            }
        }
    }
    let snap = Snapshot::build(defs, prev)?;
    for (id, status) in statuses.iter().filter(|(id, _)| fresh.contains(id)) {
        if let Some(acc) = snap.get(id) {
            acc.restore(status, now, cfg.pool.refresh_timeout_ms);
        }
    }
    apply_expiries(&snap, cfg);
    Ok(snap)
}

/// Tells the pool when each account's token expires, where its channel's refresher can read it
/// from the credentials. Definitions already replaced by a refresh (older than the account's
/// `min_revision`) are skipped: their expiry is the old token's.
pub fn apply_expiries(snap: &Snapshot, cfg: &Config) {
    for acc in snap.accounts() {
        let refresher = ChannelRefresher::for_channel(cfg, acc.def().channel);
        if acc.def().revision < acc.shared().min_revision() {
            continue;
        }
        if let Some(ms) = refresher.expires_ms(acc.def()) {
            acc.set_token_expiry(ms);
        }
    }
}

/// The credential that marks a test-channel default account.
pub const TEST_DEFAULT_MARK: &str = "test_channel_default";

/// Whether `def` is a test-channel default account (module docs).
pub fn is_test_default(def: &AccountDef) -> bool {
    def.credentials.contains_key(TEST_DEFAULT_MARK)
}

/// The in-memory account a test-channel channel gets when it has none.
fn test_default(channel: Channel) -> AccountDef {
    AccountDef {
        id: format!("{channel}-test"),
        channel,
        name: "test channel default".to_owned(),
        credentials: BTreeMap::from([(TEST_DEFAULT_MARK.to_owned(), "true".to_owned())]),
        weight: 1,
        priority: 0,
        enabled: true,
        max_concurrency: 0,
        proxy: None,
        allowed_models: Vec::new(),
        denied_models: Vec::new(),
        notes: String::new(),
        created_ms: 0,
        revision: 0,
    }
}
