//! Conformance cases of [`crate::TracingStore`]: a lab positive makes a traced case in
//! its transaction (trajectory, candidates from household, pool mates, the unit and
//! co-presence, tasks), bulk confirmation colours contacts at once and queues them for
//! isolation, contacts of contacts, exposure sites, source links, profile switches, KPIs —
//! and the bad input of the issue, which must write nothing. Expected values come from
//! the generated district and the profiles, never from a backend's output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::codes::{NewCheckpoint, NewVenue, Scan, ScanSubject, VenueKind};
use crate::conformance::{District, audit_entry, code, fresh_id_number, load_district};
use crate::conformance_containment::{act, at, cst, day, profile, view};
use crate::conformance_testing::tube;
use crate::containment::{QueueQuery, QueueStatus};
use crate::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanPerson};
use crate::tracing::*;
use crate::{AuditFilter, Store};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::colour::{Colour, Direction, colour};
use cordon_domain::name::PersonName;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{NewRound, PoolCapacity, TestResult};
use cordon_domain::tracing::{
    CandidateState, Class, Classification, ContactStatus, HowFound, PlaceKind, Setting, Source, TaskKind,
};
use std::collections::BTreeMap;

/// Runs every tracing conformance case as its own `#[tokio::test]`.
#[macro_export]
macro_rules! tracing_conformance_tests {
    ($make:path) => {
        $crate::tracing_conformance_tests!(@cases $make;
            tracing_lab_positive_traced_and_confirmed,
            tracing_bad_input_writes_nothing,
            tracing_profile_switch_and_chains,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_tracing::$case(&*store).await;
            }
        )*
    };
}

// ---- fixtures -------------------------------------------------------------------------------

fn active(d: &District) -> Vec<&Resident> {
    d.residents.iter().filter(|r| r.status == ResidentStatus::Active).collect()
}

/// Households of `unit`'s building, largest first.
fn households_of_building(d: &District, building: &AreaCode) -> Vec<Vec<Resident>> {
    let mut by: BTreeMap<i64, Vec<Resident>> = BTreeMap::new();
    for r in active(d).into_iter().filter(|r| building.contains(&r.unit)) {
        by.entry(r.household_id).or_default().push(r.clone());
    }
    let mut v: Vec<Vec<Resident>> = by.into_values().collect();
    v.sort_by_key(|h| (std::cmp::Reverse(h.len()), h[0].id));
    v
}

/// The building with the most active households.
fn busy_building(d: &District) -> AreaCode {
    d.level(AreaLevel::Building)
        .into_iter()
        .max_by_key(|b| (households_of_building(d, &b.code).len(), std::cmp::Reverse(b.code.clone())))
        .unwrap()
        .code
        .clone()
}

fn ancestor(a: &AreaCode, level: AreaLevel) -> AreaCode {
    a.lineage().into_iter().find(|x| x.level() == level).unwrap()
}

/// Samples `people` in one tube of capacity `people.len()` at `when`, and results it.
async fn test_tube(
    store: &dyn Store,
    people: &[&Resident],
    capacity: u32,
    barcode: u32,
    result: TestResult,
    when: DateTime<Utc>,
) {
    let local = cordon_domain::containment::local_date(when, cst());
    let r = NewRound {
        area: ancestor(&people[0].unit, AreaLevel::Community),
        date: local,
        mandatory: false,
        pool: PoolCapacity::new(capacity).unwrap(),
    };
    let round = store.create_round(&r, &audit_entry(1, "cmd", "round.create", "round", "new")).await.unwrap().id;
    let tb = tube(barcode);
    let mut items = vec![ScanItem::Open {
        client_id: "o".into(),
        tube: tb.clone(),
        capacity: PoolCapacity::new(capacity).unwrap(),
        at: when,
    }];
    for p in people {
        items.push(ScanItem::Sample {
            client_id: format!("s{}", p.id),
            tube: tb.clone(),
            person: ScanPerson::ResidentId(p.id),
            at: when,
        });
    }
    items.push(ScanItem::Seal { client_id: "z".into(), tube: tb.clone(), at: when });
    let batch = ScanBatch { batch_id: format!("b{barcode}"), round_id: round, user_id: 7, scope: None, items };
    let rep = store.ingest_scans(batch, &audit_entry(2, "s", "scans.ingest", "round", "r")).await.unwrap();
    assert_eq!(rep.accepted as usize, people.len());
    store
        .receive(&Receipt::Tube(tb.clone()), 8, when, &audit_entry(3, "lab", "receive", "tube", "t"))
        .await
        .unwrap()
        .unwrap();
    let results = vec![NewResult { row: 0, tube: tb, result, ct: None }];
    let rep = store
        .record_results(&results, 8, when, &audit_entry(4, "lab", "results", "round", "r"), &Default::default())
        .await
        .unwrap();
    assert!(rep.committed, "{:?}", rep.errors);
}

