//! Mass testing in PostgreSQL: the [`TestingStore`] methods.
//!
//! Owns the SQL of rounds, tubes, samples, results and the chase; must never decide who
//! may act (callers pass roots) and never put ID numbers or phones into errors.
//!
//! The sample ingest is set-based, since every statement is a network round trip: one
//! query resolves the batch's people, one its tubes, one the prior samples and controls;
//! the batch is then applied in memory entry by entry (the same rules as SQLite) and
//! written back with one `unnest` insert of samples and one update of tubes.

use crate::PgStore;
use crate::error::{Db, corrupt};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::name::PersonName;
use cordon_domain::registry::ResidentStatus;
use cordon_domain::testing::{
    DoorOutcome, ExemptionReason, NewRound, NewSite, PoolCapacity, SamplingSite, TestResult, TestRound, TubeBarcode,
    TubeEvent, TubeState, refusal, transition,
};
use cordon_store::StoreError;
use cordon_store::testing::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;

/// Lower and upper bounds of the subtrees under `roots`, without nested roots.
fn bounds(roots: &[AreaCode]) -> (Vec<String>, Vec<String>) {
    let mut sorted: Vec<&AreaCode> = roots.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<&AreaCode> = Vec::new();
    for r in sorted {
        if kept.last().is_some_and(|k| k.contains(r)) {
            continue;
        }
        kept.push(r);
    }
    kept.iter().map(|c| (c.as_str().to_string(), c.range_end())).unzip()
}

fn masked(name: &str) -> String {
    PersonName::parse(name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
}

fn code(s: &str, table: &str, id: i64) -> Result<AreaCode> {
    AreaCode::parse(s).map_err(|_| corrupt(table, id, "area code"))
}

async fn audit<C: GenericClient + Sync>(c: &C, e: &AuditEntry) -> Result<()> {
    c.execute(
        "INSERT INTO audit_log (at, actor_id, actor, role, action, target_kind, target, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.at,
            &e.actor_id,
            &e.actor,
            &e.role.map(|r| r.code()),
            &e.action,
            &e.target_kind,
            &e.target,
            &e.request_id,
            &e.detail,
        ],
    )
    .await
    .db()?;
    Ok(())
}

const ROUND_COLS: &str = "id, area_code, date, mandatory, pool_size, created_at";

fn round_from(r: &Row) -> Result<TestRound> {
    let id: i64 = r.try_get(0).db()?;
    let area: &str = r.try_get(1).db()?;
    let pool: i32 = r.try_get(4).db()?;
    Ok(TestRound {
        id,
        area: code(area, "test_round", id)?,
        date: r.try_get::<_, NaiveDate>(2).db()?,
        mandatory: r.try_get(3).db()?,
        pool: PoolCapacity::new(pool.max(0) as u32).map_err(|_| corrupt("test_round", id, "pool_size"))?,
        created_at: r.try_get(5).db()?,
    })
}

async fn round<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<TestRound>> {
    let row = c.query_opt(&format!("SELECT {ROUND_COLS} FROM test_rounds WHERE id = $1"), &[&id]).await.db()?;
    row.as_ref().map(round_from).transpose()
}

