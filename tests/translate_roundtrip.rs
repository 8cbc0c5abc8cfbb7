//! Property tests of the re-framing core: for any well-formed canonical event sequence, the
//! encoder of a format and the decoder of the same format are inverse (exactly for Claude; up to
//! the documented projection for OpenAI, which has no blocks, signatures or cache writes), and no
//! event sequence at all — well-formed or not — produces invalid JSON.

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
use orchids2api::translate::{EncodeOptions, WireFormat, decode_all, encode_all, sse};
use proptest::prelude::*;

fn js() -> impl Strategy<Value = JsonStr> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        any::<String>(),
        prop::sample::select(vec!["\"", "\\", "\n", "\u{1}", "😀", "漢字", "{\"a\":", "}", "</s>"])
            .prop_map(str::to_owned),
    ]
    .prop_map(|s| JsonStr::from_text(&s))
}

fn nonempty_js() -> impl Strategy<Value = JsonStr> {
    js().prop_filter("non-empty", |s| !s.is_empty())
}

#[derive(Debug, Clone)]
enum Blk {
    Text(Vec<JsonStr>),
    Thinking(Vec<JsonStr>, Vec<JsonStr>),
    Tool(JsonStr, JsonStr, Vec<JsonStr>),
}

fn block() -> impl Strategy<Value = Blk> {
    prop_oneof![
        prop::collection::vec(nonempty_js(), 1..5).prop_map(Blk::Text),
        (prop::collection::vec(nonempty_js(), 1..5), prop::collection::vec(nonempty_js(), 0..3))
            .prop_map(|(t, s)| Blk::Thinking(t, s)),
        (nonempty_js(), nonempty_js(), prop::collection::vec(nonempty_js(), 0..6))
            .prop_map(|(i, n, a)| Blk::Tool(i, n, a)),
    ]
}

fn usage() -> impl Strategy<Value = Usage> {
    (0u64..1_000_000, 0u64..100_000, 0u64..1000, 0u64..1000, 0u64..1000).prop_map(|(i, o, r, c, t)| Usage {
        input_tokens: i,
        output_tokens: o,
        cache_read_input_tokens: r,
        cache_creation_input_tokens: c,
        reasoning_tokens: t,
    })
}

fn stop() -> impl Strategy<Value = StopReason> {
    prop::sample::select(vec![
        StopReason::EndTurn,
        StopReason::MaxTokens,
        StopReason::StopSequence,
        StopReason::ToolUse,
        StopReason::PauseTurn,
        StopReason::Refusal,
        StopReason::ContextWindow,
    ])
}

/// A well-formed sequence: start, blocks, then either usage + stop or an error.
fn sequence() -> impl Strategy<Value = Vec<E>> {
    (
        nonempty_js(),
        nonempty_js(),
        prop::collection::vec(block(), 0..5),
        usage(),
        stop(),
        prop::option::of(js()),
        prop::option::of((prop::sample::select(ErrorKind::ALL.to_vec()), js())),
    )
        .prop_map(|(id, model, blocks, u, reason, seq, err)| {
            let mut ev = vec![E::MessageStart { id, model }];
            for (i, b) in blocks.into_iter().enumerate() {
                let index = u32::try_from(i).unwrap();
                match b {
                    Blk::Text(ds) => {
                        ev.push(E::BlockStart { index, kind: BlockKind::Text });
                        ev.extend(ds.into_iter().map(E::TextDelta));
                    }
                    Blk::Thinking(ds, sig) => {
                        ev.push(E::BlockStart { index, kind: BlockKind::Thinking });
                        ev.extend(ds.into_iter().map(E::ThinkingDelta));
                        ev.extend(sig.into_iter().map(E::ThinkingSignature));
                    }
                    Blk::Tool(id, name, args) => {
                        ev.push(E::ToolCallStart { index, id, name });
                        ev.extend(args.into_iter().map(E::ToolArgsDelta));
                    }
                }
                ev.push(E::BlockStop { index });
            }
            match err {
                Some((kind, message)) => ev.push(E::Error { kind, message }),
                None => {
                    ev.push(E::Usage(u));
                    let stop_sequence = if reason == StopReason::StopSequence { seq } else { None };
                    ev.push(E::Stop { reason, stop_sequence });
                }
            }
            ev
        })
}

