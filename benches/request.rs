//! The request side of every proxied call: the client's body (shared `Bytes`, as the server
//! holds it) copied for simd-json and decoded in place into the canonical request (its text
//! blocks slices of the body), the sticky-session key and the
//! input-token estimate taken from it, and the upstream body written (`grok::api_body`, the
//! OpenAI-compatible body every lane of `scripts/bench` sends). Two sizes per front-end:
//!
//! - `*_small`: the one-message chat request of `scripts/bench` (about 200 bytes);
//! - `claude_code` / `openai_agent`: an agent turn as Claude Code (or an OpenAI-SDK agent)
//!   sends it (`sim::agent_turn`: a 12 KiB system prompt, 18 tools with JSON schemas, 25
//!   messages of text, code with escapes, tool calls and tool results; about 65 KiB), sent
//!   again and again, so its tools come from the thread's cache
//!   (`translate::tools_cache`) and, the body being the same, all its messages from the
//!   conversation cache (`translate::messages_cache`): a retried turn;
//! - `claude_code_next` / `openai_agent_next`: the steady state of a conversation: that turn
//!   and the next one (13 turns of history, `sim::agent_turn::claude_after`) in turn, so each
//!   request repeats all but the last few messages of the one before and decodes those anew;
//! - `*_first`: the same turn as the first of a conversation (both caches emptied before each);
//! - `claude_code_notools`: the Claude Code turn without its `tools` (a long chat with no tools,
//!   which the cache must not slow down).
//!
//! Throughput in client body bytes per second; allocations per request are counted by a
//! wrapping global allocator and printed first. `REQUEST_CASES=openai_agent,claude_code_first`
//! limits every table and criterion to the cases named exactly (for a profiler or callgrind,
//! where one case's cost must not be mixed with the others').

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group};
use orchids2api::channel::grok::api_body::chat_body;
use orchids2api::http::head::{HeadLimits, RequestHead, parse_request_head};
use orchids2api::proxy::session;
use orchids2api::sim::agent_turn;
use orchids2api::translate::canonical::WireFormat;
use orchids2api::translate::request::{ClaudeEndpoint, decode_claude_shared, decode_openai_shared};
use orchids2api::translate::{messages_cache, system_cache, tools_cache};
use orchids2api::util::alloc_count::{Counting, per_call};
use serde_json::{Value, json};
use std::cell::Cell;
use std::hint::black_box;
use std::io::Write;

#[path = "support/on_cpu.rs"]
mod on_cpu;
use on_cpu::on_cpu;

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Case {
    name: &'static str,
    format: WireFormat,
    /// The request head (the sticky-session key reads its headers).
    head: RequestHead,
    body: Bytes,
    /// The conversation's next turn: sent in turn with `body` (`*_next` cases).
    next: Option<Bytes>,
    taken: Cell<usize>,
}

impl Case {
    /// The body of this request: `body`, or `body` and `next` in turn.
    fn body(&self) -> &Bytes {
        let Some(next) = &self.next else { return &self.body };
        let n = self.taken.get();
        self.taken.set(n.wrapping_add(1));
        if n % 2 == 1 { next } else { &self.body }
    }
}

/// A request head as the SDKs send it; Claude Code adds its session header, which spares the
/// session key the join of the first turns.
fn head(path: &str, claude_code: bool) -> Option<RequestHead> {
    let extra = if claude_code { "x-claude-code-session-id: 6f1c2d3e-0000-4000-8000-0123456789ab\r\n" } else { "" };
    let text = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         authorization: Bearer sk-bench\r\n{extra}content-length: 0\r\n\r\n"
    );
    parse_request_head(&mut BytesMut::from(text.as_str()), HeadLimits { max_head_bytes: 16 * 1024, max_headers: 64 })
        .ok()
        .flatten()
}

