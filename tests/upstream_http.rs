//! The upstream HTTP/1.1 client against local origins: keep-alive reuse (counted on the server),
//! body framings, truncated bodies, request bodies, limits, stale pooled connections, DNS
//! failure and cancellation.

#[cfg(test)]
pub mod upstream_support;

use bytes::Bytes;
use orchids2api::upstream::ndjson::NdjsonReader;
use orchids2api::upstream::sse::SseParser;
use orchids2api::upstream::{ErrorKind, Request, RequestBody, RequestOptions, UpstreamClient};
use std::time::Duration;
use upstream_support::http_server::{Flow, TestServer, raw, respond};
use upstream_support::{client, eventually, on_each_driver, run};

#[cfg(test)]
async fn get_body(c: &UpstreamClient, url: &str) -> (u16, Bytes, bool) {
    let resp = c.send(Request::get(url).unwrap()).await.unwrap();
    let status = resp.status();
    let reused = resp.reused_connection;
    (status, resp.body.collect().await.unwrap(), reused)
}

#[test]
fn keep_alive_reuses_one_connection() {
    on_each_driver(|| async {
        let server = TestServer::start(|req, w| {
            respond(w, 200, &[], format!("hello {}", req.path).as_bytes());
            Flow::Keep
        });
        let c = client();
        for i in 0..5 {
            let (status, body, reused) = get_body(&c, &server.url(&format!("/r{i}"))).await;
            assert_eq!(status, 200);
            assert_eq!(body, format!("hello /r{i}").as_bytes());
            assert_eq!(reused, i > 0, "request {i}");
        }
        assert_eq!(server.counters.accepts(), 1, "five requests must share one connection");
        assert_eq!(server.counters.requests(), 5);
        assert_eq!(c.pool_stats().reused, 4);
        assert_eq!(c.idle_connections(), 1);
    });
}

