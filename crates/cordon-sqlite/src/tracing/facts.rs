//! Fetching tracing's [`Facts`] on SQLite: SQL and row mapping only.

use crate::rows::{OrBackend, RESIDENT_COLS, RawResident, ts};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::tracing::candidates::{Evidence, Place, PoolMate, Presence, Sighting};
use cordon_domain::tracing::{
    CandidateState, CaseStatus, Class, Classification, ContactStatus, HowFound, PlaceKind, Setting, Source, TaskKind,
};
use cordon_store::tracing::facts::{CandidateQuery, CaseQuery, ContactQuery, Facts, Keys};
use cordon_store::tracing::{Candidate, Case, Cluster, Contact, Reclassification, Task, TracePlace};
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

/// One row read as values, parsed with the table and id in every error (never the value).
struct Cells {
    table: &'static str,
    v: Vec<Value>,
}

impl Cells {
    fn read(row: &Row<'_>, table: &'static str) -> rusqlite::Result<Cells> {
        let n = row.as_ref().column_count();
        Ok(Cells { table, v: (0..n).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()? })
    }
    fn bad(&self, col: &str) -> StoreError {
        let id = match self.v.first() {
            Some(Value::Integer(i)) => i.to_string(),
            _ => "?".into(),
        };
        StoreError::Backend(format!("stored {} {id} has an invalid {col}", self.table))
    }
    fn opt_int(&self, i: usize) -> Option<i64> {
        match self.v.get(i) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        }
    }
    fn int(&self, i: usize, col: &str) -> Result<i64> {
        self.opt_int(i).ok_or_else(|| self.bad(col))
    }
    fn opt_text(&self, i: usize) -> Option<&str> {
        match self.v.get(i) {
            Some(Value::Text(t)) => Some(t.as_str()),
            _ => None,
        }
    }
    fn text(&self, i: usize, col: &str) -> Result<String> {
        self.opt_text(i).map(str::to_string).ok_or_else(|| self.bad(col))
    }
    fn parse<T>(&self, i: usize, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<T> {
        self.opt_text(i).and_then(f).ok_or_else(|| self.bad(col))
    }
    fn opt_parse<T>(&self, i: usize, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        self.opt_text(i).map(|s| f(s).ok_or_else(|| self.bad(col))).transpose()
    }
    fn ts(&self, i: usize, col: &str) -> Result<DateTime<Utc>> {
        self.parse(i, col, parse_ts)
    }
    fn opt_ts(&self, i: usize, col: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_parse(i, col, parse_ts)
    }
    fn bool(&self, i: usize) -> bool {
        self.opt_int(i).is_some_and(|n| n != 0)
    }
    fn area(&self, i: usize, col: &str) -> Result<AreaCode> {
        self.parse(i, col, |s| AreaCode::parse(s).ok())
    }
    fn name(&self, i: usize) -> Result<PersonName> {
        self.parse(i, "name", |s| PersonName::parse(s).ok())
    }
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn query<T>(
    c: &Connection,
    sql: &str,
    params: &[Value],
    table: &'static str,
    map: impl Fn(&Cells) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params_from_iter(params.iter()), |r| Cells::read(r, table)).db()?;
    let mut out = Vec::new();
    for r in rows {
        out.push(map(&r.db()?)?);
    }
    Ok(out)
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}
fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}
fn time(t: DateTime<Utc>) -> Value {
    Value::Text(ts(t))
}