fn cases() -> Vec<Case> {
    let only = std::env::var("REQUEST_CASES").unwrap_or_default();
    let small = "Say hello. sim:tokens=8";
    let body = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
    let case = |name, format, claude_code, body: Vec<u8>| {
        let path = if format == WireFormat::Claude { "/grok/v1/messages" } else { "/grok/v1/chat/completions" };
        Some(Case {
            name,
            format,
            head: head(path, claude_code)?,
            body: Bytes::from(body),
            next: None,
            taken: Cell::new(0),
        })
    };
    let next = |case: Option<Case>, body: Vec<u8>| case.map(|c| Case { next: Some(Bytes::from(body)), ..c });
    [
        case(
            "openai_small",
            WireFormat::OpenAi,
            false,
            body(&json!({"model": "grok-4", "stream": false, "messages": [{"role": "user", "content": small}]})),
        ),
        case(
            "claude_small",
            WireFormat::Claude,
            false,
            body(&json!({"model": "grok-4", "max_tokens": 256, "stream": false,
                "messages": [{"role": "user", "content": small}]})),
        ),
        case("openai_agent", WireFormat::OpenAi, false, agent_turn::openai("grok-4", true, small)),
        case("claude_code", WireFormat::Claude, true, agent_turn::claude("grok-4", true, small)),
        case("claude_code_notools", WireFormat::Claude, true, {
            let mut turn: Value =
                serde_json::from_slice(&agent_turn::claude("grok-4", true, small)).unwrap_or_default();
            if let Some(members) = turn.as_object_mut() {
                members.remove("tools");
            }
            body(&turn)
        }),
        next(
            case("openai_agent_next", WireFormat::OpenAi, false, agent_turn::openai("grok-4", true, small)),
            agent_turn::openai_after("grok-4", true, small, agent_turn::TURNS + 1),
        ),
        next(
            case("claude_code_next", WireFormat::Claude, true, agent_turn::claude("grok-4", true, small)),
            agent_turn::claude_after("grok-4", true, small, agent_turn::TURNS + 1),
        ),
        case("openai_agent_first", WireFormat::OpenAi, false, agent_turn::openai("grok-4", true, small)),
        case("claude_code_first", WireFormat::Claude, true, agent_turn::claude("grok-4", true, small)),
    ]
    .into_iter()
    .flatten()
    .filter(|c| only.is_empty() || only.split(',').any(|name| name.trim() == c.name))
    .collect()
}

/// One request's body work, as the front-end and the grok API channel do it; the upstream
/// body's length (0 when the body was refused, which the setup check rules out).
fn run(case: &Case) -> usize {
    if case.name.ends_with("_first") {
        tools_cache::clear();
        messages_cache::clear();
        system_cache::clear();
    }
    let body = case.body();
    let req = match case.format {
        WireFormat::Claude => decode_claude_shared(body, ClaudeEndpoint::Messages),
        WireFormat::OpenAi => decode_openai_shared(body),
    };
    let Ok(req) = req else { return 0 };
    black_box(session::derive(&case.head, case.format, &req));
    black_box(orchids2api::tokens::quick_estimate(&req));
    chat_body(&req, "grok-4-upstream", req.stream).len()
}

fn report(cases: &[Case]) {
    const N: u64 = 200;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "request: allocations per request (wrapping allocator, {N} requests each)");
    for c in cases {
        let upstream = run(c);
        if upstream == 0 {
            let _ = writeln!(out, "  {:<14} the body was refused: the bench's request is wrong", c.name);
            continue;
        }
        let per = per_call(N, || {
            black_box(run(black_box(c)));
        });
        let _ = writeln!(out, "  {:<14} {:>6} bytes in, {upstream:>6} bytes upstream: {per}", c.name, c.body.len());
    }
}

/// On-CPU throughput and time per request (see `support/on_cpu.rs`).
#[expect(clippy::cast_precision_loss, reason = "throughput figures")]
fn report_on_cpu(cases: &[Case]) {
    const MIB: f64 = 1024.0 * 1024.0;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "on-CPU (client body bytes per second this thread ran; median / best of 5 rounds)");
    for c in cases {
        let Some((median, best)) = on_cpu(c.body.len(), || {
            black_box(run(black_box(c)));
        }) else {
            continue;
        };
        let us = c.body.len() as f64 / median * 1e6;
        let _ = writeln!(
            out,
            "  {:<14} {:>7.0} / {:>7.0} MiB/s, {us:>8.2} us per request",
            c.name,
            median / MIB,
            best / MIB
        );
    }
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("request");
    for case in &cases {
        g.throughput(Throughput::Bytes(case.body.len() as u64));
        g.bench_function(case.name, |b| b.iter(|| run(black_box(case))));
    }
    g.finish();
}

criterion_group!(benches, bench);

#[expect(clippy::print_stderr, reason = "the bench's usage error")]
fn main() {
    let cases = cases();
    if cases.is_empty() {
        eprintln!(
            "REQUEST_CASES names no case of this bench (openai_small, claude_small, openai_agent, claude_code, claude_code_notools, openai_agent_next, claude_code_next, openai_agent_first, claude_code_first)"
        );
        std::process::exit(2);
    }
    report(&cases);
    // Only for a real run (`cargo bench`), not under `cargo test` or `--profile-time`.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time") {
        report_on_cpu(&cases);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
