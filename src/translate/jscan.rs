//! A small validating JSON scanner that returns *raw spans* instead of values.
//!
//! The stream decoders use it to pull a few fields out of an upstream frame without building a
//! value tree and, above all, without unescaping strings: a string comes back as its escaped
//! content (the bytes between the quotes), which the encoders copy straight into their own JSON.
//!
//! Everything returned has been validated (RFC 8259: string escapes, no raw control characters,
//! UTF-8, number grammar, literals, nesting up to [`MAX_DEPTH`]), so a span embedded into other
//! JSON can never make that JSON invalid.
//!
//! One pass per frame: [`Tape::parse`] validates the whole document once and records every value
//! (kind, span, where its subtree ends) on a reused tape; [`Val`] then walks the tape, so looking
//! fields up never touches the input again (no re-scan per object level). [`with_tape`] lends the
//! thread's scratch tape, so a warm core parses frames without allocating and no per-stream tape
//! is held. [`parse`] only validates (no tape).
//!
//! Strings are scanned eight bytes at a time (a SWAR test for `"`, `\` and control bytes); UTF-8
//! is checked once per string with `std::str::from_utf8`, and only when a byte ≥ 0x80 was seen.
//! Errors (offset and message) are exactly those of the first byte-at-a-time scanner, kept as
//! `jscan_reference` and checked against in the tests.
//!
//! Keys are compared in their escaped form: a key written with escapes (`"te\u0078t"`) does not
//! match `text`. No real upstream escapes plain ASCII keys.

mod scanner;

use crate::util::swar;
use scanner::{NoTape, Scanner, TapeSink};
use std::cell::Cell;

/// Deepest nesting accepted (deeper input is an error, never a stack overflow).
pub const MAX_DEPTH: usize = 64;

/// Why a span is not valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset where the problem was seen.
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for ScanError {}

/// The kind of a scanned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// One value: its kind and its exact bytes in the input (for strings, with the quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    pub kind: Kind,
    pub bytes: &'a [u8],
}

impl<'a> Raw<'a> {
    /// The escaped content of a string (between the quotes), or `None` for other kinds.
    pub fn str_content(&self) -> Option<&'a [u8]> {
        if self.kind != Kind::String {
            return None;
        }
        self.bytes.get(1..self.bytes.len().saturating_sub(1))
    }

    /// A non-negative integer value (`None` for fractions, exponents, negatives, overflow).
    pub fn as_u64(&self) -> Option<u64> {
        if self.kind != Kind::Number || self.bytes.is_empty() {
            return None;
        }
        self.bytes.iter().try_fold(0u64, |n, &d| {
            if d.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(d - b'0')) } else { None }
        })
    }

    pub fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }
}

/// Validates one complete JSON document (surrounding whitespace allowed) without recording it.
pub fn parse(input: &[u8]) -> Result<Raw<'_>, ScanError> {
    let (kind, at) = Scanner { b: input, pos: 0, sink: NoTape }.document()?;
    Ok(Raw { kind, bytes: input.get(at).unwrap_or_default() })
}

/// Checks that `content` is valid *escaped string content* (what goes between two quotes).
pub fn validate_str_content(content: &[u8]) -> Result<(), ScanError> {
    let mut s = Scanner { b: content, pos: 0, sink: NoTape };
    s.string_body(false)?;
    if s.pos == content.len() {
        Ok(())
    } else {
        Err(ScanError { at: s.pos, what: "unescaped quote in string content" })
    }
}

/// The length of the string content at the start of `rest` (what follows an opening quote), if
/// it is valid and closed by a quote: the same checks as [`validate_str_content`] on the
/// content, but the scan may read past its end, so even a short string goes eight bytes at a time.
pub fn str_content_len(rest: &[u8]) -> Option<usize> {
    // A plain ASCII run (the usual delta's text) ends here; anything else is checked from
    // where it stopped.
    let at = scanner::plain_run::<{ usize::MAX }>(rest, 0);
    if rest.get(at) == Some(&b'"') {
        return Some(at);
    }
    let mut s = Scanner { b: rest, pos: at, sink: NoTape };
    s.string_body(true).ok()?;
    Some(s.pos)
}

