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

use crate::util::swar;
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
    let mut s = Scanner { b: rest, pos: 0, sink: NoTape };
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

    /// Validates `input` as one JSON document and records it; the root value on success.
    pub fn parse<'t>(&'t mut self, input: &'t [u8]) -> Result<Val<'t>, ScanError> {
        self.nodes.clear();
        if u32::try_from(input.len()).is_err() {
            return Err(ScanError { at: 0, what: "document too large" });
        }
        Scanner { b: input, pos: 0, sink: TapeSink(&mut self.nodes) }.document()?;
        Ok(Val { input, nodes: &self.nodes, i: 0 })
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

/// A value of a parsed document (a position on its tape).
#[derive(Debug, Clone, Copy)]
pub struct Val<'t> {
    input: &'t [u8],
    nodes: &'t [Node],
    i: usize,
}

impl<'t> Val<'t> {
    fn node(&self) -> Node {
        self.nodes.get(self.i).copied().unwrap_or(Node::NONE)
    }

    fn next_of(&self, i: usize) -> usize {
        self.nodes.get(i).map_or(usize::MAX, |n| n.next as usize)
    }

    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    /// The value's exact bytes (strings with their quotes).
    pub fn bytes(&self) -> &'t [u8] {
        let n = self.node();
        self.input.get(n.start as usize..n.end as usize).unwrap_or_default()
    }

    pub fn raw(&self) -> Raw<'t> {
        Raw { kind: self.kind(), bytes: self.bytes() }
    }

    /// The escaped content of a string (between the quotes), or `None` for other kinds.
    pub fn str_content(&self) -> Option<&'t [u8]> {
        self.raw().str_content()
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

    /// Several members of an object in one walk (first occurrence of each wins).
    pub fn pick<const N: usize>(&self, keys: [&str; N]) -> [Option<Val<'t>>; N] {
        let mut found: [Option<Val<'t>>; N] = [None; N];
        for (k, v) in self.fields() {
            for (slot, key) in found.iter_mut().zip(keys.iter()) {
                if slot.is_none() && same(k, key.as_bytes()) {
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
        // A member's key is always a string: its content lies between its quotes.
        let key = self.val.nodes.get(self.i).map_or(&[][..], |k| {
            self.val.input.get(k.start as usize + 1..(k.end as usize).saturating_sub(1)).unwrap_or_default()
        });
        let value = Val { i: self.i + 1, ..self.val };
        self.i = self.val.next_of(self.i + 1);
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

// ---------------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------------

/// Why a scan failed, inside the scanner: one byte, so a failure (with its offset) comes back
/// in registers from every step instead of through memory. [`ScanError`] carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    UnexpectedByte,
    Trailing,
    TooDeep,
    ExpectedValue,
    BadLiteral,
    BadNumber,
    BadFraction,
    BadExponent,
    BadUnicodeEscape,
    BadEscape,
    RawControl,
    RawQuote,
    Unterminated,
    InvalidUtf8,
}

impl Why {
    fn text(self) -> &'static str {
        match self {
            Self::UnexpectedByte => "unexpected byte",
            Self::Trailing => "trailing bytes after the value",
            Self::TooDeep => "nesting too deep",
            Self::ExpectedValue => "expected a value",
            Self::BadLiteral => "bad literal",
            Self::BadNumber => "bad number",
            Self::BadFraction => "bad fraction",
            Self::BadExponent => "bad exponent",
            Self::BadUnicodeEscape => "bad \\u escape",
            Self::BadEscape => "bad escape",
            Self::RawControl => "raw control character in string",
            Self::RawQuote => "raw quote",
            Self::Unterminated => "unterminated string",
            Self::InvalidUtf8 => "invalid UTF-8 in string",
        }
    }
}

/// A failure at a byte offset (converted to [`ScanError`] at the API's edge).
#[derive(Debug, Clone, Copy)]
struct Fail {
    at: usize,
    why: Why,
}

impl From<Fail> for ScanError {
    fn from(f: Fail) -> Self {
        Self { at: f.at, what: f.why.text() }
    }
}

type Step<T = ()> = Result<T, Fail>;

/// Where the scanner records values: nowhere ([`parse`]) or on a tape ([`Tape::parse`]).
trait Sink {
    /// A value of `kind` with a subtree starts at `start`; returns its slot.
    fn open(&mut self, kind: Kind, start: usize) -> usize;
    /// The value in `slot` (and its subtree) ends at `end`.
    fn close(&mut self, slot: usize, end: usize);
    /// A value without a subtree (string, number, literal) at `start..end`.
    fn leaf(&mut self, kind: Kind, start: usize, end: usize);
}

struct NoTape;

impl Sink for NoTape {
    #[inline]
    fn open(&mut self, _: Kind, _: usize) -> usize {
        0
    }

    #[inline]
    fn close(&mut self, _: usize, _: usize) {}

    #[inline]
    fn leaf(&mut self, _: Kind, _: usize, _: usize) {}
}

struct TapeSink<'n>(&'n mut Vec<Node>);

/// Offsets fit: [`Tape::parse`] refuses inputs of 4 GiB or more.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "offsets and node counts stay below the input's length, and Tape::parse refuses 4 GiB or more"
)]
fn off(n: usize) -> u32 {
    n as u32
}

