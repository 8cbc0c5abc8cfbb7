//! The shapes of the last whole OpenAI completions parsed, per worker: the fast path of the
//! non-streaming answers, both the passthrough (`channel::whole::passthrough`) and the decode
//! for a Claude client ([`super::openai_dec::OpenAiDecoder::completion`]).
//!
//! An OpenAI-compatible upstream answers one model's non-streaming requests with documents of
//! one structure: the same members in the same order, with only the answer's text, the `id`,
//! the `model`, `created` and the usage counts changing. The stream decoders' [`Shape`] knows
//! that trick for chunks; here it remembers a completion's bytes around those holes:
//!
//! - the first choice's `message.content` (a non-empty string: the shape's delta hole),
//! - `id` and `model` when they are strings (free strings),
//! - `created` and the integers of `usage` (number holes; the prompt, completion, cached and
//!   reasoning counts are read, as the decoder reads them).
//!
//! Only a completion the decoder reads as one text answer is learned (message start, one text
//! block, usage if any, stop), and only one the passthrough would forward (no non-null
//! `error`, an array `choices`). A later body that matches the shape is the same JSON document
//! with other values in those places: valid, decoding to the same events with the holes'
//! values, forwarded the same way. So it is answered without a parse, with exactly what the
//! full path gives. Anything else (another structure, a tool call, reasoning, an empty answer,
//! a value that is not valid in its hole) takes the full parse, which learns its shape for the
//! next one. A few shapes are kept (one per upstream model in turn), the least recently used
//! replaced first; completions over 64 KiB are not learned.

use super::canonical::{BlockKind, CanonicalEvent, JsonStr, StopReason};
use super::jscan::{Kind, Val};
use super::openai_dec::{OpenAiDecoder, read_counts};
use super::shape::{Counts, DeltaKind, Holes, MAX_HOLES, MAX_NUMBERS, Shape, usage_numbers};
use bytes::Bytes;
use std::cell::RefCell;
use std::ops::Range;

/// How many completion shapes a worker keeps.
const KEPT: usize = 4;
/// The largest completion whose shape is learned (a shape keeps a copy of its bytes).
const MAX_LEARNED: usize = 64 * 1024;

/// What a learned completion decodes to besides its holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Template {
    /// Whether a `Usage` event comes before the stop (the completion has a `usage` object).
    pub usage: bool,
    pub stop: StopReason,
}

/// One learned completion: its shape, which holes (in document order) are the answer, the id
/// and the model, and what it decodes to.
#[derive(Debug)]
struct Learned {
    shape: Shape,
    content: usize,
    id: Option<usize>,
    model: Option<usize>,
    template: Template,
}

/// A body that matched a learned shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    /// The answer's string content.
    pub content: Range<usize>,
    /// The `id` and `model` string contents (`None`: not a string in this shape).
    pub id: Option<Range<usize>>,
    pub model: Option<Range<usize>>,
    /// Prompt, completion, cached and reasoning counts (0 where absent).
    pub counts: Counts,
    pub template: Template,
}

/// Most recently used first.
#[derive(Debug, Default)]
struct Shapes {
    kept: Vec<Learned>,
}

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes::default());
}

/// The first learned shape `body` matches (which then moves to the front).
pub(crate) fn lookup(body: &[u8]) -> Option<Matched> {
    SHAPES.with_borrow_mut(|s| {
        let mut spans: [Range<usize>; MAX_HOLES] = std::array::from_fn(|_| 0..0);
        let (i, m) = s.kept.iter().enumerate().find_map(|(i, l)| {
            let counts = l.shape.hole_spans(body, &mut spans)?;
            let span = |i: Option<usize>| i.and_then(|i| spans.get(i).cloned());
            let m = Matched {
                content: span(Some(l.content))?,
                id: span(l.id),
                model: span(l.model),
                counts,
                template: l.template,
            };
            Some((i, m))
        })?;
        if let Some(used) = s.kept.get_mut(..=i) {
            used.rotate_right(1);
        }
        Some(m)
    })
}

/// Learns the shape of a completion that was parsed in full (`root`), if it has one; it goes
/// to the front, and the least recently used shape goes when more than a few are kept.
/// `decoded`: the events a fresh decoder gave for it, when the caller is that decoder (`None`:
/// they are decoded here, for a learnable-looking completion only).
pub(crate) fn learn(body: &Bytes, root: Val<'_>, decoded: Option<&[CanonicalEvent]>) {
    let Some(learned) = learned(body, root, decoded) else {
        return;
    };
    SHAPES.with_borrow_mut(|s| {
        s.kept.insert(0, learned);
        s.kept.truncate(KEPT);
    });
}

/// Forgets every shape of this thread (tests).
#[cfg(test)]
pub(crate) fn forget_all() {
    SHAPES.with_borrow_mut(|s| *s = Shapes::default());
}

