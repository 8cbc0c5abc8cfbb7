//! Property tests for the HTTP parsers: the request-head parser and the chunked decoder give the
//! same result however their input is split across reads (the bug class of a parser that keeps
//! state between calls), and chunked encode -> decode round-trips any data.
//!
//! Inputs are both structured (valid-ish heads / bodies with the awkward parts: leading blank
//! lines, bare LF, framing headers, extensions, trailers, trailing pipelined bytes), mutated
//! versions of those, and arbitrary bytes. Limits are kept small so the limit paths are hit.

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

use bytes::BytesMut;
use orchids2api::http::chunked::{self, ChunkedError, decode_all, encode_chunk, encode_chunk_bytes, encode_last};
use orchids2api::http::head::HeadLimits;
use proptest::prelude::*;

// --- request heads ---------------------------------------------------------------------------

use orchids2api::http::split_feed::{Decoded, feed_head};

/// Sorted cut points inside `0..=len` from raw numbers.
fn cuts_for(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|r| r % (len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn header_line() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("Host".to_owned()),
        Just("Content-Length".to_owned()),
        Just("content-length".to_owned()),
        Just("Transfer-Encoding".to_owned()),
        Just("Connection".to_owned()),
        Just("Expect".to_owned()),
        "[A-Za-z][A-Za-z0-9-]{0,12}",
        "[ -~]{0,6}", // sometimes not a token
    ];
    let value = prop_oneof![
        "[0-9]{1,4}",
        Just("chunked".to_owned()),
        Just("gzip, chunked".to_owned()),
        Just("close".to_owned()),
        Just("keep-alive".to_owned()),
        Just("100-continue".to_owned()),
        "[ -~]{0,24}",
    ];
    let eol = prop_oneof![4 => Just("\r\n"), 1 => Just("\n")];
    (name, value, eol).prop_map(|(n, v, e)| format!("{n}: {v}{e}"))
}

prop_compose! {
    fn valid_ish_head()(
        blank in prop_oneof![3 => Just(""), 1 => Just("\r\n"), 1 => Just("\r\n\n")],
        method in prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            Just("HEAD".to_owned()),
            Just("OPTIONS".to_owned()),
            "[A-Z]{1,7}",
        ],
        target in prop_oneof![
            "/[a-z0-9%._-]{0,12}(/[a-z0-9%]{0,6}){0,3}",
            "/[a-z]{0,6}\\?[a-z0-9=&%+]{0,16}",
            Just("*".to_owned()),
            Just("http://x/".to_owned()),
        ],
        version in prop_oneof![4 => Just("HTTP/1.1"), 1 => Just("HTTP/1.0"), 1 => Just("HTTP/2.0")],
        eol in prop_oneof![4 => Just("\r\n"), 1 => Just("\n")],
        headers in proptest::collection::vec(header_line(), 0..10),
        end in prop_oneof![4 => Just("\r\n"), 1 => Just("\n"), 1 => Just("")],
        rest in proptest::collection::vec(any::<u8>(), 0..24),
    ) -> Vec<u8> {
        let mut out = format!("{blank}{method} {target} {version}{eol}{}{end}", headers.concat()).into_bytes();
        out.extend_from_slice(&rest);
        out
    }
}

/// A valid-ish head with a few bytes overwritten or inserted.
fn mutated_head() -> impl Strategy<Value = Vec<u8>> {
    (valid_ish_head(), proptest::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..4)).prop_map(
        |(mut bytes, edits)| {
            for (at, b, insert) in edits {
                let at = at % (bytes.len() + 1);
                if insert || at == bytes.len() {
                    bytes.insert(at, b);
                } else {
                    bytes[at] = b;
                }
            }
            bytes
        },
    )
}

fn any_head_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => valid_ish_head(),
        2 => mutated_head(),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn limits() -> impl Strategy<Value = HeadLimits> {
    (16usize..600, 1usize..12).prop_map(|(max_head_bytes, max_headers)| HeadLimits { max_head_bytes, max_headers })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn head_parse_is_split_invariant(
        data in any_head_input(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 1..6),
        limits in limits(),
    ) {
        let cuts = cuts_for(data.len(), &raw_cuts);
        let whole = feed_head(&data, &[], limits);
        let split = feed_head(&data, &cuts, limits);
        prop_assert_eq!(&whole, &split, "cuts {:?} of {:?}", cuts, String::from_utf8_lossy(&data));
    }

    #[test]
    fn head_parse_byte_by_byte_matches_one_shot(data in valid_ish_head(), limits in limits()) {
        let every: Vec<usize> = (1..data.len()).collect();
        prop_assert_eq!(feed_head(&data, &[], limits), feed_head(&data, &every, limits));
    }

    #[test]
    fn parsed_heads_respect_limits_and_leave_the_rest(data in any_head_input(), limits in limits()) {
        if let (Ok(Some(head)), Some(rest)) = feed_head(&data, &[], limits) {
            prop_assert!(head.head_len <= limits.max_head_bytes);
            prop_assert!(head.headers.len() <= limits.max_headers);
            prop_assert!(data.ends_with(&rest));
            prop_assert!(head.path.first() == Some(&b'/') || &head.path[..] == b"*");
            prop_assert!(!head.path.contains(&b'?'), "the query is split off the path");
        }
    }
}

// --- chunked bodies --------------------------------------------------------------------------

