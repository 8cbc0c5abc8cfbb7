//! The rate-limit windows an upstream reports about an account in its response headers
//! (`x-ratelimit-*`), kept on the account for the admin view and for cooldown deadlines.
//!
//! Key components:
//! - [`Observed`]: the windows one response reported, read with [`Observed::header`].
//! - [`RateLimits`]: the account's last-known windows, cross-core (atomics in
//!   [`super::AccountShared`]); [`RateLimits::view`] is what the admin API shows and
//!   [`RateLimits::reset_deadline`] is the cooldown deadline a 429 without `Retry-After` gets.
//!
//! Headers read (any case), one window each:
//!
//! | window | limit | remaining | reset |
//! |---|---|---|---|
//! | requests | `x-ratelimit-limit-requests` | `x-ratelimit-remaining-requests` | `x-ratelimit-reset-requests` |
//! | tokens | `x-ratelimit-limit-tokens` | `x-ratelimit-remaining-tokens` | `x-ratelimit-reset-tokens` |
//! | requests | `x-ratelimit-limit`, `ratelimit-limit`, `x-rate-limit-limit` | `…-remaining` | `…-reset` |
//! | requests / tokens | `anthropic-ratelimit-requests-*` / `anthropic-ratelimit-tokens-*` | | |
//!
//! Generic headers (no `-requests` / `-tokens`) count as the requests window. A count is the
//! leading decimal integer of the value (`60` and `60;w=60` both read 60); a reset is any shape
//! [`super::retry_after::reset_value`] reads (delta seconds, epoch, `6m0s`, RFC 3339, HTTP date).
//!
//! Concurrency: every field is its own relaxed atomic; a response stores only what it carried.
//! A reader may see one response's `remaining` next to another's `limit` (harmless for display).

use super::retry_after::reset_value;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// "Not reported" in the atomics.
const UNSET: u64 = u64::MAX;

/// One counter window as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Window {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets (epoch ms).
    pub reset_at_ms: Option<u64>,
}

impl Window {
    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_at_ms.is_none()
    }
}

/// The windows of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    pub requests: Window,
    pub tokens: Window,
}

/// What [`Observed::header`] made of a header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not a window's header.
    Other,
    /// A window's limit or remaining count.
    Count,
    /// A window's reset, with the deadline its value gave (`None`: unreadable).
    Reset(Option<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Limit,
    Remaining,
    Reset,
}

/// The field a (lowercase) name part starts with, and what follows it.
fn field_of(rest: &[u8]) -> Option<(Field, &[u8])> {
    [(Field::Limit, &b"limit"[..]), (Field::Remaining, b"remaining"), (Field::Reset, b"reset")]
        .into_iter()
        .find_map(|(field, word)| rest.strip_prefix(word).map(|tail| (field, tail)))
}

/// `(tokens window?, field)` for a lowercase header name this module reads. Runs on every
/// header of every upstream response, so it rejects most names on their first byte.
pub(super) fn classify(name: &[u8]) -> Option<(bool, Field)> {
    match name.first() {
        Some(b'x' | b'r') => {
            let rest = name
                .strip_prefix(b"x-ratelimit-")
                .or_else(|| name.strip_prefix(b"ratelimit-"))
                .or_else(|| name.strip_prefix(b"x-rate-limit-"))?;
            let (field, tail) = field_of(rest)?;
            match tail {
                b"" | b"-requests" => Some((false, field)),
                b"-tokens" => Some((true, field)),
                _ => None,
            }
        }
        Some(b'a') => {
            let rest = name.strip_prefix(b"anthropic-ratelimit-")?;
            let (tokens, rest) = match rest.strip_prefix(b"requests-") {
                Some(r) => (false, r),
                None => (true, rest.strip_prefix(b"tokens-")?),
            };
            let (field, tail) = field_of(rest)?;
            tail.is_empty().then_some((tokens, field))
        }
        _ => None,
    }
}

