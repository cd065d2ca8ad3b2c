//! Mass testing in SQLite: the [`TestingStore`] methods.
//!
//! Owns the SQL of rounds, tubes, samples, results and the chase; must never decide who
//! may act (callers pass roots) and never put ID numbers or phones into errors.
//!
//! The sample ingest is the hot path (a district's whole population every day): one
//! `BEGIN IMMEDIATE` transaction per device batch on the single writer, cached prepared
//! statements, and per scan one insert guarded by the unique (round, resident) index.
//! The scanned people are resolved before, on a reader connection (in parallel with the
//! writer, in ID-number order), and the write transaction only checks that no resident
//! changed since (`registry_version`); otherwise it resolves them itself. Tubes touched by
//! the batch are kept in memory and written back once at the end.

use crate::SqliteStore;
use crate::audit;
use crate::rows::{OrBackend, area_code, parse_ts, ts};
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
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn scope(col: &str, roots: &[AreaCode], params: &mut Vec<Value>) -> String {
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
    if kept.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = kept
        .iter()
        .map(|r| {
            params.push(Value::Text(r.as_str().to_string()));
            params.push(Value::Text(r.range_end()));
            format!("({col} >= ? AND {col} < ?)")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

fn opt_ts(s: Option<String>, table: &str, id: i64) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, table, &id)).transpose()
}

pub(crate) fn masked(name: &str) -> String {
    PersonName::parse(name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
}

// ---- rounds and sites ----------------------------------------------------------------------

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

fn round(conn: &Connection, id: i64) -> Result<Option<TestRound>> {
    let raw = conn
        .prepare_cached(&format!("SELECT {ROUND_COLS} FROM test_rounds WHERE id = ?1"))
        .db()?
        .query_row([id], round_row)
        .optional()
        .db()?;
    raw.map(round_from).transpose()
}

fn site(conn: &Connection, id: i64) -> Result<Option<SamplingSite>> {
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

/// The site serving the deepest area above `unit` (the nearest team).
fn nearest_site(conn: &Connection, unit: &AreaCode) -> Result<Option<i64>> {
    let mut stmt = conn
        .prepare_cached("SELECT site_id FROM sampling_site_areas WHERE area_code = ?1 ORDER BY site_id LIMIT 1")
        .db()?;
    for a in unit.lineage().iter().rev() {
        if let Some(id) = stmt.query_row([a.as_str()], |r| r.get::<_, i64>(0)).optional().db()? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

// ---- ingest ---------------------------------------------------------------------------------

struct TubeRow {
    id: i64,
    round_id: i64,
    capacity: u32,
    state: TubeState,
    count: u32,
    sealed: Option<(String, i64)>,
    dirty: bool,
    /// Opened by this batch (when, by whom): inserted once at the end of the batch with
    /// its final count and state, instead of inserted and then updated.
    opened: Option<(String, i64)>,
}

fn load_tube(conn: &Connection, barcode: &str) -> Result<Option<TubeRow>> {
    let row = conn
        .prepare_cached("SELECT id, round_id, capacity, state, count FROM tubes WHERE barcode = ?1")
        .db()?
        .query_row([barcode], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })
        .optional()
        .db()?;
    let Some((id, round_id, capacity, state, count)) = row else { return Ok(None) };
    let state = TubeState::parse(&state)
        .ok_or_else(|| StoreError::Backend(format!("stored tube {id} has an invalid state")))?;
    Ok(Some(TubeRow { id, round_id, capacity, state, count, sealed: None, dirty: false, opened: None }))
}

/// Tube ids handed out by one batch: the single writer's transaction is the only one
/// inserting, so the ids after the highest stored one are free until it commits.
struct TubeIds(Option<i64>);

impl TubeIds {
    fn next(&mut self, conn: &Connection) -> Result<i64> {
        let last = match self.0 {
            Some(n) => n,
            None => conn
                .prepare_cached("SELECT coalesce(max(id), 0) FROM tubes")
                .db()?
                .query_row([], |r| r.get::<_, i64>(0))
                .db()?,
        };
        self.0 = Some(last + 1);
        Ok(last + 1)
    }
}

/// A tube opened by this batch; written by [`write_tubes`] at the end of the batch.
fn open_tube(ids: &mut TubeIds, conn: &Connection, round_id: i64, capacity: u32, by: i64, at: &str) -> Result<TubeRow> {
    Ok(TubeRow {
        id: ids.next(conn)?,
        round_id,
        capacity,
        state: TubeState::Open,
        count: 0,
        sealed: None,
        dirty: true,
        opened: Some((at.to_string(), by)),
    })
}

/// Writes the batch's tubes: inserts those it opened, updates those it changed.
fn write_tubes(tx: &Connection, tubes: &HashMap<String, TubeRow>) -> Result<()> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO tubes (id, round_id, barcode, capacity, state, count, opened_at, opened_by, sealed_at, sealed_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?;
    let mut update = tx
        .prepare_cached(
            "UPDATE tubes SET count = ?2, state = ?3, sealed_at = coalesce(?4, sealed_at), sealed_by = coalesce(?5, sealed_by) WHERE id = ?1",
        )
        .db()?;
    // In id order, so that the inserts append to the table.
    let mut dirty: Vec<(&String, &TubeRow)> = tubes.iter().filter(|(_, t)| t.dirty).collect();
    dirty.sort_unstable_by_key(|(_, t)| t.id);
    for (barcode, t) in dirty {
        let (sa, sb) = match &t.sealed {
            Some((a, by)) => (Some(a.as_str()), Some(*by)),
            None => (None, None),
        };
        match &t.opened {
            Some((at, by)) => insert
                .execute(params![t.id, t.round_id, barcode, t.capacity, t.state.as_str(), t.count, at, by, sa, sb])
                .db()?,
            None => update.execute(params![t.id, t.count, t.state.as_str(), sa, sb]).db()?,
        };
    }
    Ok(())
}

/// A scan's outcome as the writer makes it: the client id and the tube barcode (when the
/// outcome names a tube) are left empty and filled in by [`name_outcomes`] once the
/// transaction is over, off the single writer.
fn outcome(code: &'static str, tube: Option<(&str, &TubeRow)>) -> ScanOutcome {
    let error = if code == "ok" || code == "replayed" { None } else { Some(refusal(code)) };
    ScanOutcome {
        client_id: String::new(),
        code,
        error,
        tube: tube.map(|_| String::new()),
        count: tube.map_or(0, |(_, t)| t.count),
        capacity: tube.map_or(0, |(_, t)| t.capacity),
        sealed: tube.is_some_and(|(_, t)| t.state != TubeState::Open),
        resident_id: None,
        masked_name: None,
        visitor: false,
    }
}

/// A scanned person as the ingest needs them.
struct Found {
    id: i64,
    /// Shared with the in-memory index: the writer does not free what the resolver's
    /// thread allocated.
    unit: Arc<str>,
    household: i64,
    masked: String,
}

fn found_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Found> {
    Ok(Found {
        id: r.get(0)?,
        unit: Arc::from(r.get::<_, String>(1)?),
        household: r.get(2)?,
        masked: masked(&r.get::<_, String>(3)?),
    })
}

/// Fills in what the writer left out of a batch's outcomes (see [`outcome`]): each item's
/// client id, and its tube's barcode where the outcome names a tube.
pub(crate) fn name_outcomes(b: &ScanBatch, report: &mut BatchReport) {
    for (item, o) in b.items.iter().zip(report.outcomes.iter_mut()) {
        let (ScanItem::Open { tube, .. }
        | ScanItem::Sample { tube, .. }
        | ScanItem::Seal { tube, .. }
        | ScanItem::Undo { tube, .. }) = item;
        o.client_id = item.client_id().to_string();
        if o.tube.is_some() {
            o.tube = Some(tube.as_str().to_string());
        }
    }
}

// INDEXED BY: the planner would take the unique index and then read the row.
const BY_ID_NUMBER: &str = "SELECT id, unit_code, household_id, name FROM residents INDEXED BY residents_id_number_scan \
     WHERE id_number = ?1 AND status = 'active'";
const BY_ID: &str = "SELECT id, unit_code, household_id, name FROM residents WHERE id = ?1 AND status = 'active'";

/// The people of a batch resolved outside the writer: one slot per item (`None` for an
/// item that names no registered person or whose person was not found), valid while
/// `registry_version` is still `version`.
pub(crate) struct Resolved {
    version: i64,
    people: Vec<Option<Found>>,
}

pub(crate) fn registry_version(c: &Connection) -> Result<i64> {
    c.prepare_cached("SELECT n FROM registry_version WHERE id = 1").db()?.query_row([], |r| r.get(0)).db()
}

/// How long the resolver keeps one read snapshot, and keeps it after the last ingest: it
/// holds back WAL checkpoints meanwhile, so it is short.
const SNAPSHOT_AGE: Duration = Duration::from_secs(1);

/// Resolves the people of sample scans on its own read-only connection, outside the single
/// writer, so that a batch's lookups overlap other batches' writes.
///
/// A SQLite connection drops its page cache at every read transaction that follows another
/// connection's commit, which the writer does many times a second during sampling: the
/// resolver therefore keeps one read transaction open for up to [`SNAPSHOT_AGE`], ended
/// at the latest [`SNAPSHOT_AGE`] after the last ingest, so its cache stays warm. A stale
/// snapshot is safe: the writer uses what it resolved only if `registry_version` has not
/// moved, and looks up again anyone it did not find (registered since).
pub(crate) struct Resolver {
    path: std::path::PathBuf,
    state: std::sync::Mutex<Snapshot>,
    in_flight: AtomicUsize,
    /// Whether a task will end the snapshot once no ingest is in flight.
    closer: AtomicBool,
    /// What the writer learnt that the resolver should know.
    pub(crate) hints: Hints,
    /// Active residents in memory (`id_index`), preferred to SQL while current.
    pub(crate) index: Arc<crate::id_index::Holder>,
}

/// What the writer tells the resolver.
#[derive(Default)]
pub(crate) struct Hints {
    /// The newest registry version the writer has seen: an older snapshot or index is
    /// renewed.
    pub(crate) latest: AtomicI64,
    /// The writer found someone the resolver had not (registered since): the index is
    /// rebuilt.
    pub(crate) found_late: AtomicBool,
}

#[derive(Default)]
struct Snapshot {
    conn: Option<Connection>,
    /// When the open read transaction started and the registry version it sees.
    open: Option<(Instant, i64)>,
}

impl Snapshot {
    fn close(&mut self) {
        if self.open.take().is_some()
            && let Some(c) = &self.conn
        {
            // Ending a read transaction cannot lose anything; a connection left in a bad
            // state is dropped and reopened.
            if c.execute_batch("COMMIT").is_err() {
                self.conn = None;
            }
        }
    }
}

/// Counts an ingest in flight; when the last one leaves, the snapshot is ended a moment
/// later unless another ingest has come meanwhile.
pub(crate) struct InFlight(Arc<Resolver>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let r = &self.0;
        if r.in_flight.fetch_sub(1, Ordering::AcqRel) != 1 || r.closer.swap(true, Ordering::AcqRel) {
            return;
        }
        let r = Arc::clone(r);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    tokio::time::sleep(SNAPSHOT_AGE).await;
                    // Cleared before looking, so that an ingest leaving after the look
                    // schedules another closer.
                    r.closer.store(false, Ordering::Release);
                    if r.in_flight.load(Ordering::Acquire) == 0 {
                        let _ = tokio::task::spawn_blocking(move || r.close_if_idle()).await;
                    }
                });
            }
            Err(_) => {
                r.closer.store(false, Ordering::Release);
                r.close_if_idle();
            }
        }
    }
}

