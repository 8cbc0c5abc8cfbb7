//! Sticky sessions through the shard: pinning, escape when the account is unusable, and that
//! only the session that had to move moves.

use super::*;
use crate::domain::FailureClass;

fn session(s: &str) -> Option<SessionKey> {
    SessionKey::derive(&SessionSources { claude_code_session_id: Some(s.as_bytes()), ..Default::default() })
}

fn pick_for(shard: &Shard, s: &str) -> String {
    shard.acquire(&req("m").with_session(session(s)), &mut Attempt::new(3)).unwrap().id().to_owned()
}

#[test]
fn a_session_stays_on_its_account_while_round_robin_moves_others() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1), def("c", 0, 1)]);
    let first = pick_for(&s, "S");
    for _ in 0..10 {
        assert_eq!(pick_for(&s, "S"), first);
        pick(&s); // unrelated traffic moves the round-robin
    }
    let lease = s.acquire(&req("m").with_session(session("S")), &mut Attempt::new(3)).unwrap();
    assert!(lease.was_sticky());
}

#[test]
fn only_the_session_that_found_its_account_unusable_moves() {
    let (s, clock) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    // Pin S and T to a while b cools.
    fail(&s, "b", FailureClass::RateLimit, None, None);
    assert_eq!(pick_for(&s, "S"), "a");
    assert_eq!(pick_for(&s, "T"), "a");
    assert!(s.reset("b"));
    // a cools: S's next request moves to b and S is re-pinned there.
    fail(&s, "a", FailureClass::RateLimit, None, None);
    assert_eq!(pick_for(&s, "S"), "b");
    // a recovers by itself; T, which never had to move, is still on a; S stays on b.
    clock.advance(60_000);
    assert_eq!(pick_for(&s, "T"), "a");
    assert_eq!(pick_for(&s, "S"), "b");
    assert_eq!(pick_for(&s, "S"), "b");
}

#[test]
fn failover_inside_a_request_repins_the_session() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    let r = req("m").with_session(session("S"));
    assert_eq!(pick_for(&s, "S"), "a");
    let mut at = Attempt::new(3);
    let l1 = s.acquire(&r, &mut at).unwrap();
    assert_eq!(l1.id(), "a");
    s.on_failure(&l1, FailureClass::Server, Some("m"), None);
    drop(l1);
    let l2 = s.acquire(&r, &mut at).unwrap();
    assert_eq!(l2.id(), "b", "a was tried by this request");
    assert!(!l2.was_sticky());
    drop(l2);
    assert_eq!(pick_for(&s, "S"), "b", "the session follows where it was last served");
}

#[test]
fn a_full_sticky_account_sends_the_request_elsewhere() {
    let (s, _) = setup(vec![capped("a", 1), capped("b", 1)]);
    assert_eq!(pick_for(&s, "S"), "a");
    let hold = take(&s, "m").unwrap();
    assert_eq!(hold.id(), "b");
    drop(hold);
    let hold_a = s.acquire(&req("m").with_session(session("S")), &mut Attempt::new(1)).unwrap();
    assert_eq!(hold_a.id(), "a");
    assert_eq!(pick_for(&s, "S"), "b");
}

#[test]
fn sticky_pins_expire_and_can_be_turned_off() {
    let (s, clock) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    assert_eq!(pick_for(&s, "S"), "a");
    assert_eq!(s.sticky_len(), 1);
    clock.advance(PoolConfig::default().sticky_ttl_ms);
    assert_eq!(pick_for(&s, "S"), "b", "the pin expired; the round-robin continues with b");
    s.set_config(PoolConfig { sticky_max_entries: 0, ..PoolConfig::default() });
    assert_eq!(s.sticky_len(), 0);
    let got: Vec<_> = (0..4).map(|_| pick_for(&s, "S")).collect();
    assert_eq!(got, ["a", "b", "a", "b"]);
    assert_eq!(s.sticky_len(), 0);
}

#[test]
fn sessions_are_bounded_per_core() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    s.set_config(PoolConfig { sticky_max_entries: 5, ..PoolConfig::default() });
    for i in 0..100 {
        pick_for(&s, &format!("s{i}"));
    }
    assert_eq!(s.sticky_len(), 5);
}

#[test]
fn a_session_returns_to_a_recovered_higher_tier() {
    let (s, clock) = setup(vec![def("primary", 10, 1), def("backup", 0, 1)]);
    fail(&s, "primary", FailureClass::RateLimit, None, None);
    assert_eq!(pick_for(&s, "S"), "backup");
    assert_eq!(pick_for(&s, "S"), "backup");
    clock.advance(60_000);
    assert_eq!(pick_for(&s, "S"), "primary", "stickiness does not keep a session on a fallback tier");
    assert_eq!(pick_for(&s, "S"), "primary");
}
