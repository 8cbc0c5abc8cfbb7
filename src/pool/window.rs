//! A lock-free sliding-window event counter: "how many failures in the last `window_ms`".
//!
//! Key components: [`SlidingWindow`], [`BUCKETS`] atomic buckets. Time is cut into buckets of
//! `ceil(window_ms / BUCKETS)` ms; each bucket is one `AtomicU64` packing the bucket's epoch
//! (`now_ms / width`, 44 bits) and its count (20 bits, saturating). Recording into a bucket whose
//! stored epoch is old restarts it at 1; counting sums the buckets whose epoch lies in the last
//! `BUCKETS` epochs. So the window is exact in events and coarse in time: an event is forgotten
//! between `window_ms - width` and `window_ms` after it happened.
//!
//! # Concurrency note
//! Every update is one compare-and-swap on one bucket, so two cores recording at once never lose
//! an event. A count taken while another core restarts a bucket may include or miss that one
//! event; policy decisions ("cool after N") tolerate being one event early or late. `clear` is a
//! plain store per bucket and may race with a concurrent `record` (the event lands in the cleared
//! window or not); both outcomes are valid orderings.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets per window.
pub const BUCKETS: usize = 8;
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// See the module docs.
#[derive(Debug, Default)]
pub struct SlidingWindow {
    buckets: [AtomicU64; BUCKETS],
}

fn width(window_ms: u64) -> u64 {
    window_ms.div_ceil(BUCKETS as u64).max(1)
}

fn pack(epoch: u64, count: u64) -> u64 {
    (epoch << COUNT_BITS) | count.min(COUNT_MAX)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> COUNT_BITS, v & COUNT_MAX)
}

impl SlidingWindow {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, epoch: u64) -> &AtomicU64 {
        // BUCKETS is a power of two; the index is always in range, `get` keeps the lint honest.
        let i = usize::try_from(epoch % BUCKETS as u64).unwrap_or(0);
        self.buckets.get(i).unwrap_or(&self.buckets[0])
    }

    /// Records one event at `now_ms` and returns the count in the window including it.
    pub fn record(&self, now_ms: u64, window_ms: u64) -> u32 {
        let epoch = now_ms / width(window_ms);
        let slot = self.slot(epoch);
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            let (e, c) = unpack(cur);
            let next = if e == epoch { pack(epoch, c + 1) } else { pack(epoch, 1) };
            match slot.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
        self.count(now_ms, window_ms)
    }

    /// Events in the window ending at `now_ms`.
    pub fn count(&self, now_ms: u64, window_ms: u64) -> u32 {
        let epoch = now_ms / width(window_ms);
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        let total: u64 = self
            .buckets
            .iter()
            .map(|b| unpack(b.load(Ordering::Relaxed)))
            .filter(|(e, _)| (oldest..=epoch).contains(e))
            .map(|(_, c)| c)
            .sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// Forgets every event.
    pub fn clear(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn counts_inside_the_window_and_forgets_after_it() {
        let w = SlidingWindow::new();
        assert_eq!(w.record(T0, 8_000), 1);
        assert_eq!(w.record(T0 + 1_000, 8_000), 2);
        assert_eq!(w.record(T0 + 7_000, 8_000), 3);
        // 8 s after the first event it is gone, the other two remain.
        assert_eq!(w.count(T0 + 8_000, 8_000), 2);
        assert_eq!(w.count(T0 + 9_000, 8_000), 1);
        assert_eq!(w.count(T0 + 15_000, 8_000), 0);
    }

    #[test]
    fn a_reused_bucket_restarts_instead_of_adding_old_events() {
        let w = SlidingWindow::new();
        for _ in 0..5 {
            w.record(T0, 800);
        }
        // Same slot, eight buckets later: the old five do not count.
        assert_eq!(w.record(T0 + 800, 800), 1);
    }

    #[test]
    fn clear_forgets_everything() {
        let w = SlidingWindow::new();
        w.record(T0, 60_000);
        w.record(T0, 60_000);
        w.clear();
        assert_eq!(w.count(T0, 60_000), 0);
    }

    #[test]
    fn events_from_a_future_clock_are_ignored_after_a_step_back() {
        let w = SlidingWindow::new();
        w.record(T0 + 100_000, 1_000);
        assert_eq!(w.count(T0, 1_000), 0);
    }

    #[test]
    fn tiny_windows_do_not_divide_by_zero() {
        let w = SlidingWindow::new();
        assert_eq!(w.record(5, 0), 1);
        assert_eq!(w.record(5, 1), 2);
    }

    #[test]
    fn concurrent_records_are_never_lost() {
        let w = std::sync::Arc::new(SlidingWindow::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = std::sync::Arc::clone(&w);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        w.record(T0, 60_000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.count(T0, 60_000), 40_000);
    }
}
