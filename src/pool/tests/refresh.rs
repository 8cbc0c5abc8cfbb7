//! Token refresh: single flight on one core, one refresher across cores, propagation of the new
//! definition, rejection, cancellation, the instance lock and refresh-ahead.

use super::*;
use crate::domain::{AccountStatus, FailureClass};
use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

/// A refresher whose answer is released by hand.
#[derive(Default)]
struct Gate {
    calls: Cell<u32>,
    answer: RefCell<Option<Result<NewCredentials, RefreshError>>>,
    seen_token: RefCell<Vec<String>>,
}

impl Gate {
    fn open(&self, r: Result<NewCredentials, RefreshError>) {
        *self.answer.borrow_mut() = Some(r);
    }
}

impl Refresher for Gate {
    async fn refresh(&self, account: &AccountDef) -> Result<NewCredentials, RefreshError> {
        self.calls.set(self.calls.get() + 1);
        self.seen_token.borrow_mut().push(account.credentials.get("token").cloned().unwrap_or_default());
        std::future::poll_fn(|_| match self.answer.borrow().clone() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        })
        .await
    }
}

fn creds(token: &str, expires_ms: Option<u64>) -> NewCredentials {
    NewCredentials { credentials: [("token".to_owned(), token.to_owned())].into(), expires_ms }
}

fn with_token(id: &str, token: &str) -> AccountDef {
    let mut d = def(id, 0, 1);
    d.credentials.insert("token".into(), token.into());
    d.credentials.insert("refresh".into(), "r1".into());
    d
}

#[test]
fn concurrent_callers_on_one_core_share_one_refresh() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    let mut first = pin!(s.refresh("a", &gate, &LocalOnly));
    let mut second = pin!(s.refresh("a", &gate, &LocalOnly));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    assert_eq!(gate.calls.get(), 1);
    gate.open(Ok(creds("new", Some(T0 + 3_600_000))));
    let Poll::Ready(Ok(a)) = poll_once(first.as_mut()) else { panic!("leader did not finish") };
    let Poll::Ready(Ok(b)) = poll_once(second.as_mut()) else { panic!("joiner did not finish") };
    assert!(a.leader && !b.leader);
    assert!(Arc::ptr_eq(&a.def, &b.def));
    assert_eq!(a.def.credentials["token"], "new");
    assert_eq!(a.def.credentials["refresh"], "r1", "keys not returned are kept");
    assert!(a.def.revision > 0);
    assert_eq!(gate.calls.get(), 1);
    let acc = s.account("a").unwrap();
    assert_eq!(acc.shared().expires_ms(), T0 + 3_600_000);
    assert!(!acc.shared().is_refreshing());
}

#[test]
fn only_one_core_refreshes_and_the_other_fails_over_then_catches_up_by_snapshot() {
    let clock = Clock::manual(T0);
    let sn = snap(vec![with_token("a", "old"), def("b", 0, 1)]);
    let (core1, core2) = (shard_on(&sn, &clock), shard_on(&sn, &clock));
    sn.get("a").unwrap().set_token_expiry(T0 - 1);
    let gate = Gate::default();
    let mut leader = pin!(core1.refresh("a", &gate, &LocalOnly));
    assert!(poll_once(leader.as_mut()).is_pending());
    assert_eq!(ready(core2.refresh("a", &gate, &LocalOnly)).unwrap_err(), RefreshFailure::Busy);
    let ex = core2.explain(G, "m", &|_| true);
    assert_eq!(ex.accounts[0].skip, Some(Skip::RefreshPending), "expired and being refreshed elsewhere");
    assert_eq!(picks(&core2, 2), ["b", "b"]);
    gate.open(Ok(creds("new", None)));
    let Poll::Ready(Ok(done)) = poll_once(leader.as_mut()) else { panic!() };
    assert_eq!(gate.calls.get(), 1);
    // core1 uses the new credentials at once; core2's snapshot is stale until the new one lands.
    let mut at = Attempt::new(3);
    let l = core1.acquire(&req("m").with_can_serve(&|d| d.id == "a"), &mut at).unwrap();
    assert_eq!(l.def().credentials["token"], "new");
    drop(l);
    assert_eq!(core2.explain(G, "m", &|_| true).accounts[0].skip, Some(Skip::RefreshPending));
    assert_eq!(
        ready(core2.refresh("a", &gate, &LocalOnly)).unwrap_err(),
        RefreshFailure::Stale,
        "never replays old credentials"
    );
    let next = Arc::new(Snapshot::build(vec![AccountDef::clone(&done.def), def("b", 0, 1)], Some(&sn)).unwrap());
    core2.install(Arc::clone(&next));
    core1.install(next);
    let l2 = core2.acquire(&req("m").with_can_serve(&|d| d.id == "a"), &mut Attempt::new(1)).unwrap();
    assert_eq!(l2.def().credentials["token"], "new");
    assert!(core1.fresh.borrow().is_empty(), "the override is dropped once the snapshot carries it");
}

