//! A request's percent-decoded path parameters (`/{channel}/v1/…`, `/v1/models/{id}`), held
//! without allocating for the usual ones.
//!
//! Every proxied request on a channel route carries one parameter (the channel's name); a
//! `Vec<String>` for it cost two allocations per request. Here up to [`MAX_PARAMS`] parameters
//! sit inline, each in a fixed buffer when it is short and needs no decoding, and on the heap
//! only when it is long or percent-encoded.

/// The most parameters a route has (a test in `route` holds the table to it).
pub const MAX_PARAMS: usize = 2;

/// Bytes a parameter may have to be kept inline (a channel name, a model id).
const INLINE: usize = 30;

/// One decoded parameter.
#[derive(Debug, Clone)]
enum Param {
    /// Valid UTF-8, `len` bytes of `buf`.
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Heap(String),
}

impl Param {
    fn as_str(&self) -> &str {
        match self {
            // Only ever built from a `&str` (see `PathParams::push`), so this never fails.
            Self::Inline { len, buf } => {
                buf.get(..usize::from(*len)).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
            }
            Self::Heap(s) => s,
        }
    }
}

/// The parameters of one request, in pattern order. Equal when their texts are (wherever each
/// is kept).
#[derive(Clone, Default)]
pub struct PathParams {
    items: [Option<Param>; MAX_PARAMS],
}

impl std::fmt::Debug for PathParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..MAX_PARAMS).filter_map(|i| self.get(i))).finish()
    }
}

impl PartialEq for PathParams {
    fn eq(&self, other: &Self) -> bool {
        (0..MAX_PARAMS).all(|i| self.get(i) == other.get(i))
    }
}

impl Eq for PathParams {}

/// Why a parameter could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// Not valid percent-encoding, or not UTF-8 once decoded.
    BadEncoding,
    /// More than [`MAX_PARAMS`].
    TooMany,
}

impl PathParams {
    /// The parameters `values`, in order (for tests); more than [`MAX_PARAMS`] is refused.
    #[cfg(test)]
    pub fn of(values: &[&str]) -> Self {
        let mut p = Self::default();
        for v in values {
            assert!(p.push_decoded(v).is_ok(), "at most {MAX_PARAMS} parameters");
        }
        p
    }

    /// Appends a raw (still percent-encoded) path segment, decoded.
    pub fn push_raw(&mut self, raw: &[u8]) -> Result<(), ParamError> {
        if raw.contains(&b'%') {
            let decoded = crate::util::percent::decode(raw, false).ok_or(ParamError::BadEncoding)?;
            return self.put(Param::Heap(decoded));
        }
        let s = std::str::from_utf8(raw).map_err(|_| ParamError::BadEncoding)?;
        self.push_decoded(s)
    }

    fn push_decoded(&mut self, s: &str) -> Result<(), ParamError> {
        let param = match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut buf = [0u8; INLINE];
                if let Some(dst) = buf.get_mut(..s.len()) {
                    dst.copy_from_slice(s.as_bytes());
                }
                Param::Inline { len, buf }
            }
            _ => Param::Heap(s.to_owned()),
        };
        self.put(param)
    }

    fn put(&mut self, param: Param) -> Result<(), ParamError> {
        let slot = self.items.iter_mut().find(|p| p.is_none()).ok_or(ParamError::TooMany)?;
        *slot = Some(param);
        Ok(())
    }

    /// The `i`th parameter.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.items.get(i)?.as_ref().map(Param::as_str)
    }

    pub fn len(&self) -> usize {
        self.items.iter().filter(|p| p.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_short_parameters_stay_inline_and_others_are_decoded_onto_the_heap() {
        let mut p = PathParams::default();
        p.push_raw(b"grok").unwrap();
        p.push_raw(b"a%20b%2Fc").unwrap();
        assert_eq!((p.get(0), p.get(1), p.get(2), p.len()), (Some("grok"), Some("a b/c"), None, 2));
        assert!(matches!(p.items[0], Some(Param::Inline { .. })), "a short plain one is inline");
        assert!(matches!(p.items[1], Some(Param::Heap(_))), "an escaped one is decoded");
        let long = "m".repeat(INLINE + 1);
        let q = PathParams::of(&[&"x".repeat(INLINE), &long]);
        assert!(matches!(q.items[0], Some(Param::Inline { .. })), "exactly the inline size");
        assert!(matches!(q.items[1], Some(Param::Heap(_))));
        assert_eq!(q.get(1), Some(long.as_str()));
    }

    #[test]
    fn bad_encoding_and_too_many_are_refused() {
        let mut p = PathParams::default();
        assert_eq!(p.push_raw(b"%zz"), Err(ParamError::BadEncoding));
        assert_eq!(p.push_raw(b"%ff"), Err(ParamError::BadEncoding), "not UTF-8 once decoded");
        assert_eq!(p.push_raw(b"\xff"), Err(ParamError::BadEncoding), "not UTF-8 as sent");
        assert!(p.is_empty());
        p.push_raw(b"a").unwrap();
        p.push_raw(b"b").unwrap();
        assert_eq!(p.push_raw(b"c"), Err(ParamError::TooMany));
        assert_eq!(p, PathParams::of(&["a", "b"]));
        let mut escaped = PathParams::default();
        escaped.push_raw(b"a%20b").unwrap();
        assert_eq!(escaped, PathParams::of(&["a b"]), "equal by text, heap or inline");
        assert_ne!(escaped, PathParams::of(&["a b", "c"]));
        assert_eq!(format!("{escaped:?}"), r#"["a b"]"#, "shown as the texts");
    }
}
