//! The per-response re-framing pipeline: upstream items in, client bytes out.
//!
//! - Frames already in the client's format go through [`Passthrough`] (only `model` rewritten).
//! - Frames in the other format are decoded to canonical events and encoded for the client.
//! - Canonical events are encoded for the client.
//!
//! Output accumulates in one reused `BytesMut`; [`Pipeline::take`] splits off what is ready as a
//! `Bytes` for the SSE channel (no copy). After a terminal event nothing more is written.

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
        self.decide(&item);
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

/// An in-stream error in the client's format.
pub fn write_error(format: WireFormat, kind: ErrorKind, message: &JsonStr, out: &mut BytesMut) {
    match format {
        WireFormat::Claude => claude_enc::write_error(kind, message, out),
        WireFormat::OpenAi => openai_enc::write_error_chunk(kind, message, out),
    }
}
