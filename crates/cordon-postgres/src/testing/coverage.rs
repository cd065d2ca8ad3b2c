//! Coverage, missed lists and the 楼长's report in PostgreSQL.

use super::{audit, bounds, code};
use crate::PgStore;
use crate::error::{Db, corrupt};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_store::StoreError;
use cordon_store::testing::*;
use std::collections::HashMap;
use tokio_postgres::GenericClient;

type Result<T> = std::result::Result<T, StoreError>;

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

pub(crate) async fn coverage(s: &PgStore, round_id: i64, node: &AreaCode) -> Result<Coverage> {
    let summary = cordon_store::RegistryStore::area_summary(s, node).await?.ok_or(StoreError::NotFound("area"))?;
    let c = s.client().await?;
    let len = node.as_str().len();
    let sampled = sampled_by(&**c, round_id, node, len).await?.values().sum();
    let exempt = counts_by(&**c, EXEMPT_BY, round_id, node, len).await?.values().sum();
    Ok(Coverage::of(node.clone(), summary.area.name, summary.residents, sampled, exempt))
}

pub(crate) async fn coverage_children(s: &PgStore, round_id: i64, node: &AreaCode) -> Result<Vec<Coverage>> {
    let Some(level) = node.level().child() else { return Ok(Vec::new()) };
    let children = cordon_store::RegistryStore::children(s, node).await?;
    let c = s.client().await?;
    let sampled = sampled_by(&**c, round_id, node, level.code_len()).await?;
    let exempt = counts_by(&**c, EXEMPT_BY, round_id, node, level.code_len()).await?;
    Ok(children
        .into_iter()
        .map(|ch| {
            let k = ch.area.code.as_str();
            let (s, e) = (sampled.get(k).copied().unwrap_or(0), exempt.get(k).copied().unwrap_or(0));
            Coverage::of(ch.area.code, ch.area.name, ch.residents, s, e)
        })
        .collect())
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

pub(crate) async fn missed<C: deadpool_postgres::GenericClient + Sync>(
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

pub(crate) async fn report_missing(
    tx: &deadpool_postgres::Transaction<'_>,
    round_id: i64,
    building: &AreaCode,
    note: &str,
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<u64> {
    let missing: u64 =
        missed(tx, round_id, std::slice::from_ref(building)).await?.iter().map(|h| h.members.len() as u64).sum();
    tx.execute(
        "INSERT INTO missing_reports (round_id, building_code, missing, note, by_user, at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&round_id, &building.as_str(), &(missing as i64), &note, &by, &at],
    )
    .await
    .db()?;
    audit(&**tx, a).await?;
    Ok(missing)
}

pub(crate) async fn positivity<C: GenericClient + Sync>(c: &C, root: &AreaCode, rounds: u32) -> Result<Positivity> {
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
