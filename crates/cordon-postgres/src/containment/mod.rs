//! [`ContainmentStore`] on PostgreSQL: the two primitives. A write is one transaction:
//! the facts the plan asks for, stage by stage, with the rows it decides on locked
//! `FOR UPDATE` (and, for the zone clock and the case sweep, a transaction advisory
//! lock, so that instances running them at once take turns and the later one plans from
//! what the earlier committed), the plan (in `cordon-store`), its effects.

mod facts;
mod write;

use crate::PgStore;
use crate::error::Db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::containment::quarantine::{OrderState, PersonResult};
use cordon_domain::testing::TestResult;
use cordon_store::StoreError;
use cordon_store::containment::facts::{Facts, Keys};
use cordon_store::containment::plan::{self, Outcome, Write};
use cordon_store::containment::{Act, ContainmentStore};
use tokio_postgres::GenericClient;

type Result<T> = std::result::Result<T, StoreError>;

/// Stages a plan may ask for before it is a bug.
const MAX_STAGES: u32 = 8;

/// Applies `w` inside the caller's transaction.
pub(crate) async fn apply<C: GenericClient + Sync>(tx: &C, w: &Write, act: &Act) -> Result<Outcome> {
    let mut facts = Facts::default();
    let mut stage = 0;
    while let Some(k) = plan::keys(w, stage, &facts, act) {
        facts.merge(facts::fetch(tx, &k).await?);
        stage += 1;
        if stage > MAX_STAGES {
            return Err(StoreError::Backend("a containment plan kept asking for facts".into()));
        }
    }
    let planned = plan::plan(w, &facts, act);
    let written = write::write(tx, &planned.effects).await?;
    Ok(planned.outcome.resolve(&written))
}

/// For mass testing's `record_results`, inside its transaction: the results of these
/// tubes (id, result, capacity) resolve the scheduled tests of the people in them who are
/// under an open order. Returns the tests resolved.
#[allow(dead_code)] // called from testing's record_results once the lead wires it in
pub(crate) async fn order_results_for_tubes<C: GenericClient + Sync>(
    tx: &C,
    tubes: &[(i64, TestResult, u32)],
    at: DateTime<Utc>,
    tz: &DistrictTz,
    audit: &AuditEntry,
) -> Result<u32> {
    let keys = Keys { tube_members: tubes.iter().map(|t| t.0).collect(), ..Keys::default() };
    let members = facts::fetch(tx, &keys).await?;
    order_results(tx, &plan::person_results(tubes, &members.tube_members, at), tz, audit).await
}

/// The same for results already known per person.
#[allow(dead_code)]
pub(crate) async fn order_results<C: GenericClient + Sync>(
    tx: &C,
    results: &[PersonResult],
    tz: &DistrictTz,
    audit: &AuditEntry,
) -> Result<u32> {
    if results.is_empty() {
        return Ok(0);
    }
    let facts = facts::fetch(tx, &plan::order_results_keys(results)).await?;
    let effects = plan::plan_order_results(results, &facts, tz.offset(), audit);
    write::write(tx, &effects).await?;
    Ok(effects.tests_save.len() as u32)
}

/// For `person_state` (the colour engine's facts): the resident's open order as
/// (state, centralised), one indexed probe. Map it with
/// `cordon_domain::containment::quarantine::colour_quarantine`.
#[allow(dead_code)] // read by codes' person_state once the lead wires it in
pub(crate) async fn open_order_of<C: GenericClient + Sync>(
    c: &C,
    resident_id: i64,
) -> Result<Option<(OrderState, bool)>> {
    facts::open_order_of(c, resident_id).await
}

#[async_trait]
impl ContainmentStore for PgStore {
    async fn containment_facts(&self, keys: &Keys) -> Result<Facts> {
        let c = self.client().await?;
        facts::fetch(&**c, keys).await
    }

    async fn containment_write(&self, w: Write, act: Act) -> Result<Outcome> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let out = apply(&*tx, &w, &act).await?;
        tx.commit().await.db()?;
        Ok(out)
    }
}
