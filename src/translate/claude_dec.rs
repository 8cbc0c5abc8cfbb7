//! Anthropic Messages SSE frames -> canonical events (for Claude-format upstreams, the
//! round-trip tests and the benches). One stateful decoder per response.
//!
//! Text, thinking, signatures and tool arguments come out as zero-copy [`JsonStr`] slices of the
//! frame. `message_start` usage seeds the totals; each `message_delta` merges its usage over them
//! and emits `Usage`; `message_stop` emits `Stop` with the reason the last `message_delta` gave.
//! `ping` and `citations_delta` are skipped; blocks of types we do not model (server tools,
//! `redacted_thinking`'s data) are skipped with their deltas.

use super::canonical::{BlockKind, CanonicalEvent, ErrorKind, JsonStr, StopReason, Usage};
use super::jscan::{self, Val};
use super::shape::{DeltaKind, Shape};
use bytes::Bytes;

/// The members of an Anthropic stream event this decoder reads, in slot order.
const EVENT_KEYS: [&str; 7] = ["type", "index", "delta", "content_block", "message", "usage", "error"];
/// The members of a `content_block_delta`'s delta this decoder reads, in slot order.
const DELTA_KEYS: [&str; 5] = ["type", "text", "thinking", "signature", "partial_json"];

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad upstream frame: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

impl From<jscan::ScanError> for DecodeError {
    fn from(e: jscan::ScanError) -> Self {
        Self(e.to_string())
    }
}

/// Slices a validated string value out of `frame` (zero-copy).
pub(crate) fn jstr(frame: &Bytes, v: Option<Val<'_>>) -> Option<JsonStr> {
    let content = v?.str_content()?;
    if content.is_empty() {
        return Some(JsonStr::default());
    }
    Some(JsonStr::from_validated(frame.slice_ref(content)))
}

pub(crate) fn num(v: Option<Val<'_>>) -> Option<u64> {
    v.and_then(|r| r.as_u64())
}

fn u32_of(v: Option<Val<'_>>) -> Result<u32, DecodeError> {
    num(v).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| DecodeError("missing or bad index".into()))
}

/// The per-response decoder.
#[derive(Debug, Default)]
pub struct ClaudeDecoder {
    usage: Usage,
    stop: Option<(StopReason, Option<JsonStr>)>,
    /// Index of a block we skip (unknown type).
    skipped: Vec<u32>,
    ended: bool,
    /// The last frame's shape when it was a plain delta (the fast path, see `shape`), and
    /// whether its `type` named it (so a frame without an `event:` line is a delta too).
    shape: Shape,
    typed_delta: bool,
}

