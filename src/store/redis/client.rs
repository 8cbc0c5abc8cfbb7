//! A worker's Redis client: one pipelined [`Conn`], (re)connected on demand with AUTH, SELECT
//! and script loading, command timeouts, and retries with capped exponential backoff.
//!
//! Retry rule (writes are never silently dropped, and never applied twice by us):
//! - the connection could not be made, or died before our bytes were queued: retry until
//!   `redis_retry` has passed, then refuse with `StoreError::Unavailable` (not applied);
//! - the bytes were sent but the reply was lost (timeout, reset): idempotent commands are
//!   retried; others are refused with `Unavailable { outcome_unknown: true }`.
//!
//! Health: every success and failure is recorded in the shared [`RedisHealth`].

use super::conn::Conn;
use super::resp::Reply;
use super::scripts::Scripts;
use crate::domain::now_ms;
use crate::store::settings::RedisSettings;
use crate::store::types::StoreError;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A failure this recent (with no success since) keeps `health()` degraded.
const FAILURE_WINDOW_MS: u64 = 5_000;

/// Shared by every client and the subscriber of one process.
#[derive(Debug, Default)]
pub struct RedisHealth {
    pub subscriber_up: AtomicBool,
    pub last_ok_ms: AtomicU64,
    pub last_fail_ms: AtomicU64,
}

impl RedisHealth {
    pub fn ok(&self) {
        self.last_ok_ms.store(now_ms(), Ordering::Relaxed);
    }
    pub fn fail(&self) {
        self.last_fail_ms.store(now_ms(), Ordering::Relaxed);
    }
    /// `None` when healthy, else why not.
    pub fn problem(&self) -> Option<&'static str> {
        if !self.subscriber_up.load(Ordering::Relaxed) {
            return Some("redis subscription is down (reconnecting)");
        }
        let fail = self.last_fail_ms.load(Ordering::Relaxed);
        let ok = self.last_ok_ms.load(Ordering::Relaxed);
        (fail > ok && now_ms().saturating_sub(fail) < FAILURE_WINDOW_MS).then_some("redis commands are failing")
    }
}

/// Opens a connection and runs the handshake (AUTH, SELECT, PING). Auth problems are
/// `StoreError::Auth`; anything else is a plain message.
pub async fn open_conn(s: &RedisSettings, push: Option<async_channel::Sender<Reply>>) -> Result<Rc<Conn>, StoreError> {
    let tls = if s.tls {
        Some(
            s.tls_config
                .as_ref()
                .ok_or_else(|| StoreError::Invalid("redis_tls: no TLS client config was built".into()))?,
        )
    } else {
        None
    };
    let conn = Conn::connect(&s.addr, s.timeout, tls, push).await.map_err(StoreError::unavailable)?;
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    if !s.password.is_empty() {
        let mut auth = vec![b"AUTH".to_vec()];
        if !s.username.is_empty() {
            auth.push(s.username.as_bytes().to_vec());
        }
        auth.push(s.password.expose().as_bytes().to_vec());
        cmds.push(auth);
    }
    if s.db != 0 {
        cmds.push(vec![b"SELECT".to_vec(), s.db.to_string().into_bytes()]);
    }
    cmds.push(vec![b"PING".to_vec()]);
    let replies = await_all(&conn, &cmds, s.timeout).await.map_err(|(e, _)| StoreError::unavailable(e))?;
    for (cmd, reply) in cmds.iter().zip(&replies) {
        if let Reply::Error(e) = reply {
            conn.kill("handshake failed");
            let what = String::from_utf8_lossy(cmd.first().map_or(&[][..], Vec::as_slice)).into_owned();
            let auth_like =
                what == "AUTH" || e.starts_with("NOAUTH") || e.starts_with("WRONGPASS") || e.contains("AUTH");
            return Err(if auth_like {
                StoreError::Auth(format!("redis at {} refused our credentials: {e}", s.addr))
            } else {
                StoreError::Redis(format!("{what} failed: {e}"))
            });
        }
    }
    Ok(conn)
}

