//! Server-sent event streams through the real server (`/debug/sse`): chunked framing, frames in
//! order and flushed one by one, heartbeats on an idle stream, HTTP/1.0 close-delimited streams,
//! HEAD, pipelining after a stream, and a client that disconnects mid-stream.

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use serde_json::json;
use std::time::Duration;
use support::{Server, sse_frames};

fn ticks(frames: &[String]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| f.starts_with("event: tick\n"))
        .map(|f| {
            let data = f.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
            serde_json::from_str::<serde_json::Value>(data).expect("data is JSON")["n"].as_u64().expect("n")
        })
        .collect()
}

#[test]
fn frames_arrive_chunked_and_in_order() {
    let s = Server::start(&json!({}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=20&interval_ms=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.chunked, "streams are chunked on HTTP/1.1: {r:?}");
    assert!(r.header("content-length").is_none());
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let frames = sse_frames(&r.text());
    for f in &frames {
        assert!(f.starts_with("event: tick\ndata: {"), "bad frame {f:?}");
    }
    assert_eq!(ticks(&frames), (0..20).collect::<Vec<_>>());
    // The stream ended with the last chunk, so the connection is reusable.
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn each_event_is_flushed_on_its_own() {
    let s = Server::start(&json!({}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=3&interval_ms=150 HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head();
    assert_eq!(head.status, 200);
    // Each chunk carries exactly one event: the server does not hold events back to batch them.
    for n in 0..3 {
        let chunk = c.read_chunk().expect("a chunk per event");
        let text = String::from_utf8(chunk).unwrap();
        assert_eq!(ticks(&sse_frames(&text)), vec![n], "chunk {n}: {text:?}");
    }
    assert!(c.read_chunk().is_none(), "then the last chunk");
}

#[test]
fn idle_stream_gets_heartbeats() {
    let s = Server::start(&json!({"timeouts": {"sse_heartbeat_ms": 100}}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=2&interval_ms=700 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    let text = r.text();
    let before_first = text.split("event: tick").next().unwrap();
    assert!(before_first.contains(":\n\n"), "no heartbeat while idle: {text:?}");
    // Heartbeats are comments; the events are still all there, in order.
    assert_eq!(ticks(&sse_frames(&text)), vec![0, 1]);
    for f in sse_frames(&text) {
        assert!(f == ":" || f.starts_with("event: tick\n"), "unexpected frame {f:?}");
    }
}

#[test]
fn http10_stream_is_delimited_by_close() {
    let s = Server::start(&json!({}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=3 HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(!r.chunked, "no chunked encoding on HTTP/1.0");
    assert_eq!(ticks(&sse_frames(&r.text())), vec![0, 1, 2]);
}

#[test]
fn head_on_a_stream_sends_only_the_head() {
    let s = Server::start(&json!({}));
    let mut c = s.connect();
    c.send(b"HEAD /debug/sse?events=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_response();
    assert_eq!(r.status, 200);
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200, "no stream bytes were left on the connection: {r:?}");
}

#[test]
fn request_pipelined_behind_a_stream_is_answered_after_it() {
    let s = Server::start(&json!({}));
    let mut c = s.connect();
    c.send(
        b"GET /debug/sse?events=4&interval_ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(ticks(&sse_frames(&r.text())), vec![0, 1, 2, 3]);
    let r = c.read_response();
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn client_disconnect_mid_stream_is_noticed_and_harmless() {
    let s = Server::start(&json!({"log_level": "debug"}));
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=100000&interval_ms=10 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_head().status, 200);
    for _ in 0..3 {
        assert!(c.read_chunk().is_some());
    }
    drop(c);
    // The producer learns the client went away (so later work can cancel the upstream).
    let line = s.wait_for_line(Duration::from_secs(10), |l| l.contains("client went away"));
    assert!(line.is_some(), "producer never noticed; log:\n{}", s.log());
    // And the server goes on serving.
    assert_eq!(s.get("/health").status, 200);
    let mut c = s.connect();
    c.send(b"GET /debug/sse?events=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(ticks(&sse_frames(&c.read_response().text())), vec![0, 1]);
}

/// The client's socket is watched once a stream has been quiet, also when the heartbeat is
/// shorter than the watch's second: a client that half-closes during the silence (its read 0)
/// ends the stream, although every heartbeat write still succeeds.
#[test]
fn a_quiet_stream_watches_its_client_with_a_short_heartbeat() {
    use std::io::{Read, Write};
    let s = Server::start(&json!({"timeouts": {"sse_heartbeat_ms": 300}}));
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"GET /debug/sse?events=2&interval_ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then heartbeats (the first event is a minute away).
    while !String::from_utf8_lossy(&got).contains(":\n\n") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let left = std::time::Instant::now();
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(left.elapsed() < Duration::from_secs(5), "heartbeats went on for 5 s after the close"),
            Err(e) => panic!("no end of the stream: {e}"),
        }
    }
    assert!(left.elapsed() < Duration::from_secs(5));
}
