//! [`CodesStore`] on SQLite: policy setting, risk zones, signing keys, checkpoints and
//! their scans, venues and check-ins, passes. Writes are one `IMMEDIATE` transaction on
//! the writer with their audit entry; reads go to the read pool. Secret keys leave this
//! module only inside [`SecretKey`], whose `Debug` is redacted.

use crate::SqliteStore;
use crate::audit;
use crate::rows::{OrBackend, parse_ts, ts};
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
use cordon_store::{CodesStore, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

fn corrupt(table: &str, id: i64, column: &str) -> StoreError {
    StoreError::Backend(format!("stored {table} {id} has an invalid {column}"))
}

fn opt_ts(s: Option<String>, table: &str, id: i64) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, table, &id)).transpose()
}

fn code(s: &str, table: &str, id: i64) -> Result<AreaCode> {
    AreaCode::parse(s).map_err(|_| corrupt(table, id, "area code"))
}

// ---- policy ------------------------------------------------------------------------------

pub(crate) fn policy_setting(c: &Connection) -> Result<Option<PolicySetting>> {
    c.prepare_cached("SELECT name, source, updated_at, updated_by FROM policy_setting WHERE id = 1")
        .db()?
        .query_row([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .optional()
        .db()?
        .map(|(name, source, at, by)| {
            Ok(PolicySetting { name, source, updated_at: parse_ts(&at, "policy_setting", &1)?, updated_by: by })
        })
        .transpose()
}

fn set_policy(c: &Connection, s: &PolicySetting, a: &AuditEntry) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO policy_setting (id, name, source, updated_at, updated_by) VALUES (1, ?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, source = excluded.source, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .db()?
    .execute(params![s.name, s.source, ts(s.updated_at), s.updated_by])
    .db()?;
    audit::insert(c, a)
}

// ---- zones -------------------------------------------------------------------------------

const ZONE_COLS: &str = "id, area_code, level, reason, starts_at, ends_at, designated_by, created_at";

fn zone_row(r: &Row<'_>) -> rusqlite::Result<RawZone> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

type RawZone = (i64, String, String, String, String, Option<String>, String, String);

fn parse_zone(z: RawZone) -> Result<RiskZone> {
    let (id, area, level, reason, starts, ends, by, created) = z;
    Ok(RiskZone {
        id,
        area: code(&area, "risk zone", id)?,
        level: ZoneLevel::parse(&level).map_err(|_| corrupt("risk zone", id, "level"))?,
        reason,
        starts_at: parse_ts(&starts, "risk zone", &id)?,
        ends_at: opt_ts(ends, "risk zone", id)?,
        designated_by: by,
        created_at: parse_ts(&created, "risk zone", &id)?,
    })
}

fn designate_zone(c: &Connection, z: &NewZone, a: &AuditEntry) -> Result<RiskZone> {
    // The open designation of this area ends where the new one starts.
    c.prepare_cached("UPDATE risk_zones SET ends_at = ?2 WHERE area_code = ?1 AND ends_at IS NULL")
        .db()?
        .execute(params![z.area.as_str(), ts(z.starts_at)])
        .db()?;
    c.prepare_cached(
        "INSERT INTO risk_zones (area_code, level, reason, starts_at, designated_by, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .db()?
    .execute(params![z.area.as_str(), z.level.as_str(), z.reason, ts(z.starts_at), z.designated_by, ts(z.created_at)])
    .db()?;
    let id = c.last_insert_rowid();
    audit::insert(c, a)?;
    let raw = c
        .prepare_cached(&format!("SELECT {ZONE_COLS} FROM risk_zones WHERE id = ?1"))
        .db()?
        .query_row([id], zone_row)
        .db()?;
    parse_zone(raw)
}

fn zones(c: &Connection, root: &AreaCode, ancestors: bool, history: bool) -> Result<Vec<RiskZone>> {
    let open = if history { "" } else { " AND ends_at IS NULL" };
    let mut out = Vec::new();
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {ZONE_COLS} FROM risk_zones WHERE area_code >= ?1 AND area_code < ?2{open} ORDER BY id DESC"
        ))
        .db()?;
    for raw in stmt.query_map(params![root.as_str(), root.range_end()], zone_row).db()? {
        out.push(parse_zone(raw.db()?)?);
    }
    if ancestors {
        let mut stmt = c
            .prepare_cached(&format!("SELECT {ZONE_COLS} FROM risk_zones WHERE area_code = ?1{open} ORDER BY id DESC"))
            .db()?;
        for a in root.lineage().iter().filter(|a| *a != root) {
            for raw in stmt.query_map([a.as_str()], zone_row).db()? {
                out.push(parse_zone(raw.db()?)?);
            }
        }
        out.sort_by_key(|z| std::cmp::Reverse(z.id));
    }
    Ok(out)
}

/// What the colour engine needs about one resident ([`PersonFacts`]); `None` when there is
/// no such resident. The mandatory rounds are read newest first and stop at the newest
/// one the person attended: the count of consecutive misses needs nothing older.
pub(crate) fn person_facts(
    c: &Connection,
    resident_id: i64,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Option<PersonFacts>> {
    let unit: Option<String> = c
        .prepare_cached("SELECT unit_code FROM residents WHERE id = ?1")
        .db()?
        .query_row([resident_id], |r| r.get(0))
        .optional()
        .db()?;
    let Some(unit) = unit else { return Ok(None) };
    let unit = code(&unit, "resident", resident_id)?;
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {ZONE_COLS}, (SELECT name FROM areas WHERE code = z.area_code) FROM risk_zones z \
             WHERE area_code = ?1 AND starts_at <= ?2 AND (ends_at IS NULL OR ends_at > ?2)"
        ))
        .db()?;
    let mut zones = Vec::new();
    // Zones are designated at community level and below: the district and street levels
    // of the lineage can hold none.
    for a in unit.lineage().iter().skip(2) {
        let rows = stmt
            .query_map(params![a.as_str(), ts(now)], |r| Ok((zone_row(r)?, r.get::<_, Option<String>>(8)?)))
            .db()?;
        for row in rows {
            let (raw, name) = row.db()?;
            let z = parse_zone(raw)?;
            let name = name.unwrap_or_else(|| z.area.to_string());
            zones.push((z, name));
        }
    }
    let (case, pool_positive_pending, home_control): (bool, bool, bool) = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE resident_id = ?1), \
                    EXISTS (SELECT 1 FROM pool_positives WHERE resident_id = ?1 AND status = 'pending'), \
                    EXISTS (SELECT 1 FROM home_controls h JOIN residents r ON r.household_id = h.household_id \
                            WHERE r.id = ?1)",
        )
        .db()?
        .query_row([resident_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?;
    let mut stmt = c
        .prepare_cached(
            "SELECT t.date, \
                    EXISTS (SELECT 1 FROM samples s WHERE s.round_id = t.id AND s.resident_id = ?1), \
                    EXISTS (SELECT 1 FROM exemptions e WHERE e.round_id = t.id AND e.resident_id = ?1) \
             FROM test_rounds t \
             WHERE t.mandatory = 1 AND t.date <= ?2 AND ?3 >= t.area_code AND ?3 < t.area_code || ':' \
             ORDER BY t.date DESC, t.id DESC",
        )
        .db()?;
    let mut rounds = Vec::new();
    let mut rows = stmt.query(params![resident_id, today.to_string(), unit.as_str()]).db()?;
    while let Some(r) = rows.next().db()? {
        let date: String = r.get(0).db()?;
        let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| StoreError::Backend(format!("test round date does not parse: {date}")))?;
        let a = RoundAttendance { date, sampled: r.get(1).db()?, exempt: r.get(2).db()? };
        rounds.push(a);
        if a.sampled || a.exempt {
            break;
        }
    }
    let order = crate::containment::open_order_of(c, resident_id)?;
    Ok(Some(PersonFacts {
        unit: Some(unit),
        zones,
        // An individual positive of mass testing is a case; its clinical class comes with
        // case investigation.
        case: case.then_some(CaseKind::Confirmed),
        // A confirmed contact's class colours at once (while the contact is open).
        contact: crate::tracing::contact_class_of(c, resident_id)?.and_then(|k| k.colour_class()),
        pool_positive_pending,
        // The colour follows a quarantine order while it is open.
        quarantine: order.and_then(|(state, centralised)| colour_quarantine(state, centralised)),
        home_control,
        rounds,
    }))
}

