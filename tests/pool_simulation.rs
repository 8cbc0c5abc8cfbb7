//! Pool simulation: 1000 accounts with random weights, tiers, caps, scopes and model lists;
//! random failures of every class; 100k selections on a manual clock. Checks that no selection
//! ever returns an unusable account, that every pick is the best by the documented rule, that
//! the "nothing available" answers are right, and that load follows weights inside a tier.
#![cfg(test)]

use orchids2api::domain::{AccountDef, Channel, FailureClass};
use orchids2api::pool::{Account, Attempt, Clock, Lease, PoolConfig, SelectRequest, Shard, Snapshot, UnavailableKind};
use std::collections::HashMap;
use std::sync::Arc;

const T0: u64 = 1_700_000_000_000;

/// xorshift64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap()
    }
}

fn account(id: &str, weight: u32, priority: i32) -> AccountDef {
    let mut d: AccountDef = serde_json::from_value(serde_json::json!({"id": id, "channel": "grok"})).unwrap();
    d.weight = weight;
    d.priority = priority;
    d
}

fn random_pool(rng: &mut Rng, n: usize) -> Vec<AccountDef> {
    (0..n)
        .map(|i| {
            let mut d = account(
                &format!("acc{i:04}"),
                1 + u32::try_from(rng.below(10)).unwrap(),
                i32::try_from(rng.below(4)).unwrap(),
            );
            if rng.chance(400) {
                d.max_concurrency = 1 + u32::try_from(rng.below(4)).unwrap();
            }
            if rng.chance(30) {
                d.enabled = false;
            }
            if rng.chance(50) {
                d.allowed_models = vec!["other".into()];
            }
            if rng.chance(50) {
                d.denied_models = vec!["other".into()];
            }
            if rng.chance(100) {
                d.credentials.insert("team".into(), format!("t{}", rng.below(10)));
            }
            d
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elig {
    Unfit,
    Cooling,
    Full,
    Ok,
}

/// An independent re-statement of "usable", from public state only.
fn eligibility(a: &Account, model: &str, now: u64) -> Elig {
    let (def, sh) = (a.def(), a.shared());
    if !def.enabled || sh.disabled().is_some() || !def.allows_model(model) {
        return Elig::Unfit;
    }
    let scope_cool =
        a.scope().is_some_and(|s| s.cooldown(now).is_some() || s.model_unavailable_until(model, now).is_some())
            || a.surface().cooldown(now).is_some();
    if sh.cooldown(now).is_some() || scope_cool || sh.model_unavailable_until(model, now).is_some() {
        return Elig::Cooling;
    }
    if def.max_concurrency != 0 && sh.in_flight() >= def.max_concurrency {
        return Elig::Full;
    }
    Elig::Ok
}

const CLASSES: [FailureClass; 9] = [
    FailureClass::Network,
    FailureClass::Auth,
    FailureClass::Quota,
    FailureClass::RateLimit,
    FailureClass::RateLimitShared,
    FailureClass::Model,
    FailureClass::Client,
    FailureClass::Server,
    FailureClass::Slow,
];

#[test]
fn never_picks_an_unusable_account_and_always_picks_the_best() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let clock = Clock::manual(T0);
    let snap = Arc::new(Snapshot::build(random_pool(&mut rng, 1000), None).unwrap());
    let cfg = PoolConfig { cooldown_quota_ms: 120_000, cooldown_model_ms: 30_000, ..PoolConfig::default() };
    let shard = Shard::new(Arc::clone(&snap), cfg, clock.clone());
    let mut held: Vec<Lease> = Vec::new();
    let (mut picked, mut refused) = (0u32, HashMap::<UnavailableKind, u32>::new());
    for step in 0..100_000u32 {
        clock.advance(rng.below(100));
        let now = clock.now_ms();
        let model = if rng.chance(100) { "other" } else { "m" };
        if rng.chance(5) {
            snap.accounts()[rng.index(snap.len())].reset();
        }
        if rng.chance(1) {
            let a = &snap.accounts()[rng.index(snap.len())];
            a.on_failure(&cfg, FailureClass::Blocked, None, None, now);
        }
        let full_check = step % 16 == 0;
        let before: Vec<Elig> =
            if full_check { snap.accounts().iter().map(|a| eligibility(a, model, now)).collect() } else { Vec::new() };
        let any_disabled = full_check
            && snap
                .accounts()
                .iter()
                .any(|a| a.def().enabled && a.shared().disabled().is_some() && a.def().allows_model(model));
        match shard.acquire(&SelectRequest::new(Channel::Grok, model), &mut Attempt::new(3)) {
            Ok(lease) => {
                picked += 1;
                let a = lease.account();
                let cap = a.def().max_concurrency;
                assert!(
                    a.def().enabled && a.shared().disabled().is_none() && a.def().allows_model(model),
                    "step {step}: unfit {}",
                    a.id()
                );
                assert_ne!(eligibility(a, model, now), Elig::Cooling, "step {step}: cooling {}", a.id());
                assert!(cap == 0 || a.shared().in_flight() <= cap, "step {step}: over cap {}", a.id());
                if full_check {
                    let i = snap.accounts().iter().position(|x| Arc::ptr_eq(x, a)).unwrap();
                    assert_eq!(before[i], Elig::Ok, "step {step}: {} was not usable", a.id());
                    let ok: Vec<&Arc<Account>> =
                        snap.accounts().iter().zip(&before).filter(|(_, e)| **e == Elig::Ok).map(|(a, _)| a).collect();
                    let top = ok.iter().map(|a| a.def().priority).max().unwrap();
                    assert_eq!(a.def().priority, top, "step {step}: not the highest usable tier");
                    let ratio = |x: &Account, n: u32| f64::from(n) / f64::from(x.weight());
                    let mine = ratio(a, a.shared().in_flight() - 1);
                    for o in ok.iter().filter(|o| o.def().priority == top && !Arc::ptr_eq(o, a)) {
                        assert!(
                            ratio(o, o.shared().in_flight()) >= mine,
                            "step {step}: {} was less loaded than {}",
                            o.id(),
                            a.id()
                        );
                    }
                }
                if rng.chance(80) {
                    let class = CLASSES[rng.index(CLASSES.len())];
                    let hint = rng.chance(500).then(|| now + rng.below(120_000));
                    shard.on_failure(&lease, class, rng.chance(700).then_some(model), hint);
                } else {
                    shard.on_success(&lease, 10, 10);
                }
                if rng.chance(500) {
                    held.push(lease);
                }
            }
            Err(u) => {
                *refused.entry(u.kind).or_default() += 1;
                if full_check {
                    assert!(!before.contains(&Elig::Ok), "step {step}: refused ({u:?}) with a usable account");
                    let want = if before.contains(&Elig::Full) {
                        UnavailableKind::Busy
                    } else if before.contains(&Elig::Cooling) {
                        UnavailableKind::Cooling
                    } else if any_disabled {
                        UnavailableKind::Disabled
                    } else {
                        UnavailableKind::NoAccount
                    };
                    assert_eq!(u.kind, want, "step {step}");
                    if u.kind == UnavailableKind::Cooling {
                        assert!(u.until_ms.unwrap() > now && u.retry_after_s.unwrap() >= 1);
                    }
                }
            }
        }
        while held.len() > 300 || (!held.is_empty() && rng.chance(400)) {
            let i = rng.index(held.len());
            held.swap_remove(i);
        }
    }
    drop(held);
    assert!(snap.accounts().iter().all(|a| a.shared().in_flight() == 0), "every slot was released");
    assert!(picked > 50_000, "the simulation mostly served: {picked}, refused {refused:?}");
}

fn shares(defs: &[AccountDef], held_max: usize, seed: u64) -> (HashMap<String, u32>, u32) {
    let mut rng = Rng(seed);
    let snap = Arc::new(Snapshot::build(defs.to_vec(), None).unwrap());
    let shard = Shard::new(snap, PoolConfig::default(), Clock::manual(T0));
    let mut held: Vec<Lease> = Vec::new();
    let mut count = HashMap::new();
    let n = 100_000;
    for _ in 0..n {
        let l = shard.acquire(&SelectRequest::new(Channel::Grok, "m"), &mut Attempt::new(3)).unwrap();
        *count.entry(l.id().to_owned()).or_insert(0) += 1;
        held.push(l);
        while held.len() > held_max {
            let i = rng.index(held.len());
            held.swap_remove(i);
        }
    }
    (count, n)
}

#[test]
fn spreads_load_within_five_percent_of_weights_inside_a_tier() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let defs: Vec<AccountDef> = (0..1000)
        .map(|i| {
            account(
                &format!("acc{i:04}"),
                1 + u32::try_from(rng.below(10)).unwrap(),
                i32::try_from(rng.below(8)).unwrap(),
            )
        })
        .collect();
    let top = defs.iter().map(|d| d.priority).max().unwrap();
    let tier: Vec<&AccountDef> = defs.iter().filter(|d| d.priority == top).collect();
    let total_w: u32 = tier.iter().map(|d| d.weight).sum();
    // Idle (each request done before the next) and with up to 50 requests in flight.
    for held_max in [0, 50] {
        let (count, n) = shares(&defs, held_max, 7 + held_max as u64);
        for d in &defs {
            let got = count.get(&d.id).copied().unwrap_or(0);
            if d.priority != top {
                assert_eq!(got, 0, "{} is in a lower tier", d.id);
                continue;
            }
            let want = f64::from(n) * f64::from(d.weight) / f64::from(total_w);
            let err = (f64::from(got) - want).abs() / want;
            assert!(
                err <= 0.05,
                "held {held_max}: {} weight {} got {got}, want {want:.1} ({:.1}% off)",
                d.id,
                d.weight,
                err * 100.0
            );
        }
    }
}

#[test]
fn in_flight_tracks_weights_under_high_concurrency() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let defs: Vec<AccountDef> =
        (0..200).map(|i| account(&format!("acc{i:03}"), 1 + u32::try_from(rng.below(10)).unwrap(), 0)).collect();
    let snap = Arc::new(Snapshot::build(defs, None).unwrap());
    let shard = Shard::new(Arc::clone(&snap), PoolConfig::default(), Clock::manual(T0));
    let mut held = Vec::new();
    for round in 0..8 {
        for _ in 0..3_000 {
            held.push(shard.acquire(&SelectRequest::new(Channel::Grok, "m"), &mut Attempt::new(1)).unwrap());
        }
        // Weighted least-in-flight: whoever got its last request was the least loaded then, so
        // no account is more than one request above any other's load (per weight).
        for a in snap.accounts() {
            let n = a.shared().in_flight();
            if n == 0 {
                continue;
            }
            let over = f64::from(n - 1) / f64::from(a.weight());
            for b in snap.accounts() {
                let other = f64::from(b.shared().in_flight()) / f64::from(b.weight());
                assert!(over <= other + 1e-9, "round {round}: {} ({n}/{}) vs {} ({other})", a.id(), a.weight(), b.id());
            }
        }
        for _ in 0..2_000 {
            let i = rng.index(held.len());
            held.swap_remove(i);
        }
    }
}
