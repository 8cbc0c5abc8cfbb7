//! HTTP/1.1 behaviour of the real server over raw TCP: keep-alive, pipelining, request bodies
//! (Content-Length and chunked, also dribbled), `Expect: 100-continue`, HEAD, routing (query,
//! percent-decoded params, 404/405), error body shapes, `/health`, `--workers`, the epoll driver.

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use std::time::Duration;
use support::{Conn, Server, ServerBuilder, chunked_body, request_with_body};

fn server() -> Server {
    Server::start(&serde_json::json!({}))
}

#[test]
fn keep_alive_reuses_one_connection() {
    let s = server();
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r1 = c.read_response();
    assert_eq!(r1.status, 200);
    assert_eq!(r1.header("connection"), Some("keep-alive"));
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r2 = c.read_response();
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json()["status"], "ok");
    // Connection: close is honoured: answered, then closed.
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r3 = c.read_response();
    assert_eq!(r3.status, 200);
    assert!(r3.closes());
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let s = server();
    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    assert!(c.closed_within(Duration::from_secs(5)));

    let mut c = s.connect();
    c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = server();
    let mut c = s.connect();
    // The first request is the slow one: a server answering out of order would put /health
    // first. The echo carries a body so the parser must stop exactly at its end.
    let mut wire = b"GET /debug/sleep/50 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    wire.extend_from_slice(&request_with_body("POST", "/debug/echo", b"second", ""));
    wire.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&wire);
    let r1 = c.read_response();
    assert_eq!((r1.status, r1.json()["slept_ms"].as_u64()), (200, Some(50)));
    let r2 = c.read_response();
    assert_eq!((r2.status, r2.body.as_slice()), (200, &b"second"[..]));
    let r3 = c.read_response();
    assert_eq!((r3.status, r3.json()["status"].as_str()), (200, Some("ok")));
    assert!(c.silent_for(Duration::from_millis(100)), "no extra response expected");
}

#[test]
fn content_length_body_is_echoed() {
    let s = server();
    let mut c = s.connect();
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    c.send(&request_with_body("POST", "/debug/echo", &body, "Content-Type: application/x-test\r\n"));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-test"));
    assert_eq!(r.body, body);
    // The connection is still usable afterwards.
    c.send(&request_with_body("POST", "/debug/echo", b"again", ""));
    assert_eq!(c.read_response().body, b"again");
}

#[test]
fn chunked_body_is_decoded() {
    let s = server();
    let mut c = s.connect();
    let mut wire = b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    wire.extend_from_slice(b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n");
    wire.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&wire);
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "Wikipedia"));
    assert_eq!(c.read_response().status, 200, "the request after the trailers is parsed");
}

#[test]
fn chunked_body_dribbled_across_many_writes() {
    let s = server();
    let mut c = s.connect();
    let pieces: Vec<Vec<u8>> = (0..12u8).map(|i| vec![b'a' + i; usize::from(i) * 7 + 1]).collect();
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let body = chunked_body(&refs);
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    // 3 bytes at a time with a small gap: size lines, CRLFs and data all split across reads.
    c.send_slowly(&body, 3, Duration::from_millis(2));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pieces.concat());
}

#[test]
fn head_dribbled_byte_by_byte() {
    let s = server();
    let mut c = s.connect();
    c.send_slowly(b"GET /debug/sleep/%31 HTTP/1.1\r\nHost: t\r\n\r\n", 1, Duration::from_millis(1));
    let r = c.read_response();
    assert_eq!(r.json()["slept_ms"], 1);
}

#[test]
fn expect_continue_gets_100_then_the_response() {
    let s = server();
    let mut c = s.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_head();
    assert_eq!(interim.status, 100, "{interim:?}");
    c.send(b"hello");
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));

    // Chunked with Expect as well.
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.read_head().status, 100);
    c.send(&chunked_body(&[b"abc"]));
    assert_eq!(c.read_response().text(), "abc");
}

#[test]
fn expect_continue_with_oversized_length_gets_413_without_100() {
    let s = Server::start(&serde_json::json!({"limits": {"max_body_bytes": 1024}}));
    let mut c = s.connect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 413, "no 100 Continue before the refusal: {r:?}");
    assert_eq!(r.json()["error"]["status"], 413);
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn head_request_has_headers_and_no_body() {
    let s = server();
    let mut c = s.connect();
    c.send(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_response();
    assert_eq!(r.status, 200);
    let len: usize = r.header("content-length").expect("content-length").parse().unwrap();
    assert!(len > 10, "HEAD reports the GET body length, got {len}");
    // If a body had been sent it would be parsed as the next response and fail here.
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let r2 = c.read_response();
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json()["status"], "ok");
}

