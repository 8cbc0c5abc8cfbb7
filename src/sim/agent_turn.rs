//! A realistic agent turn, the request shape the gateway's heaviest users send (Claude Code, or
//! an agent on the OpenAI SDK): a 12 KiB system prompt, 18 tools with JSON schemas, 12 earlier
//! turns of text, tool calls and tool results (code, escapes, non-ASCII text), and a last user
//! turn that answers the last tool call and says `last`. About 65 KiB either way.
//!
//! Used by the request bench (`benches/request.rs`) and by the load client's `--agent` mode, so
//! both measure the same body. Deterministic: the same arguments give the same bytes.

use serde_json::{Value, json};

/// Turns of history before the last user turn.
const TURNS: usize = 12;
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

/// The turn as a Claude Messages body (as Claude Code sends it).
pub fn claude(model: &str, stream: bool, last: &str) -> Value {
    let id = |turn: usize| format!("toolu_{turn:04}abcdefghijkl");
    let mut messages = Vec::new();
    for turn in 0..=TURNS {
        let text = if turn == TURNS { last.to_owned() } else { prose(if turn == 0 { 60 } else { 20 }, turn + 5) };
        let user = if turn == 0 {
            json!([{"type": "text", "text": text}])
        } else {
            json!([
                {"type": "tool_result", "tool_use_id": id(turn - 1),
                 "content": [{"type": "text", "text": prose(250, turn)}]},
                {"type": "text", "text": text}
            ])
        };
        messages.push(json!({"role": "user", "content": user}));
        if turn < TURNS {
            messages.push(json!({"role": "assistant", "content": [
                {"type": "text", "text": prose(40, turn + 9)},
                {"type": "tool_use", "id": id(turn), "name": format!("tool_{}", turn % TOOLS), "input": tool_input(turn)}
            ]}));
        }
    }
    let tools: Vec<Value> = (0..TOOLS)
        .map(|i| json!({"name": format!("tool_{i}"), "description": prose(60, i), "input_schema": schema(i)}))
        .collect();
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": prose(500, 1)},
            {"type": "text", "text": prose(1500, 2), "cache_control": {"type": "ephemeral"}}
        ],
        "messages": messages,
        "tools": tools,
        "metadata": {"user_id": "user_0123456789abcdef_account__session_0123"},
        "temperature": 1
    })
}

/// The same turn as an OpenAI Chat Completions body.
pub fn openai(model: &str, stream: bool, last: &str) -> Value {
    let id = |turn: usize| format!("call_{turn:04}abcdefghijkl");
    let mut messages = vec![json!({"role": "system", "content": prose(2000, 1)})];
    for turn in 0..=TURNS {
        let text = if turn == TURNS { last.to_owned() } else { prose(if turn == 0 { 60 } else { 20 }, turn + 5) };
        if turn > 0 {
            messages.push(json!({"role": "tool", "tool_call_id": id(turn - 1), "content": prose(250, turn)}));
        }
        messages.push(json!({"role": "user", "content": text}));
        if turn < TURNS {
            messages.push(json!({"role": "assistant", "content": prose(40, turn + 9), "tool_calls": [
                {"id": id(turn), "type": "function",
                 "function": {"name": format!("tool_{}", turn % TOOLS), "arguments": tool_input(turn).to_string()}}
            ]}));
        }
    }
    let tools: Vec<Value> = (0..TOOLS)
        .map(|i| {
            json!({"type": "function", "function":
                {"name": format!("tool_{i}"), "description": prose(60, i), "parameters": schema(i)}})
        })
        .collect();
    let mut body = json!({"model": model, "stream": stream, "max_completion_tokens": 32000,
        "messages": messages, "tools": tools, "temperature": 1});
    if let (true, Some(fields)) = (stream, body.as_object_mut()) {
        fields.insert("stream_options".to_owned(), json!({"include_usage": true}));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::request::{ClaudeEndpoint, decode_claude, decode_openai};

    #[test]
    fn both_bodies_decode_to_the_conversation_ending_in_the_last_text() {
        let mut c = serde_json::to_vec(&claude("m", true, "LAST sim:tokens=3")).unwrap();
        let mut o = serde_json::to_vec(&openai("m", true, "LAST sim:tokens=3")).unwrap();
        assert!((50_000..90_000).contains(&c.len()) && (50_000..90_000).contains(&o.len()), "{} {}", c.len(), o.len());
        let c = decode_claude(&mut c, ClaudeEndpoint::Messages).unwrap();
        let o = decode_openai(&mut o).unwrap();
        assert_eq!((c.tools.len(), o.tools.len()), (TOOLS, TOOLS));
        // OpenAI's tool messages are a user turn of their own, before the user's text.
        assert_eq!((c.messages.len(), o.messages.len()), (2 * TURNS + 1, 3 * TURNS + 1));
        let last =
            |r: &crate::translate::canonical::CanonicalRequest| format!("{:?}", r.messages.last().map(|m| &m.content));
        assert!(last(&c).contains("LAST sim:tokens=3") && last(&o).contains("LAST sim:tokens=3"));
        assert!(c.stream && o.stream && o.include_usage);
    }
}
