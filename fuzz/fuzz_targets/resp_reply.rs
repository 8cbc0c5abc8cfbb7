//! Fuzz the RESP reply parser: any bytes, any split, never a panic, and the same replies
//! whether the input arrives whole or in two pieces.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::store::redis::resp::{Reply, parse_reply};

fn parse_all(chunks: &[&[u8]]) -> (Vec<Reply>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match parse_reply(&mut buf) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let whole = parse_all(&[data]);
    if let Some((&first, rest)) = data.split_first() {
        let at = usize::from(first) % rest.len().max(1);
        let (a, b) = rest.split_at(at.min(rest.len()));
        let whole_rest = parse_all(&[rest]);
        let split = parse_all(&[a, b]);
        assert_eq!(whole_rest, split, "split at {at} changed the result");
    }
    let _ = whole;
});
