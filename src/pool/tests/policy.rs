//! Every row of the failure-policy table, plus success, reset, status and restore.

use super::*;
use crate::domain::{AccountStatus, FailureClass};

fn usable(s: &Shard, id: &str, model: &str) -> bool {
    let ex = s.explain(G, model, &|_| true);
    let row = ex.accounts.iter().find(|r| r.id == id).unwrap();
    row.skip.is_none_or(|s| matches!(s, Skip::LostTieBreak | Skip::Busier { .. } | Skip::LowerTier))
}

#[test]
fn network_and_server_count_in_a_window_and_cool_at_the_threshold() {
    let (s, clock) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    assert_eq!(fail(&s, "a", FailureClass::Network, None, None), Effect::Counted { in_window: 1 });
    assert_eq!(fail(&s, "a", FailureClass::Server, None, None), Effect::Counted { in_window: 2 });
    assert!(usable(&s, "a", "m"));
    let e = fail(&s, "a", FailureClass::Network, None, None);
    assert_eq!(e, Effect::Cooled { until_ms: T0 + 30_000, reason: CoolReason::Failures });
    assert!(!usable(&s, "a", "m"));
    clock.advance(30_000);
    assert!(usable(&s, "a", "m"), "the cooldown ended by itself");
    assert_eq!(
        fail(&s, "a", FailureClass::Server, None, None),
        Effect::Counted { in_window: 1 },
        "the window restarted"
    );
}

#[test]
fn failures_spread_wider_than_the_window_never_cool() {
    let (s, clock) = setup(vec![def("a", 0, 1)]);
    for _ in 0..10 {
        let e = fail(&s, "a", FailureClass::Network, None, None);
        assert!(matches!(e, Effect::Counted { in_window } if in_window <= 2), "{e:?}");
        clock.advance(40_000);
    }
    assert_eq!(s.account("a").unwrap().status(s.now_ms()), AccountStatus::Active);
}

#[test]
fn a_server_retry_hint_does_not_turn_a_count_into_a_cooldown() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    assert_eq!(fail(&s, "a", FailureClass::Server, None, Some(T0 + 999_000)), Effect::Counted { in_window: 1 });
}

#[test]
fn auth_cools_briefly_and_asks_for_a_refresh() {
    let (s, clock) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    let e = fail(&s, "a", FailureClass::Auth, None, None);
    assert_eq!(e, Effect::RefreshNeeded { until_ms: T0 + 15_000 });
    assert!(e.changes_status());
    assert!(!usable(&s, "a", "m"));
    let st = s.account("a").unwrap().status(T0);
    assert_eq!(st, AccountStatus::Cooling { until_ms: T0 + 15_000, reason: "auth_refresh".into() });
    clock.advance(15_000);
    assert!(usable(&s, "a", "m"), "nobody refreshed: the account is tried again");
}

#[test]
fn auth_right_after_a_successful_refresh_disables() {
    let (s, clock) = setup(vec![def("a", 0, 1)]);
    s.account("a").unwrap().shared().set_last_refresh_ms(T0 - 1_000);
    assert_eq!(fail(&s, "a", FailureClass::Auth, None, None), Effect::Disabled { reason: DisableReason::Auth });
    assert_eq!(s.account("a").unwrap().status(T0), AccountStatus::Disabled { reason: "auth".into() });
    assert_eq!(take(&s, "m").unwrap_err().kind, UnavailableKind::Disabled);
    s.reset("a");
    s.account("a").unwrap().shared().set_last_refresh_ms(T0 - crate::pool::policy::AUTH_REPEAT_MS);
    clock.advance(1);
    assert!(matches!(fail(&s, "a", FailureClass::Auth, None, None), Effect::RefreshNeeded { .. }));
}

#[test]
fn quota_cools_until_the_hint_else_a_day() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    assert_eq!(
        fail(&s, "a", FailureClass::Quota, None, Some(T0 + 3_600_000)),
        Effect::Cooled { until_ms: T0 + 3_600_000, reason: CoolReason::Quota }
    );
    assert_eq!(
        fail(&s, "b", FailureClass::Quota, None, None),
        Effect::Cooled { until_ms: T0 + 86_400_000, reason: CoolReason::Quota }
    );
}

