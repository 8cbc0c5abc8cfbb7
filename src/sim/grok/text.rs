//! The simulator's canned content: answer tokens, thinking tokens, tool-call arguments built
//! from a JSON schema, and splitting a string into many small pieces (to exercise split-safe
//! decoders). Everything here is static text or a small, bounded computation.

use serde_json::Value;

/// The short default answer, token by token.
pub const DEFAULT_ANSWER: [&str; 10] =
    ["Hello", "!", " This", " is", " the", " grok", " simulator", " answering", " you", "."];

/// Thinking tokens for reasoning answers.
pub const THINKING: [&str; 6] = ["Let", " me", " think", " about", " this", " carefully."];

const WORDS: [&str; 16] = [
    " lorem",
    " ipsum",
    " dolor",
    " sit",
    " amet",
    " consectetur",
    " adipiscing",
    " elit",
    " sed",
    " do",
    " eiusmod",
    " tempor",
    " incididunt",
    " ut",
    " labore",
    " et",
];

/// Token `i` of an answer of `n` tokens (`n` from `sim:long` / `sim:tokens=N`).
pub fn long_token(i: usize) -> &'static str {
    if i == 0 {
        return "Token";
    }
    WORDS.get(i % WORDS.len()).copied().unwrap_or(" x")
}

/// The answer to a request whose last message is a tool result.
pub fn tool_result_answer(content: &str) -> String {
    let mut end = content.len().min(200);
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    format!("The tool returned: {}", content.get(..end).unwrap_or_default().trim())
}

/// Splits `s` into pieces of about `n` bytes, on char boundaries.
pub fn pieces(s: &str, n: usize) -> Vec<&str> {
    let n = n.max(1);
    let mut out = Vec::with_capacity(s.len() / n + 1);
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + n).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(s.get(start..end).unwrap_or_default());
        start = end;
    }
    out
}

/// Splits a text into word tokens (each with its leading space).
pub fn word_tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == ' ' && i > start {
            out.push(s.get(start..i).unwrap_or_default());
            start = i;
        }
    }
    if start < s.len() {
        out.push(s.get(start..).unwrap_or_default());
    }
    out
}

/// Arguments for a tool call, made to fit the schema's `properties` (strings `"sim-<name>"`,
/// numbers 1, booleans true, arrays/objects empty); `{"query":"simulated"}` without a schema.
pub fn args_for_schema(schema: Option<&Value>) -> String {
    let Some(props) = schema.and_then(|s| s.get("properties")).and_then(Value::as_object) else {
        return r#"{"query":"simulated"}"#.to_owned();
    };
    let mut obj = serde_json::Map::new();
    for (name, spec) in props.iter().take(32) {
        let v = match spec.get("type").and_then(Value::as_str) {
            Some("integer" | "number") => Value::from(1),
            Some("boolean") => Value::Bool(true),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(serde_json::Map::new()),
            _ => Value::String(format!("sim-{name}")),
        };
        obj.insert(name.clone(), v);
    }
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(pieces("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(pieces("héé", 1), ["h", "é", "é"]);
        assert_eq!(word_tokens("The tool returned: 22C"), ["The", " tool", " returned:", " 22C"]);
        assert_eq!(DEFAULT_ANSWER.concat(), "Hello! This is the grok simulator answering you.");
    }

    #[test]
    fn schema_args() {
        let schema: Value = serde_json::from_str(
            r#"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"}}}"#,
        )
        .unwrap();
        assert_eq!(args_for_schema(Some(&schema)), r#"{"city":"sim-city","days":1,"metric":true}"#);
        assert_eq!(args_for_schema(None), r#"{"query":"simulated"}"#);
    }
}
