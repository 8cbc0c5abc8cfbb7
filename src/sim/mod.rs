//! Simulators of the upstreams, for tests, load benchmarks, demos and try-it mode.
//!
//! - [`grok`]: a faithful grok simulator (xAI API + grok.com web surfaces), run as
//!   `orchids-server simulate grok` on its own thread and runtime, separate from the workers.
//! - [`test_channel`]: a scripted in-process channel, reachable only when the config opts in
//!   (`test_channel: true`, documented as tests-only).
//! - [`agent_turn`]: a realistic 65 KiB agent request in both client formats, for the request
//!   bench and the load client.

pub mod agent_turn;
pub mod grok;
pub mod test_channel;
