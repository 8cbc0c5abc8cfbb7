//! The per-response re-framing pipeline: upstream items in, client bytes out.
//!
//! - Frames already in the client's format go through [`Passthrough`] (only `model` rewritten).
//! - Frames in the other format are decoded to canonical events and encoded for the client.
//! - Canonical events are encoded for the client.
//!
//! Output accumulates in one `BytesMut`, reserved per item; [`Pipeline::take`] splits off what is
//! ready as a `Bytes` for the SSE channel (no copy). After a terminal event nothing more is
//! written.

use crate::channel::{AttemptError, StreamItem};
use crate::translate::canonical::{CUT_STREAM_MESSAGE, CanonicalEvent, ErrorKind, JsonStr, Usage, WireFormat};
use crate::translate::passthrough::Passthrough;
use crate::translate::{DecodeError, EncodeOptions, StreamDecoder, StreamEncoder, claude_enc, openai_enc};
use bytes::{Bytes, BytesMut};

/// Turns upstream items into canonical events, decoding frames when needed.
#[derive(Debug, Default)]
pub struct Canonicalizer {
    decoder: Option<(WireFormat, StreamDecoder)>,
    scratch: Vec<CanonicalEvent>,
}

impl Canonicalizer {
    /// Feeds one item; calls `f` for each resulting event. A malformed frame becomes an `Error`.
    pub fn item(&mut self, item: StreamItem, mut f: impl FnMut(&CanonicalEvent)) {
        match item {
            StreamItem::Event(ev) => f(&ev),
            StreamItem::Whole { format, body } => self.decode(format, &mut f, |dec, out| dec.whole(&body, out)),
            StreamItem::Frame { format, event, data } => {
                self.decode(format, &mut f, |dec, out| dec.frame(event.as_deref(), &data, out));
            }
        }
    }

    /// Runs `step` on this response's decoder and hands its events to `f`.
    fn decode(
        &mut self,
        format: WireFormat,
        f: &mut impl FnMut(&CanonicalEvent),
        step: impl FnOnce(&mut StreamDecoder, &mut Vec<CanonicalEvent>) -> Result<(), DecodeError>,
    ) {
        let (_, dec) = self.decoder.get_or_insert_with(|| (format, StreamDecoder::new(format)));
        self.scratch.clear();
        let res = step(dec, &mut self.scratch);
        for ev in &self.scratch {
            f(ev);
        }
        // The events hold slices of the upstream's read buffer: let it go now, not at the
        // next frame, so the reader can reuse it instead of allocating another.
        self.scratch.clear();
        if let Err(e) = res {
            log::warn!("upstream frame could not be decoded: {e}");
            f(&CanonicalEvent::Error { kind: ErrorKind::Api, message: JsonStr::from_text(&e.to_string()) });
        }
    }

    /// End of the upstream stream (a decoder may still hold a `Stop`).
    pub fn finish(&mut self, mut f: impl FnMut(&CanonicalEvent)) {
        if let Some((_, dec)) = &mut self.decoder {
            self.scratch.clear();
            dec.finish(&mut self.scratch);
            for ev in &self.scratch {
                f(ev);
            }
        }
    }
}

#[derive(Debug)]
enum Mode {
    /// Not decided until the first item shows what the upstream speaks.
    Pending,
    Encode(Canonicalizer, StreamEncoder),
    Pass(Passthrough),
}

/// One streaming response.
#[derive(Debug)]
pub struct Pipeline {
    format: WireFormat,
    opts: EncodeOptions,
    mode: Mode,
    out: BytesMut,
    ended: bool,
    /// The last usage and the in-stream error seen in encode mode (for account accounting).
    usage: Usage,
    error: Option<(ErrorKind, String)>,
}

impl Pipeline {
    pub fn new(format: WireFormat, opts: EncodeOptions) -> Self {
        Self {
            format,
            opts,
            mode: Mode::Pending,
            out: BytesMut::new(),
            ended: false,
            usage: Usage::default(),
            error: None,
        }
    }

    /// The upstream's last reported usage.
    pub fn usage(&self) -> Usage {
        match &self.mode {
            Mode::Pass(p) => p.usage(),
            Mode::Encode(..) | Mode::Pending => self.usage,
        }
    }

