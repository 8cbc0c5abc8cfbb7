//! The change feed: a bounded queue of [`StoreEvent`]s for one consumer per process.
//!
//! If nobody drains it and it fills up, the queued events are replaced by one
//! [`StoreEvent::Resync`] ("reload everything"), so a slow consumer loses detail, never
//! correctness, and memory stays bounded.

use super::types::StoreEvent;

/// Queue length before collapsing into `Resync`.
const FEED_LEN: usize = 4096;

/// Both ends of the feed (the sender keeps a receiver to collapse a full queue).
#[derive(Debug, Clone)]
pub struct Feed {
    tx: async_channel::Sender<StoreEvent>,
    rx: async_channel::Receiver<StoreEvent>,
}

impl Default for Feed {
    fn default() -> Self {
        let (tx, rx) = async_channel::bounded(FEED_LEN);
        Self { tx, rx }
    }
}

impl Feed {
    pub fn push(&self, ev: StoreEvent) {
        if let Err(async_channel::TrySendError::Full(ev)) = self.tx.try_send(ev) {
            while self.rx.try_recv().is_ok() {}
            let _ = self.tx.try_send(StoreEvent::Resync);
            let _ = self.tx.try_send(ev);
        }
    }

    pub fn receiver(&self) -> async_channel::Receiver<StoreEvent> {
        self.rx.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_feed_collapses_into_resync() {
        let f = Feed::default();
        for i in 0..=FEED_LEN {
            f.push(StoreEvent::ModelPut { id: i.to_string() });
        }
        let rx = f.receiver();
        assert_eq!(rx.try_recv().unwrap(), StoreEvent::Resync);
        assert_eq!(rx.try_recv().unwrap(), StoreEvent::ModelPut { id: FEED_LEN.to_string() });
        assert!(rx.try_recv().is_err());
    }
}
