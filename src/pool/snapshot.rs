//! Immutable snapshots of the account definitions, shared by every core as one `Arc`.
//!
//! Key components:
//! - [`Snapshot`]: every [`Account`] (definition + its cross-core [`AccountShared`] + optional
//!   [`ScopeShared`]), indexes by id and by key, and per channel the priority tiers (highest
//!   first, members sorted by id). Built on a cold path (start, admin change, refresh), then sent
//!   to every core, which installs it with [`super::Shard::install`].
//! - [`Snapshot::build`]: carries the cross-core state of every account (and scope) that also
//!   exists in the previous snapshot, so a swap never forgets a cooldown or an in-flight count.
//!
//! Scopes: an account belongs to the shared scope `channel:team` when its credentials hold a
//! non-empty `team` value (the default [`team_scope`]); [`Snapshot::build_with`] takes another
//! rule. Accounts of one scope share one scope cooldown (a team-wide 429). Every account also
//! belongs to its channel *surface* ([`surface_name`]: `channel/kind`, e.g. `grok/web`), whose
//! cooldown pauses all of them at once (a challenge that refuses the gateway, not an account).
//!
//! When a definition's credentials differ from the previous snapshot's (an operator pasted new
//! ones), a runtime `disabled(auth)` and an `auth_refresh` cooldown are lifted: new credentials
//! deserve a try.
//!
//! Error handling: a duplicate or empty id is a typed [`SnapshotError`]; weight 0 counts as 1.

use super::holds::HoldSink;
use super::shared::{AccountShared, CoolReason, DisableReason, ScopeShared};
use crate::domain::{AccountDef, Channel};
use crate::util::fast_hash::FastMap;
use std::fmt;
use std::sync::Arc;

/// One account as a snapshot holds it.
#[derive(Debug)]
pub struct Account {
    def: Arc<AccountDef>,
    shared: Arc<AccountShared>,
    scope: Option<Arc<ScopeShared>>,
    surface: Arc<ScopeShared>,
    // Copies of the definition's fields that every selection reads, so the selection loop does
    // not chase the definition's pointer for them.
    weight: u32,
    max_concurrency: u32,
    revision: u64,
    enabled: bool,
    model_lists: bool,
}

impl Account {
    pub fn def(&self) -> &Arc<AccountDef> {
        &self.def
    }

    pub fn id(&self) -> &str {
        &self.def.id
    }

    pub fn shared(&self) -> &Arc<AccountShared> {
        &self.shared
    }

    pub fn scope(&self) -> Option<&Arc<ScopeShared>> {
        self.scope.as_ref()
    }

    /// The channel surface the account belongs to ([`surface_name`]).
    pub fn surface(&self) -> &Arc<ScopeShared> {
        &self.surface
    }

    pub fn key(&self) -> u64 {
        self.shared.key()
    }

    /// `def.weight`, at least 1.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// `def.max_concurrency` (0 = unlimited).
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the definition has allowed or denied model lists to consult.
    pub(crate) fn has_model_lists(&self) -> bool {
        self.model_lists
    }
}

/// Accounts of one channel with one `priority`.
#[derive(Debug)]
pub struct Tier {
    pub priority: i32,
    /// Indexes into [`Snapshot::accounts`].
    pub members: Box<[u32]>,
}