    /// The in-stream error event the upstream sent, if any (encode mode).
    pub fn error(&self) -> Option<(ErrorKind, String)> {
        self.error.clone()
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether frames are being forwarded as they came.
    pub fn is_passthrough(&self) -> bool {
        matches!(self.mode, Mode::Pass(_))
    }

    fn decide(&mut self, item: &StreamItem) {
        if !matches!(self.mode, Mode::Pending) {
            return;
        }
        self.mode = match item {
            StreamItem::Frame { format, .. } if *format == self.format => {
                Mode::Pass(Passthrough::new(self.format, self.opts.model.clone(), self.opts.include_usage))
            }
            _ => Mode::Encode(Canonicalizer::default(), StreamEncoder::new(self.format, self.opts.clone())),
        };
    }

    /// Re-frames one upstream item into the output buffer.
    pub fn item(&mut self, item: StreamItem) {
        if self.ended {
            return;
        }
        let first = matches!(self.mode, Mode::Pending);
        self.decide(&item);
        // One allocation for the item's whole output, made before the first write: the buffer
        // is empty after every `take`, and the encoders write a frame in several pieces, so
        // without it each piece regrew the buffer (a copy and a reallocation each). Only a
        // re-framed stream's first item writes an opening of its own.
        let opening = first && matches!(self.mode, Mode::Encode(..));
        self.out.reserve(output_room(&item, opening));
        let out = &mut self.out;
        match &mut self.mode {
            Mode::Pass(p) => {
                let res = match &item {
                    StreamItem::Frame { event, data, .. } => p.frame(event.as_deref(), data, out),
                    StreamItem::Event(_) | StreamItem::Whole { .. } => Ok(()),
                };
                if let Err(e) = res {
                    log::warn!("upstream frame rejected in passthrough: {e}");
                    write_error(self.format, ErrorKind::Api, &JsonStr::from_text(&e.to_string()), out);
                    self.ended = true;
                    return;
                }
                self.ended = p.ended();
            }
            Mode::Encode(canon, enc) => {
                let (usage, error) = (&mut self.usage, &mut self.error);
                canon.item(item, |ev| {
                    match ev {
                        CanonicalEvent::Usage(u) => *usage = *u,
                        CanonicalEvent::Error { kind, message } => {
                            *error = Some((*kind, message.unescape().into_owned()));
                        }
                        _ => {}
                    }
                    enc.event(ev, out);
                });
                self.ended = enc.ended();
            }
            Mode::Pending => {}
        }
    }

    /// An upstream failure after the first byte: an in-stream error event.
    pub fn upstream_error(&mut self, e: &AttemptError) {
        if self.ended {
            return;
        }
        let kind = super::answer::for_class(e.class).kind;
        write_error(self.format, kind, &JsonStr::from_text(&e.message), &mut self.out);
        self.ended = true;
    }

    /// The upstream closed: flush what a decoder held, and report a cut answer.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        let out = &mut self.out;
        match &mut self.mode {
            Mode::Encode(canon, enc) => {
                canon.finish(|ev| enc.event(ev, out));
                enc.finish(out);
            }
            Mode::Pass(_) | Mode::Pending => {
                let msg = JsonStr::from_static(CUT_STREAM_MESSAGE);
                write_error(self.format, ErrorKind::Api, &msg, out);
            }
        }
        self.ended = true;
    }

    /// The bytes ready to send (empty when there are none).
    pub fn take(&mut self) -> Bytes {
        self.out.split().freeze()
    }
}

/// Room for the output of one item beyond its input's length: an OpenAI chunk re-framed for a
/// Claude client comes out shorter, a short Claude delta becomes a whole OpenAI chunk (about
/// 150 bytes more with a long model id). The first item gets more: it also carries the
/// stream's opening (Claude's `message_start` and the first block's start). A rarer item that
/// writes more (a stream's end with its usage) regrows the buffer as it goes.
const ITEM_ROOM: usize = 256;
const FIRST_ITEM_ROOM: usize = 512;

