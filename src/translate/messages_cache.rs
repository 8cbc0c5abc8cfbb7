//! The conversations of the last few large requests, per worker thread: an agent's next turn is
//! decoded from its new messages only.
//!
//! An agent (Claude Code, an OpenAI-SDK agent) sends its whole conversation on every turn: the
//! last turn's `messages` with the answer and the next user turn appended (Claude Code also
//! moves its last `cache_control` marker, so the message that carried it differs). Decoding the
//! same messages again was most of a repeated turn's cost. For a large body `translate::request`
//! (`request/reuse.rs`) asks [`find`] which kept conversation's first messages stand, byte for
//! byte and for the most bytes, at the start
//! of the body's `messages` array (looked for where that array started last time, else after the
//! body's first `"messages"` key); on a hit it decodes the body with those elements replaced by
//! the thread's marker (`api::cache_marker`) and takes the kept decoding for them only if the
//! top-level `messages` read the marker first: then those bytes were its first elements. What
//! fails on that road falls back to the decode of the whole body, so a bad request gets the
//! error it always got (`docs/translation.md`, "Repeated conversations").
//!
//! A conversation is kept as what the decode made of it (the system texts its messages added and
//! the messages) and, per element, a [`Mark`]: how far the request had got after that element,
//! so a hit on the first `k` elements replays exactly the state the decode had after them (an
//! OpenAI tool result merges into the message before it, which is why a mark also counts the
//! last message's blocks). Texts are slices of the body they were decoded from; a replay moves
//! them onto the new body ([`Text::moved`]), so the cache holds one body per conversation.
//!
//! A conversation is kept as long as it is among the worker's [`ENTRIES`] most recently used and
//! their bodies stay within [`BUDGET`] bytes. A turn that repeats most of a kept conversation
//! replaces it; one that repeats only its start (another conversation with the same system
//! prompt, an edited history) is kept beside it. Each kept body pins the buffer it was received
//! in (the body and at most about as much again).
//!
//! Per thread (`RefCell`, `Rc`, no lock): each worker keeps its own conversations.

use super::canonical::{Message, Text, WireFormat};
use crate::util::json_member;
use bytes::Bytes;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// Conversations kept per thread (an agent and its subagents alternate).
pub const ENTRIES: usize = 4;
/// Bodies below this size are decoded whole (the same bound as the tools cache's).
pub const MIN_BODY: usize = super::tools_cache::MIN_BODY;
/// Bodies above this size are not kept.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// The kept bodies of a worker together stay within this many bytes (least recently used
/// dropped first).
pub const BUDGET: usize = 8 * 1024 * 1024;
/// A shared run of elements shorter than this is decoded with the body.
pub const MIN_SHARED: usize = 1024;

/// How far a request's decode had got after one element of its `messages`: the system texts the
/// messages had added, the messages, and the blocks of the last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    system: usize,
    messages: usize,
    last_blocks: usize,
}

/// Whether a body of this size is one the cache keeps (its decode records [`Mark`]s).
pub fn keeps(body_len: usize) -> bool {
    (MIN_BODY..=MAX_BODY).contains(&body_len)
}

impl Mark {
    /// The state after an element: `system` texts added by the messages so far, and `messages`.
    pub fn after(system: usize, messages: &[Message]) -> Self {
        Self { system, messages: messages.len(), last_blocks: messages.last().map_or(0, |m| m.content.len()) }
    }
}

struct Entry {
    format: WireFormat,
    /// The body the texts below are slices of.
    body: Bytes,
    /// Where `messages`' `[` is in `body`.
    open: usize,
    /// The end of each element, from `open`, as far as they were needed: found by
    /// [`Entry::walk_to`] when a later body repeats this one's bytes that far.
    ends: RefCell<Vec<usize>>,
    marks: Vec<Mark>,
    /// The system texts the messages added, and the messages.
    system: Vec<Text>,
    messages: Vec<Message>,
}

thread_local! {
    static CACHE: RefCell<Vec<Rc<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// A kept conversation whose first elements a new body repeats ([`remember`] keeps the new
/// body's conversation in its place, or beside it).
pub struct Prefix {
    entry: Rc<Entry>,
    /// Bytes of the shared elements, from the `[`.
    len: usize,
    /// How many elements the new body repeats.
    shared: usize,
    /// Where the new body's `messages` `[` is.
    open: usize,
}

impl std::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefix").field("shared", &self.shared).field("open", &self.open).finish_non_exhaustive()
    }
}

