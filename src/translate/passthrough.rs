//! The fast path when the upstream already speaks the client's format: frames are forwarded
//! as they came, with only what must change rewritten.
//!
//! - OpenAI chunks: the top-level `model` becomes the id the client asked for; a usage-only
//!   chunk (`choices: []`) is dropped unless the client asked for `include_usage` (the gateway
//!   always asks the upstream for usage, for its own accounting).
//! - Claude events: `message.model` in `message_start` becomes the client's id.
//!
//! Either way the frame is checked to be valid JSON first (a malformed upstream frame ends the
//! stream with an error event instead of reaching the client), the end of the answer is tracked
//! (`[DONE]` / `message_stop` / an error) so a cut stream is reported, and usage is read for
//! accounting.

use super::canonical::{JsonStr, Usage, WireFormat};
use super::claude_dec::{ClaudeDecoder, DecodeError};
use super::jscan;
use super::out;
use bytes::{BufMut, Bytes, BytesMut};

/// Per-response passthrough state.
#[derive(Debug)]
pub struct Passthrough {
    format: WireFormat,
    model: Option<JsonStr>,
    include_usage: bool,
    ended: bool,
    usage: Usage,
    scratch: Vec<super::CanonicalEvent>,
    claude: ClaudeDecoder,
}

impl Passthrough {
    pub fn new(format: WireFormat, model: Option<JsonStr>, include_usage: bool) -> Self {
        Self {
            format,
            model,
            include_usage,
            ended: false,
            usage: Usage::default(),
            scratch: Vec::new(),
            claude: ClaudeDecoder::new(),
        }
    }

    pub fn format(&self) -> WireFormat {
        self.format
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The last usage seen.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Forwards one upstream frame into `out` (re-framed as SSE).
    pub fn frame(&mut self, event: Option<&[u8]>, data: &Bytes, out: &mut BytesMut) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        // A raw CR is a line break to SSE clients: it could split a frame or forge a line.
        if memchr::memchr(b'\r', data).is_some() {
            return Err(DecodeError("carriage return in an upstream frame".into()));
        }
        match self.format {
            WireFormat::OpenAi => self.openai(data, out),
            WireFormat::Claude => self.claude(event, data, out),
        }
    }

    fn openai(&mut self, data: &Bytes, out: &mut BytesMut) -> Result<(), DecodeError> {
        if data.trim_ascii() == b"[DONE]" {
            out.put_slice(b"data: [DONE]\n\n");
            self.ended = true;
            return Ok(());
        }
        let root = jscan::parse(data)?;
        let [error, choices, usage, model] = root.pick(["error", "choices", "usage", "model"])?;
        if error.is_some_and(|e| !e.is_null()) {
            self.ended = true;
        }
        let usage_only = choices.is_some_and(|c| c.bytes == b"[]");
        if let Some(u) = usage.filter(|u| !u.is_null()) {
            if let Some(n) = u.get("prompt_tokens")?.and_then(|v| v.as_u64()) {
                self.usage.input_tokens = n;
            }
            if let Some(n) = u.get("completion_tokens")?.and_then(|v| v.as_u64()) {
                self.usage.output_tokens = n;
            }
        }
        if usage_only && !self.include_usage {
            return Ok(());
        }
        out::data_open(out);
        match (&self.model, model) {
            (Some(model), Some(old)) => splice(out, data, old.bytes, model),
            _ => out.put_slice(data),
        }
        out::sse_close(out);
        Ok(())
    }

    fn claude(&mut self, event: Option<&[u8]>, data: &Bytes, out: &mut BytesMut) -> Result<(), DecodeError> {
        // The decoder validates the frame and tracks the end and usage.
        self.scratch.clear();
        self.claude.frame(event, data, &mut self.scratch)?;
        for ev in &self.scratch {
            if let super::CanonicalEvent::Usage(u) = ev {
                self.usage = *u;
            }
        }
        self.ended = self.claude.ended();
        let root = jscan::parse(data)?;
        let name = match event {
            Some(e) => e,
            None => root.get("type")?.and_then(|t| t.str_content()).unwrap_or_default(),
        };
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            return Err(DecodeError("bad event name in an upstream frame".into()));
        }
        out.put_slice(b"event: ");
        out.put_slice(name);
        out.put_slice(b"\ndata: ");
        let old_model = match (&self.model, name) {
            (Some(_), b"message_start") => root.get("message")?.map(|m| m.get("model")).transpose()?.flatten(),
            _ => None,
        };
        match (&self.model, old_model) {
            (Some(model), Some(old)) => splice(out, data, old.bytes, model),
            _ => out.put_slice(data),
        }
        out::sse_close(out);
        Ok(())
    }
}

/// Writes `data` with the span `old` (a sub-slice of it) replaced by the JSON string `new`.
fn splice(out: &mut BytesMut, data: &[u8], old: &[u8], new: &JsonStr) {
    let start = (old.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    let end = start + old.len();
    out.put_slice(data.get(..start).unwrap_or_default());
    out::jstr(out, new);
    out.put_slice(data.get(end..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_model_is_rewritten_and_usage_chunk_dropped() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("grok-3")), false);
        let mut out = BytesMut::new();
        let chunk = Bytes::from_static(br#"{"id":"x","model":"grok-3-upstream","choices":[{"index":0,"delta":{"content":"hi"}}]}"#);
        p.frame(None, &chunk, &mut out).unwrap();
        assert_eq!(&out[..], &b"data: {\"id\":\"x\",\"model\":\"grok-3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"[..]);
        out.clear();
        let usage = Bytes::from_static(br#"{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#);
        p.frame(None, &usage, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(p.usage().output_tokens, 4);
        p.frame(None, &Bytes::from_static(b"[DONE]"), &mut out).unwrap();
        assert!(p.ended());
        assert!(p.frame(None, &Bytes::from_static(b"{bad"), &mut out).is_ok(), "frames after the end are ignored");
    }

    #[test]
    fn claude_message_start_model_is_rewritten() {
        let mut p = Passthrough::new(WireFormat::Claude, Some(JsonStr::from_static("claude-x")), false);
        let mut out = BytesMut::new();
        let f = Bytes::from_static(br#"{"type":"message_start","message":{"id":"m","model":"up","usage":{"input_tokens":2}}}"#);
        p.frame(Some(b"message_start"), &f, &mut out).unwrap();
        let s = String::from_utf8(out.to_vec()).unwrap();
        assert!(s.starts_with("event: message_start\ndata: "));
        assert!(s.contains(r#""model":"claude-x""#));
        assert!(p.frame(Some(b"message_stop"), &Bytes::from_static(b"{not json"), &mut out).is_err());
    }
}