#[test]
fn rejected_refresh_disables_the_account_for_every_waiter() {
    let (s, _) = setup(vec![with_token("a", "old"), def("b", 0, 1)]);
    let gate = Gate::default();
    let mut first = pin!(s.refresh("a", &gate, &LocalOnly));
    let mut second = pin!(s.refresh("a", &gate, &LocalOnly));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    gate.open(Err(RefreshError::Rejected("INVALID_REFRESH_TOKEN".into())));
    let want = RefreshFailure::Rejected("INVALID_REFRESH_TOKEN".into());
    assert_eq!(poll_once(first.as_mut()), Poll::Ready(Err(want.clone())));
    assert_eq!(poll_once(second.as_mut()), Poll::Ready(Err(want)));
    let acc = s.account("a").unwrap();
    assert_eq!(acc.shared().disabled(), Some(DisableReason::Auth));
    assert_eq!(picks(&s, 2), ["b", "b"]);
}

#[test]
fn a_401_then_a_successful_refresh_brings_the_account_back() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let l = take(&s, "m").unwrap();
    let e = s.on_failure(&l, FailureClass::Auth, Some("m"), None);
    assert!(matches!(e, Effect::RefreshNeeded { .. }));
    drop(l);
    assert_eq!(take(&s, "m").unwrap_err().kind, UnavailableKind::Cooling);
    let due: Vec<_> = s.refresh_due().iter().map(|a| a.id().to_owned()).collect();
    assert_eq!(due, ["a"], "the background sweeper sees the 401");
    let gate = Gate::default();
    gate.open(Ok(creds("new", None)));
    ready(s.refresh("a", &gate, &LocalOnly)).unwrap();
    let l = take(&s, "m").unwrap();
    assert_eq!(l.def().credentials["token"], "new");
    assert!(s.refresh_due().is_empty());
}

#[test]
fn the_late_echo_of_an_answered_401_cooldown_does_not_cool_again() {
    // The feed delivers this instance's own `cooling(auth_refresh)` write after the refresh has
    // already lifted it (CI saw the account shown cooling right after it served again).
    let (s, clock) = setup(vec![with_token("a", "old")]);
    let timeout = PoolConfig::default().refresh_timeout_ms;
    let l = take(&s, "m").unwrap();
    s.on_failure(&l, FailureClass::Auth, Some("m"), None);
    drop(l);
    let acc = s.account("a").unwrap();
    let echo = acc.status(T0);
    assert_eq!(echo, AccountStatus::Cooling { until_ms: T0 + timeout, reason: "auth_refresh".into() });
    clock.advance(5);
    let gate = Gate::default();
    gate.open(Ok(creds("new", None)));
    ready(s.refresh("a", &gate, &LocalOnly)).unwrap();
    clock.advance(5);
    acc.restore(&echo, clock.now_ms(), timeout);
    assert_eq!(acc.status(clock.now_ms()), AccountStatus::Active, "the echo of the answered 401 is moot");
    assert!(take(&s, "m").is_ok());
    // A 401 after the refresh (here: from another instance) still cools.
    let later = AccountStatus::Cooling { until_ms: clock.now_ms() + timeout, reason: "auth_refresh".into() };
    acc.restore(&later, clock.now_ms(), timeout);
    assert_eq!(acc.status(clock.now_ms()), later);
    // And other reasons are restored regardless of the refresh.
    let (s2, _) = setup(vec![with_token("b", "old")]);
    let b = s2.account("b").unwrap();
    b.shared().set_last_refresh_ms(T0 + 50);
    let quota = AccountStatus::Cooling { until_ms: T0 + 10, reason: "quota".into() };
    b.restore(&quota, T0, timeout);
    assert_eq!(b.status(T0), quota);
}

