//! Mass testing in SQLite: the [`TestingStore`] methods, by job — rounds and sites
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
pub(crate) use sampler::{Resolver, registry_version};

use crate::SqliteStore;
use crate::rows::{OrBackend, parse_ts, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::name::PersonName;
use cordon_domain::testing::{ExemptionReason, NewRound, NewSite, SamplingSite, TestRound, TubeBarcode};
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::params;
use rusqlite::types::Value;
use std::sync::Arc;

/// `(col >= lo AND col < hi) OR …` over the subtrees of `roots` (nested roots dropped),
/// with its parameters pushed onto `params`; `0` (false) when there are none.
pub(crate) fn scope(col: &str, roots: &[AreaCode], params: &mut Vec<Value>) -> String {
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
    if kept.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = kept
        .iter()
        .map(|r| {
            params.push(Value::Text(r.as_str().to_string()));
            params.push(Value::Text(r.range_end()));
            format!("({col} >= ? AND {col} < ?)")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

pub(crate) fn opt_ts(s: Option<String>, table: &str, id: i64) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, table, &id)).transpose()
}

pub(crate) fn masked(name: &str) -> String {
    PersonName::parse(name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
}

#[async_trait]
impl TestingStore for SqliteStore {
    async fn create_round(&self, new: &NewRound, a: &AuditEntry) -> Result<TestRound> {
        let (new, a) = (new.clone(), a.clone());
        self.write(move |tx| rounds::create_round(tx, &new, a)).await
    }

    async fn round(&self, id: i64) -> Result<Option<TestRound>> {
        self.read(move |c| round(c, id)).await
    }

    async fn rounds(&self, limit: u32) -> Result<Vec<TestRound>> {
        self.read(move |c| rounds::rounds(c, limit)).await
    }

    async fn create_site(&self, new: &NewSite, a: &AuditEntry) -> Result<SamplingSite> {
        let (new, a) = (new.clone(), a.clone());
        self.write(move |tx| rounds::create_site(tx, &new, a)).await
    }

    async fn sites(&self, root: &AreaCode) -> Result<Vec<SamplingSite>> {
        let root = root.clone();
        self.read(move |c| rounds::sites(c, &root)).await
    }

    async fn ingest_scans(&self, batch: ScanBatch, a: &AuditEntry) -> Result<BatchReport> {
        let a = a.clone();
        // Resolving the scanned people is most of a batch's reading: done outside the
        // writer, it overlaps other batches' writes instead of holding the single writer.
        let _in_flight = self.resolver.enter();
        let resolver = Arc::clone(&self.resolver);
        let (batch, resolved) = tokio::task::spawn_blocking(move || {
            let r = resolver.resolve(&batch);
            (batch, r)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database task failed: {e}")))?;
        // A resolver that failed is only a lost shortcut: the writer resolves by itself.
        let resolved = resolved.map_err(|e| tracing::warn!(error = %e, "scan resolver failed")).ok();
        let resolver = Arc::clone(&self.resolver);
        let (batch, mut report) = self
            .write(move |tx| sampler::ingest(tx, &batch, &a, resolved, &resolver.hints).map(|r| (batch, r)))
            .await?;
        name_outcomes(&batch, &mut report);
        Ok(report)
    }

    async fn tube(&self, barcode: &TubeBarcode) -> Result<Option<Tube>> {
        let b = barcode.as_str().to_string();
        self.read(move |c| lab::tube_full(c, &b)).await
    }

    async fn tube_members(&self, tube_id: i64) -> Result<Vec<TubeMember>> {
        self.read(move |c| lab::tube_members(c, tube_id)).await
    }

    async fn box_tubes(
        &self,
        box_code: &str,
        tubes: &[TubeBarcode],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<u32, FieldError>> {
        let (code, tubes, a) = (box_code.to_string(), tubes.to_vec(), a.clone());
        self.write(move |tx| lab::box_tubes(tx, &code, &tubes, by, at, &a)).await
    }

    async fn receive(
        &self,
        what: &Receipt,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<Vec<String>, FieldError>> {
        let (what, a) = (what.clone(), a.clone());
        self.write(move |tx| lab::receive(tx, &what, by, at, &a)).await
    }

    async fn record_results(
        &self,
        results: &[NewResult],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
        tz: &cordon_domain::clock::DistrictTz,
    ) -> Result<ResultsReport> {
        let (results, a, tz) = (results.to_vec(), a.clone(), tz.clone());
        self.write(move |tx| lab::record_results(tx, &results, by, at, &a, &tz)).await
    }

    async fn coverage(&self, round_id: i64, node: &AreaCode) -> Result<Coverage> {
        let node = node.clone();
        self.read(move |c| coverage::coverage(c, round_id, &node)).await
    }

    async fn coverage_children(&self, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
        let node = node.clone();
        self.read(move |c| coverage::coverage_children(c, round_id, &node)).await
    }

    async fn missed(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
        let roots = roots.to_vec();
        self.read(move |c| coverage::missed(c, round_id, &roots)).await
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
        let (building, note, a) = (building.clone(), note.to_string(), a.clone());
        self.write(move |tx| coverage::report_missing(tx, round_id, &building, &note, by, at, &a)).await
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
        let (proof, a) = (proof.to_string(), a.clone());
        self.write(move |tx| {
            let r = door::exempt(tx, round_id, resident_id, reason, &proof, by, at)?;
            if r.is_ok() {
                crate::audit::insert(tx, &a)?;
            }
            Ok(r)
        })
        .await
    }

    async fn create_door_tasks(
        &self,
        round_id: i64,
        households: &[i64],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let (households, a) = (households.to_vec(), a.clone());
        self.write(move |tx| {
            let out = door::create_door_tasks(tx, round_id, &households, by, at)?;
            crate::audit::insert(tx, &a)?;
            Ok(out)
        })
        .await
    }

    async fn door_tasks(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
        let roots = roots.to_vec();
        self.read(move |c| door::door_tasks(c, round_id, &roots)).await
    }

    async fn door_tasks_assigned(&self, round_id: i64, user_id: i64) -> Result<Vec<DoorTask>> {
        self.read(move |c| door::door_tasks_assigned(c, round_id, user_id)).await
    }

    async fn assign_door_tasks(
        &self,
        task_ids: &[i64],
        assignee: Option<i64>,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let (ids, a) = (task_ids.to_vec(), a.clone());
        self.write(move |tx| {
            let out = door::assign_door_tasks(tx, &ids, assignee, by, at)?;
            crate::audit::insert(tx, &a)?;
            Ok(out)
        })
        .await
    }

    async fn door_task(&self, id: i64) -> Result<Option<DoorTask>> {
        self.read(move |c| door::door_task(c, id)).await
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
        let (report, note, a) = (report.clone(), note.to_string(), a.clone());
        let resolver = Arc::clone(&self.resolver);
        self.write(move |tx| {
            let t = door::door_outcome(tx, task_id, &report, &note, by, at, &resolver.hints)?;
            if t.is_ok() {
                crate::audit::insert(tx, &a)?;
            }
            Ok(t)
        })
        .await
    }

    async fn enforcements(&self, roots: &[AreaCode]) -> Result<Vec<(i64, i64, String)>> {
        let roots = roots.to_vec();
        self.read(move |c| door::enforcements(c, &roots)).await
    }

    async fn alerts(&self, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
        self.read(move |c| lab::alerts(c, after_id, limit)).await
    }

    async fn chases(&self, round_id: i64) -> Result<Vec<ChaseSummary>> {
        self.read(move |c| lab::chases(c, round_id)).await
    }

    async fn pool_positives(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<PoolPositive>> {
        let roots = roots.to_vec();
        self.read(move |c| lab::pool_positives(c, round_id, &roots)).await
    }

    async fn resample_tasks(&self, round_id: i64, roots: &[AreaCode], all: bool) -> Result<Vec<ResampleTask>> {
        let roots = roots.to_vec();
        self.read(move |c| lab::resample_tasks(c, round_id, &roots, all)).await
    }

    async fn chase_timeline(&self, tube: &TubeBarcode) -> Result<Option<ChaseTimeline>> {
        let b = tube.as_str().to_string();
        self.read(move |c| lab::chase_timeline(c, &b)).await
    }

    async fn under_control(&self, household_id: i64) -> Result<bool> {
        self.read(move |c| lab::under_control(c, household_id)).await
    }

    async fn positivity(&self, root: &AreaCode, rounds: u32) -> Result<Positivity> {
        let root = root.clone();
        self.read(move |c| coverage::positivity(c, &root, rounds)).await
    }
}

/// The floor `cordon bench ingest` compares the sample ingest with: the same sample rows
/// `(resident_id, tube_id, unit_code)` inserted into a fresh database file with the same
/// table, indexes and pragmas, `batch` rows per transaction through one cached prepared
/// statement, and nothing else. Returns rows per second.
pub fn baseline_insert_rows_per_s(path: &std::path::Path, rows: &[(i64, i64, String)], batch: usize) -> Result<f64> {
    let mut conn = crate::open_writer(path)?;
    conn.execute_batch(
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, round_id INTEGER NOT NULL, resident_id INTEGER NOT NULL, \
           tube_id INTEGER NOT NULL, unit_code TEXT NOT NULL, at TEXT NOT NULL, by_user INTEGER NOT NULL); \
         CREATE UNIQUE INDEX samples_round_resident ON samples (round_id, resident_id); \
         CREATE INDEX samples_round_unit ON samples (round_id, unit_code); \
         CREATE INDEX samples_tube ON samples (tube_id);",
    )
    .db()?;
    let at = ts(Utc::now());
    let started = std::time::Instant::now();
    for chunk in rows.chunks(batch.max(1)) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).db()?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) VALUES (1, ?1, ?2, ?3, ?4, 1)",
                )
                .db()?;
            for (r, t, u) in chunk {
                stmt.execute(params![r, t, u, at]).db()?;
            }
        }
        tx.commit().db()?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}
