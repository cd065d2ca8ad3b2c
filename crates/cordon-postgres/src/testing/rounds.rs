//! Test rounds and sampling sites in PostgreSQL.

use super::{audit, code};
use crate::PgStore;
use crate::error::{Db, corrupt};
use chrono::NaiveDate;
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::testing::{NewRound, NewSite, PoolCapacity, SamplingSite, TestRound};
use cordon_store::StoreError;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;

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

pub(crate) async fn round<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<TestRound>> {
    let row = c.query_opt(&format!("SELECT {ROUND_COLS} FROM test_rounds WHERE id = $1"), &[&id]).await.db()?;
    row.as_ref().map(round_from).transpose()
}

pub(crate) async fn site<C: GenericClient + Sync>(c: &C, id: i64) -> Result<Option<SamplingSite>> {
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

pub(crate) async fn create_round(s: &PgStore, new: &NewRound, a: &AuditEntry) -> Result<TestRound> {
    let mut client = s.client().await?;
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

pub(crate) async fn rounds<C: GenericClient + Sync>(c: &C, limit: u32) -> Result<Vec<TestRound>> {
    c.query(&format!("SELECT {ROUND_COLS} FROM test_rounds ORDER BY date DESC, id DESC LIMIT $1"), &[&i64::from(limit)])
        .await
        .db()?
        .iter()
        .map(round_from)
        .collect()
}

pub(crate) async fn create_site(s: &PgStore, new: &NewSite, a: &AuditEntry) -> Result<SamplingSite> {
    let mut client = s.client().await?;
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

pub(crate) async fn sites<C: GenericClient + Sync>(c: &C, root: &AreaCode) -> Result<Vec<SamplingSite>> {
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
        if let Some(s) = site(c, id).await? {
            out.push(s);
        }
    }
    Ok(out)
}