#[test]
fn rate_limit_cools_until_retry_after_else_a_minute_with_floor_and_cap() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1), def("d", 0, 1)]);
    let hint = retry_after::deadline_from_headers([(&b"Retry-After"[..], &b"120"[..])], T0);
    assert_eq!(
        fail(&s, "a", FailureClass::RateLimit, None, hint),
        Effect::Cooled { until_ms: T0 + 120_000, reason: CoolReason::RateLimit }
    );
    assert_eq!(
        fail(&s, "b", FailureClass::RateLimit, None, None),
        Effect::Cooled { until_ms: T0 + 60_000, reason: CoolReason::RateLimit }
    );
    assert_eq!(
        fail(&s, "c", FailureClass::RateLimit, None, Some(T0 - 5)),
        Effect::Cooled { until_ms: T0 + 1_000, reason: CoolReason::RateLimit }
    );
    assert_eq!(
        fail(&s, "d", FailureClass::RateLimit, None, Some(u64::MAX)),
        Effect::Cooled { until_ms: T0 + retry_after::MAX_HINT_MS, reason: CoolReason::RateLimit }
    );
}

#[test]
fn a_shorter_cooldown_never_shortens_a_longer_one() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    fail(&s, "a", FailureClass::Quota, None, None);
    let e = fail(&s, "a", FailureClass::RateLimit, None, None);
    assert_eq!(
        e,
        Effect::Cooled { until_ms: T0 + 86_400_000, reason: CoolReason::RateLimit },
        "the deadline in force is reported"
    );
    assert_eq!(
        s.account("a").unwrap().status(T0),
        AccountStatus::Cooling { until_ms: T0 + 86_400_000, reason: "quota".into() }
    );
}

fn team(id: &str, t: &str) -> AccountDef {
    let mut d = def(id, 0, 1);
    d.credentials.insert("team".into(), t.into());
    d
}

#[test]
fn shared_rate_limit_cools_the_scope_for_the_model() {
    let (s, clock) = setup(vec![team("a", "t1"), team("b", "t1"), team("c", "t2"), def("solo", 0, 1)]);
    let e = fail(&s, "a", FailureClass::RateLimitShared, Some("m"), None);
    assert_eq!(e, Effect::ScopeCooled { scope: "grok:t1".into(), until_ms: T0 + 60_000, model_only: true });
    for id in ["a", "b"] {
        assert!(!usable(&s, id, "m"), "{id} shares the team limit for m");
        assert!(usable(&s, id, "other"), "{id} still serves other models");
    }
    assert!(usable(&s, "c", "m") && usable(&s, "solo", "m"));
    let ex = s.explain(G, "m", &|_| true);
    let b = ex.accounts.iter().find(|r| r.id == "b").unwrap();
    assert_eq!(b.skip, Some(Skip::ScopeModelUnavailable { until_ms: T0 + 60_000 }));
    clock.advance(60_000);
    assert!(usable(&s, "b", "m"));
}

#[test]
fn shared_rate_limit_without_a_model_cools_the_whole_scope_and_without_a_scope_the_account() {
    let (s, _) = setup(vec![team("a", "t1"), team("b", "t1"), def("solo", 0, 1), def("x", 0, 1)]);
    let e = fail(&s, "a", FailureClass::RateLimitShared, None, Some(T0 + 5_000));
    assert_eq!(e, Effect::ScopeCooled { scope: "grok:t1".into(), until_ms: T0 + 5_000, model_only: false });
    assert!(!usable(&s, "b", "anything"));
    assert_eq!(
        s.account("b").unwrap().status(T0),
        AccountStatus::Cooling { until_ms: T0 + 5_000, reason: "scope_rate_limit".into() }
    );
    let e = fail(&s, "solo", FailureClass::RateLimitShared, Some("m"), None);
    assert_eq!(e, Effect::ModelUnavailable { until_ms: T0 + 60_000 }, "team limits are per model");
    assert!(!usable(&s, "solo", "m") && usable(&s, "solo", "other"));
    let e = fail(&s, "x", FailureClass::RateLimitShared, None, None);
    assert_eq!(e, Effect::Cooled { until_ms: T0 + 60_000, reason: CoolReason::RateLimit }, "no model: the account");
}

