//! Where one top-level member's value sits in a JSON object, found without parsing it.
//!
//! [`top_level_value`] walks the outer object's members from its end (a request's `tools` come
//! near the end, after the conversation, so only the members behind them and the tools
//! themselves are read), stepping over each value by its brackets and strings, and returns the
//! byte range of the value of the member whose key is exactly the given bytes.
//!
//! Strings are lexed backwards by the rule every JSON lexer applies forwards: a `"` is escaped
//! exactly when an odd run of `\` stands right before it. From outside a string the next `"`
//! back closes one, and the next `"` before it with no `\` right before it opens it. For
//! valid JSON the walk therefore finds exactly the parser's members. It does not validate: for a
//! document that is not valid JSON its answer means nothing, so its caller
//! (`translate::tools_cache`) uses it only on a document that parses, or proves the answer by
//! parsing. What it does not expect gives `None`.
//!
//! [`string_content_len`] lexes one string forwards by the same rule ([`quote_is_escaped`]), for
//! `translate::text`, which finds a decoded string's end in the body the parser validated.
//!
//! Forwards, for `translate::messages_cache` (whose `messages` come near the start):
//! [`top_level_value_start`] walks the outer object's members from its start to where a
//! member's value starts ([`top_level_value_forward`]: and where it ends, for
//! `translate::system_cache`), and [`element_ends`] steps over an array's elements, up to a limit,
//! giving where each ends. Same rules, same caveat: only on a document that parsed.

use super::swar;
use std::ops::Range;

/// Bytes of numbers and of `true`, `false`, `null`.
fn is_scalar_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// The range of the value of the outer object's last member whose key is `key` (raw bytes,
/// compared as written: a key spelled with escapes does not match), or `None`.
pub fn top_level_value(doc: &[u8], key: &[u8]) -> Option<Range<usize>> {
    let mut i = skip_ws_back(doc, doc.len());
    if i == 0 || doc.get(i - 1) != Some(&b'}') {
        return None;
    }
    i -= 1;
    loop {
        let end = skip_ws_back(doc, i);
        if doc.get(end.checked_sub(1)?) == Some(&b'{') {
            return None;
        }
        let start = value_start_back(doc, end)?;
        let colon = skip_ws_back(doc, start);
        if doc.get(colon.checked_sub(1)?) != Some(&b':') {
            return None;
        }
        let key_close = skip_ws_back(doc, colon - 1).checked_sub(1)?;
        if doc.get(key_close) != Some(&b'"') {
            return None;
        }
        let key_open = string_start_back(doc, key_close)?;
        if doc.get(key_open + 1..key_close)? == key {
            return Some(start..end);
        }
        let sep = skip_ws_back(doc, key_open).checked_sub(1)?;
        match doc.get(sep)? {
            b',' => i = sep,
            _ => return None,
        }
    }
}

/// The index just past the last non-whitespace byte before `i`.
fn skip_ws_back(doc: &[u8], mut i: usize) -> usize {
    while i > 0 && matches!(doc.get(i - 1), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i -= 1;
    }
    i
}

/// Whether the `"` at `q` is escaped: an odd run of `\` stands right before it.
pub fn quote_is_escaped(doc: &[u8], q: usize) -> bool {
    let run = doc.get(..q).unwrap_or_default().iter().rev().take_while(|&&b| b == b'\\').count();
    run % 2 == 1
}

/// The index of the `"` that opens the string closed by the `"` at `close`.
fn string_start_back(doc: &[u8], close: usize) -> Option<usize> {
    let mut i = close;
    loop {
        let q = prev_quote(doc, i)?;
        if !quote_is_escaped(doc, q) {
            return Some(q);
        }
        i = q;
    }
}

/// The length of the string content at the start of `rest` (what follows an opening quote):
/// the offset of the first `"` not escaped, `None` when there is none. Only quotes are stopped
/// at (`memchr`), so an escape-dense text costs no more than a plain one. It does not validate:
/// for content a parser accepted it is that string's end.
pub fn string_content_len(rest: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let q = from + memchr::memchr(b'"', rest.get(from..)?)?;
        if !quote_is_escaped(rest, q) {
            return Some(q);
        }
        from = q + 1;
    }
}

