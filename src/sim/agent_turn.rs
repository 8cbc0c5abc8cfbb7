//! A realistic agent turn, the request shape the gateway's heaviest users send (Claude Code, or
//! an agent on the OpenAI SDK): a 12 KiB system prompt, 18 tools with JSON schemas, 12 earlier
//! turns of text, tool calls and tool results (code, escapes, non-ASCII text), and a last user
//! turn that answers the last tool call and says `last`. About 65 KiB either way.
//!
//! Used by the request bench (`benches/request.rs`) and by the load client's `--agent` mode, so
//! both measure the same body. Deterministic: the same arguments give the same bytes. Objects
//! are written with their members in the SDKs' order (`type` first in a block).

use serde_json::{Value, json};

/// Turns of history before the last user turn.
pub const TURNS: usize = 12;
/// Tools declared.
const TOOLS: usize = 18;

/// Text as prompts and tool results carry it: mostly plain words, a line break every nine
/// words, now and then a quote, a backslash, a tab or non-ASCII text.
fn prose(words: usize, seed: usize) -> String {
    const W: [&str; 16] = [
        "the",
        "gateway",
        "streams",
        "tokens",
        "to",
        "every",
        "client",
        "\"quoted\"",
        "and",
        "config",
        "über",
        "account",
        "pool",
        "C:\\path",
        "request",
        "\tlet x = y;",
    ];
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(if i % 9 == 0 { '\n' } else { ' ' });
        }
        s.push_str(W.get((i * 7 + seed) % W.len()).copied().unwrap_or("x"));
    }
    s
}

fn schema(i: usize) -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": prose(25, i)},
            "limit": {"type": "integer", "minimum": 1, "maximum": 2000, "description": prose(12, i + 1)},
            "mode": {"type": "string", "enum": ["read", "write", "append"], "description": prose(8, i + 2)},
            "flags": {"type": "array", "items": {"type": "string"}, "description": prose(10, i + 3)}
        },
        "required": ["path"],
        "additionalProperties": false,
        "$schema": "http://json-schema.org/draft-07/schema#"
    })
}

fn tool_input(turn: usize) -> Value {
    json!({"path": format!("src/module_{turn}.rs"), "limit": 200, "mode": "read"})
}

