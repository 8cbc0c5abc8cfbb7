//! The system cache against the decode without any cache: every body decodes to exactly what a
//! worker with empty caches makes of it, and a kept value is taken where it should be.

use super::*;
use crate::api::cache_marker::Marker;
use crate::sim::agent_turn;
use crate::translate::canonical::CanonicalRequest;
use crate::translate::request::{ClaudeEndpoint, RequestError, decode_claude_shared};
use crate::translate::{messages_cache, tools_cache};
use serde_json::{Value, json};

/// A system prompt as agents send it: escapes, non-ASCII, a tab, about 3 KiB.
fn prompt(tag: &str) -> String {
    format!("You are \"{tag}\", working in C:\\repo über\tthe gateway. {}", "Follow the rules below. ".repeat(120))
}

/// A Claude body of `turns` user turns: `system` before `messages`, or after `tools` (as Claude
/// Code sends it); `pretty` spaces every member.
fn body(system: &Value, turns: usize, system_last: bool, pretty: bool) -> Bytes {
    let messages: Vec<Value> = (0..turns)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": format!("turn {i}: {}", "words ".repeat(400))})
        })
        .collect();
    let tools: Vec<Value> = (0..4)
        .map(|i| json!({"name": format!("tool_{i}"), "description": "reads", "input_schema": {"type": "object"}}))
        .collect();
    let mut members = vec![("model", json!("m")), ("max_tokens", json!(64))];
    if !system_last {
        members.push(("system", system.clone()));
    }
    members.push(("messages", Value::Array(messages)));
    members.push(("tools", Value::Array(tools)));
    if system_last {
        members.push(("system", system.clone()));
    }
    members.push(("metadata", json!({"user_id": "u"})));
    let sep = if pretty { ",\n  " } else { "," };
    let inner: Vec<String> = members
        .iter()
        .map(|(k, v)| {
            let v = if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
            format!("\"{k}\":{}{v}", if pretty { " " } else { "" })
        })
        .collect();
    Bytes::from(format!("{{{}}}", inner.join(sep)))
}

fn blocks(tag: &str) -> Value {
    json!([{"type": "text", "text": prompt(tag), "cache_control": {"type": "ephemeral"}},
           {"type": "text", "text": format!("second block of {tag}")}])
}

fn decode(body: &Bytes) -> Result<CanonicalRequest, RequestError> {
    decode_claude_shared(body, ClaudeEndpoint::Messages)
}

/// What a worker with empty caches makes of `body` (the caches are emptied).
fn fresh(body: &Bytes) -> Result<CanonicalRequest, RequestError> {
    clear();
    tools_cache::clear();
    messages_cache::clear();
    decode(body)
}

/// What a worker with empty caches makes of `body`, the caches kept as they were: the body is
/// decoded with the system cache's entries set aside (the tools and messages caches only
/// replay what a plain decode gives, which their own tests hold them to).
fn fresh_keeping(body: &Bytes) -> CanonicalRequest {
    fresh_keeping_result(body).unwrap()
}

/// [`fresh_keeping`], errors included.
fn fresh_keeping_result(body: &Bytes) -> Result<CanonicalRequest, RequestError> {
    let kept = CACHE.with(|c| c.borrow_mut().take());
    let got = decode(body);
    CACHE.with(|c| *c.borrow_mut() = kept);
    got
}

/// Whether every system text is a slice of a kept copy, none of the body's.
fn from_the_cache(req: &CanonicalRequest, body: &Bytes) -> bool {
    let kept: Vec<Bytes> = CACHE.with(|c| c.borrow().iter().map(|e| e.raw.clone()).collect());
    !req.system.is_empty() && req.system.iter().all(|t| !t.lies_in(body) && kept.iter().any(|raw| t.lies_in(raw)))
}

#[test]
fn the_next_turn_takes_the_kept_value_wherever_the_body_puts_it() {
    for (system_last, pretty) in [(false, false), (true, false), (false, true), (true, true)] {
        for system in [blocks("agent"), Value::String(prompt("plain"))] {
            let first = body(&system, 3, system_last, pretty);
            let first_plain = fresh(&first).unwrap();
            assert_eq!(len(), 1, "the first turn keeps its system value");
            assert!(!from_the_cache(&first_plain, &first));
            let next = body(&system, 5, system_last, pretty);
            let got = decode(&next).unwrap();
            assert!(from_the_cache(&got, &next), "last {system_last}, pretty {pretty}: {system}");
            assert_eq!(got, fresh(&next).unwrap(), "last {system_last}, pretty {pretty}");
            assert_eq!(got.system, first_plain.system);
        }
    }
}

