//! Golden fixtures for every event type, both formats, both directions.
//!
//! For each scenario (a canonical event sequence):
//! - `fixtures/claude/<name>.sse` / `fixtures/openai/<name>.sse`: what the encoders write;
//! - `fixtures/claude/<name>.json` / `fixtures/openai/<name>.json`: the non-streaming bodies;
//! - decoding `claude/<name>.sse` gives the scenario back exactly;
//! - an OpenAI-format upstream recording (`openai/<name>.sse`) decoded and re-encoded for a
//!   Claude client gives `claude/<name>.from_openai.sse`, and the Claude recording re-encoded
//!   for an OpenAI client gives `openai/<name>.sse` again (translation in both directions).
//!
//! `UPDATE_FIXTURES=1 cargo test --test translate_golden` rewrites the files; review the diff.

#![allow(
    clippy::allow_attributes,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::single_match_else,
    clippy::match_same_arms,
    clippy::too_many_lines,
    reason = "test code: failing loudly is the point"
)]

use orchids2api::translate::canonical::{BlockKind, CanonicalEvent as E, ErrorKind, JsonStr, StopReason, Usage};
use orchids2api::translate::collect::Collector;
use orchids2api::translate::{EncodeOptions, WireFormat, decode_all, encode_all};
use std::path::PathBuf;

fn j(s: &str) -> JsonStr {
    JsonStr::from_text(s)
}

fn start() -> E {
    E::MessageStart { id: j("msg_fixture_01"), model: j("upstream-model") }
}

fn usage(i: u64, o: u64) -> E {
    E::Usage(Usage { input_tokens: i, output_tokens: o, cache_read_input_tokens: 2, ..Usage::default() })
}

fn stop(reason: StopReason) -> E {
    E::Stop { reason, stop_sequence: None }
}

fn scenarios() -> Vec<(&'static str, Vec<E>)> {
    let text = |index| E::BlockStart { index, kind: BlockKind::Text };
    let think = |index| E::BlockStart { index, kind: BlockKind::Thinking };
    vec![
        (
            "text",
            vec![
                start(),
                text(0),
                E::TextDelta(j("Hello")),
                E::TextDelta(j(", world!")),
                E::BlockStop { index: 0 },
                usage(12, 3),
                stop(StopReason::EndTurn),
            ],
        ),
        (
            "escapes",
            vec![
                start(),
                text(0),
                E::TextDelta(j("quote \" backslash \\ newline \n tab \t")),
                E::TextDelta(j("emoji 😀 CJK 漢字 ctl \u{1}")),
                E::BlockStop { index: 0 },
                usage(5, 2),
                stop(StopReason::EndTurn),
            ],
        ),
        (
            "thinking_signature",
            vec![
                start(),
                think(0),
                E::ThinkingDelta(j("Let me think")),
                E::ThinkingDelta(j(" step by step.")),
                E::ThinkingSignature(j("EqQBCkgIARABGAIiQL")),
                E::ThinkingSignature(j("more-signature==")),
                E::BlockStop { index: 0 },
                text(1),
                E::TextDelta(j("42")),
                E::BlockStop { index: 1 },
                E::Usage(Usage { input_tokens: 30, output_tokens: 20, reasoning_tokens: 12, ..Usage::default() }),
                stop(StopReason::EndTurn),
            ],
        ),
        (
            "tool_args_split",
            vec![
                start(),
                E::ToolCallStart { index: 0, id: j("toolu_01ABC"), name: j("get_weather") },
                E::ToolArgsDelta(j("{\"loc")),
                E::ToolArgsDelta(j("ation\": \"Pa")),
                E::ToolArgsDelta(j("ris\", \"unit\"")),
                E::ToolArgsDelta(j(": \"celsius\"")),
                E::ToolArgsDelta(j("}")),
                E::BlockStop { index: 0 },
                usage(40, 18),
                stop(StopReason::ToolUse),
            ],
        ),
        (
            "multi_block",
            vec![
                start(),
                think(0),
                E::ThinkingDelta(j("Plan.")),
                E::ThinkingSignature(j("sig")),
                E::BlockStop { index: 0 },
                text(1),
                E::TextDelta(j("Checking two cities.")),
                E::BlockStop { index: 1 },
                E::ToolCallStart { index: 2, id: j("toolu_1"), name: j("get_weather") },
                E::ToolArgsDelta(j("{\"location\":\"Paris\"}")),
                E::BlockStop { index: 2 },
                E::ToolCallStart { index: 3, id: j("toolu_2"), name: j("get_weather") },
                E::ToolArgsDelta(j("{\"location\":")),
                E::ToolArgsDelta(j("\"Rome\"}")),
                E::BlockStop { index: 3 },
                usage(50, 33),
                stop(StopReason::ToolUse),
            ],
        ),
        (
            "max_tokens",
            vec![
                start(),
                text(0),
                E::TextDelta(j("This answer is cut")),
                E::BlockStop { index: 0 },
                usage(9, 5),
                stop(StopReason::MaxTokens),
            ],
        ),
        (
            "in_stream_error",
            vec![
                start(),
                text(0),
                E::TextDelta(j("Partial ")),
                E::Error { kind: ErrorKind::Overloaded, message: j("Overloaded") },
            ],
        ),
    ]
}

