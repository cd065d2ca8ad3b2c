//! Conformance cases of [`crate::ContainmentStore`]: zones on the clock, sites and rooms,
//! the to-isolate queue and orders, room assignment, closed-loop transfer, test results
//! and release, boards and KPIs — each with its bad input, which must write nothing.
//! Expected values come from the generated district and the profiles, never from a
//! backend's output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::conformance::{District, audit_entry, code, load_district};
use crate::conformance_testing::tube;
use crate::containment::*;
use crate::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanPerson};
use crate::{AuditFilter, Store};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::clock::DistrictTz;
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::add_days;
use cordon_domain::containment::quarantine::{
    Category, NewRoom, NewSite, Order, OrderState, Person, PersonResult, RoomEvent, RoomState, SiteKind, TestStatus,
};
use cordon_domain::containment::transfer::{RunState, TransferState, Vehicle};
use cordon_domain::containment::zoneclock::{Outlook, ProposalStatus, ZoneDecision};
use cordon_domain::name::PersonName;
use cordon_domain::policy::Profile;
use cordon_domain::regime::Phase;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{NewRound, PoolCapacity, TestResult};
use cordon_domain::zone::{NewZone, ZoneLevel};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Runs every containment conformance case as its own `#[tokio::test]`; `$make` as for
/// [`crate::conformance_tests!`].
#[macro_export]
macro_rules! containment_conformance_tests {
    ($make:path) => {
        $crate::containment_conformance_tests!(@cases $make;
            containment_zone_proposals_and_decisions,
            containment_zone_orders_and_lifts,
            containment_zone_clock_protocol_9,
            containment_zone_clock_measures_20,
            containment_zone_day_concurrent_runs_apply_once,
            containment_sites_and_rooms,
            containment_queue_and_orders_per_class,
            containment_room_assignment_rules,
            containment_transfer_lifecycle,
            containment_transfer_bad_input,
            containment_results_release_and_home_monitoring,
            containment_case_found_in_quarantine,
            containment_boards_kpis_and_capacity,
            containment_job_tick,
            containment_concurrent_orders_for_one_person,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_containment::$case(&*store).await;
            }
        )*
    };
}

// ---- fixtures -------------------------------------------------------------------------------

pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// Local day `n` of the scenario (day 0 is 2026-03-02).
pub fn day(n: u32) -> NaiveDate {
    add_days(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(), n)
}

/// Local `h`:`m` on day `n`.
pub fn at(n: u32, h: u32, m: u32) -> DateTime<Utc> {
    cst().from_local_datetime(&day(n).and_hms_opt(h, m, 0).unwrap()).unwrap().with_timezone(&Utc)
}

pub fn profile(name: &str) -> Arc<Profile> {
    Arc::new(Profile::shipped(name).unwrap().unwrap())
}

/// An action by `user` at `at` under `p`, audited as `action`.
pub fn act(p: &Arc<Profile>, when: DateTime<Utc>, user: &str, action: &str) -> Act {
    Act {
        at: when,
        tz: DistrictTz::default(),
        user_id: Some(9),
        user: user.into(),
        profile: p.clone(),
        audit: entry(when, user, action),
    }
}

fn entry(when: DateTime<Utc>, user: &str, action: &str) -> cordon_domain::audit::AuditEntry {
    cordon_domain::audit::AuditEntry {
        at: when,
        actor_id: Some(9),
        actor: user.into(),
        role: None,
        action: action.into(),
        target_kind: "containment".into(),
        target: "x".into(),
        request_id: format!("req-{}", when.timestamp()),
        detail: String::new(),
    }
}

pub fn view(p: &Arc<Profile>, when: DateTime<Utc>) -> View {
    View { at: when, tz: DistrictTz::default(), profile: p.clone() }
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

fn active(d: &District) -> Vec<&Resident> {
    d.residents.iter().filter(|r| r.status == ResidentStatus::Active).collect()
}

/// Active households of a building, by household id, members by id.
fn households(d: &District, building: &AreaCode) -> Vec<Vec<Resident>> {
    let mut by: BTreeMap<i64, Vec<Resident>> = BTreeMap::new();
    for r in active(d).into_iter().filter(|r| building.contains(&r.unit)) {
        by.entry(r.household_id).or_default().push(r.clone());
    }
    by.into_values().collect()
}

/// The building with the most active households, and the compound it is in.
fn busy_building(d: &District) -> (AreaCode, AreaCode) {
    let b = d
        .level(AreaLevel::Building)
        .into_iter()
        .max_by_key(|b| (households(d, &b.code).len(), std::cmp::Reverse(b.code.clone())))
        .unwrap()
        .code
        .clone();
    let compound = b.parent().unwrap();
    (b, compound)
}

/// A building in another compound than `not_in`.
fn building_elsewhere(d: &District, not_in: &AreaCode) -> AreaCode {
    d.level(AreaLevel::Building)
        .into_iter()
        .filter(|b| !not_in.contains(&b.code) && !households(d, &b.code).is_empty())
        .map(|b| b.code.clone())
        .next()
        .unwrap()
}

async fn new_round(store: &dyn Store, area: &AreaCode, date: NaiveDate, pool: u32) -> i64 {
    let r = NewRound { area: area.clone(), date, mandatory: false, pool: PoolCapacity::new(pool).unwrap() };
    store.create_round(&r, &audit_entry(1, "cmd", "round.create", "round", "new")).await.unwrap().id
}

/// Samples `people` in tubes of `pool` starting at barcode `first`, seals, receives and
/// results every tube as `result` at `when`. Returns the tube ids with their capacity.
async fn tested(
    store: &dyn Store,
    round: i64,
    people: &[&Resident],
    pool: u32,
    first: u32,
    result: TestResult,
    when: DateTime<Utc>,
) -> Vec<(i64, TestResult, u32)> {
    let mut items = Vec::new();
    let mut barcodes = Vec::new();
    for (n, chunk) in people.chunks(pool as usize).enumerate() {
        let tb = tube(first + n as u32);
        barcodes.push(tb.clone());
        items.push(ScanItem::Open {
            client_id: format!("o{n}"),
            tube: tb.clone(),
            capacity: PoolCapacity::new(pool).unwrap(),
            at: when,
        });
        for r in chunk {
            items.push(ScanItem::Sample {
                client_id: format!("s{}", r.id),
                tube: tb.clone(),
                person: ScanPerson::ResidentId(r.id),
                at: when,
            });
        }
        items.push(ScanItem::Seal { client_id: format!("z{n}"), tube: tb.clone(), at: when });
    }
    let batch = ScanBatch { batch_id: format!("b{first}-{round}"), round_id: round, user_id: 7, scope: None, items };
    let rep = store.ingest_scans(batch, &audit_entry(2, "s", "scans.ingest", "round", "r")).await.unwrap();
    assert_eq!(rep.accepted as usize, people.len(), "{:?}", rep.outcomes.iter().map(|o| o.code).collect::<Vec<_>>());
    let mut out = Vec::new();
    for tb in &barcodes {
        store
            .receive(&Receipt::Tube(tb.clone()), 8, when, &audit_entry(3, "lab", "receive", "tube", "t"))
            .await
            .unwrap()
            .unwrap();
        let t = store.tube(tb).await.unwrap().unwrap();
        out.push((t.id, result, t.capacity.get()));
    }
    let results: Vec<NewResult> =
        barcodes.iter().enumerate().map(|(row, tb)| NewResult { row, tube: tb.clone(), result, ct: None }).collect();
    let rep = store
        .record_results(
            &results,
            8,
            when,
            &audit_entry(4, "lab", "results", "round", "r"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(rep.committed, "{:?}", rep.errors);
    out
}

/// A case: `r` tested positive alone in a single tube at `when`.
async fn make_case(store: &dyn Store, r: &Resident, when: DateTime<Utc>, barcode: u32) {
    let round = new_round(store, &r.unit, cordon_domain::containment::local_date(when, cst()), 1).await;
    tested(store, round, &[r], 1, barcode, TestResult::Positive, when).await;
}

fn candidate(r: &Resident, contact_id: i64, class: ContactClass, exposure: DateTime<Utc>) -> IsolationCandidate {
    IsolationCandidate {
        contact_id,
        person: Person {
            resident_id: Some(r.id),
            name: r.name.clone(),
            id_number: None,
            phone: None,
            unit: Some(r.unit.clone()),
            address: String::new(),
            household_id: Some(r.household_id),
        },
        class,
        last_exposure: exposure,
        identified_at: exposure + chrono::Duration::hours(2),
        deadline: exposure + chrono::Duration::hours(26),
    }
}

fn stranger(n: u32) -> Person {
    Person {
        resident_id: None,
        name: PersonName::parse("外来人员").unwrap(),
        id_number: Some(crate::conformance::fresh_id_number(n)),
        phone: None,
        unit: None,
        address: "某宾馆305".into(),
        household_id: None,
    }
}

/// A site with `rooms` (floor, beds), numbered floor·00 + n.
async fn site(
    store: &dyn Store,
    p: &Arc<Profile>,
    name: &str,
    kind: SiteKind,
    cats: &[Category],
    rooms: &[(i32, u32)],
) -> i64 {
    let s =
        NewSite::new(name, kind, "幸福路1号", code("141102001"), "王经理", Some(5), None, cats, at(0, 8, 0)).unwrap();
    let rooms: Vec<NewRoom> = rooms
        .iter()
        .enumerate()
        .map(|(i, (f, b))| NewRoom::new(*f, &format!("{f}{:02}", i + 1), *b).unwrap())
        .collect();
    store.open_site(s, rooms, act(p, at(0, 8, 0), "cmd", "site.create")).await.unwrap().unwrap().id
}

async fn queue_and_order(
    store: &dyn Store,
    p: &Arc<Profile>,
    people: &[(&Resident, i64, ContactClass)],
    exposure: DateTime<Utc>,
    when: DateTime<Utc>,
) -> Vec<Order> {
    let cands = people.iter().map(|(r, c, class)| candidate(r, *c, *class, exposure)).collect();
    store.enqueue_isolation(cands, act(p, when, "tracer", "contacts.enqueue")).await.unwrap().unwrap();
    let reqs = people.iter().map(|(_, c, _)| OrderRequest::Contact { contact_id: *c }).collect();
    store.issue_orders(reqs, act(p, when, "dispatcher", "orders.issue")).await.unwrap().unwrap()
}

fn vehicle(seats: u32) -> Vehicle {
    Vehicle::new("晋K12345", "王师傅", Some(31), "转运一组", seats).unwrap()
}

fn ids(orders: &[Order]) -> Vec<i64> {
    orders.iter().map(|o| o.id).collect()
}

async fn order(store: &dyn Store, id: i64) -> Order {
    store.orders(OrderQuery::ids(vec![id])).await.unwrap().pop().unwrap()
}

// ---- zones ----------------------------------------------------------------------------------

pub async fn containment_zone_proposals_and_decisions(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, compound) = busy_building(&d);
    let r = households(&d, &building)[0][0].clone();
    make_case(store, &r, at(0, 15, 0), 1).await;

    let rep = store.sweep_cases(act(&p9, at(0, 16, 0), "zone-clock", "cases.sweep")).await.unwrap();
    assert_eq!(rep, SweepReport { cases: 1, proposals: 2, found_in_quarantine: 0 });
    // Taken once: a second sweep finds nothing new.
    let again = store.sweep_cases(act(&p9, at(0, 16, 1), "zone-clock", "cases.sweep")).await.unwrap();
    assert_eq!(again.cases, 0);
    let props = store.zone_proposals(&[d.district()], true, 100).await.unwrap();
    let got: Vec<(AreaCode, ZoneLevel)> = props.iter().map(|p| (p.proposed.area.clone(), p.proposed.level)).collect();
    assert_eq!(got, vec![(compound.clone(), ZoneLevel::Medium), (building.clone(), ZoneLevel::High)], "newest first");
    let high = props.iter().find(|p| p.proposed.level == ZoneLevel::High).unwrap().clone();
    let medium = props.iter().find(|p| p.proposed.level == ZoneLevel::Medium).unwrap().clone();
    assert_eq!(high.proposed.case_unit, r.unit);

    // Bad decisions write nothing.
    let before = audit_count(store).await;
    let decide = |id, dec: ZoneDecision, n: u32| {
        store.decide_zone_proposal(id, dec, act(&p9, at(0, 17, n), "cmd", "zone.decide"))
    };
    let other = building_elsewhere(&d, &compound);
    assert_eq!(
        decide(high.id, ZoneDecision::Narrow(other.clone()), 0).await.unwrap().unwrap_err().error.code,
        "zone_narrow_area"
    );
    assert_eq!(
        decide(high.id, ZoneDecision::Widen(other), 1).await.unwrap().unwrap_err().error.code,
        "zone_widen_area"
    );
    // A well-formed code that is not in the area tree.
    let ghost = AreaCode::parse(&format!("{}099", &building.as_str()[..15])).unwrap();
    assert_eq!(
        decide(high.id, ZoneDecision::Narrow(ghost), 2).await.unwrap().unwrap_err().error.code,
        "zone_narrow_area"
    );
    let ghost_community = code("141102009099");
    assert_eq!(
        decide(medium.id, ZoneDecision::Widen(ghost_community), 3).await.unwrap().unwrap_err().error.code,
        "zone_widen_area"
    );
    assert_eq!(
        decide(999_999, ZoneDecision::Accept, 4).await.unwrap().unwrap_err().error.code,
        "zone_proposal_unknown"
    );
    assert_eq!(audit_count(store).await, before);
    assert!(store.zones(&d.district(), false, false).await.unwrap().is_empty());

    // Accept the high zone; widen the medium one to the community.
    let accepted = decide(high.id, ZoneDecision::Accept, 5).await.unwrap().unwrap();
    assert_eq!((accepted.status, accepted.decided_by.as_deref()), (ProposalStatus::Accepted, Some("cmd")));
    let zone_id = accepted.zone_id.unwrap();
    let zones = store.zones(&building, true, false).await.unwrap();
    assert_eq!(zones.iter().map(|z| (z.id, z.level)).collect::<Vec<_>>(), vec![(zone_id, ZoneLevel::High)]);
    let state = store.person_state(r.id, at(0, 18, 0), day(0)).await.unwrap().unwrap();
    assert_eq!(state.zone.unwrap().level, ZoneLevel::High);
    let community = compound.parent().unwrap();
    let widened = decide(medium.id, ZoneDecision::Widen(community.clone()), 6).await.unwrap().unwrap();
    assert_eq!(widened.status, ProposalStatus::Widened);
    let open = store.zones(&community, false, false).await.unwrap();
    assert!(open.iter().any(|z| z.area == community && z.level == ZoneLevel::Medium));
    assert_eq!(
        decide(high.id, ZoneDecision::Reject, 7).await.unwrap().unwrap_err().error.code,
        "zone_proposal_decided",
        "decided once"
    );
    assert!(store.zone_proposals(&[d.district()], true, 100).await.unwrap().is_empty());
    let history = store.zone_history(&[d.district()], 10).await.unwrap();
    let kinds: Vec<ZoneEventKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![ZoneEventKind::Widened, ZoneEventKind::Accepted]);
    assert_eq!(history[1].new_zone_id, Some(zone_id));
    assert_eq!(audited(store, "zone.decide").await, 2);

    // measures-20 proposes no medium zone; a second case under a high zone proposes
    // nothing (it resets that zone's clock instead).
    let m20 = profile("measures-20");
    let elsewhere = building_elsewhere(&d, &compound);
    let r2 = households(&d, &elsewhere)[0][0].clone();
    make_case(store, &r2, at(1, 9, 0), 2).await;
    let r3 = households(&d, &building)[1][0].clone();
    make_case(store, &r3, at(1, 9, 30), 3).await;
    let rep = store.sweep_cases(act(&m20, at(1, 10, 0), "zone-clock", "cases.sweep")).await.unwrap();
    assert_eq!((rep.cases, rep.proposals), (2, 1));
    let open = store.zone_proposals(&[d.district()], true, 100).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].proposed.area.clone(), open[0].proposed.level), (elsewhere, ZoneLevel::High));
}

