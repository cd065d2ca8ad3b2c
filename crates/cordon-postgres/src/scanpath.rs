//! The checkpoint scan path on PostgreSQL: a principal's lineage names in one query,
//! every input of a scan's verdict in one pipelined round trip per dependency level
//! ([`scan_context`]), and the scan log behind a group commit ([`scan_log`]) so that
//! concurrent scans share one INSERT (one WAL flush) instead of one each.
//!
//! The reads of [`scan_context`] — the single-row lookups (key, policy, checkpoint) in
//! one statement, the person's resident, state and passes in three — are issued together on one connection (tokio-postgres
//! pipelines concurrent queries on a client), on statements prepared once per pooled
//! connection. Each sees the committed state at its start, exactly as the separate calls
//! it replaces did. Must never answer a scan before its record has committed, and never
//! cache data: only prepared statements are kept, per connection.

use crate::codes::{CP_COLS, checkpoint_at, insert_scans, key_at, pass_cached, passes_of_person_on, person_facts_on};
use crate::error::Db;
use crate::rows::{self, RESIDENT_COLUMNS, get};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::colour::PersonState;
use cordon_domain::pass::Holder;
use cordon_domain::registry::Resident;
use cordon_domain::token::SubjectKind;
use cordon_store::codes::{Checkpoint, PersonContext, PolicySetting, Scan, ScanContext, SigningKeyRecord};
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

async fn person(c: &Client, id: i64, now: DateTime<Utc>, today: NaiveDate) -> Result<Option<PersonContext>> {
    let (resident, facts, passes) =
        tokio::try_join!(resident_cached(c, id), person_facts_on(c, id, now, today), passes_of_person_on(c, id, now))?;
    Ok(match (resident, facts) {
        (Some(resident), Some(f)) => {
            Some(PersonContext { resident, state: PersonState::from_facts(f, now, today), passes })
        }
        _ => None,
    })
}

/// The scan's single-row lookups in one statement: the signing key `key_id`, the policy
/// setting, and the checkpoint when asked for — the same columns and parsers as
/// `CodesStore::signing_key`, `policy_setting` and `checkpoint`.
async fn lookups(
    c: &Client,
    checkpoint_id: Option<i64>,
    key_id: i64,
) -> Result<(Option<Checkpoint>, Option<SigningKeyRecord>, Option<PolicySetting>)> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT k.id, k.district, k.public_key, k.created_at, k.retired_at, k.revoked_at, \
                    p.name, p.source, p.updated_at, p.updated_by, {CP_COLS} \
             FROM (SELECT 1) AS one \
             LEFT JOIN signing_keys k ON k.id = $1 \
             LEFT JOIN policy_setting p ON p.id = 1 \
             LEFT JOIN checkpoints c ON c.id = $2"
        ))
        .await
        .db()?;
    let r = c.query_one(&stmt, &[&key_id, &checkpoint_id]).await.db()?;
    let key = match get::<Option<i64>>(&r, 0)? {
        Some(_) => Some(key_at(&r, 0)?),
        None => None,
    };
    let policy = match get::<Option<String>>(&r, 6)? {
        Some(name) => {
            Some(PolicySetting { name, source: get(&r, 7)?, updated_at: get(&r, 8)?, updated_by: get(&r, 9)? })
        }
        None => None,
    };
    let checkpoint = match get::<Option<i64>>(&r, 10)? {
        Some(_) => Some(checkpoint_at(&r, 10)?),
        None => None,
    };
    Ok((checkpoint, key, policy))
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
    today: NaiveDate,
) -> Result<ScanContext> {
    match kind {
        SubjectKind::Person => {
            let ((checkpoint, key, policy), person) =
                tokio::try_join!(lookups(c, checkpoint_id, key_id), person(c, subject, now, today))?;
            Ok(ScanContext { checkpoint, key, pass: None, person, policy })
        }
        SubjectKind::Pass => {
            let ((checkpoint, key, policy), pass) =
                tokio::try_join!(lookups(c, checkpoint_id, key_id), pass_cached(c, subject))?;
            let person = match pass.as_ref().map(|p| &p.holder) {
                Some(Holder::Person(r)) => person(c, *r, now, today).await?,
                _ => None,
            };
            Ok(ScanContext { checkpoint, key, pass, person, policy })
        }
    }
}
