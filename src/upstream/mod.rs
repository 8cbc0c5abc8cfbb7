//! The upstream client: how every channel talks to its upstream. See `docs/upstream-client.md`.
//!
//! Key components:
//! - [`client`]: the per-core [`UpstreamClient`] (`send(Request) -> Response` with a streaming
//!   body), request options (proxy choice, timeouts, body cap).
//! - [`conn`] / [`body`] / [`response_head`]: HTTP/1.1 request writing, response head parsing
//!   and body framing (Content-Length, chunked, close).
//! - [`transport`] / [`tls`]: plain or rustls TCP streams with cancel-safe, deadline-bounded
//!   reads; the one shared `ClientConfig` (webpki roots + `extra_ca_file`).
//! - [`connect`] / [`dns`] / [`proxy`]: resolver threads with a per-core TTL cache, TCP connect,
//!   HTTP CONNECT and SOCKS5 tunnels, `no_proxy`.
//! - [`pool`]: per-core LIFO keep-alive pool with idle timeout and per-origin cap.
//! - [`sse`] / [`ndjson`] / [`lines`]: split-safe readers of `text/event-stream` and NDJSON bodies.
//! - [`ws`] / [`ws_frame`]: the RFC 6455 WebSocket client and its pure frame codec.
//! - [`error`]: the one typed [`UpstreamError`].
//!
//! Error handling: every failure is an [`UpstreamError`] with a kind, a side and whether the
//! request may be retried elsewhere before the first byte reached the client.
//!
//! Performance: per-core state is `Rc`/`RefCell`; bodies are zero-copy slices of the read
//! buffer on plain connections; SSE and NDJSON parsing scan each byte once.

pub mod b64;
pub mod body;
pub mod client;
pub mod conn;
pub mod connect;
pub mod dns;
pub mod error;
pub mod lines;
pub mod ndjson;
pub mod pool;
pub mod proxy;
pub mod response_head;
pub mod settings;
pub mod sse;
pub mod tls;
pub mod transport;
pub mod url;
pub mod ws;
pub mod ws_frame;

pub use body::ResponseBody;
pub use client::{ProxyChoice, Request, RequestOptions, Response, UpstreamClient};
pub use conn::RequestBody;
pub use error::{ErrorKind, Side, UpstreamError};
pub use settings::{ClientSettings, UpstreamLimits, UpstreamShared, UpstreamTimeouts};
