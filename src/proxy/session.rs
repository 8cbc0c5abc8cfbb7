//! The sticky-session key of a request (see `docs/failover.md`, "Stickiness"): the first of the
//! `X-Claude-Code-Session-Id` header, the session part of Claude `metadata.user_id`, the
//! `x-session-id` header, or a hash of the conversation's first turns (system prompt and the
//! first message's text, as the client escaped it, hashed where it lies).

use crate::http::head::RequestHead;
use crate::pool::{SessionKey, SessionSources};
use crate::translate::canonical::{Block, CanonicalRequest, WireFormat};
use crate::util::fast_hash::FastHasher;
use std::hash::Hasher;

/// Derives the request's session key (`None` only for a request with no turns at all).
pub fn derive(head: &RequestHead, format: WireFormat, req: &CanonicalRequest) -> Option<SessionKey> {
    let mut sources = SessionSources {
        claude_code_session_id: head.header("x-claude-code-session-id"),
        // OpenAI's `user` is an end-user id, not a conversation: only Claude's metadata counts.
        metadata_user_id: if format == WireFormat::Claude { req.user.as_deref() } else { None },
        x_session_id: head.header("x-session-id"),
        first_turns: None,
    };
    // The first turns are the last source: they are hashed only when no other one is there
    // (Claude Code sends its session header with every request).
    if let Some(key) = SessionKey::derive(&sources) {
        return Some(key);
    }
    sources.first_turns = first_turns(req);
    SessionKey::derive(&sources)
}

