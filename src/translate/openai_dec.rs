//! OpenAI Chat Completions chunks -> canonical events (for OpenAI-compatible upstreams such as
//! the xAI API, the round-trip tests and the benches). One stateful decoder per response.
//!
//! The chunk format has no explicit blocks, so the decoder makes them: `delta.content` opens a
//! text block, `delta.reasoning_content` (or `reasoning`) a thinking block, a `tool_calls` entry
//! with an `id` a tool block; a different kind closes the open block. `finish_reason` closes the
//! open block and is held until `[DONE]` (or the end of input), so a trailing usage chunk still
//! comes before `Stop`. Empty strings carry nothing and are skipped. Tool-call fragments for a
//! call other than the open one (interleaved parallel calls) are refused with an error rather
//! than silently misattributed.

use super::canonical::{BlockKind, CanonicalEvent, ErrorKind, JsonStr, StopReason, Usage};
use super::claude_dec::{DecodeError, jstr, num};
use super::completion_shape;
use super::jscan::{self, Val};
use super::shape::{COUNTS, Counts, DeltaKind, Holes, MAX_FREE, MAX_NUMBERS, MAX_VALUES, Shape, usage_numbers};
use bytes::Bytes;

/// The members of a chunk this decoder reads; any other top-level string is free in a shape.
const ROOT_KEYS: [&str; 5] = ["error", "id", "model", "choices", "usage"];
/// The members of a chunk's first choice this decoder reads.
const CHOICE_KEYS: [&str; 2] = ["delta", "finish_reason"];
/// The members of a delta (or a completion's message) this decoder reads, in slot order.
const DELTA_KEYS: [&str; 4] = ["reasoning_content", "reasoning", "content", "tool_calls"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// The upstream's tool-call index.
    Tool(u64),
}

/// The per-response decoder.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    started: bool,
    ended: bool,
    next_index: u32,
    open: Option<(u32, Open)>,
    stop: Option<StopReason>,
    /// The last chunk's shape when it was a plain delta (the fast path, see `shape`).
    pub(super) shape: Shape,
}

