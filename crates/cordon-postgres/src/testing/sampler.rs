//! The sample ingest in PostgreSQL: the facts of a device batch and the writing of its
//! plan (the rules are [`cordon_store::testing::plan_ingest`]'s).
//!
//! Every statement is a network round trip, so the facts come in one pipelined round
//! trip (people with their prior samples and household controls, the prior samples of
//! undone people, visitors, the tubes — locked), and the plan is written in two: the
//! tubes the batch opens (their ids are needed), then everything else together. Another
//! instance may sample one of the batch's people between the read and the write: the
//! inserts then come up short, the transaction is abandoned and the caller runs the batch
//! again on fresh facts.

use super::{audit, cached, masked, round};
use crate::error::{Db, corrupt};
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::testing::TubeState;
use cordon_store::StoreError;
use cordon_store::testing::ingest::{IngestPlan, PersonFact, TubeFact, TubeRef};
use cordon_store::testing::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Result<T> = std::result::Result<T, StoreError>;

/// What the write learnt that the read did not know: another transaction sampled one of
/// the batch's people meanwhile. The batch is run again.
pub(crate) fn is_race(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict { code: "concurrent_sample", .. })
}

fn race() -> StoreError {
    StoreError::Conflict {
        code: "concurrent_sample",
        message: "a person in this batch was sampled concurrently; retry the batch".into(),
    }
}

/// Applies a device batch in the caller's transaction: claims its id (a concurrent
/// replay waits on the claim and then finds it), reads the facts, plans, writes.
pub(crate) async fn ingest(
    tx: &deadpool_postgres::Transaction<'_>,
    b: &ScanBatch,
    a: &AuditEntry,
) -> Result<BatchReport> {
    let claim = cached(
        tx,
        "INSERT INTO scan_batches (batch_id, round_id, user_id, at, items, accepted) VALUES ($1, $2, $3, $4, $5, 0) \
         ON CONFLICT (batch_id) DO NOTHING",
    )
    .await?;
    let claimed =
        tx.execute(&claim, &[&b.batch_id, &b.round_id, &b.user_id, &a.at, &(b.items.len() as i32)]).await.db()?;
    if claimed == 0 {
        let accepted: i32 = tx
            .query_one("SELECT accepted FROM scan_batches WHERE batch_id = $1", &[&b.batch_id])
            .await
            .db()?
            .try_get(0)
            .db()?;
        return Ok(replayed_report(&b.batch_id, accepted.max(0) as u32));
    }
    let facts = facts(tx, b, &ingest_keys(b)).await?;
    let plan = plan_ingest(b, facts);
    write(tx, b, &plan, a).await?;
    Ok(plan.into_report(&b.batch_id))
}

