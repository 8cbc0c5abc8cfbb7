//! The request lifecycle, as phases (the spine of the gateway):
//!
//! ```text
//! decode client request -> canonical            (handlers: messages.rs / chat.rs)
//! -> resolve model (channel)                     (handlers, via the model table)
//! -> select account + slot                       (the pool: skip tried, cooling, full; sticky)
//! -> ensure token, channel.start -> first item   (within pool.ttft_timeout_ms; a typed failure
//!                                                  here applies the account policy and fails
//!                                                  over to another account, see
//!                                                  docs/failover.md)
//! -> stream: items -> Pipeline -> SSE queue      (a producer the connection drives; dropped
//!                                                  when the client goes)
//!    or collect: items -> Collector -> one JSON body
//! -> finish
//! ```
//!
//! Errors before the first byte become an HTTP error in the client's format, from the one table
//! in [`answer`] (`docs/failover.md`); after the first byte they become an in-stream error event
//! (Claude `event: error`; OpenAI an error chunk, then the stream closes without `[DONE]`) with
//! the same table's error type.

pub mod account;
pub mod answer;
pub mod pipeline;
pub mod session;
pub mod state;

pub use answer::{error_response, status_for};
pub use state::{Front, FrontCache};

use crate::channel::{Attempt, AttemptError, ChannelDriver, ChannelImpl, EventStream, StreamItem};
use crate::domain::{AccountDef, Channel, FailureClass, ModelDef};
use crate::http::Response;
use crate::http::sse_writer::{self, Producer};
use crate::pool::{Attempt as Tries, Lease, SelectRequest, SessionKey};
use crate::runtime::ctx::Worker;
use crate::translate::EncodeOptions;
use crate::translate::canonical::Usage;
use crate::translate::canonical::{CanonicalEvent, CanonicalRequest, ErrorKind, JsonStr, WireFormat};
use crate::translate::collect::Collector;
use bytes::BytesMut;
use pipeline::{Canonicalizer, Pipeline};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// SSE frames queued between the producer and the connection before backpressure.
const SSE_QUEUE: usize = 8;

/// How long, after the answer is complete, the upstream's framing tail (`[DONE]`'s chunked
/// terminator, a trailing newline) may take to arrive before the connection is given up rather
/// than returned to the keep-alive pool.
const DRAIN_TAIL: Duration = Duration::from_millis(250);

/// Items read past the end of the answer while draining (a misbehaving upstream that keeps
/// talking after its terminal event loses its connection instead of holding the task).
const DRAIN_MAX_ITEMS: usize = 16;

/// A decoded, resolved client request, ready for a channel.
#[derive(Debug)]
pub struct ProxyRequest {
    pub format: WireFormat,
    pub req: CanonicalRequest,
    pub model: Arc<ModelDef>,
    pub channel: Channel,
    /// The sticky-session key ([`session::derive`]).
    pub session: Option<SessionKey>,
}

/// Runs the lifecycle for one request on the channel it resolved to.
pub async fn serve(worker: &Rc<Worker>, front: &Front, pr: ProxyRequest) -> Response {
    let Some(imp) = front.channels.get(pr.channel).cloned() else {
        let msg = format!("channel {} has no upstream configured on this gateway yet", pr.channel);
        return error_response(pr.format, ErrorKind::Overloaded, &msg, None, None);
    };
    let model = Arc::clone(&pr.model);
    let fit_imp = imp.clone();
    let fit = move |d: &AccountDef| fit_imp.can_serve(d, &model);
    match imp {
        ChannelImpl::Test(t) => run(worker, &*t, &fit, &pr).await,
        ChannelImpl::Grok(g) => run(worker, &*g, &fit, &pr).await,
    }
}

/// Starts the upstream call and waits for its first item, within the time-to-first-token
/// deadline. An error as the first item (an upstream that answered 200 with an error) is that
/// error: nothing has reached the client yet.
async fn start_first<D: ChannelDriver>(
    driver: &D,
    attempt: &Attempt,
    req: &CanonicalRequest,
    ttft: Duration,
) -> Result<(D::Stream, StreamItem), AttemptError> {
    // Pinned in place (`pin!`, not moved into the timeout), so the future holds one copy.
    let first = std::pin::pin!(async {
        let mut stream = driver.start(attempt, req).await?;
        match stream.next().await {
            Some(Ok(first)) => match error_in_first_item(&first) {
                Some(e) => Err(e),
                None => Ok((stream, first)),
            },
            Some(Err(e)) => Err(e),
            None => Err(AttemptError::new(FailureClass::Server, "upstream closed the stream before answering")),
        }
    });
    match crate::runtime::coarse_timer::timeout(ttft, first).await {
        Ok(r) => r,
        Err(_) => Err(AttemptError::new(
            FailureClass::Slow,
            format!("upstream sent no first token within {} ms", ttft.as_millis()),
        )),
    }
}

