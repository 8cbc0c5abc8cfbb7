//! The grok channel's pure pieces: everything about speaking to the official xAI API and to the
//! grok.com web app-chat protocol that needs no IO. The channel driver (in `channel/`) calls
//! these; tests, fuzz targets and benches reach them directly.
//!
//! Key components:
//! - [`ndjson`]: one grok.com NDJSON line -> [`ndjson::GrokWebEvent`] (borrowed where possible).
//! - [`web_text`]: answer reconciliation (final-message suffix) and split-safe stripping of the
//!   web-UI markup blocks (`<grok:render>`, `<xai:tool_usage_card>`).
//! - [`tool_markup`]: the streaming `<tool_call>{json}</tool_call>` parser (tool emulation).
//! - [`flatten`]: chat history -> the one prompt string the web protocol takes, with the tool
//!   instruction block.
//! - [`web_request`]: the `conversations/new` JSON payload and the honest request headers.
//! - [`classify`]: upstream status + body (+ the header hint) -> [`crate::domain::FailureClass`],
//!   the [`crate::pool::FailureScope`] it applies to, and a reset hint.
//! - [`ratelimit`]: the `/rest/rate-limits` quota probe (the `x-ratelimit-*` headers are read by
//!   `pool::rate_limits`).
//! - [`ids`]: request ids (UUID v4) and tool-call ids (`call_<24 hex>`).
//!
//! Facts come from `shared/reference/upstreams/grok.md`; the section numbers (A.3, B.4, …) in
//! the module docs refer to it. The gateway never fabricates browser cookies or anti-bot headers:
//! the operator's own `sso` cookie (and any extra cookies they paste) are forwarded verbatim.

pub mod classify;
mod cow;
pub mod flatten;
pub mod ids;
pub mod ndjson;
pub mod ratelimit;
pub mod tool_markup;
pub mod web_request;
pub mod web_text;