#[test]
fn dropping_the_leader_cancels_waiters_and_frees_the_flag() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    {
        let mut leader = Box::pin(s.refresh("a", &gate, &LocalOnly));
        let mut joiner = pin!(s.refresh("a", &gate, &LocalOnly));
        assert!(poll_once(leader.as_mut()).is_pending());
        assert!(poll_once(joiner.as_mut()).is_pending());
        drop(leader);
        assert_eq!(poll_once(joiner.as_mut()), Poll::Ready(Err(RefreshFailure::Cancelled)));
    }
    assert!(!s.account("a").unwrap().shared().is_refreshing());
    gate.open(Ok(creds("new", None)));
    assert!(ready(s.refresh("a", &gate, &LocalOnly)).unwrap().leader);
    assert_eq!(gate.calls.get(), 2);
}

/// Another instance holds the lock and never lets go; requests never wait.
struct Deny;

impl InstanceLock for Deny {
    async fn try_lock(&self, _: &str) -> LockAttempt {
        LockAttempt::HeldElsewhere
    }
    async fn unlock(&self, _: &str) {}
    async fn stored(&self, _: &str) -> Option<AccountDef> {
        None
    }
    async fn save(&self, _: &AccountDef) {}
    async fn pause(&self) -> bool {
        false
    }
}

/// A scripted other instance: holds the lock for `held` more tries, has `stored` in the store,
/// and records what happens.
#[derive(Default)]
struct Other {
    held: Cell<u32>,
    stored: RefCell<Option<AccountDef>>,
    saved: RefCell<Vec<AccountDef>>,
    log: RefCell<Vec<&'static str>>,
    /// Run at each pause (e.g. a snapshot arriving).
    on_pause: RefCell<Option<Box<dyn Fn()>>>,
    fail: Cell<bool>,
}

impl InstanceLock for Other {
    async fn try_lock(&self, _: &str) -> LockAttempt {
        if self.fail.get() {
            return LockAttempt::Failed("store down".into());
        }
        if self.held.get() > 0 {
            self.held.set(self.held.get() - 1);
            self.log.borrow_mut().push("held");
            return LockAttempt::HeldElsewhere;
        }
        self.log.borrow_mut().push("lock");
        LockAttempt::Acquired
    }
    async fn unlock(&self, _: &str) {
        self.log.borrow_mut().push("unlock");
    }
    async fn stored(&self, _: &str) -> Option<AccountDef> {
        self.log.borrow_mut().push("read");
        self.stored.borrow().clone()
    }
    async fn save(&self, def: &AccountDef) {
        self.log.borrow_mut().push("save");
        self.saved.borrow_mut().push(def.clone());
    }
    async fn pause(&self) -> bool {
        if let Some(f) = self.on_pause.borrow().as_ref() {
            f();
        }
        true
    }
}

#[test]
fn the_refresh_is_saved_under_the_lock_before_it_is_released() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    gate.open(Ok(creds("new", Some(T0 + 1))));
    let other = Other::default();
    let r = ready(s.refresh("a", &gate, &other)).unwrap();
    assert!(r.leader);
    assert_eq!(*other.log.borrow(), ["lock", "read", "save", "unlock"]);
    assert_eq!(other.saved.borrow()[0].credentials["token"], "new");
    assert_eq!(other.saved.borrow()[0].revision, r.def.revision);
}

