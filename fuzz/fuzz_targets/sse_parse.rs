//! SSE parser: never panics, and any split of the input gives the same events (the first byte
//! chooses the cut points), fed copied or as shared reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::upstream::sse::{parse_all, parse_all_shared};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else { return };
    let whole = parse_all([input], 4096);
    let step = usize::from(seed % 17) + 1;
    let split = parse_all(input.chunks(step), 4096);
    assert_eq!(whole, split);
    assert_eq!(whole, parse_all_shared(input.chunks(step), 4096));
    if let Ok(events) = whole {
        for e in events {
            assert!(e.has_data || e.data.is_empty());
        }
    }
});
