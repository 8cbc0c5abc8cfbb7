//! Re-framing throughput and allocations per event.
//!
//! - Bytes/s of upstream SSE re-framed: Claude SSE -> canonical -> OpenAI chunks, OpenAI chunks ->
//!   canonical -> Claude SSE, and the OpenAI -> OpenAI passthrough (model rewritten). The
//!   throughput unit is always the upstream SSE bytes (`event:` lines, `data:` prefixes and blank
//!   lines included).
//! - Two variants of each: `wire_*` starts from the raw upstream bytes, fed to the upstream SSE
//!   parser (`upstream::sse::SseParser`) in 16 KiB reads as they come off the socket, so the SSE
//!   parse is measured too (the whole per-core path but the socket); the other starts from
//!   frames split once outside the measurement (decode + encode only).
//! - Allocations per event, counted by a counting global allocator, for the encoders alone, the
//!   decoders alone, and the whole per-frame path as the proxy runs it (decode, encode, split the
//!   output off as `Bytes`).
//!
//! Run: `cargo bench --bench reframe`. The allocation table is printed before criterion starts.

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

#[global_allocator]
static GLOBAL: Counting = Counting;

const DELTAS: usize = 2_000;

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

/// The recorded upstream stream in `format`, split into frames once (outside the measurement).
fn recorded(format: WireFormat) -> (usize, Vec<SseFrame>) {
    let wire = encode_all(format, opts(), &events());
    (wire.len(), read_all(&wire))
}

/// The proxy's per-frame path: decode, encode, split off the bytes to send.
fn reframe(from: WireFormat, to: WireFormat, frames: &[SseFrame], scratch: &mut Vec<E>) -> usize {
    let mut dec = StreamDecoder::new(from);
    let mut enc = StreamEncoder::new(to, opts());
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut sent = 0;
    for f in frames {
        scratch.clear();
        let _ = dec.frame(f.event.as_deref(), &f.data, scratch);
        for ev in scratch.iter() {
            enc.event(ev, &mut out);
        }
        let chunk: Bytes = out.split().freeze();
        sent += chunk.len();
        drop(black_box(chunk));
    }
    sent
}

/// Size of one upstream read.
const READ: usize = 16 * 1024;

/// The proxy's whole per-read path: SSE parse of raw upstream bytes in 16 KiB reads, then decode
/// and encode each frame as [`reframe`] does, or pass it through.
fn wire(from: WireFormat, to: Option<WireFormat>, input: &[u8], scratch: &mut Vec<E>) -> usize {
    let mut parser = SseParser::default();
    let mut dec = StreamDecoder::new(from);
    let mut enc = to.map(|to| StreamEncoder::new(to, opts()));
    let mut pass = Passthrough::new(from, Some(JsonStr::from_text("client-model")), true);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut sent = 0;
    for read in input.chunks(READ) {
        parser.feed(read);
        while let Ok(Some(ev)) = parser.next_event() {
            if !ev.has_data {
                continue;
            }
            // What the channel hands the pipeline today (`channel/grok/api.rs`).
            let data = Bytes::copy_from_slice(ev.data);
            match &mut enc {
                Some(enc) => {
                    scratch.clear();
                    let _ = dec.frame(ev.event, &data, scratch);
                    for e in scratch.iter() {
                        enc.event(e, &mut out);
                    }
                }
                None => {
                    let _ = pass.frame(ev.event, &data, &mut out);
                }
            }
            let chunk: Bytes = out.split().freeze();
            sent += chunk.len();
            drop(black_box(chunk));
        }
    }
    sent
}

fn passthrough(frames: &[SseFrame]) -> usize {
    let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_text("client-model")), true);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut sent = 0;
    for f in frames {
        let _ = p.frame(f.event.as_deref(), &f.data, &mut out);
        let chunk = out.split().freeze();
        sent += chunk.len();
        drop(black_box(chunk));
    }
    sent
}

fn count<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = ALLOCS.load(Ordering::Relaxed);
    let r = f();
    (ALLOCS.load(Ordering::Relaxed) - before, r)
}

#[expect(clippy::print_stdout, clippy::cast_precision_loss, reason = "the bench's report")]
fn report_allocations() {
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
        let (_, frames) = recorded(format);
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
    for (from, to) in [(WireFormat::Claude, WireFormat::OpenAi), (WireFormat::OpenAi, WireFormat::Claude)] {
        let (_, frames) = recorded(from);
        let (a, _) = count(|| reframe(from, to, &frames, &mut scratch));
        println!("  full path {from:?} -> {to:?}: {:.4} per frame (total {a})", a as f64 / frames.len() as f64);
    }
    let (_, frames) = recorded(WireFormat::OpenAi);
    let (a, _) = count(|| passthrough(&frames));
    println!("  passthrough OpenAi -> OpenAi: {:.4} per frame (total {a})", a as f64 / frames.len() as f64);
    for (from, to) in [
        (WireFormat::Claude, Some(WireFormat::OpenAi)),
        (WireFormat::OpenAi, Some(WireFormat::Claude)),
        (WireFormat::OpenAi, None),
    ] {
        let (_, frames) = recorded(from);
        let input = encode_all(from, opts(), &events());
        let (a, _) = count(|| wire(from, to, &input, &mut scratch));
        println!(
            "  wire (SSE parse included) {from:?} -> {}: {:.4} per frame (total {a}, {} reads)",
            to.map_or("passthrough".to_owned(), |t| format!("{t:?}")),
            a as f64 / frames.len() as f64,
            input.len().div_ceil(READ)
        );
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("reframe");
    let mut scratch = Vec::with_capacity(16);
    for (from, to, name) in [
        (WireFormat::Claude, WireFormat::OpenAi, "claude_sse_to_openai"),
        (WireFormat::OpenAi, WireFormat::Claude, "openai_chunks_to_claude"),
    ] {
        let (bytes, frames) = recorded(from);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| {
            b.iter(|| reframe(from, to, black_box(&frames), &mut scratch));
        });
    }
    let (bytes, frames) = recorded(WireFormat::OpenAi);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("openai_passthrough", |b| {
        b.iter(|| passthrough(black_box(&frames)));
    });
    for (from, to, name) in [
        (WireFormat::Claude, Some(WireFormat::OpenAi), "wire_claude_sse_to_openai"),
        (WireFormat::OpenAi, Some(WireFormat::Claude), "wire_openai_chunks_to_claude"),
        (WireFormat::OpenAi, None, "wire_openai_passthrough"),
    ] {
        let input = encode_all(from, opts(), &events());
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| wire(from, to, black_box(&input), &mut scratch));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
