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
//!
//! Fast path (see `shape`): a frame that differs from the last text-delta frame only in the
//! delta's string is valid, changes nothing, and is forwarded as the bytes written for the last
//! one around its new string (for OpenAI the rewritten parts before and after it are kept), with
//! no parse. An OpenAI chunk that also carries running usage may differ in the integers of
//! `usage` too: they are copied between the kept parts and read into the usage; one with log
//! probabilities may differ in them (free values, copied as they come unless they hold a raw CR
//! or LF).

use super::canonical::{JsonStr, Usage, WireFormat};
use super::claude_dec::{ClaudeDecoder, DecodeError};
use super::jscan::{self, Val};
use super::out;
use super::shape::{DeltaKind, Holes, MAX_HOLES, MAX_NUMBERS, MAX_VALUES, Shape, usage_numbers};
use bytes::{BufMut, Bytes, BytesMut};
use std::ops::DerefMut;
use std::ops::Range;

/// The usage members the passthrough reads (in count-slot order: input, output).
const USAGE_KEYS: [&str; 2] = ["prompt_tokens", "completion_tokens"];

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
    /// OpenAI: the last text-delta chunk's shape, and what was written for its fixed parts
    /// (`data: `, the rewritten `model`, the line end): `out_fixed`, with each hole's content
    /// going in at `out_cuts` (the delta's string, with running usage its counts, and the free
    /// values such as `logprobs`).
    shape: Shape,
    out_fixed: Vec<u8>,
    out_cuts: [usize; MAX_HOLES],
    /// Whether the answer's first text chunk was predicted already ([`predicted_text_chunk`]):
    /// once a stream.
    predicted: bool,
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
            shape: Shape::default(),
            out_fixed: Vec::new(),
            out_cuts: [0; MAX_HOLES],
            predicted: false,
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
        if self.ended || self.fast(event, data, out) {
            return Ok(());
        }
        self.frame_full(event, data, out)
    }

    /// The fast path: `true` when the frame had the last delta frame's shape and was written.
    fn fast(&mut self, event: Option<&[u8]>, data: &Bytes, out: &mut BytesMut) -> bool {
        match self.format {
            WireFormat::OpenAi if self.shape.holes() > 1 => return self.fast_holes(data, out),
            WireFormat::OpenAi => {
                let Some(content) = self.shape.content(data) else {
                    return false;
                };
                let (before, after) = self.out_fixed.split_at(self.out_cuts[0].min(self.out_fixed.len()));
                out.reserve(before.len() + content.len() + after.len());
                out.put_slice(before);
                out.put_slice(data.get(content).unwrap_or_default());
                out.put_slice(after);
            }
            WireFormat::Claude => {
                if !self.claude.fits(event, data) {
                    return false;
                }
                out.put_slice(b"event: ");
                out.put_slice(event.unwrap_or(b"content_block_delta"));
                out.put_slice(b"\ndata: ");
                splice(out, data, None, None);
                out::sse_close(out);
            }
        }
        true
    }

    /// The fast path for a chunk with holes besides its text (running usage, log
    /// probabilities): the fixed parts as written for the learned chunk, each hole's content
    /// (the delta's string, the counts, the free values) copied between them, and the counts
    /// read into the usage. A free value holding a raw CR or LF goes the full way, which turns
    /// them into spaces (raw, they would end the SSE line).
    fn fast_holes(&mut self, data: &Bytes, out: &mut BytesMut) -> bool {
        let mut spans: [Range<usize>; MAX_HOLES] = std::array::from_fn(|_| 0..0);
        let Some(counts) = self.shape.hole_spans(data, &mut spans) else {
            return false;
        };
        let n = self.shape.holes();
        if self.shape.has_values()
            && spans
                .iter()
                .take(n)
                .any(|s| memchr::memchr2(b'\r', b'\n', data.get(s.clone()).unwrap_or_default()).is_some())
        {
            return false;
        }
        out.reserve(self.out_fixed.len() + data.len());
        let mut from = 0;
        for (span, &cut) in spans.iter().zip(self.out_cuts.iter()).take(n) {
            out.put_slice(self.out_fixed.get(from..cut).unwrap_or_default());
            out.put_slice(data.get(span.clone()).unwrap_or_default());
            from = cut;
        }
        out.put_slice(self.out_fixed.get(from..).unwrap_or_default());
        // A count that is no hole keeps the value it had when the shape was learned.
        if let (true, [prompt, completion, ..]) = (self.shape.has_counts(), counts) {
            self.usage.input_tokens = prompt;
            self.usage.output_tokens = completion;
        }
        true
    }

    /// [`Passthrough::frame`] without the fast path.
    pub(crate) fn frame_full(
        &mut self,
        event: Option<&[u8]>,
        data: &Bytes,
        out: &mut BytesMut,
    ) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        let start = out.len();
        let res = match self.format {
            WireFormat::OpenAi => self.openai(data, out),
            WireFormat::Claude => self.claude(event, data, out),
        };
        if res.is_err() {
            out.truncate(start);
        }
        res
    }

    fn openai(&mut self, data: &Bytes, out: &mut BytesMut) -> Result<(), DecodeError> {
        self.shape.forget();
        if data.trim_ascii() == b"[DONE]" {
            out.put_slice(b"data: [DONE]\n\n");
            self.ended = true;
            return Ok(());
        }
        let predicted = jscan::with_tape(|tape| -> Result<Option<Vec<u8>>, DecodeError> {
            let doc = tape.parse(data)?;
            let root = doc.root();
            let [error, choices, usage, model] = root.pick(["error", "choices", "usage", "model"]);
            if error.is_some_and(|e| !e.is_null()) {
                self.ended = true;
            }
            let usage_only = choices.is_some_and(|c| c.bytes() == b"[]");
            if let Some(u) = usage.filter(|u| !u.is_null()) {
                let [prompt, completion] = u.pick(USAGE_KEYS);
                if let Some(n) = prompt.and_then(|v| v.as_u64()) {
                    self.usage.input_tokens = n;
                }
                if let Some(n) = completion.and_then(|v| v.as_u64()) {
                    self.usage.output_tokens = n;
                }
            }
            if usage_only && !self.include_usage {
                return Ok(None);
            }
            out::data_open(out);
            splice(out, data, model.map(|m| m.bytes()), self.model.as_ref());
            out::sse_close(out);
            if self.ended {
                return Ok(None);
            }
            self.learn(data, root, model.map(|m| m.bytes()));
            if self.predicted || self.shape.is_learned() {
                return Ok(None);
            }
            self.predicted = true;
            Ok(predicted_text_chunk(data, root))
        })?;
        // The answer's opening chunk predicts its first text chunk: learned now, while the
        // upstream is still working on that text, so the first token takes the fast path
        // instead of a parse and a learn of its own (what a first token waits for).
        if let Some(chunk) = predicted {
            jscan::with_tape(|tape| {
                if let Ok(doc) = tape.parse(&chunk) {
                    let root = doc.root();
                    self.learn(&chunk, root, root.get("model").map(|m| m.bytes()));
                    if self.shape.is_learned() {
                        self.shape.spare_backoff();
                    }
                }
            });
        }
        Ok(())
    }

    /// Remembers a chunk with a non-empty text (or reasoning) delta as the fast path's shape,
    /// with what was written for the parts around its string and, when the chunk carries
    /// running usage, around the integers of `usage` (number holes: `prompt_tokens` and
    /// `completion_tokens` read into the usage, the others free), and around the objects and
    /// arrays the OpenAI decoder never reads (free values such as `logprobs`, copied as they
    /// come; `openai_dec::unread_values` leaves one holding a raw CR or LF fixed, written with
    /// spaces).
    fn learn(&mut self, data: &[u8], root: Val<'_>, model: Option<&[u8]>) {
        if self.shape.skip_learn() {
            return;
        }
        let Some(delta) = root.get("choices").and_then(|c| c.index(0)).and_then(|c| c.get("delta")) else {
            return;
        };
        let Some(text) = delta
            .pick(["content", "reasoning_content", "reasoning"])
            .into_iter()
            .flatten()
            .find_map(|v| v.str_content().filter(|t| !t.is_empty()))
        else {
            return;
        };
        let mut numbers: [(&[u8], Option<usize>); MAX_NUMBERS] = [(&[], None); MAX_NUMBERS];
        let mut n_numbers = 0;
        if let Some(u) = root.get("usage").filter(|u| u.kind() == jscan::Kind::Object) {
            n_numbers = usage_numbers(u, &u.pick(USAGE_KEYS), &mut numbers);
        }
        let numbers = numbers.get(..n_numbers).unwrap_or_default();
        let mut values: [(&[u8], u8); MAX_VALUES] = [(&[], 0); MAX_VALUES];
        let n_values = crate::translate::openai_dec::unread_values(data, root, &mut values);
        let values = values.get(..n_values).unwrap_or_default();
        // Every hole as offsets into `data`, in order; the parts between them are written now.
        let offset = |part: &[u8]| (part.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        let mut spans = [(0usize, 0usize); MAX_HOLES];
        let n = 1 + numbers.len() + values.len();
        let parts = std::iter::once(text).chain(numbers.iter().map(|&(d, _)| d)).chain(values.iter().map(|&(v, _)| v));
        for (slot, part) in spans.iter_mut().zip(parts) {
            *slot = (offset(part), offset(part).wrapping_add(part.len()));
        }
        let spans = spans.get_mut(..n).unwrap_or_default();
        spans.sort_unstable_by_key(|s| s.0);
        let within = |part: &[u8], m: &[u8]| {
            let (p, m0) = (part.as_ptr() as usize, m.as_ptr() as usize);
            m0 >= p && m0 + m.len() <= p + part.len()
        };
        self.out_fixed.clear();
        // One allocation (a first shape's buffer is empty and grew piece by piece).
        self.out_fixed.reserve(self.fixed_room(data.len()));
        out::data_open(&mut self.out_fixed);
        let mut from = 0;
        for (&(start, end), cut) in spans.iter().zip(self.out_cuts.iter_mut()) {
            let (Some(part), true) = (data.get(from..start), start <= end) else {
                return;
            };
            splice(&mut self.out_fixed, part, model.filter(|m| within(part, m)), self.model.as_ref());
            *cut = self.out_fixed.len();
            from = end;
        }
        let rest = data.get(from..).unwrap_or_default();
        splice(&mut self.out_fixed, rest, model.filter(|m| within(rest, m)), self.model.as_ref());
        out::sse_close(&mut self.out_fixed);
        // The counts a hole does not fill keep what the usage holds now (this chunk's).
        let counts = (!numbers.is_empty()).then_some([self.usage.input_tokens, self.usage.output_tokens, 0, 0]);
        self.shape.learn_with(data, text, Holes { free: &[], numbers, counts, values }, DeltaKind::Text);
    }

    /// The most bytes the fixed parts of a learned chunk of `len` bytes take: the chunk less its
    /// holes, with the client's `model` in place of the upstream's, and the SSE framing.
    fn fixed_room(&self, len: usize) -> usize {
        len + self.model.as_ref().map_or(0, |m| m.escaped().len()) + 16
    }

    fn claude(&mut self, event: Option<&[u8]>, data: &Bytes, out: &mut BytesMut) -> Result<(), DecodeError> {
        jscan::with_tape(|tape| {
            // One parse: the decoder checks the frame and tracks the end and usage on it.
            let doc = tape.parse(data)?;
            let root = doc.root();
            self.scratch.clear();
            self.claude.frame_parsed(event, data, root, &mut self.scratch)?;
            for ev in &self.scratch {
                if let super::CanonicalEvent::Usage(u) = ev {
                    self.usage = *u;
                }
            }
            self.ended = self.claude.ended();
            let name = match event {
                Some(e) => e,
                None => root.get("type").and_then(|t| t.str_content()).unwrap_or_default(),
            };
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                return Err(DecodeError("bad event name in an upstream frame".into()));
            }
            out.put_slice(b"event: ");
            out.put_slice(name);
            out.put_slice(b"\ndata: ");
            let old_model = match (&self.model, name) {
                (Some(_), b"message_start") => root.get("message").and_then(|m| m.get("model")),
                _ => None,
            };
            splice(out, data, old_model.map(|m| m.bytes()), self.model.as_ref());
            out::sse_close(out);
            Ok(())
        })
    }
}