impl Resolver {
    pub(crate) fn new(path: &std::path::Path) -> Resolver {
        Resolver {
            path: path.to_path_buf(),
            state: std::sync::Mutex::new(Snapshot::default()),
            in_flight: AtomicUsize::new(0),
            closer: AtomicBool::new(false),
            hints: Hints::default(),
            index: Arc::new(crate::id_index::Holder::new(path.to_path_buf())),
        }
    }

    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    fn close_if_idle(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.in_flight.load(Ordering::Acquire) == 0 {
            s.close();
        }
    }

    /// Resolves the scanned people of `b` in one snapshot. ID numbers are looked up in
    /// sorted order so that consecutive probes share index pages.
    pub(crate) fn resolve(&self, b: &ScanBatch) -> Result<Resolved> {
        let latest = self.hints.latest.load(Ordering::Acquire);
        match self.index.get() {
            Some(ix) if ix.version >= latest => {
                if self.hints.found_late.swap(false, Ordering::AcqRel) {
                    self.index.request();
                }
                return Ok(from_index(&ix, b));
            }
            _ => self.index.request(),
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.open.is_some_and(|(at, v)| at.elapsed() > SNAPSHOT_AGE || v < latest) {
            s.close();
        }
        if s.conn.is_none() {
            let c = crate::open_reader(&self.path)?;
            // Room for the residents' covering ID-number index, which every scan probes.
            c.pragma_update(None, "cache_size", -131_072).db()?;
            s.conn = Some(c);
        }
        let Some(c) = s.conn.take() else { return Err(StoreError::Backend("resolver connection".into())) };
        let out = (|| {
            let version = match s.open {
                Some((_, v)) => v,
                None => {
                    c.execute_batch("BEGIN").db()?;
                    // Marked open first, so that a failure below ends the transaction.
                    s.open = Some((Instant::now(), 0));
                    let v = registry_version(&c)?;
                    s.open = Some((Instant::now(), v));
                    v
                }
            };
            lookup(&c, b, version)
        })();
        s.conn = Some(c);
        if out.is_err() {
            s.close();
        }
        out
    }
}

/// The batch's people from the in-memory index, valid under the same version rule.
fn from_index(ix: &crate::id_index::IdIndex, b: &ScanBatch) -> Resolved {
    let found = |e: &crate::id_index::Entry| Found {
        id: e.id,
        unit: Arc::clone(&e.unit),
        household: e.household,
        masked: e.masked.to_string(),
    };
    let people = b
        .items
        .iter()
        .map(|item| match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(n), .. } => ix.by_id_number(n.as_str()).map(found),
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => ix.by_id(*id).map(found),
            _ => None,
        })
        .collect();
    Resolved { version: ix.version, people }
}

