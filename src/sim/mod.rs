//! In-process simulators of upstreams, for tests, benches and demos only. Nothing here is
//! reachable unless the config opts in (`test_channel: true`, documented as tests-only).

pub mod test_channel;
