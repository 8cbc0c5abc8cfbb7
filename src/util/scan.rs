//! Byte-class checks over short strings that are nearly always clean (header values, keys,
//! paths): is there any byte of a class at all?
//!
//! `iter().any(…)` stops at the first hit, and that early exit keeps the compiler from
//! vectorising the loop: a clean 20-byte value cost about ten instructions a byte. Folding
//! with `|` has no exit, so the loop goes sixteen or thirty-two bytes a step; on a clean
//! string, which is what these checks nearly always see, that is several times fewer
//! instructions.

/// Whether any byte of `s` satisfies `class` (keep it a comparison or two, which compile
/// branch-free).
#[inline]
pub fn any_byte(s: &[u8], class: impl Fn(u8) -> bool) -> bool {
    s.iter().fold(false, |hit, &b| hit | class(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_byte_of_the_class_anywhere() {
        let crlf = |b: u8| b == b'\r' || b == b'\n';
        assert!(!any_byte(b"", crlf));
        assert!(!any_byte(b"a clean value that is longer than one vector step of 32", crlf));
        for at in 0..40 {
            let mut v = vec![b'x'; 40];
            if let Some(slot) = v.get_mut(at) {
                *slot = b'\n';
            }
            assert!(any_byte(&v, crlf), "hit at {at}");
        }
    }
}
