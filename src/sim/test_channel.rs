//! The scripted test channel: answers every request from a script chosen by keywords in the last
//! user message, so the front-ends (and the official SDKs) can be tested before any real channel
//! exists. Enabled only by the config key `test_channel: true` (default false; tests only).
//!
//! The `grok` instance behaves like an OpenAI-compatible upstream (the xAI API): it yields raw
//! OpenAI chunk frames, exercising the passthrough path for OpenAI clients and the decoder for
//! Claude clients. The `orchids` and `warp` instances yield canonical events directly.
//!
//! Keywords (first match wins; case-insensitive):
//!
//! | keyword in the last user message | answer |
//! |---|---|
//! | (a `tool_result` block present) | text quoting the tool result, `end_turn` |
//! | `fail-stream <class>` | start succeeds, the first item is an error of that class |
//! | `fail <class>` | error before the first byte: `network`, `auth`, `quota`, `rate_limit`, `rate_limit_shared`, `blocked`, `model`, `client`, `server`, `slow` |
//! | `error first` | the stream's first event is an error (`rate_limit`): answered as an HTTP 429 |
//! | `midstream error` | some text, then an in-stream `overloaded` error |
//! | `cut stream` | some text, then the stream just ends (no stop) |
//! | `stall` | some text, then the upstream stays silent for 60 s, then ends (no stop) |
//! | `tool` | a tool call (first declared tool, else `get_weather`) whose arguments arrive in many small deltas, `tool_use` |
//! | `think` | a thinking block with a signature, then text |
//! | `multi` | thinking, text, tool call, in three blocks |
//! | `max_tokens` | text cut with `max_tokens` |
//! | `long` | 500 text deltas |
//! | `slow` | 50 deltas, 20 ms apart |
//! | `unicode` | text with quotes, backslashes, newlines, emoji and CJK |
//! | `echo` | a text summary of the canonical request (model, system, tools, limits) |
//! | `whoami` | `account=<id>`: the id of the account the pool chose for this attempt |
//! | `refreshes` | `account=<id> refreshes=<n>`: how often that account's token was refreshed (its `refresh_count`) |
//! | anything else | `Hello from the test channel!` in a few deltas, `end_turn` |
//!
//! Per-account scripts (so failover is testable): an account's `credentials` may hold
//!
//! | credential | effect on every attempt on that account only |
//! |---|---|
//! | `"fail": "<class>"` | fails before the first byte with that class: `network`, `auth`, `quota`, `rate_limit`, `rate_limit_shared`, `blocked`, `model`, `client`, `server` (`rate_limit*` and `quota` carry `Retry-After`) |
//! | `"fail": "slow"` | the upstream stays silent (the time-to-first-token deadline fires) |
//! | `"fail": "error_in_200"` | the start succeeds and the first event is a `rate_limit` error |
//! | `"fail": "after_first_byte"` | some text, then the upstream fails (`server`) mid-stream |
//! | `"retry_after": "<secs>"` | the `Retry-After` of a scripted failure (default 7) |
//! | `"hold_ms": "<ms>"` | waits this long before the first item (holds a concurrency slot) |
//!
//! Account scripts win over message keywords. An empty `fail` is no script.
//!
//! Token refresh ([`TestRefresher`], the refresher of every channel when `test_channel: true`),
//! driven by the account's credentials too:
//!
//! | credential | meaning |
//! |---|---|
//! | `"expires_at": "<epoch ms>"` | when the current token expires (the pool refreshes it `pool.refresh_ahead_ms` before) |
//! | `"refresh_fail": "rejected"` / `"transient"` | the refresh fails that way (`rejected`: the account is disabled `auth`) |
//! | `"refresh_lifetime_ms": "<ms>"` | lifetime of a refreshed token (default 1 h) |
//! | `"refresh_delay_ms": "<ms>"` | the token endpoint takes this long |
//!
//! A successful refresh returns `token` = `test-token-<n>`, `refresh_count` = `<n>` (one more
//! than before), `expires_at` = now + lifetime, and, when the account's script is `fail: auth`,
//! `fail` = `""`: the refreshed token works.

