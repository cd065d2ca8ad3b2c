//! Writing a tracing plan's [`Effects`] on SQLite, in the order of its fields, with new
//! ids swapped in for their placeholders. SQL only: what to write was decided by the plan.

use crate::audit;
use crate::rows::{OrBackend, ts};
use chrono::{DateTime, Utc};
use cordon_store::Result;
use cordon_store::tracing::{Case, Effects, Written};
use rusqlite::types::Value;
use rusqlite::{Connection, params};

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::Text(ts(t)))
}

fn case_values(c: &Case) -> [Value; 17] {
    [
        Value::Integer(c.resident_id),
        c.source_tube.map_or(Value::Null, Value::Integer),
        Value::Text(ts(c.at)),
        Value::Text(c.classification.as_str().into()),
        Value::Text(c.how_found.as_str().into()),
        c.onset.map_or(Value::Null, |d| Value::Text(d.format("%Y-%m-%d").to_string())),
        opt_ts(c.first_positive),
        Value::Text(c.workplace.clone()),
        Value::Text(c.status.as_str().into()),
        Value::Integer(i64::from(c.known_before)),
        c.source_case.map_or(Value::Null, Value::Integer),
        c.cluster_id.map_or(Value::Null, Value::Integer),
        Value::Text(c.narrative.clone()),
        Value::Text(c.created_by.clone()),
        opt_ts(c.investigation_at),
        opt_ts(c.core_done_at),
        opt_ts(c.traced_at),
    ]
}

pub(crate) fn write(c: &Connection, e: &Effects) -> Result<Written> {
    let mut w = Written::default();
    for cl in &e.clusters_new {
        c.prepare_cached("INSERT INTO clusters (name, created_at) VALUES (?1, ?2)")
            .db()?
            .execute(params![cl.name, ts(cl.created_at)])
            .db()?;
        w.clusters.push(c.last_insert_rowid());
    }
    for k in &e.cases_new {
        c.prepare_cached(
            "INSERT INTO cases (resident_id, source_tube, at, classification, how_found, onset, first_positive, \
             workplace, status, known_before, source_case, cluster_id, narrative, created_by, investigation_at, \
             core_done_at, traced_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .db()?
        .execute(rusqlite::params_from_iter(case_values(k)))
        .db()?;
        w.cases.push(c.last_insert_rowid());
    }
    for k in &e.cases_save {
        let mut v = case_values(k).to_vec();
        v.push(Value::Integer(w.case(k.id)));
        c.prepare_cached(
            "UPDATE cases SET resident_id = ?1, source_tube = ?2, at = ?3, classification = ?4, how_found = ?5, \
             onset = ?6, first_positive = ?7, workplace = ?8, status = ?9, known_before = ?10, source_case = ?11, \
             cluster_id = ?12, narrative = ?13, created_by = ?14, investigation_at = ?15, core_done_at = ?16, \
             traced_at = ?17 WHERE id = ?18",
        )
        .db()?
        .execute(rusqlite::params_from_iter(v))
        .db()?;
    }
    for h in &e.history {
        c.prepare_cached(
            "INSERT INTO case_classifications (case_id, from_code, to_code, at, by_user) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?
        .execute(params![w.case(h.case_id), h.from.map(|x| x.as_str()), h.to.as_str(), ts(h.at), h.by])
        .db()?;
    }
    for p in &e.places_new {
        c.prepare_cached(
            "INSERT INTO trace_places (case_id, kind, place_id, label, from_at, until_at, setting, confirmed, \
             exposure_site, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?
        .execute(params![
            w.case(p.case_id),
            p.kind.as_str(),
            p.place_id,
            p.label,
            ts(p.from),
            ts(p.until),
            p.setting.map(|s| s.as_str()),
            p.confirmed,
            p.exposure_site,
            p.note
        ])
        .db()?;
    }
    for id in &e.places_confirm {
        c.prepare_cached("UPDATE trace_places SET confirmed = 1 WHERE id = ?1").db()?.execute([id]).db()?;
    }
    for t in &e.tasks_new {
        c.prepare_cached("INSERT INTO trace_tasks (case_id, kind, due_at) VALUES (?1, ?2, ?3)")
            .db()?
            .execute(params![w.case(t.case_id), t.kind.as_str(), ts(t.due_at)])
            .db()?;
    }
    for (id, at, by) in &e.tasks_done {
        c.prepare_cached("UPDATE trace_tasks SET done_at = ?2, done_by = ?3 WHERE id = ?1 AND done_at IS NULL")
            .db()?
            .execute(params![id, ts(*at), by])
            .db()?;
    }
    for k in &e.candidates_new {
        let ev = &k.evidence;
        c.prepare_cached(
            "INSERT INTO trace_candidates (case_id, resident_id, class, source, last_exposure, place_kind, place_id, \
             tube_id, seen_at, case_at, state, proposed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (case_id, resident_id) DO NOTHING",
        )
        .db()?
        .execute(params![
            w.case(k.case_id),
            k.resident_id,
            k.class.as_str(),
            k.source.as_str(),
            ts(k.last_exposure),
            ev.place.map(|p| p.kind.as_str()),
            ev.place.map(|p| p.id),
            ev.tube_id,
            ev.at.map(ts),
            ev.case_at.map(ts),
            k.state.as_str(),
            ts(k.proposed_at)
        ])
        .db()?;
    }
    for (id, state, at, by) in &e.candidates_decide {
        c.prepare_cached("UPDATE trace_candidates SET state = ?2, decided_at = ?3, decided_by = ?4 WHERE id = ?1")
            .db()?
            .execute(params![id, state.as_str(), ts(*at), by])
            .db()?;
    }
    for k in &e.contacts_new {
        c.prepare_cached(
            "INSERT INTO trace_contacts (case_id, resident_id, name, id_number, phone, unit_code, address, \
             household_id, class, setting, last_exposure, elicited_by, status, identified_at, notified_at, status_at, \
             candidate_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .db()?
        .execute(params![
            w.case(k.case_id),
            k.resident_id,
            k.name.as_str(),
            k.id_number.as_ref().map(|n| n.as_str()),
            k.phone.as_ref().map(|p| p.as_str()),
            k.unit.as_ref().map(|u| u.as_str()),
            k.address,
            k.household_id,
            k.class.as_str(),
            k.setting.as_str(),
            ts(k.last_exposure),
            k.elicited_by,
            k.status.as_str(),
            ts(k.identified_at),
            k.notified_at.map(ts),
            ts(k.status_at),
            k.candidate_id
        ])
        .db()?;
        w.contacts.push(c.last_insert_rowid());
    }
    for k in &e.contacts_save {
        c.prepare_cached("UPDATE trace_contacts SET status = ?2, notified_at = ?3, status_at = ?4 WHERE id = ?1")
            .db()?
            .execute(params![k.id, k.status.as_str(), k.notified_at.map(ts), ts(k.status_at)])
            .db()?;
    }
    for a in &e.audit {
        audit::insert(c, a)?;
    }
    Ok(w)
}
