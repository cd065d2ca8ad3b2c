//! Every tracing write as data ([`Write`]), the facts it needs stage by stage ([`keys`]),
//! its pure plan ([`plan`]) and what the backend writes ([`Effects`]). A refusal plans no
//! effect at all.
//!
//! **New ids.** Records the plan creates carry placeholder ids (`-1 - i` for the `i`-th
//! new record of a kind, as containment's); the backend resolves them with [`Written`].

use super::facts::{CandidateQuery, CaseQuery, ContactQuery, Facts, Keys, Span};
use super::{
    Candidate, Case, CaseUpdate, Cluster, Contact, NewCase, NewContact, NewPlace, Reclassification, Task, TracePlace,
};
use crate::containment::effects::new_id;
use crate::containment::{Act, Answer, IsolationCandidate, Refused};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::containment::quarantine::Person;
use cordon_domain::registry::Resident;
use cordon_domain::tracing::candidates::{
    CandidateFacts, Place, Presence, Proposal, propose, propose_contacts_of, propose_site,
};
use cordon_domain::tracing::{
    CandidateState, CaseStatus, Class, Classification, ContactStatus, HowFound, PlaceKind, Refusal, TaskKind, bounded,
    chains, check_exposure, check_onset, tasks_for, window_from,
};
use std::collections::{BTreeSet, HashSet};

/// Cases one [`Write::TraceNew`] takes at most (the next takes the rest).
pub const TRACE_BATCH: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Trajectory, candidates and tasks of every case not traced yet.
    TraceNew,
    EnterCase(NewCase),
    UpdateCase {
        case_id: i64,
        update: CaseUpdate,
    },
    Decide {
        case_id: i64,
        candidate_ids: Vec<i64>,
        confirm: bool,
    },
    AddContact(NewContact),
    ContactStatus {
        contact_id: i64,
        to: ContactStatus,
    },
    LinkSource {
        case_id: i64,
        source: Option<i64>,
    },
    AddPlace(NewPlace),
    ConfirmPlaces {
        case_id: i64,
        place_ids: Vec<i64>,
    },
    CompleteTask {
        task_id: i64,
    },
    CreateCluster {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Count(Answer<u32>),
    Case(Answer<Case>),
    Contact(Answer<Contact>),
    Cluster(Answer<Cluster>),
}

impl Outcome {
    fn refused(&self) -> bool {
        matches!(
            self,
            Outcome::Count(Err(_)) | Outcome::Case(Err(_)) | Outcome::Contact(Err(_)) | Outcome::Cluster(Err(_))
        )
    }

    /// The answer with the ids the backend gave.
    pub fn resolve(self, w: &Written) -> Outcome {
        match self {
            Outcome::Case(Ok(mut c)) => {
                c.id = w.case(c.id);
                Outcome::Case(Ok(c))
            }
            Outcome::Contact(Ok(mut c)) => {
                c.id = w.contact(c.id);
                c.case_id = w.case(c.case_id);
                Outcome::Contact(Ok(c))
            }
            Outcome::Cluster(Ok(mut c)) => {
                c.id = w.cluster(c.id);
                Outcome::Cluster(Ok(c))
            }
            other => other,
        }
    }
}

/// What a plan writes, in the order of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub clusters_new: Vec<Cluster>,
    /// New cases (`id` placeholders).
    pub cases_new: Vec<Case>,
    /// Cases written whole (`id` maybe a placeholder of `cases_new`).
    pub cases_save: Vec<Case>,
    /// `case_id` maybe a placeholder.
    pub history: Vec<Reclassification>,
    pub places_new: Vec<TracePlace>,
    pub places_confirm: Vec<i64>,
    pub tasks_new: Vec<Task>,
    /// (task, at, by).
    pub tasks_done: Vec<(i64, DateTime<Utc>, String)>,
    pub candidates_new: Vec<Candidate>,
    /// (candidate, new state, at, by).
    pub candidates_decide: Vec<(i64, CandidateState, DateTime<Utc>, String)>,
    /// New contacts (`id` placeholders, `case_id` maybe a placeholder).
    pub contacts_new: Vec<Contact>,
    pub contacts_save: Vec<Contact>,
    /// Handed to containment's to-isolate queue in the same transaction (`contact_id`
    /// maybe a placeholder of `contacts_new`).
    pub enqueue: Vec<IsolationCandidate>,
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub cases: Vec<i64>,
    pub contacts: Vec<i64>,
    pub clusters: Vec<i64>,
}

fn resolve(ids: &[i64], id: i64) -> i64 {
    if id >= 0 {
        return id;
    }
    usize::try_from(-1 - id).ok().and_then(|i| ids.get(i).copied()).unwrap_or(id)
}