#[test]
fn a_value_moved_elsewhere_is_found_by_the_scan_and_looked_up_by_its_bytes() {
    let system = blocks("agent");
    let _ = fresh(&body(&system, 3, false, false));
    // Before `messages` last time, after `tools` now: neither guessed place holds it.
    let moved = body(&system, 5, true, false);
    assert!(guess(&moved).is_none());
    let got = decode(&moved).unwrap();
    assert!(from_the_cache(&got, &moved));
    assert_eq!(got, fresh(&moved).unwrap());
}

#[test]
fn another_prompt_is_decoded_and_kept_beside_the_first_and_the_least_recently_used_goes_first() {
    let _ = fresh(&body(&blocks("a"), 3, true, false));
    let other = body(&blocks("b"), 3, true, false);
    let got = decode(&other).unwrap();
    assert!(!from_the_cache(&got, &other));
    assert_eq!(got, fresh_keeping(&other));
    assert_eq!(len(), 2);
    // `a` used again (a proven hit), then ENTRIES - 1 new prompts: `b` is the one dropped.
    let a_next = body(&blocks("a"), 5, true, false);
    assert!(from_the_cache(&decode(&a_next).unwrap(), &a_next));
    for i in 0..ENTRIES - 1 {
        let _ = decode(&body(&blocks(&format!("x{i}")), 3, true, false));
    }
    assert_eq!(len(), ENTRIES);
    let a_again = body(&blocks("a"), 7, true, false);
    assert!(from_the_cache(&decode(&a_again).unwrap(), &a_again), "the most recently used stays");
    let b_again = body(&blocks("b"), 5, true, false);
    assert!(!from_the_cache(&decode(&b_again).unwrap(), &b_again), "the least recently used was dropped");
}

#[test]
fn small_values_and_small_bodies_are_not_kept() {
    let small = json!([{"type": "text", "text": "short"}]);
    let large = body(&small, 5, true, false);
    assert!(large.len() >= tools_cache::MIN_BODY);
    let _ = fresh(&large);
    assert_eq!(len(), 0);
    let tiny = Bytes::from(format!(
        r#"{{"model":"m","max_tokens":8,"system":{},"messages":[{{"role":"user","content":"hi"}}]}}"#,
        Value::String(prompt("tiny"))
    ));
    assert!(tiny.len() < tools_cache::MIN_BODY);
    let _ = fresh(&tiny);
    assert_eq!(len(), 0);
}