/// The chunk an upstream like the simulator, xAI or vLLM sends after the one that opens its
/// answer: such servers open with the role and an empty text (`"delta":{"role":"assistant",
/// "content":""}`, the role alone, or OpenAI's with `"refusal":null` as well) and then send
/// every text delta in the same chunk with `"delta":{"content":"…"}` in place of that. The
/// prediction is this chunk's bytes with a compact `{"content":"x"}` as the delta; learned as a
/// shape, the first text chunk takes the fast path. A chunk that differs in any byte (another
/// delta, spaces in it, a changed member elsewhere) goes the full way as before: a prediction
/// that does not come true costs its allocation and parse and nothing else. `None` when `root`
/// (the parse of `data`) is not such an opening: one choice, no finish reason, no usage.
fn predicted_text_chunk(data: &[u8], root: Val<'_>) -> Option<Vec<u8>> {
    let [choices, usage] = root.pick(["choices", "usage"]);
    if usage.is_some_and(|u| !u.is_null()) {
        return None;
    }
    let mut choices = choices?.elements();
    let (choice, None) = (choices.next()?, choices.next()) else {
        return None;
    };
    let [delta, finish] = choice.pick(["delta", "finish_reason"]);
    if finish.is_some_and(|f| !f.is_null()) {
        return None;
    }
    let delta = delta?;
    let mut role = false;
    for (key, value) in delta.fields() {
        match (key, value.str_content()) {
            (b"role", Some(b"assistant")) => role = true,
            (b"content", Some(b"")) => {}
            (b"refusal", None) if value.is_null() => {}
            _ => return None,
        }
    }
    if !role {
        return None;
    }
    with_span_replaced(data, delta.bytes(), br#"{"content":"x"}"#)
}

/// A copy of `data` with `span` (a sub-slice of it) replaced by `with`; `None` when `span` does
/// not lie in `data`.
fn with_span_replaced(data: &[u8], span: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let start = (span.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let (before, after) = (data.get(..start)?, data.get(start.checked_add(span.len())?..)?);
    let mut out = Vec::with_capacity(before.len() + with.len() + after.len());
    out.extend_from_slice(before);
    out.extend_from_slice(with);
    out.extend_from_slice(after);
    Some(out)
}

/// Writes `data` with the span `old` (a sub-slice of it, if any) replaced by the JSON string
/// `new`. CR and LF become spaces: in validated JSON they can only be whitespace between tokens,
/// and raw they would end the SSE line (a multi-line `data:` event, or a forged line).
pub(crate) fn splice<B: BufMut + DerefMut<Target = [u8]>>(
    out: &mut B,
    data: &[u8],
    old: Option<&[u8]>,
    new: Option<&JsonStr>,
) {
    let begin = out.len();
    match (old, new) {
        (Some(old), Some(new)) => {
            let start = (old.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
            let end = start + old.len();
            out.put_slice(data.get(..start).unwrap_or_default());
            out::jstr(out, new);
            out.put_slice(data.get(end..).unwrap_or_default());
        }
        _ => out.put_slice(data),
    }
    if memchr::memchr2(b'\n', b'\r', data).is_some() {
        if let Some(written) = out.get_mut(begin..) {
            for b in written.iter_mut().filter(|b| **b == b'\n' || **b == b'\r') {
                *b = b' ';
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::shape::tests::{
        LOGPROB_VALUES, claude_frame, content, openai_frame, relog, renumber, repeated,
    };
    use proptest::prelude::*;

    /// `frame` with `{"role":"assistant","content":""}` as its first choice's delta, if it has one.
    fn opening_of(frame: &[u8]) -> Option<Vec<u8>> {
        jscan::with_tape(|tape| {
            let doc = tape.parse(frame).ok()?;
            let delta = doc.root().get("choices")?.index(0)?.get("delta")?.bytes();
            with_span_replaced(frame, delta, br#"{"role":"assistant","content":""}"#)
        })
    }

    /// Runs the same frames through the fast path and the full one: same result, same bytes,
    /// same usage and end, frame after frame.
    fn same_as_full(
        format: WireFormat,
        frames: Vec<(Option<&'static [u8]>, Vec<u8>)>,
        tweak: &[Vec<u8>],
        logs: &[usize],
        usage: bool,
    ) {
        let model = Some(JsonStr::from_static("client-model"));
        let (mut fast, mut full) =
            (Passthrough::new(format, model.clone(), usage), Passthrough::new(format, model, usage));
        // OpenAI: the answer opens with the role (its first text chunk then is predicted), in
        // the first frame's bytes with the role and an empty text as its delta.
        let opening = frames.first().filter(|_| format == WireFormat::OpenAi).and_then(|(_, first)| opening_of(first));
        let frames = opening.into_iter().map(|o| (None, o)).chain(frames);
        for (i, (event, mut data)) in frames.enumerate() {
            let event = if i % 3 == 2 { None } else { event };
            if i % 2 == 1 {
                crate::translate::test_support::retext(&mut data, &tweak[i % tweak.len()], false);
            }
            // OpenAI usage counts change on frames that are not a multiple of four (mostly to
            // integers, sometimes to what is no integer or no number).
            if format == WireFormat::OpenAi && i % 4 != 0 {
                renumber(&mut data, if i % 5 == 0 { i } else { i % 3 });
            }
            // OpenAI log probabilities change on every other frame (valid values, invalid ones,
            // and values holding raw CR LF).
            if i % 2 == 0 && !logs.is_empty() {
                relog(&mut data, logs[i % logs.len()]);
            }
            let data = Bytes::from(data);
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            let ra = fast.frame(event, &data, &mut a);
            let rb = full.frame_full(event, &data, &mut b);
            let at = format!("frame {i} {:?}", String::from_utf8_lossy(&data));
            assert_eq!(ra, rb, "{at}");
            assert_eq!(a, b, "{at}");
            assert_eq!((fast.usage(), fast.ended()), (full.usage(), full.ended()), "{at}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// A first text chunk that comes as predicted takes the fast path (when its text is a
        /// valid string) and is written as the full path writes it, whatever its text.
        #[test]
        fn a_predicted_first_chunk_is_written_as_the_full_path_writes_it(
            text in content(),
            refusal in any::<bool>(),
            include_usage in any::<bool>(),
            tail in prop::sample::select(vec!["", r#","system_fingerprint":"fp""#, r#","usage":null"#]),
        ) {
            // The text's bytes as they come (invalid UTF-8 and raw controls included).
            let chunk = |delta: &[u8]| {
                let mut v = br#"{"id":"c-1","object":"chat.completion.chunk","created":7,"model":"up","choices":[{"index":0,"delta":"#.to_vec();
                v.extend_from_slice(delta);
                v.extend_from_slice(br#","logprobs":null,"finish_reason":null}]"#);
                v.extend_from_slice(tail.as_bytes());
                v.push(b'}');
                Bytes::from(v)
            };
            let opening = chunk(if refusal { br#"{"role":"assistant","content":"","refusal":null}"# } else { br#"{"role":"assistant","content":""}"# });
            let first = chunk(&[&br#"{"content":""#[..], &text, br#""}"#].concat());
            let model = Some(JsonStr::from_static("client-model"));
            let mut fast = Passthrough::new(WireFormat::OpenAi, model.clone(), include_usage);
            let mut full = Passthrough::new(WireFormat::OpenAi, model, include_usage);
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            prop_assert!(fast.frame(None, &opening, &mut a).is_ok());
            prop_assert!(full.frame_full(None, &opening, &mut b).is_ok());
            prop_assert_eq!(&a, &b);
            a.clear();
            b.clear();
            let took_fast = fast.fast(None, &first, &mut a);
            let ra = if took_fast { Ok(()) } else { fast.frame_full(None, &first, &mut a) };
            let rb = full.frame_full(None, &first, &mut b);
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!((fast.usage(), fast.ended()), (full.usage(), full.ended()));
            let plain = !text.is_empty() && text.iter().all(|c| c.is_ascii_alphanumeric() || b" ,.".contains(c));
            prop_assert!(took_fast || !plain, "a plain text went the full way: {:?}", String::from_utf8_lossy(&text));
        }

        #[test]
        fn openai_fast_path_forwards_like_the_full_path(
            frames in repeated(openai_frame()),
            tweak in prop::collection::vec(content(), 40),
            logs in prop::collection::vec(0..LOGPROB_VALUES.len(), 40),
            usage in any::<bool>(),
        ) {
            same_as_full(WireFormat::OpenAi, frames.into_iter().map(|f| (None, f)).collect(), &tweak, &logs, usage);
        }

        #[test]
        fn claude_fast_path_forwards_like_the_full_path(
            frames in repeated(claude_frame()),
            tweak in prop::collection::vec(content(), 40),
        ) {
            same_as_full(WireFormat::Claude, frames, &tweak, &[], false);
        }
    }

    /// Running usage in every chunk keeps the fast path: the counts are copied and read.
    #[test]
    fn openai_chunks_with_running_usage_take_the_fast_path() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("mine")), true);
        let chunk = |t: &str, n: u32| {
            Bytes::from(format!(
                r#"{{"id":"c","model":"up","choices":[{{"index":0,"delta":{{"content":"{t}"}}}}],"usage":{{"prompt_tokens":7,"completion_tokens":{n},"total_tokens":{}}}}}"#,
                n + 7
            ))
        };
        let mut out = BytesMut::new();
        p.frame(None, &chunk("one", 1), &mut out).unwrap();
        assert!(p.shape.has_counts(), "the counts are holes");
        // The fixed parts were written into one reservation (a regrowth would have doubled it).
        assert_eq!(p.out_fixed.capacity(), p.fixed_room(chunk("one", 1).len()));
        out.clear();
        p.frame(None, &chunk("two", 20), &mut out).unwrap();
        assert_eq!(
            &out[..],
            br#"data: {"id":"c","model":"mine","choices":[{"index":0,"delta":{"content":"two"}}],"usage":{"prompt_tokens":7,"completion_tokens":20,"total_tokens":27}}

"#
        );
        assert_eq!((p.usage().input_tokens, p.usage().output_tokens), (7, 20));
        out.clear();
        assert!(p.fast(None, &chunk("three", 300), &mut out), "the fast path answers a chunk of this shape");
        assert_eq!(p.usage().output_tokens, 300);
        assert!(!p.fast(None, &chunk("four", 0).slice(1..), &mut out), "another shape goes the full way");
    }

    /// The chunk that opens an answer (the role, an empty text) predicts the first text chunk:
    /// that one takes the fast path and is written as the full path writes it; a prediction the
    /// upstream does not follow goes the full way and costs the next learn nothing.
    #[test]
    fn the_opening_chunk_predicts_the_first_text_chunk() {
        let chunk = |delta: &str| {
            Bytes::from(format!(
                r#"{{"id":"c-1","object":"chat.completion.chunk","created":7,"model":"up","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
            ))
        };
        let opening = chunk(r#"{"role":"assistant","content":""}"#);
        let first = chunk(r#"{"content":"Hello \"you\""}"#);
        let (mut p, mut full) = (
            Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("mine")), false),
            Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("mine")), false),
        );
        let (mut out, mut want) = (BytesMut::new(), BytesMut::new());
        assert!(p.frame(None, &opening, &mut out).is_ok());
        assert!(full.frame_full(None, &opening, &mut want).is_ok());
        assert_eq!(out, want, "the opening chunk is written as it always was");
        assert!(p.shape.is_learned(), "its prediction is learned");
        out.clear();
        want.clear();
        assert!(p.fast(None, &first, &mut out), "the first text chunk takes the fast path");
        full.frame_full(None, &first, &mut want).unwrap();
        assert_eq!(out, want);
        // The role alone predicts the same chunk.
        let mut q = Passthrough::new(WireFormat::OpenAi, None, false);
        q.frame(None, &chunk(r#"{"role":"assistant"}"#), &mut out).unwrap();
        assert!(q.fast(None, &first, &mut out));
        // An upstream that sends something else: the full way, and that chunk is learned.
        let mut r = Passthrough::new(WireFormat::OpenAi, None, false);
        r.frame(None, &opening, &mut out).unwrap();
        let other = Bytes::from_static(br#"{"id":"c-1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#);
        assert!(!r.fast(None, &other, &mut out));
        r.frame_full(None, &other, &mut out).unwrap();
        assert!(r.shape.is_learned(), "a prediction that did not come true holds no learn back");
    }

    #[test]
    fn only_an_opening_chunk_predicts() {
        let predicts = |data: &str| {
            jscan::with_tape(|tape| {
                let doc = tape.parse(data.as_bytes()).unwrap();
                predicted_text_chunk(data.as_bytes(), doc.root())
            })
        };
        let chunk = |choices: &str, rest: &str| format!(r#"{{"id":"c","choices":[{choices}]{rest}}}"#);
        let opening = r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#;
        let predicted =
            br#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}"#;
        assert_eq!(predicts(&chunk(opening, r#","usage":null"#)).as_deref(), Some(&predicted[..]));
        // OpenAI's own opening carries a null refusal.
        let openai = r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}"#;
        assert_eq!(predicts(&chunk(openai, r#","usage":null"#)).as_deref(), Some(&predicted[..]));
        for (choices, rest) in [
            (opening, r#","usage":{"prompt_tokens":1}"#),
            (&format!("{opening},{opening}")[..], ""),
            (r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}"#, ""),
            (r#"{"index":0,"delta":{"role":"assistant","content":"Hi"}}"#, ""),
            (r#"{"index":0,"delta":{"role":"assistant","content":"","tool_calls":null}}"#, ""),
            (r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":"no"}}"#, ""),
            (r#"{"index":0,"delta":{"content":""}}"#, ""),
            (r#"{"index":0,"delta":{"role":"user"}}"#, ""),
            (r#"{"index":0}"#, ""),
        ] {
            assert_eq!(predicts(&chunk(choices, rest)), None, "{choices}{rest}");
        }
    }

    /// Log probabilities in every chunk keep the fast path: copied between the fixed parts as
    /// they come; one holding a raw line break goes the full way, which writes it as spaces.
    #[test]
    fn openai_chunks_with_log_probabilities_take_the_fast_path() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("mine")), false);
        let chunk = |t: &str, lp: &str| {
            Bytes::from(format!(
                r#"{{"id":"c","model":"up","choices":[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":{lp}}}]}}"#
            ))
        };
        let mut out = BytesMut::new();
        p.frame(None, &chunk("one", r#"{"content":[{"token":"one","logprob":-0.5}]}"#), &mut out).unwrap();
        assert_eq!(p.shape.holes(), 2, "the text and the log probabilities are holes");
        out.clear();
        let lp = r#"{"content":[{"token":"two","logprob":-1.25,"bytes":[116]}]}"#;
        assert!(p.fast(None, &chunk("two", lp), &mut out), "the fast path answers a chunk of this shape");
        let want = format!(
            r#"data: {{"id":"c","model":"mine","choices":[{{"index":0,"delta":{{"content":"two"}},"logprobs":{lp}}}]}}"#
        );
        assert_eq!(String::from_utf8_lossy(&out), format!("{want}\n\n"));
        out.clear();
        assert!(!p.fast(None, &chunk("three", "{\"a\":\r\n1}"), &mut out), "a raw line break goes the full way");
        p.frame(None, &chunk("three", "{\"a\":\r\n1}"), &mut out).unwrap();
        assert!(!out[..out.len() - 2].contains(&b'\n'), "{}", String::from_utf8_lossy(&out));
        out.clear();
        assert!(!p.fast(None, &chunk("four", r#"{"a":01}"#), &mut out), "an invalid value goes the full way");
    }

    #[test]
    fn openai_text_chunks_take_the_fast_path() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("mine")), false);
        let chunk = |t: &str| {
            Bytes::from(format!(
                r#"{{"id":"c",{}"model":"up","choices":[{{"index":0,"delta":{{"content":"{t}"}}}}]}}"#,
                "\r\n"
            ))
        };
        let mut out = BytesMut::new();
        p.frame(None, &chunk("one"), &mut out).unwrap();
        assert!(p.shape.content(&chunk("two")).is_some());
        out.clear();
        p.frame(None, &chunk(r#"t\"w\"o"#), &mut out).unwrap();
        let want = r#"data: {"id":"c",  "model":"mine","choices":[{"index":0,"delta":{"content":"t\"w\"o"}}]}"#;
        assert_eq!(String::from_utf8_lossy(&out), format!("{want}\n\n"));
    }

    #[test]
    fn openai_model_is_rewritten_and_usage_chunk_dropped() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("grok-3")), false);
        let mut out = BytesMut::new();
        let chunk = Bytes::from_static(
            br#"{"id":"x","model":"grok-3-upstream","choices":[{"index":0,"delta":{"content":"hi"}}]}"#,
        );
        p.frame(None, &chunk, &mut out).unwrap();
        assert_eq!(&out[..], &b"data: {\"id\":\"x\",\"model\":\"grok-3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"[..]);
        out.clear();
        let usage = Bytes::from_static(
            br#"{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        );
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
        let f = Bytes::from_static(
            br#"{"type":"message_start","message":{"id":"m","model":"up","usage":{"input_tokens":2}}}"#,
        );
        p.frame(Some(b"message_start"), &f, &mut out).unwrap();
        let s = String::from_utf8(out.to_vec()).unwrap();
        assert!(s.starts_with("event: message_start\ndata: "));
        assert!(s.contains(r#""model":"claude-x""#));
        assert!(p.frame(Some(b"message_stop"), &Bytes::from_static(b"{not json"), &mut out).is_err());
    }

    #[test]
    fn line_breaks_in_json_whitespace_never_reach_the_client() {
        let mut p = Passthrough::new(WireFormat::OpenAi, Some(JsonStr::from_static("m")), true);
        let mut out = BytesMut::new();
        let chunk = Bytes::from_static(b"{\"model\":\r\n\"x\",\n\"choices\":[{\"delta\":{\"content\":\"a\\nb\"}}]}");
        p.frame(None, &chunk, &mut out).unwrap();
        let s = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(s.matches('\n').count(), 2, "only the frame's own line ends: {s:?}");
        assert!(!s.contains('\r'));
        let data = s.strip_prefix("data: ").unwrap().trim_end();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["choices"][0]["delta"]["content"], "a\nb");
        assert_eq!(v["model"], "m");
    }
}