/// A JSON string literal.
fn s(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A JSON object with its members in the order given (values are JSON texts). The SDKs write a
/// block's `type` first; `serde_json::json!` would sort the keys and put it last.
fn obj(members: &[(&str, String)]) -> String {
    let fields: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", s(k))).collect();
    format!("{{{}}}", fields.join(","))
}

fn arr(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

fn text_block(text: &str) -> String {
    obj(&[("type", s("text")), ("text", s(text))])
}

/// The turn as a Claude Messages body (as Claude Code sends it: each block's `type` first).
pub fn claude(model: &str, stream: bool, last: &str) -> Vec<u8> {
    claude_after(model, stream, last, TURNS)
}

/// The Claude body after `turns` turns of history: [`claude`] is `claude_after(…, 12)`, and the
/// body after 13 is the next turn of the same conversation (the same first 24 messages, then
/// the 13th turn and the last user turn). As Claude Code does, the last block of the last
/// message is marked `cache_control`, so the message that ended the turn before differs.
pub fn claude_after(model: &str, stream: bool, last: &str, turns: usize) -> Vec<u8> {
    let id = |turn: usize| format!("toolu_{turn:04}abcdefghijkl");
    let mut messages = Vec::new();
    for turn in 0..=turns {
        let text = if turn == turns { last.to_owned() } else { prose(if turn == 0 { 60 } else { 20 }, turn + 5) };
        let ephemeral = ("cache_control", obj(&[("type", s("ephemeral"))]));
        let text =
            if turn == turns { obj(&[("type", s("text")), ("text", s(&text)), ephemeral]) } else { text_block(&text) };
        let user = if turn == 0 {
            arr([text])
        } else {
            let result = obj(&[
                ("type", s("tool_result")),
                ("tool_use_id", s(&id(turn - 1))),
                ("content", arr([text_block(&prose(250, turn))])),
            ]);
            arr([result, text])
        };
        messages.push(obj(&[("role", s("user")), ("content", user)]));
        if turn < turns {
            let call = obj(&[
                ("type", s("tool_use")),
                ("id", s(&id(turn))),
                ("name", s(&format!("tool_{}", turn % TOOLS))),
                ("input", tool_input(turn).to_string()),
            ]);
            let content = arr([text_block(&prose(40, turn + 9)), call]);
            messages.push(obj(&[("role", s("assistant")), ("content", content)]));
        }
    }
    let tools = arr((0..TOOLS).map(|i| {
        obj(&[
            ("name", s(&format!("tool_{i}"))),
            ("description", s(&prose(60, i))),
            ("input_schema", schema(i).to_string()),
        ])
    }));
    let system = arr([
        text_block(&prose(500, 1)),
        obj(&[("type", s("text")), ("text", s(&prose(1500, 2))), ("cache_control", obj(&[("type", s("ephemeral"))]))]),
    ]);
    obj(&[
        ("model", s(model)),
        ("max_tokens", "32000".to_owned()),
        ("stream", stream.to_string()),
        ("system", system),
        ("messages", arr(messages)),
        ("tools", tools),
        ("metadata", obj(&[("user_id", s("user_0123456789abcdef_account__session_0123"))])),
        ("temperature", "1".to_owned()),
    ])
    .into_bytes()
}

/// The same turn as an OpenAI Chat Completions body (members in the SDK's order).
pub fn openai(model: &str, stream: bool, last: &str) -> Vec<u8> {
    openai_after(model, stream, last, TURNS)
}

/// The OpenAI body after `turns` turns of history (see [`claude_after`]).
pub fn openai_after(model: &str, stream: bool, last: &str, turns: usize) -> Vec<u8> {
    let id = |turn: usize| format!("call_{turn:04}abcdefghijkl");
    let mut messages = vec![obj(&[("role", s("system")), ("content", s(&prose(2000, 1)))])];
    for turn in 0..=turns {
        let text = if turn == turns { last.to_owned() } else { prose(if turn == 0 { 60 } else { 20 }, turn + 5) };
        if turn > 0 {
            messages.push(obj(&[
                ("role", s("tool")),
                ("tool_call_id", s(&id(turn - 1))),
                ("content", s(&prose(250, turn))),
            ]));
        }
        messages.push(obj(&[("role", s("user")), ("content", s(&text))]));
        if turn < turns {
            let function =
                obj(&[("name", s(&format!("tool_{}", turn % TOOLS))), ("arguments", s(&tool_input(turn).to_string()))]);
            let call = obj(&[("id", s(&id(turn))), ("type", s("function")), ("function", function)]);
            messages.push(obj(&[
                ("role", s("assistant")),
                ("content", s(&prose(40, turn + 9))),
                ("tool_calls", arr([call])),
            ]));
        }
    }
    let tools = arr((0..TOOLS).map(|i| {
        let function = obj(&[
            ("name", s(&format!("tool_{i}"))),
            ("description", s(&prose(60, i))),
            ("parameters", schema(i).to_string()),
        ]);
        obj(&[("type", s("function")), ("function", function)])
    }));
    let mut members = vec![
        ("model", s(model)),
        ("messages", arr(messages)),
        ("tools", tools),
        ("max_completion_tokens", "32000".to_owned()),
        ("temperature", "1".to_owned()),
        ("stream", stream.to_string()),
    ];
    if stream {
        members.push(("stream_options", obj(&[("include_usage", "true".to_owned())])));
    }
    obj(&members).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::request::{ClaudeEndpoint, decode_claude, decode_openai};

    #[test]
    fn both_bodies_decode_to_the_conversation_ending_in_the_last_text() {
        let c = claude("m", true, "LAST sim:tokens=3");
        let o = openai("m", true, "LAST sim:tokens=3");
        // Valid JSON, blocks written `type` first as the SDKs do.
        for body in [&c, &o] {
            serde_json::from_slice::<Value>(body).unwrap();
        }
        assert!(String::from_utf8_lossy(&c).contains(r#"{"type":"tool_result","tool_use_id":"#));
        assert!((50_000..90_000).contains(&c.len()) && (50_000..90_000).contains(&o.len()), "{} {}", c.len(), o.len());
        let c = decode_claude(&c, ClaudeEndpoint::Messages).unwrap();
        let o = decode_openai(&o).unwrap();
        assert_eq!((c.tools.len(), o.tools.len()), (TOOLS, TOOLS));
        // OpenAI's tool messages are a user turn of their own, before the user's text.
        assert_eq!((c.messages.len(), o.messages.len()), (2 * TURNS + 1, 3 * TURNS + 1));
        let last =
            |r: &crate::translate::canonical::CanonicalRequest| format!("{:?}", r.messages.last().map(|m| &m.content));
        assert!(last(&c).contains("LAST sim:tokens=3") && last(&o).contains("LAST sim:tokens=3"));
        assert!(c.stream && o.stream && o.include_usage);
    }

    /// The next turn repeats every message of this one but the last (whose text, and whose
    /// `cache_control` in Claude Code's body, move on), so a worker that decoded this turn
    /// replays all of them but the last.
    #[test]
    fn the_next_turn_repeats_all_but_the_last_message() {
        use crate::translate::messages_cache;
        use bytes::Bytes;
        let elements =
            |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap()["messages"].as_array().unwrap().len();
        messages_cache::clear();
        let (c, c_next) = (claude("m", true, "LAST"), claude_after("m", true, "LAST", TURNS + 1));
        let (o, o_next) = (openai("m", true, "LAST"), openai_after("m", true, "LAST", TURNS + 1));
        assert_eq!((elements(&c_next), elements(&o_next)), (elements(&c) + 2, elements(&o) + 3));
        let claude = |b: &[u8]| {
            crate::translate::request::decode_claude_shared(&Bytes::copy_from_slice(b), ClaudeEndpoint::Messages)
                .unwrap()
        };
        let openai = |b: &[u8]| crate::translate::request::decode_openai_shared(&Bytes::copy_from_slice(b)).unwrap();
        claude(&c);
        messages_cache::take_replayed();
        let next = claude(&c_next);
        assert_eq!(messages_cache::take_replayed(), Some(elements(&c) - 1));
        assert_eq!(next, messages_cache::without(|| decode_claude(&c_next, ClaudeEndpoint::Messages).unwrap()));
        openai(&o);
        let next = openai(&o_next);
        assert_eq!(messages_cache::take_replayed(), Some(elements(&o) - 1));
        assert_eq!(next, messages_cache::without(|| decode_openai(&o_next).unwrap()));
    }
}
