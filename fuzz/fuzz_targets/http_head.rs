//! Fuzzes `http::head::parse_request_head`: it must never panic, must give the same verdict
//! however the input is split across reads, and a parsed head must respect the limits and
//! leave exactly the bytes after the head in the buffer.
//!
//! Input layout: byte 0 picks `max_headers`, byte 1 picks `max_head_bytes`, bytes 2..5 pick up
//! to three split points; the rest is the request bytes.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::http::head::{HeadError, HeadLimits, RequestHead, parse_request_head};

type Verdict = Result<Option<RequestHead>, HeadError>;

/// Feeds `data` in pieces ending at `cuts` (sorted), parsing after each piece as a server does.
/// Returns the verdict and, for a parsed head, what is left in the buffer once all bytes are in.
fn feed(data: &[u8], cuts: &[usize], limits: HeadLimits) -> (Verdict, Option<Vec<u8>>) {
    let mut buf = BytesMut::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        buf.extend_from_slice(&data[from..cut]);
        from = cut;
        match parse_request_head(&mut buf, limits) {
            Ok(None) => {}
            Ok(Some(head)) => {
                buf.extend_from_slice(&data[from..]);
                return (Ok(Some(head)), Some(buf.to_vec()));
            }
            Err(e) => return (Err(e), None),
        }
    }
    (Ok(None), None)
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 5 {
        return;
    }
    let (params, data) = input.split_at(5);
    let limits = HeadLimits {
        max_headers: 1 + usize::from(params[0] % 80),
        max_head_bytes: 16 + usize::from(params[1]) * 8,
    };
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
