//! The real binary opens its store at start: embedded by default (data_dir created), a second
//! process on the same data_dir refuses with a clear message, refused Redis credentials stop
//! it, and `/health` reports the store.
#![expect(clippy::unwrap_used, reason = "test code: failures should be loud")]

pub mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::store::temp_dir;

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.json");
    let data = dir.join("data");
    let text = format!(
        r#"{{"host":"127.0.0.1","port":0,"workers":1,"data_dir":{},"log_level":"info"{extra}}}"#,
        serde_json::to_string(&data.display().to_string()).unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_orchids-server"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads stderr until the listening line; returns the port (or the log so far on exit).
fn wait_listening(child: &mut Child) -> Result<u16, String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            return Ok(rest.split_whitespace().next().unwrap().parse().unwrap());
        }
        log.push_str(&line);
        log.push('\n');
    }
    Err(log)
}

fn get_health(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn embedded_store_opens_locks_and_reports_health() {
    let dir = temp_dir("startup");
    let config = write_config(&dir, "");
    let mut first = start(&config);
    let port = wait_listening(&mut first).unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    assert!(dir.join("data").join("LOCK").exists(), "data_dir was not created");
    let health = get_health(port);
    assert!(health.contains(r#""status":"ok","store":"ok","store_mode":"embedded""#), "{health}");

    // A second process on the same data_dir refuses to start and says why.
    let out = Command::new(env!("CARGO_BIN_EXE_orchids-server"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another orchids-server process"), "{err}");

    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its process: a new one starts.
    let mut again = start(&config);
    assert!(wait_listening(&mut again).is_ok());
    again.kill().unwrap();
    again.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn refused_redis_credentials_stop_the_server() {
    let port = support::store::free_port();
    let _redis = support::store::TempRedis::start(port);
    let mut cli = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "CONFIG", "SET", "requirepass", "right-pw"])
        .spawn()
        .unwrap();
    assert!(cli.wait().unwrap().success());
    let dir = temp_dir("startup-redis");
    let extra = format!(r#","store_mode":"redis","redis_addr":"127.0.0.1:{port}","redis_password":"wrong-pw""#);
    let out = Command::new(env!("CARGO_BIN_EXE_orchids-server"))
        .args(["--config", write_config(&dir, &extra).to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused our credentials"), "{err}");
    assert!(!err.contains("wrong-pw"), "the password leaked into the log: {err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn health_says_degraded_while_redis_is_away() {
    let port = support::store::free_port();
    let mut redis = support::store::TempRedis::start(port);
    let dir = temp_dir("startup-degraded");
    let extra =
        format!(r#","store_mode":"redis","redis_addr":"127.0.0.1:{port}","redis_prefix":"orchids-test:health:""#);
    let mut server = start(&write_config(&dir, &extra));
    let http = wait_listening(&mut server).unwrap_or_else(|log| panic!("server did not start:\n{log}"));
    assert!(get_health(http).contains(r#""status":"ok","store":"ok","store_mode":"redis""#));
    redis.kill();
    let degraded =
        support::store::wait_until(Duration::from_secs(10), || get_health(http).contains(r#""status":"degraded""#));
    assert!(degraded, "{}", get_health(http));
    assert!(get_health(http).contains("store_reason"));
    let _back = support::store::TempRedis::start(port);
    let ok = support::store::wait_until(Duration::from_secs(10), || get_health(http).contains(r#""status":"ok""#));
    assert!(ok, "{}", get_health(http));
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
