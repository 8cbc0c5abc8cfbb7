//! Shared helpers for the black-box tests in `tests/`: run the real `orchids-server` binary on
//! `127.0.0.1:0` with a temp config, find its port from the log, and talk raw HTTP/1.1 to it.
//!
//! Key components:
//! - [`TempDir`]: a unique scratch directory removed on drop (config file, data dir).
//! - [`ServerBuilder`] / [`Server`]: write the config (defaults + JSON overrides), spawn the binary,
//!   wait for the `listening on 127.0.0.1:PORT` line, keep every stderr line for assertions (a
//!   thread drains the pipe so it never fills), SIGTERM, wait for exit, kill on drop.
//! - [`run_cli`]: run the binary to completion (`--check`, `--version`, bad flags).
//! - [`Conn`]: a raw TCP client that sends exact bytes and reads whole responses (Content-Length,
//!   chunked, or until close), interim `1xx` responses, single chunks (SSE), or EOF.
//!
//! Everything has a deadline; a helper that cannot get what it waits for panics with the
//! server's log attached, so a failing test says why. Later issues add to this file; keep it
//! generic.

// Test-only code: `cfg(test)` lets clippy's allow-*-in-tests cover these helpers too.
#![cfg(test)]

/// Store test helpers (temp dirs, throwaway Redis servers, prefix purging).
pub mod store;

use serde_json::{Value, json};
use std::cell::RefCell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_orchids-server");

/// How long to wait for the server to print its listening line (a loaded 2-core CI box).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Default read timeout of a [`Conn`].
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Sleeps the test thread. Only for pacing what a client sends (a slow client), never to wait
/// for the server: waiting uses reads with deadlines or [`poll_until`].
#[expect(clippy::disallowed_methods, reason = "test-side pacing of a simulated slow client")]
pub fn pause(d: Duration) {
    std::thread::sleep(d);
}

/// Polls `f` every 10 ms until it returns `Some` or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        pause(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Temp directories
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("orchids-test-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// The base test config: loopback, port 0, one worker, debug endpoints on, data in `data_dir`.
/// Timeouts stay at their defaults unless a test overrides them.
pub fn base_config(data_dir: &Path) -> Value {
    json!({
        "host": "127.0.0.1",
        "port": 0,
        "workers": 1,
        "debug_endpoints": true,
        "log_level": "info",
        "data_dir": data_dir.to_string_lossy(),
    })
}

/// Merges `overrides` into `base`: objects merge key by key (recursively), anything else
/// replaces; a `null` override removes the key.
pub fn merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// Builds and starts a server.
#[derive(Debug)]
pub struct ServerBuilder {
    overrides: Value,
    raw_config: Option<String>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    pub fn new() -> Self {
        Self { overrides: json!({}), raw_config: None, args: Vec::new(), envs: Vec::new() }
    }

    /// Merges more JSON into the config (see [`merge`]); may be called several times.
    #[must_use]
    pub fn config(mut self, overrides: &Value) -> Self {
        merge(&mut self.overrides, overrides);
        self
    }

    /// Uses this exact text as the config file instead of the merged JSON.
    #[must_use]
    pub fn raw_config(mut self, text: &str) -> Self {
        self.raw_config = Some(text.to_owned());
        self
    }

    /// `--driver NAME`.
    #[must_use]
    pub fn driver(self, name: &str) -> Self {
        self.arg("--driver").arg(name)
    }

    /// `--workers N`.
    #[must_use]
    pub fn workers(self, n: usize) -> Self {
        self.arg("--workers").arg(&n.to_string())
    }

    #[must_use]
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    #[must_use]
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.envs.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Starts the server and waits for its listening line; panics (with the log) if it exits or
    /// stays silent.
    pub fn start(self) -> Server {
        let dir = TempDir::new("srv");
        let text = if let Some(t) = &self.raw_config {
            t.clone()
        } else {
            let mut cfg = base_config(&dir.path().join("data"));
            merge(&mut cfg, &self.overrides);
            serde_json::to_string_pretty(&cfg).expect("serialise config")
        };
        let config_path = dir.write("config.json", &text);
        let mut cmd = Command::new(BIN);
        cmd.arg("-c").arg(&config_path).args(&self.args);
        cmd.env_remove("RUST_LOG");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn orchids-server");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines: RefCell::new(Vec::new()),
            rx,
            config_path,
            _dir: dir,
        };
        let line = server
            .wait_for_line(START_TIMEOUT, |l| l.contains("listening on "))
            .unwrap_or_else(|| panic!("server did not report its address; log:\n{}", server.log()));
        server.addr = parse_listening(&line).unwrap_or_else(|| panic!("cannot parse address from {line:?}"));
        server
    }
}

