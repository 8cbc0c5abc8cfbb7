//! On-CPU throughput for the benches: a workload run in a loop and divided by the time this
//! thread actually ran (`/proc/thread-self/schedstat`), median of 5 rounds. On a shared 2-core
//! machine wall-clock figures drop by 2-3x whenever other builds run; these move by a few percent.

use std::time::{Duration, Instant};

/// Nanoseconds this thread has spent on a CPU.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Bytes per on-CPU second of `f` (one run = `bytes`): median and best of 5 rounds.
#[expect(clippy::cast_precision_loss, reason = "a throughput figure")]
pub(crate) fn on_cpu(bytes: usize, mut f: impl FnMut()) -> Option<(f64, f64)> {
    for _ in 0..20 {
        f();
    }
    let mut rates = Vec::new();
    for _ in 0..5 {
        let (start, wall) = (cpu_ns()?, Instant::now());
        let mut runs = 0u64;
        while wall.elapsed() < Duration::from_millis(300) {
            f();
            runs += 1;
        }
        let ns = cpu_ns()?.saturating_sub(start).max(1);
        rates.push(bytes as f64 * runs as f64 * 1e9 / ns as f64);
    }
    rates.sort_by(f64::total_cmp);
    Some((*rates.get(2)?, *rates.last()?))
}
