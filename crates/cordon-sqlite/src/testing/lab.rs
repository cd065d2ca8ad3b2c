//! The lab side of mass testing in SQLite: tubes and their members, boxes, receipt,
//! results with the positive-pool chase, alerts and marks. SQL and row mapping only: the
//! rules are `cordon_store::testing::{lab, results}`'s plans.

use super::{masked, opt_ts, scope};
use crate::audit;
use crate::rows::{OrBackend, area_code, parse_ts, ts};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{PoolCapacity, TestResult, TubeBarcode, TubeState};
use cordon_store::testing::lab::{ReceiptFact, plan_box, plan_receive};
use cordon_store::testing::results::{Member, ResultTube};
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

const TUBE_COLS: &str = "t.id, t.round_id, t.barcode, t.capacity, t.state, t.count, b.code, t.opened_at, t.opened_by, \
     t.sealed_at, t.sealed_by, t.boxed_at, t.boxed_by, t.received_at, t.received_by, t.resulted_at, t.resulted_by, t.result, t.ct";

pub(crate) fn tube_full(conn: &Connection, barcode: &str) -> Result<Option<Tube>> {
    let sql = format!("SELECT {TUBE_COLS} FROM tubes t LEFT JOIN boxes b ON b.id = t.box_id WHERE t.barcode = ?1");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let raw = stmt
        .query_row([barcode], |r| {
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?),
                (r.get::<_, String>(4)?, r.get::<_, u32>(5)?, r.get::<_, Option<String>>(6)?),
                (r.get::<_, String>(7)?, r.get::<_, i64>(8)?),
                (r.get::<_, Option<String>>(9)?, r.get::<_, Option<i64>>(10)?),
                (r.get::<_, Option<String>>(11)?, r.get::<_, Option<i64>>(12)?),
                (r.get::<_, Option<String>>(13)?, r.get::<_, Option<i64>>(14)?),
                (r.get::<_, Option<String>>(15)?, r.get::<_, Option<i64>>(16)?),
                (r.get::<_, Option<String>>(17)?, r.get::<_, Option<f64>>(18)?),
            ))
        })
        .optional()
        .db()?;
    let Some((
        (id, round_id, barcode, cap),
        (state, count, box_code),
        (oa, ob),
        (sa, sb),
        (ba, bb),
        (ra, rb),
        (xa, xb),
        (res, ct),
    )) = raw
    else {
        return Ok(None);
    };
    let bad = |c: &str| StoreError::Backend(format!("stored tube {id} has an invalid {c}"));
    Ok(Some(Tube {
        id,
        round_id,
        barcode: TubeBarcode::from_stored(barcode),
        capacity: PoolCapacity::new(cap).map_err(|_| bad("capacity"))?,
        state: TubeState::parse(&state).ok_or_else(|| bad("state"))?,
        count,
        box_code,
        opened_at: parse_ts(&oa, "tube", &id)?,
        opened_by: ob,
        sealed_at: opt_ts(sa, "tube", id)?,
        sealed_by: sb,
        boxed_at: opt_ts(ba, "tube", id)?,
        boxed_by: bb,
        received_at: opt_ts(ra, "tube", id)?,
        received_by: rb,
        resulted_at: opt_ts(xa, "tube", id)?,
        resulted_by: xb,
        result: res.map(|r| TestResult::parse(&r)).transpose().map_err(|_| bad("result"))?,
        ct,
    }))
}

