//! Split invariance of every upstream-side decoder: the SSE parser, the NDJSON reader, the
//! chunked decoder as the response body uses it, the response head parser and the WebSocket
//! frame decoder + message assembler give the same result however the input is cut into reads.
//! Structured inputs also round-trip (what was encoded is what is decoded).

use bytes::{Bytes, BytesMut};
use orchids2api::http::chunked::{Chunk, ChunkedDecoder};
use orchids2api::upstream::response_head::parse_response_head;
use orchids2api::upstream::ws_frame::{Assembler, Frame, FrameDecoder, FrameError, Message, Opcode, encode_frame};
use orchids2api::upstream::{ndjson, sse};
use proptest::prelude::*;
use std::fmt::Write as _;

/// Cuts `input` at the given (sorted, deduplicated, in-range) points.
#[cfg(test)]
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(&input[last..p]);
        last = p;
    }
    out.push(&input[last..]);
    out
}

#[cfg(test)]
fn line_text() -> impl Strategy<Value = String> {
    // No CR/LF inside a line; includes multi-byte characters, colons and spaces.
    proptest::string::string_regex("[a-zA-Z0-9 :{}\"é✓😀]{0,20}").unwrap()
}

#[cfg(test)]
#[derive(Debug, Clone)]
struct GenEvent {
    name: Option<String>,
    data: Vec<String>,
    id: Option<String>,
    comment: bool,
}

#[cfg(test)]
fn gen_event() -> impl Strategy<Value = GenEvent> {
    (
        proptest::option::of(proptest::string::string_regex("[a-z_]{1,10}").unwrap()),
        proptest::collection::vec(line_text(), 1..4),
        proptest::option::of(proptest::string::string_regex("[0-9a-f]{1,8}").unwrap()),
        any::<bool>(),
    )
        .prop_map(|(name, data, id, comment)| GenEvent { name, data, id, comment })
}

#[cfg(test)]
fn encode_sse(events: &[GenEvent], eol: &str) -> Vec<u8> {
    let mut out = String::new();
    for e in events {
        if e.comment {
            out.push_str(": keep-alive");
            out.push_str(eol);
        }
        if let Some(n) = &e.name {
            let _ = write!(out, "event: {n}{eol}");
        }
        for d in &e.data {
            let _ = write!(out, "data: {d}{eol}");
        }
        if let Some(id) = &e.id {
            let _ = write!(out, "id:{id}{eol}");
        }
        out.push_str(eol);
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sse_roundtrips_under_any_split(
        events in proptest::collection::vec(gen_event(), 0..8),
        eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire = encode_sse(&events, eol);
        let got = sse::parse_all(pieces(&wire, &cuts), 1 << 20).unwrap();
        prop_assert_eq!(got.len(), events.len());
        for (g, e) in got.iter().zip(&events) {
            prop_assert_eq!(g.event.clone(), e.name.as_ref().map(|s| s.as_bytes().to_vec()));
            prop_assert_eq!(g.data.clone(), e.data.join("\n").into_bytes());
            prop_assert_eq!(g.id.clone(), e.id.as_ref().map(|s| s.as_bytes().to_vec()));
        }
    }

    #[test]
    fn sse_arbitrary_bytes_split_invariant(
        input in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b':')], 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = sse::parse_all([&input[..]], 64);
        let split = sse::parse_all(pieces(&input, &cuts), 64);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn ndjson_roundtrips_and_is_split_invariant(
        lines in proptest::collection::vec(line_text(), 0..10),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let wire = lines.iter().fold(String::new(), |mut acc, l| { let _ = write!(acc, "{l}{eol}"); acc }).into_bytes();
        let got = ndjson::parse_all(pieces(&wire, &cuts), 1 << 20).unwrap();
        let want: Vec<Vec<u8>> = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.as_bytes().to_vec()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn ndjson_arbitrary_bytes_split_invariant(
        input in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b' ')], 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        prop_assert_eq!(ndjson::parse_all([&input[..]], 64), ndjson::parse_all(pieces(&input, &cuts), 64));
    }

    #[test]
    fn chunked_response_body_roundtrips_under_any_split(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..100), 0..8),
        ext in any::<bool>(),
        trailer in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut wire = Vec::new();
        for p in &parts {
            wire.extend_from_slice(format!("{:X}{}\r\n", p.len(), if ext { ";name=v" } else { "" }).as_bytes());
            wire.extend_from_slice(p);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(if trailer { b"0\r\nx-t: 1\r\n\r\n" as &[u8] } else { b"0\r\n\r\n" });
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut done = false;
        for piece in pieces(&wire, &cuts) {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf).unwrap() {
                    Chunk::Data(d) => body.extend_from_slice(&d),
                    Chunk::NeedMore => break,
                    Chunk::Done => { done = true; break; }
                }
            }
            if done { break; }
        }
        prop_assert!(done);
        prop_assert_eq!(body, parts.concat());
    }

    #[test]
    fn response_head_is_split_invariant(
        input in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' ')], 0..200),
        prefix in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = if prefix { b"HTTP/1.1 200 OK\r\n".to_vec() } else { Vec::new() };
        wire.extend_from_slice(&input);
        let whole = parse_response_head(&mut BytesMut::from(&wire[..]), 4096);
        let mut buf = BytesMut::new();
        let mut split = Ok(None);
        for piece in pieces(&wire, &cuts) {
            buf.extend_from_slice(piece);
            split = parse_response_head(&mut buf, 4096);
            if !matches!(split, Ok(None)) { break; }
        }
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn ws_messages_roundtrip_under_any_split(
        msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 1usize..4, any::<bool>()), 0..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        // Server -> client frames: unmasked, messages fragmented, a ping between fragments.
        let mut wire = BytesMut::new();
        let mut want = Vec::new();
        for (text, data, frags, ping) in &msgs {
            let data: Vec<u8> = if *text { String::from_utf8_lossy(data).into_owned().into_bytes() } else { data.clone() };
            let size = data.len().div_ceil(*frags).max(1);
            let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(size).collect() };
            let d = Bytes::from(data.clone());
            let msg = if *text { Message::Text(d) } else { Message::Binary(d) };
            for (i, c) in chunks.iter().enumerate() {
                let op = if i > 0 { Opcode::Continuation } else if *text { Opcode::Text } else { Opcode::Binary };
                let last = i + 1 == chunks.len();
                encode_frame(&mut wire, last, op, c, None);
                if last {
                    want.push(msg.clone());
                }
                if *ping && i == 0 {
                    // Between fragments, or right after a single-frame message.
                    encode_frame(&mut wire, true, Opcode::Ping, b"p", None);
                    want.push(Message::Ping(Bytes::from_static(b"p")));
                }
            }
        }
        let got = decode_ws(pieces(&wire, &cuts)).unwrap();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn ws_arbitrary_bytes_split_invariant(
        input in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        prop_assert_eq!(decode_ws([&input[..]]), decode_ws(pieces(&input, &cuts)));
    }
}

/// Decodes server frames into messages; stops at the first error.
#[cfg(test)]
fn decode_ws<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Message>, FrameError> {
    let dec = FrameDecoder::client(1 << 16);
    let mut asm = Assembler::new(1 << 16);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(f) = dec.decode(&mut buf)? {
            let f: Frame = f;
            if let Some(m) = asm.push(f)? {
                out.push(m);
            }
        }
    }
    Ok(out)
}
