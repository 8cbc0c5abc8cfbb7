//! Regression: a request whose head and body arrive in several reads must be reassembled, not
//! overwritten (monoio reads into the *start* of a `BytesMut`; the server must read into its
//! spare capacity). Starts the real binary on port 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn head_and_body_split_across_reads() {
    let dir = std::env::temp_dir().join(format!("o2a-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, r#"{"host":"127.0.0.1","port":0,"workers":1,"debug_endpoints":true,"data_dir":"data"}"#)
        .unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_orchids-server"))
            .arg("-c")
            .arg(&cfg)
            .current_dir(&dir)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let parts: [&[u8]; 4] =
        [b"POST /debug/echo HTTP/1.1\r\nHo", b"st: x\r\nContent-Le", b"ngth: 11\r\n\r\nhello", b" world"];
    for p in parts {
        s.write_all(p).unwrap();
        // Give the server time to read each piece on its own (the bug needs separate reads).
        #[expect(clippy::disallowed_methods, reason = "pacing writes so the server sees separate reads")]
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    while !resp.ends_with(b"hello world") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&resp));
        resp.extend_from_slice(&buf[..n]);
    }
    assert!(resp.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&resp));
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

/// The server process, killed however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
