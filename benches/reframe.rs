//! Re-framing throughput and allocations per event.
//!
//! - Bytes/s of upstream SSE re-framed: Claude SSE -> canonical -> OpenAI chunks, OpenAI chunks ->
//!   canonical -> Claude SSE, the OpenAI -> OpenAI passthrough (model rewritten), and OpenAI
//!   chunks padded with a field of varying length that the decoder never reads (like OpenAI's
//!   `obfuscation`) -> Claude SSE, and OpenAI chunks that each carry running usage (as some
//!   OpenAI-compatible servers send it) -> Claude SSE: every chunk then says something new
//!   besides its text, so every chunk takes the full parse (the worst case). The throughput unit is always the upstream SSE bytes
//!   (`event:` lines, `data:` prefixes and blank lines included).
//! - Two variants of each: `wire_*` starts from the raw upstream bytes, fed to the upstream SSE
//!   parser (`upstream::sse::SseParser::feed_shared`) in 16 KiB reads held as `Bytes`, as the
//!   upstream body hands them over (`channel/grok/api.rs`), frames taken as shared slices of
//!   those reads (`next_shared`), so the SSE parse is measured too (the whole per-core path but
//!   the socket); the other starts from frames split once outside the measurement (decode +
//!   encode only). The on-CPU table adds `wire+copy`: each read copied into the parser
//!   (`feed`) and each frame copied out of it into its own `Bytes` (a caller that keeps no
//!   shared buffer).
//! - Allocations per event, counted by a counting global allocator, for the encoders alone, the
//!   decoders alone, and the whole per-frame path as the proxy runs it (decode, encode, split the
//!   output off as `Bytes`).
//! - On-CPU throughput: each path run in a loop for a while, divided by the nanoseconds this
//!   thread spent on a CPU (`/proc/thread-self/schedstat`), so time the shared machine gave to
//!   other processes does not count (criterion's wall-clock figures do include it).
//!
//! Run: `cargo bench --bench reframe`. The two tables are printed before criterion starts
//! (`REFRAME_CASES=padded` limits the on-CPU table to the cases whose name contains it).

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group};
use orchids2api::translate::canonical::{BlockKind, CanonicalEvent as E, JsonStr, StopReason, Usage};
use orchids2api::translate::passthrough::Passthrough;
use orchids2api::translate::sse::{SseFrame, read_all};
use orchids2api::translate::{EncodeOptions, StreamDecoder, StreamEncoder, WireFormat, encode_all};
use orchids2api::upstream::sse::SseParser;
use orchids2api::util::alloc_count::{ALLOCATIONS as ALLOCS, Counting};
use std::hint::black_box;
use std::sync::atomic::Ordering;

#[path = "support/on_cpu.rs"]
mod on_cpu;
use on_cpu::on_cpu;

#[global_allocator]
static GLOBAL: Counting = Counting;

const DELTAS: usize = 2_000;

/// Size of one upstream read.
const READ: usize = 16 * 1024;

/// A typical answer: a text block of `DELTAS` short deltas (a few words each, some escapes).
fn events() -> Vec<E> {
    let mut ev = vec![
        E::MessageStart { id: JsonStr::from_text("msg_bench"), model: JsonStr::from_text("upstream") },
        E::BlockStart { index: 0, kind: BlockKind::Text },
    ];
    let words = ["Hello", " world", ", this is", " a \"quoted\"", " token\n", " stream 😀"];
    for i in 0..DELTAS {
        ev.push(E::TextDelta(JsonStr::from_text(words.get(i % words.len()).copied().unwrap_or(""))));
    }
    ev.push(E::BlockStop { index: 0 });
    ev.push(E::Usage(Usage { input_tokens: 100, output_tokens: 2000, ..Usage::default() }));
    ev.push(E::Stop { reason: StopReason::EndTurn, stop_sequence: None });
    ev
}

fn opts() -> EncodeOptions {
    EncodeOptions { model: Some(JsonStr::from_text("client-model")), include_usage: true, created: 1, input_tokens: 0 }
}

