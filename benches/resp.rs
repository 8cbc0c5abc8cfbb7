//! Pipelined throughput of our RESP client against the Redis at 127.0.0.1:6379: batches of 16
//! GET / SET / HINCRBY on one connection (one worker's connection), plus the pure codec cost.
//! Compare with `redis-benchmark -P 16 -t get,set -q` (docs/benchmarks.md, "Store").
//! Skips the network benches when no Redis answers. Allocations per command (encode), per reply
//! (decode) and per pipelined batch (the client's whole round trip, reply vector included) are
//! counted by a wrapping global allocator and printed before the timings.

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchids2api::store::redis::resp::{Reply, encode_command, encode_reply, parse_reply};
use orchids2api::store::{RedisSettings, Store, StoreHub, StoreSettings};
use orchids2api::util::alloc_count::{Counting, allocations, per_call};
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

const DEPTH: usize = 16;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Prints the allocations of the codec alone: one encoded command, one decoded bulk reply.
fn codec_allocations(replies: &BytesMut) {
    const N: u64 = 10_000;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "resp: allocations per operation (wrapping allocator, {N} calls each)");
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let per = per_call(N, || {
        if buf.len() > 60 * 1024 {
            buf.clear();
        }
        let _ = encode_command(&mut buf, &[b"SET".as_slice(), b"orchids-bench:key", b"value"]);
    });
    let _ = writeln!(out, "  {:<28} {per}", "encode SET (into reused buf)");
    let mut bufs: Vec<BytesMut> = (0..N).map(|_| replies.clone()).collect();
    let per = per_call(N, || {
        if let Some(mut buf) = bufs.pop() {
            black_box(matches!(parse_reply(&mut buf), Ok(Some(Reply::Bulk(_)))));
        }
    });
    let _ = writeln!(out, "  {:<28} {per}", "decode one bulk reply");
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp_codec");
    g.throughput(Throughput::Elements(DEPTH as u64));
    g.bench_function("encode_16_set", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            for i in 0..DEPTH {
                let _ = encode_command(&mut out, &[b"SET".as_slice(), b"orchids-bench:key", &i.to_le_bytes()]);
            }
            black_box(out.len())
        });
    });
    let mut replies = BytesMut::new();
    for _ in 0..DEPTH {
        let _ =
            encode_reply(&mut replies, &Reply::Bulk(bytes::Bytes::from_static(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")));
    }
    codec_allocations(&replies);
    g.bench_function("decode_16_bulk", |b| {
        b.iter(|| {
            let mut buf = replies.clone();
            let mut n = 0;
            while let Ok(Some(r)) = parse_reply(&mut buf) {
                n += usize::from(matches!(r, Reply::Bulk(_)));
            }
            black_box(n)
        });
    });
    g.finish();
}

fn pipelined(c: &mut Criterion) {
    let settings = RedisSettings { prefix: "orchids-bench:".into(), ..RedisSettings::default() };
    let Ok(hub) = StoreHub::open_with(&StoreSettings::redis(settings)) else {
        let _ = writeln!(std::io::stderr(), "resp bench: no redis on 127.0.0.1:6379, skipping the pipelined benches");
        return;
    };
    let Ok(mut rt) = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build() else {
        return;
    };
    let Store::Redis(store) = hub.handle() else {
        return;
    };
    let mut g = c.benchmark_group("resp_pipelined_p16");
    g.throughput(Throughput::Elements(DEPTH as u64));
    g.measurement_time(Duration::from_secs(5));
    let cases: [(&str, Vec<Vec<Vec<u8>>>); 3] = [
        (
            "set",
            (0..DEPTH)
                .map(|i| vec![b"SET".to_vec(), format!("orchids-bench:k{i}").into_bytes(), b"xxx".to_vec()])
                .collect(),
        ),
        ("get", (0..DEPTH).map(|i| vec![b"GET".to_vec(), format!("orchids-bench:k{i}").into_bytes()]).collect()),
        (
            "hincrby",
            (0..DEPTH)
                .map(|_| vec![b"HINCRBY".to_vec(), b"orchids-bench:h".to_vec(), b"requests".to_vec(), b"1".to_vec()])
                .collect(),
        ),
    ];
    rt.block_on(async {
        const N: u64 = 2_000;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "resp: allocations per pipelined batch of {DEPTH} ({N} batches each)");
        for (name, cmds) in &cases {
            let _ = store.client().exec(cmds, true).await;
            let before = allocations();
            for _ in 0..N {
                black_box(store.client().exec(cmds, true).await.map_or(0, |v| v.len()));
            }
            let n = allocations() - before;
            let _ = writeln!(out, "  {name:<8} {}.{:02} per batch", n / N, n * 100 / N % 100);
        }
    });
    for (name, cmds) in &cases {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let r = store.client().exec(cmds, true).await;
                        black_box(r.map_or(0, |v| v.len()));
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
    rt.block_on(async {
        let _ = store.purge().await;
    });
    hub.close();
}

criterion_group!(benches, codec, pipelined);
criterion_main!(benches);
