//! Upstream TLS: a local origin with a certificate from a CA generated at test time, trusted
//! through `extra_ca_file`; SNI by name and by IP; keep-alive over TLS; an untrusted
//! certificate is a TLS error.

#[cfg(test)]
pub mod upstream_support;

use orchids2api::upstream::{ErrorKind, Request};
use upstream_support::http_server::{Flow, TestServer, respond};
use upstream_support::tls_ca::{test_ca, test_ca_for};
use upstream_support::{client, client_with, on_each_driver, settings};

#[test]
fn https_with_extra_ca_file_and_keep_alive() {
    let ca = test_ca();
    let server = TestServer::start_tls(ca.server.clone(), |req, w| {
        respond(w, 200, &[("x-path", &req.path)], &vec![b'z'; 50_000]);
        Flow::Keep
    });
    on_each_driver(|| async {
        let before = server.counters.accepts();
        let c = client_with(settings(), Some(&ca.ca_file));
        for (i, host) in ["localhost", "localhost", "127.0.0.1"].iter().enumerate() {
            let resp = c.send(Request::get(&server.https_url(host, &format!("/t{i}"))).unwrap()).await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.header_str("x-path"), Some(format!("/t{i}").as_str()));
            let body = resp.body.collect().await.unwrap();
            assert_eq!(body.len(), 50_000);
        }
        // Two origins (localhost and 127.0.0.1 are different pool keys), one connection each.
        assert_eq!(server.counters.accepts() - before, 2);
        assert_eq!(c.pool_stats().reused, 1);
    });
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let ca = test_ca();
    let server = TestServer::start_tls(ca.server.clone(), |_, w| {
        respond(w, 200, &[], b"never");
        Flow::Keep
    });
    on_each_driver(|| async {
        let err = client().send(Request::get(&server.https_url("localhost", "/")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Tls, "{err}");
        assert!(err.context.contains("localhost"), "{err}");
    });
}

#[test]
fn wrong_server_name_is_a_tls_error() {
    let ca = test_ca_for(&["other.test"]);
    let server = TestServer::start_tls(ca.server.clone(), |_, w| {
        respond(w, 200, &[], b"never");
        Flow::Keep
    });
    on_each_driver(|| async {
        // Trusted CA, but the certificate names other.test, not localhost.
        let c = client_with(settings(), Some(&ca.ca_file));
        let err = c.send(Request::get(&server.https_url("localhost", "/")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Tls, "{err}");
        assert_eq!(server.counters.requests(), 0);
    });
}