/// The bytes to reserve before an item's output is written (`opening`: it also opens a
/// re-framed answer).
fn output_room(item: &StreamItem, opening: bool) -> usize {
    let input = match item {
        StreamItem::Frame { data, .. } => data.len(),
        StreamItem::Whole { body, .. } => body.len(),
        StreamItem::Event(_) => 0,
    };
    input + if opening { FIRST_ITEM_ROOM } else { ITEM_ROOM }
}

/// An in-stream error in the client's format.
pub fn write_error(format: WireFormat, kind: ErrorKind, message: &JsonStr, out: &mut BytesMut) {
    match format {
        WireFormat::Claude => claude_enc::write_error(kind, message, out),
        WireFormat::OpenAi => openai_enc::write_error_chunk(kind, message, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI_FIRST: &str = r#"{"id":"chatcmpl-7d1f0c2a9b","object":"chat.completion.chunk","created":1796684149,"model":"grok-4-fast-non-reasoning","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
    const OPENAI_TEXT: &str = r#"{"id":"chatcmpl-7d1f0c2a9b","object":"chat.completion.chunk","created":1796684149,"model":"grok-4-fast-non-reasoning","system_fingerprint":"fp_sim","choices":[{"index":0,"delta":{"content":" ipsum"},"finish_reason":null}]}"#;
    const CLAUDE_FIRST: &str = r#"{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#;
    const CLAUDE_TEXT: &str = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;

    fn frame(format: WireFormat, event: Option<&'static str>, data: &'static str) -> StreamItem {
        StreamItem::Frame {
            format,
            event: event.map(|e| Bytes::from_static(e.as_bytes())),
            data: Bytes::from_static(data.as_bytes()),
        }
    }

    fn options() -> EncodeOptions {
        EncodeOptions {
            model: Some(JsonStr::from_static("a-client-model-with-a-long-name-2025-09-29")),
            input_tokens: 12,
            include_usage: true,
            created: 0,
        }
    }

    /// Feeds `items` to a new pipeline for a `client`; returns each item's output length and its
    /// reservation, and asserts the first item's buffer never grew past what was reserved.
    fn outputs(client: WireFormat, items: Vec<StreamItem>) -> Vec<(usize, usize)> {
        let mut p = Pipeline::new(client, options());
        let mut seen = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let reframed = matches!(&item, StreamItem::Frame { format, .. } if *format != client);
            let room = output_room(&item, i == 0 && reframed);
            p.item(item);
            if i == 0 {
                // A new buffer reserved once holds exactly the reservation unless it regrew.
                assert_eq!(p.out.capacity(), room, "the first item's output regrew its buffer");
            }
            seen.push((p.take().len(), room));
        }
        seen
    }

    #[test]
    fn a_stream_opening_and_its_text_deltas_fit_their_reservation() {
        let streams = [
            // OpenAI upstream, Claude client: the first chunk opens the message (`message_start`
            // and, with the text, the first block).
            (WireFormat::Claude, WireFormat::OpenAi, None, OPENAI_FIRST, None, OPENAI_TEXT),
            // OpenAI upstream and client: passed through with `model` rewritten.
            (WireFormat::OpenAi, WireFormat::OpenAi, None, OPENAI_FIRST, None, OPENAI_TEXT),
            // Claude upstream, OpenAI client: a short Claude delta becomes a whole OpenAI chunk.
            (
                WireFormat::OpenAi,
                WireFormat::Claude,
                Some("message_start"),
                CLAUDE_FIRST,
                Some("content_block_delta"),
                CLAUDE_TEXT,
            ),
        ];
        for (client, upstream, first_event, first, text_event, text) in streams {
            let mut items = vec![frame(upstream, first_event, first)];
            if upstream == WireFormat::Claude {
                let start = r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#;
                items.push(frame(upstream, Some("content_block_start"), start));
            }
            items.extend((0..4).map(|_| frame(upstream, text_event, text)));
            let seen = outputs(client, items);
            assert!(seen.iter().skip(1).any(|(len, _)| *len > 0), "{client:?} from {upstream:?}: no text written");
            for (i, (len, room)) in seen.into_iter().enumerate() {
                assert!(len <= room, "{client:?} from {upstream:?}, item {i}: {len} bytes written, {room} reserved");
            }
        }
    }
}
