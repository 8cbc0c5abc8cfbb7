//! `GET /api/accounts/{id}/quota[?mode=fast]` (admin): a grok.com web account's quota, read
//! live from `POST /rest/rate-limits` (reference B.7) by the grok driver
//! (`channel::grok::quota`). Admin token required (`src/admin/auth.rs`).
//!
//! Until the admin API manages accounts in the store, the account is looked up in the config's
//! `accounts`. Answers:
//! `{"account","mode","unit":"tokens"|"queries"|"generic","limit","remaining","exhausted",
//! "window_s","resets_in_s","low_effort_remaining","high_effort_remaining"}`; 404 for an unknown
//! account, 400 for a non-grok or API-key account, 429 (with `Retry-After`) while probes are
//! paced, 502 when the upstream refused (with its class).

use crate::channel::ChannelImpl;
use crate::domain::{Channel, FailureClass};
use crate::grok::ratelimit::QuotaUnit;
use crate::http::{ErrorFlavor, Request, Response};
use crate::runtime::ctx::Worker;
use serde_json::json;
use std::rc::Rc;

pub async fn get(worker: &Rc<Worker>, req: &Request) -> Response {
    let cfg = worker.config();
    if let Err(r) = crate::admin::auth::check(&req.head, cfg.admin_token.expose()) {
        return r;
    }
    let id = req.param(0).unwrap_or_default();
    let Some(account) = cfg.accounts.iter().find(|a| a.id == id) else {
        let shown: String = id.chars().take(80).collect();
        return Response::error(ErrorFlavor::Plain, 404, &format!("no account {shown:?}"));
    };
    if account.channel != Channel::Grok {
        return Response::error(ErrorFlavor::Plain, 400, "quota lookup is available for grok web accounts only");
    }
    let mode = req.query("mode").filter(|m| !m.is_empty()).unwrap_or_else(|| "fast".to_owned());
    let front = worker.front.get(&cfg, worker.upstream());
    let Some(ChannelImpl::Grok(g)) = front.channels.get(Channel::Grok).cloned() else {
        return Response::error(ErrorFlavor::Plain, 503, "the grok channel is not enabled on this gateway");
    };
    match g.quota(account, &mode).await {
        Ok(q) => {
            let unit = match q.unit {
                QuotaUnit::Tokens => "tokens",
                QuotaUnit::Queries => "queries",
                QuotaUnit::Generic => "generic",
            };
            let body = json!({
                "account": account.id, "mode": mode, "unit": unit, "limit": q.limit, "remaining": q.remaining,
                "exhausted": q.exhausted(), "window_s": q.window.map(|d| d.as_secs()),
                "resets_in_s": q.resets_in.map(|d| d.as_secs()),
                "low_effort_remaining": q.low_effort_remaining, "high_effort_remaining": q.high_effort_remaining,
            });
            Response::json(200, serde_json::to_vec(&body).unwrap_or_default())
        }
        Err(e) => {
            let status = match e.class {
                FailureClass::Client => 400,
                FailureClass::RateLimit if e.status.is_none() => 429,
                _ => 502,
            };
            let r = Response::error(ErrorFlavor::Plain, status, &format!("{} ({})", e.message, e.class.as_str()));
            match e.retry_after.filter(|_| status == 429) {
                Some(d) => r.header("retry-after", d.as_secs().max(1).to_string()),
                None => r,
            }
        }
    }
}
