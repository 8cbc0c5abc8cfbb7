//! The grok channel driver: one channel, two upstream surfaces chosen per account by its
//! credentials (see `docs/channels/grok.md`).
//!
//! Key components:
//! - [`creds`]: `api_key` -> the xAI API, `sso` (+ `cookies`) -> the grok.com web chat.
//! - [`api`] / [`api_body`]: OpenAI-compatible chat completions; SSE frames are forwarded as
//!   [`StreamItem::Frame`]s (passthrough for OpenAI clients, decoded for Claude clients).
//!   `api_tools` writes the body's `tools` array and keeps the bytes of the last few large
//!   shared lists per worker (an agent's turns repeat them).
//! - [`web`] / [`web_decode`]: the flattened-prompt web request and its NDJSON answer decoded
//!   into canonical events (thinking, text, emulated tool calls, usage estimate).
//! - [`models`]: which kind serves which model ([`can_serve`]) and the xAI model listing.
//! - [`quota`]: the grok.com rate-limit lookup (B.7) for quota display.
//!
//! Error handling: a non-2xx answer is classified by `crate::grok::classify` into an
//! [`AttemptError`] (class, scope, reset hint); transport failures use the upstream client's
//! class (`network`); errors inside a 200 stream end the stream with an `Err` item, which before
//! the first client byte is a failed attempt (failover) and after it an in-stream error event.
//!
//! Rate-limit headers: every upstream response head (success or error, both surfaces) is read
//! once by [`read_head`]: its `x-ratelimit-*` windows are recorded on the account
//! (`pool::rate_limits`, shown by the admin API) and its reset hints become the error's deadline.
//!
//! Per-core: one [`GrokChannel`] per worker and config snapshot; it holds the worker's
//! upstream client (its keep-alive pool) and the per-worker model listing.

pub mod api;
pub mod api_body;
mod api_tools;
pub mod creds;
pub mod models;
pub mod quota;
pub mod web;
pub mod web_decode;

pub use models::can_serve;

use crate::channel::{Attempt, AttemptError, ChannelDriver, EventStream, StreamItem};
use crate::config::Config;
use crate::domain::{AccountDef, Channel, FailureClass, ModelDef};
use crate::grok::classify::{Classified, ErrorResponse};
use crate::pool::{AccountShared, HintParser};
use crate::translate::CanonicalRequest;
use crate::upstream::{ProxyChoice, RequestOptions, ResponseBody, UpstreamClient, UpstreamError};
use bytes::{Bytes, BytesMut};
use creds::Creds;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

/// Most bytes of an error body read (the rest is dropped with the connection).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The grok driver of one worker.
#[derive(Debug)]
pub struct GrokChannel {
    pub api_base_url: String,
    /// `{api_base_url}/chat/completions`, parsed once (`None` when it does not parse: each
    /// request then reports the parse error).
    chat_target: Option<crate::upstream::url::Target>,
    pub web_base_url: String,
    client: UpstreamClient,
    /// The config's grok accounts (model listing refresh; the pre-pool fallback below).
    accounts: Vec<Arc<AccountDef>>,
    api_models: Rc<models::ApiModels>,
    refresh_started: Cell<bool>,
    probes: quota::ProbeGate,
}

impl GrokChannel {
    /// The parsed chat completions target (see the field).
    pub fn chat_target(&self) -> Option<&crate::upstream::url::Target> {
        self.chat_target.as_ref()
    }

    pub fn new(cfg: &Config, client: UpstreamClient) -> Self {
        Self {
            api_base_url: cfg.channels.grok.api_base_url.clone(),
            chat_target: crate::upstream::url::Target::parse(&api::chat_url(&cfg.channels.grok.api_base_url)).ok(),
            web_base_url: cfg.channels.grok.web_base_url.clone(),
            client,
            accounts: cfg.accounts.iter().filter(|a| a.channel == Channel::Grok).map(|a| Arc::new(a.clone())).collect(),
            api_models: Rc::new(models::ApiModels::default()),
            refresh_started: Cell::new(false),
            probes: quota::ProbeGate::default(),
        }
    }

