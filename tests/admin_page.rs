//! The admin page at `admin_path`: served to loopback clients (the README's main command says
//! it is reachable), renders accounts without credentials, answers 405 to other methods.
#![cfg(test)]

pub mod support;

use serde_json::json;
use support::{Server, http};

#[test]
fn admin_page_is_reachable_and_shows_accounts_without_secrets() {
    let s = Server::start(&json!({
        "admin_path": "/console",
        "accounts": [{"id": "acct-1", "channel": "grok", "name": "first key",
                      "credentials": {"api_key": "xai-super-secret-value-0123456789"}}]
    }));
    let r = http(s.addr, "GET", "/console", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("orchids-server admin"), "{page}");
    assert!(page.contains("acct-1") && page.contains("first key"), "{page}");
    assert!(!page.contains("super-secret"), "{page}");
    assert_eq!(http(s.addr, "GET", "/console/", &[], b"").status, 200);
    assert_eq!(http(s.addr, "POST", "/console", &[], b"").status, 405);
    // The default path is not served when another one is configured.
    assert_eq!(http(s.addr, "GET", "/admin", &[], b"").status, 404);
}