pub async fn containment_zone_orders_and_lifts(store: &dyn Store) {
    let d = load_district(store).await;
    let (p9, m20) = (profile("protocol-9"), profile("measures-20"));
    let (building, compound) = busy_building(&d);
    let zone = |area: &AreaCode, level, n| {
        NewZone::new(area.clone(), level, "指挥部划定", at(0, 9, n), "cmd", at(0, 9, n)).unwrap()
    };
    let before = audit_count(store).await;
    // An unknown area, a medium zone under a profile without them: refused, nothing written.
    let ghost = code("141102009099001");
    let e =
        store.order_zone(zone(&ghost, ZoneLevel::High, 0), act(&p9, at(0, 9, 0), "cmd", "zone.order")).await.unwrap();
    assert_eq!((e.as_ref().unwrap_err().error.code, e.unwrap_err().error.field), ("zone_area_unknown", "area_code"));
    let e = store
        .order_zone(zone(&compound, ZoneLevel::Medium, 1), act(&m20, at(0, 9, 1), "cmd", "zone.order"))
        .await
        .unwrap();
    assert_eq!(e.unwrap_err().error.code, "zone_level_profile");
    assert_eq!(audit_count(store).await, before);
    assert!(store.zones(&d.district(), false, true).await.unwrap().is_empty());

    let first = store
        .order_zone(zone(&building, ZoneLevel::Medium, 2), act(&p9, at(0, 9, 2), "cmd", "zone.order"))
        .await
        .unwrap()
        .unwrap();
    assert!(first.id > 0);
    let second = store
        .order_zone(zone(&building, ZoneLevel::High, 3), act(&p9, at(0, 9, 3), "cmd", "zone.order"))
        .await
        .unwrap()
        .unwrap();
    let all = store.zones(&building, false, true).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter().find(|z| z.id == first.id).unwrap().ends_at,
        Some(at(0, 9, 3)),
        "the earlier designation ends"
    );
    assert_eq!(
        store.zones(&building, false, false).await.unwrap().iter().map(|z| z.id).collect::<Vec<_>>(),
        vec![second.id]
    );

    let lifted =
        store.lift_zone(second.id, "误划".into(), act(&p9, at(0, 10, 0), "cmd", "zone.lift")).await.unwrap().unwrap();
    assert_eq!(lifted.ends_at, Some(at(0, 10, 0)));
    assert!(store.zones(&building, false, false).await.unwrap().is_empty());
    let again = store.lift_zone(second.id, String::new(), act(&p9, at(0, 10, 1), "cmd", "zone.lift")).await.unwrap();
    assert_eq!(again.unwrap_err().error.code, "zone_ended");
    let unknown = store.lift_zone(987_654, String::new(), act(&p9, at(0, 10, 1), "cmd", "zone.lift")).await.unwrap();
    assert_eq!(unknown.unwrap_err().error.code, "zone_unknown");
    let history = store.zone_history(std::slice::from_ref(&building), 10).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![ZoneEventKind::Lifted, ZoneEventKind::Ordered, ZoneEventKind::Ordered]
    );
    assert_eq!(history[0].note, "误划");
    assert_eq!(audited(store, "zone.order").await, 2);
    assert_eq!(audited(store, "zone.lift").await, 1);
}

/// The day's run at 00:00 of day `n`.
async fn run_day(store: &dyn Store, p: &Arc<Profile>, n: u32) -> ZoneDayReport {
    store.run_zone_day(day(n), act(p, at(n, 0, 1), "zone-clock", "zones.clock")).await.unwrap()
}

