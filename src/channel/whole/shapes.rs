//! The shapes of the last whole completions passed through, per worker: the fast path of
//! [`super::passthrough`].
//!
//! An OpenAI-compatible upstream answers one model's non-streaming requests with documents of
//! one structure: the same members in the same order, with only the answer's text, the `id`,
//! the `model`, `created` and the usage counts changing. The stream decoders' [`Shape`] already
//! knows that trick for chunks; here it remembers a completion's bytes around those holes:
//!
//! - the first choice's `message.content` (a non-empty string: the shape's delta hole),
//! - `id` and `model` (free strings; `model` is where the client's model id is spliced in),
//! - `created` and every integer member of `usage` (number holes; `prompt_tokens` and
//!   `completion_tokens` are read as the usage).
//!
//! A later body that matches a shape is the same JSON document with other values in those
//! places: valid, with no non-null `error` and an array `choices` (both fixed bytes of the
//! learned one), so it is answered without a parse and gives exactly what the full path would
//! give. Anything else (another structure, a tool call, an empty answer, a value that is not
//! valid in its hole) takes the full parse, which learns its shape for the next one. A few
//! shapes are kept (one per upstream model in turn), replaced oldest first.

use crate::translate::canonical::Usage;
use crate::translate::jscan::{Kind, Val};
use crate::translate::shape::{COUNTS, DeltaKind, Holes, MAX_HOLES, MAX_NUMBERS, Shape, usage_numbers};
use std::cell::RefCell;
use std::ops::Range;

/// How many completion shapes a worker keeps.
const KEPT: usize = 4;

/// Usage count slots of the shape: what the passthrough reads.
const PROMPT: usize = 0;
const COMPLETION: usize = 1;

/// One learned completion: its shape and which hole (in document order) is the model.
#[derive(Debug, Default)]
struct Learned {
    shape: Shape,
    model_hole: usize,
}

#[derive(Debug, Default)]
struct Shapes {
    kept: Vec<Learned>,
    /// The slot the next learned shape replaces once `kept` is full.
    next: usize,
}

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes::default());
}

/// A body that matches a learned shape: the span of its model's string content, and its usage.
pub(super) fn lookup(body: &[u8]) -> Option<(Range<usize>, Usage)> {
    SHAPES.with_borrow(|s| {
        let mut spans: [Range<usize>; MAX_HOLES] = std::array::from_fn(|_| 0..0);
        s.kept.iter().find_map(|l| {
            let counts = l.shape.hole_spans(body, &mut spans)?;
            let model = spans.get(l.model_hole)?.clone();
            let usage = Usage {
                input_tokens: counts.get(PROMPT).copied().unwrap_or(0),
                output_tokens: counts.get(COMPLETION).copied().unwrap_or(0),
                ..Usage::default()
            };
            Some((model, usage))
        })
    })
}

/// Learns the shape of a body the full path passed through (`root` is its parse; `model` and
/// `usage` the members it read). Bodies with no shape (no text answer, a model that is not a
/// string, too many holes) are left alone.
pub(super) fn learn(body: &[u8], root: Val<'_>, model: Option<Val<'_>>, usage: Option<Val<'_>>) {
    let Some(learned) = learned(body, root, model, usage) else {
        return;
    };
    SHAPES.with_borrow_mut(|s| {
        if s.kept.len() < KEPT {
            s.kept.push(learned);
        } else if let Some(slot) = s.kept.get_mut(s.next) {
            *slot = learned;
            s.next = (s.next + 1) % KEPT;
        }
    });
}

/// Forgets every shape of this thread (tests).
#[cfg(test)]
pub(super) fn forget_all() {
    SHAPES.with_borrow_mut(|s| *s = Shapes::default());
}

fn learned(body: &[u8], root: Val<'_>, model: Option<Val<'_>>, usage: Option<Val<'_>>) -> Option<Learned> {
    let content = root.get("choices")?.index(0)?.get("message")?.get("content")?;
    let content = content.str_content().filter(|c| !c.is_empty())?;
    let model = model?.str_content()?;
    let [id, created] = root.pick(["id", "created"]);
    let id = id.and_then(|v| v.str_content());
    let free: Vec<&[u8]> = id.into_iter().chain(std::iter::once(model)).collect();

    let mut numbers = [(&[][..], None); MAX_NUMBERS];
    let mut n = 0;
    let mut counts = None;
    if let Some(usage) = usage.filter(|u| u.kind() == Kind::Object) {
        let read = usage.pick(["prompt_tokens", "completion_tokens"]);
        n = usage_numbers(usage, &read, &mut numbers);
        counts = Some([0; COUNTS]);
    }
    if let (Some(created), Some(slot)) = (created.filter(|c| c.as_u64().is_some()), numbers.get_mut(n)) {
        *slot = (created.bytes(), None);
        n += 1;
    }
    let numbers = numbers.get(..n)?;

    let mut shape = Shape::default();
    let holes = Holes { free: &free, numbers, counts, values: &[] };
    shape.learn_with(body, content, holes, DeltaKind::Text);
    if shape.holes() == 0 {
        return None;
    }
    // Holes are walked in document order: the model's is after every hole that starts before it.
    let at = |part: &[u8]| (part.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
    let model_at = at(model);
    let before = std::iter::once(content)
        .chain(free.iter().copied())
        .chain(numbers.iter().map(|&(digits, _)| digits))
        .filter(|part| at(part) < model_at)
        .count();
    Some(Learned { shape, model_hole: before })
}

/// The model string's content span as the full path would replace it: with its quotes.
pub(super) fn quoted(span: Range<usize>) -> Range<usize> {
    span.start.saturating_sub(1)..span.end + 1
}

#[cfg(test)]
mod tests;