use crate::channel::{Attempt, AttemptError, ChannelDriver, EventStream, StreamItem};
use crate::domain::{AccountDef, Channel, FailureClass};
use crate::pool::{NewCredentials, RefreshError, Refresher};
use crate::translate::canonical::{
    Block, BlockKind, CanonicalEvent, CanonicalRequest, ErrorKind, JsonStr, StopReason, Usage, WireFormat,
};
use crate::translate::{EncodeOptions, openai_enc::OpenAiSseEncoder, sse};
use bytes::BytesMut;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// One test channel instance.
#[derive(Debug)]
pub struct TestChannel {
    channel: Channel,
}

impl TestChannel {
    pub fn new(channel: Channel) -> Self {
        Self { channel }
    }
}

/// A scripted answer in progress.
#[derive(Debug)]
pub struct TestStream {
    items: VecDeque<Result<StreamItem, AttemptError>>,
    delay: Option<Duration>,
    /// Waited once, before the first item (`hold_ms`, `fail: slow`).
    first_delay: Option<Duration>,
    /// Waited once, after the last item (`stall`).
    stall: Option<Duration>,
}

/// How long a `stall` stream stays silent after its text.
const STALL: Duration = Duration::from_secs(60);

impl EventStream for TestStream {
    async fn next(&mut self) -> Option<Result<StreamItem, AttemptError>> {
        if let Some(d) = self.first_delay.take() {
            crate::runtime::coarse_timer::sleep(d).await;
        }
        if let Some(d) = self.delay {
            crate::runtime::coarse_timer::sleep(d).await;
        }
        if self.items.is_empty() {
            if let Some(d) = self.stall.take() {
                crate::runtime::coarse_timer::sleep(d).await;
            }
        }
        self.items.pop_front()
    }

    fn is_exhausted(&self) -> bool {
        self.items.is_empty() && self.stall.is_none()
    }
}

impl ChannelDriver for TestChannel {
    type Stream = TestStream;

    async fn start(&self, attempt: &Attempt, req: &CanonicalRequest) -> Result<TestStream, AttemptError> {
        let creds = &attempt.account.credentials;
        let hold = creds.get("hold_ms").and_then(|v| v.parse().ok()).map(Duration::from_millis);
        if let Some(script) = creds.get("fail").filter(|s| !s.is_empty()) {
            let retry_after = creds.get("retry_after").and_then(|v| v.parse().ok()).unwrap_or(7);
            return account_script(script, retry_after, attempt);
        }
        let mut stream = self.scripted(attempt, req)?;
        stream.first_delay = hold;
        Ok(stream)
    }
}

/// The test channel's token refresher (module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct TestRefresher;

fn cred_u64(account: &AccountDef, key: &str) -> Option<u64> {
    account.credentials.get(key).and_then(|v| v.trim().parse().ok())
}

impl Refresher for TestRefresher {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError> {
        if let Some(ms) = cred_u64(account, "refresh_delay_ms") {
            crate::runtime::coarse_timer::sleep(Duration::from_millis(ms)).await;
        }
        let id = &account.id;
        match account.credentials.get("refresh_fail").map(String::as_str) {
            Some("rejected") => {
                return Err(RefreshError::Rejected(format!("test channel: refresh token of {id} rejected")));
            }
            Some("transient") => {
                return Err(RefreshError::Transient(format!("test channel: token endpoint unavailable for {id}")));
            }
            _ => {}
        }
        let n = cred_u64(account, "refresh_count").unwrap_or(0).saturating_add(1);
        let lifetime = cred_u64(account, "refresh_lifetime_ms").unwrap_or(3_600_000);
        let expires = crate::domain::now_ms().saturating_add(lifetime);
        let mut credentials = BTreeMap::from([
            ("token".to_owned(), format!("test-token-{n}")),
            ("refresh_count".to_owned(), n.to_string()),
            ("expires_at".to_owned(), expires.to_string()),
        ]);
        if account.credentials.get("fail").is_some_and(|f| f == "auth") {
            credentials.insert("fail".to_owned(), String::new());
        }
        Ok(NewCredentials { credentials, expires_ms: Some(expires) })
    }

    fn expires_ms(&self, account: &AccountDef) -> Option<u64> {
        cred_u64(account, "expires_at")
    }
}

