//! Selection: tiers, weights, least-in-flight, every skip reason, tried sets, caps across cores,
//! snapshot swaps and the "nothing available" answers.

use super::*;
use crate::domain::FailureClass;

#[test]
fn smooth_weighted_round_robin_sequence_when_idle() {
    let (s, _) = setup(vec![def("a", 0, 5), def("b", 0, 1), def("c", 0, 1)]);
    assert_eq!(picks(&s, 7), ["a", "a", "b", "a", "c", "a", "a"]);
    assert_eq!(picks(&s, 7), ["a", "a", "b", "a", "c", "a", "a"], "the cycle repeats exactly");
}

#[test]
fn higher_priority_tier_first_and_lower_tier_only_when_it_cannot_serve() {
    let (s, clock) = setup(vec![def("low", 0, 100), def("hi1", 10, 1), def("hi2", 10, 1)]);
    assert_eq!(picks(&s, 4), ["hi1", "hi2", "hi1", "hi2"]);
    fail(&s, "hi1", FailureClass::RateLimit, None, None);
    fail(&s, "hi2", FailureClass::Quota, None, None);
    assert_eq!(pick(&s), "low");
    clock.advance(60_000);
    assert_eq!(pick(&s), "hi1", "the rate-limit cooldown ended by itself");
    assert_eq!(pick(&s), "hi1", "hi2 still cools (quota)");
}

#[test]
fn negative_priorities_sort_below_the_default() {
    let (s, _) = setup(vec![def("neg", -5, 1), def("zero", 0, 1)]);
    assert_eq!(picks(&s, 3), ["zero", "zero", "zero"]);
}

#[test]
fn least_in_flight_per_weight_under_load() {
    let (s, _) = setup(vec![def("a", 0, 2), def("b", 0, 1)]);
    let held: Vec<Lease> = (0..30).map(|_| take(&s, "m").unwrap()).collect();
    let on = |id: &str| held.iter().filter(|l| l.id() == id).count();
    assert_eq!((on("a"), on("b")), (20, 10));
    let acc = s.account("a").unwrap();
    assert_eq!(acc.shared().in_flight(), 20);
    assert_eq!(s.local_in_flight("a"), 20);
    drop(held);
    assert_eq!(acc.shared().in_flight(), 0);
    assert_eq!(s.local_in_flight("a"), 0);
}

#[test]
fn an_idle_account_wins_over_busy_ones_whatever_the_credit() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1)]);
    let _a = take(&s, "m").unwrap();
    let _b = take(&s, "m").unwrap();
    assert_eq!(pick(&s), "c");
    assert_eq!(pick(&s), "c", "c is the only one with nothing in flight");
}

#[test]
fn every_skip_reason_excludes_the_account() {
    let mut off = def("off", 0, 1);
    off.enabled = false;
    let mut only_x = def("only_x", 0, 1);
    only_x.allowed_models = vec!["x".into()];
    let mut deny_m = def("deny_m", 0, 1);
    deny_m.denied_models = vec!["m".into()];
    let (s, _) = setup(vec![
        off,
        only_x,
        deny_m,
        def("auth", 0, 1),
        def("blocked", 0, 1),
        def("cool", 0, 1),
        def("nomodel", 0, 1),
        def("kind", 0, 1),
        capped("full", 1),
        def("ok", 0, 1),
    ]);
    s.account("auth").unwrap().shared().disable(DisableReason::Auth);
    fail(&s, "blocked", FailureClass::Blocked, None, None);
    fail(&s, "cool", FailureClass::RateLimit, None, None);
    fail(&s, "nomodel", FailureClass::Model, Some("m"), None);
    let no_kind = |d: &AccountDef| d.id != "kind";
    let full = s.acquire(&req("m").with_can_serve(&|d: &AccountDef| d.id == "full"), &mut Attempt::new(1)).unwrap();
    for _ in 0..20 {
        let l = s.acquire(&req("m").with_can_serve(&no_kind), &mut Attempt::new(1)).unwrap();
        assert_eq!(l.id(), "ok");
    }
    drop(full);
}

