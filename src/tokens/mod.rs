//! Input-token estimates for `count_tokens` and usage reports.
//!
//! Text is counted with a real BPE tokenizer: OpenAI's `o200k_base` from `tiktoken-rs`, whose
//! vocabulary ships inside the crate (nothing is fetched at run time). For GPT-4o-family and
//! OpenAI-compatible models that is the exact tokenizer; for Claude and Grok models it is an
//! estimate (their vocabularies are not public) — see `docs/translation.md` for measured accuracy
//! against the `chars / 4` heuristic. On top of the text: [`PER_MESSAGE`] tokens per message for
//! role and framing, [`PER_TOOL`] per tool definition, [`PER_IMAGE`] per image.
//!
//! The tokenizer is built once per process on first use (about 0.1–0.3 s) and shared read-only.

use crate::translate::canonical::{Block, CanonicalRequest};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tiktoken_rs::CoreBPE;

/// Framing overhead per message (role marker and separators, as in OpenAI's chat format).
pub const PER_MESSAGE: u64 = 3;
/// Overhead per tool definition (wrapping of name, description and schema).
pub const PER_TOOL: u64 = 8;
/// A flat charge per image: Anthropic bills `width*height/750`, about 1,600 for a 1.2 MP image.
pub const PER_IMAGE: u64 = 1_600;
/// Priming of the assistant's reply.
pub const REPLY_PRIMING: u64 = 3;

static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();

fn bpe() -> Option<&'static CoreBPE> {
    BPE.get_or_init(|| match tiktoken_rs::o200k_base() {
        Ok(b) => Some(b),
        Err(e) => {
            log::error!("tokenizer failed to load ({e}); token counts fall back to chars/4");
            None
        }
    })
    .as_ref()
}

/// Builds the tokenizer now (blocking the calling thread).
pub fn warm_up() {
    let _ = bpe();
}

/// Set once a build of the tokenizer has been started.
static BUILD_STARTED: AtomicBool = AtomicBool::new(false);

/// How often a request waiting for the tokenizer checks whether it is built.
const READY_POLL: Duration = Duration::from_millis(5);

/// Waits, without blocking the worker's event loop, until the tokenizer is built. The first
/// caller starts the build on a short-lived thread. The tokenizer takes about 60 MB, so it is
/// built on first use (the first `count_tokens` request waits for it once) rather than at
/// start: a gateway that never counts tokens never pays for it.
pub async fn ready() {
    if BPE.get().is_some() {
        return;
    }
    if !BUILD_STARTED.swap(true, Ordering::AcqRel) {
        if let Err(e) = std::thread::Builder::new().name("tokenizer-init".into()).spawn(warm_up) {
            log::warn!("tokenizer build thread not started ({e}); building it on the worker");
            warm_up();
        }
    }
    while BPE.get().is_none() {
        monoio::time::sleep(READY_POLL).await;
    }
}

/// BPE tokens in `text` (chars/4 if the tokenizer could not load).
pub fn count_text(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe() {
        Some(b) => u64::try_from(b.encode_ordinary(text).len()).unwrap_or(u64::MAX),
        None => heuristic(text),
    }
}

/// The `chars / 4` heuristic (rounded up), for comparison and fallback.
pub fn heuristic(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX)
}

/// Estimated input tokens of a whole request.
pub fn count_request(req: &CanonicalRequest) -> u64 {
    let mut total = REPLY_PRIMING;
    if !req.system.is_empty() {
        total += PER_MESSAGE;
    }
    total += PER_TOOL * u64::try_from(req.tools.len()).unwrap_or(0);
    total += PER_MESSAGE * u64::try_from(req.messages.len()).unwrap_or(0);
    for m in &req.messages {
        for b in &m.content {
            total += images(b) * PER_IMAGE;
        }
    }
    req.for_each_text(|t| total += count_text(t));
    total
}

fn images(b: &Block) -> u64 {
    match b {
        Block::Image(_) => 1,
        Block::ToolResult { content, .. } => content.iter().map(images).sum(),
        _ => 0,
    }
}

/// A cheap estimate for the hot path (bytes / 4 of the text, message text counted as the
/// client escaped it), used where a BPE pass per request
/// would cost more than it is worth (e.g. the `message_start` input-token hint).
pub fn quick_estimate(req: &CanonicalRequest) -> u64 {
    let bytes = req.text_bytes();
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX) + PER_MESSAGE * u64::try_from(req.messages.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::canonical::{Message, Role};

    #[test]
    fn bpe_counts_known_strings() {
        assert_eq!(count_text(""), 0);
        assert_eq!(count_text("hello world"), 2);
        assert!(count_text("The quick brown fox jumps over the lazy dog.") >= 9);
    }

    #[test]
    fn request_count_includes_overheads() {
        let req = CanonicalRequest {
            system: vec!["You are terse.".into()],
            messages: vec![Message { role: Role::User, content: vec![Block::Text("hello world".into())] }],
            ..CanonicalRequest::default()
        };
        let n = count_request(&req);
        assert_eq!(n, REPLY_PRIMING + 2 * PER_MESSAGE + count_text("You are terse.") + 2);
    }
}

#[cfg(test)]
mod accuracy {
    //! The measurements quoted in `docs/translation.md` ("Tokenizer accuracy"). The samples
    //! are fixed so the numbers are reproducible: `cargo test tokens::accuracy -- --nocapture`.
    use super::{count_text, heuristic};

    pub(super) const SAMPLES: &[(&str, &str)] = &[
        (
            "English prose",
            "The gateway accepts Claude Messages and OpenAI Chat Completions requests, picks an upstream account from a pool for the request's channel, speaks that upstream's own wire protocol, fails over to another account when the first one fails, translates the answer back into the client's format and streams it out with as little added latency as the machine allows.",
        ),
        (
            "Rust code",
            "fn main() {\n    let mut v: Vec<u32> = (0..10).collect();\n    v.retain(|x| x % 2 == 0);\n    for (i, x) in v.iter().enumerate() {\n        println!(\"{i}: {x}\");\n    }\n}\n",
        ),
        (
            "JSON schema",
            r#"{"type":"object","properties":{"location":{"type":"string","description":"City and country, e.g. Paris, France"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}"#,
        ),
        (
            "Chinese",
            "网关接受两种格式的请求，从账户池中为请求的通道选择一个上游账户，并以尽可能低的延迟把答案流式返回给客户端。",
        ),
        (
            "Numbers and ids",
            "req_01HZX9 2026-11-27T00:22:49Z 127.0.0.1:44887 sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
    ];

    #[test]
    #[expect(clippy::print_stderr, reason = "prints the measurement table quoted in the docs")]
    fn heuristic_vs_bpe_on_samples() {
        for (name, text) in SAMPLES {
            let bpe = count_text(text);
            let h = heuristic(text);
            #[expect(clippy::cast_precision_loss, reason = "a ratio for a report")]
            let ratio = h as f64 / bpe as f64;
            eprintln!("{name}: bpe={bpe} chars/4={h} ratio={ratio:.2}");
            assert!(bpe > 0);
            // chars/4 is within a factor of 2.5 of the BPE count on every sample, but never
            // better than that on CJK text, which is why count_tokens uses the BPE.
            assert!((0.2..2.5).contains(&ratio), "{name}: {ratio}");
        }
    }
}
