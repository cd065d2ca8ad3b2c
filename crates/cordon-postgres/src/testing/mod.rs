//! Mass testing in PostgreSQL: the [`TestingStore`] methods, by job — rounds and sites
//! (`rounds`), the sample ingest (`sampler`), tubes, boxes, receipt and results with the
//! chase (`lab`), coverage and missed lists (`coverage`), door-knocking and exemptions
//! (`door`).
//!
//! SQL and row mapping only: every rule is a plan of `cordon_store::testing`, fed with the
//! facts these modules read and written back by them. Must never decide who may act
//! (callers pass roots) and never put ID numbers or phones into errors.

mod coverage;
mod door;
mod lab;
mod rounds;
mod sampler;

pub(crate) use rounds::round;

use crate::PgStore;
use crate::error::{Db, corrupt};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::name::PersonName;
use cordon_domain::testing::{ExemptionReason, NewRound, NewSite, SamplingSite, TestRound, TubeBarcode};
use cordon_store::StoreError;
use cordon_store::testing::*;
use tokio_postgres::GenericClient;

type Result<T> = std::result::Result<T, StoreError>;

/// How many times a device batch is run again when another instance sampled one of its
/// people between its read and its write.
const RACE_RETRIES: usize = 3;

/// Lower and upper bounds of the subtrees under `roots`, without nested roots.
pub(crate) fn bounds(roots: &[AreaCode]) -> (Vec<String>, Vec<String>) {
    let mut sorted: Vec<&AreaCode> = roots.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<&AreaCode> = Vec::new();
    for r in sorted {
        if kept.last().is_some_and(|k| k.contains(r)) {
            continue;
        }
        kept.push(r);
    }
    kept.iter().map(|c| (c.as_str().to_string(), c.range_end())).unzip()
}