#[test]
fn the_marker_from_a_client_is_refused_on_system() {
    let marker = Value::String(Marker::System.text());
    let want =
        RequestError { message: "system: expected a string or an array of text blocks".into(), param: Some("system") };
    let large = body(&marker, 5, true, false);
    assert_eq!(fresh(&large), Err(want.clone()));
    let small = Bytes::from(format!(r#"{{"model":"m","max_tokens":8,"system":{marker},"messages":[]}}"#));
    assert_eq!(fresh(&small), Err(want.clone()));
    // With the value kept, a body that sends the marker in its place is refused all the same.
    let _ = fresh(&body(&blocks("agent"), 3, true, false));
    assert_eq!(decode(&large), Err(want));
}

#[test]
fn a_lookalike_at_the_guessed_place_is_not_taken() {
    let system = blocks("agent");
    let first = body(&system, 3, true, false);
    let _ = fresh(&first);
    // The same bytes, at the same distance from the end, one level down: under `metadata`.
    let text = String::from_utf8(first.to_vec()).unwrap();
    // The tail after the value keeps its length (28 bytes): metadata closes, then the body.
    let nested = text.replacen(r#","system":"#, r#","metadata":{"system":"#, 1).replacen(
        r#","metadata":{"user_id":"u"}}"#,
        &format!("}}{}}}", " ".repeat(26)),
        1,
    );
    let nested = Bytes::from(nested);
    assert!(guess(&nested).is_some(), "the bytes are where the value ended last time");
    let got = decode(&nested).unwrap();
    assert!(got.system.is_empty(), "no top-level system");
    // The lookalike moved nothing: the conversation's next turn is still guessed and taken.
    let next = body(&system, 5, true, false);
    let (at, _) = guess(&next).unwrap();
    assert_eq!(&next[at], &system.to_string().into_bytes()[..]);
    assert!(from_the_cache(&decode(&next).unwrap(), &next));
    assert_eq!(got, fresh(&nested).unwrap());
}

#[test]
fn a_bad_body_with_a_kept_value_gets_the_plain_decodes_error() {
    let system = blocks("agent");
    let good = body(&system, 5, true, false);
    let text = String::from_utf8(good.to_vec()).unwrap();
    let bad_role = Bytes::from(text.replacen(r#""role":"assistant""#, r#""role":"wizard""#, 1));
    let broken = Bytes::from(text.replacen(r#""messages":["#, r#""messages":[x"#, 1));
    let bad_system = Bytes::from(text.replacen(r#"{"text":"second block of agent""#, r#"{"text":7"#, 1));
    assert_ne!(bad_system, good);
    for bad in [bad_role, broken, bad_system] {
        let want = fresh(&bad);
        assert!(want.is_err());
        let _ = fresh(&body(&system, 3, true, false));
        assert_eq!(decode(&bad), want);
    }
}

#[test]
fn kept_texts_hold_a_copy_of_the_value_not_the_body() {
    let system = blocks("agent");
    let first = body(&system, 3, true, false);
    let _ = fresh(&first);
    let kept: Vec<Bytes> = CACHE.with(|c| c.borrow().iter().map(|e| e.raw.clone()).collect());
    assert_eq!(kept.len(), 1);
    let raw = &kept[0];
    assert_eq!(raw.len(), system.to_string().len());
    let texts = CACHE.with(|c| c.borrow().iter().next().unwrap().value.clone());
    assert!(texts.iter().all(|t| t.lies_in(raw) && !t.lies_in(&first)));
}

#[test]
fn texts_of_the_body_outside_the_value_are_not_kept() {
    let b = body(&blocks("agent"), 5, true, false);
    let span = crate::util::json_member::top_level_value(&b, b"system").unwrap();
    let decoded = fresh(&b).unwrap();
    let outside = match &decoded.messages[0].content[0] {
        crate::translate::canonical::Block::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert!(outside.lies_in(&b));
    clear();
    remember(&b, span.clone(), &[decoded.system[0].clone(), outside]);
    assert_eq!(len(), 0, "a slice of the body outside the value would pin the body");
    remember(&b, span, &[decoded.system[0].clone(), Text::from("made by the decode"), Text::default()]);
    assert_eq!(len(), 1, "slices of the value, texts of their own and empty texts are kept");
    let kept = CACHE.with(|c| c.borrow().iter().next().unwrap().value.clone());
    assert!(kept.iter().all(|t| !t.lies_in(&b)));
}

#[test]
fn the_agent_benchs_next_turn_takes_its_system_prompt_from_the_cache() {
    let first = Bytes::from(agent_turn::claude("m", true, "go on"));
    let next = Bytes::from(agent_turn::claude_after("m", true, "go on", agent_turn::TURNS + 1));
    let _ = fresh(&first).unwrap();
    let got = decode(&next).unwrap();
    assert!(from_the_cache(&got, &next));
    assert_eq!(got, fresh(&next).unwrap());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 40, ..proptest::prelude::ProptestConfig::default() })]

    /// Whatever the bodies do from one to the next (another prompt, a plain-string prompt, more
    /// or fewer turns, `system` before `messages` or after `tools`, pretty or compact, a byte
    /// changed anywhere), each decodes exactly as with the system cache set aside; a large body
    /// that repeats the prompt bytes of the body right before it (both untouched, that one
    /// decoded) takes them from the cache.
    #[test]
    fn any_sequence_of_bodies_decodes_as_without_the_cache(
        steps in proptest::collection::vec(
            (0u8..3, 2usize..7, proptest::prelude::any::<bool>(), proptest::prelude::any::<bool>(),
             proptest::option::of(proptest::prelude::any::<u16>())),
            1..8,
        ),
    ) {
        clear();
        // The prompt bytes of the body before, when it was large, untouched and decoded.
        let mut prev = None;
        for (which, turns, system_last, pretty, flip) in steps {
            let system = match which {
                0 => blocks("a"),
                1 => blocks("b"),
                _ => Value::String(prompt("plain")),
            };
            let mut bytes = body(&system, turns, system_last, pretty).to_vec();
            if let Some(f) = flip {
                let at = usize::from(f) % bytes.len();
                bytes[at] ^= 0x01;
            }
            let b = Bytes::from(bytes);
            let got = decode(&b);
            // The same prompt in the same layout is the same bytes.
            let key = (which, pretty);
            let large = flip.is_none() && b.len() >= tools_cache::MIN_BODY;
            match &got {
                Ok(req) if large => {
                    if prev == Some(key) {
                        proptest::prop_assert!(from_the_cache(req, &b), "prompt {:?} again", key);
                    }
                    prev = Some(key);
                }
                _ => prev = None,
            }
            proptest::prop_assert_eq!(got, fresh_keeping_result(&b));
        }
    }
}