/// The length of the JSON value at the very start of `rest` (no leading whitespace), if it is
/// valid (the same checks as [`parse`]); what follows it is not looked at. A number is read as
/// far as its grammar goes, so `12` followed by `3` is the value `123`.
pub fn value_len(rest: &[u8]) -> Option<usize> {
    value_len_at(rest, 0)
}

/// [`value_len`] for a value nested `depth` levels inside its document (a member of the root is
/// at depth 1), so the nesting limit is the one [`parse`] applies to the whole document.
pub fn value_len_at(rest: &[u8], depth: usize) -> Option<usize> {
    if rest.first().is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        return None;
    }
    let mut s = Scanner { b: rest, pos: 0, sink: NoTape };
    s.value(depth).ok()?;
    Some(s.pos)
}

// ---------------------------------------------------------------------------------------------
// The tape
// ---------------------------------------------------------------------------------------------

/// One recorded value. Objects are followed by their members as (key string, value) pairs,
/// arrays by their elements; `next` is the index just past the value's subtree.
#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    next: u32,
    kind: Kind,
}

impl Node {
    const NONE: Self = Self { start: 0, end: 0, next: 0, kind: Kind::Null };

    /// A string node's escaped content: its span without the quotes.
    fn string_content(self, input: &[u8]) -> &[u8] {
        // A string node spans its two quotes, so `end - 1` does not wrap for one.
        input.get(self.start as usize + 1..(self.end as usize).wrapping_sub(1)).unwrap_or_default()
    }
}

/// A reusable record of one parsed document.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
}

impl Tape {
    pub const fn new() -> Self {
        Self { nodes: Vec::new() }
    }

    /// Validates `input` as one JSON document and records it; the document on success (its
    /// [`Doc::root`] is the root value).
    pub fn parse<'t>(&'t mut self, input: &'t [u8]) -> Result<Doc<'t>, ScanError> {
        self.nodes.clear();
        if u32::try_from(input.len()).is_err() {
            return Err(ScanError { at: 0, what: "document too large" });
        }
        Scanner { b: input, pos: 0, sink: TapeSink(&mut self.nodes) }.document()?;
        Ok(Doc { input, nodes: &self.nodes })
    }
}

thread_local! {
    static SCRATCH: Cell<Tape> = const { Cell::new(Tape::new()) };
}

/// Runs `f` with this thread's scratch tape. The tape is taken out for the call (a nested call
/// gets a fresh one), so it is never shared by two parses at once.
pub fn with_tape<R>(f: impl FnOnce(&mut Tape) -> R) -> R {
    let mut tape = SCRATCH.with(Cell::take);
    let r = f(&mut tape);
    SCRATCH.with(|c| c.set(tape));
    r
}

/// A parsed document: its input and its tape ([`Tape::parse`]).
#[derive(Debug, Clone, Copy)]
pub struct Doc<'t> {
    input: &'t [u8],
    nodes: &'t [Node],
}

impl Doc<'_> {
    /// The root value.
    pub fn root(&self) -> Val<'_> {
        Val { doc: self, i: 0 }
    }
}

/// A value of a parsed document (a position on its tape). Two words: a reference to the
/// document and the position, so an `Option<Val>` is two words too and moves in registers.
#[derive(Debug, Clone, Copy)]
pub struct Val<'t> {
    doc: &'t Doc<'t>,
    i: usize,
}

impl<'t> Val<'t> {
    fn node(&self) -> Node {
        self.doc.nodes.get(self.i).copied().unwrap_or(Node::NONE)
    }