impl Prefix {
    /// The bytes of the new body the marker replaces: the shared elements, after the `[`.
    pub fn span(&self) -> Range<usize> {
        self.open + 1..self.open + self.len
    }

    /// The marks of the shared elements.
    pub fn marks(&self) -> &[Mark] {
        self.entry.marks.get(..self.shared).unwrap_or_default()
    }

    /// Appends what the shared elements added to a request: system texts and messages, their
    /// texts moved onto `body` (the new body, which repeats the old one's bytes there).
    pub fn replay(&self, body: &Bytes, system: &mut Vec<Text>, messages: &mut Vec<Message>) {
        let Some(mark) = self.marks().last().copied() else { return };
        #[cfg(test)]
        REPLAYED.with(|r| r.set(Some(self.shared)));
        let e = &self.entry;
        let region = e.open..e.open + self.len;
        let moved = |t: &Text| t.moved(&e.body, &region, body, self.open);
        system.extend(e.system.iter().take(mark.system).map(moved));
        for (i, m) in e.messages.iter().take(mark.messages).enumerate() {
            let blocks = if i + 1 == mark.messages { m.content.get(..mark.last_blocks) } else { None };
            let blocks = blocks.unwrap_or(&m.content);
            messages.push(Message { role: m.role, content: blocks.iter().map(|b| b.with_texts(&moved)).collect() });
        }
    }
}

impl Entry {
    /// How many of this conversation's elements `body` repeats with its `messages` at `open`,
    /// and their bytes (`None` when too few to pay off). Element ends are found as far as the
    /// bytes agree (a conversation that never comes back costs no walk).
    fn shared_with(&self, body: &[u8], open: usize) -> Option<(usize, usize)> {
        let common = common_prefix_len(self.body.get(self.open..)?, body.get(open..)?);
        if common < MIN_SHARED {
            return None;
        }
        self.walk_to(common)?;
        let ends = self.ends.try_borrow().ok()?;
        let shared = ends.partition_point(|&end| end <= common).min(self.marks.len());
        let len = *ends.get(shared.checked_sub(1)?)?;
        (len >= MIN_SHARED).then_some((shared, len))
    }

    /// Finds element ends until one lies beyond `limit` (from `open`) or all are known.
    fn walk_to(&self, limit: usize) -> Option<()> {
        let mut ends = self.ends.try_borrow_mut().ok()?;
        let last = ends.last().copied();
        if ends.len() >= self.marks.len() || last.is_some_and(|end| end > limit) {
            return Some(());
        }
        let from = self.open + last.unwrap_or(1);
        ends.extend(json_member::element_ends(&self.body, self.open, from, limit)?);
        Some(())
    }

    /// Whether a turn that repeats `shared` of this conversation's elements carries it on (and
    /// replaces it) rather than branching off its start.
    fn carried_on_by(&self, shared: usize) -> bool {
        2 * shared >= self.marks.len()
    }
}

/// The length of the longest common prefix of `a` and `b`: block compares (`memcmp`), narrowed.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    for step in [4096, 64, 1] {
        while at + step <= n && a.get(at..at + step) == b.get(at..at + step) {
            at += step;
        }
    }
    at
}

/// Where the `[` of the array after the body's first `"messages"` key is (a guess the decode
/// proves or refutes).
fn messages_open(body: &[u8]) -> Option<usize> {
    const KEY: &[u8] = br#""messages""#;
    let key = memchr::memmem::find(body, KEY)?;
    let colon = json_member::skip_ws(body, key + KEY.len());
    let open = json_member::skip_ws(body, (body.get(colon) == Some(&b':')).then_some(colon + 1)?);
    (body.get(open) == Some(&b'[')).then_some(open)
}

