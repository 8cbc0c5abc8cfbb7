//! What the front-ends need per worker, derived from one config snapshot: the model table, the
//! client keys and the channel registry. Rebuilt lazily when the worker's config `Arc` changes
//! (a config reload), so a request always sees one consistent snapshot.

use crate::channel::ChannelRegistry;
use crate::config::{Config, Secret};
use crate::models::ModelTable;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// The front-end state of one worker.
#[derive(Debug)]
pub struct Front {
    pub models: ModelTable,
    pub keys: Vec<Secret>,
    pub channels: ChannelRegistry,
}

impl Front {
    pub fn from_config(cfg: &Config, upstream: &crate::upstream::UpstreamClient) -> Self {
        Self {
            models: ModelTable::new(&cfg.models),
            keys: cfg.api_keys.clone(),
            channels: ChannelRegistry::from_config(cfg, upstream),
        }
    }
}

/// Per-worker cache of [`Front`], keyed by the config snapshot it was built from.
#[derive(Debug, Default)]
pub struct FrontCache {
    slot: RefCell<Option<(Arc<Config>, Rc<Front>)>>,
}

impl FrontCache {
    /// The state for `cfg`, rebuilding it if the snapshot changed (channels get `upstream`).
    pub fn get(&self, cfg: &Arc<Config>, upstream: &crate::upstream::UpstreamClient) -> Rc<Front> {
        if let Some((c, f)) = self.slot.borrow().as_ref() {
            if Arc::ptr_eq(c, cfg) {
                return Rc::clone(f);
            }
        }
        let front = Rc::new(Front::from_config(cfg, upstream));
        *self.slot.borrow_mut() = Some((Arc::clone(cfg), Rc::clone(&front)));
        front
    }
}
