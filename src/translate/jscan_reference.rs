//! Test-only: the first `jscan` (a byte-at-a-time validating scanner that re-scans each object
//! level it is asked about), kept unchanged as the reference the fast scanner is checked against
//! (validity, error offsets and messages, and the spans it returns must all agree).
//!
//! The original module documentation follows.
//!
//! A small validating JSON scanner that returns *raw spans* instead of values.
//!
//! The stream decoders use it to pull a few fields out of an upstream frame without building a
//! tree and, above all, without unescaping strings: a string comes back as its escaped content
//! (the bytes between the quotes), which the encoders copy straight into their own JSON output.
//!
//! Everything returned has been validated (RFC 8259: string escapes, no raw control characters,
//! UTF-8, number grammar, literals, nesting up to [`MAX_DEPTH`]), so a span embedded into other
//! JSON can never make that JSON invalid.
//!
//! Keys are compared in their escaped form: a key written with escapes (`"te\u0078t"`) does not
//! match `text`. No real upstream escapes plain ASCII keys.

/// Deepest nesting accepted (deeper input is an error, never a stack overflow).
pub(crate) const MAX_DEPTH: usize = 64;

/// Why a span is not valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanError {
    /// Byte offset where the problem was seen.
    pub(crate) at: usize,
    pub(crate) what: &'static str,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for ScanError {}

/// The kind of a scanned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// One value: its kind and its exact bytes in the input (for strings, with the quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a> {
    pub(crate) kind: Kind,
    pub(crate) bytes: &'a [u8],
}

impl<'a> Raw<'a> {
    /// The escaped content of a string (between the quotes), or `None` for other kinds.
    pub(crate) fn str_content(&self) -> Option<&'a [u8]> {
        if self.kind != Kind::String {
            return None;
        }
        self.bytes.get(1..self.bytes.len().saturating_sub(1))
    }

    /// A non-negative integer value.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        if self.kind != Kind::Number {
            return None;
        }
        std::str::from_utf8(self.bytes).ok()?.parse().ok()
    }

    pub(crate) fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }

    /// Looks up `key` in an object value.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Raw<'a>>, ScanError> {
        if self.kind != Kind::Object {
            return Ok(None);
        }
        get(self.bytes, key)
    }

    /// Several members of an object value in one pass (`None` for absent keys or non-objects).
    pub(crate) fn pick<const N: usize>(&self, keys: [&str; N]) -> Result<[Option<Raw<'a>>; N], ScanError> {
        if self.kind != Kind::Object {
            return Ok([None; N]);
        }
        pick(self.bytes, keys)
    }

    /// The `i`th element of an array value.
    pub(crate) fn index(&self, i: usize) -> Result<Option<Raw<'a>>, ScanError> {
        if self.kind != Kind::Array {
            return Ok(None);
        }
        let mut n = 0;
        let mut found = None;
        for_each_element(self.bytes, |v| {
            if n == i && found.is_none() {
                found = Some(v);
            }
            n += 1;
        })?;
        Ok(found)
    }
}

/// Parses one complete JSON document (surrounding whitespace allowed).
pub(crate) fn parse(input: &[u8]) -> Result<Raw<'_>, ScanError> {
    let mut s = Scanner { b: input, pos: 0 };
    s.ws();
    let v = s.value(0)?;
    s.ws();
    if s.pos != input.len() {
        return Err(s.err("trailing bytes after the value"));
    }
    Ok(v)
}

/// Looks up `key` in the object `obj` (its raw bytes). The whole object is validated.
pub(crate) fn get<'a>(obj: &'a [u8], key: &str) -> Result<Option<Raw<'a>>, ScanError> {
    let mut found = None;
    for_each_field(obj, |k, v| {
        if found.is_none() && k == key.as_bytes() {
            found = Some(v);
        }
    })?;
    Ok(found)
}