impl Written {
    pub fn case(&self, id: i64) -> i64 {
        resolve(&self.cases, id)
    }
    pub fn contact(&self, id: i64) -> i64 {
        resolve(&self.contacts, id)
    }
    pub fn cluster(&self, id: i64) -> i64 {
        resolve(&self.clusters, id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub effects: Effects,
    pub outcome: Outcome,
}

fn locked(k: Keys) -> Option<Keys> {
    Some(Keys { lock: true, ..k })
}

/// The cases a write traces, as far as the facts know them.
fn seeds(w: &Write, f: &Facts, act: &Act) -> Vec<Case> {
    match w {
        Write::TraceNew => f.cases.iter().filter(|c| c.traced_at.is_none()).cloned().collect(),
        Write::EnterCase(n) => match (f.resident(n.resident_id), f.cases_among.contains(&n.resident_id)) {
            (Some(r), false) => vec![new_case(n, r, f, act)],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn new_case(n: &NewCase, r: &Resident, f: &Facts, act: &Act) -> Case {
    Case {
        id: new_id(0),
        resident_id: r.id,
        name: r.name.clone(),
        unit: r.unit.clone(),
        household_id: r.household_id,
        source_tube: None,
        at: act.at,
        classification: n.classification,
        how_found: n.how_found,
        onset: n.onset,
        first_positive: None,
        workplace: n.workplace.clone(),
        status: CaseStatus::Investigating,
        known_before: f.known_among.contains(&r.id),
        source_case: None,
        cluster_id: None,
        narrative: String::new(),
        created_by: act.user.clone(),
        investigation_at: Some(act.at),
        core_done_at: None,
        traced_at: None,
    }
}

fn spans(cases: &[Case], act: &Act) -> Vec<Span> {
    cases
        .iter()
        .map(|c| Span {
            resident_id: c.resident_id,
            from: window_from(c.anchor(act.offset()), &act.profile, act.offset()),
            until: c.at.max(act.at),
        })
        .collect()
}

/// Stage `stage` of tracing `cases`: their households, units and movements, then who was
/// at the same places, then which of all those people are cases.
fn trace_keys(cases: &[Case], stage: u32, f: &Facts, act: &Act) -> Option<Keys> {
    if cases.is_empty() {
        return None;
    }
    let people: Vec<i64> = cases.iter().map(|c| c.resident_id).collect();
    let w = Duration::minutes(i64::from(act.profile.tracing.copresence_minutes));
    match stage {
        0 => Some(Keys {
            households_of: people.clone(),
            units_of: if act.profile.tracing.same_unit { people.clone() } else { Vec::new() },
            movements: spans(cases, act),
            known_among: people,
            ..Keys::default()
        }),
        1 => {
            let mut places: Vec<(Place, DateTime<Utc>, DateTime<Utc>)> =
                f.presences.iter().map(|(_, p)| (p.place, p.from - w, p.until + w)).collect();
            places.sort();
            places.dedup();
            let names: BTreeSet<Place> = f.presences.iter().map(|(_, p)| p.place).collect();
            Some(Keys { sightings: places, place_names: names.into_iter().collect(), ..Keys::default() })
        }
        2 => {
            let mut all: BTreeSet<i64> = f.households.iter().map(|r| r.id).collect();
            all.extend(f.units.iter().map(|u| u.0));
            all.extend(f.pool_mates.iter().map(|m| m.resident_id));
            all.extend(f.sightings.iter().map(|s| s.resident_id));
            all.extend(people);
            let all: Vec<i64> = all.into_iter().collect();
            Some(Keys { cases_among: all.clone(), residents: all, ..Keys::default() })
        }
        _ => None,
    }
}

/// The facts the write needs at `stage` given what earlier stages found; `None` when it
/// has them all.
pub fn keys(w: &Write, stage: u32, f: &Facts, act: &Act) -> Option<Keys> {
    let k = Keys::default;
    match (w, stage) {
        (Write::TraceNew, 0) => locked(Keys { cases: Some(CaseQuery::Untraced(TRACE_BATCH)), ..k() }),
        (Write::TraceNew, s) => trace_keys(&seeds(w, f, act), s - 1, f, act),
        (Write::EnterCase(n), 0) => locked(Keys {
            residents: vec![n.resident_id],
            cases_among: vec![n.resident_id],
            known_among: vec![n.resident_id],
            ..k()
        }),
        (Write::EnterCase(_), s) => trace_keys(&seeds(w, f, act), s - 1, f, act),
        (Write::UpdateCase { case_id, update }, 0) => locked(Keys {
            cases: Some(CaseQuery::Ids(vec![*case_id])),
            tasks_of: vec![*case_id],
            clusters: update.cluster_id.is_some(),
            ..k()
        }),
        (Write::Decide { case_id, candidate_ids, .. }, 0) => locked(Keys {
            cases: Some(CaseQuery::Ids(vec![*case_id])),
            candidates: Some(CandidateQuery::Ids(candidate_ids.clone())),
            ..k()
        }),
        (Write::Decide { case_id, confirm: true, .. }, 1) => {
            let people: Vec<i64> = f.candidates.iter().map(|c| c.resident_id).collect();
            locked(Keys {
                residents: people.clone(),
                households_of: people.clone(),
                cases_among: people,
                contacts: Some(ContactQuery::OfCases(vec![*case_id])),
                ..k()
            })
        }
        (Write::Decide { case_id, confirm: true, .. }, 2) => {
            // Everyone already proposed for the case (contacts of contacts are new only
            // when not proposed before) and whether the contacts' households hold cases.
            Some(Keys {
                candidates: Some(CandidateQuery::OfCases(vec![*case_id])),
                cases_among: f.households.iter().map(|r| r.id).collect(),
                ..k()
            })
        }
        (Write::AddContact(c), 0) => locked(Keys {
            cases: Some(CaseQuery::Ids(vec![c.case_id])),
            residents: c.resident_id.into_iter().collect(),
            cases_among: c.resident_id.into_iter().collect(),
            contacts: Some(ContactQuery::OfCases(vec![c.case_id])),
            ..k()
        }),
        (Write::ContactStatus { contact_id, .. }, 0) => {
            locked(Keys { contacts: Some(ContactQuery::Ids(vec![*contact_id])), ..k() })
        }
        (Write::LinkSource { case_id, source }, 0) => {
            let mut ids = vec![*case_id];
            ids.extend(source);
            locked(Keys { cases: Some(CaseQuery::Ids(ids)), links: true, ..k() })
        }
        (Write::AddPlace(p), 0) => locked(Keys {
            cases: Some(CaseQuery::Ids(vec![p.case_id])),
            venues: p.venue_id.into_iter().collect(),
            ..k()
        }),
        (Write::AddPlace(p), 1) if p.exposure_site => {
            let venue = p.venue_id.filter(|v| f.venues.contains(v))?;
            let w = Duration::minutes(i64::from(act.profile.tracing.copresence_minutes));
            Some(Keys {
                sightings: vec![(Place { kind: PlaceKind::Venue, id: venue }, p.from - w, p.until + w)],
                candidates: Some(CandidateQuery::OfCases(vec![p.case_id])),
                contacts: Some(ContactQuery::OfCases(vec![p.case_id])),
                place_names: vec![Place { kind: PlaceKind::Venue, id: venue }],
                ..k()
            })
        }
        (Write::AddPlace(p), 2) if p.exposure_site && p.venue_id.is_some() => {
            let people: Vec<i64> = f.sightings.iter().map(|s| s.resident_id).collect();
            Some(Keys { cases_among: people.clone(), residents: people, ..k() })
        }
        (Write::ConfirmPlaces { case_id, .. }, 0) => {
            locked(Keys { cases: Some(CaseQuery::Ids(vec![*case_id])), places_of: vec![*case_id], ..k() })
        }
        (Write::CompleteTask { task_id }, 0) => locked(Keys { task_ids: vec![*task_id], ..k() }),
        _ => None,
    }
}

pub fn plan(w: &Write, f: &Facts, act: &Act) -> Planned {
    let planned = plan_steps(w, f, act);
    if planned.outcome.refused() {
        return Planned { effects: Effects::default(), outcome: planned.outcome };
    }
    planned
}

fn refuse_count(r: Refusal) -> Planned {
    Planned { effects: Effects::default(), outcome: Outcome::Count(Err(r.error().into())) }
}
fn refuse_case(r: Refusal) -> Planned {
    Planned { effects: Effects::default(), outcome: Outcome::Case(Err(r.error().into())) }
}
fn refuse_contact(r: Refusal) -> Planned {
    Planned { effects: Effects::default(), outcome: Outcome::Contact(Err(r.error().into())) }
}

fn plan_steps(w: &Write, f: &Facts, act: &Act) -> Planned {
    match w {
        Write::TraceNew => {
            let mut eff = Effects::default();
            let cases = seeds(w, f, act);
            for c in &cases {
                trace_case(c.clone(), f, act, &mut eff);
            }
            let n = u32::try_from(cases.len()).unwrap_or(u32::MAX);
            Planned { effects: eff, outcome: Outcome::Count(Ok(n)) }
        }
        Write::EnterCase(n) => enter_case(n, w, f, act),
        Write::UpdateCase { case_id, update } => update_case(*case_id, update, f, act),
        Write::Decide { case_id, candidate_ids, confirm } => decide(*case_id, candidate_ids, *confirm, f, act),
        Write::AddContact(c) => add_contact(c, f, act),
        Write::ContactStatus { contact_id, to } => contact_status(*contact_id, *to, f, act),
        Write::LinkSource { case_id, source } => link(*case_id, *source, f, act),
        Write::AddPlace(p) => add_place(p, f, act),
        Write::ConfirmPlaces { case_id, place_ids } => confirm_places(*case_id, place_ids, f, act),
        Write::CompleteTask { task_id } => complete_task(*task_id, f, act),
        Write::CreateCluster { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 80 {
                return Planned {
                    effects: Effects::default(),
                    outcome: Outcome::Cluster(Err(Refusal::ClusterName.error().into())),
                };
            }
            let c = Cluster { id: new_id(0), name: name.to_string(), created_at: act.at };
            let eff = Effects {
                clusters_new: vec![c.clone()],
                audit: vec![act.entry("tracing.cluster.create", "cluster", "new", "")],
                ..Effects::default()
            };
            Planned { effects: eff, outcome: Outcome::Cluster(Ok(c)) }
        }
    }
}

/// The candidate facts of one case from what the stages fetched.
fn candidate_facts(c: &Case, f: &Facts, act: &Act) -> CandidateFacts {
    let span = spans(std::slice::from_ref(c), act).remove(0);
    let tubes: HashSet<i64> = f
        .samples
        .iter()
        .filter(|s| s.0 == c.resident_id && s.2 >= span.from && s.2 <= span.until)
        .map(|s| s.1)
        .collect();
    let unit_of_case = &c.unit;
    let known: HashSet<i64> = f
        .candidates
        .iter()
        .filter(|x| x.case_id == c.id)
        .map(|x| x.resident_id)
        .chain(f.contacts.iter().filter(|x| x.case_id == c.id).filter_map(|x| x.resident_id))
        .collect();
    CandidateFacts {
        resident_id: c.resident_id,
        from: Some(span.from),
        to: Some(span.until),
        household: f.households.iter().filter(|r| r.household_id == c.household_id).map(|r| r.id).collect(),
        pool_mates: f.pool_mates.iter().filter(|m| tubes.contains(&m.tube_id)).cloned().collect(),
        unit: f.units.iter().filter(|u| &u.1 == unit_of_case).map(|u| u.0).collect(),
        presences: f.presences.iter().filter(|p| p.0 == c.resident_id).map(|p| p.1.clone()).collect(),
        sightings: f.sightings.iter().filter(|s| s.resident_id != c.resident_id).cloned().collect(),
        cases: f.cases_among.iter().copied().collect(),
        known,
    }
}

/// A proposal as a candidate row; `None` for someone not on the register (any more).
fn candidate_of(case_id: i64, p: &Proposal, f: &Facts, act: &Act, i: usize) -> Option<Candidate> {
    let r = f.resident(p.resident_id)?;
    Some(Candidate {
        id: new_id(i),
        case_id,
        resident_id: p.resident_id,
        name: r.name.clone(),
        unit: r.unit.clone(),
        class: p.class,
        source: p.source,
        last_exposure: p.last_exposure,
        evidence: p.evidence.clone(),
        state: CandidateState::Proposed,
        proposed_at: act.at,
        decided_at: None,
        decided_by: None,
    })
}

/// Trajectory, candidates, tasks and the traced mark of one case.
fn trace_case(mut c: Case, f: &Facts, act: &Act, eff: &mut Effects) {
    let cf = candidate_facts(&c, f, act);
    let span = spans(std::slice::from_ref(&c), act).remove(0);
    for (_, p) in f.presences.iter().filter(|p| p.0 == c.resident_id) {
        eff.places_new.push(TracePlace {
            id: 0,
            case_id: c.id,
            kind: p.place.kind,
            place_id: Some(p.place.id),
            label: f.place_names.get(&p.place).cloned().unwrap_or_default(),
            from: p.from,
            until: p.until,
            setting: None,
            confirmed: false,
            exposure_site: false,
            note: String::new(),
        });
    }
    for (_, tube, at) in f.samples.iter().filter(|s| s.0 == c.resident_id && s.2 >= span.from && s.2 <= span.until) {
        eff.places_new.push(TracePlace {
            id: 0,
            case_id: c.id,
            kind: PlaceKind::Sampling,
            place_id: Some(*tube),
            label: String::new(),
            from: *at,
            until: *at,
            setting: None,
            confirmed: false,
            exposure_site: false,
            note: String::new(),
        });
    }
    eff.places_new.push(TracePlace {
        id: 0,
        case_id: c.id,
        kind: PlaceKind::Household,
        place_id: Some(c.household_id),
        label: String::new(),
        from: span.from,
        until: span.until,
        setting: Some(cordon_domain::tracing::Setting::Household),
        confirmed: false,
        exposure_site: false,
        note: String::new(),
    });
    let base = eff.candidates_new.len();
    let proposals = propose(&cf, &act.profile);
    for (i, p) in proposals.iter().enumerate() {
        if let Some(cand) = candidate_of(c.id, p, f, act, base + i) {
            eff.candidates_new.push(cand);
        }
    }
    for (kind, due) in tasks_for(c.at, &act.profile) {
        eff.tasks_new.push(Task { id: 0, case_id: c.id, kind, due_at: due, done_at: None, done_by: None });
    }
    if c.id >= 0 {
        c.known_before = c.known_before || f.known_among.contains(&c.resident_id);
    }
    c.traced_at = Some(act.at);
    eff.audit.push(act.entry(
        "tracing.candidates.propose",
        "case",
        c.id,
        format!("{} candidates proposed", proposals.len()),
    ));
    eff.cases_save.push(c);
}

fn enter_case(n: &NewCase, w: &Write, f: &Facts, act: &Act) -> Planned {
    let Some(r) = f.resident(n.resident_id) else { return refuse_case(Refusal::ResidentUnknown) };
    if f.cases_among.contains(&r.id) {
        return refuse_case(Refusal::CaseExists);
    }
    if let Some(onset) = n.onset
        && let Err(e) = check_onset(onset, act.today())
    {
        return refuse_case(e);
    }
    if let Err(e) = bounded(&n.workplace, 200, Refusal::Workplace) {
        return refuse_case(e);
    }
    let case = seeds(w, f, act).pop().unwrap_or_else(|| new_case(n, r, f, act));
    let mut eff = Effects { cases_new: vec![case.clone()], ..Effects::default() };
    eff.history.push(Reclassification {
        case_id: case.id,
        from: None,
        to: case.classification,
        at: act.at,
        by: act.user.clone(),
    });
    eff.audit.push(act.entry("tracing.case.enter", "resident", r.id, n.how_found.as_str()));
    trace_case(case.clone(), f, act, &mut eff);
    let traced = eff.cases_save.last().cloned().unwrap_or(case);
    Planned { effects: eff, outcome: Outcome::Case(Ok(traced)) }
}

fn update_case(case_id: i64, u: &CaseUpdate, f: &Facts, act: &Act) -> Planned {
    let Some(old) = f.case(case_id) else { return refuse_case(Refusal::CaseUnknown) };
    let mut c = old.clone();
    let mut eff = Effects::default();
    if let Some(to) = u.classification
        && to != c.classification
    {
        eff.history.push(Reclassification {
            case_id,
            from: Some(c.classification),
            to,
            at: act.at,
            by: act.user.clone(),
        });
        c.classification = to;
    }
    if let Some(s) = u.status
        && s != c.status
    {
        if c.status.closed() {
            return refuse_case(Refusal::StatusClosed);
        }
        c.status = s;
    }
    if let Some(onset) = u.onset {
        if let Err(e) = check_onset(onset, act.today()) {
            return refuse_case(e);
        }
        c.onset = Some(onset);
    }
    if let Some(wp) = &u.workplace {
        if let Err(e) = bounded(wp, 200, Refusal::Workplace) {
            return refuse_case(e);
        }
        c.workplace = wp.trim().to_string();
    }
    if let Some(n) = &u.narrative {
        if let Err(e) = bounded(n, 20_000, Refusal::Narrative) {
            return refuse_case(e);
        }
        c.narrative = n.clone();
    }
    if let Some(cl) = u.cluster_id {
        if !f.clusters.iter().any(|x| x.id == cl) {
            return refuse_case(Refusal::ClusterUnknown);
        }
        c.cluster_id = Some(cl);
    }
    if u.core_done && c.core_done_at.is_none() {
        c.core_done_at = Some(act.at);
        for t in f.tasks.iter().filter(|t| t.case_id == case_id && t.kind == TaskKind::CoreInfo && t.done_at.is_none())
        {
            eff.tasks_done.push((t.id, act.at, act.user.clone()));
        }
    }
    c.investigation_at = c.investigation_at.or(Some(act.at));
    eff.audit.push(act.entry("tracing.case.update", "case", case_id, ""));
    eff.cases_save.push(c.clone());
    Planned { effects: eff, outcome: Outcome::Case(Ok(c)) }
}

fn person_of(r: &Resident) -> Person {
    Person {
        resident_id: Some(r.id),
        name: r.name.clone(),
        id_number: Some(r.id_number.clone()),
        phone: r.phone.clone(),
        unit: Some(r.unit.clone()),
        address: r.room.clone(),
        household_id: Some(r.household_id),
    }
}

/// Hands a confirmed contact to the to-isolate queue when its class has a regime.
fn enqueue(contact: &Contact, person: Person, act: &Act, eff: &mut Effects) {
    let Some(class) = contact.class.colour_class() else { return };
    if contact.class.regime(&act.profile).is_none() {
        return;
    }
    eff.enqueue.push(IsolationCandidate {
        contact_id: contact.id,
        person,
        class,
        last_exposure: contact.last_exposure,
        identified_at: act.at,
        deadline: act.at + Duration::hours(i64::from(act.profile.quarantine.within_hours)),
    });
}

fn decide(case_id: i64, ids: &[i64], confirm: bool, f: &Facts, act: &Act) -> Planned {
    let Some(case) = f.case(case_id) else { return refuse_count(Refusal::CaseUnknown) };
    if ids.is_empty() {
        return refuse_count(Refusal::NothingChosen);
    }
    let mut eff = Effects::default();
    let mut seen = HashSet::new();
    let contacted: HashSet<i64> =
        f.contacts.iter().filter(|c| c.case_id == case_id).filter_map(|c| c.resident_id).collect();
    let mut confirmed_close: Vec<(i64, i64)> = Vec::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let Some(cand) = f.candidates.iter().find(|c| c.id == *id && c.case_id == case_id) else {
            return Planned {
                effects: Effects::default(),
                outcome: Outcome::Count(Err(Refused::about(*id, Refusal::CandidateUnknown.error()))),
            };
        };
        if cand.state != CandidateState::Proposed {
            return Planned {
                effects: Effects::default(),
                outcome: Outcome::Count(Err(Refused::about(*id, Refusal::CandidateDecided.error()))),
            };
        }
        let state = if confirm { CandidateState::Confirmed } else { CandidateState::Rejected };
        eff.candidates_decide.push((cand.id, state, act.at, act.user.clone()));
        eff.audit.push(act.entry(
            if confirm { "tracing.candidate.confirm" } else { "tracing.candidate.reject" },
            "candidate",
            cand.id,
            format!("case {case_id}, {} {}", cand.class.as_str(), cand.source.as_str()),
        ));
        if !confirm {
            continue;
        }
        if f.cases_among.contains(&cand.resident_id) {
            return Planned {
                effects: Effects::default(),
                outcome: Outcome::Count(Err(Refused::about(*id, Refusal::ContactIsCase.error()))),
            };
        }
        if contacted.contains(&cand.resident_id) {
            return Planned {
                effects: Effects::default(),
                outcome: Outcome::Count(Err(Refused::about(*id, Refusal::ContactExists.error()))),
            };
        }
        let Some(r) = f.resident(cand.resident_id) else {
            return refuse_count(Refusal::ResidentUnknown);
        };
        let contact = Contact {
            id: new_id(eff.contacts_new.len()),
            case_id,
            resident_id: Some(r.id),
            name: r.name.clone(),
            id_number: Some(r.id_number.clone()),
            phone: r.phone.clone(),
            unit: Some(r.unit.clone()),
            address: r.room.clone(),
            household_id: Some(r.household_id),
            class: cand.class.under(&act.profile),
            setting: cand.source.setting(),
            last_exposure: cand.last_exposure,
            elicited_by: act.user.clone(),
            status: ContactStatus::Identified,
            identified_at: act.at,
            notified_at: None,
            status_at: act.at,
            candidate_id: Some(cand.id),
        };
        if contact.class == Class::Close {
            confirmed_close.push((r.id, r.household_id));
        }
        enqueue(&contact, person_of(r), act, &mut eff);
        eff.contacts_new.push(contact);
    }
    // Contacts of contacts: a confirmed close contact's household, as secondary
    // candidates of the same case.
    if confirm && !confirmed_close.is_empty() {
        let mut cf = candidate_facts(case, f, act);
        cf.known.extend(eff.contacts_new.iter().filter_map(|c| c.resident_id));
        for (rid, hh) in confirmed_close {
            let household: Vec<i64> = f.households.iter().filter(|r| r.household_id == hh).map(|r| r.id).collect();
            for p in propose_contacts_of(&cf, rid, &household, act.at, &act.profile) {
                cf.known.insert(p.resident_id);
                let i = eff.candidates_new.len();
                if let Some(c) = candidate_of(case_id, &p, f, act, i) {
                    eff.candidates_new.push(c);
                }
            }
        }
    }
    if case.investigation_at.is_none() {
        let mut c = case.clone();
        c.investigation_at = Some(act.at);
        eff.cases_save.push(c);
    }
    let n = u32::try_from(eff.candidates_decide.len()).unwrap_or(u32::MAX);
    Planned { effects: eff, outcome: Outcome::Count(Ok(n)) }
}

fn add_contact(n: &NewContact, f: &Facts, act: &Act) -> Planned {
    let Some(case) = f.case(n.case_id) else { return refuse_contact(Refusal::CaseUnknown) };
    let from = window_from(case.anchor(act.offset()), &act.profile, act.offset());
    if let Err(e) = check_exposure(n.last_exposure, from, act.at) {
        return refuse_contact(e);
    }
    if n.class == Class::Secondary && act.profile.secondary_contact.is_none() {
        return refuse_contact(Refusal::ClassNotInProfile);
    }
    if let Err(e) = bounded(&n.address, 200, Refusal::ContactAddress) {
        return refuse_contact(e);
    }
    let mut eff = Effects::default();
    let contact = match n.resident_id {
        Some(rid) => {
            let Some(r) = f.resident(rid) else { return refuse_contact(Refusal::ResidentUnknown) };
            if rid == case.resident_id {
                return refuse_contact(Refusal::ContactIsSelf);
            }
            if f.cases_among.contains(&rid) {
                return refuse_contact(Refusal::ContactIsCase);
            }
            if f.contacts.iter().any(|c| c.case_id == n.case_id && c.resident_id == Some(rid)) {
                return refuse_contact(Refusal::ContactExists);
            }
            let c = contact_row(n, r.name.clone(), act);
            let c = Contact {
                resident_id: Some(r.id),
                id_number: Some(r.id_number.clone()),
                phone: r.phone.clone(),
                unit: Some(r.unit.clone()),
                address: r.room.clone(),
                household_id: Some(r.household_id),
                ..c
            };
            enqueue(&c, person_of(r), act, &mut eff);
            c
        }
        None => {
            let Some(name) = n.name.clone() else { return refuse_contact(Refusal::ContactName) };
            if n.id_number.is_none() && n.phone.is_none() {
                return refuse_contact(Refusal::ContactIdentity);
            }
            if n.id_number.is_some() && f.contacts.iter().any(|c| c.case_id == n.case_id && c.id_number == n.id_number)
            {
                return refuse_contact(Refusal::ContactExists);
            }
            let c =
                Contact { id_number: n.id_number.clone(), phone: n.phone.clone(), ..contact_row(n, name.clone(), act) };
            let person = Person {
                resident_id: None,
                name,
                id_number: n.id_number.clone(),
                phone: n.phone.clone(),
                unit: None,
                address: n.address.clone(),
                household_id: None,
            };
            if n.id_number.is_some() {
                enqueue(&c, person, act, &mut eff);
            }
            c
        }
    };
    eff.audit.push(act.entry("tracing.contact.add", "case", n.case_id, contact.class.as_str()));
    eff.contacts_new.push(contact.clone());
    Planned { effects: eff, outcome: Outcome::Contact(Ok(contact)) }
}

fn contact_row(n: &NewContact, name: cordon_domain::name::PersonName, act: &Act) -> Contact {
    Contact {
        id: new_id(0),
        case_id: n.case_id,
        resident_id: None,
        name,
        id_number: None,
        phone: None,
        unit: None,
        address: n.address.trim().to_string(),
        household_id: None,
        class: n.class,
        setting: n.setting,
        last_exposure: n.last_exposure,
        elicited_by: act.user.clone(),
        status: ContactStatus::Identified,
        identified_at: act.at,
        notified_at: None,
        status_at: act.at,
        candidate_id: None,
    }
}

fn contact_status(id: i64, to: ContactStatus, f: &Facts, act: &Act) -> Planned {
    let Some(c) = f.contacts.iter().find(|c| c.id == id) else { return refuse_contact(Refusal::ContactUnknown) };
    let mut c = c.clone();
    match c.status.step(to) {
        Ok(s) => c.status = s,
        Err(e) => return refuse_contact(e),
    }
    if to == ContactStatus::Notified {
        c.notified_at = Some(act.at);
    }
    c.status_at = act.at;
    let eff = Effects {
        contacts_save: vec![c.clone()],
        audit: vec![act.entry("tracing.contact.status", "contact", id, to.as_str())],
        ..Effects::default()
    };
    Planned { effects: eff, outcome: Outcome::Contact(Ok(c)) }
}

fn link(case_id: i64, source: Option<i64>, f: &Facts, act: &Act) -> Planned {
    let Some(case) = f.case(case_id) else { return refuse_case(Refusal::CaseUnknown) };
    if let Some(s) = source {
        if f.case(s).is_none() {
            return refuse_case(Refusal::SourceUnknown);
        }
        let mut links = f.links.clone();
        links.remove(&case_id);
        if let Err(e) = chains::check_link(case_id, s, &links) {
            return refuse_case(e);
        }
    }
    let mut c = case.clone();
    c.source_case = source;
    let detail = source.map_or_else(|| "no source".to_string(), |s| format!("source case {s}"));
    let eff = Effects {
        cases_save: vec![c.clone()],
        audit: vec![act.entry("tracing.case.source", "case", case_id, detail)],
        ..Effects::default()
    };
    Planned { effects: eff, outcome: Outcome::Case(Ok(c)) }
}

fn add_place(p: &NewPlace, f: &Facts, act: &Act) -> Planned {
    let Some(case) = f.case(p.case_id) else { return refuse_count(Refusal::CaseUnknown) };
    let label = p.label.trim();
    if (label.is_empty() && p.venue_id.is_none()) || label.chars().count() > 200 {
        return refuse_count(Refusal::PlaceName);
    }
    if let Err(e) = bounded(&p.note, 200, Refusal::Note) {
        return refuse_count(e);
    }
    if p.until < p.from {
        return refuse_count(Refusal::PlaceTimes);
    }
    let from = window_from(case.anchor(act.offset()), &act.profile, act.offset());
    if p.from < from || p.from > act.at {
        return refuse_count(Refusal::PlaceOutsideWindow);
    }
    let venue = match p.venue_id {
        Some(v) if !f.venues.contains(&v) => return refuse_count(Refusal::PlaceName),
        v => v,
    };
    let mut eff = Effects::default();
    let kind = if venue.is_some() { PlaceKind::Venue } else { PlaceKind::Entered };
    let place = Place { kind: PlaceKind::Venue, id: venue.unwrap_or(0) };
    let name = venue.and_then(|_| f.place_names.get(&place).cloned());
    eff.places_new.push(TracePlace {
        id: 0,
        case_id: p.case_id,
        kind,
        place_id: venue,
        label: if label.is_empty() { name.unwrap_or_default() } else { label.to_string() },
        from: p.from,
        until: p.until,
        setting: p.setting,
        confirmed: true,
        exposure_site: p.exposure_site,
        note: p.note.trim().to_string(),
    });
    let mut proposed = 0u32;
    if p.exposure_site && venue.is_some() {
        let cf = candidate_facts(case, f, act);
        let site = Presence { place, from: p.from, until: p.until };
        for (i, prop) in propose_site(&cf, &site, act.at, &act.profile).iter().enumerate() {
            if let Some(c) = candidate_of(case.id, prop, f, act, i) {
                eff.candidates_new.push(c);
                proposed += 1;
            }
        }
    }
    eff.audit.push(act.entry(
        "tracing.place.add",
        "case",
        p.case_id,
        if p.exposure_site { format!("exposure site, {proposed} candidates") } else { String::new() },
    ));
    Planned { effects: eff, outcome: Outcome::Count(Ok(proposed)) }
}

fn confirm_places(case_id: i64, ids: &[i64], f: &Facts, act: &Act) -> Planned {
    let Some(case) = f.case(case_id) else { return refuse_count(Refusal::CaseUnknown) };
    let mut eff = Effects::default();
    for id in ids {
        if !f.places.iter().any(|p| p.id == *id && p.case_id == case_id) {
            return Planned {
                effects: Effects::default(),
                outcome: Outcome::Count(Err(Refused::about(*id, Refusal::PlaceName.error()))),
            };
        }
        eff.places_confirm.push(*id);
    }
    if case.investigation_at.is_none() {
        let mut c = case.clone();
        c.investigation_at = Some(act.at);
        eff.cases_save.push(c);
    }
    eff.audit.push(act.entry("tracing.places.confirm", "case", case_id, format!("{} entries", ids.len())));
    let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    Planned { effects: eff, outcome: Outcome::Count(Ok(n)) }
}

fn complete_task(id: i64, f: &Facts, act: &Act) -> Planned {
    let Some(t) = f.tasks.iter().find(|t| t.id == id) else { return refuse_count(Refusal::TaskUnknown) };
    if t.done_at.is_some() {
        return refuse_count(Refusal::TaskDone);
    }
    let eff = Effects {
        tasks_done: vec![(id, act.at, act.user.clone())],
        audit: vec![act.entry("tracing.task.done", "case", t.case_id, t.kind.as_str())],
        ..Effects::default()
    };
    Planned { effects: eff, outcome: Outcome::Count(Ok(1)) }
}

/// The profile a stored setting applies (`None`: the shipped default), for writes that
/// run inside another capability's transaction (the lab's results).
pub fn profile_of(
    setting: Option<&crate::codes::PolicySetting>,
) -> std::result::Result<cordon_domain::policy::Profile, crate::StoreError> {
    use cordon_domain::policy::{DEFAULT_PROFILE, Profile};
    let parsed = match setting {
        Some(s) => Profile::effective(&s.name, &s.source).map(|(p, _)| p),
        None => Profile::shipped(DEFAULT_PROFILE).unwrap_or_else(|| {
            Err(cordon_domain::policy::ProfileError { line: 1, reason: "no default profile".into() })
        }),
    };
    parsed.map_err(|e| crate::StoreError::Backend(format!("stored policy profile does not parse: {e}")))
}

/// Mass testing's individual positives and the tracer's cases alike: how a lab case was
/// found (the chase of a pool, or a single tube).
pub fn lab_how_found(pooled: bool) -> HowFound {
    if pooled { HowFound::PoolChase } else { HowFound::IndividualTest }
}

/// A classification not yet given.
pub const PENDING: Classification = Classification::Pending;