#[test]
fn a_team_named_by_the_upstream_cools_every_account_carrying_it() {
    let (s, _) = setup(vec![def("plain", 0, 1), team("b", "t1"), team("c", "t1"), team("d", "t2"), def("e", 0, 1)]);
    let named = FailureScope::Team { team: Some("t1".into()) };
    let e = fail_in(&s, "plain", FailureClass::RateLimitShared, &named, Some("m"), Some(T0 + 30_000));
    assert_eq!(e, Effect::ScopeCooled { scope: "grok:t1".into(), until_ms: T0 + 30_000, model_only: true });
    for id in ["plain", "b", "c"] {
        assert!(!usable(&s, id, "m"), "{id}: in the named team (plain: the account that hit it)");
        assert!(usable(&s, id, "other"), "{id}: other models are fine");
    }
    assert!(usable(&s, "d", "m") && usable(&s, "e", "m"), "other teams and unknown accounts are untouched");
    assert_eq!(s.account("plain").unwrap().status(T0), AccountStatus::Active);

    // The upstream's team wins over a different `team` credential; an unknown team cools only the pair.
    let e = fail_in(&s, "d", FailureClass::RateLimitShared, &named, Some("n"), None);
    assert_eq!(e, Effect::ScopeCooled { scope: "grok:t1".into(), until_ms: T0 + 60_000, model_only: true });
    assert!(!usable(&s, "d", "n") && !usable(&s, "b", "n"));
    let unknown = FailureScope::Team { team: Some("t9".into()) };
    let e = fail_in(&s, "e", FailureClass::RateLimitShared, &unknown, Some("k"), None);
    assert_eq!(e, Effect::ModelUnavailable { until_ms: T0 + 60_000 });
    assert!(!usable(&s, "e", "k") && usable(&s, "plain", "k"));
}

#[test]
fn a_channel_scope_pauses_the_accounts_surface_only() {
    let (s, clock) = setup(vec![cred("w1", "sso"), cred("w2", "sso"), cred("k", "api_key")]);
    let e = fail_in(&s, "w1", FailureClass::RateLimitShared, &FailureScope::Channel, Some("m"), Some(T0 + 600_000));
    assert_eq!(e, Effect::ScopeCooled { scope: "grok/web".into(), until_ms: T0 + 600_000, model_only: false });
    assert!(!usable(&s, "w2", "m") && !usable(&s, "w2", "other"), "every web account pauses, every model");
    assert!(usable(&s, "k", "m"), "the API surface is not paused");
    assert_eq!(s.account("w1").unwrap().shared().cooldown(T0), None, "no account is poisoned");
    assert!(s.reset("w1"));
    assert!(!usable(&s, "w1", "m"), "an account reset does not lift the channel's pause");
    clock.advance(600_000);
    assert!(usable(&s, "w1", "m"), "the pause ends by itself");
}

#[test]
fn an_account_model_rate_limit_leaves_other_models_and_request_scope_does_nothing() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    let e = fail_in(&s, "a", FailureClass::RateLimit, &FailureScope::AccountModel, Some("img"), Some(T0 + 9_000));
    assert_eq!(e, Effect::ModelUnavailable { until_ms: T0 + 9_000 });
    assert!(!usable(&s, "a", "img") && usable(&s, "a", "m"));
    let e = fail_in(&s, "a", FailureClass::RateLimit, &FailureScope::Request, Some("m"), None);
    assert_eq!(e, Effect::None);
    assert!(usable(&s, "a", "m"));
    assert_eq!(s.account("a").unwrap().counters().failures.get("rate_limit"), Some(&2), "both were counted");
}

#[test]
fn a_rate_limit_without_a_hint_waits_for_the_recorded_upstream_window() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    let o = crate::pool::Observed::from_headers(
        [(&b"x-ratelimit-remaining-requests"[..], &b"0"[..]), (b"x-ratelimit-reset-requests", b"17m0s")],
        T0,
    );
    s.account("a").unwrap().shared().rate_limits().record(&o, T0);
    assert_eq!(
        fail(&s, "a", FailureClass::RateLimit, None, None),
        Effect::Cooled { until_ms: T0 + 1_020_000, reason: CoolReason::RateLimit }
    );
    assert_eq!(
        fail(&s, "b", FailureClass::RateLimit, None, None),
        Effect::Cooled { until_ms: T0 + 60_000, reason: CoolReason::RateLimit },
        "nothing recorded: the default"
    );
}

#[test]
fn blocked_disables_until_reset() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    assert_eq!(fail(&s, "a", FailureClass::Blocked, None, None), Effect::Disabled { reason: DisableReason::Blocked });
    assert_eq!(s.account("a").unwrap().status(T0), AccountStatus::Disabled { reason: "blocked".into() });
    assert_eq!(picks(&s, 3), ["b", "b", "b"]);
    assert!(s.reset("a"));
    assert!(!s.reset("nope"));
    assert_eq!(s.account("a").unwrap().status(T0), AccountStatus::Active);
}