pub(crate) fn tube_members(conn: &Connection, tube_id: i64) -> Result<Vec<TubeMember>> {
    let mut out = Vec::new();
    let rows = conn
        .prepare_cached(
            "SELECT s.resident_id, r.name, s.unit_code FROM ( \
               SELECT 0 AS k, id, resident_id, unit_code FROM samples WHERE tube_id = ?1 \
               UNION ALL SELECT 1, id, resident_id, unit_code FROM resamples WHERE tube_id = ?1) s \
             JOIN residents r ON r.id = s.resident_id ORDER BY s.k, s.id",
        )
        .db()?
        .query_map([tube_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    for (id, name, unit) in rows {
        out.push(TubeMember {
            resident_id: Some(id),
            masked_name: masked(&name),
            unit: Some(area_code(&unit, "sample", &id)?),
            visitor: false,
        });
    }
    let visitors: i64 = conn
        .prepare_cached("SELECT count(*) FROM visitor_samples WHERE tube_id = ?1")
        .db()?
        .query_row([tube_id], |r| r.get(0))
        .db()?;
    for _ in 0..visitors {
        out.push(TubeMember { resident_id: None, masked_name: "*".into(), unit: None, visitor: true });
    }
    Ok(out)
}

pub(crate) fn box_tubes(
    tx: &Connection,
    code: &str,
    tubes: &[TubeBarcode],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<u32, FieldError>> {
    let found = tubes.iter().map(|b| super::sampler::tube_fact(tx, b.as_str())).collect::<Result<Vec<_>>>()?;
    let states: Vec<Option<TubeState>> = found.iter().map(|t| t.map(|t| t.state)).collect();
    if let Err(e) = plan_box(&states) {
        return Ok(Err(e));
    }
    tx.prepare_cached(
        "INSERT INTO boxes (code, created_at, created_by) VALUES (?1, ?2, ?3) ON CONFLICT (code) DO NOTHING",
    )
    .db()?
    .execute(params![code, ts(at), by])
    .db()?;
    let box_id: i64 =
        tx.prepare_cached("SELECT id FROM boxes WHERE code = ?1").db()?.query_row([code], |r| r.get(0)).db()?;
    let mut upd = tx
        .prepare_cached("UPDATE tubes SET state = 'boxed', box_id = ?2, boxed_at = ?3, boxed_by = ?4 WHERE id = ?1")
        .db()?;
    for t in found.iter().flatten() {
        upd.execute(params![t.id, box_id, ts(at), by]).db()?;
    }
    audit::insert(tx, a)?;
    Ok(Ok(found.len() as u32))
}

pub(crate) fn receive(
    tx: &Connection,
    what: &Receipt,
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<Vec<String>, FieldError>> {
    let targets: Vec<(i64, String)> = match what {
        Receipt::Box(code) => {
            let box_id = tx
                .prepare_cached("SELECT id FROM boxes WHERE code = ?1")
                .db()?
                .query_row([code], |r| r.get::<_, i64>(0))
                .optional()
                .db()?;
            if let Err(e) = plan_receive(ReceiptFact::Box { exists: box_id.is_some() }) {
                return Ok(Err(e));
            }
            let Some(box_id) = box_id else { return Err(StoreError::NotFound("box")) };
            tx.prepare_cached("UPDATE boxes SET received_at = ?2, received_by = ?3 WHERE id = ?1")
                .db()?
                .execute(params![box_id, ts(at), by])
                .db()?;
            tx.prepare_cached("SELECT id, barcode FROM tubes WHERE box_id = ?1 AND state = 'boxed' ORDER BY barcode")
                .db()?
                .query_map([box_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?
        }
        Receipt::Tube(b) => {
            let t = super::sampler::tube_fact(tx, b.as_str())?;
            if let Err(e) = plan_receive(ReceiptFact::Tube(t.map(|t| t.state))) {
                return Ok(Err(e));
            }
            t.map(|t| (t.id, b.as_str().to_string())).into_iter().collect()
        }
    };
    let mut upd = tx
        .prepare_cached("UPDATE tubes SET state = 'received', received_at = ?2, received_by = ?3 WHERE id = ?1")
        .db()?;
    for (id, _) in &targets {
        upd.execute(params![id, ts(at), by]).db()?;
    }
    audit::insert(tx, a)?;
    Ok(Ok(targets.into_iter().map(|(_, b)| b).collect()))
}

// ---- results and the chase ------------------------------------------------------------------

/// The facts of [`plan_results`], in the write transaction: the tubes, their members,
/// and what the chase needs about the members.
fn result_facts(tx: &Connection, results: &[NewResult]) -> Result<ResultFacts> {
    let mut f = ResultFacts::default();
    let mut tube = tx.prepare_cached("SELECT id, round_id, capacity, state FROM tubes WHERE barcode = ?1").db()?;
    for code in result_barcodes(results) {
        let row = tube
            .query_row([code], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, u32>(2)?, r.get::<_, String>(3)?))
            })
            .optional()
            .db()?;
        f.tubes.push(match row {
            None => None,
            Some((id, round_id, capacity, state)) => Some(ResultTube {
                id,
                round_id,
                capacity,
                state: TubeState::parse(&state)
                    .ok_or_else(|| StoreError::Backend(format!("stored tube {id} has an invalid state")))?,
            }),
        });
    }
    // A tube holds samples, or re-samples of a positive pool's members (single tubes).
    let mut members = tx
        .prepare_cached(
            "SELECT s.resident_id, s.unit_code, r.household_id FROM ( \
               SELECT resident_id, unit_code FROM samples WHERE tube_id = ?1 \
               UNION SELECT resident_id, unit_code FROM resamples WHERE tube_id = ?1) s \
             JOIN residents r ON r.id = s.resident_id ORDER BY s.resident_id",
        )
        .db()?;
    for id in f.tube_ids() {
        let rows = members
            .query_map([id], |x| Ok((x.get::<_, i64>(0)?, x.get::<_, String>(1)?, x.get::<_, i64>(2)?)))
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        let ms = rows
            .into_iter()
            .map(|(rid, unit, household)| {
                Ok(Member { resident_id: rid, unit: area_code(&unit, "sample", &rid)?, household })
            })
            .collect::<Result<Vec<_>>>()?;
        f.members.insert(id, ms);
    }
    let keys = f.member_keys();
    let mut controlled = tx.prepare_cached("SELECT 1 FROM home_controls WHERE household_id = ?1").db()?;
    // Through the unit: residents have no index on the household alone.
    let mut marked = tx
        .prepare_cached(
            "SELECT DISTINCT p.resident_id FROM residents r JOIN pool_positives p ON p.resident_id = r.id \
             WHERE r.unit_code = ?2 AND r.household_id = ?1 AND p.status IN ('pending', 'confirmed')",
        )
        .db()?;
    for (hh, unit) in &keys.household_units {
        if controlled.exists([hh]).db()? {
            f.controlled.insert(*hh);
        }
        let ids = marked
            .query_map(params![hh, unit], |r| r.get::<_, i64>(0))
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        if !ids.is_empty() {
            f.marked.insert(*hh, ids.into_iter().collect());
        }
    }
    let mut pending =
        tx.prepare_cached("SELECT 1 FROM pool_positives WHERE resident_id = ?1 AND status = 'pending'").db()?;
    let mut case = tx.prepare_cached("SELECT 1 FROM cases WHERE resident_id = ?1").db()?;
    for rid in &keys.resident_ids {
        if pending.exists([rid]).db()? {
            f.pending.insert(*rid);
        }
        if case.exists([rid]).db()? {
            f.cases.insert(*rid);
        }
    }
    let mut site = tx.prepare_cached("SELECT min(site_id) FROM sampling_site_areas WHERE area_code = ?1").db()?;
    for a in keys.areas {
        if let Some(id) = site.query_row([&a], |r| r.get::<_, Option<i64>>(0)).db()? {
            f.sites.insert(a, id);
        }
    }
    Ok(f)
}

pub(crate) fn record_results(
    tx: &Connection,
    results: &[NewResult],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
    tz: &cordon_domain::clock::DistrictTz,
) -> Result<ResultsReport> {
    let started = std::time::Instant::now();
    let facts = result_facts(tx, results)?;
    let mut plan = plan_results(results, &facts, at);
    if !plan.report.committed {
        return Ok(plan.report);
    }
    let at_s = ts(at);
    let mut upd = tx
        .prepare_cached(
            "UPDATE tubes SET state = 'resulted', result = ?2, ct = ?3, resulted_at = ?4, resulted_by = ?5 WHERE id = ?1",
        )
        .db()?;
    for r in &plan.resulted {
        upd.execute(params![r.tube_id, r.result.as_str(), r.ct, at_s, by]).db()?;
    }
    let mut mark = tx
        .prepare_cached(
            "INSERT INTO pool_positives (round_id, resident_id, tube_id, unit_code, status, marked_at) \
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT DO NOTHING",
        )
        .db()?;
    for m in &plan.marks {
        mark.execute(params![m.round_id, m.resident_id, m.tube_id, m.unit.as_str(), at_s]).db()?;
    }
    let mut task = tx
        .prepare_cached(
            "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?;
    for t in &plan.tasks {
        task.execute(params![t.round_id, t.resident_id, t.tube_id, t.site_id, t.reason.as_str(), at_s]).db()?;
    }
    let mut control = tx
        .prepare_cached(
            "INSERT INTO home_controls (household_id, since, source_tube) VALUES (?1, ?2, ?3) \
             ON CONFLICT (household_id) DO NOTHING",
        )
        .db()?;
    for (hh, tube) in &plan.controls {
        control.execute(params![hh, at_s, tube]).db()?;
    }
    let mut resolve = tx
        .prepare_cached(
            "UPDATE pool_positives SET status = ?2, resolved_at = ?3 WHERE resident_id = ?1 AND status = 'pending'",
        )
        .db()?;
    let mut done =
        tx.prepare_cached("UPDATE resample_tasks SET done_at = ?2 WHERE resident_id = ?1 AND done_at IS NULL").db()?;
    for (rid, status) in &plan.resolved {
        resolve.execute(params![rid, status.as_str(), at_s]).db()?;
        done.execute(params![rid, at_s]).db()?;
    }
    let mut lift = tx.prepare_cached("DELETE FROM home_controls WHERE household_id = ?1").db()?;
    for hh in &plan.lifted {
        lift.execute([hh]).db()?;
    }
    let mut case = tx.prepare_cached("INSERT INTO cases (resident_id, source_tube, at) VALUES (?1, ?2, ?3)").db()?;
    for (rid, tube) in &plan.cases {
        case.execute(params![rid, tube, at_s]).db()?;
    }
    // The moment a case exists, tracing proposes its trajectory and candidates.
    if !plan.cases.is_empty() {
        crate::tracing::trace_new_cases(tx, at, tz, a)?;
    }
    for tube in &plan.invalid_tubes {
        tx.prepare_cached(
            "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
             SELECT round_id, resident_id, tube_id, unit_code, at, ?2 FROM samples WHERE tube_id = ?1",
        )
        .db()?
        .execute(params![tube, at_s])
        .db()?;
        tx.prepare_cached("DELETE FROM samples WHERE tube_id = ?1").db()?.execute([tube]).db()?;
        tx.prepare_cached(
            "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
             SELECT round_id, resident_id, tube_id, unit_code, at, ?2 FROM resamples WHERE tube_id = ?1",
        )
        .db()?
        .execute(params![tube, at_s])
        .db()?;
        tx.prepare_cached("DELETE FROM resamples WHERE tube_id = ?1").db()?.execute([tube]).db()?;
    }
    // The chase is complete once its effects are written: that instant is its record.
    let chased_at = at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    let mut alert = tx
        .prepare_cached(
            "INSERT INTO alerts (kind, round_id, tube_id, members, created_at) VALUES ('pool_positive', ?1, ?2, ?3, ?4)",
        )
        .db()?;
    let mut chase = tx
        .prepare_cached(
            "INSERT INTO chases (tube_id, round_id, members, households_controlled, tasks_created, result_at, chased_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .db()?;
    for c in &plan.chases {
        alert.execute(params![c.round_id, c.tube_id, c.members, at_s]).db()?;
        chase
            .execute(params![
                c.tube_id,
                c.round_id,
                c.members,
                c.households_controlled,
                c.tasks_created,
                at_s,
                ts(chased_at)
            ])
            .db()?;
    }
    for c in &mut plan.report.chases {
        c.chased_at = chased_at;
    }
    // People under a quarantine order: the result is their order's test of the day.
    let resulted = resulted_tubes(&plan, &facts);
    crate::containment::order_results_for_tubes(tx, &resulted, at, tz, a)?;
    audit::insert(tx, a)?;
    Ok(plan.report)
}

const CHASE_COLS: &str = "t.barcode, c.round_id, c.members, c.households_controlled, c.tasks_created, c.result_at, \
     c.chased_at, (SELECT count(*) FROM pool_positives p WHERE p.tube_id = c.tube_id AND p.status <> 'pending'), \
     (SELECT max(resolved_at) FROM pool_positives p WHERE p.tube_id = c.tube_id)";

fn chase_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChaseRaw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

type ChaseRaw = (String, i64, u32, u32, u32, String, String, u32, Option<String>);

fn parse_chase(raw: ChaseRaw) -> Result<ChaseSummary> {
    let (tube, round_id, members, hh, tasks, ra, ca, resampled, rsa) = raw;
    Ok(ChaseSummary {
        tube,
        round_id,
        members,
        households_controlled: hh,
        tasks_created: tasks,
        result_at: parse_ts(&ra, "chase", &round_id)?,
        chased_at: parse_ts(&ca, "chase", &round_id)?,
        resampled,
        resampled_at: opt_ts(rsa, "chase", round_id)?,
    })
}

pub(crate) fn chases(conn: &Connection, round_id: i64) -> Result<Vec<ChaseSummary>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {CHASE_COLS} FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE c.round_id = ?1 \
             ORDER BY c.result_at, t.barcode"
        ))
        .db()?
        .query_map([round_id], chase_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter().map(parse_chase).collect()
}

pub(crate) fn chase_timeline(conn: &Connection, barcode: &str) -> Result<Option<ChaseTimeline>> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {CHASE_COLS}, c.tube_id FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE t.barcode = ?1"
        ))
        .db()?
        .query_row([barcode], |r| Ok((chase_row(r)?, r.get::<_, i64>(9)?)))
        .optional()
        .db()?;
    let Some((raw, tube_id)) = raw else { return Ok(None) };
    let chase = parse_chase(raw)?;
    let rows = conn
        .prepare_cached(
            "SELECT p.resident_id, r.name, p.unit_code, p.marked_at, \
                    (SELECT min(k.sampled_at) FROM resample_tasks k WHERE k.tube_id = p.tube_id \
                       AND k.resident_id = p.resident_id AND k.reason = 'pool_positive'), \
                    p.status, p.resolved_at \
             FROM pool_positives p JOIN residents r ON r.id = p.resident_id WHERE p.tube_id = ?1 ORDER BY p.resident_id",
        )
        .db()?
        .query_map([tube_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let members = rows
        .into_iter()
        .map(|(id, name, unit, marked, sampled, status, resolved)| {
            Ok(ChaseStep {
                resident_id: id,
                masked_name: masked(&name),
                unit: area_code(&unit, "pool_positive", &id)?,
                marked_at: parse_ts(&marked, "pool_positive", &id)?,
                resampled_at: opt_ts(sampled, "resample_task", id)?,
                status,
                resolved_at: opt_ts(resolved, "pool_positive", id)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(ChaseTimeline { chase, members }))
}

pub(crate) fn resample_tasks(
    c: &Connection,
    round_id: i64,
    roots: &[AreaCode],
    all: bool,
) -> Result<Vec<ResampleTask>> {
    let mut p = Vec::new();
    let sc = scope("r.unit_code", roots, &mut p);
    p.push(Value::Integer(round_id));
    let open = if all { "" } else { " AND k.done_at IS NULL" };
    let rows = c
        .prepare_cached(&format!(
            "SELECT k.id, k.round_id, k.resident_id, r.name, r.phone, r.household_id, r.unit_code, h.room, t.barcode, \
                    k.site_id, k.reason, k.created_at, k.sampled_at, k.done_at, \
                    EXISTS (SELECT 1 FROM home_controls hc WHERE hc.household_id = r.household_id) \
             FROM resample_tasks k JOIN residents r ON r.id = k.resident_id \
             JOIN households h ON h.id = r.household_id JOIN tubes t ON t.id = k.tube_id \
             WHERE {sc} AND k.round_id = ?{open} ORDER BY r.unit_code, length(h.room), h.room, r.id, k.id"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(p), |r| {
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?),
                (r.get::<_, Option<String>>(4)?, r.get::<_, i64>(5)?, r.get::<_, String>(6)?, r.get::<_, String>(7)?),
                (r.get::<_, String>(8)?, r.get::<_, Option<i64>>(9)?, r.get::<_, String>(10)?, r.get::<_, String>(11)?),
                (r.get::<_, Option<String>>(12)?, r.get::<_, Option<String>>(13)?, r.get::<_, bool>(14)?),
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(
            |(
                (id, round_id, resident_id, name),
                (phone, household_id, unit, room),
                (tube, site_id, reason, created),
                (sampled, done, door),
            )| {
                Ok(ResampleTask {
                    id,
                    round_id,
                    resident_id,
                    name,
                    phone,
                    household_id,
                    unit: area_code(&unit, "resample_task", &id)?,
                    room,
                    tube,
                    site_id,
                    reason,
                    created_at: parse_ts(&created, "resample_task", &id)?,
                    sampled_at: opt_ts(sampled, "resample_task", id)?,
                    done_at: opt_ts(done, "resample_task", id)?,
                    door_to_door: door,
                })
            },
        )
        .collect()
}

pub(crate) fn alerts(c: &Connection, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
    let raws = c
        .prepare_cached(
            "SELECT a.id, a.kind, a.round_id, t.barcode, a.members, a.created_at FROM alerts a \
             JOIN tubes t ON t.id = a.tube_id WHERE a.id > ?1 ORDER BY a.id DESC LIMIT ?2",
        )
        .db()?
        .query_map(params![after_id, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<(i64, String, i64, String, u32, String)>>>()
        .db()?;
    raws.into_iter()
        .map(|(id, kind, round_id, tube, members, at)| {
            Ok(Alert { id, kind, round_id, tube, members, created_at: parse_ts(&at, "alert", &id)? })
        })
        .collect()
}

pub(crate) fn pool_positives(c: &Connection, round_id: i64, roots: &[AreaCode]) -> Result<Vec<PoolPositive>> {
    let mut p = Vec::new();
    let sc = scope("p.unit_code", roots, &mut p);
    p.push(Value::Integer(round_id));
    let raws = c
        .prepare_cached(&format!(
            "SELECT p.resident_id, r.name, p.unit_code, t.barcode, p.status, p.marked_at FROM pool_positives p \
             JOIN residents r ON r.id = p.resident_id JOIN tubes t ON t.id = p.tube_id \
             WHERE {sc} AND p.round_id = ? ORDER BY p.resident_id"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(p), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<(i64, String, String, String, String, String)>>>()
        .db()?;
    raws.into_iter()
        .map(|(id, name, unit, tube, status, at)| {
            Ok(PoolPositive {
                resident_id: id,
                masked_name: masked(&name),
                unit: area_code(&unit, "pool_positive", &id)?,
                tube,
                status,
                marked_at: parse_ts(&at, "pool_positive", &id)?,
            })
        })
        .collect()
}

pub(crate) fn under_control(c: &Connection, household_id: i64) -> Result<bool> {
    c.prepare_cached("SELECT 1 FROM home_controls WHERE household_id = ?1").db()?.exists([household_id]).db()
}
