//! Roster re-import in SQL: the residents of a file's ID numbers (facts) and the writes of
//! a [`RosterWrite`] (adds, updates, moves out), set-based, in one transaction. The diff
//! itself is planned above the trait (`cordon_store::roster`).

use crate::PgStore;
use crate::error::Db;
use crate::rows::{self, RESIDENT_COLUMNS, get};
use crate::store::{insert_audit, insert_residents};
use cordon_domain::audit::AuditEntry;
use cordon_domain::id_number::IdNumber;
use cordon_domain::registry::Resident;
use cordon_store::StoreError;
use cordon_store::roster::RosterWrite;
use std::collections::HashMap;

type Result<T> = std::result::Result<T, StoreError>;

/// Rows per statement.
const CHUNK: usize = 5_000;

impl PgStore {
    pub(crate) async fn roster_residents_by_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<Resident>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id \
             WHERE r.id_number = ANY($1) ORDER BY r.id"
        );
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let wanted: Vec<&str> = chunk.iter().map(|i| i.as_str()).collect();
            for row in c.query(&sql, &[&wanted]).await.db()? {
                out.push(rows::resident(&row)?);
            }
        }
        out.sort_by_key(|r| r.id);
        out.dedup_by_key(|r| r.id);
        Ok(out)
    }

    pub(crate) async fn roster_apply(&self, write: &RosterWrite, audit: &[AuditEntry]) -> Result<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let ids = insert_residents(&*tx, &write.added).await?;
        for chunk in write.updated.chunks(CHUNK) {
            let units: Vec<&str> = chunk.iter().map(|(_, n)| n.unit.as_str()).collect();
            let rooms: Vec<&str> = chunk.iter().map(|(_, n)| n.room.as_str()).collect();
            let known: i64 = get(
                &tx.query_one("SELECT count(*) FROM areas WHERE level = 'unit' AND code = ANY($1)", &[&units])
                    .await
                    .db()?,
                0,
            )?;
            let distinct: std::collections::HashSet<&str> = units.iter().copied().collect();
            if known != distinct.len() as i64 {
                return Err(StoreError::NotFound("unit"));
            }
            tx.execute(
                "INSERT INTO households (unit_code, room) \
                 SELECT DISTINCT u, r FROM unnest($1::text[], $2::text[]) AS t(u, r) \
                 ON CONFLICT (unit_code, room) DO NOTHING",
                &[&units, &rooms],
            )
            .await
            .db()?;
            let found = tx
                .query(
                    "SELECT h.id, h.unit_code, h.room FROM households h \
                     JOIN (SELECT DISTINCT u, r FROM unnest($1::text[], $2::text[]) AS t(u, r)) t \
                       ON h.unit_code = t.u AND h.room = t.r",
                    &[&units, &rooms],
                )
                .await
                .db()?;
            let mut households: HashMap<(String, String), i64> = HashMap::with_capacity(found.len());
            for row in &found {
                households.insert((get(row, 1)?, get(row, 2)?), get(row, 0)?);
            }
            let mut household_ids = Vec::with_capacity(chunk.len());
            for (_, n) in chunk {
                let key = (n.unit.as_str().to_string(), n.room.clone());
                household_ids.push(*households.get(&key).ok_or(StoreError::NotFound("household"))?);
            }
            let resident_ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
            let names: Vec<&str> = chunk.iter().map(|(_, n)| n.name.as_str()).collect();
            let phones: Vec<Option<&str>> = chunk.iter().map(|(_, n)| n.phone.as_ref().map(|p| p.as_str())).collect();
            let bedridden: Vec<bool> = chunk.iter().map(|(_, n)| n.flags.bedridden).collect();
            let no_smartphone: Vec<bool> = chunk.iter().map(|(_, n)| n.flags.no_smartphone).collect();
            let temporary: Vec<bool> = chunk.iter().map(|(_, n)| n.flags.temporary).collect();
            let updated = tx
                .execute(
                    "UPDATE residents r SET household_id = x.h, unit_code = x.u, name = x.n, phone = x.p, \
                            bedridden = x.b, no_smartphone = x.s, temporary = x.t, status = 'active' \
                     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                                 $6::bool[], $7::bool[], $8::bool[]) AS x(id, h, u, n, p, b, s, t) \
                     WHERE r.id = x.id",
                    &[&resident_ids, &household_ids, &units, &names, &phones, &bedridden, &no_smartphone, &temporary],
                )
                .await
                .db()?;
            if updated != chunk.len() as u64 {
                return Err(StoreError::NotFound("resident"));
            }
        }
        for chunk in write.moved_out.chunks(CHUNK) {
            tx.execute("UPDATE residents SET status = 'moved_out' WHERE id = ANY($1) AND status = 'active'", &[&chunk])
                .await
                .db()?;
        }
        insert_audit(&*tx, audit).await?;
        tx.commit().await.db()?;
        Ok(ids)
    }
}