/// `... listening on 127.0.0.1:PORT ...` -> the address.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A running `orchids-server`; killed on drop if still running.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: RefCell<Vec<String>>,
    rx: mpsc::Receiver<String>,
    pub config_path: PathBuf,
    _dir: TempDir,
}

impl Server {
    /// Starts a server with the base config plus `overrides`.
    pub fn start(overrides: &Value) -> Self {
        ServerBuilder::new().config(overrides).start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Opens a raw connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// One request on a fresh connection (`Connection: close`), whole response.
    pub fn get(&self, path: &str) -> Response {
        let mut c = self.connect();
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
        c.read_response()
    }

    /// `GET /health` parsed as JSON.
    pub fn health(&self) -> Value {
        let r = self.get("/health");
        assert_eq!(r.status, 200, "health: {r:?}");
        r.json()
    }

    fn pump(&self) {
        let mut lines = self.lines.borrow_mut();
        while let Ok(l) = self.rx.try_recv() {
            lines.push(l);
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.pump();
        self.lines.borrow().clone()
    }

    /// The log so far as one string (for panic messages).
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits for a stderr line (already seen or new) matching `pred`.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.pump();
        if let Some(l) = self.lines.borrow().iter().find(|l| pred(l)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(&l);
                    self.lines.borrow_mut().push(l.clone());
                    if hit {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM (via `kill`, so the tests need no unsafe code).
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    pub fn signal(&self, name: &str) {
        let st = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status();
        assert!(st.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        poll_until(timeout, || child.try_wait().ok().flatten())
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` to completion (killed after 30 s).
pub fn run_cli(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orchids-server");
    if poll_until(START_TIMEOUT, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        panic!("orchids-server {args:?} did not exit within {START_TIMEOUT:?}");
    }
    child.wait_with_output().expect("collect output")
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking.
    pub body: Vec<u8>,
    /// The body was chunked on the wire.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// The server said it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Why a read did not produce what was asked.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or reset) the connection; the bytes read so far are kept in the `Conn`.
    Closed,
    /// Nothing (more) arrived within the timeout.
    Timeout,
    /// The bytes are not a valid HTTP/1.1 response.
    Invalid(String),
}

/// One client connection speaking raw bytes.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set write timeout");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream, buf: Vec::new() }
    }

    pub fn set_timeout(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).expect("set read timeout");
    }

    /// Writes all of `bytes` (panics on failure).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Writes, reporting failure (the server may have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes `bytes` in pieces of `piece` bytes with `gap` between them (a slow client).
    pub fn send_slowly(&mut self, bytes: &[u8], piece: usize, gap: Duration) {
        for p in bytes.chunks(piece.max(1)) {
            self.send(p);
            self.stream.flush().expect("flush");
            pause(gap);
        }
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads once more into the buffer; `Ok(0)` is EOF.
    fn fill(&mut self) -> Result<usize, ReadError> {
        let mut tmp = [0u8; 16 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(ReadError::Timeout),
            Err(_) => Err(ReadError::Closed),
        }
    }

    /// Reads until `n` bytes are buffered.
    fn fill_to(&mut self, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(())
    }

    /// Reads one line (without its CRLF) from the buffer.
    fn line(&mut self) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    /// Reads the next response head (a `1xx` interim head counts).
    pub fn try_read_head(&mut self) -> Result<Response, ReadError> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill()?;
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).map_err(|e| ReadError::Invalid(e.to_string()))?;
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if version != "HTTP/1.1" {
            return Err(ReadError::Invalid(format!("bad status line {status_line:?}")));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ReadError::Invalid(format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        for l in lines {
            let (k, v) = l.split_once(':').ok_or_else(|| ReadError::Invalid(format!("bad header {l:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        Ok(Response { status, reason, headers, body: Vec::new(), chunked })
    }

    pub fn read_head(&mut self) -> Response {
        self.try_read_head().unwrap_or_else(|e| panic!("reading a response head: {e:?}; got {:?}", self.lossy()))
    }

    /// Reads the next chunk of a chunked body: `Some(data)`, or `None` at the last chunk (whose
    /// trailers are consumed too).
    pub fn try_read_chunk(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let size_line = self.line()?;
        let size_text = String::from_utf8_lossy(&size_line);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| ReadError::Invalid(format!("bad chunk size line {size_text:?}")))?;
        if size == 0 {
            while !self.line()?.is_empty() {}
            return Ok(None);
        }
        self.fill_to(size + 2)?;
        if &self.buf[size..size + 2] != b"\r\n" {
            return Err(ReadError::Invalid("chunk data not followed by CRLF".into()));
        }
        let data = self.buf[..size].to_vec();
        self.buf.drain(..size + 2);
        Ok(Some(data))
    }

    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        self.try_read_chunk().unwrap_or_else(|e| panic!("reading a chunk: {e:?}; got {:?}", self.lossy()))
    }

    /// Reads the body that belongs to `head` into it. `no_body`: the request was HEAD (or the
    /// status has no body), so only the head is consumed.
    pub fn try_read_body(&mut self, head: &mut Response, no_body: bool) -> Result<(), ReadError> {
        if no_body || (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            return Ok(());
        }
        if head.chunked {
            while let Some(d) = self.try_read_chunk()? {
                head.body.extend_from_slice(&d);
            }
        } else if let Some(len) = head.header("content-length") {
            let len: usize = len.parse().map_err(|_| ReadError::Invalid(format!("content-length {len:?}")))?;
            self.fill_to(len)?;
            head.body = self.buf.drain(..len).collect();
        } else {
            // Delimited by close.
            loop {
                match self.fill() {
                    Ok(_) => {}
                    Err(ReadError::Closed) => break,
                    Err(e) => return Err(e),
                }
            }
            head.body = std::mem::take(&mut self.buf);
        }
        Ok(())
    }

    /// Reads a whole final response, skipping nothing: a `1xx` is returned as it is.
    pub fn try_read_response(&mut self) -> Result<Response, ReadError> {
        let mut r = self.try_read_head()?;
        self.try_read_body(&mut r, false)?;
        Ok(r)
    }

    pub fn read_response(&mut self) -> Response {
        self.try_read_response().unwrap_or_else(|e| panic!("reading a response: {e:?}; got {:?}", self.lossy()))
    }

    /// Reads the response to a HEAD request (no body follows the head).
    pub fn read_head_response(&mut self) -> Response {
        let mut r = self.read_head();
        self.try_read_body(&mut r, true).expect("head only");
        r
    }

    /// Waits up to `within` for the server to close the connection, discarding what arrives.
    /// True when it closed (EOF or reset), false on timeout.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.set_timeout(left);
            match self.fill() {
                Ok(_) => {}
                Err(ReadError::Closed) => return true,
                Err(_) => return false,
            }
        }
    }

    /// True when nothing at all arrives within `within` and the connection stays open.
    pub fn silent_for(&mut self, within: Duration) -> bool {
        self.set_timeout(within);
        let r = self.fill();
        self.set_timeout(IO_TIMEOUT);
        matches!(r, Err(ReadError::Timeout))
    }

    /// Closes our sending side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// A `Content-Length` request with `body`.
pub fn request_with_body(method: &str, path: &str, body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut out =
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n{extra_headers}\r\n", body.len())
            .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Encodes `pieces` as a chunked body (each piece one chunk) with the last chunk.
pub fn chunked_body(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Splits an SSE stream into frames (text between blank lines), dropping empty ones.
pub fn sse_frames(text: &str) -> Vec<String> {
    text.split("\n\n").filter(|f| !f.trim().is_empty()).map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// Front-ends (Claude / OpenAI proxy endpoints)
// ---------------------------------------------------------------------------------------------

/// One request on a fresh connection (`Connection: close`), whole response read.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut extra = String::from("Connection: close\r\n");
    for (k, v) in headers {
        extra.push_str(k);
        extra.push_str(": ");
        extra.push_str(v);
        extra.push_str("\r\n");
    }
    let mut c = Conn::connect(addr);
    c.set_timeout(Duration::from_secs(30));
    c.send(&request_with_body(method, path, body, &extra));
    c.read_response()
}

/// POSTs a JSON body.
pub fn post_json(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    http(addr, "POST", path, &h, &serde_json::to_vec(body).expect("serialize"))
}

/// SSE events of a body as `(event name, data)` pairs (data lines joined with `\n`).
pub fn sse_events(body: &[u8]) -> Vec<(Option<String>, String)> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for block in sse_frames(&text) {
        let mut event = None;
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                event = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v.to_owned());
            }
        }
        if !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    out
}
