//! The shape path of whole completions gives exactly what the full parse gives: to the
//! passthrough (the body forwarded and its usage) and to the decoder (the events, and the
//! decoder's state after them).

use super::*;
use crate::channel::whole;
use crate::translate::canonical::{Usage, WireFormat};
use crate::translate::claude_dec::DecodeError;
use proptest::prelude::*;

type Passed = Option<(Bytes, Usage)>;
type Decoded = (Result<Vec<CanonicalEvent>, String>, bool);

fn passthrough(body: &str, model: &JsonStr) -> Passed {
    whole::passthrough(WireFormat::OpenAi, &Bytes::copy_from_slice(body.as_bytes()), Some(model))
}

fn decode(body: &str) -> Decoded {
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    let r = dec.completion(&Bytes::copy_from_slice(body.as_bytes()), &mut out).map_err(|DecodeError(e)| e);
    dec.finish(&mut out);
    (r.map(|()| out), dec.ended())
}

/// What the full parse gives for `body` (no shape kept before, none after).
fn full(body: &str, model: &JsonStr) -> (Passed, Decoded) {
    forget_all();
    let passed = passthrough(body, model);
    forget_all();
    let decoded = decode(body);
    forget_all();
    (passed, decoded)
}

fn bytes(s: &str) -> &[u8] {
    s.as_bytes()
}

