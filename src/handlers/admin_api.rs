//! The first admin JSON endpoints (admin token required; `docs/api.md` has curl examples):
//!
//! - `GET /api/accounts`: every account of the pool: definition with credentials redacted,
//!   status, counters since start on this instance, in-flight count, and the upstream's
//!   last-reported rate-limit windows (`upstream_limits`, `pool::rate_limits`).
//! - `GET /api/accounts/{id}`: the same for one account, plus `stored` (status and counters as
//!   the store holds them: durable, summed over restarts and instances).
//! - `POST /api/accounts/{id}/reset`: clears cooldown, failure window, model unavailability and
//!   a runtime disable on every core at once, and persists `active` (other instances follow
//!   through the change feed).
//! - `GET /api/pool/explain?channel=…&model=…`: the dry-run selection (`docs/failover.md`).
//!
//! No credential ever appears in an answer. The full admin (account CRUD, pages) comes later.

use crate::domain::{AccountDef, AccountStatus, Channel};
use crate::http::{ErrorFlavor, Request, Response};
use crate::pool::Account;
use crate::runtime::ctx::Worker;
use crate::store::{StoreApi, StoreError};
use serde_json::{Value, json};
use std::rc::Rc;

fn authorized(worker: &Worker, req: &Request) -> Result<(), Response> {
    crate::admin::auth::check(&req.head, worker.config().admin_token.expose())
}

fn json_response(status: u16, v: &Value) -> Response {
    Response::json(status, serde_json::to_vec(v).unwrap_or_default()).header("cache-control", "no-store")
}

fn not_found(id: &str) -> Response {
    Response::error(ErrorFlavor::Plain, 404, &format!("no account {id:?}"))
}

fn row(acc: &Account, now_ms: u64, in_flight_here: u32) -> Value {
    json!({
        "account": acc.def().redacted(),
        "status": acc.status(now_ms),
        "counters": acc.counters(),
        "in_flight": acc.shared().in_flight(),
        "in_flight_here": in_flight_here,
        "upstream_limits": acc.shared().rate_limits().view(),
    })
}

/// `GET /api/accounts`.
pub fn list(worker: &Worker, req: &Request) -> Response {
    if let Err(r) = authorized(worker, req) {
        return r;
    }
    let shard = worker.pool();
    let now = shard.now_ms();
    let snap = shard.snapshot();
    let rows: Vec<Value> = snap.accounts().iter().map(|a| row(a, now, shard.local_in_flight(a.id()))).collect();
    json_response(200, &json!({ "generation": snap.generation(), "now_ms": now, "accounts": rows }))
}

/// `GET /api/accounts/{id}`.
pub async fn get(worker: &Rc<Worker>, req: &Request) -> Response {
    if let Err(r) = authorized(worker, req) {
        return r;
    }
    let id = req.param(0).unwrap_or_default();
    let shard = worker.pool();
    let Some(acc) = shard.account(id) else {
        return not_found(id);
    };
    let now = shard.now_ms();
    let mut v = row(&acc, now, shard.local_in_flight(id));
    let stored = match worker.store() {
        Some(store) => match store.get_account(id).await {
            Ok(Some(rec)) => json!({ "status": rec.state.status, "counters": rec.state.counters }),
            Ok(None) => Value::Null,
            Err(e) => json!({ "error": e.to_string() }),
        },
        None => Value::Null,
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("stored".to_owned(), stored);
    }
    json_response(200, &v)
}

/// `POST /api/accounts/{id}/reset`.
pub async fn reset(worker: &Rc<Worker>, req: &Request) -> Response {
    if let Err(r) = authorized(worker, req) {
        return r;
    }
    let id = req.param(0).unwrap_or_default();
    let shard = worker.pool();
    if !shard.reset(id) {
        return not_found(id);
    }
    let persisted = match worker.store() {
        Some(store) => match store.set_status(id, &AccountStatus::Active).await {
            Ok(()) | Err(StoreError::NotFound(_)) => true,
            Err(e) => {
                log::warn!("admin: reset of {id} not persisted: {e}");
                false
            }
        },
        None => false,
    };
    log::info!("admin: account {id} reset");
    let status = shard.account(id).map(|a| a.status(shard.now_ms()));
    json_response(200, &json!({ "id": id, "status": status, "persisted": persisted }))
}

/// `GET /api/pool/explain?channel=…&model=…`.
pub fn explain(worker: &Worker, req: &Request) -> Response {
    if let Err(r) = authorized(worker, req) {
        return r;
    }
    let pairs = req.head.query.as_deref().map(crate::util::percent::query_pairs).unwrap_or_default();
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(channel), Some(model)) = (param("channel"), param("model")) else {
        return Response::error(ErrorFlavor::Plain, 400, "expected the query parameters channel and model");
    };
    let Some(channel) = Channel::parse(channel) else {
        return Response::error(ErrorFlavor::Plain, 400, "unknown channel: expected orchids, warp or grok");
    };
    let front = worker.front.get(&worker.config(), worker.upstream());
    let resolved = front.models.resolve(model, Some(channel)).cloned();
    let imp = front.channels.get(channel).cloned();
    let fit = |d: &AccountDef| match (&imp, &resolved) {
        (Some(imp), Some(m)) => imp.can_serve(d, m),
        _ => true,
    };
    let model_id = resolved.as_ref().map_or(model, |m| m.id.as_str());
    let ex = worker.pool().explain(channel, model_id, &fit);
    json_response(200, &serde_json::to_value(&ex).unwrap_or(Value::Null))
}
