//! Request handlers, one file per endpoint family. [`handle`] dispatches a routed request.

pub mod admin_api;
pub mod chat;
pub mod count_tokens;
pub mod debug;
pub mod front;
pub mod grok_quota;
pub mod health;
pub mod messages;
pub mod models;

use crate::http::{Request, Response};
use crate::route::RouteId;
use crate::runtime::ctx::Worker;
use std::rc::Rc;

/// Runs the handler for `route`.
pub async fn handle(worker: &Rc<Worker>, route: RouteId, req: Request) -> Response {
    match route {
        RouteId::Health => health::get(worker),
        RouteId::AdminPage => crate::admin::page::get(worker, &req),
        RouteId::DebugEcho | RouteId::DebugSse | RouteId::DebugSleep => debug::handle(worker, route, req).await,
        RouteId::Messages => messages::post(worker, req, false).await,
        RouteId::ChannelMessages => messages::post(worker, req, true).await,
        RouteId::CountTokens => count_tokens::post(worker, &req, false).await,
        RouteId::ChannelCountTokens => count_tokens::post(worker, &req, true).await,
        RouteId::ChatCompletions => chat::post(worker, req, false).await,
        RouteId::ChannelChatCompletions => chat::post(worker, req, true).await,
        RouteId::Models => models::list(worker, &req, false),
        RouteId::ChannelModels => models::list(worker, &req, true),
        RouteId::Model => models::get(worker, &req, false),
        RouteId::ChannelModel => models::get(worker, &req, true),
        RouteId::AccountQuota => grok_quota::get(worker, &req).await,
        RouteId::AdminAccounts => admin_api::list(worker, &req),
        RouteId::AdminAccount => admin_api::get(worker, &req).await,
        RouteId::AdminAccountReset => admin_api::reset(worker, &req).await,
        RouteId::AdminPoolExplain => admin_api::explain(worker, &req),
    }
}
