//! `accounts` in the config file: accounts declared by the operator.
//!
//! Each entry is an [`AccountDef`] (`id`, `channel`, `name`, `credentials`, `weight`, `priority`,
//! `enabled`, `max_concurrency`, `proxy`, `allowed_models`, `denied_models`, `notes`). They are
//! imported into the store at start when an account with that id is absent, and never overwrite
//! an account that already exists (changes made at runtime win). See docs/config.md.

use super::reader::{Problems, kind_of};
use crate::domain::AccountDef;
use serde_json::Value;
use std::collections::BTreeSet;

/// Validates and converts the `accounts` array.
pub fn read_accounts(items: &[Value], p: &mut Problems) -> Vec<AccountDef> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("accounts[{i}]");
        if !item.is_object() {
            p.push(path, format!("expected an object, found {}", kind_of(item)));
            continue;
        }
        let def: AccountDef = match serde_json::from_value(item.clone()) {
            Ok(d) => d,
            Err(e) => {
                p.push(path, format!("not a valid account: {e}"));
                continue;
            }
        };
        let mut ok = true;
        if def.id.trim().is_empty() || def.id.len() > 128 || def.id.contains(['/', ' ', '?', '#']) {
            p.push(format!("{path}.id"), "expected a non-empty id without '/', spaces, '?' or '#' (max 128 chars)");
            ok = false;
        }
        if !seen.insert(def.id.clone()) {
            p.push(format!("{path}.id"), format!("duplicate account id {:?}", def.id));
            ok = false;
        }
        if def.weight == 0 || def.weight > 10_000 {
            p.push(format!("{path}.weight"), "expected an integer from 1 to 10000");
            ok = false;
        }
        if def.credentials.is_empty() {
            p.push(format!("{path}.credentials"), "expected at least one credential (e.g. {\"api_key\": \"…\"})");
            ok = false;
        }
        if let Some(proxy) = &def.proxy {
            if !(proxy.starts_with("http://") || proxy.starts_with("socks5://")) {
                p.push(format!("{path}.proxy"), "expected an http:// or socks5:// proxy URL");
                ok = false;
            }
        }
        if ok {
            out.push(def);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_bad_entry_by_index() {
        let v: Vec<Value> = serde_json::from_str(
            r#"[{"id":"a","channel":"grok","credentials":{"api_key":"k"}},
                {"id":"a","channel":"grok","credentials":{"api_key":"k"}},
                {"id":"b","channel":"nope","credentials":{"api_key":"k"}},
                {"id":"c","channel":"warp","credentials":{},"weight":0},
                {"id":"d","channel":"grok","credentials":{"sso":"s"},"bogus":1}]"#,
        )
        .unwrap();
        let mut p = Problems::default();
        let out = read_accounts(&v, &mut p);
        assert_eq!(out.len(), 1);
        let paths: Vec<_> = p.list.iter().map(|x| x.path.as_str()).collect();
        assert!(paths.contains(&"accounts[1].id"));
        assert!(paths.contains(&"accounts[2]"));
        assert!(paths.contains(&"accounts[3].weight"));
        assert!(paths.contains(&"accounts[3].credentials"));
        assert!(paths.contains(&"accounts[4]"), "{paths:?}");
    }
}
