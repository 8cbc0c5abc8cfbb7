//! Canonical events -> OpenAI Chat Completions chunks (`data: {chunk}` lines, `data: [DONE]`),
//! one stateful encoder per response.
//!
//! Every chunk carries the same `id`, `created` and `model`. The first chunk has
//! `delta.role:"assistant"`; text goes in `delta.content`, thinking in `delta.reasoning_content`
//! (signatures have no place in this format and are dropped); a tool call's first fragment has
//! `{index,id,type:"function",function:{name,arguments:""}}` and later ones only
//! `{index,function:{arguments}}`, with `index` counting tool calls from 0. `Stop` gives a chunk
//! with an empty delta and the `finish_reason`, then (with `include_usage`) a chunk with
//! `choices: []` and the usage, then `[DONE]`. With `include_usage` every other chunk carries
//! `"usage":null`.
//!
//! An `Error` after the first byte becomes one `data: {"error":{…}}` chunk and the stream closes
//! *without* `[DONE]`; the official SDKs raise an `APIError` on such a chunk.

use super::canonical::{CanonicalEvent, ErrorKind, JsonStr, StopReason, Usage};
use super::claude_enc::EncodeOptions;
use super::out;
use bytes::{BufMut, BytesMut};

/// How a chunk without a finish reason ends, after the delta object.
const TAIL: &[u8] = b",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
/// The same with `include_usage` (every chunk but the last carries `"usage":null`).
const TAIL_USAGE: &[u8] = b",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
/// How a text chunk ends: its string and delta object closed, then [`TAIL`] (one constant, so
/// the copy is inlined where a slice chosen at run time would cost a `memcpy` call).
const TEXT_CLOSE: &[u8] = b"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
/// [`TEXT_CLOSE`] with `include_usage`.
const TEXT_CLOSE_USAGE: &[u8] = b"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";

/// The per-response OpenAI chunk encoder.
#[derive(Debug)]
pub struct OpenAiSseEncoder {
    opts: EncodeOptions,
    started: bool,
    ended: bool,
    /// Index of the open tool call, if any; tool calls counted so far.
    tool_open: Option<u32>,
    tools: u32,
    usage: Usage,
    /// What every chunk starts with, built once at the start (`id`, `created` and `model` never
    /// change): `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…` then
    /// `,"choices":[{"index":0,"delta":`, the first `prefix` bytes being the part before `choices`.
    head: Vec<u8>,
    prefix: usize,
}