#[test]
fn a_refresh_another_instance_stored_is_adopted_not_repeated() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    let other = Other::default();
    let mut theirs = with_token("a", "theirs");
    theirs.revision = 5;
    *other.stored.borrow_mut() = Some(theirs);
    other.held.set(2);
    let r = ready(s.refresh("a", &gate, &other)).unwrap();
    assert_eq!(gate.calls.get(), 0, "the old credentials never reach the token endpoint");
    assert!(!r.leader, "adopted, not refreshed here");
    assert_eq!(r.def.credentials["token"], "theirs");
    assert_eq!(*other.log.borrow(), ["held", "held", "lock", "read", "unlock"]);
    assert!(other.saved.borrow().is_empty());
    let l = take(&s, "m").unwrap();
    assert_eq!(l.def().credentials["token"], "theirs", "requests use the adopted definition");
}

#[test]
fn a_waiting_refresh_adopts_the_winners_definition_when_its_snapshot_arrives() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let s = Rc::new(s);
    let gate = Gate::default();
    let other = Other::default();
    other.held.set(u32::MAX);
    let first = s.snapshot();
    let shard = Rc::clone(&s);
    *other.on_pause.borrow_mut() = Some(Box::new(move || {
        // The winner's saved definition reaches this instance through the change feed.
        let mut d = with_token("a", "winner");
        d.revision = 3;
        shard.install(Arc::new(Snapshot::build(vec![d], Some(&first)).unwrap()));
    }));
    let r = ready(s.refresh("a", &gate, &other)).unwrap();
    assert_eq!((gate.calls.get(), r.leader), (0, false));
    assert_eq!(r.def.credentials["token"], "winner");
    assert_eq!(*other.log.borrow(), ["held"], "never took the lock, never read the store");
    assert!(!s.account("a").unwrap().shared().is_refreshing());
}

#[test]
fn a_store_that_cannot_lock_means_no_refresh() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    s.account("a").unwrap().set_token_expiry(T0 - 1);
    let gate = Gate::default();
    let other = Other::default();
    other.fail.set(true);
    assert!(matches!(ready(s.refresh("a", &gate, &other)), Err(RefreshFailure::Transient(_))));
    assert_eq!(gate.calls.get(), 0);
    let st = s.account("a").unwrap().status(T0);
    assert_eq!(st, crate::domain::AccountStatus::Cooling { until_ms: T0 + 30_000, reason: "refresh_failed".into() });
}

#[test]
fn a_request_never_waits_for_another_instance() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    s.account("a").unwrap().set_token_expiry(T0 + 1_000);
    let gate = Gate::default();
    let other = Other::default();
    other.held.set(u32::MAX);
    let l = take(&s, "m").unwrap();
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &other)).unwrap().credentials["token"], "old", "still valid");
    assert_eq!(*other.log.borrow(), ["held"]);
    // A store that cannot lock, or a token endpoint that is down, does not cost a valid token.
    other.fail.set(true);
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &other)).unwrap().credentials["token"], "old");
    other.fail.set(false);
    other.held.set(0);
    gate.open(Err(RefreshError::Transient("503".into())));
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &other)).unwrap().credentials["token"], "old");
    assert_eq!(gate.calls.get(), 1);
}

#[test]
fn another_instance_holding_the_lock_means_busy() {
    let (s, _) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    assert_eq!(ready(s.refresh("a", &gate, &Deny)).unwrap_err(), RefreshFailure::Busy);
    assert_eq!(gate.calls.get(), 0);
    assert!(!s.account("a").unwrap().shared().is_refreshing());
    assert_eq!(ready(s.refresh("zz", &gate, &LocalOnly)).unwrap_err(), RefreshFailure::UnknownAccount);
}

#[test]
fn ensure_fresh_refreshes_ahead_of_expiry_and_only_then() {
    let (s, clock) = setup(vec![with_token("a", "old")]);
    let gate = Gate::default();
    gate.open(Ok(creds("new", Some(T0 + 3_600_000))));
    let l = take(&s, "m").unwrap();
    // Unknown expiry: used as is.
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &LocalOnly)).unwrap().credentials["token"], "old");
    // Far from expiry: as is.
    s.account("a").unwrap().set_token_expiry(T0 + 600_000);
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &LocalOnly)).unwrap().credentials["token"], "old");
    assert_eq!(gate.calls.get(), 0);
    // Within refresh_ahead (5 min): refreshed first.
    clock.advance(400_000);
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &LocalOnly)).unwrap().credentials["token"], "new");
    assert_eq!(gate.calls.get(), 1);
    // The same (now stale) lease gets the fresh definition without another refresh.
    assert_eq!(ready(s.ensure_fresh(&l, &gate, &LocalOnly)).unwrap().credentials["token"], "new");
    assert_eq!(gate.calls.get(), 1);
}