fn open_level(zones: &[cordon_domain::zone::RiskZone], area: &AreaCode) -> Option<ZoneLevel> {
    zones.iter().find(|z| &z.area == area && z.ends_at.is_none()).map(|z| z.level)
}

/// Everyone still in the building tested negative in one round dated `date`.
async fn everyone_negative(
    store: &dyn Store,
    d: &District,
    building: &AreaCode,
    date: NaiveDate,
    first: u32,
    when: DateTime<Utc>,
    skip: &[i64],
) {
    let round = new_round(store, building, date, 10).await;
    let people: Vec<&Resident> =
        active(d).into_iter().filter(|r| building.contains(&r.unit) && !skip.contains(&r.id)).collect();
    tested(store, round, &people, 10, first, TestResult::Negative, when).await;
}

pub async fn containment_zone_clock_protocol_9(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let case = households(&d, &building)[0][0].clone();
    make_case(store, &case, at(0, 15, 0), 1).await;
    let z = NewZone::new(building.clone(), ZoneLevel::High, "病例居住地", at(0, 18, 0), "cmd", at(0, 18, 0)).unwrap();
    let high = store.order_zone(z, act(&p9, at(0, 18, 0), "cmd", "zone.order")).await.unwrap().unwrap();

    // Days 1–7 clear; the step is due at 00:00 of day 8, but only after an all-negative
    // round on day 7.
    for n in 1..=8 {
        let rep = run_day(store, &p9, n).await;
        assert!(rep.applied && rep.steps.is_empty(), "day {n}: {rep:?}");
        assert_eq!(rep.held.len(), usize::from(n == 8), "day {n}");
    }
    // The forecast for day 9 says it waits for a round (none on day 8).
    let fc = store.zone_forecast(&[d.district()], day(9), &view(&p9, at(8, 12, 0))).await.unwrap();
    assert_eq!((fc.steps, fc.awaiting_round), (0, 1));
    // Day 9 with an all-negative round on day 8: high → medium (the case is in hospital
    // and not counted).
    everyone_negative(store, &d, &building, day(8), 100, at(8, 10, 0), &[case.id]).await;
    let fc = store.zone_forecast(&[d.district()], day(9), &view(&p9, at(8, 12, 0))).await.unwrap();
    assert_eq!((fc.steps, fc.awaiting_round), (1, 0));
    assert_eq!(fc.zones[0].outlook, Outlook::Steps);
    let rep = run_day(store, &p9, 9).await;
    assert_eq!(rep.steps.len(), 1);
    assert_eq!(
        (rep.steps[0].zone_id, rep.steps[0].from, rep.steps[0].to, rep.steps[0].days),
        (high.id, ZoneLevel::High, ZoneLevel::Medium, 8)
    );
    let zones = store.zones(&building, false, true).await.unwrap();
    assert_eq!(open_level(&zones, &building), Some(ZoneLevel::Medium));
    assert_eq!(zones.iter().find(|z| z.id == high.id).unwrap().ends_at, Some(at(9, 0, 0)));
    let medium = zones.iter().find(|z| z.ends_at.is_none()).unwrap().clone();
    assert_eq!((medium.starts_at, medium.designated_by.as_str()), (at(9, 0, 0), "zone-clock"));
    // Applying day 9 again changes nothing.
    let audit_before = audit_count(store).await;
    let again = run_day(store, &p9, 9).await;
    assert!(!again.applied && again.steps.is_empty());
    assert_eq!(again.run.steps, 1);
    assert_eq!(store.zones(&building, false, true).await.unwrap(), zones);
    assert_eq!(audit_count(store).await, audit_before);

    // A new infection on day 10 resets the medium zone's clock: the 3 days count from day 11.
    let other = households(&d, &building)[1][0].clone();
    make_case(store, &other, at(10, 11, 0), 2).await;
    for n in 10..=13 {
        let rep = run_day(store, &p9, n).await;
        assert!(rep.steps.is_empty(), "day {n}");
    }
    let fc = store.zone_forecast(std::slice::from_ref(&building), day(14), &view(&p9, at(13, 12, 0))).await.unwrap();
    assert_eq!((fc.zones[0].clear_days, fc.zones[0].needed), (3, 3));
    assert_eq!(fc.awaiting_round, 1);
    everyone_negative(store, &d, &building, day(13), 200, at(13, 10, 0), &[case.id, other.id]).await;
    let rep = run_day(store, &p9, 14).await;
    assert_eq!(rep.steps.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>(), vec![(ZoneLevel::Medium, ZoneLevel::Low)]);
    assert_eq!(open_level(&store.zones(&building, false, true).await.unwrap(), &building), None, "low: the zone ends");
    let history = store.zone_history(std::slice::from_ref(&building), 10).await.unwrap();
    let steps: Vec<_> = history
        .iter()
        .filter(|e| e.kind == ZoneEventKind::Stepped)
        .map(|e| (e.from_level, e.to_level, e.day))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Some(ZoneLevel::Medium), Some(ZoneLevel::Low), Some(day(14))),
            (Some(ZoneLevel::High), Some(ZoneLevel::Medium), Some(day(9)))
        ]
    );
    let runs = store.zone_runs(3).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| (r.date, r.steps)).collect::<Vec<_>>(),
        vec![(day(14), 1), (day(13), 0), (day(12), 0)]
    );
    assert_eq!(runs[0].profile, "protocol-9");
    assert_eq!(audited(store, "zones.clock").await, 14);
}

pub async fn containment_zone_clock_measures_20(store: &dyn Store) {
    let d = load_district(store).await;
    let m20 = profile("measures-20");
    let (building, _) = busy_building(&d);
    let case = households(&d, &building)[0][0].clone();
    make_case(store, &case, at(0, 15, 0), 1).await;
    let z = NewZone::new(building.clone(), ZoneLevel::High, "病例居住地", at(0, 18, 0), "cmd", at(0, 18, 0)).unwrap();
    store.order_zone(z, act(&m20, at(0, 18, 0), "cmd", "zone.order")).await.unwrap().unwrap();
    // A case on day 2 in the zone: the 5 days count from day 3; no round is needed.
    let other = households(&d, &building)[1][0].clone();
    make_case(store, &other, at(2, 9, 0), 2).await;
    let fc = store.zone_forecast(&[d.district()], day(6), &view(&m20, at(5, 12, 0))).await.unwrap();
    assert_eq!(fc.reset_by_case, 1, "{fc:?}");
    assert_eq!(fc.zones[0].outlook, Outlook::ResetByCase { case_date: day(2), zone_day: 2 });
    for n in 1..=7 {
        assert!(run_day(store, &m20, n).await.steps.is_empty(), "day {n}");
    }
    let rep = run_day(store, &m20, 8).await;
    assert_eq!(
        rep.steps.iter().map(|s| (s.from, s.to, s.days)).collect::<Vec<_>>(),
        vec![(ZoneLevel::High, ZoneLevel::Low, 5)]
    );
    assert!(store.zones(&building, false, false).await.unwrap().is_empty());
}

