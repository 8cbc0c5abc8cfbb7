//! The process from outside: graceful shutdown on SIGTERM (in-flight requests and streams
//! finish, new connections are refused, exit 0), grace expiry, and the command line (`--check`
//! on good and broken configs, `--version`, unknown flags, a bad `--driver`).

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use serde_json::json;
use std::net::TcpStream;
use std::time::Duration;
use support::{Server, TempDir, poll_until, run_cli};

/// Generous bound for "the process reacted" on a loaded machine.
const BOUND: Duration = Duration::from_secs(10);

fn exits_zero(s: &mut Server, within: Duration) {
    let status = s.wait_exit(within).unwrap_or_else(|| panic!("still running; log:\n{}", s.log()));
    assert_eq!(status.code(), Some(0), "exit status {status:?}; log:\n{}", s.log());
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let mut s = Server::start(&json!({"timeouts": {"shutdown_grace_ms": 20_000}}));
    let mut c = s.connect();
    // Prove the connection is being served, then start the slow request on it.
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /debug/sleep/1500 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Pacing only: the request must be read before the signal, and nothing observable marks
    // that moment (the sleep is 1500 ms, so 300 ms leaves a wide margin on both sides).
    support::pause(Duration::from_millis(300));
    s.sigterm();
    assert!(s.wait_for_line(BOUND, |l| l.contains("draining")).is_some(), "no drain log line; log:\n{}", s.log());
    let addr = s.addr;
    let refused = poll_until(BOUND, || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).err());
    assert!(refused.is_some(), "new connections still accepted while draining");
    let r = c.read_response();
    assert_eq!(r.status, 200, "in-flight request cut off: {r:?}");
    assert_eq!(r.json()["slept_ms"], 1500);
    assert!(r.closes(), "a response during drain closes its connection");
    assert!(c.closed_within(BOUND));
    exits_zero(&mut s, BOUND);
    assert!(s.lines().iter().any(|l| l.contains("shutdown complete")), "log:\n{}", s.log());
}

