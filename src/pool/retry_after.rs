//! Cooldown deadlines from an upstream's response headers: `Retry-After` and rate-limit reset
//! hints, turned into one absolute deadline (epoch ms).
//!
//! Key components:
//! - [`HintParser`]: feed it every response header; [`HintParser::deadline`] gives the answer.
//! - [`retry_after`]: one `Retry-After` value (delta seconds or HTTP date).
//! - [`reset_value`]: one reset-hint value in any of the shapes upstreams use.
//!
//! Precedence (first that parses wins):
//! 1. `retry-after-ms` — delta milliseconds (what the Anthropic SDK honours first);
//! 2. `retry-after` — delta seconds or an HTTP date (RFC 9110: IMF-fixdate, RFC 850, asctime);
//! 3. reset hints — `x-ratelimit-reset`, `x-ratelimit-reset-*` (e.g. `-requests`, `-tokens`),
//!    `x-rate-limit-reset`, `ratelimit-reset`, `anthropic-ratelimit-*-reset`. When the response
//!    also says which window is used up (its `…-remaining…` is 0, see [`super::rate_limits`]), that
//!    window's reset wins; otherwise, with several present, the **latest** deadline wins (we
//!    cannot tell which limit was hit, and being early only earns another 429).
//!
//! The same pass collects the response's rate-limit windows ([`HintParser::observed`]) so the
//! caller can record them on the account.
//!
//! A reset value may be: a plain number — below 10^9 it is delta seconds (fractions allowed),
//! below 10^12 epoch seconds, else epoch milliseconds; a Go-style duration (`1s`, `6m0s`,
//! `20ms`, `1h2m3.5s`, as OpenAI sends); an RFC 3339 timestamp (`2026-09-01T00:00:00Z`, as
//! Anthropic and Warp send); or an HTTP date.
//!
//! Error handling: garbage is ignored (`None`), never an error; a deadline is capped at
//! [`MAX_HINT_MS`] from now so a broken upstream cannot park an account for years. A deadline in
//! the past is returned as is; the policy applies its own floor.

use super::hint_names::HintName;
use super::rate_limits::{Observed, Seen};
use std::time::{Duration, UNIX_EPOCH};

/// The furthest a hint may push a deadline: 30 days.
pub const MAX_HINT_MS: u64 = 30 * 24 * 3600 * 1000;

/// Collects the hints of one response. See the module docs for precedence.
#[derive(Debug, Clone, Copy)]
pub struct HintParser {
    now_ms: u64,
    retry_after_ms: Option<u64>,
    retry_after: Option<u64>,
    reset: Option<u64>,
    windows: Observed,
}

impl HintParser {
    pub fn new(now_ms: u64) -> Self {
        Self { now_ms, retry_after_ms: None, retry_after: None, reset: None, windows: Observed::default() }
    }

    /// The rate-limit windows the headers reported (for `RateLimits::record`).
    pub fn observed(&self) -> &Observed {
        &self.windows
    }

    /// Looks at one header (any case); ignores names it does not know.
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        // Every name this parser (and the window parser) reads starts with `r`, `x` or `a`; this
        // runs on every header of every upstream response, so the rest go on their first byte.
        if !matches!(name.first().map(u8::to_ascii_lowercase), Some(b'r' | b'x' | b'a')) {
            return;
        }
        match super::hint_names::kind_of(name) {
            HintName::Other => {}
            HintName::Window { tokens, field, reset_hint } => {
                match self.windows.field(tokens, field, value, self.now_ms) {
                    // A window's reset, read once: a reset hint too when the name is one.
                    Seen::Reset(Some(t)) if reset_hint => self.later_reset(t),
                    // A window's limit or remaining count is no other hint.
                    _ => {}
                }
            }
            HintName::RetryAfterMs => {
                if let Some(ms) = parse_decimal_ms(trim(value), 1) {
                    self.retry_after_ms = Some(self.now_ms.saturating_add(ms));
                }
            }
            HintName::RetryAfter => {
                if let Some(t) = retry_after(value, self.now_ms) {
                    self.retry_after = Some(t);
                }
            }
            HintName::ResetHint => {
                if let Some(t) = reset_value(value, self.now_ms) {
                    self.later_reset(t);
                }
            }
        }
    }

    /// Several reset hints: the latest wins (module docs).
    fn later_reset(&mut self, t: u64) {
        self.reset = Some(self.reset.map_or(t, |r| r.max(t)));
    }

    /// The deadline by precedence, capped at `now + MAX_HINT_MS`.
    pub fn deadline(&self) -> Option<u64> {
        let t = self.retry_after_ms.or(self.retry_after).or_else(|| self.windows.exhausted_reset()).or(self.reset)?;
        Some(t.min(self.now_ms.saturating_add(MAX_HINT_MS)))
    }
}

