//! Any bytes as an OpenAI Chat Completions body: a typed error or a request, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use orchids2api::translate::request::decode_openai;

fuzz_target!(|data: &[u8]| {
    let mut body = data.to_vec();
    if let Ok(req) = decode_openai(&mut body) {
        let _ = orchids2api::tokens::quick_estimate(&req);
    }
});
