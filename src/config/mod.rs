//! Configuration: the file model (`config.json`) read strictly into a typed [`Config`].
//!
//! Key components:
//! - [`reader`]: a JSON object reader that records every problem with its key path.
//! - [`model`]: the typed result (`Config`, `Limits`, `Timeouts`, `Secret`).
//! - [`load`] / [`parse`]: file -> `Config`, or every problem found.
//!
//! Unknown keys, wrong types and impossible values are all errors; the server never starts on a
//! config it does not fully understand. Every key is documented in `docs/config.md`.

pub mod accounts;
pub mod channels;
pub mod model;
pub mod reader;

pub use channels::{Channels, GrokChannel};
pub use model::{Config, DriverChoice, Limits, Secret, StoreMode, Timeouts};
pub use reader::{Problem, Problems};

use reader::ObjReader;
use serde_json::Value;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a config could not be used: the file and every problem in it.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "{}: {n} problem{}", self.file.display(), if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {}: {p}", self.file.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        problems: vec![Problem { path: "(file)".into(), message: format!("cannot read: {e}") }],
    })?;
    parse(path, &text)
}

/// Validates config text; `path` only names the file in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError { file: path.to_path_buf(), problems };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        fail(vec![Problem {
            path: format!("(line {}, column {})", e.line(), e.column()),
            message: format!("not valid JSON: {e}"),
        }])
    })?;
    let Value::Object(map) = &value else {
        return Err(fail(vec![Problem {
            path: "(root)".into(),
            message: format!("expected an object, found {}", reader::kind_of(&value)),
        }]));
    };
    let mut p = Problems::default();
    let mut cfg = Config { source: path.to_path_buf(), ..Config::default() };
    let mut r = ObjReader::new("", map);
    read_top(&mut r, &mut p, &mut cfg);
    if let Some(m) = r.object(&mut p, "limits") {
        let mut lr = ObjReader::new("limits", m);
        read_limits(&mut lr, &mut p, &mut cfg.limits);
        lr.finish(&mut p);
    }
    if let Some(m) = r.object(&mut p, "timeouts") {
        let mut tr = ObjReader::new("timeouts", m);
        read_timeouts(&mut tr, &mut p, &mut cfg.timeouts);
        tr.finish(&mut p);
    }
    if let Some(m) = r.object(&mut p, "channels") {
        let mut cr = ObjReader::new("channels", m);
        channels::read_channels(&mut cr, &mut p, &mut cfg.channels);
        cr.finish(&mut p);
    }
    if let Some(items) = r.array(&mut p, "accounts") {
        cfg.accounts = accounts::read_accounts(items, &mut p);
    }
    if let Some(m) = r.object(&mut p, "pool") {
        let mut pr = ObjReader::new("pool", m);
        crate::pool::config::read(&mut pr, &mut p, &mut cfg.pool);
        pr.finish(&mut p);
    }
    read_front(&mut r, &mut p, &mut cfg);
    r.finish(&mut p);
    if p.list.is_empty() { Ok(cfg) } else { Err(fail(p.list)) }
}