/// Convenience: runs a [`HintParser`] over `(name, value)` pairs.
pub fn deadline_from_headers<'a, I>(headers: I, now_ms: u64) -> Option<u64>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut p = HintParser::new(now_ms);
    for (n, v) in headers {
        p.header(n, v);
    }
    p.deadline()
}

/// Whether `name` is one of the reset-hint headers listed in the module docs (any case).
pub fn is_reset_header(name: &[u8]) -> bool {
    crate::util::lower::with_lower(name, is_reset_header_lower)
}

/// [`is_reset_header`] for a lowercase name.
pub(super) fn is_reset_header_lower(name: &[u8]) -> bool {
    matches!(name, b"x-ratelimit-reset" | b"x-rate-limit-reset" | b"ratelimit-reset")
        || name.starts_with(b"x-ratelimit-reset-")
        || (name.starts_with(b"anthropic-ratelimit-") && name.ends_with(b"-reset"))
}

/// One `Retry-After` value: delta seconds or an HTTP date, as an absolute deadline.
pub fn retry_after(value: &[u8], now_ms: u64) -> Option<u64> {
    let v = trim(value);
    if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        return parse_decimal_ms(v, 1000).map(|ms| now_ms.saturating_add(ms));
    }
    http_date_ms(v)
}

/// One reset-hint value in any supported shape (module docs), as an absolute deadline.
pub fn reset_value(value: &[u8], now_ms: u64) -> Option<u64> {
    let v = trim(value);
    let first = *v.first()?;
    if first.is_ascii_digit() || first == b'.' {
        if let Some(n) = plain_number(v) {
            return Some(n.into_deadline(now_ms));
        }
        if let Some(ms) = go_duration_ms(v) {
            return Some(now_ms.saturating_add(ms));
        }
        if let Some(t) = rfc3339_ms(v) {
            return Some(t);
        }
    }
    http_date_ms(v)
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// A plain decimal number, kept as whole part + milliseconds of fraction.
struct Number {
    whole: u64,
    frac_ms: u64,
}

impl Number {
    fn into_deadline(self, now_ms: u64) -> u64 {
        if self.whole < 1_000_000_000 {
            now_ms.saturating_add(self.whole.saturating_mul(1000).saturating_add(self.frac_ms))
        } else if self.whole < 1_000_000_000_000 {
            self.whole.saturating_mul(1000).saturating_add(self.frac_ms)
        } else {
            self.whole
        }
    }
}

/// `123`, `1.5`, `.25` — nothing else.
fn plain_number(v: &[u8]) -> Option<Number> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (v.get(..i)?, v.get(i + 1..)?),
        None => (v, &[][..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.iter().chain(frac).all(u8::is_ascii_digit) || int.len() > 19 {
        return None;
    }
    let whole = digits(int)?;
    let mut frac_ms = 0;
    for (i, scale) in [100, 10, 1].into_iter().enumerate() {
        frac_ms += frac.get(i).map_or(0, |d| u64::from(d - b'0') * scale);
    }
    Some(Number { whole, frac_ms })
}

fn digits(v: &[u8]) -> Option<u64> {
    v.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// A decimal number of `unit_ms` units (fractions allowed), in ms.
fn parse_decimal_ms(v: &[u8], unit_ms: u64) -> Option<u64> {
    let n = plain_number(v)?;
    Some(n.whole.saturating_mul(unit_ms).saturating_add(n.frac_ms.saturating_mul(unit_ms) / 1000))
}

/// Go `time.Duration` text: one or more `<number><unit>` with units `h`, `m`, `s`, `ms`.
fn go_duration_ms(v: &[u8]) -> Option<u64> {
    let mut rest = v;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let num_len = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'.'))?;
        let (num, after) = rest.split_at_checked(num_len)?;
        let (unit_ms, unit_len) = match after {
            [b'm', b's', ..] => (1, 2),
            [b'h', ..] => (3_600_000, 1),
            [b'm', ..] => (60_000, 1),
            [b's', ..] => (1000, 1),
            _ => return None,
        };
        total = total.saturating_add(parse_decimal_ms(num, unit_ms)?);
        rest = after.get(unit_len..)?;
    }
    Some(total)
}

fn http_date_ms(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let t = httpdate::parse_http_date(s).ok()?;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(d.as_millis()).ok()
}

