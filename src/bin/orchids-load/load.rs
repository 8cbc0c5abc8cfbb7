//! Non-streaming load: closed loop (C connections, each sending its next request as soon as the
//! last one completed, for a duration or a request count) and open loop (a fixed request rate,
//! for CPU per request at a known load). Both report RPS, latency percentiles, errors, and the
//! measured processes' CPU per request. The open loop reports latency from the actual send and,
//! separately, how far sends lagged their schedule (`start_lag`; monoio's timer has 1 ms
//! granularity, so lags under ~1 ms are the timer, larger ones mean the loop fell behind).

use crate::client::Conn;
use crate::job::{Job, request_once};
use crate::stats::{self, Errors};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Closed-loop parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosedPlan {
    pub(crate) concurrency: usize,
    pub(crate) duration: Option<Duration>,
    /// Measured requests (after warm-up); with a duration too, whichever ends first.
    pub(crate) requests: Option<u64>,
    /// Requests sent first and not recorded.
    pub(crate) warmup: u64,
}

#[derive(Debug)]
struct Shared {
    hist: Histogram<u64>,
    errors: Errors,
    ok: u64,
    claimed: u64,
    /// When the first measured request was claimed, and the CPU reading then.
    measure_start: Option<(Instant, Option<u64>)>,
    last_done: Option<Instant>,
}

/// Runs the closed loop; returns the report.
pub(crate) async fn closed(job: Rc<Job>, plan: ClosedPlan) -> Value {
    let shared = Rc::new(RefCell::new(Shared {
        hist: job.hist.clone(),
        errors: Errors::default(),
        ok: 0,
        claimed: 0,
        measure_start: None,
        last_done: None,
    }));
    let hard_end = plan.duration.map(|d| Instant::now() + d);
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency.max(1) {
        let (job, shared) = (Rc::clone(&job), Rc::clone(&shared));
        tasks.push(monoio::spawn(async move {
            closed_task(&job, &shared, plan, hard_end).await;
        }));
    }
    for t in tasks {
        t.await;
    }
    let cpu_end = job.procs.cpu_us();
    let rss = job.procs.rss_kib();
    let s = shared.borrow();
    let (start, cpu_start) = s.measure_start.unwrap_or((Instant::now(), None));
    let elapsed = s.last_done.map_or(Duration::ZERO, |d| d.saturating_duration_since(start));
    let secs = elapsed.as_secs_f64();
    let cpu = cpu_start.zip(cpu_end).map(|(a, b)| b.saturating_sub(a));
    json!({
        "mode": "load",
        "concurrency": plan.concurrency,
        "ok": s.ok,
        "elapsed_s": secs,
        "rps": if secs > 0.0 { stats::float(s.ok) / secs } else { 0.0 },
        "latency": stats::summary(&s.hist),
        "errors": s.errors.json(),
        "cpu_us": cpu,
        "cpu_us_per_request": cpu.and_then(|c| stats::per(c, s.ok)),
        "rss_kib_end": rss,
    })
}

async fn closed_task(job: &Job, shared: &RefCell<Shared>, plan: ClosedPlan, hard_end: Option<Instant>) {
    let mut conn: Option<Conn> = None;
    let mut body = Vec::with_capacity(4096);
    loop {
        let measured = {
            let mut s = shared.borrow_mut();
            if hard_end.is_some_and(|e| Instant::now() >= e) {
                return;
            }
            if plan.requests.is_some_and(|n| s.claimed >= n + plan.warmup) {
                return;
            }
            s.claimed += 1;
            let measured = s.claimed > plan.warmup;
            if measured && s.measure_start.is_none() {
                s.measure_start = Some((Instant::now(), job.procs.cpu_us()));
            }
            measured
        };
        let start = Instant::now();
        let r = request_once(job, &mut conn, &mut body).await;
        let done = Instant::now();
        if measured {
            let mut s = shared.borrow_mut();
            s.last_done = Some(done);
            match r {
                Ok(()) => {
                    stats::record(&mut s.hist, done - start);
                    s.ok += 1;
                }
                Err(f) => s.errors.add(&f),
            }
        }
    }
}

