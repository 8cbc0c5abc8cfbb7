//! Small helpers shared across modules: JSON output and percent-decoding.

pub mod json;
pub mod percent;