#[test]
fn tried_accounts_are_excluded_and_attempts_are_bounded() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1), def("d", 0, 1)]);
    let mut at = Attempt::new(3);
    let r = req("m");
    let first = s.acquire(&r, &mut at).unwrap().id().to_owned();
    let second = s.acquire(&r, &mut at).unwrap().id().to_owned();
    let third = s.acquire(&r, &mut at).unwrap().id().to_owned();
    let mut seen = vec![first, second, third];
    seen.dedup();
    assert_eq!(seen.len(), 3, "never the same account twice: {seen:?}");
    assert_eq!(at.attempts(), 3);
    assert!(!at.can_attempt());
    assert_eq!(s.acquire(&r, &mut at).unwrap_err().kind, UnavailableKind::AllTried);
}

#[test]
fn all_tried_answer_when_the_pool_is_smaller_than_max_attempts() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    let mut at = Attempt::new(3);
    s.acquire(&req("m"), &mut at).unwrap();
    s.acquire(&req("m"), &mut at).unwrap();
    let u = s.acquire(&req("m"), &mut at).unwrap_err();
    assert_eq!(u.kind, UnavailableKind::AllTried);
}

#[test]
fn whole_pool_cooling_gives_the_earliest_cooldown_end() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1)]);
    fail(&s, "a", FailureClass::RateLimit, None, Some(T0 + 90_500));
    fail(&s, "b", FailureClass::Quota, None, None);
    fail(&s, "c", FailureClass::Model, Some("m"), None);
    let u = take(&s, "m").unwrap_err();
    assert_eq!(u.kind, UnavailableKind::Cooling);
    assert_eq!(u.until_ms, Some(T0 + 90_500));
    assert_eq!(u.retry_after_s, Some(91), "rounded up");
    assert_eq!(take(&s, "other").unwrap().id(), "c", "the model row cools only (c, m)");
}

#[test]
fn whole_pool_full_is_busy() {
    let (s, _) = setup(vec![capped("a", 1), capped("b", 2)]);
    let held: Vec<_> = (0..3).map(|_| take(&s, "m").unwrap()).collect();
    let u = take(&s, "m").unwrap_err();
    assert_eq!((u.kind, u.retry_after_s), (UnavailableKind::Busy, Some(1)));
    drop(held);
    assert!(take(&s, "m").is_ok());
}

#[test]
fn no_account_for_the_model() {
    let mut a = def("a", 0, 1);
    a.allowed_models = vec!["x".into()];
    let (s, _) = setup(vec![a]);
    let u = take(&s, "m").unwrap_err();
    assert_eq!((u.kind, u.retry_after_s), (UnavailableKind::NoAccount, None));
    let (empty, _) = setup(vec![]);
    assert_eq!(take(&empty, "m").unwrap_err().kind, UnavailableKind::NoAccount);
    let (other_channel, _) = setup(vec![snapshot::tests::def("w", Channel::Warp, 0, 1)]);
    assert_eq!(take(&other_channel, "m").unwrap_err().kind, UnavailableKind::NoAccount);
}

#[test]
fn every_fitting_account_disabled_says_so() {
    let mut other = def("other", 0, 1);
    other.allowed_models = vec!["x".into()];
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), other]);
    fail(&s, "a", FailureClass::Blocked, None, None);
    assert_eq!(take(&s, "m").unwrap().id(), "b");
    s.account("b").unwrap().shared().disable(DisableReason::Auth);
    let u = take(&s, "m").unwrap_err();
    assert_eq!((u.kind, u.retry_after_s), (UnavailableKind::Disabled, None));
    let fit = |d: &AccountDef| d.id != "a";
    let only_b = SelectRequest::new(G, "m").with_can_serve(&fit);
    assert_eq!(s.acquire(&only_b, &mut Attempt::new(3)).unwrap_err().kind, UnavailableKind::Disabled);
    let none_fit = |_: &AccountDef| false;
    let nobody = SelectRequest::new(G, "m").with_can_serve(&none_fit);
    assert_eq!(
        s.acquire(&nobody, &mut Attempt::new(3)).unwrap_err().kind,
        UnavailableKind::NoAccount,
        "disabled accounts that could not serve anyway are not the reason"
    );
    assert_eq!(take(&s, "x").unwrap().id(), "other");
}