/// Open-loop parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenPlan {
    pub(crate) rate: f64,
    pub(crate) duration: Duration,
    /// Sent at the same rate before the measured window, not recorded.
    pub(crate) warmup: Duration,
    /// Connections (each serves every `connections`-th slot).
    pub(crate) connections: usize,
}

#[derive(Debug)]
struct OpenShared {
    hist: Histogram<u64>,
    errors: Errors,
    ok: u64,
    /// Requests that started more than 5 ms after their slot (the client or server fell behind).
    late: u64,
    start_lag: Histogram<u64>,
}

/// Runs the open loop at a fixed rate; returns the report.
pub(crate) async fn open(job: Rc<Job>, plan: OpenPlan) -> Value {
    let shared = Rc::new(RefCell::new(OpenShared {
        hist: job.hist.clone(),
        errors: Errors::default(),
        ok: 0,
        late: 0,
        start_lag: job.hist.clone(),
    }));
    let interval = Duration::from_secs_f64(1.0 / plan.rate.max(0.001));
    let t0 = Instant::now() + Duration::from_millis(20);
    let measure_from = t0 + plan.warmup;
    let end = measure_from + plan.duration;
    let k = plan.connections.max(1);
    let mut tasks = Vec::with_capacity(k);
    for first in 0..k {
        let (job, shared) = (Rc::clone(&job), Rc::clone(&shared));
        tasks.push(monoio::spawn(async move {
            open_task(&job, &shared, Slots { t0, interval, first: first as u64, step: k as u64, measure_from, end })
                .await;
        }));
    }
    // The CPU reading at the start of the measured window.
    monoio::time::sleep_until(monoio::time::Instant::from_std(measure_from)).await;
    let cpu_start = job.procs.cpu_us();
    for t in tasks {
        t.await;
    }
    let cpu_end = job.procs.cpu_us();
    let finished = Instant::now();
    let s = shared.borrow();
    let secs = finished.saturating_duration_since(measure_from).as_secs_f64().max(plan.duration.as_secs_f64());
    let cpu = cpu_start.zip(cpu_end).map(|(a, b)| b.saturating_sub(a));
    json!({
        "mode": "rate",
        "target_rps": plan.rate,
        "connections": k,
        "ok": s.ok,
        "late": s.late,
        "elapsed_s": secs,
        "rps": stats::float(s.ok) / secs,
        "latency": stats::summary(&s.hist),
        "start_lag": stats::summary(&s.start_lag),
        "errors": s.errors.json(),
        "cpu_us": cpu,
        "cpu_us_per_request": cpu.and_then(|c| stats::per(c, s.ok)),
        "rss_kib_end": job.procs.rss_kib(),
    })
}

#[derive(Debug, Clone, Copy)]
struct Slots {
    t0: Instant,
    interval: Duration,
    first: u64,
    step: u64,
    measure_from: Instant,
    end: Instant,
}

async fn open_task(job: &Job, shared: &RefCell<OpenShared>, slots: Slots) {
    let mut conn: Option<Conn> = None;
    let mut body = Vec::with_capacity(4096);
    let mut i = slots.first;
    loop {
        let Some(intended) = u32::try_from(i).ok().and_then(|n| slots.interval.checked_mul(n)).map(|d| slots.t0 + d)
        else {
            return;
        };
        if intended >= slots.end {
            return;
        }
        let now = Instant::now();
        if intended > now {
            monoio::time::sleep_until(monoio::time::Instant::from_std(intended)).await;
        }
        let start = Instant::now();
        let lag = start.saturating_duration_since(intended);
        let r = request_once(job, &mut conn, &mut body).await;
        let done = Instant::now();
        if intended >= slots.measure_from {
            let mut s = shared.borrow_mut();
            s.late += u64::from(lag > Duration::from_millis(5));
            stats::record(&mut s.start_lag, lag);
            match r {
                Ok(()) => {
                    stats::record(&mut s.hist, done.saturating_duration_since(start));
                    s.ok += 1;
                }
                Err(f) => s.errors.add(&f),
            }
        }
        i += slots.step;
    }
}