    pub fn client(&self) -> &UpstreamClient {
        &self.client
    }

    /// Whether `account` may serve `model`: its kind is in the model's `kinds`, and (API keys)
    /// the key's `GET /models` listing, once fetched, names the model's upstream id.
    pub fn can_serve(&self, model: &ModelDef, account: &AccountDef) -> bool {
        if account.channel != Channel::Grok {
            return false;
        }
        // The credential is read once: this runs for every account a selection looks at.
        let Some(kind) = creds::kind_of(account) else {
            return false;
        };
        models::kind_serves(model, kind)
            && (kind != creds::Kind::Api || self.api_models.allows(&account.id, model.upstream()) != Some(false))
    }

    /// The xAI ids an API-key account listed (if this worker fetched them).
    pub fn listed_models(&self, account_id: &str) -> Option<Vec<String>> {
        self.api_models.listed(account_id)
    }

    /// A web account's quota (B.7), paced per worker; see [`quota::lookup`].
    pub async fn quota(&self, account: &AccountDef, mode: &str) -> Result<crate::grok::ratelimit::Quota, AttemptError> {
        quota::lookup(self, &self.probes, account, mode).await
    }

    /// Starts the background model-listing refresh once per worker (best-effort).
    fn start_refresh(&self) {
        if self.refresh_started.replace(true) {
            return;
        }
        let task = models::refresh_all(
            self.client.clone(),
            self.api_base_url.clone(),
            self.accounts.clone(),
            Rc::clone(&self.api_models),
        );
        monoio::spawn(task);
    }

    /// The account to use. Until the pool hands out real accounts, the lifecycle's placeholder
    /// attempt carries no credentials: then the first enabled grok account from the config that
    /// can serve the model is used (a real attempt always has credentials, so this is inert
    /// once the pool selects accounts).
    /// A real attempt's account is checked against the model by [`serves`] in `start`.
    fn account_for(&self, attempt: &Attempt) -> Result<Arc<AccountDef>, AttemptError> {
        if !attempt.account.credentials.is_empty() {
            return Ok(Arc::clone(&attempt.account));
        }
        self.accounts.iter().find(|a| a.enabled && self.can_serve(&attempt.model, a)).cloned().ok_or_else(|| {
            let msg =
                format!("no upstream account: no grok account is configured that can serve model {}", attempt.model.id);
            AttemptError::new(FailureClass::Server, msg)
        })
    }
}

/// A grok answer in progress, whichever surface. Boxed: the proxy moves the stream through
/// several results and futures before it streams (each move of the 768-byte stream a copy).
#[derive(Debug)]
pub enum GrokStream {
    Api(Box<api::ApiStream>),
    Web(Box<web::WebStream>),
}

impl EventStream for GrokStream {
    async fn next(&mut self) -> Option<Result<StreamItem, AttemptError>> {
        match self {
            Self::Api(s) => s.next().await,
            Self::Web(s) => s.next().await,
        }
    }

    fn is_exhausted(&self) -> bool {
        match self {
            Self::Api(s) => s.is_exhausted(),
            Self::Web(_) => false,
        }
    }
}

impl ChannelDriver for GrokChannel {
    type Stream = GrokStream;

    async fn start(&self, attempt: &Attempt, req: &CanonicalRequest) -> Result<GrokStream, AttemptError> {
        self.start_refresh();
        let account = self.account_for(attempt)?;
        // One read of the credential serves the model check and the call.
        let creds = Creds::of(&account);
        if !serves(&attempt.model, &account, creds.as_ref().ok()) {
            let msg = format!("grok account {} cannot serve model {}", account.id, attempt.model.id);
            return Err(AttemptError::new(FailureClass::Model, msg));
        }
        let target = Target { account: &account, model: &attempt.model, state: attempt.state.as_deref() };
        match creds? {
            Creds::Api { key } => api::start(self, &target, key, req).await.map(|s| GrokStream::Api(Box::new(s))),
            Creds::Web { sso, cookies } => {
                web::start(self, &target, sso, cookies, req).await.map(|s| GrokStream::Web(Box::new(s)))
            }
        }
    }
}