pub async fn containment_zone_day_concurrent_runs_apply_once(store: &dyn Store) {
    let d = load_district(store).await;
    let m20 = profile("measures-20");
    let mut zones = Vec::new();
    for (i, b) in d.level(AreaLevel::Building).into_iter().take(6).enumerate() {
        let z = NewZone::new(b.code.clone(), ZoneLevel::High, "划定", at(0, 9, i as u32), "cmd", at(0, 9, i as u32))
            .unwrap();
        zones.push(store.order_zone(z, act(&m20, at(0, 9, i as u32), "cmd", "zone.order")).await.unwrap().unwrap());
    }
    let (a, b) = tokio::join!(
        store.run_zone_day(day(6), act(&m20, at(6, 0, 1), "instance-a", "zones.clock")),
        store.run_zone_day(day(6), act(&m20, at(6, 0, 1), "instance-b", "zones.clock")),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(u8::from(a.applied) + u8::from(b.applied), 1, "exactly one applies");
    let winner = if a.applied { &a } else { &b };
    let loser = if a.applied { &b } else { &a };
    assert!(zones.len() >= 2);
    assert_eq!(winner.steps.len(), zones.len());
    assert!(loser.steps.is_empty());
    assert_eq!(loser.run, winner.run, "the other sees the run that applied");
    assert!(store.zones(&d.district(), false, false).await.unwrap().is_empty());
    let history = store.zone_history(&[d.district()], 100).await.unwrap();
    assert_eq!(history.iter().filter(|e| e.kind == ZoneEventKind::Stepped).count(), zones.len());
    assert_eq!(audited(store, "zones.clock").await, 1);
}

// ---- sites and rooms ---------------------------------------------------------------------------

pub async fn containment_sites_and_rooms(store: &dyn Store) {
    let _d = load_district(store).await;
    let p9 = profile("protocol-9");
    let new = |name: &str| {
        NewSite::new(
            name,
            SiteKind::Hotel,
            "幸福路1号",
            code("141102001"),
            "王经理",
            Some(5),
            None,
            &[Category::CloseContact],
            at(0, 8, 0),
        )
        .unwrap()
    };
    // Room numbers repeated: refused, no site written.
    let rooms = vec![NewRoom::new(1, "101", 2).unwrap(), NewRoom::new(1, "101", 1).unwrap()];
    let e =
        store.open_site(new("一号"), rooms, act(&p9, at(0, 8, 0), "cmd", "site.create")).await.unwrap().unwrap_err();
    assert_eq!((e.error.code, e.error.field), ("room_duplicate", "number"));
    assert!(store.quarantine_sites(SiteQuery::Under(vec![])).await.unwrap().is_empty());

    let rooms = vec![NewRoom::new(1, "101", 2).unwrap(), NewRoom::new(2, "201", 1).unwrap()];
    let s = store.open_site(new("一号"), rooms, act(&p9, at(0, 8, 0), "cmd", "site.create")).await.unwrap().unwrap();
    let slots = store.quarantine_site(s.id).await.unwrap().unwrap();
    assert_eq!(slots.site, s);
    assert_eq!(
        slots
            .rooms
            .iter()
            .map(|r| (r.room.floor, r.room.number.as_str(), r.room.beds, r.room.state))
            .collect::<Vec<_>>(),
        vec![(1, "101", 2, RoomState::Free), (2, "201", 1, RoomState::Free)]
    );
    let more = store
        .add_rooms(s.id, vec![NewRoom::new(2, "202", 3).unwrap()], act(&p9, at(0, 8, 1), "cmd", "rooms.add"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(more.len(), 1);
    assert!(more[0].id > 0 && more[0].site_id == s.id);
    let dup = store
        .add_rooms(s.id, vec![NewRoom::new(3, "201", 1).unwrap()], act(&p9, at(0, 8, 2), "cmd", "rooms.add"))
        .await
        .unwrap();
    assert_eq!(dup.unwrap_err().error.code, "room_duplicate");
    let unknown = store
        .add_rooms(99_999, vec![NewRoom::new(3, "301", 1).unwrap()], act(&p9, at(0, 8, 2), "cmd", "rooms.add"))
        .await
        .unwrap();
    assert_eq!(unknown.unwrap_err().error.code, "site_unknown");
    assert_eq!(store.rooms_of(s.id).await.unwrap().len(), 3);

    let room = more[0].id;
    let ev = |e, n| store.room_event(room, e, act(&p9, at(0, 9, n), "manager", "room.state"));
    assert_eq!(ev(RoomEvent::Cleaned, 0).await.unwrap().unwrap_err().error.code, "room_state");
    assert_eq!(ev(RoomEvent::Occupy, 1).await.unwrap().unwrap_err().error.code, "room_state");
    assert_eq!(ev(RoomEvent::OutOfService, 2).await.unwrap().unwrap().state, RoomState::OutOfService);
    assert_eq!(ev(RoomEvent::BackInService, 3).await.unwrap().unwrap().state, RoomState::Cleaning);
    let cleaned = ev(RoomEvent::Cleaned, 4).await.unwrap().unwrap();
    assert_eq!((cleaned.state, cleaned.state_at), (RoomState::Free, at(0, 9, 4)));
    let unknown =
        store.room_event(99_999, RoomEvent::Cleaned, act(&p9, at(0, 9, 5), "manager", "room.state")).await.unwrap();
    assert_eq!(unknown.unwrap_err().error.code, "room_unknown");
    assert_eq!(audited(store, "room.state").await, 3);

    // Scoping by where a site stands.
    let elsewhere = NewSite::new(
        "方舱",
        SiteKind::Fangcang,
        "体育馆",
        code("141102002"),
        "李院长",
        None,
        None,
        &[Category::Case],
        at(0, 8, 0),
    )
    .unwrap();
    store.open_site(elsewhere, vec![], act(&p9, at(0, 8, 3), "cmd", "site.create")).await.unwrap().unwrap();
    let under = store.quarantine_sites(SiteQuery::Under(vec![code("141102001")])).await.unwrap();
    assert_eq!(under.iter().map(|s| s.site.id).collect::<Vec<_>>(), vec![s.id]);
    assert_eq!(store.quarantine_sites(SiteQuery::Under(vec![d_root()])).await.unwrap().len(), 2);
    assert_eq!(store.quarantine_sites(SiteQuery::OfRooms(vec![room])).await.unwrap()[0].site.id, s.id);
}

fn d_root() -> AreaCode {
    code(cordon_domain::synth::DISTRICT_CODE)
}

// ---- queue and orders ----------------------------------------------------------------------

pub async fn containment_queue_and_orders_per_class(store: &dyn Store) {
    let d = load_district(store).await;
    let (p9, m20) = (profile("protocol-9"), profile("measures-20"));
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let (a, b, c) = (hh[0][0].clone(), hh[1][0].clone(), hh[2][0].clone());
    let exposure = at(0, 20, 0);
    let now = at(1, 9, 0);

    // Bad hand-overs write nothing.
    let before = audit_count(store).await;
    let future = candidate(&a, 1, ContactClass::Close, at(2, 0, 0));
    let e =
        store.enqueue_isolation(vec![future], act(&p9, now, "tracer", "contacts.enqueue")).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(1), "exposure_future"));
    let mut nobody = candidate(&a, 2, ContactClass::Close, exposure);
    nobody.person = Person { id_number: None, ..stranger(1) };
    let e =
        store.enqueue_isolation(vec![nobody], act(&p9, now, "tracer", "contacts.enqueue")).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "person_identity");
    assert_eq!(audit_count(store).await, before);
    assert!(store.isolation_queue(QueueQuery::Contacts(vec![1, 2])).await.unwrap().is_empty());

    let cands = vec![
        candidate(&a, 11, ContactClass::Close, exposure),
        candidate(&b, 12, ContactClass::Secondary, exposure),
        candidate(&c, 13, ContactClass::Close, exposure),
    ];
    assert_eq!(
        store.enqueue_isolation(cands.clone(), act(&p9, now, "tracer", "contacts.enqueue")).await.unwrap(),
        Ok(3)
    );
    let q = store
        .isolation_queue(QueueQuery::Status {
            statuses: vec![QueueStatus::Waiting],
            roots: Some(vec![building.clone()]),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(q.iter().map(|e| e.candidate.contact_id).collect::<Vec<_>>(), vec![11, 12, 13]);
    assert_eq!(q[0].candidate, cands[0]);
    // Handed over again with a later exposure: still waiting, the later exposure kept.
    let later = candidate(&a, 11, ContactClass::Close, exposure + chrono::Duration::hours(1));
    assert_eq!(store.enqueue_isolation(vec![later], act(&p9, now, "tracer", "contacts.enqueue")).await.unwrap(), Ok(1));
    let q = store.isolation_queue(QueueQuery::Contacts(vec![11])).await.unwrap();
    assert_eq!(q[0].candidate.last_exposure, exposure + chrono::Duration::hours(1));
    assert_eq!(q[0].candidate.identified_at, cands[0].identified_at, "identified when first handed over");

    // An unknown contact in a batch: nothing of the batch is written.
    let reqs = vec![OrderRequest::Contact { contact_id: 11 }, OrderRequest::Contact { contact_id: 99 }];
    let e = store.issue_orders(reqs, act(&p9, now, "dispatcher", "orders.issue")).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(99), "contact_unknown"));
    assert!(store.orders(OrderQuery::default()).await.unwrap().is_empty());
    // measures-20 has no regime for secondary contacts.
    let e = store
        .issue_orders(vec![OrderRequest::Contact { contact_id: 12 }], act(&m20, now, "dispatcher", "orders.issue"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(12), "order_regime"));

    let reqs = (11..=13).map(|c| OrderRequest::Contact { contact_id: c }).collect();
    let orders = store.issue_orders(reqs, act(&p9, now, "dispatcher", "orders.issue")).await.unwrap().unwrap();
    assert_eq!(orders.len(), 3);
    let by_contact = |c: i64| orders.iter().find(|o| o.contact_id == Some(c)).unwrap().clone();
    // protocol-9: a close contact 7 days centralised + 3 at home, tests 1, 2, 3, 5, 7, 10.
    let close = by_contact(11);
    assert_eq!(
        (close.category, close.state, close.transfer),
        (Category::CloseContact, OrderState::Ordered, Some(TransferState::Requested))
    );
    assert_eq!(
        (close.schedule.start, close.schedule.centralised_until, close.schedule.end),
        (day(1), Some(day(7)), day(10))
    );
    assert_eq!(close.schedule.tests.iter().map(|t| t.day).collect::<Vec<_>>(), vec![1, 2, 3, 5, 7, 10]);
    assert_eq!(close.person.id_number.as_ref(), Some(&a.id_number), "filled in from the register");
    assert_eq!(close.person.unit.as_ref(), Some(&a.unit));
    // A secondary contact: 7 days at home (tests 1, 4, 7), in quarantine at once.
    let secondary = by_contact(12);
    assert_eq!(
        (secondary.state, secondary.transfer, secondary.in_quarantine_at),
        (OrderState::InQuarantine, None, Some(now))
    );
    assert_eq!(secondary.schedule.tests.iter().map(|t| t.day).collect::<Vec<_>>(), vec![1, 4, 7]);
    // Read back as written.
    let stored = store.orders(OrderQuery::ids(ids(&orders))).await.unwrap();
    assert_eq!(stored, orders);
    let q = store.isolation_queue(QueueQuery::Contacts(vec![11, 12, 13])).await.unwrap();
    let status: BTreeMap<i64, (QueueStatus, Option<i64>)> =
        q.iter().map(|e| (e.candidate.contact_id, (e.status, e.order_id))).collect();
    assert_eq!(status[&11], (QueueStatus::Ordered, Some(close.id)));
    assert_eq!(status[&12], (QueueStatus::UnderQuarantine, Some(secondary.id)));
    // Ordered once.
    let e = store
        .issue_orders(vec![OrderRequest::Contact { contact_id: 13 }], act(&p9, now, "dispatcher", "orders.issue"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.error.code, "contact_ordered");

    // The commander's arrivals: a resident and a person not on the register.
    let arr = |resident_id: Option<i64>, person: Option<Person>| OrderRequest::Arrival {
        resident_id,
        person,
        last_exposure: at(1, 6, 0),
        reason: "高风险地区返回".into(),
    };
    let e = store
        .issue_orders(vec![arr(Some(a.id), None)], act(&p9, now, "cmd", "orders.issue"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(a.id), "order_open"), "already under an order");
    let e = store
        .issue_orders(vec![arr(Some(987_654), None)], act(&p9, now, "cmd", "orders.issue"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.error.code, "resident_unknown");
    let e = store
        .issue_orders(
            vec![arr(None, Some(stranger(5))), arr(None, Some(stranger(5)))],
            act(&p9, now, "cmd", "orders.issue"),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.error.code, "order_open", "the same person twice in a batch");
    let d2 = hh[3][0].clone();
    let arrivals = store
        .issue_orders(vec![arr(Some(d2.id), None), arr(None, Some(stranger(5)))], act(&p9, now, "cmd", "orders.issue"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        arrivals.iter().map(|o| (o.category, o.schedule.end, o.contact_id)).collect::<Vec<_>>(),
        vec![(Category::Arrival, day(8), None), (Category::Arrival, day(8), None)]
    );
    assert_eq!(arrivals[1].person.id_number, stranger(5).id_number);
    // measures-20: arrivals stay home 7 days (tests 1, 3, 5, 7).
    let d3 = hh[4][0].clone();
    let home =
        store.issue_orders(vec![arr(Some(d3.id), None)], act(&m20, now, "cmd", "orders.issue")).await.unwrap().unwrap();
    assert_eq!((home[0].state, home[0].schedule.tests.len()), (OrderState::InQuarantine, 4));
    // Every order issue audited once per batch.
    assert_eq!(audited(store, "orders.issue").await, 3);
    let by_root =
        store.orders(OrderQuery { roots: Some(vec![building.clone()]), ..OrderQuery::default() }).await.unwrap();
    assert_eq!(by_root.len(), 5, "the stranger has no unit under the building");
}

// ---- rooms ---------------------------------------------------------------------------------

pub async fn containment_room_assignment_rules(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    // A household of at least two.
    let hh: Vec<Vec<Resident>> = households(&d, &building).into_iter().filter(|h| h.len() >= 2).collect();
    let family = &hh[0];
    let single =
        households(&d, &building).into_iter().find(|h| h[0].household_id != family[0].household_id).unwrap()[0].clone();
    // Floor 1: one room for the family; floor 2: two singles.
    let beds = family.len() as u32;
    let s = site(
        store,
        &p9,
        "一号",
        SiteKind::Hotel,
        &[Category::CloseContact, Category::Arrival],
        &[(1, beds), (2, 1), (2, 1)],
    )
    .await;
    let people: Vec<(&Resident, i64, ContactClass)> =
        family.iter().enumerate().map(|(i, r)| (r, 100 + i as i64, ContactClass::Close)).collect();
    let fam = queue_and_order(store, &p9, &people, at(0, 20, 0), at(1, 9, 0)).await;
    let arrival = store
        .issue_orders(
            vec![OrderRequest::Arrival {
                resident_id: Some(single.id),
                person: None,
                last_exposure: at(1, 6, 0),
                reason: "返回".into(),
            }],
            act(&p9, at(1, 9, 0), "cmd", "orders.issue"),
        )
        .await
        .unwrap()
        .unwrap()
        .remove(0);
    let rooms = store.rooms_of(s).await.unwrap();
    let (r1, r2a, r2b) = (rooms[0].room.id, rooms[1].room.id, rooms[2].room.id);

    // The suggestion keeps the household in one room and the arrival on another floor.
    let mut all = ids(&fam);
    all.push(arrival.id);
    let sug = store.suggest_rooms(&all, &[s], &view(&p9, at(1, 10, 0))).await.unwrap();
    assert!(sug.unplaced.is_empty(), "{:?}", sug.unplaced);
    let room_of: BTreeMap<i64, i64> = sug.placements.iter().map(|p| (p.order_id, p.room_id)).collect();
    assert!(fam.iter().all(|o| room_of[&o.id] == r1), "{room_of:?}");
    assert!([r2a, r2b].contains(&room_of[&arrival.id]));

    // Bad placements write nothing.
    let before = audit_count(store).await;
    let assign =
        |ps: Vec<(i64, i64)>, n: u32| store.assign_rooms(ps, act(&p9, at(1, 11, n), "manager", "rooms.assign"));
    let over: Vec<(i64, i64)> = fam.iter().map(|o| (o.id, r2a)).collect();
    let e = assign(over, 0).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(fam[1].id), "room_over_capacity"));
    let e = assign(vec![(fam[0].id, r1), (arrival.id, r1)], 1).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(arrival.id), "room_category_mixed"));
    let e = assign(vec![(fam[0].id, r2a), (arrival.id, r2b)], 2).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(arrival.id), "floor_category_mixed"));
    let e = assign(vec![(fam[0].id, 999_999)], 3).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "room_unknown");
    let e = assign(vec![(fam[0].id, r1), (fam[0].id, r1)], 4).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "person_twice");
    assert_eq!(audit_count(store).await, before);
    assert!(store.rooms_of(s).await.unwrap().iter().all(|r| r.occupants.is_empty() && r.room.state == RoomState::Free));

    // Accept the suggestion: rooms occupied, each assignment audited.
    let placements: Vec<(i64, i64)> = sug.placements.iter().map(|p| (p.order_id, p.room_id)).collect();
    let done = assign(placements.clone(), 5).await.unwrap().unwrap();
    assert_eq!(done.len(), placements.len());
    assert_eq!(audited(store, "room.assign").await, placements.len());
    let rooms = store.rooms_of(s).await.unwrap();
    let r1_slot = rooms.iter().find(|r| r.room.id == r1).unwrap();
    assert_eq!((r1_slot.room.state, r1_slot.occupants.len()), (RoomState::Occupied, family.len()));
    let o = order(store, arrival.id).await;
    assert_eq!((o.site_id, o.room_id), (Some(s), Some(room_of[&arrival.id])));
    // Move the arrival to the other room of floor 2: the room left goes to cleaning.
    let other = if room_of[&arrival.id] == r2a { r2b } else { r2a };
    assign(vec![(arrival.id, other)], 6).await.unwrap().unwrap();
    let rooms = store.rooms_of(s).await.unwrap();
    let state = |id| rooms.iter().find(|r| r.room.id == id).unwrap().room.state;
    assert_eq!((state(other), state(room_of[&arrival.id])), (RoomState::Occupied, RoomState::Cleaning));
    // A room being cleaned takes nobody.
    let e = assign(vec![(arrival.id, room_of[&arrival.id])], 7).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "room_not_available");
    // People in home quarantine get no room.
    let neighbour = households(&d, &building)
        .into_iter()
        .find(|h| h[0].household_id != family[0].household_id && h[0].household_id != single.household_id)
        .unwrap()[0]
        .clone();
    let sec =
        queue_and_order(store, &p9, &[(&neighbour, 300, ContactClass::Secondary)], at(0, 20, 0), at(1, 9, 0)).await;
    let e = assign(vec![(sec[0].id, other)], 8).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(sec[0].id), "transfer_home"));
}

