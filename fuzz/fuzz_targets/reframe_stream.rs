//! Any bytes as an upstream SSE stream, in either format, re-framed for either client format the
//! way the proxy does it (decode -> encode, and the passthrough): never a panic, and every
//! `data:` payload written is valid JSON (or `[DONE]`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use orchids2api::translate::canonical::JsonStr;
use orchids2api::translate::passthrough::Passthrough;
use orchids2api::translate::{EncodeOptions, StreamDecoder, StreamEncoder, WireFormat, jscan, sse};

fn check(out: &[u8]) {
    for f in sse::read_all(out) {
        if &f.data[..] != b"[DONE]" {
            assert!(jscan::parse(&f.data).is_ok(), "invalid JSON written: {:?}", String::from_utf8_lossy(&f.data));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else { return };
    let from = if sel & 1 == 0 { WireFormat::Claude } else { WireFormat::OpenAi };
    let to = if sel & 2 == 0 { WireFormat::Claude } else { WireFormat::OpenAi };
    // Feed in two pieces at a data-chosen split, like network reads.
    let cut = usize::from(sel >> 2).min(stream.len());
    let mut reader = sse::SseReader::new(1 << 20);
    let opts = EncodeOptions {
        model: Some(JsonStr::from_static("m")),
        include_usage: sel & 4 != 0,
        ..EncodeOptions::default()
    };
    let mut dec = StreamDecoder::new(from);
    let mut enc = StreamEncoder::new(to, opts);
    let mut pass = Passthrough::new(from, Some(JsonStr::from_static("m")), true);
    let mut out = bytes::BytesMut::new();
    let mut pass_out = bytes::BytesMut::new();
    let mut events = Vec::new();
    for piece in [&stream[..cut], &stream[cut..]] {
        reader.feed(piece);
        while let Ok(Some(f)) = reader.next_frame() {
            events.clear();
            if dec.frame(f.event.as_deref(), &f.data, &mut events).is_ok() {
                for e in &events {
                    enc.event(e, &mut out);
                }
            }
            let _ = pass.frame(f.event.as_deref(), &f.data, &mut pass_out);
        }
    }
    events.clear();
    dec.finish(&mut events);
    for e in &events {
        enc.event(e, &mut out);
    }
    enc.finish(&mut out);
    check(&out);
    check(&pass_out);
});
