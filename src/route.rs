//! Method + path -> route. The query string never takes part (the head parser already split it
//! off); path parameters are percent-decoded. Later steps add their routes to [`TABLE`].
//!
//! The path is split into its segments once; matching is then a linear scan over a small static
//! table of segment patterns, where a pattern of another length is passed over before any
//! segment is compared: no allocation for literal segments, one `String` per captured
//! parameter. A path that matches some pattern with another method gives 405 with the `Allow`
//! list; no match gives 404.

use crate::config::Limits;
use crate::http::path_params::PathParams;
use http::Method;

/// Every endpoint the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Health,
    /// `GET {admin_path}`: the admin page (the path is configurable, see [`resolve_with_admin`]).
    AdminPage,
    /// Diagnostics, answered only when `debug_endpoints` is on (404 otherwise).
    DebugEcho,
    DebugSse,
    DebugSleep,
    /// `POST /v1/messages` (channel from the model table).
    Messages,
    /// `POST /{channel}/v1/messages`.
    ChannelMessages,
    CountTokens,
    ChannelCountTokens,
    ChatCompletions,
    ChannelChatCompletions,
    /// `GET /v1/models`.
    Models,
    ChannelModels,
    /// `GET /v1/models/{id}`.
    Model,
    ChannelModel,
    /// `GET /api/accounts/{id}/quota` (admin; grok web accounts).
    AccountQuota,
    /// `GET /api/accounts` (admin).
    AdminAccounts,
    /// `GET /api/accounts/{id}` (admin).
    AdminAccount,
    /// `POST /api/accounts/{id}/reset` (admin).
    AdminAccountReset,
    /// `GET /api/pool/explain?channel=…&model=…` (admin).
    AdminPoolExplain,
}

impl RouteId {
    /// Largest request body this route accepts.
    pub fn body_limit(self, limits: &Limits) -> usize {
        match self {
            Self::Health
            | Self::AdminPage
            | Self::DebugSse
            | Self::DebugSleep
            | Self::Models
            | Self::ChannelModels
            | Self::Model
            | Self::ChannelModel
            | Self::AccountQuota
            | Self::AdminAccounts
            | Self::AdminAccount
            | Self::AdminPoolExplain => 0,
            Self::AdminAccountReset => 1024,
            Self::DebugEcho
            | Self::Messages
            | Self::ChannelMessages
            | Self::CountTokens
            | Self::ChannelCountTokens
            | Self::ChatCompletions
            | Self::ChannelChatCompletions => limits.max_body_bytes,
        }
    }
}

/// One path segment of a pattern.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Lit(&'static str),
    /// Captures one decoded segment.
    Param,
}

struct Entry {
    method: Method,
    pattern: &'static [Seg],
    route: RouteId,
}

use Seg::{Lit, Param};

static TABLE: &[Entry] = &[
    Entry { method: Method::GET, pattern: &[Lit("health")], route: RouteId::Health },
    Entry { method: Method::POST, pattern: &[Lit("debug"), Lit("echo")], route: RouteId::DebugEcho },
    Entry { method: Method::GET, pattern: &[Lit("debug"), Lit("sse")], route: RouteId::DebugSse },
    Entry { method: Method::GET, pattern: &[Lit("debug"), Lit("sleep"), Param], route: RouteId::DebugSleep },
    Entry { method: Method::POST, pattern: &[Lit("v1"), Lit("messages")], route: RouteId::Messages },
    Entry { method: Method::POST, pattern: &[Param, Lit("v1"), Lit("messages")], route: RouteId::ChannelMessages },
    Entry {
        method: Method::POST,
        pattern: &[Lit("v1"), Lit("messages"), Lit("count_tokens")],
        route: RouteId::CountTokens,
    },
    Entry {
        method: Method::POST,
        pattern: &[Param, Lit("v1"), Lit("messages"), Lit("count_tokens")],
        route: RouteId::ChannelCountTokens,
    },
    Entry {
        method: Method::POST,
        pattern: &[Lit("v1"), Lit("chat"), Lit("completions")],
        route: RouteId::ChatCompletions,
    },
    Entry {
        method: Method::POST,
        pattern: &[Param, Lit("v1"), Lit("chat"), Lit("completions")],
        route: RouteId::ChannelChatCompletions,
    },
    Entry { method: Method::GET, pattern: &[Lit("v1"), Lit("models")], route: RouteId::Models },
    Entry { method: Method::GET, pattern: &[Param, Lit("v1"), Lit("models")], route: RouteId::ChannelModels },
    Entry { method: Method::GET, pattern: &[Lit("v1"), Lit("models"), Param], route: RouteId::Model },
    Entry { method: Method::GET, pattern: &[Param, Lit("v1"), Lit("models"), Param], route: RouteId::ChannelModel },
    Entry {
        method: Method::GET,
        pattern: &[Lit("api"), Lit("accounts"), Param, Lit("quota")],
        route: RouteId::AccountQuota,
    },
    Entry { method: Method::GET, pattern: &[Lit("api"), Lit("accounts")], route: RouteId::AdminAccounts },
    Entry { method: Method::GET, pattern: &[Lit("api"), Lit("accounts"), Param], route: RouteId::AdminAccount },
    Entry {
        method: Method::POST,
        pattern: &[Lit("api"), Lit("accounts"), Param, Lit("reset")],
        route: RouteId::AdminAccountReset,
    },
    Entry {
        method: Method::GET,
        pattern: &[Lit("api"), Lit("pool"), Lit("explain")],
        route: RouteId::AdminPoolExplain,
    },
];