fn lookup(c: &Connection, b: &ScanBatch, version: i64) -> Result<Resolved> {
    let mut people: Vec<Option<Found>> = Vec::with_capacity(b.items.len());
    let mut idns: Vec<(&str, usize)> = Vec::new();
    let mut by_id = c.prepare_cached(BY_ID).db()?;
    for (i, item) in b.items.iter().enumerate() {
        people.push(None);
        match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(n), .. } => idns.push((n.as_str(), i)),
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => {
                people[i] = by_id.query_row([id], found_row).optional().db()?;
            }
            _ => {}
        }
    }
    idns.sort_unstable();
    let mut by_idn = c.prepare_cached(BY_ID_NUMBER).db()?;
    for (n, i) in idns {
        people[i] = by_idn.query_row([n], found_row).optional().db()?;
    }
    Ok(Resolved { version, people })
}

pub(crate) fn ingest(
    tx: &Connection,
    b: &ScanBatch,
    audit_entry: &AuditEntry,
    resolved: Option<Resolved>,
    hints: &Hints,
) -> Result<BatchReport> {
    let seen = tx
        .prepare_cached("SELECT accepted FROM scan_batches WHERE batch_id = ?1")
        .db()?
        .query_row([&b.batch_id], |r| r.get::<_, u32>(0))
        .optional()
        .db()?;
    if let Some(accepted) = seen {
        return Ok(BatchReport { batch_id: b.batch_id.clone(), replayed: true, accepted, outcomes: Vec::new() });
    }
    let round = round(tx, b.round_id)?.ok_or(StoreError::NotFound("round"))?;
    let any_control: bool =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM home_controls)").db()?.query_row([], |r| r.get(0)).db()?;
    // The people resolved on a reader count only if no resident changed since.
    let mut pre: Vec<Option<Found>> = match resolved {
        Some(r) => {
            let now = registry_version(tx)?;
            hints.latest.fetch_max(now, Ordering::AcqRel);
            if r.version == now && r.people.len() == b.items.len() { r.people } else { Vec::new() }
        }
        None => Vec::new(),
    };
    // Whether the resolver's answers are used, and whether it missed someone registered.
    let (pre_used, mut late) = (!pre.is_empty(), false);
    let mut by_idn = tx.prepare_cached(BY_ID_NUMBER).db()?;
    let mut by_id = tx.prepare_cached(BY_ID).db()?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (round_id, resident_id) DO NOTHING",
        )
        .db()?;
    let mut existing =
        tx.prepare_cached("SELECT tube_id FROM samples WHERE round_id = ?1 AND resident_id = ?2").db()?;
    let mut controlled = tx.prepare_cached("SELECT 1 FROM home_controls WHERE household_id = ?1").db()?;

    let mut tubes: HashMap<String, TubeRow> = HashMap::new();
    let mut tube_ids = TubeIds(None);
    let mut outcomes = Vec::with_capacity(b.items.len());
    let mut accepted = 0u32;
    // Residents sampled by this batch, so that an undo in the same batch un-counts them
    // (kept only when the batch has an undo).
    let track = b.items.iter().any(|i| matches!(i, ScanItem::Undo { .. }));
    let mut added: HashSet<i64> = HashSet::new();
    // A device batch's entries mostly share one instant: format it once.
    let mut stamp: (Option<DateTime<Utc>>, String) = (None, String::new());
    for (idx, item) in b.items.iter().enumerate() {
        let code = match item {
            ScanItem::Open { tube, .. }
            | ScanItem::Sample { tube, .. }
            | ScanItem::Seal { tube, .. }
            | ScanItem::Undo { tube, .. } => tube.as_str(),
        };
        if !tubes.contains_key(code)
            && let Some(t) = load_tube(tx, code)?
        {
            tubes.insert(code.to_string(), t);
        }
        match item {
            ScanItem::Open { capacity, at, .. } => {
                let o = match tubes.get(code) {
                    Some(t) if t.round_id != b.round_id => outcome("tube_other_round", Some((code, t))),
                    Some(t) if t.state != TubeState::Open => outcome("tube_not_open", Some((code, t))),
                    Some(t) => outcome("ok", Some((code, t))),
                    None => {
                        let t = open_tube(&mut tube_ids, tx, b.round_id, capacity.get(), b.user_id, &fast_ts(*at))?;
                        let o = outcome("ok", Some((code, &t)));
                        tubes.insert(code.to_string(), t);
                        o
                    }
                };
                outcomes.push(o);
            }
            ScanItem::Seal { at, .. } => {
                let o = match tubes.get_mut(code) {
                    None => outcome("tube_unknown", None),
                    Some(t) if t.round_id != b.round_id => outcome("tube_other_round", Some((code, t))),
                    // Sealing a sealed tube again is a retry, not an error.
                    Some(t) if t.state == TubeState::Sealed => outcome("replayed", Some((code, t))),
                    Some(t) => match transition(t.state, TubeEvent::Seal) {
                        Ok(next) if t.count > 0 => {
                            t.state = next;
                            t.sealed = Some((ts(*at), b.user_id));
                            t.dirty = true;
                            outcome("ok", Some((code, t)))
                        }
                        Ok(_) => outcome("tube_empty", Some((code, t))),
                        Err(_) => outcome("tube_not_open", Some((code, t))),
                    },
                };
                outcomes.push(o);
            }
            ScanItem::Undo { resident_id, .. } => {
                let o = match tubes.get_mut(code) {
                    None => outcome("tube_unknown", None),
                    Some(t) if t.round_id != b.round_id => outcome("tube_other_round", Some((code, t))),
                    Some(t) if t.state != TubeState::Open => outcome("tube_not_open", Some((code, t))),
                    Some(t) => {
                        let n = tx
                            .prepare_cached(
                                "DELETE FROM samples WHERE round_id = ?1 AND resident_id = ?2 AND tube_id = ?3",
                            )
                            .db()?
                            .execute(params![b.round_id, resident_id, t.id])
                            .db()?;
                        if n == 1 {
                            t.count -= 1;
                            t.dirty = true;
                            if added.remove(resident_id) {
                                accepted -= 1;
                            }
                            let mut o = outcome("ok", Some((code, t)));
                            o.resident_id = Some(*resident_id);
                            o
                        } else {
                            outcome("not_in_tube", Some((code, t)))
                        }
                    }
                };
                outcomes.push(o);
            }
            ScanItem::Sample { person, at, .. } => {
                if !tubes.contains_key(code) {
                    let t = open_tube(&mut tube_ids, tx, b.round_id, round.pool.get(), b.user_id, &fast_ts(*at))?;
                    tubes.insert(code.to_string(), t);
                }
                let t = tubes.get_mut(code).ok_or_else(|| StoreError::Backend("tube missing from the batch".into()))?;
                if t.round_id != b.round_id {
                    outcomes.push(outcome("tube_other_round", Some((code, t))));
                    continue;
                }
                // Someone not found on the reader may have been registered since: look again.
                let (found, looked_again) = match (pre.get_mut(idx).and_then(Option::take), person) {
                    (_, ScanPerson::Visitor { .. }) => (None, false),
                    (Some(f), _) => (Some(f), false),
                    (None, ScanPerson::IdNumber(idn)) => {
                        (by_idn.query_row([idn.as_str()], found_row).optional().db()?, true)
                    }
                    (None, ScanPerson::ResidentId(id)) => (by_id.query_row([id], found_row).optional().db()?, true),
                };
                if looked_again && found.is_some() && pre_used && !late {
                    late = true;
                    hints.found_late.store(true, Ordering::Release);
                }
                let open_and_room = t.state == TubeState::Open && t.count < t.capacity;
                if let ScanPerson::Visitor { id_number, phone } = person {
                    if !open_and_room {
                        let c = if t.state == TubeState::Open { "tube_full" } else { "tube_not_open" };
                        outcomes.push(outcome(c, Some((code, t))));
                        continue;
                    }
                    let n = tx
                        .prepare_cached(
                            "INSERT INTO visitor_samples (round_id, tube_id, id_number, phone, at, by_user) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (round_id, id_number) DO NOTHING",
                        )
                        .db()?
                        .execute(params![
                            b.round_id,
                            t.id,
                            id_number.as_str(),
                            phone.as_ref().map(|p| p.as_str()),
                            ts(*at),
                            b.user_id
                        ])
                        .db()?;
                    let mut o = if n == 1 {
                        t.count += 1;
                        t.dirty = true;
                        accepted += 1;
                        outcome("ok", Some((code, t)))
                    } else {
                        outcome("already_sampled", Some((code, t)))
                    };
                    o.visitor = true;
                    autoseal(t, *at, b.user_id, &mut o);
                    outcomes.push(o);
                    continue;
                }
                let Some(Found { id: rid, unit, household, masked: masked_name }) = found else {
                    outcomes.push(outcome("not_resident", Some((code, t))));
                    continue;
                };
                let in_round = unit.starts_with(round.area.as_str());
                let mut o = if !open_and_room || !in_round {
                    // Maybe a retry of a sample that made the tube full: look before refusing.
                    let prior = existing.query_row(params![b.round_id, rid], |r| r.get::<_, i64>(0)).optional().db()?;
                    match prior {
                        Some(tid) if tid == t.id => outcome("replayed", Some((code, t))),
                        Some(_) => outcome("already_sampled", Some((code, t))),
                        None if !in_round => outcome("out_of_round", Some((code, t))),
                        None if t.state == TubeState::Open => outcome("tube_full", Some((code, t))),
                        None => outcome("tube_not_open", Some((code, t))),
                    }
                } else if t.capacity > 1
                    && any_control
                    && controlled.query_row([household], |_| Ok(())).optional().db()?.is_some()
                {
                    match existing.query_row(params![b.round_id, rid], |r| r.get::<_, i64>(0)).optional().db()? {
                        Some(tid) if tid == t.id => outcome("replayed", Some((code, t))),
                        Some(_) => outcome("already_sampled", Some((code, t))),
                        None => outcome("needs_single_tube", Some((code, t))),
                    }
                } else {
                    if stamp.0 != Some(*at) {
                        stamp = (Some(*at), fast_ts(*at));
                    }
                    let n = insert.execute(params![b.round_id, rid, t.id, unit, stamp.1, b.user_id]).db()?;
                    if n == 1 {
                        t.count += 1;
                        t.dirty = true;
                        accepted += 1;
                        if track {
                            added.insert(rid);
                        }
                        outcome("ok", Some((code, t)))
                    } else {
                        let prior = existing.query_row(params![b.round_id, rid], |r| r.get::<_, i64>(0)).db()?;
                        outcome(if prior == t.id { "replayed" } else { "already_sampled" }, Some((code, t)))
                    }
                };
                o.resident_id = Some(rid);
                o.masked_name = Some(masked_name);
                autoseal(t, *at, b.user_id, &mut o);
                outcomes.push(o);
            }
        }
    }
    drop((by_idn, by_id, insert, existing, controlled));
    write_tubes(tx, &tubes)?;
    tx.prepare_cached(
        "INSERT INTO scan_batches (batch_id, round_id, user_id, at, items, accepted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .db()?
    .execute(params![b.batch_id, b.round_id, b.user_id, ts(audit_entry.at), b.items.len(), accepted])
    .db()?;
    audit::insert(tx, audit_entry)?;
    Ok(BatchReport { batch_id: b.batch_id.clone(), replayed: false, accepted, outcomes })
}

