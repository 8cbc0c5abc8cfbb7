//! A header name in lowercase, on the stack, for code that compares one name against many
//! fixed lowercase names (the rate-limit and retry-after readers run on every header of every
//! upstream response): lowering once makes each comparison a plain `memcmp`.

/// Names up to this long are lowered on the stack; longer ones (never a header we read, but
/// the readers accept any name) on the heap.
const STACK: usize = 128;

/// Runs `f` on `name` in ASCII lowercase.
pub fn with_lower<R>(name: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; STACK];
    match buf.get_mut(..name.len()) {
        Some(slot) => {
            slot.copy_from_slice(name);
            slot.make_ascii_lowercase();
            f(slot)
        }
        None => f(&name.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_short_and_long_names() {
        assert_eq!(with_lower(b"X-RateLimit-Reset", <[u8]>::to_vec), b"x-ratelimit-reset");
        assert_eq!(with_lower(b"", <[u8]>::to_vec), b"");
        let long = "A-".repeat(100);
        assert_eq!(with_lower(long.as_bytes(), <[u8]>::to_vec), "a-".repeat(100).as_bytes());
        assert_eq!(with_lower(&[0xC3, 0x89, b'Z'], <[u8]>::to_vec), [0xC3, 0x89, b'z'], "only ASCII changes");
    }
}
