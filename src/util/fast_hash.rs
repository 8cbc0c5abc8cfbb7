//! A fast hasher for the per-core maps on the request path, whose keys the operator configures
//! (account ids, upstream hosts, scope names) or that are already hashes the gateway made
//! (account keys). std's default SipHash is built to resist keys chosen by an attacker and costs
//! about 20 cycles per short key; none of these keys come from a client, so a multiply-rotate
//! hash (the one rustc uses for its own tables) is enough and several times cheaper. Maps keyed
//! by client input keep SipHash with random keys (the sticky-session map among them).
//!
//! The hasher also makes the sticky-session key of a conversation's first turns
//! (`proxy::session`): tens of KiB of client text per turn, where SipHash cost six times as
//! much. A client can steer that hash, which only lets it pick its own conversation's sticky
//! slot; the map those keys go into is keyed by SipHash.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Multiply-rotate hashing over 8-byte words (FxHash).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn h<T: std::hash::Hash + ?Sized>(v: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(v)
    }

    #[test]
    fn equal_keys_hash_alike_and_near_keys_apart() {
        assert_eq!(h("account-1"), h(&"account-1".to_owned()));
        let keys = ["", "a", "ab", "ab\0", "account-1", "account-2", "account-10", "api.x.ai", "api.x.ai."];
        let hashes: FastSet<u64> = keys.iter().map(|k| h(*k)).collect();
        assert_eq!(hashes.len(), keys.len(), "no two of these keys collide");
        let mut m: FastMap<String, usize> = FastMap::default();
        for (i, k) in keys.iter().enumerate() {
            m.insert((*k).to_owned(), i);
        }
        assert_eq!(m.get("ab\0"), Some(&3));
        assert_eq!(m.len(), keys.len());
    }
}