/// Looks up several keys of the object `obj` in one pass (first occurrence wins).
pub(crate) fn pick<'a, const N: usize>(obj: &'a [u8], keys: [&str; N]) -> Result<[Option<Raw<'a>>; N], ScanError> {
    let mut found: [Option<Raw<'a>>; N] = [None; N];
    for_each_field(obj, |k, v| {
        for (slot, key) in found.iter_mut().zip(keys.iter()) {
            if slot.is_none() && k == key.as_bytes() {
                *slot = Some(v);
            }
        }
    })?;
    Ok(found)
}

/// Calls `f(escaped_key, value)` for each member of the object `obj`.
pub(crate) fn for_each_field<'a>(obj: &'a [u8], mut f: impl FnMut(&'a [u8], Raw<'a>)) -> Result<(), ScanError> {
    let mut s = Scanner { b: obj, pos: 0 };
    s.ws();
    s.expect(b'{')?;
    s.ws();
    if s.eat(b'}') {
        return s.end();
    }
    loop {
        s.ws();
        let k = s.string()?;
        s.ws();
        s.expect(b':')?;
        s.ws();
        let v = s.value(1)?;
        f(k.get(1..k.len().saturating_sub(1)).unwrap_or_default(), v);
        s.ws();
        if s.eat(b',') {
            continue;
        }
        s.expect(b'}')?;
        return s.end();
    }
}

/// Calls `f(value)` for each element of the array `arr`.
pub(crate) fn for_each_element<'a>(arr: &'a [u8], mut f: impl FnMut(Raw<'a>)) -> Result<(), ScanError> {
    let mut s = Scanner { b: arr, pos: 0 };
    s.ws();
    s.expect(b'[')?;
    s.ws();
    if s.eat(b']') {
        return s.end();
    }
    loop {
        s.ws();
        f(s.value(1)?);
        s.ws();
        if s.eat(b',') {
            continue;
        }
        s.expect(b']')?;
        return s.end();
    }
}

/// Checks that `content` is valid *escaped string content* (what goes between two quotes).
pub(crate) fn validate_str_content(content: &[u8]) -> Result<(), ScanError> {
    let mut s = Scanner { b: content, pos: 0 };
    s.string_body(None)?;
    if s.pos == content.len() { Ok(()) } else { Err(s.err("unescaped quote in string content")) }
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn err(&self, what: &'static str) -> ScanError {
        ScanError { at: self.pos, what }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ScanError> {
        if self.eat(c) { Ok(()) } else { Err(self.err("unexpected byte")) }
    }

    fn end(&mut self) -> Result<(), ScanError> {
        self.ws();
        if self.pos == self.b.len() { Ok(()) } else { Err(self.err("trailing bytes after the value")) }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn slice(&self, start: usize) -> &'a [u8] {
        self.b.get(start..self.pos).unwrap_or_default()
    }

    fn value(&mut self, depth: usize) -> Result<Raw<'a>, ScanError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => {
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
                Kind::Object
            }
            Some(b'[') => {
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
                Kind::Array
            }
            Some(b'"') => {
                self.string()?;
                Kind::String
            }
            Some(b't') => self.literal(b"true", Kind::Bool)?,
            Some(b'f') => self.literal(b"false", Kind::Bool)?,
            Some(b'n') => self.literal(b"null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            _ => return Err(self.err("expected a value")),
        };
        Ok(Raw { kind, bytes: self.slice(start) })
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<Kind, ScanError> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(kind)
        } else {
            Err(self.err("bad literal"))
        }
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

    /// A quoted string; returns its bytes with the quotes.
    fn string(&mut self) -> Result<&'a [u8], ScanError> {
        let start = self.pos;
        self.expect(b'"')?;
        self.string_body(Some(b'"'))?;
        self.expect(b'"')?;
        Ok(self.slice(start))
    }

    /// Validates string content up to (not including) the closing quote, or the end of input
    /// when `close` is `None`.
    fn string_body(&mut self, close: Option<u8>) -> Result<(), ScanError> {
        loop {
            // Fast skip over plain ASCII.
            let rest = self.b.get(self.pos..).unwrap_or_default();
            let plain = rest.iter().position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c));
            let Some(off) = plain else {
                self.pos = self.b.len();
                return if close.is_none() { Ok(()) } else { Err(self.err("unterminated string")) };
            };
            self.pos += off;
            match self.peek() {
                Some(b'"') => {
                    return if close.is_some() { Ok(()) } else { Err(self.err("raw quote")) };
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            let hex = self.b.get(self.pos..self.pos + 4).unwrap_or_default();
                            if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(self.err("bad \\u escape"));
                            }
                            self.pos += 4;
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("raw control character in string")),
                Some(_) => {
                    let tail = self.b.get(self.pos..).unwrap_or_default();
                    let n = crate::util::json::utf8_len(tail);
                    if n == 0 {
                        return Err(self.err("invalid UTF-8 in string"));
                    }
                    self.pos += n;
                }
                None => {
                    return if close.is_none() { Ok(()) } else { Err(self.err("unterminated string")) };
                }
            }
        }
    }
}
