//! Sticky sessions: requests of one conversation go to the same account while it is usable.
//!
//! Key components:
//! - [`SessionKey::derive`]: the conversation's identity, from the first source present, in this
//!   order:
//!   1. the `X-Claude-Code-Session-Id` header (Claude Code sends it on every request);
//!   2. the session part of Claude `metadata.user_id`: either the legacy
//!      `user_<hash>_account_<uuid>_session_<uuid>` (the part after `_session_`) or the JSON
//!      string newer Claude Code sends (`{"device_id":…,"session_id":"…"}`: its `session_id`);
//!   3. the `x-session-id` header;
//!   4. a hash of the conversation's first turns (computed by the caller from the system prompt
//!      and first user message as received: `proxy::session`), so a client that sends no id
//!      still sticks.
//!
//!   Empty or blank values are skipped. Sources 1–3 hash the id text alone, so the same uuid
//!   from the header or from `metadata` is the same session.
//! - [`StickyMap`]: this core's bounded map `(channel, session) -> account key`, with a TTL
//!   (`sticky_ttl_ms`, from last use) and at most `sticky_max_entries` entries, evicted in CLOCK
//!   (second-chance FIFO) order: an entry used since it was queued goes round once more.
//!
//! Stickiness rule (applied by [`super::Shard::acquire`]): if the session's account passes every
//! check for this request (and no higher priority tier has a usable account) it is taken;
//! otherwise the request is placed by the normal selection and only *this* session is re-pinned
//! to the new account. Other sessions of the old account stay.
//!
//! Per-core maps: a conversation whose requests land on two workers may pin to two accounts
//! (one per worker). Clients usually keep one connection, so this is rare and costs only cache
//! locality upstream, never correctness.

use crate::domain::Channel;
use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hasher};

/// Where a session key came from (for logs and explain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionSource {
    ClaudeCodeHeader,
    MetadataUserId,
    XSessionId,
    FirstTurns,
}

/// A conversation's identity: a 64-bit hash of its id (or first turns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    pub source: SessionSource,
    pub hash: u64,
}

/// The raw inputs of [`SessionKey::derive`]; any may be absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionSources<'a> {
    /// `X-Claude-Code-Session-Id` header value.
    pub claude_code_session_id: Option<&'a [u8]>,
    /// Claude `metadata.user_id`.
    pub metadata_user_id: Option<&'a str>,
    /// `x-session-id` header value.
    pub x_session_id: Option<&'a [u8]>,
    /// A hash of the conversation's first turns (`None`: no turns, or only blank ones).
    pub first_turns: Option<u64>,
}

fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(b);
    h.finish()
}

fn non_blank(b: &[u8]) -> Option<&[u8]> {
    let t = b.trim_ascii();
    (!t.is_empty()).then_some(t)
}

impl SessionKey {
    /// The key from the first source present (see the module docs for the order).
    pub fn derive(s: &SessionSources<'_>) -> Option<Self> {
        let pick = |source, b: Option<&[u8]>| b.and_then(non_blank).map(|b| Self { source, hash: hash_bytes(b) });
        pick(SessionSource::ClaudeCodeHeader, s.claude_code_session_id)
            .or_else(|| {
                pick(SessionSource::MetadataUserId, s.metadata_user_id.and_then(session_of_user_id).map(str::as_bytes))
            })
            .or_else(|| pick(SessionSource::XSessionId, s.x_session_id))
            .or_else(|| s.first_turns.map(|hash| Self { source: SessionSource::FirstTurns, hash }))
    }

    /// The map key: the session within one channel.
    fn slot(self, channel: Channel) -> u64 {
        let c = match channel {
            Channel::Orchids => 0x9e37_79b9_7f4a_7c15_u64,
            Channel::Warp => 0xc2b2_ae3d_27d4_eb4f,
            Channel::Grok => 0x1656_67b1_9e37_79f9,
        };
        (self.hash ^ c).rotate_left(17).wrapping_mul(0xff51_afd7_ed55_8ccd)
    }
}

/// The session part of a Claude `metadata.user_id` (legacy `…_session_<id>` or JSON with
/// `"session_id"`), or `None`.
pub fn session_of_user_id(user_id: &str) -> Option<&str> {
    let t = user_id.trim();
    if t.starts_with('{') {
        return json_string_field(t, "\"session_id\"");
    }
    let (_, rest) = t.rsplit_once("_session_")?;
    (!rest.trim().is_empty()).then_some(rest)
}

