//! Canonical events -> Anthropic Messages SSE, one stateful encoder per response.
//!
//! Output order (client-apis §1.3): `message_start`, `ping`, then per block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
//! (stop reason + cumulative usage) and `message_stop`. An `Error` becomes `event: error` and ends
//! the stream. Block indices are the encoder's own (0, 1, 2…), so a channel that numbers blocks
//! oddly still yields a valid stream; a delta of another kind than the open block closes it and
//! opens the right kind; events after the end are ignored.
//!
//! Performance: writes straight into the caller's `BytesMut`; text is copied from the canonical
//! [`JsonStr`] without re-escaping; no allocation per delta once the buffer is warm.

use super::canonical::{BlockKind, CanonicalEvent, ErrorKind, JsonStr, StopReason, Usage};
use super::out;
use bytes::{BufMut, BytesMut};

/// What the encoder is told up front.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions {
    /// The model id the client asked for; replaces the upstream's in the output.
    pub model: Option<JsonStr>,
    /// Input tokens to report in `message_start` (an estimate; the final count goes in
    /// `message_delta`).
    pub input_tokens: u64,
    /// OpenAI only: send the usage chunk before `[DONE]`.
    pub include_usage: bool,
    /// OpenAI only: the `created` timestamp (seconds); 0 means now.
    pub created: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool,
}

/// The per-response Claude SSE encoder.
#[derive(Debug)]
pub struct ClaudeSseEncoder {
    opts: EncodeOptions,
    started: bool,
    ended: bool,
    next_index: u32,
    open: Option<(u32, Open)>,
    usage: Usage,
}

impl ClaudeSseEncoder {
    pub fn new(opts: EncodeOptions) -> Self {
        Self { opts, started: false, ended: false, next_index: 0, open: None, usage: Usage::default() }
    }

