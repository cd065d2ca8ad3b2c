//! Roster re-import in SQL: the residents of a file's ID numbers (facts) and the writes of
//! a [`RosterWrite`] (adds, updates, moves out) on the writer's transaction. The diff
//! itself is planned above the trait (`cordon_store::roster`).

use crate::audit;
use crate::registry::register_residents_only;
use crate::rows::{OrBackend, RESIDENT_COLS, RawResident};
use cordon_domain::audit::AuditEntry;
use cordon_domain::id_number::IdNumber;
use cordon_domain::phone::Phone;
use cordon_domain::registry::Resident;
use cordon_store::roster::RosterWrite;
use cordon_store::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn residents_by_id_numbers(conn: &Connection, ids: &[IdNumber]) -> Result<Vec<Resident>> {
    let sql = format!(
        "SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id WHERE r.id_number = ?1"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(raw) = stmt.query_row([id.as_str()], RawResident::from_row).optional().db()? {
            out.push(raw.parse()?);
        }
    }
    out.sort_by_key(|r| r.id);
    out.dedup_by_key(|r| r.id);
    Ok(out)
}

pub(crate) fn apply_roster(conn: &Connection, write: &RosterWrite, audit_entries: &[AuditEntry]) -> Result<Vec<i64>> {
    let ids = register_residents_only(conn, &write.added)?;
    let mut unit_exists = conn.prepare_cached("SELECT 1 FROM areas WHERE code = ?1 AND level = 'unit'").db()?;
    let mut find_household =
        conn.prepare_cached("SELECT id FROM households WHERE unit_code = ?1 AND room = ?2").db()?;
    let mut insert_household =
        conn.prepare_cached("INSERT INTO households (unit_code, room) VALUES (?1, ?2) RETURNING id").db()?;
    let mut update = conn
        .prepare_cached(
            "UPDATE residents SET household_id = ?2, unit_code = ?3, name = ?4, phone = ?5, bedridden = ?6, \
             no_smartphone = ?7, temporary = ?8, status = 'active' WHERE id = ?1",
        )
        .db()?;
    for (id, n) in &write.updated {
        if !unit_exists.exists([n.unit.as_str()]).db()? {
            return Err(StoreError::NotFound("unit"));
        }
        let household: i64 =
            match find_household.query_row(params![n.unit.as_str(), n.room], |r| r.get(0)).optional().db()? {
                Some(h) => h,
                None => insert_household.query_row(params![n.unit.as_str(), n.room], |r| r.get(0)).db()?,
            };
        let changed = update
            .execute(params![
                id,
                household,
                n.unit.as_str(),
                n.name.as_str(),
                n.phone.as_ref().map(Phone::as_str),
                n.flags.bedridden,
                n.flags.no_smartphone,
                n.flags.temporary,
            ])
            .db()?;
        if changed == 0 {
            return Err(StoreError::NotFound("resident"));
        }
    }
    let mut move_out =
        conn.prepare_cached("UPDATE residents SET status = 'moved_out' WHERE id = ?1 AND status = 'active'").db()?;
    for id in &write.moved_out {
        move_out.execute([id]).db()?;
    }
    for e in audit_entries {
        audit::insert(conn, e)?;
    }
    Ok(ids)
}
