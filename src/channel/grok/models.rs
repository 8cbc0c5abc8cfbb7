//! Which grok models an account can serve, and the xAI model listing that refines it.
//!
//! - Static rule ([`can_serve`]): a grok `ModelDef` names the credential kinds that serve it in
//!   `kinds` (`api` / `web`; empty = every kind). An API model's `upstream_id` is an xAI model
//!   id; a web model's is a grok.com mode (`fast`, `auto`, `expert`, `heavy`).
//! - Listing ([`ApiModels`]): for API-key accounts, `GET {api_base_url}/models` says which xAI
//!   ids that key may use. Each worker fetches it in the background the first time the channel
//!   is used (best-effort: a failure is logged and the account keeps serving every `api` model);
//!   afterwards an API account whose listing lacks a model's `upstream_id` is not offered it.
//!   The listing is per worker (per-core state, no locks) and is fetched again when the config
//!   changes (the channel is rebuilt with the new snapshot).

use super::creds::{Kind, kind_of};
use crate::domain::{AccountDef, Channel, ModelDef};
use crate::upstream::{Request, UpstreamClient};
use crate::util::fast_hash::{FastMap, FastSet};
use std::cell::RefCell;
use std::sync::Arc;

/// Whether `account`'s credential kind may serve `model` (the model table's `kinds`).
pub fn can_serve(model: &ModelDef, account: &AccountDef) -> bool {
    account.channel == Channel::Grok && kind_of(account).is_some_and(|kind| kind_serves(model, kind))
}

/// Whether a grok account whose credential is of `kind` may serve `model`.
pub fn kind_serves(model: &ModelDef, kind: Kind) -> bool {
    model.channel == Channel::Grok && (model.kinds.is_empty() || model.kinds.iter().any(|k| k == kind.as_str()))
}

/// The xAI model ids each API-key account may use, as far as this worker knows.
#[derive(Debug, Default)]
pub struct ApiModels {
    by_account: RefCell<FastMap<String, FastSet<String>>>,
}

impl ApiModels {
    /// `Some(false)` only when the account's listing is known and lacks `upstream_id`.
    pub fn allows(&self, account_id: &str, upstream_id: &str) -> Option<bool> {
        self.by_account.borrow().get(account_id).map(|ids| ids.contains(upstream_id))
    }

    pub fn set(&self, account_id: &str, ids: FastSet<String>) {
        self.by_account.borrow_mut().insert(account_id.to_owned(), ids);
    }

    /// The ids listed for an account (sorted), if fetched.
    pub fn listed(&self, account_id: &str) -> Option<Vec<String>> {
        let map = self.by_account.borrow();
        let mut v: Vec<String> = map.get(account_id)?.iter().cloned().collect();
        v.sort();
        Some(v)
    }
}

/// Parses a `GET /models` body: `{"object":"list","data":[{"id":…},…]}`.
pub fn parse_model_list(body: &[u8]) -> Option<FastSet<String>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
    }
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Entry>,
    }
    let list: List = serde_json::from_slice(body).ok()?;
    Some(list.data.into_iter().map(|e| e.id).collect())
}

/// Fetches one account's model listing. `Err` is a log line (never holds the key).
pub async fn fetch(
    client: &UpstreamClient,
    api_base_url: &str,
    account: &AccountDef,
) -> Result<FastSet<String>, String> {
    let Ok(super::creds::Creds::Api { key }) = super::creds::Creds::of(account) else {
        return Err("not an API-key account".to_owned());
    };
    let url = format!("{api_base_url}/models");
    let req = Request::get(&url)
        .map_err(|e| e.to_string())?
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json")
        .options(super::request_options(account));
    let resp = client.send(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = super::read_bounded(resp.body, super::MAX_ERROR_BODY).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET /models answered {status}"));
    }
    parse_model_list(&body).ok_or_else(|| "GET /models answered an unexpected body".to_owned())
}

/// Refreshes the listing of every enabled grok API-key account (sequentially; best-effort).
pub async fn refresh_all(
    client: UpstreamClient,
    api_base_url: String,
    accounts: Vec<Arc<AccountDef>>,
    into: std::rc::Rc<ApiModels>,
) {
    for a in accounts.iter().filter(|a| a.enabled && a.channel == Channel::Grok && kind_of(a) == Some(Kind::Api)) {
        match fetch(&client, &api_base_url, a).await {
            Ok(ids) => {
                log::debug!("grok account {}: {} models listed by the xAI API", a.id, ids.len());
                into.set(&a.id, ids);
            }
            Err(e) => {
                log::info!(
                    "grok account {}: model listing not refreshed ({e}); it keeps serving every api model",
                    a.id
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(kinds: &[&str]) -> ModelDef {
        let mut m: ModelDef = serde_json::from_value(serde_json::json!({"id": "m", "channel": "grok"})).unwrap();
        m.kinds = kinds.iter().map(|k| (*k).to_owned()).collect();
        m
    }

    fn acct(key: &str, value: &str) -> AccountDef {
        serde_json::from_value(serde_json::json!({"id": "a", "channel": "grok", "credentials": {key: value}})).unwrap()
    }

    #[test]
    fn kinds_decide_who_serves() {
        let (api, web) = (acct("api_key", "k"), acct("sso", "t"));
        assert!(can_serve(&model(&["api"]), &api));
        assert!(!can_serve(&model(&["api"]), &web));
        assert!(can_serve(&model(&["web"]), &web));
        assert!(!can_serve(&model(&["web"]), &api));
        assert!(can_serve(&model(&[]), &api) && can_serve(&model(&[]), &web));
        assert!(!can_serve(&model(&[]), &acct("other", "x")));
    }

    #[test]
    fn listing_parses_and_refines() {
        let ids = parse_model_list(br#"{"object":"list","data":[{"id":"grok-4","object":"model"},{"id":"grok-3"}]}"#)
            .unwrap();
        assert!(ids.contains("grok-4") && ids.len() == 2);
        assert!(parse_model_list(b"[]").is_none());
        let m = ApiModels::default();
        assert_eq!(m.allows("a", "grok-4"), None);
        m.set("a", ids);
        assert_eq!(m.allows("a", "grok-4"), Some(true));
        assert_eq!(m.allows("a", "grok-9"), Some(false));
        assert_eq!(m.listed("a").unwrap(), vec!["grok-3".to_owned(), "grok-4".to_owned()]);
    }
}
