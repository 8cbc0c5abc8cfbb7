//! Non-streaming answers: [`Collector`] folds a canonical event stream into one message, which
//! [`Collected::claude_json`] / [`Collected::openai_json`] write as the client's JSON body.
//!
//! Deltas are concatenated in their escaped form (concatenating valid escaped contents stays
//! valid), so text is still never unescaped. Tool arguments are the one exception: Claude wants
//! `input` as a JSON *object*, so the joined argument text is unescaped once and checked; text
//! that is not a JSON object is wrapped as `{"_raw":"…"}` rather than breaking the response.

use super::canonical::{CanonicalEvent, ErrorKind, JsonStr, StopReason, Usage};
use super::out;
use bytes::{BufMut, BytesMut};

/// One finished content block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectedBlock {
    Text(BytesMut),
    Thinking { thinking: BytesMut, signature: BytesMut },
    Tool { id: JsonStr, name: JsonStr, args: BytesMut },
}

/// A whole answer.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub id: Option<JsonStr>,
    pub model: Option<JsonStr>,
    pub blocks: Vec<CollectedBlock>,
    pub usage: Usage,
    pub stop: Option<(StopReason, Option<JsonStr>)>,
    pub error: Option<(ErrorKind, JsonStr)>,
}

/// Folds events into a [`Collected`].
#[derive(Debug, Default)]
pub struct Collector {
    pub msg: Collected,
    open: bool,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a terminal event arrived.
    pub fn done(&self) -> bool {
        self.msg.stop.is_some() || self.msg.error.is_some()
    }

    pub fn event(&mut self, ev: CanonicalEvent) {
        if self.done() {
            return;
        }
        let m = &mut self.msg;
        match ev {
            CanonicalEvent::MessageStart { id, model } => {
                m.id.get_or_insert(id);
                m.model.get_or_insert(model);
            }
            CanonicalEvent::BlockStart { kind, .. } => {
                m.blocks.push(match kind {
                    super::canonical::BlockKind::Text => CollectedBlock::Text(BytesMut::new()),
                    super::canonical::BlockKind::Thinking => {
                        CollectedBlock::Thinking { thinking: BytesMut::new(), signature: BytesMut::new() }
                    }
                });
                self.open = true;
            }
            CanonicalEvent::ToolCallStart { id, name, .. } => {
                m.blocks.push(CollectedBlock::Tool { id, name, args: BytesMut::new() });
                self.open = true;
            }
            CanonicalEvent::TextDelta(t) => {
                if !self.open || !matches!(m.blocks.last(), Some(CollectedBlock::Text(_))) {
                    m.blocks.push(CollectedBlock::Text(BytesMut::new()));
                    self.open = true;
                }
                if let Some(CollectedBlock::Text(b)) = m.blocks.last_mut() {
                    b.put_slice(t.escaped());
                }
            }
            CanonicalEvent::ThinkingDelta(t) => {
                if let Some(CollectedBlock::Thinking { thinking, .. }) = self.thinking_block() {
                    thinking.put_slice(t.escaped());
                }
            }
            CanonicalEvent::ThinkingSignature(s) => {
                if let Some(CollectedBlock::Thinking { signature, .. }) = self.thinking_block() {
                    signature.put_slice(s.escaped());
                }
            }
            CanonicalEvent::ToolArgsDelta(a) => {
                if let (true, Some(CollectedBlock::Tool { args, .. })) = (self.open, m.blocks.last_mut()) {
                    args.put_slice(a.escaped());
                }
            }
            CanonicalEvent::BlockStop { .. } => self.open = false,
            CanonicalEvent::Usage(u) => m.usage = u,
            CanonicalEvent::Stop { reason, stop_sequence } => m.stop = Some((reason, stop_sequence)),
            CanonicalEvent::Error { kind, message } => m.error = Some((kind, message)),
        }
    }

    fn thinking_block(&mut self) -> Option<&mut CollectedBlock> {
        let m = &mut self.msg;
        if !self.open || !matches!(m.blocks.last(), Some(CollectedBlock::Thinking { .. })) {
            m.blocks.push(CollectedBlock::Thinking { thinking: BytesMut::new(), signature: BytesMut::new() });
            self.open = true;
        }
        m.blocks.last_mut()
    }
}

/// The tool arguments as a JSON object text (see the module docs).
fn args_object(escaped: &[u8]) -> Vec<u8> {
    let text = JsonStr::from_validated(bytes::Bytes::copy_from_slice(escaped));
    let raw = text.unescape();
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return b"{}".to_vec();
    }
    match super::jscan::parse(trimmed.as_bytes()) {
        Ok(v) if v.kind == super::jscan::Kind::Object => trimmed.as_bytes().to_vec(),
        _ => {
            let mut o = b"{\"_raw\":\"".to_vec();
            o.extend_from_slice(escaped);
            o.extend_from_slice(b"\"}");
            o
        }
    }
}

