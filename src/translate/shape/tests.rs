//! Tests of the shape fast path: matching, learning, and the fast path against the full one
//! (property tests shared with the passthrough).

use super::*;
use crate::translate::canonical::Usage;
use crate::translate::claude_dec::ClaudeDecoder;
use crate::translate::openai_dec::OpenAiDecoder;
use proptest::prelude::*;

fn learned(frame: &'static [u8], content: &str) -> Shape {
    let mut s = Shape::default();
    let at = frame.windows(content.len()).position(|w| w == content.as_bytes()).unwrap();
    s.learn(frame, &frame[at..at + content.len()], DeltaKind::Text);
    s
}

#[test]
fn same_ends_and_valid_content_match() {
    let s = learned(br#"{"delta":{"text":"Hello"},"n":1}"#, "Hello");
    let m = |f: &'static [u8]| s.matches(&Bytes::from_static(f));
    let hit = s.matches(&Bytes::from(r#"{"delta":{"text":"a \"quoted\" \u00e9 😀 longer text"},"n":1}"#)).unwrap();
    let CanonicalEvent::TextDelta(t) = hit else { panic!("{hit:?}") };
    assert_eq!(t.unescape(), "a \"quoted\" é 😀 longer text");
    assert!(m(br#"{"delta":{"text":""},"n":1}"#).is_none(), "empty content goes the full way");
    assert!(m(br#"{"delta":{"text":"a"b"},"n":1}"#).is_none(), "a raw quote changes the structure");
    assert!(m(br#"{"delta":{"text":"a\"},"n":1}"#).is_none(), "a trailing backslash eats the quote");
    assert!(m(b"{\"delta\":{\"text\":\"a\nb\"},\"n\":1}").is_none(), "raw control byte");
    assert!(m(b"{\"delta\":{\"text\":\"\xff\"},\"n\":1}").is_none(), "invalid UTF-8");
    assert!(m(br#"{"delta":{"text":"x"},"n":2}"#).is_none(), "another value elsewhere");
    assert!(m(br#"{"delta":{"text":"x"}}"#).is_none());
    assert!(m(br#"{"delta":{"text":"},"n":1}"#).is_none(), "ends overlap");
}

#[test]
fn a_shape_is_learned_into_one_allocation() {
    let frame = br#"{"id":"chatcmpl-7d1f0c2a9b","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}"#;
    let s = learned(frame, "Hello");
    assert!(s.kind.is_some());
    // Reserved once for the whole frame: a regrowth would have left another capacity.
    assert_eq!(s.bytes.capacity(), frame.len());
}

#[test]
fn forgets_and_refuses_bad_spans() {
    let mut s = learned(br#"{"t":"abc"}"#, "abc");
    s.forget();
    assert!(s.matches(&Bytes::from_static(br#"{"t":"abd"}"#)).is_none());
    let frame = br#"{"t":"abc"}"#;
    s.learn(frame, b"abc", DeltaKind::Text);
    assert!(s.matches(&Bytes::from_static(br#"{"t":"abd"}"#)).is_none(), "not a sub-slice: nothing learned");
    s.learn(frame, &frame[6..8], DeltaKind::Text);
    assert!(s.matches(&Bytes::from_static(br#"{"t":"xyc"}"#)).is_none(), "not a whole string: nothing learned");
}

#[test]
fn unused_shapes_back_off_learning() {
    let frame = br#"{"t":"abc"}"#;
    // As a decoder learns: asks first, gathers the holes, learns.
    let learn = |s: &mut Shape| {
        if s.skip_learn() {
            return false;
        }
        s.learn(frame, &frame[6..9], DeltaKind::Text);
        s.kind.is_some()
    };
    let mut s = Shape::default();
    // Each shape that no frame matched doubles the learns skipped after it, up to the cap.
    let mut skipped = 0;
    for round in 0..8 {
        assert!(learn(&mut s), "round {round} learns");
        s.forget();
        skipped = (skipped * 2).clamp(1, MAX_BACKOFF);
        for i in 0..skipped {
            assert!(!learn(&mut s), "round {round}: learn {i} of {skipped} is skipped");
        }
    }
    assert_eq!(skipped, MAX_BACKOFF);
    // A shape that served ends the back-off.
    assert!(learn(&mut s));
    assert!(s.matches(&Bytes::from_static(br#"{"t":"xyz"}"#)).is_some());
    s.forget();
    assert!(learn(&mut s), "no learn is skipped after a shape that served");
    s.forget();
    assert!(!learn(&mut s), "an unused one starts the back-off at 1 again");
    assert!(learn(&mut s));
}

/// A stream whose every chunk differs from the last in a member the shape keeps fixed (here
/// `created`) decodes exactly as the full path decodes it, while the back-off skips most learns.
#[test]
fn chunks_that_never_repeat_decode_like_the_full_path() {
    let frames: Vec<Bytes> = (0..200)
        .map(|i| {
            Bytes::from(format!(
                r#"{{"id":"c","object":"chat.completion.chunk","created":{},"model":"m","choices":[{{"index":0,"delta":{{"content":"w{i} "}},"finish_reason":null}}]}}"#,
                1_700_000_000 + i
            ))
        })
        .collect();
    let (mut fast, mut full) = (OpenAiDecoder::new(), OpenAiDecoder::new());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut learned = 0;
    for f in &frames {
        fast.frame(f, &mut a).unwrap();
        full.frame_full(f, &mut b).unwrap();
        learned += usize::from(fast.shape.kind.is_some());
    }
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(a.len(), 202, "message start, block start and 200 deltas");
    assert!(learned < 20, "the back-off skips most learns: {learned} of 200 frames learned");
}

// ---- the fast path decodes exactly like the full path ----

/// Raw string content as it may appear between two quotes in an upstream frame: valid or not.
pub(crate) fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9 ,.]{0,24}".prop_map(String::into_bytes),
        any::<String>().prop_map(|t| JsonStr::from_text(&t).escaped().to_vec()),
        prop::sample::select(vec![
            &b""[..],
            b"a\"b",
            b"x\\",
            b"\\",
            b"\\u00e9 \\n \\\"",
            b"\\u12",
            b"raw\nline",
            b"\xff\xfe",
            b"\xe2\x82",
            b"\xf0\x9f\x98\x80",
            b"\"},\"x\":{\"y\":\"",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
}

pub(crate) fn claude_frame() -> impl Strategy<Value = (Option<&'static [u8]>, Vec<u8>)> {
    let delta = (
        prop::sample::select(vec![
            "text_delta",
            "thinking_delta",
            "signature_delta",
            "input_json_delta",
            "citations_delta",
        ]),
        prop::sample::select(vec!["text", "thinking", "signature", "partial_json", "other"]),
        0u32..3,
        content(),
        prop::sample::select(vec![Some(&b"content_block_delta"[..]), None, Some(b"ping")]),
        prop::sample::select(vec!["content_block_delta", "content_block_start", "x"]),
        prop::option::of(0u32..3),
    )
        .prop_map(|(ty, field, index, text, event, top, extra)| {
            let mut f = format!(r#"{{"type":"{top}","index":{index},"delta":{{"type":"{ty}","{field}":""#).into_bytes();
            f.extend_from_slice(&text);
            match extra {
                // Same length, another value: only the end tells them apart.
                Some(n) => f.extend_from_slice(format!(r#"","x":{n}}}}}"#).as_bytes()),
                None => f.extend_from_slice(br#""}}"#),
            }
            (event, f)
        });
    let other = prop::sample::select(vec![
        (
            Some(&b"message_start"[..]),
            &br#"{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3}}}"#[..],
        ),
        (
            Some(b"content_block_start"),
            br#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            Some(b"content_block_start"),
            br#"{"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use"}}"#,
        ),
        (
            Some(b"content_block_start"),
            br#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"n"}}"#,
        ),
        (Some(b"content_block_stop"), br#"{"type":"content_block_stop","index":1}"#),
        (Some(b"content_block_stop"), br#"{"type":"content_block_stop","index":0}"#),
        (
            Some(b"message_delta"),
            br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
        ),
        (Some(b"ping"), br#"{"type":"ping"}"#),
        (None, br#"{"type":"message_stop"}"#),
        (Some(b"error"), br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#),
        (
            Some(b"content_block_delta"),
            br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}"#,
        ),
    ])
    .prop_map(|(e, f)| (e, f.to_vec()));
    prop_oneof![4 => delta, 1 => other]
}

pub(crate) fn openai_frame() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        prop::sample::select(vec!["content", "reasoning_content", "reasoning", "role"]),
        content(),
        prop::sample::select(vec!["null", r#""stop""#, r#""tool_calls""#]),
        prop::sample::select(vec![
            "null",
            r#"{"prompt_tokens":4,"completion_tokens":2}"#,
            r#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}"#,
            r#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":1}}"#,
            r#"{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":1.5,"x_tokens":4,"y_tokens":5,"z_tokens":6,"w_tokens":7,"v_tokens":8}"#,
            "{}",
            "5",
        ]),
        prop::sample::select(vec![
            "",
            r#","tool_calls":[]"#,
            r#","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]"#,
        ]),
        0usize..3,
        0usize..3,
        (any::<bool>(), prop::sample::select(vec!["", "\r\n", " \n"])),
        // Unread padding (free in the shape): none, in front, at the end, or both; and the
        // first choice's log probabilities (a free value when not null).
        (
            prop::sample::select(vec![("", ""), (PAD, ""), ("", PAD), (PAD, PAD)]),
            prop::sample::select(vec!["", r#","logprobs":null"#, LOGPROBS_MEMBER]),
        ),
    )
        .prop_map(|(field, text, finish, usage, tools, id, n, (model_first, ws), ((p0, p1), lp))| {
            let (m0, m1) = if model_first { (r#""model":"m","#, "") } else { ("", r#","model":"m""#) };
            let (p0, p1) = (
                if p0.is_empty() { String::new() } else { format!("{p0},") },
                if p1.is_empty() { String::new() } else { format!(",{p1}") },
            );
            let mut f =
                format!(r#"{{{p0}"id":"c{id}",{ws}{m0}"choices":[{{"index":0,"delta":{{"{field}":""#).into_bytes();
            f.extend_from_slice(&text);
            f.extend_from_slice(
                format!(r#""{tools}}},"finish_reason":{finish}{lp}}}],{ws}"usage":{usage},"n":{n}{m1}{p1}}}"#)
                    .as_bytes(),
            );
            f
        });
    let args = content().prop_map(|a| {
        let mut f = br#"{"id":"c0","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":""#.to_vec();
        f.extend_from_slice(&a);
        f.extend_from_slice(br#""}}]},"finish_reason":null}]}"#);
        f
    });
    let other = prop::sample::select(vec![
        &b"[DONE]"[..],
        br#"{"error":{"type":"rate_limit_exceeded","message":"slow"}}"#,
        b"{bad",
    ])
    .prop_map(<[u8]>::to_vec);
    prop_oneof![6 => chunk, 2 => args, 1 => other]
}

/// An unread member whose string the tests vary ([`repad`]).
const PAD: &str = r#""obfuscation":"pad""#;

/// The log probabilities the generated chunks carry, whose value the tests vary ([`relog`]).
const LOGPROBS: &str = r#"{"content":[{"token":"t","logprob":-0.5,"bytes":[116],"top_logprobs":[]}]}"#;
const LOGPROBS_MEMBER: &str =
    concat!(r#","logprobs":"#, r#"{"content":[{"token":"t","logprob":-0.5,"bytes":[116],"top_logprobs":[]}]}"#);

/// Values [`relog`] puts in place of [`LOGPROBS`]: other valid values of every kind, and
/// invalid or unbalanced ones (some that would end early and leave a member behind).
pub(crate) const LOGPROB_VALUES: [&[u8]; 17] = [
    br#"{"content":[{"token":"longer token","logprob":-12.25,"bytes":[108,111],"top_logprobs":[{"token":"x","logprob":-1}]}]}"#,
    b"null",
    b"[]",
    b"{}",
    b"7",
    br#""s""#,
    b"true",
    br#"{"content":[}"#,
    br#"{"a":1"#,
    b"[1,,2]",
    br#"{"a":1}}"#,
    br#"{"a":1},"delta":{"content":"evil"}"#,
    br#""unterminated"#,
    b"{\"a\":\"\xff\"}",
    br#"{"a":01}"#,
    b" {}",
    b"{\"a\":\r\n1}",
];

/// Replaces every [`LOGPROBS`] value in `data` with [`LOGPROB_VALUES`]`[pick % 17]`.
pub(crate) fn relog(data: &mut Vec<u8>, pick: usize) {
    let marker = LOGPROBS.as_bytes();
    let value = LOGPROB_VALUES[pick % LOGPROB_VALUES.len()];
    while let Some(at) = data.windows(marker.len()).position(|w| w == marker) {
        data.splice(at..at + marker.len(), value.iter().copied());
    }
}

/// Replaces the content of every `PAD` string in `data` with `text`.
fn repad(data: &mut Vec<u8>, text: &[u8]) {
    let marker = br#""obfuscation":""#;
    let mut from = 0;
    while let Some(at) = data.get(from..).and_then(|d| d.windows(marker.len()).position(|w| w == marker)) {
        let start = from + at + marker.len();
        if data.get(start..start + 4) != Some(b"pad\"") {
            break;
        }
        data.splice(start..start + 3, text.iter().copied());
        from = start + text.len();
    }
}

/// Number tokens, valid or not, for [`renumber`].
const NUMBERS: [&str; 12] = [
    "0",
    "7",
    "123456",
    "007",
    "1.5",
    "-3",
    "1e2",
    "18446744073709551615",
    "9999999999999999999",
    "18446744073709551616",
    r#""5""#,
    "null",
];

/// Replaces the value of every `…_tokens` member in `data` with a token of [`NUMBERS`],
/// the `k`-th from `pick + k`.
pub(crate) fn renumber(data: &mut Vec<u8>, pick: usize) {
    let marker = br#"_tokens":"#;
    let (mut from, mut k) = (0, 0);
    while let Some(at) = data.get(from..).and_then(|d| d.windows(marker.len()).position(|w| w == marker)) {
        let start = from + at + marker.len();
        let len = data[start..].iter().position(|&b| b == b',' || b == b'}').unwrap_or(data.len() - start);
        let token = NUMBERS[(pick + k) % NUMBERS.len()].as_bytes();
        data.splice(start..start + len, token.iter().copied());
        from = start + token.len();
        k += 1;
    }
}

/// Frames repeat, so shapes are learned and then met with other content.
pub(crate) fn repeated<T: Clone + std::fmt::Debug>(frame: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec((frame, 1usize..4), 0..40)
        .prop_map(|v| v.into_iter().flat_map(|(f, n)| std::iter::repeat_n(f, n)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn claude_fast_path_decodes_like_the_full_path(frames in repeated(claude_frame()), tweak in prop::collection::vec(content(), 40)) {
        let (mut fast, mut full) = (ClaudeDecoder::new(), ClaudeDecoder::new());
        for (i, (event, mut data)) in frames.into_iter().enumerate() {
            // Some frames lose their `event:` line (named by their `type` then).
            let event = if i % 3 == 2 { None } else { event };
            // Every other frame gets new content in the same place.
            if i % 2 == 1 {
                crate::translate::test_support::retext(&mut data, &tweak[i % tweak.len()], true);
            }
            let data = Bytes::from(data);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let ra = fast.frame(event, &data, &mut a);
            let rb = full.frame_full(event, &data, &mut b);
            prop_assert_eq!(&ra, &rb, "frame {} {:?}", i, String::from_utf8_lossy(&data));
            prop_assert_eq!(&a, &b, "frame {} {:?}", i, String::from_utf8_lossy(&data));
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        fast.finish(&mut a);
        full.finish(&mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn openai_fast_path_decodes_like_the_full_path(
        frames in repeated(openai_frame()),
        tweak in prop::collection::vec(content(), 40),
        logs in prop::collection::vec(0..LOGPROB_VALUES.len(), 40),
    ) {
        let (mut fast, mut full) = (OpenAiDecoder::new(), OpenAiDecoder::new());
        for (i, mut data) in frames.into_iter().enumerate() {
            if i % 2 == 1 {
                crate::translate::test_support::retext(&mut data, &tweak[i % tweak.len()], false);
            }
            // The padding changes on two frames in three (any content, valid or not).
            if i % 3 != 0 {
                repad(&mut data, &tweak[(i * 7 + 3) % tweak.len()]);
            }
            // The usage counts change on frames that are not a multiple of four (mostly
            // to integers, sometimes to what is no integer or no number).
            if i % 4 != 0 {
                renumber(&mut data, if i % 5 == 0 { i } else { i % 3 });
            }
            // The log probabilities change on every other frame.
            if i % 2 == 0 {
                relog(&mut data, logs[i % logs.len()]);
            }
            let data = Bytes::from(data);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let ra = fast.frame(&data, &mut a);
            let rb = full.frame_full(&data, &mut b);
            prop_assert_eq!(&ra, &rb, "frame {} {:?}", i, String::from_utf8_lossy(&data));
            prop_assert_eq!(&a, &b, "frame {} {:?}", i, String::from_utf8_lossy(&data));
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        fast.finish(&mut a);
        full.finish(&mut b);
        prop_assert_eq!(a, b);
    }
}

/// The fast path is taken: a long answer decodes with one full parse per shape.
#[test]
fn repeated_deltas_take_the_fast_path() {
    let mut dec = ClaudeDecoder::new();
    let mut out = Vec::new();
    let frame = |t: &str| {
        Bytes::from(format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{t}"}}}}"#
        ))
    };
    dec.frame(Some(b"content_block_delta"), &frame("first"), &mut out).unwrap();
    assert!(dec.fast(Some(b"content_block_delta"), &frame(r#"second \"q\""#)).is_some());
    assert!(dec.fast(None, &frame("typed")).is_some(), "the type names it");
    assert!(dec.fast(Some(b"ping"), &frame("x")).is_none());
    for t in ["a", "b", "c"] {
        dec.frame(Some(b"content_block_delta"), &frame(t), &mut out).unwrap();
    }
    let texts: Vec<_> = out.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(texts.len(), 4);
    assert!(texts[3].contains("\"c\""), "{texts:?}");
}

/// Running usage in every chunk keeps the fast path: the counts are number holes, read
/// into the usage the hit carries; anything but a plain integer goes the full way.
#[test]
fn running_usage_takes_the_fast_path() {
    let chunk = |t: &str, completion: &str, total: &str| {
        Bytes::from(format!(
            r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{t}"}}}}],"usage":{{"prompt_tokens":12,"completion_tokens":{completion},"total_tokens":{total},"prompt_tokens_details":{{"cached_tokens":2}}}}}}"#
        ))
    };
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&chunk("first", "1", "13"), &mut out).unwrap();
    dec.frame(&chunk("second", "2", "14"), &mut out).unwrap();
    assert_eq!(dec.shape.n, 5, "the delta, three read counts and the unread total");
    assert!(dec.shape.has_counts());
    assert!(dec.shape.matches(&chunk("third", "40", "52")).is_none(), "a shape with counts needs matches_counted");
    let (delta, counts) = dec.shape.matches_counted(&chunk("third", "40", "52")).unwrap();
    assert_eq!(delta, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
    assert_eq!(counts, [12, 40, 2, 0]);
    out.clear();
    dec.frame(&chunk("fourth", "41", "53"), &mut out).unwrap();
    let usage = Usage { input_tokens: 10, output_tokens: 41, cache_read_input_tokens: 2, ..Usage::default() };
    assert_eq!(out, [CanonicalEvent::TextDelta(JsonStr::from_text("fourth")), CanonicalEvent::Usage(usage)]);
    for (completion, total) in [("4.5", "1"), ("04", "1"), ("-4", "1"), ("4", "1e3"), ("\"4\"", "1")] {
        assert!(dec.shape.matches_counted(&chunk("t", completion, total)).is_none(), "{completion} {total}");
    }
    assert!(dec.shape.matches_counted(&chunk("t", "18446744073709551615", "1")).is_none(), "20 digits go the full way");
    assert!(dec.shape.content(&chunk("t", "1", "13")).is_none(), "a shape with counts gives no raw content");
    let mut p = Shape::default();
    let frame = br#"{"t":"text","n":12}"#;
    let numbers = [(&frame[16..18], Some(0))];
    p.learn_with(frame, &frame[6..10], Holes { numbers: &numbers, ..Holes::default() }, DeltaKind::Text);
    assert!(p.matches(&Bytes::from_static(br#"{"t":"new","n":3}"#)).is_none(), "a read number needs counts");
    let numbers = [(&frame[16..17], Some(0))];
    let holes = Holes { numbers: &numbers, counts: Some([0; COUNTS]), ..Holes::default() };
    p.learn_with(frame, &frame[6..10], holes, DeltaKind::Text);
    assert!(
        p.matches_counted(&Bytes::from_static(br#"{"t":"new","n":32}"#)).is_none(),
        "part of a number: nothing learned"
    );
    let numbers = [(&frame[16..18], Some(1))];
    let holes = Holes { numbers: &numbers, counts: Some([7; COUNTS]), ..Holes::default() };
    p.learn_with(frame, &frame[6..10], holes, DeltaKind::Text);
    let (_, counts) = p.matches_counted(&Bytes::from_static(br#"{"t":"new","n":32}"#)).unwrap();
    assert_eq!(counts, [7, 32, 7, 7], "the hole fills its slot, the others keep the learned counts");
}

/// Unread padding of changing length (OpenAI's `obfuscation`) keeps the fast path.
#[test]
fn padded_chunks_take_the_fast_path() {
    let chunk = |pad: &str, t: &str| {
        Bytes::from(format!(
            r#"{{"obfuscation":"{pad}","id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"finish_reason":null}}],"system_fingerprint":"fp","usage":null}}"#
        ))
    };
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&chunk("x", "first"), &mut out).unwrap();
    dec.frame(&chunk("xy", "second"), &mut out).unwrap();
    assert!(dec.shape.n == 3, "the delta, the padding and the fingerprint are holes");
    let hit = dec.shape.matches(&chunk(r#"a longer \"pad\""#, "third")).unwrap();
    assert_eq!(hit, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
    assert!(dec.shape.matches(&chunk("", "fourth")).is_some(), "empty padding is valid");
    assert!(dec.shape.matches(&chunk(r"x\\", "fifth")).is_some(), "an escaped backslash");
    assert!(dec.shape.matches(&chunk(r"x\", "t")).is_none(), "padding whose quote is escaped");
    assert!(dec.shape.matches(&chunk("\u{1}", "t")).is_none(), "a raw control byte in the padding");
    assert!(dec.shape.content(&chunk("x", "t")).is_none(), "a shape with free holes gives no raw content");
    let mut p = Shape::default();
    let frame = br#"{"a":"pad","t":"text"}"#;
    p.learn_with(frame, &frame[16..20], Holes { free: &[&frame[6..9]], ..Holes::default() }, DeltaKind::Text);
    assert!(p.matches(&Bytes::from_static(br#"{"a":"","t":"new"}"#)).is_some());
    p.learn_with(frame, &frame[16..20], Holes { free: &[&frame[16..20]], ..Holes::default() }, DeltaKind::Text);
    assert!(
        p.matches(&Bytes::from_static(br#"{"a":"pad","t":"new"}"#)).is_none(),
        "overlapping holes: nothing learned"
    );
}

/// Log probabilities in every chunk (a different object each time) keep the fast path: the
/// `logprobs` value is a free value, validated and never read.
#[test]
fn log_probabilities_take_the_fast_path() {
    let chunk = |lp: &str, t: &str| {
        Bytes::from(format!(
            r#"{{"id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":{lp},"finish_reason":null}}]}}"#
        ))
    };
    let lp = |tok: &str, p: &str| {
        format!(r#"{{"content":[{{"token":"{tok}","logprob":{p},"bytes":[116],"top_logprobs":[]}}]}}"#)
    };
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&chunk(&lp("a", "-0.5"), "first"), &mut out).unwrap();
    dec.frame(&chunk(&lp("b", "-1.25"), "second"), &mut out).unwrap();
    assert_eq!(dec.shape.n, 2, "the delta and the log probabilities are holes");
    let hit = dec.shape.matches(&chunk(&lp("longer token", "-12.0e-3"), "third")).unwrap();
    assert_eq!(hit, CanonicalEvent::TextDelta(JsonStr::from_text("third")));
    for other in ["null", "[]", r#"{"content":[]}"#, "7", r#""s""#] {
        assert!(dec.shape.matches(&chunk(other, "t")).is_some(), "any valid value: {other}");
    }
    for bad in [r#"{"a":01}"#, r#"{"a":1"#, "[1,,2]", r#"{"a":1}}"#, r#"{"a":"x\u12"}"#, " {}", "nul"] {
        assert!(dec.shape.matches(&chunk(bad, "t")).is_none(), "an invalid value goes the full way: {bad}");
    }
    let smuggled = chunk(r#"{"a":1},"delta":{"content":"evil"}"#, "t");
    assert!(dec.shape.matches(&smuggled).is_none(), "the bytes after the value must be the learned ones");
}

/// A free value is validated at its own depth in the document: the full parse's nesting
/// limit holds on the fast path too.
#[test]
fn free_values_keep_the_nesting_limit() {
    let chunk = |lp: &str, t: &str| {
        Bytes::from(format!(
            r#"{{"id":"c","model":"m","choices":[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":{lp}}}]}}"#
        ))
    };
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&chunk("[1]", "first"), &mut out).unwrap();
    dec.frame(&chunk("[2]", "second"), &mut out).unwrap();
    assert_eq!(dec.shape.n, 2);
    // The value sits at depth 3 (root, choices, choice): 62 arrays reach the limit of 64.
    let (deepest, too_deep) = (chunk(&nested(62), "t"), chunk(&nested(63), "t"));
    assert!(jscan::parse(&deepest).is_ok() && jscan::parse(&too_deep).is_err());
    assert!(dec.shape.matches(&deepest).is_some());
    assert!(dec.shape.matches(&too_deep).is_none(), "deeper than the full parse allows");
}

/// A value written after whitespace (`"logprobs": {…}`) stays part of the fixed bytes: the
/// chunk still learns the text's shape.
#[test]
fn a_value_after_a_space_stays_fixed() {
    let chunk = |t: &str| {
        Bytes::from(format!(
            r#"{{"id":"c", "choices": [{{"index": 0, "delta": {{"content": "{t}"}}, "logprobs": {{"content": []}}}}]}}"#
        ))
    };
    let mut dec = OpenAiDecoder::new();
    let mut out = Vec::new();
    dec.frame(&chunk("first"), &mut out).unwrap();
    dec.frame(&chunk("second"), &mut out).unwrap();
    assert_eq!(dec.shape.n, 1, "the text alone is a hole");
    assert!(dec.shape.matches(&chunk("third")).is_some());
}