/// The facts [`ingest_keys`] names, in one pipelined round trip. Every lookup is an index
/// probe per key (LATERAL … LIMIT 1, subqueries): `= ANY($n)` and joins turned into scans
/// of a whole round while `samples` had no statistics.
pub(crate) async fn facts(
    tx: &deadpool_postgres::Transaction<'_>,
    b: &ScanBatch,
    keys: &IngestKeys,
) -> Result<IngestFacts> {
    let people_sql = cached(
        tx,
        "SELECT r.id, r.unit_code, r.household_id, r.name, r.id_number, \
                (SELECT s.tube_id FROM samples s WHERE s.round_id = $3 AND s.resident_id = r.id LIMIT 1), \
                EXISTS (SELECT 1 FROM home_controls c WHERE c.household_id = r.household_id), \
                EXISTS (SELECT 1 FROM pool_positives p WHERE p.resident_id = r.id AND p.status = 'pending'), \
                ARRAY(SELECT q.tube_id FROM resamples q WHERE q.round_id = $3 AND q.resident_id = r.id) \
         FROM (SELECT q.* FROM unnest($1::text[]) AS x(n) CROSS JOIN LATERAL \
                 (SELECT id, unit_code, household_id, name, id_number FROM residents \
                  WHERE id_number = x.n AND status = 'active' LIMIT 1) q \
               UNION ALL \
               SELECT q.* FROM unnest($2::bigint[]) AS y(i) CROSS JOIN LATERAL \
                 (SELECT id, unit_code, household_id, name, id_number FROM residents \
                  WHERE id = y.i AND status = 'active' LIMIT 1) q) r",
    )
    .await?;
    let undo_sql = cached(
        tx,
        "SELECT x.r, (SELECT s.tube_id FROM samples s WHERE s.round_id = $1 AND s.resident_id = x.r LIMIT 1), \
                EXISTS (SELECT 1 FROM pool_positives p WHERE p.resident_id = x.r AND p.status = 'pending'), \
                ARRAY(SELECT q.tube_id FROM resamples q WHERE q.round_id = $1 AND q.resident_id = x.r) \
         FROM unnest($2::bigint[]) AS x(r)",
    )
    .await?;
    let visitors_sql = cached(
        tx,
        "SELECT x.n FROM unnest($2::text[]) AS x(n) \
         WHERE EXISTS (SELECT 1 FROM visitor_samples v WHERE v.round_id = $1 AND v.id_number = x.n)",
    )
    .await?;
    let tubes_sql = cached(
        tx,
        "SELECT t.id, t.round_id, t.capacity, t.state, t.count, t.barcode FROM unnest($1::text[]) AS x(b) \
         CROSS JOIN LATERAL (SELECT * FROM tubes WHERE barcode = x.b LIMIT 1 FOR UPDATE) t",
    )
    .await?;
    let (round, people_rows, undo_rows, visitor_rows, tube_rows) = futures_util::future::try_join5(
        round(&**tx, b.round_id),
        async { tx.query(&people_sql, &[&keys.id_numbers, &keys.resident_ids, &b.round_id]).await.db() },
        async { tx.query(&undo_sql, &[&b.round_id, &keys.undo_ids]).await.db() },
        async { tx.query(&visitors_sql, &[&b.round_id, &keys.visitor_ids]).await.db() },
        async { tx.query(&tubes_sql, &[&keys.barcodes]).await.db() },
    )
    .await?;
    let round = round.ok_or(StoreError::NotFound("round"))?;
    let mut by_idn: HashMap<String, PersonFact> = HashMap::new();
    let mut by_id: HashMap<i64, PersonFact> = HashMap::new();
    let mut prior_samples = HashMap::new();
    let mut controlled = HashSet::new();
    let mut marked = HashSet::new();
    let mut prior_resamples: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut marks = |id: i64, pending: bool, again: Vec<i64>| {
        if pending {
            marked.insert(id);
        }
        if !again.is_empty() {
            prior_resamples.insert(id, again);
        }
    };
    for r in &people_rows {
        let name: &str = r.try_get(3).db()?;
        let p = PersonFact {
            id: r.try_get(0).db()?,
            unit: Arc::from(r.try_get::<_, &str>(1).db()?),
            household: r.try_get(2).db()?,
            masked: Arc::from(masked(name)),
        };
        if let Some(tube) = r.try_get::<_, Option<i64>>(5).db()? {
            prior_samples.insert(p.id, tube);
        }
        if r.try_get::<_, bool>(6).db()? {
            controlled.insert(p.household);
        }
        marks(p.id, r.try_get(7).db()?, r.try_get(8).db()?);
        by_idn.insert(r.try_get::<_, String>(4).db()?, p.clone());
        by_id.insert(p.id, p);
    }
    for r in &undo_rows {
        let id: i64 = r.try_get(0).db()?;
        if let Some(tube) = r.try_get::<_, Option<i64>>(1).db()? {
            prior_samples.insert(id, tube);
        }
        marks(id, r.try_get(2).db()?, r.try_get(3).db()?);
    }
    let people = b
        .items
        .iter()
        .map(|item| match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(n), .. } => by_idn.get(n.as_str()).cloned(),
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => by_id.get(id).cloned(),
            _ => None,
        })
        .collect();
    let prior_visitors = visitor_rows.iter().map(|r| r.try_get::<_, String>(0).db()).collect::<Result<_>>()?;
    let mut tubes = HashMap::new();
    for r in tube_rows {
        let id: i64 = r.try_get(0).db()?;
        let state: &str = r.try_get(3).db()?;
        tubes.insert(
            r.try_get(5).db()?,
            TubeFact {
                id,
                round_id: r.try_get(1).db()?,
                capacity: r.try_get::<_, i32>(2).db()?.max(0) as u32,
                state: TubeState::parse(state).ok_or_else(|| corrupt("tube", id, "state"))?,
                count: r.try_get::<_, i32>(4).db()?.max(0) as u32,
            },
        );
    }
    Ok(IngestFacts { round, tubes, people, prior_samples, prior_visitors, controlled, marked, prior_resamples })
}

