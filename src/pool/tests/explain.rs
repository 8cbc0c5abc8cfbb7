//! The explain endpoint's data: the pick, every other account's reason, and that it is a dry run.

use super::*;
use crate::domain::FailureClass;

fn reasons(ex: &Explanation) -> Vec<(String, Option<Skip>)> {
    ex.accounts.iter().map(|r| (r.id.clone(), r.skip)).collect()
}

#[test]
fn explains_the_pick_and_every_skip() {
    let mut deny = def("deny", 5, 1);
    deny.denied_models = vec!["m".into()];
    let mut full = capped("full", 1);
    full.priority = 5;
    let (s, _) = setup(vec![
        def("cool", 5, 1),
        deny,
        full,
        def("hi_a", 5, 3),
        def("hi_b", 5, 3),
        def("busy", 5, 3),
        def("low", 0, 1),
    ]);
    fail(&s, "cool", FailureClass::RateLimit, None, Some(T0 + 5_000));
    let _full = s.acquire(&req("m").with_can_serve(&|d| d.id == "full"), &mut Attempt::new(1)).unwrap();
    let _busy = s.acquire(&req("m").with_can_serve(&|d| d.id == "busy"), &mut Attempt::new(1)).unwrap();

    let ex = s.explain(G, "m", &|_| true);
    assert_eq!(ex.picked.as_deref(), Some("hi_a"));
    assert_eq!(ex.unavailable, None);
    assert_eq!(
        reasons(&ex),
        [
            ("busy".into(), Some(Skip::Busier { in_flight: 1, weight: 3 })),
            ("cool".into(), Some(Skip::Cooling { until_ms: T0 + 5_000, cause: CoolReason::RateLimit })),
            ("deny".into(), Some(Skip::ModelNotAllowed)),
            ("full".into(), Some(Skip::Full { in_flight: 1, max_concurrency: 1 })),
            ("hi_a".into(), None),
            ("hi_b".into(), Some(Skip::LostTieBreak)),
            ("low".into(), Some(Skip::LowerTier)),
        ]
    );
    let row = ex.accounts.iter().find(|r| r.id == "busy").unwrap();
    assert_eq!((row.in_flight, row.in_flight_here), (1, 1));
    assert!(ex.accounts.iter().find(|r| r.id == "hi_a").unwrap().picked);
}

#[test]
fn explain_is_a_dry_run_that_predicts_the_next_pick() {
    let (s, _) = setup(vec![def("a", 0, 5), def("b", 0, 1), def("c", 0, 1)]);
    for _ in 0..20 {
        let predicted = s.explain(G, "m", &|_| true).picked.unwrap();
        assert_eq!(s.explain(G, "m", &|_| true).picked.unwrap(), predicted, "explaining moves nothing");
        assert_eq!(pick(&s), predicted);
    }
}

#[test]
fn explain_reports_the_answer_when_nothing_can_serve_and_the_can_serve_predicate() {
    let (s, _) = setup(vec![def("a", 0, 1), def("b", 0, 1)]);
    fail(&s, "a", FailureClass::Quota, None, None);
    let ex = s.explain(G, "m", &|d| d.id != "b");
    assert_eq!(ex.picked, None);
    let u = ex.unavailable.unwrap();
    assert_eq!((u.kind, u.until_ms), (UnavailableKind::Cooling, Some(T0 + 86_400_000)));
    assert_eq!(ex.accounts[1].skip, Some(Skip::CannotServe));
}

#[test]
fn json_shape_has_no_secrets() {
    let mut a = def("a", 0, 1);
    a.credentials.insert("api_key".into(), "xai-SECRET-0123456789".into());
    a.name = "main".into();
    let (s, _) = setup(vec![a, def("b", 0, 1)]);
    fail(&s, "b", FailureClass::Blocked, None, None);
    let v = serde_json::to_value(s.explain(G, "m", &|_| true)).unwrap();
    assert!(!v.to_string().contains("SECRET"));
    assert_eq!(v["channel"], "grok");
    assert_eq!(v["model"], "m");
    assert_eq!(v["picked"], "a");
    assert_eq!(v["generation"], 1);
    assert_eq!(v["unavailable"], serde_json::Value::Null);
    assert_eq!(v["accounts"][0]["name"], "main");
    assert_eq!(v["accounts"][0]["status"]["state"], "active");
    assert!(v["accounts"][0].get("skip").is_none());
    assert_eq!(v["accounts"][1]["skip"], serde_json::json!({"reason": "disabled", "cause": "blocked"}));
    assert_eq!(v["accounts"][1]["status"], serde_json::json!({"state": "disabled", "reason": "blocked"}));
}