/// `wire` recorded again frame by frame: `rewrite(i, data, out)` writes frame `i`'s new data.
fn rewrite_frames(wire: &[u8], mut rewrite: impl FnMut(usize, &[u8], &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() * 2);
    for (i, f) in read_all(wire).iter().enumerate() {
        out.extend_from_slice(b"data: ");
        rewrite(i, &f.data, &mut out);
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// `wire` with the first `needle` in each frame's data replaced by `with(i)` (a frame without
/// it stays as it was).
fn replace_in_frames(wire: &[u8], needle: &[u8], with: impl Fn(usize) -> String) -> Vec<u8> {
    rewrite_frames(wire, |i, data, out| {
        let at = data.windows(needle.len()).position(|w| w == needle);
        match at.and_then(|at| Some((data.get(..at)?, data.get(at + needle.len()..)?))) {
            Some((head, tail)) => {
                out.extend_from_slice(head);
                out.extend_from_slice(with(i).as_bytes());
                out.extend_from_slice(tail);
            }
            None => out.extend_from_slice(data),
        }
    })
}

/// The OpenAI recording with a field of varying length in front of every chunk, so no two
/// neighbouring chunks have the same bytes around their text.
fn padded(wire: &[u8]) -> Vec<u8> {
    rewrite_frames(wire, |i, data, out| match data.strip_prefix(b"{") {
        Some(rest) => {
            out.extend_from_slice(br#"{"obfuscation":""#);
            out.extend(std::iter::repeat_n(b'x', i % 7 + 1));
            out.extend_from_slice(br#"","#);
            out.extend_from_slice(rest);
        }
        None => out.extend_from_slice(data),
    })
}

/// The OpenAI recording with running usage in every chunk (as upstreams that stream continuous
/// usage send it): each chunk's `"usage":null` becomes counts that differ from the chunk
/// before, so a chunk is never byte-for-byte the last one's shape.
fn running_usage(wire: &[u8]) -> Vec<u8> {
    replace_in_frames(wire, br#""usage":null"#, |i| {
        format!(r#""usage":{{"prompt_tokens":12,"completion_tokens":{i},"total_tokens":{}}}"#, i + 12)
    })
}

/// The OpenAI recording with log probabilities in every chunk (`logprobs: true`): each chunk's
/// `"logprobs":null` becomes an object whose numbers and token differ from the chunk before.
/// Neither the decoder nor the passthrough reads it: a free value of the shape, validated by the
/// scanner on the fast path.
fn with_logprobs(wire: &[u8]) -> Vec<u8> {
    replace_in_frames(wire, br#""logprobs":null"#, |i| {
        format!(
            r#""logprobs":{{"content":[{{"token":"t{i}","logprob":-{}.{:04},"bytes":[116,{}],"top_logprobs":[]}}]}}"#,
            i % 3,
            (i * 7919) % 10_000,
            48 + i % 10
        )
    })
}

/// The OpenAI recording with a different `created` in every chunk: no real upstream does this,
/// but it makes every chunk differ from the last one's shape in a member the shape keeps fixed,
/// so every chunk takes the full parse. It measures that path alone (the first chunk of a
/// stream, block changes, tool-call starts and any chunk of a new shape take it).
fn full_parse(wire: &[u8]) -> Vec<u8> {
    replace_in_frames(wire, br#""created":1,"#, |i| format!(r#""created":{},"#, 1_700_000_000 + i))
}

/// One measured path: upstream format, client format (`None`: passthrough), the recorded
/// upstream bytes and the same split into frames (once, outside any measurement).
struct Case {
    name: &'static str,
    from: WireFormat,
    to: Option<WireFormat>,
    wire: Vec<u8>,
    /// The same bytes as 16 KiB reads, each a `Bytes` (made once, outside any measurement).
    reads: Vec<Bytes>,
    frames: Vec<SseFrame>,
}

fn cases() -> Vec<Case> {
    let claude = encode_all(WireFormat::Claude, opts(), &events()).to_vec();
    let openai = encode_all(WireFormat::OpenAi, opts(), &events()).to_vec();
    let case = |name, from, to, wire: Vec<u8>| {
        // Split off one buffer and frozen, as the upstream body's chunks are.
        let mut buf = bytes::BytesMut::from(&wire[..]);
        let reads =
            std::iter::from_fn(|| (!buf.is_empty()).then(|| buf.split_to(READ.min(buf.len())).freeze())).collect();
        Case { name, from, to, frames: read_all(&wire), wire, reads }
    };
    vec![
        case("claude_sse_to_openai", WireFormat::Claude, Some(WireFormat::OpenAi), claude),
        case("openai_chunks_to_claude", WireFormat::OpenAi, Some(WireFormat::Claude), openai.clone()),
        case("openai_passthrough", WireFormat::OpenAi, None, openai.clone()),
        case("openai_padded_to_claude", WireFormat::OpenAi, Some(WireFormat::Claude), padded(&openai)),
        case("openai_usage_to_claude", WireFormat::OpenAi, Some(WireFormat::Claude), running_usage(&openai)),
        case("openai_usage_passthrough", WireFormat::OpenAi, None, running_usage(&openai)),
        case("openai_logprobs_to_claude", WireFormat::OpenAi, Some(WireFormat::Claude), with_logprobs(&openai)),
        case("openai_logprobs_passthrough", WireFormat::OpenAi, None, with_logprobs(&openai)),
        case("openai_full_parse_to_claude", WireFormat::OpenAi, Some(WireFormat::Claude), full_parse(&openai)),
    ]
}

/// Per-response state of one path.
struct Path {
    dec: StreamDecoder,
    enc: Option<StreamEncoder>,
    pass: Passthrough,
    out: BytesMut,
    sent: usize,
}

impl Path {
    fn new(case: &Case) -> Self {
        Self {
            dec: StreamDecoder::new(case.from),
            enc: case.to.map(|to| StreamEncoder::new(to, opts())),
            pass: Passthrough::new(case.from, Some(JsonStr::from_text("client-model")), true),
            out: BytesMut::with_capacity(64 * 1024),
            sent: 0,
        }
    }

    /// The proxy's per-frame step: decode + encode (or pass through), then split off the
    /// bytes to send.
    fn frame(&mut self, event: Option<&[u8]>, data: &Bytes, scratch: &mut Vec<E>) {
        match &mut self.enc {
            Some(enc) => {
                scratch.clear();
                let _ = self.dec.frame(event, data, scratch);
                for e in scratch.iter() {
                    enc.event(e, &mut self.out);
                }
                // Events are slices of the frame: keeping them would pin the read buffer.
                scratch.clear();
            }
            None => {
                let _ = self.pass.frame(event, data, &mut self.out);
            }
        }
        let chunk: Bytes = self.out.split().freeze();
        self.sent += chunk.len();
        drop(black_box(chunk));
    }
}

/// From frames split beforehand.
fn run_frames(case: &Case, scratch: &mut Vec<E>) -> usize {
    let mut p = Path::new(case);
    for f in &case.frames {
        p.frame(f.event.as_deref(), &f.data, scratch);
    }
    p.sent
}

/// From the raw upstream bytes: SSE parse in 16 KiB reads, then the per-frame step.
fn run_wire(case: &Case, scratch: &mut Vec<E>) -> usize {
    let mut parser = SseParser::default();
    let mut p = Path::new(case);
    for read in &case.reads {
        parser.feed_shared(read.clone());
        while let Ok(Some(ev)) = parser.next_shared() {
            if ev.has_data {
                p.frame(ev.event.as_deref(), &ev.data, scratch);
            }
        }
    }
    p.sent
}

/// [`run_wire`] with each read copied into the parser and each frame copied out of it (a caller
/// that keeps no shared buffer).
fn run_wire_copy(case: &Case, scratch: &mut Vec<E>) -> usize {
    let mut parser = SseParser::default();
    let mut p = Path::new(case);
    for read in case.wire.chunks(READ) {
        parser.feed(read);
        while let Ok(Some(ev)) = parser.next_event() {
            if ev.has_data {
                let data = Bytes::copy_from_slice(ev.data);
                p.frame(ev.event, &data, scratch);
            }
        }
    }
    p.sent
}

fn count<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = ALLOCS.load(Ordering::Relaxed);
    let r = f();
    (ALLOCS.load(Ordering::Relaxed) - before, r)
}

#[expect(clippy::print_stdout, clippy::cast_precision_loss, reason = "the bench's report")]
fn report_allocations(cases: &[Case]) {
    let evs = events();
    let n = evs.len() as f64;
    println!("allocations per event ({} events: {DELTAS} text deltas + framing)", evs.len());
    for format in [WireFormat::Claude, WireFormat::OpenAi] {
        let mut enc = StreamEncoder::new(format, opts());
        let mut out = BytesMut::with_capacity(1 << 20);
        let (a, ()) = count(|| {
            for e in &evs {
                enc.event(e, &mut out);
            }
        });
        println!("  encoder {format:?}: {:.4} (total {a})", a as f64 / n);
    }
    for format in [WireFormat::Claude, WireFormat::OpenAi] {
        let frames = read_all(&encode_all(format, opts(), &evs));
        let mut dec = StreamDecoder::new(format);
        let mut scratch = Vec::with_capacity(16);
        let (a, ()) = count(|| {
            for f in &frames {
                scratch.clear();
                let _ = dec.frame(f.event.as_deref(), &f.data, &mut scratch);
            }
        });
        println!(
            "  decoder {format:?}: {:.4} per frame (total {a}, {} frames)",
            a as f64 / frames.len() as f64,
            frames.len()
        );
    }
    let mut scratch = Vec::with_capacity(16);
    for c in cases {
        let frames = c.frames.len() as f64;
        let (a, _) = count(|| run_frames(c, &mut scratch));
        let (w, _) = count(|| run_wire(c, &mut scratch));
        let (wc, _) = count(|| run_wire_copy(c, &mut scratch));
        println!(
            "  {} ({} bytes, {} frames): {:.4} per frame (total {a}); wire (SSE parse included, {} reads): \
             {:.4} per frame (total {w}); wire+copy: {:.4} per frame (total {wc})",
            c.name,
            c.wire.len(),
            c.frames.len(),
            a as f64 / frames,
            c.wire.len().div_ceil(READ),
            w as f64 / frames,
            wc as f64 / frames,
        );
    }
}

#[expect(clippy::print_stdout, reason = "the bench's report")]
fn report_on_cpu(cases: &[Case]) {
    const MIB: f64 = 1024.0 * 1024.0;
    println!("on-CPU throughput (upstream bytes per second this thread ran; median / best of 5 rounds)");
    let mut scratch = Vec::with_capacity(16);
    // `REFRAME_CASES=substring` limits the table to matching cases (quick A/B runs).
    let only = std::env::var("REFRAME_CASES").unwrap_or_default();
    for c in cases.iter().filter(|c| c.name.contains(only.as_str())) {
        let frames = on_cpu(c.wire.len(), || {
            black_box(run_frames(c, &mut scratch));
        });
        let wire = on_cpu(c.wire.len(), || {
            black_box(run_wire(c, &mut scratch));
        });
        let copy = on_cpu(c.wire.len(), || {
            black_box(run_wire_copy(c, &mut scratch));
        });
        let show = |r: Option<(f64, f64)>| {
            r.map_or("n/a".to_owned(), |(m, b)| format!("{:.0} / {:.0} MiB/s ({:.2} GB/s)", m / MIB, b / MIB, m / 1e9))
        };
        println!("  {:<26} frames: {:<36} wire: {:<36} wire+copy: {}", c.name, show(frames), show(wire), show(copy));
    }
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("reframe");
    let mut scratch = Vec::with_capacity(16);
    for case in &cases {
        g.throughput(Throughput::Bytes(case.wire.len() as u64));
        g.bench_function(case.name, |b| b.iter(|| run_frames(black_box(case), &mut scratch)));
        g.bench_function(format!("wire_{}", case.name), |b| b.iter(|| run_wire(black_box(case), &mut scratch)));
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    let cases = cases();
    report_allocations(&cases);
    // Only for a real run (`cargo bench`), not under `cargo test` or `--profile-time`.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time") {
        report_on_cpu(&cases);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
