//! SSE parse throughput (bytes/s) over a realistic upstream stream (Claude-style text deltas),
//! fed in 16 KiB reads as the body arrives: single-line data with LF, CRLF line ends, and
//! multi-line data (joined into the scratch buffer). Each input is read both ways: borrowed
//! events (`next_event`) and shared `Bytes` events (`next_shared`, what a caller that keeps the
//! frames uses; `shared_*`). Allocations per event are counted by a wrapping global allocator
//! and printed first.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchids2api::upstream::sse::SseParser;
use orchids2api::util::alloc_count::{Counting, per_call};
use std::hint::black_box;
use std::io::Write;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn stream(events: usize, eol: &str, multiline: bool) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..events {
        out.push_str("event: content_block_delta");
        out.push_str(eol);
        if multiline {
            for part in [
                "{\"type\":\"content_block_delta\",",
                "\"index\":0,",
                "\"delta\":{\"type\":\"text_delta\",\"text\":\"tok\"}}",
            ] {
                out.push_str("data: ");
                out.push_str(part);
                out.push_str(eol);
            }
        } else {
            out.push_str("data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token ");
            out.push_str(&i.to_string());
            out.push_str(" with some words\"}}");
            out.push_str(eol);
        }
        out.push_str(eol);
        if i % 50 == 0 {
            out.push_str(": ping");
            out.push_str(eol);
            out.push_str(eol);
        }
    }
    out.into_bytes()
}

fn parse(input: &[u8]) -> usize {
    let mut p = SseParser::default();
    let mut n = 0;
    for piece in input.chunks(16 * 1024) {
        p.feed(piece);
        while let Ok(Some(e)) = p.next_event() {
            n += e.data.len();
        }
    }
    n
}

fn parse_shared(input: &[u8]) -> usize {
    let mut p = SseParser::default();
    let mut n = 0;
    for piece in input.chunks(16 * 1024) {
        p.feed(piece);
        while let Ok(Some(e)) = p.next_shared() {
            n += e.data.len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let inputs = [
        ("lf_single_line", stream(10_000, "\n", false)),
        ("crlf_single_line", stream(10_000, "\r\n", false)),
        ("lf_multi_line", stream(10_000, "\n", true)),
    ];
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "sse_parse: allocations per whole stream (10,000 events and their pings, fed in 16 KiB reads)"
        );
        for (name, input) in &inputs {
            let borrowed = per_call(10, || {
                black_box(parse(input));
            });
            let shared = per_call(10, || {
                black_box(parse_shared(input));
            });
            let _ = writeln!(out, "  {name:<18} borrowed {borrowed}  shared {shared}");
        }
    }
    let mut g = c.benchmark_group("sse_parse");
    for (name, input) in inputs {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(parse(black_box(&input)))));
        g.bench_function(format!("shared_{name}"), |b| b.iter(|| black_box(parse_shared(black_box(&input)))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