// ---- transfer --------------------------------------------------------------------------------

async fn dispatch(
    store: &dyn Store,
    p: &Arc<Profile>,
    orders: &[i64],
    site: i64,
    seats: u32,
    when: DateTime<Utc>,
) -> Answer<cordon_domain::containment::transfer::TransferRun> {
    let req = DispatchRequest { order_ids: orders.to_vec(), vehicle: vehicle(seats), site_id: site };
    store.dispatch(req, act(p, when, "dispatcher", "transfer.dispatch")).await.unwrap()
}

async fn pickup(
    store: &dyn Store,
    p: &Arc<Profile>,
    run: i64,
    who: PickupWho,
    key: &str,
    when: DateTime<Utc>,
) -> Answer<PickupOutcome> {
    store.confirm_pickup(run, who, key.into(), act(p, when, "王师傅", "transfer.pickup")).await.unwrap()
}

async fn arrive(
    store: &dyn Store,
    p: &Arc<Profile>,
    run: i64,
    key: &str,
    when: DateTime<Utc>,
) -> Answer<ArrivalOutcome> {
    store.confirm_arrival(run, key.into(), act(p, when, "王师傅", "transfer.arrive")).await.unwrap()
}

/// Dispatches, picks up and brings in `orders` (residents) at `site` on day `n`.
async fn bring_in(
    store: &dyn Store,
    p: &Arc<Profile>,
    orders: &[Order],
    site: i64,
    n: u32,
) -> Vec<cordon_domain::containment::assign::Placement> {
    let run = dispatch(store, p, &ids(orders), site, 10, at(n, 10, 0)).await.unwrap();
    for o in orders {
        let who = PickupWho::Resident(o.person.resident_id.unwrap());
        pickup(store, p, run.id, who, &format!("p-{}", o.id), at(n, 10, 30)).await.unwrap();
    }
    arrive(store, p, run.id, &format!("a-{}", run.id), at(n, 11, 0)).await.unwrap().placements
}