/// The failover loop (`docs/failover.md`): select an account and a slot, refresh its token if
/// due, start the upstream; on a typed failure apply the account policy and try another account
/// while the class allows it, nothing was written to the client and attempts are left.
async fn run<D: ChannelDriver>(
    worker: &Rc<Worker>,
    driver: &D,
    fit: &dyn Fn(&AccountDef) -> bool,
    pr: &ProxyRequest,
) -> Response {
    let shard = worker.pool();
    let cfg = shard.config();
    let sel = SelectRequest::new(pr.channel, &pr.model.id).with_session(pr.session).with_can_serve(fit);
    let mut tries = Tries::new(cfg.max_attempts);
    let mut last_err: Option<AttemptError> = None;
    loop {
        // A coarse timer for the queue wait: a monoio `Sleep` would make this future (and every
        // one holding it, up to the per-request box) 128-byte aligned and 640 bytes larger.
        let lease = match shard.acquire_wait(&sel, &mut tries, crate::runtime::coarse_timer::sleep).await {
            Ok(l) => l,
            Err(u) => {
                return match &last_err {
                    Some(e) => answer::failed(pr.format, e, tries.attempts(), Some(&u)),
                    None => answer::unavailable(pr.format, &u),
                };
            }
        };
        let slot = match account::cross_instance_slot(worker, &lease).await {
            Ok(s) => s,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let def = match crate::accounts::refresh::ensure_fresh(worker, &lease).await {
            Ok(d) => d,
            Err(f) => {
                log::info!("{} account {}: no usable token ({f}); trying another", pr.channel, lease.id());
                last_err = Some(AttemptError::new(FailureClass::Auth, "upstream credentials could not be refreshed"));
                continue;
            }
        };
        let attempt = Attempt {
            account_id: Rc::from(def.id.as_str()),
            account: def,
            state: Some(std::sync::Arc::clone(lease.account().shared())),
            number: tries.attempts(),
            model: Arc::clone(&pr.model),
            client_format: pr.format,
        };
        let outcome = match start_first(driver, &attempt, &pr.req, cfg.ttft_timeout()).await {
            Ok((stream, first)) if pr.req.stream => {
                return stream_response(worker, pr, stream, first, Held { lease, _slot: slot });
            }
            Ok((stream, first)) => collect_response(pr, stream, first).await,
            Err(e) => Err(e),
        };
        let e = match outcome {
            Ok((response, usage)) => {
                account::record_success(worker, &lease, &usage);
                return response;
            }
            Err(e) => e,
        };
        let effect = account::record_failure(worker, &lease, &e, &pr.model.id);
        log::info!(
            "attempt {} on {} account {} failed ({}, scope {}): {}; account: {effect:?}",
            attempt.number,
            pr.channel,
            attempt.account_id,
            e.class.as_str(),
            e.scope.label(),
            e.message
        );
        let retry = e.class.retry_elsewhere() && tries.can_attempt();
        last_err = Some(e);
        drop((lease, slot));
        if !retry {
            break;
        }
    }
    let e = last_err.unwrap_or_else(|| AttemptError::new(FailureClass::Server, "no upstream account is available"));
    answer::failed(pr.format, &e, tries.attempts(), None)
}

/// What a streaming response holds until it ends: the account's slot (local and, in Redis
/// mode, cross-instance).
#[derive(Debug)]
struct Held {
    lease: Lease,
    /// Held for its `Drop` (releases the cross-instance slot).
    _slot: Option<account::SlotGuard>,
}

/// An upstream whose very first item is an error has written nothing to the client yet: treat
/// it as a failed attempt (an HTTP error, and a failover candidate), not as a 200 stream.
fn error_in_first_item(item: &StreamItem) -> Option<AttemptError> {
    let (kind, message) = match item {
        StreamItem::Event(CanonicalEvent::Error { kind, message }) => (*kind, message.unescape().into_owned()),
        StreamItem::Whole { format, body } if may_name_error(body, None) => {
            crate::channel::whole::error_of(*format, body)?
        }
        StreamItem::Event(_) | StreamItem::Whole { .. } => return None,
        StreamItem::Frame { format, event, data } => {
            if !may_name_error(data, event.as_deref()) {
                return None;
            }
            let mut events = Vec::new();
            let _ = crate::translate::StreamDecoder::new(*format).frame(event.as_deref(), data, &mut events);
            crate::translate::first_error(events)?
        }
    };
    Some(AttemptError::new(class_for(kind), message))
}

/// Whether an upstream payload can be an error at all: every decoder keys on the word `error`
/// (a key or an event name), so most first frames skip the decode. An escaped key
/// (`\u0065rror`) still decodes.
fn may_name_error(data: &[u8], event: Option<&[u8]>) -> bool {
    // Built once per thread: `memmem::find` would build a searcher on every call.
    thread_local! {
        static ERROR: memchr::memmem::Finder<'static> = memchr::memmem::Finder::new(b"error");
        static ESCAPE: memchr::memmem::Finder<'static> = memchr::memmem::Finder::new(b"\\u");
    }
    let named = |b: &[u8]| ERROR.with(|f| f.find(b).is_some());
    // A `\u` escape: searched for only from the first backslash on, so a payload without one
    // (most are) costs one `memchr`, and one full of escapes no more than the two-byte search.
    let escaped = || {
        memchr::memchr(b'\\', data)
            .is_some_and(|first| ESCAPE.with(|f| f.find(data.get(first..).unwrap_or_default()).is_some()))
    };
    named(data) || event.is_some_and(named) || escaped()
}

/// The failure class an upstream error kind stands for.
pub fn class_for(kind: ErrorKind) -> FailureClass {
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

fn stream_response<S: EventStream + 'static>(
    worker: &Rc<Worker>,
    pr: &ProxyRequest,
    mut stream: S,
    first: StreamItem,
    held: Held,
) -> Response {
    let (tx, rx) = sse_writer::channel(SSE_QUEUE);
    let mut p = Pipeline::new(pr.format, encode_options(pr));
    let worker = Rc::clone(worker);
    let model = pr.model.id.clone();
    // The first item's frames are queued before the response goes back, so the connection
    // writes them with the response head: one write and one wake-up of the client, where the
    // head went alone and the first token followed in a second write.
    p.item(first);
    let first_chunk = p.take();
    let mut unsent = if first_chunk.is_empty() { None } else { tx.try_send(first_chunk).err() };
    // The connection drives this producer in its own task (`http::sse_writer::Producer`); when
    // the client goes away it drops it, and the upstream request with it.
    let producer = Producer::new(async move {
        // After the first byte nothing is retried: a failure ends the stream with an error
        // event in the client's format and counts against this account.
        let mut failure: Option<AttemptError> = None;
        loop {
            if let Some(chunk) = unsent.take() {
                if tx.send(chunk).await.is_err() {
                    // Defensive: the connection drops this producer with its receiver, so a
                    // send never finds the receiver gone.
                    return;
                }
            }
            if p.ended() {
                break;
            }
            // A client that leaves while the upstream is silent is noticed by the connection
            // (its watch), which drops this producer and the upstream request with it.
            let next = stream.next().await;
            match next {
                Some(Ok(item)) => p.item(item),
                Some(Err(e)) => {
                    p.upstream_error(&e);
                    failure = Some(e);
                }
                None => p.finish(),
            }
            let chunk = p.take();
            unsent = (!chunk.is_empty()).then_some(chunk);
        }
        // The answer is complete: the client's body ends now, not after the upstream's tail
        // below (which may take up to `DRAIN_TAIL`).
        drop(tx);
        let failure = failure.or_else(|| p.error().map(|(kind, message)| AttemptError::new(class_for(kind), message)));
        match failure {
            Some(e) => {
                let effect = account::record_failure(&worker, &held.lease, &e, &model);
                log::info!(
                    "account {} failed after the first byte ({}): {}; account: {effect:?}",
                    held.lease.id(),
                    e.class.as_str(),
                    e.message
                );
            }
            None => account::record_success(&worker, &held.lease, &p.usage()),
        }
        drop(held);
        if p.ended() && !stream.is_exhausted() {
            Box::pin(drain_tail(&mut stream)).await;
        }
    });
    with_request_id(Response::sse(rx, producer), pr.format)
}

async fn collect_response<S: EventStream + 'static>(
    pr: &ProxyRequest,
    mut stream: S,
    first: StreamItem,
) -> Result<(Response, Usage), AttemptError> {
    if let StreamItem::Whole { format, body } = &first {
        if *format == pr.format {
            let model = JsonStr::from_text(&pr.req.model);
            if let Some((out, usage)) = crate::channel::whole::passthrough(*format, body, Some(&model)) {
                return Ok((with_request_id(Response::json(200, out), pr.format), usage));
            }
        }
    }
    let mut canon = Canonicalizer::default();
    let mut col = Collector::new();
    canon.item(first, |ev| col.event(ev.clone()));
    while !col.done() {
        match stream.next().await {
            Some(Ok(item)) => canon.item(item, |ev| col.event(ev.clone())),
            Some(Err(e)) => return Err(e),
            None => {
                canon.finish(|ev| col.event(ev.clone()));
                break;
            }
        }
    }
    if !stream.is_exhausted() {
        monoio::spawn(async move { drain_tail(&mut stream).await });
    }
    let msg = col.msg;
    if let Some((kind, message)) = &msg.error {
        return Err(AttemptError::new(class_for(*kind), message.unescape().into_owned()));
    }
    if msg.stop.is_none() {
        return Err(AttemptError::new(FailureClass::Server, crate::translate::canonical::CUT_STREAM_MESSAGE));
    }
    let model = JsonStr::from_text(&pr.req.model);
    let mut out = BytesMut::with_capacity(1024);
    match pr.format {
        WireFormat::Claude => msg.claude_json(Some(&model), &mut out),
        WireFormat::OpenAi => msg.openai_json(Some(&model), crate::translate::unix_now(), &mut out),
    }
    Ok((with_request_id(Response::json(200, out.freeze()), pr.format), msg.usage))
}