/// `YYYY-MM-DD(T| )HH:MM:SS[.frac](Z|±HH:MM)` as epoch ms (before 1970: `None`).
fn rfc3339_ms(v: &[u8]) -> Option<u64> {
    let num = |a: usize, b: usize| -> Option<i64> {
        let s = v.get(a..b)?;
        if s.iter().all(u8::is_ascii_digit) { digits(s).and_then(|n| i64::try_from(n).ok()) } else { None }
    };
    let sep = |i: usize, allowed: &[u8]| v.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while v.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                frac_ms = frac_ms * 10 + i64::from(v.get(i).map_or(0, |d| d - b'0'));
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            frac_ms *= 10;
        }
    }
    let offset_min = match v.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 60 + m;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = crate::util::civil::days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    u64::try_from(secs.checked_mul(1000)?.checked_add(frac_ms)?).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    /// What the parser computed when it classified and parsed every header twice (the window
    /// parser, then its own checks), before it reused the window parser's verdict.
    fn two_pass_deadline(headers: &[(&str, &str)]) -> Option<u64> {
        let (mut windows, mut ms, mut ra, mut reset) = (Observed::default(), None, None, None::<u64>);
        for (n, v) in headers {
            let (n, v) = (n.as_bytes(), v.as_bytes());
            let _ = windows.header(n, v, NOW);
            if !matches!(n.first().map(u8::to_ascii_lowercase), Some(b'r' | b'x' | b'a')) {
                continue;
            }
            if n.eq_ignore_ascii_case(b"retry-after-ms") {
                ms = parse_decimal_ms(trim(v), 1).map(|m| NOW.saturating_add(m)).or(ms);
            } else if n.eq_ignore_ascii_case(b"retry-after") {
                ra = retry_after(v, NOW).or(ra);
            } else if is_reset_header(n) {
                if let Some(t) = reset_value(v, NOW) {
                    reset = Some(reset.map_or(t, |r| r.max(t)));
                }
            }
        }
        let t = ms.or(ra).or_else(|| windows.exhausted_reset()).or(reset)?;
        Some(t.min(NOW.saturating_add(MAX_HINT_MS)))
    }

    proptest! {
        /// One classification per header gives what two did, for every name either parser
        /// reads (and some it does not), in any case, with readable and unreadable values.
        #[test]
        fn one_pass_reads_like_two(headers in prop::collection::vec((
            prop::sample::select(vec![
                "x-ratelimit-reset", "X-RateLimit-Reset-Requests", "x-ratelimit-reset-tokens",
                "x-ratelimit-reset-other", "ratelimit-reset", "ratelimit-reset-requests",
                "x-rate-limit-reset", "x-rate-limit-reset-tokens", "anthropic-ratelimit-requests-reset",
                "anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-tokens-remaining",
                "x-ratelimit-remaining-requests", "x-ratelimit-limit-tokens", "ratelimit-remaining",
                "retry-after", "Retry-After-Ms", "content-type", "x-request-id",
            ]),
            prop::sample::select(vec!["0", "30", "1.5", "60s", "1700000100", "6m0s", "soon", "", "Sun, 06 Nov 1994 08:49:37 GMT"]),
        ), 0..8)) {
            let mut p = HintParser::new(NOW);
            for (n, v) in &headers {
                p.header(n.as_bytes(), v.as_bytes());
            }
            prop_assert_eq!(p.deadline(), two_pass_deadline(&headers));
        }
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(retry_after(b"120", NOW), Some(NOW + 120_000));
        assert_eq!(retry_after(b" 0 ", NOW), Some(NOW));
        assert_eq!(retry_after(b"99999999999999999999999", NOW), None);
    }

    #[test]
    fn retry_after_http_date_all_three_forms() {
        let want = Some(784_111_777_000); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", NOW), want);
        assert_eq!(retry_after(b"Sunday, 06-Nov-94 08:49:37 GMT", NOW), want);
        assert_eq!(retry_after(b"Sun Nov  6 08:49:37 1994", NOW), want);
    }

    #[test]
    fn retry_after_garbage_is_none() {
        for g in [&b""[..], b"soon", b"-5", b"1.5", b"12s", b"Sun, 99 Nov 1994 08:49:37 GMT", b"\xff\xfe"] {
            assert_eq!(retry_after(g, NOW), None, "{:?}", String::from_utf8_lossy(g));
        }
    }

    #[test]
    fn reset_values_in_every_shape() {
        assert_eq!(reset_value(b"30", NOW), Some(NOW + 30_000));
        assert_eq!(reset_value(b"1.5", NOW), Some(NOW + 1_500));
        assert_eq!(reset_value(b"1700000100", NOW), Some(1_700_000_100_000));
        assert_eq!(reset_value(b"1700000100250", NOW), Some(1_700_000_100_250));
        assert_eq!(reset_value(b"6m0s", NOW), Some(NOW + 360_000));
        assert_eq!(reset_value(b"20ms", NOW), Some(NOW + 20));
        assert_eq!(reset_value(b"1h2m3.5s", NOW), Some(NOW + 3_723_500));
        assert_eq!(reset_value(b"2026-09-01T00:00:00Z", NOW), Some(1_788_220_800_000));
        assert_eq!(reset_value(b"2026-09-01T02:00:00.5+02:00", NOW), Some(1_788_220_800_500));
        assert_eq!(reset_value(b"1969-12-31T23:59:59Z", NOW), None);
        assert_eq!(reset_value(b"Sun, 06 Nov 1994 08:49:37 GMT", NOW), Some(784_111_777_000));
        for g in [&b""[..], b"x", b"5q", b"2026-02-30T00:00:00Z", b"2026-09-01T00:00:00", b"1h2", b"."] {
            assert_eq!(reset_value(g, NOW), None, "{:?}", String::from_utf8_lossy(g));
        }
    }

    #[test]
    fn precedence_retry_after_ms_then_retry_after_then_latest_reset() {
        let hs: [(&[u8], &[u8]); 4] = [
            (b"X-RateLimit-Reset-Requests", b"1s"),
            (b"x-ratelimit-reset-tokens", b"6m0s"),
            (b"Retry-After", b"7"),
            (b"retry-after-ms", b"250"),
        ];
        assert_eq!(deadline_from_headers(hs, NOW), Some(NOW + 250));
        assert_eq!(deadline_from_headers(hs.into_iter().take(3), NOW), Some(NOW + 7_000));
        assert_eq!(deadline_from_headers(hs.into_iter().take(2), NOW), Some(NOW + 360_000));
        let anthropic: [(&[u8], &[u8]); 2] =
            [(b"anthropic-ratelimit-tokens-reset", b"2023-11-14T22:14:20Z"), (b"content-type", b"x")];
        assert_eq!(deadline_from_headers(anthropic, NOW), Some(NOW + 60_000));
        assert_eq!(deadline_from_headers([(&b"ratelimit-reset"[..], &b"junk"[..])], NOW), None);
    }

    #[test]
    fn the_used_up_window_names_the_reset() {
        let hs: [(&[u8], &[u8]); 4] = [
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-reset-requests", b"20s"),
            (b"x-ratelimit-remaining-tokens", b"9000"),
            (b"x-ratelimit-reset-tokens", b"6m0s"),
        ];
        assert_eq!(deadline_from_headers(hs, NOW), Some(NOW + 20_000), "requests ran out: not the latest");
        let mut p = HintParser::new(NOW);
        for (n, v) in hs {
            p.header(n, v);
        }
        assert_eq!(p.observed().requests.remaining, Some(0));
        assert_eq!(p.observed().tokens.reset_at_ms, Some(NOW + 360_000));
    }

    #[test]
    fn unparseable_retry_after_falls_back_to_reset_hint() {
        let hs: [(&[u8], &[u8]); 2] = [(b"retry-after", b"later"), (b"x-ratelimit-reset", b"10")];
        assert_eq!(deadline_from_headers(hs, NOW), Some(NOW + 10_000));
    }

    #[test]
    fn deadlines_are_capped() {
        let far: [(&[u8], &[u8]); 1] = [(b"retry-after", b"999999999")];
        assert_eq!(deadline_from_headers(far, NOW), Some(NOW + MAX_HINT_MS));
    }

    #[test]
    fn header_name_matching() {
        for yes in [
            "x-ratelimit-reset",
            "X-RATELIMIT-RESET-TOKENS",
            "ratelimit-reset",
            "anthropic-ratelimit-requests-reset",
            "x-rate-limit-reset",
        ] {
            assert!(is_reset_header(yes.as_bytes()), "{yes}");
        }
        for no in ["x-ratelimit-remaining", "anthropic-ratelimit-requests-limit", "reset", "x-ratelimit-resetx"] {
            assert!(!is_reset_header(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn civil_days_agree_with_known_dates() {
        assert_eq!(crate::util::civil::days_from_civil(1970, 1, 1), 0);
        assert_eq!(crate::util::civil::days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(crate::util::civil::days_from_civil(2024, 2, 29), 19_782);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(name in proptest::collection::vec(any::<u8>(), 0..40), value in proptest::collection::vec(any::<u8>(), 0..60)) {
            let mut p = HintParser::new(NOW);
            p.header(&name, &value);
            p.header(b"retry-after", &value);
            p.header(b"x-ratelimit-reset", &value);
            if let Some(d) = p.deadline() {
                prop_assert!(d <= NOW + MAX_HINT_MS);
            }
        }

        #[test]
        fn delta_seconds_roundtrip(s in 0u64..1_000_000) {
            prop_assert_eq!(retry_after(s.to_string().as_bytes(), NOW), Some(NOW + s * 1000));
        }
    }
}
