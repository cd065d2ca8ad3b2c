//! The [`Store`] methods in SQL.
//!
//! A subtree is always the range `code >= X AND code < X || ':'` on a `COLLATE "C"`
//! column ([`AreaCode::range_end`]), never `LIKE`, so that every scope is an index range
//! scan. Several roots are passed as two arrays (lower and upper bounds) and joined with
//! `unnest`, after dropping roots that lie inside another root so no row is seen twice.

use crate::PgStore;
use crate::error::{Db, corrupt};
use crate::rows::{self, AUDIT_COLUMNS, RESIDENT_COLUMNS, USER_COLUMNS, get};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::id_number::IdNumber;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{BuildingLeader, Correction, Grid, NewResident, Resident};
use cordon_domain::synth::Batch;
use cordon_store::{
    AreaSummary, AuditFilter, NewUser, RegistryStore, ResidentQuery, RosterHousehold, Session, StoreError, UnitPath,
    User,
};
use std::collections::HashMap;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

type Result<T> = std::result::Result<T, StoreError>;
type Param<'a> = &'a (dyn ToSql + Sync);

/// Lower and upper bounds of the subtrees under `roots`, without nested roots.
fn bounds(roots: &[AreaCode]) -> (Vec<String>, Vec<String>) {
    let mut sorted: Vec<&AreaCode> = roots.iter().collect();
    sorted.sort();
    sorted.dedup();
    // Sorted, a root's descendants follow it directly, so comparing with the last kept
    // root is enough.
    let mut kept: Vec<&AreaCode> = Vec::with_capacity(sorted.len());
    for root in sorted {
        if kept.last().is_some_and(|k| k.contains(root)) {
            continue;
        }
        kept.push(root);
    }
    kept.iter().map(|c| (c.as_str().to_string(), c.range_end())).unzip()
}

/// The smallest string above every string that starts with `prefix`, in code point (=
/// UTF-8 byte) order; `None` when there is none.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        while next <= u32::from(char::MAX) {
            if let Some(c) = char::from_u32(next) {
                chars.push(c);
                return Some(chars.into_iter().collect());
            }
            next += 1; // skip the surrogate gap
        }
    }
    None
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

async fn query<C: GenericClient + Sync>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Vec<tokio_postgres::Row>> {
    c.query(sql, params).await.db()
}

pub(crate) async fn insert_audit<C: GenericClient + Sync>(c: &C, entries: &[AuditEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.at).collect();
    let actor_id: Vec<Option<i64>> = entries.iter().map(|e| e.actor_id).collect();
    let actor: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let role: Vec<Option<&str>> = entries.iter().map(|e| e.role.map(|r| r.code())).collect();
    let action: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let target_kind: Vec<&str> = entries.iter().map(|e| e.target_kind.as_str()).collect();
    let target: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
    let request_id: Vec<&str> = entries.iter().map(|e| e.request_id.as_str()).collect();
    let detail: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
    c.execute(
        "INSERT INTO audit_log (at, actor_id, actor, role, action, target_kind, target, request_id, detail) \
         SELECT at, actor_id, actor, role, action, target_kind, target, request_id, detail \
         FROM unnest($1::timestamptz[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::text[], $9::text[]) \
              WITH ORDINALITY AS e (at, actor_id, actor, role, action, target_kind, target, request_id, detail, n) \
         ORDER BY n",
        &[&at, &actor_id, &actor, &role, &action, &target_kind, &target, &request_id, &detail],
    )
    .await
    .db()?;
    Ok(())
}

