//! `busy_poll_us` through the real server (both drivers): while traffic keeps the worker's spin
//! window open, requests are still served, monoio timers still fire (a debug sleep, the head-read
//! timeout), and once traffic stops the worker stops spinning (an idle server burns no CPU).

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::{Conn, Server, ServerBuilder};

/// CPU time (user + system, clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn spinning_server(driver: &str) -> Server {
    ServerBuilder::new()
        .driver(driver)
        .config(&json!({"busy_poll_us": 10_000, "timeouts": {"head_read_ms": 300}}))
        .start()
}

fn serves_and_fires_timers_while_spinning(driver: &str) {
    let s = spinning_server(driver);
    // Requests back to back on one connection: the 10 ms window never closes meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let traffic = {
        let (stop, served, addr) = (Arc::clone(&stop), Arc::clone(&served), s.addr);
        std::thread::spawn(move || {
            let mut c = Conn::connect(addr);
            while !stop.load(Ordering::Relaxed) {
                c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
                assert_eq!(c.read_response().status, 200);
                served.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    support::poll_until(Duration::from_secs(10), || (served.load(Ordering::Relaxed) > 50).then_some(()))
        .expect("the traffic connection was not served");

    // A timer-driven handler answers while the loop spins.
    let r = s.get("/debug/sleep/50");
    assert_eq!(r.json()["slept_ms"], 50, "{}", r.text());
    // The head-read timeout (a coarse deadline) fires while the loop spins.
    let mut slow = s.connect();
    slow.send(b"GET /health HTTP/1.1\r\nHost: t\r\n");
    let r = slow.read_response();
    assert_eq!(r.status, 408, "{}", r.text());

    let before = served.load(Ordering::Relaxed);
    support::pause(Duration::from_millis(100));
    assert!(served.load(Ordering::Relaxed) > before, "traffic stalled while timers ran");
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();

    // Idle: the window closes and the worker sleeps in the kernel again.
    support::pause(Duration::from_millis(200));
    let t0 = cpu_ticks(s.pid());
    support::pause(Duration::from_secs(1));
    let used = cpu_ticks(s.pid()) - t0;
    // A worker still spinning would use about a whole second (100 ticks at the usual 100 Hz).
    assert!(used < 30, "an idle spinning server used {used} ticks of CPU in 1 s");
}

#[test]
fn spinning_io_uring_serves_and_fires_timers() {
    serves_and_fires_timers_while_spinning("auto");
}

#[test]
fn spinning_epoll_serves_and_fires_timers() {
    serves_and_fires_timers_while_spinning("epoll");
}
