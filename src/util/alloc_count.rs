//! A counting global allocator for benches and allocation tests: counts every allocation and
//! reallocation, then defers to the server's allocator, `util::mimalloc_alloc` (so a bench times
//! the allocations the server makes, not glibc's: glibc gives a large freed block back to the
//! kernel and faults its pages in again on the next request, which mimalloc does not). Install
//! it in a bench or test binary with `#[global_allocator] static GLOBAL: Counting = Counting;`
//! and read [`allocations`] around the code under test. The server binary never uses it.

use super::mimalloc_alloc::Mimalloc as Inner;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocations (and reallocations) since the process started.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The counting allocator.
#[derive(Debug, Clone, Copy)]
pub struct Counting;

// SAFETY: every method forwards to the server's allocator with the caller's arguments
// unchanged, so the `GlobalAlloc` contract is exactly its; the counter is a relaxed atomic add.
#[expect(unsafe_code, reason = "a counting global allocator must implement the unsafe GlobalAlloc trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged (see the impl's comment).
        unsafe { Inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { Inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { Inner.realloc(ptr, layout, new_size) }
    }
}

/// The current allocation count.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocations per call of `f` over `calls` calls, as `"W.HH"` (two decimals), for the benches'
/// allocation tables. Needs [`Counting`] installed as the global allocator.
pub fn per_call(calls: u64, mut f: impl FnMut()) -> String {
    let before = allocations();
    for _ in 0..calls {
        f();
    }
    let n = allocations() - before;
    let calls = calls.max(1);
    format!("{}.{:02}", n / calls, n * 100 / calls % 100)
}
