//! Property tests for the grok stream parsers: the output never depends on how the upstream's
//! text is split into token pieces, and tool markup never leaks into text.

use orchids2api::grok::ndjson::decode_line;
use orchids2api::grok::tool_markup::{END_TAG, MarkupEvent, START_TAG, ToolMarkupParser, ToolPolicy};
use orchids2api::grok::web_text::{UiMarkupStripper, strip_ui_markup};
use proptest::prelude::*;

const VOCAB: &[&str] = &[
    "Hello ",
    "world",
    "<tool_call>",
    "</tool_call>",
    r#"{"name":"f","arguments":{"a":1}}"#,
    r#"{"name":"g""#,
    r#""arguments":"{\"x\":2}"}"#,
    ",}",
    "<tool_",
    "<",
    ">",
    "é",
    "日本",
    "```json\n",
    "```",
    "}",
    "{",
    "\n",
    "<grok:render type=\"x\">",
    "</grok:render>",
    "<xai:tool_usage_card>",
    "</xai:tool_usage_card>",
    "\"",
    "\\",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..40).prop_map(|v| v.concat())
}

/// Cuts `s` at the given fractions (snapped to char boundaries).
fn split(s: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if s.is_empty() { 0 } else { c % (s.len() + 1) })
        .map(|mut p| {
            while !s.is_char_boundary(p) {
                p -= 1;
            }
            p
        })
        .collect();
    points.push(0);
    points.push(s.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).filter_map(|w| s.get(*w.first()?..*w.last()?)).map(str::to_owned).collect()
}

/// Events with adjacent text merged (text boundaries are allowed to move).
fn markup(pieces: &[String], max_block: usize) -> Vec<String> {
    let policy = ToolPolicy { declared: vec!["f".into(), "g".into()], forced: None };
    let mut p = ToolMarkupParser::with_max_block(policy, max_block);
    let mut out: Vec<String> = Vec::new();
    let mut sink = |ev: MarkupEvent<'_>| match ev {
        MarkupEvent::Text(t) => {
            assert!(!t.is_empty());
            assert!(!t.contains(START_TAG) && !t.contains(END_TAG), "markup leaked: {t:?}");
            match out.last_mut() {
                Some(last) if last.starts_with("T:") => last.push_str(t),
                _ => out.push(format!("T:{t}")),
            }
        }
        MarkupEvent::ToolCall(c) => out.push(format!("C:{}:{}", c.name, c.arguments)),
        MarkupEvent::Invalid(e) => out.push(format!("E:{e:?}")),
    };
    for piece in pieces {
        p.push(piece, &mut sink);
    }
    p.finish(&mut sink);
    out
}

proptest! {
    #[test]
    fn tool_markup_is_split_invariant(s in text(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let whole = markup(std::slice::from_ref(&s), 1 << 20);
        prop_assert_eq!(&markup(&split(&s, &cuts), 1 << 20), &whole);
        let bytewise: Vec<String> = s.chars().map(String::from).collect();
        prop_assert_eq!(&markup(&bytewise, 1 << 20), &whole);
    }

    #[test]
    fn tool_markup_size_limit_is_split_invariant(s in text(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let whole = markup(std::slice::from_ref(&s), 24);
        prop_assert_eq!(markup(&split(&s, &cuts), 24), whole);
    }

    #[test]
    fn ui_markup_stripping_is_split_invariant(s in text(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let whole = strip_ui_markup(&s);
        let mut out = String::new();
        let mut st = UiMarkupStripper::new();
        for piece in split(&s, &cuts) {
            st.push(&piece, &mut |t| out.push_str(t));
        }
        st.finish(&mut |t| out.push_str(t));
        prop_assert_eq!(&out, &whole);
        prop_assert!(!whole.contains("<grok:render") && !whole.contains("<xai:tool_usage_card"));
    }

    #[test]
    fn ndjson_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_line(&bytes);
    }

    #[test]
    fn ndjson_tokens_round_trip(token in ".{1,40}", thinking in any::<bool>()) {
        let line = serde_json::json!({"result": {"response": {"token": token, "isThinking": thinking}}}).to_string();
        match decode_line(line.as_bytes()) {
            Ok(orchids2api::grok::ndjson::GrokWebEvent::Token { text, is_thinking, .. }) => {
                prop_assert_eq!(text.as_ref(), token.as_str());
                prop_assert_eq!(is_thinking, thinking);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
