//! Structured one-line logging behind the `log` facade.
//!
//! Format: `2026-11-26T23:59:59.123Z INFO target: message key=value ...` on stderr, one write per
//! line so lines from different workers never interleave. Level: `RUST_LOG` (a level name, or
//! `target=level` pairs whose last bare level wins) overrides the config's `log_level`.
//! Callers never pass secrets; config secrets are `Secret`, whose `Debug` prints `***`.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
struct LineLogger {
    level: LevelFilter,
}

impl Log for LineLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = String::with_capacity(128);
        push_utc_timestamp(&mut line, SystemTime::now());
        line.push(' ');
        line.push_str(record.level().as_str());
        line.push(' ');
        line.push_str(record.target());
        line.push_str(": ");
        line.push_str(&record.args().to_string());
        line.push('\n');
        // One write per line; a failed log write has nowhere to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Resolves the effective level: `RUST_LOG` when it names a level, else `configured`.
pub fn effective_level(configured: LevelFilter, env: Option<&str>) -> LevelFilter {
    let Some(env) = env else { return configured };
    env.split(',')
        .filter(|part| !part.contains('='))
        .filter_map(|part| part.trim().parse::<LevelFilter>().ok())
        .next_back()
        .unwrap_or(configured)
}

/// Installs the logger once; later calls only change the level.
pub fn init(level: LevelFilter) {
    let level = effective_level(level, std::env::var("RUST_LOG").ok().as_deref());
    if log::set_boxed_logger(Box::new(LineLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}

/// Appends an RFC 3339 UTC timestamp with milliseconds.
pub fn push_utc_timestamp(out: &mut String, t: SystemTime) {
    use std::fmt::Write as _;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut s = String::new();
        push_utc_timestamp(&mut s, UNIX_EPOCH + Duration::from_millis(1_795_737_599_123));
        assert_eq!(s, "2026-11-26T23:59:59.123Z");
    }

    #[test]
    fn rust_log_overrides_config_level() {
        assert_eq!(effective_level(LevelFilter::Info, Some("debug")), LevelFilter::Debug);
        assert_eq!(effective_level(LevelFilter::Info, Some("hyper=trace,warn")), LevelFilter::Warn);
        assert_eq!(effective_level(LevelFilter::Info, Some("garbage")), LevelFilter::Info);
        assert_eq!(effective_level(LevelFilter::Error, None), LevelFilter::Error);
    }
}