impl OpenAiDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Decodes one `data:` payload, appending events to `out`.
    pub fn frame(&mut self, data: &Bytes, out: &mut Vec<CanonicalEvent>) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        if self.shape.has_counts() {
            if let Some((delta, counts)) = self.shape.matches_counted(data) {
                out.push(delta);
                out.push(CanonicalEvent::Usage(usage_of(counts)));
                return Ok(());
            }
        } else if let Some(delta) = self.shape.matches(data) {
            out.push(delta);
            return Ok(());
        }
        self.frame_full(data, out)
    }

    /// [`OpenAiDecoder::frame`] without the fast path.
    pub(crate) fn frame_full(&mut self, data: &Bytes, out: &mut Vec<CanonicalEvent>) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        if data.trim_ascii() == b"[DONE]" {
            self.finish(out);
            return Ok(());
        }
        let (before, n) = (self.state(), out.len());
        // Forgotten first: only a chunk that decodes (below) is learned again.
        self.shape.forget();
        jscan::with_tape(|tape| {
            let doc = tape.parse(data)?;
            let root = doc.root();
            self.frame_parsed(data, root, out)?;
            // A chunk that gave one delta (and maybe its usage) and changed no state: remember
            // its shape, while the tape is at hand.
            if self.state() == before {
                self.learn(data, root, out.get(n..).unwrap_or_default());
            }
            Ok(())
        })
    }

    /// Learns the shape of a chunk that decoded to `events` (one delta, or one delta and its
    /// usage): top-level strings this decoder never reads are free, and so are the integers of
    /// `usage`, each read one filling its count, and the objects and arrays it never reads (at
    /// the top level and in the first choice: `logprobs`) are free values.
    fn learn(&mut self, data: &[u8], root: Val<'_>, events: &[CanonicalEvent]) {
        if self.shape.skip_learn() {
            return;
        }
        let (delta, with_usage) = match events {
            [delta] => (delta, false),
            [delta, CanonicalEvent::Usage(_)] => (delta, true),
            _ => return,
        };
        let Some((kind, s)) = DeltaKind::of(delta) else {
            return;
        };
        let mut free: [&[u8]; MAX_FREE] = [&[]; MAX_FREE];
        let unread = root.fields().filter(|(k, _)| !ROOT_KEYS.iter().any(|r| r.as_bytes() == *k));
        let mut n_free = 0;
        for (slot, s) in free.iter_mut().zip(unread.filter_map(|(_, v)| v.str_content())) {
            *slot = s;
            n_free += 1;
        }
        let mut numbers: [(&[u8], Option<usize>); MAX_NUMBERS] = [(&[], None); MAX_NUMBERS];
        let mut n_numbers = 0;
        let mut learned = None;
        if with_usage {
            let Some(u) = root.get("usage") else {
                return;
            };
            let read = read_counts(u);
            learned = Some(read.map(|v| num(v).unwrap_or(0)));
            n_numbers = usage_numbers(u, &read, &mut numbers);
        }
        let holes = Holes {
            free: free.get(..n_free).unwrap_or_default(),
            numbers: numbers.get(..n_numbers).unwrap_or_default(),
            counts: learned,
            values: &[],
        };
        let mut values: [(&[u8], u8); MAX_VALUES] = [(&[], 0); MAX_VALUES];
        let n_values = unread_values(data, root, &mut values);
        let holes = Holes { values: values.get(..n_values).unwrap_or_default(), ..holes };
        self.shape.learn_with(data, s.escaped(), holes, kind);
    }

    fn state(&self) -> (bool, bool, u32, Option<(u32, Open)>, Option<StopReason>) {
        (self.started, self.ended, self.next_index, self.open, self.stop)
    }

    fn frame_parsed(&mut self, data: &Bytes, root: Val<'_>, out: &mut Vec<CanonicalEvent>) -> Result<(), DecodeError> {
        let [error, id, model, choices, usage_raw] = root.pick(ROOT_KEYS);
        if let Some(err) = error.filter(|e| !e.is_null()) {
            self.error(data, err, out);
            return Ok(());
        }
        self.start(data, id, model, "", out);
        if let Some(choice) = choices.and_then(|c| c.index(0)) {
            let [delta, finish] = choice.pick(CHOICE_KEYS);
            if let Some(delta) = delta.filter(|d| !d.is_null()) {
                self.delta(data, delta, false, out)?;
            }
            if let Some(r) = finish.and_then(|r| r.str_content()) {
                self.close(out);
                self.stop = Some(StopReason::from_openai(r).unwrap_or(StopReason::EndTurn));
            }
        }
        if let Some(u) = usage_raw.filter(|u| !u.is_null()) {
            out.push(CanonicalEvent::Usage(usage(u)));
        }
        Ok(())
    }

    /// An error object (answered in place of a chunk or a completion): the typed error; the end.
    fn error(&mut self, data: &Bytes, err: Val<'_>, out: &mut Vec<CanonicalEvent>) {
        let [ty, message] = err.pick(["type", "message"]);
        let kind = ty.and_then(|t| t.str_content()).map_or(ErrorKind::Api, ErrorKind::parse);
        let message = jstr(data, message).unwrap_or_else(|| JsonStr::from_static("upstream error"));
        out.push(CanonicalEvent::Error { kind, message });
        self.ended = true;
    }

    /// `MessageStart` from the first chunk (or the completion; `fallback_id` when it has none).
    fn start(
        &mut self,
        data: &Bytes,
        id: Option<Val<'_>>,
        model: Option<Val<'_>>,
        fallback_id: &'static str,
        out: &mut Vec<CanonicalEvent>,
    ) {
        if !self.started {
            self.started = true;
            out.push(CanonicalEvent::MessageStart {
                id: jstr(data, id).unwrap_or_else(|| JsonStr::from_static(fallback_id)),
                model: jstr(data, model).unwrap_or_default(),
            });
        }
    }

    /// A whole (non-streaming) chat completion, in one parse (none when a fresh decoder gets a
    /// completion of a shape this worker learned, see `completion_shape`; a parsed one is
    /// learned), as the events its chunks would have given: the choice's `message` read as one
    /// delta (its tool calls indexed by position), then `finish_reason` (`stop` when absent), `usage`, and the end. An error
    /// answered with 200 gives the typed error. `Err` (and no events) for a completion that is
    /// not JSON, has no choice, or whose message or a tool call is not an object.
    pub fn completion(&mut self, data: &Bytes, out: &mut Vec<CanonicalEvent>) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        // A fresh decoder and a completion of a known shape: no parse (see `completion_shape`).
        let fresh = self.state() == Self::default().state();
        if fresh {
            if let Some(m) = completion_shape::lookup(data) {
                completion_shape::events(data, &m, out);
                (self.started, self.ended, self.next_index) = (true, true, 1);
                return Ok(());
            }
        }
        let n = out.len();
        let res = jscan::with_tape(|tape| {
            let doc = tape.parse(data).map_err(|e| DecodeError(format!("the completion is not JSON: {e}")))?;
            let root = doc.root();
            self.completion_parsed(data, root, out)?;
            if fresh {
                completion_shape::learn(data, root, out.get(n..));
            }
            Ok(())
        });
        if res.is_err() {
            out.truncate(n);
        }
        res
    }

    /// [`Self::completion`] on its parse (also what `completion_shape` decodes to learn a
    /// completion the passthrough parsed).
    pub(crate) fn completion_parsed(
        &mut self,
        data: &Bytes,
        root: Val<'_>,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        let [error, id, model, choices, usage_raw] = root.pick(ROOT_KEYS);
        if let Some(err) = error.filter(|e| !e.is_null()) {
            self.error(data, err, out);
            return Ok(());
        }
        let choice =
            choices.and_then(|c| c.index(0)).ok_or_else(|| DecodeError("the completion has no choices".into()))?;
        let [message, finish] = choice.pick(["message", "finish_reason"]);
        let message = message
            .filter(|m| m.kind() == jscan::Kind::Object)
            .ok_or_else(|| DecodeError("the completion's choice has no message".into()))?;
        let calls = message.get("tool_calls").filter(|c| c.kind() == jscan::Kind::Array);
        if calls.is_some_and(|c| c.elements().any(|call| call.kind() != jscan::Kind::Object)) {
            return Err(DecodeError("a tool call that is not an object".into()));
        }
        self.start(data, id, model, completion_shape::FALLBACK_ID, out);
        self.delta(data, message, true, out)?;
        self.close(out);
        let reason = finish.and_then(|f| f.str_content()).unwrap_or(b"stop");
        self.stop = Some(StopReason::from_openai(reason).unwrap_or(StopReason::EndTurn));
        if let Some(u) = usage_raw.filter(|u| u.kind() == jscan::Kind::Object) {
            out.push(CanonicalEvent::Usage(usage(u)));
        }
        self.finish(out);
        Ok(())
    }

    /// End of input (or `[DONE]`): emits the held `Stop`. A stream that never gave a
    /// `finish_reason` emits nothing, and the encoder reports the cut.
    pub fn finish(&mut self, out: &mut Vec<CanonicalEvent>) {
        if self.ended {
            return;
        }
        if let Some(reason) = self.stop.take() {
            self.close(out);
            out.push(CanonicalEvent::Stop { reason, stop_sequence: None });
            self.ended = true;
        }
    }

    fn close(&mut self, out: &mut Vec<CanonicalEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(CanonicalEvent::BlockStop { index });
        }
    }

    fn open(&mut self, kind: Open, out: &mut Vec<CanonicalEvent>) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        index
    }

    /// One delta (a chunk's, or with `whole` a completion's message: tool calls indexed by
    /// position, a `tool_calls` that is not an array ignored).
    fn delta(
        &mut self,
        data: &Bytes,
        delta: Val<'_>,
        whole: bool,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        let [reasoning_content, reasoning_alt, content, tool_calls] = delta.pick(DELTA_KEYS);
        let reasoning = reasoning_content.or(reasoning_alt);
        if let Some(t) = jstr(data, reasoning).filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some((_, Open::Thinking))) {
                let index = self.open(Open::Thinking, out);
                out.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Thinking });
            }
            out.push(CanonicalEvent::ThinkingDelta(t));
        }
        if let Some(t) = jstr(data, content).filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some((_, Open::Text))) {
                let index = self.open(Open::Text, out);
                out.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Text });
            }
            out.push(CanonicalEvent::TextDelta(t));
        }
        if let Some(calls) = tool_calls.filter(|c| !c.is_null()) {
            if calls.kind() != jscan::Kind::Array {
                if whole {
                    return Ok(());
                }
                // What walking a non-array as an array always said.
                return Err(jscan::ScanError { at: 0, what: "unexpected byte" }.into());
            }
            for (position, call) in calls.elements().enumerate() {
                self.tool_call(data, call, whole.then_some(position as u64), out)?;
            }
        }
        Ok(())
    }

    /// One tool-call fragment; `position` (a whole message's call) replaces its `index`.
    fn tool_call(
        &mut self,
        data: &Bytes,
        call: Val<'_>,
        position: Option<u64>,
        out: &mut Vec<CanonicalEvent>,
    ) -> Result<(), DecodeError> {
        let [index, id, func] = call.pick(["index", "id", "function"]);
        let up_index = position.or_else(|| num(index)).unwrap_or(0);
        let [name, args] = func.map_or([None; 2], |f| f.pick(["name", "arguments"]));
        // A fragment with a non-empty id starts a call; so does any fragment for a call that is
        // not the open one (some upstreams send the first fragment with an empty id).
        let id = jstr(data, id);
        let is_open = self.open.map(|(_, k)| k) == Some(Open::Tool(up_index));
        let starts = match &id {
            Some(i) => !i.is_empty() || !is_open,
            None => !is_open,
        };
        if starts {
            let id = id.unwrap_or_default();
            let index = self.open(Open::Tool(up_index), out);
            out.push(CanonicalEvent::ToolCallStart { index, id, name: jstr(data, name).unwrap_or_default() });
        }
        if let Some(a) = jstr(data, args).filter(|a| !a.is_empty()) {
            if self.open.map(|(_, k)| k) != Some(Open::Tool(up_index)) {
                return Err(DecodeError(format!("arguments for tool call {up_index}, which is not the open call")));
            }
            out.push(CanonicalEvent::ToolArgsDelta(a));
        }
        Ok(())
    }
}

