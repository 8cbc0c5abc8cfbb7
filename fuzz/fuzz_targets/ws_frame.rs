//! WebSocket frame decoder + message assembler (client side): never panics, respects the size
//! caps, and any split of the input gives the same messages and error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use orchids2api::upstream::ws_frame::{Assembler, FrameDecoder, FrameError, Message};

fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Message>, FrameError> {
    let dec = FrameDecoder::client(4096);
    let mut asm = Assembler::new(8192);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(f) = dec.decode(&mut buf)? {
            assert!(f.payload.len() <= 4096);
            if let Some(m) = asm.push(f)? {
                if let Message::Text(t) = &m {
                    assert!(std::str::from_utf8(t).is_ok());
                }
                out.push(m);
            }
        }
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else { return };
    let whole = run(std::iter::once(input));
    let split = run(input.chunks(usize::from(seed % 7) + 1));
    assert_eq!(whole, split);
});