#[test]
fn sigterm_lets_an_open_stream_finish() {
    let mut s = Server::start(&json!({"timeouts": {"shutdown_grace_ms": 20_000}}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=5&interval_ms=200 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_head().status, 200);
    // The first event proves the stream is open; the signal comes mid-stream.
    let first = String::from_utf8(c.read_chunk().expect("first event")).unwrap();
    assert!(first.contains("\"n\":0"), "{first:?}");
    s.sigterm();
    let mut rest = String::new();
    while let Some(chunk) = c.read_chunk() {
        rest.push_str(&String::from_utf8(chunk).unwrap());
    }
    for n in 1..5 {
        assert!(rest.contains(&format!("\"n\":{n}")), "event {n} missing after SIGTERM: {rest:?}");
    }
    exits_zero(&mut s, BOUND);
}

#[test]
fn idle_connections_are_closed_on_sigterm() {
    let mut s = Server::start(&json!({"timeouts": {"keepalive_idle_ms": 600_000}}));
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    s.sigterm();
    assert!(c.closed_within(BOUND), "idle keep-alive connection survived the drain");
    exits_zero(&mut s, BOUND);
}

#[test]
fn grace_expiry_still_exits_zero_promptly() {
    let mut s = Server::start(&json!({"timeouts": {"shutdown_grace_ms": 200}}));
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /debug/sleep/60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    support::pause(Duration::from_millis(300));
    s.sigterm();
    // Far less than the 60 s sleep: the grace period cut it.
    exits_zero(&mut s, Duration::from_secs(20));
    assert!(c.closed_within(BOUND));
    assert!(c.buffered().is_empty() || !c.buffered().starts_with(b"HTTP/1.1 200"), "the sleep did not finish");
}

#[test]
fn second_signal_exits_at_once() {
    let mut s = Server::start(&json!({"timeouts": {"shutdown_grace_ms": 600_000}}));
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /debug/sleep/60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    support::pause(Duration::from_millis(300));
    s.sigterm();
    assert!(s.wait_for_line(BOUND, |l| l.contains("draining")).is_some());
    s.signal("INT");
    exits_zero(&mut s, Duration::from_secs(20));
}

// --- command line ---------------------------------------------------------------------------

fn shipped_config() -> String {
    format!("{}/config.json", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_the_shipped_config_with_a_one_line_summary() {
    let out = run_cli(&["--check", "-c", &shipped_config()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout {stdout:?} stderr {:?}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(stdout.starts_with("config ok: "), "{stdout:?}");
    assert!(stdout.contains("config.json"));
    // --check never prints secrets.
    assert!(!stdout.contains("change-me-please"));
}

#[test]
fn check_accepts_the_seed_example() {
    let dir = TempDir::new("seed");
    let p = dir.write(
        "seed.json",
        r#"{"port":"3002","store_mode":"redis","redis_addr":"127.0.0.1:6379","admin_user":"admin","admin_pass":"admin123","admin_path":"/admin"}"#,
    );
    let out = run_cli(&["--check", "--config", p.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout:?} {:?}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3002") && stdout.contains("redis"), "{stdout:?}");
    assert!(!stdout.contains("admin123"), "secret printed: {stdout:?}");
}

#[test]
fn check_reports_every_problem_with_file_and_key_path() {
    let dir = TempDir::new("bad");
    let p = dir.write(
        "broken.json",
        r#"{"port":"http","bogus":1,"store_mode":"mongo",
            "limits":{"max_body_bytes":"x","nope":true},
            "timeouts":{"head_read_ms":5}}"#,
    );
    let path = p.to_str().unwrap();
    let out = run_cli(&["--check", "-c", path]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in ["port", "bogus", "store_mode", "limits.max_body_bytes", "limits.nope", "timeouts.head_read_ms"] {
        let line = stderr.lines().find(|l| l.contains(&format!("{key}:")));
        let line = line.unwrap_or_else(|| panic!("no line for {key} in {stderr:?}"));
        assert!(line.contains(path), "line for {key} does not name the file: {line:?}");
    }
    assert!(out.stdout.is_empty(), "problems go to stderr");
    // Without --check the server refuses to start on it.
    let out = run_cli(&["-c", path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("listening on"));
}

#[test]
fn check_reports_invalid_json_and_a_missing_file() {
    let dir = TempDir::new("json");
    let p = dir.write("bad.json", "{\n  \"port\": 1,\n  \"host\": \n}");
    let out = run_cli(&["--check", "-c", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4"), "{:?}", String::from_utf8_lossy(&out.stderr));
    let missing = dir.path().join("nope.json");
    let out = run_cli(&["--check", "-c", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json"));
}

#[test]
fn version_prints_the_crate_version() {
    let out = run_cli(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("orchids-server {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_flag_fails_with_argh_usage() {
    let out = run_cli(&["--frobnicate"]);
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("--frobnicate"), "{all:?}");
}

#[test]
fn bad_driver_is_refused() {
    let out = run_cli(&["--driver", "kqueue", "-c", &shipped_config()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kqueue"));
}

#[test]
fn several_epoll_workers_drain_and_exit_zero() {
    let mut s = support::ServerBuilder::new()
        .driver("epoll")
        .workers(2)
        .config(&json!({"timeouts": {"shutdown_grace_ms": 20_000}}))
        .start();
    assert_eq!(s.health()["driver"], "epoll");
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /debug/sleep/800 HTTP/1.1\r\nHost: t\r\n\r\n");
    support::pause(Duration::from_millis(300));
    s.sigterm();
    let r = c.read_response();
    assert_eq!(r.status, 200, "in-flight request cut off: {r:?}");
    exits_zero(&mut s, BOUND);
}

/// A second process may join the port (the listeners' SO_REUSEPORT; `docs/architecture.md`,
/// "Several processes on one port"): it starts on the first one's port, and keeps answering
/// there after the first has exited.
#[test]
fn a_second_process_joins_the_port_and_serves_after_the_first_exits() {
    let mut first = Server::start(&json!({}));
    let second = Server::start(&json!({"port": first.addr.port()}));
    assert_eq!(second.addr, first.addr, "the second process listens elsewhere; log:\n{}", second.log());
    assert_eq!(first.get("/health").status, 200);
    first.sigterm();
    exits_zero(&mut first, BOUND);
    // Every new connection on the port now lands on the second process.
    for _ in 0..5 {
        assert_eq!(second.get("/health").status, 200);
    }
}