#[test]
fn query_string_is_ignored_by_routing() {
    let s = server();
    let r = s.get("/health?verbose=1&x=%20");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(s.get("/health/?a=b").status, 200);
    assert_eq!(s.get("/nothing?health").status, 404);
}

#[test]
fn path_params_are_percent_decoded() {
    let s = server();
    let r = s.get("/debug/sleep/%31%30");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["slept_ms"], 10);
    assert_eq!(s.get("/debug/sleep/%zz").status, 404, "bad escape never reaches the handler");
    assert_eq!(s.get("/debug/sleep/abc").status, 400, "the handler refuses a non-number");
}

#[test]
fn unknown_path_is_404_json() {
    let s = server();
    let r = s.get("/no/such/thing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["error"]["type"], "not_found");
    assert_eq!(j["error"]["status"], 404);
    assert!(j["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[test]
fn wrong_method_is_405_with_allow() {
    let s = server();
    let mut c = s.connect();
    c.send(b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(r.json()["error"]["type"], "method_not_allowed");
    c.send(b"DELETE /debug/echo HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[test]
fn error_bodies_take_the_clients_shape() {
    let s = server();
    // Claude clients get Anthropic's error envelope, OpenAI clients OpenAI's. (Paths that do not
    // exist under the proxy prefixes; `/v1/messages` itself is a POST route now.)
    let r = s.get("/v1/messages/nope");
    assert_eq!(r.status, 404);
    let j = r.json();
    assert_eq!(j["type"], "error");
    assert_eq!(j["error"]["type"], "not_found_error");
    let r = s.get("/v1/chat/completions/nope");
    assert_eq!(r.status, 404);
    let j = r.json();
    assert_eq!(j["error"]["type"], "not_found_error");
    assert!(j["error"]["param"].is_null());
    assert!(j["error"].get("code").is_some());
    assert!(j.get("type").is_none());
}

#[test]
fn debug_endpoints_are_404_when_disabled() {
    let s = Server::start(&serde_json::json!({"debug_endpoints": false}));
    assert_eq!(s.get("/debug/sleep/1").status, 404);
    assert_eq!(s.get("/health").status, 200);
}

#[test]
fn health_has_the_documented_shape() {
    let s = server();
    let j = s.health();
    assert_eq!(j["status"], "ok");
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    assert!(j["uptime_s"].is_u64());
    assert!(matches!(j["driver"].as_str(), Some("io_uring" | "epoll")), "{j}");
    assert_eq!(j["workers"], 1);
    let r = s.get("/health");
    assert_eq!(r.header("content-type"), Some("application/json"));
    // The banner names the same driver.
    let driver = j["driver"].as_str().unwrap();
    assert!(s.lines().iter().any(|l| l.contains("listening on") && l.contains(&format!("driver={driver}"))));
}

#[test]
fn workers_flag_overrides_the_config() {
    let s = ServerBuilder::new().workers(3).start();
    assert_eq!(s.health()["workers"], 3);
    // Every worker shares the port: many fresh connections are all served.
    for _ in 0..12 {
        assert_eq!(s.get("/health").status, 200);
    }
}

#[test]
fn epoll_driver_serves() {
    let s = ServerBuilder::new().driver("epoll").start();
    let j = s.health();
    assert_eq!(j["driver"], "epoll");
    // The whole request path works on epoll too: keep-alive, bodies, chunked.
    let mut c: Conn = s.connect();
    c.send(&request_with_body("POST", "/debug/echo", b"on epoll", ""));
    assert_eq!(c.read_response().text(), "on epoll");
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send_slowly(&chunked_body(&[b"ab", b"cd"]), 2, Duration::from_millis(1));
    assert_eq!(c.read_response().text(), "abcd");
}

#[test]
fn concurrent_keep_alive_clients_get_their_own_bytes_back() {
    let s = ServerBuilder::new().workers(2).start();
    let addr = s.addr;
    let threads: Vec<_> = (0..16u8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..15u8 {
                    let body = vec![t.wrapping_mul(31).wrapping_add(i); usize::from(i) * 997 + usize::from(t)];
                    if i % 2 == 0 {
                        c.send(&request_with_body("POST", "/debug/echo", &body, ""));
                    } else {
                        c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
                        let halves: Vec<&[u8]> = body.chunks(body.len() / 2 + 1).collect();
                        c.send(&chunked_body(&halves));
                    }
                    let r = c.read_response();
                    assert_eq!(r.status, 200);
                    assert_eq!(r.body, body, "thread {t} request {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

#[test]
fn large_chunked_body_across_many_reads() {
    let s = server();
    let mut c = s.connect();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(7) % 251) as u8).collect();
    let pieces: Vec<&[u8]> = data.chunks(65_536 - 7).collect();
    c.send(b"POST /debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(&chunked_body(&pieces));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "1 MB body came back altered ({} bytes)", r.body.len());
}
