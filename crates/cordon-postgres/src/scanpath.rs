//! The checkpoint scan path on PostgreSQL: a principal's lineage names in one query,
//! every input of a scan's verdict in one pipelined round trip per dependency level
//! ([`scan_context`]), and the scan log behind a group commit ([`scan_log`]) so that
//! concurrent scans share one INSERT (one WAL flush) instead of one each.
//!
//! The reads of [`scan_context`] are issued together on one connection (tokio-postgres
//! pipelines concurrent queries on a client), on statements prepared once per pooled
//! connection. Each sees the committed state at its start, exactly as the separate calls
//! it replaces did. Must never answer a scan before its record has committed, and never
//! cache data: only prepared statements are kept, per connection.

use crate::codes::{checkpoint_on, insert_scans, pass_cached, passes_of_person_on, person_state_on, policy_setting_on, signing_key_on};
use crate::error::Db;
use crate::rows::{self, RESIDENT_COLUMNS, get};
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::pass::Holder;
use cordon_domain::registry::Resident;
use cordon_domain::token::SubjectKind;
use cordon_store::codes::{PersonContext, Scan, ScanContext};
use cordon_store::group_commit::{CommitFn, GroupCommit};
use cordon_store::{Result, StoreError};
use deadpool_postgres::{Client, Pool};
use std::sync::Arc;

/// Most submissions (a device batch is one) committed in one statement.
const MAX_SUBMISSIONS_PER_COMMIT: usize = 256;

pub(crate) type ScanLog = GroupCommit<Vec<Scan>, Vec<i64>>;

/// The scan log's group commit: every queued submission in ONE insert statement (atomic
/// on its own), each submission answered with its own ids in order.
pub(crate) fn scan_log(pool: Pool) -> ScanLog {
    let commit: CommitFn<Vec<Scan>, Vec<i64>> = Arc::new(move |batches: Vec<Vec<Scan>>| {
        let pool = pool.clone();
        Box::pin(async move {
            let c = pool.get().await.map_err(crate::error::pool)?;
            let all: Vec<Scan> = batches.iter().flatten().cloned().collect();
            let ids = insert_scans(&c, &all).await?;
            if ids.len() != all.len() {
                return Err(StoreError::Backend("the scan log answered the wrong number of ids".into()));
            }
            let mut rest = ids.as_slice();
            let mut out = Vec::with_capacity(batches.len());
            for b in &batches {
                let (mine, tail) = rest.split_at(b.len());
                out.push(mine.to_vec());
                rest = tail;
            }
            Ok(out)
        })
    });
    GroupCommit::new(MAX_SUBMISSIONS_PER_COMMIT, commit)
}

/// The areas among `codes` that exist, in the order of `codes`, in one query.
pub(crate) async fn areas(c: &Client, codes: &[AreaCode]) -> Result<Vec<Area>> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = c.prepare_cached("SELECT code, name FROM areas WHERE code = ANY($1)").await.db()?;
    let wanted: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let rows = c.query(&stmt, &[&wanted]).await.db()?;
    let mut names = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let code: String = get(r, 0)?;
        let name: String = get(r, 1)?;
        names.insert(code, name);
    }
    Ok(codes.iter().filter_map(|c| names.get(c.as_str()).map(|n| Area { code: c.clone(), name: n.clone() })).collect())
}

async fn resident_cached(c: &Client, id: i64) -> Result<Option<Resident>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id WHERE r.id = $1"
        ))
        .await
        .db()?;
    c.query_opt(&stmt, &[&id]).await.db()?.as_ref().map(rows::resident).transpose()
}

async fn person(c: &Client, id: i64, now: DateTime<Utc>) -> Result<Option<PersonContext>> {
    let (resident, state, passes) =
        tokio::try_join!(resident_cached(c, id), person_state_on(c, id, now), passes_of_person_on(c, id, now))?;
    Ok(match (resident, state) {
        (Some(resident), Some(state)) => Some(PersonContext { resident, state, passes }),
        _ => None,
    })
}

/// Everything a scan's verdict reads: one pipelined round trip for a person's token, two
/// for a pass (the pass names its holder).
pub(crate) async fn scan_context(
    c: &Client,
    checkpoint_id: Option<i64>,
    key_id: i64,
    kind: SubjectKind,
    subject: i64,
    now: DateTime<Utc>,
) -> Result<ScanContext> {
    let checkpoint = async {
        match checkpoint_id {
            Some(id) => checkpoint_on(c, id).await,
            None => Ok(None),
        }
    };
    match kind {
        SubjectKind::Person => {
            let (checkpoint, key, person, policy) = tokio::try_join!(
                checkpoint,
                signing_key_on(c, key_id),
                person(c, subject, now),
                policy_setting_on(c)
            )?;
            Ok(ScanContext { checkpoint, key, pass: None, person, policy })
        }
        SubjectKind::Pass => {
            let (checkpoint, key, pass, policy) = tokio::try_join!(
                checkpoint,
                signing_key_on(c, key_id),
                pass_cached(c, subject),
                policy_setting_on(c)
            )?;
            let person = match pass.as_ref().map(|p| &p.holder) {
                Some(Holder::Person(r)) => person(c, *r, now).await?,
                _ => None,
            };
            Ok(ScanContext { checkpoint, key, pass, person, policy })
        }
    }
}