/// `fresh_def` (the request path's first look) answers exactly when no refresh is due: never
/// for a token within `refresh_ahead`, always with the lease's definition otherwise.
#[test]
fn fresh_def_answers_only_when_no_refresh_is_due() {
    let (s, clock) = setup(vec![with_token("a", "old")]);
    let l = take(&s, "m").unwrap();
    let token = |d: Option<std::sync::Arc<AccountDef>>| d.map(|d| d.credentials["token"].clone());
    assert_eq!(token(s.fresh_def(&l)), Some("old".into()), "no expiry known");
    s.account("a").unwrap().set_token_expiry(T0 + 600_000);
    assert_eq!(token(s.fresh_def(&l)), Some("old".into()), "far from expiry");
    clock.advance(400_000);
    assert_eq!(token(s.fresh_def(&l)), None, "within refresh_ahead: ensure_fresh's work");
    clock.advance(400_000);
    assert_eq!(token(s.fresh_def(&l)), None, "expired");
}

#[test]
fn ensure_fresh_uses_a_still_valid_token_while_another_core_refreshes() {
    let clock = Clock::manual(T0);
    let sn = snap(vec![with_token("a", "old")]);
    let (core1, core2) = (shard_on(&sn, &clock), shard_on(&sn, &clock));
    sn.get("a").unwrap().set_token_expiry(T0 + 60_000);
    let gate = Gate::default();
    let mut leader = pin!(core1.refresh("a", &gate, &LocalOnly));
    assert!(poll_once(leader.as_mut()).is_pending());
    let l = take(&core2, "m").unwrap();
    assert_eq!(ready(core2.ensure_fresh(&l, &gate, &LocalOnly)).unwrap().credentials["token"], "old");
    clock.advance(60_000);
    assert_eq!(
        ready(core2.ensure_fresh(&l, &gate, &LocalOnly)).unwrap_err(),
        RefreshFailure::Busy,
        "expired: fail over"
    );
    assert_eq!(gate.calls.get(), 1);
}

#[test]
fn transient_refresh_failure_cools_only_an_unusable_token() {
    let (s, clock) = setup(vec![with_token("a", "old"), with_token("b", "old")]);
    let gate = Gate::default();
    gate.open(Err(RefreshError::Transient("503".into())));
    s.account("a").unwrap().set_token_expiry(T0 + 100_000);
    assert!(matches!(ready(s.refresh("a", &gate, &LocalOnly)), Err(RefreshFailure::Transient(_))));
    assert_eq!(s.account("a").unwrap().status(T0), crate::domain::AccountStatus::Active, "token still valid");
    s.account("b").unwrap().set_token_expiry(T0 - 1);
    assert!(ready(s.refresh("b", &gate, &LocalOnly)).is_err());
    let st = s.account("b").unwrap().status(T0);
    assert_eq!(st, crate::domain::AccountStatus::Cooling { until_ms: T0 + 30_000, reason: "refresh_failed".into() });
    clock.advance(30_000);
    assert_eq!(s.account("b").unwrap().status(s.now_ms()), crate::domain::AccountStatus::Active);
}

#[test]
fn refresh_due_lists_expiring_tokens_only() {
    let (s, _) = setup(vec![with_token("soon", "t"), with_token("later", "t"), with_token("unknown", "t")]);
    s.account("soon").unwrap().set_token_expiry(T0 + 200_000);
    s.account("later").unwrap().set_token_expiry(T0 + 900_000);
    let due: Vec<_> = s.refresh_due().iter().map(|a| a.id().to_owned()).collect();
    assert_eq!(due, ["soon"]);
}
