//! The model table: built-in defaults per channel plus the config `models` overrides, lookup by
//! id or alias (optionally within one channel), listing, and "did you mean" suggestions for
//! unknown names (Damerau-Levenshtein distance).
//!
//! Immutable once built; shared per worker behind an `Rc` and rebuilt when the config changes.

pub mod builtin;

use crate::domain::{Channel, ModelDef};
use std::sync::Arc;

/// The resolved table.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    /// Shared, so a request takes its model with a reference count, not a deep copy.
    entries: Vec<Arc<ModelDef>>,
}

impl ModelTable {
    /// Built-ins with `overrides` applied: an override with the same channel and id replaces the
    /// built-in (a disabled one hides it); any other is added after the built-ins.
    pub fn new(overrides: &[ModelDef]) -> Self {
        let mut entries: Vec<Arc<ModelDef>> = builtin::builtin().into_iter().map(Arc::new).collect();
        for o in overrides {
            match entries.iter_mut().find(|e| e.channel == o.channel && e.id == o.id) {
                Some(slot) => *slot = Arc::new(o.clone()),
                None => entries.push(Arc::new(o.clone())),
            }
        }
        Self { entries }
    }

    /// Enabled models, optionally only one channel's, in listing order.
    pub fn list(&self, channel: Option<Channel>) -> impl Iterator<Item = &ModelDef> {
        self.shared(channel).map(|m| &**m)
    }

    fn shared(&self, channel: Option<Channel>) -> impl Iterator<Item = &Arc<ModelDef>> {
        self.entries.iter().filter(move |m| m.enabled && channel.is_none_or(|c| m.channel == c))
    }

    /// The enabled model `name` (id first, then aliases) within `channel` or, with `None`, the
    /// first channel that serves it.
    pub fn resolve(&self, name: &str, channel: Option<Channel>) -> Option<&Arc<ModelDef>> {
        self.shared(channel)
            .find(|m| m.id == name)
            .or_else(|| self.shared(channel).find(|m| m.aliases.iter().any(|a| a == name)))
    }

    /// Up to three known ids closest to `name` (within an edit distance that scales with length).
    pub fn suggest(&self, name: &str, channel: Option<Channel>) -> Vec<&str> {
        let name = name.get(..name.len().min(128)).unwrap_or(name);
        let limit = (name.chars().count() / 3).max(2);
        let mut scored: Vec<(usize, &str)> =
            self.list(channel).map(|m| (distance(name, &m.id), m.id.as_str())).filter(|(d, _)| *d <= limit).collect();
        scored.sort_by_key(|(d, id)| (*d, *id));
        scored.dedup_by_key(|(_, id)| *id);
        scored.into_iter().take(3).map(|(_, id)| id).collect()
    }

    /// The 404 message for an unknown model, with suggestions when there are any.
    pub fn not_found_message(&self, name: &str, channel: Option<Channel>) -> String {
        let shown: String = name.chars().take(100).collect();
        let scope = channel.map(|c| format!(" on channel {c}")).unwrap_or_default();
        let ids = self.suggest(name, channel);
        if ids.is_empty() {
            format!("model {shown:?} not found{scope}; GET /v1/models lists the available models")
        } else {
            format!("model {shown:?} not found{scope}; did you mean {}?", ids.join(", "))
        }
    }
}

/// Optimal-string-alignment distance (a transposition costs 1), case-insensitive.
#[expect(clippy::many_single_char_names, reason = "the textbook DP names (a, b, d, i, j) read best here")]
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(j) {
            *c = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for (i, ca) in a.iter().enumerate() {
        for (j, cb) in b.iter().enumerate() {
            let (i1, j1) = (i + 1, j + 1);
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i, j1) + 1).min(get(&d, i1, j) + 1).min(get(&d, i, j) + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) {
                v = v.min(get(&d, i - 1, j - 1) + 1);
            }
            if let Some(c) = d.get_mut(at(i1, j1)) {
                *c = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ids_aliases_and_channels() {
        let t = ModelTable::new(&[]);
        assert_eq!(t.resolve("grok-3", None).unwrap().channel, Channel::Grok);
        assert_eq!(t.resolve("claude-sonnet-4-5", None).unwrap().channel, Channel::Orchids);
        assert_eq!(t.resolve("claude-sonnet-4-5", Some(Channel::Warp)).unwrap().channel, Channel::Warp);
        assert_eq!(t.resolve("claude-sonnet-4-5-20250929", None).unwrap().id, "claude-sonnet-4-5");
        assert!(t.resolve("grok-3", Some(Channel::Orchids)).is_none());
    }

    #[test]
    fn suggestions() {
        let t = ModelTable::new(&[]);
        assert_eq!(t.suggest("gork-3", None).first(), Some(&"grok-3"));
        assert!(t.not_found_message("gork-3", None).contains("did you mean grok-3"));
        assert!(t.suggest("completely-different-thing", None).is_empty());
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn overrides_replace_hide_and_add() {
        let mut hidden = ModelTable::new(&[]).resolve("grok-3", None).unwrap().as_ref().clone();
        hidden.enabled = false;
        let mut added = hidden.clone();
        added.id = "my-model".into();
        added.enabled = true;
        added.upstream_id = "grok-3".into();
        let t = ModelTable::new(&[hidden, added]);
        assert!(t.resolve("grok-3", None).is_none());
        assert_eq!(t.resolve("my-model", None).unwrap().upstream(), "grok-3");
    }
}
