//! The checkpoint scan path on SQLite: a principal's lineage names in one read, every
//! input of a scan's verdict in one read transaction ([`scan_context`]), and the scan log
//! behind a group commit ([`scan_log`]) so that concurrent scans share one write
//! transaction on the single writer instead of queueing on its mutex one by one.
//!
//! Must never answer a scan before its record has committed (the group commit resolves a
//! caller only after the transaction holding its record), and never cache anything: every
//! call reads the database as it is now.

use crate::codes::{passes_of_person, person_facts, policy_setting, record_scans, signing_key};
use crate::registry;
use crate::rows::OrBackend;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::colour::PersonState;
use cordon_domain::pass::Holder;
use cordon_domain::token::SubjectKind;
use cordon_store::Result;
use cordon_store::codes::{PersonContext, Scan, ScanContext};
use cordon_store::group_commit::{CommitFn, GroupCommit};
use rusqlite::Connection;
use std::sync::Arc;

/// Most submissions (a device batch is one) committed in one transaction.
const MAX_SUBMISSIONS_PER_COMMIT: usize = 256;

pub(crate) type ScanLog = GroupCommit<Vec<Scan>, Vec<i64>>;

/// The scan log's group commit on the writer connection: one `IMMEDIATE` transaction per
/// batch of submissions, each answered with its own ids in order.
pub(crate) fn scan_log(writer: Arc<crate::writer::Writer>) -> ScanLog {
    let commit: CommitFn<Vec<Scan>, Vec<i64>> = Arc::new(move |batches: Vec<Vec<Scan>>| {
        let writer = Arc::clone(&writer);
        Box::pin(async move {
            writer
                .transaction(move |tx| {
                    let mut out = Vec::with_capacity(batches.len());
                    for scans in &batches {
                        out.push(record_scans(tx, scans)?);
                    }
                    Ok(out)
                })
                .await
        })
    });
    GroupCommit::new(MAX_SUBMISSIONS_PER_COMMIT, commit)
}

/// The areas among `codes` that exist, in order.
pub(crate) fn areas(c: &Connection, codes: &[AreaCode]) -> Result<Vec<Area>> {
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        if let Some(a) = registry::area(c, code)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// Runs `f` in one read transaction, so its statements share one snapshot and one
/// shared lock (instead of taking both per statement). BEGIN and COMMIT go through the
/// statement cache: `execute_batch` would parse them on every scan. The transaction is
/// ended on every path, so a pooled connection never goes back with a stale snapshot.
pub(crate) fn in_read_tx<T>(c: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    c.prepare_cached("BEGIN").db()?.execute([]).db()?;
    let out = f(c);
    let end = c.prepare_cached("COMMIT").db().and_then(|mut s| s.execute([]).db());
    match (out, end) {
        (Ok(v), Ok(_)) => Ok(v),
        (Err(e), _) | (Ok(_), Err(e)) => {
            if !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// Everything a scan's verdict reads, in one read transaction so that it is one snapshot.
pub(crate) fn scan_context(
    c: &Connection,
    checkpoint_id: Option<i64>,
    key_id: i64,
    kind: SubjectKind,
    subject: i64,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<ScanContext> {
    in_read_tx(c, |tx| {
        let checkpoint = match checkpoint_id {
            Some(id) => crate::codes::checkpoint(tx, id)?,
            None => None,
        };
        let key = signing_key(tx, key_id)?;
        let (pass, person_id) = match kind {
            SubjectKind::Person => (None, Some(subject)),
            SubjectKind::Pass => {
                let p = crate::codes::pass(tx, subject)?;
                let holder = match p.as_ref().map(|p| &p.holder) {
                    Some(Holder::Person(r)) => Some(*r),
                    _ => None,
                };
                (p, holder)
            }
        };
        let person = match person_id {
            None => None,
            Some(id) => match registry::resident(tx, id)? {
                None => None,
                Some(resident) => match person_facts(tx, id, now, today)? {
                    None => None,
                    Some(f) => Some(PersonContext {
                        resident,
                        state: PersonState::from_facts(f, now, today),
                        passes: passes_of_person(tx, id, now)?,
                    }),
                },
            },
        };
        let policy = policy_setting(tx)?;
        Ok(ScanContext { checkpoint, key, pass, person, policy })
    })
}
