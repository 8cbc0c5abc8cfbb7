//! What the simulator should do for one request: parsed from `sim:` keywords found in the
//! prompt, the `x-sim` header, the `sim` query parameter and the credential's override.
//! Pure and cheap: one substring search per source.
//!
//! A keyword is `sim:` followed by a word up to whitespace or punctuation; unknown words are
//! ignored. The list is in the module header of [`super`].

/// A failure answered instead of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// 401: the credential "expired".
    Expired,
    /// 429 for this account, with a reset hint of this many seconds.
    RateLimit(u64),
    /// 429 for this account with no `Retry-After`: only the `x-ratelimit-*` headers say the
    /// window is used up and when it resets (in this many seconds).
    RateLimitReset(u64),
    /// Web: a plain 429 once the account's `--web-quota` window is used up (no `Retry-After`,
    /// no reset headers: the reset is in the earlier answers' `x-ratelimit-*` headers).
    WindowExhausted,
    /// 403: the account (its team or plan) may not use the requested model.
    ModelDenied,
    /// 429 for the whole team (the `resource-exhausted` body).
    TeamRateLimit,
    /// API: 429 "You ran out of credits."
    Credits,
    /// 403: account blocked.
    Blocked,
    /// Web: 403 Cloudflare challenge (`CF-Mitigated: challenge`, HTML body).
    Challenge,
    /// API: 400 "Incorrect API key provided".
    BadKey,
    /// This 5xx status.
    Server(u16),
}

/// Broken-JSON variants of the emulated (web) tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolVariant {
    Clean,
    /// Inside a Markdown code fence.
    Fenced,
    /// A trailing comma before `}`.
    TrailingComma,
    /// The final `}` missing.
    MissingBrace,
    /// A tool name the request did not declare (the gateway must drop it).
    Undeclared,
}

/// Default stall when `sim:stall` has no value.
pub const DEFAULT_STALL_MS: u64 = 30_000;
/// Default reset hint of `sim:429`.
pub const DEFAULT_RETRY_AFTER_S: u64 = 7;
/// Tokens of a `sim:long` answer.
pub const LONG_TOKENS: usize = 400;
/// Upper bound for `sim:tokens=N` (keeps one request's work bounded).
pub const MAX_TOKENS: usize = 1_000_000;

/// The plan for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[expect(clippy::struct_excessive_bools, reason = "independent switches, each a keyword")]
pub struct Script {
    pub fail: Option<Fail>,
    /// Answer tokens (`None`: the short default answer).
    pub tokens: Option<usize>,
    pub reasoning: bool,
    pub tool: Option<ToolVariant>,
    /// Sleep after the response head, before the first token.
    pub stall_ms: Option<u64>,
    /// Sleep before the response head.
    pub stall_head_ms: Option<u64>,
    /// Close the connection after a few tokens, without ending the stream.
    pub disconnect: bool,
    /// Put a malformed line in the stream.
    pub malformed: bool,
    /// Web: wrap part of the answer in `<grok:render>` / `<xai:tool_usage_card>` blocks.
    pub markup: bool,
    /// Web: an in-stream `renderToolRateLimited`.
    pub image_limit: bool,
    /// Write `N` chunks, then sleep `M` ms.
    pub pace: Option<(usize, u64)>,
    /// API streams: prefix every answer token with the simulator's clock readings
    /// ([`super::stamp`]).
    pub stamp: bool,
    /// `sim:deny=MODEL`: the FNV hash of the one upstream model / web mode answered with a 403
    /// [`Fail::ModelDenied`] (others are served).
    pub deny: Option<u32>,
}

impl Script {
    /// Adds every keyword found in `text`.
    pub fn scan(&mut self, text: &[u8]) {
        let finder = memchr::memmem::Finder::new(b"sim:");
        for at in finder.find_iter(text) {
            let rest = text.get(at + 4..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|b| {
                    b.is_ascii_whitespace() || matches!(b, b',' | b';' | b')' | b']' | b'}' | b'"' | b'\'' | b'\\')
                })
                .unwrap_or(rest.len());
            if let Some(word) = rest.get(..end).and_then(|w| std::str::from_utf8(w).ok()) {
                self.apply(word.trim_end_matches('.'));
            }
        }
    }