/// Registers residents inside the caller's transaction (households found or created),
/// without an audit entry; the new ids in input order.
pub(crate) async fn insert_residents<C: GenericClient + Sync>(tx: &C, new: &[NewResident]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(new.len());
    // Set-based, a chunk at a time: one round trip per statement per chunk, not per row
    // (a 430,000-row import is ~130 statements instead of ~900,000).
    for chunk in new.chunks(REGISTER_CHUNK) {
        let units: Vec<&str> = chunk.iter().map(|n| n.unit.as_str()).collect();
        let rooms: Vec<&str> = chunk.iter().map(|n| n.room.as_str()).collect();
        tx.execute(
            "INSERT INTO households (unit_code, room) \
             SELECT DISTINCT u, r FROM unnest($1::text[], $2::text[]) AS t(u, r) \
             ON CONFLICT (unit_code, room) DO NOTHING",
            &[&units, &rooms],
        )
        .await
        .db()?;
        let rows = tx
            .query(
                "SELECT h.id, h.unit_code, h.room FROM households h \
                 JOIN (SELECT DISTINCT u, r FROM unnest($1::text[], $2::text[]) AS t(u, r)) t \
                   ON h.unit_code = t.u AND h.room = t.r",
                &[&units, &rooms],
            )
            .await
            .db()?;
        let mut households = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = get(row, 0)?;
            let unit: String = get(row, 1)?;
            let room: String = get(row, 2)?;
            households.insert((unit, room), id);
        }
        let mut household_ids = Vec::with_capacity(chunk.len());
        for n in chunk {
            let key = (n.unit.as_str().to_string(), n.room.clone());
            household_ids.push(*households.get(&key).ok_or(StoreError::NotFound("household"))?);
        }
        let names: Vec<&str> = chunk.iter().map(|n| n.name.as_str()).collect();
        let id_numbers: Vec<&str> = chunk.iter().map(|n| n.id_number.as_str()).collect();
        let phones: Vec<Option<&str>> = chunk.iter().map(|n| n.phone.as_ref().map(|p| p.as_str())).collect();
        let bedridden: Vec<bool> = chunk.iter().map(|n| n.flags.bedridden).collect();
        let no_smartphone: Vec<bool> = chunk.iter().map(|n| n.flags.no_smartphone).collect();
        let temporary: Vec<bool> = chunk.iter().map(|n| n.flags.temporary).collect();
        let rows = tx
            .query(
                "INSERT INTO residents (household_id, unit_code, name, id_number, phone, bedridden, \
                                        no_smartphone, temporary, status) \
                 SELECT h, u, n, i, p, b, s, t, 'active' \
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                             $6::bool[], $7::bool[], $8::bool[]) WITH ORDINALITY AS x(h, u, n, i, p, b, s, t, ord) \
                 ORDER BY ord \
                 RETURNING id, id_number",
                &[&household_ids, &units, &names, &id_numbers, &phones, &bedridden, &no_smartphone, &temporary],
            )
            .await
            .db()?;
        // RETURNING's order is not promised: map back by the (unique) ID number.
        let mut by_number = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = get(row, 0)?;
            let number: String = get(row, 1)?;
            by_number.insert(number, id);
        }
        for n in chunk {
            ids.push(*by_number.get(n.id_number.as_str()).ok_or(StoreError::NotFound("resident"))?);
        }
    }
    Ok(ids)
}

pub(crate) async fn resident_by_id<C: GenericClient + Sync>(c: &C, id: i64, lock: bool) -> Result<Option<Resident>> {
    let sql = format!(
        "SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id WHERE r.id = $1{}",
        if lock { " FOR UPDATE OF r" } else { "" }
    );
    c.query_opt(&sql, &[&id]).await.db()?.as_ref().map(rows::resident).transpose()
}

/// Applies a correction to a resident and writes its audit entry, inside the caller's
/// transaction (the roster's corrections and a door knock's wrong-data outcome).
pub(crate) async fn correct_resident<C: GenericClient + Sync>(
    c: &C,
    id: i64,
    correction: &Correction,
    audit: &AuditEntry,
) -> Result<Resident> {
    let current = resident_by_id(c, id, true).await?.ok_or(StoreError::NotFound("resident"))?;
    let updated = correction.apply(&current);
    let phone = updated.phone.as_ref().map(|p| p.as_str());
    c.execute(
        "UPDATE residents SET phone = $2, bedridden = $3, no_smartphone = $4, temporary = $5, status = $6 \
         WHERE id = $1",
        &[
            &id,
            &phone,
            &updated.flags.bedridden,
            &updated.flags.no_smartphone,
            &updated.flags.temporary,
            &updated.status.as_str(),
        ],
    )
    .await
    .db()?;
    insert_audit(c, std::slice::from_ref(audit)).await?;
    Ok(updated)
}

