//! Shared steps of the proxy handlers: pick the front-end state, check the client key, read the
//! optional `{channel}` path prefix, and answer errors in the client's format.

use crate::domain::Channel;
use crate::http::{Request, Response};
use crate::proxy::{Front, error_response};
use crate::runtime::ctx::Worker;
use crate::translate::canonical::{ErrorKind, WireFormat};
use std::rc::Rc;

/// The front-end state after the auth and channel checks passed.
#[derive(Debug)]
pub struct Checked {
    pub front: Rc<Front>,
    /// `Some` on `/{channel}/v1/...` routes.
    pub channel: Option<Channel>,
}

/// Auth, then the channel prefix (`has_channel`: the route's first parameter is `{channel}`).
pub fn check(worker: &Worker, req: &Request, format: WireFormat, has_channel: bool) -> Result<Checked, Response> {
    let cfg = worker.config();
    let front = worker.front.get(&cfg, worker.upstream());
    if let Err(e) = crate::auth::check(&front.keys, &req.head, req.peer) {
        let kind = if e.status() == 401 { ErrorKind::Authentication } else { ErrorKind::Permission };
        let code = (e.status() == 401).then_some("invalid_api_key");
        return Err(error_response(format, kind, e.message(), None, code));
    }
    let channel = if has_channel {
        let name = req.param(0).unwrap_or_default();
        let Some(c) = Channel::parse(name) else {
            let shown: String = name.chars().take(40).collect();
            let msg = format!("unknown channel {shown:?}: expected orchids, warp or grok");
            return Err(error_response(format, ErrorKind::NotFound, &msg, None, None));
        };
        Some(c)
    } else {
        None
    };
    Ok(Checked { front, channel })
}

/// 404 for an unknown model, naming the closest ids.
pub fn unknown_model(front: &Front, format: WireFormat, name: &str, channel: Option<Channel>) -> Response {
    let msg = front.models.not_found_message(name, channel);
    error_response(format, ErrorKind::NotFound, &msg, Some("model"), Some("model_not_found"))
}

/// 400 for a body that cannot be mapped.
pub fn bad_request(format: WireFormat, e: &crate::translate::request::RequestError) -> Response {
    error_response(format, ErrorKind::InvalidRequest, &e.message, e.param, None)
}
