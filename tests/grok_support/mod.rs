//! Helpers for the grok simulator tests: start `orchids-server simulate grok --port 0`, read its
//! try-it line, and a tiny blocking HTTP/1.1 client that also reports a cut-off body.

use bytes::BytesMut;
use orchids2api::http::chunked::{Chunk, ChunkedDecoder};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const API_KEY: &str = "xai-simulator-key-0001";
pub(crate) const SSO: &str = "sim-sso-token-0001";
const DEADLINE: Duration = Duration::from_secs(20);

/// A running simulator process (killed on drop).
pub(crate) struct Sim {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) tryit: Value,
}

impl Sim {
    pub(crate) fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orchids-server"))
            .args(["simulate", "grok", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start simulator");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).expect("simulator printed its first line");
        let tryit: Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("first line is JSON: {e}: {line:?}"));
        let web = tryit["channels"]["grok"]["web_base_url"].as_str().expect("web_base_url").to_owned();
        let addr: SocketAddr = web.trim_start_matches("http://").parse().expect("host:port");
        Self { child, addr, tryit }
    }

    pub(crate) fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        request(self.addr, "POST", path, headers, body.as_bytes())
    }

    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, b"")
    }

    /// `POST /v1/chat/completions` with the default key.
    pub(crate) fn api(&self, body: &Value) -> Resp {
        let auth = format!("Bearer {API_KEY}");
        self.post(
            "/v1/chat/completions",
            &[("authorization", &auth), ("content-type", "application/json")],
            &body.to_string(),
        )
    }

    /// `POST /rest/app-chat/conversations/new` with the default sso cookie.
    pub(crate) fn web(&self, body: &Value) -> Resp {
        let cookie = format!("sso={SSO}; sso-rw={SSO}");
        self.post(
            "/rest/app-chat/conversations/new",
            &[("cookie", &cookie), ("content-type", "application/json")],
            &body.to_string(),
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response; `complete` is false when the connection closed before the body ended.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) complete: bool,
    /// Time from sending the request to the end of the head / of the body.
    pub(crate) head_after: Duration,
    pub(crate) body_after: Duration,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is JSON: {e}: {}", self.text()))
    }

    /// SSE `data:` payloads.
    pub(crate) fn sse_data(&self) -> Vec<String> {
        self.text().split("\n\n").filter_map(|frame| frame.strip_prefix("data: ")).map(str::to_owned).collect()
    }
}

pub(crate) fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    send(&mut stream, method, path, headers, body, true);
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf, Instant::now())
}

pub(crate) fn send(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: sim\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    if close {
        req.push_str("connection: close\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
}

/// Reads one response from `stream` (`buf` keeps bytes past it for the next one).
pub(crate) fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>, sent: Instant) -> Resp {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        assert!(fill(stream, buf), "connection closed before the response head: {:?}", String::from_utf8_lossy(buf));
    };
    let head_after = sent.elapsed();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let (body, complete) = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut pending = BytesMut::from(&buf[..]);
        buf.clear();
        loop {
            match dec.decode(&mut pending).expect("valid chunked framing") {
                Chunk::Data(d) => out.extend_from_slice(&d),
                Chunk::Done => {
                    buf.extend_from_slice(&pending);
                    break (out, true);
                }
                Chunk::NeedMore => {
                    let mut more = Vec::new();
                    if !fill(stream, &mut more) {
                        break (out, false);
                    }
                    pending.extend_from_slice(&more);
                }
            }
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while buf.len() < n {
            if !fill(stream, buf) {
                break;
            }
        }
        let complete = buf.len() >= n;
        let body: Vec<u8> = buf.drain(..n.min(buf.len())).collect();
        (body, complete)
    } else {
        while fill(stream, buf) {}
        (std::mem::take(buf), true)
    };
    Resp { status, headers, body, complete, head_after, body_after: sent.elapsed() }
}

fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16 * 1024];
    match stream.read(&mut tmp) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
    }
}
