//! Any bytes as a Claude Messages / count_tokens body: a typed error or a request, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use orchids2api::translate::request::{ClaudeEndpoint, decode_claude};

fuzz_target!(|data: &[u8]| {
    for endpoint in [ClaudeEndpoint::Messages, ClaudeEndpoint::CountTokens] {
        let mut body = data.to_vec();
        if let Ok(req) = decode_claude(&mut body, endpoint) {
            let _ = orchids2api::tokens::quick_estimate(&req);
            let _ = req.last_user_text();
        }
    }
});
