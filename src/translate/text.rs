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
//! surrogate escapes ruled out (`Text::from_validated`, via `Locator`).

use super::canonical::JsonStr;
use bytes::Bytes;
use std::borrow::Cow;

/// Text stored as escaped JSON string content (the bytes between the quotes). Decoded from a
/// request it is a slice of the client's body: copy it (`Text::from(t.text())`) before keeping
/// it past the request, or it keeps the whole body alive.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// The escaped content as the streams carry theirs ([`JsonStr`]): bytes, not a `String`
    /// (content found in a request body is UTF-8 because the parser validated the whole body,
    /// and checking it again per text would cost what keeping it escaped saves), a slice of the
    /// client's body when it came from one (no copy).
    escaped: JsonStr,
    /// No escape in `escaped`: it is the text itself.
    plain: bool,
}

impl Text {
    /// Wraps content a validating JSON parser accepted as a string's content. `plain` says it
    /// holds no escape (then it is the text itself).
    fn from_validated(escaped: Bytes, plain: bool) -> Self {
        Self { escaped: JsonStr::from_validated(escaped), plain }
    }

    /// The escaped content, ready to go between two quotes in JSON.
    pub fn escaped(&self) -> &[u8] {
        self.escaped.escaped()
    }

    /// The text itself: borrowed when it holds no escape, unescaped otherwise.
    pub fn text(&self) -> Cow<'_, str> {
        self.escaped.unescape()
    }

    /// Whether the text holds no escape (its escaped form is the text).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Whether the text is empty (an empty text has an empty escaped form, and only it).
    pub fn is_empty(&self) -> bool {
        self.escaped().is_empty()
    }

    /// Length of the escaped form in bytes (the text's own length when [`Self::is_plain`]).
    pub fn escaped_len(&self) -> usize {
        self.escaped().len()
    }

    /// Whether the text (not its escaped form) starts with `prefix`. Unescapes only when an
    /// escape comes within the prefix's length (before it, the text is its escaped form).
    pub fn starts_with(&self, prefix: &str) -> bool {
        let escaped = self.escaped();
        let head = escaped.get(..prefix.len()).unwrap_or(escaped);
        if self.plain || !head.contains(&b'\\') {
            escaped.starts_with(prefix.as_bytes())
        } else {
            self.text().starts_with(prefix)
        }
    }

    /// The same text as a slice of `to`, when it is a slice of `from` inside `region`: `to`
    /// must hold, from `to_start`, the same bytes as `from[region]` (the caller compared them).
    /// Any other text (made from plain text, or lying elsewhere) is cloned as it is. The
    /// conversation cache (`translate::messages_cache`) moves its texts onto each new body this
    /// way, so it keeps one body alive, not every body of the conversation.
    pub(crate) fn moved(&self, from: &Bytes, region: &std::ops::Range<usize>, to: &Bytes, to_start: usize) -> Self {
        let escaped = self.escaped();
        let off = escaped.as_ptr().addr().wrapping_sub(from.as_ptr().addr());
        let inside = off >= region.start && off.checked_add(escaped.len()).is_some_and(|end| end <= region.end);
        let at = off.wrapping_sub(region.start).wrapping_add(to_start);
        match at.checked_add(escaped.len()) {
            Some(end) if inside && !escaped.is_empty() && end <= to.len() => {
                Self::from_validated(to.slice(at..end), self.plain)
            }
            _ => self.clone(),
        }
    }

    /// Whether the escaped form is a slice of `b` (then keeping the text keeps `b` alive, and
    /// nothing else).
    pub(crate) fn lies_in(&self, b: &Bytes) -> bool {
        let escaped = self.escaped();
        let off = escaped.as_ptr().addr().wrapping_sub(b.as_ptr().addr());
        off <= b.len() && escaped.len() <= b.len() - off
    }

    /// Appends the text as a JSON string literal (quotes included).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let escaped = self.escaped();
        out.reserve(escaped.len() + 2);
        out.push(b'"');
        out.extend_from_slice(escaped);
        out.push(b'"');
    }
}

impl From<&str> for Text {
    /// Escapes plain text.
    fn from(s: &str) -> Self {
        let escaped = JsonStr::from_text(s);
        // An escape always makes the text longer.
        let plain = escaped.escaped().len() == s.len();
        Self { escaped, plain }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text(), f)
    }
}

mod locator;

#[cfg(test)]
use locator::has_surrogate_escape;
pub(crate) use locator::{CUTS, Cut, Locator, Sent};

#[cfg(test)]
mod tests;
