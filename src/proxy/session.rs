//! The sticky-session key of a request (see `docs/failover.md`, "Stickiness"): the first of the
//! `X-Claude-Code-Session-Id` header, the session part of Claude `metadata.user_id`, the
//! `x-session-id` header, or a hash of the conversation's first turns (system prompt and the
//! first message's text, as decoded).

use crate::http::head::RequestHead;
use crate::pool::{SessionKey, SessionSources};
use crate::translate::canonical::{Block, CanonicalRequest, WireFormat};

/// Derives the request's session key (`None` only for a request with no turns at all).
pub fn derive(head: &RequestHead, format: WireFormat, req: &CanonicalRequest) -> Option<SessionKey> {
    let first = first_turns(req);
    SessionKey::derive(&SessionSources {
        claude_code_session_id: head.header("x-claude-code-session-id"),
        // OpenAI's `user` is an end-user id, not a conversation: only Claude's metadata counts.
        metadata_user_id: if format == WireFormat::Claude { req.user.as_deref() } else { None },
        x_session_id: head.header("x-session-id"),
        first_turns: (!first.is_empty()).then_some(first.as_bytes()),
    })
}

/// The system prompt and the first message's text, separated by NULs.
fn first_turns(req: &CanonicalRequest) -> String {
    let mut out = req.system.join("\n");
    if let Some(m) = req.messages.first() {
        out.push('\0');
        for b in &m.content {
            if let Block::Text(t) = b {
                out.push_str(t);
                out.push('\0');
            }
        }
    }
    out
}