/// The value of `"key": "value"` in flat JSON text, without escapes in the value.
fn json_string_field<'a>(text: &'a str, quoted_key: &str) -> Option<&'a str> {
    let (_, after) = text.split_once(quoted_key)?;
    let after = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = after.find(['"', '\\'])?;
    let v = after.get(..end)?;
    (after.get(end..end + 1) == Some("\"") && !v.trim().is_empty()).then_some(v)
}

#[derive(Debug, Clone, Copy)]
struct Pin {
    account: u64,
    last_ms: u64,
    /// `last_ms` when this entry was last queued; a later `last_ms` earns a second chance.
    queued_ms: u64,
}

/// This core's session -> account map (see the module docs).
#[derive(Debug, Default)]
pub struct StickyMap {
    /// Keyed by SipHash with this process's random keys: a session hash comes from client
    /// input (an id, or the first turns through the multiply-rotate hasher, which a client can
    /// steer), so a client must not be able to crowd one probe chain.
    map: HashMap<u64, Pin>,
    order: VecDeque<(u64, u64)>,
    max: usize,
    ttl_ms: u64,
}

impl StickyMap {
    pub fn new(max_entries: usize, ttl_ms: u64) -> Self {
        Self { map: HashMap::default(), order: VecDeque::new(), max: max_entries, ttl_ms }
    }

    /// Applies new limits; shrinking evicts at the next insert.
    pub fn configure(&mut self, max_entries: usize, ttl_ms: u64) {
        self.max = max_entries;
        self.ttl_ms = ttl_ms;
        if max_entries == 0 {
            self.map.clear();
            self.order.clear();
        }
    }

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The session's account, if pinned and not expired; refreshes its TTL.
    pub fn get(&mut self, key: SessionKey, channel: Channel, now_ms: u64) -> Option<u64> {
        let slot = key.slot(channel);
        let pin = self.map.get_mut(&slot)?;
        if now_ms.saturating_sub(pin.last_ms) >= self.ttl_ms {
            self.map.remove(&slot);
            return None;
        }
        pin.last_ms = pin.last_ms.max(now_ms);
        Some(pin.account)
    }

    /// Pins the session to `account` (re-pins it if it was elsewhere).
    pub fn pin(&mut self, key: SessionKey, channel: Channel, account: u64, now_ms: u64) {
        if self.max == 0 {
            return;
        }
        let slot = key.slot(channel);
        if let Some(p) = self.map.get_mut(&slot) {
            p.account = account;
            p.last_ms = p.last_ms.max(now_ms);
            return;
        }
        while self.map.len() >= self.max {
            self.evict_one(now_ms);
        }
        self.map.insert(slot, Pin { account, last_ms: now_ms, queued_ms: now_ms });
        self.order.push_back((slot, now_ms));
        if self.order.len() > self.max.saturating_mul(2).max(16) {
            let map = &self.map;
            self.order.retain(|(s, q)| map.get(s).is_some_and(|p| p.queued_ms == *q));
        }
    }

    /// Drops every pin to `account` (e.g. the account was removed).
    pub fn forget_account(&mut self, account: u64) {
        self.map.retain(|_, p| p.account != account);
    }

