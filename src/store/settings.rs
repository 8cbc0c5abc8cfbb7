//! What the store needs from the config, resolved once at open: mode, paths, Redis connection
//! settings and the secret box (config `secret_key`, overridden by env `ORCHIDS_SECRET_KEY`).

use super::secret::SecretBox;
use super::types::StoreError;
use crate::config::{Config, Secret, StoreMode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The env variable that overrides `secret_key` when set and non-empty.
pub const SECRET_KEY_ENV: &str = "ORCHIDS_SECRET_KEY";

/// Redis connection settings.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `host:port`.
    pub addr: String,
    pub username: String,
    pub password: Secret,
    pub db: u32,
    /// Prepended to every key and to the `events` channel name.
    pub prefix: String,
    pub tls: bool,
    /// Extra CA certificates (PEM) trusted for Redis TLS besides the webpki roots: the config's
    /// `extra_ca_file`.
    pub tls_ca_file: Option<PathBuf>,
    /// Built from the two fields above when the store opens (`RedisHub::open`).
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// Connect timeout and per-reply timeout.
    pub timeout: Duration,
    /// How long writes keep retrying a connection that cannot be made before being refused.
    pub retry: Duration,
}

impl RedisSettings {
    /// Builds `tls_config` when `tls` is on: the shared upstream trust (webpki roots +
    /// `tls_ca_file`), without ALPN (Redis does not negotiate one).
    pub fn prepare_tls(&mut self) -> Result<(), StoreError> {
        if self.tls && self.tls_config.is_none() {
            let base = crate::upstream::tls::client_config(self.tls_ca_file.as_deref())
                .map_err(|e| StoreError::Invalid(format!("redis_tls: {e}")))?;
            let mut cfg = (*base).clone();
            cfg.alpn_protocols.clear();
            self.tls_config = Some(Arc::new(cfg));
        }
        Ok(())
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:6379".into(),
            username: String::new(),
            password: Secret::default(),
            db: 0,
            prefix: "orchids:".into(),
            tls: false,
            tls_ca_file: None,
            tls_config: None,
            timeout: Duration::from_secs(2),
            retry: Duration::from_secs(5),
        }
    }
}

/// Everything needed to open a store.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub mode: StoreMode,
    pub data_dir: PathBuf,
    /// The embedded log is folded into a new snapshot once it grows past this many bytes.
    pub snapshot_bytes: u64,
    pub redis: RedisSettings,
    pub secrets: SecretBox,
}

impl StoreSettings {
    /// Embedded store in `dir`, no secret key.
    pub fn embedded(dir: impl Into<PathBuf>) -> Self {
        Self {
            mode: StoreMode::Embedded,
            data_dir: dir.into(),
            snapshot_bytes: 4 * 1024 * 1024,
            redis: RedisSettings::default(),
            secrets: SecretBox::plain(),
        }
    }

    /// Redis store with `redis`, no secret key.
    pub fn redis(redis: RedisSettings) -> Self {
        Self { mode: StoreMode::Redis, redis, ..Self::embedded("data") }
    }

    pub fn from_config(cfg: &Config) -> Result<Self, StoreError> {
        let env_key = std::env::var(SECRET_KEY_ENV).ok().filter(|k| !k.trim().is_empty());
        let secrets = match env_key.as_deref().or(Some(cfg.secret_key.expose()).filter(|k| !k.is_empty())) {
            Some(k) => SecretBox::from_hex(k).map_err(|e| {
                let from = if env_key.is_some() { SECRET_KEY_ENV } else { "secret_key" };
                StoreError::Secret(format!("{from}: {e}"))
            })?,
            None => SecretBox::plain(),
        };
        Ok(Self {
            mode: cfg.store_mode,
            data_dir: cfg.data_dir.clone(),
            snapshot_bytes: 4 * 1024 * 1024,
            redis: RedisSettings {
                addr: cfg.redis_addr.clone(),
                username: cfg.redis_username.clone(),
                password: cfg.redis_password.clone(),
                db: cfg.redis_db,
                prefix: cfg.redis_prefix.clone(),
                tls: cfg.redis_tls,
                tls_ca_file: cfg.extra_ca_file.clone(),
                tls_config: None,
                timeout: cfg.redis_timeout,
                retry: cfg.redis_retry,
            },
            secrets,
        })
    }
}
