//! The conversation cache against the decode without it: every turn of a conversation decodes to
//! exactly what a worker with an empty cache makes of it, and the cache replays what it should.

use super::*;
use crate::api::cache_marker::Marker;
use crate::translate::canonical::{Block, CanonicalRequest};
use crate::translate::request::{ClaudeEndpoint, RequestError, decode_claude_shared, decode_openai_shared};
use crate::translate::tools_cache;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Text as agents send it: escapes, non-ASCII, a tab, about 400 bytes.
fn prose(i: usize) -> String {
    format!("turn {i}: \"quoted\" C:\\path über\tthe gateway {}", "streams tokens to every client ".repeat(12))
}

fn tools(format: WireFormat) -> String {
    let defs = (0..12).map(|i| {
        let schema = json!({"type": "object", "properties": {"path": {"type": "string", "description": prose(i)}}});
        match format {
            WireFormat::Claude => json!({"name": format!("tool_{i}"), "description": "reads", "input_schema": schema}),
            WireFormat::OpenAi => {
                json!({"type": "function", "function": {"name": format!("tool_{i}"), "parameters": schema}})
            }
        }
    });
    Value::Array(defs.collect()).to_string()
}

fn join(elements: &[Value]) -> String {
    let parts: Vec<String> = elements.iter().map(Value::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// A Claude body: `system` before `messages` (as the agent bench writes it), or after `tools`.
fn claude_body(system: &str, elements: &[Value], system_last: bool) -> Bytes {
    let system = json!([{"type": "text", "text": system}]);
    let (before, after) = if system_last {
        (String::new(), format!(",\"system\":{system}"))
    } else {
        (format!("\"system\":{system},"), String::new())
    };
    let body = format!(
        r#"{{"model":"m","max_tokens":64,"stream":true,{before}"messages":{},"tools":{}{after},"metadata":{{"user_id":"u"}}}}"#,
        join(elements),
        tools(WireFormat::Claude)
    );
    Bytes::from(body)
}

fn openai_body(elements: &[Value]) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"m","messages":{},"tools":{},"stream":true}}"#,
        join(elements),
        tools(WireFormat::OpenAi)
    ))
}

/// A body laid out another way: `tools` before `messages` (the two markers' order reversed) and
/// every value pretty-printed (whitespace around every element).
fn pretty_tools_first(format: WireFormat, elements: &[Value]) -> Bytes {
    let messages = serde_json::to_string_pretty(&Value::Array(elements.to_vec())).unwrap_or_default();
    let head = if format == WireFormat::Claude { r#""max_tokens": 64, "# } else { "" };
    Bytes::from(format!(r#"{{ "model": "m", {head}"tools": {}, "messages": {messages} }}"#, tools(format)))
}

fn decode(format: WireFormat, body: &Bytes) -> Result<CanonicalRequest, RequestError> {
    match format {
        WireFormat::Claude => decode_claude_shared(body, ClaudeEndpoint::Messages),
        WireFormat::OpenAi => decode_openai_shared(body),
    }
}

/// Every text of `req`, system and messages (tool results' too).
fn texts(req: &CanonicalRequest) -> Vec<&Text> {
    fn of<'a>(blocks: &'a [Block], out: &mut Vec<&'a Text>) {
        for b in blocks {
            match b {
                Block::Text(t) => out.push(t),
                Block::ToolResult { content, .. } => of(content, out),
                _ => {}
            }
        }
    }
    let mut out: Vec<&Text> = req.system.iter().collect();
    for m in &req.messages {
        of(&m.content, &mut out);
    }
    out
}

/// Decodes `body` on this thread (its cache as it is) and with the cache set aside, asserts both
/// give the same answer and that every text is a slice of `body` (none escaped again, none left
/// in an older body); returns the answer and how many elements were replayed.
fn turn(format: WireFormat, body: &Bytes) -> (Result<CanonicalRequest, RequestError>, Option<usize>) {
    let want = without(|| decode(format, &Bytes::copy_from_slice(body)));
    take_replayed();
    let got = decode(format, body);
    let replayed = take_replayed();
    assert_eq!(got, want, "replayed {replayed:?}");
    if let Ok(req) = &got {
        let span = body.as_ptr().addr()..body.as_ptr().addr() + body.len();
        for t in texts(req).into_iter().filter(|t| !t.is_empty()) {
            assert!(span.contains(&t.escaped().as_ptr().addr()), "{t:?} is not a slice of this body");
        }
    }
    (got, replayed)
}

fn claude_round(i: usize) -> [Value; 2] {
    [
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "text", "text": prose(i)},
            {"type": "tool_use", "id": format!("t{i}"), "name": "tool_1", "input": {"path": i}}]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("t{i}"), "content": [{"type": "text", "text": prose(i + 1)}]},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "text", "text": format!("go on {i}")}]}),
    ]
}

