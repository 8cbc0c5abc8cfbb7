//! Streaming load: C tasks, each running streams back to back (or exactly one, to hold C long
//! streams open at once for the memory test), started at a bounded ramp rate. Every body read
//! is timestamped; each SSE text frame gets its read's time. Per stream: time to the response
//! head, time to first token (request written -> first text frame), the gap between
//! consecutive text frames, and the total; the text is verified against the simulator's token
//! sequence, so a lost, duplicated or reordered chunk fails the stream. Only streams that
//! arrive complete feed the histograms. When the simulator stamps its tokens (`--stamped`,
//! [`orchids2api::sim::grok::stamp`]), two more figures leave the simulator's own waiting out:
//! the time to first token minus how long the simulator held the request, and each gap minus
//! the simulator's own gap between the two tokens (negative differences count as zero). A
//! sampler records the measured processes' RSS — at the moment every stream is open at once,
//! and the peak.

use crate::client::{Conn, Failure};
use crate::frame_clock::FrameClock;
use crate::job::{Job, ensure_conn};
use crate::sse::{Frame, SseParser, Verifier, classify};
use crate::stats::{self, Errors};
use hdrhistogram::Histogram;
use orchids2api::sim::grok::stamp;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamPlan {
    pub(crate) concurrency: usize,
    /// Streams in all (default: one per task).
    pub(crate) streams: u64,
    pub(crate) duration: Option<Duration>,
    /// Tasks started per second (0: all at once).
    pub(crate) ramp_per_s: f64,
}

#[derive(Debug)]
struct Shared {
    head: Histogram<u64>,
    ttft: Histogram<u64>,
    gap: Histogram<u64>,
    total: Histogram<u64>,
    /// Stamped streams: TTFT minus the simulator's hold time.
    ttft_beyond: Histogram<u64>,
    /// Stamped streams: each gap minus the simulator's own gap.
    gap_beyond: Histogram<u64>,
    errors: Errors,
    ok: u64,
    chunks: u64,
    claimed: u64,
    /// First problem with the text (lost/reordered), for the report.
    first_loss: Option<String>,
}

#[derive(Debug, Default)]
struct Live {
    now: Cell<u64>,
    max: Cell<u64>,
    /// RSS when `now` first reached the plan's concurrency.
    rss_all_open: Cell<Option<u64>>,
    rss_peak: Cell<u64>,
    /// The sampler's RSS reading at the highest open-stream count it saw: (open, rss).
    rss_at_most_open: Cell<(u64, Option<u64>)>,
    /// Seconds from the start until every stream was open at once.
    all_open_after: Cell<Option<f64>>,
    done: Cell<bool>,
}

