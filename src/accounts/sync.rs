//! The `accounts` thread: the one consumer of the store's change feed.
//!
//! - `AccountPut` / `AccountDeleted` / `Resync`: reload every account from the store, rebuild
//!   the snapshot on top of the current one (cooldowns, in-flight counts and counters carry
//!   over) and broadcast it to every worker as `Control::Accounts`. Events that arrive together
//!   are coalesced into one reload. `Resync` also re-applies every persisted status.
//! - `AccountStatus`: applied to the account's shared atomics at once (all cores see it at their
//!   next selection): `cooling` extends the cooldown, `disabled` disables, `active` clears
//!   cooldown and runtime disable (an admin reset on any instance).
//!
//! Latency: a change is on every core as soon as the feed delivers it (Redis pub/sub: well under
//! a second; embedded: immediately). A failed reload is retried after [`RETRY_MS`].

use super::boot::build;
use crate::domain::AccountStatus;
use crate::pool::Snapshot;
use crate::runtime::control::{Control, ControlPlane};
use crate::store::{Store, StoreApi, StoreEvent, StoreHub};
use std::sync::Arc;
use std::time::Duration;

/// Wait before retrying a reload the store refused.
pub const RETRY_MS: u64 = 1_000;

/// Starts the thread. It runs until the store's feed closes (process exit).
pub fn spawn(
    hub: &Arc<StoreHub>,
    plane: ControlPlane,
    current: Arc<Snapshot>,
    test_channel: bool,
) -> Result<(), String> {
    let hub = Arc::clone(hub);
    std::thread::Builder::new()
        .name("accounts".into())
        .spawn(move || {
            let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build();
            match rt {
                Ok(mut rt) => rt.block_on(run(hub.handle(), hub.events(), plane, current, test_channel)),
                Err(e) => {
                    log::error!("accounts: cannot start the sync runtime: {e}; account changes will not propagate");
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot spawn the accounts thread: {e}"))
}

#[derive(Debug, Default)]
struct Pending {
    reload: bool,
    resync: bool,
}

async fn run(
    store: Store,
    events: async_channel::Receiver<StoreEvent>,
    plane: ControlPlane,
    mut current: Arc<Snapshot>,
    test_channel: bool,
) {
    let mut pending = Pending::default();
    loop {
        let ev = if pending.reload {
            // A reload failed: wait a little (or for the next event) and try again.
            monoio::select! {
                ev = events.recv() => ev,
                () = monoio::time::sleep(Duration::from_millis(RETRY_MS)) => Ok(StoreEvent::Resync),
            }
        } else {
            events.recv().await
        };
        let Ok(ev) = ev else { return };
        apply(&current, ev, &mut pending);
        while let Ok(ev) = events.try_recv() {
            apply(&current, ev, &mut pending);
        }
        if !pending.reload {
            continue;
        }
        match store.list_accounts().await {
            Ok(records) => match build(records, Some(&current), test_channel, pending.resync) {
                Ok(snap) => {
                    current = Arc::new(snap);
                    pending = Pending::default();
                    let n = plane.broadcast(&Control::Accounts(Arc::clone(&current)));
                    log::info!(
                        "accounts: snapshot {} ({} accounts) sent to {n} worker(s)",
                        current.generation(),
                        current.len()
                    );
                }
                Err(e) => {
                    pending = Pending::default();
                    log::warn!("accounts: stored accounts do not form a valid pool ({e}); keeping the current one");
                }
            },
            Err(e) => log::warn!("accounts: cannot reload accounts from the store ({e}); retrying"),
        }
    }
}

fn apply(current: &Snapshot, ev: StoreEvent, pending: &mut Pending) {
    match ev {
        StoreEvent::AccountPut { .. } | StoreEvent::AccountDeleted { .. } => pending.reload = true,
        StoreEvent::Resync => {
            pending.reload = true;
            pending.resync = true;
        }
        StoreEvent::AccountStatus { id, status } => {
            if let Some(acc) = current.get(&id) {
                match status {
                    AccountStatus::Active => acc.reset(),
                    other => acc.restore(&other, crate::domain::now_ms()),
                }
            }
        }
        StoreEvent::ModelPut { .. }
        | StoreEvent::ModelDeleted { .. }
        | StoreEvent::KeyPut { .. }
        | StoreEvent::KeyDeleted { .. }
        | StoreEvent::SettingChanged { .. } => {}
    }
}
