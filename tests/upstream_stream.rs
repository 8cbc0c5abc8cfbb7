//! A 1 GiB streamed response body with flat memory: the client hands out chunks and forgets
//! them, so resident memory must not grow with the body.

#[cfg(test)]
pub mod upstream_support;

use orchids2api::upstream::{Request, RequestOptions};
use upstream_support::http_server::{Flow, TestServer, raw};
use upstream_support::{client, rss_kib, run};

const GIB: u64 = 1024 * 1024 * 1024;

#[test]
fn one_gib_body_streams_in_flat_memory() {
    let server = TestServer::start(|_, w| {
        raw(w, format!("HTTP/1.1 200 OK\r\ncontent-length: {GIB}\r\n\r\n").as_bytes());
        let block = vec![b'g'; 256 * 1024];
        let mut left = GIB;
        while left > 0 {
            let n = usize::try_from(left.min(block.len() as u64)).unwrap();
            if w.write_all(&block[..n]).is_err() {
                return Flow::Close;
            }
            left -= n as u64;
        }
        Flow::Keep
    });
    run(async {
        let c = client();
        let opts = RequestOptions { max_body_bytes: Some(2 * GIB), ..RequestOptions::default() };
        let mut resp = c.send(Request::get(&server.url("/gib")).unwrap().options(opts)).await.unwrap();
        let baseline = rss_kib();
        let mut peak = baseline;
        let mut total = 0u64;
        let mut chunks = 0u64;
        while let Some(chunk) = resp.body.chunk().await.unwrap() {
            total += chunk.len() as u64;
            chunks += 1;
            if chunks.is_multiple_of(256) {
                peak = peak.max(rss_kib());
            }
        }
        peak = peak.max(rss_kib());
        assert_eq!(total, GIB);
        assert!(resp.body.is_done());
        let grew_mib = (peak.saturating_sub(baseline)) / 1024;
        assert!(grew_mib < 64, "resident memory grew by {grew_mib} MiB while streaming 1 GiB");
        // Fully read and keep-alive: the connection went back to the pool.
        assert_eq!(c.idle_connections(), 1);
    });
}