#[test]
fn model_failure_makes_only_that_pair_unavailable_for_a_while() {
    let (s, clock) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    assert_eq!(
        fail(&s, "a", FailureClass::Model, Some("m"), None),
        Effect::ModelUnavailable { until_ms: T0 + 600_000 }
    );
    assert!(!usable(&s, "a", "m"));
    assert!(usable(&s, "a", "n"));
    assert_eq!(s.account("a").unwrap().status(T0), AccountStatus::Active, "the account itself is fine");
    clock.advance(600_000);
    assert!(usable(&s, "a", "m"));
    assert_eq!(fail(&s, "a", FailureClass::Model, None, None), Effect::None);
}

#[test]
fn client_errors_change_nothing_but_the_counters() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    for _ in 0..10 {
        assert_eq!(fail(&s, "a", FailureClass::Client, None, Some(T0 + 60_000)), Effect::None);
    }
    assert!(usable(&s, "a", "m"));
    assert_eq!(s.account("a").unwrap().counters().failures.get("client"), Some(&10));
    assert!(!FailureClass::Client.retry_elsewhere());
}

#[test]
fn slow_is_counted_without_cooling() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    for _ in 0..10 {
        assert_eq!(fail(&s, "a", FailureClass::Slow, None, None), Effect::None);
    }
    assert!(usable(&s, "a", "m"));
    let c = s.account("a").unwrap().counters();
    assert_eq!(c.failures.get("slow"), Some(&10));
    assert_eq!(c.last_error.as_deref(), Some("slow"));
    assert!(FailureClass::Slow.retry_elsewhere());
}

#[test]
fn every_class_except_client_retries_elsewhere() {
    for c in FailureClass::ALL {
        assert_eq!(c.retry_elsewhere(), c != FailureClass::Client, "{c:?}");
    }
}

#[test]
fn success_counts_requests_and_tokens() {
    let (s, clock) = setup(vec![def("a", 0, 1)]);
    clock.advance(7);
    let l = take(&s, "m").unwrap();
    s.on_success(&l, 100, 20);
    let c = s.account("a").unwrap().counters();
    assert_eq!((c.requests, c.successes, c.tokens_in, c.tokens_out, c.last_used_ms), (1, 1, 100, 20, T0 + 7));
}

#[test]
fn reset_clears_cooldown_window_models_and_disable() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    fail(&s, "a", FailureClass::Network, None, None);
    fail(&s, "a", FailureClass::Network, None, None);
    fail(&s, "a", FailureClass::Model, Some("m"), None);
    fail(&s, "a", FailureClass::RateLimit, None, None);
    s.reset("a");
    assert!(usable(&s, "a", "m"));
    assert_eq!(fail(&s, "a", FailureClass::Network, None, None), Effect::Counted { in_window: 1 });
}

#[test]
fn status_roundtrips_through_restore() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1)]);
    let cooling = AccountStatus::Cooling { until_ms: T0 + 5_000, reason: "quota".into() };
    s.account("a").unwrap().restore(&cooling, T0, 15_000);
    assert_eq!(s.account("a").unwrap().status(T0), cooling);
    let disabled = AccountStatus::Disabled { reason: "blocked".into() };
    s.account("b").unwrap().restore(&disabled, T0, 15_000);
    assert_eq!(s.account("b").unwrap().status(T0), disabled);
    s.account("c").unwrap().restore(&AccountStatus::Cooling { until_ms: T0 - 1, reason: "x".into() }, T0, 15_000);
    s.account("c").unwrap().restore(&AccountStatus::Disabled { reason: "operator".into() }, T0, 15_000);
    assert_eq!(
        s.account("c").unwrap().status(T0),
        AccountStatus::Active,
        "expired and operator states are not restored"
    );
}

#[test]
fn operator_disabled_shows_in_status() {
    let mut d = def("a", 0, 1);
    d.enabled = false;
    let (s, _) = setup(vec![d]);
    assert_eq!(s.account("a").unwrap().status(T0), AccountStatus::Disabled { reason: "operator".into() });
}

#[test]
fn a_401_on_credentials_a_refresh_replaced_does_nothing() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    let l = take(&s, "m").unwrap();
    s.account("a").unwrap().shared().raise_min_revision(5);
    assert_eq!(s.on_failure(&l, FailureClass::Auth, None, None), Effect::None);
    assert_eq!(s.account("a").unwrap().counters().failures.get("auth"), Some(&1));
}
