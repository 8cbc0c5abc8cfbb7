//! Identifiers the grok channel mints: a random UUID v4 for `x-xai-request-id` (B.1) and
//! `call_<24 hex>` tool-call ids for emulated tool calls (B.5).
//!
//! Randomness comes from std's `RandomState` (SipHash keyed from the OS RNG once per thread,
//! then stepped per instance) mixed with a process-wide counter and the clock: unpredictable
//! enough for request ids, which are not secrets, without pulling in an RNG crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random-looking bits.
pub fn random_u64() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    h.write_u32(nanos);
    h.finish()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
        out.push(char::from(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0')));
    }
}

/// A random UUID v4 in the canonical 8-4-4-4-12 lower-case form.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let (lo, hi) = b.split_at_mut(8);
    lo.copy_from_slice(&random_u64().to_le_bytes());
    hi.copy_from_slice(&random_u64().to_le_bytes());
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let mut s = String::with_capacity(36);
    for (i, range) in [0..4, 4..6, 6..8, 8..10, 10..16].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_hex(&mut s, b.get(range).unwrap_or_default());
    }
    s
}

/// A tool-call id: `call_` + 24 lower-case hex digits.
pub fn call_id() -> String {
    let mut s = String::with_capacity(29);
    s.push_str("call_");
    push_hex(&mut s, &random_u64().to_le_bytes());
    push_hex(&mut s, random_u64().to_le_bytes().get(..4).unwrap_or_default());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
    }

    #[test]
    fn call_id_shape() {
        let c = call_id();
        assert!(c.starts_with("call_"));
        assert_eq!(c.len(), 29);
        assert!(c[5..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(call_id(), c);
    }
}
