//! Faithful simulators of the upstreams, used by tests, load benchmarks and try-it mode
//! (`orchids-server simulate <channel>`). Each runs its own small HTTP server on its own thread
//! and runtime, separate from the gateway's workers.

pub mod grok;
