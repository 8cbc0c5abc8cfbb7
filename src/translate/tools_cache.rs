//! The tool definitions of the last few requests, per worker thread, keyed by their bytes.
//!
//! An agent (Claude Code, an OpenAI-SDK agent) sends the same `tools` array, byte for byte, on
//! every turn of a conversation: about a third of a turn's body, and the dearest third to decode
//! (every JSON Schema is read and written out again). For a large body `translate::request`
//! (`request/reuse.rs`) first asks [`guess`] whether a kept array stands where it started or
//! ended last time, else asks [`span`] where the top-level `tools` value is
//! (`util::json_member`) and [`lookup`]s those bytes; on a hit it decodes the body with that
//! value replaced by the thread's marker (`api::cache_marker`) and takes the kept tools only if
//! the top-level `tools` read the marker; only then is the array marked as used where it stood
//! ([`seen`]). A miss decodes the whole body and [`remember`]s its tools. Any failure on that
//! road falls back to the plain decode of the body, so a bad request gets exactly the error it
//! always got (`docs/translation.md`, "Repeated tool definitions").
//!
//! Per thread (`Rc`, no lock): each worker keeps its own [`ENTRIES`] most recently used tool
//! sets in a [`ValueCache`]; a key is the wire format and the exact bytes, so a hit can only be
//! the same text.

use super::canonical::{Tool, WireFormat};
use super::value_cache::ValueCache;
use bytes::Bytes;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// Tool sets kept per thread (several conversations with different tools can alternate).
pub const ENTRIES: usize = 4;
/// Bodies below this size are decoded whole: the lookup would cost more than it saves.
pub const MIN_BODY: usize = 8 * 1024;
/// Tool arrays below this size are decoded with the body.
pub const MIN_TOOLS: usize = 1024;
/// Tool arrays above this size are not kept (bounds the cache at `ENTRIES` times this).
pub const MAX_TOOLS: usize = 512 * 1024;

thread_local! {
    static CACHE: RefCell<ValueCache<WireFormat, [Tool]>> = const { RefCell::new(ValueCache::new(ENTRIES)) };
}

/// Where the body's top-level `tools` value is, when the body and the value are large enough
/// for the cache to pay off.
pub fn span(body: &[u8]) -> Option<Range<usize>> {
    // The walk steps over every member after the tools; a large body without them (a long chat)
    // would pay it whole on every request, so a substring search (SIMD) rules them out first.
    if body.len() < MIN_BODY || memchr::memmem::find(body, br#""tools""#).is_none() {
        return None;
    }
    crate::util::json_member::top_level_value(body, b"tools")
        .filter(|r| (MIN_TOOLS..=MAX_TOOLS).contains(&r.len()) && body.get(r.start) == Some(&b'['))
}

/// A kept array of this format standing in `body` where it started or ended last time: the
/// range and the tools. Only the bytes are compared; the caller proves the range was the
/// top-level `tools` (the decode of the body with the marker there) and then calls [`seen`].
pub fn guess(format: WireFormat, body: &[u8]) -> Option<(Range<usize>, Rc<[Tool]>)> {
    CACHE.with(|c| c.try_borrow().ok()?.guess(format, body))
}

/// The tools decoded from exactly these bytes in this format.
pub fn lookup(format: WireFormat, raw: &[u8]) -> Option<Rc<[Tool]>> {
    CACHE.with(|c| c.try_borrow().ok()?.lookup(format, raw))
}

/// Records that the decode proved the kept `tools` at `span` of a body of `body_len` bytes.
pub fn seen(tools: &Rc<[Tool]>, span: &Range<usize>, body_len: usize) {
    let _ = CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.seen(tools, span, body_len)));
}

/// Keeps `tools` as the decoding of `body[span]` in `format` (the bytes are copied), dropping
/// the least recently used set.
pub fn remember(format: WireFormat, body: &[u8], span: Range<usize>, tools: &Rc<[Tool]>) {
    if span.len() > MAX_TOOLS {
        return;
    }
    let Some(raw) = body.get(span.clone()) else { return };
    let raw = Bytes::copy_from_slice(raw);
    let _ =
        CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.remember(format, raw, &span, body.len(), Rc::clone(tools))));
}

