//! A table of values addressed by index, whose freed indices are reused: the per-thread tables
//! that futures register in ([`super::coarse_timer`]'s deadlines, [`super::closing`]'s waiters).
//! A future keeps its index for as long as it lives and gives it back when dropped, so once the
//! table has grown to the most futures alive at once, registering allocates nothing.

/// The table. Not thread-safe: each is owned by one worker thread (inside a `RefCell`).
#[derive(Debug)]
pub struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slots<T> {
    /// Stores `value` in a freed index, or a new one; returns the index.
    pub fn insert(&mut self, value: T) -> usize {
        if let Some(i) = self.free.pop() {
            if let Some(slot) = self.items.get_mut(i) {
                *slot = Some(value);
                return i;
            }
        }
        self.items.push(Some(value));
        self.items.len() - 1
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i)?.as_mut()
    }

    /// Takes the value out and frees its index (`None`, and nothing freed, if it was not in
    /// use). The caller drops the value once it no longer borrows the table: dropping a waker
    /// can drop a task, whose own futures may reach for the table again.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        let value = self.items.get_mut(i)?.take()?;
        self.free.push(i);
        Some(value)
    }

    /// The values in use.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().flatten()
    }

    /// How many values are in use.
    pub fn len(&self) -> usize {
        self.items.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many indices the table has grown to (in use or free).
    pub fn grown_to(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_indices_are_reused_and_each_is_freed_once() {
        let mut s = Slots::default();
        let (a, b) = (s.insert("a"), s.insert("b"));
        assert_eq!((a, b, s.len()), (0, 1, 2));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None, "already free: not freed twice");
        assert_eq!(s.insert("c"), a, "the freed index is taken again");
        assert_eq!(s.insert("d"), 2, "no second copy of the freed index on the free list");
        *s.get_mut(b).unwrap() = "B";
        let mut all: Vec<_> = s.iter_mut().map(|v| *v).collect();
        all.sort_unstable();
        assert_eq!(all, ["B", "c", "d"]);
        assert_eq!((s.len(), s.grown_to(), s.get_mut(7)), (3, 3, None));
        for i in 0..3 {
            s.remove(i);
        }
        assert!(s.is_empty());
    }
}