/// `elements` as Claude Code sends them: the last block of the last message marked for caching.
fn with_cache_marker(elements: &[Value]) -> Vec<Value> {
    let mut out = elements.to_vec();
    if let Some(Value::Array(blocks)) = out.last_mut().and_then(|m| m.get_mut("content")) {
        if let Some(Value::Object(last)) = blocks.last_mut() {
            last.insert("cache_control".into(), json!({"type": "ephemeral"}));
        }
    }
    out
}

#[test]
fn a_claude_code_conversation_replays_all_but_the_message_that_carried_the_cache_marker() {
    clear();
    let mut elements = vec![
        json!({"role": "user", "content": [{"type": "text", "text": prose(0)}]}),
        json!({"role": "system", "content": "be brief"}),
        json!({"role": "user", "content": prose(100)}),
    ];
    let mut before = None;
    for i in 1..=6 {
        elements.extend(claude_round(i));
        let body = claude_body(&prose(99), &with_cache_marker(&elements), i % 2 == 0);
        let (got, replayed) = turn(WireFormat::Claude, &body);
        let req = got.unwrap();
        assert_eq!(req.system.len(), 2, "the system block and the system-role message");
        assert_eq!(replayed, before.map(|n: usize| n - 1), "turn {i}");
        before = Some(elements.len());
    }
    assert_eq!(len(), 1);
}

#[test]
fn an_openai_agent_replays_its_whole_last_turn_and_tool_results_merge_across_the_cut() {
    clear();
    let call =
        |id: &str| json!({"id": id, "type": "function", "function": {"name": "tool_1", "arguments": "{\"p\":1}"}});
    let tool = |id: &str, i: usize| json!({"role": "tool", "tool_call_id": id, "content": prose(i)});
    let mut elements = vec![
        json!({"role": "system", "content": prose(0)}),
        json!({"role": "user", "content": [{"type": "text", "text": prose(1)}]}),
        json!({"role": "assistant", "content": prose(2), "tool_calls": [call("c1"), call("c2")]}),
        tool("c1", 3),
    ];
    let (got, replayed) = turn(WireFormat::OpenAi, &openai_body(&elements));
    assert_eq!((got.unwrap().messages.len(), replayed), (3, None));
    // The second result merges into the message the first one made, which the cache replays.
    elements.push(tool("c2", 4));
    let (got, replayed) = turn(WireFormat::OpenAi, &openai_body(&elements));
    assert_eq!(got.unwrap().messages.last().map(|m| m.content.len()), Some(2));
    assert_eq!(replayed, Some(4));
    elements.push(json!({"role": "developer", "content": "then"}));
    elements.push(json!({"role": "user", "content": prose(5)}));
    let (got, replayed) = turn(WireFormat::OpenAi, &openai_body(&elements));
    assert_eq!((got.unwrap().system.len(), replayed), (2, Some(5)));
    // The second result edited: the replay stops after the first and cuts the merged message
    // back to one result before the edited one merges.
    if let Some(last_tool) = elements.get_mut(4) {
        *last_tool = tool("c2", 44);
    }
    let (got, replayed) = turn(WireFormat::OpenAi, &openai_body(&elements));
    assert_eq!(got.unwrap().messages.get(2).map(|m| m.content.len()), Some(2));
    assert_eq!(replayed, Some(4));
}

/// A body that repeats only part of a kept conversation's first element walks that far and
/// no hit comes of it; a later body that repeats more walks on from there.
#[test]
fn element_ends_found_for_one_body_serve_the_next() {
    clear();
    let long = |tail: &str| json!({"role": "user", "content": format!("{}{tail}", prose(0).repeat(5))});
    let mut a = vec![long("a")];
    a.extend(claude_round(1));
    assert_eq!(turn(WireFormat::Claude, &claude_body("s", &a, false)).1, None);
    let (_, replayed) = turn(WireFormat::Claude, &claude_body("s", &[long("b")], false));
    assert_eq!(replayed, None, "the first element differs near its end");
    let mut c = a.clone();
    c.extend(claude_round(2));
    assert_eq!(turn(WireFormat::Claude, &claude_body("s", &c, false)).1, Some(a.len()));
    c.extend(claude_round(3));
    assert_eq!(turn(WireFormat::Claude, &claude_body("s", &c, false)).1, Some(a.len() + 2));
}