// ---- signing keys ------------------------------------------------------------------------

const KEY_COLS: &str = "id, district, public_key, created_at, retired_at, revoked_at";

type RawKey = (i64, String, Vec<u8>, String, Option<String>, Option<String>);

fn key_row(r: &Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn parse_key(k: RawKey) -> Result<SigningKeyRecord> {
    let (id, district, public, created, retired, revoked) = k;
    Ok(SigningKeyRecord {
        id,
        district,
        public: <[u8; 32]>::try_from(public.as_slice()).map_err(|_| corrupt("signing key", id, "public key"))?,
        created_at: parse_ts(&created, "signing key", &id)?,
        retired_at: opt_ts(retired, "signing key", id)?,
        revoked_at: opt_ts(revoked, "signing key", id)?,
    })
}

pub(crate) fn signing_key(c: &Connection, id: i64) -> Result<Option<SigningKeyRecord>> {
    c.prepare_cached(&format!("SELECT {KEY_COLS} FROM signing_keys WHERE id = ?1"))
        .db()?
        .query_row([id], key_row)
        .optional()
        .db()?
        .map(parse_key)
        .transpose()
}

fn add_signing_key(c: &Connection, k: &NewSigningKey, a: &AuditEntry) -> Result<SigningKeyRecord> {
    c.prepare_cached("UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL")
        .db()?
        .execute([ts(k.created_at)])
        .db()?;
    c.prepare_cached("INSERT INTO signing_keys (district, public_key, secret_key, created_at) VALUES (?1, ?2, ?3, ?4)")
        .db()?
        .execute(params![k.district, k.secret.public_key().to_vec(), k.secret.as_bytes().to_vec(), ts(k.created_at)])
        .db()?;
    let id = c.last_insert_rowid();
    audit::insert(c, a)?;
    signing_key(c, id)?.ok_or_else(|| StoreError::Backend("new signing key vanished".into()))
}

fn current_signing_key(c: &Connection) -> Result<Option<(SigningKeyRecord, SecretKey)>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLS}, secret_key FROM signing_keys WHERE retired_at IS NULL AND revoked_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        ))
        .db()?
        .query_row([], |r| Ok((key_row(r)?, r.get::<_, Vec<u8>>(6)?)))
        .optional()
        .db()?;
    match row {
        Some((k, secret)) => {
            let id = k.0;
            let secret = SecretKey::from_slice(&secret).ok_or_else(|| corrupt("signing key", id, "secret key"))?;
            Ok(Some((parse_key(k)?, secret)))
        }
        None => Ok(None),
    }
}

