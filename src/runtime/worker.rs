//! One worker thread: pin to a core, build a monoio runtime on the chosen driver, accept on this
//! worker's own `SO_REUSEPORT` listener, serve connections, and drain on `Control::Shutdown`.
//!
//! The io_uring ring is set up with `IORING_SETUP_COOP_TASKRUN` (Linux 5.19+; without it where
//! the kernel refuses it): a completion that arrives while the worker runs is queued for its
//! next entry into the kernel (the next submit or wait, which a busy worker makes every loop
//! turn) instead of interrupting it. Measured on the 2-core box: no change at saturation or at
//! concurrency 1, about a fifth less CPU per request at moderate load (20k req/s open loop:
//! 28-29 -> 22-24 µs).

use super::control::Control;
use super::ctx::{Shared, Worker};
use super::driver::Driver;
use crate::config::Config;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a worker thread needs, moved into it at spawn.
#[derive(Debug)]
pub struct WorkerSpec {
    pub id: usize,
    pub core: Option<usize>,
    pub driver: Driver,
    pub listener: std::net::TcpListener,
    pub config: Arc<Config>,
    pub shared: Arc<Shared>,
    pub control: async_channel::Receiver<Control>,
}

/// How long a draining worker waits for its spawned store writes.
const WRITES_GRACE: Duration = Duration::from_secs(5);

/// Thread body: returns when the worker has drained (or failed to start).
pub fn run_thread(spec: WorkerSpec) -> Result<(), String> {
    if let Some(core) = spec.core {
        if let Err(e) = monoio::utils::bind_to_cpu_set([core]) {
            log::warn!("worker {} could not be pinned to core {core}: {e:?}; running unpinned", spec.id);
        }
    }
    let entries = 1024;
    match spec.driver {
        Driver::Uring => {
            let build = |coop: bool| {
                let mut setup = io_uring::IoUring::builder();
                if coop {
                    setup.setup_coop_taskrun();
                }
                monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .uring_builder(setup)
                    .with_entries(entries)
                    .enable_timer()
                    .build()
            };
            // Kernels before 5.19 refuse the flag: then the ring goes without it.
            build(true)
                .or_else(|_| build(false))
                .map_err(|e| format!("worker {}: cannot start io_uring runtime: {e}", spec.id))?
                .block_on(worker_main(spec))
        }
        Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map_err(|e| format!("worker {}: cannot start epoll runtime: {e}", spec.id))?
            .block_on(worker_main(spec)),
    }
}

async fn worker_main(spec: WorkerSpec) -> Result<(), String> {
    let WorkerSpec { id, listener, config, shared, control, .. } = spec;
    let listener = monoio::net::TcpListener::from_std(listener)
        .map_err(|e| format!("worker {id}: cannot register listener: {e}"))?;
    let store = shared.store.as_ref().map(|hub| hub.handle());
    let worker = Rc::new(Worker::new(id, config, shared));
    if let Some(store) = store {
        worker.set_store(store);
    }
    let control_task = monoio::spawn(control_loop(Rc::clone(&worker), control.clone()));
    // This thread's runtime lives as long as the thread: its streams get coarse deadlines.
    super::coarse_timer::install();
    super::busy_poll::install(worker.config().busy_poll);

    let max_conns = worker.config().limits.max_connections_per_worker;
    let (permit_tx, permit_rx) = async_channel::bounded::<()>(max_conns);
    loop {
        // Wait for a connection slot; stop waiting if we start draining.
        monoio::select! {
            r = permit_tx.send(()) => { if r.is_err() { break; } }
            () = worker.closing.wait() => break,
        }
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let w = Rc::clone(&worker);
                    let permits = permit_rx.clone();
                    monoio::spawn(async move {
                        let _conn = w.conn_guard();
                        crate::http::server::serve_connection(stream, peer, &w).await;
                        let _ = permits.try_recv();
                    });
                }
                Err(e) => {
                    let _ = permit_rx.try_recv();
                    log::warn!("worker {id}: accept failed: {e}");
                    monoio::time::sleep(Duration::from_millis(5)).await;
                }
            },
            () = worker.closing.wait() => break,
        }
    }
    drop(listener);
    let grace = worker.config().timeouts.shutdown_grace;
    let deadline = Instant::now() + grace;
    while worker.open_conns() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if worker.open_conns() > 0 {
        log::warn!(
            "worker {id}: grace period of {} ms over; closing {} connection(s)",
            grace.as_millis(),
            worker.open_conns()
        );
    }
    // Counters still batched in memory reach the store before the worker exits, and spawned
    // store writes finish (bounded): a store reply to a task whose runtime is gone could hang
    // the store's thread.
    if let Some(store) = worker.store() {
        worker.counters.flush(store).await;
    }
    let writes_deadline = Instant::now() + WRITES_GRACE;
    while worker.pending_writes() > 0 && Instant::now() < writes_deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    if worker.pending_writes() > 0 {
        log::warn!("worker {id}: {} store write(s) still running at exit", worker.pending_writes());
    }
    // End the control task before this runtime goes away. Left pending, its waker stays
    // registered in the control channel; when the main thread later drops the senders, the
    // close notification (under the channel's event lock) wakes a task whose runtime is gone,
    // monoio drops that task right there, and dropping its `recv` future takes the same lock:
    // the main thread deadlocked and the process never exited after a drain.
    control.close();
    control_task.await;
    Ok(())
}

async fn control_loop(worker: Rc<Worker>, control: async_channel::Receiver<Control>) {
    while let Ok(msg) = control.recv().await {
        match msg {
            Control::Shutdown => {
                worker.start_draining();
            }
            Control::Config(cfg) => worker.set_config(cfg),
            Control::Accounts(snap) => worker.pool().install(snap),
        }
    }
    // The main thread went away: drain as well.
    worker.start_draining();
}
