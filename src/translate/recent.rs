//! A short most-recently-used list, the store under `translate::value_cache` (the per-worker
//! request caches that keep a few decoded values by their bytes): the
//! front is the most recently used entry, a new entry goes in front and pushes the least
//! recently used one out, and a hit moves its entry to the front.

/// At most `cap` entries, most recently used first.
#[derive(Debug)]
pub struct Recent<T> {
    entries: Vec<T>,
    cap: usize,
}

impl<T> Recent<T> {
    /// An empty list that keeps at most `cap` entries (at least one).
    pub const fn new(cap: usize) -> Self {
        Self { entries: Vec::new(), cap }
    }

    /// The entries, most recently used first.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.entries.iter()
    }

    /// Moves the entry at `at` to the front and returns it (`None` when there is none there).
    pub fn to_front(&mut self, at: usize) -> Option<&mut T> {
        let used = self.entries.get_mut(..=at)?;
        used.rotate_right(1);
        used.first_mut()
    }

    /// Puts `entry` in front, dropping the least recently used entry when the list is full.
    pub fn push_front(&mut self, entry: T) {
        self.entries.truncate(self.cap.max(1) - 1);
        self.entries.insert(0, entry);
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes every entry out, leaving the list empty (tests set a worker's cache aside).
    #[cfg(test)]
    #[must_use]
    pub fn take(&mut self) -> Self {
        Self { entries: std::mem::take(&mut self.entries), cap: self.cap }
    }
}

impl<'a, T> IntoIterator for &'a Recent<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(r: &Recent<u32>) -> Vec<u32> {
        r.iter().copied().collect()
    }

    #[test]
    fn the_front_is_the_most_recently_used_and_the_back_goes_first() {
        let mut r = Recent::new(3);
        assert!(r.is_empty());
        for v in [1, 2, 3] {
            r.push_front(v);
        }
        assert_eq!(order(&r), [3, 2, 1]);
        assert_eq!(r.to_front(2).copied(), Some(1));
        assert_eq!(order(&r), [1, 3, 2]);
        r.push_front(4);
        assert_eq!(order(&r), [4, 1, 3], "the least recently used (2) went");
        assert_eq!(r.to_front(3), None);
        *r.to_front(0).unwrap() = 5;
        assert_eq!(order(&r), [5, 1, 3]);
        r.clear();
        assert_eq!(r.len(), 0);
        let mut one = Recent::new(0);
        one.push_front(7);
        one.push_front(8);
        assert_eq!(order(&one), [8], "a cap below one keeps one");
    }
}
