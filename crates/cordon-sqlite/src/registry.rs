//! The population register in SQL: areas, households, residents, grids, building
//! leaders, the bulk load of generated batches, registration and corrections.
//!
//! Every "under these areas" question is a union of code ranges
//! (`unit_code >= root AND unit_code < root || ':'`), which the (unit_code, …) indexes
//! answer as range scans; LIKE is never used for scoping.

use crate::audit;
use crate::rows::{OrBackend, RESIDENT_COLS, RawResident, area_code, backend, is_unique_violation};
use cordon_domain::area::{Area, AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::id_number::IdNumber;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{BuildingLeader, Correction, Grid, NewResident, Resident};
use cordon_domain::synth::Batch;
use cordon_store::{AreaSummary, ResidentQuery, Result, RosterHousehold, StoreError, UnitPath};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};

/// Roots sorted, deduplicated and with every root that lies inside another dropped, so
/// that the ranges built from them are disjoint and each row matches once.
fn disjoint_roots(roots: &[AreaCode]) -> Vec<&AreaCode> {
    let mut sorted: Vec<&AreaCode> = roots.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<&AreaCode> = Vec::with_capacity(sorted.len());
    for root in sorted {
        // Sorted order puts an area right before everything inside it.
        if out.last().is_some_and(|kept| kept.contains(root)) {
            continue;
        }
        out.push(root);
    }
    out
}

