//! [`CodesStore`] on PostgreSQL. Every change is one transaction with its audit entry;
//! nothing is cached, so an instance sees another's zone, revocation or profile switch at
//! its next read (the multi-instance test proves it within a second).

use crate::PgStore;
use crate::error::{Db, corrupt};
use crate::rows::get;
use crate::store::insert_audit;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::colour::{CaseKind, Colour, Direction, PersonFacts};
use cordon_domain::containment::quarantine::colour_quarantine;
use cordon_domain::pass::{Holder, NewPass, Pass};
use cordon_domain::testing::RoundAttendance;
use cordon_domain::token::SecretKey;
use cordon_domain::zone::{NewZone, RiskZone, ZoneLevel};
use cordon_store::codes::{
    CheckIn, Checkpoint, NewCheckpoint, NewSigningKey, NewVenue, PolicySetting, Scan, ScanRecord, ScanSubject,
    SigningKeyRecord, Venue, VenueKind,
};
use cordon_store::{CodesStore, StoreError};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;
type Param<'a> = &'a (dyn ToSql + Sync);

fn code(s: &str, table: &str, id: i64) -> Result<AreaCode> {
    AreaCode::parse(s).map_err(|_| corrupt(table, id, "area_code"))
}

async fn rows<C: GenericClient + Sync>(c: &C, sql: &str, p: &[Param<'_>]) -> Result<Vec<Row>> {
    c.query(sql, p).await.db()
}

// ---- zones -------------------------------------------------------------------------------

const ZONE_COLS: &str = "id, area_code, level, reason, starts_at, ends_at, designated_by, created_at";

fn zone(r: &Row) -> Result<RiskZone> {
    let id: i64 = get(r, 0)?;
    let level: &str = get(r, 2)?;
    Ok(RiskZone {
        id,
        area: code(get(r, 1)?, "risk zone", id)?,
        level: ZoneLevel::parse(level).map_err(|_| corrupt("risk zone", id, "level"))?,
        reason: get(r, 3)?,
        starts_at: get(r, 4)?,
        ends_at: get(r, 5)?,
        designated_by: get(r, 6)?,
        created_at: get(r, 7)?,
    })
}

// ---- keys --------------------------------------------------------------------------------

const KEY_COLS: &str = "id, district, public_key, created_at, retired_at, revoked_at";

fn key(r: &Row) -> Result<SigningKeyRecord> {
    key_at(r, 0)
}

/// A key from the columns of [`KEY_COLS`] starting at column `o`.
pub(crate) fn key_at(r: &Row, o: usize) -> Result<SigningKeyRecord> {
    let id: i64 = get(r, o)?;
    let public: Vec<u8> = get(r, o + 2)?;
    Ok(SigningKeyRecord {
        id,
        district: get(r, o + 1)?,
        public: <[u8; 32]>::try_from(public.as_slice()).map_err(|_| corrupt("signing key", id, "public_key"))?,
        created_at: get(r, o + 3)?,
        retired_at: get(r, o + 4)?,
        revoked_at: get(r, o + 5)?,
    })
}

// ---- checkpoints -------------------------------------------------------------------------

pub(crate) const CP_COLS: &str = "c.id, c.name, c.area_code, c.created_at, \
     coalesce((SELECT array_agg(g.user_id ORDER BY g.user_id) FROM checkpoint_guards g WHERE g.checkpoint_id = c.id), '{}')";

fn checkpoint(r: &Row) -> Result<Checkpoint> {
    checkpoint_at(r, 0)
}

/// A checkpoint from the columns of [`CP_COLS`] starting at column `o`.
pub(crate) fn checkpoint_at(r: &Row, o: usize) -> Result<Checkpoint> {
    let id: i64 = get(r, o)?;
    Ok(Checkpoint {
        id,
        name: get(r, o + 1)?,
        area: code(get(r, o + 2)?, "checkpoint", id)?,
        created_at: get(r, o + 3)?,
        guards: get(r, o + 4)?,
    })
}

const SCAN_COLS: &str =
    "id, checkpoint_id, at, direction, subject, resident_id, pass_id, colour, allowed, code, guard_id";

fn colour(s: Option<&str>) -> Option<Colour> {
    match s {
        Some("green") => Some(Colour::Green),
        Some("yellow") => Some(Colour::Yellow),
        Some("red") => Some(Colour::Red),
        _ => None,
    }
}

fn scan(r: &Row) -> Result<ScanRecord> {
    let direction: &str = get(r, 3)?;
    let subject: &str = get(r, 4)?;
    Ok(ScanRecord {
        id: get(r, 0)?,
        scan: Scan {
            checkpoint_id: get(r, 1)?,
            at: get(r, 2)?,
            direction: Direction::parse(direction),
            subject: ScanSubject::parse(subject),
            resident_id: get(r, 5)?,
            pass_id: get(r, 6)?,
            colour: colour(get(r, 7)?),
            allowed: get(r, 8)?,
            code: get(r, 9)?,
            guard_id: get(r, 10)?,
        },
    })
}

const VENUE_COLS: &str = "id, name, kind, area_code, created_at";

fn venue(r: &Row) -> Result<Venue> {
    let id: i64 = get(r, 0)?;
    let kind: &str = get(r, 2)?;
    Ok(Venue {
        id,
        name: get(r, 1)?,
        kind: VenueKind::parse(kind).map_err(|_| corrupt("venue", id, "kind"))?,
        area: code(get(r, 3)?, "venue", id)?,
        created_at: get(r, 4)?,
    })
}

const PASS_COLS: &str = "id, holder_kind, resident_id, plate, holder_label, purpose, scope, valid_from, valid_until, \
     issuer_id, issuer, issued_at, revoked_at, revoked_by, revoke_reason";

fn pass(r: &Row) -> Result<Pass> {
    let id: i64 = get(r, 0)?;
    let kind: &str = get(r, 1)?;
    let resident: Option<i64> = get(r, 2)?;
    let plate: Option<String> = get(r, 3)?;
    let holder = match (kind, resident, plate) {
        ("person", Some(r), _) => Holder::Person(r),
        ("vehicle", _, Some(p)) => Holder::Vehicle(p),
        _ => return Err(corrupt("pass", id, "holder")),
    };
    let scope: &str = get(r, 6)?;
    Ok(Pass {
        id,
        holder,
        holder_label: get(r, 4)?,
        purpose: get(r, 5)?,
        scope: scope.split_whitespace().map(|s| code(s, "pass", id)).collect::<Result<_>>()?,
        valid_from: get(r, 7)?,
        valid_until: get(r, 8)?,
        issuer_id: get(r, 9)?,
        issuer: get(r, 10)?,
        issued_at: get(r, 11)?,
        revoked_at: get(r, 12)?,
        revoked_by: get(r, 13)?,
        revoke_reason: get(r, 14)?,
    })
}

async fn pass_by_id<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<Pass>> {
    c.query_opt(&format!("SELECT {PASS_COLS} FROM passes WHERE id = $1"), &[&id])
        .await
        .db()?
        .as_ref()
        .map(pass)
        .transpose()
}

async fn checkpoint_by_id<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<Checkpoint>> {
    c.query_opt(&format!("SELECT {CP_COLS} FROM checkpoints c WHERE c.id = $1"), &[&id])
        .await
        .db()?
        .as_ref()
        .map(checkpoint)
        .transpose()
}

pub(crate) async fn policy_setting_on(c: &deadpool_postgres::Client) -> Result<Option<PolicySetting>> {
    // Read on every scan: a cached statement saves the parse round trip.
    let stmt =
        c.prepare_cached("SELECT name, source, updated_at, updated_by FROM policy_setting WHERE id = 1").await.db()?;
    let row = c.query_opt(&stmt, &[]).await.db()?;
    row.map(|r| {
        Ok(PolicySetting { name: get(&r, 0)?, source: get(&r, 1)?, updated_at: get(&r, 2)?, updated_by: get(&r, 3)? })
    })
    .transpose()
}

/// What the colour engine needs about one resident ([`PersonFacts`]), in two pipelined
/// queries; `None` when there is no such resident.
pub(crate) async fn person_facts_on(
    c: &deadpool_postgres::Client,
    resident_id: i64,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Option<PersonFacts>> {
    // The resident's unit, the zones open on its community, compound, building and unit
    // at `now`, and their names (zones are never designated higher).
    let zones_sql = c
        .prepare_cached(
            "SELECT r.unit_code, z.id, z.area_code, z.level, z.reason, z.starts_at, z.ends_at, z.designated_by, \
                    z.created_at, a.name \
             FROM residents r \
             LEFT JOIN risk_zones z ON z.area_code IN (substr(r.unit_code, 1, 12), substr(r.unit_code, 1, 15), \
                                                       substr(r.unit_code, 1, 18), r.unit_code) \
                  AND z.starts_at <= $2 AND (z.ends_at IS NULL OR z.ends_at > $2) \
             LEFT JOIN areas a ON a.code = z.area_code \
             WHERE r.id = $1",
        )
        .await
        .db()?;
    // What mass testing says — case, pool-positive pending, home control — and the
    // mandatory rounds covering the unit up to today (newest first) with attendance.
    let testing_sql = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE resident_id = $1), \
                    EXISTS (SELECT 1 FROM pool_positives WHERE resident_id = $1 AND status = 'pending'), \
                    EXISTS (SELECT 1 FROM home_controls h JOIN residents r ON r.household_id = h.household_id \
                            WHERE r.id = $1), \
                    t.date, \
                    EXISTS (SELECT 1 FROM samples s WHERE s.round_id = t.id AND s.resident_id = $1), \
                    EXISTS (SELECT 1 FROM exemptions e WHERE e.round_id = t.id AND e.resident_id = $1) \
             FROM (SELECT 1) one \
             LEFT JOIN LATERAL (SELECT tr.id, tr.date FROM residents me JOIN test_rounds tr \
                                  ON tr.mandatory AND tr.date <= $2 \
                                 AND me.unit_code >= tr.area_code AND me.unit_code < tr.area_code || ':' \
                                WHERE me.id = $1) t ON true \
             ORDER BY t.date DESC, t.id DESC",
        )
        .await
        .db()?;
    let (zp, tp): ([&(dyn tokio_postgres::types::ToSql + Sync); 2], [&(dyn tokio_postgres::types::ToSql + Sync); 2]) =
        ([&resident_id, &now], [&resident_id, &today]);
    let (zone_rows, testing_rows, order, contact) = tokio::try_join!(
        async { c.query(&zones_sql, &zp).await.db() },
        async { c.query(&testing_sql, &tp).await.db() },
        crate::containment::open_order_of(&***c, resident_id),
        crate::tracing::contact_class_of(&***c, resident_id)
    )?;
    let Some(first) = zone_rows.first() else { return Ok(None) };
    let unit = code(get(first, 0)?, "resident", resident_id)?;
    let mut zones = Vec::new();
    for r in &zone_rows {
        let id: Option<i64> = get(r, 1)?;
        let Some(id) = id else { continue };
        let level: &str = get(r, 3)?;
        let z = RiskZone {
            id,
            area: code(get(r, 2)?, "risk zone", id)?,
            level: ZoneLevel::parse(level).map_err(|_| corrupt("risk zone", id, "level"))?,
            reason: get(r, 4)?,
            starts_at: get(r, 5)?,
            ends_at: get(r, 6)?,
            designated_by: get(r, 7)?,
            created_at: get(r, 8)?,
        };
        let name: Option<String> = get(r, 9)?;
        let name = name.unwrap_or_else(|| z.area.to_string());
        zones.push((z, name));
    }
    let mut rounds = Vec::new();
    let (mut case, mut pool_positive_pending, mut home_control) = (false, false, false);
    for r in &testing_rows {
        case = get(r, 0)?;
        pool_positive_pending = get(r, 1)?;
        home_control = get(r, 2)?;
        let date: Option<NaiveDate> = get(r, 3)?;
        if let Some(date) = date {
            rounds.push(RoundAttendance { date, sampled: get(r, 4)?, exempt: get(r, 5)? });
        }
    }
    Ok(Some(PersonFacts {
        unit: Some(unit),
        zones,
        // An individual positive of mass testing is a case; its clinical class comes with
        // case investigation.
        case: case.then_some(CaseKind::Confirmed),
        // A confirmed contact's class colours at once (while the contact is open).
        contact: contact.and_then(|k| k.colour_class()),
        pool_positive_pending,
        // The colour follows a quarantine order while it is open.
        quarantine: order.and_then(|(state, centralised)| colour_quarantine(state, centralised)),
        home_control,
        rounds,
    }))
}

