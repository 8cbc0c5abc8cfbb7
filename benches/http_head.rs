//! Request-head parsing throughput (bytes/s) for a typical SDK request head and a large one.
//! Allocations per parse are counted by a wrapping global allocator and printed first (the
//! buffers are built before counting, so only the parse is counted).

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchids2api::http::head::{HeadLimits, parse_request_head};
use orchids2api::util::alloc_count::{Counting, per_call};
use std::hint::black_box;
use std::io::Write;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Prints the allocations of one parse of each head.
fn allocations_per_parse(limits: HeadLimits, heads: &[(&str, &[u8])]) {
    const N: usize = 10_000;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "http_head: allocations per parse (wrapping allocator, {N} parses each)");
    for (name, head) in heads {
        let mut bufs: Vec<BytesMut> = (0..N).map(|_| BytesMut::from(*head)).collect();
        let per = per_call(N as u64, || {
            if let Some(mut buf) = bufs.pop() {
                black_box(parse_request_head(&mut buf, limits).is_ok());
            }
        });
        let _ = writeln!(out, "  {name:<18} {per}");
    }
}

const SDK_HEAD: &[u8] = b"POST /grok/v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:3002\r\n\
accept: application/json\r\nanthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14\r\n\
anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nuser-agent: claude-cli/2.0.0 (external, cli)\r\n\
x-api-key: sk-test-0123456789abcdef\r\nx-app: cli\r\nx-stainless-arch: x64\r\nx-stainless-lang: js\r\n\
x-stainless-os: Linux\r\nx-stainless-package-version: 0.60.0\r\nx-stainless-retry-count: 0\r\n\
x-stainless-runtime: node\r\nx-stainless-runtime-version: v20.20.2\r\nx-stainless-timeout: 600\r\n\
content-length: 12345\r\nconnection: keep-alive\r\n\r\n";

fn bench(c: &mut Criterion) {
    let limits = HeadLimits { max_head_bytes: 16 * 1024, max_headers: 64 };
    let mut big = b"GET /v1/models HTTP/1.1\r\n".to_vec();
    for i in 0..60 {
        big.extend_from_slice(format!("x-header-{i}: {}\r\n", "v".repeat(100)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    allocations_per_parse(limits, &[("sdk_request_head", SDK_HEAD), ("sixty_headers", &big)]);
    let mut g = c.benchmark_group("http_head");
    g.throughput(Throughput::Bytes(SDK_HEAD.len() as u64));
    g.bench_function("sdk_request_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(SDK_HEAD));
            let head = parse_request_head(&mut buf, limits);
            black_box(head.is_ok())
        });
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("sixty_headers", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(&big[..]));
            black_box(parse_request_head(&mut buf, limits).is_ok())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
