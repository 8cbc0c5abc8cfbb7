//! Where one top-level member's value sits in a JSON object, found without parsing it.
//!
//! [`top_level_value`] walks the outer object's members, skipping each value by its brackets and
//! strings, and returns the byte range of the value of the first member whose key is exactly the
//! given bytes. It does not validate: it is a locator for a document the caller parses anyway
//! (`translate::tools_cache`). What it guarantees is that it lexes strings as any JSON parser
//! does (it never steps over a `"` outside a string, and a string ends at the first `"` not
//! preceded by an odd run of `\`), counts brackets outside strings, and reads the outer object
//! strictly as key, `:`, value, `,` … (a scalar there only of the characters of numbers and
//! literals): so when the document it was given, with the range replaced by another JSON value,
//! is valid JSON, the range was that member's value. What it does not expect gives `None`.

use super::swar;
use std::ops::Range;

/// The range of the value of the first member of the outer object whose key is `key` (raw
/// bytes, compared as written: a key spelled with escapes does not match), or `None`.
pub fn top_level_value(doc: &[u8], key: &[u8]) -> Option<Range<usize>> {
    let mut i = skip_ws(doc, 0);
    if doc.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(doc, i);
        if doc.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(doc, i + 1)?;
        let this_key = doc.get(i + 1..key_end)?;
        i = skip_ws(doc, key_end + 1);
        if doc.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(doc, i + 1);
        let end = value_end(doc, start)?;
        if this_key == key {
            return Some(start..end);
        }
        i = skip_ws(doc, end);
        match doc.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(doc: &[u8], mut i: usize) -> usize {
    while matches!(doc.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// The index of the `"` that closes the string whose content starts at `i`.
fn string_end(doc: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let q = next_quote(doc, i)?;
        // Escaped when an odd run of backslashes (inside this string) stands right before it.
        let run = doc.get(i..q)?.iter().rev().take_while(|&&b| b == b'\\').count();
        if run % 2 == 0 {
            return Some(q);
        }
        i = q + 1;
    }
}

/// The index of the next `"` at or after `i`, eight bytes at a time.
fn next_quote(doc: &[u8], mut i: usize) -> Option<usize> {
    while let Some(w) = swar::word_at(doc, i) {
        let hit = swar::equal(w, b'"');
        if hit != 0 {
            return Some(i + swar::first(hit));
        }
        i += 8;
    }
    doc.get(i..)?.iter().position(|&b| b == b'"').map(|k| i + k)
}

/// The index just past the value that starts at `i`.
fn value_end(doc: &[u8], i: usize) -> Option<usize> {
    match doc.get(i)? {
        b'"' => Some(string_end(doc, i + 1)? + 1),
        b'{' | b'[' => nested_end(doc, i),
        _ => {
            let len = doc.get(i..)?.iter().take_while(|&&b| is_scalar_byte(b)).count();
            (len > 0).then_some(i + len)
        }
    }
}

/// Bytes of numbers and of `true`, `false`, `null`.
fn is_scalar_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// The index just past the object or array that opens at `i`: brackets counted, not matched,
/// and the other bytes between strings not looked at (the parse that follows checks both). It
/// steps a byte at a time, so a `"` is never stepped over and strings are lexed as a parser
/// lexes them. (Searching eight bytes at a time for the next quote or bracket measured slower:
/// between the strings of a request the next one is a byte or two away.)
fn nested_end(doc: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *doc.get(i)? {
            b'"' => i = string_end(doc, i + 1)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn found<'a>(doc: &'a str, key: &str) -> Option<&'a str> {
        top_level_value(doc.as_bytes(), key.as_bytes()).and_then(|r| doc.get(r))
    }

    #[test]
    fn finds_the_top_level_member_not_a_nested_one_or_one_in_a_string() {
        let doc = r#" { "a" : {"tools":[1]}, "b":"x \"tools\": [2] \\", "c":[{"tools":3}],
            "tools" : [ {"name":"t"} ] , "d": -1.5e3 } "#;
        assert_eq!(found(doc, "tools"), Some(r#"[ {"name":"t"} ]"#));
        assert_eq!(found(doc, "d"), Some("-1.5e3"));
        assert_eq!(found(doc, "b"), Some(r#""x \"tools\": [2] \\""#));
        assert_eq!(found(doc, "zz"), None);
    }

    #[test]
    fn the_first_of_two_members_is_found_and_escaped_keys_do_not_match() {
        assert_eq!(found(r#"{"tools":1,"tools":2}"#, "tools"), Some("1"));
        assert_eq!(found(r#"{"tool\u0073":1}"#, "tools"), None);
    }

    #[test]
    fn what_it_does_not_expect_gives_none() {
        for doc in [
            "",
            "[]",
            r#"{"a":}"#,
            r#"{"a" 1,"tools":[]}"#,
            r#"{"a":1 "tools":[]}"#,
            r#"{"a":tr"ue,"tools":[]}"#,
            r#"{"a":[1,"x],"tools":[]}"#,
            r#"{"a":[1}},"tools":[]}"#,
            r#"{"tools":[1,2"#,
        ] {
            assert_eq!(found(doc, "tools"), None, "{doc:?}");
        }
    }

    /// Any JSON text: arbitrary keys and strings (quotes, backslashes, brackets in them).
    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = "(\"|\\\\|\\[|\\]|\\{|\\}|,|:|tools|a|é| ){0,12}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            (-1000i32..1000).prop_map(|n| json!(f64::from(n) / 8.0)),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((text, inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// In any object, pretty or compact, the range found for a key holds exactly that
        /// member's value, and a key that is not a member is not found (nested or not).
        #[test]
        fn the_range_holds_the_members_value(
            members in proptest::collection::vec(("(tools|model|a|b|\"|\\\\)", value()), 0..6),
            pretty: bool,
        ) {
            let obj: serde_json::Map<String, Value> = members.into_iter().collect();
            let doc = Value::Object(obj.clone());
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap();
            for key in ["tools", "model", "a", "b", "missing"] {
                let got = top_level_value(text.as_bytes(), key.as_bytes())
                    .map(|r| serde_json::from_slice::<Value>(&text.as_bytes()[r]).unwrap());
                proptest::prop_assert_eq!(got.as_ref(), obj.get(key), "key {} in {}", key, text);
            }
        }
    }
}
