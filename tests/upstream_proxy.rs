//! Outbound proxies: HTTP CONNECT and SOCKS5, with and without credentials, to plain and TLS
//! origins; credential failures are `ProxyAuth`; `no_proxy` goes direct; the per-request proxy
//! choice overrides the default.

#[cfg(test)]
pub mod upstream_support;

use orchids2api::upstream::proxy::{NoProxy, ProxyConfig};
use orchids2api::upstream::{ErrorKind, ProxyChoice, Request, RequestOptions, Side};
use std::sync::Arc;
use upstream_support::http_server::{Flow, TestServer, respond};
use upstream_support::proxies::{connect_proxy, socks5_proxy};
use upstream_support::tls_ca::test_ca;
use upstream_support::{client_with, on_each_driver, settings};

#[cfg(test)]
fn via(url: &str) -> RequestOptions {
    RequestOptions { proxy: ProxyChoice::Via(Arc::new(ProxyConfig::parse(url).unwrap())), ..RequestOptions::default() }
}

#[cfg(test)]
fn origin() -> TestServer {
    TestServer::start(|req, w| {
        respond(w, 200, &[], format!("origin saw {}", req.path).as_bytes());
        Flow::Keep
    })
}

#[test]
fn http_connect_with_credentials_plain_and_tls() {
    let plain = origin();
    let ca = test_ca();
    let tls = TestServer::start_tls(ca.server.clone(), |_, w| {
        respond(w, 200, &[], b"tls via proxy");
        Flow::Keep
    });
    let proxy = connect_proxy(Some(("alice", "p@ss:word")));
    on_each_driver(|| async {
        let mut s = settings();
        s.proxy = Some(Arc::new(ProxyConfig::parse(&proxy.url("http", Some(("alice", "p%40ss%3Aword")))).unwrap()));
        let c = client_with(s, Some(&ca.ca_file));
        let before = proxy.tunnels();
        for _ in 0..2 {
            let resp = c.send(Request::get(&plain.url("/a")).unwrap()).await.unwrap();
            assert_eq!(&resp.body.collect().await.unwrap()[..], b"origin saw /a");
        }
        let resp = c.send(Request::get(&tls.https_url("localhost", "/")).unwrap()).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"tls via proxy");
        // One tunnel per origin: the second plain request reused the pooled tunnel.
        assert_eq!(proxy.tunnels() - before, 2);
        assert!(proxy.targets.lock().unwrap().iter().any(|t| t.starts_with("localhost:")));
    });
}

#[test]
fn http_connect_bad_credentials_is_proxy_auth() {
    let plain = origin();
    let proxy = connect_proxy(Some(("alice", "right")));
    on_each_driver(|| async {
        let c = client_with(settings(), None);
        for url in [proxy.url("http", Some(("alice", "wrong"))), proxy.url("http", None)] {
            let err = c.send(Request::get(&plain.url("/")).unwrap().options(via(&url))).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::ProxyAuth, "{err}");
            assert_eq!(err.side, Side::Proxy);
            assert_eq!(err.http_status, Some(407));
            assert!(!err.to_string().contains("wrong"), "the password must not leak: {err}");
        }
        assert_eq!(plain.counters.accepts(), 0);
    });
}

#[test]
fn socks5_with_and_without_credentials() {
    let plain = origin();
    let ca = test_ca();
    let tls = TestServer::start_tls(ca.server.clone(), |_, w| {
        respond(w, 200, &[], b"tls via socks");
        Flow::Keep
    });
    let open = socks5_proxy(None);
    let authed = socks5_proxy(Some(("bob", "secret")));
    on_each_driver(|| async {
        let c = client_with(settings(), Some(&ca.ca_file));
        let resp =
            c.send(Request::get(&plain.url("/s")).unwrap().options(via(&open.url("socks5", None)))).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"origin saw /s");
        let opts = via(&authed.url("socks5h", Some(("bob", "secret"))));
        let resp = c.send(Request::get(&tls.https_url("localhost", "/")).unwrap().options(opts)).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"tls via socks");
        // The proxy got the *name*, so it resolves it (users whose DNS is censored need that).
        assert!(authed.targets.lock().unwrap().iter().any(|t| t.starts_with("localhost:")));
    });
    assert!(open.tunnels() >= 1 && authed.tunnels() >= 1);
}

#[test]
fn socks5_bad_credentials_is_proxy_auth() {
    let plain = origin();
    let authed = socks5_proxy(Some(("bob", "secret")));
    on_each_driver(|| async {
        let c = client_with(settings(), None);
        for url in [authed.url("socks5", Some(("bob", "nope"))), authed.url("socks5", None)] {
            let err = c.send(Request::get(&plain.url("/")).unwrap().options(via(&url))).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::ProxyAuth, "{url}: {err}");
            assert_eq!(err.side, Side::Proxy);
        }
    });
    assert_eq!(authed.tunnels(), 0);
}

#[test]
fn no_proxy_and_direct_bypass_the_default_proxy() {
    let plain = origin();
    let proxy = connect_proxy(None);
    on_each_driver(|| async {
        let mut s = settings();
        s.proxy = Some(Arc::new(ProxyConfig::parse(&proxy.url("http", None)).unwrap()));
        s.no_proxy = NoProxy::parse(&["127.0.0.0/8"]).unwrap();
        let before = proxy.tunnels();
        let c = client_with(s.clone(), None);
        let resp = c.send(Request::get(&plain.url("/direct")).unwrap()).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"origin saw /direct");
        s.no_proxy = NoProxy::default();
        let c = client_with(s, None);
        let direct = RequestOptions { proxy: ProxyChoice::Direct, ..RequestOptions::default() };
        let resp = c.send(Request::get(&plain.url("/d2")).unwrap().options(direct)).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"origin saw /d2");
        assert_eq!(proxy.tunnels(), before);
        let resp = c.send(Request::get(&plain.url("/p")).unwrap()).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"origin saw /p");
        assert_eq!(proxy.tunnels(), before + 1);
    });
}

#[test]
fn unreachable_proxy_is_a_proxy_side_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    on_each_driver(|| async {
        let c = client_with(settings(), None);
        let url = format!("http://127.0.0.1:{port}");
        let err = c.send(Request::get("http://example.invalid/").unwrap().options(via(&url))).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connect, "{err}");
        assert_eq!(err.side, Side::Proxy);
    });
}
