//! Pooled upstream request round trip on loopback: one keep-alive connection to a local origin
//! (a std thread answering `200 ok`), each iteration = send + read head + read body. Measures
//! the client's per-request overhead (request encoding, pool take/put, head parse, framing).

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "benchmark harness: a panic is a failed run")]

use criterion::{Criterion, criterion_group, criterion_main};
use orchids2api::upstream::{ClientSettings, Request, UpstreamClient, UpstreamShared};
use std::io::{Read, Write};
use std::net::TcpListener;

fn origin() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 8192];
                let mut have = 0;
                loop {
                    let Ok(n) = s.read(&mut buf[have..]) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have += n;
                    // Requests are GETs without bodies: answer each complete head.
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    port
}

fn bench(c: &mut Criterion) {
    let port = origin();
    let url = format!("http://127.0.0.1:{port}/v1/ping");
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().unwrap();
    let client = UpstreamClient::new(UpstreamShared::new(ClientSettings::default_runtime(), None).unwrap());
    c.bench_function("upstream_roundtrip/pooled_get", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = client.send(Request::get(&url).unwrap().header("x-api-key", "k")).await.unwrap();
                let body = resp.body.collect().await.unwrap();
                assert_eq!(&body[..], b"ok");
            });
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
