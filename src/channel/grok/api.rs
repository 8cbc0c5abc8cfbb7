//! The xAI API surface (reference part A): `POST {api_base_url}/chat/completions` with
//! `Authorization: Bearer <api_key>`.
//!
//! - Streaming clients: the upstream streams (`stream: true`); every SSE `data:` payload is
//!   yielded as an OpenAI [`StreamItem::Frame`], which the lifecycle forwards to OpenAI clients
//!   with only `model` rewritten and decodes to canonical events for Claude clients.
//! - Non-streaming clients: the upstream answers one JSON completion, yielded whole
//!   ([`StreamItem::Whole`]): an OpenAI client gets it as it came (model rewritten), a Claude
//!   client gets it decoded (`proxy::whole`).
//! - A non-2xx answer is read (bounded) and classified by `classify_api` (A.3) into an
//!   [`AttemptError`] with its class, scope and reset hint; nothing reached the client yet.
//! - Every response head's `x-ratelimit-*` windows are recorded on the account
//!   ([`super::read_head`]).

use super::api_body::chat_body;
use super::{GrokChannel, Target};
use crate::channel::{AttemptError, StreamItem};
use crate::domain::FailureClass;
use crate::grok::classify::classify_api;
use crate::translate::CanonicalRequest;
use crate::translate::canonical::WireFormat;
use crate::upstream::sse::SseParser;
use crate::upstream::{Request, ResponseBody};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use std::collections::VecDeque;

const SURFACE: &str = "xAI API";

/// The chat completions URL under an API base URL.
pub fn chat_url(api_base_url: &str) -> String {
    format!("{api_base_url}/chat/completions")
}

/// `Bearer <key>`, built without the formatting machinery (once per request).
fn bearer(key: &str) -> Bytes {
    let mut v = Vec::with_capacity(7 + key.len());
    v.extend_from_slice(b"Bearer ");
    v.extend_from_slice(key.as_bytes());
    Bytes::from(v)
}

/// Starts one chat completion.
pub async fn start(
    ch: &GrokChannel,
    target: &Target<'_>,
    key: &str,
    req: &CanonicalRequest,
) -> Result<ApiStream, AttemptError> {
    let body = chat_body(req, target.model.upstream(), req.stream);
    let http = match ch.chat_target() {
        Some(t) => Request::post_to(t.clone(), body),
        None => Request::post(&chat_url(&ch.api_base_url), body),
    };
    // Built in place: each by-value builder call would copy the whole request.
    let mut http = http.map_err(|e| super::transport_error(SURFACE, &e))?;
    http.push_header_bytes(AUTHORIZATION, bearer(key));
    http.push_header_bytes(CONTENT_TYPE, Bytes::from_static(b"application/json"));
    http.push_header_bytes(
        ACCEPT,
        Bytes::from_static(if req.stream { b"text/event-stream" } else { b"application/json" }),
    );
    http.options = super::request_options(target.account);
    let resp = ch.client().send(http).await.map_err(|e| super::transport_error(SURFACE, &e))?;
    let hints = super::read_head(&resp.head, target.state);
    if !(200..300).contains(&resp.status()) {
        return Err(super::http_error(SURFACE, resp, &hints, classify_api).await);
    }
    if req.stream {
        return Ok(ApiStream::streaming(resp.body));
    }
    let whole = resp.body.collect().await.map_err(|e| super::transport_error(SURFACE, &e))?;
    // Not validated here: the lifecycle scans it once anyway (the passthrough, or the decoder
    // for a translation), and one that is not a completion fails that attempt there, as a
    // server failure that may go to another account (`docs/failover.md`).
    Ok(ApiStream::whole(whole))
}

/// The frames of one answer.
#[derive(Debug)]
pub struct ApiStream {
    body: Option<ResponseBody>,
    sse: SseParser,
    queue: VecDeque<Bytes>,
    /// A non-streaming answer, yielded once as [`StreamItem::Whole`].
    whole: Option<Bytes>,
}

impl ApiStream {
    fn streaming(body: ResponseBody) -> Self {
        Self { body: Some(body), sse: SseParser::default(), queue: VecDeque::new(), whole: None }
    }

    fn whole(body: Bytes) -> Self {
        Self { body: None, sse: SseParser::default(), queue: VecDeque::new(), whole: Some(body) }
    }

    /// Nothing left: no body to read, nothing queued (a whole answer once it was taken).
    pub fn is_exhausted(&self) -> bool {
        self.body.is_none() && self.queue.is_empty() && self.whole.is_none()
    }

    fn frame(data: Bytes) -> StreamItem {
        StreamItem::Frame { format: WireFormat::OpenAi, event: None, data }
    }

    /// The next frame; `None` when the upstream closed (a missing `[DONE]` is reported by the
    /// lifecycle as a cut answer).
    pub async fn next(&mut self) -> Option<Result<StreamItem, AttemptError>> {
        if let Some(body) = self.whole.take() {
            return Some(Ok(StreamItem::Whole { format: WireFormat::OpenAi, body }));
        }
        loop {
            if let Some(d) = self.queue.pop_front() {
                return Some(Ok(Self::frame(d)));
            }
            let body = self.body.as_mut()?;
            match body.chunk().await {
                Ok(Some(chunk)) => {
                    self.sse.feed_shared(chunk);
                    loop {
                        // Frames are slices of the read buffer (no copy).
                        match self.sse.next_shared() {
                            Ok(Some(ev)) if ev.has_data => self.queue.push_back(ev.data),
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(e) => {
                                self.body = None;
                                // Nothing more is read: let go of the read buffer it holds.
                                self.sse = SseParser::default();
                                let msg = format!("{SURFACE} stream unreadable: {e}");
                                return Some(Err(AttemptError::new(FailureClass::Server, msg)));
                            }
                        }
                    }
                }
                Ok(None) => {
                    self.body = None;
                    if let Some(ev) = self.sse.finish_shared().filter(|e| e.has_data) {
                        self.queue.push_back(ev.data);
                    }
                }
                Err(e) => {
                    self.body = None;
                    return Some(Err(super::transport_error(SURFACE, &e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_answer_is_exhausted_once_taken() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        rt.block_on(async {
            let mut s = ApiStream::whole(Bytes::from_static(br#"{"choices":[]}"#));
            assert!(!s.is_exhausted());
            assert!(matches!(s.next().await, Some(Ok(StreamItem::Whole { .. }))));
            assert!(s.is_exhausted(), "nothing is left to drain");
            assert!(s.next().await.is_none());
        });
    }
}
