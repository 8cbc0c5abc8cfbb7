//! Which token [`Refresher`] serves the accounts of each channel.
//!
//! Key components:
//! - [`ChannelRefresher`]: static dispatch over the channels' refreshers (the same reason as
//!   [`super::ChannelImpl`]: `async fn` traits are not dyn-compatible). Built per channel from
//!   the config with [`ChannelRefresher::for_channel`]; cheap (no I/O, no allocation), so each
//!   caller (a worker after a 401, the background sweeper) makes its own.
//! - [`NoRefresher`]: channels that cannot refresh (static keys; every real channel today). It
//!   rejects, so per `docs/failover.md` a 401 disables the account (`disabled(auth)`); the
//!   background sweeper skips such channels ([`ChannelRefresher::can_refresh`]).
//!
//! With `test_channel: true` every channel is the scripted test channel and refreshes with
//! [`TestRefresher`] (driven by the account's credentials, see `src/sim/test_channel.rs`).
//! Real refreshers (orchids, warp) get a variant here as they land.

use crate::config::Config;
use crate::domain::{AccountDef, Channel};
use crate::pool::{NewCredentials, RefreshError, Refresher};
use crate::sim::test_channel::TestRefresher;

/// The refresher of channels without one (module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRefresher;

impl Refresher for NoRefresher {
    async fn refresh(&self, _: &AccountDef) -> Result<NewCredentials, RefreshError> {
        Err(RefreshError::Rejected(
            "this channel cannot refresh tokens; save new credentials for the account".to_owned(),
        ))
    }
}

/// One channel's refresher (module docs).
#[derive(Debug, Clone, Copy)]
pub enum ChannelRefresher {
    None(NoRefresher),
    Test(TestRefresher),
}

impl ChannelRefresher {
    /// The refresher for accounts of `channel` under `cfg`.
    pub fn for_channel(cfg: &Config, channel: Channel) -> Self {
        let _ = channel;
        if cfg.test_channel { Self::Test(TestRefresher) } else { Self::None(NoRefresher) }
    }

    /// Whether refreshing can ever succeed (the sweeper skips channels where it cannot).
    pub fn can_refresh(&self) -> bool {
        !matches!(self, Self::None(_))
    }
}

impl Refresher for ChannelRefresher {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError> {
        match self {
            Self::None(r) => r.refresh(account).await,
            Self::Test(r) => r.refresh(account).await,
        }
    }

    fn expires_ms(&self, account: &AccountDef) -> Option<u64> {
        match self {
            Self::None(r) => r.expires_ms(account),
            Self::Test(r) => r.expires_ms(account),
        }
    }
}
