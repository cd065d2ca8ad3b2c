//! Writing a tracing plan's [`Effects`] on PostgreSQL, in the order of its fields, with
//! new ids swapped in for their placeholders. SQL only: what to write was decided by the
//! plan.

use crate::error::Db;
use cordon_store::StoreError;
use cordon_store::tracing::{Case, Effects, Written};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

type Result<T> = std::result::Result<T, StoreError>;

const CASE_SET: &str = "resident_id, source_tube, at, classification, how_found, onset, first_positive, workplace, \
     status, known_before, source_case, cluster_id, narrative, created_by, investigation_at, core_done_at, traced_at";

async fn case_exec<C: GenericClient + Sync>(c: &C, sql: &str, k: &Case, id: Option<i64>) -> Result<Option<i64>> {
    let (cl, hf, st) = (k.classification.as_str(), k.how_found.as_str(), k.status.as_str());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &k.resident_id,
        &k.source_tube,
        &k.at,
        &cl,
        &hf,
        &k.onset,
        &k.first_positive,
        &k.workplace,
        &st,
        &k.known_before,
        &k.source_case,
        &k.cluster_id,
        &k.narrative,
        &k.created_by,
        &k.investigation_at,
        &k.core_done_at,
        &k.traced_at,
    ];
    match id {
        Some(id) => {
            let id = Box::new(id);
            params.push(id.as_ref());
            c.execute(sql, &params).await.db()?;
            Ok(None)
        }
        None => Ok(Some(c.query_one(sql, &params).await.db()?.try_get(0).db()?)),
    }
}

pub(crate) async fn write<C: GenericClient + Sync>(c: &C, e: &Effects) -> Result<Written> {
    let mut w = Written::default();
    for cl in &e.clusters_new {
        let r = c
            .query_one(
                "INSERT INTO clusters (name, created_at) VALUES ($1, $2) RETURNING id",
                &[&cl.name, &cl.created_at],
            )
            .await
            .db()?;
        w.clusters.push(r.try_get(0).db()?);
    }
    for k in &e.cases_new {
        let sql = format!(
            "INSERT INTO cases ({CASE_SET}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             RETURNING id"
        );
        w.cases.extend(case_exec(c, &sql, k, None).await?);
    }
    for k in &e.cases_save {
        let sql = "UPDATE cases SET (resident_id, source_tube, at, classification, how_found, onset, first_positive, \
             workplace, status, known_before, source_case, cluster_id, narrative, created_by, investigation_at, \
             core_done_at, traced_at) = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             WHERE id = $18";
        case_exec(c, sql, k, Some(w.case(k.id))).await?;
    }
    for h in &e.history {
        c.execute(
            "INSERT INTO case_classifications (case_id, from_code, to_code, at, by_user) VALUES ($1, $2, $3, $4, $5)",
            &[&w.case(h.case_id), &h.from.map(|x| x.as_str()), &h.to.as_str(), &h.at, &h.by],
        )
        .await
        .db()?;
    }
    for p in &e.places_new {
        c.execute(
            "INSERT INTO trace_places (case_id, kind, place_id, label, from_at, until_at, setting, confirmed, \
             exposure_site, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &w.case(p.case_id),
                &p.kind.as_str(),
                &p.place_id,
                &p.label,
                &p.from,
                &p.until,
                &p.setting.map(|s| s.as_str()),
                &p.confirmed,
                &p.exposure_site,
                &p.note,
            ],
        )
        .await
        .db()?;
    }
    if !e.places_confirm.is_empty() {
        c.execute("UPDATE trace_places SET confirmed = true WHERE id = ANY($1)", &[&e.places_confirm]).await.db()?;
    }
    for t in &e.tasks_new {
        c.execute(
            "INSERT INTO trace_tasks (case_id, kind, due_at) VALUES ($1, $2, $3)",
            &[&w.case(t.case_id), &t.kind.as_str(), &t.due_at],
        )
        .await
        .db()?;
    }
    for (id, at, by) in &e.tasks_done {
        c.execute("UPDATE trace_tasks SET done_at = $2, done_by = $3 WHERE id = $1 AND done_at IS NULL", &[id, at, by])
            .await
            .db()?;
    }
    for k in &e.candidates_new {
        let ev = &k.evidence;
        c.execute(
            "INSERT INTO trace_candidates (case_id, resident_id, class, source, last_exposure, place_kind, place_id, \
             tube_id, seen_at, case_at, state, proposed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (case_id, resident_id) DO NOTHING",
            &[
                &w.case(k.case_id),
                &k.resident_id,
                &k.class.as_str(),
                &k.source.as_str(),
                &k.last_exposure,
                &ev.place.map(|p| p.kind.as_str()),
                &ev.place.map(|p| p.id),
                &ev.tube_id,
                &ev.at,
                &ev.case_at,
                &k.state.as_str(),
                &k.proposed_at,
            ],
        )
        .await
        .db()?;
    }
    for (id, state, at, by) in &e.candidates_decide {
        c.execute(
            "UPDATE trace_candidates SET state = $2, decided_at = $3, decided_by = $4 WHERE id = $1",
            &[id, &state.as_str(), at, by],
        )
        .await
        .db()?;
    }
    for k in &e.contacts_new {
        let r = c
            .query_one(
                "INSERT INTO trace_contacts (case_id, resident_id, name, id_number, phone, unit_code, address, \
                 household_id, class, setting, last_exposure, elicited_by, status, identified_at, notified_at, status_at, \
                 candidate_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 RETURNING id",
                &[
                    &w.case(k.case_id),
                    &k.resident_id,
                    &k.name.as_str(),
                    &k.id_number.as_ref().map(|n| n.as_str()),
                    &k.phone.as_ref().map(|p| p.as_str()),
                    &k.unit.as_ref().map(|u| u.as_str()),
                    &k.address,
                    &k.household_id,
                    &k.class.as_str(),
                    &k.setting.as_str(),
                    &k.last_exposure,
                    &k.elicited_by,
                    &k.status.as_str(),
                    &k.identified_at,
                    &k.notified_at,
                    &k.status_at,
                    &k.candidate_id,
                ],
            )
            .await
            .db()?;
        w.contacts.push(r.try_get(0).db()?);
    }
    for k in &e.contacts_save {
        c.execute(
            "UPDATE trace_contacts SET status = $2, notified_at = $3, status_at = $4 WHERE id = $1",
            &[&k.id, &k.status.as_str(), &k.notified_at, &k.status_at],
        )
        .await
        .db()?;
    }
    crate::store::insert_audit(c, &e.audit).await?;
    Ok(w)
}
