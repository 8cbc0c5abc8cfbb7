//! Percent-decoding of URL path segments and query components (RFC 3986 §2.1).

/// Decodes `%XX` escapes. Returns `None` for a malformed escape or a result that is not UTF-8.
/// `plus_as_space` is for `application/x-www-form-urlencoded` query values.
pub fn decode(input: &[u8], plus_as_space: bool) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'%' => {
                let hi = hex(*input.get(i + 1)?)?;
                let lo = hex(*input.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a raw query string into decoded `(key, value)` pairs; malformed pairs are skipped.
pub fn query_pairs(query: &[u8]) -> Vec<(String, String)> {
    query
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (pair.get(..eq)?, pair.get(eq + 1..)?),
                None => (pair, &b""[..]),
            };
            Some((decode(k, true)?, decode(v, true)?))
        })
        .collect()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes() {
        assert_eq!(decode(b"a%20b%2Fc", false).as_deref(), Some("a b/c"));
        assert_eq!(decode(b"caf%C3%A9", false).as_deref(), Some("café"));
        assert_eq!(decode(b"a+b", false).as_deref(), Some("a+b"));
        assert_eq!(decode(b"a+b", true).as_deref(), Some("a b"));
        assert_eq!(decode(b"bad%2", false), None);
        assert_eq!(decode(b"bad%zz", false), None);
        assert_eq!(decode(b"%ff", false), None);
    }

    #[test]
    fn splits_query() {
        let q = query_pairs(b"channel=grok&model=grok%2D3&flag&=x");
        assert_eq!(q[0], ("channel".into(), "grok".into()));
        assert_eq!(q[1], ("model".into(), "grok-3".into()));
        assert_eq!(q[2], ("flag".into(), String::new()));
    }
}
