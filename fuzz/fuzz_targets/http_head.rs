//! Fuzzes `http::head::parse_request_head`: it must never panic, must give the same verdict
//! however the input is split across reads, and a parsed head must respect the limits and
//! leave exactly the bytes after the head in the buffer.
//!
//! Input layout: byte 0 picks `max_headers`, byte 1 picks `max_head_bytes`, bytes 2..5 pick up
//! to three split points; the rest is the request bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::http::head::HeadLimits;
use orchids2api::http::split_feed::feed_head as feed;

fuzz_target!(|input: &[u8]| {
    if input.len() < 5 {
        return;
    }
    let (params, data) = input.split_at(5);
    let limits =
        HeadLimits { max_headers: 1 + usize::from(params[0] % 80), max_head_bytes: 16 + usize::from(params[1]) * 8 };
    let mut cuts: Vec<usize> =
        params[2..5].iter().map(|b| if data.is_empty() { 0 } else { usize::from(*b) % (data.len() + 1) }).collect();
    cuts.sort_unstable();

    let (whole, rest_whole) = feed(data, &[], limits);
    let (split, rest_split) = feed(data, &cuts, limits);
    assert_eq!(whole, split, "verdict depends on the split {cuts:?}");
    assert_eq!(rest_whole, rest_split, "leftover bytes depend on the split {cuts:?}");

    if let (Ok(Some(head)), Some(rest)) = (&whole, &rest_whole) {
        assert!(head.head_len <= limits.max_head_bytes, "head over the limit was accepted");
        assert!(head.headers.len() <= limits.max_headers, "more headers than allowed");
        assert!(data.ends_with(rest), "leftover is not a suffix of the input");
        assert!(head.path.first() == Some(&b'/') || &head.path[..] == b"*");
    }
});
