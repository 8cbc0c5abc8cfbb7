//! The `accounts` thread: the one consumer of the store's change feed, the one writer of the
//! pool's holds, and the home of the background refresh sweeper.
//!
//! - `AccountPut` / `AccountDeleted` / `Resync`: reload every account from the store, rebuild
//!   the snapshot on top of the current one (cooldowns, in-flight counts and counters carry
//!   over) and broadcast it to every worker as `Control::Accounts`. Events that arrive together
//!   are coalesced into one reload. `Resync` also re-applies every persisted status and hold.
//! - `AccountStatus`: applied to the account's shared atomics at once (all cores see it at their
//!   next selection): `cooling` extends the cooldown, `disabled` disables, `active` clears
//!   cooldown and runtime disable (an admin reset on any instance).
//! - `Hold` (a scope cooldown or a model's unavailability, from any instance): applied to the
//!   shared atomics at once ([`super::holds::apply`]).
//! - Holds reported by this process's pool ([`crate::pool::HoldSink`]) are written to the store
//!   (spawned, so a slow store never delays the feed), which announces them to every instance.
//! - Every `pool.refresh_sweep_ms`, the [`Sweeper`] starts background token refreshes.
//!
//! Latency: a change is on every core as soon as the feed delivers it (Redis pub/sub: well under
//! a second; embedded: immediately). A failed reload is retried after [`RETRY_MS`].

use super::boot::build;
use super::holds;
use super::sweep::Sweeper;
use crate::config::Config;
use crate::domain::AccountStatus;
use crate::pool::{HoldChange, Snapshot};
use crate::runtime::control::{Control, ControlPlane};
use crate::store::{Store, StoreApi, StoreEvent, StoreHub};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wait before retrying a reload the store refused.
pub const RETRY_MS: u64 = 1_000;

/// Starts the thread. It runs until the store's feed closes (process exit).
pub fn spawn(hub: &Arc<StoreHub>, plane: ControlPlane, current: Arc<Snapshot>, cfg: Arc<Config>) -> Result<(), String> {
    let hub = Arc::clone(hub);
    std::thread::Builder::new()
        .name("accounts".into())
        .spawn(move || {
            let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build();
            match rt {
                Ok(mut rt) => rt.block_on(run(hub.handle(), hub.events(), plane, current, cfg)),
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

/// What woke the loop.
enum Wake {
    Event(StoreEvent),
    Hold(HoldChange),
    Timer,
    Closed,
}

async fn run(
    store: Store,
    events: async_channel::Receiver<StoreEvent>,
    plane: ControlPlane,
    mut current: Arc<Snapshot>,
    cfg: Arc<Config>,
) {
    let hold_rx = current.holds().receiver();
    let sweeper = Sweeper::new(store.clone(), Arc::clone(&cfg), Arc::clone(&current));
    let mut next_sweep = sweeper.interval().map(|i| Instant::now() + i);
    let mut pending = Pending::default();
    loop {
        // A failed reload retries after RETRY_MS; the sweeper runs at its interval.
        let retry = pending.reload.then(|| Instant::now() + Duration::from_millis(RETRY_MS));
        let timer = match (retry, next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = timer.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
        let wake = monoio::select! {
            ev = events.recv() => ev.map_or(Wake::Closed, Wake::Event),
            ch = hold_rx.recv() => ch.map_or(Wake::Closed, Wake::Hold),
            () = monoio::time::sleep(wait) => Wake::Timer,
        };
        match wake {
            Wake::Closed => return,
            Wake::Hold(ch) => {
                let mut batch = vec![ch];
                batch.extend(std::iter::from_fn(|| hold_rx.try_recv().ok()));
                let (store, snap) = (store.clone(), Arc::clone(&current));
                monoio::spawn(async move {
                    for ch in &batch {
                        holds::persist(&store, ch, &snap).await;
                    }
                });
                continue;
            }
            Wake::Event(ev) => {
                apply(&current, &cfg, ev, &mut pending);
                while let Ok(ev) = events.try_recv() {
                    apply(&current, &cfg, ev, &mut pending);
                }
            }
            Wake::Timer => {
                if next_sweep.is_some_and(|t| t <= Instant::now()) {
                    let n = sweeper.sweep();
                    if n > 0 {
                        log::debug!("accounts: refresh sweep started {n} refresh(es)");
                    }
                    next_sweep = sweeper.interval().map(|i| Instant::now() + i);
                }
            }
        }
        if pending.reload {
            reload(&store, &plane, &mut current, &cfg, &mut pending).await;
            sweeper.install(Arc::clone(&current));
        }
    }
}

/// Reloads the accounts and broadcasts the new snapshot; on a store error `pending` stays set
/// (retried after [`RETRY_MS`]).
async fn reload(store: &Store, plane: &ControlPlane, current: &mut Arc<Snapshot>, cfg: &Config, pending: &mut Pending) {
    match store.list_accounts().await {
        Ok(records) => match build(records, Some(current), cfg, pending.resync) {
            Ok(snap) => {
                if pending.resync {
                    holds::restore_all(store, &snap).await;
                }
                *current = Arc::new(snap);
                *pending = Pending::default();
                let n = plane.broadcast(&Control::Accounts(Arc::clone(current)));
                log::info!(
                    "accounts: snapshot {} ({} accounts) sent to {n} worker(s)",
                    current.generation(),
                    current.len()
                );
            }
            Err(e) => {
                *pending = Pending::default();
                log::warn!("accounts: stored accounts do not form a valid pool ({e}); keeping the current one");
            }
        },
        Err(e) => log::warn!("accounts: cannot reload accounts from the store ({e}); retrying"),
    }
}

fn apply(current: &Snapshot, cfg: &Config, ev: StoreEvent, pending: &mut Pending) {
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
                    other => acc.restore(&other, crate::domain::now_ms(), cfg.pool.refresh_timeout_ms),
                }
            }
        }
        StoreEvent::Hold { hold } => holds::apply(current, &hold, crate::domain::now_ms()),
        StoreEvent::ModelPut { .. }
        | StoreEvent::ModelDeleted { .. }
        | StoreEvent::KeyPut { .. }
        | StoreEvent::KeyDeleted { .. }
        | StoreEvent::SettingChanged { .. } => {}
    }
}