/// Grids with their buildings in stored order.
async fn grids_where<C: GenericClient + Sync>(c: &C, condition: &str, params: &[Param<'_>]) -> Result<Vec<Grid>> {
    let sql = format!(
        "SELECT g.id, g.community_code, g.name, g.worker_name, g.worker_phone FROM grids g WHERE {condition} ORDER BY g.id"
    );
    let mut grids = Vec::new();
    for row in query(c, &sql, params).await? {
        let id: i64 = get(&row, 0)?;
        let community: &str = get(&row, 1)?;
        let phone: Option<&str> = get(&row, 4)?;
        grids.push(Grid {
            id,
            community: rows::area_code(community, "grid", id, "community_code")?,
            name: get(&row, 2)?,
            buildings: Vec::new(),
            worker_name: get(&row, 3)?,
            worker_phone: phone.map(Phone::parse).transpose().map_err(|_| corrupt("grid", id, "worker_phone"))?,
        });
    }
    if grids.is_empty() {
        return Ok(grids);
    }
    let ids: Vec<i64> = grids.iter().map(|g| g.id).collect();
    let mut by_id: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let rows = query(
        c,
        "SELECT grid_id, building_code FROM grid_buildings WHERE grid_id = ANY($1) ORDER BY grid_id, position, building_code",
        &[&ids],
    )
    .await?;
    for row in rows {
        let grid_id: i64 = get(&row, 0)?;
        let code: &str = get(&row, 1)?;
        let code = rows::area_code(code, "grid", grid_id, "building_code")?;
        if let Some(i) = by_id.get_mut(&grid_id) {
            grids[*i].buildings.push(code);
        }
    }
    Ok(grids)
}

/// Finds the household (unit, room) or creates it.
/// Rows per statement when registering residents.
const REGISTER_CHUNK: usize = 5_000;

fn summary(row: &tokio_postgres::Row) -> Result<AreaSummary> {
    let code: &str = get(row, 0)?;
    let households: i64 = get(row, 2)?;
    let residents: i64 = get(row, 3)?;
    Ok(AreaSummary {
        area: Area { code: rows::area_code(code, "area", code, "code")?, name: get(row, 1)? },
        households: u64::try_from(households).unwrap_or(0),
        residents: u64::try_from(residents).unwrap_or(0),
    })
}

/// An `areas` row `a` with the households that have an active resident under it and the
/// active residents (a household whose members all moved out is not counted).
const SUMMARY: &str = "SELECT a.code, a.name, c.households, c.residents FROM areas a \
     CROSS JOIN LATERAL (SELECT count(DISTINCT r.household_id) AS households, count(*) AS residents \
                         FROM residents r \
                         WHERE r.unit_code >= a.code AND r.unit_code < a.code || ':' AND r.status = 'active') c";

#[async_trait]
impl RegistryStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        crate::migrate::migrate(self).await
    }

    async fn load_batch(&self, batch: &Batch) -> Result<()> {
        crate::load::load_batch(self, batch).await
    }

    async fn finish_load(&self) -> Result<()> {
        crate::load::finish_load(self).await
    }

    // ---- areas ----------------------------------------------------------------------

    async fn area(&self, code: &AreaCode) -> Result<Option<Area>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached("SELECT name FROM areas WHERE code = $1").await.db()?;
        match c.query_opt(&stmt, &[&code.as_str()]).await.db()? {
            Some(row) => Ok(Some(Area { code: code.clone(), name: get(&row, 0)? })),
            None => Ok(None),
        }
    }

    async fn areas(&self, codes: &[AreaCode]) -> Result<Vec<Area>> {
        let c = self.client().await?;
        crate::scanpath::areas(&c, codes).await
    }

    async fn area_summary(&self, code: &AreaCode) -> Result<Option<AreaSummary>> {
        let c = self.client().await?;
        let sql = format!("{SUMMARY} WHERE a.code = $1");
        let stmt = c.prepare_cached(&sql).await.db()?;
        c.query_opt(&stmt, &[&code.as_str()]).await.db()?.as_ref().map(summary).transpose()
    }

    async fn children(&self, code: &AreaCode) -> Result<Vec<AreaSummary>> {
        let Some(level) = code.level().child() else {
            return Ok(Vec::new());
        };
        let c = self.client().await?;
        let sql = format!("{SUMMARY} WHERE a.level = $3 AND a.code >= $1 AND a.code < $2 ORDER BY a.code");
        let stmt = c.prepare_cached(&sql).await.db()?;
        let rows = c.query(&stmt, &[&code.as_str(), &code.range_end(), &level.as_str()]).await.db()?;
        rows.iter().map(summary).collect()
    }

    async fn units_under(&self, roots: &[AreaCode]) -> Result<Vec<UnitPath>> {
        let (lo, hi) = bounds(roots);
        if lo.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT u.code, coalesce(s.name, ''), coalesce(m.name, ''), coalesce(p.name, ''), \
                        coalesce(b.name, ''), u.name \
                 FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
                 JOIN areas u ON u.level = 'unit' AND u.code >= x.lo AND u.code < x.hi \
                 LEFT JOIN areas s ON s.code = left(u.code, 9) \
                 LEFT JOIN areas m ON m.code = left(u.code, 12) \
                 LEFT JOIN areas p ON p.code = left(u.code, 15) \
                 LEFT JOIN areas b ON b.code = left(u.code, 18) \
                 ORDER BY u.code",
            )
            .await
            .db()?;
        let rows = c.query(&stmt, &[&lo, &hi]).await.db()?;
        rows.iter()
            .map(|row| {
                let code: &str = get(row, 0)?;
                Ok(UnitPath {
                    unit: rows::area_code(code, "area", code, "code")?,
                    street: get(row, 1)?,
                    community: get(row, 2)?,
                    compound: get(row, 3)?,
                    building: get(row, 4)?,
                    unit_name: get(row, 5)?,
                })
            })
            .collect()
    }

    // ---- residents ------------------------------------------------------------------

    async fn resident(&self, id: i64) -> Result<Option<Resident>> {
        let c = self.client().await?;
        resident_by_id(&**c, id, false).await
    }

    async fn search_residents(&self, roots: &[AreaCode], query: &ResidentQuery, limit: u32) -> Result<Vec<Resident>> {
        let (lo, hi) = bounds(roots);
        if lo.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let lim = self::limit(limit);
        let in_scope = "EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
                        WHERE r.unit_code >= x.lo AND r.unit_code < x.hi)";
        let base = format!("SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id");
        let c = self.client().await?;
        let rows = match query {
            ResidentQuery::IdNumber(id) => {
                let sql = format!("{base} WHERE r.id_number = $4 AND {in_scope} ORDER BY r.id LIMIT $3");
                let stmt = c.prepare_cached(&sql).await.db()?;
                c.query(&stmt, &[&lo, &hi, &lim, &id.as_str()]).await.db()?
            }
            ResidentQuery::Phone(phone) => {
                let sql = format!("{base} WHERE r.phone = $4 AND {in_scope} ORDER BY r.id LIMIT $3");
                let stmt = c.prepare_cached(&sql).await.db()?;
                c.query(&stmt, &[&lo, &hi, &lim, phone]).await.db()?
            }
            ResidentQuery::NamePrefix(prefix) => match prefix_upper_bound(prefix) {
                // The range (in the operators of the text_pattern_ops index) finds the
                // rows; starts_with keeps the result exact.
                Some(upper) => {
                    let sql = format!(
                        "{base} WHERE r.name ~>=~ $4 AND r.name ~<~ $5 AND starts_with(r.name, $4) \
                         AND {in_scope} ORDER BY r.id LIMIT $3"
                    );
                    let stmt = c.prepare_cached(&sql).await.db()?;
                    c.query(&stmt, &[&lo, &hi, &lim, prefix, &upper]).await.db()?
                }
                None => {
                    let sql = format!("{base} WHERE starts_with(r.name, $4) AND {in_scope} ORDER BY r.id LIMIT $3");
                    let stmt = c.prepare_cached(&sql).await.db()?;
                    c.query(&stmt, &[&lo, &hi, &lim, prefix]).await.db()?
                }
            },
        };
        rows.iter().map(rows::resident).collect()
    }

    async fn building_roster(&self, building: &AreaCode) -> Result<Vec<RosterHousehold>> {
        let mut client = self.client().await?;
        // One snapshot for both statements, so members match their households.
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .db()?;
        let (lo, hi) = (building.as_str(), building.range_end());
        let households = tx
            .query(
                "SELECT h.id, h.unit_code, coalesce(a.name, ''), h.room FROM households h \
                 LEFT JOIN areas a ON a.code = h.unit_code \
                 WHERE h.unit_code >= $1 AND h.unit_code < $2 \
                 ORDER BY h.unit_code, length(h.room), h.room, h.id",
                &[&lo, &hi],
            )
            .await
            .db()?;
        let mut roster = Vec::with_capacity(households.len());
        let mut index = HashMap::with_capacity(households.len());
        for row in &households {
            let id: i64 = get(row, 0)?;
            let unit: &str = get(row, 1)?;
            index.insert(id, roster.len());
            roster.push(RosterHousehold {
                household_id: id,
                unit: rows::area_code(unit, "household", id, "unit_code")?,
                unit_name: get(row, 2)?,
                room: get(row, 3)?,
                members: Vec::new(),
            });
        }
        let members = tx
            .query(
                &format!(
                    "SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id \
                     WHERE r.unit_code >= $1 AND r.unit_code < $2 ORDER BY r.id"
                ),
                &[&lo, &hi],
            )
            .await
            .db()?;
        for row in &members {
            let r = rows::resident(row)?;
            if let Some(i) = index.get(&r.household_id) {
                roster[*i].members.push(r);
            }
        }
        tx.commit().await.db()?;
        Ok(roster)
    }

    async fn residents_under(&self, roots: &[AreaCode]) -> Result<Vec<Resident>> {
        let (lo, hi) = bounds(roots);
        if lo.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let sql = format!(
            "SELECT {RESIDENT_COLUMNS} FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
             JOIN residents r ON r.unit_code >= x.lo AND r.unit_code < x.hi \
             JOIN households h ON h.id = r.household_id \
             ORDER BY r.unit_code, length(h.room), h.room, r.id"
        );
        let stmt = c.prepare_cached(&sql).await.db()?;
        c.query(&stmt, &[&lo, &hi]).await.db()?.iter().map(rows::resident).collect()
    }

    async fn existing_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<IdNumber>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        let c = self.client().await?;
        let stmt = c.prepare_cached("SELECT id_number FROM residents WHERE id_number = ANY($1)").await.db()?;
        let rows = c.query(&stmt, &[&wanted]).await.db()?;
        let mut found = std::collections::HashSet::with_capacity(rows.len());
        for row in &rows {
            found.insert(get::<String>(row, 0)?);
        }
        // In the caller's order, each once.
        let mut out: Vec<IdNumber> = Vec::new();
        for id in ids {
            if found.remove(id.as_str()) {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    async fn register_residents(&self, new: &[NewResident], audit: &AuditEntry) -> Result<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let ids = insert_residents(&*tx, new).await?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()?;
        Ok(ids)
    }

    async fn residents_by_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<Resident>> {
        self.roster_residents_by_id_numbers(ids).await
    }

    async fn apply_roster(&self, write: &cordon_store::roster::RosterWrite, audit: &[AuditEntry]) -> Result<Vec<i64>> {
        self.roster_apply(write, audit).await
    }

    async fn correct_resident(&self, id: i64, correction: &Correction, audit: &AuditEntry) -> Result<Resident> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let updated = correct_resident(&*tx, id, correction, audit).await?;
        tx.commit().await.db()?;
        Ok(updated)
    }

    // ---- grids and building leaders ------------------------------------------------

    async fn grid(&self, id: i64) -> Result<Option<Grid>> {
        let c = self.client().await?;
        Ok(grids_where(&**c, "g.id = $1", &[&id]).await?.into_iter().next())
    }

    async fn grids_under(&self, root: &AreaCode) -> Result<Vec<Grid>> {
        let c = self.client().await?;
        grids_where(
            &**c,
            "(g.community_code >= $1 AND g.community_code < $2) OR EXISTS (SELECT 1 FROM grid_buildings gb \
             WHERE gb.grid_id = g.id AND gb.building_code >= $1 AND gb.building_code < $2)",
            &[&root.as_str(), &root.range_end()],
        )
        .await
    }

    async fn building_leader(&self, building: &AreaCode) -> Result<Option<BuildingLeader>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached("SELECT resident_id FROM building_leaders WHERE building_code = $1").await.db()?;
        match c.query_opt(&stmt, &[&building.as_str()]).await.db()? {
            Some(row) => Ok(Some(BuildingLeader { building: building.clone(), resident_id: get(&row, 0)? })),
            None => Ok(None),
        }
    }

    // ---- accounts -------------------------------------------------------------------

    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let c = self.client().await?;
        let (kind, reference) = rows::scope_columns(&user.scope);
        let sql = format!(
            "INSERT INTO users (username, display_name, role, scope_kind, scope_ref, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        );
        let row = c
            .query_one(
                &sql,
                &[
                    &user.username,
                    &user.display_name,
                    &user.role.code(),
                    &kind,
                    &reference,
                    &user.password_hash,
                    &user.created_at,
                ],
            )
            .await
            .db()?;
        rows::user(&row)
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).await.db()?;
        c.query_opt(&stmt, &[&id]).await.db()?.as_ref().map(rows::user).transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1")).await.db()?;
        c.query_opt(&stmt, &[&username]).await.db()?.as_ref().map(rows::user).transpose()
    }

    async fn users(&self) -> Result<Vec<User>> {
        let c = self.client().await?;
        let rows = c.query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"), &[]).await.db()?;
        rows.iter().map(rows::user).collect()
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        let c = self.client().await?;
        let n =
            c.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user_id, &password_hash]).await.db()?;
        if n == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .db()?;
        c.execute(
            &stmt,
            &[&session.token_hash, &session.user_id, &session.csrf_token, &session.created_at, &session.expires_at],
        )
        .await
        .db()?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .await
            .db()?;
        match c.query_opt(&stmt, &[&token_hash, &now]).await.db()? {
            Some(row) => Ok(Some(Session {
                token_hash: get(&row, 0)?,
                user_id: get(&row, 1)?,
                csrf_token: get(&row, 2)?,
                created_at: get(&row, 3)?,
                expires_at: get(&row, 4)?,
            })),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash]).await.db()?;
        Ok(())
    }

    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: i64,
        label: &str,
        created_at: DateTime<Utc>,
    ) -> Result<()> {
        use cordon_store::CredentialsStore;
        let token = cordon_store::credentials::NewApiToken {
            token_hash: token_hash.to_string(),
            user_id,
            name: label.to_string(),
            created_at,
            expires_at: created_at + chrono::Duration::days(cordon_store::credentials::DEFAULT_TOKEN_DAYS),
        };
        self.issue_api_token(&token).await.map(|_| ())
    }

    async fn login_throttle(
        &self,
        op: cordon_domain::security::ThrottleOp,
        keys: &[(cordon_domain::security::ThrottleKind, String)],
        now: DateTime<Utc>,
        rules: &cordon_domain::security::SecurityRules,
    ) -> Result<cordon_domain::security::LoginAttempt> {
        self.throttle(op, keys, now, rules).await
    }

    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        self.secret(name, candidate).await
    }

    // ---- audit ----------------------------------------------------------------------

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let c = self.client().await?;
        insert_audit(&**c, entries).await
    }

    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let lim = limit(filter.limit);
        // Conditions in a fixed order, so each combination of filters is one cached
        // statement.
        let conditions: [(&str, Option<Param<'_>>); 5] = [
            ("actor =", filter.actor.as_ref().map(|v| v as Param<'_>)),
            ("action =", filter.action.as_ref().map(|v| v as Param<'_>)),
            ("target_kind =", filter.target_kind.as_ref().map(|v| v as Param<'_>)),
            ("target =", filter.target.as_ref().map(|v| v as Param<'_>)),
            ("id <", filter.before_id.as_ref().map(|v| v as Param<'_>)),
        ];
        let mut params: Vec<Param<'_>> = vec![&lim];
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE true");
        for (condition, value) in conditions {
            if let Some(value) = value {
                params.push(value);
                sql.push_str(&format!(" AND {condition} ${}", params.len()));
            }
        }
        let family = filter.action_family.as_ref().map(|f| (f, cordon_store::action_family_range(f)));
        if let Some((f, (from, to))) = &family {
            params.push(f);
            params.push(from);
            params.push(to);
            let n = params.len();
            sql.push_str(&format!(" AND (action = ${} OR (action >= ${} AND action < ${}))", n - 2, n - 1, n));
        }
        sql.push_str(" ORDER BY id DESC LIMIT $1");
        let c = self.client().await?;
        let stmt = c.prepare_cached(&sql).await.db()?;
        c.query(&stmt, &params).await.db()?.iter().map(rows::audit_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }

    #[test]
    fn nested_roots_collapse() {
        let (lo, hi) = bounds(&[code("141102001003"), code("141102001"), code("141102002"), code("141102001")]);
        assert_eq!(lo, ["141102001", "141102002"]);
        assert_eq!(hi, ["141102001:", "141102002:"]);
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("王").unwrap(), "玌");
        assert_eq!(prefix_upper_bound("ab").unwrap(), "ac");
        assert_eq!(prefix_upper_bound("\u{D7FF}").unwrap(), "\u{E000}");
        assert_eq!(prefix_upper_bound(&format!("a{}", char::MAX)).unwrap(), "b");
        assert_eq!(prefix_upper_bound(""), None);
    }
}