fn signing_keys(c: &Connection) -> Result<Vec<SigningKeyRecord>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {KEY_COLS} FROM signing_keys ORDER BY id DESC")).db()?;
    let raw = stmt.query_map([], key_row).db()?.collect::<rusqlite::Result<Vec<_>>>().db()?;
    raw.into_iter().map(parse_key).collect()
}

fn revoke_signing_key(c: &Connection, id: i64, at: DateTime<Utc>, a: &AuditEntry) -> Result<()> {
    let n = c
        .prepare_cached("UPDATE signing_keys SET revoked_at = coalesce(revoked_at, ?2), retired_at = coalesce(retired_at, ?2) WHERE id = ?1")
        .db()?
        .execute(params![id, ts(at)])
        .db()?;
    if n == 0 {
        return Err(StoreError::NotFound("signing key"));
    }
    audit::insert(c, a)
}

// ---- checkpoints -------------------------------------------------------------------------

fn load_checkpoints(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Checkpoint>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let raw = stmt
        .query_map(p, |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let mut guards =
        c.prepare_cached("SELECT user_id FROM checkpoint_guards WHERE checkpoint_id = ?1 ORDER BY user_id").db()?;
    let mut out = Vec::with_capacity(raw.len());
    for (id, name, area, created) in raw {
        let g = guards.query_map([id], |r| r.get(0)).db()?.collect::<rusqlite::Result<Vec<i64>>>().db()?;
        out.push(Checkpoint {
            id,
            name,
            area: code(&area, "checkpoint", id)?,
            created_at: parse_ts(&created, "checkpoint", &id)?,
            guards: g,
        });
    }
    Ok(out)
}

const CP_COLS: &str = "c.id, c.name, c.area_code, c.created_at";

pub(crate) fn checkpoint(c: &Connection, id: i64) -> Result<Option<Checkpoint>> {
    Ok(load_checkpoints(c, &format!("SELECT {CP_COLS} FROM checkpoints c WHERE c.id = ?1"), &[&id])?.into_iter().next())
}

fn create_checkpoint(c: &Connection, n: &NewCheckpoint, a: &AuditEntry) -> Result<Checkpoint> {
    c.prepare_cached("INSERT INTO checkpoints (name, area_code, created_at) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![n.name, n.area.as_str(), ts(n.created_at)])
        .db()?;
    let id = c.last_insert_rowid();
    audit::insert(c, a)?;
    checkpoint(c, id)?.ok_or_else(|| StoreError::Backend("new checkpoint vanished".into()))
}

fn checkpoints_under(c: &Connection, roots: &[AreaCode]) -> Result<Vec<Checkpoint>> {
    let mut out: Vec<Checkpoint> = Vec::new();
    for r in roots {
        let end = r.range_end();
        for cp in load_checkpoints(
            c,
            &format!("SELECT {CP_COLS} FROM checkpoints c WHERE c.area_code >= ?1 AND c.area_code < ?2 ORDER BY c.id"),
            &[&r.as_str(), &end],
        )? {
            if !out.iter().any(|o| o.id == cp.id) {
                out.push(cp);
            }
        }
    }
    out.sort_by_key(|c| c.id);
    Ok(out)
}

fn checkpoints_of_guard(c: &Connection, user_id: i64) -> Result<Vec<Checkpoint>> {
    load_checkpoints(
        c,
        &format!(
            "SELECT {CP_COLS} FROM checkpoints c JOIN checkpoint_guards g ON g.checkpoint_id = c.id \
             WHERE g.user_id = ?1 ORDER BY c.id"
        ),
        &[&user_id],
    )
}

fn assign_guard(c: &Connection, checkpoint_id: i64, user_id: i64, a: &AuditEntry) -> Result<()> {
    if checkpoint(c, checkpoint_id)?.is_none() {
        return Err(StoreError::NotFound("checkpoint"));
    }
    c.prepare_cached("INSERT OR IGNORE INTO checkpoint_guards (checkpoint_id, user_id) VALUES (?1, ?2)")
        .db()?
        .execute(params![checkpoint_id, user_id])
        .db()?;
    audit::insert(c, a)
}

pub(crate) fn record_scans(c: &Connection, scans: &[Scan]) -> Result<Vec<i64>> {
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO checkpoint_scans (checkpoint_id, at, direction, subject, resident_id, pass_id, colour, allowed, code, guard_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?;
    let mut ids = Vec::with_capacity(scans.len());
    for s in scans {
        stmt.execute(params![
            s.checkpoint_id,
            ts(s.at),
            s.direction.as_str(),
            s.subject.as_str(),
            s.resident_id,
            s.pass_id,
            s.colour.map(|c| c.as_str()),
            s.allowed,
            s.code,
            s.guard_id
        ])
        .db()?;
        ids.push(c.last_insert_rowid());
    }
    Ok(ids)
}

const SCAN_COLS: &str =
    "id, checkpoint_id, at, direction, subject, resident_id, pass_id, colour, allowed, code, guard_id";

fn scan_row(r: &Row<'_>) -> rusqlite::Result<RawScan> {
    Ok(RawScan {
        id: r.get(0)?,
        checkpoint_id: r.get(1)?,
        at: r.get(2)?,
        direction: r.get(3)?,
        subject: r.get(4)?,
        resident_id: r.get(5)?,
        pass_id: r.get(6)?,
        colour: r.get(7)?,
        allowed: r.get(8)?,
        code: r.get(9)?,
        guard_id: r.get(10)?,
    })
}

struct RawScan {
    id: i64,
    checkpoint_id: i64,
    at: String,
    direction: String,
    subject: String,
    resident_id: Option<i64>,
    pass_id: Option<i64>,
    colour: Option<String>,
    allowed: bool,
    code: String,
    guard_id: Option<i64>,
}

pub(crate) fn parse_colour(s: &str) -> Option<Colour> {
    match s {
        "green" => Some(Colour::Green),
        "yellow" => Some(Colour::Yellow),
        "red" => Some(Colour::Red),
        _ => None,
    }
}

impl RawScan {
    fn parse(self) -> Result<ScanRecord> {
        Ok(ScanRecord {
            id: self.id,
            scan: Scan {
                checkpoint_id: self.checkpoint_id,
                at: parse_ts(&self.at, "scan", &self.id)?,
                direction: Direction::parse(&self.direction),
                subject: ScanSubject::parse(&self.subject),
                resident_id: self.resident_id,
                pass_id: self.pass_id,
                colour: self.colour.as_deref().and_then(parse_colour),
                allowed: self.allowed,
                code: self.code,
                guard_id: self.guard_id,
            },
        })
    }
}

fn scans(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<ScanRecord>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let raw = stmt.query_map(p, scan_row).db()?.collect::<rusqlite::Result<Vec<_>>>().db()?;
    raw.into_iter().map(RawScan::parse).collect()
}

// ---- venues ------------------------------------------------------------------------------

const VENUE_COLS: &str = "id, name, kind, area_code, created_at";

fn venues(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Venue>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let raw = stmt
        .query_map(p, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter()
        .map(|(id, name, kind, area, created)| {
            Ok(Venue {
                id,
                name,
                kind: VenueKind::parse(&kind).map_err(|_| corrupt("venue", id, "kind"))?,
                area: code(&area, "venue", id)?,
                created_at: parse_ts(&created, "venue", &id)?,
            })
        })
        .collect()
}

fn checkins(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<CheckIn>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let raw = stmt
        .query_map(p, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter()
        .map(|(id, venue_id, resident_id, at)| {
            Ok(CheckIn { id, venue_id, resident_id, at: parse_ts(&at, "check-in", &id)? })
        })
        .collect()
}

// ---- passes ------------------------------------------------------------------------------

pub(crate) const PASS_COLS: &str = "id, holder_kind, resident_id, plate, holder_label, purpose, scope, valid_from, valid_until, \
     issuer_id, issuer, issued_at, revoked_at, revoked_by, revoke_reason";

struct RawPass {
    id: i64,
    holder_kind: String,
    resident_id: Option<i64>,
    plate: Option<String>,
    holder_label: String,
    purpose: String,
    scope: String,
    valid_from: String,
    valid_until: String,
    issuer_id: i64,
    issuer: String,
    issued_at: String,
    revoked_at: Option<String>,
    revoked_by: Option<String>,
    revoke_reason: Option<String>,
}

fn pass_row(r: &Row<'_>) -> rusqlite::Result<RawPass> {
    Ok(RawPass {
        id: r.get(0)?,
        holder_kind: r.get(1)?,
        resident_id: r.get(2)?,
        plate: r.get(3)?,
        holder_label: r.get(4)?,
        purpose: r.get(5)?,
        scope: r.get(6)?,
        valid_from: r.get(7)?,
        valid_until: r.get(8)?,
        issuer_id: r.get(9)?,
        issuer: r.get(10)?,
        issued_at: r.get(11)?,
        revoked_at: r.get(12)?,
        revoked_by: r.get(13)?,
        revoke_reason: r.get(14)?,
    })
}

impl RawPass {
    fn parse(self) -> Result<Pass> {
        let id = self.id;
        let holder = match (self.holder_kind.as_str(), self.resident_id, self.plate) {
            ("person", Some(r), _) => Holder::Person(r),
            ("vehicle", _, Some(p)) => Holder::Vehicle(p),
            _ => return Err(corrupt("pass", id, "holder")),
        };
        Ok(Pass {
            id,
            holder,
            holder_label: self.holder_label,
            purpose: self.purpose,
            scope: self.scope.split_whitespace().map(|s| code(s, "pass", id)).collect::<Result<_>>()?,
            valid_from: parse_ts(&self.valid_from, "pass", &id)?,
            valid_until: parse_ts(&self.valid_until, "pass", &id)?,
            issuer_id: self.issuer_id,
            issuer: self.issuer,
            issued_at: parse_ts(&self.issued_at, "pass", &id)?,
            revoked_at: opt_ts(self.revoked_at, "pass", id)?,
            revoked_by: self.revoked_by,
            revoke_reason: self.revoke_reason,
        })
    }
}

pub(crate) fn passes(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Pass>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let raw = stmt.query_map(p, pass_row).db()?.collect::<rusqlite::Result<Vec<_>>>().db()?;
    raw.into_iter().map(RawPass::parse).collect()
}

pub(crate) fn passes_of_person(c: &Connection, resident_id: i64, now: DateTime<Utc>) -> Result<Vec<Pass>> {
    passes(
        c,
        &format!(
            "SELECT {PASS_COLS} FROM passes WHERE resident_id = ?1 AND revoked_at IS NULL \
             AND valid_from <= ?2 AND valid_until > ?2 ORDER BY id"
        ),
        &[&resident_id, &ts(now)],
    )
}

pub(crate) fn pass(c: &Connection, id: i64) -> Result<Option<Pass>> {
    Ok(passes(c, &format!("SELECT {PASS_COLS} FROM passes WHERE id = ?1"), &[&id])?.into_iter().next())
}

fn issue_pass(c: &Connection, n: &NewPass, a: &AuditEntry) -> Result<Pass> {
    // The holder rule, on the holder's unit as this (writer) transaction sees it.
    if let Holder::Person(id) = n.holder {
        let unit: Option<String> = c
            .prepare_cached("SELECT unit_code FROM residents WHERE id = ?1")
            .db()?
            .query_row([id], |r| r.get(0))
            .optional()
            .db()?;
        let unit = unit.and_then(|u| AreaCode::parse(&u).ok());
        n.check_holder(unit.as_ref()).map_err(|_| StoreError::NotFound("resident"))?;
    }
    let (kind, resident, plate) = match &n.holder {
        Holder::Person(id) => ("person", Some(*id), None),
        Holder::Vehicle(p) => ("vehicle", None, Some(p.clone())),
    };
    let scope: Vec<&str> = n.scope.iter().map(|s| s.as_str()).collect();
    c.prepare_cached(
        "INSERT INTO passes (holder_kind, resident_id, plate, holder_label, purpose, scope, valid_from, valid_until, \
         issuer_id, issuer, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .db()?
    .execute(params![
        kind,
        resident,
        plate,
        n.holder_label,
        n.purpose,
        scope.join(" "),
        ts(n.valid_from),
        ts(n.valid_until),
        n.issuer_id,
        n.issuer,
        ts(n.issued_at)
    ])
    .db()?;
    let id = c.last_insert_rowid();
    let mut a = a.clone();
    a.target = id.to_string();
    audit::insert(c, &a)?;
    pass(c, id)?.ok_or_else(|| StoreError::Backend("new pass vanished".into()))
}

fn revoke_pass(c: &Connection, id: i64, at: DateTime<Utc>, by: &str, reason: &str, a: &AuditEntry) -> Result<Pass> {
    let n = c
        .prepare_cached(
            "UPDATE passes SET revoked_at = coalesce(revoked_at, ?2), revoked_by = coalesce(revoked_by, ?3), \
             revoke_reason = coalesce(revoke_reason, ?4) WHERE id = ?1",
        )
        .db()?
        .execute(params![id, ts(at), by, reason])
        .db()?;
    if n == 0 {
        return Err(StoreError::NotFound("pass"));
    }
    audit::insert(c, a)?;
    pass(c, id)?.ok_or(StoreError::NotFound("pass"))
}

#[async_trait]
impl CodesStore for SqliteStore {
    async fn policy_setting(&self) -> Result<Option<PolicySetting>> {
        self.read(policy_setting).await
    }

    async fn set_policy(&self, setting: &PolicySetting, audit: &AuditEntry) -> Result<()> {
        let (s, a) = (setting.clone(), audit.clone());
        self.write(move |tx| set_policy(tx, &s, &a)).await
    }

    async fn designate_zone(&self, zone: &NewZone, audit: &AuditEntry) -> Result<RiskZone> {
        let (z, a) = (zone.clone(), audit.clone());
        self.write(move |tx| designate_zone(tx, &z, &a)).await
    }

    async fn zones(&self, root: &AreaCode, ancestors: bool, history: bool) -> Result<Vec<RiskZone>> {
        let root = root.clone();
        self.read(move |c| zones(c, &root, ancestors, history)).await
    }

    async fn person_facts(
        &self,
        resident_id: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Option<PersonFacts>> {
        self.read(move |c| person_facts(c, resident_id, now, today)).await
    }

    async fn add_signing_key(&self, key: &NewSigningKey, audit: &AuditEntry) -> Result<SigningKeyRecord> {
        let (k, a) = (key.clone(), audit.clone());
        self.write(move |tx| add_signing_key(tx, &k, &a)).await
    }

    async fn current_signing_key(&self) -> Result<Option<(SigningKeyRecord, SecretKey)>> {
        self.read(current_signing_key).await
    }

    async fn signing_key(&self, id: i64) -> Result<Option<SigningKeyRecord>> {
        self.read(move |c| signing_key(c, id)).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.read(signing_keys).await
    }

    async fn revoke_signing_key(&self, id: i64, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()> {
        let a = audit.clone();
        self.write(move |tx| revoke_signing_key(tx, id, at, &a)).await
    }

    async fn create_checkpoint(&self, new: &NewCheckpoint, audit: &AuditEntry) -> Result<Checkpoint> {
        let (n, a) = (new.clone(), audit.clone());
        self.write(move |tx| create_checkpoint(tx, &n, &a)).await
    }

    async fn checkpoint(&self, id: i64) -> Result<Option<Checkpoint>> {
        self.read(move |c| checkpoint(c, id)).await
    }

    async fn checkpoints_under(&self, roots: &[AreaCode]) -> Result<Vec<Checkpoint>> {
        let roots = roots.to_vec();
        self.read(move |c| checkpoints_under(c, &roots)).await
    }

    async fn checkpoints_of_guard(&self, user_id: i64) -> Result<Vec<Checkpoint>> {
        self.read(move |c| checkpoints_of_guard(c, user_id)).await
    }

    async fn assign_guard(&self, checkpoint_id: i64, user_id: i64, audit: &AuditEntry) -> Result<()> {
        let a = audit.clone();
        self.write(move |tx| assign_guard(tx, checkpoint_id, user_id, &a)).await
    }

    async fn record_scans(&self, scans: &[Scan]) -> Result<Vec<i64>> {
        // Group commit: concurrent scans share one transaction (see `scanpath`).
        self.scan_log.submit(scans.to_vec()).await
    }

    async fn recent_scans(&self, checkpoint_id: i64, limit: u32) -> Result<Vec<ScanRecord>> {
        self.read(move |c| {
            scans(
                c,
                &format!("SELECT {SCAN_COLS} FROM checkpoint_scans WHERE checkpoint_id = ?1 ORDER BY id DESC LIMIT ?2"),
                &[&checkpoint_id, &limit],
            )
        })
        .await
    }

    async fn scans_of_person(
        &self,
        resident_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScanRecord>> {
        self.read(move |c| {
            scans(
                c,
                &format!(
                    "SELECT {SCAN_COLS} FROM checkpoint_scans WHERE resident_id = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id"
                ),
                &[&resident_id, &ts(from), &ts(to)],
            )
        })
        .await
    }

    async fn create_venue(&self, new: &NewVenue, audit: &AuditEntry) -> Result<Venue> {
        let (n, a) = (new.clone(), audit.clone());
        self.write(move |tx| {
            tx.prepare_cached("INSERT INTO venues (name, kind, area_code, created_at) VALUES (?1, ?2, ?3, ?4)")
                .db()?
                .execute(params![n.name, n.kind.as_str(), n.area.as_str(), ts(n.created_at)])
                .db()?;
            let id = tx.last_insert_rowid();
            audit::insert(tx, &a)?;
            venues(tx, &format!("SELECT {VENUE_COLS} FROM venues WHERE id = ?1"), &[&id])?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Backend("new venue vanished".into()))
        })
        .await
    }

    async fn venue(&self, id: i64) -> Result<Option<Venue>> {
        self.read(move |c| {
            Ok(venues(c, &format!("SELECT {VENUE_COLS} FROM venues WHERE id = ?1"), &[&id])?.into_iter().next())
        })
        .await
    }

    async fn venues_under(&self, roots: &[AreaCode]) -> Result<Vec<Venue>> {
        let roots = roots.to_vec();
        self.read(move |c| {
            let mut out: Vec<Venue> = Vec::new();
            for r in &roots {
                let end = r.range_end();
                for v in venues(
                    c,
                    &format!("SELECT {VENUE_COLS} FROM venues WHERE area_code >= ?1 AND area_code < ?2 ORDER BY id"),
                    &[&r.as_str(), &end],
                )? {
                    if !out.iter().any(|o| o.id == v.id) {
                        out.push(v);
                    }
                }
            }
            out.sort_by_key(|v| v.id);
            Ok(out)
        })
        .await
    }

    async fn record_checkin(&self, venue_id: i64, resident_id: i64, at: DateTime<Utc>) -> Result<CheckIn> {
        self.write(move |tx| {
            tx.prepare_cached("INSERT INTO venue_checkins (venue_id, resident_id, at) VALUES (?1, ?2, ?3)")
                .db()?
                .execute(params![venue_id, resident_id, ts(at)])
                .db()?;
            Ok(CheckIn { id: tx.last_insert_rowid(), venue_id, resident_id, at })
        })
        .await
    }

    async fn venue_visits(&self, venue_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CheckIn>> {
        self.read(move |c| {
            checkins(
                c,
                "SELECT id, venue_id, resident_id, at FROM venue_checkins WHERE venue_id = ?1 AND at >= ?2 AND at < ?3 \
                 ORDER BY at, id",
                &[&venue_id, &ts(from), &ts(to)],
            )
        })
        .await
    }

    async fn issue_pass(&self, new: &NewPass, audit: &AuditEntry) -> Result<Pass> {
        let (n, a) = (new.clone(), audit.clone());
        self.write(move |tx| issue_pass(tx, &n, &a)).await
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
        self.read(move |c| crate::scanpath::scan_context(c, checkpoint_id, key_id, kind, subject, now, today)).await
    }

    async fn pass(&self, id: i64) -> Result<Option<Pass>> {
        self.read(move |c| pass(c, id)).await
    }

    async fn passes(&self, limit: u32) -> Result<Vec<Pass>> {
        self.read(move |c| passes(c, &format!("SELECT {PASS_COLS} FROM passes ORDER BY id DESC LIMIT ?1"), &[&limit]))
            .await
    }

    async fn passes_of_person(&self, resident_id: i64, now: DateTime<Utc>) -> Result<Vec<Pass>> {
        self.read(move |c| passes_of_person(c, resident_id, now)).await
    }

    async fn revoke_pass(
        &self,
        id: i64,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
        audit: &AuditEntry,
    ) -> Result<Pass> {
        let (by, reason, a) = (by.to_string(), reason.to_string(), audit.clone());
        self.write(move |tx| revoke_pass(tx, id, at, &by, &reason, &a)).await
    }
}
