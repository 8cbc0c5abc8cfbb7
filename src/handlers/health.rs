//! `GET /health`: liveness and a few facts an operator or load balancer wants.

use crate::http::Response;
use crate::runtime::ctx::Worker;
use crate::util::json;

/// `{"status":"ok"|"degraded","store":"ok"|"degraded","store_mode":…,"version":…,"uptime_s":…,
/// "driver":…,"workers":…,"worker":…}`; `degraded` (still 200: requests are served from memory)
/// while the store cannot persist, with `"store_reason"` saying why.
pub fn get(worker: &Worker) -> Response {
    let s = &worker.shared;
    let mut out = Vec::with_capacity(160);
    let health = s.store.as_ref().map(|h| (h.health(), h.mode().as_str()));
    let status = match &health {
        Some((h, _)) => h.as_str(),
        None => "ok",
    };
    out.extend_from_slice(b"{\"status\":");
    json::push_str(&mut out, status);
    if let Some((h, mode)) = &health {
        out.extend_from_slice(b",\"store\":");
        json::push_str(&mut out, h.as_str());
        out.extend_from_slice(b",\"store_mode\":");
        json::push_str(&mut out, mode);
        if let crate::store::Health::Degraded(why) = h {
            out.extend_from_slice(b",\"store_reason\":");
            json::push_str(&mut out, why);
        }
    }
    out.extend_from_slice(b",\"version\":");
    json::push_str(&mut out, s.version);
    out.extend_from_slice(format!(",\"uptime_s\":{},\"driver\":", s.started.elapsed().as_secs()).as_bytes());
    json::push_str(&mut out, s.driver);
    out.extend_from_slice(format!(",\"workers\":{},\"worker\":{}}}", s.workers, worker.id).as_bytes());
    Response::json(200, out).header("cache-control", "no-store")
}