impl Collected {
    fn id_or(&self, prefix: &str) -> JsonStr {
        self.id.clone().unwrap_or_else(|| JsonStr::from_text(&super::new_message_id(prefix)))
    }

    /// Anthropic `Message` JSON.
    pub fn claude_json(&self, model: Option<&JsonStr>, out: &mut BytesMut) {
        out.put_slice(br#"{"id":"#);
        out::jstr(out, &self.id_or("msg_"));
        out.put_slice(br#","type":"message","role":"assistant","model":"#);
        out::jstr(out, model.or(self.model.as_ref()).unwrap_or(&JsonStr::default()));
        out.put_slice(br#","content":["#);
        for (i, b) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            match b {
                CollectedBlock::Text(t) => {
                    out.put_slice(br#"{"type":"text","text":""#);
                    out.put_slice(t);
                    out.put_slice(br#""}"#);
                }
                CollectedBlock::Thinking { thinking, signature } => {
                    out.put_slice(br#"{"type":"thinking","thinking":""#);
                    out.put_slice(thinking);
                    out.put_slice(br#"","signature":""#);
                    out.put_slice(signature);
                    out.put_slice(br#""}"#);
                }
                CollectedBlock::Tool { id, name, args } => {
                    out.put_slice(br#"{"type":"tool_use","id":"#);
                    out::jstr(out, id);
                    out.put_slice(br#","name":"#);
                    out::jstr(out, name);
                    out.put_slice(br#","input":"#);
                    out.put_slice(&args_object(args));
                    out.put_u8(b'}');
                }
            }
        }
        out.put_slice(br#"],"stop_reason":"#);
        let (reason, seq) = self.stop.clone().unwrap_or((StopReason::EndTurn, None));
        out.put_u8(b'"');
        out.put_slice(reason.claude().as_bytes());
        out.put_slice(br#"","stop_sequence":"#);
        match seq {
            Some(s) => out::jstr(out, &s),
            None => out.put_slice(b"null"),
        }
        out.put_slice(br#","usage":"#);
        super::claude_enc::write_usage(&self.usage, out);
        out.put_u8(b'}');
    }

    /// OpenAI `chat.completion` JSON.
    pub fn openai_json(&self, model: Option<&JsonStr>, created: u64, out: &mut BytesMut) {
        out.put_slice(br#"{"id":"#);
        out::jstr(out, &self.id_or("chatcmpl-"));
        out.put_slice(br#","object":"chat.completion","created":"#);
        crate::util::decimal::push_u64(out, created);
        out.put_slice(br#","model":"#);
        out::jstr(out, model.or(self.model.as_ref()).unwrap_or(&JsonStr::default()));
        out.put_slice(br#","choices":[{"index":0,"message":{"role":"assistant","content":"#);
        let mut texts = self.blocks.iter().filter_map(|b| match b {
            CollectedBlock::Text(t) => Some(t),
            _ => None,
        });
        match texts.next() {
            None => out.put_slice(b"null"),
            Some(first) => {
                out.put_u8(b'"');
                out.put_slice(first);
                for t in texts {
                    out.put_slice(t);
                }
                out.put_u8(b'"');
            }
        }
        out.put_slice(br#","refusal":null"#);
        let mut thinking = self.blocks.iter().filter_map(|b| match b {
            CollectedBlock::Thinking { thinking, .. } => Some(thinking),
            _ => None,
        });
        if let Some(first) = thinking.next() {
            out.put_slice(br#","reasoning_content":""#);
            out.put_slice(first);
            for t in thinking {
                out.put_slice(t);
            }
            out.put_u8(b'"');
        }
        let mut tools = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                CollectedBlock::Tool { id, name, args } => Some((id, name, args)),
                _ => None,
            })
            .peekable();
        if tools.peek().is_some() {
            out.put_slice(br#","tool_calls":["#);
            for (i, (id, name, args)) in tools.enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(br#"{"id":"#);
                out::jstr(out, id);
                out.put_slice(br#","type":"function","function":{"name":"#);
                out::jstr(out, name);
                out.put_slice(br#","arguments":""#);
                out.put_slice(args);
                out.put_slice(br#""}}"#);
            }
            out.put_u8(b']');
        }
        out.put_slice(br#"},"logprobs":null,"finish_reason":""#);
        let reason = self.stop.as_ref().map_or(StopReason::EndTurn, |(r, _)| *r);
        out.put_slice(reason.openai().as_bytes());
        out.put_slice(br#""}],"usage":"#);
        super::openai_enc::write_usage(&self.usage, out);
        out.put_u8(b'}');
    }
}
