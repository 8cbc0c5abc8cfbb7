//! grok.com hot path: decoding one NDJSON token line, and the UI-markup + tool-markup chain
//! over a recorded answer split into token-sized pieces.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchids2api::grok::ndjson::{GrokWebEvent, decode_line};
use orchids2api::grok::tool_markup::{ToolMarkupParser, ToolPolicy};
use orchids2api::grok::web_text::UiMarkupStripper;
use std::hint::black_box;

const TOKEN_LINE: &[u8] =
    br#"{"result":{"response":{"token":" simulator","isThinking":false,"messageTag":"final","responseId":"r-sim-1"}}}"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("grok_decode");
    g.throughput(Throughput::Bytes(TOKEN_LINE.len() as u64));
    g.bench_function("ndjson_token_line", |b| {
        b.iter(|| matches!(decode_line(black_box(TOKEN_LINE)), Ok(GrokWebEvent::Token { .. })));
    });
    let answer = "Sure, here is the plan. ".repeat(40)
        + "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>"
        + &" Then we wait.".repeat(20);
    let pieces: Vec<&str> = answer.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function("markup_chain_4_byte_pieces", |b| {
        b.iter(|| {
            let mut ui = UiMarkupStripper::new();
            let mut tools = ToolMarkupParser::new(ToolPolicy::default());
            let mut n = 0usize;
            for p in &pieces {
                ui.push(black_box(p), &mut |t| tools.push(t, &mut |_| n += 1));
            }
            ui.finish(&mut |t| tools.push(t, &mut |_| n += 1));
            tools.finish(&mut |_| n += 1);
            n
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