pub(crate) async fn checkpoint_on(c: &deadpool_postgres::Client, id: i64) -> Result<Option<Checkpoint>> {
    let stmt = c.prepare_cached(&format!("SELECT {CP_COLS} FROM checkpoints c WHERE c.id = $1")).await.db()?;
    c.query_opt(&stmt, &[&id]).await.db()?.as_ref().map(checkpoint).transpose()
}

pub(crate) async fn signing_key_on(c: &deadpool_postgres::Client, id: i64) -> Result<Option<SigningKeyRecord>> {
    let stmt = c.prepare_cached(&format!("SELECT {KEY_COLS} FROM signing_keys WHERE id = $1")).await.db()?;
    c.query_opt(&stmt, &[&id]).await.db()?.as_ref().map(key).transpose()
}

pub(crate) async fn passes_of_person_on(
    c: &deadpool_postgres::Client,
    resident_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Pass>> {
    // Read on every scan: a cached statement saves the parse round trip.
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {PASS_COLS} FROM passes WHERE resident_id = $1 AND revoked_at IS NULL \
             AND valid_from <= $2 AND valid_until > $2 ORDER BY id"
        ))
        .await
        .db()?;
    c.query(&stmt, &[&resident_id, &now]).await.db()?.iter().map(pass).collect()
}

