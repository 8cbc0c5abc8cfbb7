//! The Redis backend (`store_mode: "redis"`): our own RESP2 client on monoio, for one or many
//! gateway instances sharing one Redis.
//!
//! Key components:
//! - [`resp`]: framing over `redis-protocol` (encode commands, decode replies, limits);
//! - [`conn`]: one pipelined connection; [`client`]: reconnects, AUTH/SELECT, timeouts, retries;
//! - [`backend`]: the data model ([`RedisStore`] implements `StoreApi`);
//! - [`scripts`]: the three Lua scripts, where atomicity needs them;
//! - [`pubsub`]: the per-process subscriber feeding the change feed.
//!
//! Per core: each worker's [`RedisStore`] owns one connection, created lazily on that worker's
//! runtime. Per process: one subscriber thread and the shared [`client::RedisHealth`].

pub mod backend;
pub mod client;
pub mod conn;
pub mod oneshot;
pub mod pubsub;
pub mod resp;
pub mod scripts;

pub use backend::RedisStore;

use super::feed::Feed;
use super::secret::SecretBox;
use super::settings::{RedisSettings, StoreSettings};
use super::types::{Health, StoreError, StoreEvent};
use client::{Client, RedisHealth};
use std::sync::Arc;
use std::time::Duration;

/// The process's Redis store: settings, identity, health and the subscriber thread.
#[derive(Debug)]
pub struct RedisHub {
    settings: Arc<RedisSettings>,
    origin: Arc<str>,
    secrets: SecretBox,
    feed: Feed,
    health: Arc<RedisHealth>,
    stop: async_channel::Sender<()>,
}

impl RedisHub {
    /// Starts the subscriber and waits for its first connection: unreachable Redis, refused
    /// credentials or an unsupported option fail here, with the reason.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let mut redis = settings.redis.clone();
        redis.prepare_tls()?;
        let redis = Arc::new(redis);
        let origin: Arc<str> = super::random_id().into();
        let feed = Feed::default();
        let health = Arc::new(RedisHealth::default());
        let (stop, stop_rx) = async_channel::bounded(1);
        let sub = pubsub::Subscriber {
            settings: Arc::clone(&redis),
            origin: Arc::clone(&origin),
            feed: feed.clone(),
            health: Arc::clone(&health),
            stop: stop_rx,
        };
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("store-sub".into())
            .spawn(move || sub.run(first_tx))
            .map_err(|e| StoreError::Io(format!("cannot start the redis subscriber thread: {e}")))?;
        let wait = redis.timeout * 3 + Duration::from_secs(1);
        match first_rx.recv_timeout(wait) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                stop.close();
                return Err(StoreError::unavailable(format!("redis at {} did not answer in time", redis.addr)));
            }
        }
        log::info!("store: redis at {} db {} prefix {:?}", redis.addr, redis.db, redis.prefix);
        Ok(Self { settings: redis, origin, secrets: settings.secrets.clone(), feed, health, stop })
    }

    pub fn handle(&self) -> RedisStore {
        let client = Client::new(Arc::clone(&self.settings), Arc::clone(&self.health));
        RedisStore::new(
            client,
            Arc::clone(&self.origin),
            self.secrets.clone(),
            self.feed.clone(),
            Arc::clone(&self.health),
        )
    }

    pub fn events(&self) -> async_channel::Receiver<StoreEvent> {
        self.feed.receiver()
    }

    pub fn health(&self) -> Health {
        match self.health.problem() {
            None => Health::Ok,
            Some(why) => Health::Degraded(why.to_owned()),
        }
    }

    /// Stops the subscriber.
    pub fn close(&self) {
        self.stop.close();
    }
}
