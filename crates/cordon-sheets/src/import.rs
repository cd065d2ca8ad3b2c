//! Resident import: authorize, read and check the whole file, ask the store which ID
//! numbers it already has, then write the good rows in one transaction — or nothing.

use crate::columns::Col;
use crate::error::RowError;
use crate::read;
use crate::validate::{Entry, Ranked, Validator};
use crate::{Format, MAX_UPLOAD_BYTES, SheetError};
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::NewResident;
use cordon_domain::{Action, IdNumber, Principal, authorize};
use cordon_store::{RegistryStore, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// ID numbers asked of the store per call.
const EXISTING_CHUNK: usize = 5_000;

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

/// What an import did, row by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows in the file (blank rows not counted).
    pub rows: usize,
    /// Residents written.
    pub imported: usize,
    /// Rows with at least one error.
    pub bad_rows: usize,
    /// Every problem, ordered by row and then by column.
    pub errors: Vec<RowError>,
    /// True when the good rows were written.
    pub committed: bool,
    pub mode: ImportMode,
}

/// Imports residents from an `.xlsx` or `.csv` file into the caller's scope.
///
/// Every row is checked (all of its fields, its place resolved to a unit of `who`'s
/// scope, its ID number against the rest of the file and the register) before anything
/// is written. Then, depending on `mode`, the good rows are written in one transaction
/// together with a `residents.import` audit entry, or — with bad rows under
/// [`ImportMode::AllOrNothing`] — nothing is. File-level problems (not an xlsx, no
/// headers, too large, …) are errors; row-level ones are in the report.
///
/// Every attempt is audited: a committed import by its `residents.import` entry (written
/// with the rows), any other outcome — bad rows, a file that does not read — by a
/// `residents.import.refused` entry with counts only. An ID number registered outside
/// the caller's scope is reported without saying where or whose it is
/// ([`mark_registered`]).
pub async fn import_residents(
    store: &dyn RegistryStore,
    who: &Principal,
    bytes: &[u8],
    format: Format,
    mode: ImportMode,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport, SheetError> {
    authorize(who, Action::ImportResidents, None)?;
    let outcome = import_checked(store, who, bytes, format, mode, request_id, now).await;
    let detail = match &outcome {
        Ok(r) if r.committed => return outcome,
        Ok(r) => format!(
            "nothing imported: {} rows, {} bad, {} registered elsewhere ({})",
            r.rows,
            r.bad_rows,
            r.errors.iter().filter(|e| e.code == ELSEWHERE).count(),
            mode.code()
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

/// The code of a row whose ID number is registered outside the caller's scope.
const ELSEWHERE: &str = "id_number_unavailable";

async fn import_checked(
    store: &dyn RegistryStore,
    who: &Principal,
    bytes: &[u8],
    format: Format,
    mode: ImportMode,
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
    let Validator { rows, mut entries, mut errors, .. } = checked;

    let firsts: Vec<IdNumber> = entries.iter().filter_map(|e| e.first_id.clone()).collect();
    let mut existing: HashSet<IdNumber> = HashSet::new();
    for chunk in firsts.chunks(EXISTING_CHUNK) {
        existing.extend(store.existing_id_numbers(chunk).await?);
    }
    drop(firsts);
    if !existing.is_empty() {
        // Which of them are the caller's own: only those are named as registered.
        let district_wide = who.roots.iter().any(|r| r.level() == cordon_domain::AreaLevel::District);
        let in_scope: HashSet<IdNumber> = if district_wide {
            existing.clone()
        } else {
            store
                .residents_under(&who.roots)
                .await?
                .into_iter()
                .map(|r| r.id_number)
                .filter(|i| existing.contains(i))
                .collect()
        };
        mark_registered(&mut entries, &mut errors, &existing, &in_scope, &id_header);
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

    let good: Vec<NewResident> = match mode {
        ImportMode::AllOrNothing if !errors.is_empty() => Vec::new(),
        _ => entries.into_iter().filter_map(|e| e.resident).collect(),
    };
    let mut report = ImportReport { rows, imported: 0, bad_rows, errors, committed: false, mode };
    if good.is_empty() {
        return Ok(report);
    }

    let audit = AuditEntry {
        at: now,
        actor_id: Some(who.user_id),
        actor: who.username.clone(),
        role: Some(who.role),
        action: "residents.import".into(),
        target_kind: "area".into(),
        target: who.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        request_id: request_id.into(),
        detail: format!("imported {} of {} rows ({})", good.len(), rows, mode.code()),
    };
    let ids = store.register_residents(&good, &audit).await.map_err(|e| match e {
        StoreError::Conflict { code: "id_number_exists", .. } => SheetError::RegisteredMeanwhile,
        other => SheetError::Store(other),
    })?;
    report.imported = ids.len();
    report.committed = true;
    Ok(report)
}

/// Rows whose ID number is registered: within the caller's scope named as such; outside
/// it only as "cannot be registered here" — the row cannot be written (an ID number is
/// registered once in the district), but the report says neither where nor whose.
fn mark_registered(
    entries: &mut [Entry],
    errors: &mut Vec<Ranked>,
    existing: &HashSet<IdNumber>,
    in_scope: &HashSet<IdNumber>,
    id_header: &str,
) {
    for e in entries.iter_mut() {
        let Some(id) = &e.first_id else { continue };
        if !existing.contains(id) {
            continue;
        }
        let (code, zh, en) = if in_scope.contains(id) {
            ("id_number_exists", "该身份证号已经登记在册", "this ID number is already registered")
        } else {
            (
                ELSEWHERE,
                "该身份证号不能在您的管辖范围内登记，请联系区指挥部核实",
                "this ID number cannot be registered in your area; ask the district office",
            )
        };
        e.resident = None;
        errors.push(Ranked {
            rank: Col::IdNumber.idx(),
            error: RowError { row: e.row, column: id_header.to_string(), code, zh: zh.into(), en: en.into() },
        });
    }
}
