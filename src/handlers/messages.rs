//! `POST /v1/messages` and `POST /{channel}/v1/messages`: the Claude Messages front-end.
//! A query string (`?beta=true`) is ignored by routing; unknown body fields are ignored.

use super::front;
use crate::http::{Request, Response};
use crate::proxy::{self, ProxyRequest};
use crate::runtime::ctx::Worker;
use crate::translate::canonical::WireFormat;
use crate::translate::request::{ClaudeEndpoint, decode_claude_shared};
use std::rc::Rc;
use std::sync::Arc;

pub async fn post(worker: &Rc<Worker>, req: &Request, has_channel: bool) -> Response {
    let format = WireFormat::Claude;
    let checked = match front::check(worker, req, format, has_channel) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let creq = match decode_claude_shared(&req.body, ClaudeEndpoint::Messages) {
        Ok(r) => r,
        Err(e) => return front::bad_request(format, &e),
    };
    let Some(model) = checked.front.models.resolve(&creq.model, checked.channel) else {
        return front::unknown_model(&checked.front, format, &creq.model, checked.channel);
    };
    let session = proxy::session::derive(&req.head, format, &creq);
    let pr = ProxyRequest { format, channel: model.channel, model: Arc::clone(model), req: creq, session };
    proxy::serve(worker, &checked.front, pr).await
}
