//! Request handlers, one file per endpoint family. [`handle`] dispatches a routed request.

pub mod debug;
pub mod health;

use crate::http::{Request, Response};
use crate::route::RouteId;
use crate::runtime::ctx::Worker;
use std::rc::Rc;

/// Runs the handler for `route`.
pub async fn handle(worker: &Rc<Worker>, route: RouteId, req: Request) -> Response {
    match route {
        RouteId::Health => health::get(worker),
        RouteId::DebugEcho | RouteId::DebugSse | RouteId::DebugSleep => debug::handle(worker, route, req).await,
    }
}
