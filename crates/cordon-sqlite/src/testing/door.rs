//! Door-knocking (敲门行动) and exemptions in SQLite: tasks, the facts an outcome needs
//! and the writing of its plan (`cordon_store::testing::door`), exemptions
//! (`cordon_store::testing::lab::plan_exemption`), enforcement records.

use super::{opt_ts, scope};
use crate::rows::{OrBackend, area_code, parse_ts, ts};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::error::FieldError;
use cordon_domain::registry::ResidentStatus;
use cordon_domain::testing::{DoorOutcome, ExemptionReason};
use cordon_store::testing::door::NamedMember;
use cordon_store::testing::lab::plan_exemption;
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

const TASK_COLS: &str = "d.id, d.round_id, d.household_id, d.unit_code, h.room, d.created_at, d.created_by, d.outcome, d.note, d.done_at, d.done_by, d.assigned_to, d.assigned_at";

fn task_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<DoorTaskRaw> {
    Ok(DoorTaskRaw {
        id: r.get(0)?,
        round_id: r.get(1)?,
        household_id: r.get(2)?,
        unit: r.get(3)?,
        room: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        outcome: r.get(7)?,
        note: r.get(8)?,
        done_at: r.get(9)?,
        done_by: r.get(10)?,
        assigned_to: r.get(11)?,
        assigned_at: r.get(12)?,
    })
}

struct DoorTaskRaw {
    id: i64,
    round_id: i64,
    household_id: i64,
    unit: String,
    room: String,
    created_at: String,
    created_by: i64,
    outcome: Option<String>,
    note: String,
    done_at: Option<String>,
    done_by: Option<i64>,
    assigned_to: Option<i64>,
    assigned_at: Option<String>,
}

impl DoorTaskRaw {
    fn parse(self) -> Result<DoorTask> {
        let id = self.id;
        Ok(DoorTask {
            id,
            round_id: self.round_id,
            household_id: self.household_id,
            unit: area_code(&self.unit, "door_task", &id)?,
            room: self.room,
            created_at: parse_ts(&self.created_at, "door_task", &id)?,
            created_by: self.created_by,
            outcome: self
                .outcome
                .map(|o| DoorOutcome::parse(&o))
                .transpose()
                .map_err(|_| StoreError::Backend(format!("stored door_task {id} has an invalid outcome")))?,
            note: self.note,
            done_at: opt_ts(self.done_at, "door_task", id)?,
            done_by: self.done_by,
            assigned_to: self.assigned_to,
            assigned_at: opt_ts(self.assigned_at, "door_task", id)?,
        })
    }
}

pub(crate) fn door_task(conn: &Connection, id: i64) -> Result<Option<DoorTask>> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id WHERE d.id = ?1"
        ))
        .db()?
        .query_row([id], task_from)
        .optional()
        .db()?;
    raw.map(DoorTaskRaw::parse).transpose()
}

pub(crate) fn door_tasks(conn: &Connection, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
    let mut p = Vec::new();
    let sc = scope("d.unit_code", roots, &mut p);
    p.push(Value::Integer(round_id));
    let raws = conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id \
             WHERE {sc} AND d.round_id = ? ORDER BY d.id"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(p), task_from)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raws.into_iter().map(DoorTaskRaw::parse).collect()
}

pub(crate) fn door_tasks_assigned(conn: &Connection, round_id: i64, user_id: i64) -> Result<Vec<DoorTask>> {
    let raws = conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id \
             WHERE d.assigned_to = ?1 AND d.round_id = ?2 ORDER BY d.id"
        ))
        .db()?
        .query_map(params![user_id, round_id], task_from)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raws.into_iter().map(DoorTaskRaw::parse).collect()
}

pub(crate) fn assign_door_tasks(
    tx: &Connection,
    task_ids: &[i64],
    assignee: Option<i64>,
    by: i64,
    at: DateTime<Utc>,
) -> Result<Vec<DoorTask>> {
    let mut out = Vec::with_capacity(task_ids.len());
    let mut update = tx
        .prepare_cached("UPDATE door_tasks SET assigned_to = ?2, assigned_at = ?3, assigned_by = ?4 WHERE id = ?1")
        .db()?;
    for id in task_ids {
        let when = assignee.map(|_| ts(at));
        update.execute(params![id, assignee, when, assignee.map(|_| by)]).db()?;
        out.push(door_task(tx, *id)?.ok_or(StoreError::NotFound("door_task"))?);
    }
    Ok(out)
}

