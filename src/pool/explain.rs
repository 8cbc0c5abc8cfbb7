//! `GET /api/pool/explain?channel=…&model=…`: which account the next request would get, and why
//! every other account of the channel would be passed over.
//!
//! Key components: [`Explanation`] and [`ExplainRow`] (serde, the endpoint's JSON body as is) and
//! [`Shard::explain`], a dry run of the real selection code on this core: same checks, same tiers,
//! same ratio and round-robin credit, but nothing moves (no credit change, no slot, no pin). No
//! session is considered and nothing counts as tried.
//!
//! Shape (see `docs/failover.md`):
//! ```json
//! {"channel":"grok","model":"grok-4","now_ms":…,"generation":3,"picked":"g2",
//!  "unavailable":null,
//!  "accounts":[{"id":"g1","name":"","priority":10,"weight":1,"in_flight":0,"in_flight_here":0,
//!               "max_concurrency":0,"status":{"state":"cooling","until_ms":…,"reason":"rate_limit"},
//!               "picked":false,"skip":{"reason":"cooling","until_ms":…,"cause":"rate_limit"}}, …]}
//! ```
//! Rows are in selection order: tiers from the highest priority, ids ascending inside a tier.
//! No credentials appear, ever.

use super::attempt::{Tally, Unavailable};
use super::select::{Ctx, Observer, Skip};
use super::shard::Shard;
use super::shared::model_hash;
use crate::domain::{AccountDef, AccountStatus, Channel};

/// One account in an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExplainRow {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub weight: u32,
    /// In flight on every core.
    pub in_flight: u32,
    /// In flight on the core that answered.
    pub in_flight_here: u32,
    pub max_concurrency: u32,
    pub status: AccountStatus,
    pub picked: bool,
    /// Why it would not be picked (absent for the pick).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<Skip>,
}

/// The explain endpoint's answer (module docs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    pub channel: Channel,
    pub model: String,
    pub now_ms: u64,
    /// The snapshot generation explained.
    pub generation: u64,
    /// The id that would be picked.
    pub picked: Option<String>,
    /// When nothing would be picked: the answer a request would get.
    pub unavailable: Option<Unavailable>,
    pub accounts: Vec<ExplainRow>,
}

#[derive(Default)]
struct Record(Vec<(u32, Skip)>);

impl Observer for Record {
    const ACTIVE: bool = true;
    fn skip(&mut self, idx: u32, why: Skip) {
        self.0.push((idx, why));
    }
}

impl Shard {
    /// Explains the next pick for `channel` / `model` on this core (module docs).
    pub fn explain(&self, channel: Channel, model: &str, can_serve: &dyn Fn(&AccountDef) -> bool) -> Explanation {
        let now = self.clock.now_ms();
        self.with_snapshot(|snap, local| {
            let cx = Ctx {
                channel,
                model,
                can_serve: Some(can_serve),
                model_hash: model_hash(model),
                tried: &[],
                raced: &[],
                now,
            };
            let mut rec = Record::default();
            let mut tally = Tally::default();
            let picked = self.choose(snap, local, &cx, &mut rec, &mut tally, true);
            let accounts = snap
                .tiers(channel)
                .iter()
                .flat_map(|t| t.members.iter())
                .filter_map(|&idx| {
                    let acc = snap.at(idx)?;
                    let def = acc.def();
                    Some(ExplainRow {
                        id: def.id.clone(),
                        name: def.name.clone(),
                        priority: def.priority,
                        weight: acc.weight(),
                        in_flight: acc.shared().in_flight(),
                        in_flight_here: self.local_at(idx).map_or(0, |l| l.in_flight()),
                        max_concurrency: def.max_concurrency,
                        status: acc.status(now),
                        picked: picked == Some(idx),
                        skip: rec.0.iter().find(|(i, _)| *i == idx).map(|(_, s)| *s),
                    })
                })
                .collect();
            Explanation {
                channel,
                model: model.to_owned(),
                now_ms: now,
                generation: snap.generation(),
                picked: picked.and_then(|i| snap.at(i)).map(|a| a.id().to_owned()),
                unavailable: picked.is_none().then(|| tally.verdict(now)),
                accounts,
            }
        })
    }
}