async fn site<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<SamplingSite>> {
    let Some(row) = c.query_opt("SELECT name, address, hours FROM sampling_sites WHERE id = $1", &[&id]).await.db()?
    else {
        return Ok(None);
    };
    let areas = c
        .query("SELECT area_code FROM sampling_site_areas WHERE site_id = $1 ORDER BY area_code", &[&id])
        .await
        .db()?
        .iter()
        .map(|r| r.try_get::<_, &str>(0).db().and_then(|a| code(a, "sampling_site", id)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(SamplingSite {
        id,
        name: row.try_get(0).db()?,
        address: row.try_get(1).db()?,
        hours: row.try_get(2).db()?,
        areas,
    }))
}

async fn nearest_site<C: GenericClient + Sync>(c: &C, unit: &str) -> Result<Option<i64>> {
    let lineage: Vec<String> = match AreaCode::parse(unit) {
        Ok(u) => u.lineage().iter().map(|a| a.as_str().to_string()).collect(),
        Err(_) => return Ok(None),
    };
    let row = c
        .query_opt(
            "SELECT site_id FROM sampling_site_areas WHERE area_code = ANY($1) \
             ORDER BY length(area_code) DESC, site_id LIMIT 1",
            &[&lineage],
        )
        .await
        .db()?;
    row.map(|r| r.try_get(0).db()).transpose()
}

// ---- ingest -----------------------------------------------------------------------------

struct TubeRow {
    id: i64,
    round_id: i64,
    capacity: u32,
    state: TubeState,
    count: u32,
    sealed: Option<(DateTime<Utc>, i64)>,
    dirty: bool,
}

fn outcome(client_id: &str, c: &'static str, tube: Option<(&str, &TubeRow)>) -> ScanOutcome {
    let error = if c == "ok" || c == "replayed" { None } else { Some(refusal(c)) };
    ScanOutcome {
        client_id: client_id.to_string(),
        code: c,
        error,
        tube: tube.map(|(b, _)| b.to_string()),
        count: tube.map_or(0, |(_, t)| t.count),
        capacity: tube.map_or(0, |(_, t)| t.capacity),
        sealed: tube.is_some_and(|(_, t)| t.state != TubeState::Open),
        resident_id: None,
        masked_name: None,
        visitor: false,
    }
}

fn autoseal(t: &mut TubeRow, at: DateTime<Utc>, by: i64, o: &mut ScanOutcome) {
    if o.code == "ok" && t.state == TubeState::Open && t.count >= t.capacity {
        t.state = TubeState::Sealed;
        t.sealed = Some((at, by));
        t.dirty = true;
        o.sealed = true;
    }
    o.count = t.count;
}

fn tube_barcode(item: &ScanItem) -> &str {
    match item {
        ScanItem::Open { tube, .. }
        | ScanItem::Sample { tube, .. }
        | ScanItem::Seal { tube, .. }
        | ScanItem::Undo { tube, .. } => tube.as_str(),
    }
}

struct Person {
    id: i64,
    unit: String,
    household: i64,
    name: String,
}

/// A statement prepared once per connection: the ingest runs the same dozen statements for
/// every batch, and parsing and planning them each time cost a round trip and a plan each.
async fn cached(tx: &deadpool_postgres::Transaction<'_>, sql: &str) -> Result<tokio_postgres::Statement> {
    tx.prepare_cached(sql).await.db()
}

async fn ingest(tx: &deadpool_postgres::Transaction<'_>, b: &ScanBatch, a: &AuditEntry) -> Result<BatchReport> {
    let pg: &tokio_postgres::Transaction<'_> = tx;
    // The batch id is claimed first: a concurrent replay waits on it and then finds it.
    let claimed = tx
        .execute(
            &cached(
                tx,
                "INSERT INTO scan_batches (batch_id, round_id, user_id, at, items, accepted) VALUES ($1, $2, $3, $4, $5, 0) \
                 ON CONFLICT (batch_id) DO NOTHING",
            )
            .await?,
            &[&b.batch_id, &b.round_id, &b.user_id, &a.at, &(b.items.len() as i32)],
        )
        .await
        .db()?;
    if claimed == 0 {
        let accepted: i32 = tx
            .query_one("SELECT accepted FROM scan_batches WHERE batch_id = $1", &[&b.batch_id])
            .await
            .db()?
            .try_get(0)
            .db()?;
        return Ok(BatchReport {
            batch_id: b.batch_id.clone(),
            replayed: true,
            accepted: accepted.max(0) as u32,
            outcomes: Vec::new(),
        });
    }
    let round = round(pg, b.round_id).await?.ok_or(StoreError::NotFound("round"))?;

    // Everything the batch needs to know, in two queries sent together (one round trip):
    // its people with their prior sample in this round and whether their household is
    // under control, and its tubes, locked. Every lookup is an index probe per key
    // (LATERAL … LIMIT 1, subqueries): `= ANY($n)` and joins turned into scans of a whole
    // round while `samples` had no statistics.
    let mut idns: Vec<&str> = Vec::new();
    let mut rids: Vec<i64> = Vec::new();
    let mut barcodes: Vec<&str> = Vec::new();
    for item in &b.items {
        barcodes.push(tube_barcode(item));
        match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(i), .. } => idns.push(i.as_str()),
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => rids.push(*id),
            _ => {}
        }
    }
    // Sorted: consecutive probes share index pages.
    idns.sort_unstable();
    idns.dedup();
    rids.sort_unstable();
    rids.dedup();
    barcodes.sort_unstable();
    barcodes.dedup();
    let people_sql = cached(
        tx,
        "SELECT r.id, r.unit_code, r.household_id, r.name, r.id_number, \
                (SELECT s.tube_id FROM samples s WHERE s.round_id = $3 AND s.resident_id = r.id LIMIT 1), \
                EXISTS (SELECT 1 FROM home_controls c WHERE c.household_id = r.household_id) \
         FROM (SELECT q.* FROM unnest($1::text[]) AS x(n) CROSS JOIN LATERAL \
                 (SELECT id, unit_code, household_id, name, id_number FROM residents \
                  WHERE id_number = x.n AND status = 'active' LIMIT 1) q \
               UNION ALL \
               SELECT q.* FROM unnest($2::bigint[]) AS y(i) CROSS JOIN LATERAL \
                 (SELECT id, unit_code, household_id, name, id_number FROM residents \
                  WHERE id = y.i AND status = 'active' LIMIT 1) q) r",
    )
    .await?;
    let tubes_sql = cached(
        tx,
        "SELECT t.id, t.round_id, t.capacity, t.state, t.count, t.barcode FROM unnest($1::text[]) AS x(b) \
         CROSS JOIN LATERAL (SELECT * FROM tubes WHERE barcode = x.b LIMIT 1 FOR UPDATE) t",
    )
    .await?;
    let (people_rows, tube_rows) = futures_util::future::try_join(
        tx.query(&people_sql, &[&idns, &rids, &b.round_id]),
        tx.query(&tubes_sql, &[&barcodes]),
    )
    .await
    .db()?;
    let mut by_idn: HashMap<String, usize> = HashMap::new();
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    let mut people: Vec<Person> = Vec::with_capacity(people_rows.len());
    let mut prior: HashMap<i64, i64> = HashMap::new();
    let mut controlled: HashSet<i64> = HashSet::new();
    for r in &people_rows {
        let p = Person {
            id: r.try_get(0).db()?,
            unit: r.try_get(1).db()?,
            household: r.try_get(2).db()?,
            name: r.try_get(3).db()?,
        };
        if let Some(tube) = r.try_get::<_, Option<i64>>(5).db()? {
            prior.insert(p.id, tube);
        }
        if r.try_get::<_, bool>(6).db()? {
            controlled.insert(p.household);
        }
        by_idn.insert(r.try_get::<_, String>(4).db()?, people.len());
        by_id.insert(p.id, people.len());
        people.push(p);
    }
    let mut tubes: HashMap<String, TubeRow> = HashMap::new();
    for r in tube_rows {
        let id: i64 = r.try_get(0).db()?;
        let state: &str = r.try_get(3).db()?;
        tubes.insert(
            r.try_get(5).db()?,
            TubeRow {
                id,
                round_id: r.try_get(1).db()?,
                capacity: r.try_get::<_, i32>(2).db()?.max(0) as u32,
                state: TubeState::parse(state).ok_or_else(|| corrupt("tube", id, "state"))?,
                count: r.try_get::<_, i32>(4).db()?.max(0) as u32,
                sealed: None,
                dirty: false,
            },
        );
    }

    // Tubes the batch opens (by an open or a first sample), inserted together; each
    // becomes usable at the entry that opens it, as if opened there.
    let mut opening: Vec<(&str, i32, DateTime<Utc>)> = Vec::new();
    {
        let mut planned: HashSet<&str> = HashSet::new();
        for item in &b.items {
            let tc = tube_barcode(item);
            if tubes.contains_key(tc) || planned.contains(tc) {
                continue;
            }
            let wanted = match item {
                ScanItem::Open { capacity, at, .. } => Some((capacity.get(), *at)),
                ScanItem::Sample { at, .. } => Some((round.pool.get(), *at)),
                _ => None,
            };
            if let Some((capacity, at)) = wanted {
                planned.insert(tc);
                opening.push((tc, capacity as i32, at));
            }
        }
    }
    let mut pending: HashMap<String, TubeRow> = HashMap::new();
    if !opening.is_empty() {
        let codes: Vec<&str> = opening.iter().map(|o| o.0).collect();
        let caps: Vec<i32> = opening.iter().map(|o| o.1).collect();
        let ats: Vec<DateTime<Utc>> = opening.iter().map(|o| o.2).collect();
        let open_sql = cached(
            tx,
            "INSERT INTO tubes (round_id, barcode, capacity, state, count, opened_at, opened_by) \
             SELECT $1, x.b, x.c, 'open', 0, x.a, $2 FROM unnest($3::text[], $4::int[], $5::timestamptz[]) AS x(b, c, a) \
             RETURNING id, barcode, capacity",
        )
        .await?;
        for r in tx.query(&open_sql, &[&b.round_id, &b.user_id, &codes, &caps, &ats]).await.db()? {
            pending.insert(
                r.try_get(1).db()?,
                TubeRow {
                    id: r.try_get(0).db()?,
                    round_id: b.round_id,
                    capacity: r.try_get::<_, i32>(2).db()?.max(0) as u32,
                    state: TubeState::Open,
                    count: 0,
                    sealed: None,
                    dirty: false,
                },
            );
        }
    }

    // Apply entry by entry in memory.
    let mut new_samples: Vec<(i64, i64, String, DateTime<Utc>)> = Vec::new(); // resident, tube, unit, at
    let mut undone: Vec<(i64, i64)> = Vec::new();
    let mut outcomes = Vec::with_capacity(b.items.len());
    let mut accepted = 0u32;
    for item in &b.items {
        let tc = tube_barcode(item);
        let cid = item.client_id();
        if matches!(item, ScanItem::Open { .. } | ScanItem::Sample { .. })
            && let Some(t) = pending.remove(tc)
        {
            tubes.insert(tc.to_string(), t);
            if matches!(item, ScanItem::Open { .. }) {
                outcomes.push(outcome(cid, "ok", tubes.get(tc).map(|t| (tc, t))));
                continue;
            }
        }
        let Some(t) = tubes.get_mut(tc) else {
            outcomes.push(outcome(cid, "tube_unknown", None));
            continue;
        };
        if t.round_id != b.round_id {
            outcomes.push(outcome(cid, "tube_other_round", Some((tc, t))));
            continue;
        }
        match item {
            ScanItem::Open { .. } => {
                let c = if t.state == TubeState::Open { "ok" } else { "tube_not_open" };
                outcomes.push(outcome(cid, c, Some((tc, t))));
            }
            ScanItem::Seal { at, .. } => {
                let o = if t.state == TubeState::Sealed {
                    outcome(cid, "replayed", Some((tc, t)))
                } else {
                    match transition(t.state, TubeEvent::Seal) {
                        Ok(next) if t.count > 0 => {
                            t.state = next;
                            t.sealed = Some((*at, b.user_id));
                            t.dirty = true;
                            outcome(cid, "ok", Some((tc, t)))
                        }
                        Ok(_) => outcome(cid, "tube_empty", Some((tc, t))),
                        Err(_) => outcome(cid, "tube_not_open", Some((tc, t))),
                    }
                };
                outcomes.push(o);
            }
            ScanItem::Undo { resident_id, .. } => {
                let o = if t.state != TubeState::Open {
                    outcome(cid, "tube_not_open", Some((tc, t)))
                } else if prior.get(resident_id) == Some(&t.id) {
                    prior.remove(resident_id);
                    if let Some(pos) = new_samples.iter().position(|s| s.0 == *resident_id) {
                        new_samples.remove(pos);
                        accepted = accepted.saturating_sub(1);
                    } else {
                        undone.push((*resident_id, t.id));
                    }
                    t.count = t.count.saturating_sub(1);
                    t.dirty = true;
                    let mut o = outcome(cid, "ok", Some((tc, t)));
                    o.resident_id = Some(*resident_id);
                    o
                } else {
                    outcome(cid, "not_in_tube", Some((tc, t)))
                };
                outcomes.push(o);
            }
            ScanItem::Sample { person: ScanPerson::Visitor { id_number, phone }, at, .. } => {
                let mut o = if t.state != TubeState::Open {
                    outcome(cid, "tube_not_open", Some((tc, t)))
                } else if t.count >= t.capacity {
                    outcome(cid, "tube_full", Some((tc, t)))
                } else {
                    let n = tx
                        .execute(
                            "INSERT INTO visitor_samples (round_id, tube_id, id_number, phone, at, by_user) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (round_id, id_number) DO NOTHING",
                            &[
                                &b.round_id,
                                &t.id,
                                &id_number.as_str(),
                                &phone.as_ref().map(|p| p.as_str()),
                                at,
                                &b.user_id,
                            ],
                        )
                        .await
                        .db()?;
                    if n == 1 {
                        t.count += 1;
                        t.dirty = true;
                        accepted += 1;
                        outcome(cid, "ok", Some((tc, t)))
                    } else {
                        outcome(cid, "already_sampled", Some((tc, t)))
                    }
                };
                o.visitor = true;
                autoseal(t, *at, b.user_id, &mut o);
                outcomes.push(o);
            }
            ScanItem::Sample { person, at, .. } => {
                let idx = match person {
                    ScanPerson::IdNumber(i) => by_idn.get(i.as_str()).copied(),
                    ScanPerson::ResidentId(id) => by_id.get(id).copied(),
                    ScanPerson::Visitor { .. } => None,
                };
                let Some(p) = idx.and_then(|i| people.get(i)) else {
                    outcomes.push(outcome(cid, "not_resident", Some((tc, t))));
                    continue;
                };
                let mut o = match prior.get(&p.id) {
                    Some(tid) if *tid == t.id => outcome(cid, "replayed", Some((tc, t))),
                    Some(_) => outcome(cid, "already_sampled", Some((tc, t))),
                    None if !p.unit.starts_with(round.area.as_str()) => outcome(cid, "out_of_round", Some((tc, t))),
                    None if t.state != TubeState::Open => outcome(cid, "tube_not_open", Some((tc, t))),
                    None if t.count >= t.capacity => outcome(cid, "tube_full", Some((tc, t))),
                    None if t.capacity > 1 && controlled.contains(&p.household) => {
                        outcome(cid, "needs_single_tube", Some((tc, t)))
                    }
                    None => {
                        prior.insert(p.id, t.id);
                        new_samples.push((p.id, t.id, p.unit.clone(), *at));
                        t.count += 1;
                        t.dirty = true;
                        accepted += 1;
                        outcome(cid, "ok", Some((tc, t)))
                    }
                };
                o.resident_id = Some(p.id);
                o.masked_name = Some(masked(&p.name));
                autoseal(t, *at, b.user_id, &mut o);
                outcomes.push(o);
            }
        }
    }

    // Write back.
    if !undone.is_empty() {
        let (r, t): (Vec<i64>, Vec<i64>) = undone.into_iter().unzip();
        tx.execute(
            "DELETE FROM samples s USING unnest($2::bigint[], $3::bigint[]) AS u(resident_id, tube_id) \
             WHERE s.round_id = $1 AND s.resident_id = u.resident_id AND s.tube_id = u.tube_id",
            &[&b.round_id, &r, &t],
        )
        .await
        .db()?;
    }
    // The samples, the tubes, the batch's count and the audit entry, sent together.
    let rs: Vec<i64> = new_samples.iter().map(|s| s.0).collect();
    let ts: Vec<i64> = new_samples.iter().map(|s| s.1).collect();
    let us: Vec<&str> = new_samples.iter().map(|s| s.2.as_str()).collect();
    let ats: Vec<DateTime<Utc>> = new_samples.iter().map(|s| s.3).collect();
    let dirty: Vec<&TubeRow> = tubes.values().filter(|t| t.dirty).collect();
    let ids: Vec<i64> = dirty.iter().map(|t| t.id).collect();
    let counts: Vec<i32> = dirty.iter().map(|t| t.count as i32).collect();
    let states: Vec<&str> = dirty.iter().map(|t| t.state.as_str()).collect();
    let sealed_at: Vec<Option<DateTime<Utc>>> = dirty.iter().map(|t| t.sealed.map(|s| s.0)).collect();
    let sealed_by: Vec<Option<i64>> = dirty.iter().map(|t| t.sealed.map(|s| s.1)).collect();
    let insert_sql = cached(
        tx,
        "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) \
         SELECT $1, r, t, u, a, $2 FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[]) AS x(r, t, u, a) \
         ON CONFLICT (round_id, resident_id) DO NOTHING",
    )
    .await?;
    // `tubes.id = ANY(…)` as well as the join: without it, and with `tubes` never
    // analysed, the planner hashed the batch's rows and scanned the whole table once per
    // batch (a day's tubes read again for every device batch).
    let tubes_sql = cached(
        tx,
        "UPDATE tubes SET count = x.c, state = x.s, sealed_at = coalesce(x.sa, tubes.sealed_at), \
           sealed_by = coalesce(x.sb, tubes.sealed_by) \
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::bigint[]) AS x(id, c, s, sa, sb) \
         WHERE tubes.id = x.id AND tubes.id = ANY($1::bigint[])",
    )
    .await?;
    let batch_sql = cached(tx, "UPDATE scan_batches SET accepted = $2 WHERE batch_id = $1").await?;
    let accepted_i = accepted as i32;
    let insert = async {
        if new_samples.is_empty() {
            return Ok(0);
        }
        tx.execute(&insert_sql, &[&b.round_id, &b.user_id, &rs, &ts, &us, &ats]).await.db()
    };
    let update = async {
        if ids.is_empty() {
            return Ok(0);
        }
        tx.execute(&tubes_sql, &[&ids, &counts, &states, &sealed_at, &sealed_by]).await.db()
    };
    let count = async { tx.execute(&batch_sql, &[&b.batch_id, &accepted_i]).await.db() };
    let (inserted, _, _, ()) = futures_util::future::try_join4(insert, update, count, audit(pg, a)).await?;
    if inserted as usize != new_samples.len() {
        // Another instance sampled one of these people between our read and write: the
        // device retries the batch (under a new id) and gets exact answers.
        return Err(StoreError::Conflict {
            code: "concurrent_sample",
            message: "a person in this batch was sampled concurrently; retry the batch".into(),
        });
    }
    Ok(BatchReport { batch_id: b.batch_id.clone(), replayed: false, accepted, outcomes })
}