pub(crate) fn masked(name: &str) -> String {
    PersonName::parse(name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
}

pub(crate) fn code(s: &str, table: &str, id: i64) -> Result<AreaCode> {
    AreaCode::parse(s).map_err(|_| corrupt(table, id, "area code"))
}

pub(crate) async fn audit<C: GenericClient + Sync>(c: &C, e: &AuditEntry) -> Result<()> {
    crate::store::insert_audit(c, std::slice::from_ref(e)).await
}

/// A statement prepared once per connection: the ingest runs the same statements for
/// every batch, and parsing and planning them each time cost a round trip and a plan each.
pub(crate) async fn cached(tx: &deadpool_postgres::Transaction<'_>, sql: &str) -> Result<tokio_postgres::Statement> {
    tx.prepare_cached(sql).await.db()
}

#[async_trait]
impl TestingStore for PgStore {
    async fn create_round(&self, new: &NewRound, a: &AuditEntry) -> Result<TestRound> {
        rounds::create_round(self, new, a).await
    }

    async fn round(&self, id: i64) -> Result<Option<TestRound>> {
        round(&**self.client().await?, id).await
    }

    async fn rounds(&self, limit: u32) -> Result<Vec<TestRound>> {
        rounds::rounds(&**self.client().await?, limit).await
    }

    async fn create_site(&self, new: &NewSite, a: &AuditEntry) -> Result<SamplingSite> {
        rounds::create_site(self, new, a).await
    }

    async fn sites(&self, root: &AreaCode) -> Result<Vec<SamplingSite>> {
        rounds::sites(&**self.client().await?, root).await
    }

    async fn ingest_scans(&self, batch: ScanBatch, a: &AuditEntry) -> Result<BatchReport> {
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            let tx = client.transaction().await.db()?;
            match sampler::ingest(&tx, &batch, a).await {
                Ok(report) => {
                    tx.commit().await.db()?;
                    let mut report = report;
                    name_outcomes(&batch, &mut report);
                    return Ok(report);
                }
                // Dropping the transaction rolls it back; the batch runs again on fresh facts.
                Err(e) if sampler::is_race(&e) && attempt + 1 < RACE_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn tube(&self, barcode: &TubeBarcode) -> Result<Option<Tube>> {
        lab::tube(&**self.client().await?, barcode).await
    }

    async fn tube_members(&self, tube_id: i64) -> Result<Vec<TubeMember>> {
        lab::tube_members(&**self.client().await?, tube_id).await
    }

    async fn box_tubes(
        &self,
        box_code: &str,
        tubes: &[TubeBarcode],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<u32, FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let r = lab::box_tubes(&*tx, box_code, tubes, by, at, a).await?;
        if r.is_ok() {
            tx.commit().await.db()?;
        }
        Ok(r)
    }

    async fn receive(
        &self,
        what: &Receipt,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<Vec<String>, FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let r = lab::receive(&*tx, what, by, at, a).await?;
        if r.is_ok() {
            tx.commit().await.db()?;
        }
        Ok(r)
    }

    async fn record_results(
        &self,
        results: &[NewResult],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
        tz: &cordon_domain::clock::DistrictTz,
    ) -> Result<ResultsReport> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let report = lab::record_results(&*tx, results, by, at, a, tz).await?;
        if report.committed {
            tx.commit().await.db()?;
        }
        Ok(report)
    }

    async fn coverage(&self, round_id: i64, node: &AreaCode) -> Result<Coverage> {
        coverage::coverage(self, round_id, node).await
    }

    async fn coverage_children(&self, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
        coverage::coverage_children(self, round_id, node).await
    }

    async fn missed(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
        let mut client = self.client().await?;
        if roots.len() <= 1 {
            // One statement is one snapshot.
            return coverage::missed(&client, round_id, roots).await;
        }
        // One snapshot for every root.
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .db()?;
        let out = coverage::missed(&tx, round_id, roots).await?;
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn report_missing(
        &self,
        round_id: i64,
        building: &AreaCode,
        note: &str,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<u64> {
        if building.level() != AreaLevel::Building {
            return Err(StoreError::NotFound("building"));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let missing = coverage::report_missing(&tx, round_id, building, note, by, at, a).await?;
        tx.commit().await.db()?;
        Ok(missing)
    }

    async fn record_exemption(
        &self,
        round_id: i64,
        resident_id: i64,
        reason: ExemptionReason,
        proof: &str,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<(), FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let r = door::exempt(&*tx, round_id, resident_id, reason, proof, by, at, a).await?;
        if r.is_ok() {
            tx.commit().await.db()?;
        }
        Ok(r)
    }

    async fn create_door_tasks(
        &self,
        round_id: i64,
        households: &[i64],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let out = door::create_door_tasks(&*tx, round_id, households, by, at).await?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn door_tasks(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
        door::door_tasks(&**self.client().await?, round_id, roots).await
    }

    async fn door_tasks_assigned(&self, round_id: i64, user_id: i64) -> Result<Vec<DoorTask>> {
        door::door_tasks_assigned(&**self.client().await?, round_id, user_id).await
    }

    async fn assign_door_tasks(
        &self,
        task_ids: &[i64],
        assignee: Option<i64>,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let out = door::assign_door_tasks(&*tx, task_ids, assignee, by, at).await?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn door_task(&self, id: i64) -> Result<Option<DoorTask>> {
        door::door_task(&**self.client().await?, id).await
    }

    async fn record_door_outcome(
        &self,
        task_id: i64,
        report: &DoorReport,
        note: &str,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<DoorTask, DoorRefusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        // A refusal returns before the commit: nothing is written.
        let t = door::door_outcome(&tx, task_id, report, note, by, at).await?;
        if t.is_ok() {
            audit(&*tx, a).await?;
            tx.commit().await.db()?;
        }
        Ok(t)
    }

    async fn enforcements(&self, roots: &[AreaCode]) -> Result<Vec<(i64, i64, String)>> {
        door::enforcements(&**self.client().await?, roots).await
    }

    async fn alerts(&self, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
        lab::alerts(&**self.client().await?, after_id, limit).await
    }

    async fn chases(&self, round_id: i64) -> Result<Vec<ChaseSummary>> {
        lab::chases(&**self.client().await?, round_id).await
    }

    async fn pool_positives(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<PoolPositive>> {
        lab::pool_positives(&**self.client().await?, round_id, roots).await
    }

    async fn resample_tasks(&self, round_id: i64, roots: &[AreaCode], all: bool) -> Result<Vec<ResampleTask>> {
        lab::resample_tasks(&**self.client().await?, round_id, roots, all).await
    }

    async fn chase_timeline(&self, tube: &TubeBarcode) -> Result<Option<ChaseTimeline>> {
        lab::chase_timeline(&**self.client().await?, tube).await
    }

    async fn under_control(&self, household_id: i64) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.query_opt("SELECT 1 FROM home_controls WHERE household_id = $1", &[&household_id]).await.db()?.is_some())
    }

    async fn positivity(&self, root: &AreaCode, rounds: u32) -> Result<Positivity> {
        coverage::positivity(&**self.client().await?, root, rounds).await
    }
}