/// Sends `cmds` and awaits every reply within `timeout`. `Err((why, sent))`.
pub async fn await_all<A: AsRef<[u8]>>(
    conn: &Rc<Conn>,
    cmds: &[Vec<A>],
    timeout: Duration,
) -> Result<Vec<Reply>, (String, bool)> {
    let slots = conn.send(cmds).map_err(|e| (e, false))?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        match monoio::time::timeout_at(deadline.into(), slot).await {
            Ok(Ok(Ok(r))) => out.push(r),
            Ok(Ok(Err(e))) => return Err((e, true)),
            Ok(Err(_)) => return Err(("redis connection dropped".into(), true)),
            Err(_) => {
                let why = format!("redis did not answer within {} ms", timeout.as_millis());
                conn.kill(&why);
                return Err((why, true));
            }
        }
    }
    Ok(out)
}

/// Holds the connect permit; returns it on drop.
struct Permit<'a>(&'a async_channel::Receiver<()>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

/// One worker's client.
///
/// Dropping it does not close its connection: that would wake the connection's tasks, which
/// must only happen on their own runtime, and a handle may be dropped after its runtime is
/// gone. The connection ends with its worker's runtime.
#[derive(Debug)]
pub struct Client {
    settings: Arc<RedisSettings>,
    health: Arc<RedisHealth>,
    conn: RefCell<Option<Rc<Conn>>>,
    /// Single-flight connect: one permit.
    gate: (async_channel::Sender<()>, async_channel::Receiver<()>),
    backoff: Cell<Duration>,
    pub scripts: Scripts,
}

impl Client {
    pub fn new(settings: Arc<RedisSettings>, health: Arc<RedisHealth>) -> Self {
        let gate = async_channel::bounded(1);
        Self {
            settings,
            health,
            conn: RefCell::new(None),
            gate,
            backoff: Cell::new(BACKOFF_MIN),
            scripts: Scripts::default(),
        }
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    fn live(&self) -> Option<Rc<Conn>> {
        self.conn.borrow().as_ref().filter(|c| !c.is_dead()).cloned()
    }

    async fn connection(&self) -> Result<Rc<Conn>, StoreError> {
        if let Some(c) = self.live() {
            return Ok(c);
        }
        // Single flight: whoever holds the permit connects; the others then find it live. The
        // guard gives the permit back even if this future is dropped mid-connect.
        let _ = self.gate.0.send(()).await;
        let _permit = Permit(&self.gate.1);
        match self.live() {
            Some(c) => Ok(c),
            None => match open_conn(&self.settings, None).await {
                Ok(c) => {
                    self.scripts.reset();
                    *self.conn.borrow_mut() = Some(Rc::clone(&c));
                    self.backoff.set(BACKOFF_MIN);
                    Ok(c)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Runs `cmds` as one pipelined batch; see the module doc for the retry rule.
    pub async fn exec<A: AsRef<[u8]>>(&self, cmds: &[Vec<A>], idempotent: bool) -> Result<Vec<Reply>, StoreError> {
        let deadline = Instant::now() + self.settings.retry;
        loop {
            let why = match self.connection().await {
                Ok(conn) => match await_all(&conn, cmds, self.settings.timeout).await {
                    Ok(replies) => {
                        self.health.ok();
                        return Ok(replies);
                    }
                    Err((why, true)) if !idempotent => {
                        self.health.fail();
                        return Err(StoreError::Unavailable { reason: why, outcome_unknown: true });
                    }
                    Err((why, _)) => why,
                },
                Err(e @ (StoreError::Auth(_) | StoreError::Invalid(_) | StoreError::Redis(_))) => {
                    self.health.fail();
                    return Err(e);
                }
                Err(e) => e.to_string(),
            };
            self.health.fail();
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::unavailable(why));
            }
            let pause = self.backoff.get().min(deadline - now);
            self.backoff.set((self.backoff.get() * 2).min(BACKOFF_MAX));
            monoio::time::sleep(pause).await;
        }
    }

    /// One command.
    pub async fn exec1<A: AsRef<[u8]>>(&self, cmd: Vec<A>, idempotent: bool) -> Result<Reply, StoreError> {
        let mut r = self.exec(&[cmd], idempotent).await?;
        r.pop().ok_or_else(|| StoreError::Redis("no reply".into()))
    }
}
