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
    Scanner { b: input, pos: 0, sink: NoTape }.document()
}

/// Checks that `content` is valid *escaped string content* (what goes between two quotes).
pub fn validate_str_content(content: &[u8]) -> Result<(), ScanError> {
    let mut s = Scanner { b: content, pos: 0, sink: NoTape };
    s.string_body(false)?;
    if s.pos == content.len() { Ok(()) } else { Err(s.err("unescaped quote in string content")) }
}

/// The length of the string content at the start of `rest` (what follows an opening quote), if
/// it is valid and closed by a quote: the same checks as [`validate_str_content`] on the
/// content, but the scan may read past its end, so even a short string goes eight bytes at a time.
pub fn str_content_len(rest: &[u8]) -> Option<usize> {
    let mut s = Scanner { b: rest, pos: 0, sink: NoTape };
    s.string_body(true).ok()?;
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

/// Key equality; the length and first byte settle most comparisons without a `memcmp` call.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
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
        let key = Val { i: self.i, ..self.val };
        let value = Val { i: self.i + 1, ..self.val };
        self.i = self.val.next_of(self.i + 1);
        Some((key.str_content().unwrap_or_default(), value))
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

/// Where the scanner records values: nowhere ([`parse`]) or on a tape ([`Tape::parse`]).
trait Sink {
    /// A value of `kind` starts at `start`; returns its slot.
    fn open(&mut self, kind: Kind, start: usize) -> usize;
    /// The value in `slot` (and its subtree) ends at `end`.
    fn close(&mut self, slot: usize, end: usize);
}

struct NoTape;

impl Sink for NoTape {
    #[inline]
    fn open(&mut self, _: Kind, _: usize) -> usize {
        0
    }

    #[inline]
    fn close(&mut self, _: usize, _: usize) {}
}

struct TapeSink<'n>(&'n mut Vec<Node>);