fn read_top(r: &mut ObjReader<'_>, p: &mut Problems, cfg: &mut Config) {
    if let Some(port) = r.uint(p, "port", 0, u64::from(u16::MAX)) {
        cfg.port = u16::try_from(port).unwrap_or(cfg.port);
    }
    if let Some(host) = r.string(p, "host") {
        match host.parse::<IpAddr>() {
            Ok(ip) => cfg.host = ip,
            Err(_) => p.push(r.path("host"), format!("expected an IP address, found {host:?}")),
        }
    }
    match r.choice(p, "store_mode", &["embedded", "redis"]) {
        Some("redis") => cfg.store_mode = StoreMode::Redis,
        Some(_) => cfg.store_mode = StoreMode::Embedded,
        None => {}
    }
    if let Some(d) = r.string(p, "data_dir") {
        if d.trim().is_empty() {
            p.push(r.path("data_dir"), "expected a directory path, found an empty string");
        } else {
            cfg.data_dir = PathBuf::from(d);
        }
    }
    if let Some(a) = r.string(p, "redis_addr") {
        if valid_host_port(&a) {
            cfg.redis_addr = a;
        } else {
            p.push(r.path("redis_addr"), format!("expected host:port, found {a:?}"));
        }
    }
    if let Some(s) = r.string(p, "redis_password") {
        cfg.redis_password = Secret::new(s);
    }
    if let Some(db) = r.uint(p, "redis_db", 0, 15) {
        cfg.redis_db = u32::try_from(db).unwrap_or(0);
    }
    if let Some(s) = r.string(p, "redis_prefix") {
        cfg.redis_prefix = s;
    }
    read_store_keys(r, p, cfg);
    if let Some(s) = r.string(p, "admin_user") {
        cfg.admin_user = s;
    }
    if let Some(s) = r.string(p, "admin_pass") {
        cfg.admin_pass = Secret::new(s);
    }
    if let Some(s) = r.string(p, "admin_path") {
        if s.starts_with('/') && s.len() > 1 && !s.ends_with('/') && !s.contains(['?', '#', ' ']) {
            cfg.admin_path = s;
        } else {
            p.push(r.path("admin_path"), format!("expected a path like \"/admin\", found {s:?}"));
        }
    }
    if let Some(s) = r.string(p, "admin_token") {
        if !s.is_empty() && s.len() < 16 {
            p.push(r.path("admin_token"), "expected at least 16 characters (or empty to disable)");
        }
        cfg.admin_token = Secret::new(s);
    }
    if let Some(w) = r.uint(p, "workers", 0, 1024) {
        cfg.workers = usize::try_from(w).unwrap_or(0);
    }
    if let Some(us) = r.uint(p, "busy_poll_us", 0, 10_000) {
        cfg.busy_poll = Duration::from_micros(us);
    }
    if let Some(u) = r.string(p, "public_base_url") {
        let trimmed = u.trim_end_matches('/');
        if trimmed.is_empty() {
            cfg.public_base_url = None;
        } else if (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
            && trimmed.len() > "https://".len()
        {
            cfg.public_base_url = Some(trimmed.to_owned());
        } else {
            p.push(r.path("public_base_url"), format!("expected an http(s) URL, found {u:?}"));
        }
    }
    if let Some(l) = r.choice(p, "log_level", &["error", "warn", "info", "debug", "trace", "off"]) {
        cfg.log_level = l.parse().unwrap_or(log::LevelFilter::Info);
    }
    if let Some(b) = r.boolean(p, "huge_code_pages") {
        cfg.huge_code_pages = b;
    }
    if let Some(b) = r.boolean(p, "debug_endpoints") {
        cfg.debug_endpoints = b;
    }
    read_upstream_top(r, p, cfg);
}

/// `upstream_proxy`, `no_proxy`, `extra_ca_file` (see docs/upstream-client.md).
fn read_upstream_top(r: &mut ObjReader<'_>, p: &mut Problems, cfg: &mut Config) {
    if let Some(u) = r.string(p, "upstream_proxy") {
        if u.trim().is_empty() {
            cfg.upstream_proxy = None;
        } else {
            match crate::upstream::proxy::ProxyConfig::parse(u.trim()) {
                Ok(_) => cfg.upstream_proxy = Some(Secret::new(u.trim())),
                Err(e) => p.push(r.path("upstream_proxy"), e),
            }
        }
    }
    if let Some(list) = r.strings(p, "no_proxy") {
        match crate::upstream::proxy::NoProxy::parse(&list) {
            Ok(_) => cfg.no_proxy = list,
            Err(e) => p.push(r.path("no_proxy"), e),
        }
    }
    if let Some(f) = r.string(p, "extra_ca_file") {
        if f.trim().is_empty() {
            cfg.extra_ca_file = None;
        } else if let Err(e) = crate::upstream::tls::read_pem_certs(Path::new(&f)) {
            p.push(r.path("extra_ca_file"), e);
        } else {
            cfg.extra_ca_file = Some(PathBuf::from(f));
        }
    }
}

/// `api_keys`, `models`, `test_channel` (the client-facing front-ends).
fn read_front(r: &mut ObjReader<'_>, p: &mut Problems, cfg: &mut Config) {
    if let Some(keys) = r.strings(p, "api_keys") {
        for (i, k) in keys.into_iter().enumerate() {
            if k.len() < 8 || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                p.push(format!("api_keys[{i}]"), "expected at least 8 characters without spaces");
            } else {
                cfg.api_keys.push(Secret::new(k));
            }
        }
    }
    if let Some(models) = r.array(p, "models") {
        for (i, m) in models.iter().enumerate() {
            match serde_json::from_value::<crate::domain::ModelDef>(m.clone()) {
                Ok(def) if def.id.trim().is_empty() => {
                    p.push(format!("models[{i}].id"), "expected a non-empty id");
                }
                Ok(def) => cfg.models.push(def),
                Err(e) => p.push(format!("models[{i}]"), e.to_string()),
            }
        }
    }
    if let Some(b) = r.boolean(p, "test_channel") {
        cfg.test_channel = b;
    }
}

