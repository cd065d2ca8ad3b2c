//! The sample ingest's in-memory index of active residents, by ID number and by id.
//!
//! Probing the residents' covering index costs a scan ~2.5 µs of B-tree descent on the
//! resolver connection; a hash probe costs a tenth of that. The index is a snapshot of the
//! active residents taken in one read transaction together with `registry_version`, and it
//! is used under exactly the rule that governs every resolver answer: the writer keeps what
//! was resolved only if `registry_version` still equals the snapshot's, and looks up again
//! anyone not found (registered since). So a stale index costs speed, never correctness.
//!
//! The index is built in the background (on a thread of its own, with its own read
//! connection) when an ingest finds none, finds it older than the newest registry version
//! the writer has seen, or learns that the writer found people the index lacked. Builds are
//! spaced by [`REBUILD_SPACING`] so that a stream of registry edits during sampling does not
//! keep a core busy rebuilding; meanwhile the resolver reads SQL as before.

use crate::rows::OrBackend;
use cordon_store::Result;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Least time between the starts of two builds.
pub(crate) const REBUILD_SPACING: Duration = Duration::from_secs(2);

/// A resident as the ingest needs them: id, household, unit and masked name.
pub(crate) struct Entry {
    pub id: i64,
    pub household: i64,
    pub unit: Arc<str>,
    pub masked: Arc<str>,
}

/// Active residents as of `version`.
pub(crate) struct IdIndex {
    pub version: i64,
    by_idn: HashMap<[u8; 18], u32>,
    by_id: HashMap<i64, u32>,
    people: Vec<Entry>,
}

impl IdIndex {
    pub(crate) fn by_id_number(&self, idn: &str) -> Option<&Entry> {
        let key: [u8; 18] = idn.as_bytes().try_into().ok()?;
        self.by_idn.get(&key).map(|&i| &self.people[i as usize])
    }

    pub(crate) fn by_id(&self, id: i64) -> Option<&Entry> {
        self.by_id.get(&id).map(|&i| &self.people[i as usize])
    }

    pub(crate) fn len(&self) -> usize {
        self.people.len()
    }

    /// Reads every active resident in one read transaction on `c`.
    pub(crate) fn load(c: &rusqlite::Connection) -> Result<IdIndex> {
        c.execute_batch("BEGIN").db()?;
        let out = Self::load_in(c);
        // Ending a read transaction cannot lose anything.
        let _ = c.execute_batch("COMMIT");
        out
    }

    fn load_in(c: &rusqlite::Connection) -> Result<IdIndex> {
        let version = super::testing::registry_version(c)?;
        let count: i64 = c.query_row("SELECT count(*) FROM residents", [], |r| r.get(0)).db()?;
        let cap = usize::try_from(count).unwrap_or(0);
        let mut ix = IdIndex {
            version,
            by_idn: HashMap::with_capacity(cap),
            by_id: HashMap::with_capacity(cap),
            people: Vec::with_capacity(cap),
        };
        // Units repeat (a few hundred residents each): one shared string per unit.
        let mut units: HashMap<String, Arc<str>> = HashMap::new();
        let mut stmt = c
            .prepare(
                "SELECT id_number, id, household_id, unit_code, name FROM residents \
                 INDEXED BY residents_id_number_scan WHERE status = 'active'",
            )
            .db()?;
        let mut rows = stmt.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            let idn: String = r.get(0).db()?;
            let Ok(key) = <[u8; 18]>::try_from(idn.as_bytes()) else { continue };
            let unit: String = r.get(3).db()?;
            let unit = match units.get(&unit) {
                Some(u) => Arc::clone(u),
                None => {
                    let u: Arc<str> = Arc::from(unit.as_str());
                    units.insert(unit, Arc::clone(&u));
                    u
                }
            };
            let e = Entry {
                id: r.get(1).db()?,
                household: r.get(2).db()?,
                unit,
                masked: Arc::from(super::testing::masked(&r.get::<_, String>(4).db()?)),
            };
            let i =
                u32::try_from(ix.people.len()).map_err(|_| cordon_store::StoreError::Backend("index size".into()))?;
            ix.by_idn.insert(key, i);
            ix.by_id.insert(e.id, i);
            ix.people.push(e);
        }
        Ok(ix)
    }
}

/// The current index and its background builds.
pub(crate) struct Holder {
    path: PathBuf,
    current: RwLock<Option<Arc<IdIndex>>>,
    building: AtomicBool,
    last_start: Mutex<Option<Instant>>,
}

impl Holder {
    pub(crate) fn new(path: PathBuf) -> Holder {
        Holder { path, current: RwLock::new(None), building: AtomicBool::new(false), last_start: Mutex::new(None) }
    }

    pub(crate) fn get(&self) -> Option<Arc<IdIndex>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts a build unless one runs or one started less than [`REBUILD_SPACING`] ago.
    pub(crate) fn request(self: &Arc<Self>) {
        if self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let mut last = self.last_start.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REBUILD_SPACING) {
                self.building.store(false, Ordering::Release);
                return;
            }
            *last = Some(Instant::now());
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("cordon-id-index".into()).spawn(move || {
            let built = crate::open_reader(&me.path).and_then(|c| IdIndex::load(&c));
            match built {
                Ok(ix) => {
                    tracing::debug!(residents = ix.len(), version = ix.version, "ingest index built");
                    *me.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ix));
                }
                Err(e) => tracing::warn!(error = %e, "ingest index build failed"),
            }
            me.building.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.building.store(false, Ordering::Release);
        }
    }
}
