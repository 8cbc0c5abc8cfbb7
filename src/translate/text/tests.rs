use super::*;

#[test]
fn plain_text_is_kept_as_it_is() {
    let t = Text::from("hello world");
    assert!(t.is_plain());
    assert_eq!(t.escaped(), b"hello world");
    assert!(matches!(t.text(), Cow::Borrowed("hello world")));
}

#[test]
fn text_needing_escapes_is_escaped_once_and_unescapes_back() {
    let s = "a \"quote\", a \\ backslash,\na newline, a tab\t, a bell \u{7}, é and 😀";
    let t = Text::from(s);
    assert!(!t.is_plain());
    assert_eq!(t.escaped(), r#"a \"quote\", a \\ backslash,\na newline, a tab\t, a bell \u0007, é and 😀"#.as_bytes());
    assert_eq!(t.text(), s);
    let mut out = Vec::new();
    t.write_json(&mut out);
    assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s);
}

#[test]
fn validated_content_unescapes_any_valid_escape() {
    let t = Text::from_validated(Bytes::from_static(br"a\/b \u00e9 \ud83d\ude00 \n"), false);
    assert_eq!(t.text(), "a/b é 😀 \n");
    assert_eq!(t.escaped(), br"a\/b \u00e9 \ud83d\ude00 \n");
    assert!(t.starts_with("a/b"));
    assert!(!t.starts_with(r"a\/"));
    assert_eq!(format!("{t:?}"), format!("{:?}", "a/b é 😀 \n"));
}

// ---------------------------------------------------------------------------------------------
// The request decoders keep the client's escaped text (`Locator`)
// ---------------------------------------------------------------------------------------------

use crate::channel::grok::api_body::chat_body;
use crate::translate::canonical::{Block, CanonicalRequest};
use crate::translate::request::{ClaudeEndpoint, decode_claude, decode_openai};
use crate::translate::tools_cache;
use proptest::prelude::*;
use std::fmt::Write as _;

/// One text spelled in every way a client may escape it: (as sent, the text).
const SPELLED: [(&str, &str); 10] = [
    ("plain words", "plain words"),
    (r"a\/b", "a/b"),
    (r"\u00e9t\u00E9", "été"),
    (r"\ud83d\ude00 smile", "😀 smile"),
    (r#"say \"hi\" \\ back"#, "say \"hi\" \\ back"),
    (r"line\nnext\ttab\r\b\f", "line\nnext\ttab\r\u{8}\u{c}"),
    ("raw é 漢字 😀", "raw é 漢字 😀"),
    (r"\\", "\\"),
    (r#"\\\""#, "\\\""),
    (r"\u0000 nul", "\0 nul"),
];

/// Every text of a request, in order (system, then messages, tool results' content included).
fn texts_of(r: &CanonicalRequest) -> Vec<Text> {
    fn walk(blocks: &[Block], out: &mut Vec<Text>) {
        for b in blocks {
            match b {
                Block::Text(t) => out.push(t.clone()),
                Block::ToolResult { content, .. } => walk(content, out),
                _ => {}
            }
        }
    }
    let mut out = r.system.clone();
    for m in &r.messages {
        walk(&m.content, &mut out);
    }
    out
}

fn claude_body(s: &str) -> String {
    format!(
        r#"{{"model":"m","max_tokens":5,"system":[{{"type":"text","text":"{s}"}}],"messages":[
        {{"role":"user","content":"{s}"}},
        {{"role":"assistant","content":[{{"type":"text","text":"{s}"}},{{"type":"tool_use","id":"t","name":"n","input":{{}}}}]}},
        {{"role":"user","content":[{{"type":"tool_result","tool_use_id":"t","content":"{s}"}},
          {{"type":"tool_result","tool_use_id":"t","content":[{{"type":"text","text":"{s}"}}]}},{{"type":"text","text":"{s}"}}]}},
        {{"role":"system","content":"{s}"}}]}}"#
    )
}