/// Forgets every tool set of this thread (benches time the first turn of a conversation).
pub fn clear() {
    let _ = CACHE.with(|c| c.try_borrow_mut().map(|mut c| c.clear()));
}

/// How many tool sets this thread keeps.
#[cfg(test)]
pub fn len() -> usize {
    CACHE.with(|c| c.try_borrow().map_or(0, |c| c.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::agent_turn;
    use crate::translate::canonical::{CanonicalRequest, Json};
    use crate::translate::request::{ClaudeEndpoint, RequestError, decode_claude, decode_openai};

    fn tools(name: &str) -> Rc<[Tool]> {
        vec![Tool { name: name.into(), description: String::new(), parameters: Json::any_object() }].into()
    }

    fn keep(format: WireFormat, raw: &str, tools: &Rc<[Tool]>) {
        remember(format, raw.as_bytes(), 0..raw.len(), tools);
    }

    #[test]
    fn a_hit_needs_the_same_bytes_and_format_and_the_least_recently_proven_set_goes_first() {
        clear();
        let one = tools("a");
        keep(WireFormat::Claude, "[1]", &one);
        assert_eq!(lookup(WireFormat::Claude, b"[1]").map(|t| t[0].name.clone()), Some("a".into()));
        assert!(lookup(WireFormat::OpenAi, b"[1]").is_none(), "another format is another key");
        assert!(lookup(WireFormat::Claude, b"[1 ]").is_none(), "other bytes are another key");
        for i in 2..=ENTRIES {
            keep(WireFormat::Claude, &format!("[{i}]"), &tools("x"));
        }
        // "[1]" is the oldest; a lookup alone does not change that, its proof does, which makes
        // "[2]" the oldest, and one more set drops that.
        assert!(lookup(WireFormat::Claude, b"[1]").is_some());
        seen(&one, &(0..3), 3);
        keep(WireFormat::Claude, "[9]", &tools("y"));
        assert_eq!(len(), ENTRIES);
        assert!(lookup(WireFormat::Claude, b"[2]").is_none());
        assert!(lookup(WireFormat::Claude, b"[1]").is_some());
        // Without the proof, the oldest goes even when it was just looked up.
        assert!(lookup(WireFormat::Claude, b"[3]").is_some());
        keep(WireFormat::Claude, "[10]", &tools("z"));
        assert!(lookup(WireFormat::Claude, b"[3]").is_none());
        clear();
        assert_eq!(len(), 0);
    }

    /// A body decoded on a miss (the plain decode), then again from the cache.
    fn twice(
        body: &[u8],
        format: WireFormat,
    ) -> (Result<CanonicalRequest, RequestError>, Result<CanonicalRequest, RequestError>) {
        let decode = |b: &[u8]| match format {
            WireFormat::Claude => decode_claude(b, ClaudeEndpoint::Messages),
            WireFormat::OpenAi => decode_openai(b),
        };
        clear();
        let plain = decode(body);
        (plain, decode(body))
    }

    fn agent(format: WireFormat) -> serde_json::Value {
        let body = match format {
            WireFormat::Claude => agent_turn::claude("m", true, "go on"),
            WireFormat::OpenAi => agent_turn::openai("m", true, "go on"),
        };
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn a_repeated_turn_decodes_as_the_plain_decode_with_the_tools_shared() {
        for format in [WireFormat::Claude, WireFormat::OpenAi] {
            let body = serde_json::to_vec(&agent(format)).unwrap();
            let (plain, cached) = twice(&body, format);
            let (plain, cached) = (plain.unwrap(), cached.unwrap());
            assert_eq!(cached, plain, "{format:?}");
            assert!(!plain.tools.is_empty());
            assert!(Rc::ptr_eq(&plain.tools, &cached.tools), "{format:?}: the second turn's tools come from the cache");
            assert_eq!(len(), 1);
        }
    }

    #[test]
    fn legacy_functions_still_follow_the_cached_tools() {
        let mut v = agent(WireFormat::OpenAi);
        v["functions"] = serde_json::json!([{"name": "legacy", "parameters": {"type": "object"}}]);
        let (plain, cached) = twice(&serde_json::to_vec(&v).unwrap(), WireFormat::OpenAi);
        let (plain, cached) = (plain.unwrap(), cached.unwrap());
        assert_eq!(plain.tools.last().map(|t| t.name.as_str()), Some("legacy"));
        assert_eq!(cached, plain);
    }

    #[test]
    fn a_bad_body_with_cached_tools_gets_the_plain_decodes_error() {
        for format in [WireFormat::Claude, WireFormat::OpenAi] {
            // A semantic error elsewhere in the body.
            let mut v = agent(format);
            v["messages"][1]["role"] = "wizard".into();
            let body = serde_json::to_vec(&v).unwrap();
            let good = serde_json::to_vec(&agent(format)).unwrap();
            let (plain, _) = twice(&body, format);
            let _ = twice(&good, format); // the same tools, cached
            assert!(plain.is_err());
            let again = match format {
                WireFormat::Claude => decode_claude(&body, ClaudeEndpoint::Messages),
                WireFormat::OpenAi => decode_openai(&body),
            };
            assert_eq!(again, plain, "{format:?}");
            // A second `tools` member, and broken JSON, both before the tools: the cached
            // array is still where it was from the end, so the guess takes it.
            let text = String::from_utf8(good.clone()).unwrap();
            let duplicate = text.replacen('{', r#"{"tools":[],"#, 1);
            let broken = text.replacen(r#""messages":["#, r#""messages":[x"#, 1);
            for bad in [duplicate, broken] {
                let (plain, cached) = twice(&good, format);
                assert!(plain.is_ok() && cached.is_ok());
                assert!(guess(format, bad.as_bytes()).is_some(), "{format:?}: the guess path is taken");
                let after_hit = match format {
                    WireFormat::Claude => decode_claude(bad.as_bytes(), ClaudeEndpoint::Messages),
                    WireFormat::OpenAi => decode_openai(bad.as_bytes()),
                };
                let (plain, _) = twice(bad.as_bytes(), format);
                assert!(plain.is_err(), "{format:?} {}", &bad[..40]);
                assert_eq!(after_hit, plain, "{format:?}");
            }
        }
    }

    #[test]
    fn a_moved_array_is_found_by_the_walk_and_guessed_at_the_next_turn() {
        let one = agent_turn::claude("m", true, "go on");
        let (plain, _) = twice(&one, WireFormat::Claude);
        let cached = plain.unwrap().tools;
        let text = String::from_utf8(one).unwrap();
        // Bytes before the array and after it change length: neither guess finds it.
        let two = text.replacen(r#""temperature":1"#, r#""temperature":0.5"#, 1).replacen(
            r#""model":"m""#,
            r#""model":"mm""#,
            1,
        );
        assert_eq!(two.len(), text.len() + 3);
        assert!(guess(WireFormat::Claude, two.as_bytes()).is_none(), "the array moved");
        let got = decode_claude(two.as_bytes(), ClaudeEndpoint::Messages).unwrap();
        assert!(Rc::ptr_eq(&got.tools, &cached), "looked up by its bytes");
        assert!(guess(WireFormat::Claude, two.as_bytes()).is_some(), "the new place is remembered");
        clear();
        assert_eq!(decode_claude(two.as_bytes(), ClaudeEndpoint::Messages).unwrap(), got);
    }

    #[test]
    fn server_tools_stay_dropped_and_count_tokens_shares_the_list() {
        let mut v = agent(WireFormat::Claude);
        let tools = v["tools"].as_array_mut().unwrap();
        tools.insert(3, serde_json::json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 5}));
        let n = tools.len();
        let body = serde_json::to_vec(&v).unwrap();
        let (plain, cached) = twice(&body, WireFormat::Claude);
        let (plain, cached) = (plain.unwrap(), cached.unwrap());
        assert_eq!(plain.tools.len(), n - 1);
        assert!(plain.tools.iter().all(|t| t.name != "web_search"));
        assert_eq!(cached, plain);
        let counted = decode_claude(&body, ClaudeEndpoint::CountTokens).unwrap();
        assert!(Rc::ptr_eq(&counted.tools, &cached.tools));
        clear();
        assert_eq!(decode_claude(&body, ClaudeEndpoint::CountTokens).unwrap(), counted);
    }

    #[test]
    fn a_grown_turn_finds_its_tools_at_the_same_distance_from_the_end() {
        clear();
        let one = agent_turn::claude("m", true, "go on");
        let r = span(&one).unwrap();
        let (plain, _) = twice(&one, WireFormat::Claude);
        let cached = plain.unwrap().tools;
        // The next turn: a longer conversation before the tools, the same bytes after them.
        let two = [&one[..10], b" ".repeat(5000).as_slice(), &one[10..]].concat();
        let (range, tools) = guess(WireFormat::Claude, &two).expect("guessed");
        assert_eq!(range, r.start + 5000..r.end + 5000);
        assert!(Rc::ptr_eq(&tools, &cached));
        assert!(guess(WireFormat::OpenAi, &two).is_none(), "another format");
        assert!(guess(WireFormat::Claude, &two[..two.len() - 1]).is_none(), "another tail");
        // The decode that took it there records its new start: a third body that keeps that
        // start but changes the bytes after the array is guessed too.
        let got = decode_claude(&two, ClaudeEndpoint::Messages).unwrap();
        assert!(Rc::ptr_eq(&got.tools, &cached));
        let text = String::from_utf8(two).unwrap();
        let three = text.replacen(r#""temperature":1"#, r#""temperature":0.5"#, 1);
        assert_ne!(three, text);
        assert_eq!(guess(WireFormat::Claude, three.as_bytes()).map(|(r, _)| r), Some(range));
    }

    #[test]
    fn cached_bytes_under_another_key_are_not_taken_for_the_tools() {
        let one = agent_turn::claude("m", true, "go on");
        let _ = twice(&one, WireFormat::Claude);
        // The same array, at the same place, but as the value of a member that is not `tools`.
        let text = String::from_utf8(one).unwrap().replacen(r#""tools":["#, r#""tools_backup":["#, 1);
        let body = text.as_bytes();
        assert!(guess(WireFormat::Claude, body).is_some(), "the bytes alone match");
        // Another set, kept after the agent's: the agent's is the least recently used.
        keep(WireFormat::Claude, "[\"other\"]", &tools("other"));
        let fast = decode_claude(body, ClaudeEndpoint::Messages).unwrap();
        // The lookalike moved nothing: filling the cache drops the agent's set first.
        for i in 2..ENTRIES {
            keep(WireFormat::Claude, &format!("[{i}]"), &tools("x"));
        }
        assert!(guess(WireFormat::Claude, body).is_some(), "still kept with a full cache");
        keep(WireFormat::Claude, "[last]", &tools("y"));
        assert!(guess(WireFormat::Claude, body).is_none(), "the agent's set went first");
        clear();
        let plain = decode_claude(body, ClaudeEndpoint::Messages).unwrap();
        assert!(plain.tools.is_empty());
        assert_eq!(fast, plain);
    }

    #[test]
    fn a_client_that_sends_the_marker_is_refused() {
        let marker = crate::api::cache_marker::Marker::Tools.text();
        let body = format!(
            r#"{{"model":"m","max_tokens":9,"messages":[{{"role":"user","content":"x"}}],"tools":"{marker}"}}"#
        );
        let e = decode_claude(body.as_bytes(), ClaudeEndpoint::Messages).unwrap_err();
        assert_eq!(e.param, Some("tools"));
        let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"tools":"{marker}"}}"#);
        assert!(decode_openai(body.as_bytes()).is_err());
    }

    #[test]
    fn only_a_large_body_with_a_large_tools_array_has_a_span() {
        let tools_json = format!("[{}]", vec![r#"{"name":"t","description":"d"}"#; 60].join(","));
        let pad = "x".repeat(MIN_BODY);
        let body = format!(r#"{{"messages":"{pad}","tools":{tools_json}}}"#);
        let r = span(body.as_bytes()).expect("span");
        assert_eq!(body.get(r), Some(tools_json.as_str()));
        assert!(span(format!(r#"{{"messages":"{pad}","tools":[]}}"#).as_bytes()).is_none(), "small tools");
        assert!(span(format!(r#"{{"tools":{tools_json}}}"#).as_bytes()).is_none(), "small body");
        assert!(span(format!(r#"{{"messages":"{pad}","tools":"{pad}"}}"#).as_bytes()).is_none(), "not an array");
    }
}