/// The objects and arrays of the chunk `data` (parsed as `root`) that this decoder never reads,
/// into `out` (at most [`MAX_VALUES`], in document order), each with its nesting depth: members
/// of the root besides [`ROOT_KEYS`] (depth 1) and of the first choice besides [`CHOICE_KEYS`]
/// (depth 3). Returns how many. Further choices stay part of the fixed bytes (they sit inside
/// `choices`, which is read). Left out, so they stay fixed bytes too: a value written after
/// whitespace (`"key": {…}`; a value hole starts right after the colon) and one holding a raw CR
/// or LF (legal JSON whitespace that the passthrough could not copy into an SSE line).
pub(crate) fn unread_values<'a>(data: &'a [u8], root: Val<'a>, out: &mut [(&'a [u8], u8); MAX_VALUES]) -> usize {
    let top = root.fields().filter(|(k, _)| !ROOT_KEYS.iter().any(|r| r.as_bytes() == *k)).map(|(_, v)| (v, 1));
    let first = root.get("choices").and_then(|c| c.index(0));
    let choice = first
        .into_iter()
        .flat_map(|c| c.fields())
        .filter(|(k, _)| !CHOICE_KEYS.iter().any(|r| r.as_bytes() == *k))
        .map(|(_, v)| (v, 3));
    let fits = |v: &Val<'_>| {
        let at = (v.bytes().as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        matches!(v.kind(), jscan::Kind::Object | jscan::Kind::Array)
            && at > 0
            && data.get(at - 1) == Some(&b':')
            && memchr::memchr2(b'\r', b'\n', v.bytes()).is_none()
    };
    let mut n = 0;
    for (slot, (v, depth)) in out.iter_mut().zip(top.chain(choice).filter(|(v, _)| fits(v))) {
        *slot = (v.bytes(), depth);
        n += 1;
    }
    n
}

/// The usage members this decoder reads, in count-slot order: prompt, completion, cached
/// prompt and reasoning tokens.
pub(crate) fn read_counts(u: Val<'_>) -> [Option<Val<'_>>; COUNTS] {
    let [prompt, completion, prompt_details, completion_details] =
        u.pick(["prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"]);
    [
        prompt,
        completion,
        prompt_details.and_then(|d| d.get("cached_tokens")),
        completion_details.and_then(|d| d.get("reasoning_tokens")),
    ]
}

/// OpenAI `CompletionUsage` -> canonical.
fn usage(u: Val<'_>) -> Usage {
    usage_of(read_counts(u).map(|v| num(v).unwrap_or(0)))
}

/// The counts of [`read_counts`] -> canonical usage (`input_tokens` = prompt minus cached).
pub(crate) fn usage_of([prompt, completion, cached, reasoning]: Counts) -> Usage {
    Usage {
        input_tokens: prompt.saturating_sub(cached),
        output_tokens: completion,
        cache_read_input_tokens: cached,
        cache_creation_input_tokens: 0,
        reasoning_tokens: reasoning,
    }
}
