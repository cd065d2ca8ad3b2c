//! Door-knocking (敲门行动) and exemptions in PostgreSQL: tasks, the facts an outcome
//! needs and the writing of its plan (`cordon_store::testing::door`), exemptions
//! (`cordon_store::testing::lab::plan_exemption`), enforcement records.

use super::{audit, bounds, code};
use crate::error::{Db, corrupt};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::registry::ResidentStatus;
use cordon_domain::testing::{DoorOutcome, ExemptionReason};
use cordon_store::StoreError;
use cordon_store::testing::door::NamedMember;
use cordon_store::testing::lab::plan_exemption;
use cordon_store::testing::*;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;

const TASK_COLS: &str = "d.id, d.round_id, d.household_id, d.unit_code, h.room, d.created_at, d.created_by, d.outcome, d.note, d.done_at, d.done_by, d.assigned_to, d.assigned_at";

pub(crate) fn task_from(r: &Row) -> Result<DoorTask> {
    let id: i64 = r.try_get(0).db()?;
    let unit: &str = r.try_get(3).db()?;
    let outcome: Option<&str> = r.try_get(7).db()?;
    Ok(DoorTask {
        id,
        round_id: r.try_get(1).db()?,
        household_id: r.try_get(2).db()?,
        unit: code(unit, "door_task", id)?,
        room: r.try_get(4).db()?,
        created_at: r.try_get(5).db()?,
        created_by: r.try_get(6).db()?,
        outcome: outcome.map(DoorOutcome::parse).transpose().map_err(|_| corrupt("door_task", id, "outcome"))?,
        note: r.try_get(8).db()?,
        done_at: r.try_get(9).db()?,
        done_by: r.try_get(10).db()?,
        assigned_to: r.try_get(11).db()?,
        assigned_at: r.try_get(12).db()?,
    })
}

pub(crate) async fn door_task<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<DoorTask>> {
    let row = c
        .query_opt(
            &format!("SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id WHERE d.id = $1"),
            &[&id],
        )
        .await
        .db()?;
    row.as_ref().map(task_from).transpose()
}

pub(crate) async fn door_tasks<C: GenericClient + Sync>(
    c: &C,
    round_id: i64,
    roots: &[AreaCode],
) -> Result<Vec<DoorTask>> {
    let (lo, hi) = bounds(roots);
    c.query(
        &format!(
            "SELECT {TASK_COLS} FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
             JOIN door_tasks d ON d.unit_code >= x.lo AND d.unit_code < x.hi \
             JOIN households h ON h.id = d.household_id WHERE d.round_id = $3 ORDER BY d.id"
        ),
        &[&lo, &hi, &round_id],
    )
    .await
    .db()?
    .iter()
    .map(task_from)
    .collect()
}

pub(crate) async fn door_tasks_assigned<C: GenericClient + Sync>(
    c: &C,
    round_id: i64,
    user_id: i64,
) -> Result<Vec<DoorTask>> {
    c.query(
        &format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id \
             WHERE d.assigned_to = $1 AND d.round_id = $2 ORDER BY d.id"
        ),
        &[&user_id, &round_id],
    )
    .await
    .db()?
    .iter()
    .map(task_from)
    .collect()
}

pub(crate) async fn assign_door_tasks<C: GenericClient + Sync>(
    tx: &C,
    task_ids: &[i64],
    assignee: Option<i64>,
    by: i64,
    at: DateTime<Utc>,
) -> Result<Vec<DoorTask>> {
    let when = assignee.map(|_| at);
    let by = assignee.map(|_| by);
    tx.execute(
        "UPDATE door_tasks SET assigned_to = $2, assigned_at = $3, assigned_by = $4 WHERE id = ANY($1)",
        &[&task_ids, &assignee, &when, &by],
    )
    .await
    .db()?;
    let rows = tx
        .query(
            &format!(
                "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id \
                 WHERE d.id = ANY($1) ORDER BY d.id"
            ),
            &[&task_ids],
        )
        .await
        .db()?;
    if rows.len() != task_ids.len() {
        return Err(StoreError::NotFound("door_task"));
    }
    rows.iter().map(task_from).collect()
}

