//! Each upstream timeout is its own error kind: connect, TLS handshake, response head, idle
//! between body bytes, total. The servers here simply never answer (or stop answering), so the
//! short timeouts fire without any race against real work.

#[cfg(test)]
pub mod upstream_support;

use orchids2api::upstream::{ErrorKind, Request, RequestOptions, UpstreamTimeouts};
use std::time::Duration;
use upstream_support::http_server::{BlackHole, Flow, TestServer, raw};
use upstream_support::{client, client_with, on_each_driver, settings};

#[cfg(test)]
fn short(connect: u64, tls: u64, head: u64, idle: u64, total: u64) -> RequestOptions {
    let ms = Duration::from_millis;
    let timeouts =
        UpstreamTimeouts { connect: ms(connect), tls: ms(tls), head: ms(head), idle: ms(idle), total: ms(total) };
    RequestOptions { timeouts: Some(timeouts), ..RequestOptions::default() }
}

#[test]
fn connect_timeout() {
    let hole = BlackHole::new();
    on_each_driver(|| async {
        let req = Request::get(&format!("http://{}/", hole.addr))
            .unwrap()
            .options(short(300, 10_000, 10_000, 10_000, 60_000));
        let err = client().send(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConnectTimeout, "{err}");
        assert_eq!(err.status(), 504);
        assert!(err.retryable_before_first_byte);
    });
}

#[test]
fn tls_handshake_timeout() {
    let server = TestServer::silent();
    on_each_driver(|| async {
        let url = format!("https://127.0.0.1:{}/", server.addr.port());
        let req = Request::get(&url).unwrap().options(short(5_000, 300, 10_000, 10_000, 60_000));
        let err = client().send(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::TlsTimeout, "{err}");
    });
}

#[test]
fn head_timeout() {
    let server = TestServer::start(|_, _| Flow::WaitForClientClose);
    on_each_driver(|| async {
        let req = Request::get(&server.url("/")).unwrap().options(short(5_000, 5_000, 300, 10_000, 60_000));
        let err = client().send(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::HeadTimeout, "{err}");
        assert_eq!(err.metric_label(), "head_timeout");
    });
}

#[test]
fn idle_timeout_between_body_chunks() {
    let server = TestServer::start(|_, w| {
        raw(w, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst");
        Flow::WaitForClientClose
    });
    on_each_driver(|| async {
        let c = client();
        let req = Request::get(&server.url("/")).unwrap().options(short(5_000, 5_000, 5_000, 300, 60_000));
        let mut resp = c.send(req).await.unwrap();
        assert_eq!(&resp.body.chunk().await.unwrap().unwrap()[..], b"first");
        let err = resp.body.chunk().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::IdleTimeout, "{err}");
        // A connection that timed out is never pooled.
        assert_eq!(c.idle_connections(), 0);
    });
}

#[test]
fn total_timeout_caps_a_trickling_body() {
    let server = TestServer::start(|_, w| {
        raw(w, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        // One byte every 50 ms forever: never idle, never finished.
        while w.write_all(b"1\r\nx\r\n").and_then(|()| w.flush()).is_ok() {
            #[expect(
                clippy::disallowed_methods,
                reason = "a test server thread pacing its writes, not synchronisation"
            )]
            std::thread::sleep(Duration::from_millis(50));
        }
        Flow::Close
    });
    on_each_driver(|| async {
        let req = Request::get(&server.url("/")).unwrap().options(short(5_000, 5_000, 5_000, 5_000, 800));
        let mut resp = client().send(req).await.unwrap();
        let mut got = 0;
        let err = loop {
            match resp.body.chunk().await {
                Ok(Some(b)) => got += b.len(),
                Ok(None) => panic!("the body never ends"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind, ErrorKind::TotalTimeout, "{err}");
        assert!(got > 0);
        assert!(!err.retryable_before_first_byte);
    });
}

#[test]
fn configured_timeouts_apply_without_request_overrides() {
    let server = TestServer::start(|_, _| Flow::WaitForClientClose);
    on_each_driver(|| async {
        let mut s = settings();
        s.timeouts.head = Duration::from_millis(200);
        let err = client_with(s, None).send(Request::get(&server.url("/")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::HeadTimeout, "{err}");
    });
}