/// [`models::can_serve`] with the account's credential already read (`None`: unusable).
fn serves(model: &ModelDef, account: &AccountDef, creds: Option<&Creds<'_>>) -> bool {
    account.channel == Channel::Grok && creds.is_some_and(|c| models::kind_serves(model, c.kind()))
}

/// Who one upstream call is for: the account, the resolved model, and the account's pool state
/// (where the response's rate-limit windows are recorded; `None` outside the pool).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub account: &'a AccountDef,
    pub model: &'a ModelDef,
    pub state: Option<&'a AccountShared>,
}

/// Reads a response head once: records its rate-limit windows on the account and returns the
/// reset-hint parser (its deadline is the error's hint).
pub fn read_head(head: &crate::upstream::response_head::ResponseHead, state: Option<&AccountShared>) -> HintParser {
    let now = now_ms();
    let mut hints = HintParser::new(now);
    for (name, value) in head.headers.iter() {
        hints.header(name, value);
    }
    if let Some(st) = state {
        st.rate_limits().record(hints.observed(), now);
    }
    hints
}

/// Request options for an account: its own proxy when it has one.
pub fn request_options(account: &AccountDef) -> RequestOptions {
    let proxy = match account.proxy.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => ProxyChoice::Default,
        Some(p) => match crate::upstream::proxy::ProxyConfig::parse(p) {
            Ok(cfg) => ProxyChoice::Via(Arc::new(cfg)),
            Err(e) => {
                log::warn!("grok account {}: proxy ignored ({e})", account.id);
                ProxyChoice::Default
            }
        },
    };
    RequestOptions { proxy, ..RequestOptions::default() }
}

/// Reads at most `max` bytes of a body (the rest is left unread; the connection is dropped).
pub async fn read_bounded(mut body: ResponseBody, max: usize) -> Result<Bytes, UpstreamError> {
    let mut out = BytesMut::new();
    while let Some(c) = body.chunk().await? {
        let room = max.saturating_sub(out.len());
        out.extend_from_slice(c.get(..c.len().min(room)).unwrap_or_default());
        if out.len() >= max {
            break;
        }
    }
    Ok(out.freeze())
}

/// A transport failure as an attempt error (`network` unless the client says otherwise).
pub fn transport_error(surface: &str, e: &UpstreamError) -> AttemptError {
    let class = e.failure_class().unwrap_or(FailureClass::Server);
    AttemptError::new(class, format!("{surface}: {e}"))
}

/// Reads an error answer (its head already read by [`read_head`] into `hints`) and classifies
/// it with `classify` (the API or web table).
pub async fn http_error(
    surface: &str,
    resp: crate::upstream::Response,
    hints: &HintParser,
    classify: fn(&ErrorResponse<'_>, u64) -> Classified,
) -> AttemptError {
    let status = resp.status();
    let cf = resp.head.header("cf-mitigated").map(<[u8]>::to_vec);
    let body = read_bounded(resp.body, MAX_ERROR_BODY).await.unwrap_or_default();
    let c = classify(
        &ErrorResponse { status, hint_at_ms: hints.deadline(), cf_mitigated: cf.as_deref(), body: &body },
        now_ms(),
    );
    log::debug!("{surface} answered {status}: class {} scope {:?}", c.class.as_str(), c.scope);
    let detail = if c.message.is_empty() { String::new() } else { format!(": {}", c.message) };
    let message = if c.class == FailureClass::Client {
        format!("{surface} rejected the request ({status}){detail}")
    } else {
        format!("{surface} answered {status} ({}){detail}", c.class.as_str())
    };
    AttemptError { class: c.class, scope: c.scope, message, retry_after: c.retry_after, status: Some(status) }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
