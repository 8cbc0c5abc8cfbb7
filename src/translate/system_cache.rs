//! The system prompts of the last few Claude requests, per worker thread, keyed by their bytes.
//!
//! Claude Code and other Claude agents send the same top-level `system` value, byte for byte,
//! on every turn: a prompt of 10–30 KiB that is a Claude body's largest value outside `messages`
//! and `tools`, which the other two caches already take out of a repeated turn's decode. Parsing
//! it, copying its text and finding the text's escaped form again (`translate::text`) was about
//! a third of a repeated Claude Code turn (callgrind). For a large Claude body
//! `translate::request` (`request/reuse.rs`) asks [`find`] whether a kept value stands in the
//! body: first where it started last time (counted from the body's start: the value comes
//! before `messages`), then where it ended last time (counted from the body's end: it comes
//! after them, as Claude Code sends it), else where a scan finds the top-level `system` value
//! (`util::json_member`), looked up by its bytes. On a hit the body is decoded with the value
//! replaced by the thread's marker (`api::cache_marker`), and the kept texts count only if the
//! top-level `system` read the marker; only then is the value marked as used where it stood
//! ([`seen`]), so a lookalike at a guessed place (the same bytes one level down) costs that one
//! body the plain decode and moves nothing. A miss decodes the value with the body and
//! [`remember`]s it. Any failure on that road falls back to the plain decode of the body, so a
//! bad request gets the error it always got (`docs/translation.md`, "Repeated system prompts").
//!
//! The kept texts are slices of the kept bytes (copied once, on the miss), so a hit pins no
//! client's body. Per thread (`RefCell`, `Rc`, no lock): each worker keeps its own [`ENTRIES`]
//! most recently used values in a [`ValueCache`] (shared with the tools cache).

use super::canonical::Text;
use super::value_cache::ValueCache;
use crate::util::json_member;
use bytes::Bytes;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// Values kept per thread (an agent and its subagents each have their own prompt).
pub const ENTRIES: usize = 4;
/// Values below this size are decoded with the body.
pub const MIN_SYSTEM: usize = 1024;
/// Values above this size are not kept (bounds the cache at `ENTRIES` times this).
pub const MAX_SYSTEM: usize = 512 * 1024;

thread_local! {
    /// The texts of each kept value are slices of its kept bytes.
    static CACHE: RefCell<ValueCache<(), [Text]>> = const { RefCell::new(ValueCache::new(ENTRIES)) };
}

/// A Claude body's top-level `system` value, where [`find`] saw it.
#[derive(Debug, Clone)]
pub enum Found {
    /// A kept value stands at this range (only its bytes were compared: the decode with the
    /// marker there proves it was the top-level `system`); its texts.
    Kept(Range<usize>, Rc<[Text]>),
    /// The value stands here and is not kept (the caller [`remember`]s it after the decode).
    New(Range<usize>),
}

/// Where `body`'s top-level `system` value is and whether it is kept; `None` when the body has
/// no such value of a size worth keeping.
pub fn find(body: &[u8]) -> Option<Found> {
    if let Some((span, texts)) = guess(body) {
        return Some(Found::Kept(span, texts));
    }
    let span = span(body)?;
    let raw = body.get(span.clone())?;
    Some(match lookup(raw) {
        Some(texts) => Found::Kept(span, texts),
        None => Found::New(span),
    })
}

/// Where the body's top-level `system` value is, when it is large enough to keep. The members
/// are walked from the nearer end: from the start when the first `"system"` in the body lies in
/// its first half (the SDKs' `system=` before `messages=`), else from the end (Claude Code sends
/// it after `messages`), so the walk steps over the members on one side of it only. Either
/// walk finds exactly the parser's member in a body that parses, which is the only kind whose
/// value is kept (after its decode).
fn span(body: &[u8]) -> Option<Range<usize>> {
    // A large body without the key would pay a whole walk; a substring search (SIMD) rules it
    // out first.
    let key = memchr::memmem::find(body, br#""system""#)?;
    let r = if key < body.len() / 2 {
        json_member::top_level_value_forward(body, b"system")
    } else {
        json_member::top_level_value(body, b"system")
    };
    r.filter(|r| (MIN_SYSTEM..=MAX_SYSTEM).contains(&r.len()))
}

/// A kept value found in `body` where it started or ended last time: the range and the texts.
/// Nothing is recorded until the decode proves the range ([`seen`]).
fn guess(body: &[u8]) -> Option<(Range<usize>, Rc<[Text]>)> {
    CACHE.with(|c| c.try_borrow().ok()?.guess((), body))
}

/// The texts decoded from exactly these bytes.
fn lookup(raw: &[u8]) -> Option<Rc<[Text]>> {
    CACHE.with(|c| c.try_borrow().ok()?.lookup((), raw))
}

/// Records that the decode proved the kept value with these `texts` at `span` of a body of
/// `body_len` bytes: it becomes the most recently used, and the next guesses look there.
pub fn seen(texts: &Rc<[Text]>, span: &Range<usize>, body_len: usize) {
    let _ = CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.seen(texts, span, body_len)));
}

/// Keeps `texts`, the decoding of `body[span]` (the top-level `system` value), dropping the
/// least recently used value. The value's bytes are copied and the texts moved onto the copy;
/// nothing is kept when a text is a slice of the body outside the value (it would pin the
/// body). A text the decode made as its own copy (one spelled with surrogate escapes) is kept
/// as it is.
pub fn remember(body: &Bytes, span: Range<usize>, texts: &[Text]) {
    if !(MIN_SYSTEM..=MAX_SYSTEM).contains(&span.len()) {
        return;
    }
    let Some(raw) = body.get(span.clone()).map(Bytes::copy_from_slice) else { return };
    let mut moved = Vec::with_capacity(texts.len());
    for t in texts {
        let m = t.moved(body, &span, &raw, 0);
        if !m.is_empty() && m.lies_in(body) {
            return;
        }
        moved.push(m);
    }
    let _ = CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.remember((), raw, &span, body.len(), moved.into())));
}

/// Forgets every value of this thread (benches time the first turn of a conversation).
pub fn clear() {
    let _ = CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.clear()));
}

/// How many values this thread keeps.
#[cfg(test)]
pub fn len() -> usize {
    CACHE.with(|c| c.try_borrow().map_or(0, |c| c.len()))
}

#[cfg(test)]
mod tests;
