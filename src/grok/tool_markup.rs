//! Tool-call emulation for the grok.com web protocol (reference B.5, "Parsing the `<tool_call>`
//! convention"): a streaming, tolerant parser that splits answer text into plain text and
//! complete tool calls.
//!
//! Key components:
//! - [`ToolMarkupParser`]: a two-state machine (text / inside a block) fed with token pieces.
//!   In text, pieces pass through as slices of the input (no copy); a trailing fragment that
//!   could start `<tool_call>` (or a stray `</tool_call>`) is held back until the next piece
//!   decides. Inside a block, bytes are buffered until `</tool_call>`, then parsed. Markup never
//!   reaches the text output, however the pieces split it (property-tested).
//! - [`parse_block`]: strict JSON first, then the reference's repairs (strip a Markdown fence;
//!   keep first `{` to last `}`; newlines to spaces; drop trailing commas; append missing `}`),
//!   then the name rules (non-empty; declared; the forced one).
//! - [`parse_all`]: the non-streaming form (remaining text joined by newlines + the calls).
//!
//! Error handling: a block that cannot be made into a call yields
//! [`MarkupEvent::Invalid`] with a [`ToolMarkupError`] saying why; the original dropped such
//! blocks silently, so the driver should log and drop them, never show them as text. A block
//! larger than `max_block` bytes is refused without buffering the rest of it.
//!
//! Tool-call ids are not minted here (the output is deterministic): use
//! [`super::ids::call_id`].

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

pub const START_TAG: &str = "<tool_call>";
pub const END_TAG: &str = "</tool_call>";
/// Largest block buffered by default.
pub const DEFAULT_MAX_BLOCK: usize = 1024 * 1024;

/// Which tool names are acceptable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    /// Declared function names; empty = any non-empty name.
    pub declared: Vec<String>,
    /// `tool_choice` forced this function.
    pub forced: Option<String>,
}

/// A complete emulated tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as a JSON text (an object serialised, or the string the model gave).
    pub arguments: String,
}

/// Why a `<tool_call>` block was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMarkupError {
    /// Not JSON even after the repairs; serde's message for the repaired text.
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
    /// No non-empty string `name`.
    MissingName,
    /// The request declared functions and this is not one of them.
    Undeclared(String),
    /// `tool_choice` forced another function.
    NotForced { name: String, forced: String },
    /// `arguments` is neither an object, a string nor absent/null.
    BadArguments(&'static str),
    /// The block grew past the size limit.
    TooLarge(usize),
}

impl fmt::Display for ToolMarkupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(e) => write!(f, "tool call block is not JSON, even after repair: {e}"),
            Self::NotAnObject => f.write_str("tool call block is not a JSON object"),
            Self::MissingName => f.write_str("tool call block has no \"name\""),
            Self::Undeclared(n) => write!(f, "tool call names {n:?}, which the request did not declare"),
            Self::NotForced { name, forced } => {
                write!(f, "tool call names {name:?} but tool_choice requires {forced:?}")
            }
            Self::BadArguments(kind) => write!(f, "tool call \"arguments\" is {kind}, not an object or a string"),
            Self::TooLarge(max) => write!(f, "tool call block is larger than {max} bytes"),
        }
    }
}

impl std::error::Error for ToolMarkupError {}