    /// Whether a terminal event has been written.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Encodes one event into `out` (zero or more SSE events).
    pub fn event(&mut self, ev: &CanonicalEvent, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        match ev {
            CanonicalEvent::MessageStart { id, model } => {
                if !self.started {
                    self.message_start(id, model, out);
                }
            }
            CanonicalEvent::BlockStart { kind, .. } => {
                self.ensure_started(out);
                let want = match kind {
                    BlockKind::Text => Open::Text,
                    BlockKind::Thinking => Open::Thinking,
                };
                self.close_block(out);
                self.open_block(want, None, out);
            }
            CanonicalEvent::ToolCallStart { id, name, .. } => {
                self.ensure_started(out);
                self.close_block(out);
                self.open_block(Open::Tool, Some((id, name)), out);
            }
            CanonicalEvent::TextDelta(t) => {
                self.delta(Open::Text, br#","delta":{"type":"text_delta","text":""#, t, out);
            }
            CanonicalEvent::ThinkingDelta(t) => {
                self.delta(Open::Thinking, br#","delta":{"type":"thinking_delta","thinking":""#, t, out);
            }
            CanonicalEvent::ThinkingSignature(s) => {
                self.delta(Open::Thinking, br#","delta":{"type":"signature_delta","signature":""#, s, out);
            }
            CanonicalEvent::ToolArgsDelta(a) => {
                if matches!(self.open, Some((_, Open::Tool))) {
                    self.delta(Open::Tool, br#","delta":{"type":"input_json_delta","partial_json":""#, a, out);
                } else {
                    log::debug!("claude encoder: tool arguments with no open tool block dropped");
                }
            }
            CanonicalEvent::BlockStop { .. } => self.close_block(out),
            CanonicalEvent::Usage(u) => self.usage = *u,
            CanonicalEvent::Stop { reason, stop_sequence } => {
                self.ensure_started(out);
                self.close_block(out);
                self.message_delta(*reason, stop_sequence.as_ref(), out);
                out::sse_open(out, "message_stop");
                out.put_slice(br#"{"type":"message_stop"}"#);
                out::sse_close(out);
                self.ended = true;
            }
            CanonicalEvent::Error { kind, message } => {
                write_error(*kind, message, out);
                self.ended = true;
            }
        }
    }

    /// Called when the event source ended without a terminal event: closes the stream with an
    /// error event so the client never mistakes a cut answer for a complete one.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if !self.ended {
            self.event(&CanonicalEvent::cut_stream(), out);
        }
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if !self.started {
            let id = JsonStr::from_text(&super::new_message_id("msg_"));
            self.message_start(&id, &JsonStr::default(), out);
        }
    }

    fn message_start(&mut self, id: &JsonStr, model: &JsonStr, out: &mut BytesMut) {
        self.started = true;
        out::sse_open(out, "message_start");
        out.put_slice(br#"{"type":"message_start","message":{"id":"#);
        out::jstr(out, id);
        out.put_slice(br#","type":"message","role":"assistant","model":"#);
        out::jstr(out, self.opts.model.as_ref().unwrap_or(model));
        out.put_slice(br#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":"#);
        crate::util::decimal::push_u64(out, self.opts.input_tokens);
        out.put_slice(br#","cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}"#);
        out::sse_close(out);
        out::sse_open(out, "ping");
        out.put_slice(br#"{"type":"ping"}"#);
        out::sse_close(out);
    }

    fn open_block(&mut self, kind: Open, tool: Option<(&JsonStr, &JsonStr)>, out: &mut BytesMut) {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        out::sse_open(out, "content_block_start");
        out.put_slice(br#"{"type":"content_block_start","index":"#);
        crate::util::decimal::push_u64(out, u64::from(index));
        match (kind, tool) {
            (Open::Tool, Some((id, name))) => {
                out.put_slice(br#","content_block":{"type":"tool_use","id":"#);
                out::jstr(out, id);
                out.put_slice(br#","name":"#);
                out::jstr(out, name);
                out.put_slice(br#","input":{}}}"#);
            }
            (Open::Thinking, _) => {
                out.put_slice(br#","content_block":{"type":"thinking","thinking":"","signature":""}}"#);
            }
            _ => out.put_slice(br#","content_block":{"type":"text","text":""}}"#),
        }
        out::sse_close(out);
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        if let Some((index, _)) = self.open.take() {
            out::sse_open(out, "content_block_stop");
            out.put_slice(br#"{"type":"content_block_stop","index":"#);
            crate::util::decimal::push_u64(out, u64::from(index));
            out.put_u8(b'}');
            out::sse_close(out);
        }
    }

    /// A `content_block_delta`; `open` is its `,"delta":{"type":…,"field":"` part.
    fn delta(&mut self, kind: Open, open: &[u8], s: &JsonStr, out: &mut BytesMut) {
        const HEAD: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":";
        const TAIL: &[u8] = b"\"}}\n\n";
        self.ensure_started(out);
        match self.open {
            Some((_, k)) if k == kind => {}
            _ => {
                self.close_block(out);
                self.open_block(kind, None, out);
            }
        }
        let index = self.open.map_or(0, |(i, _)| i);
        out.reserve(HEAD.len() + 10 + open.len() + s.escaped().len() + TAIL.len());
        out.put_slice(HEAD);
        crate::util::decimal::push_u64(out, u64::from(index));
        out.put_slice(open);
        out.put_slice(s.escaped());
        out.put_slice(TAIL);
    }

    fn message_delta(&self, reason: StopReason, seq: Option<&JsonStr>, out: &mut BytesMut) {
        out::sse_open(out, "message_delta");
        out.put_slice(br#"{"type":"message_delta","delta":{"stop_reason":""#);
        out.put_slice(reason.claude().as_bytes());
        out.put_slice(br#"","stop_sequence":"#);
        match seq {
            Some(s) => out::jstr(out, s),
            None => out.put_slice(b"null"),
        }
        out.put_slice(br#"},"usage":"#);
        write_usage(&self.usage, out);
        out.put_slice(b"}");
        out::sse_close(out);
    }
}

/// `{"input_tokens":…,"cache_creation_input_tokens":…,"cache_read_input_tokens":…,"output_tokens":…}`
/// plus `output_tokens_details` when thinking tokens are known.
pub(crate) fn write_usage(u: &Usage, out: &mut BytesMut) {
    out.put_slice(br#"{"input_tokens":"#);
    crate::util::decimal::push_u64(out, u.input_tokens);
    out.put_slice(br#","cache_creation_input_tokens":"#);
    crate::util::decimal::push_u64(out, u.cache_creation_input_tokens);
    out.put_slice(br#","cache_read_input_tokens":"#);
    crate::util::decimal::push_u64(out, u.cache_read_input_tokens);
    out.put_slice(br#","output_tokens":"#);
    crate::util::decimal::push_u64(out, u.output_tokens);
    if u.reasoning_tokens > 0 {
        out.put_slice(br#","output_tokens_details":{"thinking_tokens":"#);
        crate::util::decimal::push_u64(out, u.reasoning_tokens);
        out.put_u8(b'}');
    }
    out.put_u8(b'}');
}

/// `event: error` with Anthropic's error body.
pub fn write_error(kind: ErrorKind, message: &JsonStr, out: &mut BytesMut) {
    out::sse_open(out, "error");
    out.put_slice(br#"{"type":"error","error":{"type":""#);
    out.put_slice(kind.claude().as_bytes());
    out.put_slice(br#"","message":"#);
    out::jstr(out, message);
    out.put_slice(b"}}");
    out::sse_close(out);
}
