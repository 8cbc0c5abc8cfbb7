//! `POST /v1/messages/count_tokens` and `POST /{channel}/v1/messages/count_tokens`:
//! `{"input_tokens":N}` from the BPE estimate in `tokens` (no upstream call).

use super::front;
use crate::http::{Request, Response};
use crate::runtime::ctx::Worker;
use crate::translate::canonical::WireFormat;
use crate::translate::request::{ClaudeEndpoint, decode_claude_shared};

pub async fn post(worker: &Worker, req: &Request, has_channel: bool) -> Response {
    let format = WireFormat::Claude;
    let checked = match front::check(worker, req, format, has_channel) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let creq = match decode_claude_shared(&req.body, ClaudeEndpoint::CountTokens) {
        Ok(r) => r,
        Err(e) => return front::bad_request(format, &e),
    };
    if checked.front.models.resolve(&creq.model, checked.channel).is_none() {
        return front::unknown_model(&checked.front, format, &creq.model, checked.channel);
    }
    crate::tokens::ready().await;
    let n = crate::tokens::count_request(&creq);
    Response::json(200, format!("{{\"input_tokens\":{n}}}"))
}