/// What the parser produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkupEvent<'s> {
    /// Plain text (never empty, never containing a tag).
    Text(&'s str),
    ToolCall(ToolCall),
    /// A block that was not a usable call (log it; never show it as text).
    Invalid(ToolMarkupError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    Inside,
    /// Inside an over-long block: discard until the end tag.
    Discard,
}

/// The streaming parser; one per response.
#[derive(Debug, Clone)]
pub struct ToolMarkupParser {
    policy: ToolPolicy,
    state: State,
    /// Text state: a held-back possible tag prefix. Discard state: a possible end-tag prefix.
    pending: String,
    /// Inside state: the block so far (may end with a partial end tag).
    block: String,
    max_block: usize,
    calls: usize,
}

impl ToolMarkupParser {
    pub fn new(policy: ToolPolicy) -> Self {
        Self::with_max_block(policy, DEFAULT_MAX_BLOCK)
    }

    pub fn with_max_block(policy: ToolPolicy, max_block: usize) -> Self {
        Self { policy, state: State::Text, pending: String::new(), block: String::new(), max_block, calls: 0 }
    }

    /// Tool calls emitted so far (the finish reason is `tool_calls` when > 0).
    pub fn calls_emitted(&self) -> usize {
        self.calls
    }

    /// Feeds one piece of answer text.
    pub fn push(&mut self, piece: &str, sink: &mut impl FnMut(MarkupEvent<'_>)) {
        if piece.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            self.run(Cow::Borrowed(piece), sink);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.push_str(piece);
            self.run(Cow::Owned(buf), sink);
        }
    }

    /// Ends the stream: held-back text is text; an unterminated block is parsed as it is.
    pub fn finish(&mut self, sink: &mut impl FnMut(MarkupEvent<'_>)) {
        let pending = std::mem::take(&mut self.pending);
        match self.state {
            State::Text => {
                if !pending.is_empty() {
                    sink(MarkupEvent::Text(&pending));
                }
            }
            State::Inside => {
                let block = std::mem::take(&mut self.block);
                self.emit_block(&block, sink);
            }
            State::Discard => {}
        }
        self.state = State::Text;
    }

    fn run(&mut self, mut cur: Cow<'_, str>, sink: &mut impl FnMut(MarkupEvent<'_>)) {
        let mut pos = 0;
        loop {
            let Some(rest) = cur.get(pos..).filter(|r| !r.is_empty()) else {
                return;
            };
            match self.state {
                State::Text => match scan_text(rest) {
                    Scan::Tag(i, is_start, len) => {
                        if let Some(t) = rest.get(..i).filter(|t| !t.is_empty()) {
                            sink(MarkupEvent::Text(t));
                        }
                        if is_start {
                            self.state = State::Inside;
                        }
                        pos += i + len;
                    }
                    Scan::Partial(i) => {
                        if let Some(t) = rest.get(..i).filter(|t| !t.is_empty()) {
                            sink(MarkupEvent::Text(t));
                        }
                        self.pending.push_str(rest.get(i..).unwrap_or_default());
                        return;
                    }
                    Scan::None => {
                        sink(MarkupEvent::Text(rest));
                        return;
                    }
                },
                State::Inside => {
                    // The end tag may straddle what was buffered and this piece.
                    let from = floor_boundary(&self.block, self.block.len().saturating_sub(END_TAG.len() - 1));
                    self.block.push_str(rest);
                    let hay = self.block.as_bytes().get(from..).unwrap_or_default();
                    if let Some(i) = memchr::memmem::find(hay, END_TAG.as_bytes()) {
                        let end = from + i;
                        let after = self.block.get(end + END_TAG.len()..).unwrap_or_default().to_owned();
                        let mut block = std::mem::take(&mut self.block);
                        block.truncate(end);
                        self.state = State::Text;
                        if block.len() > self.max_block {
                            sink(MarkupEvent::Invalid(ToolMarkupError::TooLarge(self.max_block)));
                        } else {
                            self.emit_block(&block, sink);
                        }
                        cur = Cow::Owned(after);
                        pos = 0;
                        continue;
                    }
                    // Only bytes that cannot be part of an end tag count toward the limit.
                    if self.block.len().saturating_sub(END_TAG.len() - 1) > self.max_block {
                        sink(MarkupEvent::Invalid(ToolMarkupError::TooLarge(self.max_block)));
                        let keep = super::web_text::partial_suffix(&self.block, &[END_TAG]);
                        self.pending = self.block.get(keep..).unwrap_or_default().to_owned();
                        self.block = String::new();
                        self.state = State::Discard;
                    }
                    return;
                }
                State::Discard => {
                    if let Some(i) = memchr::memmem::find(rest.as_bytes(), END_TAG.as_bytes()) {
                        self.state = State::Text;
                        pos += i + END_TAG.len();
                        continue;
                    }
                    let keep = super::web_text::partial_suffix(rest, &[END_TAG]);
                    self.pending.push_str(rest.get(keep..).unwrap_or_default());
                    return;
                }
            }
        }
    }

    fn emit_block(&mut self, block: &str, sink: &mut impl FnMut(MarkupEvent<'_>)) {
        match parse_block(block, &self.policy) {
            Ok(call) => {
                self.calls += 1;
                sink(MarkupEvent::ToolCall(call));
            }
            Err(e) => sink(MarkupEvent::Invalid(e)),
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

enum Scan {
    /// A whole tag at this offset: start (true) or stray end (false), and its length.
    Tag(usize, bool, usize),
    /// A possible tag prefix runs to the end from this offset.
    Partial(usize),
    None,
}

fn scan_text(s: &str) -> Scan {
    for i in memchr::memchr_iter(b'<', s.as_bytes()) {
        let tail = s.get(i..).unwrap_or_default();
        if tail.starts_with(START_TAG) {
            return Scan::Tag(i, true, START_TAG.len());
        }
        if tail.starts_with(END_TAG) {
            return Scan::Tag(i, false, END_TAG.len());
        }
        if (tail.len() < START_TAG.len() && START_TAG.starts_with(tail))
            || (tail.len() < END_TAG.len() && END_TAG.starts_with(tail))
        {
            return Scan::Partial(i);
        }
    }
    Scan::None
}

/// Parses one block's contents (between the tags) into a call.
pub fn parse_block(raw: &str, policy: &ToolPolicy) -> Result<ToolCall, ToolMarkupError> {
    let trimmed = raw.trim();
    let value = if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        v
    } else {
        let fixed = repair(trimmed);
        serde_json::from_str::<Value>(&fixed).map_err(|e| ToolMarkupError::NotJson(e.to_string()))?
    };
    let Value::Object(obj) = value else {
        return Err(ToolMarkupError::NotAnObject);
    };
    let name = obj.get("name").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ToolMarkupError::MissingName);
    }
    if !policy.declared.is_empty() && !policy.declared.iter().any(|d| d == name) {
        return Err(ToolMarkupError::Undeclared(name.to_owned()));
    }
    if let Some(forced) = policy.forced.as_deref().filter(|f| *f != name) {
        return Err(ToolMarkupError::NotForced { name: name.to_owned(), forced: forced.to_owned() });
    }
    let arguments = match obj.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        Some(Value::Array(_)) => return Err(ToolMarkupError::BadArguments("an array")),
        Some(Value::Bool(_)) => return Err(ToolMarkupError::BadArguments("a boolean")),
        Some(Value::Number(_)) => return Err(ToolMarkupError::BadArguments("a number")),
    };
    Ok(ToolCall { name: name.to_owned(), arguments })
}

/// The reference's repairs, in order: strip a surrounding Markdown code fence; keep from the
/// first `{` to the last `}`; newlines to spaces; drop trailing commas before `}`/`]`; append
/// the `}`s still open (counting braces outside string literals).
pub fn repair(raw: &str) -> String {
    let mut s = raw.trim();
    if let Some(after) = s.strip_prefix("```") {
        // Drop the fence line (with its optional language tag) and a closing fence.
        s = after.split_once('\n').map_or("", |(_, body)| body);
        s = s.trim_end();
        s = s.strip_suffix("```").unwrap_or(s);
    }
    if let Some(open) = s.find('{') {
        let from = s.get(open..).unwrap_or_default();
        s = match from.rfind('}') {
            Some(close) => from.get(..=close).unwrap_or(from),
            None => from,
        };
    }
    let spaced: String = s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let mut out = String::with_capacity(spaced.len() + 4);
    let mut in_str = false;
    let mut escaped = false;
    let mut depth: usize = 0;
    let chars: Vec<char> = spaced.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' => {
                let next = chars.iter().skip(i + 1).find(|c| !c.is_whitespace());
                if matches!(next, Some('}' | ']')) {
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    for _ in 0..depth {
        out.push('}');
    }
    out
}

/// The non-streaming result: text outside the blocks and the calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Text segments around the blocks, each trimmed, joined by newlines (empty ones skipped).
    pub content: String,
    pub calls: Vec<ToolCall>,
    pub invalid: Vec<ToolMarkupError>,
}

/// Finds every block in a whole answer.
pub fn parse_all(text: &str, policy: &ToolPolicy) -> Parsed {
    let mut parser = ToolMarkupParser::new(policy.clone());
    let mut out = Parsed::default();
    let mut segment = String::new();
    let mut segments: Vec<String> = Vec::new();
    {
        let mut sink = |ev: MarkupEvent<'_>| match ev {
            MarkupEvent::Text(t) => segment.push_str(t),
            MarkupEvent::ToolCall(c) => {
                segments.push(std::mem::take(&mut segment));
                out.calls.push(c);
            }
            MarkupEvent::Invalid(e) => {
                segments.push(std::mem::take(&mut segment));
                out.invalid.push(e);
            }
        };
        parser.push(text, &mut sink);
        parser.finish(&mut sink);
    }
    segments.push(segment);
    let kept: Vec<&str> = segments.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    out.content = kept.join("\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(names: &[&str]) -> ToolPolicy {
        ToolPolicy { declared: names.iter().map(|s| (*s).to_owned()).collect(), forced: None }
    }

    fn run(pieces: &[&str], policy: &ToolPolicy) -> Vec<String> {
        let mut p = ToolMarkupParser::new(policy.clone());
        let mut out: Vec<String> = Vec::new();
        let mut sink = |ev: MarkupEvent<'_>| match ev {
            MarkupEvent::Text(t) => match out.last_mut() {
                Some(last) if last.starts_with("T:") => last.push_str(t),
                _ => out.push(format!("T:{t}")),
            },
            MarkupEvent::ToolCall(c) => out.push(format!("C:{}:{}", c.name, c.arguments)),
            MarkupEvent::Invalid(e) => out.push(format!("E:{e:?}")),
        };
        for piece in pieces {
            p.push(piece, &mut sink);
        }
        p.finish(&mut sink);
        out
    }

    #[test]
    fn text_call_text() {
        let out = run(
            &["Sure. <tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call> Done."],
            &declared(&["get_weather"]),
        );
        assert_eq!(out, ["T:Sure. ", "C:get_weather:{\"city\":\"Paris\"}", "T: Done."]);
    }

    #[test]
    fn split_inside_tags_and_json() {
        let pieces =
            ["Hi <to", "ol_c", "all>{\"name\":\"f\",", "\"arguments\":\"{\\\"a\\\":1}\"}</tool", "_call", ">!"];
        assert_eq!(run(&pieces, &ToolPolicy::default()), ["T:Hi ", "C:f:{\"a\":1}", "T:!"]);
    }

    #[test]
    fn lookalikes_are_text_and_stray_end_tags_vanish() {
        assert_eq!(run(&["a <tool_cal", "x> b"], &ToolPolicy::default()), ["T:a <tool_calx> b"]);
        assert_eq!(run(&["a </tool_call> b"], &ToolPolicy::default()), ["T:a  b"]);
        assert_eq!(run(&["ends with <tool_"], &ToolPolicy::default()), ["T:ends with <tool_"]);
    }

    #[test]
    fn repairs_from_the_reference() {
        let p = ToolPolicy::default();
        let fenced = "```json\n{\"name\":\"f\",\"arguments\":{\"x\":1}}\n```";
        assert_eq!(parse_block(fenced, &p).unwrap().arguments, "{\"x\":1}");
        let comma = "{\"name\":\"f\",\"arguments\":{\"x\":[1,2,],},}";
        assert_eq!(parse_block(comma, &p).unwrap().arguments, "{\"x\":[1,2]}");
        let open = "{\"name\":\"f\",\"arguments\":{\"x\":\"{a}\"}";
        assert_eq!(parse_block(open, &p).unwrap().arguments, "{\"x\":\"{a}\"}");
        let two_open = "{\"name\":\"f\",\"arguments\":{\"x\":1";
        assert_eq!(parse_block(two_open, &p).unwrap().arguments, "{\"x\":1}");
        let noise = "call: {\"name\":\"f\",\n\"arguments\":{}} thanks";
        assert_eq!(parse_block(noise, &p).unwrap().name, "f");
        let no_args = "{\"name\":\"f\"}";
        assert_eq!(parse_block(no_args, &p).unwrap().arguments, "{}");
    }

    #[test]
    fn clear_errors() {
        let p = declared(&["f"]);
        assert!(matches!(parse_block("not json at all", &p), Err(ToolMarkupError::NotJson(_))));
        assert_eq!(parse_block("[1]", &p), Err(ToolMarkupError::NotAnObject));
        assert_eq!(parse_block("{\"arguments\":{}}", &p), Err(ToolMarkupError::MissingName));
        assert_eq!(parse_block("{\"name\":\"g\"}", &p), Err(ToolMarkupError::Undeclared("g".into())));
        assert_eq!(
            parse_block("{\"name\":\"f\",\"arguments\":[1]}", &p),
            Err(ToolMarkupError::BadArguments("an array"))
        );
        let forced = ToolPolicy { declared: vec!["f".into(), "g".into()], forced: Some("g".into()) };
        assert!(matches!(parse_block("{\"name\":\"f\"}", &forced), Err(ToolMarkupError::NotForced { .. })));
        assert!(parse_block("{\"name\":\"g\"}", &forced).is_ok());
    }

    #[test]
    fn unterminated_block_is_parsed_at_the_end() {
        let out = run(&["x <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}"], &ToolPolicy::default());
        assert_eq!(out, ["T:x ", "C:f:{\"a\":1}"]);
    }

    #[test]
    fn oversized_block_is_refused_without_leaking() {
        let mut p = ToolMarkupParser::with_max_block(ToolPolicy::default(), 16);
        let mut out = Vec::new();
        let mut sink = |ev: MarkupEvent<'_>| out.push(format!("{ev:?}"));
        p.push("a<tool_call>{\"name\":\"f\",\"arguments\":\"0123456789\"}", &mut sink);
        p.push("more</tool_", &mut sink);
        p.push("call>b", &mut sink);
        p.finish(&mut sink);
        assert_eq!(out, ["Text(\"a\")", "Invalid(TooLarge(16))", "Text(\"b\")"]);
    }

    #[test]
    fn parse_all_joins_text() {
        let text = "Let me check.\n<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\"}</tool_call>\nOK";
        let parsed = parse_all(text, &ToolPolicy::default());
        assert_eq!(parsed.content, "Let me check.\nOK");
        assert_eq!(parsed.calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }
}
