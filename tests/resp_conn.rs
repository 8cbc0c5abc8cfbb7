//! The pipelined connection against a fake RESP server that dribbles its replies out in tiny
//! pieces: replies split across reads (and large ones spanning many reads) arrive intact and in
//! order. Regression test for reads overwriting a buffered partial reply.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code: failures should be loud; payload bytes are taken mod 251"
)]

use bytes::{Bytes, BytesMut};
use orchids2api::store::RedisSettings;
use orchids2api::store::redis::client::{await_all, open_conn};
use orchids2api::store::redis::resp::{Reply, encode_reply, parse_reply};
use std::io::{Read, Write};
use std::time::Duration;

/// Answers `ECHO x` with bulk `x` and anything else with `+PONG`, writing each reply in pieces
/// of 1..=7 bytes with a pause now and then.
fn fake_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_nodelay(true).unwrap();
        let mut inbuf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        let mut step = 0usize;
        loop {
            let n = match sock.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            inbuf.extend_from_slice(&chunk[..n]);
            let mut out = BytesMut::new();
            while let Some(Reply::Array(args)) = parse_reply(&mut inbuf).unwrap() {
                let reply = match (args.first().and_then(Reply::as_bytes), args.get(1)) {
                    (Some(b"ECHO"), Some(Reply::Bulk(b))) => Reply::Bulk(b.clone()),
                    _ => Reply::Simple(Bytes::from_static(b"PONG")),
                };
                encode_reply(&mut out, &reply).unwrap();
            }
            let mut at = 0;
            while at < out.len() {
                step += 1;
                let end = (at + 1 + step % 7).min(out.len());
                if sock.write_all(&out[at..end]).is_err() {
                    return;
                }
                at = end;
                if step.is_multiple_of(50) {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
            }
        }
    });
    addr
}

#[test]
fn replies_split_across_many_reads_arrive_intact_and_in_order() {
    let addr = fake_server();
    let settings = RedisSettings { addr, timeout: Duration::from_secs(20), ..RedisSettings::default() };
    let payloads: Vec<Vec<u8>> =
        (0..24usize).map(|i| (0..(i * i * 61) % 50_000).map(|j| (j % 251) as u8).collect()).collect();
    let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build();
    rt.unwrap().block_on(async {
        let conn = open_conn(&settings, None).await.unwrap();
        let cmds: Vec<Vec<Vec<u8>>> = payloads.iter().map(|p| vec![b"ECHO".to_vec(), p.clone()]).collect();
        let replies = await_all(&conn, &cmds, settings.timeout).await.unwrap();
        assert_eq!(replies.len(), payloads.len());
        for (i, (r, p)) in replies.iter().zip(&payloads).enumerate() {
            assert_eq!(r.as_bytes(), Some(p.as_slice()), "reply {i} of {} bytes", p.len());
        }
        // The connection is still healthy for the next batch.
        let again = await_all(&conn, &[vec![b"PING".to_vec()]], settings.timeout).await.unwrap();
        assert_eq!(again, vec![Reply::Simple(Bytes::from_static(b"PONG"))]);
    });
}