fn openai_body(s: &str) -> String {
    format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"{s}"}},
        {{"role":"developer","content":[{{"type":"text","text":"{s}"}}]}},
        {{"role":"user","content":"{s}"}},{{"role":"user","content":[{{"type":"text","text":"{s}"}}]}},
        {{"role":"assistant","content":[{{"type":"refusal","refusal":"{s}"}}],"tool_calls":[{{"id":"c","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},
        {{"role":"tool","tool_call_id":"c","content":"{s}"}}]}}"#
    )
}

/// What a decoded text keeps: the client's spelling, or the text escaped again when the spelling
/// has a surrogate escape.
fn kept(sent: &str, text: &str) -> Vec<u8> {
    if has_surrogate_escape(sent.as_bytes()) { Text::from(text).escaped().to_vec() } else { sent.as_bytes().to_vec() }
}

#[test]
fn decoded_text_is_the_clients_own_escaped_bytes() {
    for (sent, text) in SPELLED {
        let claude = decode_claude(claude_body(sent).as_bytes(), ClaudeEndpoint::Messages).unwrap();
        let openai = decode_openai(openai_body(sent).as_bytes()).unwrap();
        for (r, n) in [(claude, 7), (openai, 6)] {
            let texts = texts_of(&r);
            assert_eq!(texts.len(), n, "{sent}");
            for t in texts {
                assert_eq!(t.escaped(), kept(sent, text).as_slice(), "kept as sent");
                assert_eq!(t.text(), text);
                assert_eq!(t.is_plain(), !kept(sent, text).contains(&b'\\'));
            }
        }
    }
}

/// The upstream body carries the client's spelling (nothing unescaped and escaped again) and
/// reads as the same text.
#[test]
fn the_upstream_body_copies_the_escaped_text() {
    for (sent, text) in SPELLED {
        let r = decode_claude(claude_body(sent).as_bytes(), ClaudeEndpoint::Messages).unwrap();
        let body = chat_body(&r, "up", false);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let messages = v["messages"].as_array().unwrap();
        assert_eq!(messages[0]["content"], text, "system");
        assert_eq!(messages[1]["content"], text, "system message");
        assert_eq!(messages[2]["content"], text, "user string");
        assert_eq!(messages[3]["content"], text, "assistant text");
        assert_eq!(messages[4]["content"], text, "tool result string");
        assert_eq!(messages[5]["content"], text, "tool result blocks");
        assert_eq!(messages[6]["content"], text, "user text block");
        if sent.contains('\\') && !has_surrogate_escape(sent.as_bytes()) {
            let wire = format!("\"{sent}\"");
            let copies = body.windows(wire.len()).filter(|w| *w == wire.as_bytes()).count();
            assert_eq!(copies, 7, "{sent}: the client's spelling, verbatim");
        }
    }
}

/// A body decoded with the tools cache's marker in place of its tools: text before the tools is
/// where it was, text after them is found in the body as sent (offsets shifted by the splice).
#[test]
fn text_around_cached_tools_is_found_in_the_body_as_sent() {
    type Decode = fn(&[u8]) -> CanonicalRequest;
    let s = r"a\/b \u00e9";
    let pad = "p".repeat(9_000);
    let desc = "d".repeat(2_000);
    let claude_tool = format!(r#"{{"name":"t","description":"{desc}","input_schema":{{"type":"object"}}}}"#);
    let openai_tool =
        format!(r#"{{"type":"function","function":{{"name":"t","description":"{desc}","parameters":{{}}}}}}"#);
    let claude = format!(
        r#"{{"model":"m","max_tokens":5,"system":"{s}","tools":[{claude_tool}],"messages":[{{"role":"user","content":"{pad}{s}"}}]}}"#
    );
    let openai = format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"{s}"}}],"tools":[{openai_tool}],"user":"{pad}","max_tokens":5}}"#
    );
    let openai_after = format!(
        r#"{{"model":"m","tools":[{openai_tool}],"user":"{pad}","messages":[{{"role":"user","content":"{s}"}}]}}"#
    );
    let by_claude: Decode = |b| decode_claude(b, ClaudeEndpoint::Messages).unwrap();
    let by_openai: Decode = |b| decode_openai(b).unwrap();
    for (body, decode) in [(claude, by_claude), (openai, by_openai), (openai_after, by_openai)] {
        tools_cache::clear();
        let first = decode(body.as_bytes());
        let second = decode(body.as_bytes());
        assert!(std::rc::Rc::ptr_eq(&first.tools, &second.tools), "the second decode took the cached tools");
        assert_eq!(second, first);
        for t in texts_of(&second) {
            assert!(t.escaped().ends_with(s.as_bytes()), "{:?}", t.escaped().get(..20));
        }
    }
    tools_cache::clear();
}