async fn audited(store: &dyn Store, action: &str) -> usize {
    store
        .audit_log(&AuditFilter { action: Some(action.into()), limit: 10_000, ..AuditFilter::default() })
        .await
        .unwrap()
        .len()
}

async fn audit_count(store: &dyn Store) -> usize {
    store.audit_log(&AuditFilter { limit: 100_000, ..AuditFilter::default() }).await.unwrap().len()
}

async fn colour_of(store: &dyn Store, r: &Resident, now: DateTime<Utc>) -> (Colour, Vec<String>) {
    let p9 = profile("protocol-9");
    let s = store.person_state(r.id, now, cordon_domain::containment::local_date(now, cst())).await.unwrap().unwrap();
    let (c, reasons) = colour(&s, &p9, now);
    (c, reasons.into_iter().map(|r| r.code).collect())
}

fn district_root() -> AreaCode {
    code(cordon_domain::synth::DISTRICT_CODE)
}

/// The scenario: the case `a` (a household of at least three) was pooled with `x` and
/// `y` (other households) on day 0, checked in at a venue on day 1 at 10:00 (`p` at
/// 09:40, `q` at 10:45), passed the compound gate at 12:00 (`g` at 12:20), and tested
/// positive alone on day 2 at 09:00.
struct Scene {
    a: Resident,
    household: Vec<Resident>,
    x: Resident,
    y: Resident,
    p: Resident,
    q: Resident,
    g: Resident,
    venue: i64,
    gate: i64,
}

async fn scene(store: &dyn Store, d: &District) -> Scene {
    let building = busy_building(d);
    let hh = households_of_building(d, &building);
    assert!(hh[0].len() >= 3, "the busiest building has a household of three");
    let a = hh[0][0].clone();
    let household = hh[0].clone();
    // Pool mates from other households, x preferably from another unit of the building
    // (so that x's household is not the case's unit neighbours).
    let rest: Vec<&Vec<Resident>> = hh[1..].iter().collect();
    let xi = rest.iter().position(|h| h[0].unit != a.unit && h.len() >= 2).unwrap_or(0);
    let x = rest[xi][0].clone();
    let y = rest.iter().enumerate().find(|(i, _)| *i != xi).unwrap().1[0].clone();
    // Co-present people from another building (not unit neighbours).
    let others: Vec<&Resident> = active(d).into_iter().filter(|r| !building.contains(&r.unit)).collect();
    let (p, q, g) = (others[0].clone(), others[1].clone(), others[2].clone());
    let compound = ancestor(&a.unit, AreaLevel::Compound);
    let venue = store
        .create_venue(
            &NewVenue::new("惠民超市", VenueKind::Shop, compound.clone(), at(0, 8, 0)).unwrap(),
            &audit_entry(5, "cmd", "venue.create", "venue", "new"),
        )
        .await
        .unwrap()
        .id;
    let gate = store
        .create_checkpoint(
            &NewCheckpoint::new("东门", compound, at(0, 8, 0)).unwrap(),
            &audit_entry(6, "cmd", "checkpoint.create", "checkpoint", "new"),
        )
        .await
        .unwrap()
        .id;
    test_tube(store, &[&a, &x, &y], 5, 900, TestResult::Negative, at(0, 9, 0)).await;
    for (r, t) in [(&a, at(1, 10, 0)), (&p, at(1, 9, 40)), (&q, at(1, 10, 45))] {
        store.record_checkin(venue, r.id, t).await.unwrap();
    }
    let scan = |r: &Resident, t| Scan {
        checkpoint_id: gate,
        at: t,
        direction: Direction::In,
        subject: ScanSubject::Person,
        resident_id: Some(r.id),
        pass_id: None,
        colour: Some(Colour::Green),
        allowed: true,
        code: "green".into(),
        guard_id: None,
    };
    store.record_scans(&[scan(&a, at(1, 12, 0)), scan(&g, at(1, 12, 20))]).await.unwrap();
    test_tube(store, &[&a], 1, 901, TestResult::Positive, at(2, 9, 0)).await;
    Scene { a, household, x, y, p, q, g, venue, gate }
}

