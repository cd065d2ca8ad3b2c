//! Test rounds and sampling sites in SQLite.

use crate::audit;
use crate::rows::{OrBackend, area_code, parse_ts, ts};
use chrono::NaiveDate;
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::testing::{NewRound, NewSite, PoolCapacity, SamplingSite, TestRound};
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

fn round_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, bool, u32, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn round_from(raw: (i64, String, String, bool, u32, String)) -> Result<TestRound> {
    let (id, area, date, mandatory, pool, created) = raw;
    Ok(TestRound {
        id,
        area: area_code(&area, "test_round", &id)?,
        date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| StoreError::Backend(format!("stored test_round {id} has an invalid date")))?,
        mandatory,
        pool: PoolCapacity::new(pool)
            .map_err(|_| StoreError::Backend(format!("stored test_round {id} has an invalid pool size")))?,
        created_at: parse_ts(&created, "test_round", &id)?,
    })
}

const ROUND_COLS: &str = "id, area_code, date, mandatory, pool_size, created_at";

pub(crate) fn round(conn: &Connection, id: i64) -> Result<Option<TestRound>> {
    let raw = conn
        .prepare_cached(&format!("SELECT {ROUND_COLS} FROM test_rounds WHERE id = ?1"))
        .db()?
        .query_row([id], round_row)
        .optional()
        .db()?;
    raw.map(round_from).transpose()
}

pub(crate) fn site(conn: &Connection, id: i64) -> Result<Option<SamplingSite>> {
    let row = conn
        .prepare_cached("SELECT name, address, hours FROM sampling_sites WHERE id = ?1")
        .db()?
        .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .optional()
        .db()?;
    let Some((name, address, hours)) = row else { return Ok(None) };
    let areas = conn
        .prepare_cached("SELECT area_code FROM sampling_site_areas WHERE site_id = ?1 ORDER BY area_code")
        .db()?
        .query_map([id], |r| r.get::<_, String>(0))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let areas = areas.iter().map(|a| area_code(a, "sampling_site", &id)).collect::<Result<Vec<_>>>()?;
    Ok(Some(SamplingSite { id, name, address, hours, areas }))
}

pub(crate) fn create_round(tx: &Connection, new: &NewRound, a: AuditEntry) -> Result<TestRound> {
    tx.prepare_cached(
        "INSERT INTO test_rounds (area_code, date, mandatory, pool_size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![new.area.as_str(), new.date.to_string(), new.mandatory, new.pool.get(), ts(a.at)])
    .db()?;
    let id = tx.last_insert_rowid();
    audit::insert(tx, &AuditEntry { target: id.to_string(), ..a })?;
    round(tx, id)?.ok_or(StoreError::NotFound("round"))
}

pub(crate) fn rounds(c: &Connection, limit: u32) -> Result<Vec<TestRound>> {
    let raws = c
        .prepare_cached(&format!("SELECT {ROUND_COLS} FROM test_rounds ORDER BY date DESC, id DESC LIMIT ?1"))
        .db()?
        .query_map([limit], round_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raws.into_iter().map(round_from).collect()
}

pub(crate) fn create_site(tx: &Connection, new: &NewSite, a: AuditEntry) -> Result<SamplingSite> {
    tx.prepare_cached("INSERT INTO sampling_sites (name, address, hours) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![new.name, new.address, new.hours])
        .db()?;
    let id = tx.last_insert_rowid();
    for area in &new.areas {
        tx.prepare_cached("INSERT OR IGNORE INTO sampling_site_areas (site_id, area_code) VALUES (?1, ?2)")
            .db()?
            .execute(params![id, area.as_str()])
            .db()?;
    }
    audit::insert(tx, &AuditEntry { target: id.to_string(), ..a })?;
    site(tx, id)?.ok_or(StoreError::NotFound("site"))
}

pub(crate) fn sites(c: &Connection, root: &AreaCode) -> Result<Vec<SamplingSite>> {
    let mut p: Vec<Value> = vec![Value::Text(root.as_str().into()), Value::Text(root.range_end())];
    let above: Vec<String> = root.lineage().iter().map(|a| a.as_str().to_string()).collect();
    let marks = vec!["?"; above.len()].join(", ");
    p.extend(above.into_iter().map(Value::Text));
    let ids = c
        .prepare_cached(&format!(
            "SELECT DISTINCT site_id FROM sampling_site_areas WHERE (area_code >= ? AND area_code < ?) \
                     OR area_code IN ({marks}) ORDER BY site_id"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(p), |r| r.get::<_, i64>(0))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(s) = site(c, id)? {
            out.push(s);
        }
    }
    Ok(out)
}
