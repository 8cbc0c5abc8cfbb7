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
///
/// Only the two proxy handlers are inline. The others are boxed: they are rarer, and some
/// hold a monoio timer (128-byte aligned), which inline would make this future, boxed for
/// every request, 128-byte aligned too: every request's box would take the allocator's aligned
/// path.
pub async fn handle(worker: &Rc<Worker>, route: RouteId, req: Request) -> Response {
    match route {
        RouteId::Health => health::get(worker),
        RouteId::AdminPage => crate::admin::page::get(worker, &req),
        RouteId::DebugEcho | RouteId::DebugSse | RouteId::DebugSleep => {
            Box::pin(debug::handle(worker, route, req)).await
        }
        RouteId::Messages => messages::post(worker, &req, false).await,
        RouteId::ChannelMessages => messages::post(worker, &req, true).await,
        RouteId::CountTokens => Box::pin(count_tokens::post(worker, &req, false)).await,
        RouteId::ChannelCountTokens => Box::pin(count_tokens::post(worker, &req, true)).await,
        RouteId::ChatCompletions => chat::post(worker, &req, false).await,
        RouteId::ChannelChatCompletions => chat::post(worker, &req, true).await,
        RouteId::Models => models::list(worker, &req, false),
        RouteId::ChannelModels => models::list(worker, &req, true),
        RouteId::Model => models::get(worker, &req, false),
        RouteId::ChannelModel => models::get(worker, &req, true),
        RouteId::AccountQuota => Box::pin(grok_quota::get(worker, &req)).await,
        RouteId::AdminAccounts => admin_api::list(worker, &req),
        RouteId::AdminAccount => Box::pin(admin_api::get(worker, &req)).await,
        RouteId::AdminAccountReset => Box::pin(admin_api::reset(worker, &req)).await,
        RouteId::AdminPoolExplain => admin_api::explain(worker, &req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alignment of what `f` returns, for a function that cannot be called here.
    fn align_of_output<'a, F, Fut>(_: F) -> usize
    where
        F: Fn(&'a Rc<Worker>, RouteId, Request) -> Fut,
    {
        std::mem::align_of::<Fut>()
    }

    #[test]
    fn the_per_request_future_is_not_over_aligned() {
        assert!(align_of_output(handle) <= 16, "align {}", align_of_output(handle));
    }
}