/// `(r.unit_code >= ? AND r.unit_code < ?) OR …` for `roots` (TRUE when none), and its
/// parameters.
fn under(col: &str, roots: &[AreaCode], params: &mut Vec<Value>) -> String {
    if roots.is_empty() {
        return "1".into();
    }
    let parts: Vec<String> = roots
        .iter()
        .map(|r| {
            params.push(text(r.as_str()));
            params.push(Value::Text(r.range_end()));
            format!("({col} >= ? AND {col} < ?)")
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

fn case(c: &Cells) -> Result<Case> {
    Ok(Case {
        id: c.int(0, "id")?,
        resident_id: c.int(1, "resident_id")?,
        name: c.name(2)?,
        unit: c.area(3, "unit_code")?,
        household_id: c.int(4, "household_id")?,
        source_tube: c.opt_int(5),
        at: c.ts(6, "at")?,
        classification: c.parse(7, "classification", Classification::parse)?,
        how_found: c.parse(8, "how_found", HowFound::parse)?,
        onset: c.opt_parse(9, "onset", parse_date)?,
        first_positive: c.opt_ts(10, "first_positive")?,
        workplace: c.text(11, "workplace")?,
        status: c.parse(12, "status", CaseStatus::parse)?,
        known_before: c.bool(13),
        source_case: c.opt_int(14),
        cluster_id: c.opt_int(15),
        narrative: c.text(16, "narrative")?,
        created_by: c.text(17, "created_by")?,
        investigation_at: c.opt_ts(18, "investigation_at")?,
        core_done_at: c.opt_ts(19, "core_done_at")?,
        traced_at: c.opt_ts(20, "traced_at")?,
    })
}

const CANDIDATE_COLS: &str = "t.id, t.case_id, t.resident_id, r.name, r.unit_code, t.class, t.source, \
     t.last_exposure, t.place_kind, t.place_id, t.tube_id, t.seen_at, t.case_at, t.state, t.proposed_at, \
     t.decided_at, t.decided_by FROM trace_candidates t JOIN residents r ON r.id = t.resident_id";

fn candidate(c: &Cells) -> Result<Candidate> {
    let place = match (c.opt_parse(8, "place_kind", PlaceKind::parse)?, c.opt_int(9)) {
        (Some(kind), Some(id)) => Some(Place { kind, id }),
        _ => None,
    };
    Ok(Candidate {
        id: c.int(0, "id")?,
        case_id: c.int(1, "case_id")?,
        resident_id: c.int(2, "resident_id")?,
        name: c.name(3)?,
        unit: c.area(4, "unit_code")?,
        class: c.parse(5, "class", Class::parse)?,
        source: c.parse(6, "source", Source::parse)?,
        last_exposure: c.ts(7, "last_exposure")?,
        evidence: Evidence {
            place,
            tube_id: c.opt_int(10),
            at: c.opt_ts(11, "seen_at")?,
            case_at: c.opt_ts(12, "case_at")?,
        },
        state: c.parse(13, "state", CandidateState::parse)?,
        proposed_at: c.ts(14, "proposed_at")?,
        decided_at: c.opt_ts(15, "decided_at")?,
        decided_by: c.opt_text(16).map(str::to_string),
    })
}

const CONTACT_COLS: &str = "k.id, k.case_id, k.resident_id, k.name, k.id_number, k.phone, k.unit_code, k.address, \
     k.household_id, k.class, k.setting, k.last_exposure, k.elicited_by, k.status, k.identified_at, k.notified_at, \
     k.status_at, k.candidate_id FROM trace_contacts k";

fn contact(c: &Cells) -> Result<Contact> {
    Ok(Contact {
        id: c.int(0, "id")?,
        case_id: c.int(1, "case_id")?,
        resident_id: c.opt_int(2),
        name: c.name(3)?,
        id_number: c.opt_parse(4, "id_number", |s| IdNumber::parse(s).ok())?,
        phone: c.opt_parse(5, "phone", |s| Phone::parse(s).ok())?,
        unit: c.opt_parse(6, "unit_code", |s| AreaCode::parse(s).ok())?,
        address: c.text(7, "address")?,
        household_id: c.opt_int(8),
        class: c.parse(9, "class", Class::parse)?,
        setting: c.parse(10, "setting", Setting::parse)?,
        last_exposure: c.ts(11, "last_exposure")?,
        elicited_by: c.text(12, "elicited_by")?,
        status: c.parse(13, "status", ContactStatus::parse)?,
        identified_at: c.ts(14, "identified_at")?,
        notified_at: c.opt_ts(15, "notified_at")?,
        status_at: c.ts(16, "status_at")?,
        candidate_id: c.opt_int(17),
    })
}

const PLACE_COLS: &str = "id, case_id, kind, place_id, label, from_at, until_at, setting, confirmed, exposure_site, note \
     FROM trace_places";

fn place(c: &Cells) -> Result<TracePlace> {
    Ok(TracePlace {
        id: c.int(0, "id")?,
        case_id: c.int(1, "case_id")?,
        kind: c.parse(2, "kind", PlaceKind::parse)?,
        place_id: c.opt_int(3),
        label: c.text(4, "label")?,
        from: c.ts(5, "from_at")?,
        until: c.ts(6, "until_at")?,
        setting: c.opt_parse(7, "setting", Setting::parse)?,
        confirmed: c.bool(8),
        exposure_site: c.bool(9),
        note: c.text(10, "note")?,
    })
}

const TASK_COLS: &str = "id, case_id, kind, due_at, done_at, done_by FROM trace_tasks";

fn task(c: &Cells) -> Result<Task> {
    Ok(Task {
        id: c.int(0, "id")?,
        case_id: c.int(1, "case_id")?,
        kind: c.parse(2, "kind", TaskKind::parse)?,
        due_at: c.ts(3, "due_at")?,
        done_at: c.opt_ts(4, "done_at")?,
        done_by: c.opt_text(5).map(str::to_string),
    })
}

const OPEN_CONTACT: &str = "('identified', 'notified', 'under_quarantine')";

fn cases(c: &Connection, q: &CaseQuery) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    match q {
        CaseQuery::Ids(ids) => {
            for id in ids {
                out.extend(query(c, &format!("SELECT {CASE_COLS} WHERE c.id = ?"), &[int(*id)], "case", case)?);
            }
        }
        CaseQuery::Residents(ids) => {
            for id in ids {
                out.extend(query(
                    c,
                    &format!("SELECT {CASE_COLS} WHERE c.resident_id = ?"),
                    &[int(*id)],
                    "case",
                    case,
                )?);
            }
        }
        CaseQuery::Untraced(limit) => {
            out = query(
                c,
                &format!("SELECT {CASE_COLS} WHERE c.traced_at IS NULL ORDER BY c.id LIMIT ?"),
                &[int(i64::from(*limit))],
                "case",
                case,
            )?;
        }
        CaseQuery::Under { roots, open_only, since, until, cluster_id, limit } => {
            let mut params = Vec::new();
            let mut sql = format!("SELECT {CASE_COLS} WHERE {}", under("r.unit_code", roots, &mut params));
            if *open_only {
                sql.push_str(" AND c.status NOT IN ('recovered', 'died')");
            }
            if let Some(s) = since {
                sql.push_str(" AND c.at >= ?");
                params.push(time(*s));
            }
            if let Some(u) = until {
                sql.push_str(" AND c.at < ?");
                params.push(time(*u));
            }
            if let Some(cl) = cluster_id {
                sql.push_str(" AND c.cluster_id = ?");
                params.push(int(*cl));
            }
            sql.push_str(" ORDER BY c.id DESC LIMIT ?");
            params.push(int(i64::from(*limit)));
            out = query(c, &sql, &params, "case", case)?;
        }
    }
    out.sort_by_key(|x| x.id);
    out.dedup_by_key(|x| x.id);
    Ok(out)
}

fn contacts(c: &Connection, q: &ContactQuery) -> Result<Vec<Contact>> {
    let mut out = Vec::new();
    let one =
        |sql: &str, id: i64| query(c, &format!("SELECT {CONTACT_COLS} WHERE {sql}"), &[int(id)], "contact", contact);
    match q {
        ContactQuery::Ids(ids) => {
            for id in ids {
                out.extend(one("k.id = ?", *id)?);
            }
        }
        ContactQuery::OfCases(ids) => {
            for id in ids {
                out.extend(one("k.case_id = ?", *id)?);
            }
        }
        ContactQuery::Residents(ids) => {
            for id in ids {
                out.extend(one("k.resident_id = ?", *id)?);
            }
        }
        ContactQuery::Under { roots, statuses, limit } => {
            let mut params = Vec::new();
            let mut sql = format!(
                "SELECT {CONTACT_COLS} WHERE k.unit_code IS NOT NULL AND {}",
                under("k.unit_code", roots, &mut params)
            );
            if !statuses.is_empty() {
                let marks: Vec<&str> = statuses.iter().map(|_| "?").collect();
                sql.push_str(&format!(" AND k.status IN ({})", marks.join(", ")));
                params.extend(statuses.iter().map(|s| text(s.as_str())));
            }
            sql.push_str(" ORDER BY k.id LIMIT ?");
            params.push(int(i64::from(*limit)));
            out = query(c, &sql, &params, "contact", contact)?;
        }
    }
    out.sort_by_key(|x| x.id);
    out.dedup_by_key(|x| x.id);
    Ok(out)
}

fn residents_where(c: &Connection, sql: &str, id: i64) -> Result<Vec<cordon_domain::registry::Resident>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {RESIDENT_COLS} FROM residents r JOIN households h ON h.id = r.household_id WHERE {sql}"
        ))
        .db()?;
    let raws = stmt.query_map([id], RawResident::from_row).db()?;
    let mut out = Vec::new();
    for r in raws {
        out.push(r.db()?.parse()?);
    }
    Ok(out)
}