pub(crate) async fn run(job: Rc<Job>, plan: StreamPlan) -> Value {
    let shared = Rc::new(RefCell::new(Shared {
        head: job.hist.clone(),
        ttft: job.hist.clone(),
        gap: job.hist.clone(),
        total: job.hist.clone(),
        ttft_beyond: job.hist.clone(),
        gap_beyond: job.hist.clone(),
        errors: Errors::default(),
        ok: 0,
        chunks: 0,
        claimed: 0,
        first_loss: None,
    }));
    let open = Rc::new(Live::default());
    let started = Instant::now();
    let hard_end = plan.duration.map(|d| started + d);
    let rss_idle = job.procs.rss_kib();
    let cpu_start = job.procs.cpu_us();
    let sampler = {
        let (job, open) = (Rc::clone(&job), Rc::clone(&open));
        monoio::spawn(async move {
            while !open.done.get() {
                if let Some(r) = job.procs.rss_kib() {
                    open.rss_peak.set(open.rss_peak.get().max(r));
                    let now = open.now.get();
                    if now > 0 && now >= open.rss_at_most_open.get().0 {
                        open.rss_at_most_open.set((now, Some(r)));
                    }
                }
                monoio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let c = plan.concurrency.max(1);
    let mut tasks = Vec::with_capacity(c);
    for i in 0..c {
        let (job, shared, open) = (Rc::clone(&job), Rc::clone(&shared), Rc::clone(&open));
        let delay = if plan.ramp_per_s > 0.0 {
            Duration::from_secs_f64(stats::float(i as u64) / plan.ramp_per_s)
        } else {
            Duration::ZERO
        };
        tasks.push(monoio::spawn(async move {
            if !delay.is_zero() {
                monoio::time::sleep(delay).await;
            }
            stream_task(&job, &shared, &open, plan, c as u64, hard_end, started).await;
        }));
    }
    for t in tasks {
        t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_start.zip(job.procs.cpu_us()).map(|(a, b)| b.saturating_sub(a));
    open.done.set(true);
    sampler.await;
    let s = shared.borrow();
    json!({
        "mode": "stream",
        "concurrency": c,
        "streams_ok": s.ok,
        "streams_failed": s.errors.total(),
        "max_open": open.max.get(),
        "all_open_after_s": open.all_open_after.get(),
        "chunks": s.chunks,
        "elapsed_s": elapsed,
        "head": stats::summary(&s.head),
        "ttft": stats::summary(&s.ttft),
        "gap": stats::summary(&s.gap),
        "total": stats::summary(&s.total),
        "ttft_beyond_sim": stats::summary(&s.ttft_beyond),
        "gap_beyond_sim": stats::summary(&s.gap_beyond),
        "errors": s.errors.json(),
        "first_loss": s.first_loss,
        "cpu_us": cpu,
        "cpu_us_per_chunk": cpu.and_then(|c| stats::per(c, s.chunks)),
        "rss_kib_idle": rss_idle,
        "rss_kib_all_open": open.rss_all_open.get(),
        "rss_kib_most_open": open.rss_at_most_open.get().1,
        "most_open_sampled": open.rss_at_most_open.get().0,
        "rss_kib_peak": (open.rss_peak.get() > 0).then(|| open.rss_peak.get()),
        "rss_kib_end": job.procs.rss_kib(),
    })
}

async fn stream_task(
    job: &Job,
    shared: &RefCell<Shared>,
    open: &Live,
    plan: StreamPlan,
    target_open: u64,
    hard_end: Option<Instant>,
    started: Instant,
) {
    let mut conn: Option<Conn> = None;
    let mut clock = FrameClock::default();
    let mut parser = SseParser::default();
    loop {
        {
            let mut s = shared.borrow_mut();
            if hard_end.is_some_and(|e| Instant::now() >= e) || s.claimed >= plan.streams {
                return;
            }
            s.claimed += 1;
        }
        // Connecting is not part of a stream's timings.
        if let Err(f) = ensure_conn(job, &mut conn).await {
            shared.borrow_mut().errors.add(&f);
            continue;
        }
        clock.reset();
        parser.reset();
        let r = one_stream(job, &mut conn, &mut parser, &mut clock, open, target_open, started).await;
        let mut s = shared.borrow_mut();
        match r {
            Ok(t) => {
                s.ok += 1;
                s.chunks += t.frames;
                stats::record(&mut s.head, t.head);
                stats::record(&mut s.ttft, t.ttft);
                stats::record(&mut s.total, t.total);
                if let Some(d) = t.ttft_beyond {
                    stats::record(&mut s.ttft_beyond, d);
                }
                for g in &clock.raw {
                    stats::record(&mut s.gap, *g);
                }
                for g in &clock.beyond {
                    stats::record(&mut s.gap_beyond, *g);
                }
            }
            Err(f) => {
                if let Failure::BadBody(why) = &f {
                    if s.first_loss.is_none() {
                        s.first_loss = Some(why.clone());
                    }
                }
                s.errors.add(&f);
                conn = None;
            }
        }
    }
}

struct Timings {
    head: Duration,
    ttft: Duration,
    /// TTFT minus the simulator's hold time (stamped streams).
    ttft_beyond: Option<Duration>,
    total: Duration,
    frames: u64,
}

/// Marks a stream open for its lifetime (the RSS-at-all-open sample).
struct OpenGuard<'o>(&'o Live);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.now.set(self.0.now.get().saturating_sub(1));
    }
}

async fn one_stream(
    job: &Job,
    slot: &mut Option<Conn>,
    parser: &mut SseParser,
    clock: &mut FrameClock,
    open: &Live,
    target_open: u64,
    started: Instant,
) -> Result<Timings, Failure> {
    let Some(conn) = slot.as_mut() else {
        return Err(Failure::Connect("no connection".to_owned()));
    };
    let start = Instant::now();
    conn.send(job.request()).await?;
    let mut head = conn.read_head().await?;
    let head_at = conn.last_read;
    if head.status != 200 {
        let mut body = Vec::new();
        conn.read_body(&mut head.body, &mut body, 300).await?;
        return Err(Failure::Status(head.status, String::from_utf8_lossy(&body).into_owned()));
    }
    let n = open.now.get() + 1;
    open.now.set(n);
    let _guard = OpenGuard(open);
    if n > open.max.get() {
        open.max.set(n);
        if n == target_open {
            open.rss_all_open.set(job.procs.rss_kib());
            open.all_open_after.set(Some(started.elapsed().as_secs_f64()));
        }
    }
    let mut verifier = Verifier::new(&job.expected);
    let mut stream_error: Option<String> = None;
    while let Some(piece) = conn.body_piece(&mut head.body).await? {
        let at = conn.last_read;
        parser.feed(&piece, &mut |data| match classify(job.format, data) {
            Frame::Text(t) => {
                let (text, stamp) = stamp::strip(&t);
                verifier.text(&text);
                clock.frame(at, stamp);
            }
            Frame::End => verifier.ended = true,
            Frame::Error(e) => {
                if stream_error.is_none() {
                    stream_error = Some(e);
                }
            }
            Frame::Other => {}
        });
    }
    if let Some(e) = stream_error {
        return Err(Failure::StreamError(e));
    }
    if let Some(p) = verifier.problem.take() {
        return Err(Failure::BadBody(p));
    }
    if !verifier.ended {
        return Err(Failure::Incomplete);
    }
    if !verifier.complete() {
        return Err(Failure::BadBody(format!("{} bytes of text missing", verifier.missing())));
    }
    let end = conn.last_read;
    let ttft = clock.ttft(start, end);
    Ok(Timings {
        head: head_at.saturating_duration_since(start),
        ttft,
        ttft_beyond: clock.ttft_beyond(ttft),
        total: end.saturating_duration_since(start),
        frames: verifier.frames,
    })
}