#[test]
fn a_paused_channel_surface_skips_all_its_accounts_but_not_other_surfaces() {
    let (s, clock) = setup(vec![cred("w1", "sso"), cred("w2", "sso"), cred("k", "api_key")]);
    s.account("w1").unwrap().surface().cool.extend(T0 + 600_000, CoolReason::ChannelPaused);
    let ex = s.explain(G, "m", &|_| true);
    for id in ["w1", "w2"] {
        let row = ex.accounts.iter().find(|r| r.id == id).unwrap();
        assert_eq!(row.skip, Some(Skip::ChannelPaused { until_ms: T0 + 600_000 }), "{id}");
    }
    assert_eq!(ex.picked.as_deref(), Some("k"));
    let web_only = |d: &AccountDef| d.credentials.contains_key("sso");
    let u = s.acquire(&SelectRequest::new(G, "m").with_can_serve(&web_only), &mut Attempt::new(3)).unwrap_err();
    assert_eq!((u.kind, u.retry_after_s), (UnavailableKind::Cooling, Some(600)));
    assert_eq!(
        s.account("w2").unwrap().status(T0),
        crate::domain::AccountStatus::Cooling { until_ms: T0 + 600_000, reason: "channel_paused".into() }
    );
    clock.advance(600_000);
    assert!(s.acquire(&SelectRequest::new(G, "m").with_can_serve(&web_only), &mut Attempt::new(3)).is_ok());
}

#[test]
fn caps_hold_across_two_shards_sharing_one_snapshot() {
    let clock = Clock::manual(T0);
    let sn = snap(vec![capped("a", 2)]);
    let (core1, core2) = (shard_on(&sn, &clock), shard_on(&sn, &clock));
    let l1 = take(&core1, "m").unwrap();
    let l2 = take(&core2, "m").unwrap();
    assert_eq!(take(&core1, "m").unwrap_err().kind, UnavailableKind::Busy);
    assert_eq!(take(&core2, "m").unwrap_err().kind, UnavailableKind::Busy);
    assert_eq!((core1.local_in_flight("a"), core2.local_in_flight("a")), (1, 1));
    assert_eq!(sn.get("a").unwrap().shared().in_flight(), 2);
    drop(l2);
    let l3 = take(&core1, "m").unwrap();
    assert_eq!(core1.local_in_flight("a"), 2);
    drop((l1, l3));
    assert_eq!(sn.get("a").unwrap().shared().in_flight(), 0);
}

#[test]
fn a_cooldown_set_on_one_core_is_seen_by_the_other_at_once() {
    let clock = Clock::manual(T0);
    let sn = snap(vec![def("a", 0, 1), def("b", 0, 1)]);
    let (core1, core2) = (shard_on(&sn, &clock), shard_on(&sn, &clock));
    let l = take(&core1, "m").unwrap();
    assert_eq!(l.id(), "a");
    let e = core1.on_failure(&l, FailureClass::RateLimit, Some("m"), None);
    assert_eq!(e, Effect::Cooled { until_ms: T0 + 60_000, reason: CoolReason::RateLimit });
    assert_eq!(picks(&core2, 3), ["b", "b", "b"]);
}

#[test]
fn install_keeps_local_state_and_leases_release_correctly_across_swaps() {
    let clock = Clock::manual(T0);
    let s1 = snap(vec![def("a", 0, 1), def("b", 0, 1)]);
    let shard = shard_on(&s1, &clock);
    let held = take(&shard, "m").unwrap();
    assert_eq!(held.id(), "a");
    let s2 = Arc::new(Snapshot::build(vec![def("z", 0, 1), def("a", 0, 1), def("b", 0, 1)], Some(&s1)).unwrap());
    shard.install(Arc::clone(&s2));
    assert_eq!(shard.local_in_flight("a"), 1, "this core's count survived the swap");
    assert_eq!(s2.get("a").unwrap().shared().in_flight(), 1);
    drop(held);
    assert_eq!(shard.local_in_flight("a"), 0);
    assert_eq!(s2.get("a").unwrap().shared().in_flight(), 0);
    let mut got = picks(&shard, 3);
    got.sort();
    assert_eq!(got, ["a", "b", "z"]);
    // Removing an account: it is simply no longer offered.
    shard.install(Arc::new(Snapshot::build(vec![def("b", 0, 1)], Some(&s2)).unwrap()));
    assert_eq!(picks(&shard, 2), ["b", "b"]);
}

#[test]
fn selection_does_not_allocate_state_per_call() {
    let (s, _) = setup((0..50).map(|i| def(&format!("a{i:02}"), i % 3, 1 + u32::try_from(i % 4).unwrap())).collect());
    for _ in 0..1000 {
        drop(take(&s, "m").unwrap());
    }
    assert!(s.scratch.borrow().capacity() <= 64, "scratch is reused, not grown");
    assert_eq!(s.sticky_len(), 0);
}