impl ClaudeDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Decodes one SSE frame (`event` name, `data`), appending events to `out`.
    pub fn frame(
        &mut self,
        event: Option<&[u8]>,
        data: &Bytes,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        if let Some(ev) = self.fast(event, data) {
            out.push(ev);
            return Ok(());
        }
        self.frame_full(event, data, out)
    }

    /// [`ClaudeDecoder::frame`] without the fast path: parse, then decode.
    pub(crate) fn frame_full(
        &mut self,
        event: Option<&[u8]>,
        data: &Bytes,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        jscan::with_tape(|tape| {
            let doc = tape.parse(data)?;
            let root = doc.root();
            self.frame_parsed(event, data, root, out)
        })
    }

    /// The delta a frame with the last delta frame's shape carries, without parsing it.
    pub(crate) fn fast(&self, event: Option<&[u8]>, data: &Bytes) -> Option<CanonicalEvent> {
        if self.named_delta(event) { self.shape.matches(data) } else { None }
    }

    /// Whether the frame has the last delta frame's shape: decoding it would give one delta
    /// and change nothing (the passthrough's fast path).
    pub(crate) fn fits(&self, event: Option<&[u8]>, data: &[u8]) -> bool {
        self.named_delta(event) && self.shape.content(data).is_some()
    }

    fn named_delta(&self, event: Option<&[u8]>) -> bool {
        match event {
            Some(e) => e == b"content_block_delta",
            None => self.typed_delta,
        }
    }

    /// [`ClaudeDecoder::frame`] for a frame already parsed (`root` is `data`'s root value).
    #[expect(clippy::too_many_lines, reason = "one arm per Anthropic event type; the table reads best in one place")]
    pub(crate) fn frame_parsed(
        &mut self,
        event: Option<&[u8]>,
        data: &Bytes,
        root: Val<'_>,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        self.shape.forget();
        let [ty_raw, index_raw, delta_raw, block_raw, message_raw, usage_raw, error_raw] = root.pick(EVENT_KEYS);
        let name = match event {
            Some(e) => e,
            None => ty_raw.and_then(|t| t.str_content()).unwrap_or_default(),
        };
        match name {
            b"message_start" => {
                let msg = message_raw.ok_or_else(|| DecodeError("message_start without message".into()))?;
                let [id, model, usage] = msg.pick(["id", "model", "usage"]);
                if let Some(u) = usage {
                    merge_usage(&mut self.usage, u);
                }
                out.push(CanonicalEvent::MessageStart {
                    id: jstr(data, id).unwrap_or_default(),
                    model: jstr(data, model).unwrap_or_default(),
                });
            }
            b"content_block_start" => {
                let index = u32_of(index_raw)?;
                let block = block_raw.ok_or_else(|| DecodeError("no content_block".into()))?;
                let [bty, text, thinking, id, name] = block.pick(["type", "text", "thinking", "id", "name"]);
                let bty = bty.and_then(|t| t.str_content()).unwrap_or_default();
                match bty {
                    b"text" => {
                        out.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Text });
                        if let Some(t) = jstr(data, text).filter(|t| !t.is_empty()) {
                            out.push(CanonicalEvent::TextDelta(t));
                        }
                    }
                    b"thinking" => {
                        out.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Thinking });
                        if let Some(t) = jstr(data, thinking).filter(|t| !t.is_empty()) {
                            out.push(CanonicalEvent::ThinkingDelta(t));
                        }
                    }
                    b"tool_use" => out.push(CanonicalEvent::ToolCallStart {
                        index,
                        id: jstr(data, id).unwrap_or_default(),
                        name: jstr(data, name).unwrap_or_default(),
                    }),
                    _ => self.skipped.push(index),
                }
            }
            b"content_block_delta" => {
                let index = u32_of(index_raw)?;
                if self.skipped.contains(&index) {
                    return Ok(());
                }
                let delta = delta_raw.ok_or_else(|| DecodeError("no delta".into()))?;
                let [dty, text, thinking, signature, partial] = delta.pick(DELTA_KEYS);
                let (kind, v, key) = match dty.and_then(|t| t.str_content()).unwrap_or_default() {
                    b"text_delta" => (DeltaKind::Text, text, "text"),
                    b"thinking_delta" => (DeltaKind::Thinking, thinking, "thinking"),
                    b"signature_delta" => (DeltaKind::Signature, signature, "signature"),
                    b"input_json_delta" => (DeltaKind::ToolArgs, partial, "partial_json"),
                    _ => return Ok(()),
                };
                let s = jstr(data, v).ok_or_else(|| DecodeError(format!("delta without {key}")))?;
                // A delta changes no state: remember the frame's shape for the fast path (unless
                // learning is backing off).
                if let Some(content) = v.and_then(|v| v.str_content()) {
                    if !self.shape.skip_learn() {
                        self.shape.learn(data, content, kind);
                        self.typed_delta = ty_raw.and_then(|t| t.str_content()) == Some(b"content_block_delta");
                    }
                }
                out.push(kind.event(s));
            }
            b"content_block_stop" => {
                let index = u32_of(index_raw)?;
                if let Some(pos) = self.skipped.iter().position(|i| *i == index) {
                    self.skipped.swap_remove(pos);
                } else {
                    out.push(CanonicalEvent::BlockStop { index });
                }
            }
            b"message_delta" => {
                if let Some(u) = usage_raw {
                    merge_usage(&mut self.usage, u);
                    out.push(CanonicalEvent::Usage(self.usage));
                }
                if let Some(d) = delta_raw {
                    let [reason, sequence] = d.pick(["stop_reason", "stop_sequence"]);
                    if let Some(r) = reason.and_then(|r| r.str_content()) {
                        let reason = StopReason::from_claude(r).unwrap_or(StopReason::EndTurn);
                        self.stop = Some((reason, jstr(data, sequence)));
                    }
                }
            }
            b"message_stop" => {
                let (reason, stop_sequence) = self.stop.take().unwrap_or((StopReason::EndTurn, None));
                out.push(CanonicalEvent::Stop { reason, stop_sequence });
                self.ended = true;
            }
            b"error" => {
                let [ty, message] = error_raw.map_or([None; 2], |e| e.pick(["type", "message"]));
                let kind = ty.and_then(|t| t.str_content()).map_or(ErrorKind::Api, ErrorKind::parse);
                let message = jstr(data, message);
                out.push(CanonicalEvent::Error {
                    kind,
                    message: message.unwrap_or_else(|| JsonStr::from_static("upstream error")),
                });
                self.ended = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// End of input: a stream cut after `message_delta` still stops with its reason.
    pub fn finish(&mut self, out: &mut Vec<CanonicalEvent>) {
        if let (false, Some((reason, stop_sequence))) = (self.ended, self.stop.take()) {
            out.push(CanonicalEvent::Stop { reason, stop_sequence });
            self.ended = true;
        }
    }
}

/// Overwrites the totals with every non-null usage field present in `u`.
fn merge_usage(total: &mut Usage, u: Val<'_>) {
    let [input, output, cache_read, cache_creation, details] = u.pick([
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens_details",
    ]);
    for (v, slot) in [
        (input, &mut total.input_tokens),
        (output, &mut total.output_tokens),
        (cache_read, &mut total.cache_read_input_tokens),
        (cache_creation, &mut total.cache_creation_input_tokens),
    ] {
        if let Some(n) = num(v) {
            *slot = n;
        }
    }
    if let Some(n) = num(details.and_then(|d| d.get("thinking_tokens"))) {
        total.reasoning_tokens = n;
    }
}
