//! Helpers shared by the integration tests. Each test crate uses a subset.
#![expect(unreachable_pub, reason = "helpers are shared by several test crates")]

pub mod store;
