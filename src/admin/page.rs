//! The admin page at `admin_path` (default `/admin`): a read-only status page rendered with maud
//! as a pure function of a snapshot — version, uptime, driver, workers, store health and every
//! account with its status, counters and the upstream's last reported rate-limit windows. Credentials never appear (not even masked).
//!
//! Access: loopback clients, or any client presenting the admin token
//! (`Authorization: Bearer` / `X-Admin-Token`). Login sessions, CSRF-protected forms and editing
//! come with the admin step (roadmap step 11).

use crate::domain::AccountStatus;
use crate::http::{ErrorFlavor, Request, Response};
use crate::runtime::ctx::Worker;
use maud::{DOCTYPE, Markup, html};

/// One account row as the page shows it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub channel: &'static str,
    pub name: String,
    pub status: AccountStatus,
    pub requests: u64,
    pub failures: u64,
    /// The upstream's last reported rate-limit windows (`x-ratelimit-*`), if any.
    pub limits: Option<crate::pool::LimitsView>,
}

/// `remaining/limit` of a window, with what is known (e.g. `479/480`, `?/480`, `479`).
fn window_text(w: &crate::pool::rate_limits::Window) -> String {
    match (w.remaining, w.limit) {
        (Some(r), Some(l)) => format!("{r}/{l}"),
        (None, Some(l)) => format!("?/{l}"),
        (Some(r), None) => r.to_string(),
        (None, None) => "?".into(),
    }
}

/// The limits cell: requests and tokens windows left, or a dash when none was reported.
fn limits_text(l: Option<&crate::pool::LimitsView>) -> String {
    let Some(l) = l else { return "—".into() };
    let mut parts = Vec::new();
    if let Some(w) = &l.requests {
        parts.push(format!("requests {}", window_text(w)));
    }
    if let Some(w) = &l.tokens {
        parts.push(format!("tokens {}", window_text(w)));
    }
    if parts.is_empty() { "—".into() } else { parts.join(", ") }
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct PageData {
    pub version: &'static str,
    pub uptime_s: u64,
    pub driver: &'static str,
    pub workers: usize,
    pub store: String,
    pub accounts: Vec<AccountRow>,
}

/// `GET {admin_path}`.
pub fn get(worker: &Worker, req: &Request) -> Response {
    let cfg = worker.config();
    let loopback = req.peer.ip().is_loopback();
    if !loopback && super::auth::check(&req.head, cfg.admin_token.expose()).is_err() {
        return Response::error(ErrorFlavor::Plain, 401, "the admin page needs a loopback client or the admin token");
    }
    let shard = worker.pool();
    let now = shard.now_ms();
    let accounts = shard
        .snapshot()
        .accounts()
        .iter()
        .map(|a| {
            let c = a.counters();
            AccountRow {
                id: a.def().id.clone(),
                channel: a.def().channel.as_str(),
                name: a.def().name.clone(),
                status: a.status(now),
                requests: c.requests,
                failures: c.failures.values().sum(),
                limits: a.shared().rate_limits().view(),
            }
        })
        .collect();
    let s = &worker.shared;
    let store = match &s.store {
        Some(hub) => format!("{} ({})", cfg.store_mode.as_str(), if hub.health().is_ok() { "ok" } else { "degraded" }),
        None => cfg.store_mode.as_str().to_owned(),
    };
    let data = PageData {
        version: s.version,
        uptime_s: s.started.elapsed().as_secs(),
        driver: s.driver,
        workers: s.workers,
        store,
        accounts,
    };
    Response::new(200, crate::http::Body::Full(render(&data).into_string().into()))
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("x-frame-options", "DENY")
        .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'")
}

/// Renders the page (pure).
pub fn render(d: &PageData) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "orchids-server admin" }
                style { "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}th{background:#f4f4f4}.cooling{color:#a60}.disabled{color:#b00}.active{color:#080}" }
            }
            body {
                h1 { "orchids-server admin" }
                p { "version " (d.version) " · up " (d.uptime_s) " s · driver " (d.driver) " · " (d.workers) " workers · store " (d.store) }
                h2 { "Accounts (" (d.accounts.len()) ")" }
                @if d.accounts.is_empty() {
                    p { "No accounts yet: declare them under " code { "accounts" } " in the config (see docs/config.md)." }
                } @else {
                    table {
                        tr { th { "id" } th { "channel" } th { "name" } th { "status" } th { "requests" } th { "failures" } th { "upstream limits left" } }
                        @for a in &d.accounts {
                            tr {
                                td { (a.id) } td { (a.channel) } td { (a.name) }
                                @match &a.status {
                                    AccountStatus::Active => td class="active" { "active" },
                                    AccountStatus::Cooling { until_ms, reason } => td class="cooling" { "cooling (" (reason) ") until " (until_ms) },
                                    AccountStatus::Disabled { reason } => td class="disabled" { "disabled (" (reason) ")" },
                                }
                                td { (a.requests) } td { (a.failures) } td { (limits_text(a.limits.as_ref())) }
                            }
                        }
                    }
                }
                p { "The JSON admin API: " code { "GET /api/accounts" } ", " code { "GET /api/pool/explain" } " (admin token). See docs/api.md." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_accounts_escaped_and_without_credentials() {
        let d = PageData {
            version: "0.1.0",
            uptime_s: 5,
            driver: "epoll",
            workers: 2,
            store: "embedded (ok)".into(),
            accounts: vec![AccountRow {
                id: "a1".into(),
                channel: "grok",
                name: "<script>x</script>".into(),
                status: AccountStatus::Cooling { until_ms: 9, reason: "rate_limit".into() },
                requests: 3,
                failures: 1,
                limits: Some(crate::pool::LimitsView {
                    requests: Some(crate::pool::rate_limits::Window {
                        limit: Some(480),
                        remaining: Some(479),
                        reset_at_ms: None,
                    }),
                    tokens: None,
                    observed_ms: 1,
                }),
            }],
        };
        let html = render(&d).into_string();
        assert!(html.contains("cooling (rate_limit)"));
        assert!(html.contains("requests 479/480"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>x"));
    }
}
