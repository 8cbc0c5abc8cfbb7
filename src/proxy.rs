//! The request lifecycle, as phases (the spine of the gateway):
//!
//! ```text
//! decode client request -> canonical            (handlers: messages.rs / chat.rs)
//! -> resolve model (channel)                     (handlers, via the model table)
//! -> select account                              (select_account: the pool's hook)
//! -> channel.start -> first item                 (errors here: an error response, and the
//!                                                  failover seam: try another account)
//! -> stream: items -> Pipeline -> SSE channel    (spawned producer; stops when the client goes)
//!    or collect: items -> Collector -> one JSON body
//! -> finish
//! ```
//!
//! Errors before the first byte become an HTTP error in the client's format with the status for
//! the failure class (`docs/translation.md`); after the first byte they become an in-stream error
//! event (Claude `event: error`; OpenAI an error chunk, then the stream closes without `[DONE]`).

pub mod pipeline;
pub mod state;

pub use state::{Front, FrontCache};

use crate::channel::{Attempt, AttemptError, ChannelDriver, ChannelImpl, EventStream, StreamItem};
use crate::domain::{Channel, FailureClass, ModelDef};
use crate::http::Response;
use crate::http::sse_writer;
use crate::translate::canonical::{CanonicalEvent, CanonicalRequest, ErrorKind, JsonStr, WireFormat};
use crate::translate::collect::Collector;
use crate::translate::{EncodeOptions, out as wire};
use bytes::{BufMut, BytesMut};
use pipeline::{Canonicalizer, Pipeline};
use std::rc::Rc;

/// SSE frames queued between the producer and the connection before backpressure.
const SSE_QUEUE: usize = 32;

/// A decoded, resolved client request, ready for a channel.
#[derive(Debug)]
pub struct ProxyRequest {
    pub format: WireFormat,
    pub req: CanonicalRequest,
    pub model: Rc<ModelDef>,
    pub channel: Channel,
}

/// Runs the lifecycle for one request on the channel it resolved to.
pub async fn serve(front: &Front, pr: ProxyRequest) -> Response {
    let Some(imp) = front.channels.get(pr.channel).cloned() else {
        let msg = format!("channel {} has no upstream configured on this gateway yet", pr.channel);
        return error_response(pr.format, ErrorKind::Overloaded, &msg, None, None);
    };
    match imp {
        ChannelImpl::Test(t) => run(&*t, pr).await,
    }
}

/// The account-selection hook. The pool step replaces this with real selection (skipping tried,
/// cooling and full accounts); until then there is one fixed pseudo-account and one attempt.
fn select_account(pr: &ProxyRequest, tried: &[Rc<str>]) -> Option<Attempt> {
    let number = u32::try_from(tried.len()).unwrap_or(u32::MAX).saturating_add(1);
    if !tried.is_empty() {
        return None;
    }
    let id = format!("{}-default", pr.channel);
    Some(Attempt {
        account: std::sync::Arc::new(crate::domain::AccountDef {
            id: id.clone(),
            channel: pr.channel,
            name: String::new(),
            credentials: std::collections::BTreeMap::new(),
            weight: 1,
            priority: 0,
            enabled: true,
            max_concurrency: 0,
            proxy: None,
            allowed_models: Vec::new(),
            denied_models: Vec::new(),
            notes: String::new(),
            created_ms: 0,
            revision: 0,
        }),
        account_id: Rc::from(id),
        number,
        model: Rc::clone(&pr.model),
        client_format: pr.format,
    })
}