/// The kept conversation of this format whose first elements `body` repeats for the most bytes.
/// Only bytes are compared; the caller proves the elements were the top-level `messages`' first
/// ones by the decode with the marker in their place.
pub fn find(format: WireFormat, body: &[u8]) -> Option<Prefix> {
    if !keeps(body.len()) {
        return None;
    }
    CACHE.with(|c| {
        let c = c.try_borrow().ok()?;
        let mut keyed = None;
        let mut best: Option<Prefix> = None;
        for e in c.iter().filter(|e| e.format == format) {
            let mut found = e.shared_with(body, e.open).map(|s| (s, e.open));
            if found.is_none() {
                if let Some(open) = (*keyed.get_or_insert_with(|| messages_open(body))).filter(|&o| o != e.open) {
                    found = e.shared_with(body, open).map(|s| (s, open));
                }
            }
            if let Some(((shared, len), open)) = found {
                if best.as_ref().is_none_or(|b| len > b.len) {
                    best = Some(Prefix { entry: Rc::clone(e), len, shared, open });
                }
            }
        }
        best
    })
}

/// Keeps the conversation of `body`, just decoded to `system` (the texts its messages added)
/// and `messages`, with one mark per element of its top-level `messages`; `used` is the prefix
/// the decode replayed, if any (then the elements after it are stepped over to find their ends;
/// a body decoded whole has its ends found only when a later body repeats it). The least
/// recently used conversation is dropped. Nothing is kept when the body is too large or its
/// array does not read as `marks` elements.
pub fn remember(
    format: WireFormat,
    body: &Bytes,
    used: Option<&Prefix>,
    marks: Vec<Mark>,
    system: &[Text],
    messages: &[Message],
) {
    if !keeps(body.len()) {
        return;
    }
    let (open, ends) = if let Some(p) = used {
        let Ok(known) = p.entry.ends.try_borrow() else { return };
        let mut ends = known.get(..p.shared).unwrap_or_default().to_vec();
        drop(known);
        let Some(more) = json_member::element_ends(body, p.open, p.open + p.len, usize::MAX) else { return };
        ends.extend(more);
        if ends.len() != marks.len() {
            return;
        }
        (p.open, ends)
    } else {
        // The ends are found when a later body repeats this one's first bytes.
        let Some(open) = json_member::top_level_value_start(body, b"messages") else { return };
        (open, Vec::new())
    };
    if marks.is_empty() || body.get(open) != Some(&b'[') {
        return;
    }
    let entry = Rc::new(Entry {
        format,
        body: body.clone(),
        open,
        ends: RefCell::new(ends),
        marks,
        system: system.to_vec(),
        messages: messages.to_vec(),
    });
    CACHE.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else { return };
        // The conversation this turn carried on is replaced; one it only branched off stays,
        // right behind it.
        let mut kept = Vec::with_capacity(ENTRIES);
        kept.push(entry);
        if let Some(p) = used {
            if let Some(at) = c.iter().position(|e| Rc::ptr_eq(e, &p.entry)) {
                let parent = c.remove(at);
                if !parent.carried_on_by(p.shared) {
                    kept.push(parent);
                }
            }
        }
        kept.append(&mut c);
        let mut bytes = 0;
        kept.retain(|e| {
            bytes += e.body.len();
            bytes <= BUDGET
        });
        kept.truncate(ENTRIES);
        *c = kept;
    });
}

/// Forgets every conversation of this thread (benches time the first turn of a conversation).
pub fn clear() {
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.clear();
        }
    });
}

#[cfg(test)]
thread_local! {
    /// How many elements the last replay on this thread replayed.
    static REPLAYED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// How many elements were replayed since the last call (`None`: no replay).
#[cfg(test)]
pub fn take_replayed() -> Option<usize> {
    REPLAYED.with(std::cell::Cell::take)
}

/// Runs `f` with this thread's conversations set aside (a decode as if the cache were empty),
/// then puts them back as they were.
#[cfg(test)]
pub fn without<R>(f: impl FnOnce() -> R) -> R {
    let kept = CACHE.with(|c| c.try_borrow_mut().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default());
    let r = f();
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = kept;
        }
    });
    r
}

/// How many conversations this thread keeps.
#[cfg(test)]
pub fn len() -> usize {
    CACHE.with(|c| c.try_borrow().map_or(0, |c| c.len()))
}

/// The bodies this thread's conversations hold (tests check that only the latest is kept).
#[cfg(test)]
pub fn bodies() -> Vec<Bytes> {
    CACHE.with(|c| c.try_borrow().map(|c| c.iter().map(|e| e.body.clone()).collect()).unwrap_or_default())
}

#[cfg(test)]
mod tests;