/// A pass by id on a cached statement (read on every scan of a pass).
pub(crate) async fn pass_cached(c: &deadpool_postgres::Client, id: i64) -> Result<Option<Pass>> {
    let stmt = c.prepare_cached(&format!("SELECT {PASS_COLS} FROM passes WHERE id = $1")).await.db()?;
    c.query_opt(&stmt, &[&id]).await.db()?.as_ref().map(pass).transpose()
}

pub(crate) async fn insert_scans(c: &deadpool_postgres::Client, scans: &[Scan]) -> Result<Vec<i64>> {
    if scans.is_empty() {
        return Ok(Vec::new());
    }
    let cp: Vec<i64> = scans.iter().map(|s| s.checkpoint_id).collect();
    let at: Vec<DateTime<Utc>> = scans.iter().map(|s| s.at).collect();
    let dir: Vec<&str> = scans.iter().map(|s| s.direction.as_str()).collect();
    let subject: Vec<&str> = scans.iter().map(|s| s.subject.as_str()).collect();
    let resident: Vec<Option<i64>> = scans.iter().map(|s| s.resident_id).collect();
    let pass_id: Vec<Option<i64>> = scans.iter().map(|s| s.pass_id).collect();
    let colour: Vec<Option<&str>> = scans.iter().map(|s| s.colour.map(|c| c.as_str())).collect();
    let allowed: Vec<bool> = scans.iter().map(|s| s.allowed).collect();
    let code: Vec<&str> = scans.iter().map(|s| s.code.as_str()).collect();
    let guard: Vec<Option<i64>> = scans.iter().map(|s| s.guard_id).collect();
    // One statement: the batch of a device is atomic without an explicit transaction.
    let stmt = c
        .prepare_cached(
            "INSERT INTO checkpoint_scans (checkpoint_id, at, direction, subject, resident_id, pass_id, colour, allowed, code, guard_id) \
         SELECT cp, at, dir, subject, resident, pass_id, colour, allowed, code, guard \
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
                     $7::text[], $8::boolean[], $9::text[], $10::bigint[]) WITH ORDINALITY \
              AS s (cp, at, dir, subject, resident, pass_id, colour, allowed, code, guard, n) \
         ORDER BY n RETURNING id",
        )
        .await
        .db()?;
    let out = c
        .query(&stmt, &[&cp, &at, &dir, &subject, &resident, &pass_id, &colour, &allowed, &code, &guard])
        .await
        .db()?;
    let mut ids: Vec<i64> = out.iter().map(|r| get(r, 0)).collect::<Result<_>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// Lower and upper bounds of each root.
