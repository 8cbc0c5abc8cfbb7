//! A response body, pulled as `Bytes` chunks: Content-Length, chunked, or until close.
//!
//! Zero-copy on plain connections: chunks are slices split off the read buffer. Every read
//! waits at most `upstream_idle_ms` (-> `IdleTimeout`) and never past the request's total
//! deadline (-> `TotalTimeout`); the byte count is capped (-> `BodyTooLarge`).
//!
//! The connection goes back to the pool the moment the last byte is read (if the server
//! allowed keep-alive and nothing stray followed). Dropping the body earlier drops the
//! connection, which closes it: that is how a cancelled request stops the upstream.

use super::conn::Connection;
use super::connect::PhaseDeadline;
use super::error::{ErrorKind, UpstreamError};
use super::pool::{Pool, PoolKey};
use super::response_head::BodyFraming;
use super::transport::ReadOutcome;
use crate::http::chunked::{Chunk, ChunkedDecoder};
use bytes::{Bytes, BytesMut};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum State {
    Length(u64),
    Chunked(ChunkedDecoder),
    Close,
    Done,
    Failed(UpstreamError),
}

/// Where a finished connection goes.
#[derive(Debug)]
pub(crate) struct Return {
    pub pool: Rc<Pool>,
    pub key: PoolKey,
}

/// The streaming body of one response.
#[derive(Debug)]
pub struct ResponseBody {
    state: State,
    conn: Option<Connection>,
    ret: Option<Return>,
    keep_alive: bool,
    idle: Duration,
    total: Instant,
    max_bytes: u64,
    received: u64,
    /// For error messages; shared with the request's target (no copy per response).
    host: Arc<str>,
}

impl ResponseBody {
    #[expect(clippy::too_many_arguments, reason = "one internal call site; fields of the exchange")]
    pub(crate) fn new(
        framing: BodyFraming,
        keep_alive: bool,
        conn: Connection,
        ret: Option<Return>,
        idle: Duration,
        total: Instant,
        max_bytes: u64,
        host: &Arc<str>,
    ) -> Self {
        let state = match framing {
            BodyFraming::Empty => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::Chunked(ChunkedDecoder::new()),
            BodyFraming::Close => State::Close,
        };
        let mut body = Self {
            state,
            conn: Some(conn),
            ret,
            keep_alive,
            idle,
            total,
            max_bytes,
            received: 0,
            host: Arc::clone(host),
        };
        if let State::Length(n) = body.state {
            if n > max_bytes {
                body.fail(UpstreamError::new(
                    ErrorKind::BodyTooLarge,
                    format!("{host}: Content-Length {n} is over the {max_bytes}-byte limit"),
                ));
            }
        }
        if matches!(body.state, State::Done) {
            body.finish();
        }
        body
    }

    /// The next piece of the body; `Ok(None)` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        loop {
            let out = match &mut self.state {
                State::Done => return Ok(None),
                State::Failed(e) => return Err(e.clone()),
                State::Length(left) => {
                    let Some(conn) = self.conn.as_mut() else {
                        return Ok(None);
                    };
                    if conn.rbuf.is_empty() {
                        None
                    } else {
                        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(conn.rbuf.len());
                        *left -= take as u64;
                        let data = conn.rbuf.split_to(take).freeze();
                        if *left == 0 {
                            self.state = State::Done;
                        }
                        Some(data)
                    }
                }
                State::Chunked(dec) => {
                    let Some(conn) = self.conn.as_mut() else {
                        return Ok(None);
                    };
                    match dec.decode(&mut conn.rbuf) {
                        Ok(Chunk::Data(d)) => Some(d),
                        Ok(Chunk::NeedMore) => None,
                        Ok(Chunk::Done) => {
                            self.state = State::Done;
                            self.finish();
                            return Ok(None);
                        }
                        Err(e) => {
                            let err =
                                UpstreamError::new(ErrorKind::Protocol, format!("{}: {}", self.host, e.message()));
                            return Err(self.fail(err));
                        }
                    }
                }
                State::Close => {
                    let Some(conn) = self.conn.as_mut() else {
                        return Ok(None);
                    };
                    if conn.rbuf.is_empty() { None } else { Some(conn.rbuf.split().freeze()) }
                }
            };
            match out {
                Some(data) => {
                    self.received += data.len() as u64;
                    if self.received > self.max_bytes {
                        let err = UpstreamError::new(
                            ErrorKind::BodyTooLarge,
                            format!("{}: response body over the {}-byte limit", self.host, self.max_bytes),
                        );
                        return Err(self.fail(err));
                    }
                    if matches!(self.state, State::Done) {
                        self.finish();
                    }
                    if data.is_empty() {
                        continue;
                    }
                    return Ok(Some(data));
                }
                None => self.read_more().await?,
            }
        }
    }

    /// Reads the rest into one buffer (bounded by the body limit).
    pub async fn collect(mut self) -> Result<Bytes, UpstreamError> {
        let mut out = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out.freeze())
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    async fn read_more(&mut self) -> Result<(), UpstreamError> {
        let deadline = PhaseDeadline::new(self.idle, self.total);
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let r = conn.t.read_or_abandon(&mut conn.rbuf, deadline.at).await;
        let err = match r {
            Ok(ReadOutcome::Data(_)) => return Ok(()),
            Ok(ReadOutcome::Eof) => {
                if matches!(self.state, State::Close) {
                    self.state = State::Done;
                    // Close-delimited: the connection is finished, never pooled.
                    self.conn = None;
                    return Ok(());
                }
                let expected = match &self.state {
                    State::Length(left) => format!(" ({left} bytes missing)"),
                    _ => String::new(),
                };
                UpstreamError::new(ErrorKind::Closed, format!("{} closed the connection mid-body{expected}", self.host))
            }
            Ok(ReadOutcome::TimedOut) => deadline.expired(
                ErrorKind::IdleTimeout,
                format!("{}: no body bytes for {} ms", self.host, self.idle.as_millis()),
            ),
            Err(e) => UpstreamError::io(&e, &format!("reading the response body from {}", self.host)),
        };
        Err(self.fail(err))
    }

    /// Poisons the body: the connection is closed, later calls repeat the error.
    fn fail(&mut self, err: UpstreamError) -> UpstreamError {
        self.conn = None;
        self.state = State::Failed(err.clone());
        err
    }

    /// The body is complete: hand the connection back if it is clean and reusable.
    fn finish(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.keep_alive || !conn.rbuf.is_empty() {
            return;
        }
        if let Some(ret) = self.ret.take() {
            ret.pool.put(ret.key, conn);
        }
    }
}