/// The leading decimal integer of a count value.
fn count(value: &[u8]) -> Option<u64> {
    let v = value.trim_ascii();
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let d = v.get(..digits).filter(|d| !d.is_empty() && d.len() <= 19)?;
    d.iter().try_fold(0u64, |acc, &b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
}

impl Observed {
    /// Looks at one response header; ignores names it does not know and values it cannot read.
    /// Says what the name was, with the reset it read, so the caller need not classify or
    /// parse it again.
    pub fn header(&mut self, name: &[u8], value: &[u8], now_ms: u64) -> Seen {
        crate::util::lower::with_lower(name, |lower| self.header_lower(lower, value, now_ms))
    }

    /// [`Observed::header`] for a name already in lowercase.
    pub fn header_lower(&mut self, name: &[u8], value: &[u8], now_ms: u64) -> Seen {
        match classify(name) {
            Some((tokens, field)) => self.field(tokens, field, value, now_ms),
            None => Seen::Other,
        }
    }

    /// Reads `value` as the `field` of the tokens or the requests window (a name already
    /// classified).
    pub(super) fn field(&mut self, tokens: bool, field: Field, value: &[u8], now_ms: u64) -> Seen {
        let w = if tokens { &mut self.tokens } else { &mut self.requests };
        match field {
            Field::Limit => w.limit = count(value).or(w.limit),
            Field::Remaining => w.remaining = count(value).or(w.remaining),
            Field::Reset => {
                let at = reset_value(value, now_ms);
                w.reset_at_ms = at.or(w.reset_at_ms);
                return Seen::Reset(at);
            }
        }
        Seen::Count
    }

    /// Reads every header of a response.
    pub fn from_headers<'a, I>(headers: I, now_ms: u64) -> Self
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut o = Self::default();
        for (n, v) in headers {
            let _ = o.header(n, v, now_ms);
        }
        o
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.tokens.is_empty()
    }

    /// The reset of the window that is used up (`remaining` 0), the later one when both are.
    pub fn exhausted_reset(&self) -> Option<u64> {
        [self.requests, self.tokens].into_iter().filter(|w| w.remaining == Some(0)).filter_map(|w| w.reset_at_ms).max()
    }
}

/// One window's atomics.
#[derive(Debug)]
struct WindowCell {
    limit: AtomicU64,
    remaining: AtomicU64,
    reset_at_ms: AtomicU64,
}

impl Default for WindowCell {
    fn default() -> Self {
        Self { limit: AtomicU64::new(UNSET), remaining: AtomicU64::new(UNSET), reset_at_ms: AtomicU64::new(UNSET) }
    }
}

fn load(a: &AtomicU64) -> Option<u64> {
    Some(a.load(Relaxed)).filter(|v| *v != UNSET)
}

fn store(a: &AtomicU64, v: Option<u64>) {
    if let Some(v) = v {
        a.store(v.min(UNSET - 1), Relaxed);
    }
}

impl WindowCell {
    fn record(&self, w: &Window) {
        store(&self.limit, w.limit);
        store(&self.remaining, w.remaining);
        store(&self.reset_at_ms, w.reset_at_ms);
    }

    fn get(&self) -> Window {
        Window { limit: load(&self.limit), remaining: load(&self.remaining), reset_at_ms: load(&self.reset_at_ms) }
    }
}

/// An account's last-known upstream windows (see the module docs).
#[derive(Debug, Default)]
pub struct RateLimits {
    requests: WindowCell,
    tokens: WindowCell,
    /// When a response last reported any of them (epoch ms; 0 = never).
    observed_ms: AtomicU64,
}

/// What the admin API shows: `null` windows were never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitsView {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
    pub observed_ms: u64,
}

impl RateLimits {
    /// Keeps what one response reported (nothing when it reported nothing).
    pub fn record(&self, o: &Observed, now_ms: u64) {
        if o.is_empty() {
            return;
        }
        self.requests.record(&o.requests);
        self.tokens.record(&o.tokens);
        self.observed_ms.store(now_ms, Relaxed);
    }

    /// The last-known windows; `None` before any response reported one.
    pub fn view(&self) -> Option<LimitsView> {
        let observed_ms = self.observed_ms.load(Relaxed);
        let some = |w: Window| (!w.is_empty()).then_some(w);
        (observed_ms != 0).then(|| LimitsView {
            requests: some(self.requests.get()),
            tokens: some(self.tokens.get()),
            observed_ms,
        })
    }

