//! `/debug/*`: diagnostic endpoints for tests and troubleshooting, answered only when the config
//! sets `debug_endpoints: true` (404 otherwise, exactly as an unknown path).
//!
//! - `POST /debug/echo`: returns the request body (checks body framing end to end).
//! - `GET /debug/sse?events=N&interval_ms=M`: streams N numbered events M ms apart.
//! - `GET /debug/sleep/{ms}`: answers after `ms` milliseconds (graceful-shutdown tests).

use crate::http::sse_writer;
use crate::http::{ErrorFlavor, Request, Response};
use crate::route::RouteId;
use crate::runtime::ctx::Worker;
use std::rc::Rc;
use std::time::Duration;

/// Longest sleep or stream the diagnostics allow.
const MAX_MS: u64 = 600_000;

pub async fn handle(worker: &Rc<Worker>, route: RouteId, req: Request) -> Response {
    if !worker.config().debug_endpoints {
        return Response::error(ErrorFlavor::Plain, 404, "no such endpoint");
    }
    match route {
        RouteId::DebugEcho => {
            let ct = req.head.header_str("content-type").unwrap_or("application/octet-stream").to_owned();
            Response::new(200, crate::http::Body::Full(req.body)).header("content-type", ct)
        }
        RouteId::DebugSleep => {
            let Some(ms) = req.param(0).and_then(|p| p.parse::<u64>().ok()).filter(|ms| *ms <= MAX_MS) else {
                return Response::error(ErrorFlavor::Plain, 400, "sleep takes milliseconds up to 600000");
            };
            monoio::time::sleep(Duration::from_millis(ms)).await;
            Response::json(200, format!("{{\"slept_ms\":{ms}}}"))
        }
        RouteId::DebugSse => {
            let events = req.query("events").and_then(|v| v.parse::<u64>().ok()).unwrap_or(3).min(1_000_000);
            let interval = req.query("interval_ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0).min(MAX_MS);
            let (tx, rx) = sse_writer::channel(16);
            let producer = sse_writer::Producer::new(async move {
                for i in 0..events {
                    if interval > 0 {
                        monoio::time::sleep(Duration::from_millis(interval)).await;
                    }
                    let data = format!("{{\"n\":{i}}}");
                    if tx.event(Some("tick"), data.as_bytes()).await.is_err() {
                        log::debug!("debug sse: client went away after {i} events");
                        return;
                    }
                }
            });
            Response::sse(rx, producer)
        }
        _ => Response::error(ErrorFlavor::Plain, 404, "no such endpoint"),
    }
}