async fn run<D: ChannelDriver>(driver: &D, pr: ProxyRequest) -> Response {
    let mut tried: Vec<Rc<str>> = Vec::new();
    let mut last_err: Option<AttemptError> = None;
    // Failover loop: only while nothing has been written to the client.
    while let Some(attempt) = select_account(&pr, &tried) {
        tried.push(Rc::clone(&attempt.account_id));
        let started = match driver.start(&attempt, &pr.req).await {
            Ok(mut stream) => match stream.next().await {
                Some(Ok(first)) => match error_in_first_item(&first) {
                    Some(e) => Err(e),
                    None => Ok((stream, first)),
                },
                Some(Err(e)) => Err(e),
                None => Err(AttemptError::new(FailureClass::Server, "upstream closed the stream before answering")),
            },
            Err(e) => Err(e),
        };
        match started {
            Ok((stream, first)) => {
                return if pr.req.stream {
                    stream_response(&pr, stream, first)
                } else {
                    collect_response(&pr, stream, first).await
                };
            }
            Err(e) => {
                log::info!(
                    "attempt {} on {} account {} failed ({}): {}",
                    attempt.number,
                    pr.channel,
                    attempt.account_id,
                    e.class.as_str(),
                    e.message
                );
                let retry = e.class.retry_elsewhere();
                last_err = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    let e = last_err.unwrap_or_else(|| AttemptError::new(FailureClass::Server, "no upstream account is available"));
    attempt_error_response(pr.format, &e)
}

/// An upstream whose very first item is an error has written nothing to the client yet: treat
/// it as a failed attempt (an HTTP error, and a failover candidate), not as a 200 stream.
fn error_in_first_item(item: &StreamItem) -> Option<AttemptError> {
    let (kind, message) = match item {
        StreamItem::Event(CanonicalEvent::Error { kind, message }) => (*kind, message.unescape().into_owned()),
        StreamItem::Event(_) => return None,
        StreamItem::Frame { format, event, data } => {
            let mut events = Vec::new();
            let _ = crate::translate::StreamDecoder::new(*format).frame(event.as_deref(), data, &mut events);
            match events.into_iter().find(|e| matches!(e, CanonicalEvent::Error { .. })) {
                Some(CanonicalEvent::Error { kind, message }) => (kind, message.unescape().into_owned()),
                _ => return None,
            }
        }
    };
    Some(AttemptError::new(class_for(kind), message))
}

/// The failure class an upstream error kind stands for.
fn class_for(kind: ErrorKind) -> FailureClass {
    match kind {
        ErrorKind::InvalidRequest => FailureClass::Client,
        ErrorKind::NotFound => FailureClass::Model,
        ErrorKind::RateLimit => FailureClass::RateLimit,
        ErrorKind::Billing => FailureClass::Quota,
        ErrorKind::Authentication => FailureClass::Auth,
        ErrorKind::Permission => FailureClass::Blocked,
        ErrorKind::Api | ErrorKind::Overloaded => FailureClass::Server,
        ErrorKind::Timeout => FailureClass::Slow,
    }
}

fn encode_options(pr: &ProxyRequest) -> EncodeOptions {
    EncodeOptions {
        model: Some(JsonStr::from_text(&pr.req.model)),
        input_tokens: crate::tokens::quick_estimate(&pr.req),
        include_usage: pr.req.include_usage,
        created: 0,
    }
}

fn stream_response<S: EventStream + 'static>(pr: &ProxyRequest, mut stream: S, first: StreamItem) -> Response {
    let (tx, rx) = sse_writer::channel(SSE_QUEUE);
    let mut p = Pipeline::new(pr.format, encode_options(pr));
    monoio::spawn(async move {
        p.item(first);
        loop {
            let chunk = p.take();
            if !chunk.is_empty() && tx.send(chunk).await.is_err() {
                log::debug!("client went away; dropping the upstream stream");
                return;
            }
            if p.ended() {
                return;
            }
            match stream.next().await {
                Some(Ok(item)) => p.item(item),
                Some(Err(e)) => p.upstream_error(&e),
                None => p.finish(),
            }
        }
    });
    with_request_id(Response::sse(rx), pr.format)
}

async fn collect_response<S: EventStream>(pr: &ProxyRequest, mut stream: S, first: StreamItem) -> Response {
    let mut canon = Canonicalizer::default();
    let mut col = Collector::new();
    canon.item(first, |ev| col.event(ev.clone()));
    while !col.done() {
        match stream.next().await {
            Some(Ok(item)) => canon.item(item, |ev| col.event(ev.clone())),
            Some(Err(e)) => return attempt_error_response(pr.format, &e),
            None => {
                canon.finish(|ev| col.event(ev.clone()));
                break;
            }
        }
    }
    let msg = col.msg;
    if let Some((kind, message)) = &msg.error {
        return error_response(pr.format, *kind, &message.unescape(), None, None);
    }
    if msg.stop.is_none() {
        let m = "upstream stream ended before the answer was complete";
        return error_response(pr.format, ErrorKind::Api, m, None, None);
    }
    let model = JsonStr::from_text(&pr.req.model);
    let mut out = BytesMut::with_capacity(1024);
    match pr.format {
        WireFormat::Claude => msg.claude_json(Some(&model), &mut out),
        WireFormat::OpenAi => msg.openai_json(Some(&model), crate::translate::unix_now(), &mut out),
    }
    with_request_id(Response::json(200, out.freeze()), pr.format)
}

fn with_request_id(r: Response, format: WireFormat) -> Response {
    match format {
        WireFormat::Claude => r.header("request-id", crate::translate::new_message_id("req_")),
        WireFormat::OpenAi => r.header("x-request-id", crate::translate::new_message_id("req_")),
    }
}

/// The HTTP status for an error kind in a format (OpenAI has no 529).
pub fn status_for(format: WireFormat, kind: ErrorKind) -> u16 {
    match (format, kind) {
        (WireFormat::OpenAi, ErrorKind::Overloaded) => 503,
        _ => kind.status(),
    }
}

/// A failed attempt as the client sees it before the first byte.
pub fn attempt_error_response(format: WireFormat, e: &AttemptError) -> Response {
    let r = error_response(format, e.kind(), &e.message, None, None);
    match e.retry_after {
        Some(d) => r.header("retry-after", d.as_secs().max(1).to_string()),
        None => r,
    }
}

/// An error body in the client's format:
/// Claude `{"type":"error","error":{"type","message"}}`,
/// OpenAI `{"error":{"message","type","param","code"}}`.
pub fn error_response(
    format: WireFormat,
    kind: ErrorKind,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let mut out = BytesMut::with_capacity(128 + message.len());
    match format {
        WireFormat::Claude => {
            out.put_slice(br#"{"type":"error","error":{"type":""#);
            out.put_slice(kind.claude().as_bytes());
            out.put_slice(br#"","message":"#);
            wire::text(&mut out, message);
            out.put_slice(b"}}");
        }
        WireFormat::OpenAi => {
            out.put_slice(br#"{"error":{"message":"#);
            wire::text(&mut out, message);
            out.put_slice(br#","type":""#);
            out.put_slice(kind.openai().as_bytes());
            out.put_slice(br#"","param":"#);
            match param {
                Some(p) => wire::text(&mut out, p),
                None => out.put_slice(b"null"),
            }
            out.put_slice(br#","code":"#);
            match code {
                Some(c) => wire::text(&mut out, c),
                None => out.put_slice(b"null"),
            }
            out.put_slice(b"}}");
        }
    }
    let status = status_for(format, kind);
    let r = Response::json(status, out.freeze());
    if status >= 500 { r } else { r.header("x-should-retry", if status == 429 { "true" } else { "false" }) }
}
