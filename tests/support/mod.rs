//! Helpers shared by the integration tests. Each test crate uses a subset.
#![allow(dead_code, unreachable_pub, reason = "each test crate uses a different subset")]

pub mod store;