pub async fn containment_transfer_lifecycle(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let family = hh.iter().find(|h| h.len() >= 2).unwrap().clone();
    let alone = hh.iter().find(|h| h[0].household_id != family[0].household_id).unwrap()[0].clone();
    let s = site(
        store,
        &p9,
        "一号",
        SiteKind::Hotel,
        &[Category::CloseContact],
        &[(1, family.len() as u32), (1, 1), (2, 2)],
    )
    .await;
    let mut people: Vec<(&Resident, i64, ContactClass)> =
        family.iter().enumerate().map(|(i, r)| (r, 10 + i as i64, ContactClass::Close)).collect();
    people.push((&alone, 30, ContactClass::Close));
    let orders = queue_and_order(store, &p9, &people, at(0, 20, 0), at(1, 9, 0)).await;
    let board = store.dispatch_board(&view(&p9, at(1, 9, 30))).await.unwrap();
    assert_eq!(ids(&board.waiting), ids(&orders));

    let run = dispatch(store, &p9, &ids(&orders), s, 7, at(1, 10, 0)).await.unwrap();
    assert!(run.id > 0);
    assert_eq!((run.state, run.vehicle.plate.as_str(), run.site_id), (RunState::Dispatched, "晋K12345", s));
    for o in &orders {
        let o = order(store, o.id).await;
        assert_eq!(
            (o.transfer, o.run_id, o.site_id, o.state),
            (Some(TransferState::Dispatched), Some(run.id), Some(s), OrderState::Ordered)
        );
    }
    // No person in two vehicles.
    let e = dispatch(store, &p9, &[orders[0].id], s, 7, at(1, 10, 1)).await.unwrap_err();
    assert_eq!((e.about, e.error.code), (Some(orders[0].id), "transfer_not_requested"));
    let runs = store.driver_runs(31).await.unwrap();
    assert_eq!((runs.len(), runs[0].members.len()), (1, orders.len()));
    assert!(store.dispatch_board(&view(&p9, at(1, 10, 2))).await.unwrap().waiting.is_empty());

    // Pickups at the door: by code (resident), by ID number; retries change nothing.
    let first = pickup(store, &p9, run.id, PickupWho::Resident(family[0].id), "k1", at(1, 10, 30)).await.unwrap();
    assert_eq!(
        (first.replayed, first.remaining, first.masked_name.clone()),
        (false, orders.len() as u32 - 1, family[0].name.masked())
    );
    let audit_before = audit_count(store).await;
    let retry = pickup(store, &p9, run.id, PickupWho::Resident(family[0].id), "k1", at(1, 10, 31)).await.unwrap();
    assert!(retry.replayed && retry.order_id == first.order_id);
    let twice = pickup(store, &p9, run.id, PickupWho::IdNumber(family[0].id_number.clone()), "k2", at(1, 10, 32))
        .await
        .unwrap();
    assert!(twice.replayed);
    assert_eq!(audit_count(store).await, audit_before);
    let o = order(store, first.order_id).await;
    assert_eq!(
        (o.state, o.transfer, o.picked_up_at, o.picked_up_by.as_deref()),
        (OrderState::InTransfer, Some(TransferState::PickedUp), Some(at(1, 10, 30)), Some("王师傅"))
    );
    // Someone not on this transfer.
    let outsider =
        hh.iter().find(|h| h[0].household_id != family[0].household_id && h[0].id != alone.id).unwrap()[0].clone();
    let e = pickup(store, &p9, run.id, PickupWho::Resident(outsider.id), "k5", at(1, 10, 33)).await.unwrap_err();
    assert_eq!((e.error.code, e.error.field), ("not_on_transfer", "person"));
    let e = pickup(store, &p9, 987_654, PickupWho::Resident(outsider.id), "k6", at(1, 10, 33)).await.unwrap_err();
    assert_eq!(e.error.code, "run_unknown");
    for (i, r) in family.iter().enumerate().skip(1) {
        pickup(store, &p9, run.id, PickupWho::IdNumber(r.id_number.clone()), &format!("f{i}"), at(1, 10, 35))
            .await
            .unwrap();
    }
    let last = pickup(store, &p9, run.id, PickupWho::Resident(alone.id), "k4", at(1, 10, 40)).await.unwrap();
    assert_eq!(last.remaining, 0);
    // Picked up and not arrived past the profile's 120 minutes: an alert.
    assert!(store.dispatch_board(&view(&p9, at(1, 12, 30))).await.unwrap().overdue.is_empty());
    let late = store.dispatch_board(&view(&p9, at(1, 12, 41))).await.unwrap();
    assert_eq!(late.overdue.len(), orders.len());

    // Arrival: the family in one room, the other person in a room of their own.
    let arrived = arrive(store, &p9, run.id, "a1", at(1, 11, 0)).await.unwrap();
    assert!(!arrived.replayed);
    assert_eq!(arrived.placements.len(), orders.len());
    let room_of: BTreeMap<i64, i64> = arrived.placements.iter().map(|p| (p.order_id, p.room_id)).collect();
    let family_rooms: BTreeSet<i64> =
        orders.iter().filter(|o| o.contact_id != Some(30)).map(|o| room_of[&o.id]).collect();
    assert_eq!(family_rooms.len(), 1);
    let alone_order = orders.iter().find(|o| o.contact_id == Some(30)).unwrap();
    assert!(!family_rooms.contains(&room_of[&alone_order.id]));
    for o in &orders {
        let o = order(store, o.id).await;
        assert_eq!(
            (o.state, o.transfer, o.in_quarantine_at, o.arrived_by.as_deref()),
            (OrderState::InQuarantine, Some(TransferState::Arrived), Some(at(1, 11, 0)), Some("王师傅"))
        );
        assert_eq!((o.site_id, o.room_id), (Some(s), Some(room_of[&o.id])));
    }
    let q = store.isolation_queue(QueueQuery::Contacts(vec![10, 30])).await.unwrap();
    assert!(q.iter().all(|e| e.status == QueueStatus::UnderQuarantine));
    let runs = store.runs(RunQuery::Ids(vec![run.id])).await.unwrap();
    assert_eq!((runs[0].run.state, runs[0].run.completed_at), (RunState::Completed, Some(at(1, 11, 0))));
    assert!(store.driver_runs(31).await.unwrap().is_empty());
    let audit_before = audit_count(store).await;
    let replay = arrive(store, &p9, run.id, "a1", at(1, 11, 5)).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.placements, arrived.placements);
    assert_eq!(audit_count(store).await, audit_before);
    assert_eq!(arrive(store, &p9, run.id, "a2", at(1, 11, 6)).await.unwrap_err().error.code, "run_closed");
    assert_eq!(audited(store, "transfer.pickup").await, orders.len());
    assert_eq!(audited(store, "room.assign").await, orders.len());
    let rooms = store.rooms_of(s).await.unwrap();
    assert_eq!(rooms.iter().map(|r| r.occupants.len()).sum::<usize>(), orders.len());
}