#[test]
fn chunked_and_close_delimited_bodies() {
    on_each_driver(|| async {
        let server = TestServer::start(|req, w| {
            if req.path == "/chunked" {
                raw(w, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: t\r\n\r\n");
                Flow::Keep
            } else {
                raw(w, b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end");
                Flow::Close
            }
        });
        let c = client();
        let (_, body, _) = get_body(&c, &server.url("/chunked")).await;
        assert_eq!(&body[..], b"hello world");
        // The chunked response ended cleanly: its connection is reused for the next request.
        let (_, body, reused) = get_body(&c, &server.url("/close")).await;
        assert_eq!(&body[..], b"until the end");
        assert!(reused);
        // A close-delimited body can never leave a reusable connection.
        let (_, _, reused) = get_body(&c, &server.url("/chunked")).await;
        assert!(!reused);
        assert_eq!(server.counters.accepts(), 2);
    });
}

#[test]
fn response_cut_mid_body_is_closed_error() {
    on_each_driver(|| async {
        let server = TestServer::start(|req, w| {
            match req.path.as_str() {
                "/length" => raw(w, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b"),
                _ => raw(w, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\nshort"),
            }
            Flow::Close
        });
        let c = client();
        for path in ["/length", "/chunked"] {
            let mut resp = c.send(Request::get(&server.url(path)).unwrap()).await.unwrap();
            let mut got = Vec::new();
            let err = loop {
                match resp.body.chunk().await {
                    Ok(Some(b)) => got.extend_from_slice(&b),
                    Ok(None) => panic!("{path}: a truncated body must not end cleanly"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind, ErrorKind::Closed, "{path}: {err}");
            assert!(err.retryable_before_first_byte);
            assert!(!got.is_empty());
            // The failure sticks.
            assert_eq!(resp.body.chunk().await.unwrap_err().kind, ErrorKind::Closed);
        }
        assert_eq!(c.idle_connections(), 0);
    });
}

#[test]
fn request_bodies_full_chunked_and_streamed() {
    on_each_driver(|| async {
        let server = TestServer::start(|req, w| {
            let te = req.header("transfer-encoding").unwrap_or("-").to_owned();
            let cl = req.header("content-length").unwrap_or("-").to_owned();
            let mut body = format!("{} {te} {cl} ", req.method).into_bytes();
            body.extend_from_slice(&req.body);
            respond(w, 200, &[], &body);
            Flow::Keep
        });
        let c = client();
        let url = server.url("/echo");
        let resp = c.send(Request::post(&url, "abc").unwrap()).await.unwrap();
        assert_eq!(&resp.body.collect().await.unwrap()[..], b"POST - 3 abc");
        let parts = vec![Bytes::from_static(b"one "), Bytes::new(), Bytes::from_static(b"two")];
        let req = Request::new(http::Method::PUT, &url).unwrap().body(RequestBody::Chunked(parts));
        assert_eq!(&c.send(req).await.unwrap().body.collect().await.unwrap()[..], b"PUT chunked - one two");
        let (tx, rx) = async_channel::bounded(4);
        monoio::spawn(async move {
            for p in ["s", "tr", "eam"] {
                tx.send(Bytes::from(p)).await.unwrap();
            }
        });
        let req = Request::new(http::Method::POST, &url).unwrap().body(RequestBody::Stream(rx));
        assert_eq!(&c.send(req).await.unwrap().body.collect().await.unwrap()[..], b"POST chunked - stream");
        let big = Bytes::from(vec![b'x'; 300_000]);
        let resp = c.send(Request::post(&url, big).unwrap()).await.unwrap();
        assert_eq!(resp.body.collect().await.unwrap().len(), "POST - 300000 ".len() + 300_000);
        assert_eq!(server.counters.accepts(), 1);
    });
}

#[test]
fn limits_on_head_and_body() {
    run(async {
        let server = TestServer::start(|req, w| {
            match req.path.as_str() {
                "/big-head" => {
                    let h = format!("HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n", "a".repeat(100_000));
                    raw(w, h.as_bytes());
                }
                _ => respond(w, 200, &[], &[b'b'; 5000]),
            }
            Flow::Keep
        });
        let c = client();
        let err = c.send(Request::get(&server.url("/big-head")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::HeadTooLarge, "{err}");
        let opts = RequestOptions { max_body_bytes: Some(1000), ..RequestOptions::default() };
        let req = Request::get(&server.url("/body")).unwrap().options(opts);
        let err = c.send(req).await.unwrap().body.collect().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::BodyTooLarge, "{err}");
        assert!(!err.retryable_before_first_byte);
    });
}

#[test]
fn bad_headers_and_urls_are_invalid_requests() {
    run(async {
        let c = client();
        let req = Request::get("http://127.0.0.1:9/").unwrap().header("x-evil", "a\r\nx-injected: 1");
        let err = c.send(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.context.contains("x-evil") && !err.context.contains("injected"), "{err}");
        assert_eq!(Request::get("ftp://x/").unwrap_err().kind, ErrorKind::InvalidRequest);
    });
}

#[test]
fn stale_pooled_connection_is_retried_transparently() {
    on_each_driver(|| async {
        // Says keep-alive, then closes right after answering.
        let server = TestServer::start(|_, w| {
            respond(w, 200, &[], b"ok");
            Flow::Close
        });
        let c = client();
        for _ in 0..3 {
            let (status, body, _) = get_body(&c, &server.url("/")).await;
            assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        }
        assert_eq!(server.counters.requests(), 3);
        assert_eq!(server.counters.accepts(), 3);
    });
}

#[test]
fn sse_and_ndjson_bodies_parse_across_reads() {
    on_each_driver(|| async {
        let server = TestServer::start(|req, w| {
            let (ct, body): (&str, &[u8]) = if req.path == "/sse" {
                (
                    "text/event-stream",
                    "event: delta\r\ndata: {\"t\":\"héllo\"}\r\n\r\n: ping\n\ndata: a\ndata: b\n\ndata: [DONE]\n\n"
                        .as_bytes(),
                )
            } else {
                ("application/x-ndjson", "{\"a\":\"✓\"}\n\n{\"b\":2}\r\n{\"c\":3}".as_bytes())
            };
            raw(w, format!("HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ntransfer-encoding: chunked\r\n\r\n").as_bytes());
            // Three bytes per chunk: CRLFs and UTF-8 characters straddle reads.
            for piece in body.chunks(3) {
                raw(w, format!("{:x}\r\n", piece.len()).as_bytes());
                raw(w, piece);
                raw(w, b"\r\n");
            }
            raw(w, b"0\r\n\r\n");
            Flow::Keep
        });
        let c = client();
        let mut resp = c.send(Request::get(&server.url("/sse")).unwrap()).await.unwrap();
        assert_eq!(resp.header_str("content-type"), Some("text/event-stream"));
        let mut sse = SseParser::default();
        let mut events = Vec::new();
        while let Some(chunk) = resp.body.chunk().await.unwrap() {
            sse.feed(&chunk);
            while let Some(e) = sse.next_event().unwrap() {
                events.push((String::from_utf8(e.event_type().to_vec()).unwrap(), e.data_str().unwrap().to_owned()));
            }
        }
        let want = [("delta", "{\"t\":\"héllo\"}"), ("message", "a\nb"), ("message", "[DONE]")];
        assert_eq!(events, want.map(|(a, b)| (a.to_owned(), b.to_owned())));

        let mut resp = c.send(Request::get(&server.url("/ndjson")).unwrap()).await.unwrap();
        let mut nd = NdjsonReader::default();
        let mut lines = Vec::new();
        while let Some(chunk) = resp.body.chunk().await.unwrap() {
            nd.feed(&chunk);
            while let Some(l) = nd.next_line().unwrap() {
                lines.push(String::from_utf8(l.to_vec()).unwrap());
            }
        }
        if let Some(l) = nd.finish().unwrap() {
            lines.push(String::from_utf8(l.to_vec()).unwrap());
        }
        assert_eq!(lines, ["{\"a\":\"✓\"}", "{\"b\":2}", "{\"c\":3}"]);
        assert_eq!(server.counters.accepts(), 1);
    });
}

#[test]
fn dns_failure_names_the_host() {
    run(async {
        let c = client();
        let err = c.send(Request::get("http://no-such-upstream.invalid/v1").unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Dns, "{err}");
        assert!(err.context.contains("no-such-upstream.invalid"), "{err}");
        assert_eq!(err.status(), 502);
        assert_eq!(err.metric_label(), "dns");
    });
}

#[test]
fn connection_refused_is_connect_error() {
    run(async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client().send(Request::get(&format!("http://127.0.0.1:{port}/")).unwrap()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connect, "{err}");
        assert!(err.retryable_before_first_byte);
    });
}

#[test]
fn dropping_the_request_closes_the_upstream_connection() {
    on_each_driver(|| async {
        let server = TestServer::start(|_, _| Flow::WaitForClientClose);
        let c = client();
        // The gateway's client goes away while we wait for the head: the future is dropped.
        let r = monoio::time::timeout(Duration::from_millis(300), c.send(Request::get(&server.url("/slow")).unwrap()))
            .await;
        assert!(r.is_err(), "the server never answers");
        assert!(
            eventually(Duration::from_secs(10), || server.counters.client_closed() == 1).await,
            "the upstream must see its connection closed"
        );
        assert_eq!(c.idle_connections(), 0);
    });
}

#[test]
fn dropping_a_streaming_body_closes_the_upstream_connection() {
    on_each_driver(|| async {
        let stopped = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&stopped);
        let server = TestServer::start(move |_, w| {
            raw(w, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            // Stream until the client goes away (writes start failing).
            let chunk = b"6\r\ntick \r\n".repeat(100);
            while w.write_all(&chunk).and_then(|()| w.flush()).is_ok() {}
            seen.fetch_add(1, Ordering::SeqCst);
            Flow::Close
        });
        let c = client();
        let mut resp = c.send(Request::get(&server.url("/stream")).unwrap()).await.unwrap();
        assert!(resp.body.chunk().await.unwrap().is_some());
        drop(resp);
        assert!(
            eventually(Duration::from_secs(10), || stopped.load(Ordering::SeqCst) == 1).await,
            "the upstream's writes must fail once the body is dropped"
        );
        assert_eq!(c.idle_connections(), 0);
        assert_eq!(c.pool_stats().returned, 0);
    });
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
