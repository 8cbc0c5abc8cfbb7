//! Finding a decoded string's escaped form in the request body as the client sent it.
//!
//! simd-json parses a copy of the body in place: a string it hands out starts where its content
//! started in that copy (an escaped string is unescaped in place, so it only gets shorter; it
//! never moves). The same offset in the body as sent is where the client's escaped content
//! starts, and it ends at the first quote not escaped by an odd run of backslashes
//! (`util::json_member::string_content_len`). See
//! `docs/translation.md`, "Request text kept escaped".

use super::Text;
use crate::util::json_member::string_content_len;
use bytes::Bytes;
use std::borrow::Cow;
use std::sync::LazyLock;

/// The body a request was parsed from, as the client sent it, and how the parsed copy differs
/// from it: the request caches may have put markers in place of the `tools` value, of the
/// first elements of `messages` and of a Claude body's `system` value ([`Cut`]s, in body order,
/// not overlapping).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'s> {
    body: &'s Bytes,
    cuts: [Option<Cut>; CUTS],
}

/// How many cuts a parsed copy may have (one per request cache).
pub(crate) const CUTS: usize = 3;

/// Bytes of the sent body that a marker replaced in the parsed copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    /// The replaced bytes of the sent body.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The marker's length in the parsed copy.
    pub(crate) marker_len: usize,
}

impl<'s> Sent<'s> {
    /// The parsed copy is `body` as it is.
    pub(crate) fn plain(body: &'s Bytes) -> Self {
        Self { body, cuts: [None; CUTS] }
    }

    /// The parsed copy is `body` with each cut replaced by its marker (`cuts` in body order).
    pub(crate) fn spliced(body: &'s Bytes, cuts: [Option<Cut>; CUTS]) -> Self {
        Self { body, cuts }
    }

    /// The body as the client sent it.
    pub(crate) fn body(&self) -> &'s Bytes {
        self.body
    }

    /// The offset in the sent body of offset `at` of the parsed copy (`None` inside a marker).
    fn offset(&self, at: usize) -> Option<usize> {
        // Where the text since the last cut starts, in the sent body and in the parsed copy.
        let (mut sent, mut parsed) = (0, 0);
        for cut in self.cuts.iter().flatten() {
            let start = parsed + cut.start.checked_sub(sent)?;
            if at < start {
                break;
            }
            let after = start + cut.marker_len;
            if at < after {
                return None;
            }
            (sent, parsed) = (cut.end, after);
        }
        Some(sent + at.checked_sub(parsed)?)
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
        let len = string_content_len(self.sent.body.get(at..)?)?;
        (len >= s.len()).then_some(at..at + len)
    }
}

/// Whether escaped content spells a UTF-16 surrogate (`\\uD800`–`\\uDFFF`, any case). The
/// parser accepts a lone one (Node's `JSON.stringify` writes one for a string cut inside an
/// emoji) and decodes it to a replacement it picks; copying it upstream would send text a
/// strict parser refuses, so such a string is escaped again from its decoded text instead
/// (a pair, which a client rarely escapes, takes the same road). A false alarm (`\\\\ud8`, an
/// escaped backslash before the letters) only costs that re-escaping.
pub(super) fn has_surrogate_escape(content: &[u8]) -> bool {
    // Built once: a finder per call cost as much as the search on a short text.
    static UNICODE_ESCAPE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(br"\u"));
    UNICODE_ESCAPE.find_iter(content).any(|at| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets map back through three cuts, shorter and longer than their markers: the text
    /// around them keeps its place, a marker's own bytes map nowhere.
    #[test]
    fn offsets_map_back_through_three_cuts() {
        let body = Bytes::from_static(b"aaaaBBcccccDDDDDDDDeeFFFFgg");
        // "BB" (4..6) became a 5-byte marker, "DDDDDDDD" (11..19) a 3-byte one, "FFFF"
        // (21..25) a 4-byte one.
        let cuts = [
            Some(Cut { start: 4, end: 6, marker_len: 5 }),
            Some(Cut { start: 11, end: 19, marker_len: 3 }),
            Some(Cut { start: 21, end: 25, marker_len: 4 }),
        ];
        let sent = Sent::spliced(&body, cuts);
        // Parsed: "aaaa" + "MMMMM" + "ccccc" + "mmm" + "ee" + "NNNN" + "gg".
        let mapped: Vec<Option<usize>> = (0..25).map(|at| sent.offset(at)).collect();
        let mut want: Vec<Option<usize>> = (0..4).map(Some).collect();
        want.extend([None; 5]);
        want.extend((6..11).map(Some));
        want.extend([None; 3]);
        want.extend((19..21).map(Some));
        want.extend([None; 4]);
        want.extend((25..27).map(Some));
        assert_eq!(mapped, want);
        assert_eq!(Sent::plain(&body).offset(7), Some(7));
    }
}