/// The per-account failure scripts (module docs).
fn account_script(script: &str, retry_after: u64, attempt: &Attempt) -> Result<TestStream, AttemptError> {
    let id = &attempt.account_id;
    let items = |v: Vec<Result<StreamItem, AttemptError>>| VecDeque::from(v);
    match script {
        "slow" => Ok(TestStream {
            items: items(vec![Ok(StreamItem::Event(CanonicalEvent::MessageStart {
                id: JsonStr::from_static("msg_test_slow"),
                model: JsonStr::from_text(attempt.model.upstream()),
            }))]),
            delay: None,
            first_delay: Some(Duration::from_secs(3600)),
            stall: None,
        }),
        "error_in_200" => Ok(TestStream {
            items: items(vec![Ok(StreamItem::Event(CanonicalEvent::Error {
                kind: ErrorKind::RateLimit,
                message: JsonStr::from_text(&format!("test channel: account {id} answered 200 with an error first")),
            }))]),
            delay: None,
            first_delay: None,
            stall: None,
        }),
        "after_first_byte" => {
            let ev = |e| Ok(StreamItem::Event(e));
            Ok(TestStream {
                items: items(vec![
                    ev(CanonicalEvent::MessageStart {
                        id: JsonStr::from_static("msg_test_cut"),
                        model: JsonStr::from_text(attempt.model.upstream()),
                    }),
                    ev(CanonicalEvent::BlockStart { index: 0, kind: BlockKind::Text }),
                    ev(CanonicalEvent::TextDelta(JsonStr::from_static("Partial answer "))),
                    Err(AttemptError::new(
                        FailureClass::Server,
                        format!("test channel: account {id} failed mid-stream"),
                    )),
                ]),
                delay: None,
                first_delay: None,
                stall: None,
            })
        }
        other => {
            let class = FailureClass::ALL.into_iter().find(|c| c.as_str() == other).unwrap_or(FailureClass::Server);
            let mut e =
                AttemptError::new(class, format!("test channel: account {id} scripted {} failure", class.as_str()));
            if matches!(class, FailureClass::RateLimit | FailureClass::RateLimitShared | FailureClass::Quota) {
                e.retry_after = Some(Duration::from_secs(retry_after));
                e.status = Some(if class == FailureClass::Quota { 402 } else { 429 });
            }
            Err(e)
        }
    }
}

impl TestChannel {
    fn scripted(&self, attempt: &Attempt, req: &CanonicalRequest) -> Result<TestStream, AttemptError> {
        let last = req.last_user_text().to_lowercase();
        if let Some(class) = keyword_class(&last, "fail ") {
            let mut e = AttemptError::new(class, format!("test channel: scripted {} failure", class.as_str()));
            if matches!(class, FailureClass::RateLimit | FailureClass::RateLimitShared) {
                e.retry_after = Some(Duration::from_secs(7));
                e.status = Some(429);
            }
            return Err(e);
        }
        let script = Script::build(req, &last, attempt.model.upstream());
        let mut items: VecDeque<Result<StreamItem, AttemptError>> = VecDeque::new();
        if let Some(class) = keyword_class(&last, "fail-stream ") {
            items
                .push_back(Err(AttemptError::new(class, format!("test channel: scripted {} failure", class.as_str()))));
            return Ok(TestStream { items, delay: None, first_delay: None, stall: None });
        }
        let script = if last.contains("refreshes") {
            let n = attempt.account.credentials.get("refresh_count").map_or("0", String::as_str);
            let mut s = Script { events: script.events, delay: None, output: 0, index: 0 };
            s.events.truncate(1);
            s.text(&["account=", &attempt.account_id, " refreshes=", n]);
            s.stop(StopReason::EndTurn, crate::tokens::quick_estimate(req))
        } else if last.contains("whoami") {
            let mut s = Script { events: script.events, delay: None, output: 0, index: 0 };
            s.events.truncate(1);
            s.text(&["account=", &attempt.account_id]);
            s.stop(StopReason::EndTurn, crate::tokens::quick_estimate(req))
        } else {
            script
        };
        if self.channel == Channel::Grok {
            // Behave like an OpenAI-compatible upstream: raw chunk frames.
            let mut enc = OpenAiSseEncoder::new(EncodeOptions { include_usage: true, ..EncodeOptions::default() });
            let mut buf = BytesMut::new();
            for ev in &script.events {
                enc.event(ev, &mut buf);
            }
            for f in sse::read_all(&buf) {
                items.push_back(Ok(StreamItem::Frame { format: WireFormat::OpenAi, event: f.event, data: f.data }));
            }
        } else {
            items.extend(script.events.into_iter().map(|e| Ok(StreamItem::Event(e))));
        }
        let stall = last.contains("stall").then_some(STALL);
        Ok(TestStream { items, delay: script.delay, first_delay: None, stall })
    }
}

