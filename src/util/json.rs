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
    escape_into(out, s.as_bytes());
    out.put_u8(b'"');
}

/// Appends the escaped contents of `bytes` (no quotes). Runs of safe bytes are copied in one go.
pub fn escape_into<B: BufMut>(out: &mut B, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0x00..=0x1f => None,
            0x80..=0xff => {
                // Validate the UTF-8 sequence; replace invalid bytes.
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
            _ => {
                i += 1;
                continue;
            }
        };
        out.put_slice(bytes.get(start..i).unwrap_or_default());
        if let Some(e) = esc {
            out.put_slice(e);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.put_slice(b"\\u00");
            out.put_u8(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.put_u8(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        }
        i += 1;
        start = i;
    }
    out.put_slice(bytes.get(start..).unwrap_or_default());
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

        /// Any bytes escape to a valid JSON string.
        #[test]
        fn any_bytes_escape_to_valid_json(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let quoted = format!("\"{}\"", esc(&bytes));
            let parsed = serde_json::from_str::<serde_json::Value>(&quoted);
            proptest::prop_assert!(parsed.is_ok(), "{}", quoted);
        }
    }
}
