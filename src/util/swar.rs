//! Eight bytes at a time in a `u64` ("SWAR"): the word load and the per-byte masks that the
//! byte scanners share (the JSON string and number scans in `translate::jscan`, JSON escaping
//! in `util::json`, header lines in `http::head_lines`).
//!
//! A mask has the high bit of a byte set where that byte is in the class, nothing else. The
//! "has a zero byte" masks ([`equal`], [`below`], [`json_special`]) and [`non_digit`] are exact
//! only for the lowest flagged byte (a borrow or carry can flag bytes above a true one), which
//! is the only one a scanner reads ([`first`]); [`equal_exact`] is exact for every byte of any
//! word, and [`at_least`] and [`at_most`] are exact for every byte but need a word with no byte
//! >= 0x80.

/// 0x01 in every byte.
pub const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
pub const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The eight bytes at `i` as a little-endian word (the byte at `i` lowest), or `None` when
/// fewer than eight are left.
#[inline]
pub fn word_at(buf: &[u8], i: usize) -> Option<u64> {
    let chunk = buf.get(i..i.checked_add(8)?)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    Some(u64::from_le_bytes(word))
}

/// The offset in its word of the lowest flagged byte (8 when `mask` is 0).
#[inline]
pub fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// Bytes equal to `b` (exact for the lowest).
#[inline]
pub fn equal(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Bytes below `n` (`n` <= 0x80; exact for the lowest).
#[inline]
pub fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
}

/// Bytes a JSON string cannot hold as they are: `"`, `\` and controls (exact for the lowest).
#[inline]
pub fn json_special(w: u64) -> u64 {
    equal(w, b'"') | equal(w, b'\\') | below(w, 0x20)
}

/// Bytes >= `lo` (a 7-bit word; exact for every byte: no sum passes 0xff).
#[inline]
pub fn at_least(w: u64, lo: u8) -> u64 {
    (w + ONES * u64::from(0x80 - lo.min(0x80))) & HIGH
}

/// Bytes <= `hi` (a 7-bit word, `hi` < 0x80; exact for every byte).
#[inline]
pub fn at_most(w: u64, hi: u8) -> u64 {
    !(w + ONES * u64::from(0x7f - hi.min(0x7f))) & HIGH
}

/// Bytes equal to `b`, exact for every byte of any word (no carry crosses a byte: each byte's
/// low seven bits plus 0x7f stay below 0x100), so the highest flag can be read too.
#[inline]
pub fn equal_exact(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// Bytes that are not ASCII digits (exact for the lowest: `first` of it is the length of the
/// word's leading run of digits).
#[inline]
pub fn non_digit(w: u64) -> u64 {
    const F0: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let threes = ONES * 0x30;
    // A digit is 0x30..=0x39: its high nibble is 3, and still 3 after adding 6. (A byte of
    // 0xfa or more carries into the next one, but is itself flagged, below that one.)
    let x = ((w & F0) ^ threes) | ((w.wrapping_add(ONES * 6) & F0) ^ threes);
    // Non-zero bytes of `x`, exact for each (no sum passes 0xff).
    (((x & LOW7) + LOW7) | x) & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each byte's flag, lowest first.
    fn flags(mask: u64) -> Vec<bool> {
        (0..8).map(|i| mask >> (i * 8 + 7) & 1 == 1).collect()
    }

    proptest::proptest! {
        /// The lowest flag of a zero-byte mask is the first byte of the class; the 7-bit masks
        /// are right for every byte.
        #[test]
        fn masks_match_byte_tests(bytes in proptest::array::uniform8(proptest::prelude::any::<u8>()), n in 0u8..=0x80, b: u8) {
            let w = u64::from_le_bytes(bytes);
            let lowest = |class: &dyn Fn(u8) -> bool| bytes.iter().position(|&x| class(x)).unwrap_or(8);
            proptest::prop_assert_eq!(first(below(w, n)), lowest(&|x| x < n));
            proptest::prop_assert_eq!(first(equal(w, b)), lowest(&|x| x == b));
            proptest::prop_assert_eq!(first(json_special(w)), lowest(&|x| x < 0x20 || x == b'"' || x == b'\\'));
            let seven = w & LOW7;
            let bytes7 = seven.to_le_bytes();
            let lo = n.min(0x7f);
            proptest::prop_assert_eq!(flags(at_least(seven, lo)), bytes7.iter().map(|&x| x >= lo).collect::<Vec<_>>());
            proptest::prop_assert_eq!(flags(at_most(seven, lo)), bytes7.iter().map(|&x| x <= lo).collect::<Vec<_>>());
            proptest::prop_assert_eq!(flags(equal_exact(w, b)), bytes.iter().map(|&x| x == b).collect::<Vec<_>>());
            proptest::prop_assert_eq!(flags(equal_exact(w, bytes[3])), bytes.iter().map(|&x| x == bytes[3]).collect::<Vec<_>>());
        }
    }

    proptest::proptest! {
        /// The leading digits of a word of digits, their neighbours (`/`, `:`) and any byte.
        #[test]
        fn a_words_leading_digits_are_counted(bytes in proptest::array::uniform8(proptest::prop_oneof![
            b'0'..=b'9',
            proptest::sample::select(vec![b'/', b':', b'.', b'e', b'-', 0x39 + 0x80, 0xfa, 0xff, 0x00]),
            proptest::prelude::any::<u8>(),
        ])) {
            let want = bytes.iter().position(|x| !x.is_ascii_digit()).unwrap_or(8);
            proptest::prop_assert_eq!(first(non_digit(u64::from_le_bytes(bytes))), want);
        }
    }

    /// Every count of leading digits (0 to 8) followed by every byte value.
    #[test]
    fn every_run_of_digits_before_every_byte() {
        for run in 0..=8 {
            for b in 0..=255u8 {
                let mut bytes = [b'7'; 8];
                if let Some(x) = bytes.get_mut(run) {
                    *x = b;
                }
                let want = bytes.iter().position(|x| !x.is_ascii_digit()).unwrap_or(8);
                assert_eq!(first(non_digit(u64::from_le_bytes(bytes))), want, "{run} digits, then {b:#x}");
            }
        }
    }

    #[test]
    fn words_load_little_endian_and_stop_short() {
        assert_eq!(word_at(b"abcdefghi", 1), Some(u64::from_le_bytes(*b"bcdefghi")));
        assert_eq!(word_at(b"abcdefg", 0), None);
        assert_eq!(word_at(b"abcdefgh", usize::MAX), None);
        assert_eq!(first(0), 8);
    }
}
