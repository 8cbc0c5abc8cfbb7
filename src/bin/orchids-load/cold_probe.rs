//! `--mode cold-probe`: what a cache line costs on this core right after the thread slept, next
//! to what it costs warm. On the microVMs we benchmark on, a core that idled for 20 ms has lost
//! its caches, so every line a proxy's path touches after a silence comes from memory; this
//! puts a number on that for each run's machine line (`docs/benchmarks.md`, twenty-fourth pass).
//!
//! The probe walks a random cyclic chain through `lines` contiguous cache lines (one `usize` slot
//! used per 64-byte line, each line visited once a walk, each step's address read from the line
//! before, in an order no stride prefetcher can follow; a core that fetches lines in pairs may
//! still bring in a neighbour), once right after a sleep and once again at once, for a number of
//! rounds; it reports the median nanoseconds per line of each.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `usize` slots per 64-byte cache line.
const SLOTS_PER_LINE: usize = 8;

/// The most lines a walk takes (1 GiB of lines) and the most rounds: larger asks are clamped.
const MAX_LINES: usize = 1 << 24;
const MAX_ROUNDS: usize = 100_000;

/// The walk's chain: `next[i * 8]` is the slot of the line after line `i`, a single cycle
/// through every line in a shuffled order (xorshift from a fixed seed: the same chain every run).
fn chain(lines: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..lines).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let j = usize::try_from(s % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
    let mut next = vec![0usize; lines * SLOTS_PER_LINE];
    for (k, &line) in order.iter().enumerate() {
        let after = order.get((k + 1) % lines).copied().unwrap_or(0);
        if let Some(slot) = next.get_mut(line * SLOTS_PER_LINE) {
            *slot = after * SLOTS_PER_LINE;
        }
    }
    next
}

/// One walk of `lines` steps from `start`; where it ended (`black_box` keeps the walk and its
/// place between the clock reads).
fn walk(next: &[usize], start: usize, lines: usize) -> usize {
    let next = std::hint::black_box(next);
    let mut p = std::hint::black_box(start);
    for _ in 0..lines {
        p = next.get(p).copied().unwrap_or(0);
    }
    std::hint::black_box(p)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[expect(clippy::cast_precision_loss, reason = "nanosecond totals and line counts far below 2^52")]
fn ns_per_line(d: Duration, lines: usize) -> f64 {
    d.as_nanos() as f64 / lines as f64
}

/// Runs the probe: `rounds` rounds of a sleep of `sleep`, a timed walk, and a second timed walk.
pub(crate) fn run(lines: usize, sleep: Duration, rounds: usize) -> Value {
    let lines = lines.clamp(1, MAX_LINES);
    let rounds = rounds.clamp(1, MAX_ROUNDS);
    let next = chain(lines);
    // A first walk brings the chain into memory (its pages are touched once).
    let mut p = walk(&next, 0, lines);
    let (mut cold, mut warm) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        #[expect(
            clippy::disallowed_methods,
            reason = "the probe runs alone in main, before any runtime: the thread is meant to sleep and leave its core idle"
        )]
        std::thread::sleep(sleep);
        let t = Instant::now();
        p = walk(&next, p, lines);
        cold.push(ns_per_line(t.elapsed(), lines));
        let t = Instant::now();
        p = walk(&next, p, lines);
        warm.push(ns_per_line(t.elapsed(), lines));
    }
    let tenths = |x: f64| (x * 10.0).round() / 10.0;
    json!({
        "mode": "cold-probe",
        "lines": lines,
        "bytes": lines * 64,
        "sleep_ms": sleep.as_secs_f64() * 1000.0,
        "rounds": rounds,
        "cold_ns_per_line": tenths(median(cold)),
        "warm_ns_per_line": tenths(median(warm)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_visits_every_line_once_a_walk() {
        for lines in [1, 2, 7, 4096] {
            let next = chain(lines);
            let mut seen = vec![false; lines];
            let mut p = 0;
            for _ in 0..lines {
                assert_eq!(p % SLOTS_PER_LINE, 0, "every step lands on a line's first slot");
                let line = p / SLOTS_PER_LINE;
                assert!(!seen[line], "line {line} visited twice in one walk of {lines}");
                seen[line] = true;
                p = next[p];
            }
            assert!(seen.iter().all(|s| *s), "a walk of {lines} misses a line");
            assert_eq!(p, 0, "the chain is one cycle back to its start");
        }
    }

    #[test]
    fn the_chain_is_shuffled() {
        // A stride prefetcher follows steps of a fixed size; few steps may go to a line within
        // eight lines either way of the one before (about 16 of 4,096 by chance).
        let next = chain(4096);
        let near = (0..4096).filter(|&i| (next[i * SLOTS_PER_LINE] / SLOTS_PER_LINE).abs_diff(i) <= 8).count();
        assert!(near < 64, "{near} of 4096 steps go to a line within 8 of the one before: not shuffled");
    }

    #[test]
    fn the_report_names_its_parameters() {
        let v = run(64, Duration::from_millis(2), 3);
        assert_eq!(v["mode"], "cold-probe");
        assert_eq!(v["lines"], 64);
        assert_eq!(v["bytes"], 4096);
        assert_eq!(v["rounds"], 3);
        assert_eq!(v["sleep_ms"], 2.0);
        assert!(v["cold_ns_per_line"].as_f64().is_some_and(|x| x >= 0.0));
        assert!(v["warm_ns_per_line"].as_f64().is_some_and(|x| x >= 0.0));
    }

    #[test]
    fn asks_beyond_the_limits_are_clamped() {
        let v = run(0, Duration::from_millis(0), 0);
        assert_eq!(v["lines"], 1);
        assert_eq!(v["rounds"], 1);
    }
}
