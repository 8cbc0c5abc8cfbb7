//! Admin API authentication: `Authorization: Bearer <admin_token>` or `X-Admin-Token`.
//!
//! Never a query string. Comparison is constant-time in the token's content. With no
//! `admin_token` configured the admin API answers 403 and says how to enable it (sessions from
//! the admin page come in a later step).

use crate::http::head::RequestHead;
use crate::http::{ErrorFlavor, Response};

/// Constant-time equality of two byte strings (time depends only on the lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token the request presents, if any.
pub fn presented_token(head: &RequestHead) -> Option<&[u8]> {
    if let Some(v) = head.header("authorization") {
        let v = v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer "))?;
        return Some(v);
    }
    head.header("x-admin-token")
}

/// `Ok(())` when the request may use the admin API, else the response to send.
pub fn check(head: &RequestHead, admin_token: &str) -> Result<(), Response> {
    if admin_token.is_empty() {
        return Err(Response::error(
            ErrorFlavor::Plain,
            403,
            "the admin API is disabled: set admin_token in the config",
        ));
    }
    match presented_token(head) {
        Some(t) if ct_eq(t, admin_token.as_bytes()) => Ok(()),
        Some(_) => Err(Response::error(ErrorFlavor::Plain, 401, "invalid admin token")),
        None => {
            Err(Response::error(ErrorFlavor::Plain, 401, "admin token required").header("www-authenticate", "Bearer"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{HeadLimits, parse_request_head};
    use bytes::BytesMut;

    fn head(extra: &str) -> RequestHead {
        let mut b = BytesMut::from(format!("GET /api/x HTTP/1.1\r\n{extra}\r\n").as_str());
        parse_request_head(&mut b, HeadLimits { max_head_bytes: 4096, max_headers: 16 }).unwrap().unwrap()
    }

    #[test]
    fn token_paths() {
        let tok = "0123456789abcdef0123";
        assert!(check(&head(&format!("Authorization: Bearer {tok}\r\n")), tok).is_ok());
        assert!(check(&head(&format!("X-Admin-Token: {tok}\r\n")), tok).is_ok());
        assert_eq!(check(&head("X-Admin-Token: nope\r\n"), tok).unwrap_err().status, 401);
        assert_eq!(check(&head(""), tok).unwrap_err().status, 401);
        assert_eq!(check(&head(&format!("X-Admin-Token: {tok}\r\n")), "").unwrap_err().status, 403);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
