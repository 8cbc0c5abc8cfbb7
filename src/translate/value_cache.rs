//! A few decoded values of a request body, kept by their exact bytes, with where they stood:
//! the store under the per-worker request caches for repeated values (`translate::tools_cache`:
//! the `tools` array; `translate::system_cache`: a Claude body's `system` value).
//!
//! An agent's next turn repeats such a value byte for byte, usually at the same distance from
//! the body's start (it comes before the growing conversation) or from its end (it comes after
//! it). [`ValueCache::guess`] looks there first; [`ValueCache::lookup`] takes bytes the caller
//! located itself. Neither records anything: only bytes were compared, and the caller proves
//! the place by decoding the body with the value replaced by its marker. Once that decode read
//! the marker where the top-level member stands, [`ValueCache::seen`] makes the entry the most
//! recently used and moves its guesses to where it stood, so a lookalike (the same bytes one
//! level down) costs its one body the plain decode and moves nothing.
//!
//! Entries are most recently used first: a new entry goes in front and pushes the least
//! recently used one out, and a proven hit moves its entry to the front. A key (a wire format,
//! or nothing) is part of an entry's identity, so a hit can only be the same text in the same
//! kind of body.

use bytes::Bytes;
use std::ops::Range;
use std::rc::Rc;

/// One kept value: its bytes and decoding, and where it stood the last time it was proven.
#[derive(Debug)]
pub struct Entry<K, V: ?Sized> {
    pub key: K,
    /// The value's bytes (a copy: a kept value pins no client's body).
    pub raw: Bytes,
    /// The bytes before it and after it in its body, the last time it was seen.
    head: usize,
    tail: usize,
    pub value: Rc<V>,
}

/// At most `cap` kept values, most recently used first.
#[derive(Debug)]
pub struct ValueCache<K, V: ?Sized> {
    entries: Vec<Entry<K, V>>,
    cap: usize,
}

impl<K: Copy + Eq, V: ?Sized> ValueCache<K, V> {
    /// An empty cache that keeps at most `cap` values (at least one).
    pub const fn new(cap: usize) -> Self {
        Self { entries: Vec::new(), cap }
    }

    /// A kept value of `key` that stands in `body` where it started last time or where it
    /// ended last time (counted from the end): its range and its decoding. Only bytes are
    /// compared, and nothing is recorded.
    pub fn guess(&self, key: K, body: &[u8]) -> Option<(Range<usize>, Rc<V>)> {
        self.entries.iter().filter(|e| e.key == key).find_map(|e| {
            let from_start = Some(e.head..e.head + e.raw.len());
            let from_end = body.len().checked_sub(e.tail).and_then(|end| Some(end.checked_sub(e.raw.len())?..end));
            [from_start, from_end]
                .into_iter()
                .flatten()
                .find(|r| body.get(r.clone()) == Some(&*e.raw))
                .map(|r| (r, Rc::clone(&e.value)))
        })
    }

    /// The decoding of exactly these bytes under `key`. Nothing is recorded.
    pub fn lookup(&self, key: K, raw: &[u8]) -> Option<Rc<V>> {
        self.entries.iter().find(|e| e.key == key && *e.raw == *raw).map(|e| Rc::clone(&e.value))
    }

    /// Records that a decode proved the kept `value` at `span` of a body of `body_len` bytes:
    /// it becomes the most recently used, and the next guesses look there.
    pub fn seen(&mut self, value: &Rc<V>, span: &Range<usize>, body_len: usize) {
        let Some(at) = self.entries.iter().position(|e| Rc::ptr_eq(&e.value, value)) else { return };
        let Some(used) = self.entries.get_mut(..=at) else { return };
        used.rotate_right(1);
        if let Some(hit) = used.first_mut() {
            (hit.head, hit.tail) = (span.start, body_len.saturating_sub(span.end));
        }
    }

    /// Keeps `value`, the decoding of `raw` under `key`, which stood at `span` of a body of
    /// `body_len` bytes; the least recently used value goes when the cache is full.
    pub fn remember(&mut self, key: K, raw: Bytes, span: &Range<usize>, body_len: usize, value: Rc<V>) {
        let (head, tail) = (span.start, body_len.saturating_sub(span.end));
        self.entries.truncate(self.cap.max(1) - 1);
        self.entries.insert(0, Entry { key, raw, head, tail, value });
    }