/// What a fresh decoder makes of a completion (`decoded`, or decoded here), when it is one text
/// answer: its template.
fn template(body: &Bytes, root: Val<'_>, decoded: Option<&[CanonicalEvent]>) -> Option<Template> {
    let mut own = Vec::new();
    let events = if let Some(events) = decoded {
        events
    } else {
        OpenAiDecoder::new().completion_parsed(body, root, &mut own).ok()?;
        &own
    };
    match events {
        [
            CanonicalEvent::MessageStart { .. },
            CanonicalEvent::BlockStart { index: 0, kind: BlockKind::Text },
            CanonicalEvent::TextDelta(_),
            CanonicalEvent::BlockStop { index: 0 },
            rest @ ..,
        ] => match rest {
            [CanonicalEvent::Usage(_), CanonicalEvent::Stop { reason, stop_sequence: None }] => {
                Some(Template { usage: true, stop: *reason })
            }
            [CanonicalEvent::Stop { reason, stop_sequence: None }] => Some(Template { usage: false, stop: *reason }),
            _ => None,
        },
        _ => None,
    }
}

fn learned(body: &Bytes, root: Val<'_>, decoded: Option<&[CanonicalEvent]>) -> Option<Learned> {
    if body.len() > MAX_LEARNED {
        return None;
    }
    let [error, id, model, choices, usage, created] =
        root.pick(["error", "id", "model", "choices", "usage", "created"]);
    // What the passthrough forwards: no error, an array of choices.
    if error.is_some_and(|e| !e.is_null()) || choices.is_none_or(|c| c.kind() != Kind::Array) {
        return None;
    }
    // Cheap refusals first (tool calls, reasoning, no text), before the decode that decides.
    let message = choices?.index(0)?.get("message")?;
    let [text, calls, reasoning, reasoning_alt] =
        message.pick(["content", "tool_calls", "reasoning_content", "reasoning"]);
    if [calls, reasoning, reasoning_alt].iter().flatten().any(|v| !v.is_null()) {
        return None;
    }
    let content = text?.str_content().filter(|c| !c.is_empty())?;
    let template = template(body, root, decoded)?;
    let id = id.and_then(|v| v.str_content());
    // A model that is there but not a string is replaced whole by the passthrough: no hole.
    let model = match model {
        Some(v) => Some(v.str_content()?),
        None => None,
    };
    let free: Vec<&[u8]> = id.into_iter().chain(model).collect();

    let mut numbers = [(&[][..], None); MAX_NUMBERS];
    let mut n = 0;
    let mut counts = None;
    if let Some(usage) = usage.filter(|u| u.kind() == Kind::Object) {
        let read = read_counts(usage);
        counts = Some(read.map(|v| v.and_then(|v| v.as_u64()).unwrap_or(0)));
        n = usage_numbers(usage, &read, &mut numbers);
    }
    if let (Some(created), Some(slot)) = (created.filter(|c| c.as_u64().is_some()), numbers.get_mut(n)) {
        *slot = (created.bytes(), None);
        n += 1;
    }
    let numbers = numbers.get(..n)?;

    let mut shape = Shape::default();
    shape.learn_with(body, content, Holes { free: &free, numbers, counts, values: &[] }, DeltaKind::Text);
    if shape.holes() == 0 {
        return None;
    }
    // Holes are walked in document order: a hole's index is the number of holes before it.
    let at = |part: &[u8]| (part.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
    let starts: Vec<usize> = std::iter::once(content)
        .chain(free.iter().copied())
        .chain(numbers.iter().map(|&(digits, _)| digits))
        .map(at)
        .collect();
    let index = |part: &[u8]| starts.iter().filter(|&&s| s < at(part)).count();
    Some(Learned { shape, content: index(content), id: id.map(index), model: model.map(index), template })
}

/// The events the decoder gives for a matched completion (`body` is the whole completion).
pub(crate) fn events(body: &Bytes, m: &Matched, out: &mut Vec<CanonicalEvent>) {
    let text = |r: &Range<usize>| {
        if r.is_empty() { JsonStr::default() } else { JsonStr::from_validated(body.slice(r.clone())) }
    };
    out.push(CanonicalEvent::MessageStart {
        id: m.id.as_ref().map_or_else(|| JsonStr::from_static(FALLBACK_ID), text),
        model: m.model.as_ref().map(text).unwrap_or_default(),
    });
    out.push(CanonicalEvent::BlockStart { index: 0, kind: BlockKind::Text });
    out.push(CanonicalEvent::TextDelta(text(&m.content)));
    out.push(CanonicalEvent::BlockStop { index: 0 });
    if m.template.usage {
        out.push(CanonicalEvent::Usage(super::openai_dec::usage_of(m.counts)));
    }
    out.push(CanonicalEvent::Stop { reason: m.template.stop, stop_sequence: None });
}

/// The message id of a completion without a string `id` (what the decoder gives).
pub(crate) const FALLBACK_ID: &str = "chatcmpl-upstream";

#[cfg(test)]
mod tests;
