//! The sample ingest in SQLite: the facts of a device batch and the writing of its plan
//! (the rules are [`cordon_store::testing::plan_ingest`]'s).
//!
//! The hot path (a district's whole population every day): one `BEGIN IMMEDIATE`
//! transaction per device batch on the single writer, cached prepared statements. The
//! scanned people are resolved before, outside the writer (from the in-memory index of
//! active residents, or a reader connection, in ID-number order), and the write
//! transaction uses them only if no resident changed since (`registry_version`);
//! otherwise, and for anyone not found, it looks them up itself. Everything else the plan
//! needs — the tubes, the prior samples of the people sampled or undone, visitors, home
//! controls — is read inside the write transaction, so the facts are exact.

use super::{masked, round};
use crate::audit;
use crate::rows::{OrBackend, ts};
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::testing::TubeState;
use cordon_store::testing::ingest::{IngestPlan, PersonFact, TubeFact, TubeRef};
use cordon_store::testing::*;
use cordon_store::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn found_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonFact> {
    Ok(PersonFact {
        id: r.get(0)?,
        unit: Arc::from(r.get::<_, String>(1)?),
        household: r.get(2)?,
        masked: Arc::from(masked(&r.get::<_, String>(3)?)),
    })
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
    people: Vec<Option<PersonFact>>,
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
    let found = |e: &crate::id_index::Entry| PersonFact {
        id: e.id,
        unit: Arc::clone(&e.unit),
        household: e.household,
        masked: Arc::clone(&e.masked),
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
    let mut people: Vec<Option<PersonFact>> = Vec::with_capacity(b.items.len());
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

/// A stored tube as the plan needs it.
pub(crate) fn tube_fact(conn: &Connection, barcode: &str) -> Result<Option<TubeFact>> {
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
    Ok(Some(TubeFact { id, round_id, capacity, state, count }))
}

/// Applies a device batch: its facts, the plan, the plan written, with the audit entry,
/// in the caller's transaction. A batch seen before is answered as a replay.
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
        return Ok(replayed_report(&b.batch_id, accepted));
    }
    let facts = facts(tx, b, &ingest_keys(b), resolved, hints)?;
    let plan = plan_ingest(b, facts);
    write(tx, b, &plan, audit_entry)?;
    Ok(plan.into_report(&b.batch_id))
}

/// The facts [`ingest_keys`] names, read in the write transaction (people from the
/// resolver's answer while it is current).
pub(crate) fn facts(
    tx: &Connection,
    b: &ScanBatch,
    keys: &IngestKeys,
    resolved: Option<Resolved>,
    hints: &Hints,
) -> Result<IngestFacts> {
    let round = round(tx, b.round_id)?.ok_or(StoreError::NotFound("round"))?;
    let mut tubes = HashMap::with_capacity(keys.barcodes.len());
    for code in &keys.barcodes {
        if let Some(t) = tube_fact(tx, code)? {
            tubes.insert(code.clone(), t);
        }
    }
    // The people resolved outside the writer count only if no resident changed since.
    let mut people: Vec<Option<PersonFact>> = match resolved {
        Some(r) => {
            let now = registry_version(tx)?;
            hints.latest.fetch_max(now, Ordering::AcqRel);
            if r.version == now && r.people.len() == b.items.len() { r.people } else { Vec::new() }
        }
        None => Vec::new(),
    };
    let pre_used = !people.is_empty();
    people.resize(b.items.len(), None);
    // Anyone not found outside the writer may have been registered since: look again.
    let mut by_idn = tx.prepare_cached(BY_ID_NUMBER).db()?;
    let mut by_id = tx.prepare_cached(BY_ID).db()?;
    let mut late = false;
    for (item, slot) in b.items.iter().zip(people.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        *slot = match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(n), .. } => {
                by_idn.query_row([n.as_str()], found_row).optional().db()?
            }
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => {
                by_id.query_row([id], found_row).optional().db()?
            }
            _ => None,
        };
        late |= slot.is_some();
    }
    if late && pre_used {
        hints.found_late.store(true, Ordering::Release);
    }
    let mut prior_samples = HashMap::new();
    let mut prior = tx.prepare_cached("SELECT tube_id FROM samples WHERE round_id = ?1 AND resident_id = ?2").db()?;
    let person_ids = keys.person_ids(people.iter().flatten());
    for id in &person_ids {
        if let Some(tube) = prior.query_row(params![b.round_id, id], |r| r.get::<_, i64>(0)).optional().db()? {
            prior_samples.insert(*id, tube);
        }
    }
    // Pending marks and re-samples matter only once somebody is marked: most rounds have
    // nobody marked, and then no probe is made.
    let mut marked = HashSet::new();
    let mut prior_resamples: HashMap<i64, Vec<i64>> = HashMap::new();
    let any_marked: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM pool_positives WHERE status = 'pending')")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    if any_marked {
        let mut m =
            tx.prepare_cached("SELECT 1 FROM pool_positives WHERE resident_id = ?1 AND status = 'pending'").db()?;
        let mut again =
            tx.prepare_cached("SELECT tube_id FROM resamples WHERE round_id = ?1 AND resident_id = ?2").db()?;
        for id in &person_ids {
            if m.exists([id]).db()? {
                marked.insert(*id);
            }
            let tubes = again
                .query_map(params![b.round_id, id], |r| r.get::<_, i64>(0))
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            if !tubes.is_empty() {
                prior_resamples.insert(*id, tubes);
            }
        }
    }
    let mut prior_visitors = HashSet::new();
    if !keys.visitor_ids.is_empty() {
        let mut v = tx.prepare_cached("SELECT 1 FROM visitor_samples WHERE round_id = ?1 AND id_number = ?2").db()?;
        for n in &keys.visitor_ids {
            if v.exists(params![b.round_id, n]).db()? {
                prior_visitors.insert(n.clone());
            }
        }
    }
    let mut controlled = HashSet::new();
    let any_control: bool =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM home_controls)").db()?.query_row([], |r| r.get(0)).db()?;
    if any_control {
        let mut c = tx.prepare_cached("SELECT 1 FROM home_controls WHERE household_id = ?1").db()?;
        for p in people.iter().flatten() {
            if c.exists([p.household]).db()? {
                controlled.insert(p.household);
            }
        }
    }
    Ok(IngestFacts { round, tubes, people, prior_samples, prior_visitors, controlled, marked, prior_resamples })
}