/// What the OpenAI format can carry: no signatures, merged adjacent text/thinking blocks,
/// empty blocks dropped, stop reasons folded to OpenAI's four, cache writes counted as input.
fn openai_projection(events: &[E]) -> Vec<E> {
    let mut out: Vec<E> = Vec::new();
    let mut open: Option<(u32, Option<BlockKind>)> = None;
    let mut next = 0u32;
    let close = |out: &mut Vec<E>, open: &mut Option<(u32, Option<BlockKind>)>| {
        if let Some((index, _)) = open.take() {
            out.push(E::BlockStop { index });
        }
    };
    for ev in events {
        match ev {
            E::MessageStart { .. } => out.push(ev.clone()),
            E::TextDelta(t) | E::ThinkingDelta(t) => {
                let kind = if matches!(ev, E::TextDelta(_)) { BlockKind::Text } else { BlockKind::Thinking };
                if open.map(|(_, k)| k) != Some(Some(kind)) {
                    close(&mut out, &mut open);
                    out.push(E::BlockStart { index: next, kind });
                    open = Some((next, Some(kind)));
                    next += 1;
                }
                out.push(if kind == BlockKind::Text { E::TextDelta(t.clone()) } else { E::ThinkingDelta(t.clone()) });
            }
            E::ToolCallStart { id, name, .. } => {
                close(&mut out, &mut open);
                out.push(E::ToolCallStart { index: next, id: id.clone(), name: name.clone() });
                open = Some((next, None));
                next += 1;
            }
            E::ToolArgsDelta(a) => out.push(E::ToolArgsDelta(a.clone())),
            E::Usage(u) => {
                close(&mut out, &mut open);
                out.push(E::Usage(Usage {
                    input_tokens: u.input_tokens + u.cache_creation_input_tokens,
                    cache_creation_input_tokens: 0,
                    ..*u
                }));
            }
            E::Stop { reason, .. } => {
                close(&mut out, &mut open);
                let r = StopReason::from_openai(reason.openai().as_bytes()).unwrap();
                out.push(E::Stop { reason: r, stop_sequence: None });
            }
            E::Error { .. } => out.push(ev.clone()),
            E::BlockStart { .. } | E::BlockStop { .. } | E::ThinkingSignature(_) => {}
        }
    }
    out
}

fn opts() -> EncodeOptions {
    EncodeOptions { include_usage: true, created: 1_700_000_000, ..EncodeOptions::default() }
}

fn assert_all_json(stream: &[u8]) {
    for f in sse::read_all(stream) {
        if &f.data[..] == b"[DONE]" {
            continue;
        }
        serde_json::from_slice::<serde_json::Value>(&f.data)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&f.data)));
    }
}

fn any_event() -> impl Strategy<Value = E> {
    prop_oneof![
        (js(), js()).prop_map(|(id, model)| E::MessageStart { id, model }),
        (0u32..4, prop::bool::ANY).prop_map(|(index, t)| E::BlockStart {
            index,
            kind: if t { BlockKind::Text } else { BlockKind::Thinking }
        }),
        js().prop_map(E::TextDelta),
        js().prop_map(E::ThinkingDelta),
        js().prop_map(E::ThinkingSignature),
        (0u32..4, js(), js()).prop_map(|(index, id, name)| E::ToolCallStart { index, id, name }),
        js().prop_map(E::ToolArgsDelta),
        (0u32..4).prop_map(|index| E::BlockStop { index }),
        usage().prop_map(E::Usage),
        (stop(), prop::option::of(js())).prop_map(|(reason, stop_sequence)| E::Stop { reason, stop_sequence }),
        (prop::sample::select(ErrorKind::ALL.to_vec()), js()).prop_map(|(kind, message)| E::Error { kind, message }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn claude_encode_decode_is_identity(events in sequence()) {
        let wire = encode_all(WireFormat::Claude, opts(), &events);
        assert_all_json(&wire);
        let back = decode_all(WireFormat::Claude, &wire).unwrap();
        prop_assert_eq!(back, events);
    }

    #[test]
    fn openai_encode_decode_is_the_projection(events in sequence()) {
        let wire = encode_all(WireFormat::OpenAi, opts(), &events);
        assert_all_json(&wire);
        let back = decode_all(WireFormat::OpenAi, &wire).unwrap();
        prop_assert_eq!(back, openai_projection(&events));
    }

    #[test]
    fn any_event_soup_encodes_to_valid_json(events in prop::collection::vec(any_event(), 0..30)) {
        for format in [WireFormat::Claude, WireFormat::OpenAi] {
            let wire = encode_all(format, opts(), &events);
            assert_all_json(&wire);
            // Decoding our own output never fails either.
            prop_assert!(decode_all(format, &wire).is_ok());
        }
    }

    #[test]
    fn cross_format_claude_to_openai_keeps_text(events in sequence()) {
        let claude = encode_all(WireFormat::Claude, opts(), &events);
        let canon = decode_all(WireFormat::Claude, &claude).unwrap();
        let openai = encode_all(WireFormat::OpenAi, opts(), &canon);
        assert_all_json(&openai);
        prop_assert_eq!(decode_all(WireFormat::OpenAi, &openai).unwrap(), openai_projection(&events));
    }
}