/// [`ts`] without a format string to interpret: devices stamp every scan, so the ingest
/// formats one instant per sample. Same text as `ts` (checked by a test).
fn fast_ts(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let (y, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&y) || nanos >= 1_000_000_000 {
        return ts(t);
    }
    // YYYY-MM-DDTHH:MM:SS.ffffffZ
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, nanos / 1_000);
    b.iter().map(|&c| c as char).collect()
}

/// Seals the tube when the sample that just went in filled it.
fn autoseal(t: &mut TubeRow, at: DateTime<Utc>, by: i64, o: &mut ScanOutcome) {
    if o.code == "ok" && t.state == TubeState::Open && t.count >= t.capacity {
        t.state = TubeState::Sealed;
        t.sealed = Some((fast_ts(at), by));
        t.dirty = true;
        o.sealed = true;
    }
    o.count = t.count;
}

// ---- tubes, boxes, receipt ------------------------------------------------------------------

const TUBE_COLS: &str = "t.id, t.round_id, t.barcode, t.capacity, t.state, t.count, b.code, t.opened_at, t.opened_by, \
     t.sealed_at, t.sealed_by, t.boxed_at, t.boxed_by, t.received_at, t.received_by, t.resulted_at, t.resulted_by, t.result, t.ct";

fn tube_full(conn: &Connection, barcode: &str) -> Result<Option<Tube>> {
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

fn tube_members(conn: &Connection, tube_id: i64) -> Result<Vec<TubeMember>> {
    let mut out = Vec::new();
    let rows = conn
        .prepare_cached(
            "SELECT s.resident_id, r.name, s.unit_code FROM samples s JOIN residents r ON r.id = s.resident_id \
             WHERE s.tube_id = ?1 ORDER BY s.id",
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

fn box_tubes(
    tx: &Connection,
    code: &str,
    tubes: &[TubeBarcode],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<u32, FieldError>> {
    let mut ids = Vec::new();
    for b in tubes {
        let Some(t) = load_tube(tx, b.as_str())? else { return Ok(Err(refusal("tube_unknown"))) };
        if let Err(e) = transition(t.state, TubeEvent::PutInBox) {
            return Ok(Err(e));
        }
        ids.push(t.id);
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
    for id in &ids {
        upd.execute(params![id, box_id, ts(at), by]).db()?;
    }
    audit::insert(tx, a)?;
    Ok(Ok(ids.len() as u32))
}

fn receive(
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
            let Some(box_id) = box_id else { return Ok(Err(refusal("box_unknown"))) };
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
            let Some(t) = load_tube(tx, b.as_str())? else { return Ok(Err(refusal("tube_unknown"))) };
            if let Err(e) = transition(t.state, TubeEvent::Receive) {
                return Ok(Err(e));
            }
            vec![(t.id, b.as_str().to_string())]
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

fn record_results(
    tx: &Connection,
    results: &[NewResult],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<ResultsReport> {
    let started = std::time::Instant::now();
    // Validate every row first: a refused row means nothing is written.
    let tubes = results.iter().map(|r| load_tube(tx, r.tube.as_str())).collect::<Result<Vec<_>>>()?;
    let plan = match plan_results(results, tubes, |t| t.state) {
        Ok(plan) => plan,
        Err(errors) => {
            return Ok(ResultsReport { committed: false, recorded: 0, errors, chases: Vec::new(), cases: 0 });
        }
    };
    let at_s = ts(at);
    let mut chases = Vec::new();
    let mut cases = 0;
    for (r, t) in &plan {
        tx.prepare_cached(
            "UPDATE tubes SET state = 'resulted', result = ?2, ct = ?3, resulted_at = ?4, resulted_by = ?5 WHERE id = ?1",
        )
        .db()?
        .execute(params![t.id, r.result.as_str(), r.ct, at_s, by])
        .db()?;
        let members = tx
            .prepare_cached(
                "SELECT s.resident_id, s.unit_code, r.household_id FROM samples s JOIN residents r ON r.id = s.resident_id \
                 WHERE s.tube_id = ?1 ORDER BY s.resident_id",
            )
            .db()?
            .query_map([t.id], |x| Ok((x.get::<_, i64>(0)?, x.get::<_, String>(1)?, x.get::<_, i64>(2)?)))
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        match r.result {
            TestResult::Positive if t.capacity > 1 => {
                let mut households = BTreeMap::new();
                let mut tasks = 0u32;
                for (rid, unit, hh) in &members {
                    tx.prepare_cached(
                        "INSERT INTO pool_positives (round_id, resident_id, tube_id, unit_code, status, marked_at) \
                         VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT DO NOTHING",
                    )
                    .db()?
                    .execute(params![t.round_id, rid, t.id, unit, at_s])
                    .db()?;
                    households.insert(*hh, ());
                    let site = nearest_site(tx, &area_code(unit, "sample", rid)?)?;
                    tx.prepare_cached(
                        "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
                         VALUES (?1, ?2, ?3, ?4, 'pool_positive', ?5)",
                    )
                    .db()?
                    .execute(params![t.round_id, rid, t.id, site, at_s])
                    .db()?;
                    tasks += 1;
                }
                let mut controlled = 0u32;
                for hh in households.keys() {
                    controlled += tx
                        .prepare_cached(
                            "INSERT INTO home_controls (household_id, since, source_tube) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (household_id) DO NOTHING",
                        )
                        .db()?
                        .execute(params![hh, at_s, t.id])
                        .db()? as u32;
                }
                tx.prepare_cached(
                    "INSERT INTO alerts (kind, round_id, tube_id, members, created_at) VALUES ('pool_positive', ?1, ?2, ?3, ?4)",
                )
                .db()?
                .execute(params![t.round_id, t.id, members.len(), at_s])
                .db()?;
                let chased_at = at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO chases (tube_id, round_id, members, households_controlled, tasks_created, result_at, chased_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .db()?
                .execute(params![t.id, t.round_id, members.len(), controlled, tasks, at_s, ts(chased_at)])
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
                    resolve_mark(tx, *rid, *hh, positive, &at_s)?;
                    if positive {
                        tx.prepare_cached("INSERT INTO cases (resident_id, source_tube, at) VALUES (?1, ?2, ?3)")
                            .db()?
                            .execute(params![rid, t.id, at_s])
                            .db()?;
                        cases += 1;
                    }
                }
            }
            TestResult::Invalid => {
                tx.prepare_cached(
                    "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
                     SELECT round_id, resident_id, tube_id, unit_code, at, ?2 FROM samples WHERE tube_id = ?1",
                )
                .db()?
                .execute(params![t.id, at_s])
                .db()?;
                tx.prepare_cached("DELETE FROM samples WHERE tube_id = ?1").db()?.execute([t.id]).db()?;
                for (rid, unit, _) in &members {
                    let site = nearest_site(tx, &area_code(unit, "sample", rid)?)?;
                    tx.prepare_cached(
                        "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
                         VALUES (?1, ?2, ?3, ?4, 'invalid', ?5)",
                    )
                    .db()?
                    .execute(params![t.round_id, rid, t.id, site, at_s])
                    .db()?;
                }
            }
        }
    }
    audit::insert(tx, a)?;
    Ok(ResultsReport { committed: true, recorded: plan.len() as u32, errors: Vec::new(), chases, cases })
}

/// An individual result of a person marked pool-positive: confirmed (a case) or cleared;
/// their re-sampling task is done; a household with nobody pending leaves home control.
fn resolve_mark(tx: &Connection, rid: i64, household: i64, positive: bool, at: &str) -> Result<()> {
    let status = if positive { "confirmed" } else { "cleared" };
    let n = tx
        .prepare_cached(
            "UPDATE pool_positives SET status = ?2, resolved_at = ?3 WHERE resident_id = ?1 AND status = 'pending'",
        )
        .db()?
        .execute(params![rid, status, at])
        .db()?;
    if n == 0 {
        return Ok(());
    }
    tx.prepare_cached("UPDATE resample_tasks SET done_at = ?2 WHERE resident_id = ?1 AND done_at IS NULL")
        .db()?
        .execute(params![rid, at])
        .db()?;
    if !positive {
        tx.prepare_cached(
            "DELETE FROM home_controls WHERE household_id = ?1 AND NOT EXISTS ( \
               SELECT 1 FROM pool_positives p JOIN residents r ON r.id = p.resident_id \
               WHERE r.household_id = ?1 AND p.status IN ('pending', 'confirmed'))",
        )
        .db()?
        .execute([household])
        .db()?;
    }
    Ok(())
}

fn chases(conn: &Connection, round_id: i64) -> Result<Vec<ChaseSummary>> {
    let rows = conn
        .prepare_cached(
            "SELECT t.barcode, c.round_id, c.members, c.households_controlled, c.tasks_created, c.result_at, c.chased_at, \
               (SELECT count(*) FROM pool_positives p WHERE p.tube_id = c.tube_id AND p.status <> 'pending'), \
               (SELECT max(resolved_at) FROM pool_positives p WHERE p.tube_id = c.tube_id) \
             FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE c.round_id = ?1 ORDER BY c.result_at, t.barcode",
        )
        .db()?
        .query_map([round_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, u32>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(tube, round_id, members, hh, tasks, ra, ca, resampled, rsa)| {
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
        })
        .collect()
}

// ---- coverage and missed lists ------------------------------------------------------------

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

fn coverage_of(code: AreaCode, name: String, active: u64, sampled: u64, exempt: u64) -> Coverage {
    let expected = active.saturating_sub(exempt);
    Coverage { code, name, expected, sampled, exempt, missing: expected.saturating_sub(sampled) }
}

fn coverage(conn: &Connection, round_id: i64, node: &AreaCode) -> Result<Coverage> {
    let summary = crate::registry::area_summary(conn, node)?.ok_or(StoreError::NotFound("area"))?;
    let len = node.as_str().len();
    let sampled = sampled_by(conn, round_id, node, len)?.values().sum();
    let exempt = counts_by(conn, EXEMPT_BY, round_id, node, len)?.values().sum();
    Ok(coverage_of(node.clone(), summary.area.name, summary.residents, sampled, exempt))
}

fn coverage_children(conn: &Connection, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
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
            coverage_of(c.area.code, c.area.name, c.residents, s, e)
        })
        .collect())
}

fn missed(conn: &Connection, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
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

fn exempt(
    tx: &Connection,
    round_id: i64,
    resident_id: i64,
    reason: ExemptionReason,
    proof: &str,
    by: i64,
    at: DateTime<Utc>,
) -> Result<std::result::Result<(), FieldError>> {
    let unit = tx
        .prepare_cached("SELECT unit_code FROM residents WHERE id = ?1")
        .db()?
        .query_row([resident_id], |r| r.get::<_, String>(0))
        .optional()
        .db()?
        .ok_or(StoreError::NotFound("resident"))?;
    let sampled = tx
        .prepare_cached("SELECT 1 FROM samples WHERE round_id = ?1 AND resident_id = ?2")
        .db()?
        .query_row(params![round_id, resident_id], |_| Ok(()))
        .optional()
        .db()?
        .is_some();
    if sampled {
        return Ok(Err(refusal("sampled_already")));
    }
    tx.prepare_cached(
        "INSERT INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (round_id, resident_id) DO UPDATE SET reason = excluded.reason, proof = excluded.proof, \
           by_user = excluded.by_user, at = excluded.at",
    )
    .db()?
    .execute(params![round_id, resident_id, unit, reason.as_str(), proof, by, ts(at)])
    .db()?;
    Ok(Ok(()))
}

// ---- door-knocking ------------------------------------------------------------------------

const TASK_COLS: &str = "d.id, d.round_id, d.household_id, d.unit_code, h.room, d.created_at, d.created_by, d.outcome, d.note, d.done_at, d.done_by";

fn task_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<DoorTaskRaw> {
    Ok(DoorTaskRaw {
        id: r.get(0)?,
        round_id: r.get(1)?,
        household_id: r.get(2)?,
        unit: r.get(3)?,
        room: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        outcome: r.get(7)?,
        note: r.get(8)?,
        done_at: r.get(9)?,
        done_by: r.get(10)?,
    })
}

struct DoorTaskRaw {
    id: i64,
    round_id: i64,
    household_id: i64,
    unit: String,
    room: String,
    created_at: String,
    created_by: i64,
    outcome: Option<String>,
    note: String,
    done_at: Option<String>,
    done_by: Option<i64>,
}

impl DoorTaskRaw {
    fn parse(self) -> Result<DoorTask> {
        let id = self.id;
        Ok(DoorTask {
            id,
            round_id: self.round_id,
            household_id: self.household_id,
            unit: area_code(&self.unit, "door_task", &id)?,
            room: self.room,
            created_at: parse_ts(&self.created_at, "door_task", &id)?,
            created_by: self.created_by,
            outcome: self
                .outcome
                .map(|o| DoorOutcome::parse(&o))
                .transpose()
                .map_err(|_| StoreError::Backend(format!("stored door_task {id} has an invalid outcome")))?,
            note: self.note,
            done_at: opt_ts(self.done_at, "door_task", id)?,
            done_by: self.done_by,
        })
    }
}

fn door_task(conn: &Connection, id: i64) -> Result<Option<DoorTask>> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id WHERE d.id = ?1"
        ))
        .db()?
        .query_row([id], task_from)
        .optional()
        .db()?;
    raw.map(DoorTaskRaw::parse).transpose()
}

fn door_tasks(conn: &Connection, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
    let mut p = Vec::new();
    let sc = scope("d.unit_code", roots, &mut p);
    p.push(Value::Integer(round_id));
    let raws = conn
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM door_tasks d JOIN households h ON h.id = d.household_id \
             WHERE {sc} AND d.round_id = ? ORDER BY d.id"
        ))
        .db()?
        .query_map(rusqlite::params_from_iter(p), task_from)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raws.into_iter().map(DoorTaskRaw::parse).collect()
}

fn create_door_tasks(
    tx: &Connection,
    round_id: i64,
    households: &[i64],
    by: i64,
    at: DateTime<Utc>,
) -> Result<Vec<DoorTask>> {
    let mut out = Vec::new();
    for hh in households {
        let unit = tx
            .prepare_cached("SELECT unit_code FROM households WHERE id = ?1")
            .db()?
            .query_row([hh], |r| r.get::<_, String>(0))
            .optional()
            .db()?
            .ok_or(StoreError::NotFound("household"))?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO door_tasks (round_id, household_id, unit_code, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?
        .execute(params![round_id, hh, unit, ts(at), by])
        .db()?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM door_tasks WHERE round_id = ?1 AND household_id = ?2 AND outcome IS NULL")
            .db()?
            .query_row(params![round_id, hh], |r| r.get(0))
            .db()?;
        if let Some(t) = door_task(tx, id)? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Records a door-knock outcome with its effects. A refusal rolls back to where this
/// began: the task keeps no outcome and nothing else is written.
fn door_outcome(
    tx: &Connection,
    task_id: i64,
    report: &DoorReport,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
    hints: &Hints,
) -> Result<std::result::Result<DoorTask, DoorRefusal>> {
    let task = door_task(tx, task_id)?.ok_or(StoreError::NotFound("door_task"))?;
    if task.outcome.is_some() {
        return Err(StoreError::Conflict {
            code: "task_done",
            message: "the door-knock task already has an outcome".into(),
        });
    }
    if let Err(e) = report.check() {
        return Ok(Err(e));
    }
    tx.execute_batch("SAVEPOINT door_outcome").db()?;
    if let Err(e) = door_effects(tx, &task, report, note, by, at, hints)? {
        tx.execute_batch("ROLLBACK TO door_outcome; RELEASE door_outcome").db()?;
        return Ok(Err(e));
    }
    tx.execute_batch("RELEASE door_outcome").db()?;
    tx.prepare_cached("UPDATE door_tasks SET outcome = ?2, note = ?3, done_at = ?4, done_by = ?5 WHERE id = ?1")
        .db()?
        .execute(params![task_id, report.outcome().as_str(), note, ts(at), by])
        .db()?;
    door_task(tx, task_id)?.ok_or(StoreError::NotFound("door_task")).map(Ok)
}

fn door_effects(
    tx: &Connection,
    task: &DoorTask,
    report: &DoorReport,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
    hints: &Hints,
) -> Result<std::result::Result<(), DoorRefusal>> {
    match report {
        DoorReport::SampledAtDoor { samples, audit } => return door_samples(tx, task, samples, by, at, audit, hints),
        DoorReport::AwayWithProof => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO exemptions (round_id, resident_id, unit_code, reason, proof, by_user, at) \
                 SELECT ?1, r.id, r.unit_code, 'away_with_proof', ?3, ?4, ?5 FROM residents r \
                 WHERE r.household_id = ?2 AND r.status = 'active' \
                   AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = ?1 AND s.resident_id = r.id)",
            )
            .db()?
            .execute(params![task.round_id, task.household_id, note, by, ts(at)])
            .db()?;
        }
        DoorReport::Refused => {
            tx.prepare_cached(
                "INSERT INTO enforcements (task_id, household_id, unit_code, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)",
            )
            .db()?
            .execute(params![task.id, task.household_id, task.unit.as_str(), ts(at)])
            .db()?;
        }
        DoorReport::WrongData { resident_id, correction, audit } => {
            let member = crate::registry::resident(tx, *resident_id)?;
            if member.is_none_or(|r| r.household_id != task.household_id) {
                return Ok(Err(door_refusal("not_in_household", *resident_id)));
            }
            // The roster page's correction, with its audit entry.
            crate::registry::correct_resident(tx, *resident_id, correction, audit)?;
        }
        DoorReport::NotHome => {}
    }
    Ok(Ok(()))
}

/// Samples at the door: each member must be on the household's missed list and each tube
/// new; the samples then go through the ingest as the worker's batch of single tubes.
fn door_samples(
    tx: &Connection,
    task: &DoorTask,
    samples: &[DoorSample],
    by: i64,
    at: DateTime<Utc>,
    audit: &AuditEntry,
    hints: &Hints,
) -> Result<std::result::Result<(), DoorRefusal>> {
    let mut exempt = tx.prepare_cached("SELECT 1 FROM exemptions WHERE round_id = ?1 AND resident_id = ?2").db()?;
    for s in samples {
        let refuse = |code| Ok(Err(door_refusal(code, s.resident_id)));
        match crate::registry::resident(tx, s.resident_id)? {
            Some(r) if r.household_id != task.household_id => return refuse("not_in_household"),
            None => return refuse("not_in_household"),
            Some(r) if r.status != ResidentStatus::Active => return refuse("not_missing"),
            Some(_) => {}
        }
        if exempt.exists(params![task.round_id, s.resident_id]).db()? {
            return refuse("not_missing");
        }
        if let Some(t) = load_tube(tx, s.tube.as_str())? {
            return refuse(if t.round_id == task.round_id { "tube_used" } else { "tube_other_round" });
        }
    }
    let batch = door_batch(task, samples, by, at);
    let report = ingest(tx, &batch, audit, None, hints)?;
    Ok(door_batch_refusal(samples, &report).map_or(Ok(()), Err))
}

#[async_trait]
impl TestingStore for SqliteStore {
    async fn create_round(&self, new: &NewRound, a: &AuditEntry) -> Result<TestRound> {
        let (new, a) = (new.clone(), a.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO test_rounds (area_code, date, mandatory, pool_size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .db()?
            .execute(params![new.area.as_str(), new.date.to_string(), new.mandatory, new.pool.get(), ts(a.at)])
            .db()?;
            let id = tx.last_insert_rowid();
            audit::insert(tx, &AuditEntry { target: id.to_string(), ..a })?;
            round(tx, id)?.ok_or(StoreError::NotFound("round"))
        })
        .await
    }

    async fn round(&self, id: i64) -> Result<Option<TestRound>> {
        self.read(move |c| round(c, id)).await
    }

    async fn rounds(&self, limit: u32) -> Result<Vec<TestRound>> {
        self.read(move |c| {
            let raws = c
                .prepare_cached(&format!("SELECT {ROUND_COLS} FROM test_rounds ORDER BY date DESC, id DESC LIMIT ?1"))
                .db()?
                .query_map([limit], round_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            raws.into_iter().map(round_from).collect()
        })
        .await
    }

    async fn create_site(&self, new: &NewSite, a: &AuditEntry) -> Result<SamplingSite> {
        let (new, a) = (new.clone(), a.clone());
        self.write(move |tx| {
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
        })
        .await
    }

    async fn sites(&self, root: &AreaCode) -> Result<Vec<SamplingSite>> {
        let root = root.clone();
        self.read(move |c| {
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
        })
        .await
    }

    async fn ingest_scans(&self, batch: ScanBatch, a: &AuditEntry) -> Result<BatchReport> {
        let a = a.clone();
        // Resolving the scanned people is most of a batch's reading: done on a reader, it
        // overlaps other batches' writes instead of holding the single writer.
        let _in_flight = self.resolver.enter();
        let resolver = Arc::clone(&self.resolver);
        let (batch, resolved) = tokio::task::spawn_blocking(move || {
            let r = resolver.resolve(&batch);
            (batch, r)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database task failed: {e}")))?;
        // A resolver that failed is only a lost shortcut: the writer resolves by itself.
        let resolved = resolved.map_err(|e| tracing::warn!(error = %e, "scan resolver failed")).ok();
        let resolver = Arc::clone(&self.resolver);
        let (batch, mut report) =
            self.write(move |tx| ingest(tx, &batch, &a, resolved, &resolver.hints).map(|r| (batch, r))).await?;
        name_outcomes(&batch, &mut report);
        Ok(report)
    }

    async fn tube(&self, barcode: &TubeBarcode) -> Result<Option<Tube>> {
        let b = barcode.as_str().to_string();
        self.read(move |c| tube_full(c, &b)).await
    }

    async fn tube_members(&self, tube_id: i64) -> Result<Vec<TubeMember>> {
        self.read(move |c| tube_members(c, tube_id)).await
    }

    async fn box_tubes(
        &self,
        box_code: &str,
        tubes: &[TubeBarcode],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<u32, FieldError>> {
        let (code, tubes, a) = (box_code.to_string(), tubes.to_vec(), a.clone());
        self.write(move |tx| box_tubes(tx, &code, &tubes, by, at, &a)).await
    }

    async fn receive(
        &self,
        what: &Receipt,
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<std::result::Result<Vec<String>, FieldError>> {
        let (what, a) = (what.clone(), a.clone());
        self.write(move |tx| receive(tx, &what, by, at, &a)).await
    }

    async fn record_results(
        &self,
        results: &[NewResult],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<ResultsReport> {
        let (results, a) = (results.to_vec(), a.clone());
        self.write(move |tx| record_results(tx, &results, by, at, &a)).await
    }

    async fn coverage(&self, round_id: i64, node: &AreaCode) -> Result<Coverage> {
        let node = node.clone();
        self.read(move |c| coverage(c, round_id, &node)).await
    }

    async fn coverage_children(&self, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
        let node = node.clone();
        self.read(move |c| coverage_children(c, round_id, &node)).await
    }

    async fn missed(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<MissedHousehold>> {
        let roots = roots.to_vec();
        self.read(move |c| missed(c, round_id, &roots)).await
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
        let (building, note, a) = (building.clone(), note.to_string(), a.clone());
        self.write(move |tx| {
            if building.level() != AreaLevel::Building {
                return Err(StoreError::NotFound("building"));
            }
            let missing: u64 =
                missed(tx, round_id, std::slice::from_ref(&building))?.iter().map(|h| h.members.len() as u64).sum();
            tx.prepare_cached(
                "INSERT INTO missing_reports (round_id, building_code, missing, note, by_user, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?
            .execute(params![round_id, building.as_str(), missing, note, by, ts(at)])
            .db()?;
            audit::insert(tx, &a)?;
            Ok(missing)
        })
        .await
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
        let (proof, a) = (proof.to_string(), a.clone());
        self.write(move |tx| {
            let r = exempt(tx, round_id, resident_id, reason, &proof, by, at)?;
            if r.is_ok() {
                audit::insert(tx, &a)?;
            }
            Ok(r)
        })
        .await
    }

    async fn create_door_tasks(
        &self,
        round_id: i64,
        households: &[i64],
        by: i64,
        at: DateTime<Utc>,
        a: &AuditEntry,
    ) -> Result<Vec<DoorTask>> {
        let (households, a) = (households.to_vec(), a.clone());
        self.write(move |tx| {
            let out = create_door_tasks(tx, round_id, &households, by, at)?;
            audit::insert(tx, &a)?;
            Ok(out)
        })
        .await
    }

    async fn door_tasks(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<DoorTask>> {
        let roots = roots.to_vec();
        self.read(move |c| door_tasks(c, round_id, &roots)).await
    }

    async fn door_task(&self, id: i64) -> Result<Option<DoorTask>> {
        self.read(move |c| door_task(c, id)).await
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
        let (report, note, a) = (report.clone(), note.to_string(), a.clone());
        let resolver = Arc::clone(&self.resolver);
        self.write(move |tx| {
            let t = door_outcome(tx, task_id, &report, &note, by, at, &resolver.hints)?;
            if t.is_ok() {
                audit::insert(tx, &a)?;
            }
            Ok(t)
        })
        .await
    }

    async fn enforcements(&self, roots: &[AreaCode]) -> Result<Vec<(i64, i64, String)>> {
        let roots = roots.to_vec();
        self.read(move |c| {
            let mut p = Vec::new();
            let sc = scope("unit_code", &roots, &mut p);
            c.prepare_cached(&format!("SELECT task_id, household_id, status FROM enforcements WHERE {sc} ORDER BY id"))
                .db()?
                .query_map(rusqlite::params_from_iter(p), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()
        })
        .await
    }

    async fn alerts(&self, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
        self.read(move |c| {
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
        })
        .await
    }

    async fn chases(&self, round_id: i64) -> Result<Vec<ChaseSummary>> {
        self.read(move |c| chases(c, round_id)).await
    }

    async fn pool_positives(&self, round_id: i64, roots: &[AreaCode]) -> Result<Vec<PoolPositive>> {
        let roots = roots.to_vec();
        self.read(move |c| {
            let mut p = Vec::new();
            let sc = scope("p.unit_code", &roots, &mut p);
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
        })
        .await
    }

    async fn under_control(&self, household_id: i64) -> Result<bool> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT 1 FROM home_controls WHERE household_id = ?1")
                .db()?
                .query_row([household_id], |_| Ok(()))
                .optional()
                .db()?
                .is_some())
        })
        .await
    }

    async fn positivity(&self, root: &AreaCode, rounds: u32) -> Result<Positivity> {
        let root = root.clone();
        self.read(move |c| {
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
                out.sampled +=
                    q("SELECT count(*) FROM samples WHERE round_id = ?1 AND unit_code >= ?2 AND unit_code < ?3")?;
                out.positive_pools += q(
                    "SELECT count(DISTINCT tube_id) FROM pool_positives WHERE round_id = ?1 AND unit_code >= ?2 AND unit_code < ?3",
                )?;
                out.cases += q(
                    "SELECT count(*) FROM cases k JOIN tubes t ON t.id = k.source_tube JOIN residents r ON r.id = k.resident_id \
                     WHERE t.round_id = ?1 AND r.unit_code >= ?2 AND r.unit_code < ?3",
                )?;
            }
            Ok(out)
        })
        .await
    }
}

/// The floor `cordon bench ingest` compares the sample ingest with: the same sample rows
/// `(resident_id, tube_id, unit_code)` inserted into a fresh database file with the same
/// table, indexes and pragmas, `batch` rows per transaction through one cached prepared
/// statement, and nothing else. Returns rows per second.
pub fn baseline_insert_rows_per_s(path: &std::path::Path, rows: &[(i64, i64, String)], batch: usize) -> Result<f64> {
    let mut conn = crate::open_writer(path)?;
    conn.execute_batch(
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, round_id INTEGER NOT NULL, resident_id INTEGER NOT NULL, \
           tube_id INTEGER NOT NULL, unit_code TEXT NOT NULL, at TEXT NOT NULL, by_user INTEGER NOT NULL); \
         CREATE UNIQUE INDEX samples_round_resident ON samples (round_id, resident_id); \
         CREATE INDEX samples_round_unit ON samples (round_id, unit_code); \
         CREATE INDEX samples_tube ON samples (tube_id);",
    )
    .db()?;
    let at = ts(Utc::now());
    let started = std::time::Instant::now();
    for chunk in rows.chunks(batch.max(1)) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).db()?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) VALUES (1, ?1, ?2, ?3, ?4, 1)",
                )
                .db()?;
            for (r, t, u) in chunk {
                stmt.execute(params![r, t, u, at]).db()?;
            }
        }
        tx.commit().db()?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

#[cfg(test)]
mod fast_ts_tests {
    use super::*;

    #[test]
    fn fast_ts_is_ts() {
        let mut t = DateTime::parse_from_rfc3339("2026-11-29T08:07:06.123456789Z").unwrap().with_timezone(&Utc);
        for step in [0i64, 1, 999, 1_000_001, 86_399_999_999, 31_622_400_000_000] {
            t += chrono::Duration::microseconds(step);
            assert_eq!(fast_ts(t), ts(t));
        }
        let early = DateTime::parse_from_rfc3339("0009-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        assert_eq!(fast_ts(early), ts(early));
    }
}
