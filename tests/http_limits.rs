//! Limits and hostile input against the real server: head bytes and header count (431), body
//! bytes (413, Content-Length and chunked), request-smuggling framing (400 + close), malformed
//! heads (400), slow clients (408), idle keep-alive close, and max connections per worker.

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{Server, chunked_body, request_with_body};

/// Generous bound for "the server reacted" on a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

/// `n` header lines `X-i: v`.
fn headers(n: usize) -> String {
    (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<Vec<_>>().concat()
}

fn small_limits() -> Server {
    Server::start(&json!({
        "limits": {"max_head_bytes": 1024, "max_headers": 6, "max_body_bytes": 1024}
    }))
}

/// Sends `wire` on a fresh connection and returns the response; asserts the server then closes.
fn refused(s: &Server, wire: &[u8], status: u16) -> support::Response {
    let mut c = s.connect();
    // The server may answer and close before it read everything we send.
    let _ = c.try_send(wire);
    let r = c.read_response();
    assert_eq!(r.status, status, "for {:?}: {r:?}", String::from_utf8_lossy(wire));
    assert!(r.closes(), "an error that ends the connection says so: {r:?}");
    assert!(c.closed_within(BOUND), "connection left open after {status}");
    let _every_error_is_json = r.json();
    r
}

#[test]
fn head_over_max_head_bytes_is_431() {
    let s = small_limits();
    let big = format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(1100));
    let r = refused(&s, big.as_bytes(), 431);
    assert_eq!(r.json()["error"]["type"], "request_header_fields_too_large");
    // Also when the head never ends: the server must not wait for the rest.
    let endless = format!("GET /health HTTP/1.1\r\nX-Big: {}", "a".repeat(1100));
    refused(&s, endless.as_bytes(), 431);
    // Just under the limit is fine.
    let ok = format!("GET /health HTTP/1.1\r\nX-Fits: {}\r\n\r\n", "a".repeat(900));
    let mut c = s.connect();
    c.send(ok.as_bytes());
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn too_many_headers_is_431() {
    let s = small_limits();
    let many: String = headers(7);
    refused(&s, format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes(), 431);
    let six: String = headers(6);
    let mut c = s.connect();
    c.send(format!("GET /health HTTP/1.1\r\n{six}\r\n").as_bytes());
    assert_eq!(c.read_response().status, 200, "exactly max_headers is allowed");
}

#[test]
fn errors_before_routing_take_the_clients_shape() {
    let s = small_limits();
    let many: String = headers(7);
    // Claude: {"type":"error","error":{"type":…,"message":…}}.
    let r = refused(&s, format!("POST /v1/messages HTTP/1.1\r\n{many}\r\n").as_bytes(), 431);
    let j = r.json();
    assert_eq!(j["type"], "error", "{j}");
    assert_eq!(j["error"]["type"], "invalid_request_error");
    assert!(j["error"]["message"].as_str().is_some_and(|m| m.contains("header")), "{j}");
    // OpenAI: {"error":{"message":…,"type":…,"param":null,"code":…}}.
    let r = refused(&s, format!("POST /v1/chat/completions HTTP/1.1\r\n{many}\r\n").as_bytes(), 431);
    let j = r.json();
    assert_eq!(j["error"]["type"], "invalid_request_error", "{j}");
    assert!(j["error"]["param"].is_null());
    assert!(j.get("type").is_none());
    // Ours: {"error":{"type":…,"message":…,"status":…}}.
    let r = refused(&s, format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes(), 431);
    assert_eq!(r.json()["error"]["status"], 431);
}

#[test]
fn body_over_limit_is_413_for_content_length() {
    let s = small_limits();
    let body = vec![b'x'; 1025];
    let r = refused(&s, &request_with_body("POST", "/debug/echo", &body, ""), 413);
    assert_eq!(r.json()["error"]["type"], "payload_too_large");
    let mut c = s.connect();
    c.send(&request_with_body("POST", "/debug/echo", &body[..1024], ""));
    assert_eq!(c.read_response().body.len(), 1024, "exactly max_body_bytes is allowed");
}

#[test]
fn body_over_limit_is_413_for_chunked() {
    let s = small_limits();
    let piece = [b'y'; 300];
    let mut wire = b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    wire.extend_from_slice(&chunked_body(&[&piece, &piece, &piece, &piece]));
    refused(&s, &wire, 413);
    // One huge declared chunk is refused too, without waiting for its data.
    let huge = b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\nabc";
    refused(&s, huge, 413);
}

#[test]
fn smuggling_framing_is_400_and_close() {
    let s = Server::start(&json!({}));
    let cases: &[&[u8]] = &[
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /debug/echo HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n",
    ];
    for case in cases {
        // A smuggled request rides along: it must never be answered.
        let mut wire = case.to_vec();
        wire.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = refused(&s, &wire, 400);
        assert_eq!(r.json()["error"]["type"], "bad_request");
    }
    // Duplicate but equal Content-Length is accepted.
    let mut c = s.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.read_response().text(), "abc");
}

