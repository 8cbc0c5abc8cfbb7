//! Properties of the RESP codec: encode -> decode round-trips, and decoding gives the same
//! replies for any split of the input into chunks.
#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code: failures should be loud")]

use bytes::{Bytes, BytesMut};
use orchids2api::store::redis::resp::{Reply, encode_command, encode_reply, frame_len, parse_reply};
use proptest::prelude::*;

fn reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 _.:-]{0,20}".prop_map(|s| Reply::Simple(Bytes::from(s))),
        "[a-zA-Z0-9 _.:-]{0,20}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Int),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| Reply::Bulk(Bytes::from(b))),
        Just(Reply::Nil),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| proptest::collection::vec(inner, 0..8).prop_map(Reply::Array))
}

fn encode_all(replies: &[Reply]) -> BytesMut {
    let mut out = BytesMut::new();
    for r in replies {
        encode_reply(&mut out, r).unwrap();
    }
    out
}

/// Feeds `bytes` in pieces cut at `cuts`, parsing after each piece.
fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Reply> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    for p in points {
        buf.extend_from_slice(&bytes[at..p]);
        at = p;
        while let Some(r) = parse_reply(&mut buf).unwrap() {
            out.push(r);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

proptest! {
    #[test]
    fn replies_round_trip(replies in proptest::collection::vec(reply(), 0..8)) {
        let bytes = encode_all(&replies);
        prop_assert_eq!(parse_in_pieces(&bytes, &[]), replies);
    }

    #[test]
    fn any_split_gives_the_same_replies(
        replies in proptest::collection::vec(reply(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = encode_all(&replies);
        prop_assert_eq!(parse_in_pieces(&bytes, &cuts), replies);
    }

    #[test]
    fn commands_are_complete_frames(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)) {
        let mut out = BytesMut::new();
        encode_command(&mut out, &args).unwrap();
        prop_assert_eq!(frame_len(&out).unwrap(), Some(out.len()));
        let want = Reply::Array(args.iter().map(|a| Reply::Bulk(Bytes::from(a.clone()))).collect());
        prop_assert_eq!(parse_reply(&mut out).unwrap(), Some(want));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = parse_reply(&mut buf) {}
    }
}