fn opts() -> EncodeOptions {
    EncodeOptions { model: Some(j("client-model")), input_tokens: 12, include_usage: true, created: 1_700_000_000 }
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Compares `got` with the fixture, or writes it under `UPDATE_FIXTURES=1`.
fn golden(rel: &str, got: &[u8]) {
    let path = fixture(rel);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e} (run with UPDATE_FIXTURES=1 to create)"));
    assert_eq!(String::from_utf8_lossy(got), String::from_utf8_lossy(&want), "{rel} differs from the fixture");
}

fn collected(events: &[E], format: WireFormat) -> Vec<u8> {
    let mut c = Collector::new();
    for e in events {
        c.event(e.clone());
    }
    let mut out = bytes::BytesMut::new();
    match format {
        WireFormat::Claude => c.msg.claude_json(Some(&j("client-model")), &mut out),
        WireFormat::OpenAi => c.msg.openai_json(Some(&j("client-model")), 1_700_000_000, &mut out),
    }
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut pretty = serde_json::to_vec_pretty(&v).unwrap();
    pretty.push(b'\n');
    pretty
}

#[test]
fn encoders_match_the_fixtures() {
    for (name, events) in scenarios() {
        golden(&format!("claude/{name}.sse"), &encode_all(WireFormat::Claude, opts(), &events));
        golden(&format!("openai/{name}.sse"), &encode_all(WireFormat::OpenAi, opts(), &events));
        if !events.iter().any(|e| matches!(e, E::Error { .. })) {
            golden(&format!("claude/{name}.json"), &collected(&events, WireFormat::Claude));
            golden(&format!("openai/{name}.json"), &collected(&events, WireFormat::OpenAi));
        }
    }
}

#[test]
fn decoders_read_the_fixtures_back() {
    for (name, events) in scenarios() {
        let claude = std::fs::read(fixture(&format!("claude/{name}.sse"))).unwrap();
        let mut want = events.clone();
        if let Some(E::MessageStart { model, .. }) = want.first_mut() {
            *model = j("client-model");
        }
        assert_eq!(decode_all(WireFormat::Claude, &claude).unwrap(), want, "{name}");
    }
}

#[test]
fn translation_in_both_directions_matches_the_fixtures() {
    for (name, _) in scenarios() {
        let claude = std::fs::read(fixture(&format!("claude/{name}.sse"))).unwrap();
        let openai = std::fs::read(fixture(&format!("openai/{name}.sse"))).unwrap();
        // Claude-format upstream -> OpenAI client.
        let canon = decode_all(WireFormat::Claude, &claude).unwrap();
        let as_openai = encode_all(WireFormat::OpenAi, opts(), &canon);
        assert_eq!(String::from_utf8_lossy(&as_openai), String::from_utf8_lossy(&openai), "{name}: claude -> openai");
        // OpenAI-format upstream -> Claude client.
        let canon = decode_all(WireFormat::OpenAi, &openai).unwrap();
        golden(&format!("claude/{name}.from_openai.sse"), &encode_all(WireFormat::Claude, opts(), &canon));
    }
}
