//! Fuzzes `http::chunked`: the decoder must never panic, must give the same body, verdict and
//! leftover bytes however the input is split, and encode -> decode must round-trip any data.
//!
//! Input layout: bytes 0..3 pick up to three split points, the rest is a chunked body. The same
//! rest is also used as raw data for the round-trip, cut into frames at the split points.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::http::chunked::{decode_all, encode_chunk, encode_last};
use orchids2api::http::split_feed::{Decoded, feed_chunked};

/// The shared split feed, plus the decoder invariant that a `Data` chunk is never empty.
fn feed(data: &[u8], cuts: &[usize]) -> Decoded {
    let d = feed_chunked(data, cuts);
    assert!(!d.empty_data, "empty Data chunk");
    d
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (params, data) = input.split_at(3);
    let mut cuts: Vec<usize> =
        params.iter().map(|b| if data.is_empty() { 0 } else { usize::from(*b) % (data.len() + 1) }).collect();
    cuts.sort_unstable();

    let whole = feed(data, &[]);
    let split = feed(data, &cuts);
    // Every error sits at a frame boundary, so even the data handed out before it must agree.
    assert_eq!(whole, split, "outcome depends on the split {cuts:?}");
    if whole.verdict == Ok(true) {
        assert!(whole.body.len() <= data.len());
        let (body, used) = decode_all(data).expect("decode_all disagrees").expect("decode_all incomplete");
        assert_eq!(body, whole.body);
        assert_eq!(&data[used..], &whole.leftover[..]);
    }

    // encode -> decode round-trip with frames cut at the same points.
    let mut wire = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        encode_chunk(&mut wire, &data[from..cut]);
        from = cut;
    }
    encode_last(&mut wire);
    let (body, used) = decode_all(&wire).expect("own encoding rejected").expect("own encoding incomplete");
    assert_eq!(body, data);
    assert_eq!(used, wire.len());
});