    /// When the account's window renews, for a 429 that named no time: the reset of a used-up
    /// window (`remaining` 0; the later of two), else the latest reset still ahead; `None` when
    /// no reset ahead of `now_ms` is known.
    pub fn reset_deadline(&self, now_ms: u64) -> Option<u64> {
        let ws = [self.requests.get(), self.tokens.get()];
        let ahead = |w: &&Window| w.reset_at_ms.is_some_and(|r| r > now_ms);
        let exhausted = ws.iter().filter(ahead).filter(|w| w.remaining == Some(0)).filter_map(|w| w.reset_at_ms).max();
        exhausted.or_else(|| ws.iter().filter(ahead).filter_map(|w| w.reset_at_ms).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000;

    fn observed(hs: &[(&str, &str)]) -> Observed {
        Observed::from_headers(hs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), NOW)
    }

    #[test]
    fn openai_style_request_and_token_windows() {
        let o = observed(&[
            ("X-RateLimit-Limit-Requests", "480"),
            ("x-ratelimit-remaining-requests", "479"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-limit-tokens", "2000000"),
            ("x-ratelimit-remaining-tokens", "1999000"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("content-type", "text/event-stream"),
        ]);
        assert_eq!(o.requests, Window { limit: Some(480), remaining: Some(479), reset_at_ms: Some(NOW + 1_000) });
        assert_eq!(
            o.tokens,
            Window { limit: Some(2_000_000), remaining: Some(1_999_000), reset_at_ms: Some(NOW + 360_000) }
        );
        assert_eq!(o.exhausted_reset(), None);
    }

    #[test]
    fn every_spelling_of_every_name_is_classified() {
        let cases: [(&str, Option<(bool, u8)>); 14] = [
            ("x-ratelimit-limit-requests", Some((false, 0))),
            ("X-RateLimit-Remaining-Tokens", Some((true, 1))),
            ("x-ratelimit-reset", Some((false, 2))),
            ("RATELIMIT-LIMIT", Some((false, 0))),
            ("x-rate-limit-reset-tokens", Some((true, 2))),
            ("anthropic-ratelimit-requests-limit", Some((false, 0))),
            ("Anthropic-RateLimit-Tokens-Remaining", Some((true, 1))),
            ("anthropic-ratelimit-tokens-reset", Some((true, 2))),
            ("anthropic-ratelimit-input-tokens-reset", None),
            ("anthropic-ratelimit-tokens-resetx", None),
            ("x-ratelimit-resets", None),
            ("retry-after", None),
            ("content-type", None),
            ("", None),
        ];
        for (name, want) in cases {
            let got = crate::util::lower::with_lower(name.as_bytes(), super::classify).map(|(t, f)| (t, f as u8));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn counts_are_the_leading_integer() {
        assert_eq!(count(b" 60;w=60 "), Some(60));
        assert_eq!(count(b"0"), Some(0));
        assert_eq!(count(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        for junk in [&b""[..], b" ", b"-1", b"x1", b"99999999999999999999"] {
            assert_eq!(count(junk), None, "{:?}", String::from_utf8_lossy(junk));
        }
    }

    #[test]
    fn generic_and_anthropic_names() {
        let o =
            observed(&[("x-ratelimit-limit", "60;w=60"), ("RateLimit-Remaining", "0"), ("x-ratelimit-reset", "30")]);
        assert_eq!(o.requests, Window { limit: Some(60), remaining: Some(0), reset_at_ms: Some(NOW + 30_000) });
        assert_eq!(o.exhausted_reset(), Some(NOW + 30_000));
        let a = observed(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:14:20Z"),
        ]);
        assert_eq!(a.tokens.reset_at_ms, Some(NOW + 60_000));
        assert_eq!(a.exhausted_reset(), Some(NOW + 60_000));
        for junk in [("x-ratelimit-limitx", "1"), ("x-ratelimit-limit-tokensx", "1"), ("x-ratelimit-remaining", "n")] {
            assert!(observed(&[junk]).is_empty(), "{junk:?}");
        }
    }

    #[test]
    fn recording_keeps_unreported_fields_and_the_view_shows_them() {
        let l = RateLimits::default();
        assert_eq!(l.view(), None);
        l.record(&Observed::default(), NOW);
        assert_eq!(l.view(), None, "a response without headers records nothing");
        l.record(&observed(&[("x-ratelimit-limit-requests", "10"), ("x-ratelimit-remaining-requests", "9")]), NOW);
        l.record(&observed(&[("x-ratelimit-remaining-requests", "8")]), NOW + 5);
        let v = l.view().unwrap();
        assert_eq!(v.requests, Some(Window { limit: Some(10), remaining: Some(8), reset_at_ms: None }));
        assert_eq!((v.tokens, v.observed_ms), (None, NOW + 5));
    }

    #[test]
    fn the_reset_deadline_prefers_the_used_up_window() {
        let l = RateLimits::default();
        assert_eq!(l.reset_deadline(NOW), None);
        l.record(
            &observed(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "20s"),
                ("x-ratelimit-remaining-tokens", "500"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            NOW,
        );
        assert_eq!(l.reset_deadline(NOW), Some(NOW + 20_000), "requests ran out, not tokens");
        assert_eq!(l.reset_deadline(NOW + 20_000), Some(NOW + 360_000), "then the latest reset ahead");
        assert_eq!(l.reset_deadline(NOW + 360_000), None, "nothing ahead");
    }

    proptest! {
        #[test]
        fn any_header_never_panics(name in proptest::collection::vec(any::<u8>(), 0..40),
                                   value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut o = Observed::default();
            o.header(&name, &value, NOW);
            o.header(b"x-ratelimit-reset-tokens", &value, NOW);
            o.header(b"x-ratelimit-remaining", &value, NOW);
            let l = RateLimits::default();
            l.record(&o, NOW);
            let _ = l.reset_deadline(NOW);
        }
    }
}
