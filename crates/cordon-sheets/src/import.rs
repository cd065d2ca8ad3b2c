//! Resident import: authorize, read and check the whole file, fetch the registered people
//! it names, plan the diff (added / changed / unchanged / moved out), then write the plan
//! in one transaction — or nothing.

use crate::columns::Col;
use crate::error::RowError;
use crate::read;
use crate::validate::{Ranked, Validator};
use crate::{Format, MAX_UPLOAD_BYTES, SheetError};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::ResidentStatus;
use cordon_domain::{Action, IdNumber, Principal, authorize};
use cordon_store::roster::{
    ChangedField, RosterFacts, RosterPlan, RosterRefusal, RosterRow, plan_roster, roster_units,
};
use cordon_store::{RegistryStore, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// What to do with a file that has bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Import nothing if any row is bad (the default: a register with half a file in it
    /// is harder to repair than one without).
    #[default]
    AllOrNothing,
    /// Import the good rows, report the bad ones.
    ValidRowsOnly,
}

impl ImportMode {
    pub fn code(self) -> &'static str {
        match self {
            ImportMode::AllOrNothing => "all_or_nothing",
            ImportMode::ValidRowsOnly => "valid_rows_only",
        }
    }
}

impl std::str::FromStr for ImportMode {
    type Err = String;
    /// `all_or_nothing` / `valid_rows_only` (also with `-`).
    fn from_str(s: &str) -> Result<ImportMode, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "all_or_nothing" | "all" => Ok(ImportMode::AllOrNothing),
            "valid_rows_only" | "valid" => Ok(ImportMode::ValidRowsOnly),
            other => Err(format!("unknown import mode `{other}` (expected all_or_nothing or valid_rows_only)")),
        }
    }
}

/// How to run an import (the web's preview and apply; the CLI applies at once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    pub mode: ImportMode,
    /// Check and diff only: nothing is written (the preview).
    pub dry_run: bool,
    /// The fingerprint of the previewed plan: if the plan is different now (another file,
    /// or the register changed since), nothing is written and the new plan is reported
    /// with `stale` set.
    pub expect: Option<String>,
    /// Mark the active residents of the file's units who are not in the file as moved
    /// out (a re-imported roster is the whole truth about the units it names).
    pub move_out_absent: bool,
}

impl From<ImportMode> for ImportOptions {
    fn from(mode: ImportMode) -> ImportOptions {
        ImportOptions { mode, ..ImportOptions::default() }
    }
}

/// A person the file changes, as the diff report shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    pub row: usize,
    pub resident_id: i64,
    /// Masked (`张*`): the report is about which row, not who.
    pub name: String,
    pub fields: Vec<ChangedField>,
    /// Where they live after the change (小区 楼栋 单元 房号).
    pub place: String,
}

/// A person the file moves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedLine {
    pub resident_id: i64,
    pub name: String,
    pub place: String,
}

/// Lines listed in a report, at most (the counts are always complete).
pub const REPORT_LINES: usize = 500;

/// The diff of the file against the register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub added: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub moved_out: usize,
    /// The first [`REPORT_LINES`] changed people, in row order.
    pub changes: Vec<ChangeLine>,
    /// The first [`REPORT_LINES`] people moved out, by unit and room.
    pub moved: Vec<MovedLine>,
}

/// What an import did, row by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows in the file (blank rows not counted).
    pub rows: usize,
    /// Residents added.
    pub imported: usize,
    /// Registered residents updated (unit, phone, flags, name, back from moved out).
    pub updated: usize,
    /// Residents marked as moved out.
    pub moved_out: usize,
    /// Rows with at least one error.
    pub bad_rows: usize,
    /// Every problem, ordered by row and then by column.
    pub errors: Vec<RowError>,
    /// True when the plan was written.
    pub committed: bool,
    pub mode: ImportMode,
    /// What the file would change (or changed, when committed).
    pub diff: DiffReport,
    /// Whether the plan may be applied: something to write, and no bad row unless only
    /// the valid rows are to be imported.
    pub applicable: bool,
    /// Digest of the plan, to send back with the apply.
    pub fingerprint: String,
    /// A dry run: nothing was meant to be written.
    pub preview: bool,
    /// The apply found a plan different from the previewed one and wrote nothing.
    pub stale: bool,
}

