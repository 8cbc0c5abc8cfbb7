//! The small URL subset the upstream client speaks: `http`, `https`, `ws`, `wss` with a host
//! (name, IPv4, or bracketed IPv6), an optional port and a path with query.
//!
//! No userinfo (credentials belong in headers), no fragments sent, no IDNA (upstream hosts are
//! ASCII). Hosts are lower-cased so pool keys and SNI agree.

use super::error::{ErrorKind, UpstreamError};
use std::sync::Arc;

/// The transport a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn is_tls(self) -> bool {
        self == Self::Https
    }
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A parsed absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `Http` for `http`/`ws`, `Https` for `https`/`wss`.
    pub scheme: Scheme,
    /// Whether the URL said `ws`/`wss`.
    pub websocket: bool,
    /// Lower-case host name or IP literal (IPv6 without brackets). Shared text, so a target
    /// parsed once is cloned per request without copying its strings.
    pub host: Arc<str>,
    pub port: u16,
    /// Path and query as sent on the request line; `/` when the URL had none.
    pub path_and_query: Arc<str>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, UpstreamError> {
        let bad = |why: &str| UpstreamError::new(ErrorKind::InvalidRequest, format!("bad upstream URL: {why}"));
        let (scheme_str, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        let (scheme, websocket) = match scheme_str.to_ascii_lowercase().as_str() {
            "http" => (Scheme::Http, false),
            "https" => (Scheme::Https, false),
            "ws" => (Scheme::Http, true),
            "wss" => (Scheme::Https, true),
            _ => return Err(bad("scheme must be http, https, ws or wss")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split_at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split_at);
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported; send them as headers"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("invalid host or port"))?;
        let port = port.unwrap_or_else(|| scheme.default_port());
        let path_and_query = if path.is_empty() {
            "/".to_owned()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        if crate::util::scan::any_byte(path_and_query.as_bytes(), |b| b <= b' ' || b == 0x7f) {
            return Err(bad("path contains spaces or control characters"));
        }
        Ok(Self { scheme, websocket, host: host.into(), port, path_and_query: path_and_query.into() })
    }

    /// The `Host` header value: the port is omitted when it is the scheme's default.
    pub fn host_header(&self) -> String {
        let mut out = Vec::with_capacity(self.host.len() + 8);
        self.write_host_header(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the `Host` header value to a request head being written (no allocation).
    pub fn write_host_header(&self, out: &mut Vec<u8>) {
        let v6 = self.host.contains(':');
        if v6 {
            out.push(b'[');
        }
        out.extend_from_slice(self.host.as_bytes());
        if v6 {
            out.push(b']');
        }
        if self.port != self.scheme.default_port() {
            out.push(b':');
            crate::util::decimal::push_u64(out, u64::from(self.port));
        }
    }

    /// `host:port` for messages and CONNECT.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host[:port]` / `[v6][:port]`; lower-cases and validates the host.
pub fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b)) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
    };
    Some((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_we_use() {
        let t = Target::parse("https://API.x.ai/v1/chat?x=1#frag").unwrap();
        assert_eq!((t.scheme, &*t.host, t.port, &*t.path_and_query), (Scheme::Https, "api.x.ai", 443, "/v1/chat?x=1"));
        assert_eq!(t.host_header(), "api.x.ai");
        let t = Target::parse("ws://127.0.0.1:8080?token=a").unwrap();
        assert!(t.websocket);
        assert_eq!((t.port, &*t.path_and_query), (8080, "/?token=a"));
        assert_eq!(t.host_header(), "127.0.0.1:8080");
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!((&*t.host, t.authority()), ("::1", "[::1]:9".to_owned()));
        assert_eq!(t.host_header(), "[::1]:9");
        for (url, want) in
            [("http://h:80/", "h"), ("https://h:80/", "h:80"), ("http://h:65535", "h:65535"), ("http://h:1/", "h:1")]
        {
            assert_eq!(Target::parse(url).unwrap().host_header(), want, "{url}");
        }
    }

    #[test]
    fn rejects_what_we_do_not_speak() {
        for bad in [
            "ftp://x/",
            "x.com/a",
            "http://u:p@x/",
            "http://x:0/",
            "http://x:99999/",
            "http:///a",
            "http://a b/",
            "http://x/a b",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}");
        }
    }
}