#[test]
fn malformed_heads_are_400() {
    let s = Server::start(&json!({}));
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /health HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /health HTTP/1.1\r\nBad Name: v\r\n\r\n",
        b"GET http://elsewhere/health HTTP/1.1\r\n\r\n",
        b"GET health HTTP/1.1\r\n\r\n",
        b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n",
        b"GET /he\x7fth HTTP/1.1\r\n\r\n",
    ];
    for case in cases {
        refused(&s, case, 400);
    }
    // Leading blank lines before a request are tolerated (RFC 9112 §2.2).
    let mut c = s.connect();
    c.send(b"\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn slow_head_gets_408_then_close() {
    let s = Server::start(&json!({"timeouts": {"head_read_ms": 300}}));
    let mut c = s.connect();
    let t0 = Instant::now();
    c.send(b"GET /health HTTP/1.1\r\nHo");
    let r = c.read_response();
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.json()["error"]["type"], "request_timeout");
    assert!(t0.elapsed() >= Duration::from_millis(250), "cut off before the timeout");
    assert!(c.closed_within(BOUND));
}

#[test]
fn slowloris_drip_is_cut_off_by_the_head_deadline() {
    // A byte every 50 ms keeps the socket busy, but the head must complete within
    // head_read_ms of its first byte, not of the last one.
    let s = Server::start(&json!({"timeouts": {"head_read_ms": 300}}));
    let mut c = s.connect();
    let t0 = Instant::now();
    let header = b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut sent = 0;
    while sent < header.len() && t0.elapsed() < BOUND {
        if c.try_send(&header[sent..=sent]).is_err() {
            break;
        }
        sent += 1;
        support::pause(Duration::from_millis(50));
        if !c.silent_for(Duration::from_millis(1)) {
            break;
        }
    }
    let r = c.read_response();
    assert_eq!(r.status, 408, "{r:?}");
    assert!(sent < header.len(), "the server waited for the whole drip");
    assert!(c.closed_within(BOUND));
}

#[test]
fn slow_body_gets_408_then_close() {
    let s = Server::start(&json!({"timeouts": {"body_read_ms": 300}}));
    let mut c = s.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response();
    assert_eq!(r.status, 408, "{r:?}");
    assert!(c.closed_within(BOUND));
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let s = Server::start(&json!({"timeouts": {"keepalive_idle_ms": 300}}));
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    assert!(c.closed_within(BOUND), "idle keep-alive connection stayed open");
    // A connection that never sends anything is closed as well (quietly, no 408).
    let mut quiet = s.connect();
    assert!(quiet.closed_within(BOUND));
    assert!(quiet.buffered().is_empty(), "an idle close sends nothing: {:?}", quiet.buffered());
}

#[test]
fn max_connections_per_worker_holds_the_third_until_one_closes() {
    let s = Server::start(&json!({"workers": 1, "limits": {"max_connections_per_worker": 2}}));
    let mut a = s.connect();
    let mut b = s.connect();
    for c in [&mut a, &mut b] {
        c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read_response().status, 200);
    }
    // The kernel completes the handshake, but the worker does not take the connection.
    let mut third = s.connect();
    third.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(third.silent_for(Duration::from_millis(500)), "third connection served over the limit");
    drop(a);
    let r = third.read_response();
    assert_eq!(r.status, 200, "third connection served once a slot freed");
    // And the limit still holds: with b and third open, a fourth waits.
    let mut fourth = s.connect();
    fourth.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(fourth.silent_for(Duration::from_millis(300)));
    drop(b);
    assert_eq!(fourth.read_response().status, 200);
}