/// The shared split feed, plus the decoder invariant that a `Data` chunk is never empty.
fn feed_chunked(data: &[u8], cuts: &[usize]) -> Decoded {
    let d = orchids2api::http::split_feed::feed_chunked(data, cuts);
    assert!(!d.empty_data, "Data is never empty");
    d
}

prop_compose! {
    /// A chunked body built from `pieces`, with optional extensions, trailers and bare LFs,
    /// followed by some unrelated bytes; returns (wire, expected body, trailing bytes).
    fn chunked_wire()(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..6),
        upper in any::<bool>(),
        ext in prop_oneof![3 => Just(""), 1 => Just(";a=b"), 1 => Just(" ; x")],
        lf_only in prop_oneof![4 => Just(false), 1 => Just(true)],
        trailers in proptest::collection::vec("[A-Za-z-]{1,8}: [ -~]{0,10}", 0..3),
        after in proptest::collection::vec(any::<u8>(), 0..16),
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let eol: &[u8] = if lf_only { b"\n" } else { b"\r\n" };
        let mut wire = Vec::new();
        for p in &pieces {
            let size = if upper { format!("{:X}", p.len()) } else { format!("{:x}", p.len()) };
            wire.extend_from_slice(size.as_bytes());
            wire.extend_from_slice(ext.as_bytes());
            wire.extend_from_slice(eol);
            wire.extend_from_slice(p);
            wire.extend_from_slice(eol);
        }
        wire.extend_from_slice(b"0");
        wire.extend_from_slice(eol);
        for t in &trailers {
            wire.extend_from_slice(t.as_bytes());
            wire.extend_from_slice(eol);
        }
        wire.extend_from_slice(eol);
        let body = pieces.concat();
        let mut with_after = wire;
        with_after.extend_from_slice(&after);
        (with_after, body, after)
    }
}

fn any_chunked_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => chunked_wire().prop_map(|(w, _, _)| w),
        2 => (chunked_wire(), any::<usize>(), any::<u8>()).prop_map(|((mut w, _, _), at, b)| {
            let at = at % w.len();
            w[at] = b;
            w
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => "[0-9a-fA-F;= \r\n]{0,60}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn chunked_decode_matches_the_pieces((wire, body, after) in chunked_wire()) {
        let d = feed_chunked(&wire, &[]);
        prop_assert_eq!(d.verdict, Ok(true));
        prop_assert_eq!(d.body, body);
        prop_assert_eq!(d.leftover, after);
    }

    #[test]
    fn chunked_decode_is_split_invariant(
        data in any_chunked_input(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 1..8),
    ) {
        let cuts = cuts_for(data.len(), &raw_cuts);
        prop_assert_eq!(feed_chunked(&data, &[]), feed_chunked(&data, &cuts), "cuts {:?}", cuts);
    }

    #[test]
    fn chunked_decode_byte_by_byte_matches_one_shot((wire, _, _) in chunked_wire()) {
        let every: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(feed_chunked(&wire, &[]), feed_chunked(&wire, &every));
    }

    #[test]
    fn decode_all_agrees_with_incremental_decoding(data in any_chunked_input()) {
        let inc = feed_chunked(&data, &[]);
        match decode_all(&data) {
            Ok(Some((body, used))) => {
                prop_assert_eq!(inc.verdict, Ok(true));
                prop_assert_eq!(body, inc.body);
                prop_assert_eq!(&data[used..], &inc.leftover[..]);
            }
            Ok(None) => prop_assert_eq!(inc.verdict, Ok(false)),
            Err(e) => prop_assert_eq!(inc.verdict, Err(e)),
        }
    }

    #[test]
    fn encode_then_decode_roundtrips(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        // Vec encoder.
        let mut wire = Vec::new();
        for p in &pieces {
            encode_chunk(&mut wire, p);
        }
        encode_last(&mut wire);
        let want = pieces.concat();
        let (body, used) = decode_all(&wire).unwrap().unwrap();
        prop_assert_eq!(&body, &want);
        prop_assert_eq!(used, wire.len());
        let cuts = cuts_for(wire.len(), &raw_cuts);
        let split = feed_chunked(&wire, &cuts);
        prop_assert_eq!(split.verdict, Ok(true));
        prop_assert_eq!(&split.body, &want);
        prop_assert!(split.leftover.is_empty());

        // BytesMut encoder (client request bodies): empty pieces must not end the body early.
        let mut wire2 = BytesMut::new();
        for p in &pieces {
            encode_chunk_bytes(&mut wire2, p);
        }
        wire2.extend_from_slice(b"0\r\n\r\n");
        prop_assert_eq!(&wire2[..], &wire[..], "both encoders write the same frames");
    }
}

#[test]
fn size_line_limit_is_split_invariant_at_the_boundary() {
    // Exactly MAX_SIZE_LINE bytes before the LF is allowed, one more is not, in any split.
    for extra in [0usize, 1] {
        let mut wire = b"3;".to_vec();
        wire.resize(chunked::MAX_SIZE_LINE + extra, b'x');
        wire.extend_from_slice(b"\nabc\r\n0\r\n\r\n");
        let whole = feed_chunked(&wire, &[]);
        for cut in [1, chunked::MAX_SIZE_LINE - 1, chunked::MAX_SIZE_LINE, chunked::MAX_SIZE_LINE + 1] {
            assert_eq!(whole, feed_chunked(&wire, &[cut]), "extra {extra}, cut {cut}");
        }
        let want = if extra == 0 { Ok(true) } else { Err(ChunkedError::SizeLineTooLong) };
        assert_eq!(whole.verdict, want);
    }
}
