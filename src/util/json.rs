//! Minimal JSON output helpers shared by every encoder: string escaping straight into a byte
//! buffer (no intermediate `String`), and small writers for the few hand-built bodies.
//!
//! Escaping follows RFC 8259: `"` `\` and control characters are escaped; everything else,
//! including non-ASCII UTF-8, is copied as is. Input that is not valid UTF-8 has each bad byte
//! replaced by U+FFFD so the output is always valid JSON.

use bytes::BufMut;

/// Appends `s` as a JSON string literal (with quotes).
pub fn push_str<B: BufMut>(out: &mut B, s: &str) {
    out.put_u8(b'"');
    escape_str_into(out, s);
    out.put_u8(b'"');
}

/// Appends the escaped contents of `bytes` (no quotes). Runs of safe bytes are found eight at a
/// time and copied in one go; invalid UTF-8 becomes U+FFFD.
pub fn escape_into<B: BufMut>(out: &mut B, bytes: &[u8]) {
    escape_with(out, bytes, true);
}

/// [`escape_into`] for text already known to be UTF-8: non-ASCII bytes are copied unchecked
/// with the safe runs around them.
pub fn escape_str_into<B: BufMut>(out: &mut B, s: &str) {
    escape_with(out, s.as_bytes(), false);
}

/// The character after the backslash for each byte below 0x60 that has a short escape (`"`,
/// `\\`, `\n`, `\r`, `\t`, `\b`, `\f`); 0 for the other controls (written `\u00XX`). A table,
/// not a `match`: which byte needs escaping changes from one to the next, and a jump table on
/// it mispredicted (a tenth of the escaper's time in a profile of 65 KiB agent turns).
#[expect(clippy::indexing_slicing, reason = "evaluated at compile time: an index out of range fails the build")]
const SHORT_ESCAPE: [u8; 0x60] = {
    let mut t = [0u8; 0x60];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

fn escape_with<B: BufMut>(out: &mut B, bytes: &[u8], check_utf8: bool) {
    let mut start = 0;
    let mut i = 0;
    loop {
        i = safe_run_end(bytes, i, check_utf8);
        let Some(&b) = bytes.get(i) else { break };
        if b >= 0x80 {
            // Non-ASCII, only stopped at when `check_utf8`: validate the sequence and replace
            // an invalid byte.
            let len = utf8_len(bytes.get(i..).unwrap_or_default());
            if len == 0 {
                out.put_slice(bytes.get(start..i).unwrap_or_default());
                out.put_slice("\u{fffd}".as_bytes());
                i += 1;
                start = i;
            } else {
                i += len;
            }
            continue;
        }
        out.put_slice(bytes.get(start..i).unwrap_or_default());
        match SHORT_ESCAPE.get(usize::from(b)).copied().unwrap_or(0) {
            0 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.put_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
                    HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'),
                ]);
            }
            e => out.put_slice(&[b'\\', e]),
        }
        i += 1;
        start = i;
    }
    out.put_slice(bytes.get(start..).unwrap_or_default());
}

/// The first index at or after `i` whose byte needs a look: a control character, `"`, `\\`,
/// and (when `stop_non_ascii`) any byte >= 0x80; `bytes.len()` when there is none.
fn safe_run_end(bytes: &[u8], mut i: usize, stop_non_ascii: bool) -> usize {
    use super::swar;
    while let Some(w) = swar::word_at(bytes, i) {
        let mut hit = swar::json_special(w);
        if stop_non_ascii {
            hit |= w & swar::HIGH;
        }
        if hit != 0 {
            return i + swar::first(hit);
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' || (stop_non_ascii && b >= 0x80) {
            return i;
        }
        i += 1;
    }
    i
}

/// Length of the valid multi-byte UTF-8 sequence at the start of `s`, or 0 if it is invalid
/// (ASCII included: callers handle single bytes themselves).
pub fn utf8_len(s: &[u8]) -> usize {
    let n = match s.first() {
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return 0,
    };
    match s.get(..n) {
        Some(seq) if std::str::from_utf8(seq).is_ok() => n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(b: &[u8]) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, b);
        String::from_utf8(out).unwrap()
    }

    fn esc_str(s: &str) -> String {
        let mut out = Vec::new();
        escape_str_into(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    /// The char-at-a-time definition both escapers must match (one U+FFFD per invalid byte).
    fn reference(bytes: &[u8]) -> String {
        let mut text = String::new();
        for chunk in bytes.utf8_chunks() {
            text.push_str(chunk.valid());
            text.extend(chunk.invalid().iter().map(|_| '\u{fffd}'));
        }
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", u32::from(c)));
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn escapes_specials_and_controls() {
        assert_eq!(esc(b"a\"b\\c\nd\te\x01"), "a\\\"b\\\\c\\nd\\te\\u0001");
        assert_eq!(esc("héllo ✓ 😀".as_bytes()), "héllo ✓ 😀");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_and_parses() {
        let s = esc(b"ok\xff\xe2\x82");
        let v: serde_json::Value = serde_json::from_str(&format!("\"{s}\"")).unwrap();
        assert_eq!(v.as_str().unwrap(), "ok\u{fffd}\u{fffd}\u{fffd}");
    }

    proptest::proptest! {
        /// Any text escapes to a JSON string that reads back as the same text, whatever its
        /// length and wherever the special bytes fall relative to the 8-byte steps.
        #[test]
        fn escaped_text_reads_back(text in "(.|\n|\t|\x00|\x1f|\"|\\\\){0,40}", pad in 0usize..9) {
            let text = format!("{}{text}", "p".repeat(pad));
            let v: serde_json::Value = serde_json::from_str(&format!("\"{}\"", esc(text.as_bytes()))).unwrap();
            proptest::prop_assert_eq!(v.as_str().unwrap(), text.as_str());
        }

        /// Both escapers give exactly the byte-at-a-time result, for every mix of ASCII,
        /// specials, controls and multi-byte text at every offset from the 8-byte steps.
        #[test]
        fn word_steps_match_the_reference(text in "(.|\n|\x00|\x1f|\x7f|\"|\\\\|é|😀|✓){0,40}", pad in 0usize..9) {
            let text = format!("{}{text}", "p".repeat(pad));
            proptest::prop_assert_eq!(esc_str(&text), reference(text.as_bytes()));
            proptest::prop_assert_eq!(esc(text.as_bytes()), reference(text.as_bytes()));
        }

        /// Any bytes escape to a valid JSON string.
        #[test]
        fn any_bytes_escape_to_valid_json(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let quoted = format!("\"{}\"", esc(&bytes));
            let parsed = serde_json::from_str::<serde_json::Value>(&quoted);
            proptest::prop_assert!(parsed.is_ok(), "{}", quoted);
            proptest::prop_assert_eq!(esc(&bytes), reference(&bytes));
        }
    }
}
