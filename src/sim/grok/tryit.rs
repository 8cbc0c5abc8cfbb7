//! Try-it mode: the first stdout line of `orchids-server simulate grok` is one JSON object that,
//! merged into `config.json`, points the gateway at this simulator with working accounts:
//! `{"channels":{"grok":{…}},"accounts":[AccountDef…],"models":[ModelDef…]}`.
//!
//! Accounts: one API-key account per `--api-key` and one web account per `--sso`, each with its
//! simulated team as the `team` credential (so a team 429 cools the whole team). Models: two
//! served by API-key accounts (`upstream_id` is the xAI model id) and two by web accounts
//! (`upstream_id` is the web `modeId`), told apart by `kinds` (`api` / `web`).

use super::SimOptions;
use crate::domain::{AccountDef, Capabilities, Channel, ModelDef};
use std::collections::BTreeMap;
use std::net::SocketAddr;

fn account(id: String, name: String, key: &str, value: &str, team: &str) -> AccountDef {
    AccountDef {
        id,
        channel: Channel::Grok,
        name,
        credentials: BTreeMap::from([(key.to_owned(), value.to_owned()), ("team".to_owned(), team.to_owned())]),
        weight: 1,
        priority: 0,
        enabled: true,
        max_concurrency: 0,
        proxy: None,
        allowed_models: Vec::new(),
        denied_models: Vec::new(),
        notes: "created by `orchids-server simulate grok`".to_owned(),
        created_ms: 0,
        revision: 0,
    }
}

fn model(id: &str, upstream: &str, kind: &str, thinking: bool, display: &str) -> ModelDef {
    ModelDef {
        id: id.to_owned(),
        channel: Channel::Grok,
        upstream_id: upstream.to_owned(),
        aliases: Vec::new(),
        capabilities: Capabilities { vision: false, tools: true, thinking, image: false },
        kinds: vec![kind.to_owned()],
        enabled: true,
        display_name: display.to_owned(),
        created: 1_735_689_600,
    }
}

/// The accounts the simulator accepts, as `AccountDef`s.
pub fn accounts(opts: &SimOptions) -> Vec<AccountDef> {
    let api = opts.api_keys.iter().enumerate().map(|(i, k)| {
        let name = format!("grok simulator API key {}", i + 1);
        account(format!("sim-grok-api-{}", i + 1), name, "api_key", k, opts.team_of(k))
    });
    let web = opts.sso_tokens.iter().enumerate().map(|(i, t)| {
        let name = format!("grok simulator web session {}", i + 1);
        account(format!("sim-grok-web-{}", i + 1), name, "sso", t, opts.team_of(t))
    });
    api.chain(web).collect()
}

/// The models the gateway can route to the simulator.
pub fn models() -> Vec<ModelDef> {
    vec![
        model("grok-4-fast", "grok-4-fast-non-reasoning", "api", false, "Grok 4 Fast (xAI API)"),
        model("grok-4-fast-reasoning", "grok-4-fast-reasoning", "api", true, "Grok 4 Fast Reasoning (xAI API)"),
        model("grok-4.20-fast", "fast", "web", false, "Grok 4.20 Fast (grok.com)"),
        model("grok-4.20-expert", "expert", "web", true, "Grok 4.20 Expert (grok.com)"),
    ]
}

/// The one-line JSON object.
pub fn try_it_json(addr: SocketAddr, opts: &SimOptions) -> String {
    let base = format!("http://{addr}");
    // Built by hand so the keys keep this order for people reading it.
    let channels = serde_json::json!({"grok": {"api_base_url": format!("{base}/v1"), "web_base_url": base}});
    let accounts = serde_json::to_string(&accounts(opts)).unwrap_or_else(|_| "[]".to_owned());
    let models = serde_json::to_string(&models()).unwrap_or_else(|_| "[]".to_owned());
    format!("{{\"channels\":{channels},\"accounts\":{accounts},\"models\":{models}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_round_trips_through_the_domain_types() {
        let opts = SimOptions::default();
        let line = try_it_json("127.0.0.1:4321".parse().unwrap(), &opts);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["channels"]["grok"]["api_base_url"], "http://127.0.0.1:4321/v1");
        assert_eq!(v["channels"]["grok"]["web_base_url"], "http://127.0.0.1:4321");
        let accounts: Vec<AccountDef> = serde_json::from_value(v["accounts"].clone()).unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].credentials["api_key"], super::super::DEFAULT_API_KEY);
        assert_eq!(accounts[1].credentials["sso"], super::super::DEFAULT_SSO);
        assert_eq!(accounts[1].credentials["team"], super::super::DEFAULT_TEAM);
        let mut opts = SimOptions::default();
        opts.teams.push((super::super::DEFAULT_API_KEY.to_owned(), "team-b".to_owned()));
        assert_eq!(super::accounts(&opts)[0].credentials["team"], "team-b");
        let models: Vec<ModelDef> = serde_json::from_value(v["models"].clone()).unwrap();
        assert!(models.iter().any(|m| m.kinds == ["web"] && m.upstream() == "fast"));
        assert!(models.iter().any(|m| m.kinds == ["api"] && super::super::api::MODELS.contains(&m.upstream())));
    }
}