pub async fn containment_transfer_bad_input(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let singles: Vec<Resident> = hh.iter().take(5).map(|h| h[0].clone()).collect();
    let s = site(store, &p9, "一号", SiteKind::Hotel, &[Category::CloseContact, Category::Arrival], &[(1, 1)]).await;
    let people: Vec<(&Resident, i64, ContactClass)> =
        singles.iter().take(4).enumerate().map(|(i, r)| (r, 40 + i as i64, ContactClass::Close)).collect();
    let orders = queue_and_order(store, &p9, &people, at(0, 20, 0), at(1, 9, 0)).await;
    let arrival = store
        .issue_orders(
            vec![OrderRequest::Arrival {
                resident_id: Some(singles[4].id),
                person: None,
                last_exposure: at(1, 6, 0),
                reason: "返回".into(),
            }],
            act(&p9, at(1, 9, 0), "cmd", "orders.issue"),
        )
        .await
        .unwrap()
        .unwrap()
        .remove(0);
    let home = queue_and_order(store, &p9, &[(&hh[5][0], 60, ContactClass::Secondary)], at(0, 20, 0), at(1, 9, 0))
        .await
        .remove(0);
    let before = audit_count(store).await;
    // Four households in one vehicle (the profile allows three), more people than seats,
    // categories mixed, a person in home quarantine, an unknown site: all refused.
    assert_eq!(code_of_(dispatch(store, &p9, &ids(&orders), s, 7, at(1, 10, 0)).await), "vehicle_households");
    assert_eq!(code_of_(dispatch(store, &p9, &ids(&orders[..3]), s, 2, at(1, 10, 0)).await), "seats_exceeded");
    assert_eq!(
        code_of_(dispatch(store, &p9, &[orders[0].id, arrival.id], s, 7, at(1, 10, 0)).await),
        "vehicle_categories"
    );
    assert_eq!(code_of_(dispatch(store, &p9, &[home.id], s, 7, at(1, 10, 0)).await), "transfer_home");
    assert_eq!(code_of_(dispatch(store, &p9, &[orders[0].id], 987_654, 7, at(1, 10, 0)).await), "site_unknown");
    assert_eq!(code_of_(dispatch(store, &p9, &[orders[0].id, orders[0].id], s, 7, at(1, 10, 0)).await), "person_twice");
    assert_eq!(code_of_(dispatch(store, &p9, &[], s, 7, at(1, 10, 0)).await), "dispatch_empty");
    assert_eq!(audit_count(store).await, before);
    assert!(store.runs(RunQuery::Open).await.unwrap().is_empty());

    // Nobody picked up yet: no arrival.
    let run = dispatch(store, &p9, &ids(&orders[..2]), s, 7, at(1, 10, 0)).await.unwrap();
    assert_eq!(code_of_(arrive(store, &p9, run.id, "x1", at(1, 10, 5)).await), "not_picked_up");
    // Arriving at a site that is full (one bed for two): refused, nothing written.
    for o in &orders[..2] {
        pickup(
            store,
            &p9,
            run.id,
            PickupWho::Resident(o.person.resident_id.unwrap()),
            &format!("p{}", o.id),
            at(1, 10, 30),
        )
        .await
        .unwrap();
    }
    let before = audit_count(store).await;
    let e = arrive(store, &p9, run.id, "x2", at(1, 11, 0)).await.unwrap_err();
    assert_eq!(e.error.code, "site_full");
    assert!(e.about.is_some());
    assert_eq!(audit_count(store).await, before);
    for o in &orders[..2] {
        let o = order(store, o.id).await;
        assert_eq!((o.transfer, o.room_id), (Some(TransferState::PickedUp), None));
    }
    assert!(store.rooms_of(s).await.unwrap().iter().all(|r| r.occupants.is_empty()));
    // The same key again after the refusal is not a replay: nothing was recorded.
    assert_eq!(code_of_(arrive(store, &p9, run.id, "x2", at(1, 11, 1)).await), "site_full");

    // Taking someone off a run before pickup puts them back in the queue; a run left with
    // nobody to carry completes.
    let run2 = dispatch(store, &p9, &[orders[2].id], s, 7, at(1, 12, 0)).await.unwrap();
    let e = store
        .undispatch(run2.id, vec![orders[0].id], act(&p9, at(1, 12, 1), "dispatcher", "transfer.undispatch"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.error.code, "not_on_transfer");
    let r = store
        .undispatch(run2.id, vec![orders[2].id], act(&p9, at(1, 12, 2), "dispatcher", "transfer.undispatch"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.state, RunState::Completed);
    let o = order(store, orders[2].id).await;
    assert_eq!((o.transfer, o.run_id, o.site_id), (Some(TransferState::Requested), None, None));
    let e = store
        .undispatch(run.id, vec![orders[0].id], act(&p9, at(1, 12, 3), "dispatcher", "transfer.undispatch"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.error.code, "order_state", "picked up: not taken off");
    // Cancelling an order waiting for transfer.
    let c = store.cancel_order(orders[3].id, act(&p9, at(1, 12, 4), "cmd", "order.cancel")).await.unwrap().unwrap();
    assert_eq!((c.state, c.transfer), (OrderState::Cancelled, Some(TransferState::Cancelled)));
    let e = store.cancel_order(orders[0].id, act(&p9, at(1, 12, 5), "cmd", "order.cancel")).await.unwrap().unwrap_err();
    assert_eq!(e.error.code, "order_state");
    let q = store.isolation_queue(QueueQuery::Contacts(vec![43])).await.unwrap();
    assert_eq!(q[0].status, QueueStatus::Cancelled);
}

// ---- tests, release, home monitoring -------------------------------------------------------

fn code_of_<T: std::fmt::Debug>(r: Answer<T>) -> &'static str {
    r.unwrap_err().error.code
}

fn negative(r: &Resident, n: u32) -> PersonResult {
    PersonResult {
        resident_id: r.id,
        sampled_at: at(n, 8, 0),
        result: TestResult::Negative,
        pooled: false,
        result_at: at(n, 18, 0),
    }
}

pub async fn containment_results_release_and_home_monitoring(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let (a, b) = (hh[0][0].clone(), hh[1][0].clone());
    let s = site(store, &p9, "一号", SiteKind::Hotel, &[Category::CloseContact], &[(1, 1), (1, 1)]).await;
    let orders = queue_and_order(
        store,
        &p9,
        &[(&a, 1, ContactClass::Close), (&b, 2, ContactClass::Close)],
        at(0, 20, 0),
        at(1, 9, 0),
    )
    .await;
    let placements = bring_in(store, &p9, &orders, s, 1).await;
    let (oa, ob) = (orders[0].id, orders[1].id);
    let room_a = placements.iter().find(|p| p.order_id == oa).unwrap().room_id;

    // Days 1, 2, 3, 5 negative for a; day 1 positive for b.
    let rs = vec![negative(&a, 1), negative(&a, 2), negative(&a, 3), negative(&a, 5), negative(&b, 2)];
    assert_eq!(store.record_order_results(rs, act(&p9, at(5, 18, 0), "lab", "results")).await.unwrap(), 5);
    let pos = PersonResult { result: TestResult::Positive, ..negative(&b, 1) };
    assert_eq!(store.record_order_results(vec![pos], act(&p9, at(5, 18, 1), "lab", "results")).await.unwrap(), 1);
    // People under no order: nothing.
    let nobody = hh[2][0].clone();
    assert_eq!(
        store.record_order_results(vec![negative(&nobody, 1)], act(&p9, at(5, 18, 2), "lab", "results")).await.unwrap(),
        0
    );
    let detail = store.order_detail(oa, &view(&p9, at(6, 9, 0))).await.unwrap().unwrap();
    let status: Vec<(u32, TestStatus)> = detail.tests.iter().map(|t| (t.day, t.status)).collect();
    assert_eq!(
        status,
        vec![
            (1, TestStatus::Negative),
            (2, TestStatus::Negative),
            (3, TestStatus::Negative),
            (5, TestStatus::Negative),
            (7, TestStatus::Scheduled),
            (10, TestStatus::Scheduled)
        ]
    );
    assert_eq!(detail.room.as_ref().map(|r| r.id), Some(room_a));
    assert_eq!(detail.site.as_ref().map(|s| s.site.name.as_str()), Some("一号"));

    // Release refused: too early, then day 7 missing, nothing written.
    let release = |id, n: u32, h: u32| store.release_order(id, act(&p9, at(n, h, 0), "manager", "order.release"));
    let before = audit_count(store).await;
    assert_eq!(release(oa, 7, 20).await.unwrap().unwrap_err().error.code, "release_early");
    let e = release(oa, 8, 9).await.unwrap().unwrap_err();
    assert_eq!((e.about, e.error.code, e.error.field), (Some(oa), "release_test_missing", "tests"));
    assert!(e.error.zh.contains("第7天"));
    assert_eq!(release(ob, 8, 9).await.unwrap().unwrap_err().error.code, "release_test_positive");
    assert_eq!(audit_count(store).await, before);
    assert_eq!(order(store, oa).await.state, OrderState::InQuarantine);
    let board = store.site_board(s, &view(&p9, at(8, 9, 0))).await.unwrap().unwrap();
    assert_eq!(board.releases_due.len(), 2);
    assert!(board.releases_due.iter().all(|l| l.ready.is_err()));
    assert_eq!(board.tests_due.iter().filter(|(o, t)| o.id == oa && t.day == 7).count(), 1);

    // Day 7's single tube through the lab, handed over as mass testing's results are.
    let round = new_round(store, &a.unit, day(7), 1).await;
    let tubes = tested(store, round, &[&a], 1, 500, TestResult::Negative, at(7, 9, 0)).await;
    // The lab's results reached the order inside their own transaction: handing the same
    // tubes over again changes nothing.
    assert_eq!(store.record_tube_results(tubes, act(&p9, at(7, 19, 0), "lab", "results")).await.unwrap(), 0);
    let board = store.site_board(s, &view(&p9, at(8, 9, 0))).await.unwrap().unwrap();
    let line = board.releases_due.iter().find(|l| l.order.id == oa).unwrap();
    assert_eq!(line.ready, Ok(OrderState::HomeMonitoring));

    // Released into home monitoring: the room is to be cleaned, the queue follows.
    let released = release(oa, 8, 9).await.unwrap().unwrap();
    assert_eq!(
        (released.state, released.room_id, released.released_at),
        (OrderState::HomeMonitoring, None, Some(at(8, 9, 0)))
    );
    let board = store.site_board(s, &view(&p9, at(8, 10, 0))).await.unwrap().unwrap();
    assert_eq!(board.rooms_to_clean.iter().map(|r| r.id).collect::<Vec<_>>(), vec![room_a]);
    assert_eq!(board.people.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ob]);
    let q = store.isolation_queue(QueueQuery::Contacts(vec![1])).await.unwrap();
    assert_eq!(q[0].status, QueueStatus::HomeMonitoring);

    // Home monitoring: health checks by the community worker, the day-3 test at the door.
    let check = |id, t: &str, n: u32, h: u32| {
        let c = cordon_domain::containment::quarantine::NewHealthCheck::new(
            id,
            cordon_domain::containment::quarantine::parse_temperature(t).unwrap(),
            &[],
            "",
            &p9,
            Some(4),
            "社区网格员",
            at(n, h, 0),
        )
        .unwrap();
        store.record_health_check(c, act(&p9, at(n, h, 0), "社区网格员", "health.check"))
    };
    let hc = check(oa, "36.6", 10, 8).await.unwrap().unwrap();
    assert!(hc.id > 0 && !hc.check.alarm);
    assert!(check(oa, "37.5", 10, 16).await.unwrap().unwrap().check.alarm);
    let home = store.home_list(std::slice::from_ref(&building), &view(&p9, at(10, 18, 0))).await.unwrap();
    assert_eq!(home.len(), 1);
    let line = &home[0];
    assert_eq!((line.order.id, line.checks_today, line.checks_expected), (oa, 2, 2));
    assert_eq!(line.tests_due.iter().map(|t| (t.day, t.phase)).collect::<Vec<_>>(), vec![(10, Phase::Home)]);
    assert_eq!(line.last_check.as_ref().map(|c| c.check.temperature.tenths()), Some(375));
    assert_eq!(line.release.as_ref().unwrap_err().code, "release_early");
    assert_eq!(release(oa, 11, 9).await.unwrap().unwrap_err().error.code, "release_test_missing");
    store.record_order_results(vec![negative(&a, 10)], act(&p9, at(10, 18, 0), "lab", "results")).await.unwrap();
    let closed = release(oa, 11, 9).await.unwrap().unwrap();
    assert_eq!(
        (closed.state, closed.closed_at, closed.closed_by.as_deref()),
        (OrderState::Closed, Some(at(11, 9, 0)), Some("manager"))
    );
    assert_eq!(closed.colour_quarantine(), None);
    assert_eq!(store.isolation_queue(QueueQuery::Contacts(vec![1])).await.unwrap()[0].status, QueueStatus::Released);
    assert_eq!(check(oa, "36.6", 11, 10).await.unwrap().unwrap_err().error.code, "order_closed");
    let unknown = check(987_654, "36.6", 11, 10).await.unwrap().unwrap_err();
    assert_eq!(unknown.error.code, "order_unknown");
    assert!(store.home_list(std::slice::from_ref(&building), &view(&p9, at(11, 10, 0))).await.unwrap().is_empty());
    assert_eq!(audited(store, "order.release").await, 2);
    assert_eq!(audited(store, "health.check").await, 2);
    let detail = store.order_detail(oa, &view(&p9, at(11, 10, 0))).await.unwrap().unwrap();
    assert_eq!(detail.checks.len(), 2);
}

pub async fn containment_case_found_in_quarantine(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let (a, b) = (hh[0][0].clone(), hh[1][0].clone());
    let s = site(store, &p9, "一号", SiteKind::Hotel, &[Category::CloseContact], &[(1, 1), (1, 1)]).await;
    let orders = queue_and_order(
        store,
        &p9,
        &[(&a, 1, ContactClass::Close), (&b, 2, ContactClass::Close)],
        at(0, 20, 0),
        at(1, 9, 0),
    )
    .await;
    let placements = bring_in(store, &p9, &orders[..1], s, 1).await;
    // a tests positive at the site; b (waiting for transfer) too.
    make_case(store, &a, at(3, 9, 0), 700).await;
    make_case(store, &b, at(3, 9, 30), 701).await;
    let rep = store.sweep_cases(act(&p9, at(3, 10, 0), "zone-clock", "cases.sweep")).await.unwrap();
    assert_eq!((rep.cases, rep.found_in_quarantine), (2, 2));
    let oa = order(store, orders[0].id).await;
    assert_eq!((oa.state, oa.case_at, oa.room_id), (OrderState::BecameCase, Some(at(3, 9, 0)), None));
    let ob = order(store, orders[1].id).await;
    assert_eq!((ob.state, ob.transfer), (OrderState::BecameCase, Some(TransferState::Cancelled)));
    let rooms = store.rooms_of(s).await.unwrap();
    let room = rooms.iter().find(|r| r.room.id == placements[0].room_id).unwrap();
    assert_eq!((room.room.state, room.occupants.len()), (RoomState::Cleaning, 0));
    let q = store.isolation_queue(QueueQuery::Contacts(vec![1, 2])).await.unwrap();
    assert!(q.iter().all(|e| e.status == QueueStatus::BecameCase));
    let k = store.containment_kpis(&[d_root()], &view(&p9, at(3, 11, 0))).await.unwrap();
    assert_eq!(k.held.cases_found, 2);
    // A second sweep takes nothing again.
    assert_eq!(store.sweep_cases(act(&p9, at(3, 10, 5), "zone-clock", "cases.sweep")).await.unwrap().cases, 0);
}

// ---- boards, KPIs, capacity, the job -----------------------------------------------------------

pub async fn containment_boards_kpis_and_capacity(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let hh = households(&d, &building);
    let s = site(store, &p9, "一号", SiteKind::Hotel, &[Category::CloseContact], &[(1, 1), (1, 1), (2, 2)]).await;
    // Three close contacts identified at 22:00 on day 0 (exposure 20:00), ordered at
    // 23:00: 60 minutes each. Two arrive on day 1 at 11:00 (13 h after identification),
    // one waits. One secondary contact at home.
    let people: Vec<(&Resident, i64, ContactClass)> =
        (0..3).map(|i| (&hh[i][0], 1 + i as i64, ContactClass::Close)).collect();
    let orders = queue_and_order(store, &p9, &people, at(0, 20, 0), at(0, 23, 0)).await;
    bring_in(store, &p9, &orders[..2], s, 1).await;
    queue_and_order(store, &p9, &[(&hh[3][0], 4, ContactClass::Secondary)], at(0, 20, 0), at(0, 23, 0)).await;
    // One contact still waiting in the queue, and a high zone.
    store
        .enqueue_isolation(
            vec![candidate(&hh[4][0], 5, ContactClass::Close, at(0, 20, 0))],
            act(&p9, at(1, 8, 0), "tracer", "contacts.enqueue"),
        )
        .await
        .unwrap()
        .unwrap();
    let z = NewZone::new(building.clone(), ZoneLevel::High, "划定", at(0, 9, 0), "cmd", at(0, 9, 0)).unwrap();
    store.order_zone(z, act(&p9, at(0, 9, 0), "cmd", "zone.order")).await.unwrap().unwrap();

    let k = store.containment_kpis(&[d_root()], &view(&p9, at(1, 23, 0))).await.unwrap();
    assert_eq!(k.times.identified_to_order, Some(60.0));
    assert_eq!(k.times.order_to_pickup, Some(11.0 * 60.0 + 30.0));
    assert_eq!(k.times.pickup_to_arrival, Some(30.0));
    // In quarantine: 13 h, 13 h and 1 h (home); the waiting one is 25 h past identification.
    assert_eq!((k.times.due, k.times.within, k.times.share_within), (4, 3, Some(0.75)));
    let cc = k.held.by_category.iter().find(|c| c.category == Category::CloseContact).unwrap();
    assert_eq!((cc.to_transfer, cc.centralised), (1, 2));
    let sc = k.held.by_category.iter().find(|c| c.category == Category::SecondaryContact).unwrap();
    assert_eq!(sc.home, 1);
    assert_eq!((k.occupancy.beds, k.occupancy.occupied, k.occupancy.free), (4, 2, 2));
    assert_eq!(k.zones[0], (ZoneLevel::High, 1));
    assert_eq!((k.queue_waiting, k.overdue_transfers), (1, 0));
    // Under another street nothing of this is seen (people on the register are scoped).
    let other_street =
        d.level(AreaLevel::Street).into_iter().find(|s| !s.code.contains(&building)).unwrap().code.clone();
    let k = store.containment_kpis(&[other_street], &view(&p9, at(1, 23, 0))).await.unwrap();
    assert_eq!((k.times.due, k.queue_waiting, k.zones[0].1), (0, 0, 0));

    // Capacity: two in until day 8 (release after day 7), one ordered and one queued
    // close contact from today, against 4 beds.
    let cap = store.capacity_forecast(&[], 9, &view(&p9, at(1, 12, 0))).await.unwrap();
    assert_eq!(cap[0].date, day(1));
    assert_eq!(cap.iter().map(|c| c.occupied).collect::<Vec<_>>(), vec![4, 4, 4, 4, 4, 4, 4, 0, 0]);
    assert_eq!((cap[0].beds, cap[0].free, cap[7].leaving), (4, 0, 4));
    let here = store.capacity_forecast(&[s], 3, &view(&p9, at(1, 12, 0))).await.unwrap();
    assert_eq!(here[0].occupied, 2, "the two at the site; the one waiting has no site yet");
    let board = store.site_board(s, &view(&p9, at(1, 12, 0))).await.unwrap().unwrap();
    assert_eq!(
        board.floors.iter().map(|f| (f.floor, f.occupancy.beds, f.occupancy.occupied)).collect::<Vec<_>>(),
        vec![(1, 2, 2), (2, 2, 0)]
    );
    assert_eq!((board.occupancy.occupied, board.people.len(), board.arrivals_due.len()), (2, 2, 0));
    assert!(store.site_board(987_654, &view(&p9, at(1, 12, 0))).await.unwrap().is_none());
}

pub async fn containment_job_tick(store: &dyn Store) {
    let d = load_district(store).await;
    let (building, _) = busy_building(&d);
    let r = households(&d, &building)[0][0].clone();
    make_case(store, &r, at(0, 15, 0), 1).await;
    // The first tick takes the case and runs the day that is due (day 3 at 00:05).
    let rep = job::tick(store, at(3, 0, 5), &DistrictTz::default()).await.unwrap();
    assert_eq!(rep.sweeps[0].cases, 1);
    assert_eq!(rep.days.iter().map(|d| (d.date, d.applied)).collect::<Vec<_>>(), vec![(day(3), true)]);
    assert_eq!(store.zone_proposals(&[d_root()], true, 10).await.unwrap().len(), 2);
    // Again the same day: nothing to do.
    let rep = job::tick(store, at(3, 12, 0), &DistrictTz::default()).await.unwrap();
    assert!(rep.days.is_empty() && rep.sweeps[0].cases == 0);
    // Days 4 and 5 were missed: both run, in order.
    let rep = job::tick(store, at(5, 0, 1), &DistrictTz::default()).await.unwrap();
    assert_eq!(rep.days.iter().map(|d| d.date).collect::<Vec<_>>(), vec![day(4), day(5)]);
    let runs = store.zone_runs(10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| (r.date, r.by.as_str())).collect::<Vec<_>>(),
        vec![(day(5), "zone-clock"), (day(4), "zone-clock"), (day(3), "zone-clock")]
    );
    assert_eq!(audited(store, "zones.clock").await, 3);
}

