//! What a response header's name is to [`super::HintParser`], remembered per worker thread.
//!
//! Every header of every upstream response goes through the hint parser, and an upstream sends
//! the same rate-limit names, in the same case, on every answer (six `x-ratelimit-*` on each
//! of xAI's). Classifying a name means lowering it and comparing it against the readers' name
//! tables; remembering the verdict for the exact bytes turns that into a length check and one
//! `memcmp` for the names seen before.
//!
//! The memo is a small per-thread list (no lock: thread-per-core), filled on first sight up to
//! [`MEMO_CAP`] names of at most [`MEMO_NAME_MAX`] bytes and then left as it is (later names are
//! classified each time), so an upstream that invents names cannot grow it. Only names that
//! pass the parser's first-byte filter (`r`, `x`, `a`) get here; other spellings of a name (case)
//! take slots of their own. First come, never evicted: a gateway whose upstreams send many
//! such names may find a later upstream's names classified each time, which costs the saving,
//! never a wrong verdict.

use super::rate_limits::{Field, classify};
use super::retry_after::is_reset_header_lower;
use std::cell::RefCell;

/// How the hint parser treats a header, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HintName {
    /// Nothing the parser reads.
    Other,
    /// A rate-limit window's field; `reset_hint`: its reset is also a reset hint.
    Window { tokens: bool, field: Field, reset_hint: bool },
    /// `retry-after-ms`.
    RetryAfterMs,
    /// `retry-after`.
    RetryAfter,
    /// A reset hint that is no window's field (`x-ratelimit-reset-<other>`, say).
    ResetHint,
}

impl HintName {
    /// The verdict for a lowercase name.
    fn of_lower(name: &[u8]) -> Self {
        if let Some((tokens, field)) = classify(name) {
            return Self::Window { tokens, field, reset_hint: is_reset_header_lower(name) };
        }
        match name {
            b"retry-after-ms" => Self::RetryAfterMs,
            b"retry-after" => Self::RetryAfter,
            _ if is_reset_header_lower(name) => Self::ResetHint,
            _ => Self::Other,
        }
    }

    /// The verdict for a name in any case (lowered first).
    fn of(name: &[u8]) -> Self {
        crate::util::lower::with_lower(name, Self::of_lower)
    }
}

/// Most names a worker remembers.
const MEMO_CAP: usize = 32;
/// Longer names are never remembered (none of the names read is half as long).
const MEMO_NAME_MAX: usize = 64;

thread_local! {
    static MEMO: RefCell<Vec<(Box<[u8]>, HintName)>> = const { RefCell::new(Vec::new()) };
}

/// The verdict for `name` (any case), from this thread's memo when it has seen these bytes.
/// (Classified on the spot when the memo is in use or, at thread exit, gone.)
pub(super) fn kind_of(name: &[u8]) -> HintName {
    MEMO.try_with(|m| {
        let Ok(mut memo) = m.try_borrow_mut() else {
            return HintName::of(name);
        };
        if let Some((_, kind)) = memo.iter().find(|(n, _)| **n == *name) {
            return *kind;
        }
        let kind = HintName::of(name);
        if memo.len() < MEMO_CAP && name.len() <= MEMO_NAME_MAX {
            memo.push((name.into(), kind));
        }
        kind
    })
    .unwrap_or_else(|_| HintName::of(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_by_name() {
        let window = |tokens, field, reset_hint| HintName::Window { tokens, field, reset_hint };
        for (name, want) in [
            ("X-RateLimit-Remaining-Tokens", window(true, Field::Remaining, false)),
            ("x-ratelimit-reset-requests", window(false, Field::Reset, true)),
            ("x-rate-limit-reset", window(false, Field::Reset, true)),
            ("ratelimit-reset-tokens", window(true, Field::Reset, false)),
            ("anthropic-ratelimit-tokens-reset", window(true, Field::Reset, true)),
            ("Retry-After-Ms", HintName::RetryAfterMs),
            ("retry-after", HintName::RetryAfter),
            ("x-ratelimit-reset-images", HintName::ResetHint),
            ("anthropic-ratelimit-output-tokens-reset", HintName::ResetHint),
            ("x-request-id", HintName::Other),
            ("retry-afterx", HintName::Other),
            ("", HintName::Other),
        ] {
            assert_eq!(HintName::of(name.as_bytes()), want, "{name}");
            // Twice through the memo: the first fills it, the second reads it back.
            assert_eq!(kind_of(name.as_bytes()), want, "{name}");
            assert_eq!(kind_of(name.as_bytes()), want, "{name} (remembered)");
        }
    }

    #[test]
    fn the_memo_is_exact_and_bounded() {
        std::thread::spawn(|| {
            assert_eq!(kind_of(b"retry-after"), HintName::RetryAfter);
            // Another case is other bytes: classified on its own, with the same verdict.
            assert_eq!(kind_of(b"RETRY-AFTER"), HintName::RetryAfter);
            // A remembered name does not answer for a longer or shorter one.
            assert_eq!(kind_of(b"retry-afte"), HintName::Other);
            assert_eq!(kind_of(b"retry-after-ms"), HintName::RetryAfterMs);
            for i in 0..100 {
                assert_eq!(kind_of(format!("x-filler-{i}").as_bytes()), HintName::Other);
            }
            assert_eq!(MEMO.with(|m| m.borrow().len()), MEMO_CAP);
            // Names seen after it filled are still classified right.
            assert_eq!(
                kind_of(b"x-ratelimit-limit"),
                HintName::Window { tokens: false, field: Field::Limit, reset_hint: false }
            );
            let long = format!("x-ratelimit-reset-{}", "a".repeat(80));
            assert_eq!(kind_of(long.as_bytes()), HintName::ResetHint);
        })
        .join()
        .unwrap();
    }
}
