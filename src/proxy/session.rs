//! The sticky-session key of a request (see `docs/failover.md`, "Stickiness"): the first of the
//! `X-Claude-Code-Session-Id` header, the session part of Claude `metadata.user_id`, the
//! `x-session-id` header, or a hash of the conversation's first turns (system prompt and the
//! first message's text, as the client escaped it).

use crate::http::head::RequestHead;
use crate::pool::{SessionKey, SessionSources};
use crate::translate::canonical::{Block, CanonicalRequest, Text, WireFormat};

/// Derives the request's session key (`None` only for a request with no turns at all).
pub fn derive(head: &RequestHead, format: WireFormat, req: &CanonicalRequest) -> Option<SessionKey> {
    let mut sources = SessionSources {
        claude_code_session_id: head.header("x-claude-code-session-id"),
        // OpenAI's `user` is an end-user id, not a conversation: only Claude's metadata counts.
        metadata_user_id: if format == WireFormat::Claude { req.user.as_deref() } else { None },
        x_session_id: head.header("x-session-id"),
        first_turns: None,
    };
    // The first turns are the last source: the text is joined only when no other one is there
    // (Claude Code sends its session header with every request).
    if let Some(key) = SessionKey::derive(&sources) {
        return Some(key);
    }
    let first = first_turns(req);
    sources.first_turns = (!first.is_empty()).then_some(first.as_slice());
    SessionKey::derive(&sources)
}

/// The system prompt and the first message's text, separated by NULs, as the client escaped
/// them (`translate::text`: the same client escapes the same text the same way every turn, and
/// nothing is unescaped per request). Sized up front: one allocation, where growing it piece by
/// piece took three.
fn first_turns(req: &CanonicalRequest) -> Vec<u8> {
    let first = req.messages.first().map(|m| m.content.as_slice()).unwrap_or_default();
    let text = |b: &Block| if let Block::Text(t) = b { Some(t.escaped_len() + 1) } else { None };
    let system = req.system.iter().map(Text::escaped_len).sum::<usize>() + req.system.len().saturating_sub(1);
    let turn = if req.messages.is_empty() { 0 } else { 1 + first.iter().filter_map(text).sum::<usize>() };
    let mut out = Vec::with_capacity(system + turn);
    for (i, s) in req.system.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(s.escaped());
    }
    if !req.messages.is_empty() {
        out.push(0);
        for b in first {
            if let Block::Text(t) = b {
                out.extend_from_slice(t.escaped());
                out.push(0);
            }
        }
    }
    out
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
    fn first_turns_join_the_system_prompt_and_the_first_message_text() {
        let mut r = req(None, "hi");
        r.system = vec!["one".into(), "two".into()];
        r.messages[0].content.push(Block::Image(crate::translate::canonical::ImageSource::Url("u".into())));
        r.messages[0].content.push(Block::Text("there".into()));
        r.messages.push(Message { role: Role::Assistant, content: vec![Block::Text("later".into())] });
        let joined = first_turns(&r);
        assert_eq!(joined, b"one\ntwo\0hi\0there\0");
        assert_eq!(joined.capacity(), joined.len(), "sized exactly up front");
        r.messages.clear();
        assert_eq!(first_turns(&r), b"one\ntwo");
        r.system.clear();
        assert_eq!(first_turns(&r), b"");
    }
}
