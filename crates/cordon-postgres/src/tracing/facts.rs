//! Tracing's [`Facts`] on PostgreSQL: lists as `= ANY` arrays, the rows a write decides
//! on locked `FOR UPDATE`, each row parsed back into domain values. No rule lives here.

use crate::error::{Db, corrupt};
use crate::rows::{RESIDENT_COLUMNS, get, resident};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::tracing::candidates::{Evidence, Place, PoolMate, Presence, Sighting};
use cordon_domain::tracing::{
    CandidateState, CaseStatus, Class, Classification, ContactStatus, HowFound, PlaceKind, Setting, Source, TaskKind,
};
use cordon_store::StoreError;
use cordon_store::codes::PolicySetting;
use cordon_store::tracing::facts::{CandidateQuery, CaseQuery, ContactQuery, Facts, Keys};
use cordon_store::tracing::{Candidate, Case, Cluster, Contact, Reclassification, Task, TracePlace};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;
type Param = Box<dyn ToSql + Sync + Send>;

fn id_of(r: &Row) -> String {
    r.try_get::<_, i64>(0).map(|i| i.to_string()).unwrap_or_else(|_| "?".into())
}

fn parsed<T>(r: &Row, i: usize, table: &str, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<T> {
    let s: &str = get(r, i)?;
    f(s).ok_or_else(|| corrupt(table, id_of(r), col))
}

fn opt_parsed<T>(r: &Row, i: usize, table: &str, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
    let s: Option<&str> = get(r, i)?;
    s.map(|s| f(s).ok_or_else(|| corrupt(table, id_of(r), col))).transpose()
}

fn name(r: &Row, i: usize, table: &str) -> Result<PersonName> {
    parsed(r, i, table, "name", |s| PersonName::parse(s).ok())
}

fn area(r: &Row, i: usize, table: &str) -> Result<AreaCode> {
    parsed(r, i, table, "unit_code", |s| AreaCode::parse(s).ok())
}

async fn rows<C: GenericClient + Sync>(c: &C, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    c.query(sql, &refs).await.db()
}

fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

/// `(col >= $n AND col < $n+1) OR …` for `roots` (TRUE when none).
fn under(col: &str, roots: &[AreaCode], params: &mut Vec<Param>) -> String {
    if roots.is_empty() {
        return "true".into();
    }
    let parts: Vec<String> = roots
        .iter()
        .map(|r| {
            params.push(p(r.as_str().to_string()));
            params.push(p(r.range_end()));
            format!("({col} >= ${} AND {col} < ${})", params.len() - 1, params.len())
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

const CASE_COLS: &str = "c.id, c.resident_id, r.name, r.unit_code, r.household_id, c.source_tube, c.at, \
     c.classification, c.how_found, c.onset, \
     COALESCE(c.first_positive, \
              (SELECT min(s.at) FROM samples s WHERE s.tube_id = c.source_tube AND s.resident_id = c.resident_id), \
              (SELECT min(s.at) FROM resamples s WHERE s.tube_id = c.source_tube AND s.resident_id = c.resident_id)), \
     c.workplace, c.status, c.known_before, c.source_case, c.cluster_id, c.narrative, c.created_by, \
     c.investigation_at, c.core_done_at, c.traced_at \
     FROM cases c JOIN residents r ON r.id = c.resident_id";

fn case(r: &Row) -> Result<Case> {
    let t = "case";
    Ok(Case {
        id: get(r, 0)?,
        resident_id: get(r, 1)?,
        name: name(r, 2, t)?,
        unit: area(r, 3, t)?,
        household_id: get(r, 4)?,
        source_tube: get(r, 5)?,
        at: get(r, 6)?,
        classification: parsed(r, 7, t, "classification", Classification::parse)?,
        how_found: parsed(r, 8, t, "how_found", HowFound::parse)?,
        onset: get::<Option<NaiveDate>>(r, 9)?,
        first_positive: get(r, 10)?,
        workplace: get(r, 11)?,
        status: parsed(r, 12, t, "status", CaseStatus::parse)?,
        known_before: get(r, 13)?,
        source_case: get(r, 14)?,
        cluster_id: get(r, 15)?,
        narrative: get(r, 16)?,
        created_by: get(r, 17)?,
        investigation_at: get(r, 18)?,
        core_done_at: get(r, 19)?,
        traced_at: get(r, 20)?,
    })
}

const CANDIDATE_COLS: &str = "t.id, t.case_id, t.resident_id, r.name, r.unit_code, t.class, t.source, \
     t.last_exposure, t.place_kind, t.place_id, t.tube_id, t.seen_at, t.case_at, t.state, t.proposed_at, \
     t.decided_at, t.decided_by FROM trace_candidates t JOIN residents r ON r.id = t.resident_id";

fn candidate(r: &Row) -> Result<Candidate> {
    let t = "candidate";
    let place = match (opt_parsed(r, 8, t, "place_kind", PlaceKind::parse)?, get::<Option<i64>>(r, 9)?) {
        (Some(kind), Some(id)) => Some(Place { kind, id }),
        _ => None,
    };
    Ok(Candidate {
        id: get(r, 0)?,
        case_id: get(r, 1)?,
        resident_id: get(r, 2)?,
        name: name(r, 3, t)?,
        unit: area(r, 4, t)?,
        class: parsed(r, 5, t, "class", Class::parse)?,
        source: parsed(r, 6, t, "source", Source::parse)?,
        last_exposure: get(r, 7)?,
        evidence: Evidence { place, tube_id: get(r, 10)?, at: get(r, 11)?, case_at: get(r, 12)? },
        state: parsed(r, 13, t, "state", CandidateState::parse)?,
        proposed_at: get(r, 14)?,
        decided_at: get(r, 15)?,
        decided_by: get(r, 16)?,
    })
}

const CONTACT_COLS: &str = "k.id, k.case_id, k.resident_id, k.name, k.id_number, k.phone, k.unit_code, k.address, \
     k.household_id, k.class, k.setting, k.last_exposure, k.elicited_by, k.status, k.identified_at, k.notified_at, \
     k.status_at, k.candidate_id FROM trace_contacts k";

fn contact(r: &Row) -> Result<Contact> {
    let t = "contact";
    Ok(Contact {
        id: get(r, 0)?,
        case_id: get(r, 1)?,
        resident_id: get(r, 2)?,
        name: name(r, 3, t)?,
        id_number: opt_parsed(r, 4, t, "id_number", |s| IdNumber::parse(s).ok())?,
        phone: opt_parsed(r, 5, t, "phone", |s| Phone::parse(s).ok())?,
        unit: opt_parsed(r, 6, t, "unit_code", |s| AreaCode::parse(s).ok())?,
        address: get(r, 7)?,
        household_id: get(r, 8)?,
        class: parsed(r, 9, t, "class", Class::parse)?,
        setting: parsed(r, 10, t, "setting", Setting::parse)?,
        last_exposure: get(r, 11)?,
        elicited_by: get(r, 12)?,
        status: parsed(r, 13, t, "status", ContactStatus::parse)?,
        identified_at: get(r, 14)?,
        notified_at: get(r, 15)?,
        status_at: get(r, 16)?,
        candidate_id: get(r, 17)?,
    })
}

const PLACE_COLS: &str =
    "id, case_id, kind, place_id, label, from_at, until_at, setting, confirmed, exposure_site, note FROM trace_places";

fn place(r: &Row) -> Result<TracePlace> {
    let t = "trace place";
    Ok(TracePlace {
        id: get(r, 0)?,
        case_id: get(r, 1)?,
        kind: parsed(r, 2, t, "kind", PlaceKind::parse)?,
        place_id: get(r, 3)?,
        label: get(r, 4)?,
        from: get(r, 5)?,
        until: get(r, 6)?,
        setting: opt_parsed(r, 7, t, "setting", Setting::parse)?,
        confirmed: get(r, 8)?,
        exposure_site: get(r, 9)?,
        note: get(r, 10)?,
    })
}

const TASK_COLS: &str = "id, case_id, kind, due_at, done_at, done_by FROM trace_tasks";

fn task(r: &Row) -> Result<Task> {
    Ok(Task {
        id: get(r, 0)?,
        case_id: get(r, 1)?,
        kind: parsed(r, 2, "trace task", "kind", TaskKind::parse)?,
        due_at: get(r, 3)?,
        done_at: get(r, 4)?,
        done_by: get(r, 5)?,
    })
}

const OPEN_CONTACT: &str = "('identified', 'notified', 'under_quarantine')";

fn map<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

async fn cases<C: GenericClient + Sync>(c: &C, q: &CaseQuery, lock: bool) -> Result<Vec<Case>> {
    let lock = if lock { " FOR UPDATE OF c" } else { "" };
    let mut out = match q {
        CaseQuery::Ids(ids) => {
            map(rows(c, &format!("SELECT {CASE_COLS} WHERE c.id = ANY($1){lock}"), &[p(ids.clone())]).await?, case)?
        }
        CaseQuery::Residents(ids) => map(
            rows(c, &format!("SELECT {CASE_COLS} WHERE c.resident_id = ANY($1){lock}"), &[p(ids.clone())]).await?,
            case,
        )?,
        CaseQuery::Untraced(limit) => map(
            rows(
                c,
                &format!("SELECT {CASE_COLS} WHERE c.traced_at IS NULL ORDER BY c.id LIMIT $1{lock}"),
                &[p(i64::from(*limit))],
            )
            .await?,
            case,
        )?,
        CaseQuery::Under { roots, open_only, since, until, cluster_id, limit } => {
            let mut params: Vec<Param> = Vec::new();
            let mut sql = format!("SELECT {CASE_COLS} WHERE {}", under("r.unit_code", roots, &mut params));
            if *open_only {
                sql.push_str(" AND c.status NOT IN ('recovered', 'died')");
            }
            if let Some(s) = since {
                params.push(p(*s));
                sql.push_str(&format!(" AND c.at >= ${}", params.len()));
            }
            if let Some(u) = until {
                params.push(p(*u));
                sql.push_str(&format!(" AND c.at < ${}", params.len()));
            }
            if let Some(cl) = cluster_id {
                params.push(p(*cl));
                sql.push_str(&format!(" AND c.cluster_id = ${}", params.len()));
            }
            params.push(p(i64::from(*limit)));
            sql.push_str(&format!(" ORDER BY c.id DESC LIMIT ${}", params.len()));
            map(rows(c, &sql, &params).await?, case)?
        }
    };
    out.sort_by_key(|x| x.id);
    out.dedup_by_key(|x| x.id);
    Ok(out)
}

async fn contacts<C: GenericClient + Sync>(c: &C, q: &ContactQuery, lock: bool) -> Result<Vec<Contact>> {
    let lock = if lock { " FOR UPDATE OF k" } else { "" };
    let by = |col: &str| format!("SELECT {CONTACT_COLS} WHERE {col} = ANY($1){lock}");
    let mut out = match q {
        ContactQuery::Ids(ids) => map(rows(c, &by("k.id"), &[p(ids.clone())]).await?, contact)?,
        ContactQuery::OfCases(ids) => map(rows(c, &by("k.case_id"), &[p(ids.clone())]).await?, contact)?,
        ContactQuery::Residents(ids) => map(rows(c, &by("k.resident_id"), &[p(ids.clone())]).await?, contact)?,
        ContactQuery::Under { roots, statuses, limit } => {
            let mut params: Vec<Param> = Vec::new();
            let mut sql = format!(
                "SELECT {CONTACT_COLS} WHERE k.unit_code IS NOT NULL AND {}",
                under("k.unit_code", roots, &mut params)
            );
            if !statuses.is_empty() {
                params.push(p(statuses.iter().map(|s| s.as_str().to_string()).collect::<Vec<_>>()));
                sql.push_str(&format!(" AND k.status = ANY(${})", params.len()));
            }
            params.push(p(i64::from(*limit)));
            sql.push_str(&format!(" ORDER BY k.id LIMIT ${}", params.len()));
            map(rows(c, &sql, &params).await?, contact)?
        }
    };
    out.sort_by_key(|x| x.id);
    out.dedup_by_key(|x| x.id);
    Ok(out)
}

pub(crate) async fn fetch<C: GenericClient + Sync>(c: &C, k: &Keys) -> Result<Facts> {
    let mut f = Facts::default();
    if k.policy {
        let row = c
            .query_opt("SELECT name, source, updated_at, updated_by FROM policy_setting WHERE id = 1", &[])
            .await
            .db()?;
        f.policy = row
            .map(|r| -> Result<PolicySetting> {
                Ok(PolicySetting {
                    name: get(&r, 0)?,
                    source: get(&r, 1)?,
                    updated_at: get(&r, 2)?,
                    updated_by: get(&r, 3)?,
                })
            })
            .transpose()?;
    }
    if let Some(q) = &k.cases {
        f.cases = cases(c, q, k.lock).await?;
    }
    let case_ids: Vec<i64> = f.cases.iter().map(|x| x.id).collect();
    if k.history && !case_ids.is_empty() {
        let found = rows(
            c,
            "SELECT case_id, from_code, to_code, at, by_user FROM case_classifications WHERE case_id = ANY($1) ORDER BY id",
            &[p(case_ids.clone())],
        )
        .await?;
        for r in &found {
            f.history.push(Reclassification {
                case_id: get(r, 0)?,
                from: opt_parsed(r, 1, "case classification", "from_code", Classification::parse)?,
                to: parsed(r, 2, "case classification", "to_code", Classification::parse)?,
                at: get(r, 3)?,
                by: get(r, 4)?,
            });
        }
    }
    if let Some(q) = &k.candidates {
        let lock = if k.lock { " FOR UPDATE OF t" } else { "" };
        let (col, ids) = match q {
            CandidateQuery::Ids(ids) => ("t.id", ids),
            CandidateQuery::OfCases(ids) => ("t.case_id", ids),
        };
        f.candidates = map(
            rows(c, &format!("SELECT {CANDIDATE_COLS} WHERE {col} = ANY($1) ORDER BY t.id{lock}"), &[p(ids.clone())])
                .await?,
            candidate,
        )?;
    }
    if let Some(q) = &k.contacts {
        f.contacts = contacts(c, q, k.lock).await?;
    }
    if !k.places_of.is_empty() {
        f.places = map(
            rows(c, &format!("SELECT {PLACE_COLS} WHERE case_id = ANY($1) ORDER BY id"), &[p(k.places_of.clone())])
                .await?,
            place,
        )?;
    }
    let mut tasks = Vec::new();
    if !k.tasks_of.is_empty() {
        tasks.extend(map(
            rows(c, &format!("SELECT {TASK_COLS} WHERE case_id = ANY($1)"), &[p(k.tasks_of.clone())]).await?,
            task,
        )?);
    }
    if !k.task_ids.is_empty() {
        let lock = if k.lock { " FOR UPDATE" } else { "" };
        tasks.extend(map(
            rows(c, &format!("SELECT {TASK_COLS} WHERE id = ANY($1){lock}"), &[p(k.task_ids.clone())]).await?,
            task,
        )?);
    }
    if k.open_tasks && !case_ids.is_empty() {
        tasks.extend(map(
            rows(c, &format!("SELECT {TASK_COLS} WHERE case_id = ANY($1) AND done_at IS NULL"), &[p(case_ids.clone())])
                .await?,
            task,
        )?);
    }
    tasks.sort_by_key(|t| t.id);
    tasks.dedup_by_key(|t| t.id);
    f.tasks = tasks;
    let resident_sql = |cond: &str| {
        format!(
            "SELECT {RESIDENT_COLUMNS} FROM residents r JOIN households h ON h.id = r.household_id WHERE {cond} ORDER BY r.id"
        )
    };
    if !k.residents.is_empty() {
        f.residents = map(rows(c, &resident_sql("r.id = ANY($1)"), &[p(k.residents.clone())]).await?, resident)?;
    }
    if !k.households_of.is_empty() {
        f.households = map(
            rows(
                c,
                &resident_sql(
                    "r.household_id IN (SELECT household_id FROM residents WHERE id = ANY($1)) AND r.status = 'active'",
                ),
                &[p(k.households_of.clone())],
            )
            .await?,
            resident,
        )?;
    }
    if !k.units_of.is_empty() {
        let found = rows(
            c,
            "SELECT r.id, r.unit_code FROM residents r \
             WHERE r.unit_code IN (SELECT unit_code FROM residents WHERE id = ANY($1)) AND r.status = 'active' ORDER BY r.id",
            &[p(k.units_of.clone())],
        )
        .await?;
        for r in &found {
            f.units.push((get(r, 0)?, area(r, 1, "resident")?));
        }
    }
    for s in &k.movements {
        let args: [Param; 3] = [p(s.resident_id), p(s.from), p(s.until)];
        for (kind, sql) in [
            (
                PlaceKind::Checkpoint,
                "SELECT checkpoint_id, at FROM checkpoint_scans WHERE resident_id = $1 AND at >= $2 AND at <= $3 ORDER BY at",
            ),
            (
                PlaceKind::Venue,
                "SELECT venue_id, at FROM venue_checkins WHERE resident_id = $1 AND at >= $2 AND at <= $3 ORDER BY at",
            ),
        ] {
            for r in &rows(c, sql, &args).await? {
                let at: DateTime<Utc> = get(r, 1)?;
                f.presences
                    .push((s.resident_id, Presence { place: Place { kind, id: get(r, 0)? }, from: at, until: at }));
            }
        }
        let found = rows(
            c,
            "SELECT tube_id, at FROM samples WHERE resident_id = $1 AND at >= $2 AND at <= $3 \
             UNION ALL SELECT tube_id, at FROM resamples WHERE resident_id = $1 AND at >= $2 AND at <= $3 ORDER BY 2",
            &args,
        )
        .await?;
        let mut tubes = Vec::new();
        for r in &found {
            let tube: i64 = get(r, 0)?;
            tubes.push(tube);
            f.samples.push((s.resident_id, tube, get(r, 1)?));
        }
        if !tubes.is_empty() {
            for r in &rows(
                c,
                "SELECT tube_id, resident_id, at FROM samples WHERE tube_id = ANY($1) ORDER BY tube_id, resident_id",
                &[p(tubes)],
            )
            .await?
            {
                f.pool_mates.push(PoolMate { tube_id: get(r, 0)?, resident_id: get(r, 1)?, sampled_at: get(r, 2)? });
            }
        }
    }
    for (pl, from, until) in &k.sightings {
        let sql = match pl.kind {
            PlaceKind::Checkpoint => {
                "SELECT resident_id, at FROM checkpoint_scans WHERE checkpoint_id = $1 AND at >= $2 AND at <= $3 \
                 AND resident_id IS NOT NULL"
            }
            PlaceKind::Venue => {
                "SELECT resident_id, at FROM venue_checkins WHERE venue_id = $1 AND at >= $2 AND at <= $3"
            }
            _ => continue,
        };
        for r in &rows(c, sql, &[p(pl.id), p(*from), p(*until)]).await? {
            f.sightings.push(Sighting { resident_id: get(r, 0)?, place: *pl, at: get(r, 1)? });
        }
    }
    if !k.cases_among.is_empty() {
        for r in
            &rows(c, "SELECT DISTINCT resident_id FROM cases WHERE resident_id = ANY($1)", &[p(k.cases_among.clone())])
                .await?
        {
            f.cases_among.insert(get(r, 0)?);
        }
    }
    if !k.known_among.is_empty() {
        let sql = format!(
            "SELECT DISTINCT resident_id FROM trace_contacts WHERE resident_id = ANY($1) AND status IN {OPEN_CONTACT} \
             UNION SELECT DISTINCT resident_id FROM quarantine_orders WHERE resident_id = ANY($1) \
               AND state IN ('ordered', 'in_transfer', 'in_quarantine', 'home_monitoring')"
        );
        for r in &rows(c, &sql, &[p(k.known_among.clone())]).await? {
            let id: Option<i64> = get(r, 0)?;
            f.known_among.extend(id);
        }
    }
    if k.links {
        for r in &rows(c, "SELECT id, source_case FROM cases WHERE source_case IS NOT NULL", &[]).await? {
            f.links.insert(get(r, 0)?, get(r, 1)?);
        }
    }
    for pl in &k.place_names {
        let sql = match pl.kind {
            PlaceKind::Checkpoint => "SELECT name FROM checkpoints WHERE id = $1",
            PlaceKind::Venue => "SELECT name FROM venues WHERE id = $1",
            _ => continue,
        };
        if let Some(r) = rows(c, sql, &[p(pl.id)]).await?.first() {
            f.place_names.insert(*pl, get(r, 0)?);
        }
    }
    if k.clusters {
        for r in &rows(c, "SELECT id, name, created_at FROM clusters ORDER BY id", &[]).await? {
            f.clusters.push(Cluster { id: get(r, 0)?, name: get(r, 1)?, created_at: get(r, 2)? });
        }
    }
    if !k.venues.is_empty() {
        for r in &rows(c, "SELECT id FROM venues WHERE id = ANY($1)", &[p(k.venues.clone())]).await? {
            f.venues.insert(get(r, 0)?);
        }
    }
    Ok(f)
}

/// The strongest open contact class of a resident, for the colour engine.
pub(crate) async fn contact_class_of<C: GenericClient + Sync>(c: &C, resident_id: i64) -> Result<Option<Class>> {
    let found = c
        .query(
            &format!("SELECT class FROM trace_contacts WHERE resident_id = $1 AND status IN {OPEN_CONTACT}"),
            &[&resident_id],
        )
        .await
        .db()?;
    let mut best = None;
    for r in &found {
        let class = parsed(r, 0, "contact", "class", Class::parse)?;
        best = best.max(Some(class));
    }
    Ok(best)
}
