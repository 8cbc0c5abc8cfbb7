//! The WebSocket client against a local echo server with its own (independent) frame codec:
//! text and binary echo, fragmentation both ways, pings both ways, keep-alive pings while
//! waiting, the close handshake, TLS, a CONNECT proxy, and a refused upgrade.

#[cfg(test)]
pub mod upstream_support;

use orchids2api::upstream::proxy::ProxyConfig;
use orchids2api::upstream::ws::WsRequest;
use orchids2api::upstream::ws_frame::{CloseFrame, Message};
use orchids2api::upstream::{ErrorKind, ProxyChoice};
use std::sync::Arc;
use std::time::Duration;
use upstream_support::proxies::connect_proxy;
use upstream_support::tls_ca::test_ca;
use upstream_support::ws_server::{WsCounters, WsServer};
use upstream_support::{client, client_with, eventually, on_each_driver, settings};

#[cfg(test)]
fn text(m: &Message) -> &str {
    match m {
        Message::Text(t) => std::str::from_utf8(t).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn echo_fragmentation_pings_and_close() {
    let server = WsServer::start(None);
    on_each_driver(|| async {
        let c = client();
        let req = WsRequest::new(&server.url("ws", "127.0.0.1", "/agent?token=t"))
            .unwrap()
            .header("origin", "https://www.orchids.app");
        let mut ws = c.websocket(req).await.unwrap();
        assert_eq!(ws.handshake().status, 101);
        assert_eq!(ws.handshake().header_str("x-origin-seen"), Some("https://www.orchids.app"));

        ws.send_text("hello ✓").await.unwrap();
        assert_eq!(text(&ws.recv().await.unwrap()), "hello ✓");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&big).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Binary(big.into()));

        // We fragment; the server reassembles and echoes it whole.
        ws.send_fragmented(true, &[b"par", b"ts ", "✓".as_bytes()]).await.unwrap();
        assert_eq!(text(&ws.recv().await.unwrap()), "parts ✓");
        // The server fragments (with a ping in the middle); we reassemble and answer the ping.
        ws.send_text("fragment-me").await.unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Message::Ping(p) if &p[..] == b"mid"));
        assert_eq!(text(&ws.recv().await.unwrap()), "fragmented");

        // Our ping gets a pong.
        ws.ping(b"are you there").await.unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Message::Pong(p) if &p[..] == b"are you there"));
        // The server's ping gets our automatic pong.
        ws.send_text("server-ping").await.unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Message::Ping(_)));
        assert_eq!(text(&ws.recv().await.unwrap()), "pong-received");

        ws.close(1000, "done").await.unwrap();
        assert!(eventually(Duration::from_secs(5), || WsCounters::get(&server.counters.closes) >= 1).await);
        assert_eq!(ws.recv().await.unwrap_err().kind, ErrorKind::Closed);
        assert!(ws.send_text("late").await.is_err());
    });
}

#[test]
fn server_initiated_close_is_answered() {
    let server = WsServer::start(None);
    on_each_driver(|| async {
        let mut ws = client().websocket(WsRequest::new(&server.url("ws", "127.0.0.1", "/")).unwrap()).await.unwrap();
        let closes = WsCounters::get(&server.counters.closes);
        ws.send_text("close-me").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Close(Some(CloseFrame { code: 1000, reason: "bye".into() })));
        assert!(eventually(Duration::from_secs(5), || WsCounters::get(&server.counters.closes) > closes).await);
    });
}

#[test]
fn keepalive_pings_while_waiting() {
    let server = WsServer::start(None);
    on_each_driver(|| async {
        let mut ws = client().websocket(WsRequest::new(&server.url("ws", "127.0.0.1", "/")).unwrap()).await.unwrap();
        let have = WsCounters::get(&server.counters.pings);
        // The server answers only after three more pings; recv_keepalive must send them while
        // it waits, on the same connection, without losing the pongs in between.
        ws.send_text(&format!("wait-pings:{}", have + 3)).await.unwrap();
        let msg = loop {
            match ws.recv_keepalive(Duration::from_millis(100)).await.unwrap() {
                Message::Pong(_) => {}
                m => break m,
            }
        };
        assert_eq!(text(&msg), format!("pinged {}", have + 3));
    });
}

#[test]
fn idle_timeout_while_waiting_for_a_frame() {
    let server = WsServer::start(None);
    on_each_driver(|| async {
        let mut s = settings();
        s.timeouts.idle = Duration::from_millis(300);
        let mut ws =
            client_with(s, None).websocket(WsRequest::new(&server.url("ws", "127.0.0.1", "/")).unwrap()).await.unwrap();
        let err = ws.recv().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::IdleTimeout, "{err}");
    });
}

#[test]
fn wss_and_through_a_connect_proxy() {
    let ca = test_ca();
    let server = WsServer::start(Some(ca.server.clone()));
    let proxy = connect_proxy(Some(("u", "p")));
    on_each_driver(|| async {
        let c = client_with(settings(), Some(&ca.ca_file));
        let mut ws = c.websocket(WsRequest::new(&server.url("wss", "localhost", "/")).unwrap()).await.unwrap();
        ws.send_text("over tls").await.unwrap();
        assert_eq!(text(&ws.recv().await.unwrap()), "over tls");
        ws.close(1000, "").await.unwrap();

        let mut req = WsRequest::new(&server.url("wss", "localhost", "/")).unwrap();
        req.proxy = ProxyChoice::Via(Arc::new(ProxyConfig::parse(&proxy.url("http", Some(("u", "p")))).unwrap()));
        let before = proxy.tunnels();
        let mut ws = c.websocket(req).await.unwrap();
        ws.send_text("via proxy").await.unwrap();
        assert_eq!(text(&ws.recv().await.unwrap()), "via proxy");
        assert_eq!(proxy.tunnels(), before + 1);
    });
}

#[test]
fn refused_upgrade_carries_the_status() {
    let server = WsServer::start(None);
    on_each_driver(|| async {
        let err =
            client().websocket(WsRequest::new(&server.url("ws", "127.0.0.1", "/deny")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::WsHandshake, "{err}");
        assert_eq!(err.http_status, Some(401));
        assert_eq!(err.failure_class(), None);
    });
}
