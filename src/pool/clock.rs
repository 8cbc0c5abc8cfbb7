//! The pool's time source: wall-clock milliseconds since the Unix epoch, injectable for tests.
//!
//! Every deadline the pool keeps (cooldowns, model unavailability, sticky TTLs, token expiry) is
//! an absolute epoch-ms value, because the same values are persisted by the store and compared
//! with `Retry-After` HTTP dates. Tests use [`Clock::manual`] and move time by hand, so no policy
//! test ever sleeps.
//!
//! A wall-clock step backwards only lengthens the cooldowns already set; a step forwards ends them
//! early. Both are harmless: a cooldown is advice, and the account is re-tried and re-cooled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Real time, or a hand-driven clock shared by every clone (two "cores" in one test share one).
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// `SystemTime::now()`.
    #[default]
    System,
    /// A value moved only by [`Clock::set`] / [`Clock::advance`].
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn system() -> Self {
        Self::System
    }

    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: u64) -> Self {
        Self::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// Now, in ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Self::System => crate::domain::now_ms(),
            Self::Manual(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, ms: u64) {
        if let Self::Manual(t) = self {
            t.fetch_add(ms, Ordering::Relaxed);
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, ms: u64) {
        if let Self::Manual(t) = self {
            t.store(ms, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let a = Clock::manual(1_000);
        let b = a.clone();
        a.advance(500);
        assert_eq!(b.now_ms(), 1_500);
        b.set(7);
        assert_eq!(a.now_ms(), 7);
    }

    #[test]
    fn system_clock_is_epoch_ms_and_ignores_manual_moves() {
        let c = Clock::system();
        let before = c.now_ms();
        c.advance(1_000_000_000);
        assert!(before > 1_600_000_000_000, "epoch ms, got {before}");
        assert!(c.now_ms() < before + 1_000_000_000);
    }
}
