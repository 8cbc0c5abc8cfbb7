//! Small helpers shared across modules: JSON output, a top-level JSON member locator, decimal integers, percent-decoding, a fast
//! hasher for per-core maps, lowercased header names, byte-class scans, eight-bytes-at-a-time
//! masks, the global allocator (mimalloc), allocation counting for benches, a counting waker for
//! tests.

pub mod alloc_count;
pub mod civil;
#[cfg(test)]
pub mod counting_waker;
pub mod decimal;
pub mod fast_hash;
pub mod json;
pub mod json_member;
pub mod lower;
pub mod mimalloc_alloc;
pub mod percent;
pub mod scan;
pub mod swar;
