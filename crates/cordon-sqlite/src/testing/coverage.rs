//! Coverage, missed lists and the 楼长's report in SQLite: reads of who was sampled,
//! exempt or missing under an area.

use super::scope;
use crate::audit;
use crate::rows::{OrBackend, area_code, ts};
use chrono::{DateTime, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, params};
use std::collections::HashMap;

fn counts_by(conn: &Connection, sql: &str, round_id: i64, node: &AreaCode, len: usize) -> Result<HashMap<String, u64>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt
        .query_map(params![len, round_id, node.as_str(), node.range_end()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    Ok(rows.into_iter().map(|(k, v)| (k, v.max(0) as u64)).collect())
}

const SAMPLED_BY: &str = "SELECT substr(unit_code, 1, ?1), count(*) FROM samples \
     WHERE round_id = ?2 AND unit_code >= ?3 AND unit_code < ?4 GROUP BY 1";
/// The samples of [`SAMPLED_BY`] whose resident is no longer active (few: found through
/// the partial index of inactive residents). INDEXED BY and CROSS JOIN: left to itself the
/// planner would walk the round's samples and look up each one's resident.
const INACTIVE_SAMPLED_BY: &str = "SELECT substr(s.unit_code, 1, ?1), count(*) \
     FROM residents r INDEXED BY residents_inactive \
     CROSS JOIN samples s ON s.round_id = ?2 AND s.resident_id = r.id \
     WHERE r.status <> 'active' AND r.unit_code >= ?3 AND r.unit_code < ?4 \
       AND s.unit_code >= ?3 AND s.unit_code < ?4 GROUP BY 1";
const EXEMPT_BY: &str = "SELECT substr(e.unit_code, 1, ?1), count(*) FROM exemptions e \
     JOIN residents r ON r.id = e.resident_id AND r.status = 'active' \
     WHERE e.round_id = ?2 AND e.unit_code >= ?3 AND e.unit_code < ?4 \
       AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = e.round_id AND s.resident_id = e.resident_id) \
     GROUP BY 1";

/// Residents sampled in the round under `node`, by area code prefix of `len`, counting
/// only residents still active: someone sampled who moved out since is no longer expected,
/// so no longer counted as sampled either (sampled ≤ expected).
fn sampled_by(conn: &Connection, round_id: i64, node: &AreaCode, len: usize) -> Result<HashMap<String, u64>> {
    let mut all = counts_by(conn, SAMPLED_BY, round_id, node, len)?;
    for (k, gone) in counts_by(conn, INACTIVE_SAMPLED_BY, round_id, node, len)? {
        if let Some(n) = all.get_mut(&k) {
            *n = n.saturating_sub(gone);
        }
    }
    Ok(all)
}

pub(crate) fn coverage(conn: &Connection, round_id: i64, node: &AreaCode) -> Result<Coverage> {
    let summary = crate::registry::area_summary(conn, node)?.ok_or(StoreError::NotFound("area"))?;
    let len = node.as_str().len();
    let sampled = sampled_by(conn, round_id, node, len)?.values().sum();
    let exempt = counts_by(conn, EXEMPT_BY, round_id, node, len)?.values().sum();
    Ok(Coverage::of(node.clone(), summary.area.name, summary.residents, sampled, exempt))
}

pub(crate) fn coverage_children(conn: &Connection, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
    let Some(level) = node.level().child() else { return Ok(Vec::new()) };
    let len = level.code_len();
    let children = crate::registry::children(conn, node)?;
    let sampled = sampled_by(conn, round_id, node, len)?;
    let exempt = counts_by(conn, EXEMPT_BY, round_id, node, len)?;
    Ok(children
        .into_iter()
        .map(|c| {
            let k = c.area.code.as_str();
            let (s, e) = (sampled.get(k).copied().unwrap_or(0), exempt.get(k).copied().unwrap_or(0));
            Coverage::of(c.area.code, c.area.name, c.residents, s, e)
        })
        .collect())
}

pub(crate) fn missed(conn: &Connection, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
    let mut p = Vec::new();
    let sc = scope("r.unit_code", roots, &mut p);
    p.push(Value::Integer(round_id));
    p.push(Value::Integer(round_id));
    let sql = format!(
        "SELECT r.id, r.household_id, r.unit_code, h.room, r.name, r.phone, r.bedridden \
         FROM residents r JOIN households h ON h.id = r.household_id \
         WHERE {sc} AND r.status = 'active' \
           AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = ? AND s.resident_id = r.id) \
           AND NOT EXISTS (SELECT 1 FROM exemptions e WHERE e.round_id = ? AND e.resident_id = r.id) \
         ORDER BY r.unit_code, length(h.room), h.room, r.id"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(p), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut tp = Vec::new();
    let tsc = scope("unit_code", roots, &mut tp);
    tp.push(Value::Integer(round_id));
    let tasks: HashMap<i64, i64> = conn
        .prepare_cached(&format!(
            "SELECT household_id, id FROM door_tasks WHERE {tsc} AND round_id = ? AND outcome IS NULL"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(tp), |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    let mut out: Vec<MissedHousehold> = Vec::new();
    for (id, hh, unit, room, name, phone, bedridden) in rows {
        let person = MissedPerson { resident_id: id, name, phone, bedridden };
        match out.last_mut() {
            Some(h) if h.household_id == hh => h.members.push(person),
            _ => out.push(MissedHousehold {
                household_id: hh,
                unit: area_code(&unit, "resident", &id)?,
                room,
                members: vec![person],
                task_id: tasks.get(&hh).copied(),
            }),
        }
    }
    Ok(out)
}

pub(crate) fn report_missing(
    tx: &Connection,
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
    let missing: u64 =
        missed(tx, round_id, std::slice::from_ref(building))?.iter().map(|h| h.members.len() as u64).sum();
    tx.prepare_cached(
        "INSERT INTO missing_reports (round_id, building_code, missing, note, by_user, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .db()?
    .execute(params![round_id, building.as_str(), missing, note, by, ts(at)])
    .db()?;
    audit::insert(tx, a)?;
    Ok(missing)
}

pub(crate) fn positivity(c: &Connection, root: &AreaCode, rounds: u32) -> Result<Positivity> {
    let above: Vec<String> = root.lineage().iter().map(|a| a.as_str().to_string()).collect();
    let marks = vec!["?"; above.len()].join(", ");
    let ids = c
        .prepare_cached(&format!(
            "SELECT id FROM test_rounds WHERE area_code IN ({marks}) ORDER BY date DESC, id DESC LIMIT {rounds}"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(above), |r| r.get::<_, i64>(0))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut out = Positivity { sampled: 0, positive_pools: 0, cases: 0 };
    for id in ids {
        let (lo, hi) = (root.as_str(), root.range_end());
        let q = |sql: &str| -> Result<u64> {
            c.prepare_cached(sql)
                .db()?
                .query_row(params![id, lo, hi], |r| r.get::<_, i64>(0))
                .db()
                .map(|n| n.max(0) as u64)
        };
        out.sampled += q("SELECT count(*) FROM samples WHERE round_id = ?1 AND unit_code >= ?2 AND unit_code < ?3")?;
        out.positive_pools += q(
            "SELECT count(DISTINCT tube_id) FROM pool_positives WHERE round_id = ?1 AND unit_code >= ?2 AND unit_code < ?3",
        )?;
        out.cases += q(
            "SELECT count(*) FROM cases k JOIN tubes t ON t.id = k.source_tube JOIN residents r ON r.id = k.resident_id \
             WHERE t.round_id = ?1 AND r.unit_code >= ?2 AND r.unit_code < ?3",
        )?;
    }
    Ok(out)
}