/// Why a snapshot could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    DuplicateId(String),
    EmptyId,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateId(id) => write!(f, "account id {id:?} appears more than once"),
            Self::EmptyId => f.write_str("an account has an empty id"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// See the module docs.
#[derive(Debug, Default)]
pub struct Snapshot {
    generation: u64,
    next_key: u64,
    accounts: Box<[Arc<Account>]>,
    by_id: FastMap<String, u32>,
    by_key: FastMap<u64, u32>,
    tiers: [Box<[Tier]>; 3],
    scopes: FastMap<Arc<str>, Arc<ScopeShared>>,
    surfaces: FastMap<Arc<str>, Arc<ScopeShared>>,
    /// Where the shared-state setters report holds to persist (the same from build to build).
    holds: Arc<HoldSink>,
}

/// The surface of an account: `channel/kind` when its channel tells credential kinds apart
/// (`crate::channel::credential_kind`, e.g. `grok/api`, `grok/web`), else the channel.
pub fn surface_name(def: &AccountDef) -> String {
    match crate::channel::credential_kind(def) {
        Some(kind) => format!("{}/{kind}", def.channel),
        None => def.channel.to_string(),
    }
}

/// A shared-state record of `map`, else of `prev`'s same-named one, else a new one reporting
/// its holds to `holds`.
fn shared_named(
    map: &mut FastMap<Arc<str>, Arc<ScopeShared>>,
    prev: Option<&FastMap<Arc<str>, Arc<ScopeShared>>>,
    name: String,
    holds: &Arc<HoldSink>,
) -> Arc<ScopeShared> {
    let name: Arc<str> = Arc::from(name);
    let found = map.get(&name).cloned().or_else(|| prev.and_then(|p| p.get(&name).cloned()));
    let s = found.unwrap_or_else(|| Arc::new(ScopeShared::new(Arc::clone(&name), Arc::clone(holds))));
    map.insert(name, Arc::clone(&s));
    s
}

/// The default scope rule: `channel:team` from a non-empty `team` credential.
pub fn team_scope(def: &AccountDef) -> Option<String> {
    def.credentials.get("team").map(|t| t.trim()).filter(|t| !t.is_empty()).map(str::to_owned)
}

fn channel_slot(c: Channel) -> usize {
    match c {
        Channel::Orchids => 0,
        Channel::Warp => 1,
        Channel::Grok => 2,
    }
}

impl Snapshot {
    /// No accounts.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds with the default scope rule ([`team_scope`]).
    pub fn build(defs: Vec<AccountDef>, prev: Option<&Snapshot>) -> Result<Self, SnapshotError> {
        Self::build_with(defs, prev, &team_scope)
    }

    /// Builds from `defs`, carrying state over from `prev`; `scope_of` names an account's team.
    pub fn build_with(
        defs: Vec<AccountDef>,
        prev: Option<&Snapshot>,
        scope_of: &dyn Fn(&AccountDef) -> Option<String>,
    ) -> Result<Self, SnapshotError> {
        let mut next_key = prev.map_or(1, |p| p.next_key.max(1));
        let holds = prev.map_or_else(|| Arc::new(HoldSink::default()), |p| Arc::clone(&p.holds));
        let mut by_id = FastMap::with_capacity_and_hasher(defs.len(), std::hash::BuildHasherDefault::default());
        let mut scopes: FastMap<Arc<str>, Arc<ScopeShared>> = FastMap::default();
        let mut surfaces: FastMap<Arc<str>, Arc<ScopeShared>> = FastMap::default();
        let mut accounts = Vec::with_capacity(defs.len());
        for def in defs {
            if def.id.is_empty() {
                return Err(SnapshotError::EmptyId);
            }
            let idx = u32::try_from(accounts.len()).map_err(|_| SnapshotError::DuplicateId(def.id.clone()))?;
            if by_id.insert(def.id.clone(), idx).is_some() {
                return Err(SnapshotError::DuplicateId(def.id));
            }
            let old = prev.and_then(|p| p.get(&def.id));
            let shared = if let Some(o) = old {
                if o.def.credentials != def.credentials {
                    o.shared.enable_if(DisableReason::Auth);
                    o.shared.cool.clear_if(CoolReason::AuthRefresh);
                }
                Arc::clone(&o.shared)
            } else {
                next_key += 1;
                Arc::new(AccountShared::with_sink(next_key - 1, Arc::clone(&holds)))
            };
            let scope = scope_of(&def).map(|team| {
                shared_named(&mut scopes, prev.map(|p| &p.scopes), format!("{}:{team}", def.channel), &holds)
            });
            let surface = shared_named(&mut surfaces, prev.map(|p| &p.surfaces), surface_name(&def), &holds);
            accounts.push(Arc::new(Account {
                weight: def.weight.max(1),
                max_concurrency: def.max_concurrency,
                revision: def.revision,
                enabled: def.enabled,
                model_lists: !def.allowed_models.is_empty() || !def.denied_models.is_empty(),
                def: Arc::new(def),
                shared,
                scope,
                surface,
            }));
        }
        let by_key = accounts.iter().zip(0u32..).map(|(a, i)| (a.key(), i)).collect();
        let tiers = Channel::ALL.map(|c| tiers_of(&accounts, c));
        Ok(Self {
            generation: prev.map_or(1, |p| p.generation + 1),
            next_key,
            accounts: accounts.into_boxed_slice(),
            by_id,
            by_key,
            tiers,
            scopes,
            surfaces,
            holds,
        })
    }

    /// 1 for the first build, +1 per rebuild.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn accounts(&self) -> &[Arc<Account>] {
        &self.accounts
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Account>> {
        self.by_id.get(id).and_then(|&i| self.at(i))
    }

    pub(crate) fn at(&self, idx: u32) -> Option<&Arc<Account>> {
        self.accounts.get(usize::try_from(idx).ok()?)
    }

    pub(crate) fn index_of_key(&self, key: u64) -> Option<u32> {
        self.by_key.get(&key).copied()
    }

    /// The channel's tiers, highest priority first.
    pub fn tiers(&self, channel: Channel) -> &[Tier] {
        self.tiers.get(channel_slot(channel)).map_or(&[], |t| t)
    }

    /// Every scope in this snapshot.
    pub fn scopes(&self) -> impl Iterator<Item = &Arc<ScopeShared>> {
        self.scopes.values()
    }

    /// The scope named `channel:team` (if an account carries that team), or the channel
    /// surface of that name (`grok/web`).
    pub fn scope(&self, name: &str) -> Option<&Arc<ScopeShared>> {
        self.scopes.get(name).or_else(|| self.surfaces.get(name))
    }

    /// The account with this process-unique key (see [`AccountShared::key`]).
    pub fn by_key(&self, key: u64) -> Option<&Arc<Account>> {
        self.index_of_key(key).and_then(|i| self.at(i))
    }

    /// The queue of holds to persist, shared by every snapshot of this pool.
    pub fn holds(&self) -> &Arc<HoldSink> {
        &self.holds
    }
}

fn tiers_of(accounts: &[Arc<Account>], channel: Channel) -> Box<[Tier]> {
    let mut idx: Vec<u32> = (0u32..).zip(accounts).filter(|(_, a)| a.def.channel == channel).map(|(i, _)| i).collect();
    let acc = |i: &u32| accounts.get(usize::try_from(*i).unwrap_or(usize::MAX));
    idx.sort_by(|a, b| {
        let (a, b) = (acc(a), acc(b));
        let pa = a.map_or(0, |x| x.def.priority);
        let pb = b.map_or(0, |x| x.def.priority);
        pb.cmp(&pa).then_with(|| a.map(|x| &x.def.id).cmp(&b.map(|x| &x.def.id)))
    });
    let mut tiers: Vec<Tier> = Vec::new();
    let mut start = 0;
    while start < idx.len() {
        let p = idx.get(start).and_then(&acc).map_or(0, |a| a.def.priority);
        let len = idx
            .get(start..)
            .map_or(0, |rest| rest.iter().take_while(|i| acc(i).map_or(0, |a| a.def.priority) == p).count());
        let members = idx.get(start..start + len).unwrap_or(&[]).into();
        tiers.push(Tier { priority: p, members });
        start += len.max(1);
    }
    tiers.into_boxed_slice()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn def(id: &str, channel: Channel, priority: i32, weight: u32) -> AccountDef {
        let mut d: AccountDef = serde_json::from_value(serde_json::json!({"id": id, "channel": channel})).unwrap();
        d.priority = priority;
        d.weight = weight;
        d
    }

    #[test]
    fn tiers_are_per_channel_highest_first_sorted_by_id() {
        let s = Snapshot::build(
            vec![
                def("b", Channel::Grok, 0, 1),
                def("a", Channel::Grok, 0, 1),
                def("hi", Channel::Grok, 5, 1),
                def("w", Channel::Warp, -1, 1),
            ],
            None,
        )
        .unwrap();
        let grok = s.tiers(Channel::Grok);
        assert_eq!(grok.iter().map(|t| t.priority).collect::<Vec<_>>(), [5, 0]);
        let ids: Vec<_> = grok[1].members.iter().map(|&i| s.at(i).unwrap().id()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(s.tiers(Channel::Warp).len(), 1);
        assert!(s.tiers(Channel::Orchids).is_empty());
    }

    #[test]
    fn rebuild_keeps_shared_state_and_keys_and_counts_generations() {
        let s1 = Snapshot::build(vec![def("a", Channel::Grok, 0, 1)], None).unwrap();
        s1.get("a").unwrap().shared().cool.extend(u64::MAX >> 9, CoolReason::Quota);
        let s2 =
            Snapshot::build(vec![def("a", Channel::Grok, 0, 2), def("b", Channel::Grok, 0, 1)], Some(&s1)).unwrap();
        assert!(Arc::ptr_eq(s1.get("a").unwrap().shared(), s2.get("a").unwrap().shared()));
        assert_eq!(s2.get("a").unwrap().weight(), 2);
        assert_ne!(s2.get("a").unwrap().key(), s2.get("b").unwrap().key());
        assert_eq!(s2.generation(), 2);
        let s3 = Snapshot::build(vec![def("c", Channel::Grok, 0, 0)], Some(&s2)).unwrap();
        let keys: Vec<u64> = [&s1, &s2].iter().flat_map(|s| s.accounts().iter().map(|a| a.key())).collect();
        assert!(!keys.contains(&s3.get("c").unwrap().key()), "keys are never reused");
        assert_eq!(s3.get("c").unwrap().weight(), 1, "weight 0 counts as 1");
    }

    #[test]
    fn duplicate_and_empty_ids_are_errors() {
        let e = Snapshot::build(vec![def("a", Channel::Grok, 0, 1), def("a", Channel::Warp, 0, 1)], None).unwrap_err();
        assert_eq!(e, SnapshotError::DuplicateId("a".into()));
        assert_eq!(Snapshot::build(vec![def("", Channel::Grok, 0, 1)], None).unwrap_err(), SnapshotError::EmptyId);
    }

    #[test]
    fn scopes_come_from_the_team_credential_per_channel() {
        let mut a = def("a", Channel::Grok, 0, 1);
        let mut b = def("b", Channel::Grok, 0, 1);
        let mut w = def("w", Channel::Warp, 0, 1);
        for d in [&mut a, &mut b, &mut w] {
            d.credentials.insert("team".into(), "t1".into());
        }
        let s = Snapshot::build(vec![a, b, w, def("solo", Channel::Grok, 0, 1)], None).unwrap();
        let sa = s.get("a").unwrap().scope().unwrap();
        assert!(Arc::ptr_eq(sa, s.get("b").unwrap().scope().unwrap()));
        assert_eq!(&**sa.name(), "grok:t1");
        assert_eq!(&**s.get("w").unwrap().scope().unwrap().name(), "warp:t1");
        assert!(s.get("solo").unwrap().scope().is_none());
        assert!(Arc::ptr_eq(s.scope("grok:t1").unwrap(), sa));
        assert!(s.scope("grok:t2").is_none());
    }

    #[test]
    fn surfaces_group_accounts_by_channel_and_credential_kind_across_rebuilds() {
        let cred = |id: &str, k: &str, v: &str| {
            let mut d = def(id, Channel::Grok, 0, 1);
            d.credentials.insert(k.into(), v.into());
            d
        };
        let defs = || {
            vec![
                cred("w1", "sso", "a"),
                cred("w2", "sso", "b"),
                cred("k", "api_key", "x"),
                def("w", Channel::Warp, 0, 1),
            ]
        };
        let s1 = Snapshot::build(defs(), None).unwrap();
        let w1 = s1.get("w1").unwrap().surface();
        assert_eq!(&**w1.name(), "grok/web");
        assert!(Arc::ptr_eq(w1, s1.get("w2").unwrap().surface()));
        assert_eq!(&**s1.get("k").unwrap().surface().name(), "grok/api");
        assert_eq!(&**s1.get("w").unwrap().surface().name(), "warp");
        w1.cool.extend(u64::MAX >> 9, CoolReason::ChannelPaused);
        let s2 = Snapshot::build(defs(), Some(&s1)).unwrap();
        assert!(Arc::ptr_eq(w1, s2.get("w2").unwrap().surface()), "a rebuild keeps the pause");
    }

    #[test]
    fn new_credentials_lift_an_auth_disable() {
        let s1 = Snapshot::build(vec![def("a", Channel::Grok, 0, 1)], None).unwrap();
        s1.get("a").unwrap().shared().disable(DisableReason::Auth);
        let same = Snapshot::build(vec![def("a", Channel::Grok, 0, 1)], Some(&s1)).unwrap();
        assert_eq!(same.get("a").unwrap().shared().disabled(), Some(DisableReason::Auth));
        let mut fresh = def("a", Channel::Grok, 0, 1);
        fresh.credentials.insert("api_key".into(), "new".into());
        let s2 = Snapshot::build(vec![fresh], Some(&same)).unwrap();
        assert_eq!(s2.get("a").unwrap().shared().disabled(), None);
    }
}
