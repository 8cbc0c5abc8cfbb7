//! Translation between client formats and the canonical model: 2 request decoders, 2 stream
//! encoders (+ non-streaming collectors), 2 stream decoders and the same-format passthrough.
//!
//! Key components:
//! - [`canonical`]: `CanonicalRequest`, `CanonicalEvent`, `JsonStr` (escaped zero-copy text).
//! - [`request`]: Claude / OpenAI request bodies -> canonical (simd-json, in place), the
//!   client's text kept escaped ([`text`]);
//!   [`tools_cache`]: a conversation's repeated tool definitions, decoded once per worker;
//!   [`messages_cache`]: a conversation's earlier messages, decoded once per worker.
//! - [`claude_enc`], [`openai_enc`]: canonical -> client SSE, written into a reused buffer.
//! - [`collect`]: canonical -> one JSON body for non-streaming requests.
//! - [`claude_dec`], [`openai_dec`]: upstream frames -> canonical (zero-copy text).
//! - [`passthrough`]: same format both sides: forward frames, rewrite only `model`.
//! - [`jscan`]: the validating raw-span JSON scanner the decoders use (one pass per frame onto a
//!   reused tape); `shape`: the decoders' and the passthrough's fast path for frames that differ
//!   from the last delta frame only in the delta's text; [`sse`]: an SSE reader.
//!
//! The mapping tables are in `docs/translation.md`.

pub mod canonical;
pub mod claude_dec;
pub mod claude_enc;
pub mod collect;
pub(crate) mod completion_shape;
pub mod jscan;
#[cfg(test)]
mod jscan_reference;
pub mod messages_cache;
pub mod openai_dec;
pub mod openai_enc;
pub mod out;
pub mod passthrough;
pub mod request;
pub(crate) mod shape;
pub mod sse;
pub mod system_cache;
#[cfg(test)]
mod test_support;
pub mod text;
pub mod tools_cache;
pub mod value_cache;

pub use canonical::{CanonicalEvent, CanonicalRequest, JsonStr, WireFormat};
pub use claude_dec::DecodeError;
pub use claude_enc::EncodeOptions;

use bytes::{Bytes, BytesMut};
use std::cell::Cell;
use std::hash::BuildHasher;

thread_local! {
    /// Per thread: a random seed (from the std hasher's per-process keys and the clock) and a
    /// counter; an id is the counter mixed with the seed, so ids never repeat on a thread and
    /// threads start far apart.
    static ID_STATE: Cell<(u64, u64)> = Cell::new((
        std::hash::RandomState::new().hash_one((std::thread::current().id(), unix_now_nanos())),
        0,
    ));
}

/// A fresh id like `msg_01a2…` (24 hex digits; unique, not secret). Runs on every response
/// (the request id header, the message id), so it is a counter through a bijective 64-bit mix
/// written as hex by hand: no hashing of the clock, no `format!`.
pub fn new_message_id(prefix: &str) -> String {
    let (seed, n) = ID_STATE.with(|c| {
        let (seed, n) = c.get();
        let n = n.wrapping_add(1);
        c.set((seed, n));
        (seed, n)
    });
    let a = mix64(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let b = mix64(a ^ seed.rotate_left(32));
    let mut id = Vec::with_capacity(prefix.len() + 24);
    id.extend_from_slice(prefix.as_bytes());
    id.extend_from_slice(&hex_digits::<16>(a));
    id.extend_from_slice(&hex_digits::<8>(b >> 32));
    // A `&str` prefix and hex digits: always UTF-8 (the check is a few word compares).
    String::from_utf8(id).unwrap_or_default()
}

/// splitmix64's finaliser: a bijection on u64 with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The low `N` (at most 16) hex digits of `v`, most significant first, as a fixed array the
/// compiler unrolls (no per-character push).
fn hex_digits<const N: usize>(v: u64) -> [u8; N] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; N];
    for (i, o) in out.iter_mut().rev().enumerate().take(16) {
        let nibble = usize::try_from((v >> (i * 4)) & 0xf).unwrap_or(0);
        *o = HEX.get(nibble).copied().unwrap_or(b'0');
    }
    out
}

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A client-format stream encoder.
#[derive(Debug)]
pub enum StreamEncoder {
    Claude(claude_enc::ClaudeSseEncoder),
    OpenAi(openai_enc::OpenAiSseEncoder),
}

