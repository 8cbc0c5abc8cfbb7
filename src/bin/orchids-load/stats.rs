//! What the load client records and reports: latency histograms (hdrhistogram, microseconds),
//! error counters with the first error's detail, and the measured processes' CPU time
//! (utime + stime from `/proc/PID/stat`) and resident memory (`VmRSS` from `/proc/PID/status`).

use crate::client::Failure;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest value a histogram keeps (one hour in µs); larger values saturate.
const MAX_US: u64 = 3_600_000_000;

/// An empty histogram of 1 µs .. 1 h at 3 significant digits (clone it for each use).
pub(crate) fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_US, 3).map_err(|e| format!("cannot create a histogram: {e}"))
}

pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(MAX_US).max(1);
    h.saturating_record(us);
}

/// `{count, mean_us, p50_us, p90_us, p99_us, p999_us, max_us}` (zeros when empty).
pub(crate) fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0, "mean_us": 0, "p50_us": 0, "p90_us": 0, "p99_us": 0, "p999_us": 0, "max_us": 0});
    }
    json!({
        "count": h.len(),
        "mean_us": (h.mean() * 10.0).round() / 10.0,
        "p50_us": h.value_at_quantile(0.50),
        "p90_us": h.value_at_quantile(0.90),
        "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
    })
}

/// `n` as a float (counts far below 2^52 in practice).
#[expect(clippy::cast_precision_loss, reason = "request and chunk counts stay far below 2^52")]
pub(crate) fn float(n: u64) -> f64 {
    n as f64
}

/// `a / b`, `None` when `b` is 0.
pub(crate) fn per(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| float(a) / float(b))
}

/// Error counters by kind, plus the first error's detail.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub(crate) by_kind: BTreeMap<&'static str, u64>,
    pub(crate) first: Option<String>,
}

impl Errors {
    pub(crate) fn add(&mut self, f: &Failure) {
        *self.by_kind.entry(f.kind()).or_default() += 1;
        if self.first.is_none() {
            self.first = Some(f.detail());
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    pub(crate) fn json(&self) -> Value {
        json!({"total": self.total(), "by_kind": self.by_kind, "first": self.first})
    }
}

/// The processes whose CPU and memory are measured (a proxy and its workers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Procs {
    pub(crate) pids: Vec<u32>,
    /// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`, 100 on Linux).
    pub(crate) clk_tck: u64,
}

impl Procs {
    /// utime + stime of every pid, in µs; `None` when a pid cannot be read.
    pub(crate) fn cpu_us(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        let mut ticks = 0u64;
        for pid in &self.pids {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            ticks += cpu_ticks(&stat)?;
        }
        Some(ticks * 1_000_000 / self.clk_tck.max(1))
    }

    /// Sum of `VmRSS` in KiB; `None` when a pid cannot be read.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        let mut kib = 0u64;
        for pid in &self.pids {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            kib += vm_rss_kib(&status)?;
        }
        Some(kib)
    }
}

/// Fields 14 and 15 (utime, stime) of a `/proc/PID/stat` line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its closing `)`.
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_ascii_whitespace();
    // After ")": field 3 (state) is the first; utime is field 14 -> index 11.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

pub(crate) fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let stat = "1234 (orchids (x) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(vm_rss_kib("Name:\tx\nVmRSS:\t   12345 kB\nVmSwap: 0 kB\n"), Some(12345));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        let me = Procs { pids: vec![std::process::id()], clk_tck: 100 };
        assert!(me.rss_kib().unwrap() > 0);
        assert!(me.cpu_us().is_some());
    }

    #[test]
    fn histogram_summary() {
        let mut h = histogram().unwrap();
        for us in 1..=1000u64 {
            record(&mut h, Duration::from_micros(us));
        }
        let s = summary(&h);
        assert_eq!(s["count"], 1000);
        let p50 = s["p50_us"].as_u64().unwrap();
        assert!((495..=505).contains(&p50), "{p50}");
        assert!(s["max_us"].as_u64().unwrap() >= 1000);
        assert_eq!(summary(&histogram().unwrap())["count"], 0);
    }
}
