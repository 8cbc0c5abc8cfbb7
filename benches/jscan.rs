//! `jscan` throughput (bytes/s): the validating tape parse every upstream JSON document goes
//! through when it cannot take a shape's fast path (a whole completion passed through, the first
//! chunk of a stream, a chunk whose shape changed, tool calls), over four documents:
//!
//! - `completion`: the grok simulator's whole chat completion (what the non-streaming
//!   passthrough parses per request);
//! - `chunk`: one OpenAI streaming chunk (what the stream decoder's full parse reads);
//! - `claude_delta`: one Claude `content_block_delta` event;
//! - `long_text`: a 4 KiB answer with escapes and non-ASCII text (string scanning dominates).
//!
//! `validate_*` runs [`jscan::parse`] (no tape) on the same inputs. Allocations per parse are
//! counted by a wrapping global allocator and printed first (0 expected: the tape is reused).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchids2api::translate::jscan::{self, Tape};
use orchids2api::util::alloc_count::{Counting, per_call};
use std::hint::black_box;
use std::io::Write;

#[global_allocator]
static GLOBAL: Counting = Counting;

const COMPLETION: &str = r#"{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello! This is the grok simulator answering you.","role":"assistant"}}],"created":1796531730,"id":"chatcmpl-sim-318575","model":"grok-4-fast-non-reasoning","object":"chat.completion","system_fingerprint":"fp_sim","usage":{"completion_tokens":10,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":9,"total_tokens":19}}"#;

const CHUNK: &str = r#"{"id":"chatcmpl-7f3a9c","object":"chat.completion.chunk","created":1700000123,"model":"grok-4-fast","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

const CLAUDE_DELTA: &str =
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token 42 with some words"}}"#;

fn long_text() -> String {
    let mut text = String::new();
    while text.len() < 4096 {
        text.push_str(r#"Line of an answer with \"quotes\", a tab\t, ünïcödé and 漢字 text.\n"#);
    }
    format!(r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}"}}}}]}}"#)
}

fn bench(c: &mut Criterion) {
    let long = long_text();
    let docs: [(&str, &[u8]); 4] = [
        ("completion", COMPLETION.as_bytes()),
        ("chunk", CHUNK.as_bytes()),
        ("claude_delta", CLAUDE_DELTA.as_bytes()),
        ("long_text", long.as_bytes()),
    ];
    let mut tape = Tape::new();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "allocations per tape parse (warm tape):");
    for (name, doc) in docs {
        assert!(tape.parse(doc).is_ok(), "{name} must be valid JSON");
        let n = per_call(1000, || {
            let _ = black_box(tape.parse(black_box(doc)).is_ok());
        });
        let _ = writeln!(out, "  {name}: {n}");
    }
    drop(out);
    let mut g = c.benchmark_group("jscan");
    for (name, doc) in docs {
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function(format!("tape_{name}"), |b| b.iter(|| black_box(tape.parse(black_box(doc)).is_ok())));
        g.bench_function(format!("validate_{name}"), |b| b.iter(|| black_box(jscan::parse(black_box(doc)).is_ok())));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
