//! The shape of the last frame, when it was a plain delta: the fast path of the stream decoders.
//!
//! A streamed answer is mostly frames that differ from the one before only in the text of the
//! delta, e.g. `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"…"}}`
//! or an OpenAI chunk whose `id`, `created`, `model` and every other field repeat. When a frame was
//! decoded in full into exactly one delta event and left the decoder's state as it was, its bytes
//! before and after that delta's string are remembered. A later frame that starts and ends with
//! exactly those bytes, with valid non-empty string content between them, is the same JSON
//! document with another string in that one place: it is valid, it has the same structure, and
//! decoding it in full would give the same kind of delta with the new text and again leave the
//! state as it was. So it is answered with a `memcmp` of the two ends and a check of the new
//! string, never a parse. Any frame that does not match is decoded in full, which learns or
//! forgets the shape.
//!
//! A decoder may also name free strings: values of members it never reads (OpenAI's
//! `obfuscation` padding changes length from chunk to chunk). Their content may differ too, as
//! long as it is a valid string: the document keeps its structure and decodes to the same
//! events. The passthrough, which copies the frame's bytes, learns no free strings.
//!
//! Free values go one step further: a whole object or array that the decoder never reads
//! (OpenAI's `logprobs`, different in every chunk of a stream that asked for them) may be any
//! valid JSON value in a later frame. The walk validates it with the scanner but records
//! nothing; since a JSON value is self-delimiting, the bytes after it must again be the learned
//! ones, so the document's structure outside it is the learned one.

use super::canonical::{CanonicalEvent, JsonStr};
use super::jscan::{self, Val};
use bytes::Bytes;
use std::ops::Range;

/// Which delta event a shape produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaKind {
    Text,
    Thinking,
    Signature,
    ToolArgs,
}

impl DeltaKind {
    /// The kind of a delta event (`None` for any other event).
    pub(crate) fn of(ev: &CanonicalEvent) -> Option<(Self, &JsonStr)> {
        match ev {
            CanonicalEvent::TextDelta(s) => Some((Self::Text, s)),
            CanonicalEvent::ThinkingDelta(s) => Some((Self::Thinking, s)),
            CanonicalEvent::ThinkingSignature(s) => Some((Self::Signature, s)),
            CanonicalEvent::ToolArgsDelta(s) => Some((Self::ToolArgs, s)),
            _ => None,
        }
    }

    pub(crate) fn event(self, s: JsonStr) -> CanonicalEvent {
        match self {
            Self::Text => CanonicalEvent::TextDelta(s),
            Self::Thinking => CanonicalEvent::ThinkingDelta(s),
            Self::Signature => CanonicalEvent::ThinkingSignature(s),
            Self::ToolArgs => CanonicalEvent::ToolArgsDelta(s),
        }
    }
}

/// Most free strings a shape has (members the decoder never reads).
pub(crate) const MAX_FREE: usize = 2;
/// Most number holes a shape has (the usage counts a chunk may carry).
pub(crate) const MAX_NUMBERS: usize = 6;
/// Most free values a shape has (whole values of members the decoder never reads).
pub(crate) const MAX_VALUES: usize = 2;
/// Most holes a shape has: the delta's string, the free strings, the numbers, the free values.
pub(crate) const MAX_HOLES: usize = 1 + MAX_FREE + MAX_NUMBERS + MAX_VALUES;
/// How many counts a shape can read out of its number holes.
pub(crate) const COUNTS: usize = 4;
/// Counts a frame carries besides its delta (the OpenAI decoder's usage numbers), by slot.
pub(crate) type Counts = [u64; COUNTS];

/// What a frame's bytes may hold differently in a frame of the same shape, besides the delta's
/// string content: all sub-slices of the frame.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Holes<'a> {
    /// String contents whose members the decoder never reads.
    pub free: &'a [&'a [u8]],
    /// Non-negative integers (their digits), each with the count slot it fills (`None`: a
    /// number the decoder never reads).
    pub numbers: &'a [(&'a [u8], Option<usize>)],
    /// The counts the frame gave (`Some`: decoding it gave a second event made of counts); a
    /// slot whose number is not a hole keeps its value here.
    pub counts: Option<Counts>,
    /// Whole JSON values (objects, arrays) of members the decoder never reads, each with its
    /// nesting depth in the document (a member of the root: 1), so the walk applies the
    /// document's nesting limit.
    pub values: &'a [(&'a [u8], u8)],
}

/// What one hole in a shape is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// The delta's string content.
    #[default]
    Delta,
    /// A string content the decoder never reads.
    Free,
    /// A non-negative integer: the count slot it fills, or `None` when never read.
    Number(Option<u8>),
    /// Any JSON value the decoder never reads, at this nesting depth.
    Value(u8),
}

/// The remembered shape (none until a delta frame was decoded in full).
#[derive(Debug, Default)]
pub(crate) struct Shape {
    /// The frame with the content of each hole cut out: every string hole sits just after an
    /// opening quote and just before a closing one, every number hole between two non-digits,
    /// every free value just after a member's colon (the walk validates it at its depth).
    bytes: Vec<u8>,
    /// Where each hole is in `bytes`, ascending, and what it holds.
    holes: [(u32, Hole); MAX_HOLES],
    /// How many holes (0: no shape).
    n: u8,
    kind: Option<DeltaKind>,
    /// The counts of the learned frame, when it carried some.
    counts: Option<Counts>,
}

