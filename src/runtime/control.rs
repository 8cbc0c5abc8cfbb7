//! Control messages from the main thread to each worker.
//!
//! Every worker owns one receiving end; the main thread keeps the senders (the accounts sync
//! thread holds a clone). The messages are `Shutdown` (drain), `Config` (a new snapshot) and
//! `Accounts` (a new account-pool snapshot); later steps add model updates.
//! Each message is applied by the worker's control task between requests, never under a borrow.

use crate::config::Config;
use std::sync::Arc;

/// A message to one worker.
#[derive(Debug, Clone)]
pub enum Control {
    /// Stop accepting, let in-flight work finish within the grace period, then exit.
    Shutdown,
    /// Replace the config snapshot (applies to new connections).
    Config(Arc<Config>),
    /// Install a new account-pool snapshot (definitions changed; cross-core state carried over).
    Accounts(Arc<crate::pool::Snapshot>),
}

/// The main thread's handle on every worker's control channel.
#[derive(Debug, Clone, Default)]
pub struct ControlPlane {
    senders: Vec<async_channel::Sender<Control>>,
}

impl ControlPlane {
    /// Creates the channel for one more worker and returns its receiving end.
    pub fn add_worker(&mut self) -> async_channel::Receiver<Control> {
        let (tx, rx) = async_channel::unbounded();
        self.senders.push(tx);
        rx
    }

    /// Sends a message to every worker; returns how many received it.
    pub fn broadcast(&self, msg: &Control) -> usize {
        self.senders.iter().filter(|tx| tx.try_send(msg.clone()).is_ok()).count()
    }
}