/// Store keys added in step 4 (docs/config.md, "Store").
fn read_store_keys(r: &mut ObjReader<'_>, p: &mut Problems, cfg: &mut Config) {
    if let Some(s) = r.string(p, "redis_username") {
        cfg.redis_username = s;
    }
    if let Some(b) = r.boolean(p, "redis_tls") {
        cfg.redis_tls = b;
    }
    if let Some(v) = r.uint(p, "redis_timeout_ms", 50, 600_000) {
        cfg.redis_timeout = Duration::from_millis(v);
    }
    if let Some(v) = r.uint(p, "redis_retry_ms", 0, 600_000) {
        cfg.redis_retry = Duration::from_millis(v);
    }
    if let Some(s) = r.string(p, "secret_key") {
        let ok = s.is_empty() || (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            cfg.secret_key = Secret::new(s);
        } else {
            p.push(r.path("secret_key"), "expected 64 hex characters (openssl rand -hex 32), or empty");
        }
    }
}

fn read_limits(r: &mut ObjReader<'_>, p: &mut Problems, l: &mut Limits) {
    const MIB: u64 = 1024 * 1024;
    if let Some(v) = r.uint(p, "max_head_bytes", 1024, 1024 * 1024) {
        l.max_head_bytes = to_usize(v);
    }
    if let Some(v) = r.uint(p, "max_headers", 4, 1024) {
        l.max_headers = to_usize(v);
    }
    if let Some(v) = r.uint(p, "max_body_bytes", 1024, 4096 * MIB) {
        l.max_body_bytes = to_usize(v);
    }
    if let Some(v) = r.uint(p, "max_connections_per_worker", 1, 1_000_000) {
        l.max_connections_per_worker = to_usize(v);
    }
    if let Some(v) = r.uint(p, "upstream_max_head_bytes", 1024, 1024 * 1024) {
        l.upstream_max_head_bytes = to_usize(v);
    }
    if let Some(v) = r.uint(p, "upstream_max_body_bytes", 1024, 1024 * 1024 * MIB) {
        l.upstream_max_body_bytes = v;
    }
    if let Some(v) = r.uint(p, "upstream_pool_idle_ms", 0, 24 * 3600 * 1000) {
        l.upstream_pool_idle = Duration::from_millis(v);
    }
    if let Some(v) = r.uint(p, "upstream_pool_max_idle_per_origin", 0, 10_000) {
        l.upstream_pool_max_idle_per_origin = to_usize(v);
    }
}

