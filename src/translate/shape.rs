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
//!
//! Learning backs off when it does not pay: a shape forgotten before any frame matched it makes
//! the decoders skip the next 1, 2, 4 … (at most [`MAX_BACKOFF`]) learns ([`Shape::skip_learn`]);
//! a shape that served resets it.

use super::canonical::{CanonicalEvent, JsonStr};
use super::jscan::{self, Val};
use bytes::Bytes;
use std::cell::Cell;
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
    /// Whether a frame has matched the shape since it was learned.
    used: Cell<bool>,
    /// Learning back-off: how many learns the last unused shape cost ([`Shape::forget`]) and
    /// how many are still to be skipped.
    backoff: u8,
    skip: u8,
}

/// The most learns skipped after a shape that no frame matched (the back-off doubles from 1).
const MAX_BACKOFF: u8 = 32;

impl Shape {
    /// Drops the shape (a frame did not match it). A shape that no frame matched was learned
    /// for nothing: the next learns are skipped, 1, 2, 4 … up to [`MAX_BACKOFF`] of them in a
    /// row, so a stream whose every frame differs (say a `created` that changes with each
    /// chunk) pays for the full parse only, not for a learn per frame as well. A shape that
    /// served ends the back-off.
    pub(crate) fn forget(&mut self) {
        if self.kind.take().is_some() {
            if self.used.get() {
                self.backoff = 0;
            } else {
                self.backoff = self.backoff.saturating_mul(2).clamp(1, MAX_BACKOFF);
                self.skip = self.backoff;
            }
        }
    }

    /// A shape learned from a frame the upstream did not send (the passthrough's prediction of
    /// an answer's first text chunk): the next frame not matching it costs no back-off (it was a
    /// guess, not a learn wasted on a frame of a kind that does not repeat).
    pub(crate) fn spare_backoff(&self) {
        self.used.set(true);
    }

    /// Whether a decoder about to learn a frame's shape should not (the back-off of
    /// [`Shape::forget`]); counts the skip. Asked before the decoder gathers the frame's holes,
    /// which costs about as much as the learn itself.
    pub(crate) fn skip_learn(&mut self) -> bool {
        if self.skip == 0 {
            return false;
        }
        self.skip -= 1;
        true
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
        // The fixed parts are the frame less its holes: one allocation (a first shape's buffer
        // is empty and grew piece by piece).
        self.bytes.reserve(data.len());
        let mut from = 0;
        for (&(start, end, what), hole) in spans.iter().zip(self.holes.iter_mut()) {
            self.bytes.extend_from_slice(data.get(from..start).unwrap_or_default());
            *hole = (u32::try_from(self.bytes.len()).unwrap_or(u32::MAX), what);
            from = end;
        }
        self.bytes.extend_from_slice(data.get(from..).unwrap_or_default());
        self.n = u8::try_from(n).unwrap_or(0);
        self.counts = holes.counts;
        self.used.set(false);
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

    /// Whether a shape is learned (and not forgotten since).
    pub(crate) fn is_learned(&self) -> bool {
        self.kind.is_some()
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
        let found = (data.get(at..)? == self.bytes.get(from..)?).then_some((delta?, counts))?;
        self.used.set(true);
        Some(found)
    }

    /// [`Shape::walk`] for the common shape, the delta's string alone: the bytes before it, a
    /// valid non-empty string, the bytes after it.
    #[inline]
    fn walk_delta(&self, data: &[u8]) -> Option<Range<usize>> {
        let (head, tail) = self.bytes.split_at_checked(self.holes.first()?.0 as usize)?;
        let rest = data.strip_prefix(head)?;
        let len = jscan::str_content_len(rest)?;
        let found = (len > 0 && rest.get(len..)? == tail).then_some(head.len()..head.len() + len)?;
        self.used.set(true);
        Some(found)
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
pub(crate) mod tests;