// ---- tubes, boxes, receipt ---------------------------------------------------------------

struct Lite {
    id: i64,
    round_id: i64,
    capacity: u32,
    state: TubeState,
}

async fn tube_lite<C: GenericClient + Sync>(c: &C, barcode: &str) -> Result<Option<Lite>> {
    let Some(r) = c
        .query_opt("SELECT id, round_id, capacity, state FROM tubes WHERE barcode = $1 FOR UPDATE", &[&barcode])
        .await
        .db()?
    else {
        return Ok(None);
    };
    let id: i64 = r.try_get(0).db()?;
    let state: &str = r.try_get(3).db()?;
    Ok(Some(Lite {
        id,
        round_id: r.try_get(1).db()?,
        capacity: r.try_get::<_, i32>(2).db()?.max(0) as u32,
        state: TubeState::parse(state).ok_or_else(|| corrupt("tube", id, "state"))?,
    }))
}

const TUBE_COLS: &str = "t.id, t.round_id, t.barcode, t.capacity, t.state, t.count, b.code, t.opened_at, t.opened_by, \
     t.sealed_at, t.sealed_by, t.boxed_at, t.boxed_by, t.received_at, t.received_by, t.resulted_at, t.resulted_by, t.result, t.ct";

fn tube_from(r: &Row) -> Result<Tube> {
    let id: i64 = r.try_get(0).db()?;
    let state: &str = r.try_get(4).db()?;
    let result: Option<&str> = r.try_get(17).db()?;
    Ok(Tube {
        id,
        round_id: r.try_get(1).db()?,
        barcode: TubeBarcode::from_stored(r.try_get(2).db()?),
        capacity: PoolCapacity::new(r.try_get::<_, i32>(3).db()?.max(0) as u32)
            .map_err(|_| corrupt("tube", id, "capacity"))?,
        state: TubeState::parse(state).ok_or_else(|| corrupt("tube", id, "state"))?,
        count: r.try_get::<_, i32>(5).db()?.max(0) as u32,
        box_code: r.try_get(6).db()?,
        opened_at: r.try_get(7).db()?,
        opened_by: r.try_get(8).db()?,
        sealed_at: r.try_get(9).db()?,
        sealed_by: r.try_get(10).db()?,
        boxed_at: r.try_get(11).db()?,
        boxed_by: r.try_get(12).db()?,
        received_at: r.try_get(13).db()?,
        received_by: r.try_get(14).db()?,
        resulted_at: r.try_get(15).db()?,
        resulted_by: r.try_get(16).db()?,
        result: result.map(TestResult::parse).transpose().map_err(|_| corrupt("tube", id, "result"))?,
        ct: r.try_get(18).db()?,
    })
}