/// `"<prefix><class>"` anywhere in `text` -> that class.
fn keyword_class(text: &str, prefix: &str) -> Option<FailureClass> {
    let at = text.find(prefix)?;
    let word: String =
        text.get(at + prefix.len()..)?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    FailureClass::ALL.into_iter().find(|c| c.as_str() == word)
}

struct Script {
    events: Vec<CanonicalEvent>,
    delay: Option<Duration>,
    output: u64,
    index: u32,
}

impl Script {
    fn build(req: &CanonicalRequest, last: &str, upstream_model: &str) -> Self {
        let mut s = Script { events: Vec::new(), delay: None, output: 0, index: 0 };
        s.events.push(CanonicalEvent::MessageStart {
            id: JsonStr::from_text(&crate::translate::new_message_id("msg_test_")),
            model: JsonStr::from_text(upstream_model),
        });
        let has_tool_result =
            req.messages.last().is_some_and(|m| m.content.iter().any(|b| matches!(b, Block::ToolResult { .. })));
        let input = crate::tokens::quick_estimate(req);
        if has_tool_result {
            let result = last.trim().to_owned();
            s.text(&["The tool said: ", &result]);
            return s.stop(StopReason::EndTurn, input);
        }
        if last.contains("error first") {
            s.events.clear();
            s.events.push(CanonicalEvent::Error {
                kind: ErrorKind::RateLimit,
                message: JsonStr::from_static("test channel: rate limited before the first token"),
            });
            return s;
        }
        if last.contains("midstream error") {
            s.text(&["Partial ", "answer "]);
            s.events.push(CanonicalEvent::Error {
                kind: ErrorKind::Overloaded,
                message: JsonStr::from_static("test channel: overloaded mid-stream"),
            });
            return s;
        }
        if last.contains("stall") {
            s.text(&["This answer ", "stalls"]);
            return s;
        }
        if last.contains("cut stream") {
            s.text(&["This answer ", "is cut"]);
            return s;
        }
        if last.contains("multi") {
            s.thinking(&["Plan: ", "answer, then call a tool."], "c2lnbmF0dXJl");
            s.text(&["Here is the weather:"]);
            s.tool(req);
            return s.stop(StopReason::ToolUse, input);
        }
        if last.contains("tool") {
            s.tool(req);
            return s.stop(StopReason::ToolUse, input);
        }
        if last.contains("think") {
            s.thinking(&["Let me think", " about this", " carefully."], "RXF1aXZhbGVudFNpZ25hdHVyZQ==");
            s.text(&["The answer ", "is 42."]);
            return s.stop(StopReason::EndTurn, input);
        }
        if last.contains("max_tokens") {
            s.text(&["This answer is ", "cut short by"]);
            return s.stop(StopReason::MaxTokens, input);
        }
        if last.contains("long") {
            let words: Vec<String> = (0..500).map(|i| format!("w{i} ")).collect();
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            s.text(&refs);
            return s.stop(StopReason::EndTurn, input);
        }
        if last.contains("slow") {
            s.delay = Some(Duration::from_millis(20));
            let words: Vec<String> = (0..50).map(|i| format!("s{i} ")).collect();
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            s.text(&refs);
            return s.stop(StopReason::EndTurn, input);
        }
        if last.contains("unicode") {
            s.text(&[
                "Quotes \"like this\", a back\\slash,\nnew line, tab\t",
                "emoji 😀, CJK 漢字, ",
                "control \u{1}.",
            ]);
            return s.stop(StopReason::EndTurn, input);
        }
        if last.contains("echo") {
            let tools: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
            let summary = format!(
                "model={} system={:?} tools=[{}] max_tokens={:?} stream={} messages={}",
                req.model,
                req.system.iter().map(|t| t.text()).collect::<Vec<_>>().join(" | "),
                tools.join(","),
                req.max_tokens,
                req.stream,
                req.messages.len()
            );
            s.text(&[&summary]);
            return s.stop(StopReason::EndTurn, input);
        }
        s.text(&["Hello", " from the", " test channel!"]);
        s.stop(StopReason::EndTurn, input)
    }

