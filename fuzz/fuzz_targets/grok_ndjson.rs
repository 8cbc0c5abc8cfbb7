//! grok.com NDJSON: every line of arbitrary bytes decodes to an event or a typed error, and the
//! assembler/stripper chain never panics on whatever tokens come out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::grok::ndjson::{GrokWebEvent, decode_line};
use orchids2api::grok::web_text::AnswerAssembler;

fuzz_target!(|data: &[u8]| {
    let mut asm = AnswerAssembler::new();
    let mut sink = |_: orchids2api::grok::web_text::TextPiece<'_>| {};
    for line in data.split(|b| *b == b'\n') {
        match decode_line(line) {
            Ok(GrokWebEvent::Token { text, is_thinking, .. }) => asm.on_token(&text, is_thinking, &mut sink),
            Ok(GrokWebEvent::Final(f)) => asm.on_final(&f.message, &mut sink),
            Ok(GrokWebEvent::ImageProgress(p)) => {
                let _ = p.asset_path();
                let _ = p.is_final();
            }
            Ok(_) | Err(_) => {}
        }
    }
    asm.finish(&mut sink);
});
