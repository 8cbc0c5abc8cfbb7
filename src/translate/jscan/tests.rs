//! Tests of the scanner: the tape API against the reference scanner, string and UTF-8 edge
//! cases, limits.

use super::*;
use crate::translate::jscan_reference as reference;
use proptest::prelude::*;

fn doc_of<'t>(tape: &'t mut Tape, j: &'t [u8]) -> Doc<'t> {
    tape.parse(j).unwrap()
}

#[test]
fn finds_nested_fields_as_raw_spans() {
    let j = br#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"a\"b\n\u00e9"}}"#;
    let mut tape = Tape::new();
    let doc = doc_of(&mut tape, j);
    let root = doc.root();
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
    let doc = doc_of(&mut tape, br#"{"a":1,"b":"x","a":2}"#);
    let root = doc.root();
    let [a, b, c] = root.pick(["a", "b", "c"]);
    assert_eq!(a.unwrap().as_u64(), Some(1), "first occurrence wins");
    assert_eq!(b.unwrap().str_content(), Some(&b"x"[..]));
    assert!(c.is_none());
    // Keys listed in another order than the members; a non-object has no members.
    let [c, b, a] = root.pick(["c", "b", "a"]);
    assert_eq!(a.unwrap().as_u64(), Some(1), "first occurrence wins");
    assert_eq!(b.unwrap().str_content(), Some(&b"x"[..]));
    assert!(c.is_none());
    let doc = doc_of(&mut tape, br#"[{"a":1}]"#);
    let arr = doc.root();
    assert!(arr.pick(["a"])[0].is_none());
}

#[test]
fn arrays_index() {
    let mut tape = Tape::new();
    let doc = doc_of(&mut tape, br#"{"choices":[{"i":0},{"i":[1,{"x":2}]},3]}"#);
    let root = doc.root();
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
    let doc = doc_of(&mut tape, b"[0,18446744073709551615,18446744073709551616,-1,1.0,1e3,-0]");
    let root = doc.root();
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
                let parsed = tape.parse(doc.as_bytes()).unwrap();
                let root = parsed.root();
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
    let parsed = tape.parse(doc.as_bytes()).unwrap();
    let root = parsed.root();
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
        let doc = t.parse(br#"{"a":[1,2]}"#).unwrap();
        let root = doc.root();
        let inner = with_tape(|t2| t2.parse(br#"{"b":3}"#).unwrap().root().get("b").unwrap().as_u64());
        (root.get("a").unwrap().index(1).unwrap().as_u64(), inner)
    });
    assert_eq!(outer, (Some(2), Some(3)));
}

#[test]
fn the_nesting_limit_holds_for_every_kind_of_value() {
    // A value at depth MAX_DEPTH is accepted, one deeper refused, whatever its kind, inside an
    // array or an object, exactly as the reference scanner does.
    for inner in ["1", "-2.5e3", "\"s\"", "null", "true", "false", "[]", "{}"] {
        for depth in [MAX_DEPTH, MAX_DEPTH + 1] {
            for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
                let doc = format!("{}{inner}{}", open.repeat(depth), close.repeat(depth));
                agree(doc.as_bytes());
                let e = parse(doc.as_bytes()).err().map(|e| e.what);
                assert_eq!(e, (depth > MAX_DEPTH).then_some("nesting too deep"), "{inner} at {depth}");
            }
        }
    }
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
    assert_eq!(taped.map(|d| (d.root().kind(), d.root().bytes().to_vec())).map_err(|e| (e.at, e.what)), want);
    if let (Ok(r), Ok(v)) = (reference::parse(input), Tape::new().parse(input)) {
        same_walk(r, v.root(), &["a", "type", "b\\n", ""], 0);
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

#[test]
fn long_plain_strings_agree_with_the_reference_at_every_length() {
    // Plain ASCII runs around the inline scan's 31/32-byte limit, then whatever ends the
    // string: its quote, an escape, a bad escape, a raw control, UTF-8 (valid and cut), or the
    // end of the input; as a value and as a key.
    for pad in 0..48 {
        let p = "x".repeat(pad);
        for tail in
            [&b"\""[..], b"\\n tail\"", b"\\q\"", b"\x01\"", "é\"".as_bytes(), b"\xc3\"", b"\xff\"", b"", b"\\u12"]
        {
            for (open, close) in [(&b"{\"k\":\""[..], &b",\"n\":1}"[..]), (b"{\"", b":1}")] {
                let mut doc = open.to_vec();
                doc.extend_from_slice(p.as_bytes());
                doc.extend_from_slice(tail);
                agree(&doc);
                doc.extend_from_slice(close);
                agree(&doc);
            }
        }
    }
}

#[test]
fn whitespace_and_punctuation_agree_with_the_reference() {
    for doc in [
        &b"{ }"[..],
        b"[ ]",
        b"{\n}",
        b"[\t]",
        b"{ \"a\" : 1 , \"b\" :[ 1 , 2 ] }",
        b"{\"a\"\r\n:\r\n1\r\n}",
        b"[ 1 ,\n 2 ]",
        b"{\"a\" 1}",
        b"{\"a\":1 x}",
        b"[1 x]",
        b"{,}",
        b"[,]",
        b"[1,]",
        b"{\"a\":1,}",
        b"{\"a\":1 ,}",
        b"[1 ,]",
        b"{\"a\" :",
        b"[1 ,",
        b"{ \"a\"",
        b"[ ",
    ] {
        agree(doc);
    }
}

#[test]
fn numbers_agree_with_the_reference() {
    for doc in [
        &b"[1e5,2E-3,3e+7,45.25,6.0e1]"[..],
        b"[3e,4.,5e+,6.e1,7E]",
        b"[12345678,123456789,1234567890123456789,12345678901234567890123]",
        b"{\"created\":1700000123,\"n\":0,\"m\":-0,\"x\":-12.5E+3}",
        b"[01]",
        b"[1-2]",
        b"[99999999x]",
        b"123456789",
        b"7",
    ] {
        agree(doc);
    }
}

#[test]
fn value_len_measures_one_valid_value() {
    let cases: [(&[u8], Option<usize>); 12] = [
        (br#"{"a":[1,2]},"x":1"#, Some(11)),
        (b"null}", Some(4)),
        (b"12}", Some(2)),
        (b"-0.5e3,", Some(6)),
        (br#""a\"b","#, Some(6)),
        (b"[]]", Some(2)),
        (b"[1,,2]", None),
        (b" 1", None),
        (b"", None),
        (br#"{"a":1"#, None),
        (b"tru", None),
        (b"\"\xff\"", None),
    ];
    for (input, want) in cases {
        assert_eq!(value_len(input), want, "{}", String::from_utf8_lossy(input));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// A value followed by anything: measured exactly when it is valid (a serialized value), and
    /// whatever prefix it measures in any soup is itself a valid document.
    #[test]
    fn value_len_agrees_with_parse(v in json_value(), tail in prop::collection::vec(piece(), 0..4),
                                   pieces in prop::collection::vec(piece(), 0..12)) {
        let mut text = serde_json::to_vec(&v).unwrap();
        let len = text.len();
        let tail = tail.concat();
        // A number runs on into digits (or a fraction, an exponent) that follow it.
        let runs_on = v.is_number() && tail.first().is_some_and(|b| b.is_ascii_digit() || b"-.eE".contains(b));
        text.extend_from_slice(&tail);
        if !runs_on {
            prop_assert_eq!(value_len(&text), Some(len));
        }
        let soup = pieces.concat();
        if let Some(n) = value_len(&soup) {
            prop_assert!(parse(&soup[..n]).is_ok());
            prop_assert!(!soup[..1].iter().any(u8::is_ascii_whitespace));
        }
    }
}

proptest! {
    /// Key equality agrees with slice equality at every length the word loads cover and past
    /// them, for equal keys, keys one byte apart (anywhere) and unrelated keys.
    #[test]
    fn key_equality_matches_slice_equality(
        a in prop::collection::vec(any::<u8>(), 0..40),
        flip in any::<prop::sample::Index>(),
        to in any::<u8>(),
        other in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        prop_assert!(same(&a, &a.clone()));
        let mut b = a.clone();
        if !b.is_empty() {
            let i = flip.index(b.len());
            b[i] = to;
        }
        prop_assert_eq!(same(&a, &b), a == b);
        prop_assert_eq!(same(&a, &other), a == other);
    }
}