pub(crate) async fn create_door_tasks<C: GenericClient + Sync>(
    tx: &C,
    round_id: i64,
    households: &[i64],
    by: i64,
    at: DateTime<Utc>,
) -> Result<Vec<DoorTask>> {
    let mut out = Vec::new();
    for hh in households {
        let unit: String = tx
            .query_opt("SELECT unit_code FROM households WHERE id = $1", &[hh])
            .await
            .db()?
            .ok_or(StoreError::NotFound("household"))?
            .try_get(0)
            .db()?;
        tx.execute(
            "INSERT INTO door_tasks (round_id, household_id, unit_code, created_at, created_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (round_id, household_id) WHERE outcome IS NULL DO NOTHING",
            &[&round_id, hh, &unit, &at, &by],
        )
        .await
        .db()?;
        let id: i64 = tx
            .query_one(
                "SELECT id FROM door_tasks WHERE round_id = $1 AND household_id = $2 AND outcome IS NULL",
                &[&round_id, hh],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        if let Some(t) = door_task(tx, id).await? {
            out.push(t);
        }
    }
    Ok(out)
}

/// The facts [`door_keys`] names, pipelined.
async fn door_facts<C: GenericClient + Sync>(tx: &C, task: &DoorTask, keys: &DoorKeys) -> Result<DoorFacts> {
    let mut f = DoorFacts::default();
    let (named, exempt, tubes, unsampled) = futures_util::future::try_join4(
        async { tx.query("SELECT id, household_id, status FROM residents WHERE id = ANY($1)", &[&keys.resident_ids]).await.db() },
        async {
            tx.query(
                "SELECT resident_id FROM exemptions WHERE round_id = $1 AND resident_id = ANY($2)",
                &[&task.round_id, &keys.resident_ids],
            )
            .await
            .db()
        },
        async { tx.query("SELECT barcode, round_id FROM tubes WHERE barcode = ANY($1)", &[&keys.barcodes]).await.db() },
        async {
            if !keys.unsampled {
                return Ok(Vec::new());
            }
            tx.query(
                "SELECT r.id, r.unit_code FROM residents r WHERE r.household_id = $2 AND r.status = 'active' \
                   AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = r.id) ORDER BY r.id",
                &[&task.round_id, &task.household_id],
            )
            .await
            .db()
        },
    )
    .await?;
    for r in named {
        let status: &str = r.try_get(2).db()?;
        f.named.insert(
            r.try_get(0).db()?,
            NamedMember { household: r.try_get(1).db()?, active: status == ResidentStatus::Active.as_str() },
        );
    }
    for r in exempt {
        f.exempt.insert(r.try_get(0).db()?);
    }
    for r in tubes {
        f.tubes.insert(r.try_get(0).db()?, r.try_get(1).db()?);
    }
    for r in unsampled {
        let id: i64 = r.try_get(0).db()?;
        f.unsampled.push((id, code(r.try_get(1).db()?, "resident", id)?));
    }
    Ok(f)
}

/// Records a door-knock outcome with its effects, all decided before anything is written
/// (the caller commits only an accepted outcome).
pub(crate) async fn door_outcome(
    tx: &deadpool_postgres::Transaction<'_>,
    task_id: i64,
    report: &DoorReport,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
) -> Result<std::result::Result<DoorTask, DoorRefusal>> {
    tx.execute("SELECT 1 FROM door_tasks WHERE id = $1 FOR UPDATE", &[&task_id]).await.db()?;
    let task = door_task(&**tx, task_id).await?.ok_or(StoreError::NotFound("door_task"))?;
    let facts = door_facts(&**tx, &task, &door_keys(report)).await?;
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
            let f = super::sampler::facts(tx, batch, &ingest_keys(batch)).await?;
            let ingest = plan_ingest(batch, f);
            if let Some(refusal) = door_ingest_refusal(samples, &ingest) {
                return Ok(Err(refusal));
            }
            super::sampler::write(tx, batch, &ingest, audit).await?;
        }
        DoorEffect::Exempt(members) => {
            let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
            let units: Vec<&str> = members.iter().map(|m| m.1.as_str()).collect();
            tx.execute(
                "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) \
                 SELECT $1, r, u, 'away_with_proof', $4, $5, $6 FROM unnest($2::bigint[], $3::text[]) AS x(r, u) \
                 ON CONFLICT DO NOTHING",
                &[&task.round_id, &ids, &units, &note, &by, &at],
            )
            .await
            .db()?;
        }
        DoorEffect::Enforcement => {
            tx.execute(
                "INSERT INTO enforcements (task_id, household_id, unit_code, status, created_at) VALUES ($1, $2, $3, 'open', $4)",
                &[&task.id, &task.household_id, &task.unit.as_str(), &at],
            )
            .await
            .db()?;
        }
        // The roster page's correction, with its audit entry.
        DoorEffect::Correct { resident_id, correction, audit } => {
            crate::store::correct_resident(&**tx, *resident_id, correction, audit).await?;
        }
    }
    tx.execute(
        "UPDATE door_tasks SET outcome = $2, note = $3, done_at = $4, done_by = $5 WHERE id = $1",
        &[&task_id, &plan.outcome.as_str(), &note, &at, &by],
    )
    .await
    .db()?;
    door_task(&**tx, task_id).await?.ok_or(StoreError::NotFound("door_task")).map(Ok)
}

pub(crate) async fn exempt<C: GenericClient + Sync>(
    tx: &C,
    round_id: i64,
    resident_id: i64,
    reason: ExemptionReason,
    proof: &str,
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<(), FieldError>> {
    let unit: String = tx
        .query_opt("SELECT unit_code FROM residents WHERE id = $1", &[&resident_id])
        .await
        .db()?
        .ok_or(StoreError::NotFound("resident"))?
        .try_get(0)
        .db()?;
    let sampled = tx
        .query_opt("SELECT 1 FROM samples WHERE round_id = $1 AND resident_id = $2", &[&round_id, &resident_id])
        .await
        .db()?
        .is_some();
    if let Err(e) = plan_exemption(sampled) {
        return Ok(Err(e));
    }
    tx.execute(
        "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (round_id, resident_id) DO UPDATE SET reason = excluded.reason, proof = excluded.proof, \
           by_user = excluded.by_user, at = excluded.at",
        &[&round_id, &resident_id, &unit, &reason.as_str(), &proof, &by, &at],
    )
    .await
    .db()?;
    audit(tx, a).await?;
    Ok(Ok(()))
}

pub(crate) async fn enforcements<C: GenericClient + Sync>(
    c: &C,
    roots: &[AreaCode],
) -> Result<Vec<(i64, i64, String)>> {
    let (lo, hi) = bounds(roots);
    c.query(
        "SELECT e.task_id, e.household_id, e.status FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
         JOIN enforcements e ON e.unit_code >= x.lo AND e.unit_code < x.hi ORDER BY e.id",
        &[&lo, &hi],
    )
    .await
    .db()?
    .iter()
    .map(|r| Ok((r.try_get(0).db()?, r.try_get(1).db()?, r.try_get(2).db()?)))
    .collect()
}
