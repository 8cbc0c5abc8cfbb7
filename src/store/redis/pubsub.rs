//! The change subscriber: one thread per process with its own small monoio runtime and one
//! dedicated connection `SUBSCRIBE`d to `{prefix}events`.
//!
//! Messages from other instances become [`StoreEvent`]s on the change feed (this instance's
//! own messages are skipped: it fed them locally when it wrote). The connection is pinged every
//! second; when it fails, `health()` turns degraded and the thread reconnects with backoff.
//! After a reconnect it feeds one `Resync`, since changes made meanwhile were missed.

use super::backend::Envelope;
use super::client::{RedisHealth, await_all, open_conn};
use super::resp::Reply;
use crate::store::feed::Feed;
use crate::store::settings::RedisSettings;
use crate::store::types::{StoreError, StoreEvent};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const PING_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Everything the subscriber thread needs.
#[derive(Debug)]
pub struct Subscriber {
    pub settings: Arc<RedisSettings>,
    pub origin: Arc<str>,
    pub feed: Feed,
    pub health: Arc<RedisHealth>,
    pub stop: async_channel::Receiver<()>,
}

enum End {
    Stopped,
    Lost(String),
}

impl Subscriber {
    /// Thread body. The first connection's outcome goes to `first` (start-up fails on it).
    pub fn run(self, first: std::sync::mpsc::Sender<Result<(), StoreError>>) {
        let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build();
        let mut rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                let _ = first.send(Err(StoreError::Io(format!("cannot start the redis subscriber runtime: {e}"))));
                return;
            }
        };
        rt.block_on(self.main(first));
    }

    async fn main(self, first: std::sync::mpsc::Sender<Result<(), StoreError>>) {
        let mut first = Some(first);
        let mut backoff = Duration::from_millis(50);
        let mut was_up = false;
        loop {
            match self.session(&mut first, was_up).await {
                Ok(End::Stopped) => return,
                Ok(End::Lost(why)) => {
                    log::warn!("store: redis subscription lost ({why}); serving from memory, reconnecting");
                    was_up = true;
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(e));
                        return;
                    }
                    log::debug!("store: redis subscriber reconnect failed: {e}");
                }
            }
            self.health.subscriber_up.store(false, Ordering::Relaxed);
            monoio::select! {
                () = monoio::time::sleep(backoff) => {}
                _ = self.stop.recv() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connected session: subscribe, then relay messages and ping until something fails.
    async fn session(
        &self,
        first: &mut Option<std::sync::mpsc::Sender<Result<(), StoreError>>>,
        resync: bool,
    ) -> Result<End, StoreError> {
        let (push_tx, push_rx) = async_channel::unbounded();
        let conn = open_conn(&self.settings, Some(push_tx)).await?;
        let channel = format!("{}events", self.settings.prefix);
        let sub = vec![b"SUBSCRIBE".to_vec(), channel.into_bytes()];
        await_all(&conn, &[sub], self.settings.timeout).await.map_err(|(e, _)| StoreError::unavailable(e))?;
        self.health.subscriber_up.store(true, Ordering::Relaxed);
        self.health.ok();
        if let Some(f) = first.take() {
            let _ = f.send(Ok(()));
        }
        if resync {
            log::info!("store: redis subscription restored");
            self.feed.push(StoreEvent::Resync);
        }
        loop {
            monoio::select! {
                msg = push_rx.recv() => match msg {
                    Ok(m) => self.relay(&m),
                    Err(_) => return Ok(End::Lost(conn_reason(&conn))),
                },
                () = monoio::time::sleep(PING_EVERY) => {
                    if let Err((e, _)) = await_all(&conn, &[vec![b"PING".to_vec()]], self.settings.timeout).await {
                        conn.kill(&e);
                        return Ok(End::Lost(e));
                    }
                }
                _ = self.stop.recv() => {
                    conn.kill("shutting down");
                    return Ok(End::Stopped);
                }
            }
        }
    }

    fn relay(&self, m: &Reply) {
        let Reply::Array(parts) = m else { return };
        let Some(payload) = parts.get(2).and_then(Reply::as_bytes) else {
            return;
        };
        match serde_json::from_slice::<Envelope>(payload) {
            Ok(env) if *env.origin != *self.origin => self.feed.push(env.event),
            Ok(_) => {}
            Err(e) => log::warn!("store: ignoring a malformed change event: {e}"),
        }
    }
}

fn conn_reason(conn: &super::conn::Conn) -> String {
    if conn.is_dead() { "connection closed".into() } else { "push channel closed".into() }
}