// ---- results -------------------------------------------------------------------------------

async fn record_results<C: GenericClient + Sync>(
    tx: &C,
    results: &[NewResult],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<ResultsReport> {
    let started = std::time::Instant::now();
    // Validate every row first: a refused row means nothing is written.
    let mut tubes = Vec::with_capacity(results.len());
    for r in results {
        tubes.push(tube_lite(tx, r.tube.as_str()).await?);
    }
    let plan = match plan_results(results, tubes, |t| t.state) {
        Ok(plan) => plan,
        Err(errors) => {
            return Ok(ResultsReport { committed: false, recorded: 0, errors, chases: Vec::new(), cases: 0 });
        }
    };
    let mut chases = Vec::new();
    let mut cases = 0;
    for (r, t) in &plan {
        tx.execute(
            "UPDATE tubes SET state = 'resulted', result = $2, ct = $3, resulted_at = $4, resulted_by = $5 WHERE id = $1",
            &[&t.id, &r.result.as_str(), &r.ct, &at, &by],
        )
        .await
        .db()?;
        let members: Vec<(i64, String, i64)> = tx
            .query(
                "SELECT s.resident_id, s.unit_code, r.household_id FROM samples s JOIN residents r ON r.id = s.resident_id \
                 WHERE s.tube_id = $1 ORDER BY s.resident_id",
                &[&t.id],
            )
            .await
            .db()?
            .iter()
            .map(|x| Ok((x.try_get(0).db()?, x.try_get(1).db()?, x.try_get(2).db()?)))
            .collect::<Result<_>>()?;
        let rids: Vec<i64> = members.iter().map(|m| m.0).collect();
        match r.result {
            TestResult::Positive if t.capacity > 1 => {
                tx.execute(
                    "INSERT INTO pool_positives (round_id, resident_id, tube_id, unit_code, status, marked_at) \
                     SELECT $1, s.resident_id, s.tube_id, s.unit_code, 'pending', $3 FROM samples s WHERE s.tube_id = $2 \
                     ON CONFLICT DO NOTHING",
                    &[&t.round_id, &t.id, &at],
                )
                .await
                .db()?;
                let households: Vec<i64> = members.iter().map(|m| m.2).collect::<BTreeSet<_>>().into_iter().collect();
                let controlled = tx
                    .execute(
                        "INSERT INTO home_controls (household_id, since, source_tube) SELECT h, $2, $3 FROM unnest($1::bigint[]) AS h \
                         ON CONFLICT (household_id) DO NOTHING",
                        &[&households, &at, &t.id],
                    )
                    .await
                    .db()? as u32;
                // Sites nearest each member: one per distinct unit.
                let mut site_of: HashMap<&str, Option<i64>> = HashMap::new();
                for (_, unit, _) in &members {
                    if !site_of.contains_key(unit.as_str()) {
                        site_of.insert(unit.as_str(), nearest_site(tx, unit).await?);
                    }
                }
                let sites: Vec<Option<i64>> =
                    members.iter().map(|m| site_of.get(m.1.as_str()).copied().flatten()).collect();
                let tasks = tx
                    .execute(
                        "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
                         SELECT $1, r, $2, s, 'pool_positive', $3 FROM unnest($4::bigint[], $5::bigint[]) AS x(r, s)",
                        &[&t.round_id, &t.id, &at, &rids, &sites],
                    )
                    .await
                    .db()? as u32;
                tx.execute(
                    "INSERT INTO alerts (kind, round_id, tube_id, members, created_at) VALUES ('pool_positive', $1, $2, $3, $4)",
                    &[&t.round_id, &t.id, &(members.len() as i32), &at],
                )
                .await
                .db()?;
                let chased_at = at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
                tx.execute(
                    "INSERT INTO chases (tube_id, round_id, members, households_controlled, tasks_created, result_at, chased_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&t.id, &t.round_id, &(members.len() as i32), &(controlled as i32), &(tasks as i32), &at, &chased_at],
                )
                .await
                .db()?;
                chases.push(ChaseSummary {
                    tube: r.tube.as_str().to_string(),
                    round_id: t.round_id,
                    members: members.len() as u32,
                    households_controlled: controlled,
                    tasks_created: tasks,
                    result_at: at,
                    chased_at,
                    resampled: 0,
                    resampled_at: None,
                });
            }
            TestResult::Positive | TestResult::Negative => {
                let positive = r.result == TestResult::Positive;
                for (rid, _, hh) in &members {
                    resolve_mark(tx, *rid, *hh, positive, at).await?;
                    if positive {
                        tx.execute(
                            "INSERT INTO cases (resident_id, source_tube, at) VALUES ($1, $2, $3)",
                            &[rid, &t.id, &at],
                        )
                        .await
                        .db()?;
                        cases += 1;
                    }
                }
            }
            TestResult::Invalid => {
                tx.execute(
                    "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
                     SELECT round_id, resident_id, tube_id, unit_code, at, $2 FROM samples WHERE tube_id = $1",
                    &[&t.id, &at],
                )
                .await
                .db()?;
                tx.execute("DELETE FROM samples WHERE tube_id = $1", &[&t.id]).await.db()?;
                for (rid, unit, _) in &members {
                    let site = nearest_site(tx, unit).await?;
                    tx.execute(
                        "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
                         VALUES ($1, $2, $3, $4, 'invalid', $5)",
                        &[&t.round_id, rid, &t.id, &site, &at],
                    )
                    .await
                    .db()?;
                }
            }
        }
    }
    audit(tx, a).await?;
    Ok(ResultsReport { committed: true, recorded: plan.len() as u32, errors: Vec::new(), chases, cases })
}

async fn resolve_mark<C: GenericClient + Sync>(
    tx: &C,
    rid: i64,
    hh: i64,
    positive: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let status = if positive { "confirmed" } else { "cleared" };
    let n = tx
        .execute(
            "UPDATE pool_positives SET status = $2, resolved_at = $3 WHERE resident_id = $1 AND status = 'pending'",
            &[&rid, &status, &at],
        )
        .await
        .db()?;
    if n == 0 {
        return Ok(());
    }
    tx.execute("UPDATE resample_tasks SET done_at = $2 WHERE resident_id = $1 AND done_at IS NULL", &[&rid, &at])
        .await
        .db()?;
    if !positive {
        tx.execute(
            "DELETE FROM home_controls WHERE household_id = $1 AND NOT EXISTS ( \
               SELECT 1 FROM pool_positives p JOIN residents r ON r.id = p.resident_id \
               WHERE r.household_id = $1 AND p.status IN ('pending', 'confirmed'))",
            &[&hh],
        )
        .await
        .db()?;
    }
    Ok(())
}

// ---- coverage ------------------------------------------------------------------------------

async fn counts_by<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    round_id: i64,
    node: &AreaCode,
    len: usize,
) -> Result<HashMap<String, u64>> {
    let rows = c.query(sql, &[&(len as i32), &round_id, &node.as_str(), &node.range_end()]).await.db()?;
    rows.iter().map(|r| Ok((r.try_get::<_, String>(0).db()?, r.try_get::<_, i64>(1).db()?.max(0) as u64))).collect()
}