    fn evict_one(&mut self, now_ms: u64) {
        let mut chances = self.order.len();
        while let Some((slot, queued)) = self.order.pop_front() {
            let Some(pin) = self.map.get_mut(&slot) else {
                continue;
            };
            if pin.queued_ms != queued {
                continue; // a stale queue entry of a re-inserted session
            }
            let expired = now_ms.saturating_sub(pin.last_ms) >= self.ttl_ms;
            if chances > 0 && !expired && pin.last_ms > pin.queued_ms {
                chances -= 1;
                pin.queued_ms = pin.last_ms;
                self.order.push_back((slot, pin.last_ms));
                continue;
            }
            self.map.remove(&slot);
            return;
        }
        // Queue and map disagree (cannot happen); keep the bound anyway.
        if let Some(&slot) = self.map.keys().next() {
            self.map.remove(&slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SessionKey {
        SessionKey::derive(&SessionSources { x_session_id: Some(s.as_bytes()), ..Default::default() }).unwrap()
    }

    #[test]
    fn sources_in_order() {
        let all = SessionSources {
            claude_code_session_id: Some(b"cc-1"),
            metadata_user_id: Some("user_abc_account_def_session_s-2"),
            x_session_id: Some(b"x-3"),
            first_turns: Some(7),
        };
        assert_eq!(SessionKey::derive(&all).unwrap().source, SessionSource::ClaudeCodeHeader);
        let no_cc = SessionSources { claude_code_session_id: Some(b"  "), ..all };
        let k = SessionKey::derive(&no_cc).unwrap();
        assert_eq!(k.source, SessionSource::MetadataUserId);
        assert_eq!(k.hash, hash_bytes(b"s-2"));
        let no_meta = SessionSources { metadata_user_id: Some("user_abc"), ..no_cc };
        assert_eq!(SessionKey::derive(&no_meta).unwrap().source, SessionSource::XSessionId);
        let only_turns = SessionSources { x_session_id: None, ..no_meta };
        assert_eq!(
            SessionKey::derive(&only_turns),
            Some(SessionKey { source: SessionSource::FirstTurns, hash: 7 }),
            "the first turns' hash is taken as given"
        );
        assert_eq!(SessionKey::derive(&SessionSources::default()), None);
    }

    #[test]
    fn header_and_metadata_with_the_same_uuid_are_one_session() {
        let a =
            SessionKey::derive(&SessionSources { claude_code_session_id: Some(b"u-1"), ..Default::default() }).unwrap();
        let b = SessionKey::derive(&SessionSources {
            metadata_user_id: Some(r#"{"device_id":"d","account_uuid":"","session_id":"u-1"}"#),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.hash, b.hash);
    }

    #[test]
    fn user_id_shapes() {
        assert_eq!(session_of_user_id("user_h_account_a_session_1234"), Some("1234"));
        assert_eq!(session_of_user_id(r#"{"session_id" : "abc","device_id":"d"}"#), Some("abc"));
        for none in [
            "user_h_account_a",
            "user_h_account_a_session_",
            r#"{"device_id":"d"}"#,
            r#"{"session_id":"a\"b"}"#,
            r#"{"session_id":""}"#,
        ] {
            assert_eq!(session_of_user_id(none), None, "{none}");
        }
    }

    #[test]
    fn pins_expire_after_ttl_from_last_use() {
        let mut m = StickyMap::new(10, 1_000);
        m.pin(key("s"), Channel::Grok, 7, 0);
        assert_eq!(m.get(key("s"), Channel::Grok, 900), Some(7));
        assert_eq!(m.get(key("s"), Channel::Grok, 1_800), Some(7), "the use at 900 extended it");
        assert_eq!(m.get(key("s"), Channel::Grok, 2_800), None);
        assert!(m.is_empty());
    }

    #[test]
    fn sessions_are_per_channel_and_repin_moves_only_that_session() {
        let mut m = StickyMap::new(10, 60_000);
        m.pin(key("s"), Channel::Grok, 1, 0);
        m.pin(key("t"), Channel::Grok, 1, 0);
        assert_eq!(m.get(key("s"), Channel::Warp, 1), None);
        m.pin(key("s"), Channel::Grok, 2, 1);
        assert_eq!(m.get(key("s"), Channel::Grok, 2), Some(2));
        assert_eq!(m.get(key("t"), Channel::Grok, 2), Some(1));
        m.forget_account(1);
        assert_eq!(m.get(key("t"), Channel::Grok, 3), None);
    }

    #[test]
    fn bounded_with_second_chance_for_recently_used() {
        let mut m = StickyMap::new(3, 60_000);
        for (i, s) in ["a", "b", "c"].into_iter().enumerate() {
            m.pin(key(s), Channel::Grok, i as u64, i as u64);
        }
        m.get(key("a"), Channel::Grok, 10); // a used since queued: survives one round
        m.pin(key("d"), Channel::Grok, 3, 11);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(key("b"), Channel::Grok, 12), None, "b was the oldest unused");
        assert!(m.get(key("a"), Channel::Grok, 12).is_some());
        for i in 0..1000 {
            m.pin(key(&i.to_string()), Channel::Grok, 9, 20 + i);
        }
        assert_eq!(m.len(), 3);
        assert!(m.order.len() <= 16 + 3, "queue stays bounded, was {}", m.order.len());
    }

    #[test]
    fn zero_entries_disables() {
        let mut m = StickyMap::new(0, 60_000);
        m.pin(key("a"), Channel::Grok, 1, 0);
        assert!(!m.enabled());
        assert_eq!(m.get(key("a"), Channel::Grok, 0), None);
    }
}