/// Writes a batch's plan. Fails with a race ([`is_race`]) when another transaction wrote
/// a sample the facts did not show.
pub(crate) async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    b: &ScanBatch,
    plan: &IngestPlan,
    a: &AuditEntry,
) -> Result<()> {
    let mut new_ids: HashMap<String, i64> = HashMap::new();
    if !plan.new_tubes.is_empty() {
        let open_sql = cached(
            tx,
            "INSERT INTO tubes (round_id, barcode, capacity, state, count, opened_at, opened_by, sealed_at, sealed_by) \
             SELECT $1, x.b, x.c, x.s, x.n, x.a, $2::bigint, x.sa, CASE WHEN x.sa IS NULL THEN NULL ELSE $2::bigint END \
             FROM unnest($3::text[], $4::int[], $5::text[], $6::int[], $7::timestamptz[], $8::timestamptz[]) \
               AS x(b, c, s, n, a, sa) \
             ON CONFLICT (barcode) DO NOTHING RETURNING id, barcode",
        )
        .await?;
        let t = &plan.new_tubes;
        let codes: Vec<&str> = t.iter().map(|t| t.barcode.as_str()).collect();
        let caps: Vec<i32> = t.iter().map(|t| t.capacity as i32).collect();
        let states: Vec<&str> = t.iter().map(|t| t.state.as_str()).collect();
        let counts: Vec<i32> = t.iter().map(|t| t.count as i32).collect();
        let ats: Vec<DateTime<Utc>> = t.iter().map(|t| t.opened_at).collect();
        let sealed: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.sealed_at).collect();
        for r in tx
            .query(&open_sql, &[&b.round_id, &b.user_id, &codes, &caps, &states, &counts, &ats, &sealed])
            .await
            .db()?
        {
            new_ids.insert(r.try_get(1).db()?, r.try_get(0).db()?);
        }
        // A tube another instance opened meanwhile under the same barcode.
        if new_ids.len() != t.len() {
            return Err(race());
        }
    }
    let tube_id = |r: TubeRef| -> Result<i64> {
        match r {
            TubeRef::Stored(id) => Ok(id),
            TubeRef::New(i) => plan
                .new_tubes
                .get(i)
                .and_then(|t| new_ids.get(&t.barcode).copied())
                .ok_or_else(|| StoreError::Backend("planned tube missing".into())),
        }
    };
    let (ur, ut): (Vec<i64>, Vec<i64>) = plan.undone.iter().copied().unzip();
    let mut sr = Vec::with_capacity(plan.samples.len());
    let mut st = Vec::with_capacity(plan.samples.len());
    let mut su = Vec::with_capacity(plan.samples.len());
    let mut sa = Vec::with_capacity(plan.samples.len());
    for s in &plan.samples {
        sr.push(s.resident_id);
        st.push(tube_id(s.tube)?);
        su.push(&*s.unit);
        sa.push(s.at);
    }
    let mut vt = Vec::with_capacity(plan.visitors.len());
    for v in &plan.visitors {
        vt.push(tube_id(v.tube)?);
    }
    let vn: Vec<&str> = plan.visitors.iter().map(|v| v.id_number.as_str()).collect();
    let vp: Vec<Option<&str>> = plan.visitors.iter().map(|v| v.phone.as_deref()).collect();
    let va: Vec<DateTime<Utc>> = plan.visitors.iter().map(|v| v.at).collect();
    let c = &plan.changed_tubes;
    let ids: Vec<i64> = c.iter().map(|t| t.id).collect();
    let counts: Vec<i32> = c.iter().map(|t| t.count as i32).collect();
    let states: Vec<&str> = c.iter().map(|t| t.state.as_str()).collect();
    let sealed_at: Vec<Option<DateTime<Utc>>> = c.iter().map(|t| t.sealed_at).collect();

    let undo_sql = cached(
        tx,
        "DELETE FROM samples s USING unnest($2::bigint[], $3::bigint[]) AS u(resident_id, tube_id) \
         WHERE s.round_id = $1 AND s.resident_id = u.resident_id AND s.tube_id = u.tube_id",
    )
    .await?;
    let insert_sql = cached(
        tx,
        "INSERT INTO samples (round_id, resident_id, tube_id, unit_code, at, by_user) \
         SELECT $1, r, t, u, a, $2 FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[]) AS x(r, t, u, a) \
         ON CONFLICT (round_id, resident_id) DO NOTHING",
    )
    .await?;
    let visitors_sql = cached(
        tx,
        "INSERT INTO visitor_samples (round_id, tube_id, id_number, phone, at, by_user) \
         SELECT $1, t, n, p, a, $2 FROM unnest($3::bigint[], $4::text[], $5::text[], $6::timestamptz[]) AS x(t, n, p, a) \
         ON CONFLICT (round_id, id_number) DO NOTHING",
    )
    .await?;
    // `tubes.id = ANY(…)` as well as the join: without it, and with `tubes` never
    // analysed, the planner hashed the batch's rows and scanned the whole table once per
    // batch (a day's tubes read again for every device batch).
    let tubes_sql = cached(
        tx,
        "UPDATE tubes SET count = x.c, state = x.s, sealed_at = coalesce(x.sa, tubes.sealed_at), \
           sealed_by = CASE WHEN x.sa IS NULL THEN tubes.sealed_by ELSE $5::bigint END \
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[]) AS x(id, c, s, sa) \
         WHERE tubes.id = x.id AND tubes.id = ANY($1::bigint[])",
    )
    .await?;
    let batch_sql = cached(
        tx,
        "INSERT INTO scan_batches (batch_id, round_id, user_id, at, items, accepted) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (batch_id) DO UPDATE SET accepted = excluded.accepted",
    )
    .await?;
    let accepted = plan.accepted as i32;
    let items = b.items.len() as i32;
    let ((undone, inserted, visited), (_, _, ())) = futures_util::future::try_join(
        futures_util::future::try_join3(
            async { if ur.is_empty() { Ok(0) } else { tx.execute(&undo_sql, &[&b.round_id, &ur, &ut]).await.db() } },
            async {
                if sr.is_empty() {
                    Ok(0)
                } else {
                    tx.execute(&insert_sql, &[&b.round_id, &b.user_id, &sr, &st, &su, &sa]).await.db()
                }
            },
            async {
                if vt.is_empty() {
                    Ok(0)
                } else {
                    tx.execute(&visitors_sql, &[&b.round_id, &b.user_id, &vt, &vn, &vp, &va]).await.db()
                }
            },
        ),
        futures_util::future::try_join3(
            async {
                if ids.is_empty() {
                    Ok(0)
                } else {
                    tx.execute(&tubes_sql, &[&ids, &counts, &states, &sealed_at, &b.user_id]).await.db()
                }
            },
            async {
                tx.execute(&batch_sql, &[&b.batch_id, &b.round_id, &b.user_id, &a.at, &items, &accepted]).await.db()
            },
            audit(&**tx, a),
        ),
    )
    .await?;
    if undone as usize != ur.len() || inserted as usize != sr.len() || visited as usize != vt.len() {
        return Err(race());
    }
    write_resamples(tx, b, plan, &tube_id).await
}