const SAMPLED_BY: &str = "SELECT left(unit_code, $1), count(*) FROM samples \
     WHERE round_id = $2 AND unit_code >= $3 AND unit_code < $4 GROUP BY 1";
/// The samples of [`SAMPLED_BY`] whose resident is no longer active (few: found through
/// the partial index of inactive residents).
const INACTIVE_SAMPLED_BY: &str = "SELECT left(s.unit_code, $1), count(*) FROM residents r \
     JOIN samples s ON s.round_id = $2 AND s.resident_id = r.id \
     WHERE r.status <> 'active' AND r.unit_code >= $3 AND r.unit_code < $4 \
       AND s.unit_code >= $3 AND s.unit_code < $4 GROUP BY 1";

/// Residents sampled in the round under `node`, by area code prefix of `len`, counting
/// only residents still active: someone sampled who moved out since is no longer expected,
/// so no longer counted as sampled either (sampled ≤ expected).
async fn sampled_by<C: GenericClient + Sync>(
    c: &C,
    round_id: i64,
    node: &AreaCode,
    len: usize,
) -> Result<HashMap<String, u64>> {
    let (mut all, gone) = futures_util::future::try_join(
        counts_by(c, SAMPLED_BY, round_id, node, len),
        counts_by(c, INACTIVE_SAMPLED_BY, round_id, node, len),
    )
    .await?;
    for (k, g) in gone {
        if let Some(n) = all.get_mut(&k) {
            *n = n.saturating_sub(g);
        }
    }
    Ok(all)
}
const EXEMPT_BY: &str = "SELECT left(e.unit_code, $1), count(*) FROM exemptions e \
     JOIN residents r ON r.id = e.resident_id AND r.status = 'active' \
     WHERE e.round_id = $2 AND e.unit_code >= $3 AND e.unit_code < $4 \
       AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = e.round_id AND s.resident_id = e.resident_id) \
     GROUP BY 1";

fn coverage_of(code: AreaCode, name: String, active: u64, sampled: u64, exempt: u64) -> Coverage {
    let expected = active.saturating_sub(exempt);
    Coverage { code, name, expected, sampled, exempt, missing: expected.saturating_sub(sampled) }
}

// ---- door tasks ----------------------------------------------------------------------------

const TASK_COLS: &str = "d.id, d.round_id, d.household_id, d.unit_code, h.room, d.created_at, d.created_by, d.outcome, d.note, d.done_at, d.done_by";

fn task_from(r: &Row) -> Result<DoorTask> {
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
    })
}

async fn door_task<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<DoorTask>> {
    let row = c
        .query_opt(
            &format!("SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id WHERE d.id = $1"),
            &[&id],
        )
        .await
        .db()?;
    row.as_ref().map(task_from).transpose()
}

