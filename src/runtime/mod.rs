//! The thread-per-core runtime: driver choice, one pinned worker thread per core with its own
//! monoio runtime and `SO_REUSEPORT` listener, control channels, and the SIGINT/SIGTERM drain.
//!
//! Key components:
//! - [`driver`]: io_uring vs epoll detection.
//! - [`huge_code`]: the executable's code moved onto 2 MiB pages at start (`main`, before threads).
//! - [`listener`]: per-worker listeners, bound up front on the main thread.
//! - [`worker`]: the thread body (accept loop, drain).
//! - [`slots`]: the index table with reused slots that deadlines and drain waiters register in.
//! - [`closing`]: a worker's drain signal, awaited by idle connections without allocating.
//! - [`coarse_timer`]: small per-thread deadlines for what every open stream waits on.
//! - [`cores`]: which CPU each worker is pinned to (the process's allowed CPUs, in turn).
//! - [`ctx`]: the per-core `Worker` context (`!Send`).
//! - [`control`]: main -> worker messages.
//!
//! Shutdown: the first SIGINT/SIGTERM broadcasts `Control::Shutdown`; workers stop accepting,
//! idle keep-alive connections close, in-flight requests and open streams get
//! `timeouts.shutdown_grace` to finish, then the process exits 0. A second signal exits at once.

pub mod busy_poll;
pub mod closing;
pub mod coarse_timer;
pub mod control;
pub mod cores;
pub mod ctx;
pub mod driver;
pub mod huge_code;
pub mod listener;
pub mod slots;
pub mod worker;

use crate::config::{Config, DriverChoice};
use control::{Control, ControlPlane};
use ctx::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use worker::WorkerSpec;

/// Command-line overrides for the runtime.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub driver: DriverChoice,
    /// Overrides `workers` from the config when set.
    pub workers: Option<usize>,
}

enum Event {
    Signal(i32),
    WorkerExited(usize, Result<(), String>),
}

/// Starts every worker and blocks until shutdown. `Err` carries a message for a failed start or
/// a worker that died.
pub fn run(config: Config, opts: RunOptions) -> Result<(), String> {
    let driver = driver::resolve(opts.driver)?;
    let workers = opts.workers.filter(|n| *n > 0).unwrap_or_else(|| config.effective_workers());
    let addr = SocketAddr::new(config.host, config.port);
    let listeners = listener::bind_all(addr, workers, 4096).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listeners.first().and_then(|l| l.local_addr().ok()).unwrap_or(addr);
    let upstream = crate::upstream::UpstreamShared::from_config(&config)?;
    let store = Arc::new(crate::store::StoreHub::open(&config).map_err(|e| format!("store: {e}"))?);
    let pool_init = crate::accounts::boot::load(&store, &config)?;
    let config = Arc::new(config);
    let shared = Arc::new(Shared {
        started: Instant::now(),
        driver: driver.name(),
        workers,
        version: env!("CARGO_PKG_VERSION"),
        upstream,
        store: Some(Arc::clone(&store)),
        pool_init: Arc::clone(&pool_init),
    });
    banner(&config, bound, workers, driver.name());
    crate::auth::startup_warnings(&config);

    let (events_tx, events) = mpsc::channel::<Event>();
    spawn_signal_thread(events_tx.clone())?;
    let cpus = cores::allowed();
    let mut plane = ControlPlane::default();
    for (id, listener) in listeners.into_iter().enumerate() {
        let spec = WorkerSpec {
            id,
            core: cores::for_worker(&cpus, id),
            driver,
            listener,
            config: Arc::clone(&config),
            shared: Arc::clone(&shared),
            control: plane.add_worker(),
        };
        let tx = events_tx.clone();
        std::thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || {
                let r = worker::run_thread(spec);
                let _ = tx.send(Event::WorkerExited(id, r));
            })
            .map_err(|e| format!("cannot spawn worker thread {id}: {e}"))?;
    }
    drop(events_tx);
    crate::accounts::sync::spawn(&store, plane.clone(), pool_init, Arc::clone(&config))?;
    let result = supervise(&events, &plane, workers, config.timeouts.shutdown_grace);
    store.close();
    result
}

fn supervise(
    events: &mpsc::Receiver<Event>,
    plane: &ControlPlane,
    workers: usize,
    grace: Duration,
) -> Result<(), String> {
    let mut alive = workers;
    let mut failure: Option<String> = None;
    let mut deadline: Option<Instant> = None;
    while alive > 0 {
        let ev = match deadline {
            None => events.recv().map_err(|_| "worker channel closed".to_owned())?,
            Some(d) => {
                let Ok(ev) = events.recv_timeout(d.saturating_duration_since(Instant::now())) else {
                    log::warn!("{alive} worker(s) still busy after the grace period; exiting");
                    break;
                };
                ev
            }
        };
        match ev {
            Event::Signal(sig) if deadline.is_none() => {
                log::info!(
                    "signal {sig} received: draining (grace {} ms); send again to exit at once",
                    grace.as_millis()
                );
                plane.broadcast(&Control::Shutdown);
                deadline = Some(Instant::now() + grace + Duration::from_secs(1));
            }
            Event::Signal(sig) => {
                log::warn!("second signal {sig}: exiting without waiting");
                return Ok(());
            }
            Event::WorkerExited(id, result) => {
                alive -= 1;
                if let Err(e) = result {
                    log::error!("worker {id} failed: {e}");
                    failure.get_or_insert(e);
                    if deadline.is_none() {
                        plane.broadcast(&Control::Shutdown);
                        deadline = Some(Instant::now() + grace + Duration::from_secs(1));
                    }
                }
            }
        }
    }
    match failure {
        None => {
            log::info!("shutdown complete");
            Ok(())
        }
        Some(e) => Err(e),
    }
}

fn spawn_signal_thread(tx: mpsc::Sender<Event>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(Event::Signal(sig)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot spawn signal thread: {e}"))?;
    Ok(())
}

fn banner(config: &Config, bound: SocketAddr, workers: usize, driver: &str) {
    let admin_host = if bound.ip().is_unspecified() { "127.0.0.1".to_owned() } else { bound.ip().to_string() };
    let admin_base = config.public_base_url.clone().unwrap_or_else(|| format!("http://{admin_host}:{}", bound.port()));
    log::info!(
        "orchids-server {} listening on {bound} workers={workers} driver={driver} store={} data_dir={} admin={admin_base}{}",
        env!("CARGO_PKG_VERSION"),
        config.store_mode.as_str(),
        config.data_dir.display(),
        config.admin_path,
    );
}