impl Shape {
    pub(crate) fn forget(&mut self) {
        self.kind = None;
    }

    /// Remembers `data` as the shape of a delta of `kind` whose escaped content is `content`, a
    /// non-empty sub-slice of `data`. Anything else forgets the shape.
    pub(crate) fn learn(&mut self, data: &[u8], content: &[u8], kind: DeltaKind) {
        self.learn_with(data, content, Holes::default(), kind);
    }

    /// [`Shape::learn`], with `holes`: strings whose members the decoder never reads, so their
    /// value cannot change what the frame decodes to (OpenAI's `obfuscation` padding, say), and
    /// integers that are either never read or read only into counts (running usage). A free
    /// string may be empty; a shape with holes besides the delta answers [`Shape::matches`],
    /// never [`Shape::content`].
    pub(crate) fn learn_with(&mut self, data: &[u8], content: &[u8], holes: Holes<'_>, kind: DeltaKind) {
        self.kind = None;
        if content.is_empty()
            || holes.free.len() > MAX_FREE
            || holes.numbers.len() > MAX_NUMBERS
            || holes.values.len() > MAX_VALUES
            || holes.numbers.iter().any(|&(_, slot)| slot.is_some_and(|s| s >= COUNTS || holes.counts.is_none()))
            || u32::try_from(data.len()).is_err()
        {
            return;
        }
        // (start, end, what) of every hole, as offsets into `data`.
        let mut spans = [(0usize, 0usize, Hole::Delta); MAX_HOLES];
        let n = 1 + holes.free.len() + holes.numbers.len() + holes.values.len();
        let all = std::iter::once((content, Hole::Delta))
            .chain(holes.free.iter().map(|f| (*f, Hole::Free)))
            .chain(
                holes
                    .numbers
                    .iter()
                    .map(|&(digits, slot)| (digits, Hole::Number(slot.and_then(|s| u8::try_from(s).ok())))),
            )
            .chain(holes.values.iter().map(|&(v, depth)| (v, Hole::Value(depth))));
        for (slot, (part, what)) in spans.iter_mut().zip(all) {
            let start = (part.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
            let end = start.wrapping_add(part.len());
            if end > data.len() || start > end {
                return;
            }
            let fits = match what {
                Hole::Number(_) => {
                    number_len(data.get(start..).unwrap_or_default()) == Some(part.len())
                        && !data.get(start.wrapping_sub(1)).is_some_and(u8::is_ascii_digit)
                }
                // A whole value (what the scanner measures there), after a member's colon.
                Hole::Value(depth) => {
                    jscan::value_len_at(data.get(start..).unwrap_or_default(), usize::from(depth)) == Some(part.len())
                        && start > 0
                        && data.get(start - 1) == Some(&b':')
                }
                _ => start > 0 && data.get(start - 1) == Some(&b'"') && data.get(end) == Some(&b'"'),
            };
            if !fits {
                return;
            }
            *slot = (start, end, what);
        }
        let spans = spans.get_mut(..n).unwrap_or_default();
        spans.sort_unstable_by_key(|s| s.0);
        // Distinct values: something lies between two holes (both quotes, between strings).
        let quoted = |h: Hole| matches!(h, Hole::Delta | Hole::Free);
        let strings = |a: Hole, b: Hole| usize::from(quoted(a) && quoted(b));
        if spans.windows(2).any(|w| matches!(w, [a, b] if a.1 + 1 + strings(a.2, b.2) > b.0)) {
            return;
        }
        self.bytes.clear();
        let mut from = 0;
        for (&(start, end, what), hole) in spans.iter().zip(self.holes.iter_mut()) {
            self.bytes.extend_from_slice(data.get(from..start).unwrap_or_default());
            *hole = (u32::try_from(self.bytes.len()).unwrap_or(u32::MAX), what);
            from = end;
        }
        self.bytes.extend_from_slice(data.get(from..).unwrap_or_default());
        self.n = u8::try_from(n).unwrap_or(0);
        self.counts = holes.counts;
        self.kind = Some(kind);
    }

    /// The delta `data` carries, if it has the remembered shape and the shape carries no counts
    /// (for one with counts, [`Shape::matches_counted`]).
    #[inline]
    pub(crate) fn matches(&self, data: &Bytes) -> Option<CanonicalEvent> {
        let kind = self.kind?;
        if self.counts.is_some() {
            return None;
        }
        // The common shape, the delta's string alone, without the general walk.
        let content = if self.n == 1 { self.walk_delta(data)? } else { self.walk(data)?.0 };
        Some(kind.event(JsonStr::from_validated(data.slice(content))))
    }

    /// Whether the shape was learned with counts (a delta and its usage).
    pub(crate) fn has_counts(&self) -> bool {
        self.kind.is_some() && self.counts.is_some()
    }

    /// The delta and the counts `data` carries, if it has the remembered shape and the shape
    /// carries counts.
    pub(crate) fn matches_counted(&self, data: &Bytes) -> Option<(CanonicalEvent, Counts)> {
        let kind = self.kind?;
        let (content, counts) = self.walk(data)?;
        Some((kind.event(JsonStr::from_validated(data.slice(content))), counts?))
    }

    /// Where the new string content of `data` lies, if `data` has the remembered shape and the
    /// shape has no other holes and no counts (so everything but that content is byte-for-byte
    /// the old frame, and it decodes to the delta alone).
    pub(crate) fn content(&self, data: &[u8]) -> Option<Range<usize>> {
        if self.n != 1 || self.counts.is_some() {
            return None;
        }
        self.kind?;
        self.walk_delta(data)
    }

    /// Walks `data` along the shape: each fixed part must be there byte for byte, each string
    /// hole must hold valid string content ending at a quote, the delta's non-empty, each
    /// number hole a non-negative integer, and nothing may follow the last fixed part. Returns
    /// the delta's content and the counts.
    fn walk(&self, data: &[u8]) -> Option<(Range<usize>, Option<Counts>)> {
        let mut spans: [Range<usize>; MAX_HOLES] = std::array::from_fn(|_| 0..0);
        self.walk_spans(data, &mut spans)
    }

    /// Where each hole lies in `data` (in order; the first [`Shape::holes`] of `spans`), if
    /// `data` has the remembered shape, with its counts (all zero when the shape carries none,
    /// see [`Shape::has_counts`]): for a caller that writes the fixed parts itself (the
    /// passthrough, which rewrites them).
    pub(crate) fn hole_spans(&self, data: &[u8], spans: &mut [Range<usize>; MAX_HOLES]) -> Option<Counts> {
        self.walk_spans(data, spans).map(|(_, counts)| counts.unwrap_or_default())
    }

    /// Whether the shape has free values (whose bytes, unlike a string's or a number's, may hold
    /// raw whitespace such as CR and LF).
    pub(crate) fn has_values(&self) -> bool {
        self.holes.iter().take(usize::from(self.n)).any(|&(_, h)| matches!(h, Hole::Value(_)))
    }

    /// How many holes the shape has.
    pub(crate) fn holes(&self) -> usize {
        usize::from(self.n)
    }

    /// [`Shape::walk`], noting where each hole lies in `spans`.
    fn walk_spans(&self, data: &[u8], spans: &mut [Range<usize>; MAX_HOLES]) -> Option<(Range<usize>, Option<Counts>)> {
        self.kind?;
        let (mut at, mut from, mut delta) = (0, 0, None);
        let mut counts = self.counts;
        for (&(hole, what), span) in self.holes.get(..usize::from(self.n))?.iter().zip(spans.iter_mut()) {
            let hole = hole as usize;
            let fixed = self.bytes.get(from..hole)?;
            let rest = data.get(at..)?;
            if !rest.starts_with(fixed) {
                return None;
            }
            at += fixed.len();
            let rest = data.get(at..)?;
            let len = match what {
                Hole::Number(slot) => {
                    let len = number_len(rest)?;
                    if let (Some(slot), Some(counts)) = (slot, counts.as_mut()) {
                        *counts.get_mut(usize::from(slot))? = digits_value(rest.get(..len)?)?;
                    }
                    len
                }
                Hole::Delta => {
                    let len = jscan::str_content_len(rest)?;
                    if len == 0 {
                        return None;
                    }
                    delta = Some(at..at + len);
                    len
                }
                Hole::Free => jscan::str_content_len(rest)?,
                Hole::Value(depth) => jscan::value_len_at(rest, usize::from(depth))?,
            };
            *span = at..at + len;
            at += len;
            from = hole;
        }
        (data.get(at..)? == self.bytes.get(from..)?).then_some((delta?, counts))
    }

    /// [`Shape::walk`] for the common shape, the delta's string alone: the bytes before it, a
    /// valid non-empty string, the bytes after it.
    #[inline]
    fn walk_delta(&self, data: &[u8]) -> Option<Range<usize>> {
        let (head, tail) = self.bytes.split_at_checked(self.holes.first()?.0 as usize)?;
        let rest = data.strip_prefix(head)?;
        let len = jscan::str_content_len(rest)?;
        (len > 0 && rest.get(len..)? == tail).then_some(head.len()..head.len() + len)
    }
}

/// The integer members of a `usage` object as number holes, into `out`: first the values in
/// `read` (what a reader reads, by count slot), then every other integer member of `usage`
/// (free), at most [`MAX_NUMBERS`] in all. Returns how many.
pub(crate) fn usage_numbers<'a>(
    usage: Val<'a>,
    read: &[Option<Val<'a>>],
    out: &mut [(&'a [u8], Option<usize>); MAX_NUMBERS],
) -> usize {
    let integer = |v: &Val<'_>| v.kind() == jscan::Kind::Number && v.as_u64().is_some();
    let is_read = |v: &Val<'_>| read.iter().flatten().any(|r| r.bytes().as_ptr() == v.bytes().as_ptr());
    let read_holes = read.iter().enumerate().filter_map(|(slot, v)| Some((v.filter(integer)?, Some(slot))));
    let unread = usage.fields().map(|(_, v)| v).filter(|v| integer(v) && !is_read(v)).map(|v| (v, None));
    let mut n = 0;
    for (slot, (v, count)) in out.iter_mut().zip(read_holes.chain(unread)) {
        *slot = (v.bytes(), count);
        n += 1;
    }
    n
}

/// Most digits a number hole holds: any 19-digit integer fits in a `u64`.
const MAX_DIGITS: usize = 19;

/// The length of the JSON non-negative integer at the start of `rest` (digits, no leading zero,
/// at most [`MAX_DIGITS`]), if there is one.
fn number_len(rest: &[u8]) -> Option<usize> {
    let len = rest.iter().take(MAX_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
    let leading_zero = len > 1 && rest.first() == Some(&b'0');
    (len > 0 && len <= MAX_DIGITS && !leading_zero).then_some(len)
}

/// The value of at most [`MAX_DIGITS`] ASCII digits.
fn digits_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d.checked_sub(b'0')?)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::translate::canonical::Usage;
    use crate::translate::claude_dec::ClaudeDecoder;
    use crate::translate::openai_dec::OpenAiDecoder;
    use proptest::prelude::*;

    fn learned(frame: &'static [u8], content: &str) -> Shape {
        let mut s = Shape::default();
        let at = frame.windows(content.len()).position(|w| w == content.as_bytes()).unwrap();
        s.learn(frame, &frame[at..at + content.len()], DeltaKind::Text);
        s
    }

    #[test]
    fn same_ends_and_valid_content_match() {
        let s = learned(br#"{"delta":{"text":"Hello"},"n":1}"#, "Hello");
        let m = |f: &'static [u8]| s.matches(&Bytes::from_static(f));
        let hit = s.matches(&Bytes::from(r#"{"delta":{"text":"a \"quoted\" \u00e9 😀 longer text"},"n":1}"#)).unwrap();
        let CanonicalEvent::TextDelta(t) = hit else { panic!("{hit:?}") };
        assert_eq!(t.unescape(), "a \"quoted\" é 😀 longer text");
        assert!(m(br#"{"delta":{"text":""},"n":1}"#).is_none(), "empty content goes the full way");
        assert!(m(br#"{"delta":{"text":"a"b"},"n":1}"#).is_none(), "a raw quote changes the structure");
        assert!(m(br#"{"delta":{"text":"a\"},"n":1}"#).is_none(), "a trailing backslash eats the quote");
        assert!(m(b"{\"delta\":{\"text\":\"a\nb\"},\"n\":1}").is_none(), "raw control byte");
        assert!(m(b"{\"delta\":{\"text\":\"\xff\"},\"n\":1}").is_none(), "invalid UTF-8");
        assert!(m(br#"{"delta":{"text":"x"},"n":2}"#).is_none(), "another value elsewhere");
        assert!(m(br#"{"delta":{"text":"x"}}"#).is_none());
        assert!(m(br#"{"delta":{"text":"},"n":1}"#).is_none(), "ends overlap");
    }

    #[test]
    fn forgets_and_refuses_bad_spans() {
        let mut s = learned(br#"{"t":"abc"}"#, "abc");
        s.forget();
        assert!(s.matches(&Bytes::from_static(br#"{"t":"abd"}"#)).is_none());
        let frame = br#"{"t":"abc"}"#;
        s.learn(frame, b"abc", DeltaKind::Text);
        assert!(s.matches(&Bytes::from_static(br#"{"t":"abd"}"#)).is_none(), "not a sub-slice: nothing learned");
        s.learn(frame, &frame[6..8], DeltaKind::Text);
        assert!(s.matches(&Bytes::from_static(br#"{"t":"xyc"}"#)).is_none(), "not a whole string: nothing learned");
    }

    // ---- the fast path decodes exactly like the full path ----

    /// Raw string content as it may appear between two quotes in an upstream frame: valid or not.
    pub(crate) fn content() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-zA-Z0-9 ,.]{0,24}".prop_map(String::into_bytes),
            any::<String>().prop_map(|t| JsonStr::from_text(&t).escaped().to_vec()),
            prop::sample::select(vec![
                &b""[..],
                b"a\"b",
                b"x\\",
                b"\\",
                b"\\u00e9 \\n \\\"",
                b"\\u12",
                b"raw\nline",
                b"\xff\xfe",
                b"\xe2\x82",
                b"\xf0\x9f\x98\x80",
                b"\"},\"x\":{\"y\":\"",
            ])
            .prop_map(<[u8]>::to_vec),
        ]
    }

    pub(crate) fn claude_frame() -> impl Strategy<Value = (Option<&'static [u8]>, Vec<u8>)> {
        let delta = (
            prop::sample::select(vec![
                "text_delta",
                "thinking_delta",
                "signature_delta",
                "input_json_delta",
                "citations_delta",
            ]),
            prop::sample::select(vec!["text", "thinking", "signature", "partial_json", "other"]),
            0u32..3,
            content(),
            prop::sample::select(vec![Some(&b"content_block_delta"[..]), None, Some(b"ping")]),
            prop::sample::select(vec!["content_block_delta", "content_block_start", "x"]),
            prop::option::of(0u32..3),
        )
            .prop_map(|(ty, field, index, text, event, top, extra)| {
                let mut f =
                    format!(r#"{{"type":"{top}","index":{index},"delta":{{"type":"{ty}","{field}":""#).into_bytes();
                f.extend_from_slice(&text);
                match extra {
                    // Same length, another value: only the end tells them apart.
                    Some(n) => f.extend_from_slice(format!(r#"","x":{n}}}}}"#).as_bytes()),
                    None => f.extend_from_slice(br#""}}"#),
                }
                (event, f)
            });
        let other = prop::sample::select(vec![
            (
                Some(&b"message_start"[..]),
                &br#"{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3}}}"#[..],
            ),
            (
                Some(b"content_block_start"),
                br#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                Some(b"content_block_start"),
                br#"{"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use"}}"#,
            ),
            (
                Some(b"content_block_start"),
                br#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"n"}}"#,
            ),
            (Some(b"content_block_stop"), br#"{"type":"content_block_stop","index":1}"#),
            (Some(b"content_block_stop"), br#"{"type":"content_block_stop","index":0}"#),
            (
                Some(b"message_delta"),
                br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
            ),
            (Some(b"ping"), br#"{"type":"ping"}"#),
            (None, br#"{"type":"message_stop"}"#),
            (Some(b"error"), br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#),
            (
                Some(b"content_block_delta"),
                br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}"#,
            ),
        ])
        .prop_map(|(e, f)| (e, f.to_vec()));
        prop_oneof![4 => delta, 1 => other]
    }

    pub(crate) fn openai_frame() -> impl Strategy<Value = Vec<u8>> {
        let chunk = (
            prop::sample::select(vec!["content", "reasoning_content", "reasoning", "role"]),
            content(),
            prop::sample::select(vec!["null", r#""stop""#, r#""tool_calls""#]),
            prop::sample::select(vec![
                "null",
                r#"{"prompt_tokens":4,"completion_tokens":2}"#,
                r#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}"#,
                r#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":1}}"#,
                r#"{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":1.5,"x_tokens":4,"y_tokens":5,"z_tokens":6,"w_tokens":7,"v_tokens":8}"#,
                "{}",
                "5",
            ]),
            prop::sample::select(vec![
                "",
                r#","tool_calls":[]"#,
                r#","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]"#,
            ]),
            0usize..3,
            0usize..3,
            (any::<bool>(), prop::sample::select(vec!["", "\r\n", " \n"])),
            // Unread padding (free in the shape): none, in front, at the end, or both; and the
            // first choice's log probabilities (a free value when not null).
            (
                prop::sample::select(vec![("", ""), (PAD, ""), ("", PAD), (PAD, PAD)]),
                prop::sample::select(vec!["", r#","logprobs":null"#, LOGPROBS_MEMBER]),
            ),
        )
            .prop_map(|(field, text, finish, usage, tools, id, n, (model_first, ws), ((p0, p1), lp))| {
                let (m0, m1) = if model_first { (r#""model":"m","#, "") } else { ("", r#","model":"m""#) };
                let (p0, p1) = (
                    if p0.is_empty() { String::new() } else { format!("{p0},") },
                    if p1.is_empty() { String::new() } else { format!(",{p1}") },
                );
                let mut f =
                    format!(r#"{{{p0}"id":"c{id}",{ws}{m0}"choices":[{{"index":0,"delta":{{"{field}":""#).into_bytes();
                f.extend_from_slice(&text);
                f.extend_from_slice(
                    format!(r#""{tools}}},"finish_reason":{finish}{lp}}}],{ws}"usage":{usage},"n":{n}{m1}{p1}}}"#)
                        .as_bytes(),
                );
                f
            });
        let args = content().prop_map(|a| {
            let mut f = br#"{"id":"c0","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":""#.to_vec();
            f.extend_from_slice(&a);
            f.extend_from_slice(br#""}}]},"finish_reason":null}]}"#);
            f
        });
        let other = prop::sample::select(vec![
            &b"[DONE]"[..],
            br#"{"error":{"type":"rate_limit_exceeded","message":"slow"}}"#,
            b"{bad",
        ])
        .prop_map(<[u8]>::to_vec);
        prop_oneof![6 => chunk, 2 => args, 1 => other]
    }

    /// An unread member whose string the tests vary ([`repad`]).
    const PAD: &str = r#""obfuscation":"pad""#;

    /// The log probabilities the generated chunks carry, whose value the tests vary ([`relog`]).
    const LOGPROBS: &str = r#"{"content":[{"token":"t","logprob":-0.5,"bytes":[116],"top_logprobs":[]}]}"#;
    const LOGPROBS_MEMBER: &str =
        concat!(r#","logprobs":"#, r#"{"content":[{"token":"t","logprob":-0.5,"bytes":[116],"top_logprobs":[]}]}"#);

    /// Values [`relog`] puts in place of [`LOGPROBS`]: other valid values of every kind, and
    /// invalid or unbalanced ones (some that would end early and leave a member behind).
    pub(crate) const LOGPROB_VALUES: [&[u8]; 17] = [
        br#"{"content":[{"token":"longer token","logprob":-12.25,"bytes":[108,111],"top_logprobs":[{"token":"x","logprob":-1}]}]}"#,
        b"null",
        b"[]",
        b"{}",
        b"7",
        br#""s""#,
        b"true",
        br#"{"content":[}"#,
        br#"{"a":1"#,
        b"[1,,2]",
        br#"{"a":1}}"#,
        br#"{"a":1},"delta":{"content":"evil"}"#,
        br#""unterminated"#,
        b"{\"a\":\"\xff\"}",
        br#"{"a":01}"#,
        b" {}",
        b"{\"a\":\r\n1}",
    ];

    /// Replaces every [`LOGPROBS`] value in `data` with [`LOGPROB_VALUES`]`[pick % 17]`.
    pub(crate) fn relog(data: &mut Vec<u8>, pick: usize) {
        let marker = LOGPROBS.as_bytes();
        let value = LOGPROB_VALUES[pick % LOGPROB_VALUES.len()];
        while let Some(at) = data.windows(marker.len()).position(|w| w == marker) {
            data.splice(at..at + marker.len(), value.iter().copied());
        }
    }

    /// Replaces the content of every `PAD` string in `data` with `text`.
    fn repad(data: &mut Vec<u8>, text: &[u8]) {
        let marker = br#""obfuscation":""#;
        let mut from = 0;
        while let Some(at) = data.get(from..).and_then(|d| d.windows(marker.len()).position(|w| w == marker)) {
            let start = from + at + marker.len();
            if data.get(start..start + 4) != Some(b"pad\"") {
                break;
            }
            data.splice(start..start + 3, text.iter().copied());
            from = start + text.len();
        }
    }

    /// Number tokens, valid or not, for [`renumber`].
    const NUMBERS: [&str; 12] = [
        "0",
        "7",
        "123456",
        "007",
        "1.5",
        "-3",
        "1e2",
        "18446744073709551615",
        "9999999999999999999",
        "18446744073709551616",
        r#""5""#,
        "null",
    ];

    /// Replaces the value of every `…_tokens` member in `data` with a token of [`NUMBERS`],
    /// the `k`-th from `pick + k`.
    pub(crate) fn renumber(data: &mut Vec<u8>, pick: usize) {
        let marker = br#"_tokens":"#;
        let (mut from, mut k) = (0, 0);
        while let Some(at) = data.get(from..).and_then(|d| d.windows(marker.len()).position(|w| w == marker)) {
            let start = from + at + marker.len();
            let len = data[start..].iter().position(|&b| b == b',' || b == b'}').unwrap_or(data.len() - start);
            let token = NUMBERS[(pick + k) % NUMBERS.len()].as_bytes();
            data.splice(start..start + len, token.iter().copied());
            from = start + token.len();
            k += 1;
        }
    }

    /// Frames repeat, so shapes are learned and then met with other content.
    pub(crate) fn repeated<T: Clone + std::fmt::Debug>(
        frame: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Vec<T>> {
        prop::collection::vec((frame, 1usize..4), 0..40)
            .prop_map(|v| v.into_iter().flat_map(|(f, n)| std::iter::repeat_n(f, n)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn claude_fast_path_decodes_like_the_full_path(frames in repeated(claude_frame()), tweak in prop::collection::vec(content(), 40)) {
            let (mut fast, mut full) = (ClaudeDecoder::new(), ClaudeDecoder::new());
            for (i, (event, mut data)) in frames.into_iter().enumerate() {
                // Some frames lose their `event:` line (named by their `type` then).
                let event = if i % 3 == 2 { None } else { event };
                // Every other frame gets new content in the same place.
                if i % 2 == 1 {
                    crate::translate::test_support::retext(&mut data, &tweak[i % tweak.len()], true);
                }
                let data = Bytes::from(data);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let ra = fast.frame(event, &data, &mut a);
                let rb = full.frame_full(event, &data, &mut b);
                prop_assert_eq!(&ra, &rb, "frame {} {:?}", i, String::from_utf8_lossy(&data));
                prop_assert_eq!(&a, &b, "frame {} {:?}", i, String::from_utf8_lossy(&data));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.finish(&mut a);
            full.finish(&mut b);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn openai_fast_path_decodes_like_the_full_path(
            frames in repeated(openai_frame()),
            tweak in prop::collection::vec(content(), 40),
            logs in prop::collection::vec(0..LOGPROB_VALUES.len(), 40),
        ) {
            let (mut fast, mut full) = (OpenAiDecoder::new(), OpenAiDecoder::new());
            for (i, mut data) in frames.into_iter().enumerate() {
                if i % 2 == 1 {
                    crate::translate::test_support::retext(&mut data, &tweak[i % tweak.len()], false);
                }
                // The padding changes on two frames in three (any content, valid or not).
                if i % 3 != 0 {
                    repad(&mut data, &tweak[(i * 7 + 3) % tweak.len()]);
                }
                // The usage counts change on frames that are not a multiple of four (mostly
                // to integers, sometimes to what is no integer or no number).
                if i % 4 != 0 {
                    renumber(&mut data, if i % 5 == 0 { i } else { i % 3 });
                }
                // The log probabilities change on every other frame.
                if i % 2 == 0 {
                    relog(&mut data, logs[i % logs.len()]);
                }
                let data = Bytes::from(data);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let ra = fast.frame(&data, &mut a);
                let rb = full.frame_full(&data, &mut b);
                prop_assert_eq!(&ra, &rb, "frame {} {:?}", i, String::from_utf8_lossy(&data));
                prop_assert_eq!(&a, &b, "frame {} {:?}", i, String::from_utf8_lossy(&data));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.finish(&mut a);
            full.finish(&mut b);
            prop_assert_eq!(a, b);
        }
    }

    /// The fast path is taken: a long answer decodes with one full parse per shape.
    #[test]
    fn repeated_deltas_take_the_fast_path() {
        let mut dec = ClaudeDecoder::new();
        let mut out = Vec::new();
        let frame = |t: &str| {
            Bytes::from(format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{t}"}}}}"#
            ))
        };
        dec.frame(Some(b"content_block_delta"), &frame("first"), &mut out).unwrap();
        assert!(dec.fast(Some(b"content_block_delta"), &frame(r#"second \"q\""#)).is_some());
        assert!(dec.fast(None, &frame("typed")).is_some(), "the type names it");
        assert!(dec.fast(Some(b"ping"), &frame("x")).is_none());
        for t in ["a", "b", "c"] {
            dec.frame(Some(b"content_block_delta"), &frame(t), &mut out).unwrap();
        }
        let texts: Vec<_> = out.iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(texts.len(), 4);
        assert!(texts[3].contains("\"c\""), "{texts:?}");
    }

    /// Running usage in every chunk keeps the fast path: the counts are number holes, read
    /// into the usage the hit carries; anything but a plain integer goes the full way.
    #[test]
    fn running_usage_takes_the_fast_path() {
        let chunk = |t: &str, completion: &str, total: &str| {
            Bytes::from(format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{t}"}}}}],"usage":{{"prompt_tokens":12,"completion_tokens":{completion},"total_tokens":{total},"prompt_tokens_details":{{"cached_tokens":2}}}}}}"#
            ))
        };
        let mut dec = OpenAiDecoder::new();
        let mut out = Vec::new();
        dec.frame(&chunk("first", "1", "13"), &mut out).unwrap();
        dec.frame(&chunk("second", "2", "14"), &mut out).unwrap();
        assert_eq!(dec.shape.n, 5, "the delta, three read counts and the unread total");
        assert!(dec.shape.has_counts());
        assert!(dec.shape.matches(&chunk("third", "40", "52")).is_none(), "a shape with counts needs matches_counted");
        let (delta, counts) = dec.shape.matches_counted(&chunk("third", "40", "52")).unwrap();
        assert_eq!(delta, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
        assert_eq!(counts, [12, 40, 2, 0]);
        out.clear();
        dec.frame(&chunk("fourth", "41", "53"), &mut out).unwrap();
        let usage = Usage { input_tokens: 10, output_tokens: 41, cache_read_input_tokens: 2, ..Usage::default() };
        assert_eq!(out, [CanonicalEvent::TextDelta(JsonStr::from_text("fourth")), CanonicalEvent::Usage(usage)]);
        for (completion, total) in [("4.5", "1"), ("04", "1"), ("-4", "1"), ("4", "1e3"), ("\"4\"", "1")] {
            assert!(dec.shape.matches_counted(&chunk("t", completion, total)).is_none(), "{completion} {total}");
        }
        assert!(
            dec.shape.matches_counted(&chunk("t", "18446744073709551615", "1")).is_none(),
            "20 digits go the full way"
        );
        assert!(dec.shape.content(&chunk("t", "1", "13")).is_none(), "a shape with counts gives no raw content");
        let mut p = Shape::default();
        let frame = br#"{"t":"text","n":12}"#;
        let numbers = [(&frame[16..18], Some(0))];
        p.learn_with(frame, &frame[6..10], Holes { numbers: &numbers, ..Holes::default() }, DeltaKind::Text);
        assert!(p.matches(&Bytes::from_static(br#"{"t":"new","n":3}"#)).is_none(), "a read number needs counts");
        let numbers = [(&frame[16..17], Some(0))];
        let holes = Holes { numbers: &numbers, counts: Some([0; COUNTS]), ..Holes::default() };
        p.learn_with(frame, &frame[6..10], holes, DeltaKind::Text);
        assert!(
            p.matches_counted(&Bytes::from_static(br#"{"t":"new","n":32}"#)).is_none(),
            "part of a number: nothing learned"
        );
        let numbers = [(&frame[16..18], Some(1))];
        let holes = Holes { numbers: &numbers, counts: Some([7; COUNTS]), ..Holes::default() };
        p.learn_with(frame, &frame[6..10], holes, DeltaKind::Text);
        let (_, counts) = p.matches_counted(&Bytes::from_static(br#"{"t":"new","n":32}"#)).unwrap();
        assert_eq!(counts, [7, 32, 7, 7], "the hole fills its slot, the others keep the learned counts");
    }

    /// Unread padding of changing length (OpenAI's `obfuscation`) keeps the fast path.
    #[test]
    fn padded_chunks_take_the_fast_path() {
        let chunk = |pad: &str, t: &str| {
            Bytes::from(format!(
                r#"{{"obfuscation":"{pad}","id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"finish_reason":null}}],"system_fingerprint":"fp","usage":null}}"#
            ))
        };
        let mut dec = OpenAiDecoder::new();
        let mut out = Vec::new();
        dec.frame(&chunk("x", "first"), &mut out).unwrap();
        dec.frame(&chunk("xy", "second"), &mut out).unwrap();
        assert!(dec.shape.n == 3, "the delta, the padding and the fingerprint are holes");
        let hit = dec.shape.matches(&chunk(r#"a longer \"pad\""#, "third")).unwrap();
        assert_eq!(hit, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
        assert!(dec.shape.matches(&chunk("", "fourth")).is_some(), "empty padding is valid");
        assert!(dec.shape.matches(&chunk(r"x\\", "fifth")).is_some(), "an escaped backslash");
        assert!(dec.shape.matches(&chunk(r"x\", "t")).is_none(), "padding whose quote is escaped");
        assert!(dec.shape.matches(&chunk("\u{1}", "t")).is_none(), "a raw control byte in the padding");
        assert!(dec.shape.content(&chunk("x", "t")).is_none(), "a shape with free holes gives no raw content");
        let mut p = Shape::default();
        let frame = br#"{"a":"pad","t":"text"}"#;
        p.learn_with(frame, &frame[16..20], Holes { free: &[&frame[6..9]], ..Holes::default() }, DeltaKind::Text);
        assert!(p.matches(&Bytes::from_static(br#"{"a":"","t":"new"}"#)).is_some());
        p.learn_with(frame, &frame[16..20], Holes { free: &[&frame[16..20]], ..Holes::default() }, DeltaKind::Text);
        assert!(
            p.matches(&Bytes::from_static(br#"{"a":"pad","t":"new"}"#)).is_none(),
            "overlapping holes: nothing learned"
        );
    }

    /// Log probabilities in every chunk (a different object each time) keep the fast path: the
    /// `logprobs` value is a free value, validated and never read.
    #[test]
    fn log_probabilities_take_the_fast_path() {
        let chunk = |lp: &str, t: &str| {
            Bytes::from(format!(
                r#"{{"id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":{lp},"finish_reason":null}}]}}"#
            ))
        };
        let lp = |tok: &str, p: &str| {
            format!(r#"{{"content":[{{"token":"{tok}","logprob":{p},"bytes":[116],"top_logprobs":[]}}]}}"#)
        };
        let mut dec = OpenAiDecoder::new();
        let mut out = Vec::new();
        dec.frame(&chunk(&lp("a", "-0.5"), "first"), &mut out).unwrap();
        dec.frame(&chunk(&lp("b", "-1.25"), "second"), &mut out).unwrap();
        assert_eq!(dec.shape.n, 2, "the delta and the log probabilities are holes");
        let hit = dec.shape.matches(&chunk(&lp("longer token", "-12.0e-3"), "third")).unwrap();
        assert_eq!(hit, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
        for other in ["null", "[]", r#"{"content":[]}"#, "7", r#""s""#] {
            assert!(dec.shape.matches(&chunk(other, "t")).is_some(), "any valid value: {other}");
        }
        for bad in [r#"{"a":01}"#, r#"{"a":1"#, "[1,,2]", r#"{"a":1}}"#, r#"{"a":"x\u12"}"#, " {}", "nul"] {
            assert!(dec.shape.matches(&chunk(bad, "t")).is_none(), "an invalid value goes the full way: {bad}");
        }
        let smuggled = chunk(r#"{"a":1},"delta":{"content":"evil"}"#, "t");
        assert!(dec.shape.matches(&smuggled).is_none(), "the bytes after the value must be the learned ones");
    }

    /// A free value is validated at its own depth in the document: the full parse's nesting
    /// limit holds on the fast path too.
    #[test]
    fn free_values_keep_the_nesting_limit() {
        let chunk = |lp: &str, t: &str| {
            Bytes::from(format!(
                r#"{{"id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":{lp}}}]}}"#
            ))
        };
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let mut dec = OpenAiDecoder::new();
        let mut out = Vec::new();
        dec.frame(&chunk("[1]", "first"), &mut out).unwrap();
        dec.frame(&chunk("[2]", "second"), &mut out).unwrap();
        assert_eq!(dec.shape.n, 2);
        // The value sits at depth 3 (root, choices, choice): 62 arrays reach the limit of 64.
        let (deepest, too_deep) = (chunk(&nested(62), "t"), chunk(&nested(63), "t"));
        assert!(jscan::parse(&deepest).is_ok() && jscan::parse(&too_deep).is_err());
        assert!(dec.shape.matches(&deepest).is_some());
        assert!(dec.shape.matches(&too_deep).is_none(), "deeper than the full parse allows");
    }

    /// A value written after whitespace (`"logprobs": {…}`) stays part of the fixed bytes: the
    /// chunk still learns the text's shape.
    #[test]
    fn a_value_after_a_space_stays_fixed() {
        let chunk = |t: &str| {
            Bytes::from(format!(
                r#"{{"id":"c", "choices": [{{"index": 0, "delta": {{"content": "{t}"}}, "logprobs": {{"content": []}}}}]}}"#
            ))
        };
        let mut dec = OpenAiDecoder::new();
        let mut out = Vec::new();
        dec.frame(&chunk("first"), &mut out).unwrap();
        dec.frame(&chunk("second"), &mut out).unwrap();
        assert_eq!(dec.shape.n, 1, "the text alone is a hole");
        assert!(dec.shape.matches(&chunk("third")).is_some());
    }
}