#[test]
fn the_array_is_found_after_its_key_when_the_members_before_it_changed() {
    clear();
    let mut elements = vec![json!({"role": "user", "content": prose(0)})];
    elements.extend(claude_round(1));
    turn(WireFormat::Claude, &claude_body("short", &elements, false)).0.unwrap();
    elements.extend(claude_round(2));
    let (got, replayed) = turn(WireFormat::Claude, &claude_body(&prose(7), &elements, false));
    assert_eq!((got.unwrap().messages.len(), replayed), (5, Some(3)));
}

#[test]
fn a_lookalike_of_the_array_elsewhere_is_not_taken_for_the_messages() {
    clear();
    let mut elements = vec![json!({"role": "user", "content": prose(0)})];
    elements.extend(claude_round(1));
    let tools = tools(WireFormat::Claude);
    let first = format!(r#"{{"model":"m","max_tokens":64,"messages":{},"tools":{tools}}}"#, join(&elements));
    turn(WireFormat::Claude, &Bytes::from(first)).0.unwrap();
    let other = join(&[json!({"role": "user", "content": "other"})]);
    elements.extend(claude_round(2));
    // The same bytes at the same offset under another key, and under the key one level down.
    for body in [
        format!(r#"{{"model":"m","max_tokens":64,"messagex":{},"tools":{tools},"messages":{other}}}"#, join(&elements)),
        format!(
            r#"{{"model":"m","max_tokens":64,"x":{{"messages":{}}},"messages":{other},"tools":{tools}}}"#,
            join(&elements)
        ),
    ] {
        let (got, replayed) = turn(WireFormat::Claude, &Bytes::from(body));
        assert_eq!((got.unwrap().messages.len(), replayed), (1, None));
    }
}

/// The kept elements at the same offset inside a value the decode does read (a tool's schema,
/// kept as JSON text): the splice is not taken, or the schema would hold the marker.
#[test]
fn a_lookalike_inside_a_value_that_is_read_is_not_spliced() {
    clear();
    let mut elements = vec![json!({"role": "user", "content": prose(0)})];
    elements.extend(claude_round(1));
    let tail = format!(r#","tools":{}}}"#, tools(WireFormat::Claude));
    let first = format!(r#"{{"model":"{}","max_tokens":64,"messages":{}{tail}"#, "m".repeat(60), join(&elements));
    let open = first.find("\"messages\":[").unwrap() + "\"messages\":".len();
    turn(WireFormat::Claude, &Bytes::from(first)).0.unwrap();
    elements.extend(claude_round(2));
    let head = r#"","tools":[{"name":"t","input_schema":{"x":"#;
    let model = "m".repeat(open - r#"{"model":""#.len() - head.len());
    let body = format!(
        r#"{{"model":"{model}{head}{}}}}}],"max_tokens":64,"messages":[{{"role":"user","content":"x"}}],"pad":"{}"}}"#,
        join(&elements),
        "p".repeat(tools_cache::MIN_BODY)
    );
    assert_eq!(body.find(&join(&elements)), Some(open));
    let (got, replayed) = turn(WireFormat::Claude, &Bytes::from(body));
    let got = got.unwrap();
    assert_eq!((got.messages.len(), replayed), (1, None));
    assert!(!got.tools.iter().any(|t| t.parameters.as_str().contains(&Marker::Messages.text())));
}

/// A bad turn gets the plain decode's error (its index counts the replayed elements), and it
/// leaves the conversation kept: the corrected turn replays it.
#[test]
fn a_bad_turn_gets_the_error_the_plain_decode_gives() {
    clear();
    let mut elements = vec![json!({"role": "user", "content": prose(0)})];
    elements.extend(claude_round(1));
    turn(WireFormat::Claude, &claude_body("s", &elements, false)).0.unwrap();
    let mut bad = elements.clone();
    bad.push(json!({"role": "robot", "content": "x"}));
    let err = turn(WireFormat::Claude, &claude_body("s", &bad, false)).0.unwrap_err();
    assert!(err.message.starts_with("messages.3.role"), "{err:?}");
    let body = claude_body("s", &elements, false);
    let cut = body.slice(..body.len() - 40);
    assert!(turn(WireFormat::Claude, &cut).0.is_err());
    elements.extend(claude_round(2));
    assert_eq!(turn(WireFormat::Claude, &claude_body("s", &elements, false)).1, Some(3));
}

#[test]
fn a_client_that_sends_the_marker_is_refused() {
    clear();
    let marker = Marker::Messages.text();
    let small = Bytes::from(format!(r#"{{"model":"m","max_tokens":9,"messages":["{marker}"]}}"#));
    let large = claude_body("s", &[json!(marker), json!({"role": "user", "content": prose(0)})], false);
    for body in [small, large] {
        let err = decode(WireFormat::Claude, &body).unwrap_err();
        assert_eq!(err.param, Some("messages"), "{err:?}");
    }
}

#[test]
fn only_the_latest_body_is_kept_and_conversations_alternate() {
    clear();
    let start = |seed: usize| {
        vec![json!({"role": "user", "content": prose(seed)}), json!({"role": "user", "content": prose(seed + 1)})]
    };
    let (mut a, mut b) = (start(0), start(50));
    let mut old = Vec::new();
    for i in 1..=4 {
        for (conversation, seed) in [(&mut a, 0), (&mut b, 50)] {
            conversation.extend(claude_round(seed + i));
            let body = claude_body("s", conversation, false);
            let (got, replayed) = turn(WireFormat::Claude, &body);
            drop(got);
            assert_eq!(replayed.is_some(), i > 1, "turn {i}");
            old.push(body);
        }
    }
    let latest = old.split_off(old.len() - 2);
    assert!(old.into_iter().all(|b| b.is_unique()), "an older body is still held");
    assert_eq!(bodies().len(), 2);
    assert!(latest.into_iter().all(|b| !b.is_unique()));
    for seed in 10..10 + ENTRIES {
        let mut c = start(seed * 10);
        c.extend(claude_round(seed));
        turn(WireFormat::Claude, &claude_body("s", &c, false)).0.unwrap();
    }
    assert_eq!(len(), ENTRIES);
}

/// Two conversations with the same large system message alternate on a worker (OpenAI-SDK users
/// of one app): each turn replays its own conversation (the one sharing the most bytes), and a
/// third that shares only the system message does not push either out.
#[test]
fn conversations_sharing_their_first_message_each_replay_their_own() {
    clear();
    let system = json!({"role": "system", "content": prose(7).repeat(4)});
    let start = |seed: usize| vec![system.clone(), json!({"role": "user", "content": prose(seed)})];
    let (mut a, mut b) = (start(10), start(20));
    for i in 1..=3 {
        for (c, seed) in [(&mut a, 10), (&mut b, 20)] {
            let before = c.len();
            c.extend(openai_round(seed + i, 1));
            let (_, replayed) = turn(WireFormat::OpenAi, &openai_body(c));
            // The second conversation's first turn replays the first one's system message.
            let want = if i > 1 {
                Some(before)
            } else if seed == 20 {
                Some(1)
            } else {
                None
            };
            assert_eq!(replayed, want, "turn {i} of {seed}");
        }
    }
    let (_, replayed) = turn(WireFormat::OpenAi, &openai_body(&start(30)));
    assert_eq!(replayed, Some(1), "the new conversation replays the shared system message");
    for (c, seed) in [(&mut a, 10), (&mut b, 20)] {
        let before = c.len();
        c.extend(openai_round(seed + 9, 0));
        assert_eq!(turn(WireFormat::OpenAi, &openai_body(c)).1, Some(before));
    }
    assert_eq!(len(), 3);
}

/// The kept bodies of a worker stay within the byte budget: large conversations push the least
/// recently used out before the entry count does.
#[test]
fn kept_bodies_stay_within_the_budget() {
    clear();
    let big = BUDGET / 3;
    for seed in 0..3 {
        let text = format!("{seed} {}", "x".repeat(big));
        let elements = [json!({"role": "user", "content": text}), json!({"role": "assistant", "content": "ok"})];
        turn(WireFormat::OpenAi, &openai_body(&elements)).0.unwrap();
        let kept: usize = bodies().iter().map(Bytes::len).sum();
        assert!(kept <= BUDGET, "{kept} bytes kept");
    }
    assert_eq!(len(), 2, "the third large conversation pushed out the first");
}

/// One step of a generated conversation.
#[derive(Debug, Clone)]
enum Step {
    /// Append a round (Claude: assistant + tool result; OpenAI: assistant + tool messages).
    Round(usize),
    /// Change the text of the element at this index (modulo the length).
    Edit(usize),
    /// Drop the last element (a client that retries with less).
    Pop,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![4 => (0usize..3).prop_map(Step::Round), 1 => any::<usize>().prop_map(Step::Edit), 1 => Just(Step::Pop)]
}

fn openai_round(i: usize, tools: usize) -> Vec<Value> {
    let call =
        |k: usize| json!({"id": format!("c{i}_{k}"), "type": "function", "function": {"name": "f", "arguments": ""}});
    let mut out =
        vec![json!({"role": "assistant", "content": prose(i), "tool_calls": (0..tools).map(call).collect::<Vec<_>>()})];
    out.extend(
        (0..tools).map(|k| json!({"role": "tool", "tool_call_id": format!("c{i}_{k}"), "content": prose(i + k)})),
    );
    if tools == 0 {
        out.push(json!({"role": "user", "content": prose(i)}));
    }
    out
}

/// Elements as they stand in a body, one string each (the leading run two bodies share is
/// what the cache can replay).
fn element_texts(elements: &[Value]) -> Vec<String> {
    elements.iter().map(Value::to_string).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever a conversation does from turn to turn (grow, change an earlier message, shrink,
    /// change its layout, go to count_tokens, arrive with a byte changed), each turn decodes
    /// exactly as with an empty cache (`turn` asserts it), and a turn that only appended to the
    /// turn before, in the same layout, replays at least the run they share.
    #[test]
    fn any_sequence_of_turns_decodes_as_without_the_cache(
        claude in any::<bool>(),
        steps in prop::collection::vec((step(), 0u8..8, any::<u16>()), 1..8),
    ) {
        clear();
        let format = if claude { WireFormat::Claude } else { WireFormat::OpenAi };
        let mut elements = vec![json!({"role": "user", "content": prose(0)}), json!({"role": "system", "content": prose(1)})];
        // The layout, elements and size of the last turn decoded.
        let mut last: Option<(u8, Vec<String>, usize)> = None;
        for (n, (s, layout, flip)) in steps.into_iter().enumerate() {
            let appended = matches!(s, Step::Round(_));
            match s {
                Step::Round(k) if claude => elements.extend(claude_round(n * 3 + k)),
                Step::Round(k) => elements.extend(openai_round(n, k)),
                Step::Edit(at) => {
                    let at = at % elements.len().max(1);
                    if let Some(m) = elements.get_mut(at) {
                        m["content"] = json!(format!("edited {n}"));
                    }
                }
                Step::Pop if elements.len() > 1 => { elements.pop(); }
                Step::Pop => {}
            }
            let sent = if claude { with_cache_marker(&elements) } else { elements.clone() };
            let body = match layout {
                0 => pretty_tools_first(format, &sent),
                _ if claude => claude_body("s", &sent, n % 2 == 1),
                _ => openai_body(&sent),
            };
            if layout == 1 && body.len() > 1 {
                // A byte changed somewhere: the cached road and the plain one must still agree.
                let mut bytes = body.to_vec();
                let at = usize::from(flip) % bytes.len();
                if let Some(b) = bytes.get_mut(at) {
                    *b = b'"';
                }
                let _ = turn(format, &Bytes::from(bytes));
                last = None;
                continue;
            }
            if claude && layout == 2 {
                let body = body.clone();
                let want = without(|| decode_claude_shared(&Bytes::copy_from_slice(&body), ClaudeEndpoint::CountTokens));
                prop_assert_eq!(decode_claude_shared(&body, ClaudeEndpoint::CountTokens), want);
            }
            let (_, replayed) = turn(format, &body);
            let texts = element_texts(&sent);
            let same_layout = |l: u8| (l == 0) == (layout == 0);
            if let Some((before_layout, before, size)) = last.as_ref().filter(|(l, ..)| appended && same_layout(*l)) {
                let shared = before.iter().zip(&texts).take_while(|(a, b)| a == b).count();
                let bytes: usize = texts.iter().take(shared).map(|t| t.len() + 1).sum();
                // Pretty-printing adds whitespace: only the compact layouts are counted exactly;
                // a body under the cache's size was not kept.
                if shared > 0 && bytes > MIN_SHARED + 64 && *before_layout != 0 && keeps(*size) {
                    prop_assert!(replayed.unwrap_or(0) >= shared, "shared {} replayed {:?}", shared, replayed);
                }
            }
            last = Some((layout, texts, body.len()));
        }
    }
}