fn read_timeouts(r: &mut ObjReader<'_>, p: &mut Problems, t: &mut Timeouts) {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let mut ms = |key, min, max, slot: &mut Duration| {
        if let Some(v) = r.uint(p, key, min, max) {
            *slot = Duration::from_millis(v);
        }
    };
    ms("head_read_ms", 100, DAY_MS, &mut t.head_read);
    ms("body_read_ms", 100, DAY_MS, &mut t.body_read);
    ms("keepalive_idle_ms", 100, DAY_MS, &mut t.keepalive_idle);
    ms("shutdown_grace_ms", 0, DAY_MS, &mut t.shutdown_grace);
    ms("sse_heartbeat_ms", 100, DAY_MS, &mut t.sse_heartbeat);
    ms("upstream_connect_ms", 10, DAY_MS, &mut t.upstream_connect);
    ms("upstream_tls_ms", 10, DAY_MS, &mut t.upstream_tls);
    ms("upstream_head_ms", 10, DAY_MS, &mut t.upstream_head);
    ms("upstream_idle_ms", 10, DAY_MS, &mut t.upstream_idle);
    ms("upstream_total_ms", 10, DAY_MS, &mut t.upstream_total);
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// `host:port` with a non-empty host and a valid port (IPv6 as `[::1]:6379`).
fn valid_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A one-line summary for `--check` and the start banner (no secrets).
pub fn summary(cfg: &Config) -> String {
    format!(
        "config ok: {} (listen {}:{}, workers {}, store {}, admin {})",
        cfg.source.display(),
        cfg.host,
        cfg.port,
        if cfg.workers == 0 { "auto".to_owned() } else { cfg.workers.to_string() },
        cfg.store_mode.as_str(),
        cfg.admin_path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("t.json"), text)
    }

    #[test]
    fn seed_minimal_example_loads_unchanged() {
        let cfg = check(
            r#"{"port":"3002","store_mode":"redis","redis_addr":"127.0.0.1:6379",
                "admin_user":"admin","admin_pass":"admin123","admin_path":"/admin"}"#,
        )
        .unwrap();
        assert_eq!(cfg.port, 3002);
        assert_eq!(cfg.store_mode, StoreMode::Redis);
        assert_eq!(cfg.admin_pass.expose(), "admin123");
    }

    #[test]
    fn defaults_apply_to_an_empty_object() {
        let cfg = check("{}").unwrap();
        assert_eq!(cfg.port, 3002);
        assert_eq!(cfg.store_mode, StoreMode::Embedded);
        assert_eq!(cfg.admin_path, "/admin");
        assert_eq!(cfg.limits, Limits::default());
    }

    #[test]
    fn huge_code_pages_is_on_by_default_and_a_boolean() {
        assert!(check("{}").unwrap().huge_code_pages);
        assert!(!check(r#"{"huge_code_pages":false}"#).unwrap().huge_code_pages);
        let err = check(r#"{"huge_code_pages":"yes"}"#).unwrap_err();
        assert!(err.problems.iter().any(|p| p.path == "huge_code_pages"), "{err}");
    }

    #[test]
    fn busy_poll_is_off_by_default_and_bounded() {
        assert_eq!(check("{}").unwrap().busy_poll, Duration::ZERO);
        assert_eq!(check(r#"{"busy_poll_us":250}"#).unwrap().busy_poll, Duration::from_micros(250));
        let err = check(r#"{"busy_poll_us":10001}"#).unwrap_err();
        assert!(err.problems.iter().any(|p| p.path == "busy_poll_us"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = check(
            r#"{"port":"http","bogus":1,"limits":{"max_body_bytes":"x","nope":true},
                "timeouts":{"head_read_ms":5},"store_mode":"mongo"}"#,
        )
        .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in ["port", "bogus", "limits.max_body_bytes", "limits.nope", "timeouts.head_read_ms", "store_mode"] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
        assert!(err.to_string().contains("t.json"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let cfg = check(r#"{"admin_pass":"hunter2-secret","admin_token":"0123456789abcdef-tok"}"#).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("0123456789abcdef"));
    }

    #[test]
    fn front_end_keys() {
        let cfg = check(
            r#"{"api_keys":["sk-test-123456"],"test_channel":true,
                "models":[{"id":"m1","channel":"grok","upstream_id":"grok-3","aliases":["m"]}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.api_keys[0].expose(), "sk-test-123456");
        assert!(cfg.test_channel);
        assert_eq!(cfg.models[0].upstream(), "grok-3");
        let err = check(
            r#"{"api_keys":["short", 5],"models":[{"id":"x","channel":"mars"},{"id":"y","channel":"grok","bogus":1}]}"#,
        )
        .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in ["api_keys[0]", "api_keys[1]", "models[0]", "models[1]"] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
        assert!(!check(r#"{"api_keys":["sk-secret-value-1"]}"#).unwrap().api_keys.is_empty());
        assert!(!format!("{:?}", check(r#"{"api_keys":["sk-secret-value-1"]}"#).unwrap()).contains("sk-secret"));
        assert!(!Config::default().test_channel);
    }

    #[test]
    fn upstream_keys_are_read_and_validated() {
        let cfg = check(
            r#"{"upstream_proxy":"socks5://u:pw-secret@127.0.0.1:1080","no_proxy":["localhost","10.0.0.0/8"],
                "timeouts":{"upstream_connect_ms":1500,"upstream_total_ms":60000},
                "limits":{"upstream_max_body_bytes":2048,"upstream_pool_max_idle_per_origin":0}}"#,
        )
        .unwrap();
        assert_eq!(cfg.timeouts.upstream_connect, Duration::from_millis(1500));
        assert_eq!(cfg.timeouts.upstream_total, Duration::from_secs(60));
        assert_eq!(cfg.limits.upstream_max_body_bytes, 2048);
        assert_eq!(cfg.limits.upstream_pool_max_idle_per_origin, 0);
        assert_eq!(cfg.no_proxy, vec!["localhost".to_owned(), "10.0.0.0/8".to_owned()]);
        assert!(!format!("{cfg:?}").contains("pw-secret"));
        let err = check(
            r#"{"upstream_proxy":"ftp://x:1","no_proxy":["a b"],"extra_ca_file":"/nonexistent/ca.pem",
                "timeouts":{"upstream_head_ms":1}}"#,
        )
        .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in ["upstream_proxy", "no_proxy", "extra_ca_file", "timeouts.upstream_head_ms"] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
    }

    #[test]
    fn store_keys_are_read_and_checked() {
        let cfg = check(
            r#"{"redis_username":"gw","redis_tls":true,"redis_timeout_ms":500,"redis_retry_ms":0,
                "secret_key":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}"#,
        )
        .unwrap();
        assert_eq!(cfg.redis_username, "gw");
        assert!(cfg.redis_tls);
        assert_eq!(cfg.redis_timeout, Duration::from_millis(500));
        assert!(!format!("{cfg:?}").contains("0102030405"));
        let err = check(r#"{"secret_key":"short","redis_timeout_ms":1}"#).unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"secret_key") && paths.contains(&"redis_timeout_ms"), "{paths:?}");
    }

    #[test]
    fn invalid_json_names_the_line() {
        let err = check("{\n \"port\": }").unwrap_err();
        assert!(err.problems[0].path.contains("line 2"));
    }
}
