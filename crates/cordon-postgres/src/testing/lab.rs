//! The lab side of mass testing in PostgreSQL: tubes and their members, boxes, receipt,
//! results with the positive-pool chase, alerts and marks. SQL and row mapping only: the
//! rules are `cordon_store::testing::{lab, results}`'s plans.

use super::{audit, bounds, code, masked};
use crate::error::{Db, corrupt};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{PoolCapacity, TestResult, TubeBarcode, TubeState};
use cordon_store::StoreError;
use cordon_store::testing::lab::{ReceiptFact, plan_box, plan_receive};
use cordon_store::testing::results::{Member, ResultTube};
use cordon_store::testing::*;
use std::collections::HashSet;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;

/// A tube by barcode, locked for the transaction.
pub(crate) async fn tube_lite<C: GenericClient + Sync>(c: &C, barcode: &str) -> Result<Option<ResultTube>> {
    let Some(r) = c
        .query_opt("SELECT id, round_id, capacity, state FROM tubes WHERE barcode = $1 FOR UPDATE", &[&barcode])
        .await
        .db()?
    else {
        return Ok(None);
    };
    lite(&r, 0)
}

fn lite(r: &Row, at: usize) -> Result<Option<ResultTube>> {
    let id: i64 = r.try_get(at).db()?;
    let state: &str = r.try_get(at + 3).db()?;
    Ok(Some(ResultTube {
        id,
        round_id: r.try_get(at + 1).db()?,
        capacity: r.try_get::<_, i32>(at + 2).db()?.max(0) as u32,
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

pub(crate) async fn tube<C: GenericClient + Sync>(c: &C, barcode: &TubeBarcode) -> Result<Option<Tube>> {
    let row = c
        .query_opt(
            &format!("SELECT {TUBE_COLS} FROM tubes t LEFT JOIN boxes b ON b.id = t.box_id WHERE t.barcode = $1"),
            &[&barcode.as_str()],
        )
        .await
        .db()?;
    row.as_ref().map(tube_from).transpose()
}

pub(crate) async fn tube_members<C: GenericClient + Sync>(c: &C, tube_id: i64) -> Result<Vec<TubeMember>> {
    let mut out = Vec::new();
    for r in c
        .query(
            "SELECT s.resident_id, r.name, s.unit_code FROM ( \
               SELECT 0 AS k, id, resident_id, unit_code FROM samples WHERE tube_id = $1 \
               UNION ALL SELECT 1, id, resident_id, unit_code FROM resamples WHERE tube_id = $1) s \
             JOIN residents r ON r.id = s.resident_id ORDER BY s.k, s.id",
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

pub(crate) async fn box_tubes<C: GenericClient + Sync>(
    tx: &C,
    box_code: &str,
    tubes: &[TubeBarcode],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<u32, FieldError>> {
    let mut found = Vec::with_capacity(tubes.len());
    for b in tubes {
        found.push(tube_lite(tx, b.as_str()).await?);
    }
    let states: Vec<Option<TubeState>> = found.iter().map(|t| t.map(|t| t.state)).collect();
    if let Err(e) = plan_box(&states) {
        return Ok(Err(e));
    }
    let ids: Vec<i64> = found.iter().flatten().map(|t| t.id).collect();
    tx.execute(
        "INSERT INTO boxes (code, created_at, created_by) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
        &[&box_code, &at, &by],
    )
    .await
    .db()?;
    let box_id: i64 = tx.query_one("SELECT id FROM boxes WHERE code = $1", &[&box_code]).await.db()?.try_get(0).db()?;
    tx.execute(
        "UPDATE tubes SET state = 'boxed', box_id = $2, boxed_at = $3, boxed_by = $4 WHERE id = ANY($1)",
        &[&ids, &box_id, &at, &by],
    )
    .await
    .db()?;
    audit(tx, a).await?;
    Ok(Ok(ids.len() as u32))
}

pub(crate) async fn receive<C: GenericClient + Sync>(
    tx: &C,
    what: &Receipt,
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
) -> Result<std::result::Result<Vec<String>, FieldError>> {
    let targets: Vec<(i64, String)> = match what {
        Receipt::Box(code) => {
            let row = tx.query_opt("SELECT id FROM boxes WHERE code = $1", &[code]).await.db()?;
            if let Err(e) = plan_receive(ReceiptFact::Box { exists: row.is_some() }) {
                return Ok(Err(e));
            }
            let box_id: i64 = row.ok_or(StoreError::NotFound("box"))?.try_get(0).db()?;
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
            let t = tube_lite(tx, b.as_str()).await?;
            if let Err(e) = plan_receive(ReceiptFact::Tube(t.map(|t| t.state))) {
                return Ok(Err(e));
            }
            t.map(|t| (t.id, b.as_str().to_string())).into_iter().collect()
        }
    };
    let ids: Vec<i64> = targets.iter().map(|t| t.0).collect();
    tx.execute(
        "UPDATE tubes SET state = 'received', received_at = $2, received_by = $3 WHERE id = ANY($1)",
        &[&ids, &at, &by],
    )
    .await
    .db()?;
    audit(tx, a).await?;
    Ok(Ok(targets.into_iter().map(|t| t.1).collect()))
}

// ---- results and the chase ------------------------------------------------------------------

/// The facts of [`plan_results`] in three round trips: the tubes (locked), their
/// members, then what the chase needs about the members, pipelined.
async fn result_facts<C: GenericClient + Sync>(tx: &C, results: &[NewResult]) -> Result<ResultFacts> {
    let mut f = ResultFacts::default();
    let barcodes = result_barcodes(results);
    let rows = tx
        .query(
            "SELECT x.i, t.id, t.round_id, t.capacity, t.state FROM unnest($1::text[]) WITH ORDINALITY AS x(b, i) \
             LEFT JOIN LATERAL (SELECT id, round_id, capacity, state FROM tubes WHERE barcode = x.b LIMIT 1 FOR UPDATE) t \
               ON true ORDER BY x.i",
            &[&barcodes],
        )
        .await
        .db()?;
    for r in &rows {
        let id: Option<i64> = r.try_get(1).db()?;
        f.tubes.push(match id {
            Some(_) => lite(r, 1)?,
            None => None,
        });
    }
    let ids = f.tube_ids();
    for r in tx
        .query(
            "SELECT s.tube_id, s.resident_id, s.unit_code, r.household_id FROM ( \
               SELECT tube_id, resident_id, unit_code FROM samples WHERE tube_id = ANY($1) \
               UNION SELECT tube_id, resident_id, unit_code FROM resamples WHERE tube_id = ANY($1)) s \
             JOIN residents r ON r.id = s.resident_id ORDER BY s.tube_id, s.resident_id",
            &[&ids],
        )
        .await
        .db()?
    {
        let rid: i64 = r.try_get(1).db()?;
        let m =
            Member { resident_id: rid, unit: code(r.try_get(2).db()?, "sample", rid)?, household: r.try_get(3).db()? };
        f.members.entry(r.try_get(0).db()?).or_default().push(m);
    }
    let keys = f.member_keys();
    let (controlled, marked, pending, cases, sites) = futures_util::future::try_join5(
        async {
            tx.query("SELECT household_id FROM home_controls WHERE household_id = ANY($1)", &[&keys.households])
                .await
                .db()
        },
        async {
            tx.query(
                "SELECT DISTINCT r.household_id, p.resident_id FROM residents r \
                 JOIN pool_positives p ON p.resident_id = r.id \
                 WHERE r.household_id = ANY($1) AND p.status IN ('pending', 'confirmed')",
                &[&keys.households],
            )
            .await
            .db()
        },
        async {
            tx.query(
                "SELECT DISTINCT resident_id FROM pool_positives WHERE resident_id = ANY($1) AND status = 'pending'",
                &[&keys.resident_ids],
            )
            .await
            .db()
        },
        async {
            tx.query("SELECT DISTINCT resident_id FROM cases WHERE resident_id = ANY($1)", &[&keys.resident_ids])
                .await
                .db()
        },
        async {
            tx.query(
                "SELECT area_code, min(site_id) FROM sampling_site_areas WHERE area_code = ANY($1) GROUP BY area_code",
                &[&keys.areas],
            )
            .await
            .db()
        },
    )
    .await?;
    for r in controlled {
        f.controlled.insert(r.try_get(0).db()?);
    }
    for r in marked {
        f.marked.entry(r.try_get(0).db()?).or_insert_with(HashSet::new).insert(r.try_get(1).db()?);
    }
    for r in pending {
        f.pending.insert(r.try_get(0).db()?);
    }
    for r in cases {
        f.cases.insert(r.try_get(0).db()?);
    }
    for r in sites {
        f.sites.insert(r.try_get(0).db()?, r.try_get(1).db()?);
    }
    Ok(f)
}

/// Plans and writes results in the caller's transaction; nothing is written when a row
/// is refused (the caller then rolls back).
pub(crate) async fn record_results<C: GenericClient + Sync>(
    tx: &C,
    results: &[NewResult],
    by: i64,
    at: DateTime<Utc>,
    a: &AuditEntry,
    tz: &cordon_domain::clock::DistrictTz,
) -> Result<ResultsReport> {
    let started = std::time::Instant::now();
    let facts = result_facts(tx, results).await?;
    let mut plan = plan_results(results, &facts, at);
    if !plan.report.committed {
        return Ok(plan.report);
    }
    let p = &plan;
    let r_ids: Vec<i64> = p.resulted.iter().map(|r| r.tube_id).collect();
    let r_res: Vec<&str> = p.resulted.iter().map(|r| r.result.as_str()).collect();
    let r_ct: Vec<Option<f64>> = p.resulted.iter().map(|r| r.ct).collect();
    let m_round: Vec<i64> = p.marks.iter().map(|m| m.round_id).collect();
    let m_res: Vec<i64> = p.marks.iter().map(|m| m.resident_id).collect();
    let m_tube: Vec<i64> = p.marks.iter().map(|m| m.tube_id).collect();
    let m_unit: Vec<&str> = p.marks.iter().map(|m| m.unit.as_str()).collect();
    let t_round: Vec<i64> = p.tasks.iter().map(|t| t.round_id).collect();
    let t_res: Vec<i64> = p.tasks.iter().map(|t| t.resident_id).collect();
    let t_tube: Vec<i64> = p.tasks.iter().map(|t| t.tube_id).collect();
    let t_site: Vec<Option<i64>> = p.tasks.iter().map(|t| t.site_id).collect();
    let t_reason: Vec<&str> = p.tasks.iter().map(|t| t.reason.as_str()).collect();
    let (c_hh, c_tube): (Vec<i64>, Vec<i64>) = p.controls.iter().copied().unzip();
    let s_res: Vec<i64> = p.resolved.iter().map(|r| r.0).collect();
    let s_status: Vec<&str> = p.resolved.iter().map(|r| r.1.as_str()).collect();
    let (k_res, k_tube): (Vec<i64>, Vec<i64>) = p.cases.iter().copied().unzip();
    let empty = |n: usize| n == 0;
    futures_util::future::try_join4(
        async {
            if empty(r_ids.len()) {
                return Ok(0);
            }
            tx.execute(
                "UPDATE tubes SET state = 'resulted', result = x.r, ct = x.c, resulted_at = $4, resulted_by = $5 \
                 FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS x(id, r, c) \
                 WHERE tubes.id = x.id AND tubes.id = ANY($1::bigint[])",
                &[&r_ids, &r_res, &r_ct, &at, &by],
            )
            .await
            .db()
        },
        async {
            if empty(m_res.len()) {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO pool_positives (round_id, resident_id, tube_id, unit_code, status, marked_at) \
                 SELECT r, p, t, u, 'pending', $5 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS x(r, p, t, u) \
                 ON CONFLICT DO NOTHING",
                &[&m_round, &m_res, &m_tube, &m_unit, &at],
            )
            .await
            .db()
        },
        async {
            if empty(t_res.len()) {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO resample_tasks (round_id, resident_id, tube_id, site_id, reason, created_at) \
                 SELECT r, p, t, s, w, $6 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) \
                   AS x(r, p, t, s, w)",
                &[&t_round, &t_res, &t_tube, &t_site, &t_reason, &at],
            )
            .await
            .db()
        },
        async {
            if empty(c_hh.len()) {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO home_controls (household_id, since, source_tube) SELECT h, $3, t FROM unnest($1::bigint[], $2::bigint[]) AS x(h, t) \
                 ON CONFLICT (household_id) DO NOTHING",
                &[&c_hh, &c_tube, &at],
            )
            .await
            .db()
        },
    )
    .await?;
    futures_util::future::try_join4(
        async {
            if empty(s_res.len()) {
                return Ok(0);
            }
            tx.execute(
                "UPDATE pool_positives p SET status = x.s, resolved_at = $3 FROM unnest($1::bigint[], $2::text[]) AS x(r, s) \
                 WHERE p.resident_id = x.r AND p.status = 'pending'",
                &[&s_res, &s_status, &at],
            )
            .await
            .db()?;
            tx.execute(
                "UPDATE resample_tasks SET done_at = $2 WHERE resident_id = ANY($1) AND done_at IS NULL",
                &[&s_res, &at],
            )
            .await
            .db()
        },
        async {
            if empty(p.lifted.len()) {
                return Ok(0);
            }
            tx.execute("DELETE FROM home_controls WHERE household_id = ANY($1)", &[&p.lifted]).await.db()
        },
        async {
            if empty(k_res.len()) {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO cases (resident_id, source_tube, at) SELECT r, t, $3 FROM unnest($1::bigint[], $2::bigint[]) AS x(r, t)",
                &[&k_res, &k_tube, &at],
            )
            .await
            .db()
        },
        async {
            if empty(p.invalid_tubes.len()) {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
                 SELECT round_id, resident_id, tube_id, unit_code, at, $2 FROM samples WHERE tube_id = ANY($1)",
                &[&p.invalid_tubes, &at],
            )
            .await
            .db()?;
            tx.execute("DELETE FROM samples WHERE tube_id = ANY($1)", &[&p.invalid_tubes]).await.db()?;
            tx.execute(
                "INSERT INTO invalid_samples (round_id, resident_id, tube_id, unit_code, at, invalid_at) \
                 SELECT round_id, resident_id, tube_id, unit_code, at, $2 FROM resamples WHERE tube_id = ANY($1)",
                &[&p.invalid_tubes, &at],
            )
            .await
            .db()?;
            tx.execute("DELETE FROM resamples WHERE tube_id = ANY($1)", &[&p.invalid_tubes]).await.db()
        },
    )
    .await?;
    // The chase is complete once its effects are written: that instant is its record.
    let chased_at = at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    if !p.chases.is_empty() {
        let ch_tube: Vec<i64> = p.chases.iter().map(|c| c.tube_id).collect();
        let ch_round: Vec<i64> = p.chases.iter().map(|c| c.round_id).collect();
        let ch_members: Vec<i32> = p.chases.iter().map(|c| c.members as i32).collect();
        let ch_hh: Vec<i32> = p.chases.iter().map(|c| c.households_controlled as i32).collect();
        let ch_tasks: Vec<i32> = p.chases.iter().map(|c| c.tasks_created as i32).collect();
        futures_util::future::try_join(
            async {
                tx.execute(
                    "INSERT INTO alerts (kind, round_id, tube_id, members, created_at) \
                     SELECT 'pool_positive', r, t, m, $4 FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS x(r, t, m)",
                    &[&ch_round, &ch_tube, &ch_members, &at],
                )
                .await
                .db()
            },
            async {
                tx.execute(
                    "INSERT INTO chases (tube_id, round_id, members, households_controlled, tasks_created, result_at, chased_at) \
                     SELECT t, r, m, h, k, $6, $7 FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::int[]) \
                       AS x(t, r, m, h, k)",
                    &[&ch_tube, &ch_round, &ch_members, &ch_hh, &ch_tasks, &at, &chased_at],
                )
                .await
                .db()
            },
        )
        .await?;
    }
    // People under a quarantine order: the result is their order's test of the day.
    let resulted = resulted_tubes(&plan, &facts);
    crate::containment::order_results_for_tubes(tx, &resulted, at, tz, a).await?;
    // The moment a case exists, tracing proposes its trajectory and candidates.
    if !k_res.is_empty() {
        crate::tracing::trace_new_cases(tx, at, tz, a).await?;
    }
    audit(tx, a).await?;
    for c in &mut plan.report.chases {
        c.chased_at = chased_at;
    }
    Ok(plan.report)
}

pub(crate) async fn alerts<C: GenericClient + Sync>(c: &C, after_id: i64, limit: u32) -> Result<Vec<Alert>> {
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

const CHASE_COLS: &str = "t.barcode, c.round_id, c.members, c.households_controlled, c.tasks_created, c.result_at, \
     c.chased_at, (SELECT count(*) FROM pool_positives p WHERE p.tube_id = c.tube_id AND p.status <> 'pending'), \
     (SELECT max(resolved_at) FROM pool_positives p WHERE p.tube_id = c.tube_id)";

fn chase_from(r: &Row) -> Result<ChaseSummary> {
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
}

pub(crate) async fn chases<C: GenericClient + Sync>(c: &C, round_id: i64) -> Result<Vec<ChaseSummary>> {
    c.query(
        &format!(
            "SELECT {CHASE_COLS} FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE c.round_id = $1 \
             ORDER BY c.result_at, t.barcode"
        ),
        &[&round_id],
    )
    .await
    .db()?
    .iter()
    .map(chase_from)
    .collect()
}

pub(crate) async fn chase_timeline<C: GenericClient + Sync>(
    c: &C,
    barcode: &TubeBarcode,
) -> Result<Option<ChaseTimeline>> {
    let Some(row) = c
        .query_opt(
            &format!(
                "SELECT {CHASE_COLS}, c.tube_id FROM chases c JOIN tubes t ON t.id = c.tube_id WHERE t.barcode = $1"
            ),
            &[&barcode.as_str()],
        )
        .await
        .db()?
    else {
        return Ok(None);
    };
    let chase = chase_from(&row)?;
    let tube_id: i64 = row.try_get(9).db()?;
    let members = c
        .query(
            "SELECT p.resident_id, r.name, p.unit_code, p.marked_at, \
                    (SELECT min(k.sampled_at) FROM resample_tasks k WHERE k.tube_id = p.tube_id \
                       AND k.resident_id = p.resident_id AND k.reason = 'pool_positive'), \
                    p.status, p.resolved_at \
             FROM pool_positives p JOIN residents r ON r.id = p.resident_id WHERE p.tube_id = $1 ORDER BY p.resident_id",
            &[&tube_id],
        )
        .await
        .db()?
        .iter()
        .map(|r| {
            let id: i64 = r.try_get(0).db()?;
            let name: &str = r.try_get(1).db()?;
            Ok(ChaseStep {
                resident_id: id,
                masked_name: masked(name),
                unit: code(r.try_get(2).db()?, "pool_positive", id)?,
                marked_at: r.try_get(3).db()?,
                resampled_at: r.try_get(4).db()?,
                status: r.try_get(5).db()?,
                resolved_at: r.try_get(6).db()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(ChaseTimeline { chase, members }))
}

pub(crate) async fn resample_tasks<C: GenericClient + Sync>(
    c: &C,
    round_id: i64,
    roots: &[AreaCode],
    all: bool,
) -> Result<Vec<ResampleTask>> {
    let (lo, hi) = bounds(roots);
    c.query(
        "SELECT k.id, k.round_id, k.resident_id, r.name, r.phone, r.household_id, r.unit_code, h.room, t.barcode, \
                k.site_id, k.reason, k.created_at, k.sampled_at, k.done_at, \
                EXISTS (SELECT 1 FROM home_controls hc WHERE hc.household_id = r.household_id) \
         FROM unnest($1::text[], $2::text[]) AS x(lo, hi) \
         JOIN residents r ON r.unit_code >= x.lo AND r.unit_code < x.hi \
         JOIN resample_tasks k ON k.resident_id = r.id AND k.round_id = $3 AND ($4 OR k.done_at IS NULL) \
         JOIN households h ON h.id = r.household_id JOIN tubes t ON t.id = k.tube_id \
         ORDER BY r.unit_code, length(h.room), h.room, r.id, k.id",
        &[&lo, &hi, &round_id, &all],
    )
    .await
    .db()?
    .iter()
    .map(|r| {
        let id: i64 = r.try_get(0).db()?;
        Ok(ResampleTask {
            id,
            round_id: r.try_get(1).db()?,
            resident_id: r.try_get(2).db()?,
            name: r.try_get(3).db()?,
            phone: r.try_get(4).db()?,
            household_id: r.try_get(5).db()?,
            unit: code(r.try_get(6).db()?, "resample_task", id)?,
            room: r.try_get(7).db()?,
            tube: r.try_get(8).db()?,
            site_id: r.try_get(9).db()?,
            reason: r.try_get(10).db()?,
            created_at: r.try_get(11).db()?,
            sampled_at: r.try_get(12).db()?,
            done_at: r.try_get(13).db()?,
            door_to_door: r.try_get(14).db()?,
        })
    })
    .collect()
}

pub(crate) async fn pool_positives<C: GenericClient + Sync>(
    c: &C,
    round_id: i64,
    roots: &[AreaCode],
) -> Result<Vec<PoolPositive>> {
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
