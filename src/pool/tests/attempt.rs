//! Slot leases and the bounded wait for a slot.

use super::*;
use std::cell::Cell;
use std::pin::pin;
use std::time::Duration;

#[test]
fn attempt_bounds_and_clamping() {
    let a = Attempt::new(0);
    assert_eq!(a.max_attempts(), 1);
    assert_eq!(Attempt::new(99).max_attempts(), config::MAX_ATTEMPTS_LIMIT);
    assert!(a.can_attempt());
    assert!(a.tried().is_empty());
}

#[test]
fn the_wait_gives_up_after_queue_wait_ms_with_busy() {
    let (s, clock) = setup(vec![capped("a", 1)]);
    let _held = take(&s, "m").unwrap();
    let sleeps = Cell::new(0u32);
    let sleep = |d: Duration| {
        sleeps.set(sleeps.get() + 1);
        clock.advance(u64::try_from(d.as_millis()).unwrap());
        std::future::ready(())
    };
    let r = ready(s.acquire_wait(&req("m"), &mut Attempt::new(3), sleep));
    assert_eq!(r.unwrap_err().kind, UnavailableKind::Busy);
    assert_eq!(clock.now_ms(), T0 + 2_000, "waited exactly queue_wait_ms");
    assert_eq!(sleeps.get(), 100, "re-checked every SLOT_POLL_MS");
}

#[test]
fn a_release_on_this_core_wakes_the_waiter() {
    let (s, _) = setup(vec![capped("a", 1)]);
    let held = take(&s, "m").unwrap();
    let r = req("m");
    let mut at = Attempt::new(3);
    let mut wait = pin!(s.acquire_wait(&r, &mut at, |_| std::future::pending::<()>()));
    assert!(poll_once(wait.as_mut()).is_pending());
    assert_eq!(s.notify.waiters(), 1);
    drop(held);
    let std::task::Poll::Ready(Ok(lease)) = poll_once(wait.as_mut()) else { panic!("not woken") };
    assert_eq!(lease.id(), "a");
    assert_eq!(s.notify.waiters(), 0, "the waiter unregistered");
}

#[test]
fn a_release_on_another_core_is_found_by_the_poll() {
    let clock = Clock::manual(T0);
    let sn = snap(vec![capped("a", 1)]);
    let (core1, core2) = (shard_on(&sn, &clock), shard_on(&sn, &clock));
    let held = Cell::new(Some(take(&core2, "m").unwrap()));
    let sleep = |_| {
        held.take(); // the other core finishes its request during our first sleep
        std::future::ready(())
    };
    let got = ready(core1.acquire_wait(&req("m"), &mut Attempt::new(3), sleep)).unwrap();
    assert_eq!(got.id(), "a");
}

#[test]
fn no_wait_when_the_answer_is_not_busy() {
    let (s, clock) = setup(vec![def("a", 0, 1)]);
    s.account("a").unwrap().on_failure(&s.config(), crate::domain::FailureClass::Quota, None, None, T0);
    let r =
        ready(s.acquire_wait(&req("m"), &mut Attempt::new(3), |_| -> std::future::Pending<()> {
            panic!("must not sleep")
        }));
    assert_eq!(r.unwrap_err().kind, UnavailableKind::Cooling);
    assert_eq!(clock.now_ms(), T0);
}

#[test]
fn queue_wait_zero_answers_busy_at_once() {
    let (s, _) = setup(vec![capped("a", 1)]);
    s.set_config(PoolConfig { queue_wait_ms: 0, ..PoolConfig::default() });
    let _held = take(&s, "m").unwrap();
    let r =
        ready(s.acquire_wait(&req("m"), &mut Attempt::new(3), |_| -> std::future::Pending<()> {
            panic!("must not sleep")
        }));
    assert_eq!(r.unwrap_err().kind, UnavailableKind::Busy);
}

#[test]
fn a_dropped_waiter_leaves_no_registration() {
    let (s, _) = setup(vec![capped("a", 1)]);
    let _held = take(&s, "m").unwrap();
    let r = req("m");
    let mut at = Attempt::new(3);
    {
        let mut wait = Box::pin(s.acquire_wait(&r, &mut at, |_| std::future::pending::<()>()));
        assert!(poll_once(wait.as_mut()).is_pending());
        assert_eq!(s.notify.waiters(), 1);
    }
    assert_eq!(s.notify.waiters(), 0);
}

#[test]
fn lease_exposes_the_account_and_definition() {
    let (s, _) = setup(vec![def("a", 0, 1)]);
    let l = take(&s, "m").unwrap();
    assert_eq!((l.id(), l.def().id.as_str(), l.account().id()), ("a", "a", "a"));
    assert_eq!(l.key(), s.account("a").unwrap().key());
    assert!(!l.was_sticky());
}
