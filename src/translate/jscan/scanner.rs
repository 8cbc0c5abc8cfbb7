//! The validating scanner behind [`super::parse`] and [`super::Tape::parse`]: a recursive
//! descent over the bytes that records each value on a [`Sink`] (nowhere, or the tape).
//!
//! Its steps return a failure as an offset and a one-byte reason ([`Fail`]), small enough to come
//! back in registers; the public functions turn it into a [`ScanError`] with its message. The
//! messages and offsets are exactly those of the first byte-at-a-time scanner
//! (`jscan_reference`, which the tests hold this one to).

use super::{Kind, MAX_DEPTH, Node, ScanError};
use crate::util::swar;

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
pub(super) struct Fail {
    at: usize,
    why: Why,
}

impl From<Fail> for ScanError {
    fn from(f: Fail) -> Self {
        Self { at: f.at, what: f.why.text() }
    }
}

pub(super) type Step<T = ()> = Result<T, Fail>;

/// Where the scanner records values: nowhere ([`super::parse`]) or on a tape ([`super::Tape::parse`]).
pub(super) trait Sink {
    /// A value of `kind` with a subtree starts at `start`; returns its slot.
    fn open(&mut self, kind: Kind, start: usize) -> usize;
    /// The value in `slot` (and its subtree) ends at `end`.
    fn close(&mut self, slot: usize, end: usize);
    /// A value without a subtree (string, number, literal) at `start..end`.
    fn leaf(&mut self, kind: Kind, start: usize, end: usize);
}

pub(super) struct NoTape;

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

pub(super) struct TapeSink<'n>(pub(super) &'n mut Vec<Node>);

/// Offsets fit: [`super::Tape::parse`] refuses inputs of 4 GiB or more.
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

    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "a push on every string, number and literal; out of line (as the compiler chose once strings were inlined) it costs about 14 instructions a call"
    )]
    fn leaf(&mut self, kind: Kind, start: usize, end: usize) {
        let next = off(self.0.len() + 1);
        self.0.push(Node { start: off(start), end: off(end), next, kind });
    }
}

/// Where plain string content (no `"`, `\\`, control or byte ≥ 0x80) that starts at `at` ends:
/// the first other byte within `WORDS` words, or, when every word looked at is plain (or fewer
/// than eight bytes are left), the end of those words. Everything before the result is plain
/// ASCII; the byte at it is still to be looked at.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "the loop every string of a parse and every delta of a shape starts with; a call would cost as much as a short string's scan"
)]
pub(super) fn plain_run<const WORDS: usize>(b: &[u8], mut at: usize) -> usize {
    for _ in 0..WORDS {
        let Some(w) = swar::word_at(b, at) else { break };
        // The first byte that is not plain string content (`"`, `\\`, a control, ≥ 0x80).
        let stop = swar::json_special(w) | (w & swar::HIGH);
        if stop != 0 {
            return at + swar::first(stop);
        }
        at += 8;
    }
    at
}