/// `doc` without its `usage` member (its object counted by braces: no string in it has one).
fn without_usage(doc: &str) -> String {
    let Some(start) = doc.find(r#","usage":{"#) else { return doc.to_owned() };
    let mut depth = 0;
    for (i, c) in doc[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return format!("{}{}", &doc[..start], &doc[start + i + 1..]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    doc.to_owned()
}

/// Usage counts of the test documents: completion, prompt, total, cached, reasoning.
type Counts5<'a> = [&'a str; 5];

/// The simulator's member order (sorted keys: the answer before the model). `id` is JSON text.
fn sorted(content: &str, id: &str, model: &str, created: &str, u: Counts5<'_>) -> String {
    format!(
        r#"{{"choices":[{{"finish_reason":"stop","index":0,"message":{{"content":"{content}","role":"assistant"}}}}],"created":{created},"id":{id},"model":"{model}","object":"chat.completion","system_fingerprint":"fp_sim","usage":{{"completion_tokens":{},"completion_tokens_details":{{"reasoning_tokens":{}}},"prompt_tokens":{},"prompt_tokens_details":{{"cached_tokens":{}}},"total_tokens":{}}}}}"#,
        u[0], u[4], u[1], u[3], u[2]
    )
}

/// OpenAI's member order (the model before the answer). `id` is JSON text.
fn openai(content: &str, id: &str, model: &str, created: &str, u: Counts5<'_>) -> String {
    format!(
        r#"{{"id":{id},"object":"chat.completion","created":{created},"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{}}},"completion_tokens_details":{{"reasoning_tokens":{}}}}},"service_tier":"default"}}"#,
        u[1], u[0], u[2], u[3], u[4]
    )
}

const SMALL: Counts5<'static> = ["1", "2", "3", "0", "0"];

#[test]
fn a_second_completion_of_the_same_shape_takes_no_parse_and_gives_the_same_answer() {
    let client = JsonStr::from_text("grok-4-fast");
    for make in [sorted, openai] {
        let first = make(
            "Hello there.",
            r#""chatcmpl-1""#,
            "grok-4-fast-non-reasoning",
            "1796531730",
            ["10", "9", "19", "0", "0"],
        );
        let second = make(
            "Another answer, \\\"quoted\\\" and ünï.",
            r#""chatcmpl-22""#,
            "grok-4",
            "1796531799",
            ["123", "45", "168", "5", "7"],
        );
        let (passed, decoded) = full(&second, &client);

        assert!(lookup(bytes(&second)).is_none(), "nothing learned yet");
        assert!(passthrough(&first, &client).is_some());
        let m = lookup(bytes(&second)).expect("the first completion's shape fits the second");
        assert_eq!(m.model.and_then(|r| bytes(&second).get(r)), Some(&b"grok-4"[..]));
        assert_eq!(m.id.and_then(|r| bytes(&second).get(r)), Some(&b"chatcmpl-22"[..]));
        assert_eq!(m.counts, [45, 123, 5, 7]);
        assert_eq!(passthrough(&second, &client), passed);
        assert_eq!(decode(&second), decoded);
        // The decoder learns too: a shape it learned serves the passthrough.
        forget_all();
        let _ = decode(&first);
        assert!(lookup(bytes(&second)).is_some());
        assert_eq!(passthrough(&second, &client), passed);
        forget_all();
    }
}

#[test]
fn another_structure_takes_the_full_parse_and_only_text_answers_are_learned() {
    let client = JsonStr::from_text("m");
    let text = sorted("hi", r#""a""#, "x", "1", SMALL);
    let tool = r#"{"choices":[{"index":0,"message":{"content":"t","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"model":"x"}"#;
    let reasoning = r#"{"choices":[{"message":{"content":"t","reasoning_content":"r"}}],"model":"x"}"#;
    let model_null = r#"{"choices":[{"message":{"content":"t"}}],"model":null}"#;
    forget_all();
    passthrough(&text, &client).unwrap();
    for other in [tool, reasoning, model_null] {
        assert!(lookup(bytes(other)).is_none());
        assert!(passthrough(other, &client).is_some());
        assert!(decode(other).0.is_ok());
        assert!(lookup(bytes(other)).is_none(), "not learned: {other}");
    }
    let (out, _) = passthrough(model_null, &client).unwrap();
    assert!(out.ends_with(br#""model":"m"}"#), "a null model is replaced by the client's");
    assert!(lookup(bytes(&text)).is_some(), "the text shape is still kept");
    forget_all();
}

#[test]
fn usage_is_cut_out_whole() {
    let d = openai("a", r#""b""#, "c", "1", SMALL);
    assert!(!without_usage(&d).contains("usage"));
    assert!(without_usage(&d).ends_with(r#""finish_reason":"stop"}],"service_tier":"default"}"#));
    assert!(without_usage(&sorted("a", r#""b""#, "c", "1", SMALL)).ends_with(r#""system_fingerprint":"fp_sim"}"#));
}

#[test]
fn at_most_a_few_shapes_are_kept_the_least_recently_used_replaced_first() {
    let client = JsonStr::from_text("m");
    forget_all();
    let doc = |i: usize| format!(r#"{{"choices":[{{"message":{{"content":"x"}}}}],"model":"y","extra{i}":1}}"#);
    for i in 0..KEPT {
        passthrough(&doc(i), &client).unwrap();
    }
    // The oldest is used again: the next one learned replaces the second oldest.
    assert!(lookup(bytes(&doc(0))).is_some());
    passthrough(&doc(KEPT), &client).unwrap();
    assert!(lookup(bytes(&doc(1))).is_none(), "the least recently used shape was replaced");
    for i in [0, 2, 3, KEPT] {
        assert!(lookup(bytes(&doc(i))).is_some(), "shape {i} is kept");
    }
    forget_all();
}

#[test]
fn a_large_completion_is_passed_but_not_learned() {
    let client = JsonStr::from_text("m");
    forget_all();
    let big = sorted(&"x".repeat(MAX_LEARNED), r#""a""#, "y", "1", SMALL);
    assert!(passthrough(&big, &client).is_some());
    assert!(lookup(bytes(&big)).is_none());
    let small = sorted("x", r#""a""#, "y", "1", SMALL);
    assert!(passthrough(&small, &client).is_some());
    assert!(lookup(bytes(&small)).is_some());
    forget_all();
}

#[test]
fn a_started_decoder_takes_the_full_parse() {
    let text = sorted("hi", r#""a""#, "x", "1", SMALL);
    forget_all();
    let _ = decode(&text);
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&Bytes::from_static(br#"{"choices":[{"delta":{"content":"a"}}]}"#), &mut out).unwrap();
    let before = out.len();
    dec.completion(&Bytes::copy_from_slice(text.as_bytes()), &mut out).unwrap();
    assert!(
        !out[before..].iter().any(|e| matches!(e, CanonicalEvent::MessageStart { .. })),
        "no second message start: {out:?}"
    );
    forget_all();
}

/// String content: plain, escaped, non-ASCII, and invalid (a raw control byte, a bad escape, a
/// lone quote), which the shape must refuse as the parse does.
fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,!?]{0,40}",
        "[a-z ]{0,10}(\\\\n|\\\\\"|\\\\u00e9|é|漢)[a-z ]{0,10}",
        "[a-z]{0,5}(\u{1}|\\\\x|\"|\\\\u12)[a-z]{0,5}",
    ]
}

/// Number text: valid integers and what a number hole must refuse (fractions, signs, leading
/// zeros, too many digits) or not parse at all.
fn number() -> impl Strategy<Value = String> {
    prop_oneof!["[1-9][0-9]{0,9}", Just("0".to_owned()), "(-1|1\\.5|01|1e3|99999999999999999999|x|)",]
}

/// Whether `n` is what a number hole takes (digits, no leading zero, at most 19 of them).
fn plain(n: &str) -> bool {
    !n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
}

/// A test document: content, id (JSON text), model, created, usage counts.
type Doc = (String, String, String, String, [String; 5]);

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        1 => "(\"\\\\u00e9x\"|\"é\"|7|null)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_shape_path_equals_the_full_parse(
        order in any::<bool>(),
        usage in any::<bool>(),
        finish in prop::sample::select(vec!["stop", "length", "tool_calls", "content_filter"]),
        a in (content(), id(), "[a-z0-9-]{1,12}", number(), [number(), number(), number(), number(), number()]),
        b in (content(), id(), "[a-z0-9-]{0,12}", number(), [number(), number(), number(), number(), number()]),
    ) {
        let make = if order { sorted } else { openai };
        let client = JsonStr::from_text("client-model");
        let doc = |(c, id, m, cr, u): &Doc| {
            let d = make(c, id, m, cr, [u[0].as_str(), u[1].as_str(), u[2].as_str(), u[3].as_str(), u[4].as_str()]);
            let d = d.replace(r#""finish_reason":"stop""#, &format!(r#""finish_reason":"{finish}""#));
            if usage { d } else { without_usage(&d) }
        };
        let (first, second) = (doc(&a), doc(&b));
        let (passed, decoded) = full(&second, &client);
        // Both valid, both with text, every number a plain integer, ids of one kind: one shape.
        let numbers = |d: &Doc| std::iter::once(&d.3).chain(d.4.iter()).all(|n| plain(n));
        let same_id_kind = a.1.starts_with('"') == b.1.starts_with('"') && (a.1.starts_with('"') || a.1 == b.1);
        let one_shape = full(&first, &client).0.is_some() && passed.is_some() && !a.0.is_empty() && !b.0.is_empty()
            && numbers(&a) && numbers(&b) && same_id_kind;
        forget_all();
        let _ = passthrough(&first, &client);
        if one_shape {
            prop_assert!(lookup(bytes(&second)).is_some(), "{} / {}", first, second);
        }
        prop_assert_eq!(passthrough(&second, &client), passed);
        forget_all();
        let _ = decode(&first);
        prop_assert_eq!(decode(&second), decoded);
        forget_all();
    }
}