/// `c` spelled one of the ways JSON allows, picked by `how`.
fn spell(c: char, how: u8, out: &mut String) {
    let unicode = |out: &mut String| {
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{u:04x}");
        }
    };
    match (c, how % 3) {
        (_, 0) => unicode(out),
        ('"', _) => out.push_str("\\\""),
        ('\\', _) => out.push_str("\\\\"),
        ('/', 1) => out.push_str("\\/"),
        ('\n', _) => out.push_str("\\n"),
        ('\t', _) => out.push_str("\\t"),
        (c, _) if u32::from(c) < 0x20 => unicode(out),
        (c, _) => out.push(c),
    }
}

fn chars() -> impl Strategy<Value = Vec<(char, u8)>> {
    let c = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => proptest::sample::select(vec!['"', '\\', '/', '\n', '\t', '\0', '\u{1f}', ' ']),
        1 => proptest::char::any(),
    ];
    proptest::collection::vec((c, any::<u8>()), 0..60)
}

proptest! {
    /// Any text, spelled any valid way, decodes to itself with the spelling kept, in both
    /// client formats, and reaches the upstream body as that text.
    #[test]
    fn any_spelling_is_kept_and_reads_back(cs in chars()) {
        let text: String = cs.iter().map(|(c, _)| *c).collect();
        let mut sent = String::new();
        for (c, how) in &cs {
            spell(*c, *how, &mut sent);
        }
        let claude = format!(r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":[{{"type":"text","text":"{sent}"}}]}}]}}"#);
        let openai = format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"{sent}"}}]}}]}}"#);
        let decoded = [
            decode_claude(claude.as_bytes(), ClaudeEndpoint::Messages).unwrap(),
            decode_openai(openai.as_bytes()).unwrap(),
        ];
        for r in decoded {
            let texts = texts_of(&r);
            prop_assert_eq!(texts.len(), 1);
            let want = kept(&sent, &text);
            prop_assert_eq!(texts[0].escaped(), want.as_slice());
            prop_assert_eq!(texts[0].text(), text.as_str());
            let v: serde_json::Value = serde_json::from_slice(&chat_body(&r, "up", false)).unwrap();
            prop_assert_eq!(v["messages"][0]["content"].as_str(), Some(text.as_str()));
        }
    }
}