async fn door_effects(
    tx: &deadpool_postgres::Transaction<'_>,
    task: &DoorTask,
    report: &DoorReport,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
) -> Result<std::result::Result<(), DoorRefusal>> {
    match report {
        DoorReport::SampledAtDoor { samples, audit } => return door_samples(tx, task, samples, by, at, audit).await,
        DoorReport::AwayWithProof => {
            tx.execute(
                "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) \
                 SELECT $1, r.id, r.unit_code, 'away_with_proof', $3, $4, $5 FROM residents r \
                 WHERE r.household_id = $2 AND r.status = 'active' \
                   AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = r.id) \
                 ON CONFLICT DO NOTHING",
                &[&task.round_id, &task.household_id, &note, &by, &at],
            )
            .await
            .db()?;
        }
        DoorReport::Refused => {
            tx.execute(
                "INSERT INTO enforcements (task_id, household_id, unit_code, status, created_at) VALUES ($1, $2, $3, 'open', $4)",
                &[&task.id, &task.household_id, &task.unit.as_str(), &at],
            )
            .await
            .db()?;
        }
        DoorReport::WrongData { resident_id, correction, audit } => {
            let member = crate::store::resident_by_id(&**tx, *resident_id, false).await?;
            if member.is_none_or(|r| r.household_id != task.household_id) {
                return Ok(Err(door_refusal("not_in_household", *resident_id)));
            }
            // The roster page's correction, with its audit entry.
            crate::store::correct_resident(&**tx, *resident_id, correction, audit).await?;
        }
        DoorReport::NotHome => {}
    }
    Ok(Ok(()))
}

/// Samples at the door: each member must be on the household's missed list and each tube
/// new; the samples then go through the ingest as the worker's batch of single tubes.
async fn door_samples(
    tx: &deadpool_postgres::Transaction<'_>,
    task: &DoorTask,
    samples: &[DoorSample],
    by: i64,
    at: DateTime<Utc>,
    audit: &AuditEntry,
) -> Result<std::result::Result<(), DoorRefusal>> {
    for s in samples {
        let refuse = |code| Ok(Err(door_refusal(code, s.resident_id)));
        match crate::store::resident_by_id(&**tx, s.resident_id, false).await? {
            Some(r) if r.household_id != task.household_id => return refuse("not_in_household"),
            None => return refuse("not_in_household"),
            Some(r) if r.status != ResidentStatus::Active => return refuse("not_missing"),
            Some(_) => {}
        }
        let exempt = tx
            .query_opt(
                "SELECT 1 FROM exemptions WHERE round_id = $1 AND resident_id = $2",
                &[&task.round_id, &s.resident_id],
            )
            .await
            .db()?;
        if exempt.is_some() {
            return refuse("not_missing");
        }
        if let Some(t) = tube_lite(&**tx, s.tube.as_str()).await? {
            return refuse(if t.round_id == task.round_id { "tube_used" } else { "tube_other_round" });
        }
    }
    let batch = door_batch(task, samples, by, at);
    let report = ingest(tx, &batch, audit).await?;
    Ok(door_batch_refusal(samples, &report).map_or(Ok(()), Err))
}

/// The missed people under one root, in household order. Every per-resident question is a
/// subquery the planner can only run as an index probe of that resident (households,
/// samples, exemptions, open door tasks): a join there could turn into a scan of a whole
/// round when `samples` has no statistics yet, or when a generic plan guesses the range.
/// Bounds are parameters of a cached statement, one query per root.
const MISSED: &str = "SELECT * FROM ( \
       SELECT r.id, r.household_id, r.unit_code, (SELECT h.room FROM households h WHERE h.id = r.household_id) AS room, \
              r.name, r.phone, r.bedridden, \
              (SELECT d.id FROM door_tasks d WHERE d.round_id = $3 AND d.household_id = r.household_id AND d.outcome IS NULL LIMIT 1) AS task \
       FROM residents r \
       WHERE r.unit_code >= $1 AND r.unit_code < $2 AND r.status = 'active' \
         AND (SELECT 1 FROM samples s WHERE s.round_id = $3 AND s.resident_id = r.id LIMIT 1) IS NULL \
         AND (SELECT 1 FROM exemptions e WHERE e.round_id = $3 AND e.resident_id = r.id LIMIT 1) IS NULL \
       OFFSET 0) m \
     ORDER BY unit_code, length(room), room, id";

