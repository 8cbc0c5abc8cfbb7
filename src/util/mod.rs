//! Small helpers shared across modules: JSON output and percent-decoding.

pub mod alloc_count;
pub mod civil;
pub mod json;
pub mod percent;
