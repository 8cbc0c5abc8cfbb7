//! The tool definitions of the last few requests, per worker thread, keyed by their bytes.
//!
//! An agent (Claude Code, an OpenAI-SDK agent) sends the same `tools` array, byte for byte, on
//! every turn of a conversation: about a third of a turn's body, and the dearest third to decode
//! (every JSON Schema is read and written out again). For a large body `translate::request`
//! first asks [`guess`] whether a cached array sits where it ended last time (counted from the
//! body's end), else asks [`span`] where the top-level `tools` value is (`util::json_member`)
//! and [`lookup`]s those bytes; on a hit it decodes the body with that value replaced by the
//! thread's marker (`api::cache_marker`) and takes the cached tools only if the top-level `tools`
//! read the marker. A miss decodes the whole body and [`remember`]s its tools. Any failure on
//! that road falls back to the plain decode of the body, so a bad request gets exactly the error
//! it always got (`docs/translation.md`, "Repeated tool definitions").
//!
//! Per thread (`Rc`, no lock): each worker keeps its own [`ENTRIES`] most recently used tool
//! sets; a key is the wire format and the exact bytes, so a hit can only be the same text.

use super::canonical::{Tool, WireFormat};
use super::recent::Recent;
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

struct Entry {
    format: WireFormat,
    raw: Box<[u8]>,
    /// Bytes after the array, the last time it was seen (where [`guess`] looks first).
    tail: usize,
    tools: Rc<[Tool]>,
}

thread_local! {
    static CACHE: RefCell<Recent<Entry>> = const { RefCell::new(Recent::new(ENTRIES)) };
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

/// A cached array of this format found in `body` at the same distance from its end as last
/// time: the range and the tools. Only the bytes are compared; the caller proves the range was
/// the top-level `tools` (the decode of the body with the marker there).
pub fn guess(format: WireFormat, body: &[u8]) -> Option<(Range<usize>, Rc<[Tool]>)> {
    CACHE.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        let (at, range) = c.iter().enumerate().find_map(|(at, e)| {
            let end = body.len().checked_sub(e.tail)?;
            let range = end.checked_sub(e.raw.len())?..end;
            (e.format == format && body.get(range.clone()) == Some(&*e.raw)).then_some((at, range))
        })?;
        Some((range, Rc::clone(&c.to_front(at)?.tools)))
    })
}

/// The tools decoded from exactly these bytes in this format (most recently used first); a hit
/// remembers `tail`, the bytes after the array in this body.
pub fn lookup(format: WireFormat, raw: &[u8], tail: usize) -> Option<Rc<[Tool]>> {
    CACHE.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        let at = c.iter().position(|e| e.format == format && *e.raw == *raw)?;
        let hit = c.to_front(at)?;
        hit.tail = tail;
        Some(Rc::clone(&hit.tools))
    })
}

/// Keeps `tools` as the decoding of `raw` in `format` (`tail` bytes after it in its body),
/// dropping the least recently used set.
pub fn remember(format: WireFormat, raw: &[u8], tail: usize, tools: &Rc<[Tool]>) {
    if raw.len() > MAX_TOOLS {
        return;
    }
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.push_front(Entry { format, raw: raw.into(), tail, tools: Rc::clone(tools) });
        }
    });
}

/// Forgets every tool set of this thread (benches time the first turn of a conversation).
pub fn clear() {
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.clear();
        }
    });
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

    #[test]
    fn a_hit_needs_the_same_bytes_and_format_and_the_oldest_set_goes_first() {
        clear();
        remember(WireFormat::Claude, b"[1]", 0, &tools("a"));
        assert_eq!(lookup(WireFormat::Claude, b"[1]", 0).map(|t| t[0].name.clone()), Some("a".into()));
        assert!(lookup(WireFormat::OpenAi, b"[1]", 0).is_none(), "another format is another key");
        assert!(lookup(WireFormat::Claude, b"[1 ]", 0).is_none(), "other bytes are another key");
        for i in 2..=ENTRIES {
            remember(WireFormat::Claude, format!("[{i}]").as_bytes(), 0, &tools("x"));
        }
        // "[1]" was the oldest; using it makes "[2]" the oldest, and one more set drops that.
        assert!(lookup(WireFormat::Claude, b"[1]", 0).is_some());
        remember(WireFormat::Claude, b"[9]", 0, &tools("y"));
        assert_eq!(len(), ENTRIES);
        assert!(lookup(WireFormat::Claude, b"[2]", 0).is_none());
        assert!(lookup(WireFormat::Claude, b"[1]", 0).is_some());
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
    fn a_changed_tail_is_found_by_the_walk_and_guessed_at_the_next_turn() {
        let one = agent_turn::claude("m", true, "go on");
        let (plain, _) = twice(&one, WireFormat::Claude);
        let cached = plain.unwrap().tools;
        let text = String::from_utf8(one).unwrap();
        let two = text.replacen(r#""temperature":1"#, r#""temperature":0.5"#, 1);
        assert_ne!(two, text);
        assert!(guess(WireFormat::Claude, two.as_bytes()).is_none(), "the tail moved");
        let got = decode_claude(two.as_bytes(), ClaudeEndpoint::Messages).unwrap();
        assert!(Rc::ptr_eq(&got.tools, &cached), "looked up by its bytes");
        assert!(guess(WireFormat::Claude, two.as_bytes()).is_some(), "the new tail is remembered");
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
    }

    #[test]
    fn cached_bytes_under_another_key_are_not_taken_for_the_tools() {
        let one = agent_turn::claude("m", true, "go on");
        let _ = twice(&one, WireFormat::Claude);
        // The same array, at the same place, but as the value of a member that is not `tools`.
        let text = String::from_utf8(one).unwrap().replacen(r#""tools":["#, r#""tools_backup":["#, 1);
        let body = text.as_bytes();
        assert!(guess(WireFormat::Claude, body).is_some(), "the bytes alone match");
        let fast = decode_claude(body, ClaudeEndpoint::Messages).unwrap();
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
