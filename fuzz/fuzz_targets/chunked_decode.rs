//! Chunked decoder (the upstream response side): never panics, never hands out more bytes than
//! it was given, and any split of the input gives the same body, end and error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::http::chunked::{Chunk, ChunkedDecoder, ChunkedError};

fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, bool, Option<ChunkedError>, usize) {
    let mut dec = ChunkedDecoder::new();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match dec.decode(&mut buf) {
                Ok(Chunk::Data(d)) => body.extend_from_slice(&d),
                Ok(Chunk::NeedMore) => break,
                Ok(Chunk::Done) => return (body, true, None, buf.len()),
                Err(e) => return (body, false, Some(e), 0),
            }
        }
    }
    (body, false, None, 0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else { return };
    let whole = run(std::iter::once(input));
    assert!(whole.0.len() <= input.len());
    let split = run(input.chunks(usize::from(seed % 11) + 1));
    // The leftover after Done depends only on where the body ended, not on reads.
    if whole.1 {
        assert!(split.1);
        assert_eq!(whole.0, split.0);
    } else {
        assert_eq!((&whole.0, whole.2), (&split.0, split.2));
    }
});