    fn next_of(&self, i: usize) -> usize {
        self.doc.nodes.get(i).map_or(usize::MAX, |n| n.next as usize)
    }

    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    /// The value's exact bytes (strings with their quotes).
    pub fn bytes(&self) -> &'t [u8] {
        let n = self.node();
        self.doc.input.get(n.start as usize..n.end as usize).unwrap_or_default()
    }

    pub fn raw(&self) -> Raw<'t> {
        Raw { kind: self.kind(), bytes: self.bytes() }
    }

    /// The escaped content of a string (between the quotes), or `None` for other kinds.
    pub fn str_content(&self) -> Option<&'t [u8]> {
        let n = self.node();
        (n.kind == Kind::String).then(|| n.string_content(self.doc.input))
    }

    /// A non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        self.raw().as_u64()
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// The members of an object, in order, as (escaped key, value); nothing for other kinds.
    pub fn fields(&self) -> Fields<'t> {
        let n = self.node();
        let end = if n.kind == Kind::Object { n.next as usize } else { 0 };
        Fields { val: *self, i: self.i + 1, end }
    }

    /// The elements of an array, in order; nothing for other kinds.
    pub fn elements(&self) -> Elements<'t> {
        let n = self.node();
        let end = if n.kind == Kind::Array { n.next as usize } else { 0 };
        Elements { val: *self, i: self.i + 1, end }
    }

    /// The member `key` of an object (first occurrence).
    pub fn get(&self, key: &str) -> Option<Val<'t>> {
        self.fields().find(|(k, _)| same(k, key.as_bytes())).map(|(_, v)| v)
    }

    /// Several members of an object in one walk (first occurrence of each wins). Always
    /// inlined, so the keys (constants at every call site) fold into a few length-and-word
    /// compares per member instead of a run-time list compared with every member.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "the stream decoders' lookups on every frame of a new shape: out of line the keys are a run-time list, about 300 instructions a call"
    )]
    pub fn pick<const N: usize>(&self, keys: [&str; N]) -> [Option<Val<'t>>; N] {
        let mut found: [Option<Val<'t>>; N] = [None; N];
        for (k, v) in self.fields() {
            // A member's key fills the slot of the first equal key (the lists hold no repeats).
            if let Some(slot) = keys.iter().position(|key| key.as_bytes() == k).and_then(|i| found.get_mut(i)) {
                if slot.is_none() {
                    *slot = Some(v);
                }
            }
        }
        found
    }

    /// The `i`th element of an array.
    pub fn index(&self, i: usize) -> Option<Val<'t>> {
        self.elements().nth(i)
    }
}

/// Key equality without a `memcmp` call for the short keys JSON APIs use: two overlapping
/// loads from each side cover a key of up to 16 bytes (the length settles most mismatches
/// first).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a.first() == b.first() && a.get(n / 2) == b.get(n / 2) && a.last() == b.last(),
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => swar::word_at(a, 0) == swar::word_at(b, 0) && swar::word_at(a, n - 8) == swar::word_at(b, n - 8),
        _ => a == b,
    }
}

/// The four bytes at `i` as a word (`None` past the end).
#[inline]
fn word4(s: &[u8], i: usize) -> Option<u32> {
    let chunk: [u8; 4] = s.get(i..i.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(chunk))
}

/// Iterator over an object's members ([`Val::fields`]).
#[derive(Debug, Clone)]
pub struct Fields<'t> {
    val: Val<'t>,
    i: usize,
    end: usize,
}

impl<'t> Iterator for Fields<'t> {
    type Item = (&'t [u8], Val<'t>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.end {
            return None;
        }
        // A member is its key's node and its value's, side by side: one bounds check for both.
        // The key is always a string (no kind check needed).
        let (key, next) = match self.val.doc.nodes.get(self.i..self.i + 2) {
            Some([k, v]) => (k.string_content(self.val.doc.input), v.next as usize),
            _ => (&[][..], usize::MAX),
        };
        let value = Val { i: self.i + 1, ..self.val };
        self.i = next;
        Some((key, value))
    }
}

/// Iterator over an array's elements ([`Val::elements`]).
#[derive(Debug, Clone)]
pub struct Elements<'t> {
    val: Val<'t>,
    i: usize,
    end: usize,
}

impl<'t> Iterator for Elements<'t> {
    type Item = Val<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.end {
            return None;
        }
        let v = Val { i: self.i, ..self.val };
        self.i = self.val.next_of(self.i);
        Some(v)
    }
}

#[cfg(test)]
mod tests;
