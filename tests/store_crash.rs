//! Crash test for the embedded store: a child process (this test executable re-invoked with
//! `ORCHIDS_CRASH_CHILD=<dir>`) writes in a loop from several tasks and prints one `ack` line per
//! acknowledged write; the parent kills it with SIGKILL at a random moment, reopens the store and
//! checks that every acknowledged write is there. 60 kill points; a tiny snapshot threshold makes
//! snapshot switches happen under the kills too.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::domain::AccountDef;
use orchids2api::store::{CounterDelta, StoreApi, StoreHub, StoreSettings};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::store::{run, temp_dir};

const CHILD_ENV: &str = "ORCHIDS_CRASH_CHILD";
const ROUND_ENV: &str = "ORCHIDS_CRASH_ROUND";
const KILLS: usize = 60;
const TASKS: usize = 4;

fn settings(dir: &Path) -> StoreSettings {
    let mut s = StoreSettings::embedded(dir);
    s.snapshot_bytes = 8 * 1024;
    s
}

/// The child: write forever, acknowledging each durable write on stdout.
fn child(dir: &str, round: usize) {
    let hub = StoreHub::open_with(&settings(Path::new(dir))).expect("child opens the store");
    let store = hub.handle();
    run(async move {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let s = store.clone();
            tasks.push(monoio::spawn(async move {
                for n in 0u64.. {
                    let key = format!("r{round}-t{t}-{n}");
                    s.set_setting(&key, &n.to_string()).await.unwrap();
                    s.incr_counters("acct", &CounterDelta { requests: 1, ..Default::default() }).await.unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key}").unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        drop(out);
        for t in tasks {
            t.await;
        }
    });
}

/// Tiny deterministic PRNG (xorshift) so a failure can be replayed from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let round = std::env::var(ROUND_ENV).ok().and_then(|r| r.parse().ok()).unwrap_or(0);
        child(&dir, round);
        return;
    }
    let dir = temp_dir("crash");
    // The account the children count on.
    let hub = StoreHub::open_with(&settings(&dir)).unwrap();
    let def: AccountDef = serde_json::from_str(r#"{"id":"acct","channel":"grok"}"#).unwrap();
    run(hub.handle().put_account(&def)).unwrap();
    hub.close();
    drop(hub);

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() | 1;
    let mut rng = Rng(u64::from(seed));
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut acked_total = 0u64;
    let mut acks_seen = 0usize;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["every_acknowledged_write_survives_sigkill", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for "ready", then let it write for a random while (0..40 ms) before the kill.
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.ends_with("ready") => break,
                Ok(l) => lines.push(l),
                Err(e) => panic!("round {round}: child never got ready: {e:?} (seed {seed})"),
            }
        }
        let until = Instant::now() + Duration::from_micros(rng.next() % 40_000);
        while let Ok(l) = lines_rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            lines.push(l);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());
        let acked: BTreeSet<String> = lines.iter().filter_map(|l| l.strip_prefix("ack ").map(str::to_owned)).collect();
        acks_seen += acked.len();
        let hub = StoreHub::open_with(&settings(&dir))
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e} (seed {seed})"));
        let s = hub.handle();
        let (settings_now, counter) = run(async {
            let st = s.list_settings().await.unwrap();
            let c = s.get_account("acct").await.unwrap().unwrap().state.counters.requests;
            (st, c)
        });
        for key in &acked {
            assert!(settings_now.contains_key(key), "round {round}: acknowledged {key} lost (seed {seed})");
        }
        // Per task: the durable keys form a prefix 0..=k with no gaps, and k covers every ack.
        for t in 0..TASKS {
            let prefix = format!("r{round}-t{t}-");
            let durable: Vec<u64> =
                settings_now.keys().filter_map(|k| k.strip_prefix(&prefix)).filter_map(|n| n.parse().ok()).collect();
            let max = durable.iter().max().copied();
            if let Some(max) = max {
                assert_eq!(
                    durable.len() as u64,
                    max + 1,
                    "round {round} task {t}: gap in durable writes (seed {seed})"
                );
            }
            for key in acked.iter().filter(|k| k.starts_with(&prefix)) {
                let n: u64 = key.strip_prefix(&prefix).unwrap().parse().unwrap();
                assert!(max.is_some_and(|m| m >= n), "round {round}: {key} acked but not durable (seed {seed})");
            }
            acked_total += durable.len() as u64;
        }
        // An increment is sent only after its setting was acknowledged, and the next setting only
        // after the increment was: so counter <= durable settings, and it trails them by at most
        // one per task per round.
        let slack = TASKS as u64 * (round as u64 + 1);
        assert!(
            counter <= acked_total && counter + slack >= acked_total,
            "round {round}: counter {counter} vs durable settings {acked_total} (seed {seed})"
        );
        hub.close();
        assert!(started.elapsed() < Duration::from_secs(170), "crash test is too slow");
    }
    assert!(acks_seen > KILLS, "the children acknowledged almost nothing ({acks_seen} acks): the test proves nothing");
    std::fs::remove_dir_all(&dir).ok();
}
