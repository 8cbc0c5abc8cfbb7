//! Fuzzes `http::chunked`: the decoder must never panic, must give the same body, verdict and
//! leftover bytes however the input is split, and encode -> decode must round-trip any data.
//!
//! Input layout: bytes 0..3 pick up to three split points, the rest is a chunked body. The same
//! rest is also used as raw data for the round-trip, cut into frames at the split points.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::http::chunked::{Chunk, ChunkedDecoder, ChunkedError, decode_all, encode_chunk, encode_last};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    verdict: Result<bool, ChunkedError>,
    leftover: Vec<u8>,
}

/// Feeds `data` in pieces ending at `cuts` (sorted), draining the decoder after each piece.
fn feed(data: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = ChunkedDecoder::new();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        buf.extend_from_slice(&data[from..cut]);
        from = cut;
        loop {
            match dec.decode(&mut buf) {
                Ok(Chunk::Data(d)) => {
                    assert!(!d.is_empty(), "empty Data chunk");
                    body.extend_from_slice(&d);
                }
                Ok(Chunk::NeedMore) => break,
                Ok(Chunk::Done) => {
                    buf.extend_from_slice(&data[from..]);
                    return Outcome { body, verdict: Ok(true), leftover: buf.to_vec() };
                }
                Err(e) => return Outcome { body, verdict: Err(e), leftover: Vec::new() },
            }
        }
    }
    Outcome { body, verdict: Ok(false), leftover: Vec::new() }
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