impl StreamEncoder {
    pub fn new(format: WireFormat, opts: EncodeOptions) -> Self {
        match format {
            WireFormat::Claude => Self::Claude(claude_enc::ClaudeSseEncoder::new(opts)),
            WireFormat::OpenAi => Self::OpenAi(openai_enc::OpenAiSseEncoder::new(opts)),
        }
    }

    pub fn event(&mut self, ev: &CanonicalEvent, out: &mut BytesMut) {
        match self {
            Self::Claude(e) => e.event(ev, out),
            Self::OpenAi(e) => e.event(ev, out),
        }
    }

    pub fn finish(&mut self, out: &mut BytesMut) {
        match self {
            Self::Claude(e) => e.finish(out),
            Self::OpenAi(e) => e.finish(out),
        }
    }

    pub fn ended(&self) -> bool {
        match self {
            Self::Claude(e) => e.ended(),
            Self::OpenAi(e) => e.ended(),
        }
    }
}

/// An upstream-format stream decoder.
#[derive(Debug)]
pub enum StreamDecoder {
    Claude(claude_dec::ClaudeDecoder),
    OpenAi(openai_dec::OpenAiDecoder),
}

impl StreamDecoder {
    pub fn new(format: WireFormat) -> Self {
        match format {
            WireFormat::Claude => Self::Claude(claude_dec::ClaudeDecoder::new()),
            WireFormat::OpenAi => Self::OpenAi(openai_dec::OpenAiDecoder::new()),
        }
    }

    /// Decodes one SSE frame (`event` is ignored for OpenAI).
    pub fn frame(
        &mut self,
        event: Option<&[u8]>,
        data: &Bytes,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        match self {
            Self::Claude(d) => d.frame(event, data, out),
            Self::OpenAi(d) => d.frame(data, out),
        }
    }

    /// Decodes a whole (non-streaming) answer in the decoder's format, start to end.
    pub fn whole(&mut self, data: &Bytes, out: &mut Vec<CanonicalEvent>) -> Result<(), DecodeError> {
        match self {
            Self::Claude(_) => Err(DecodeError("a whole Claude answer cannot be re-framed yet".into())),
            Self::OpenAi(d) => d.completion(data, out),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<CanonicalEvent>) {
        match self {
            Self::Claude(d) => d.finish(out),
            Self::OpenAi(d) => d.finish(out),
        }
    }
}

/// Encodes a whole event sequence as one client stream (tests, benches, fixtures).
pub fn encode_all(format: WireFormat, opts: EncodeOptions, events: &[CanonicalEvent]) -> BytesMut {
    let mut enc = StreamEncoder::new(format, opts);
    let mut out = BytesMut::new();
    for ev in events {
        enc.event(ev, &mut out);
    }
    out
}

/// The first error among decoded events, as (kind, plain message): what a failed attempt reports.
pub fn first_error(events: Vec<CanonicalEvent>) -> Option<(canonical::ErrorKind, String)> {
    events.into_iter().find_map(|e| match e {
        CanonicalEvent::Error { kind, message } => Some((kind, message.unescape().into_owned())),
        _ => None,
    })
}

/// Decodes a whole recorded stream in `format` (tests, benches, fuzzing).
pub fn decode_all(format: WireFormat, stream: &[u8]) -> Result<Vec<CanonicalEvent>, DecodeError> {
    let mut dec = StreamDecoder::new(format);
    let mut out = Vec::new();
    for f in sse::read_all(stream) {
        dec.frame(f.event.as_deref(), &f.data, &mut out)?;
    }
    dec.finish(&mut out);
    Ok(out)
}

#[cfg(test)]
mod id_tests {
    use super::{hex_digits, new_message_id};
    use std::collections::HashSet;

    #[test]
    fn hex_digits_are_the_low_digits_most_significant_first() {
        assert_eq!(&hex_digits::<16>(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex_digits::<8>(0xdead_beef_cafe_f00d), b"cafef00d");
        assert_eq!(&hex_digits::<4>(0xa), b"000a");
        assert_eq!(&hex_digits::<18>(u64::MAX), b"00ffffffffffffffff");
    }

    #[test]
    fn ids_are_prefix_and_24_hex_digits_and_never_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = new_message_id("msg_");
            let hex = id.strip_prefix("msg_").unwrap();
            assert_eq!(hex.len(), 24, "{id}");
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn threads_do_not_share_ids() {
        let a: HashSet<String> =
            std::thread::spawn(|| (0..1000).map(|_| new_message_id("x")).collect()).join().unwrap();
        let b: HashSet<String> = (0..1000).map(|_| new_message_id("x")).collect();
        assert!(a.is_disjoint(&b));
    }
}