/// The routing outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Found(RouteId, PathParams),
    /// The path exists with other methods; the value is the `Allow` header.
    MethodNotAllowed(String),
    NotFound,
}

/// [`resolve`], plus the admin page at the configured `admin_path` (GET/HEAD only).
pub fn resolve_with_admin(method: &Method, raw_path: &[u8], admin_path: &str) -> Resolved {
    let path = raw_path.strip_suffix(b"/").filter(|p| !p.is_empty()).unwrap_or(raw_path);
    if path == admin_path.as_bytes() {
        return if method == Method::GET || method == Method::HEAD {
            Resolved::Found(RouteId::AdminPage, PathParams::default())
        } else {
            Resolved::MethodNotAllowed("GET, HEAD".to_owned())
        };
    }
    resolve(method, raw_path)
}

/// Resolves a raw (still percent-encoded) path. `HEAD` matches `GET` routes.
pub fn resolve(method: &Method, raw_path: &[u8]) -> Resolved {
    let Some((segs, n)) = segments(raw_path) else {
        return Resolved::NotFound;
    };
    let segs = segs.get(..n).unwrap_or_default();
    let lookup = if method == Method::HEAD { &Method::GET } else { method };
    let mut allowed: Vec<&'static str> = Vec::new();
    for entry in TABLE {
        let params = match match_pattern(entry.pattern, segs) {
            PatternMatch::No => continue,
            PatternMatch::BadParam => None,
            PatternMatch::Yes(p) => Some(p),
        };
        if entry.method == *lookup {
            return params.map_or(Resolved::NotFound, |p| Resolved::Found(entry.route, p));
        }
        allowed.push(entry.method.as_str());
        if entry.method == Method::GET {
            allowed.push("HEAD");
        }
    }
    if allowed.is_empty() {
        Resolved::NotFound
    } else {
        allowed.sort_unstable();
        allowed.dedup();
        Resolved::MethodNotAllowed(allowed.join(", "))
    }
}

/// The most segments a pattern in [`TABLE`] has (a test holds the table to it).
const MAX_SEGS: usize = 4;

/// A path's segments, split once for the whole table: the leading `/` is required, one
/// trailing `/` is ignored. `None` when there is no leading `/` or more segments than any
/// pattern has (no route can match either).
fn segments(raw_path: &[u8]) -> Option<([&[u8]; MAX_SEGS], usize)> {
    let path = raw_path.strip_prefix(b"/")?;
    let path = path.strip_suffix(b"/").unwrap_or(path);
    let mut segs: [&[u8]; MAX_SEGS] = [&[]; MAX_SEGS];
    let mut n = 0;
    for seg in path.split(|b| *b == b'/') {
        *segs.get_mut(n)? = seg;
        n += 1;
    }
    Some((segs, n))
}

enum PatternMatch {
    No,
    /// The shape matches but a parameter is not valid percent-encoding (answered 404).
    BadParam,
    Yes(PathParams),
}