async fn missed<C: deadpool_postgres::GenericClient + Sync>(
    c: &C,
    round_id: i64,
    roots: &[AreaCode],
) -> Result<Vec<MissedHousehold>> {
    let (lo, hi) = bounds(roots);
    let stmt = c.prepare_cached(MISSED).await.db()?;
    let mut out: Vec<MissedHousehold> = Vec::new();
    for (lo, hi) in lo.iter().zip(hi.iter()) {
        for r in c.query(&stmt, &[lo, hi, &round_id]).await.db()? {
            let id: i64 = r.try_get(0).db()?;
            let hh: i64 = r.try_get(1).db()?;
            let person = MissedPerson {
                resident_id: id,
                name: r.try_get(4).db()?,
                phone: r.try_get(5).db()?,
                bedridden: r.try_get(6).db()?,
            };
            match out.last_mut() {
                Some(h) if h.household_id == hh => h.members.push(person),
                _ => {
                    let unit: &str = r.try_get(2).db()?;
                    let room: Option<String> = r.try_get(3).db()?;
                    out.push(MissedHousehold {
                        household_id: hh,
                        unit: code(unit, "resident", id)?,
                        room: room.ok_or_else(|| corrupt("resident", id, "household"))?,
                        members: vec![person],
                        task_id: r.try_get(7).db()?,
                    })
                }
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl TestingStore for PgStore {
    async fn create_round(&self, new: &NewRound, a: &AuditEntry) -> Result<TestRound> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO test_rounds (area_code, date, mandatory, pool_size, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING {ROUND_COLS}"
                ),
                &[&new.area.as_str(), &new.date, &new.mandatory, &(new.pool.get() as i32), &a.at],
            )
            .await
            .db()?;
        let round = round_from(&row)?;
        audit(&*tx, &AuditEntry { target: round.id.to_string(), ..a.clone() }).await?;
        tx.commit().await.db()?;
        Ok(round)
    }

    async fn round(&self, id: i64) -> Result<Option<TestRound>> {
        let c = self.client().await?;
        round(&**c, id).await
    }

    async fn rounds(&self, limit: u32) -> Result<Vec<TestRound>> {
        let c = self.client().await?;
        c.query(
            &format!("SELECT {ROUND_COLS} FROM test_rounds ORDER BY date DESC, id DESC LIMIT $1"),
            &[&i64::from(limit)],
        )
        .await
        .db()?
        .iter()
        .map(round_from)
        .collect()
    }

    async fn create_site(&self, new: &NewSite, a: &AuditEntry) -> Result<SamplingSite> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO sampling_sites (name, address, hours) VALUES ($1, $2, $3) RETURNING id",
                &[&new.name, &new.address, &new.hours],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        let areas: Vec<&str> = new.areas.iter().map(|a| a.as_str()).collect();
        tx.execute(
            "INSERT INTO sampling_site_areas (site_id, area_code) SELECT $1, a FROM unnest($2::text[]) AS a ON CONFLICT DO NOTHING",
            &[&id, &areas],
        )
        .await
        .db()?;
        audit(&*tx, &AuditEntry { target: id.to_string(), ..a.clone() }).await?;
        let s = site(&*tx, id).await?.ok_or(StoreError::NotFound("site"))?;
        tx.commit().await.db()?;
        Ok(s)
    }

    async fn sites(&self, root: &AreaCode) -> Result<Vec<SamplingSite>> {
        let c = self.client().await?;
        let above: Vec<String> = root.lineage().iter().map(|a| a.as_str().to_string()).collect();
        let ids: Vec<i64> = c
            .query(
                "SELECT DISTINCT site_id FROM sampling_site_areas WHERE (area_code >= $1 AND area_code < $2) \
                 OR area_code = ANY($3) ORDER BY site_id",
                &[&root.as_str(), &root.range_end(), &above],
            )
            .await
            .db()?
            .iter()
            .map(|r| r.try_get(0).db())
            .collect::<Result<_>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(s) = site(&**c, id).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn ingest_scans(&self, batch: ScanBatch, a: &AuditEntry) -> Result<BatchReport> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let report = ingest(&tx, &batch, a).await?;
        tx.commit().await.db()?;
        Ok(report)
    }

    async fn tube(&self, barcode: &TubeBarcode) -> Result<Option<Tube>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {TUBE_COLS} FROM tubes t LEFT JOIN boxes b ON b.id = t.box_id WHERE t.barcode = $1"),
                &[&barcode.as_str()],
            )
            .await
            .db()?;
        row.as_ref().map(tube_from).transpose()
    }

    async fn tube_members(&self, tube_id: i64) -> Result<Vec<TubeMember>> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for r in c
            .query(
                "SELECT s.resident_id, r.name, s.unit_code FROM samples s JOIN residents r ON r.id = s.resident_id \
                 WHERE s.tube_id = $1 ORDER BY s.id",
                &[&tube_id],
            )
            .await
            .db()?
        {
            let id: i64 = r.try_get(0).db()?;
            let name: &str = r.try_get(1).db()?;
            let unit: &str = r.try_get(2).db()?;
            out.push(TubeMember {
                resident_id: Some(id),
                masked_name: masked(name),
                unit: Some(code(unit, "sample", id)?),
                visitor: false,
            });
        }
        let visitors: i64 = c
            .query_one("SELECT count(*) FROM visitor_samples WHERE tube_id = $1", &[&tube_id])
            .await
            .db()?
            .try_get(0)
            .db()?;
        for _ in 0..visitors {
            out.push(TubeMember { resident_id: None, masked_name: "*".into(), unit: None, visitor: true });
        }
        Ok(out)
    }

    async fn box_tubes(
        &self,
        box_code: &str,
        tubes: &[TubeBarcode],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<u32, FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let mut ids = Vec::new();
        for b in tubes {
            let Some(t) = tube_lite(&*tx, b.as_str()).await? else { return Ok(Err(refusal("tube_unknown"))) };
            if let Err(e) = transition(t.state, TubeEvent::PutInBox) {
                return Ok(Err(e));
            }
            ids.push(t.id);
        }
        tx.execute(
            "INSERT INTO boxes (code, created_at, created_by) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
            &[&box_code, &at, &by],
        )
        .await
        .db()?;
        let box_id: i64 =
            tx.query_one("SELECT id FROM boxes WHERE code = $1", &[&box_code]).await.db()?.try_get(0).db()?;
        tx.execute(
            "UPDATE tubes SET state = 'boxed', box_id = $2, boxed_at = $3, boxed_by = $4 WHERE id = ANY($1)",
            &[&ids, &box_id, &at, &by],
        )
        .await
        .db()?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(Ok(ids.len() as u32))
    }

    async fn receive(
        &self,
        what: &Receipt,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<Vec<String>, FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let targets: Vec<(i64, String)> = match what {
            Receipt::Box(code) => {
                let Some(row) = tx.query_opt("SELECT id FROM boxes WHERE code = $1", &[code]).await.db()? else {
                    return Ok(Err(refusal("box_unknown")));
                };
                let box_id: i64 = row.try_get(0).db()?;
                tx.execute("UPDATE boxes SET received_at = $2, received_by = $3 WHERE id = $1", &[&box_id, &at, &by])
                    .await
                    .db()?;
                tx.query(
                    "SELECT id, barcode FROM tubes WHERE box_id = $1 AND state = 'boxed' ORDER BY barcode FOR UPDATE",
                    &[&box_id],
                )
                .await
                .db()?
                .iter()
                .map(|r| Ok((r.try_get(0).db()?, r.try_get(1).db()?)))
                .collect::<Result<_>>()?
            }
            Receipt::Tube(b) => {
                let Some(t) = tube_lite(&*tx, b.as_str()).await? else { return Ok(Err(refusal("tube_unknown"))) };
                if let Err(e) = transition(t.state, TubeEvent::Receive) {
                    return Ok(Err(e));
                }
                vec![(t.id, b.as_str().to_string())]
            }
        };
        let ids: Vec<i64> = targets.iter().map(|t| t.0).collect();
        tx.execute(
            "UPDATE tubes SET state = 'received', received_at = $2, received_by = $3 WHERE id = ANY($1)",
            &[&ids, &at, &by],
        )
        .await
        .db()?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(Ok(targets.into_iter().map(|t| t.1).collect()))
    }

    async fn record_results(
        &self,
        results: &[NewResult],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<ResultsReport> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let report = record_results(&*tx, results, by, at, a).await?;
        if report.committed {
            tx.commit().await.db()?;
        }
        Ok(report)
    }

    async fn coverage(&self, round_id: i64, node: &AreaCode) -> Result<Coverage> {
        let summary =
            cordon_store::RegistryStore::area_summary(self, node).await?.ok_or(StoreError::NotFound("area"))?;
        let c = self.client().await?;
        let len = node.as_str().len();
        let sampled = sampled_by(&**c, round_id, node, len).await?.values().sum();
        let exempt = counts_by(&**c, EXEMPT_BY, round_id, node, len).await?.values().sum();
        Ok(coverage_of(node.clone(), summary.area.name, summary.residents, sampled, exempt))
    }

    async fn coverage_children(&self, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
        let Some(level) = node.level().child() else { return Ok(Vec::new()) };
        let children = cordon_store::RegistryStore::children(self, node).await?;
        let c = self.client().await?;
        let sampled = sampled_by(&**c, round_id, node, level.code_len()).await?;
        let exempt = counts_by(&**c, EXEMPT_BY, round_id, node, level.code_len()).await?;
        Ok(children
            .into_iter()
            .map(|ch| {
                let k = ch.area.code.as_str();
                let (s, e) = (sampled.get(k).copied().unwrap_or(0), exempt.get(k).copied().unwrap_or(0));
                coverage_of(ch.area.code, ch.area.name, ch.residents, s, e)
            })
            .collect())
    }

    async fn missed(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
        let mut client = self.client().await?;
        if roots.len() <= 1 {
            // One statement is one snapshot.
            return missed(&client, round_id, roots).await;
        }
        // One snapshot for every root.
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .db()?;
        let out = missed(&tx, round_id, roots).await?;
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn report_missing(
        &self,
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let missing: u64 =
            missed(&tx, round_id, std::slice::from_ref(building)).await?.iter().map(|h| h.members.len() as u64).sum();
        tx.execute(
            "INSERT INTO missing_reports (round_id, building_code, missing, note, by_user, at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&round_id, &building.as_str(), &(missing as i64), &note, &by, &at],
        )
        .await
        .db()?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(missing)
    }

    async fn record_exemption(
        &self,
        round_id: i64,
        resident_id: i64,
        reason: ExemptionReason,
        proof: &str,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<(), FieldError>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
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
        if sampled {
            return Ok(Err(refusal("sampled_already")));
        }
        tx.execute(
            "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (round_id, resident_id) DO UPDATE SET reason = excluded.reason, proof = excluded.proof, \
               by_user = excluded.by_user, at = excluded.at",
            &[&round_id, &resident_id, &unit, &reason.as_str(), &proof, &by, &at],
        )
        .await
        .db()?;
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(Ok(()))
    }

    async fn create_door_tasks(
        &self,
        round_id: i64,
        households: &[i64],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
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
            if let Some(t) = door_task(&*tx, id).await? {
                out.push(t);
            }
        }
        audit(&*tx, a).await?;
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn door_tasks(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
        let c = self.client().await?;
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

    async fn door_task(&self, id: i64) -> Result<Option<DoorTask>> {
        let c = self.client().await?;
        door_task(&**c, id).await
    }

    async fn record_door_outcome(
        &self,
        task_id: i64,
        report: &DoorReport,
        note: &str,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<DoorTask, DoorRefusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        tx.execute("SELECT 1 FROM door_tasks WHERE id = $1 FOR UPDATE", &[&task_id]).await.db()?;
        let task = door_task(&*tx, task_id).await?.ok_or(StoreError::NotFound("door_task"))?;
        if task.outcome.is_some() {
            return Err(StoreError::Conflict {
                code: "task_done",
                message: "the door-knock task already has an outcome".into(),
            });
        }
        if let Err(e) = report.check() {
            return Ok(Err(e));
        }
        // A refusal returns before the commit: nothing is written.
        if let Err(e) = door_effects(&tx, &task, report, note, by, at).await? {
            return Ok(Err(e));
        }
        tx.execute(
            "UPDATE door_tasks SET outcome = $2, note = $3, done_at = $4, done_by = $5 WHERE id = $1",
            &[&task_id, &report.outcome().as_str(), &note, &at, &by],
        )
        .await
        .db()?;
        audit(&*tx, a).await?;
        let t = door_task(&*tx, task_id).await?.ok_or(StoreError::NotFound("door_task"))?;
        tx.commit().await.db()?;
        Ok(Ok(t))
    }

    async fn enforcements(&self, roots: &[AreaCode]) -> Result<Vec<(i64, i64, String)>> {
        let c = self.client().await?;
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

    async fn alerts(&self, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
        let c = self.client().await?;
        c.query(
            "SELECT a.id, a.kind, a.round_id, t.barcode, a.members, a.created_at FROM alerts a \
             JOIN tubes t ON t.id = a.tube_id WHERE a.id > $1 ORDER BY a.id DESC LIMIT $2",
            &[&after_id, &i64::from(limit)],
        )
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok(Alert {
                id: r.try_get(0).db()?,
                kind: r.try_get(1).db()?,
                round_id: r.try_get(2).db()?,
                tube: r.try_get(3).db()?,
                members: r.try_get::<_, i32>(4).db()?.max(0) as u32,
                created_at: r.try_get(5).db()?,
            })
        })
        .collect()
    }

    async fn chases(&self, round_id: i64) -> Result<Vec<ChaseSummary>> {
        let c = self.client().await?;
        c.query(
            "SELECT t.barcode, c.round_id, c.members, c.households_controlled, c.tasks_created, c.result_at, c.chased_at, \
               (SELECT count(*) FROM pool_positives p WHERE p.tube_id = c.tube_id AND p.status <> 'pending'), \
               (SELECT max(resolved_at) FROM pool_positives p WHERE p.tube_id = c.tube_id) \
             FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE c.round_id = $1 ORDER BY c.result_at, t.barcode",
            &[&round_id],
        )
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok(ChaseSummary {
                tube: r.try_get(0).db()?,
                round_id: r.try_get(1).db()?,
                members: r.try_get::<_, i32>(2).db()?.max(0) as u32,
                households_controlled: r.try_get::<_, i32>(3).db()?.max(0) as u32,
                tasks_created: r.try_get::<_, i32>(4).db()?.max(0) as u32,
                result_at: r.try_get(5).db()?,
                chased_at: r.try_get(6).db()?,
                resampled: r.try_get::<_, i64>(7).db()?.max(0) as u32,
                resampled_at: r.try_get(8).db()?,
            })
        })
        .collect()
    }

    async fn pool_positives(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<PoolPositive>> {
        let c = self.client().await?;
        let (lo, hi) = bounds(roots);
        c.query(
            "SELECT p.resident_id, r.name, p.unit_code, t.barcode, p.status, p.marked_at \
             FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
             JOIN pool_positives p ON p.unit_code >= x.lo AND p.unit_code < x.hi \
             JOIN residents r ON r.id = p.resident_id JOIN tubes t ON t.id = p.tube_id \
             WHERE p.round_id = $3 ORDER BY p.resident_id",
            &[&lo, &hi, &round_id],
        )
        .await
        .db()?
        .iter()
        .map(|r| {
            let id: i64 = r.try_get(0).db()?;
            let name: &str = r.try_get(1).db()?;
            let unit: &str = r.try_get(2).db()?;
            Ok(PoolPositive {
                resident_id: id,
                masked_name: masked(name),
                unit: code(unit, "pool_positive", id)?,
                tube: r.try_get(3).db()?,
                status: r.try_get(4).db()?,
                marked_at: r.try_get(5).db()?,
            })
        })
        .collect()
    }

    async fn under_control(&self, household_id: i64) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.query_opt("SELECT 1 FROM home_controls WHERE household_id = $1", &[&household_id]).await.db()?.is_some())
    }

    async fn positivity(&self, root: &AreaCode, rounds: u32) -> Result<Positivity> {
        let c = self.client().await?;
        let above: Vec<String> = root.lineage().iter().map(|a| a.as_str().to_string()).collect();
        let ids: Vec<i64> = c
            .query(
                "SELECT id FROM test_rounds WHERE area_code = ANY($1) ORDER BY date DESC, id DESC LIMIT $2",
                &[&above, &i64::from(rounds)],
            )
            .await
            .db()?
            .iter()
            .map(|r| r.try_get(0).db())
            .collect::<Result<_>>()?;
        let (lo, hi) = (root.as_str(), root.range_end());
        let one = |sql: &'static str| {
            let c = &c;
            let ids = &ids;
            let hi = hi.clone();
            async move {
                let n: i64 = c.query_one(sql, &[ids, &lo, &hi]).await.db()?.try_get(0).db()?;
                Ok::<u64, StoreError>(n.max(0) as u64)
            }
        };
        Ok(Positivity {
            sampled: one("SELECT count(*) FROM samples WHERE round_id = ANY($1) AND unit_code >= $2 AND unit_code < $3").await?,
            positive_pools: one(
                "SELECT count(DISTINCT tube_id) FROM pool_positives WHERE round_id = ANY($1) AND unit_code >= $2 AND unit_code < $3",
            )
            .await?,
            cases: one(
                "SELECT count(*) FROM cases k JOIN tubes t ON t.id = k.source_tube JOIN residents r ON r.id = k.resident_id \
                 WHERE t.round_id = ANY($1) AND r.unit_code >= $2 AND r.unit_code < $3",
            )
            .await?,
        })
    }
}