/// Offsets fit: [`Tape::parse`] refuses inputs of 4 GiB or more.
fn off(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `w` (little-endian) that is `"`, `\` or below 0x20. Exact for
/// the lowest such byte (borrows can only flag bytes above a true one), which is all the caller
/// uses.
#[inline]
fn special(w: u64) -> u64 {
    let q = w ^ (LO * u64::from(b'"'));
    let e = w ^ (LO * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(LO) & !x;
    (zero(q) | zero(e) | (w.wrapping_sub(LO * 0x20) & !w)) & HI
}

struct Scanner<'a, S> {
    b: &'a [u8],
    pos: usize,
    sink: S,
}

impl<'a, S: Sink> Scanner<'a, S> {
    fn err(&self, what: &'static str) -> ScanError {
        ScanError { at: self.pos, what }
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
    fn expect(&mut self, c: u8) -> Result<(), ScanError> {
        if self.eat(c) { Ok(()) } else { Err(self.err("unexpected byte")) }
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn document(&mut self) -> Result<Raw<'a>, ScanError> {
        self.ws();
        let v = self.value(0)?;
        self.ws();
        if self.pos != self.b.len() {
            return Err(self.err("trailing bytes after the value"));
        }
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Raw<'a>, ScanError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => {
                let slot = self.sink.open(Kind::Object, start);
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
                Kind::Object
            }
            Some(b'[') => {
                let slot = self.sink.open(Kind::Array, start);
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
                Kind::Array
            }
            Some(b'"') => {
                self.string()?;
                Kind::String
            }
            Some(b't') => self.leaf(start, b"true", Kind::Bool)?,
            Some(b'f') => self.leaf(start, b"false", Kind::Bool)?,
            Some(b'n') => self.leaf(start, b"null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                let slot = self.sink.open(Kind::Number, start);
                self.sink.close(slot, self.pos);
                Kind::Number
            }
            _ => return Err(self.err("expected a value")),
        };
        Ok(Raw { kind, bytes: self.b.get(start..self.pos).unwrap_or_default() })
    }

    fn leaf(&mut self, start: usize, word: &[u8], kind: Kind) -> Result<Kind, ScanError> {
        if self.b.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(self.err("bad literal"));
        }
        self.pos += word.len();
        let slot = self.sink.open(kind, start);
        self.sink.close(slot, self.pos);
        Ok(kind)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ScanError> {
        self.eat(b'-');
        if self.eat(b'0') {
            // no leading zeros
        } else if self.digits() == 0 {
            return Err(self.err("bad number"));
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(self.err("bad fraction"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(self.err("bad exponent"));
            }
        }
        Ok(())
    }

    /// A quoted string (a value or a key), recorded on the tape.
    fn string(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        self.expect(b'"')?;
        self.string_body(true)?;
        self.expect(b'"')?;
        let slot = self.sink.open(Kind::String, start);
        self.sink.close(slot, self.pos);
        Ok(())
    }

    /// The UTF-8 check of the string content `start..pos` (only when a byte ≥ 0x80 was seen).
    #[inline]
    fn utf8(&self, start: usize, high: bool) -> Result<(), ScanError> {
        if !high {
            return Ok(());
        }
        match std::str::from_utf8(self.b.get(start..self.pos).unwrap_or_default()) {
            Ok(_) => Ok(()),
            Err(e) => Err(ScanError { at: start + e.valid_up_to(), what: "invalid UTF-8 in string" }),
        }
    }

    /// Validates string content from `pos` up to the closing quote (left for the caller) when
    /// `quoted`, or up to the end of the input when not (then a quote is an error). Any error
    /// is reported after the UTF-8 check of the bytes before it, so the first problem in the
    /// input is the one reported.
    fn string_body(&mut self, quoted: bool) -> Result<(), ScanError> {
        let start = self.pos;
        let mut high = false;
        loop {
            // Eight bytes at a time up to the first byte that needs a look.
            while let Some(word) = self.b.get(self.pos..self.pos + 8) {
                let mut w8 = [0u8; 8];
                w8.copy_from_slice(word);
                let w = u64::from_le_bytes(w8);
                let s = special(w);
                if s != 0 {
                    let n = s.trailing_zeros() / 8;
                    high |= w & HI & ((1u64 << (n * 8)) - 1) != 0;
                    self.pos += n as usize;
                    break;
                }
                high |= w & HI != 0;
                self.pos += 8;
            }
            match self.peek() {
                Some(b'"') => {
                    self.utf8(start, high)?;
                    return if quoted { Ok(()) } else { Err(self.err("raw quote")) };
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            let hex = self.b.get(self.pos..self.pos + 4).unwrap_or_default();
                            if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                                self.utf8(start, high)?;
                                return Err(self.err("bad \\u escape"));
                            }
                            self.pos += 4;
                        }
                        _ => {
                            self.utf8(start, high)?;
                            return Err(self.err("bad escape"));
                        }
                    }
                }
                Some(c) if c < 0x20 => {
                    self.utf8(start, high)?;
                    return Err(self.err("raw control character in string"));
                }
                Some(c) => {
                    // The last few bytes of the input, one at a time.
                    high |= c >= 0x80;
                    self.pos += 1;
                }
                None => {
                    self.utf8(start, high)?;
                    return if quoted { Err(self.err("unterminated string")) } else { Ok(()) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::jscan_reference as reference;
    use proptest::prelude::*;

    fn root_get<'t>(tape: &'t mut Tape, j: &'t [u8]) -> Val<'t> {
        tape.parse(j).unwrap()
    }

    #[test]
    fn finds_nested_fields_as_raw_spans() {
        let j = br#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"a\"b\n\u00e9"}}"#;
        let mut tape = Tape::new();
        let root = root_get(&mut tape, j);
        assert_eq!(root.get("index").unwrap().as_u64(), Some(3));
        let delta = root.get("delta").unwrap();
        let text = delta.get("text").unwrap();
        assert_eq!(text.str_content().unwrap(), br#"a\"b\n\u00e9"#);
        assert!(root.get("missing").is_none());
        assert_eq!(delta.bytes(), br#"{"type":"text_delta","text":"a\"b\n\u00e9"}"#);
    }

    #[test]
    fn pick_finds_several_keys_in_one_pass() {
        let mut tape = Tape::new();
        let root = root_get(&mut tape, br#"{"a":1,"b":"x","a":2}"#);
        let [a, b, c] = root.pick(["a", "b", "c"]);
        assert_eq!(a.unwrap().as_u64(), Some(1), "first occurrence wins");
        assert_eq!(b.unwrap().str_content(), Some(&b"x"[..]));
        assert!(c.is_none());
    }

    #[test]
    fn arrays_index() {
        let mut tape = Tape::new();
        let root = root_get(&mut tape, br#"{"choices":[{"i":0},{"i":[1,{"x":2}]},3]}"#);
        let c = root.get("choices").unwrap();
        assert_eq!(c.index(1).unwrap().get("i").unwrap().index(1).unwrap().bytes(), br#"{"x":2}"#);
        assert_eq!(c.index(2).unwrap().as_u64(), Some(3));
        assert!(c.index(3).is_none());
        assert_eq!(c.elements().count(), 3);
        assert!(c.get("i").is_none(), "an array has no members");
        assert!(root.index(0).is_none(), "an object has no elements");
    }

    #[test]
    fn numbers() {
        let mut tape = Tape::new();
        let root = root_get(&mut tape, b"[0,18446744073709551615,18446744073709551616,-1,1.0,1e3,-0]");
        let got: Vec<Option<u64>> = root.elements().map(|v| v.as_u64()).collect();
        assert_eq!(got, [Some(0), Some(u64::MAX), None, None, None, None, None]);
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            &b"{"[..],
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"[1 2]",
            b"\"\x01\"",
            b"\"\\x\"",
            b"\"\xff\"",
            b"01",
            b"1.",
            b"{\"a\":1} x",
            b"nul",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
            assert!(Tape::new().parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn agrees_with_serde_json_on_validity() {
        for s in ["{}", "[]", "-0.5e+3", "\"\\ud83d\\ude00\"", "{\"a\":[true,false,null]}", "1e5", "-", "+1", "[,]"] {
            assert_eq!(parse(s.as_bytes()).is_ok(), serde_json::from_str::<serde_json::Value>(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn string_content_validation() {
        assert!(validate_str_content(br#"ok \" \\ \u0041"#).is_ok());
        assert!(validate_str_content(b"bad \" quote").is_err());
        assert!(validate_str_content(b"trailing \\").is_err());
        assert!(validate_str_content(b"nl \n").is_err());
    }

    /// The fast string path: plain strings longer than a word, escapes at every offset of a
    /// word, UTF-8 split at every offset, and huge strings.
    #[test]
    fn strings_at_every_word_offset() {
        let mut tape = Tape::new();
        for pad in 0..20 {
            let p = "x".repeat(pad);
            for (content, ok) in [
                (format!("{p}plain ascii text longer than a word"), true),
                (format!(r#"{p}\"quoted\" and \\ and \u00e9 and \n"#), true),
                (format!("{p}héllo wörld ✓ 😀 漢字 ok"), true),
                (format!("{p}raw\u{1}control"), false),
                (format!("{p}bad \\q escape"), false),
                (format!("{p}short \\u12 escape"), false),
            ] {
                let doc = format!(r#"{{"k":"{content}","n":1}}"#);
                let r = tape.parse(doc.as_bytes());
                assert_eq!(r.is_ok(), ok, "{doc:?}");
                assert_eq!(parse(doc.as_bytes()).is_ok(), ok, "{doc:?}");
                if ok {
                    let root = tape.parse(doc.as_bytes()).unwrap();
                    assert_eq!(root.get("k").unwrap().str_content().unwrap(), content.as_bytes());
                    assert_eq!(root.get("n").unwrap().as_u64(), Some(1));
                }
            }
            // A multi-byte character cut short, at every offset of a word.
            for cut in [&b"\xe2\x82"[..], b"\xf0\x9f\x98", b"\xc3", b"\xff", b"\xed\xa0\x80"] {
                let mut doc = format!(r#"{{"k":"{p}"#).into_bytes();
                doc.extend_from_slice(cut);
                doc.extend_from_slice(br#"tail"}"#);
                let e = parse(&doc).unwrap_err();
                assert_eq!((e.at, e.what), (6 + pad, "invalid UTF-8 in string"), "{doc:?}");
            }
        }
        let huge = "a".repeat(1 << 20) + "é\\n" + &"b".repeat(1 << 20);
        let doc = format!(r#"{{"text":"{huge}"}}"#);
        let root = tape.parse(doc.as_bytes()).unwrap();
        assert_eq!(root.get("text").unwrap().str_content().unwrap().len(), huge.len());
    }

    #[test]
    fn content_length_up_to_the_closing_quote() {
        assert_eq!(str_content_len(br#"abc", more"#), Some(3));
        assert_eq!(str_content_len(br#"a\"b\\"}"#), Some(6));
        assert_eq!(str_content_len(br#"""#), Some(0));
        assert_eq!(str_content_len(b"abc"), None, "unterminated");
        assert_eq!(str_content_len(br#"a\x""#), None, "bad escape");
        assert_eq!(str_content_len(b"a\n\""), None, "raw line feed");
        assert_eq!(str_content_len(b"\xff\""), None);
        for content in ["", "plain", r#"esc \" \\ \u00e9"#, "héllo 😀 a long run of text past a word"] {
            let rest = format!("{content}\",\"x\":1}}");
            assert_eq!(str_content_len(rest.as_bytes()), Some(content.len()), "{content}");
            assert!(validate_str_content(content.as_bytes()).is_ok());
        }
    }

    #[test]
    fn scratch_tape_is_reused_and_nesting_safe() {
        let outer = with_tape(|t| {
            let root = t.parse(br#"{"a":[1,2]}"#).unwrap();
            let inner = with_tape(|t2| t2.parse(br#"{"b":3}"#).unwrap().get("b").unwrap().as_u64());
            (root.get("a").unwrap().index(1).unwrap().as_u64(), inner)
        });
        assert_eq!(outer, (Some(2), Some(3)));
    }

    // ---- differential checks against the first scanner ----

    fn reference_result(input: &[u8]) -> Result<(Kind, Vec<u8>), (usize, &'static str)> {
        match reference::parse(input) {
            Ok(v) => Ok((kind_of(v.kind), v.bytes.to_vec())),
            Err(e) => Err((e.at, e.what)),
        }
    }

    fn kind_of(k: reference::Kind) -> Kind {
        match k {
            reference::Kind::Object => Kind::Object,
            reference::Kind::Array => Kind::Array,
            reference::Kind::String => Kind::String,
            reference::Kind::Number => Kind::Number,
            reference::Kind::Bool => Kind::Bool,
            reference::Kind::Null => Kind::Null,
        }
    }

    /// Every lookup the decoders make, walked the same way on both: the reference re-scans each
    /// level, the tape does not; the spans must be the same bytes.
    fn same_walk(r: reference::Raw<'_>, v: Val<'_>, keys: &[&str], depth: usize) {
        assert_eq!(kind_of(r.kind), v.kind());
        assert_eq!(r.bytes, v.bytes());
        assert_eq!(r.str_content(), v.str_content());
        assert_eq!(r.as_u64(), v.as_u64());
        assert_eq!(r.is_null(), v.is_null());
        if depth > 4 {
            return;
        }
        for key in keys {
            let a = r.get(key).unwrap();
            let b = v.get(key);
            assert_eq!(a.is_some(), b.is_some(), "key {key}");
            if let (Some(a), Some(b)) = (a, b) {
                same_walk(a, b, keys, depth + 1);
            }
        }
        let [a0, a1] = r.pick([keys[0], keys[1]]).unwrap();
        let [b0, b1] = v.pick([keys[0], keys[1]]);
        assert_eq!(a0.map(|x| x.bytes), b0.map(|x| x.bytes()));
        assert_eq!(a1.map(|x| x.bytes), b1.map(|x| x.bytes()));
        for i in 0..3 {
            let a = r.index(i).unwrap();
            let b = v.index(i);
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                same_walk(a, b, keys, depth + 1);
            }
        }
    }

    fn agree(input: &[u8]) {
        let want = reference_result(input);
        let got = parse(input).map(|v| (v.kind, v.bytes.to_vec())).map_err(|e| (e.at, e.what));
        assert_eq!(got, want, "parse of {:?}", String::from_utf8_lossy(input));
        let mut tape = Tape::new();
        let taped = tape.parse(input);
        assert_eq!(taped.map(|v| (v.kind(), v.bytes().to_vec())).map_err(|e| (e.at, e.what)), want);
        if let (Ok(r), Ok(v)) = (reference::parse(input), Tape::new().parse(input)) {
            same_walk(r, v, &["a", "type", "b\\n", ""], 0);
        }
        let rs = reference::validate_str_content(input).map_err(|e| (e.at, e.what));
        assert_eq!(validate_str_content(input).map_err(|e| (e.at, e.what)), rs, "content {input:?}");
    }

    /// Pieces that make JSON-ish documents: structure, keys, escapes, UTF-8 (whole, cut and
    /// invalid), control bytes, numbers, and runs long enough to cross word boundaries.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                "\"",
                "\"a\"",
                "\"type\"",
                "\"b\\n\"",
                "\"\"",
                " ",
                "\n",
                "\\",
                "\\n",
                "\\u00e9",
                "\\u12",
                "\\x",
                "1",
                "-0.5e+3",
                "01",
                "1.",
                "true",
                "null",
                "fals",
                "é",
                "😀",
                "漢",
                "abcdefghijklmnop",
                "\t",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            prop::sample::select(vec![&b"\xe2\x82"[..], b"\xff", b"\xc3", b"\x01", b"\x1f", b"\x7f", b"\xed\xa0\x80"])
                .prop_map(<[u8]>::to_vec),
            "[a-z \"\\\\]{0,20}".prop_map(String::into_bytes),
        ]
    }

    /// Valid documents (serialized by serde_json), to exercise the lookups deeply.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::String),
            prop::sample::select(vec!["a", "type", "b\n", "", "😀 é \"q\" \\"]).prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec((prop::sample::select(vec!["a", "type", "b\n", "", "c", "a"]), inner), 0..6)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_the_reference_on_any_soup(pieces in prop::collection::vec(piece(), 0..24)) {
            agree(&pieces.concat());
        }

        #[test]
        fn agrees_with_the_reference_on_valid_documents(v in json_value(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&v).unwrap() } else { serde_json::to_vec(&v).unwrap() };
            prop_assert!(parse(&text).is_ok());
            agree(&text);
        }

        #[test]
        fn agrees_with_the_reference_on_mutations(v in json_value(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
            let mut text = serde_json::to_vec(&v).unwrap();
            if !text.is_empty() {
                let i = at.index(text.len());
                text[i] = b;
            }
            agree(&text);
        }

        #[test]
        fn agrees_with_the_reference_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            agree(&bytes);
        }
    }
}
