//! Request routing cost: `route::resolve` (method + raw path -> route) for the paths a gateway
//! sees most — the channel front-ends, the model list, health — plus a parameter capture, a
//! miss (404) and a wrong method (405). Throughput in routed requests/s per path; allocations
//! per resolve are counted by a wrapping global allocator and printed before the timings.
//!
//! Paths that a later step has not routed yet simply measure the miss path until it lands.

use criterion::{Criterion, Throughput, criterion_group};
use http::Method;
use orchids2api::route::resolve;
use orchids2api::util::alloc_count::{Counting, per_call};
use std::hint::black_box;
use std::io::Write;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (name, method, raw path) — the request line a client sends, query string already split off.
const CASES: &[(&str, Method, &[u8])] = &[
    ("openai_chat_channel", Method::POST, b"/grok/v1/chat/completions"),
    ("claude_messages_channel", Method::POST, b"/grok/v1/messages"),
    ("openai_chat_by_model", Method::POST, b"/v1/chat/completions"),
    ("models_list", Method::GET, b"/v1/models"),
    ("health", Method::GET, b"/health"),
    ("param_capture", Method::GET, b"/debug/sleep/250"),
    ("miss_404", Method::GET, b"/no/such/route/at/all"),
    ("wrong_method_405", Method::DELETE, b"/health"),
];

fn allocations_per_resolve() {
    const N: u64 = 10_000;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "route: allocations per resolve (wrapping allocator, {N} calls each)");
    for (name, method, path) in CASES {
        let per = per_call(N, || {
            black_box(resolve(black_box(method), black_box(path)));
        });
        let _ = writeln!(out, "  {name:<26} {:<6} {:<28} {per}", method.as_str(), String::from_utf8_lossy(path));
    }
}

fn bench(c: &mut Criterion) {
    allocations_per_resolve();
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    for (name, method, path) in CASES {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(resolve(black_box(method), black_box(path))));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