/// Reads the upstream past the end of a complete answer so its connection ends cleanly and goes
/// back to the keep-alive pool (only a fully read body is pooled). The client has its last byte
/// already; this costs it nothing. Bounded by [`DRAIN_TAIL`] and [`DRAIN_MAX_ITEMS`].
async fn drain_tail<S: EventStream>(stream: &mut S) {
    let drain = async {
        for _ in 0..DRAIN_MAX_ITEMS {
            match stream.next().await {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    };
    if monoio::time::timeout(DRAIN_TAIL, drain).await.is_err() {
        log::debug!("upstream sent no end of stream within {} ms after the answer", DRAIN_TAIL.as_millis());
    }
}

fn with_request_id(r: Response, format: WireFormat) -> Response {
    match format {
        WireFormat::Claude => r.header("request-id", crate::translate::new_message_id("req_")),
        WireFormat::OpenAi => r.header("x-request-id", crate::translate::new_message_id("req_")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(format: WireFormat, event: Option<&'static [u8]>, data: &'static [u8]) -> StreamItem {
        StreamItem::Frame { format, event: event.map(Bytes::from_static), data: Bytes::from_static(data) }
    }

    #[test]
    fn first_item_errors_are_found_and_plain_frames_skip_the_decode() {
        let openai_err =
            frame(WireFormat::OpenAi, None, br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#);
        assert_eq!(error_in_first_item(&openai_err).map(|e| e.class), Some(FailureClass::RateLimit));
        let claude_err = frame(
            WireFormat::Claude,
            Some(b"error"),
            br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
        );
        assert_eq!(error_in_first_item(&claude_err).map(|e| e.class), Some(FailureClass::Server));
        let escaped = frame(WireFormat::OpenAi, None, br#"{"\u0065rror":{"message":"x","type":"rate_limit_error"}}"#);
        assert!(may_name_error(br#"{"\u0065rror":1}"#, None));
        assert!(may_name_error(br#"{"a":"x\n\"","\u0065rror":1}"#, None), "a \\u escape after other escapes");
        assert!(!may_name_error(br#"{"a":"x\n\\","b":"u"}"#, None), "escapes, none of them \\u");
        assert!(!may_name_error(br#"{"a":"ends with a backslash\"#, None));
        let _ = error_in_first_item(&escaped); // decoded, whatever the decoder makes of it
        let text = frame(WireFormat::OpenAi, None, br#"{"choices":[{"index":0,"delta":{"content":"hi"}}]}"#);
        assert!(!may_name_error(br#"{"choices":[{"index":0,"delta":{"content":"hi"}}]}"#, None));
        assert!(error_in_first_item(&text).is_none());
        // A text that merely mentions the word is decoded and found to be no error.
        let mention = frame(WireFormat::OpenAi, None, br#"{"choices":[{"index":0,"delta":{"content":"an error"}}]}"#);
        assert!(error_in_first_item(&mention).is_none());
        let whole = StreamItem::Whole {
            format: WireFormat::OpenAi,
            body: Bytes::from_static(br#"{"error":{"message":"no key","type":"authentication_error"}}"#),
        };
        assert_eq!(error_in_first_item(&whole).map(|e| e.class), Some(FailureClass::Auth));
    }
}
