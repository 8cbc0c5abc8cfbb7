//! The upstream config keys through the real binary's `--check`: a missing `extra_ca_file` or a
//! bad proxy URL is refused with the key named (and no password echoed); valid ones pass.

#[cfg(test)]
pub mod upstream_support;

use std::process::Command;

#[cfg(test)]
fn check(config: &str) -> (i32, String) {
    let dir = upstream_support::temp_dir("cfg");
    let path = dir.join("config.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orchids-server")).arg("--check").arg("-c").arg(&path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_validates_upstream_keys() {
    let ca = upstream_support::tls_ca::test_ca();
    let ok = format!(
        r#"{{"port":0,"upstream_proxy":"socks5://u:hunter2@127.0.0.1:1080","no_proxy":["localhost","*.internal"],
            "extra_ca_file":{:?},"timeouts":{{"upstream_connect_ms":2000,"upstream_tls_ms":2000,
            "upstream_head_ms":30000,"upstream_idle_ms":60000,"upstream_total_ms":600000}},
            "limits":{{"upstream_max_head_bytes":32768,"upstream_max_body_bytes":1048576,
            "upstream_pool_idle_ms":30000,"upstream_pool_max_idle_per_origin":8}}}}"#,
        ca.ca_file.display().to_string()
    );
    let (code, text) = check(&ok);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    let (code, text) = check(r#"{"extra_ca_file":"/nonexistent/ca.pem"}"#);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("extra_ca_file") && text.contains("/nonexistent/ca.pem"), "{text}");

    let (code, text) = check(r#"{"upstream_proxy":"ftp://u:hunter2@h:1","no_proxy":[3]}"#);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("upstream_proxy") && text.contains("no_proxy[0]"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
