//! The shape path of the whole-completion passthrough gives exactly what the full parse gives.

use super::super::passthrough;
use super::*;
use crate::translate::canonical::{JsonStr, WireFormat};
use bytes::Bytes;
use proptest::prelude::*;

/// What the full parse gives for `body` (no shape kept before, none after).
fn full(body: &[u8], model: &JsonStr) -> Option<(Bytes, Usage)> {
    forget_all();
    let r = passthrough(WireFormat::OpenAi, body, Some(model));
    forget_all();
    r
}

/// The simulator's member order (sorted keys: the answer before the model).
fn sorted(content: &str, id: &str, model: &str, created: &str, usage: [&str; 3]) -> String {
    format!(
        r#"{{"choices":[{{"finish_reason":"stop","index":0,"message":{{"content":"{content}","role":"assistant"}}}}],"created":{created},"id":"{id}","model":"{model}","object":"chat.completion","system_fingerprint":"fp_sim","usage":{{"completion_tokens":{},"completion_tokens_details":{{"reasoning_tokens":0}},"prompt_tokens":{},"total_tokens":{}}}}}"#,
        usage[0], usage[1], usage[2]
    )
}

/// OpenAI's member order (the model before the answer).
fn openai(content: &str, id: &str, model: &str, created: &str, usage: [&str; 3]) -> String {
    format!(
        r#"{{"id":"{id}","object":"chat.completion","created":{created},"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}},"service_tier":"default"}}"#,
        usage[1], usage[0], usage[2]
    )
}

#[test]
fn a_second_completion_of_the_same_shape_takes_no_parse_and_gives_the_same_answer() {
    let client = JsonStr::from_text("grok-4-fast");
    for make in [sorted, openai] {
        let first = make("Hello there.", "chatcmpl-1", "grok-4-fast-non-reasoning", "1796531730", ["10", "9", "19"]);
        let second = make(
            "Another answer, \\\"quoted\\\" and ünï.",
            "chatcmpl-22",
            "grok-4",
            "1796531799",
            ["123", "45", "168"],
        );
        let expected = full(second.as_bytes(), &client).unwrap();

        assert!(lookup(second.as_bytes()).is_none(), "nothing learned yet");
        assert!(passthrough(WireFormat::OpenAi, first.as_bytes(), Some(&client)).is_some());
        let (span, usage) = lookup(second.as_bytes()).expect("the first completion's shape fits the second");
        assert_eq!(second.as_bytes().get(span), Some(&b"grok-4"[..]));
        assert_eq!((usage.input_tokens, usage.output_tokens), (45, 123));
        assert_eq!(passthrough(WireFormat::OpenAi, second.as_bytes(), Some(&client)), Some(expected));
        forget_all();
    }
}

#[test]
fn another_structure_takes_the_full_parse_and_is_learned_too() {
    let client = JsonStr::from_text("m");
    let text = sorted("hi", "a", "x", "1", ["1", "2", "3"]);
    let tool = r#"{"choices":[{"index":0,"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"model":"x"}"#;
    forget_all();
    passthrough(WireFormat::OpenAi, text.as_bytes(), Some(&client)).unwrap();
    assert!(lookup(tool.as_bytes()).is_none());
    let (out, _) = passthrough(WireFormat::OpenAi, tool.as_bytes(), Some(&client)).unwrap();
    assert!(out.ends_with(br#""model":"m"}"#));
    // No text answer: nothing to learn from the tool call, the text shape is still there.
    assert!(lookup(text.as_bytes()).is_some());
    forget_all();
}

#[test]
fn at_most_a_few_shapes_are_kept_oldest_replaced_first() {
    let client = JsonStr::from_text("m");
    forget_all();
    let doc = |i: usize| format!(r#"{{"choices":[{{"message":{{"content":"x"}}}}],"model":"y","extra{i}":1}}"#);
    for i in 0..=KEPT {
        passthrough(WireFormat::OpenAi, doc(i).as_bytes(), Some(&client)).unwrap();
    }
    assert!(lookup(doc(0).as_bytes()).is_none(), "the oldest shape was replaced");
    for i in 1..=KEPT {
        assert!(lookup(doc(i).as_bytes()).is_some(), "shape {i} is kept");
    }
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_shape_path_equals_the_full_parse(
        order in any::<bool>(),
        a in (content(), "[a-z0-9-]{0,12}", "[a-z0-9-]{1,12}", number(), [number(), number(), number()]),
        b in (content(), "[a-z0-9-]{0,12}", "[a-z0-9-]{0,12}", number(), [number(), number(), number()]),
    ) {
        let make = if order { sorted } else { openai };
        let client = JsonStr::from_text("client-model");
        let doc = |(c, id, m, cr, u): &(String, String, String, String, [String; 3])| {
            make(c, id, m, cr, [u[0].as_str(), u[1].as_str(), u[2].as_str()])
        };
        let (first, second) = (doc(&a), doc(&b));
        let expected = full(second.as_bytes(), &client);
        forget_all();
        let _ = passthrough(WireFormat::OpenAi, first.as_bytes(), Some(&client));
        let got = passthrough(WireFormat::OpenAi, second.as_bytes(), Some(&client));
        forget_all();
        prop_assert_eq!(got, expected);
    }
}