    /// The kept values, most recently used first.
    pub fn iter(&self) -> impl Iterator<Item = &Entry<K, V>> {
        self.entries.iter()
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes every value out, leaving the cache empty (tests set a worker's cache aside).
    #[cfg(test)]
    #[must_use]
    pub fn take(&mut self) -> Self {
        Self { entries: std::mem::take(&mut self.entries), cap: self.cap }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(c: &ValueCache<u8, str>) -> Vec<&str> {
        c.iter().map(|e| &*e.value).collect()
    }

    fn remember(c: &mut ValueCache<u8, str>, key: u8, raw: &'static [u8], at: usize, body_len: usize) -> Rc<str> {
        let value: Rc<str> = String::from_utf8_lossy(raw).into();
        c.remember(key, Bytes::from_static(raw), &(at..at + raw.len()), body_len, Rc::clone(&value));
        value
    }

    #[test]
    fn a_guess_looks_where_the_value_started_or_ended_last_time_and_records_nothing() {
        let mut c = ValueCache::new(4);
        let v = remember(&mut c, 1, b"[tools]", 3, 20);
        // Same start, longer body.
        let body = b"abc[tools]xxxxxxxxxxxxxxxxxx";
        assert_eq!(c.guess(1, body).map(|(r, _)| r), Some(3..10));
        // Same distance from the end (10 bytes), more before it.
        let body = b"abcdefgh[tools]0123456789";
        assert_eq!(c.guess(1, body).map(|(r, _)| r), Some(8..15));
        assert!(c.guess(2, body).is_none(), "another key");
        assert!(c.guess(1, b"abcdefg[tools]012345678").is_none(), "neither place");
        assert!(c.guess(1, b"[to").is_none(), "a short body");
        assert!(c.lookup(1, b"[tools]").is_some_and(|got| Rc::ptr_eq(&got, &v)));
        assert!(c.lookup(1, b"[tools] ").is_none() && c.lookup(2, b"[tools]").is_none());
        // None of that moved the guesses: the body is still found only at the old places.
        assert!(c.guess(1, b"abcdefg[tools]012345678").is_none());
    }

    #[test]
    fn only_a_proven_place_moves_the_guesses_and_the_order() {
        let mut c = ValueCache::new(2);
        let a = remember(&mut c, 0, b"AAAA", 0, 4);
        let _b = remember(&mut c, 0, b"BBBB", 0, 4);
        assert_eq!(kept(&c), ["BBBB", "AAAA"]);
        // A guess or a lookup of A does not make it the most recently used...
        assert!(c.guess(0, b"AAAA").is_some() && c.lookup(0, b"AAAA").is_some());
        assert_eq!(kept(&c), ["BBBB", "AAAA"]);
        // ...its proof does, and the next body is guessed where it was proven.
        c.seen(&a, &(5..9), 12);
        assert_eq!(kept(&c), ["AAAA", "BBBB"]);
        assert_eq!(c.guess(0, b"xxxxxyyyAAAAzzz").map(|(r, _)| r), Some(8..12), "3 bytes from the end");
        assert_eq!(c.guess(0, b"-----AAAA").map(|(r, _)| r), Some(5..9), "from the start");
        // A third value pushes the least recently used one (B) out.
        let _c = remember(&mut c, 0, b"CCCC", 0, 4);
        assert_eq!(kept(&c), ["CCCC", "AAAA"]);
        // A value that is no longer kept moves nothing.
        let gone: Rc<str> = "BBBB".into();
        c.seen(&gone, &(0..4), 4);
        assert_eq!(kept(&c), ["CCCC", "AAAA"]);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        let mut one = ValueCache::new(0);
        let _ = remember(&mut one, 0, b"1", 0, 1);
        let _ = remember(&mut one, 0, b"2", 0, 1);
        assert_eq!(kept(&one), ["2"], "a cap below one keeps one");
    }
}