/// The index of the last `"` before `i`, eight bytes at a time.
fn prev_quote(doc: &[u8], mut i: usize) -> Option<usize> {
    while i >= 8 {
        let hit = swar::equal_exact(swar::word_at(doc, i - 8)?, b'"');
        if hit != 0 {
            // The highest flagged byte: exact, so it is a quote.
            return Some(i - 1 - (hit.leading_zeros() / 8) as usize);
        }
        i -= 8;
    }
    doc.get(..i)?.iter().rposition(|&b| b == b'"')
}

/// The index where the value that ends just before `end` starts.
fn value_start_back(doc: &[u8], end: usize) -> Option<usize> {
    let last = end.checked_sub(1)?;
    match doc.get(last)? {
        b'"' => string_start_back(doc, last),
        b'}' | b']' => nested_start_back(doc, last),
        _ => {
            let len = doc.get(..end)?.iter().rev().take_while(|&&b| is_scalar_byte(b)).count();
            (len > 0).then_some(end - len)
        }
    }
}

/// The index of the bracket that opens the object or array closed at `close` (brackets
/// counted; strings stepped over backwards).
fn nested_start_back(doc: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *doc.get(i)? {
            b'"' => i = string_start_back(doc, i)?,
            b'}' | b']' => depth += 1,
            b'{' | b'[' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i = i.checked_sub(1)?;
    }
}

/// Where the value of the outer object's first member whose key is `key` starts, walking the
/// members forwards (for a member near the start, such as a request's `messages`; only the
/// members before it are stepped over). Same rules as [`top_level_value`]: keys compared as
/// written, no validation, `None` for what it does not expect.
pub fn top_level_value_start(doc: &[u8], key: &[u8]) -> Option<usize> {
    let open = skip_ws(doc, 0);
    if doc.get(open) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(doc, open + 1);
    loop {
        if doc.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = value_end(doc, i)?;
        let colon = skip_ws(doc, key_end);
        if doc.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(doc, colon + 1);
        if doc.get(i + 1..key_end - 1)? == key {
            return Some(start);
        }
        let sep = skip_ws(doc, value_end(doc, start)?);
        if doc.get(sep) != Some(&b',') {
            return None;
        }
        i = skip_ws(doc, sep + 1);
    }
}

/// The range of the value of the outer object's first member whose key is `key`, walking the
/// members forwards ([`top_level_value_start`], then the value stepped over): for a member near
/// the start, where [`top_level_value`] would step over everything after it.
pub fn top_level_value_forward(doc: &[u8], key: &[u8]) -> Option<Range<usize>> {
    let start = top_level_value_start(doc, key)?;
    Some(start..value_end(doc, start)?)
}

/// The ends of the elements of the array whose `[` is at `open`, as offsets from `open` (each
/// just past its element's last byte), read forwards from `from`: `open + 1` for the whole
/// array, or the end of an element already known (then only the elements after it are read).
/// The walk stops at the array's end, or after the first element that ends beyond `limit`
/// (offset from `open`; `usize::MAX` for all). Values are stepped over by their brackets and
/// strings, as [`top_level_value`] does backwards; like it, this does not validate, so its
/// caller uses it only on a document that parsed. What it does not expect gives `None`.
pub fn element_ends(doc: &[u8], open: usize, from: usize, limit: usize) -> Option<Vec<usize>> {
    if doc.get(open) != Some(&b'[') || from <= open {
        return None;
    }
    let mut ends = Vec::new();
    let mut i = skip_ws(doc, from);
    let mut first = from == open + 1;
    loop {
        match doc.get(i)? {
            b']' => return Some(ends),
            b',' if !first => i = skip_ws(doc, i + 1),
            _ if first => {}
            _ => return None,
        }
        first = false;
        let end = value_end(doc, i)?;
        ends.push(end - open);
        if end - open > limit {
            return Some(ends);
        }
        i = skip_ws(doc, end);
    }
}

