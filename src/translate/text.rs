//! [`Text`]: a request's text as it travels in JSON, kept in its *escaped* form.
//!
//! A client's message text arrives as JSON string content and leaves, upstream, as JSON string
//! content again. Unescaping it on the way in and escaping it again on the way out was the
//! largest single cost of a large agent turn (a third of the request side's CPU). A `Text`
//! holds the client's own escaped bytes, found in the body by [`super::request`] (see
//! `docs/translation.md`, "Request text kept escaped"), and a writer copies them as they are.
//! The few readers that need the characters (the grok web channel, token counting, the test
//! scripts' key) call [`Text::text`], which unescapes only when there was an escape.
//!
//! Invariant: `escaped` is valid JSON string content (RFC 8259: no raw `"`, `\` only in a valid
//! escape, no raw control character, UTF-8) that spells no UTF-16 surrogate. It is made either
//! by escaping plain text ([`Text::from`]) or from content a validating JSON parser accepted,
//! surrogate escapes ruled out ([`Text::from_validated`], via [`Locator`]).

use crate::util::json;
use bytes::Bytes;
use std::borrow::Cow;

/// Text stored as escaped JSON string content (the bytes between the quotes).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// Bytes, not a `String`: content found in a request body is UTF-8 because the parser
    /// validated the whole body, and checking it again per text would cost what keeping it
    /// escaped saves. A slice of the client's body when it came from one (no copy).
    escaped: Bytes,
    /// No escape in `escaped`: it is the text itself.
    plain: bool,
}

impl Text {
    /// Wraps content a validating JSON parser accepted as a string's content. `plain` says it
    /// holds no escape (then it is the text itself).
    pub(crate) fn from_validated(escaped: Bytes, plain: bool) -> Self {
        Self { escaped, plain }
    }

    /// The escaped content, ready to go between two quotes in JSON.
    pub fn escaped(&self) -> &[u8] {
        &self.escaped
    }

    /// The text itself: borrowed when it holds no escape, unescaped otherwise.
    pub fn text(&self) -> Cow<'_, str> {
        if self.plain {
            return String::from_utf8_lossy(&self.escaped);
        }
        let mut quoted = Vec::with_capacity(self.escaped.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(&self.escaped);
        quoted.push(b'"');
        // Valid by the invariant; the escaped form is the best there is if that ever failed.
        match serde_json::from_slice::<String>(&quoted) {
            Ok(t) => Cow::Owned(t),
            Err(_) => String::from_utf8_lossy(&self.escaped).into_owned().into(),
        }
    }

    /// Whether the text holds no escape (its escaped form is the text).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Whether the text is empty (an empty text has an empty escaped form, and only it).
    pub fn is_empty(&self) -> bool {
        self.escaped.is_empty()
    }

    /// Length of the escaped form in bytes (the text's own length when [`Self::is_plain`]).
    pub fn escaped_len(&self) -> usize {
        self.escaped.len()
    }

    /// Whether the text (not its escaped form) starts with `prefix`. Unescapes only when an
    /// escape comes within the prefix's length (before it, the text is its escaped form).
    pub fn starts_with(&self, prefix: &str) -> bool {
        let head = self.escaped.get(..prefix.len()).unwrap_or(&self.escaped);
        if self.plain || !head.contains(&b'\\') {
            self.escaped.starts_with(prefix.as_bytes())
        } else {
            self.text().starts_with(prefix)
        }
    }

    /// Appends the text as a JSON string literal (quotes included).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(self.escaped.len() + 2);
        out.push(b'"');
        out.extend_from_slice(&self.escaped);
        out.push(b'"');
    }
}

impl From<String> for Text {
    /// Escapes plain text (no copy when nothing needs an escape).
    fn from(s: String) -> Self {
        let mut escaped = Vec::with_capacity(s.len());
        json::escape_str_into(&mut escaped, &s);
        if escaped.len() == s.len() {
            // Nothing was escaped (an escape always makes the text longer).
            return Self { escaped: Bytes::from(s.into_bytes()), plain: true };
        }
        Self { escaped: Bytes::from(escaped), plain: false }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text(), f)
    }
}

/// The body a request was parsed from, as the client sent it, and how the parsed copy differs
/// from it: the tools cache may have put its marker in place of the `tools` value
/// (`splice`: the span's start, the marker's length, the span's end).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'s> {
    body: &'s Bytes,
    splice: Option<(usize, usize, usize)>,
}

impl<'s> Sent<'s> {
    /// The parsed copy is `body` as it is.
    pub(crate) fn plain(body: &'s Bytes) -> Self {
        Self { body, splice: None }
    }