/// A hash of the system prompt and the first message's texts, as the client escaped them
/// (`translate::text`: the same client escapes the same text the same way every turn, and
/// nothing is unescaped per request). Each text is fed to the hasher where it lies, with a
/// separator after it (`\n` after a system text, NUL before the first message and after each
/// of its texts), never joined into a copy: an agent's system prompt runs to tens of KiB, and
/// every turn of a conversation without a session id hashes it again. The hash is
/// [`FastHasher`]'s multiply-rotate over 8-byte words, about a sixth of SipHash's instructions
/// a byte. A client can steer it: two conversations it crafts with one hash share one sticky
/// slot, which it could as well have by sending one `x-session-id`; the sticky map itself is
/// keyed by SipHash with random keys (`pool::sticky`), so steered hashes cannot crowd its
/// probe chains. `None` when there is no message and no system text that is not blank.
fn first_turns(req: &CanonicalRequest) -> Option<u64> {
    if req.messages.is_empty() && req.system.iter().all(|s| s.escaped().trim_ascii().is_empty()) {
        return None;
    }
    let mut h = FastHasher::default();
    for s in &req.system {
        h.write(s.escaped());
        h.write_u8(b'\n');
    }
    if let Some(first) = req.messages.first() {
        h.write_u8(0);
        for b in &first.content {
            if let Block::Text(t) = b {
                h.write(t.escaped());
                h.write_u8(0);
            }
        }
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{HeadLimits, parse_request_head};
    use crate::pool::SessionSource;
    use crate::translate::canonical::{Message, Role};
    use bytes::BytesMut;

    fn head(extra: &str) -> RequestHead {
        let mut b = BytesMut::from(format!("POST /v1/messages HTTP/1.1\r\n{extra}\r\n").as_str());
        parse_request_head(&mut b, HeadLimits { max_head_bytes: 4096, max_headers: 16 }).unwrap().unwrap()
    }

    fn req(user: Option<&str>, first: &str) -> CanonicalRequest {
        CanonicalRequest {
            model: "m".into(),
            system: vec!["sys".into()],
            messages: vec![Message { role: Role::User, content: vec![Block::Text(first.into())] }],
            tools: Vec::new().into(),
            tool_choice: None,
            parallel_tool_calls: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            top_k: None,
            stop: Vec::new(),
            stream: false,
            include_usage: false,
            user: user.map(str::to_owned),
            thinking: None,
            effort: None,
            response_format: None,
        }
    }

    #[test]
    fn sources_in_order() {
        let legacy = Some("user_abc_account_def_session_0f3a");
        let cc = derive(
            &head("X-Claude-Code-Session-Id: 0f3a\r\nx-session-id: other\r\n"),
            WireFormat::Claude,
            &req(legacy, "hi"),
        )
        .unwrap();
        assert_eq!(cc.source, SessionSource::ClaudeCodeHeader);
        let meta = derive(&head("x-session-id: other\r\n"), WireFormat::Claude, &req(legacy, "hi")).unwrap();
        assert_eq!(meta.source, SessionSource::MetadataUserId);
        assert_eq!(meta.hash, cc.hash, "the same id from header or metadata is one session");
        let xs = derive(&head("x-session-id: other\r\n"), WireFormat::OpenAi, &req(legacy, "hi")).unwrap();
        assert_eq!(xs.source, SessionSource::XSessionId, "OpenAI `user` is not a session");
        let t1 = derive(&head(""), WireFormat::Claude, &req(None, "hi")).unwrap();
        let t2 = derive(&head(""), WireFormat::Claude, &req(None, "hello")).unwrap();
        assert_eq!(t1.source, SessionSource::FirstTurns);
        assert_ne!(t1.hash, t2.hash);
    }

    #[test]
    fn first_turns_hash_the_system_prompt_and_the_first_message_text() {
        let mut r = req(None, "hi");
        r.system = vec!["one".into(), "two".into()];
        let base = first_turns(&r).unwrap();
        r.messages[0].content.push(Block::Image(crate::translate::canonical::ImageSource::Url("u".into())));
        assert_eq!(first_turns(&r), Some(base), "only text blocks count");
        r.messages.push(Message { role: Role::Assistant, content: vec![Block::Text("later".into())] });
        assert_eq!(first_turns(&r), Some(base), "later messages do not count");
        r.messages[0].content.push(Block::Text("there".into()));
        let with_there = first_turns(&r).unwrap();
        assert_ne!(with_there, base, "every text of the first message counts");

        let variant = |system: &[&str], first: &[&str]| {
            let mut v = req(None, "");
            v.system = system.iter().map(|s| (*s).into()).collect();
            v.messages[0].content = first.iter().map(|t| Block::Text((*t).into())).collect();
            first_turns(&v).unwrap()
        };
        assert_eq!(variant(&["one", "two"], &["hi", "there"]), with_there);
        let others = [
            variant(&["one", "two!"], &["hi", "there"]),
            variant(&["one", "two"], &["hi", "there!"]),
            variant(&["onetwo"], &["hi", "there"]),
            variant(&["one"], &["two", "hi", "there"]),
            variant(&["one", "two", "hi"], &["there"]),
            variant(&["one", "two"], &["hithere"]),
            variant(&[], &["one", "two", "hi", "there"]),
        ];
        for (i, h) in others.iter().enumerate() {
            assert_ne!(*h, with_there, "variant {i}: where a text lies and where it ends count");
        }

        // Texts of whole 8-byte words: only the separators tell where one ends.
        assert_ne!(variant(&["12345678", "abcdefgh"], &["x"]), variant(&["12345678abcdefgh"], &["x"]));
        assert_ne!(variant(&["12345678"], &["abcdefgh", "x"]), variant(&["12345678", "abcdefgh"], &["x"]));
        assert_ne!(variant(&[], &["12345678", "abcdefgh"]), variant(&[], &["12345678abcdefgh"]));

        r.messages.clear();
        let alone = first_turns(&r);
        assert!(alone.is_some(), "a system prompt alone is a conversation");
        r.messages.push(Message { role: Role::User, content: Vec::new() });
        assert_ne!(first_turns(&r), alone, "a first message without text still counts");
        r.messages.clear();
        r.system = vec!["  ".into(), String::new().into()];
        assert_eq!(first_turns(&r), None, "blank system texts and no message");
        r.system.clear();
        assert_eq!(first_turns(&r), None);
        r.messages.push(Message { role: Role::User, content: Vec::new() });
        assert!(first_turns(&r).is_some(), "a first message, even without text");
    }
}
