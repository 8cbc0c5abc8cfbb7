//! Client authentication on the proxy endpoints.
//!
//! A request is accepted when it carries one of the configured `api_keys` in `x-api-key` or
//! `Authorization: Bearer`. With no key configured, only loopback peers (127.0.0.0/8, ::1) are
//! served, and startup logs a warning that says so. Comparison is constant-time in the key's
//! content (only the length of the configured keys can leak). The admin step extends
//! [`check`] with managed keys from the store; keep the decision in this one function.

use crate::config::{Config, Secret};
use crate::http::head::RequestHead;
use std::net::SocketAddr;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No key sent (401).
    Missing,
    /// A key was sent but it is not one of ours (401).
    Invalid,
    /// No keys are configured and the peer is not on loopback (403).
    LoopbackOnly,
}

impl AuthError {
    pub fn status(self) -> u16 {
        match self {
            Self::Missing | Self::Invalid => 401,
            Self::LoopbackOnly => 403,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "missing API key: send it in x-api-key or Authorization: Bearer",
            Self::Invalid => "invalid API key",
            Self::LoopbackOnly => {
                "no client API keys are configured on this gateway, so only loopback clients are served"
            }
        }
    }
}

/// The key a request presents, if any (`x-api-key` first, then `Authorization: Bearer`).
pub fn presented_key(head: &RequestHead) -> Option<&[u8]> {
    if let Some(k) = head.header("x-api-key").map(<[u8]>::trim_ascii).filter(|k| !k.is_empty()) {
        return Some(k);
    }
    let auth = head.header("authorization")?.trim_ascii();
    let (scheme, rest) = auth.split_at_checked(7)?;
    if scheme.eq_ignore_ascii_case(b"bearer ") { Some(rest.trim_ascii()).filter(|k| !k.is_empty()) } else { None }
}

/// Decides whether a proxy request may proceed.
pub fn check(keys: &[Secret], head: &RequestHead, peer: SocketAddr) -> Result<(), AuthError> {
    if keys.is_empty() {
        return if peer.ip().is_loopback() { Ok(()) } else { Err(AuthError::LoopbackOnly) };
    }
    let key = presented_key(head).ok_or(AuthError::Missing)?;
    // Compare against every key without stopping early.
    let mut ok = false;
    for k in keys {
        ok |= ct_eq(k.expose().as_bytes(), key);
    }
    if ok { Ok(()) } else { Err(AuthError::Invalid) }
}

/// Constant-time equality in the content (length differences return early).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Logs what an operator must know about client authentication at startup.
pub fn startup_warnings(cfg: &Config) {
    if cfg.api_keys.is_empty() {
        log::warn!(
            "no api_keys configured: the proxy endpoints serve loopback clients only (127.0.0.1, ::1); \
             add api_keys to config.json to accept other clients"
        );
    }
    if cfg.test_channel {
        log::warn!("test_channel is on: every channel is answered by the scripted test channel (tests only)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn head(extra: &str) -> RequestHead {
        let raw = format!("POST /v1/messages HTTP/1.1\r\nhost: x\r\n{extra}\r\n");
        let mut buf = BytesMut::from(raw.as_bytes());
        crate::http::head::parse_request_head(
            &mut buf,
            crate::http::head::HeadLimits { max_head_bytes: 8192, max_headers: 32 },
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn keys_in_either_header() {
        let keys = [Secret::new("sk-good-key-1")];
        let remote: SocketAddr = "10.0.0.5:1234".parse().unwrap();
        assert_eq!(check(&keys, &head("x-api-key: sk-good-key-1\r\n"), remote), Ok(()));
        assert_eq!(check(&keys, &head("authorization: Bearer sk-good-key-1\r\n"), remote), Ok(()));
        assert_eq!(check(&keys, &head("authorization: bearer  sk-good-key-1 \r\n"), remote), Ok(()));
        assert_eq!(check(&keys, &head("x-api-key: sk-bad\r\n"), remote), Err(AuthError::Invalid));
        assert_eq!(check(&keys, &head(""), remote), Err(AuthError::Missing));
        assert_eq!(check(&keys, &head("authorization: Basic abc\r\n"), remote), Err(AuthError::Missing));
    }

    #[test]
    fn no_keys_means_loopback_only() {
        let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:9".parse().unwrap();
        assert_eq!(check(&[], &head(""), local), Ok(()));
        assert_eq!(check(&[], &head(""), v6), Ok(()));
        assert_eq!(check(&[], &head(""), remote), Err(AuthError::LoopbackOnly));
    }
}
