//! orchids2api: a thread-per-core streaming LLM gateway.
//!
//! The binary (`orchids-server`) is a thin shell over this library; every parser lives here so
//! tests, benches and fuzz targets reach it. Module map: see `docs/architecture.md`.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod channel;
pub mod config;
pub mod domain;
pub mod grok;
pub mod handlers;
pub mod http;
pub mod logging;
pub mod models;
pub mod pool;
pub mod proxy;
pub mod route;
pub mod runtime;
pub mod sim;
pub mod store;
pub mod tokens;
pub mod translate;
pub mod upstream;
pub mod util;
