//! A complete request as handlers see it: the parsed head, the whole body, decoded path
//! parameters, and the peer address.

use super::head::RequestHead;
use bytes::Bytes;
use std::net::SocketAddr;

#[derive(Debug)]
pub struct Request {
    pub head: RequestHead,
    pub body: Bytes,
    /// Percent-decoded path parameters, in pattern order.
    pub params: super::path_params::PathParams,
    pub peer: SocketAddr,
}

impl Request {
    /// Decoded query parameters (routing ignores the query; handlers may read it).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.head.query.as_deref().map(crate::util::percent::query_pairs).unwrap_or_default()
    }

    pub fn query(&self, key: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i)
    }
}
