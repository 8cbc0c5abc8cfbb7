//! `GET /health`: liveness and a few facts an operator or load balancer wants.

use crate::http::Response;
use crate::runtime::ctx::Worker;
use crate::util::json;

/// `{"status":"ok","version":…,"uptime_s":…,"driver":…,"workers":…,"worker":…}`.
pub fn get(worker: &Worker) -> Response {
    let s = &worker.shared;
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"status\":\"ok\",\"version\":");
    json::push_str(&mut out, s.version);
    out.extend_from_slice(format!(",\"uptime_s\":{},\"driver\":", s.started.elapsed().as_secs()).as_bytes());
    json::push_str(&mut out, s.driver);
    out.extend_from_slice(format!(",\"workers\":{},\"worker\":{}}}", s.workers, worker.id).as_bytes());
    Response::json(200, out).header("cache-control", "no-store")
}