/// Imports residents from an `.xlsx` or `.csv` file into the caller's scope, at once
/// (the CLI and the bulk benchmark): [`import_roster`] with `mode` and nothing moved out.
pub async fn import_residents(
    store: &dyn RegistryStore,
    who: &Principal,
    bytes: &[u8],
    format: Format,
    mode: ImportMode,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport, SheetError> {
    import_roster(store, who, bytes, format, &ImportOptions::from(mode), request_id, now).await
}

/// Imports a roster into the caller's scope: new ID numbers are added, registered ones
/// update that person, and (with `move_out_absent`) the active residents of the file's
/// units missing from it move out.
///
/// Every row is checked (all of its fields, its place resolved to a unit of `who`'s
/// scope, its ID number against the rest of the file) and the file is diffed against the
/// register (`cordon_store::roster::plan_roster`) before anything is written. Then,
/// unless this is a dry run or the plan is not the one expected, the plan is written in
/// one transaction with a `residents.import` audit entry and a `resident.update` entry
/// per person changed — or, with bad rows under [`ImportMode::AllOrNothing`], nothing
/// is. File-level problems (not an xlsx, no header, too large, …) are errors; row-level
/// ones are in the report.
///
/// Every attempt is audited: a committed import by its `residents.import` entry (written
/// with the rows), a preview by its own, any other outcome — bad rows, a stale plan, a
/// file that does not read — by a `residents.import.refused` entry with counts and codes
/// only.
pub async fn import_roster(
    store: &dyn RegistryStore,
    who: &Principal,
    bytes: &[u8],
    format: Format,
    opts: &ImportOptions,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport, SheetError> {
    authorize(who, Action::ImportResidents, None)?;
    let outcome = import_checked(store, who, bytes, format, opts, request_id, now).await;
    let detail = match &outcome {
        Ok(r) if r.committed || (r.preview && !r.stale) => return outcome,
        Ok(r) => format!(
            "nothing imported: {} rows, {} bad, {} registered elsewhere ({}{})",
            r.rows,
            r.bad_rows,
            r.errors.iter().filter(|e| e.code == ELSEWHERE).count(),
            opts.mode.code(),
            if r.stale { ", stale" } else { "" }
        ),
        Err(e) => format!("nothing imported: {}", e.code()),
    };
    let audit = AuditEntry {
        at: now,
        actor_id: Some(who.user_id),
        actor: who.username.clone(),
        role: Some(who.role),
        action: "residents.import.refused".into(),
        target_kind: "area".into(),
        target: who.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        request_id: request_id.into(),
        detail,
    };
    store.append_audit(&[audit]).await?;
    outcome
}

/// The code of a row whose ID number is registered outside the caller's scope (the
/// report says neither where nor whose).
const ELSEWHERE: &str = "id_number_unavailable";

async fn import_checked(
    store: &dyn RegistryStore,
    who: &Principal,
    bytes: &[u8],
    format: Format,
    opts: &ImportOptions,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport, SheetError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(SheetError::too_large());
    }
    let units = store.units_under(&who.roots).await?;

    // Parsing a large workbook takes seconds of CPU: keep it off the async workers.
    let owned = bytes.to_vec();
    let roots = who.roots.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<Validator, SheetError> {
        let mut v = Validator::new(units, roots);
        read::read(&owned, format, &mut v)?;
        Ok(v)
    })
    .await
    .map_err(|e| SheetError::Internal(e.to_string()))??;
    if checked.rows == 0 {
        return Err(SheetError::Empty);
    }
    let id_header = checked.header(Col::IdNumber).to_string();
    let places = checked.places();
    let Validator { rows, entries, mut errors, .. } = checked;

    // Facts: the registered people of the file's ID numbers, and the active residents of
    // its units (who may have moved out).
    let listed: HashSet<IdNumber> = entries.iter().filter_map(|e| e.first_id.clone()).collect();
    let good: Vec<RosterRow> =
        entries.into_iter().filter_map(|e| e.resident.map(|resident| RosterRow { row: e.row, resident })).collect();
    let firsts: Vec<IdNumber> = listed.iter().cloned().collect();
    let mut facts = RosterFacts::default();
    for chunk in firsts.chunks(FACTS_CHUNK) {
        facts.by_id_number.extend(store.residents_by_id_numbers(chunk).await?);
    }
    drop(firsts);
    if opts.move_out_absent {
        for chunk in roster_units(&good).chunks(UNIT_CHUNK) {
            let mut rs = store.residents_under(chunk).await?;
            rs.retain(|r| r.status == ResidentStatus::Active);
            facts.in_units.extend(rs);
        }
    }
    let plan = plan_roster(good, &facts, &who.roots, &listed, opts.move_out_absent);
    drop(facts);
    for (row, refusal) in &plan.refused {
        match refusal {
            RosterRefusal::RegisteredElsewhere => errors.push(Ranked {
                rank: Col::IdNumber.idx(),
                error: RowError {
                    row: *row,
                    column: id_header.clone(),
                    // Neither where nor whose: only that it cannot be registered here.
                    code: ELSEWHERE,
                    zh: "该身份证号不能在您的管辖范围内登记，请联系区指挥部核实".into(),
                    en: "this ID number cannot be registered in your area; ask the district office".into(),
                },
            }),
        }
    }

    errors.sort_by_key(|r| (r.error.row, r.rank));
    let errors: Vec<RowError> = errors.into_iter().map(|r| r.error).collect();
    let bad_rows = {
        let mut n = 0;
        let mut last = 0;
        for e in &errors {
            if e.row != last {
                n += 1;
                last = e.row;
            }
        }
        n
    };

    let fingerprint = plan.fingerprint();
    let applicable = !plan.is_empty() && (errors.is_empty() || opts.mode == ImportMode::ValidRowsOnly);
    let mut report = ImportReport {
        rows,
        imported: 0,
        updated: 0,
        moved_out: 0,
        bad_rows,
        errors,
        committed: false,
        mode: opts.mode,
        diff: diff_report(&plan, &places),
        applicable,
        fingerprint,
        preview: opts.dry_run,
        stale: false,
    };
    let summary = AuditEntry {
        at: now,
        actor_id: Some(who.user_id),
        actor: who.username.clone(),
        role: Some(who.role),
        action: "residents.import".into(),
        target_kind: "area".into(),
        target: who.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        request_id: request_id.into(),
        detail: format!(
            "imported {} of {} rows ({}); updated {}, moved out {}, unchanged {}",
            plan.added.len(),
            rows,
            opts.mode.code(),
            plan.changed.len(),
            plan.moved_out.len(),
            plan.unchanged
        ),
    };
    let stale = opts.expect.as_deref().is_some_and(|fp| fp != report.fingerprint);
    if opts.dry_run || !applicable || stale {
        report.stale = stale && applicable && !opts.dry_run;
        report.preview = opts.dry_run || report.stale;
        // The diff shows registered people (masked) and where they live: a read of the
        // register, audited like one.
        if report.diff.changed > 0 || report.diff.moved_out > 0 || report.diff.unchanged > 0 {
            store
                .append_audit(&[AuditEntry {
                    action: "residents.import_preview".into(),
                    detail: format!(
                        "preview of {} rows ({}): added {}, changed {}, moved out {}, unchanged {}",
                        rows,
                        opts.mode.code(),
                        plan.added.len(),
                        plan.changed.len(),
                        plan.moved_out.len(),
                        plan.unchanged
                    ),
                    ..summary
                }])
                .await?;
        }
        return Ok(report);
    }
    let mut audit = vec![summary.clone()];
    audit.extend(plan.audit_entries(&summary));
    let ids = store.apply_roster(&plan.write(), &audit).await.map_err(|e| match e {
        StoreError::Conflict { code: "id_number_exists", .. } => SheetError::RegisteredMeanwhile,
        other => SheetError::Store(other),
    })?;
    report.imported = ids.len();
    report.updated = plan.changed.len();
    report.moved_out = plan.moved_out.len();
    report.committed = true;
    Ok(report)
}

/// ID numbers asked of the store per call.
const FACTS_CHUNK: usize = 5_000;
/// Units whose residents are asked of the store per call.
const UNIT_CHUNK: usize = 200;

fn diff_report(plan: &RosterPlan, places: &HashMap<AreaCode, String>) -> DiffReport {
    let place = |unit: &AreaCode, room: &str| match places.get(unit) {
        Some(p) => format!("{p} {room}"),
        None => room.to_string(),
    };
    DiffReport {
        added: plan.added.len(),
        changed: plan.changed.len(),
        unchanged: plan.unchanged,
        moved_out: plan.moved_out.len(),
        changes: plan
            .changed
            .iter()
            .take(REPORT_LINES)
            .map(|c| ChangeLine {
                row: c.row,
                resident_id: c.before.id,
                name: c.after.name.masked(),
                fields: c.fields.clone(),
                place: place(&c.after.unit, &c.after.room),
            })
            .collect(),
        moved: plan
            .moved_out
            .iter()
            .take(REPORT_LINES)
            .map(|r| MovedLine { resident_id: r.id, name: r.name.masked(), place: place(&r.unit, &r.room) })
            .collect(),
    }
}
