//! [`ContainmentStore`] on SQLite: the two primitives. A write is one `IMMEDIATE`
//! transaction on the single writer: the facts the plan asks for, stage by stage, the
//! plan (in `cordon-store`), its effects. Reads run on the read pool.

mod facts;
mod write;

use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::containment::quarantine::{OrderState, PersonResult};
use cordon_domain::testing::TestResult;
use cordon_store::containment::facts::{Facts, Keys};
use cordon_store::containment::plan::{self, Outcome, Write};
use cordon_store::containment::{Act, ContainmentStore};
use cordon_store::{Result, StoreError};
use rusqlite::Connection;

/// Stages a plan may ask for before it is a bug.
const MAX_STAGES: u32 = 8;

/// Applies `w` inside the caller's transaction.
pub(crate) fn apply(tx: &Connection, w: &Write, act: &Act) -> Result<Outcome> {
    let mut facts = Facts::default();
    let mut stage = 0;
    while let Some(k) = plan::keys(w, stage, &facts, act) {
        facts.merge(facts::fetch(tx, &k)?);
        stage += 1;
        if stage > MAX_STAGES {
            return Err(StoreError::Backend("a containment plan kept asking for facts".into()));
        }
    }
    let planned = plan::plan(w, &facts, act);
    let written = write::write(tx, &planned.effects)?;
    Ok(planned.outcome.resolve(&written))
}

/// For mass testing's `record_results`, inside its transaction: the results of these
/// tubes (id, result, capacity) resolve the scheduled tests of the people in them who are
/// under an open order. Returns the tests resolved.
#[allow(dead_code)] // called from testing's record_results once the lead wires it in
pub(crate) fn order_results_for_tubes(
    tx: &Connection,
    tubes: &[(i64, TestResult, u32)],
    at: DateTime<Utc>,
    tz: &DistrictTz,
    audit: &AuditEntry,
) -> Result<u32> {
    let members = facts::fetch(tx, &Keys { tube_members: tubes.iter().map(|t| t.0).collect(), ..Keys::default() })?;
    order_results(tx, &plan::person_results(tubes, &members.tube_members, at), tz, audit)
}

/// The same for results already known per person.
#[allow(dead_code)]
pub(crate) fn order_results(
    tx: &Connection,
    results: &[PersonResult],
    tz: &DistrictTz,
    audit: &AuditEntry,
) -> Result<u32> {
    if results.is_empty() {
        return Ok(0);
    }
    let facts = facts::fetch(tx, &plan::order_results_keys(results))?;
    let effects = plan::plan_order_results(results, &facts, tz.offset(), audit);
    write::write(tx, &effects)?;
    Ok(effects.tests_save.len() as u32)
}

/// For `person_state` (the colour engine's facts): the resident's open order as
/// (state, centralised), one indexed probe. Map it with
/// `cordon_domain::containment::quarantine::colour_quarantine`.
#[allow(dead_code)] // read by codes' person_state once the lead wires it in
pub(crate) fn open_order_of(c: &Connection, resident_id: i64) -> Result<Option<(OrderState, bool)>> {
    facts::open_order_of(c, resident_id)
}

#[async_trait]
impl ContainmentStore for SqliteStore {
    async fn containment_facts(&self, keys: &Keys) -> Result<Facts> {
        let keys = keys.clone();
        self.read(move |c| facts::fetch(c, &keys)).await
    }

    async fn containment_write(&self, w: Write, act: Act) -> Result<Outcome> {
        self.write(move |tx| apply(tx, &w, &act)).await
    }
}