/// The re-samples of positive pools' members the batch took, and the re-sampling tasks it
/// sampled.
async fn write_resamples(
    tx: &deadpool_postgres::Transaction<'_>,
    b: &ScanBatch,
    plan: &IngestPlan,
    tube_id: &impl Fn(TubeRef) -> Result<i64>,
) -> Result<()> {
    if plan.resamples.is_empty() && plan.tasks_sampled.is_empty() {
        return Ok(());
    }
    let rs: Vec<i64> = plan.resamples.iter().map(|s| s.resident_id).collect();
    let rt = plan.resamples.iter().map(|s| tube_id(s.tube)).collect::<Result<Vec<i64>>>()?;
    let ru: Vec<&str> = plan.resamples.iter().map(|s| &*s.unit).collect();
    let ra: Vec<DateTime<Utc>> = plan.resamples.iter().map(|s| s.at).collect();
    futures_util::future::try_join(
        async {
            if rs.is_empty() {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO resamples (round_id, resident_id, tube_id, unit_code, at, by_user) \
                 SELECT $1, r, t, u, a, $2 FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[]) AS x(r, t, u, a)",
                &[&b.round_id, &b.user_id, &rs, &rt, &ru, &ra],
            )
            .await
            .db()
        },
        async {
            if plan.tasks_sampled.is_empty() {
                return Ok(0);
            }
            let (ids, ats): (Vec<i64>, Vec<DateTime<Utc>>) = plan.tasks_sampled.iter().copied().unzip();
            tx.execute(
                "UPDATE resample_tasks k SET sampled_at = x.a FROM unnest($1::bigint[], $2::timestamptz[]) AS x(r, a) \
                 WHERE k.resident_id = x.r AND k.done_at IS NULL AND k.sampled_at IS NULL",
                &[&ids, &ats],
            )
            .await
            .db()
        },
    )
    .await?;
    Ok(())
}