pub(super) struct Scanner<'a, S> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
    pub(super) sink: S,
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

    /// The next byte after any whitespace (one look at it when there is none, the usual case).
    #[inline]
    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek();
        if matches!(b, Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.ws();
            return self.peek();
        }
        b
    }

    /// The root value's kind and where it lies (surrounding whitespace excluded).
    pub(super) fn document(&mut self) -> Step<(Kind, std::ops::Range<usize>)> {
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

    pub(super) fn value(&mut self, depth: usize) -> Step<Kind> {
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
                self.number_leaf()?;
                Ok(Kind::Number)
            }
            _ => self.fail(Why::ExpectedValue),
        }
    }

    /// A member's or an element's value (`depth` its own nesting), after any whitespace: a
    /// string, a number or `null` here, without the call [`Self::value`] costs; anything else
    /// (an object, an array, `true`, `false`, a value after whitespace, an error) through it.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "most members are scalars: a call per member (prologue, dispatch, result) is about a tenth of a chunk's parse"
    )]
    fn member(&mut self, depth: usize) -> Step {
        // Too deep even for a scalar: `value` says so.
        if depth <= MAX_DEPTH {
            match self.peek() {
                Some(b'"') => return self.string(),
                Some(b'-' | b'0'..=b'9') => return self.number_leaf(),
                Some(b'n') => return self.literal(b"null", Kind::Null).map(drop),
                _ => {}
            }
        }
        self.ws();
        self.value(depth).map(drop)
    }

    fn object(&mut self, depth: usize) -> Step<Kind> {
        let slot = self.sink.open(Kind::Object, self.pos);
        self.pos += 1;
        if self.next_byte() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.string()?;
                if self.next_byte() != Some(b':') {
                    return self.fail(Why::UnexpectedByte);
                }
                self.pos += 1;
                self.member(depth + 1)?;
                match self.next_byte() {
                    Some(b',') => {
                        self.pos += 1;
                        self.ws();
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail(Why::UnexpectedByte),
                }
            }
        }
        self.sink.close(slot, self.pos);
        Ok(Kind::Object)
    }

    fn array(&mut self, depth: usize) -> Step<Kind> {
        let slot = self.sink.open(Kind::Array, self.pos);
        self.pos += 1;
        if self.next_byte() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.member(depth + 1)?;
                match self.next_byte() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail(Why::UnexpectedByte),
                }
            }
        }
        self.sink.close(slot, self.pos);
        Ok(Kind::Array)
    }

    /// `true`, `false` or `null`: inlined, so the compare is against a constant (a word load).
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "out of line the word is a run-time slice and the compare a library call; a chunk has about three nulls"
    )]
    fn literal(&mut self, word: &[u8], kind: Kind) -> Step<Kind> {
        let start = self.pos;
        if self.b.get(start..start + word.len()) != Some(word) {
            return self.fail(Why::BadLiteral);
        }
        self.pos += word.len();
        self.sink.leaf(kind, start, self.pos);
        Ok(kind)
    }

    /// Passes over a run of digits, eight at a time while eight bytes are left; its length.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "a few instructions for the usual short run; out of line the call costs as much"
    )]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(w) = swar::word_at(self.b, self.pos) {
            let n = swar::first(swar::non_digit(w));
            self.pos += n;
            if n < 8 {
                return self.pos - start;
            }
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, recorded on the tape: a plain integer is read here, eight digits at a time;
    /// one with a sign, a leading zero, a fraction or an exponent goes through [`Self::number`]
    /// (which reads the digits again).
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "a number member or two in every chunk (`created`, `index`): a call costs as much as the scan"
    )]
    fn number_leaf(&mut self) -> Step {
        let start = self.pos;
        if matches!(self.peek(), Some(b'1'..=b'9')) {
            self.digits();
            if !matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                self.sink.leaf(Kind::Number, start, self.pos);
                return Ok(());
            }
            self.pos = start;
        }
        self.number()?;
        self.sink.leaf(Kind::Number, start, self.pos);
        Ok(())
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

    /// A quoted string (a value or a key), recorded on the tape. Plain ASCII content (no
    /// escape, no control, nothing ≥ 0x80) is passed over here eight bytes at a time, without a
    /// call, and a string of up to 31 such bytes ends here; past those, or at the first other
    /// byte, the rest goes the whole way ([`Self::string_rest`]), from there on.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "about 13 strings a frame: left to itself the compiler makes this a call with a six-register prologue, which costs more than the fast path it guards"
    )]
    fn string(&mut self) -> Step {
        let start = self.pos;
        if self.b.get(start) != Some(&b'"') {
            return self.fail(Why::UnexpectedByte);
        }
        // Up to four words here (a fixed count, which the compiler unrolls); a longer string,
        // or one this close to the end of the input, goes on in `string_rest`.
        let at = plain_run::<4>(self.b, start + 1);
        if self.b.get(at) == Some(&b'"') {
            self.pos = at + 1;
            self.sink.leaf(Kind::String, start, self.pos);
            return Ok(());
        }
        self.string_rest(start, at)
    }

    /// [`Self::string`] from `at` on, where its plain ASCII start (`start + 1 .. at`) ends:
    /// escapes, UTF-8, the last few bytes of the input, errors (the bytes before `at` hold none,
    /// so the first problem is still the one reported).
    #[inline(never)]
    fn string_rest(&mut self, start: usize, at: usize) -> Step {
        self.pos = at;
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
    pub(super) fn string_body(&mut self, quoted: bool) -> Step {
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
