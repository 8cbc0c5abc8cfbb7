//! The seam between the request lifecycle and the upstreams.
//!
//! A channel implements [`ChannelDriver`]: given one [`Attempt`] (an account chosen by the pool)
//! and the canonical request, it starts the upstream call and returns an [`EventStream`]. The
//! stream yields [`StreamItem`]s: canonical events (channels that decode their own protocol) or
//! raw frames in a client wire format (OpenAI-compatible upstreams), which the proxy forwards
//! untouched to a client of the same format and decodes for the other.
//!
//! Failures are [`AttemptError`]s carrying a [`FailureClass`] and the [`FailureScope`] it applies
//! to; the pool applies the policy for both, the lifecycle decides failover from the class while
//! nothing has been written to the client, and `proxy::answer` maps the last one to the client's
//! error (`docs/failover.md`).
//!
//! Static dispatch: the per-worker [`ChannelRegistry`] holds a [`ChannelImpl`] enum; adding a
//! channel adds one variant and one match arm in `proxy::dispatch`. Token refreshers are
//! dispatched the same way by [`refresh::ChannelRefresher`].

pub mod grok;
pub mod refresh;
pub mod whole;

use crate::domain::{AccountDef, Channel, FailureClass, ModelDef};
use crate::pool::{AccountShared, FailureScope};
use crate::translate::canonical::{CanonicalEvent, WireFormat};
use bytes::Bytes;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// One try against one account.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The account's id (a fixed pseudo-account until the pool lands).
    pub account_id: Rc<str>,
    /// The account's definition (credentials, proxy) as of this attempt.
    pub account: Arc<AccountDef>,
    /// The account's cross-core pool state, where a channel records the upstream's rate-limit
    /// headers (`pool::rate_limits`); `None` outside the pool.
    pub state: Option<Arc<AccountShared>>,
    /// 1 for the first try.
    pub number: u32,
    /// The resolved model (its `upstream()` id is what the upstream gets).
    pub model: Arc<ModelDef>,
    /// The client's wire format (a channel may pick the matching upstream dialect).
    pub client_format: WireFormat,
}

/// An upstream failure, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub class: FailureClass,
    /// What the failure applies to (the pool cools that); [`FailureScope::default_for`] the
    /// class unless the channel knows better.
    pub scope: FailureScope,
    pub message: String,
    /// From `Retry-After` or a reset hint.
    pub retry_after: Option<Duration>,
    /// The upstream's HTTP status, when there was one.
    pub status: Option<u16>,
}

impl AttemptError {
    /// A failure of `class` with the class's default scope.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            scope: FailureScope::default_for(class),
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }
}

/// The credential kind of an account, for channels with several (grok: `api` / `web`); `None`
/// for channels with one. The pool groups accounts into channel surfaces by it.
pub fn credential_kind(account: &AccountDef) -> Option<&'static str> {
    match account.channel {
        Channel::Grok => grok::creds::kind_of(account).map(grok::creds::Kind::as_str),
        Channel::Orchids | Channel::Warp => None,
    }
}

/// What an upstream stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    Event(CanonicalEvent),
    /// One SSE frame in a client wire format (`event` name, `data`).
    Frame {
        format: WireFormat,
        event: Option<Bytes>,
        data: Bytes,
    },
    /// A whole non-streaming answer in a wire format (an OpenAI `chat.completion`), the only
    /// item of its stream: forwarded as is to a client of the same format, re-framed otherwise
    /// (`proxy::whole`).
    Whole {
        format: WireFormat,
        body: Bytes,
    },
}

/// An upstream answer in progress. `None` = the upstream closed the stream.
#[expect(async_fn_in_trait, reason = "thread-per-core: these futures never cross threads, so no Send bound is wanted")]
pub trait EventStream {
    async fn next(&mut self) -> Option<Result<StreamItem, AttemptError>>;

    /// True when `next` can only answer `None`: nothing is buffered and no upstream body is
    /// left to read. The lifecycle then skips draining the framing tail (no task, no timer).
    fn is_exhausted(&self) -> bool {
        false
    }
}

/// One upstream channel.
#[expect(async_fn_in_trait, reason = "thread-per-core: these futures never cross threads, so no Send bound is wanted")]
pub trait ChannelDriver {
    type Stream: EventStream + 'static;

    /// Starts the upstream call. Errors here happen before anything reaches the client.
    async fn start(
        &self,
        attempt: &Attempt,
        req: &crate::translate::CanonicalRequest,
    ) -> Result<Self::Stream, AttemptError>;
}

/// Every channel implementation the gateway has (static dispatch).
#[derive(Debug, Clone)]
pub enum ChannelImpl {
    /// The scripted test channel (`test_channel: true` only).
    Test(Rc<crate::sim::test_channel::TestChannel>),
    /// xAI API keys and grok.com web sessions (`channel/grok/`).
    Grok(Rc<grok::GrokChannel>),
}

impl ChannelImpl {
    /// Whether an account's credential kind can serve `model` (the pool's `can_serve` check,
    /// shown as `cannot_serve` by explain). Channels with several credential kinds (grok `api`
    /// / `web`) answer from the model's `kinds`; the default is `true`.
    pub fn can_serve(&self, account: &AccountDef, model: &ModelDef) -> bool {
        match self {
            Self::Test(_) => kind_fits(account.credentials.get("kind").map(String::as_str), model),
            Self::Grok(g) => g.can_serve(model, account),
        }
    }
}

/// The shared rule for credential kinds: a model with no `kinds` fits every account; otherwise
/// the account's kind must be listed (an account with no kind fits any model).
pub fn kind_fits(kind: Option<&str>, model: &ModelDef) -> bool {
    match kind {
        Some(k) if !model.kinds.is_empty() => model.kinds.iter().any(|m| m == k),
        _ => true,
    }
}

/// The channels one worker can reach, by [`Channel`].
#[derive(Debug, Default)]
pub struct ChannelRegistry {
    slots: [Option<ChannelImpl>; 3],
}

fn slot(c: Channel) -> usize {
    match c {
        Channel::Orchids => 0,
        Channel::Warp => 1,
        Channel::Grok => 2,
    }
}

impl ChannelRegistry {
    /// The registry a config asks for. Real channels register here as they land; `upstream` is
    /// the worker's upstream client (its keep-alive pool), shared by every channel.
    pub fn from_config(cfg: &crate::config::Config, upstream: &crate::upstream::UpstreamClient) -> Self {
        let mut r = Self::default();
        if cfg.test_channel {
            for c in Channel::ALL {
                r.set(c, ChannelImpl::Test(Rc::new(crate::sim::test_channel::TestChannel::new(c))));
            }
        } else {
            r.set(Channel::Grok, ChannelImpl::Grok(Rc::new(grok::GrokChannel::new(cfg, upstream.clone()))));
        }
        r
    }

    pub fn set(&mut self, c: Channel, imp: ChannelImpl) {
        if let Some(s) = self.slots.get_mut(slot(c)) {
            *s = Some(imp);
        }
    }

    pub fn get(&self, c: Channel) -> Option<&ChannelImpl> {
        self.slots.get(slot(c)).and_then(Option::as_ref)
    }
}