/// `(col >= ? AND col < ? OR …)` for the roots, pushing their bounds onto `params`.
fn scope_sql(col: &str, roots: &[&AreaCode], params: &mut Vec<Value>) -> String {
    let parts: Vec<String> = roots
        .iter()
        .map(|root| {
            params.push(Value::Text(root.as_str().to_string()));
            params.push(Value::Text(root.range_end()));
            format!("{col} >= ? AND {col} < ?")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// The exclusive upper bound of the strings that start with `prefix`: every string in
/// `[prefix, prefix_end)` starts with `prefix` and every such string lies there (code
/// points order like UTF-8 bytes, which is SQLite's BINARY collation). `None` when the
/// prefix is all `char::MAX`, which has no bound.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn query_residents(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<Resident>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let raw = stmt
        .query_map(rusqlite::params_from_iter(params), RawResident::from_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter().map(RawResident::parse).collect()
}

// ---- bulk load --------------------------------------------------------------------

pub(crate) fn load_batch(conn: &Connection, batch: &Batch) -> Result<()> {
    let mut areas = conn.prepare_cached("INSERT INTO areas (code, name, level) VALUES (?1, ?2, ?3)").db()?;
    for a in &batch.areas {
        areas.execute(params![a.code.as_str(), a.name, a.level().as_str()]).db()?;
    }
    let mut households =
        conn.prepare_cached("INSERT INTO households (id, unit_code, room) VALUES (?1, ?2, ?3)").db()?;
    for h in &batch.households {
        households.execute(params![h.id, h.unit.as_str(), h.room]).db()?;
    }
    let mut residents = conn
        .prepare_cached(
            "INSERT INTO residents \
             (id, household_id, unit_code, name, id_number, phone, bedridden, no_smartphone, temporary, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?;
    for r in &batch.residents {
        residents
            .execute(params![
                r.id,
                r.household_id,
                r.unit.as_str(),
                r.name.as_str(),
                r.id_number.as_str(),
                r.phone.as_ref().map(Phone::as_str),
                r.flags.bedridden,
                r.flags.no_smartphone,
                r.flags.temporary,
                r.status.as_str(),
            ])
            .db()?;
    }
    let mut grids = conn
        .prepare_cached(
            "INSERT INTO grids (id, community_code, name, worker_name, worker_phone) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?;
    let mut grid_buildings =
        conn.prepare_cached("INSERT INTO grid_buildings (grid_id, building_code) VALUES (?1, ?2)").db()?;
    for g in &batch.grids {
        grids
            .execute(params![
                g.id,
                g.community.as_str(),
                g.name,
                g.worker_name,
                g.worker_phone.as_ref().map(Phone::as_str)
            ])
            .db()?;
        for b in &g.buildings {
            grid_buildings.execute(params![g.id, b.as_str()]).db()?;
        }
    }
    let mut leaders =
        conn.prepare_cached("INSERT INTO building_leaders (building_code, resident_id) VALUES (?1, ?2)").db()?;
    for l in &batch.leaders {
        leaders.execute(params![l.building.as_str(), l.resident_id]).db()?;
    }
    Ok(())
}

/// After a bulk load: refresh the planner's statistics and fold the WAL back into the
/// database file. Ids need no advancing: SQLite assigns `max(id) + 1`.
pub(crate) fn finish_load(conn: &mut Connection) -> Result<()> {
    // A sampled ANALYZE: exact statistics are not needed to pick between the indexes,
    // and a full one reads every row again.
    conn.execute_batch("PRAGMA analysis_limit = 1000; ANALYZE; PRAGMA optimize;").db()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).db()?;
    Ok(())
}

// ---- areas ------------------------------------------------------------------------

pub(crate) fn area(conn: &Connection, code: &AreaCode) -> Result<Option<Area>> {
    let name: Option<String> = conn
        .prepare_cached("SELECT name FROM areas WHERE code = ?1")
        .db()?
        .query_row([code.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    Ok(name.map(|name| Area { code: code.clone(), name }))
}

/// Index-only on residents_unit_status (unit_code, status, household_id).
pub(crate) const COUNTS_SQL: &str = "SELECT count(DISTINCT household_id), count(*) FROM residents \
     WHERE unit_code >= ?1 AND unit_code < ?2 AND status = 'active'";

/// (households with at least one active resident, active residents) under `code`.
fn counts(conn: &Connection, code: &AreaCode) -> Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(COUNTS_SQL).db()?;
    let (households, residents): (i64, i64) =
        stmt.query_row(params![code.as_str(), code.range_end()], |r| Ok((r.get(0)?, r.get(1)?))).db()?;
    Ok((households.max(0) as u64, residents.max(0) as u64))
}

pub(crate) fn area_summary(conn: &Connection, code: &AreaCode) -> Result<Option<AreaSummary>> {
    let Some(area) = area(conn, code)? else {
        return Ok(None);
    };
    let (households, residents) = counts(conn, code)?;
    Ok(Some(AreaSummary { area, households, residents }))
}

pub(crate) fn children(conn: &Connection, code: &AreaCode) -> Result<Vec<AreaSummary>> {
    let Some(level) = code.level().child() else {
        return Ok(Vec::new());
    };
    let mut stmt = conn
        .prepare_cached("SELECT code, name FROM areas WHERE level = ?1 AND code >= ?2 AND code < ?3 ORDER BY code")
        .db()?;
    let rows = stmt
        .query_map(params![level.as_str(), code.as_str(), code.range_end()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    drop(stmt);
    rows.into_iter()
        .map(|(c, name)| {
            let area = Area { code: area_code(&c, "area", &c)?, name };
            let (households, residents) = counts(conn, &area.code)?;
            Ok(AreaSummary { area, households, residents })
        })
        .collect()
}

pub(crate) fn units_under(conn: &Connection, roots: &[AreaCode]) -> Result<Vec<UnitPath>> {
    let roots = disjoint_roots(roots);
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = vec![Value::Text(AreaLevel::Unit.as_str().to_string())];
    let scope = scope_sql("u.code", &roots, &mut params);
    let sql = format!(
        "SELECT u.code, coalesce(s.name, ''), coalesce(c.name, ''), coalesce(p.name, ''), coalesce(b.name, ''), u.name \
         FROM areas u \
         LEFT JOIN areas s ON s.code = substr(u.code, 1, 9) \
         LEFT JOIN areas c ON c.code = substr(u.code, 1, 12) \
         LEFT JOIN areas p ON p.code = substr(u.code, 1, 15) \
         LEFT JOIN areas b ON b.code = substr(u.code, 1, 18) \
         WHERE u.level = ? AND {scope} ORDER BY u.code"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(unit, street, community, compound, building, unit_name)| {
            Ok(UnitPath { unit: area_code(&unit, "area", &unit)?, street, community, compound, building, unit_name })
        })
        .collect()
}

// ---- residents --------------------------------------------------------------------

pub(crate) fn resident(conn: &Connection, id: i64) -> Result<Option<Resident>> {
    let sql =
        format!("SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id WHERE r.id = ?1");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    stmt.query_row([id], RawResident::from_row).optional().db()?.map(RawResident::parse).transpose()
}

pub(crate) fn search_residents(
    conn: &Connection,
    roots: &[AreaCode],
    query: &ResidentQuery,
    limit: u32,
) -> Result<Vec<Resident>> {
    let roots = disjoint_roots(roots);
    if roots.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut params = Vec::new();
    let cond = match query {
        ResidentQuery::IdNumber(id) => {
            params.push(Value::Text(id.as_str().to_string()));
            "r.id_number = ?"
        }
        ResidentQuery::Phone(p) => {
            // Stored phones are normalised; typed ones are normalised the same way, and
            // text that is no phone number cannot match any.
            let Ok(phone) = Phone::parse(p) else {
                return Ok(Vec::new());
            };
            params.push(Value::Text(phone.as_str().to_string()));
            "r.phone = ?"
        }
        ResidentQuery::NamePrefix(prefix) => {
            if prefix.is_empty() {
                return Ok(Vec::new());
            }
            params.push(Value::Text(prefix.clone()));
            match prefix_end(prefix) {
                Some(end) => {
                    params.push(Value::Text(end));
                    "r.name >= ? AND r.name < ?"
                }
                None => "r.name >= ?",
            }
        }
    };
    let scope = scope_sql("r.unit_code", &roots, &mut params);
    params.push(Value::Integer(i64::from(limit)));
    query_residents(conn, &search_sql(cond, &scope), params)
}

/// The inner query picks the ids from the query's own index (residents_name carries
/// unit_code, so the scope is checked without touching the table) and only the rows that
/// survive the limit are read. `+id` stops the planner from walking every resident in id
/// order instead. A common surname over the whole district is ~35k index entries:
/// milliseconds this way, a table lookup for each of them otherwise.
pub(crate) fn search_sql(cond: &str, scope: &str) -> String {
    format!(
        "SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id \
         WHERE r.id IN (SELECT r.id FROM residents r WHERE {cond} AND {scope} ORDER BY +r.id LIMIT ?) \
         ORDER BY r.id"
    )
}

pub(crate) fn building_roster(conn: &Connection, building: &AreaCode) -> Result<Vec<RosterHousehold>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT h.id, h.unit_code, coalesce(a.name, ''), h.room FROM households h \
             LEFT JOIN areas a ON a.code = h.unit_code \
             WHERE h.unit_code >= ?1 AND h.unit_code < ?2 \
             ORDER BY h.unit_code, length(h.room), h.room",
        )
        .db()?;
    let rows = stmt
        .query_map(params![building.as_str(), building.range_end()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    drop(stmt);
    let sql = format!(
        "SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id \
         WHERE r.unit_code >= ?1 AND r.unit_code < ?2 ORDER BY r.id"
    );
    let members = query_residents(
        conn,
        &sql,
        vec![Value::Text(building.as_str().to_string()), Value::Text(building.range_end())],
    )?;
    let mut by_household: HashMap<i64, Vec<Resident>> = HashMap::new();
    for m in members {
        by_household.entry(m.household_id).or_default().push(m);
    }
    rows.into_iter()
        .map(|(household_id, unit, unit_name, room)| {
            Ok(RosterHousehold {
                household_id,
                unit: area_code(&unit, "household", &household_id)?,
                unit_name,
                room,
                members: by_household.remove(&household_id).unwrap_or_default(),
            })
        })
        .collect()
}

pub(crate) fn residents_under(conn: &Connection, roots: &[AreaCode]) -> Result<Vec<Resident>> {
    let roots = disjoint_roots(roots);
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = Vec::new();
    let scope = scope_sql("r.unit_code", &roots, &mut params);
    let sql = format!(
        "SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id \
         WHERE {scope} ORDER BY r.unit_code, length(h.room), h.room, r.id"
    );
    query_residents(conn, &sql, params)
}

pub(crate) fn existing_id_numbers(conn: &Connection, ids: &[IdNumber]) -> Result<Vec<IdNumber>> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM residents WHERE id_number = ?1").db()?;
    let mut seen: HashSet<&IdNumber> = HashSet::with_capacity(ids.len());
    let mut found: Vec<IdNumber> = Vec::new();
    for id in ids {
        if seen.insert(id) && stmt.exists([id.as_str()]).db()? {
            found.push(id.clone());
        }
    }
    Ok(found)
}

fn id_number_exists(position: usize) -> StoreError {
    StoreError::Conflict {
        code: "id_number_exists",
        message: format!("entry {position}: the ID number is already registered"),
    }
}

pub(crate) fn register_residents(conn: &Connection, new: &[NewResident], audit: &AuditEntry) -> Result<Vec<i64>> {
    let ids = register_residents_only(conn, new)?;
    audit::insert(conn, audit)?;
    Ok(ids)
}

/// The inserts of [`register_residents`], without its audit entry (the roster re-import
/// writes its own).
pub(crate) fn register_residents_only(conn: &Connection, new: &[NewResident]) -> Result<Vec<i64>> {
    let mut unit_exists = conn.prepare_cached("SELECT 1 FROM areas WHERE code = ?1 AND level = 'unit'").db()?;
    let mut id_taken = conn.prepare_cached("SELECT 1 FROM residents WHERE id_number = ?1").db()?;
    let mut find_household =
        conn.prepare_cached("SELECT id FROM households WHERE unit_code = ?1 AND room = ?2").db()?;
    let mut insert_household =
        conn.prepare_cached("INSERT INTO households (unit_code, room) VALUES (?1, ?2) RETURNING id").db()?;
    let mut insert_resident = conn
        .prepare_cached(
            "INSERT INTO residents \
             (household_id, unit_code, name, id_number, phone, bedridden, no_smartphone, temporary, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active') RETURNING id",
        )
        .db()?;
    let mut ids = Vec::with_capacity(new.len());
    for (i, n) in new.iter().enumerate() {
        if !unit_exists.exists([n.unit.as_str()]).db()? {
            return Err(StoreError::NotFound("unit"));
        }
        if id_taken.exists([n.id_number.as_str()]).db()? {
            return Err(id_number_exists(i + 1));
        }
        let household: i64 =
            match find_household.query_row(params![n.unit.as_str(), n.room], |r| r.get(0)).optional().db()? {
                Some(h) => h,
                None => insert_household.query_row(params![n.unit.as_str(), n.room], |r| r.get(0)).db()?,
            };
        let inserted = insert_resident.query_row(
            params![
                household,
                n.unit.as_str(),
                n.name.as_str(),
                n.id_number.as_str(),
                n.phone.as_ref().map(Phone::as_str),
                n.flags.bedridden,
                n.flags.no_smartphone,
                n.flags.temporary,
            ],
            |r| r.get::<_, i64>(0),
        );
        match inserted {
            Ok(id) => ids.push(id),
            // The same ID number twice in one batch.
            Err(e) if is_unique_violation(&e) => return Err(id_number_exists(i + 1)),
            Err(e) => return Err(backend(e)),
        }
    }
    Ok(ids)
}

pub(crate) fn correct_resident(
    conn: &Connection,
    id: i64,
    correction: &Correction,
    audit: &AuditEntry,
) -> Result<Resident> {
    let current = resident(conn, id)?.ok_or(StoreError::NotFound("resident"))?;
    let corrected = correction.apply(&current);
    conn.prepare_cached(
        "UPDATE residents SET phone = ?2, bedridden = ?3, no_smartphone = ?4, temporary = ?5, status = ?6 WHERE id = ?1",
    )
    .db()?
    .execute(params![
        id,
        corrected.phone.as_ref().map(Phone::as_str),
        corrected.flags.bedridden,
        corrected.flags.no_smartphone,
        corrected.flags.temporary,
        corrected.status.as_str(),
    ])
    .db()?;
    audit::insert(conn, audit)?;
    Ok(corrected)
}

// ---- grids and building leaders ---------------------------------------------------

fn grids_where(conn: &Connection, cond: &str, params: Vec<Value>) -> Result<Vec<Grid>> {
    let sql = format!(
        "SELECT g.id, g.community_code, g.name, g.worker_name, g.worker_phone FROM grids g WHERE {cond} ORDER BY g.id"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    drop(stmt);
    let mut buildings = conn
        .prepare_cached("SELECT building_code FROM grid_buildings WHERE grid_id = ?1 ORDER BY building_code")
        .db()?;
    rows.into_iter()
        .map(|(id, community, name, worker_name, worker_phone)| {
            let codes = buildings
                .query_map([id], |r| r.get::<_, String>(0))
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            let worker_phone = match worker_phone {
                Some(p) => Some(
                    Phone::parse(&p)
                        .map_err(|_| StoreError::Backend(format!("stored grid {id} has an invalid phone")))?,
                ),
                None => None,
            };
            Ok(Grid {
                id,
                community: area_code(&community, "grid", &id)?,
                name,
                buildings: codes.iter().map(|c| area_code(c, "grid", &id)).collect::<Result<_>>()?,
                worker_name,
                worker_phone,
            })
        })
        .collect()
}

pub(crate) fn grid(conn: &Connection, id: i64) -> Result<Option<Grid>> {
    Ok(grids_where(conn, "g.id = ?", vec![Value::Integer(id)])?.into_iter().next())
}

pub(crate) fn grids_under(conn: &Connection, root: &AreaCode) -> Result<Vec<Grid>> {
    let (start, end) = (Value::Text(root.as_str().to_string()), Value::Text(root.range_end()));
    grids_where(
        conn,
        "(g.community_code >= ?1 AND g.community_code < ?2) OR g.id IN ( \
           SELECT grid_id FROM grid_buildings WHERE building_code >= ?1 AND building_code < ?2)",
        vec![start, end],
    )
}

pub(crate) fn building_leader(conn: &Connection, building: &AreaCode) -> Result<Option<BuildingLeader>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT resident_id FROM building_leaders WHERE building_code = ?1")
        .db()?
        .query_row([building.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    Ok(id.map(|resident_id| BuildingLeader { building: building.clone(), resident_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }

    #[test]
    fn roots_are_made_disjoint() {
        let roots = [code("141102002"), code("141102001003"), code("141102001"), code("141102002"), code("141103")];
        let got: Vec<&str> = disjoint_roots(&roots).iter().map(|c| c.as_str()).collect();
        assert_eq!(got, ["141102001", "141102002", "141103"]);
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_end("王").as_deref(), Some("玌"));
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
