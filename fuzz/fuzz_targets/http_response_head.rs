//! Response head parser and framing: never panics, and feeding the bytes in pieces gives the
//! same result as feeding them at once.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::upstream::response_head::{parse_response_head, response_framing};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else { return };
    let mut whole_buf = BytesMut::from(input);
    let whole = parse_response_head(&mut whole_buf, 8192);
    let mut buf = BytesMut::new();
    let mut split = Ok(None);
    for piece in input.chunks(usize::from(seed % 13) + 1) {
        buf.extend_from_slice(piece);
        split = parse_response_head(&mut buf, 8192);
        if !matches!(split, Ok(None)) {
            break;
        }
    }
    assert_eq!(whole, split);
    if let Ok(Some(head)) = whole {
        let _ = response_framing(&head, seed & 1 == 1);
        assert!(head.head_len <= input.len());
    }
});
