//! The server's global allocator (`util::mimalloc_alloc`) installed in a binary of its own:
//! blocks of every size and alignment come back aligned, hold what was written through growth
//! and shrinking, and zeroed blocks are zero.

use orchids2api::util::mimalloc_alloc::Mimalloc;

#[global_allocator]
static GLOBAL: Mimalloc = Mimalloc;

#[repr(align(16))]
#[derive(Clone, Copy, Default)]
struct A16(u8);

#[repr(align(64))]
#[derive(Clone, Copy, Default)]
struct A64(u8);

#[repr(align(4096))]
#[derive(Clone, Copy, Default)]
struct A4k(u8);

fn aligned<T>(v: &[T]) -> bool {
    v.as_ptr().addr().is_multiple_of(std::mem::align_of::<T>())
}

#[test]
fn every_size_and_alignment_comes_back_aligned() {
    // Sizes across mimalloc's small (up to 1 KiB), medium and large blocks, none a power of two
    // and some that are.
    for n in (1..2_000).step_by(7).chain([1024, 1025, 4096, 4097, 65_536, 70_001, 1 << 20, (1 << 22) + 3]) {
        let bytes: Vec<u8> = Vec::with_capacity(n);
        let words: Vec<u64> = Vec::with_capacity(n);
        let a16 = vec![A16::default(); n];
        let a64 = vec![A64::default(); n.min(50_000)];
        assert!(aligned(&words) && aligned(&a16) && aligned(&a64), "{n}");
        assert!(a16.iter().all(|x| x.0 == 0));
        assert!(bytes.capacity() >= n);
    }
    for n in [1, 3, 17] {
        let pages = vec![A4k(1); n];
        assert!(aligned(&pages) && pages.iter().all(|p| p.0 == 1), "{n}");
    }
    // Odd-sized byte blocks in a row: each is still word-aligned (mimalloc's size classes are
    // whole words), which the plain calls rely on for `u64`s and pointers.
    let many: Vec<Vec<u8>> = (1..300).map(|n| vec![1u8; n * 3]).collect();
    assert!(many.iter().all(|v| v.as_ptr().addr().is_multiple_of(std::mem::size_of::<usize>())));
    let boxed: Vec<Box<u64>> = (0..300).map(Box::new).collect();
    assert!(boxed.iter().all(|b| std::ptr::from_ref::<u64>(b).addr().is_multiple_of(8)));
}

#[test]
fn growth_and_shrinking_keep_the_contents_and_the_alignment() {
    // Byte `i` holds `i % 251`, wide element `i` holds `i % 7`.
    let byte = |i: usize| u8::try_from(i % 251).unwrap();
    let mut bytes: Vec<u8> = Vec::new();
    let mut wide: Vec<A64> = Vec::new();
    for i in 0..200_000 {
        bytes.push(byte(i));
        if i < 20_000 {
            wide.push(A64(u8::try_from(i % 7).unwrap()));
            assert!(aligned(&wide));
        }
    }
    assert!(bytes.iter().enumerate().all(|(i, &b)| b == byte(i)));
    bytes.truncate(3_000);
    bytes.shrink_to_fit();
    assert!(bytes.iter().enumerate().all(|(i, &b)| b == byte(i)));
    wide.truncate(100);
    wide.shrink_to_fit();
    assert!(aligned(&wide) && wide.iter().enumerate().all(|(i, w)| usize::from(w.0) == i % 7));
}

#[test]
fn zeroed_blocks_are_zero_even_where_a_block_was_used_before() {
    for round in 0..3 {
        for n in [8, 100, 1_000, 5_000, 100_000, 3_000_000] {
            let dirty = vec![0xa5u8; n];
            drop(dirty);
            let zeroed = vec![0u8; n];
            assert!(zeroed.iter().all(|&b| b == 0), "round {round}, {n} bytes");
            // `u128` is 16-byte aligned and `vec![0; n]` of it asks for zeroed memory: the
            // aligned zeroing call.
            let dirty = vec![u128::MAX; n / 16 + 1];
            drop(dirty);
            let wide = vec![0u128; n / 16 + 1];
            assert!(aligned(&wide) && wide.iter().all(|&w| w == 0));
        }
    }
}