pub(crate) fn fetch(c: &Connection, k: &Keys) -> Result<Facts> {
    let mut f = Facts::default();
    if k.policy {
        f.policy = crate::codes::policy_setting(c)?;
    }
    if let Some(q) = &k.cases {
        f.cases = cases(c, q)?;
    }
    let case_ids: Vec<i64> = f.cases.iter().map(|x| x.id).collect();
    if k.history {
        for id in &case_ids {
            f.history.extend(query(
                c,
                "SELECT case_id, from_code, to_code, at, by_user FROM case_classifications WHERE case_id = ? ORDER BY id",
                &[int(*id)],
                "case classification",
                |r| {
                    Ok(Reclassification {
                        case_id: r.int(0, "case_id")?,
                        from: r.opt_parse(1, "from_code", Classification::parse)?,
                        to: r.parse(2, "to_code", Classification::parse)?,
                        at: r.ts(3, "at")?,
                        by: r.text(4, "by_user")?,
                    })
                },
            )?);
        }
    }
    if let Some(q) = &k.candidates {
        let (col, ids) = match q {
            CandidateQuery::Ids(ids) => ("t.id", ids),
            CandidateQuery::OfCases(ids) => ("t.case_id", ids),
        };
        for id in ids {
            f.candidates.extend(query(
                c,
                &format!("SELECT {CANDIDATE_COLS} WHERE {col} = ?"),
                &[int(*id)],
                "candidate",
                candidate,
            )?);
        }
        f.candidates.sort_by_key(|x| x.id);
        f.candidates.dedup_by_key(|x| x.id);
    }
    if let Some(q) = &k.contacts {
        f.contacts = contacts(c, q)?;
    }
    for id in &k.places_of {
        f.places.extend(query(
            c,
            &format!("SELECT {PLACE_COLS} WHERE case_id = ? ORDER BY id"),
            &[int(*id)],
            "trace place",
            place,
        )?);
    }
    for id in &k.tasks_of {
        f.tasks.extend(query(c, &format!("SELECT {TASK_COLS} WHERE case_id = ?"), &[int(*id)], "trace task", task)?);
    }
    for id in &k.task_ids {
        f.tasks.extend(query(c, &format!("SELECT {TASK_COLS} WHERE id = ?"), &[int(*id)], "trace task", task)?);
    }
    if k.open_tasks {
        for id in &case_ids {
            f.tasks.extend(query(
                c,
                &format!("SELECT {TASK_COLS} WHERE case_id = ? AND done_at IS NULL"),
                &[int(*id)],
                "trace task",
                task,
            )?);
        }
    }
    f.tasks.sort_by_key(|t| t.id);
    f.tasks.dedup_by_key(|t| t.id);
    for id in &k.residents {
        if let Some(r) = crate::registry::resident(c, *id)? {
            f.residents.push(r);
        }
    }
    f.residents.sort_by_key(|r| r.id);
    f.residents.dedup_by_key(|r| r.id);
    for id in &k.households_of {
        f.households.extend(residents_where(
            c,
            "r.household_id = (SELECT household_id FROM residents WHERE id = ?1) AND r.status = 'active'",
            *id,
        )?);
    }
    f.households.sort_by_key(|r| r.id);
    f.households.dedup_by_key(|r| r.id);
    for id in &k.units_of {
        f.units.extend(query(
            c,
            "SELECT r.id, r.unit_code FROM residents r \
             WHERE r.unit_code = (SELECT unit_code FROM residents WHERE id = ?1) AND r.status = 'active'",
            &[int(*id)],
            "resident",
            |r| Ok((r.int(0, "id")?, r.area(1, "unit_code")?)),
        )?);
    }
    for s in &k.movements {
        let p = [int(s.resident_id), time(s.from), time(s.until)];
        for (kind, sql) in [
            (
                PlaceKind::Checkpoint,
                "SELECT checkpoint_id, at FROM checkpoint_scans WHERE resident_id = ?1 AND at >= ?2 AND at <= ?3 ORDER BY at",
            ),
            (
                PlaceKind::Venue,
                "SELECT venue_id, at FROM venue_checkins WHERE resident_id = ?1 AND at >= ?2 AND at <= ?3 ORDER BY at",
            ),
        ] {
            f.presences.extend(query(c, sql, &p, "movement", |r| {
                let at = r.ts(1, "at")?;
                Ok((s.resident_id, Presence { place: Place { kind, id: r.int(0, "place")? }, from: at, until: at }))
            })?);
        }
        let samples = query(
            c,
            "SELECT tube_id, at FROM samples WHERE resident_id = ?1 AND at >= ?2 AND at <= ?3 \
             UNION ALL SELECT tube_id, at FROM resamples WHERE resident_id = ?1 AND at >= ?2 AND at <= ?3 ORDER BY 2",
            &p,
            "sample",
            |r| Ok((s.resident_id, r.int(0, "tube_id")?, r.ts(1, "at")?)),
        )?;
        for (_, tube, _) in &samples {
            f.pool_mates.extend(query(
                c,
                "SELECT resident_id, at FROM samples WHERE tube_id = ?1 ORDER BY resident_id",
                &[int(*tube)],
                "sample",
                |r| Ok(PoolMate { resident_id: r.int(0, "resident_id")?, tube_id: *tube, sampled_at: r.ts(1, "at")? }),
            )?);
        }
        f.samples.extend(samples);
    }
    for (p, from, until) in &k.sightings {
        let sql = match p.kind {
            PlaceKind::Checkpoint => {
                "SELECT resident_id, at FROM checkpoint_scans WHERE checkpoint_id = ?1 AND at >= ?2 AND at <= ?3 \
                 AND resident_id IS NOT NULL"
            }
            PlaceKind::Venue => {
                "SELECT resident_id, at FROM venue_checkins WHERE venue_id = ?1 AND at >= ?2 AND at <= ?3"
            }
            _ => continue,
        };
        f.sightings.extend(query(c, sql, &[int(p.id), time(*from), time(*until)], "sighting", |r| {
            Ok(Sighting { resident_id: r.int(0, "resident_id")?, place: *p, at: r.ts(1, "at")? })
        })?);
    }
    {
        let mut stmt = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM cases WHERE resident_id = ?1)").db()?;
        for id in &k.cases_among {
            if stmt.query_row([id], |r| r.get::<_, bool>(0)).db()? {
                f.cases_among.insert(*id);
            }
        }
    }
    if !k.known_among.is_empty() {
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM trace_contacts WHERE resident_id = ?1 AND status IN {OPEN_CONTACT})"
            ))
            .db()?;
        for id in &k.known_among {
            let contact: bool = stmt.query_row([id], |r| r.get(0)).db()?;
            if contact || crate::containment::open_order_of(c, *id)?.is_some() {
                f.known_among.insert(*id);
            }
        }
    }
    if k.links {
        for (case, source) in
            query(c, "SELECT id, source_case FROM cases WHERE source_case IS NOT NULL", &[], "case", |r| {
                Ok((r.int(0, "id")?, r.int(1, "source_case")?))
            })?
        {
            f.links.insert(case, source);
        }
    }
    for p in &k.place_names {
        let sql = match p.kind {
            PlaceKind::Checkpoint => "SELECT id, name FROM checkpoints WHERE id = ?",
            PlaceKind::Venue => "SELECT id, name FROM venues WHERE id = ?",
            _ => continue,
        };
        for name in query(c, sql, &[int(p.id)], "place", |r| r.text(1, "name"))? {
            f.place_names.insert(*p, name);
        }
    }
    if k.clusters {
        f.clusters = query(c, "SELECT id, name, created_at FROM clusters ORDER BY id", &[], "cluster", |r| {
            Ok(Cluster { id: r.int(0, "id")?, name: r.text(1, "name")?, created_at: r.ts(2, "created_at")? })
        })?;
    }
    for v in &k.venues {
        if !query(c, "SELECT id FROM venues WHERE id = ?", &[int(*v)], "venue", |r| r.int(0, "id"))?.is_empty() {
            f.venues.insert(*v);
        }
    }
    Ok(f)
}

/// The strongest open contact class of a resident, for the colour engine.
pub(crate) fn contact_class_of(c: &Connection, resident_id: i64) -> Result<Option<Class>> {
    let classes = query(
        c,
        &format!("SELECT class FROM trace_contacts WHERE resident_id = ?1 AND status IN {OPEN_CONTACT}"),
        &[int(resident_id)],
        "contact",
        |r| r.parse(0, "class", Class::parse),
    )?;
    Ok(classes.into_iter().max())
}
