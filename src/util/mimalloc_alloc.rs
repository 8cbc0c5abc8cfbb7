//! The global allocator of the server and its tools: mimalloc, asked the way its fast paths
//! expect.
//!
//! The `mimalloc` crate's `GlobalAlloc` hands every request to `mi_malloc_aligned`, whatever
//! its alignment. mimalloc's aligned entry takes its fast path only for blocks of at most 1 KiB;
//! a larger block with any alignment (a request body, a read buffer, a `Vec<u8>` growing past
//! 1 KiB) went through its generic aligned path, and a size that is not a power of two on to the
//! over-allocating fallback: about 1.7k instructions of every proxied request (callgrind,
//! `docs/benchmarks.md`, sixteenth pass). Every mimalloc block is aligned to at least a word
//! (8 bytes on 64-bit targets): its size classes are whole words, its pages start aligned to
//! 16 bytes or more, and larger blocks are page-aligned. So a layout whose alignment is at most
//! a word (every type of ours but the SIMD ones of our dependencies) is asked with plain `mi_malloc`
//! (`mi_zalloc`, `mi_realloc`), and only a larger alignment with the aligned calls;
//! `mi_free` frees either kind. `tests/allocator.rs` runs a binary on it.

use core::ffi::c_void;
use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};

/// The alignment every mimalloc block has (a machine word: 8 bytes here, 4 on a 32-bit target).
const BLOCK_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator: `#[global_allocator] static GLOBAL: Mimalloc = Mimalloc;`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mimalloc;

// SAFETY: each method returns what mimalloc returns for the layout: a block of at least
// `layout.size()` bytes aligned to `layout.align()` (the plain calls only where every mimalloc
// block already has that alignment, see the module docs; the aligned calls otherwise), or null
// on failure; `mi_free` and the reallocs accept any block either kind of call returned, and
// `mi_realloc*` keep the contents up to the smaller size, as `GlobalAlloc` requires.
#[expect(unsafe_code, reason = "a global allocator must implement the unsafe GlobalAlloc trait over mimalloc's C API")]
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; see the impl's comment for the alignment.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract), so from mimalloc.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps its
        // alignment by the same rule as `alloc`.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}