/// Writes a batch's plan: the tubes it opened (once, in their final state), the tubes it
/// changed, the samples it took out and put in, its visitors, its record and audit entry.
pub(crate) fn write(tx: &Connection, b: &ScanBatch, plan: &IngestPlan, audit_entry: &AuditEntry) -> Result<()> {
    let mut ids = Vec::with_capacity(plan.new_tubes.len());
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO tubes (round_id, barcode, capacity, state, count, opened_at, opened_by, sealed_at, sealed_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .db()?;
        for t in &plan.new_tubes {
            let by = t.sealed_at.map(|_| b.user_id);
            insert
                .execute(params![
                    b.round_id,
                    t.barcode,
                    t.capacity,
                    t.state.as_str(),
                    t.count,
                    fast_ts(t.opened_at),
                    b.user_id,
                    t.sealed_at.map(fast_ts),
                    by
                ])
                .db()?;
            ids.push(tx.last_insert_rowid());
        }
    }
    let tube_id = |r: TubeRef| match r {
        TubeRef::Stored(id) => Ok(id),
        TubeRef::New(i) => ids.get(i).copied().ok_or_else(|| StoreError::Backend("planned tube missing".into())),
    };
    let mut update = tx
        .prepare_cached(
            "UPDATE tubes SET count = ?2, state = ?3, sealed_at = coalesce(?4, sealed_at), sealed_by = coalesce(?5, sealed_by) WHERE id = ?1",
        )
        .db()?;
    for c in &plan.changed_tubes {
        let by = c.sealed_at.map(|_| b.user_id);
        update.execute(params![c.id, c.count, c.state.as_str(), c.sealed_at.map(fast_ts), by]).db()?;
    }
    if !plan.undone.is_empty() {
        let mut delete =
            tx.prepare_cached("DELETE FROM samples WHERE round_id = ?1 AND resident_id = ?2 AND tube_id = ?3").db()?;
        for (rid, tid) in &plan.undone {
            if delete.execute(params![b.round_id, rid, tid]).db()? != 1 {
                return Err(StoreError::Backend("an undone sample was not found".into()));
            }
        }
    }
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?;
    // A device batch's entries mostly share one instant: format it once.
    let mut stamp: (Option<DateTime<Utc>>, String) = (None, String::new());
    for s in &plan.samples {
        if stamp.0 != Some(s.at) {
            stamp = (Some(s.at), fast_ts(s.at));
        }
        insert.execute(params![b.round_id, s.resident_id, tube_id(s.tube)?, &*s.unit, stamp.1, b.user_id]).db()?;
    }
    if !plan.resamples.is_empty() || !plan.tasks_sampled.is_empty() {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO resamples (round_id, resident_id, tube_id, unit_code, at, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?;
        for s in &plan.resamples {
            insert.execute(params![b.round_id, s.resident_id, tube_id(s.tube)?, &*s.unit, ts(s.at), b.user_id]).db()?;
        }
        let mut task = tx
            .prepare_cached(
                "UPDATE resample_tasks SET sampled_at = ?2 WHERE resident_id = ?1 AND done_at IS NULL AND sampled_at IS NULL",
            )
            .db()?;
        for (rid, at) in &plan.tasks_sampled {
            task.execute(params![rid, ts(*at)]).db()?;
        }
    }
    if !plan.visitors.is_empty() {
        let mut v = tx
            .prepare_cached(
                "INSERT INTO visitor_samples (round_id, tube_id, id_number, phone, at, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?;
        for s in &plan.visitors {
            v.execute(params![b.round_id, tube_id(s.tube)?, s.id_number, s.phone, ts(s.at), b.user_id]).db()?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO scan_batches (batch_id, round_id, user_id, at, items, accepted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .db()?
    .execute(params![b.batch_id, b.round_id, b.user_id, ts(audit_entry.at), b.items.len(), plan.accepted])
    .db()?;
    audit::insert(tx, audit_entry)
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

#[cfg(test)]
mod tests {
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