fn match_pattern(pattern: &[Seg], segs: &[&[u8]]) -> PatternMatch {
    // First the shape alone (segment count, literals, non-empty parameters), so a path is
    // decoded only for the pattern it matches: no allocation for the patterns it does not.
    let fits = pattern.len() == segs.len()
        && pattern.iter().zip(segs).all(|(seg, got)| match seg {
            Lit(lit) => *got == lit.as_bytes(),
            Param => !got.is_empty(),
        });
    if !fits {
        return PatternMatch::No;
    }
    let mut params = PathParams::default();
    for (seg, got) in pattern.iter().zip(segs) {
        if matches!(seg, Param) && params.push_raw(got).is_err() {
            return PatternMatch::BadParam;
        }
    }
    PatternMatch::Yes(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(resolve(&Method::GET, b"/health"), Resolved::Found(RouteId::Health, PathParams::default()));
        assert_eq!(resolve(&Method::HEAD, b"/health"), Resolved::Found(RouteId::Health, PathParams::default()));
        assert_eq!(resolve(&Method::GET, b"/health/"), Resolved::Found(RouteId::Health, PathParams::default()));
        assert_eq!(resolve(&Method::POST, b"/health"), Resolved::MethodNotAllowed("GET, HEAD".into()));
        assert_eq!(resolve(&Method::GET, b"/nope"), Resolved::NotFound);
        assert_eq!(resolve(&Method::GET, b"/health/x"), Resolved::NotFound);
    }

    #[test]
    fn proxy_routes() {
        use RouteId as R;
        let post = |p: &[u8]| resolve(&Method::POST, p);
        let get = |p: &[u8]| resolve(&Method::GET, p);
        assert_eq!(post(b"/v1/messages"), Resolved::Found(R::Messages, PathParams::default()));
        assert_eq!(post(b"/grok/v1/messages"), Resolved::Found(R::ChannelMessages, PathParams::of(&["grok"])));
        assert_eq!(post(b"/v1/messages/count_tokens"), Resolved::Found(R::CountTokens, PathParams::default()));
        assert_eq!(
            post(b"/warp/v1/messages/count_tokens"),
            Resolved::Found(R::ChannelCountTokens, PathParams::of(&["warp"]))
        );
        assert_eq!(post(b"/v1/chat/completions"), Resolved::Found(R::ChatCompletions, PathParams::default()));
        assert_eq!(
            post(b"/orchids/v1/chat/completions"),
            Resolved::Found(R::ChannelChatCompletions, PathParams::of(&["orchids"]))
        );
        assert_eq!(get(b"/v1/models"), Resolved::Found(R::Models, PathParams::default()));
        assert_eq!(get(b"/grok/v1/models"), Resolved::Found(R::ChannelModels, PathParams::of(&["grok"])));
        assert_eq!(get(b"/v1/models/grok-3"), Resolved::Found(R::Model, PathParams::of(&["grok-3"])));
        assert_eq!(
            get(b"/grok/v1/models/grok-3"),
            Resolved::Found(R::ChannelModel, PathParams::of(&["grok", "grok-3"]))
        );
        assert!(matches!(get(b"/v1/messages"), Resolved::MethodNotAllowed(_)));
    }

    #[test]
    fn params_are_percent_decoded() {
        assert_eq!(
            resolve(&Method::GET, b"/debug/sleep/a%20b"),
            Resolved::Found(RouteId::DebugSleep, PathParams::of(&["a b"]))
        );
        assert_eq!(resolve(&Method::GET, b"/debug/sleep/%zz"), Resolved::NotFound);
    }

    #[test]
    fn no_pattern_is_longer_than_the_split() {
        assert!(TABLE.iter().all(|e| e.pattern.len() <= MAX_SEGS));
        assert!(TABLE.iter().any(|e| e.pattern.len() == MAX_SEGS));
        let params = |e: &Entry| e.pattern.iter().filter(|s| matches!(s, Param)).count();
        assert!(TABLE.iter().all(|e| params(e) <= crate::http::path_params::MAX_PARAMS));
    }

    #[test]
    fn odd_paths() {
        let get = |p: &[u8]| resolve(&Method::GET, p);
        assert_eq!(get(b""), Resolved::NotFound);
        assert_eq!(get(b"health"), Resolved::NotFound);
        assert_eq!(get(b"/"), Resolved::NotFound);
        assert_eq!(get(b"//health"), Resolved::NotFound);
        assert_eq!(get(b"/health//"), Resolved::NotFound);
        assert_eq!(get(b"/v1//models"), Resolved::NotFound);
        // An empty parameter does not match: `//v1/models` is not channel "".
        assert_eq!(get(b"//v1/models"), Resolved::NotFound);
        assert_eq!(get(b"/grok/v1/models/grok-3/x"), Resolved::NotFound);
        assert_eq!(get(b"/a/b/c/d/e/f"), Resolved::NotFound);
        assert_eq!(
            get(b"/grok/v1/models/grok-3/"),
            Resolved::Found(RouteId::ChannelModel, PathParams::of(&["grok", "grok-3"]))
        );
        assert!(
            matches!(resolve(&Method::POST, b"/api/accounts/x/quota"), Resolved::MethodNotAllowed(a) if a == "GET, HEAD")
        );
    }
}