    /// Applies one keyword (without `sim:`).
    pub fn apply(&mut self, word: &str) {
        let (key, value) = word.split_once('=').map_or((word, None), |(k, v)| (k, Some(v)));
        let num = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok());
        match key {
            "long" => self.tokens = Some(LONG_TOKENS),
            "tokens" => {
                if let Some(n) = num(value) {
                    self.tokens = Some(usize::try_from(n).unwrap_or(MAX_TOKENS).min(MAX_TOKENS));
                }
            }
            "reasoning" | "think" => self.reasoning = true,
            "tool" => self.tool = Some(ToolVariant::Clean),
            "tool-fenced" => self.tool = Some(ToolVariant::Fenced),
            "tool-comma" => self.tool = Some(ToolVariant::TrailingComma),
            "tool-nobrace" => self.tool = Some(ToolVariant::MissingBrace),
            "tool-undeclared" => self.tool = Some(ToolVariant::Undeclared),
            "expired" | "401" => self.fail = Some(Fail::Expired),
            "429" | "ratelimit" => {
                self.fail = Some(Fail::RateLimit(num(value).unwrap_or(DEFAULT_RETRY_AFTER_S)));
            }
            "429-reset" => self.fail = Some(Fail::RateLimitReset(num(value).unwrap_or(DEFAULT_RETRY_AFTER_S))),
            "deny" => self.deny = value.filter(|v| !v.is_empty()).map(crate::pool::shared::model_hash),
            "team429" => self.fail = Some(Fail::TeamRateLimit),
            "credits" => self.fail = Some(Fail::Credits),
            "blocked" | "403" => self.fail = Some(Fail::Blocked),
            "challenge" => self.fail = Some(Fail::Challenge),
            "badkey" => self.fail = Some(Fail::BadKey),
            "500" | "5xx" => self.fail = Some(Fail::Server(500)),
            "502" => self.fail = Some(Fail::Server(502)),
            "503" => self.fail = Some(Fail::Server(503)),
            "stall" => self.stall_ms = Some(num(value).unwrap_or(DEFAULT_STALL_MS)),
            "stall-head" => self.stall_head_ms = Some(num(value).unwrap_or(DEFAULT_STALL_MS)),
            "disconnect" => self.disconnect = true,
            "malformed" => self.malformed = true,
            "markup" => self.markup = true,
            "imagelimit" => self.image_limit = true,
            "pace" => self.pace = value.and_then(parse_pace),
            "fast" => self.pace = None,
            "stamp" => self.stamp = true,
            _ => {}
        }
    }

    /// The failure for a request for `model` (an upstream model id or web mode): the scripted
    /// one, else a 403 when `model` is the denied one.
    pub fn failure_for(&self, model: &str) -> Option<Fail> {
        self.fail.or_else(|| (self.deny == Some(crate::pool::shared::model_hash(model))).then_some(Fail::ModelDenied))
    }
}

/// `N/M`: N chunks every M ms (N >= 1).
fn parse_pace(v: &str) -> Option<(usize, u64)> {
    let (n, m) = v.split_once('/')?;
    let n: usize = n.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    (n >= 1).then_some((n, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Script {
        let mut s = Script::default();
        s.scan(text.as_bytes());
        s
    }

    #[test]
    fn keywords() {
        assert_eq!(s("hello"), Script::default());
        let x = s("please sim:long, sim:reasoning and sim:tool-comma. sim:pace=3/20 sim:stall=150");
        assert_eq!(x.tokens, Some(LONG_TOKENS));
        assert!(x.reasoning);
        assert_eq!(x.tool, Some(ToolVariant::TrailingComma));
        assert_eq!(x.pace, Some((3, 20)));
        assert_eq!(x.stall_ms, Some(150));
        assert_eq!(s("sim:429").fail, Some(Fail::RateLimit(DEFAULT_RETRY_AFTER_S)));
        assert_eq!(s("sim:429=30").fail, Some(Fail::RateLimit(30)));
        assert_eq!(s("\"sim:team429\"").fail, Some(Fail::TeamRateLimit));
        assert_eq!(s("sim:503").fail, Some(Fail::Server(503)));
        assert_eq!(s("sim:stall").stall_ms, Some(DEFAULT_STALL_MS));
        assert_eq!(s("sim:tokens=99999999999").tokens, Some(MAX_TOKENS));
        assert_eq!(s("sim:pace=0/5").pace, None);
        assert_eq!(s("sim:nonsense sim: sim:").fail, None);
        assert_eq!(s("sim:429-reset=20").fail, Some(Fail::RateLimitReset(20)));
        let d = s("sim:deny=grok-4");
        assert_eq!((d.failure_for("grok-4"), d.failure_for("grok-3")), (Some(Fail::ModelDenied), None));
        assert_eq!(s("sim:deny=").deny, None);
    }
}