    fn next_index(&mut self) -> u32 {
        let i = self.index;
        self.index += 1;
        i
    }

    fn text(&mut self, parts: &[&str]) {
        let index = self.next_index();
        self.events.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Text });
        for p in parts {
            self.output += 1;
            self.events.push(CanonicalEvent::TextDelta(JsonStr::from_text(p)));
        }
        self.events.push(CanonicalEvent::BlockStop { index });
    }

    fn thinking(&mut self, parts: &[&str], signature: &str) {
        let index = self.next_index();
        self.events.push(CanonicalEvent::BlockStart { index, kind: BlockKind::Thinking });
        for p in parts {
            self.output += 1;
            self.events.push(CanonicalEvent::ThinkingDelta(JsonStr::from_text(p)));
        }
        self.events.push(CanonicalEvent::ThinkingSignature(JsonStr::from_text(signature)));
        self.events.push(CanonicalEvent::BlockStop { index });
    }

    fn tool(&mut self, req: &CanonicalRequest) {
        let name = req.tools.first().map_or("get_weather", |t| t.name.as_str()).to_owned();
        let index = self.next_index();
        self.events.push(CanonicalEvent::ToolCallStart {
            index,
            id: JsonStr::from_text(&crate::translate::new_message_id("toolu_")),
            name: JsonStr::from_text(&name),
        });
        let args = r#"{"location": "Paris, France", "unit": "celsius"}"#;
        let bytes = args.as_bytes();
        for chunk in bytes.chunks(5) {
            self.output += 1;
            self.events.push(CanonicalEvent::ToolArgsDelta(JsonStr::from_text(&String::from_utf8_lossy(chunk))));
        }
        self.events.push(CanonicalEvent::BlockStop { index });
    }

    fn stop(mut self, reason: StopReason, input: u64) -> Self {
        self.events.push(CanonicalEvent::Usage(Usage {
            input_tokens: input,
            output_tokens: self.output.max(1),
            ..Usage::default()
        }));
        self.events.push(CanonicalEvent::Stop { reason, stop_sequence: None });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(creds: &[(&str, &str)]) -> AccountDef {
        let mut d: AccountDef =
            serde_json::from_value(serde_json::json!({"id": "a", "channel": Channel::Orchids})).unwrap();
        d.credentials = creds.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        d
    }

    fn refresh(d: &AccountDef) -> Result<NewCredentials, RefreshError> {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        rt.block_on(TestRefresher.refresh(d))
    }

    #[test]
    fn the_refresher_follows_the_credentials() {
        let d = account(&[("expires_at", "1234"), ("refresh_count", "2"), ("fail", "auth")]);
        assert_eq!(TestRefresher.expires_ms(&d), Some(1234));
        assert_eq!(TestRefresher.expires_ms(&account(&[])), None);
        let before = crate::domain::now_ms();
        let new = refresh(&d).unwrap();
        assert_eq!(new.credentials["token"], "test-token-3");
        assert_eq!(new.credentials["refresh_count"], "3");
        assert_eq!(new.credentials["fail"], "", "the refreshed token works");
        let exp = new.expires_ms.unwrap();
        assert!(exp >= before + 3_600_000, "{exp}");
        assert_eq!(new.credentials["expires_at"], exp.to_string());
        assert!(!refresh(&account(&[("fail", "quota")])).unwrap().credentials.contains_key("fail"));
        let lifetime = refresh(&account(&[("refresh_lifetime_ms", "10")])).unwrap();
        assert!(lifetime.expires_ms.unwrap() < before + 60_000);
        assert!(matches!(refresh(&account(&[("refresh_fail", "rejected")])), Err(RefreshError::Rejected(_))));
        assert!(matches!(refresh(&account(&[("refresh_fail", "transient")])), Err(RefreshError::Transient(_))));
    }
}