impl OpenAiSseEncoder {
    pub fn new(mut opts: EncodeOptions) -> Self {
        if opts.created == 0 {
            opts.created = super::unix_now();
        }
        Self {
            opts,
            started: false,
            ended: false,
            tool_open: None,
            tools: 0,
            usage: Usage::default(),
            head: Vec::new(),
            prefix: 0,
        }
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    pub fn event(&mut self, ev: &CanonicalEvent, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        match ev {
            CanonicalEvent::MessageStart { id, model } => {
                if !self.started {
                    let model = self.opts.model.clone().unwrap_or_else(|| model.clone());
                    self.start(id, &model, out);
                }
            }
            CanonicalEvent::BlockStart { .. } => {
                self.ensure_started(out);
                self.tool_open = None;
            }
            CanonicalEvent::BlockStop { .. } => self.tool_open = None,
            CanonicalEvent::TextDelta(t) => self.text_chunk::<false>(t, out),
            CanonicalEvent::ThinkingDelta(t) => self.text_chunk::<true>(t, out),
            CanonicalEvent::ThinkingSignature(_) => {}
            CanonicalEvent::ToolCallStart { id, name, .. } => {
                self.ensure_started(out);
                let index = self.tools;
                self.tools += 1;
                self.tool_open = Some(index);
                self.chunk_head(out);
                out.put_slice(br#"{"tool_calls":[{"index":"#);
                crate::util::decimal::push_u64(out, u64::from(index));
                out.put_slice(br#","id":"#);
                out::jstr(out, id);
                out.put_slice(br#","type":"function","function":{"name":"#);
                out::jstr(out, name);
                out.put_slice(br#","arguments":""}}]}"#);
                self.chunk_tail(None, out);
            }
            CanonicalEvent::ToolArgsDelta(a) => {
                let Some(index) = self.tool_open else {
                    log::debug!("openai encoder: tool arguments with no open tool call dropped");
                    return;
                };
                self.chunk_head(out);
                out.put_slice(br#"{"tool_calls":[{"index":"#);
                crate::util::decimal::push_u64(out, u64::from(index));
                out.put_slice(br#","function":{"arguments":"#);
                out::jstr(out, a);
                out.put_slice(b"}}]}");
                self.chunk_tail(None, out);
            }
            CanonicalEvent::Usage(u) => self.usage = *u,
            CanonicalEvent::Stop { reason, .. } => {
                self.ensure_started(out);
                self.chunk_head(out);
                out.put_slice(b"{}");
                self.chunk_tail(Some(*reason), out);
                if self.opts.include_usage {
                    self.usage_chunk(out);
                }
                out.put_slice(b"data: [DONE]\n\n");
                self.ended = true;
            }
            CanonicalEvent::Error { kind, message } => {
                write_error_chunk(*kind, message, out);
                self.ended = true;
            }
        }
    }

    /// The source ended without a terminal event: an error chunk, so the cut is visible.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if !self.ended {
            self.event(&CanonicalEvent::cut_stream(), out);
        }
    }

    /// A chunk whose delta is one string: `content`, or `reasoning_content` when `THINKING`.
    /// One copy per kind, so the field's opening and the close are constants there: two `memcpy`
    /// calls a chunk (the head, the text) where there were four.
    fn text_chunk<const THINKING: bool>(&mut self, t: &JsonStr, out: &mut BytesMut) {
        let open: &[u8] = if THINKING { br#"{"reasoning_content":""# } else { br#"{"content":""# };
        self.ensure_started(out);
        self.tool_open = None;
        out.reserve(self.head.len() + open.len() + t.escaped().len() + TEXT_CLOSE_USAGE.len());
        out.put_slice(&self.head);
        out.put_slice(open);
        out.put_slice(t.escaped());
        if self.opts.include_usage {
            out.put_slice(TEXT_CLOSE_USAGE);
        } else {
            out.put_slice(TEXT_CLOSE);
        }
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if !self.started {
            let id = JsonStr::from_text(&super::new_message_id("chatcmpl-"));
            let model = self.opts.model.clone().unwrap_or_default();
            self.start(&id, &model, out);
        }
    }

    /// The first chunk. `id` and `model` are copied into the chunk head, never kept: they may be
    /// slices of an upstream frame, whose read buffer must not stay pinned for the whole answer.
    fn start(&mut self, id: &JsonStr, model: &JsonStr, out: &mut BytesMut) {
        self.started = true;
        let mut head = Vec::with_capacity(128 + id.escaped().len() + model.escaped().len());
        out::data_open(&mut head);
        head.put_slice(br#"{"id":"#);
        out::jstr(&mut head, id);
        head.put_slice(br#","object":"chat.completion.chunk","created":"#);
        crate::util::decimal::push_u64(&mut head, self.opts.created);
        head.put_slice(br#","model":"#);
        out::jstr(&mut head, model);
        self.prefix = head.len();
        head.put_slice(br#","choices":[{"index":0,"delta":"#);
        self.head = head;
        self.chunk_head(out);
        out.put_slice(br#"{"role":"assistant","content":""}"#);
        self.chunk_tail(None, out);
    }

    /// Everything up to and including `"delta":`.
    fn chunk_head(&self, out: &mut BytesMut) {
        out.put_slice(&self.head);
    }

    fn chunk_tail(&self, finish: Option<StopReason>, out: &mut BytesMut) {
        let Some(r) = finish else {
            out.put_slice(if self.opts.include_usage { TAIL_USAGE } else { TAIL });
            return;
        };
        out.put_slice(br#","logprobs":null,"finish_reason":""#);
        out.put_slice(r.openai().as_bytes());
        out.put_slice(br#""}]"#);
        if self.opts.include_usage {
            out.put_slice(br#","usage":null"#);
        }
        out.put_u8(b'}');
        out::sse_close(out);
    }

    fn usage_chunk(&self, out: &mut BytesMut) {
        out.put_slice(self.head.get(..self.prefix).unwrap_or_default());
        out.put_slice(br#","choices":[],"usage":"#);
        write_usage(&self.usage, out);
        out.put_u8(b'}');
        out::sse_close(out);
    }
}

/// OpenAI `CompletionUsage`: `prompt_tokens` counts cache reads and writes too.
pub(crate) fn write_usage(u: &Usage, out: &mut BytesMut) {
    let prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    out.put_slice(br#"{"prompt_tokens":"#);
    crate::util::decimal::push_u64(out, prompt);
    out.put_slice(br#","completion_tokens":"#);
    crate::util::decimal::push_u64(out, u.output_tokens);
    out.put_slice(br#","total_tokens":"#);
    crate::util::decimal::push_u64(out, prompt + u.output_tokens);
    out.put_slice(br#","prompt_tokens_details":{"cached_tokens":"#);
    crate::util::decimal::push_u64(out, u.cache_read_input_tokens);
    out.put_slice(br#"},"completion_tokens_details":{"reasoning_tokens":"#);
    crate::util::decimal::push_u64(out, u.reasoning_tokens);
    out.put_slice(b"}}");
}

/// `data: {"error":{"message","type","param":null,"code":null}}`.
pub fn write_error_chunk(kind: ErrorKind, message: &JsonStr, out: &mut BytesMut) {
    out::data_open(out);
    out.put_slice(br#"{"error":{"message":"#);
    out::jstr(out, message);
    out.put_slice(br#","type":""#);
    out.put_slice(kind.openai().as_bytes());
    out.put_slice(br#"","param":null,"code":null}}"#);
    out::sse_close(out);
}