/// The index of the first non-whitespace byte at or after `i`.
pub fn skip_ws(doc: &[u8], mut i: usize) -> usize {
    while matches!(doc.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// The index just past the value that starts at `i`.
fn value_end(doc: &[u8], mut i: usize) -> Option<usize> {
    match doc.get(i)? {
        b'"' => Some(i + 2 + string_content_len(doc.get(i + 1..)?)?),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match *doc.get(i)? {
                    b'"' => i += 1 + string_content_len(doc.get(i + 1..)?)?,
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
        _ => {
            let len = doc.get(i..)?.iter().take_while(|&&b| is_scalar_byte(b)).count();
            (len > 0).then_some(i + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn string_content_len_stops_at_the_first_unescaped_quote() {
        assert_eq!(string_content_len(br#"abc" tail"#), Some(3));
        assert_eq!(string_content_len(br#"" tail"#), Some(0));
        assert_eq!(string_content_len(br#"a\"b" tail"#), Some(4));
        assert_eq!(string_content_len(br#"a\\" tail"#), Some(3));
        assert_eq!(string_content_len(br#"a\\\"b\\\\" tail"#), Some(10));
        assert_eq!(string_content_len(br#"\""#), None);
        assert_eq!(string_content_len(b"no quote"), None);
    }

    fn found<'a>(doc: &'a str, key: &str) -> Option<&'a str> {
        top_level_value(doc.as_bytes(), key.as_bytes()).and_then(|r| doc.get(r))
    }

    #[test]
    fn finds_the_top_level_member_not_a_nested_one_or_one_in_a_string() {
        let doc = r#" { "a" : {"tools":[1]}, "b":"x \"tools\": [2] \\", "tools" : [ {"name":"t\"]"} ] ,
            "c":[{"tools":3}, "\\", "]\"["], "d": -1.5e3 } "#;
        assert_eq!(found(doc, "tools"), Some(r#"[ {"name":"t\"]"} ]"#));
        assert_eq!(found(doc, "d"), Some("-1.5e3"));
        assert_eq!(found(doc, "b"), Some(r#""x \"tools\": [2] \\""#));
        assert_eq!(found(doc, "a"), Some(r#"{"tools":[1]}"#));
        assert_eq!(found(doc, "zz"), None);
        assert_eq!(found("{}", "tools"), None);
    }

    #[test]
    fn the_last_of_two_members_is_found_and_escaped_keys_do_not_match() {
        assert_eq!(found(r#"{"tools":1,"tools":2}"#, "tools"), Some("2"));
        assert_eq!(found(r#"{"tool\u0073":1}"#, "tools"), None);
    }

    #[test]
    fn a_broken_end_gives_none() {
        for doc in [
            "",
            "[]",
            r#"{"tools":[]"#,
            r#"{"tools" []}"#,
            r#"{"tools":]}"#,
            r#"{"tools":[1]]}"#,
            r#"{tools":1}"#,
            r#"{"a":1,}"#,
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
        /// Client bytes, however broken, never make the walk panic or hand out a range outside
        /// the document: random bytes, and valid objects with bytes overwritten.
        #[test]
        fn any_bytes_give_a_range_inside_or_none(
            soup in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            members in proptest::collection::vec(("(tools|a)", value()), 0..4),
            hits in proptest::collection::vec((0usize..400, proptest::sample::select(&b"{}[]\"\\,: x"[..])), 0..4),
        ) {
            let mut doc = serde_json::to_vec(&Value::Object(members.into_iter().collect())).unwrap();
            for (at, b) in hits {
                let len = doc.len();
                if let Some(x) = doc.get_mut(at % len.max(1)) {
                    *x = b;
                }
            }
            for d in [&soup, &doc] {
                if let Some(r) = top_level_value(d, b"tools") {
                    proptest::prop_assert!(r.start <= r.end && r.end <= d.len());
                }
            }
        }

        /// In any object, pretty or compact, the range found for a key (walking backwards or
        /// forwards) holds exactly that member's value, and a key that is not a member is not
        /// found (nested or not).
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
                let forward = top_level_value_forward(text.as_bytes(), key.as_bytes());
                proptest::prop_assert_eq!(forward, top_level_value(text.as_bytes(), key.as_bytes()), "{}", text);
            }
        }
    }
    fn ends(doc: &str) -> Option<Vec<usize>> {
        let open = doc.find('[')?;
        element_ends(doc.as_bytes(), open, open + 1, usize::MAX)
    }

    #[test]
    fn element_ends_step_over_every_kind_of_value() {
        let doc = r#"x [ {"a":"]}\"\\"} , [1,[2]] ,"s\"]",-1.5e3,true, null ,{}] y"#;
        let open = doc.find('[').unwrap();
        let got = ends(doc).unwrap();
        let pieces: Vec<&str> = got
            .iter()
            .scan(open + 1, |from, &end| {
                let piece = doc[*from..open + end].trim_start_matches([' ', ',']);
                *from = open + end;
                Some(piece)
            })
            .collect();
        assert_eq!(pieces, [r#"{"a":"]}\"\\"}"#, "[1,[2]]", r#""s\"]""#, "-1.5e3", "true", "null", "{}"]);
        // Read on from a known end: only the elements after it.
        assert_eq!(element_ends(doc.as_bytes(), open, open + got[1], usize::MAX), Some(got[2..].to_vec()));
        assert_eq!(element_ends(doc.as_bytes(), open, open + got[6], usize::MAX), Some(vec![]));
        // Up to a limit: the elements that end within it and the first beyond it.
        assert_eq!(element_ends(doc.as_bytes(), open, open + 1, got[2]), Some(got[..4].to_vec()));
        assert_eq!(element_ends(doc.as_bytes(), open, open + got[2], got[2] + 1), Some(got[3..4].to_vec()));
        assert_eq!(element_ends(doc.as_bytes(), open, open + 1, 0), Some(got[..1].to_vec()));
        assert_eq!(ends("[]"), Some(vec![]));
        assert_eq!(ends(" [ \n ] "), Some(vec![]));
    }

    #[test]
    fn element_ends_agree_with_a_parser_on_generated_arrays() {
        let elements = [
            json!({"role":"user","content":[{"type":"text","text":"a \"b\" \\ ]}"}]}),
            json!("x]"),
            json!(3),
            json!([[], {}]),
            json!(null),
        ];
        for n in 0..=elements.len() {
            let arr = Value::Array(elements[..n].to_vec());
            for doc in [arr.to_string(), serde_json::to_string_pretty(&arr).unwrap()] {
                let got = ends(&doc).unwrap();
                assert_eq!(got.len(), n, "{doc}");
                let open = doc.find('[').unwrap();
                let mut from = open + 1;
                for (end, want) in got.iter().zip(&elements) {
                    let piece = doc[from..open + end].trim_start_matches([' ', ',', '\n']);
                    assert_eq!(serde_json::from_str::<Value>(piece).unwrap(), *want, "{doc}");
                    from = open + end;
                }
            }
        }
    }

    #[test]
    fn element_ends_refuse_what_they_do_not_expect() {
        for doc in ["[1 2]", "[,1]", "[1,]x", r#"["a]"#, "[{]", "[1", "[;]"] {
            assert_eq!(ends(doc), None, "{doc:?}");
        }
        assert_eq!(element_ends(b"{}", 0, 1, usize::MAX), None, "not an array");
        assert_eq!(element_ends(b"[1]", 0, 0, usize::MAX), None, "from before the bracket's end");
    }
    #[test]
    fn the_first_member_is_found_forwards_and_only_at_the_top() {
        let doc = r#" { "a" : {"messages":[1]}, "b":"x \"messages\": [2] \\", "messages" : [ {"t":"\"]"} ] , "messages":[9] } "#;
        let start = top_level_value_start(doc.as_bytes(), b"messages").unwrap();
        assert!(doc[start..].starts_with(r#"[ {"t":"\"]"} ]"#), "{}", &doc[start..]);
        assert_eq!(top_level_value_start(doc.as_bytes(), b"a").map(|s| &doc[s..=s]), Some("{"));
        assert_eq!(top_level_value_start(doc.as_bytes(), b"zz"), None);
        for bad in ["", "[]", "{}", r#"{"a" 1}"#, r#"{"a":1 "messages":[]}"#, "{a:1}", r#"{"a":"#] {
            assert_eq!(top_level_value_start(bad.as_bytes(), b"messages"), None, "{bad:?}");
        }
    }
}