impl Sink for TapeSink<'_> {
    #[inline]
    fn open(&mut self, kind: Kind, start: usize) -> usize {
        let slot = self.0.len();
        self.0.push(Node { start: off(start), end: off(start), next: 0, kind });
        slot
    }

    #[inline]
    fn close(&mut self, slot: usize, end: usize) {
        let next = off(self.0.len());
        if let Some(n) = self.0.get_mut(slot) {
            n.end = off(end);
            n.next = next;
        }
    }

    #[inline]
    fn leaf(&mut self, kind: Kind, start: usize, end: usize) {
        let next = off(self.0.len() + 1);
        self.0.push(Node { start: off(start), end: off(end), next, kind });
    }
}

struct Scanner<'a, S> {
    b: &'a [u8],
    pos: usize,
    sink: S,
}

impl<S: Sink> Scanner<'_, S> {
    #[inline]
    fn fail<T>(&self, why: Why) -> Step<T> {
        Err(Fail { at: self.pos, why })
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Step {
        if self.eat(c) { Ok(()) } else { self.fail(Why::UnexpectedByte) }
    }

    /// Skips whitespace; the usual next byte (anything above a space) costs one compare.
    #[inline]
    fn ws(&mut self) {
        while let Some(&b) = self.b.get(self.pos) {
            if b > b' ' || !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return;
            }
            self.pos += 1;
        }
    }

    /// The root value's kind and where it lies (surrounding whitespace excluded).
    fn document(&mut self) -> Step<(Kind, std::ops::Range<usize>)> {
        self.ws();
        let start = self.pos;
        let kind = self.value(0)?;
        let end = self.pos;
        self.ws();
        if self.pos != self.b.len() {
            return self.fail(Why::Trailing);
        }
        Ok((kind, start..end))
    }

    fn value(&mut self, depth: usize) -> Step<Kind> {
        if depth > MAX_DEPTH {
            return self.fail(Why::TooDeep);
        }
        match self.peek() {
            Some(b'"') => {
                self.string()?;
                Ok(Kind::String)
            }
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                self.sink.leaf(Kind::Number, start, self.pos);
                Ok(Kind::Number)
            }
            _ => self.fail(Why::ExpectedValue),
        }
    }

    fn object(&mut self, depth: usize) -> Step<Kind> {
        let slot = self.sink.open(Kind::Object, self.pos);
        self.pos += 1;
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.ws();
                self.string()?;
                self.ws();
                self.expect(b':')?;
                self.ws();
                self.value(depth + 1)?;
                self.ws();
                if self.eat(b',') {
                    continue;
                }
                self.expect(b'}')?;
                break;
            }
        }
        self.sink.close(slot, self.pos);
        Ok(Kind::Object)
    }

    fn array(&mut self, depth: usize) -> Step<Kind> {
        let slot = self.sink.open(Kind::Array, self.pos);
        self.pos += 1;
        self.ws();
        if !self.eat(b']') {
            loop {
                self.ws();
                self.value(depth + 1)?;
                self.ws();
                if self.eat(b',') {
                    continue;
                }
                self.expect(b']')?;
                break;
            }
        }
        self.sink.close(slot, self.pos);
        Ok(Kind::Array)
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Step<Kind> {
        let start = self.pos;
        if self.b.get(start..start + word.len()) != Some(word) {
            return self.fail(Why::BadLiteral);
        }
        self.pos += word.len();
        self.sink.leaf(kind, start, self.pos);
        Ok(kind)
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Step {
        self.eat(b'-');
        if self.eat(b'0') {
            // no leading zeros
        } else if self.digits() == 0 {
            return self.fail(Why::BadNumber);
        }
        if self.eat(b'.') && self.digits() == 0 {
            return self.fail(Why::BadFraction);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return self.fail(Why::BadExponent);
            }
        }
        Ok(())
    }

    /// A quoted string (a value or a key), recorded on the tape.
    #[inline]
    fn string(&mut self) -> Step {
        let start = self.pos;
        self.expect(b'"')?;
        self.string_body(true)?;
        // `string_body` stopped at the closing quote.
        self.pos += 1;
        self.sink.leaf(Kind::String, start, self.pos);
        Ok(())
    }

    /// The UTF-8 check of the string content `start..pos` (only when a byte ≥ 0x80 was seen).
    #[inline]
    fn utf8(&self, start: usize, high: bool) -> Step {
        if !high {
            return Ok(());
        }
        match std::str::from_utf8(self.b.get(start..self.pos).unwrap_or_default()) {
            Ok(_) => Ok(()),
            Err(e) => Err(Fail { at: start + e.valid_up_to(), why: Why::InvalidUtf8 }),
        }
    }

    /// Validates string content from `pos` up to the closing quote (left at `pos` for the
    /// caller) when `quoted`, or up to the end of the input when not (then a quote is an
    /// error). Any error is reported after the UTF-8 check of the bytes before it, so the first
    /// problem in the input is the one reported.
    #[inline]
    fn string_body(&mut self, quoted: bool) -> Step {
        let start = self.pos;
        // Every byte passed over, OR-ed: its high bits say whether UTF-8 needs a check.
        let mut seen = 0u64;
        loop {
            // Eight bytes at a time up to the first byte that needs a look.
            while let Some(w) = swar::word_at(self.b, self.pos) {
                let s = swar::json_special(w);
                if s != 0 {
                    let n = swar::first(s);
                    seen |= w & ((1u64 << (n * 8)) - 1);
                    self.pos += n;
                    break;
                }
                seen |= w;
                self.pos += 8;
            }
            match self.peek() {
                Some(b'"') => {
                    self.utf8(start, seen & swar::HIGH != 0)?;
                    return if quoted { Ok(()) } else { self.fail(Why::RawQuote) };
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            let hex = self.b.get(self.pos..self.pos + 4).unwrap_or_default();
                            if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                                self.utf8(start, seen & swar::HIGH != 0)?;
                                return self.fail(Why::BadUnicodeEscape);
                            }
                            self.pos += 4;
                        }
                        _ => {
                            self.utf8(start, seen & swar::HIGH != 0)?;
                            return self.fail(Why::BadEscape);
                        }
                    }
                }
                Some(c) if c < 0x20 => {
                    self.utf8(start, seen & swar::HIGH != 0)?;
                    return self.fail(Why::RawControl);
                }
                Some(c) => {
                    // The last few bytes of the input, one at a time.
                    seen |= u64::from(c);
                    self.pos += 1;
                }
                None => {
                    self.utf8(start, seen & swar::HIGH != 0)?;
                    return if quoted { self.fail(Why::Unterminated) } else { Ok(()) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