pub(crate) fn create_door_tasks(
    tx: &Connection,
    round_id: i64,
    households: &[i64],
    by: i64,
    at: DateTime<Utc>,
) -> Result<Vec<DoorTask>> {
    let mut out = Vec::new();
    for hh in households {
        let unit = tx
            .prepare_cached("SELECT unit_code FROM households WHERE id = ?1")
            .db()?
            .query_row([hh], |r| r.get::<_, String>(0))
            .optional()
            .db()?
            .ok_or(StoreError::NotFound("household"))?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO door_tasks (round_id, household_id, unit_code, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?
        .execute(params![round_id, hh, unit, ts(at), by])
        .db()?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM door_tasks WHERE round_id = ?1 AND household_id = ?2 AND outcome IS NULL")
            .db()?
            .query_row(params![round_id, hh], |r| r.get(0))
            .db()?;
        if let Some(t) = door_task(tx, id)? {
            out.push(t);
        }
    }
    Ok(out)
}

/// The facts [`door_keys`] names.
fn door_facts(tx: &Connection, task: &DoorTask, keys: &DoorKeys) -> Result<DoorFacts> {
    let mut f = DoorFacts::default();
    let mut exempt = tx.prepare_cached("SELECT 1 FROM exemptions WHERE round_id = ?1 AND resident_id = ?2").db()?;
    for rid in &keys.resident_ids {
        if let Some(r) = crate::registry::resident(tx, *rid)? {
            f.named.insert(*rid, NamedMember { household: r.household_id, active: r.status == ResidentStatus::Active });
        }
        if exempt.exists(params![task.round_id, rid]).db()? {
            f.exempt.insert(*rid);
        }
    }
    for code in &keys.barcodes {
        if let Some(t) = super::sampler::tube_fact(tx, code)? {
            f.tubes.insert(code.clone(), t.round_id);
        }
    }
    if keys.unsampled {
        let rows = tx
            .prepare_cached(
                "SELECT r.id, r.unit_code FROM residents r WHERE r.unit_code = ?3 AND r.household_id = ?2 AND r.status = 'active' \
                   AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = ?1 AND s.resident_id = r.id) ORDER BY r.id",
            )
            .db()?
            .query_map(params![task.round_id, task.household_id, task.unit.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        for (id, unit) in rows {
            f.unsampled.push((id, area_code(&unit, "resident", &id)?));
        }
    }
    Ok(f)
}

/// Records a door-knock outcome with its effects, all decided before anything is written:
/// a refusal writes nothing and the task keeps no outcome.
pub(crate) fn door_outcome(
    tx: &Connection,
    task_id: i64,
    report: &DoorReport,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
    hints: &super::sampler::Hints,
) -> Result<std::result::Result<DoorTask, DoorRefusal>> {
    let task = door_task(tx, task_id)?.ok_or(StoreError::NotFound("door_task"))?;
    let facts = door_facts(tx, &task, &door_keys(report))?;
    let plan = match plan_door(&task, report, &facts, by, at)? {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal)),
    };
    match &plan.effect {
        DoorEffect::None => {}
        DoorEffect::Ingest { batch, audit } => {
            let DoorReport::SampledAtDoor { samples, .. } = report else {
                return Err(StoreError::Backend("door samples without a report of samples".into()));
            };
            let f = super::sampler::facts(tx, batch, &ingest_keys(batch), None, hints)?;
            let ingest = plan_ingest(batch, f);
            if let Some(refusal) = door_ingest_refusal(samples, &ingest) {
                return Ok(Err(refusal));
            }
            super::sampler::write(tx, batch, &ingest, audit)?;
        }
        DoorEffect::Exempt(members) => {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) \
                     VALUES (?1, ?2, ?3, 'away_with_proof', ?4, ?5, ?6)",
                )
                .db()?;
            for (rid, unit) in members {
                ins.execute(params![task.round_id, rid, unit.as_str(), note, by, ts(at)]).db()?;
            }
        }
        DoorEffect::Enforcement => {
            tx.prepare_cached(
                "INSERT INTO enforcements (task_id, household_id, unit_code, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)",
            )
            .db()?
            .execute(params![task.id, task.household_id, task.unit.as_str(), ts(at)])
            .db()?;
        }
        // The roster page's correction, with its audit entry.
        DoorEffect::Correct { resident_id, correction, audit } => {
            crate::registry::correct_resident(tx, *resident_id, correction, audit)?;
        }
    }
    tx.prepare_cached("UPDATE door_tasks SET outcome = ?2, note = ?3, done_at = ?4, done_by = ?5 WHERE id = ?1")
        .db()?
        .execute(params![task_id, plan.outcome.as_str(), note, ts(at), by])
        .db()?;
    door_task(tx, task_id)?.ok_or(StoreError::NotFound("door_task")).map(Ok)
}

pub(crate) fn exempt(
    tx: &Connection,
    round_id: i64,
    resident_id: i64,
    reason: ExemptionReason,
    proof: &str,
    by: i64,
    at: DateTime<Utc>,
) -> Result<std::result::Result<(), FieldError>> {
    let unit = tx
        .prepare_cached("SELECT unit_code FROM residents WHERE id = ?1")
        .db()?
        .query_row([resident_id], |r| r.get::<_, String>(0))
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("resident"))?;
    let sampled = tx
        .prepare_cached("SELECT 1 FROM samples WHERE round_id = ?1 AND resident_id = ?2")
        .db()?
        .exists(params![round_id, resident_id])
        .db()?;
    if let Err(e) = plan_exemption(sampled) {
        return Ok(Err(e));
    }
    tx.prepare_cached(
        "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (round_id, resident_id) DO UPDATE SET reason = excluded.reason, proof = excluded.proof, \
           by_user = excluded.by_user, at = excluded.at",
    )
    .db()?
    .execute(params![round_id, resident_id, unit, reason.as_str(), proof, by, ts(at)])
    .db()?;
    Ok(Ok(()))
}

pub(crate) fn enforcements(c: &Connection, roots: &[AreaCode]) -> Result<Vec<(i64, i64, String)>> {
    let mut p = Vec::new();
    let sc = scope("unit_code", roots, &mut p);
    c.prepare_cached(&format!("SELECT task_id, household_id, status FROM enforcements WHERE {sc} ORDER BY id"))
        .db()?
        .query_map(rusqlite::params_from_iter(p), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
}