    /// The parsed copy is `body` with `span` replaced by a marker of `marker_len` bytes.
    pub(crate) fn spliced(body: &'s Bytes, span: &std::ops::Range<usize>, marker_len: usize) -> Self {
        Self { body, splice: Some((span.start, marker_len, span.end)) }
    }

    /// The offset in the sent body of offset `at` of the parsed copy (`None` inside the marker).
    fn offset(&self, at: usize) -> Option<usize> {
        match self.splice {
            None => Some(at),
            Some((start, _, _)) if at < start => Some(at),
            Some((start, marker, end)) => Some(at.checked_sub(start + marker)? + end),
        }
    }
}

/// Finds, for a string the JSON parser handed out, the client's escaped form of it in the sent
/// body. simd-json parses a copy of the body in place: a string it hands out starts where its
/// content started in that copy (it unescapes in place, so an escaped string's text is shorter
/// than its content, never moved). The same offset in the body as sent is where the escaped
/// content starts; it ends at the first quote not escaped.
pub(crate) struct Locator<'s> {
    sent: Sent<'s>,
    /// Where the parsed copy lies (its address and length).
    base: usize,
    len: usize,
}

impl<'s> Locator<'s> {
    /// For strings of `parsed` (the copy the parser is about to parse in place).
    pub(crate) fn new(sent: Sent<'s>, parsed: &[u8]) -> Self {
        Self { sent, base: parsed.as_ptr().addr(), len: parsed.len() }
    }

    /// A decoded string as [`Text`]: the client's escaped bytes when they are found, the string
    /// escaped again when not (a string the parser made elsewhere than in the parsed copy).
    pub(crate) fn text(&self, s: Cow<'_, str>) -> Text {
        match s {
            Cow::Borrowed(b) => match self.escaped(b) {
                Some(e) if e.len() == b.len() => Text::from_validated(self.sent.body.slice(e), true),
                Some(e) if !has_surrogate_escape(self.sent.body.get(e.clone()).unwrap_or_default()) => {
                    Text::from_validated(self.sent.body.slice(e), false)
                }
                _ => Text::from(b),
            },
            Cow::Owned(o) => Text::from(o),
        }
    }

    /// Where the escaped content of decoded string `s` lies in the sent body. Checked: `s` lies
    /// in the parsed copy, a quote opens its content in the sent body, a closing quote follows,
    /// and the content is at least as long as the text (an escape only ever shortens it).
    fn escaped(&self, s: &str) -> Option<std::ops::Range<usize>> {
        let at = s.as_ptr().addr().checked_sub(self.base)?;
        if at == 0 || at + s.len() > self.len {
            return None;
        }
        let at = self.sent.offset(at)?;
        if self.sent.body.get(at.checked_sub(1)?) != Some(&b'"') {
            return None;
        }
        let len = content_len(self.sent.body.get(at..)?)?;
        (len >= s.len()).then_some(at..at + len)
    }
}

/// Whether escaped content spells a UTF-16 surrogate (`\\uD800`–`\\uDFFF`, any case). The
/// parser accepts a lone one (Node's `JSON.stringify` writes one for a string cut inside an
/// emoji) and decodes it to a replacement it picks; copying it upstream would send text a
/// strict parser refuses, so such a string is escaped again from its decoded text instead
/// (a pair, which a client rarely escapes, takes the same road). A false alarm (`\\\\ud8`, an
/// escaped backslash before the letters) only costs that re-escaping.
fn has_surrogate_escape(content: &[u8]) -> bool {
    memchr::memmem::find_iter(content, br"\u").any(|at| {
        let digits = content.get(at + 2..at + 4).unwrap_or_default();
        matches!(
            digits,
            [
                b'd' | b'D',
                b'8' | b'9' | b'a' | b'b' | b'c' | b'd' | b'e' | b'f' | b'A' | b'B' | b'C' | b'D' | b'E' | b'F'
            ]
        )
    })
}

/// The length of the JSON string content at the start of `rest` (what follows an opening
/// quote): the offset of the first quote not escaped by a backslash, `None` when there is none.
/// Only quotes are stopped at (`memchr`), so an escape-dense text costs no more than a plain one;
/// the content itself must have been validated already.
pub(crate) fn content_len(rest: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + memchr::memchr(b'"', rest.get(from..)?)?;
        let before = rest.get(..at)?;
        let backslashes = before.iter().rev().take_while(|b| **b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(at);
        }
        from = at + 1;
    }
}

#[cfg(test)]
mod tests;