/// Two dispatchers order the same person at the same moment (a queued contact, and an
/// arrival the commander adds): one order exists afterwards; the other answer is a
/// refusal or a conflict with the same code, never a second order.
pub async fn containment_concurrent_orders_for_one_person(store: &dyn Store) {
    let d = load_district(store).await;
    let p9 = profile("protocol-9");
    let (building, _) = busy_building(&d);
    let (a, b) = (households(&d, &building)[0][0].clone(), households(&d, &building)[1][0].clone());
    let cand = candidate(&a, 1, ContactClass::Close, at(0, 20, 0));
    store.enqueue_isolation(vec![cand], act(&p9, at(1, 8, 0), "tracer", "contacts.enqueue")).await.unwrap().unwrap();
    let contact = || vec![OrderRequest::Contact { contact_id: 1 }];
    let (x, y) = tokio::join!(
        store.issue_orders(contact(), act(&p9, at(1, 9, 0), "one", "orders.issue")),
        store.issue_orders(contact(), act(&p9, at(1, 9, 0), "two", "orders.issue")),
    );
    let code = |r: crate::Result<Answer<Vec<Order>>>| match r {
        Ok(Ok(_)) => "ok",
        Ok(Err(refused)) => refused.error.code,
        Err(e) => e.code(),
    };
    let mut codes = vec![code(x), code(y)];
    codes.sort_unstable();
    assert_eq!(codes, vec!["contact_ordered", "ok"]);
    let arrival = || {
        vec![OrderRequest::Arrival {
            resident_id: Some(b.id),
            person: None,
            last_exposure: at(1, 6, 0),
            reason: "返回".into(),
        }]
    };
    let (x, y) = tokio::join!(
        store.issue_orders(arrival(), act(&p9, at(1, 9, 1), "one", "orders.issue")),
        store.issue_orders(arrival(), act(&p9, at(1, 9, 1), "two", "orders.issue")),
    );
    let mut codes = vec![code(x), code(y)];
    codes.sort_unstable();
    assert_eq!(codes, vec!["ok", "order_open"]);
    let orders =
        store.orders(OrderQuery { resident_ids: Some(vec![a.id, b.id]), ..OrderQuery::default() }).await.unwrap();
    assert_eq!(orders.len(), 2, "one order each");
}