fn bounds(roots: &[AreaCode]) -> (Vec<String>, Vec<String>) {
    roots.iter().map(|r| (r.as_str().to_string(), r.range_end())).unzip()
}

#[async_trait]
impl CodesStore for PgStore {
    async fn policy_setting(&self) -> Result<Option<PolicySetting>> {
        let c = self.client().await?;
        policy_setting_on(&c).await
    }

    async fn set_policy(&self, s: &PolicySetting, audit: &AuditEntry) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        tx.execute(
            "INSERT INTO policy_setting (id, name, source, updated_at, updated_by) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, source = excluded.source, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            &[&s.name, &s.source, &s.updated_at, &s.updated_by],
        )
        .await
        .db()?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()
    }

    async fn designate_zone(&self, z: &NewZone, audit: &AuditEntry) -> Result<RiskZone> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        tx.execute(
            "UPDATE risk_zones SET ends_at = $2 WHERE area_code = $1 AND ends_at IS NULL",
            &[&z.area.as_str(), &z.starts_at],
        )
        .await
        .db()?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO risk_zones (area_code, level, reason, starts_at, designated_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ZONE_COLS}"
                ),
                &[&z.area.as_str(), &z.level.as_str(), &z.reason, &z.starts_at, &z.designated_by, &z.created_at],
            )
            .await
            .db()?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()?;
        zone(&row)
    }

    async fn zones(&self, root: &AreaCode, ancestors: bool, history: bool) -> Result<Vec<RiskZone>> {
        let c = self.client().await?;
        let lineage: Vec<String> = if ancestors {
            root.lineage().iter().filter(|a| *a != root).map(|a| a.as_str().to_string()).collect()
        } else {
            Vec::new()
        };
        let sql = format!(
            "SELECT {ZONE_COLS} FROM risk_zones WHERE ((area_code >= $1 AND area_code < $2) OR area_code = ANY($3)) \
             AND ($4 OR ends_at IS NULL) ORDER BY id DESC"
        );
        rows(&**c, &sql, &[&root.as_str(), &root.range_end(), &lineage, &history]).await?.iter().map(zone).collect()
    }

    async fn person_facts(
        &self,
        resident_id: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Option<PersonFacts>> {
        let c = self.client().await?;
        person_facts_on(&c, resident_id, now, today).await
    }

    async fn add_signing_key(&self, k: &NewSigningKey, audit: &AuditEntry) -> Result<SigningKeyRecord> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        tx.execute("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL", &[&k.created_at]).await.db()?;
        let public = k.secret.public_key().to_vec();
        let secret = k.secret.as_bytes().to_vec();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO signing_keys (district, public_key, secret_key, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING {KEY_COLS}"
                ),
                &[&k.district, &public, &secret, &k.created_at],
            )
            .await
            .db()?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()?;
        key(&row)
    }

    async fn current_signing_key(&self) -> Result<Option<(SigningKeyRecord, SecretKey)>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {KEY_COLS}, secret_key FROM signing_keys WHERE retired_at IS NULL AND revoked_at IS NULL \
                     ORDER BY id DESC LIMIT 1"
                ),
                &[],
            )
            .await
            .db()?;
        match row {
            Some(r) => {
                let k = key(&r)?;
                let secret: Vec<u8> = get(&r, 6)?;
                let secret =
                    SecretKey::from_slice(&secret).ok_or_else(|| corrupt("signing key", k.id, "secret_key"))?;
                Ok(Some((k, secret)))
            }
            None => Ok(None),
        }
    }

    async fn signing_key(&self, id: i64) -> Result<Option<SigningKeyRecord>> {
        let c = self.client().await?;
        signing_key_on(&c, id).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let c = self.client().await?;
        rows(&**c, &format!("SELECT {KEY_COLS} FROM signing_keys ORDER BY id DESC"), &[])
            .await?
            .iter()
            .map(key)
            .collect()
    }

    async fn revoke_signing_key(&self, id: i64, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let n = tx
            .execute(
                "UPDATE signing_keys SET revoked_at = coalesce(revoked_at, $2), retired_at = coalesce(retired_at, $2) WHERE id = $1",
                &[&id, &at],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(StoreError::NotFound("signing key"));
        }
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()
    }

    async fn create_checkpoint(&self, n: &NewCheckpoint, audit: &AuditEntry) -> Result<Checkpoint> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let row = tx
            .query_one(
                "INSERT INTO checkpoints (name, area_code, created_at) VALUES ($1, $2, $3) RETURNING id",
                &[&n.name, &n.area.as_str(), &n.created_at],
            )
            .await
            .db()?;
        let id: i64 = get(&row, 0)?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        let cp =
            checkpoint_by_id(&*tx, id).await?.ok_or_else(|| StoreError::Backend("new checkpoint vanished".into()))?;
        tx.commit().await.db()?;
        Ok(cp)
    }

    async fn checkpoint(&self, id: i64) -> Result<Option<Checkpoint>> {
        let c = self.client().await?;
        checkpoint_on(&c, id).await
    }

    async fn checkpoints_under(&self, roots: &[AreaCode]) -> Result<Vec<Checkpoint>> {
        let c = self.client().await?;
        let (lo, hi) = bounds(roots);
        let sql = format!(
            "SELECT {CP_COLS} FROM checkpoints c WHERE EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS b (lo, hi) \
             WHERE c.area_code >= b.lo COLLATE \"C\" AND c.area_code < b.hi COLLATE \"C\") ORDER BY c.id"
        );
        rows(&**c, &sql, &[&lo, &hi]).await?.iter().map(checkpoint).collect()
    }

    async fn checkpoints_of_guard(&self, user_id: i64) -> Result<Vec<Checkpoint>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {CP_COLS} FROM checkpoints c JOIN checkpoint_guards g0 ON g0.checkpoint_id = c.id \
             WHERE g0.user_id = $1 ORDER BY c.id"
        );
        rows(&**c, &sql, &[&user_id]).await?.iter().map(checkpoint).collect()
    }

    async fn assign_guard(&self, checkpoint_id: i64, user_id: i64, audit: &AuditEntry) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        if checkpoint_by_id(&*tx, checkpoint_id).await?.is_none() {
            return Err(StoreError::NotFound("checkpoint"));
        }
        tx.execute(
            "INSERT INTO checkpoint_guards (checkpoint_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&checkpoint_id, &user_id],
        )
        .await
        .db()?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()
    }

    async fn record_scans(&self, scans: &[Scan]) -> Result<Vec<i64>> {
        if scans.is_empty() {
            return Ok(Vec::new());
        }
        // Group commit: concurrent scans share one statement (see `scanpath`).
        self.scan_log.submit(scans.to_vec()).await
    }

    async fn recent_scans(&self, checkpoint_id: i64, limit: u32) -> Result<Vec<ScanRecord>> {
        let c = self.client().await?;
        let sql =
            format!("SELECT {SCAN_COLS} FROM checkpoint_scans WHERE checkpoint_id = $1 ORDER BY id DESC LIMIT $2");
        rows(&**c, &sql, &[&checkpoint_id, &i64::from(limit)]).await?.iter().map(scan).collect()
    }

    async fn scans_of_person(
        &self,
        resident_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScanRecord>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {SCAN_COLS} FROM checkpoint_scans WHERE resident_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id"
        );
        rows(&**c, &sql, &[&resident_id, &from, &to]).await?.iter().map(scan).collect()
    }

    async fn create_venue(&self, n: &NewVenue, audit: &AuditEntry) -> Result<Venue> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let row = tx
            .query_one(
                &format!("INSERT INTO venues (name, kind, area_code, created_at) VALUES ($1, $2, $3, $4) RETURNING {VENUE_COLS}"),
                &[&n.name, &n.kind.as_str(), &n.area.as_str(), &n.created_at],
            )
            .await
            .db()?;
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()?;
        venue(&row)
    }

    async fn venue(&self, id: i64) -> Result<Option<Venue>> {
        let c = self.client().await?;
        c.query_opt(&format!("SELECT {VENUE_COLS} FROM venues WHERE id = $1"), &[&id])
            .await
            .db()?
            .as_ref()
            .map(venue)
            .transpose()
    }

    async fn venues_under(&self, roots: &[AreaCode]) -> Result<Vec<Venue>> {
        let c = self.client().await?;
        let (lo, hi) = bounds(roots);
        let sql = format!(
            "SELECT {VENUE_COLS} FROM venues v WHERE EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS b (lo, hi) \
             WHERE v.area_code >= b.lo COLLATE \"C\" AND v.area_code < b.hi COLLATE \"C\") ORDER BY id"
        );
        rows(&**c, &sql, &[&lo, &hi]).await?.iter().map(venue).collect()
    }

    async fn record_checkin(&self, venue_id: i64, resident_id: i64, at: DateTime<Utc>) -> Result<CheckIn> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO venue_checkins (venue_id, resident_id, at) VALUES ($1, $2, $3) RETURNING id",
                &[&venue_id, &resident_id, &at],
            )
            .await
            .db()?;
        Ok(CheckIn { id: get(&row, 0)?, venue_id, resident_id, at })
    }

    async fn venue_visits(&self, venue_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CheckIn>> {
        let c = self.client().await?;
        rows(
            &**c,
            "SELECT id, venue_id, resident_id, at FROM venue_checkins WHERE venue_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
            &[&venue_id, &from, &to],
        )
        .await?
        .iter()
        .map(|r| Ok(CheckIn { id: get(r, 0)?, venue_id: get(r, 1)?, resident_id: get(r, 2)?, at: get(r, 3)? }))
        .collect()
    }

    async fn issue_pass(&self, n: &NewPass, audit: &AuditEntry) -> Result<Pass> {
        let (kind, resident, plate) = match &n.holder {
            Holder::Person(id) => ("person", Some(*id), None),
            Holder::Vehicle(p) => ("vehicle", None, Some(p.clone())),
        };
        let scope: Vec<&str> = n.scope.iter().map(|s| s.as_str()).collect();
        let scope = scope.join(" ");
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        // The holder rule, on the holder's unit as this transaction sees it (locked, so a
        // move out of scope cannot slip in between).
        if let Holder::Person(id) = n.holder {
            let unit = tx
                .query_opt("SELECT unit_code FROM residents WHERE id = $1 FOR SHARE", &[&id])
                .await
                .db()?
                .map(|r| get::<String>(&r, 0))
                .transpose()?
                .and_then(|u| AreaCode::parse(&u).ok());
            n.check_holder(unit.as_ref()).map_err(|_| StoreError::NotFound("resident"))?;
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO passes (holder_kind, resident_id, plate, holder_label, purpose, scope, valid_from, valid_until, \
                     issuer_id, issuer, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {PASS_COLS}"
                ),
                &[&kind, &resident, &plate, &n.holder_label, &n.purpose, &scope, &n.valid_from, &n.valid_until, &n.issuer_id, &n.issuer, &n.issued_at],
            )
            .await
            .db()?;
        let p = pass(&row)?;
        let mut a = audit.clone();
        a.target = p.id.to_string();
        insert_audit(&*tx, std::slice::from_ref(&a)).await?;
        tx.commit().await.db()?;
        Ok(p)
    }

    async fn pass(&self, id: i64) -> Result<Option<Pass>> {
        let c = self.client().await?;
        pass_by_id(&**c, id).await
    }

    async fn passes(&self, limit: u32) -> Result<Vec<Pass>> {
        let c = self.client().await?;
        rows(&**c, &format!("SELECT {PASS_COLS} FROM passes ORDER BY id DESC LIMIT $1"), &[&i64::from(limit)])
            .await?
            .iter()
            .map(pass)
            .collect()
    }

    async fn passes_of_person(&self, resident_id: i64, now: DateTime<Utc>) -> Result<Vec<Pass>> {
        let c = self.client().await?;
        passes_of_person_on(&c, resident_id, now).await
    }

    async fn scan_context(
        &self,
        checkpoint_id: Option<i64>,
        key_id: i64,
        kind: cordon_domain::token::SubjectKind,
        subject: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<cordon_store::codes::ScanContext> {
        let c = self.client().await?;
        crate::scanpath::scan_context(&c, checkpoint_id, key_id, kind, subject, now, today).await
    }

    async fn revoke_pass(
        &self,
        id: i64,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
        audit: &AuditEntry,
    ) -> Result<Pass> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let n = tx
            .execute(
                "UPDATE passes SET revoked_at = coalesce(revoked_at, $2), revoked_by = coalesce(revoked_by, $3), \
                 revoke_reason = coalesce(revoke_reason, $4) WHERE id = $1",
                &[&id, &at, &by, &reason],
            )
            .await
            .db()?;
        if n == 0 {
            return Err(StoreError::NotFound("pass"));
        }
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        let p = pass_by_id(&*tx, id).await?.ok_or(StoreError::NotFound("pass"))?;
        tx.commit().await.db()?;
        Ok(p)
    }
}