/// A lone surrogate escape (Node writes one for a string cut inside an emoji) is not copied
/// upstream: the upstream body stays JSON that a strict parser (serde_json) reads.
#[test]
fn a_lone_surrogate_is_not_copied_upstream() {
    let mut decoded = 0;
    for sent in [r"cut \ud83d", r"cut \uDE00 low", r"\ud83d\ud83d twice", r"pair \ud83d\ude00"] {
        // The parser refuses some of these (a 400 for the client); the others must not go on.
        let Ok(r) = decode_claude(claude_body(sent).as_bytes(), ClaudeEndpoint::Messages) else { continue };
        decoded += 1;
        for t in texts_of(&r) {
            assert!(!has_surrogate_escape(t.escaped()), "{sent}");
        }
        let body = chat_body(&r, "up", false);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
            "{sent}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(decoded >= 2, "a lone high surrogate and a pair decode");
    assert!(
        has_surrogate_escape(br"\uD83D")
            && has_surrogate_escape(br"x\udfff")
            && !has_surrogate_escape(br"\ud7ff \ue000")
    );
}

fn user(blocks: Vec<Block>) -> CanonicalRequest {
    CanonicalRequest {
        model: "m".into(),
        messages: vec![crate::translate::canonical::Message {
            role: crate::translate::canonical::Role::User,
            content: blocks,
        }],
        ..CanonicalRequest::default()
    }
}

fn upstream(r: &CanonicalRequest) -> serde_json::Value {
    serde_json::from_slice(&chat_body(r, "up", false)).unwrap()
}

fn text_blocks(ts: &[&str]) -> Vec<Block> {
    ts.iter().map(|t| Block::Text(Text::from(*t))).collect()
}

/// Texts of one message are joined by newlines once some text came (leading empty texts leave
/// none); an assistant turn of empty texts and a tool call has `null` content; a failed tool
/// result gets `Error: ` unless its text already starts with `Error`, however it was spelled.
#[test]
fn joined_texts_and_the_error_prefix() {
    let v = upstream(&user(text_blocks(&["", "x", "", "y"])));
    assert_eq!(v["messages"][0]["content"], "x\n\ny");
    let mut r = user(text_blocks(&["hi"]));
    let mut turn = text_blocks(&["", ""]);
    turn.push(Block::ToolUse { id: "c".into(), name: "f".into(), input: "{}".into() });
    r.messages.push(crate::translate::canonical::Message {
        role: crate::translate::canonical::Role::Assistant,
        content: turn,
    });
    assert_eq!(upstream(&r)["messages"][1]["content"], serde_json::Value::Null);
    let failed = |content: Vec<Block>| {
        upstream(&user(vec![Block::ToolResult { tool_use_id: "c".into(), content, is_error: true }]))["messages"][0]["content"].clone()
    };
    assert_eq!(failed(text_blocks(&["boom"])), "Error: boom");
    assert_eq!(failed(text_blocks(&["", "Error: boom"])), "Error: boom");
    assert_eq!(failed(text_blocks(&["Err", "or"])), "Error: Err\nor");
    let spelled = decode_claude(
        br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","is_error":true,"content":"\u0045rror: boom"}]}]}"#,
        ClaudeEndpoint::Messages,
    )
    .unwrap();
    assert_eq!(upstream(&spelled)["messages"][0]["content"], "Error: boom");
}

/// The readers that need the characters get them unescaped: the grok web prompt and token
/// counting; `text_bytes` sizes what `for_each_text` visits.
#[test]
fn readers_of_the_characters_see_the_text() {
    let r = decode_claude(claude_body(r"a\/b \u00e9t\u00e9").as_bytes(), ClaudeEndpoint::Messages).unwrap();
    let (flat, _) = crate::channel::grok::web::prompt(&r);
    assert!(flat.prompt.contains("a/b été") && !flat.prompt.contains(r"\/"), "{}", flat.prompt);
    let plain = decode_claude(claude_body("a/b été").as_bytes(), ClaudeEndpoint::Messages).unwrap();
    assert_eq!(crate::tokens::count_request(&r), crate::tokens::count_request(&plain));
    let mut visited = 0;
    plain.for_each_text(|t| visited += t.len());
    assert_eq!(plain.text_bytes(), visited);
    assert!(r.text_bytes() > visited, "escaped text counted as escaped");
}

/// The front end's decode shares the client's body: a text is a slice of it, not a copy.
#[test]
fn shared_decode_slices_the_clients_body() {
    let body = Bytes::from(claude_body(r"a\/b and more"));
    let r = crate::translate::request::decode_claude_shared(&body, ClaudeEndpoint::Messages).unwrap();
    let texts = texts_of(&r);
    assert_eq!(texts.len(), 7);
    for t in texts {
        assert!(body.as_ptr_range().contains(&t.escaped().as_ptr()), "a slice of the body");
    }
    let body = Bytes::from(openai_body("plain words"));
    let texts = texts_of(&crate::translate::request::decode_openai_shared(&body).unwrap());
    assert_eq!(texts.len(), 6);
    for t in texts {
        assert!(body.as_ptr_range().contains(&t.escaped().as_ptr()), "a slice of the body");
    }
}
