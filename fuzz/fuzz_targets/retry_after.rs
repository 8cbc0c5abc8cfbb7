//! Fuzzes the pool's cooldown-hint parsers (`pool::retry_after`), which read untrusted upstream
//! header values: they must never panic, and a deadline must never pass the 30-day cap.
//!
//! Input layout: byte 0 picks the header name; the rest is the header value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::pool::retry_after::{HintParser, MAX_HINT_MS, reset_value, retry_after};

const NOW: u64 = 1_700_000_000_000;
const NAMES: [&[u8]; 6] = [
    b"retry-after",
    b"retry-after-ms",
    b"x-ratelimit-reset",
    b"x-ratelimit-reset-tokens",
    b"anthropic-ratelimit-requests-reset",
    b"ratelimit-reset",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else { return };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let mut p = HintParser::new(NOW);
    p.header(name, value);
    if let Some(d) = p.deadline() {
        assert!(d <= NOW + MAX_HINT_MS, "deadline {d} past the cap");
    }
    let _ = retry_after(value, NOW);
    let _ = reset_value(value, NOW);
});