fn candidates_by_person(c: &[Candidate]) -> BTreeMap<i64, (Class, Source)> {
    c.iter().map(|c| (c.resident_id, (c.class, c.source))).collect()
}

// ---- cases ----------------------------------------------------------------------------------

pub async fn tracing_lab_positive_traced_and_confirmed(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let s = scene(store, &d).await;
    let now = at(2, 10, 0);

    // The lab's positive made the case and traced it in its transaction.
    let case = store.case_of(s.a.id).await.unwrap().expect("the positive made a case");
    assert_eq!((case.how_found, case.classification), (HowFound::IndividualTest, Classification::Pending));
    assert_eq!((case.source_tube.is_some(), case.traced_at), (true, Some(at(2, 9, 0))));
    assert_eq!(case.first_positive, Some(at(2, 9, 0)));
    let detail = store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap();
    // The window: four days before the first positive sample (day 2) is day -2.
    assert_eq!(
        detail.window_from,
        cordon_domain::containment::local_instant(day(0) - chrono::Days::new(2), chrono::NaiveTime::MIN, cst())
    );
    // Trajectory: the check-in, the gate, both samples, the household.
    let kinds: Vec<(PlaceKind, Option<i64>)> = detail.places.iter().map(|p| (p.kind, p.place_id)).collect();
    assert!(kinds.contains(&(PlaceKind::Venue, Some(s.venue))), "{kinds:?}");
    assert!(kinds.contains(&(PlaceKind::Checkpoint, Some(s.gate))), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| k.0 == PlaceKind::Sampling).count(), 2);
    assert_eq!(kinds.iter().filter(|k| k.0 == PlaceKind::Household).count(), 1);
    let venue_entry = detail.places.iter().find(|p| p.kind == PlaceKind::Venue).unwrap();
    assert_eq!((venue_entry.label.as_str(), venue_entry.confirmed), ("惠民超市", false));
    // Tasks from the profile: core information in 2 h, the report in 24 h.
    let mut tasks: Vec<(TaskKind, DateTime<Utc>)> = detail.tasks.iter().map(|t| (t.kind, t.due_at)).collect();
    tasks.sort();
    assert_eq!(tasks, vec![(TaskKind::CoreInfo, at(2, 11, 0)), (TaskKind::Report, at(3, 9, 0))]);

    // Candidates with their reasons.
    let by = candidates_by_person(&detail.candidates);
    for m in s.household.iter().filter(|m| m.id != s.a.id) {
        assert_eq!(by.get(&m.id), Some(&(Class::Close, Source::Household)), "household member {}", m.id);
    }
    assert_eq!(by.get(&s.x.id), Some(&(Class::Close, Source::PoolMate)));
    assert_eq!(by.get(&s.y.id), Some(&(Class::Close, Source::PoolMate)));
    assert_eq!(by.get(&s.p.id), Some(&(Class::Close, Source::Copresence)));
    assert_eq!(by.get(&s.g.id), Some(&(Class::Close, Source::Copresence)));
    assert!(!by.contains_key(&s.q.id), "45 minutes later is outside the window");
    assert!(!by.contains_key(&s.a.id));
    let unit_mates: Vec<i64> = active(&d)
        .into_iter()
        .filter(|r| r.unit == s.a.unit && r.household_id != s.a.household_id && r.id != s.x.id && r.id != s.y.id)
        .map(|r| r.id)
        .collect();
    for u in &unit_mates {
        assert_eq!(by.get(u), Some(&(Class::Secondary, Source::SameUnit)), "unit neighbour {u}");
    }
    let p_cand = detail.candidates.iter().find(|c| c.resident_id == s.p.id).unwrap();
    assert_eq!(
        p_cand.evidence.place,
        Some(cordon_domain::tracing::candidates::Place { kind: PlaceKind::Venue, id: s.venue })
    );
    assert_eq!((p_cand.evidence.at, p_cand.evidence.case_at), (Some(at(1, 9, 40)), Some(at(1, 10, 0))));
    assert_eq!(audited(store, "tracing.candidates.propose").await, 1);

    // The work list shows it, due first.
    let work = store.work_list(&[district_root()], 50, &view(&p9, now)).await.unwrap();
    assert_eq!(work[0].case.id, case.id);
    assert_eq!((work[0].due, work[0].overdue), (Some(at(2, 11, 0)), false));
    assert_eq!(work[0].candidates_waiting as usize, detail.candidates.len());
    let later = store.work_list(&[district_root()], 50, &view(&p9, at(2, 12, 0))).await.unwrap();
    assert!(later[0].overdue);

    let prior = candidates_by_person(&detail.candidates);
    // The tracer confirms the close contacts from the household and the pool in bulk.
    let close: Vec<i64> = detail
        .candidates
        .iter()
        .filter(|c| c.class == Class::Close && matches!(c.source, Source::Household | Source::PoolMate))
        .map(|c| c.id)
        .collect();
    assert!(close.len() >= 4);
    let n = store
        .decide_candidates(case.id, close.clone(), true, act(&p9, now, "流调员", "candidates.confirm"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n as usize, close.len());
    assert_eq!(audited(store, "tracing.candidate.confirm").await, close.len());
    // Their codes turn red at once, with the reason.
    for r in [&s.x, &s.y, &s.household[1]] {
        let (c, reasons) = colour_of(store, r, at(2, 10, 1)).await;
        assert_eq!(c, Colour::Red, "{reasons:?}");
        assert!(reasons.contains(&"close_contact".to_string()));
    }
    // ...and they are in the to-isolate queue, waiting, with the profile's deadline.
    let detail = store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap();
    let contacts = &detail.contacts;
    assert_eq!(contacts.len(), close.len());
    assert!(contacts.iter().all(|k| k.status == ContactStatus::Identified && k.class == Class::Close));
    let x_contact = contacts.iter().find(|k| k.resident_id == Some(s.x.id)).unwrap();
    assert_eq!(x_contact.setting, Setting::PoolMate);
    if s.x.unit != s.a.unit {
        assert_eq!(x_contact.last_exposure, at(0, 9, 0), "sampled together");
    }
    let queue = store.isolation_queue(QueueQuery::Contacts(contacts.iter().map(|k| k.id).collect())).await.unwrap();
    assert_eq!(queue.len(), close.len());
    assert!(
        queue.iter().all(|e| e.status == QueueStatus::Waiting && e.candidate.deadline == now + Duration::hours(24))
    );

    // Confirming a candidate twice is refused, and writes nothing.
    let before = audit_count(store).await;
    let e = store
        .decide_candidates(case.id, vec![close[0]], true, act(&p9, now, "流调员", "candidates.confirm"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(close[0]), "candidate_decided"));
    assert_eq!(audit_count(store).await, before);

    // Contacts of contacts: x's and y's households are proposed as secondary candidates.
    let x_household: Vec<i64> =
        active(&d).into_iter().filter(|r| r.household_id == s.x.household_id && r.id != s.x.id).map(|r| r.id).collect();
    let by = candidates_by_person(&detail.candidates);
    let before_confirm = prior;
    for m in x_household.iter().filter(|m| !before_confirm.contains_key(m)) {
        assert_eq!(by.get(m), Some(&(Class::Secondary, Source::ContactOfContact)), "x's household {m}");
    }
    if s.x.unit != s.a.unit {
        assert!(!x_household.is_empty() && x_household.iter().all(|m| by.contains_key(m)));
    }

    // Rejecting the unit's neighbours in bulk, by class.
    let unit_ids: Vec<i64> = detail
        .candidates
        .iter()
        .filter(|c| c.source == Source::SameUnit && c.state == CandidateState::Proposed)
        .map(|c| c.id)
        .collect();
    if !unit_ids.is_empty() {
        store
            .decide_candidates(case.id, unit_ids.clone(), false, act(&p9, now, "流调员", "candidates.reject"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(audited(store, "tracing.candidate.reject").await, unit_ids.len());
        let after = store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap();
        assert!(
            after.candidates.iter().filter(|c| unit_ids.contains(&c.id)).all(|c| c.state == CandidateState::Rejected)
        );
    }

    // An exposure site proposes everyone checked in there (q at 10:45 is now inside).
    let n = store
        .add_place(
            NewPlace {
                case_id: case.id,
                venue_id: Some(s.venue),
                label: String::new(),
                from: at(1, 10, 0),
                until: at(1, 10, 30),
                setting: Some(Setting::Venue),
                exposure_site: true,
                note: "收银台".into(),
            },
            act(&p9, now, "流调员", "place.add"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    let detail = store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap();
    let q = detail.candidates.iter().find(|c| c.resident_id == s.q.id).unwrap();
    assert_eq!((q.source, q.class), (Source::ExposureSite, Class::Close));

    // Notifying a contact moves its status; the community worker sees it by area.
    let k = store
        .contact_status(x_contact.id, ContactStatus::Notified, act(&p9, now, "社区", "contact.notify"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((k.status, k.notified_at), (ContactStatus::Notified, Some(now)));
    let mine = store
        .contacts_under(&[ancestor(&s.x.unit, AreaLevel::Community)], &[ContactStatus::Notified], 100)
        .await
        .unwrap();
    assert_eq!(mine.iter().map(|k| k.id).collect::<Vec<_>>(), vec![x_contact.id]);

    // The case's record: core information done closes its task.
    let c = store
        .update_case(
            case.id,
            CaseUpdate {
                classification: Some(Classification::Mild),
                core_done: true,
                narrative: Some("2日9时单采阳性。".into()),
                ..CaseUpdate::default()
            },
            act(&p9, at(2, 10, 30), "流调员", "case.update"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.classification, c.core_done_at), (Classification::Mild, Some(at(2, 10, 30))));
    let detail = store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap();
    assert_eq!(
        detail.history.iter().map(|h| (h.from, h.to)).collect::<Vec<_>>(),
        vec![(Some(Classification::Pending), Classification::Mild)]
    );
    assert!(detail.tasks.iter().any(|t| t.kind == TaskKind::CoreInfo && t.done_at == Some(at(2, 10, 30))));

    // KPIs: one case, contacts listed an hour after the positive.
    let k = store.tracing_kpis(&[district_root()]).await.unwrap();
    assert_eq!(k.cases, 1);
    let listed = k.steps.iter().find(|s| s.step == "contacts_listed").unwrap();
    assert_eq!((listed.median_minutes, listed.within_24h), (Some(60.0), Some(1.0)));
    assert_eq!(k.contacts_per_case, Some(close.len() as f64));
    assert_eq!(k.share_no_source, Some(1.0));
}

pub async fn tracing_bad_input_writes_nothing(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let s = scene(store, &d).await;
    let now = at(2, 10, 0);
    let case = store.case_of(s.a.id).await.unwrap().unwrap();
    let before = audit_count(store).await;
    let contact = |exposure| NewContact {
        case_id: case.id,
        resident_id: Some(s.p.id),
        name: None,
        id_number: None,
        phone: None,
        address: String::new(),
        class: Class::Close,
        setting: Setting::Workplace,
        last_exposure: exposure,
    };
    let refused = |r: crate::containment::Answer<Contact>| r.unwrap_err().error.code;
    let a = |what| act(&p9, now, "流调员", what);
    // A last exposure in the future, or before the look-back window.
    assert_eq!(
        refused(store.add_contact(contact(now + Duration::minutes(1)), a("c")).await.unwrap()),
        "trace_exposure_future"
    );
    assert_eq!(
        refused(store.add_contact(contact(at(0, 0, 0) - Duration::days(3)), a("c")).await.unwrap()),
        "exposure_before_window"
    );
    // A person known only by name needs an ID number or a phone.
    let stranger =
        NewContact {
            resident_id: None, name: Some(PersonName::parse("外地人员").unwrap()), ..contact(at(1, 10, 0))
        };
    assert_eq!(refused(store.add_contact(stranger.clone(), a("c")).await.unwrap()), "contact_identity");
    // The case itself, and a case for a person already a case.
    let myself = NewContact { resident_id: Some(s.a.id), ..contact(at(1, 10, 0)) };
    assert_eq!(refused(store.add_contact(myself, a("c")).await.unwrap()), "contact_self");
    let again = NewCase {
        resident_id: s.a.id,
        classification: Classification::Mild,
        how_found: HowFound::FeverClinic,
        onset: None,
        workplace: String::new(),
    };
    assert_eq!(store.enter_case(again, a("case")).await.unwrap().unwrap_err().error.code, "case_exists");
    let future_onset = NewCase {
        resident_id: s.p.id,
        onset: Some(day(3)),
        ..NewCase {
            resident_id: s.p.id,
            classification: Classification::Mild,
            how_found: HowFound::FeverClinic,
            onset: None,
            workplace: String::new(),
        }
    };
    assert_eq!(store.enter_case(future_onset, a("case")).await.unwrap().unwrap_err().error.code, "onset_future");
    // No candidates chosen; a candidate of another case.
    assert_eq!(
        store.decide_candidates(case.id, vec![], true, a("d")).await.unwrap().unwrap_err().error.code,
        "candidates_none"
    );
    assert_eq!(
        store.decide_candidates(case.id, vec![987_654], true, a("d")).await.unwrap().unwrap_err().error.code,
        "candidate_unknown"
    );
    // Source links: to itself.
    assert_eq!(store.link_source(case.id, Some(case.id), a("l")).await.unwrap().unwrap_err().error.code, "source_self");
    assert_eq!(audit_count(store).await, before, "nothing was written");
    assert!(store.case_detail(case.id, &view(&p9, now)).await.unwrap().unwrap().contacts.is_empty());

    // A stranger with an ID number is a contact (and queued: the queue needs the number).
    let ok = NewContact { id_number: Some(fresh_id_number(77)), address: "某宾馆".into(), ..stranger };
    let k = store.add_contact(ok, a("c")).await.unwrap().unwrap();
    assert!(k.id > 0 && k.resident_id.is_none());
    assert_eq!(store.isolation_queue(QueueQuery::Contacts(vec![k.id])).await.unwrap().len(), 1);
    // A contact cannot step back.
    assert_eq!(
        store.contact_status(k.id, ContactStatus::Released, a("s")).await.unwrap().unwrap_err().error.code,
        "contact_status"
    );
}

pub async fn tracing_profile_switch_and_chains(store: &dyn Store) {
    let d = load_district(store).await;
    let (p9, m20) = (profile("protocol-9"), profile("measures-20"));
    let s = scene(store, &d).await;
    let lab_case = store.case_of(s.a.id).await.unwrap().unwrap();
    // A case entered by the tracer under measures-20: no secondary contacts there, so the
    // unit's neighbours are general contacts and colour nothing.
    let other = active(&d)
        .into_iter()
        .find(|r| {
            r.unit != s.a.unit
                && active(&d).iter().filter(|m| m.household_id == r.household_id).count() >= 2
                && active(&d).iter().filter(|m| m.unit == r.unit && m.household_id != r.household_id).count() >= 1
        })
        .unwrap()
        .clone();
    let now = at(2, 14, 0);
    let entered = store
        .enter_case(
            NewCase {
                resident_id: other.id,
                classification: Classification::Asymptomatic,
                how_found: HowFound::OtherDistrict,
                onset: Some(day(1)),
                workplace: "某公司".into(),
            },
            act(&m20, now, "流调员", "case.enter"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(entered.id > 0 && entered.traced_at == Some(now) && entered.source_tube.is_none());
    let detail = store.case_detail(entered.id, &view(&m20, now)).await.unwrap().unwrap();
    assert_eq!(detail.history.len(), 1);
    let tasks: Vec<DateTime<Utc>> = detail.tasks.iter().map(|t| t.due_at).collect();
    assert!(tasks.contains(&(now + Duration::hours(4))), "measures-20: core information in 4 h");
    let neighbours: Vec<&Candidate> = detail.candidates.iter().filter(|c| c.source == Source::SameUnit).collect();
    assert!(!neighbours.is_empty());
    assert!(neighbours.iter().all(|c| c.class == Class::General));
    let general: Vec<i64> = neighbours.iter().map(|c| c.id).collect();
    store.decide_candidates(entered.id, general, true, act(&m20, now, "流调员", "d")).await.unwrap().unwrap();
    let detail = store.case_detail(entered.id, &view(&m20, now)).await.unwrap().unwrap();
    let g = detail.contacts.iter().find(|k| k.class == Class::General).unwrap();
    let neighbour = d.residents.iter().find(|r| Some(r.id) == g.resident_id).unwrap();
    assert_eq!(colour_of(store, neighbour, now).await.0, Colour::Green, "a general contact colours nothing");
    assert!(store.isolation_queue(QueueQuery::Contacts(vec![g.id])).await.unwrap().is_empty());
    // Under measures-20 no contacts of contacts are proposed for a close contact.
    let hh: Vec<i64> = detail.candidates.iter().filter(|c| c.source == Source::Household).map(|c| c.id).collect();
    store.decide_candidates(entered.id, hh, true, act(&m20, now, "流调员", "d")).await.unwrap().unwrap();
    let detail = store.case_detail(entered.id, &view(&m20, now)).await.unwrap().unwrap();
    assert!(detail.candidates.iter().all(|c| c.source != Source::ContactOfContact));

    // Source links: entered ← lab case; the reverse would loop.
    store.link_source(entered.id, Some(lab_case.id), act(&p9, now, "流调员", "l")).await.unwrap().unwrap();
    let e = store.link_source(lab_case.id, Some(entered.id), act(&p9, now, "流调员", "l")).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "source_cycle");
    let chains = store
        .chains(&ChainFilter { roots: vec![district_root()], limit: 100, ..ChainFilter::default() })
        .await
        .unwrap();
    let generation_of = |key: &str| chains.nodes.iter().find(|n| n.key == key).map(|n| n.generation);
    assert_eq!(generation_of(&format!("c{}", lab_case.id)), Some(1));
    assert_eq!(generation_of(&format!("c{}", entered.id)), Some(2));
    assert!(chains.edges.contains(&(format!("c{}", lab_case.id), format!("c{}", entered.id))));
    assert!(chains.nodes.iter().any(|n| n.contact_id.is_some() && n.generation == 3));
    // Clusters group cases and filter the chains.
    let cl = store.create_cluster("惠民超市聚集性疫情".into(), act(&p9, now, "流调员", "cl")).await.unwrap().unwrap();
    store
        .update_case(
            lab_case.id,
            CaseUpdate { cluster_id: Some(cl.id), ..CaseUpdate::default() },
            act(&p9, now, "流调员", "u"),
        )
        .await
        .unwrap()
        .unwrap();
    let only = store
        .chains(&ChainFilter {
            roots: vec![district_root()],
            cluster_id: Some(cl.id),
            limit: 100,
            ..ChainFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(only.nodes.iter().filter(|n| n.case_id.is_some()).count(), 1);
    let k = store.tracing_kpis(&[district_root()]).await.unwrap();
    assert_eq!((k.cases, k.share_no_source), (2, Some(0.5)));
}
