//! Conformance cases of [`crate::TestingStore`]: what every backend must do with rounds,
//! tubes, scans, results, coverage and door-knocking. Expected values come from the
//! generated district by brute force, never from a backend's output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Store;
use crate::conformance::{audit_entry, code, load_district, t};
use crate::testing::*;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{
    BarcodePattern, DoorOutcome, ExemptionReason, NewRound, NewSite, PoolCapacity, TestResult, TubeBarcode, TubeState,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Runs every testing conformance case as its own `#[tokio::test]`; `$make` as for
/// [`crate::conformance_tests!`].
#[macro_export]
macro_rules! testing_conformance_tests {
    ($make:path) => {
        $crate::testing_conformance_tests!(@cases $make;
            testing_rounds_and_sites,
            testing_ingest_rules_and_idempotence,
            testing_undo_across_batches,
            testing_resample_after_positive_pool,
            testing_sampler_sees_only_their_area,
            testing_ingest_sees_registry_changes,
            testing_coverage_matches_brute_force,
            testing_results_and_chase,
            testing_door_knocking_and_exemptions,
            testing_door_tasks_assigned,
            testing_door_sampled_at_door_seals_single_tubes,
            testing_door_refusals_write_nothing,
            testing_door_wrong_data_corrects_the_roster,
            testing_door_moved_out_after_sampling_keeps_coverage,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_testing::$case(&*store).await;
            }
        )*
    };
}

pub fn tube(n: u32) -> TubeBarcode {
    BarcodePattern::default().parse(&format!("TB{n:010}")).unwrap()
}

async fn new_round(store: &dyn Store, area: &AreaCode, pool: u32) -> i64 {
    let r = NewRound {
        area: area.clone(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        mandatory: true,
        pool: PoolCapacity::new(pool).unwrap(),
    };
    store.create_round(&r, &audit_entry(1, "cmd", "round.create", "round", "new")).await.unwrap().id
}

fn sample(cid: &str, tb: &TubeBarcode, r: &Resident, s: i64) -> ScanItem {
    ScanItem::Sample {
        client_id: cid.into(),
        tube: tb.clone(),
        person: ScanPerson::IdNumber(r.id_number.clone()),
        at: t(s),
    }
}

async fn ingest(store: &dyn Store, round: i64, batch: &str, items: Vec<ScanItem>) -> BatchReport {
    let b = ScanBatch { batch_id: batch.into(), round_id: round, user_id: 7, scope: None, items };
    store.ingest_scans(b, &audit_entry(2, "sampler", "scans.ingest", "round", &round.to_string())).await.unwrap()
}

fn active(rs: &[Resident]) -> Vec<&Resident> {
    rs.iter().filter(|r| r.status == ResidentStatus::Active).collect()
}

pub async fn testing_rounds_and_sites(store: &dyn Store) {
    let d = load_district(store).await;
    let id = new_round(store, &d.district(), 10).await;
    let r = store.round(id).await.unwrap().unwrap();
    assert_eq!((r.area.clone(), r.pool.get(), r.mandatory), (d.district(), 10, true));
    let id2 = new_round(store, &d.district(), 20).await;
    assert_eq!(store.rounds(10).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![id2, id]);
    assert_eq!(store.round(id2 + 100).await.unwrap(), None);

    let communities = d.level(AreaLevel::Community);
    let site = store
        .create_site(
            &NewSite {
                name: "一号检测点".into(),
                address: "社区广场".into(),
                hours: "07:00-11:30".into(),
                areas: vec![communities[0].code.clone()],
            },
            &audit_entry(3, "cmd", "site.create", "site", "new"),
        )
        .await
        .unwrap();
    assert_eq!(site.areas, vec![communities[0].code.clone()]);
    let building = d.level(AreaLevel::Building).into_iter().find(|b| communities[0].code.contains(&b.code)).unwrap();
    // Found from below (a building of the community) and from above (the district).
    assert_eq!(store.sites(&building.code).await.unwrap(), vec![site.clone()]);
    assert_eq!(store.sites(&d.district()).await.unwrap(), vec![site.clone()]);
    assert!(store.sites(&communities[1].code).await.unwrap().is_empty());
}

pub async fn testing_ingest_rules_and_idempotence(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 5).await;
    let other = new_round(store, &d.district(), 5).await;
    let people = active(&d.residents);
    let (t1, t2, t3) = (tube(1), tube(2), tube(3));

    // Five people fill a 5-tube, which seals itself; the sixth is refused.
    let mut items: Vec<ScanItem> = (0..6).map(|i| sample(&format!("c{i}"), &t1, people[i], i as i64)).collect();
    items.insert(
        0,
        ScanItem::Open {
            client_id: "open".into(),
            tube: t1.clone(),
            capacity: PoolCapacity::new(5).unwrap(),
            at: t(0),
        },
    );
    let rep = ingest(store, round, "batch-1", items.clone()).await;
    assert!(!rep.replayed);
    assert_eq!(rep.accepted, 5);
    let codes: Vec<&str> = rep.outcomes.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec!["ok", "ok", "ok", "ok", "ok", "ok", "tube_not_open"]);
    assert_eq!(rep.outcomes[5].count, 5);
    assert!(rep.outcomes[5].sealed);
    assert_eq!(rep.outcomes[1].masked_name.as_deref(), Some(people[0].name.masked().as_str()));
    assert_eq!(rep.outcomes[1].resident_id, Some(people[0].id));
    let tb = store.tube(&t1).await.unwrap().unwrap();
    assert_eq!((tb.state, tb.count, tb.capacity.get(), tb.round_id), (TubeState::Sealed, 5, 5, round));
    assert!(tb.sealed_at.is_some() && tb.sealed_by == Some(7));
    assert_eq!(store.tube_members(tb.id).await.unwrap().len(), 5);

    // The same batch again: nothing changes, counted once.
    let again = ingest(store, round, "batch-1", items.clone()).await;
    assert!(again.replayed);
    assert_eq!(again.accepted, 5);
    assert_eq!(store.tube(&t1).await.unwrap().unwrap().count, 5);
    let cov = store.coverage(round, &d.district()).await.unwrap();
    assert_eq!(cov.sampled, 5);

    // The same entries in a new batch (a device that lost the first answer): replayed, no
    // duplicates.
    let resend = ingest(store, round, "batch-1b", items[1..6].to_vec()).await;
    assert_eq!(resend.accepted, 0);
    assert!(resend.outcomes.iter().all(|o| o.code == "replayed"), "{:?}", resend.outcomes);

    // Duplicates, strangers, visitors, other rounds, undo.
    let stranger = crate::conformance::fresh_id_number(1);
    let rep = ingest(
        store,
        round,
        "batch-2",
        vec![
            sample("d0", &t2, people[0], 10), // sampled before, into t1
            sample("d1", &t2, people[6], 11),
            ScanItem::Sample {
                client_id: "s".into(),
                tube: t2.clone(),
                person: ScanPerson::IdNumber(stranger.clone()),
                at: t(12),
            },
            ScanItem::Sample {
                client_id: "v".into(),
                tube: t2.clone(),
                person: ScanPerson::Visitor { id_number: stranger.clone(), phone: None },
                at: t(13),
            },
            sample("d2", &t2, people[7], 14),
            ScanItem::Undo { client_id: "u".into(), tube: t2.clone(), resident_id: people[7].id, at: t(15) },
            ScanItem::Undo { client_id: "u2".into(), tube: t2.clone(), resident_id: people[8].id, at: t(16) },
            ScanItem::Seal { client_id: "seal".into(), tube: t2.clone(), at: t(17) },
            sample("d3", &t2, people[8], 18),
            ScanItem::Seal { client_id: "seal-empty".into(), tube: t3.clone(), at: t(19) },
        ],
    )
    .await;
    let codes: Vec<&str> = rep.outcomes.iter().map(|o| o.code).collect();
    assert_eq!(
        codes,
        vec![
            "already_sampled",
            "ok",
            "not_resident",
            "ok",
            "ok",
            "ok",
            "not_in_tube",
            "ok",
            "tube_not_open",
            "tube_unknown"
        ]
    );
    assert!(rep.outcomes[3].visitor);
    assert_eq!(rep.outcomes[0].error.as_ref().unwrap().code, "already_sampled");
    assert!(!rep.outcomes[0].error.as_ref().unwrap().zh.is_empty());
    assert_eq!(rep.accepted, 2, "person 6 and the visitor; person 7 was undone");
    let tb2 = store.tube(&t2).await.unwrap().unwrap();
    assert_eq!((tb2.state, tb2.count), (TubeState::Sealed, 2));
    let members = store.tube_members(tb2.id).await.unwrap();
    assert_eq!(members.iter().filter(|m| m.visitor).count(), 1);
    assert_eq!(members.iter().filter_map(|m| m.resident_id).collect::<Vec<_>>(), vec![people[6].id]);

    // A tube of this round used in another round.
    let rep = ingest(store, other, "batch-3", vec![sample("o", &t1, people[9], 20)]).await;
    assert_eq!(rep.outcomes[0].code, "tube_other_round");
    assert_eq!(rep.accepted, 0);
    // An empty tube cannot be sealed; an unknown round is an error.
    let rep = ingest(
        store,
        round,
        "batch-4",
        vec![
            ScanItem::Open { client_id: "o4".into(), tube: t3.clone(), capacity: PoolCapacity::SINGLE, at: t(21) },
            ScanItem::Seal { client_id: "s4".into(), tube: t3.clone(), at: t(22) },
        ],
    )
    .await;
    assert_eq!(rep.outcomes.iter().map(|o| o.code).collect::<Vec<_>>(), vec!["ok", "tube_empty"]);
    let b = ScanBatch { batch_id: "batch-x".into(), round_id: other + 100, user_id: 7, scope: None, items: vec![] };
    assert!(store.ingest_scans(b, &audit_entry(9, "s", "scans.ingest", "round", "x")).await.is_err());
    assert_eq!(store.coverage(round, &d.district()).await.unwrap().sampled, 6);
}

/// A backend may resolve scanned people ahead of the write (SQLite does, on a read
/// snapshot it keeps between batches): a resident moved out or registered between two
/// batches must still be seen by the next one.
/// The scan page sends each scan as its own batch, so an undo comes in a later batch than
/// the sample it takes out: it must find that sample whichever batch wrote it.
pub async fn testing_undo_across_batches(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let people = active(&d.residents);
    let tb = tube(41);
    let open =
        ScanItem::Open { client_id: "o".into(), tube: tb.clone(), capacity: PoolCapacity::new(10).unwrap(), at: t(0) };
    let rep =
        ingest(store, round, "u-1", vec![open, sample("s1", &tb, people[0], 1), sample("s2", &tb, people[1], 2)]).await;
    assert_eq!(rep.accepted, 2);
    let undo =
        |cid: &str, rid: i64| ScanItem::Undo { client_id: cid.into(), tube: tb.clone(), resident_id: rid, at: t(3) };
    let rep = ingest(store, round, "u-2", vec![undo("x1", people[0].id)]).await;
    assert_eq!(
        (rep.outcomes[0].code, rep.outcomes[0].count, rep.outcomes[0].resident_id),
        ("ok", 1, Some(people[0].id))
    );
    assert_eq!(rep.accepted, 0);
    // Undone once: a second undo (another batch) finds nothing, and someone never in the
    // tube is not in it either.
    let rep = ingest(store, round, "u-3", vec![undo("x2", people[0].id), undo("x3", people[2].id)]).await;
    let codes: Vec<&str> = rep.outcomes.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec!["not_in_tube", "not_in_tube"]);
    let tube_row = store.tube(&tb).await.unwrap().unwrap();
    assert_eq!(tube_row.count, 1);
    let members: Vec<Option<i64>> =
        store.tube_members(tube_row.id).await.unwrap().iter().map(|m| m.resident_id).collect();
    assert_eq!(members, vec![Some(people[1].id)]);
    // The person undone is missing again, and may be sampled again (into any tube).
    let unit = people[0].unit.clone();
    let missed = store.missed(round, std::slice::from_ref(&unit)).await.unwrap();
    assert!(missed.iter().flat_map(|h| &h.members).any(|m| m.resident_id == people[0].id));
    let rep = ingest(store, round, "u-4", vec![sample("s3", &tube(42), people[0], 4)]).await;
    assert_eq!((rep.outcomes[0].code, rep.accepted), ("ok", 1));
}

/// Puts `tubes` through boxing and receipt and records `results` on them.
async fn result(store: &dyn Store, results: &[(&TubeBarcode, TestResult)], at: i64) -> ResultsReport {
    for (tb, _) in results {
        store
            .receive(&Receipt::Tube((*tb).clone()), 8, t(at), &audit_entry(at, "lab", "receive", "tube", "x"))
            .await
            .unwrap()
            .unwrap();
    }
    let rows: Vec<NewResult> = results
        .iter()
        .enumerate()
        .map(|(i, (tb, r))| NewResult { row: i + 1, tube: (*tb).clone(), result: *r, ct: None })
        .collect();
    store
        .record_results(
            &rows,
            8,
            t(at),
            &audit_entry(at, "lab", "results.record", "round", "x"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap()
}

/// The chase's loop closed: a positive pool's members are re-sampled into single tubes in
/// the same round (not a second sample), their re-sampling tasks record when, and the
/// individual results clear them (lifting home control once the household is clear) or
/// make a case; the pool's timeline shows each step.
pub async fn testing_resample_after_positive_pool(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 5).await;
    let b = d.busiest_building();
    let people: Vec<&Resident> = active(&d.residents).into_iter().filter(|r| b.contains(&r.unit)).take(6).collect();
    let pool = tube(60);
    let items: Vec<ScanItem> = (0..5).map(|i| sample(&format!("p{i}"), &pool, people[i], i as i64)).collect();
    assert_eq!(ingest(store, round, "r-1", items).await.accepted, 5);
    let single = |n: u32| tube(70 + n);
    let one = |cid: &str, tb: &TubeBarcode, r: &Resident| {
        vec![
            ScanItem::Open {
                client_id: format!("o{cid}"),
                tube: tb.clone(),
                capacity: PoolCapacity::SINGLE,
                at: t(50),
            },
            sample(cid, tb, r, 50),
        ]
    };
    // Before the pool is positive, nobody may be sampled again.
    let rep = ingest(store, round, "r-2", one("x", &single(0), people[0])).await;
    assert_eq!(rep.outcomes[1].code, "already_sampled");
    let report = result(store, &[(&pool, TestResult::Positive)], 40).await;
    assert_eq!(report.chases.len(), 1);
    let tasks = store.resample_tasks(round, std::slice::from_ref(&b), false).await.unwrap();
    assert_eq!(
        tasks.iter().map(|t| t.resident_id).collect::<BTreeSet<_>>(),
        people[..5].iter().map(|p| p.id).collect()
    );
    assert!(tasks.iter().all(|t| t.door_to_door && t.sampled_at.is_none() && t.reason == "pool_positive"));
    assert_eq!(tasks[0].tube, pool.as_str());

    // A marked member into a single tube: a re-sample.
    let rep = ingest(store, round, "r-3", one("a", &single(1), people[0])).await;
    let o = &rep.outcomes[1];
    assert_eq!((o.code, o.resample, o.sealed, rep.accepted), ("ok", true, true, 1), "{o:?}");
    // The same again is a replay; into another single tube, refused; into a pool, refused.
    assert_eq!(
        ingest(store, round, "r-4", vec![sample("a2", &single(1), people[0], 51)]).await.outcomes[0].code,
        "replayed"
    );
    assert_eq!(
        ingest(store, round, "r-5", one("a3", &single(2), people[0])).await.outcomes[1].code,
        "already_resampled"
    );
    assert_eq!(
        ingest(store, round, "r-6", vec![sample("a4", &tube(61), people[1], 52)]).await.outcomes[0].code,
        "resample_single_tube",
        "a marked member in a pooled tube is told to take a single one"
    );
    // Someone not marked is not re-sampled.
    let rep = ingest(store, round, "r-7", vec![sample("u", &tube(62), people[5], 53)]).await;
    assert_eq!(rep.outcomes[0].code, "ok");
    assert_eq!(ingest(store, round, "r-8", one("u2", &single(3), people[5])).await.outcomes[1].code, "already_sampled");
    let all = store.resample_tasks(round, std::slice::from_ref(&b), true).await.unwrap();
    assert_eq!(all.iter().find(|t| t.resident_id == people[0].id).unwrap().sampled_at, Some(t(50)));
    let members = store.tube_members(store.tube(&single(1)).await.unwrap().unwrap().id).await.unwrap();
    assert_eq!(members.iter().map(|m| m.resident_id).collect::<Vec<_>>(), vec![Some(people[0].id)]);
    // Coverage is unchanged by re-samples: they are not second samples.
    let cov = store.coverage(round, &b).await.unwrap();
    assert_eq!(cov.sampled, 6);

    // Every other member re-sampled; one positive, the rest negative.
    for (i, p) in people[1..5].iter().enumerate() {
        let rep = ingest(store, round, &format!("r-9{i}"), one(&format!("m{i}"), &single(10 + i as u32), p)).await;
        assert!(rep.outcomes[1].resample, "{:?}", rep.outcomes[1]);
    }
    let mut results = vec![(single(1), TestResult::Negative)];
    results.extend(
        (1..5).map(|i| (single(9 + i as u32), if i == 1 { TestResult::Positive } else { TestResult::Negative })),
    );
    let refs: Vec<(&TubeBarcode, TestResult)> = results.iter().map(|(tb, r)| (tb, *r)).collect();
    let report = result(store, &refs, 60).await;
    assert!(report.committed, "{:?}", report.errors);
    assert_eq!(report.cases, 1);
    let timeline = store.chase_timeline(&pool).await.unwrap().unwrap();
    assert_eq!(timeline.members.len(), 5);
    let status: BTreeMap<i64, &str> = timeline.members.iter().map(|m| (m.resident_id, m.status.as_str())).collect();
    assert_eq!(status[&people[1].id], "confirmed");
    assert_eq!(status.values().filter(|s| **s == "cleared").count(), 4);
    assert!(timeline.members.iter().all(|m| m.resampled_at.is_some() && m.resolved_at == Some(t(60))));
    assert_eq!(timeline.pool_time_to_resample(), Some((t(50) - t(40)).num_seconds()));
    assert!(timeline.time_to_resample().iter().all(|(_, s)| *s == Some(10)));
    assert_eq!(timeline.chase.resampled, 5);
    assert!(store.resample_tasks(round, std::slice::from_ref(&b), false).await.unwrap().is_empty());
    // A household with its confirmed member stays under control; the others are lifted.
    assert!(store.under_control(people[1].household_id).await.unwrap());
    for p in &people[..5] {
        if p.household_id != people[1].household_id {
            assert!(!store.under_control(p.household_id).await.unwrap(), "household {}", p.household_id);
        }
    }
    let now = t(100);
    let state = store.person_state(people[1].id, now, now.date_naive()).await.unwrap().unwrap();
    assert!(state.case.is_some() && !state.pool_positive_pending);
    let state = store.person_state(people[0].id, now, now.date_naive()).await.unwrap().unwrap();
    assert!(state.case.is_none() && !state.pool_positive_pending);
}

/// A sampler samples the people of their area. Someone registered elsewhere gets the same
/// answer as someone not registered at all — nothing about them, not even whether they
/// were sampled — and is recorded as a visitor.
pub async fn testing_sampler_sees_only_their_area(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let communities = d.level(AreaLevel::Community);
    let (mine, theirs) = (communities[0].code.clone(), communities[communities.len() - 1].code.clone());
    let people = active(&d.residents);
    let here = people.iter().find(|r| mine.contains(&r.unit)).unwrap();
    let there: Vec<&&Resident> = people.iter().filter(|r| theirs.contains(&r.unit)).take(2).collect();
    // One of the others is sampled at home first.
    ingest(store, round, "home", vec![sample("h", &tube(80), there[1], 1)]).await;
    let scoped = |id: &str, items: Vec<ScanItem>| ScanBatch {
        batch_id: id.into(),
        round_id: round,
        user_id: 7,
        scope: Some(vec![mine.clone()]),
        items,
    };
    let e = audit_entry(2, "sampler", "scans.ingest", "round", "r");
    let unknown = ScanItem::Sample {
        client_id: "u".into(),
        tube: tube(81),
        person: ScanPerson::IdNumber(crate::conformance::fresh_id_number(7)),
        at: t(2),
    };
    let items = vec![
        sample("a", &tube(81), here, 2),
        sample("b", &tube(81), there[0], 2),
        sample("c", &tube(81), there[1], 2),
        unknown,
    ];
    let rep = store.ingest_scans(scoped("s-1", items), &e).await.unwrap();
    let codes: Vec<&str> = rep.outcomes.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec!["ok", "not_resident", "not_resident", "not_resident"]);
    for o in &rep.outcomes[1..] {
        assert_eq!((o.resident_id, o.masked_name.as_deref(), o.count), (None, None, 1), "{o:?}");
    }
    // Recorded as a visitor, as the answer says.
    let visitor = ScanItem::Sample {
        client_id: "v".into(),
        tube: tube(81),
        person: ScanPerson::Visitor { id_number: there[0].id_number.clone(), phone: None },
        at: t(3),
    };
    let rep = store.ingest_scans(scoped("s-2", vec![visitor]), &e).await.unwrap();
    assert_eq!((rep.outcomes[0].code, rep.outcomes[0].visitor, rep.accepted), ("ok", true, 1));
}

pub async fn testing_ingest_sees_registry_changes(store: &dyn Store) {
    use cordon_domain::name::PersonName;
    use cordon_domain::registry::{Correction, NewResident, ResidentFlags};
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let people = active(&d.residents);
    let (t1, t2) = (tube(31), tube(32));
    let rep = ingest(store, round, "reg-1", vec![sample("a", &t1, people[0], 1), sample("b", &t1, people[1], 2)]).await;
    assert_eq!(rep.accepted, 2);

    // Registered after that batch: found by the next one.
    let newcomer = NewResident {
        unit: people[3].unit.clone(),
        room: "9902".into(),
        name: PersonName::parse("王新到").unwrap(),
        id_number: crate::conformance::fresh_id_number(21),
        phone: None,
        flags: ResidentFlags { bedridden: false, no_smartphone: false, temporary: false },
    };
    let ids = store
        .register_residents(std::slice::from_ref(&newcomer), &audit_entry(1, "w", "residents.import", "area", "1"))
        .await
        .unwrap();
    let rep = ingest(
        store,
        round,
        "reg-2",
        vec![
            ScanItem::Sample {
                client_id: "c".into(),
                tube: t1.clone(),
                person: ScanPerson::IdNumber(newcomer.id_number.clone()),
                at: t(3),
            },
            sample("d", &t1, people[4], 4),
        ],
    )
    .await;
    assert_eq!(rep.outcomes.iter().map(|o| o.code).collect::<Vec<_>>(), vec!["ok", "ok"]);
    assert_eq!(rep.outcomes[0].resident_id, Some(ids[0]));

    // Moved out after that batch: refused by the next one; the others still count.
    let moved = people[2];
    store
        .correct_resident(moved.id, &Correction::MovedOut, &audit_entry(1, "w", "resident.update", "resident", "1"))
        .await
        .unwrap();
    let rep = ingest(store, round, "reg-3", vec![sample("e", &t2, moved, 5), sample("f", &t2, people[5], 6)]).await;
    assert_eq!(rep.outcomes.iter().map(|o| o.code).collect::<Vec<_>>(), vec!["not_resident", "ok"]);
    assert_eq!(rep.accepted, 1);
    assert_eq!(store.coverage(round, &d.district()).await.unwrap().sampled, 5);
}

pub async fn testing_coverage_matches_brute_force(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let people = active(&d.residents);
    // Nine in ten sampled (every tenth person missed), a few missed ones exempt.
    let mut sampled = BTreeSet::new();
    let mut items = Vec::new();
    let mut n = 0u32;
    for (i, r) in people.iter().enumerate() {
        if i % 10 == 3 {
            continue;
        }
        items.push(sample(&format!("c{i}"), &tube(1000 + n / 10), r, i as i64));
        n += 1;
        sampled.insert(r.id);
    }
    for (k, chunk) in items.chunks(97).enumerate() {
        let rep = ingest(store, round, &format!("b{k}"), chunk.to_vec()).await;
        assert!(rep.outcomes.iter().all(|o| o.code == "ok"), "{:?}", rep.outcomes.iter().find(|o| o.code != "ok"));
    }
    let mut exempt = BTreeSet::new();
    for (i, r) in people.iter().enumerate().filter(|(i, _)| i % 40 == 3) {
        store
            .record_exemption(
                round,
                r.id,
                ExemptionReason::Hospitalised,
                "医院证明",
                7,
                t(i as i64),
                &audit_entry(5, "g", "exempt", "resident", "x"),
            )
            .await
            .unwrap()
            .unwrap();
        exempt.insert(r.id);
    }
    // Exempting a sampled person is refused.
    let err = store
        .record_exemption(
            round,
            people[0].id,
            ExemptionReason::Deceased,
            "",
            7,
            t(1),
            &audit_entry(6, "g", "exempt", "resident", "x"),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, "sampled_already");

    let brute = |area: &AreaCode| {
        let under: Vec<&&Resident> = people.iter().filter(|r| area.contains(&r.unit)).collect();
        let s = under.iter().filter(|r| sampled.contains(&r.id)).count() as u64;
        let e = under.iter().filter(|r| exempt.contains(&r.id) && !sampled.contains(&r.id)).count() as u64;
        let expected = under.len() as u64 - e;
        (expected, s, e, expected - s)
    };
    for a in d.areas.iter().filter(|a| a.level() <= AreaLevel::Building) {
        let c = store.coverage(round, &a.code).await.unwrap();
        assert_eq!((c.expected, c.sampled, c.exempt, c.missing), brute(&a.code), "coverage of {}", a.code);
        let children = store.coverage_children(round, &a.code).await.unwrap();
        let mut expected_children: Vec<&AreaCode> =
            d.areas.iter().filter(|x| x.code.parent().as_ref() == Some(&a.code)).map(|x| &x.code).collect();
        expected_children.sort();
        assert_eq!(children.iter().map(|c| &c.code).collect::<Vec<_>>(), expected_children);
        for c in &children {
            assert_eq!((c.expected, c.sampled, c.exempt, c.missing), brute(&c.code), "child {}", c.code);
        }
    }
    // Missed lists of every building: exactly the active residents neither sampled nor
    // exempt, grouped by household, in roster order.
    for b in d.level(AreaLevel::Building) {
        let got = store.missed(round, std::slice::from_ref(&b.code)).await.unwrap();
        let mut want: BTreeMap<(String, usize, String), Vec<i64>> = BTreeMap::new();
        for r in
            people.iter().filter(|r| b.code.contains(&r.unit) && !sampled.contains(&r.id) && !exempt.contains(&r.id))
        {
            want.entry((r.unit.as_str().to_string(), r.room.len(), r.room.clone())).or_default().push(r.id);
        }
        let got_keys: Vec<((String, usize, String), Vec<i64>)> = got
            .iter()
            .map(|h| {
                (
                    (h.unit.as_str().to_string(), h.room.len(), h.room.clone()),
                    h.members.iter().map(|m| m.resident_id).collect(),
                )
            })
            .collect();
        assert_eq!(got_keys, want.into_iter().collect::<Vec<_>>(), "missed list of {}", b.code);
        for h in &got {
            for m in &h.members {
                let r = people.iter().find(|r| r.id == m.resident_id).unwrap();
                assert_eq!(m.phone.as_deref(), r.phone.as_ref().map(|p| p.as_str()));
                assert_eq!(m.name, r.name.as_str());
            }
        }
    }
    let reported = store
        .report_missing(
            round,
            &d.busiest_building(),
            "两户外出",
            7,
            t(99),
            &audit_entry(7, "bl", "missing.report", "building", "b"),
        )
        .await
        .unwrap();
    assert_eq!(reported, brute(&d.busiest_building()).3);
}

pub async fn testing_results_and_chase(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let people = active(&d.residents);
    let community = d.level(AreaLevel::Community)[0].code.clone();
    let site = store
        .create_site(
            &NewSite {
                name: "点".into(), address: "址".into(), hours: "全天".into(), areas: vec![community.clone()]
            },
            &audit_entry(1, "c", "site.create", "site", "x"),
        )
        .await
        .unwrap();
    let (pool, neg, inv) = (tube(1), tube(2), tube(4));
    let mut items: Vec<ScanItem> = (0..10).map(|i| sample(&format!("p{i}"), &pool, people[i], i as i64)).collect();
    items.extend((10..15).map(|i| sample(&format!("n{i}"), &neg, people[i], i as i64)));
    items.push(ScanItem::Seal { client_id: "sn".into(), tube: neg.clone(), at: t(20) });
    items.extend((15..17).map(|i| sample(&format!("i{i}"), &inv, people[i], i as i64)));
    items.push(ScanItem::Seal { client_id: "si".into(), tube: inv.clone(), at: t(21) });
    let rep = ingest(store, round, "b1", items).await;
    assert_eq!(rep.accepted, 17);

    // Results before receipt, for unknown tubes: refused, nothing written.
    let res = |row, tb: &TubeBarcode, r| NewResult { row, tube: tb.clone(), result: r, ct: None };
    let report = store
        .record_results(
            &[res(2, &pool, TestResult::Positive), res(3, &tube(99), TestResult::Negative)],
            8,
            t(30),
            &audit_entry(8, "lab", "results.record", "round", "x"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(!report.committed);
    assert_eq!(
        report.errors.iter().map(|e| (e.row, e.error.code)).collect::<Vec<_>>(),
        vec![(2, "tube_not_received"), (3, "tube_unknown")]
    );
    assert_eq!(store.tube(&pool).await.unwrap().unwrap().result, None);

    // Box and receive (a box, and a loose tube).
    let boxed = store
        .box_tubes("BOX-1", &[pool.clone(), neg.clone()], 7, t(31), &audit_entry(9, "s", "box", "box", "BOX-1"))
        .await
        .unwrap();
    assert_eq!(boxed, Ok(2));
    assert_eq!(
        store
            .box_tubes("BOX-2", &[tube(98)], 7, t(31), &audit_entry(9, "s", "box", "box", "x"))
            .await
            .unwrap()
            .unwrap_err()
            .code,
        "tube_unknown"
    );
    assert_eq!(store.tube(&pool).await.unwrap().unwrap().box_code.as_deref(), Some("BOX-1"));
    let got = store
        .receive(&Receipt::Box("BOX-1".into()), 8, t(32), &audit_entry(10, "lab", "receive", "box", "BOX-1"))
        .await
        .unwrap();
    assert_eq!(got, Ok(vec![pool.as_str().to_string(), neg.as_str().to_string()]));
    assert_eq!(
        store
            .receive(&Receipt::Tube(inv.clone()), 8, t(33), &audit_entry(11, "lab", "receive", "tube", "x"))
            .await
            .unwrap(),
        Ok(vec![inv.as_str().to_string()])
    );
    assert_eq!(
        store
            .receive(&Receipt::Tube(inv.clone()), 8, t(33), &audit_entry(11, "lab", "receive", "tube", "x"))
            .await
            .unwrap()
            .unwrap_err()
            .code,
        "tube_state"
    );
    assert_eq!(
        store
            .receive(&Receipt::Box("NOPE".into()), 8, t(33), &audit_entry(11, "lab", "receive", "box", "x"))
            .await
            .unwrap()
            .unwrap_err()
            .code,
        "box_unknown"
    );

    // The positive pool is chased in the same transaction as its result.
    let report = store
        .record_results(
            &[
                NewResult { row: 2, tube: pool.clone(), result: TestResult::Positive, ct: Some(28.5) },
                res(3, &neg, TestResult::Negative),
                res(4, &inv, TestResult::Invalid),
            ],
            8,
            t(40),
            &audit_entry(12, "lab", "results.record", "round", "x"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(report.committed, "{:?}", report.errors);
    assert_eq!(report.recorded, 3);
    assert_eq!(report.chases.len(), 1);
    let chase = &report.chases[0];
    let households: BTreeSet<i64> = people[0..10].iter().map(|r| r.household_id).collect();
    assert_eq!((chase.members, chase.tasks_created), (10, 10));
    assert_eq!(chase.households_controlled as usize, households.len());
    assert!(chase.chased_at >= chase.result_at);
    let t1 = store.tube(&pool).await.unwrap().unwrap();
    assert_eq!(
        (t1.state, t1.result, t1.ct, t1.resulted_by),
        (TubeState::Resulted, Some(TestResult::Positive), Some(28.5), Some(8))
    );
    let marks = store.pool_positives(round, &[d.district()]).await.unwrap();
    assert_eq!(marks.iter().map(|m| m.resident_id).collect::<Vec<_>>(), {
        let mut v: Vec<i64> = people[0..10].iter().map(|r| r.id).collect();
        v.sort();
        v
    });
    assert!(marks.iter().all(|m| m.status == "pending" && m.tube == pool.as_str()));
    for h in &households {
        assert!(store.under_control(*h).await.unwrap());
    }
    let alerts = store.alerts(0, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].tube.as_str(), alerts[0].members), (pool.as_str(), 10));
    assert!(store.alerts(alerts[0].id, 10).await.unwrap().is_empty());
    assert_eq!(store.chases(round).await.unwrap().len(), 1);
    // The invalid tube's members are missing again.
    let missed: HashSet<i64> = store
        .missed(round, &[d.district()])
        .await
        .unwrap()
        .iter()
        .flat_map(|h| h.members.iter().map(|m| m.resident_id))
        .collect();
    assert!(missed.contains(&people[15].id) && missed.contains(&people[16].id));
    assert!(!missed.contains(&people[10].id));
    // A second, conflicting result is refused.
    let again = store
        .record_results(
            &[res(2, &pool, TestResult::Negative)],
            8,
            t(41),
            &audit_entry(13, "lab", "results.record", "round", "x"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.errors[0].error.code, "result_exists");
    assert_eq!(store.tube(&pool).await.unwrap().unwrap().result, Some(TestResult::Positive));

    // Someone under home control cannot go into a pooled tube; a single tube is fine.
    let controlled = people[0];
    let rep = ingest(store, round, "b2", vec![sample("x", &tube(5), people[17], 50)]).await;
    assert_eq!(rep.outcomes[0].code, "ok");
    let fellow = people.iter().find(|r| r.household_id == controlled.household_id && r.id != controlled.id);
    if let Some(f) = fellow.filter(|f| !people[0..10].iter().any(|p| p.id == f.id)) {
        let rep = ingest(store, round, "b2b", vec![sample("y", &tube(5), f, 51)]).await;
        assert_eq!(rep.outcomes[0].code, "needs_single_tube");
    }
    // Individual re-sampling: member 0 positive (a case), members 1..9 negative (cleared).
    // They were sampled in the pool this round, so their individual tubes go to a new round.
    let round2 = new_round(store, &d.district(), 10).await;
    let mut items = vec![];
    for (i, r) in people[0..10].iter().enumerate() {
        let tb = tube(100 + i as u32);
        items.push(ScanItem::Open {
            client_id: format!("o{i}"),
            tube: tb.clone(),
            capacity: PoolCapacity::SINGLE,
            at: t(60),
        });
        items.push(sample(&format!("s{i}"), &tb, r, 61));
    }
    let rep = ingest(store, round2, "b3", items).await;
    assert_eq!(rep.accepted, 10, "{:?}", rep.outcomes.iter().filter(|o| o.code != "ok").collect::<Vec<_>>());
    assert!(rep.outcomes.iter().filter(|o| o.resident_id.is_some()).all(|o| o.sealed), "single tubes seal at 1");
    for i in 0..10u32 {
        store
            .receive(&Receipt::Tube(tube(100 + i)), 8, t(70), &audit_entry(14, "lab", "receive", "tube", "x"))
            .await
            .unwrap()
            .unwrap();
    }
    let results: Vec<NewResult> = (0..10u32)
        .map(|i| res(i as usize, &tube(100 + i), if i == 0 { TestResult::Positive } else { TestResult::Negative }))
        .collect();
    let report = store
        .record_results(
            &results,
            8,
            t(80),
            &audit_entry(15, "lab", "results.record", "round", "x"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(report.committed);
    assert_eq!(report.cases, 1);
    let marks = store.pool_positives(round, &[d.district()]).await.unwrap();
    for m in &marks {
        let want = if m.resident_id == people[0].id { "confirmed" } else { "cleared" };
        assert_eq!(m.status, want, "resident {}", m.resident_id);
    }
    let chase = &store.chases(round).await.unwrap()[0];
    assert_eq!(chase.resampled, 10);
    assert_eq!(chase.resampled_at, Some(t(80)));
    // The confirmed case's household stays under control; the others are released unless
    // they share it.
    assert!(store.under_control(people[0].household_id).await.unwrap());
    for r in &people[1..10] {
        if r.household_id != people[0].household_id {
            assert!(!store.under_control(r.household_id).await.unwrap(), "household {} released", r.household_id);
        }
    }
    let pos = store.positivity(&d.district(), 5).await.unwrap();
    assert_eq!((pos.positive_pools, pos.cases), (1, 1));
    assert!(pos.sampled >= 10);
    let _ = site;
}

pub async fn testing_door_knocking_and_exemptions(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let building = d.busiest_building();
    let missed = store.missed(round, std::slice::from_ref(&building)).await.unwrap();
    assert!(missed.len() >= 3);
    let hh: Vec<i64> = missed.iter().take(3).map(|h| h.household_id).collect();
    let tasks = store
        .create_door_tasks(round, &hh, 7, t(1), &audit_entry(1, "g", "door.create", "building", "b"))
        .await
        .unwrap();
    assert_eq!(tasks.iter().map(|t| t.household_id).collect::<Vec<_>>(), hh);
    // Creating again keeps the open tasks.
    let again = store
        .create_door_tasks(round, &hh, 7, t(2), &audit_entry(2, "g", "door.create", "building", "b"))
        .await
        .unwrap();
    assert_eq!(again.iter().map(|t| t.id).collect::<Vec<_>>(), tasks.iter().map(|t| t.id).collect::<Vec<_>>());
    assert_eq!(store.door_tasks(round, std::slice::from_ref(&building)).await.unwrap().len(), 3);
    let listed = store.missed(round, std::slice::from_ref(&building)).await.unwrap();
    assert_eq!(listed[0].task_id, Some(tasks[0].id));

    let away = store
        .record_door_outcome(
            tasks[0].id,
            &DoorReport::AwayWithProof,
            "出差证明",
            9,
            t(3),
            &audit_entry(3, "g", "door.outcome", "task", "x"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((away.outcome, away.done_by), (Some(DoorOutcome::AwayWithProof), Some(9)));
    let refused = store
        .record_door_outcome(
            tasks[1].id,
            &DoorReport::Refused,
            "",
            9,
            t(4),
            &audit_entry(4, "g", "door.outcome", "task", "x"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused.outcome, Some(DoorOutcome::Refused));
    let err = store
        .record_door_outcome(
            tasks[1].id,
            &DoorReport::NotHome,
            "",
            9,
            t(5),
            &audit_entry(5, "g", "door.outcome", "task", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "task_done");
    assert_eq!(
        store.enforcements(std::slice::from_ref(&building)).await.unwrap(),
        vec![(tasks[1].id, hh[1], "open".to_string())]
    );
    // The away household's members are exempt: no longer missed, counted as exempt.
    let after = store.missed(round, std::slice::from_ref(&building)).await.unwrap();
    assert!(!after.iter().any(|h| h.household_id == hh[0]));
    let cov = store.coverage(round, &building).await.unwrap();
    assert_eq!(cov.exempt as usize, missed[0].members.len());
    assert_eq!(store.door_task(tasks[2].id).await.unwrap().unwrap().outcome, None);
    let _ = code("141102");
}

// ---- door-knock outcomes with effects -------------------------------------------------

/// A round over the district, the busiest building, and a task for a household of it with
/// at least `members` people missing.
async fn door_setup(
    store: &dyn Store,
    members: usize,
) -> (crate::conformance::District, i64, AreaCode, MissedHousehold, DoorTask) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let building = d.busiest_building();
    let missed = store.missed(round, std::slice::from_ref(&building)).await.unwrap();
    let h = missed.into_iter().find(|h| h.members.len() >= members).expect("a household with enough members");
    let task = store
        .create_door_tasks(round, &[h.household_id], 7, t(1), &audit_entry(1, "g", "door.create", "building", "b"))
        .await
        .unwrap()
        .remove(0);
    (d, round, building, h, task)
}

fn door_sample(rid: i64, n: u32) -> DoorSample {
    DoorSample { resident_id: rid, tube: tube(n) }
}

fn sampled_report(samples: Vec<DoorSample>) -> DoorReport {
    DoorReport::SampledAtDoor { samples, audit: audit_entry(20, "g", "scans.ingest", "round", "door") }
}

async fn door(
    store: &dyn Store,
    task: i64,
    report: &DoorReport,
    at: i64,
) -> Result<DoorTask, crate::testing::DoorRefusal> {
    store
        .record_door_outcome(task, report, "", 9, t(at), &audit_entry(21, "g", "door.outcome", "door_task", "x"))
        .await
        .unwrap()
}

fn missed_ids(hs: &[MissedHousehold]) -> BTreeSet<i64> {
    hs.iter().flat_map(|h| h.members.iter().map(|m| m.resident_id)).collect()
}

/// Sampled at the door: each member swabbed gets a single tube of the task's round, opened,
/// filled and sealed by the worker at the door's time; they leave the missed list and
/// count as sampled; the others stay missing.
/// Door-knock tasks assigned to a knocker: listed for them alone, reassigned, unassigned,
/// the audit entry written with it; an unknown task assigns nothing.
pub async fn testing_door_tasks_assigned(store: &dyn Store) {
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let building = d.busiest_building();
    let missed = store.missed(round, std::slice::from_ref(&building)).await.unwrap();
    let hh: Vec<i64> = missed.iter().take(3).map(|h| h.household_id).collect();
    let tasks = store
        .create_door_tasks(round, &hh, 7, t(1), &audit_entry(1, "g", "door.create", "building", "b"))
        .await
        .unwrap();
    assert!(tasks.iter().all(|t| t.assigned_to.is_none() && t.assigned_at.is_none()));
    let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
    let a = |n| audit_entry(1, "g", "door.assign", "round", n);
    let done = store.assign_door_tasks(&ids[..2], Some(41), 7, t(2), &a("to 41")).await.unwrap();
    assert!(done.iter().all(|k| k.assigned_to == Some(41) && k.assigned_at == Some(t(2))), "{done:?}");
    let mine = store.door_tasks_assigned(round, 41).await.unwrap();
    assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), ids[..2].to_vec());
    assert!(store.door_tasks_assigned(round, 42).await.unwrap().is_empty());
    let other_round = new_round(store, &d.district(), 10).await;
    assert!(store.door_tasks_assigned(other_round, 41).await.unwrap().is_empty());
    // Reassigned, then one unassigned.
    store.assign_door_tasks(&ids[1..], Some(42), 7, t(3), &a("to 42")).await.unwrap();
    assert_eq!(store.door_tasks_assigned(round, 41).await.unwrap().len(), 1);
    assert_eq!(store.door_tasks_assigned(round, 42).await.unwrap().len(), 2);
    let back = store.assign_door_tasks(&ids[2..], None, 7, t(4), &a("none")).await.unwrap();
    assert_eq!((back[0].assigned_to, back[0].assigned_at), (None, None));
    let listed = store.door_tasks(round, std::slice::from_ref(&building)).await.unwrap();
    let by_id = |id: i64| listed.iter().find(|t| t.id == id).unwrap().assigned_to;
    assert_eq!((by_id(ids[0]), by_id(ids[1]), by_id(ids[2])), (Some(41), Some(42), None));
    // An unknown task: refused, nothing changed, no audit entry.
    let filter = crate::AuditFilter { action: Some("door.assign".into()), limit: 100, ..Default::default() };
    let before = store.audit_log(&filter).await.unwrap().len();
    assert_eq!(before, 3);
    assert!(store.assign_door_tasks(&[ids[0], 999_999], Some(43), 7, t(5), &a("bad")).await.is_err());
    assert_eq!(store.door_task(ids[0]).await.unwrap().unwrap().assigned_to, Some(41));
    assert_eq!(store.audit_log(&filter).await.unwrap().len(), before);
}

pub async fn testing_door_sampled_at_door_seals_single_tubes(store: &dyn Store) {
    let (_d, round, building, h, task) = door_setup(store, 2).await;
    let before = store.coverage(round, &building).await.unwrap();
    let swabbed: Vec<i64> = h.members.iter().skip(1).map(|m| m.resident_id).collect();
    let samples: Vec<DoorSample> = swabbed.iter().enumerate().map(|(i, r)| door_sample(*r, 500 + i as u32)).collect();
    let done = door(store, task.id, &sampled_report(samples.clone()), 40).await.unwrap();
    assert_eq!((done.outcome, done.done_by, done.done_at), (Some(DoorOutcome::SampledAtDoor), Some(9), Some(t(40))));
    for s in &samples {
        let tb = store.tube(&s.tube).await.unwrap().expect("the door tube exists");
        assert_eq!((tb.round_id, tb.capacity, tb.state, tb.count), (round, PoolCapacity::SINGLE, TubeState::Sealed, 1));
        assert_eq!((tb.opened_by, tb.opened_at), (9, t(40)));
        assert_eq!((tb.sealed_by, tb.sealed_at), (Some(9), Some(t(40))));
        let members = store.tube_members(tb.id).await.unwrap();
        assert_eq!(members.iter().map(|m| m.resident_id).collect::<Vec<_>>(), vec![Some(s.resident_id)]);
    }
    let after = missed_ids(&store.missed(round, std::slice::from_ref(&building)).await.unwrap());
    assert!(swabbed.iter().all(|r| !after.contains(r)), "the swabbed left the missed list");
    assert!(after.contains(&h.members[0].resident_id), "the member not swabbed is still missing");
    let cov = store.coverage(round, &building).await.unwrap();
    assert_eq!(cov.sampled, before.sampled + swabbed.len() as u64);
    assert_eq!(cov.missing, before.missing - swabbed.len() as u64);
    // Swabbing someone sampled at the door again, in a scan, is refused as a second sample.
    let again = ingest(
        store,
        round,
        "after-door",
        vec![ScanItem::Sample {
            client_id: "x".into(),
            tube: tube(599),
            person: ScanPerson::ResidentId(swabbed[0]),
            at: t(41),
        }],
    )
    .await;
    assert_eq!(again.outcomes[0].code, "already_sampled");
    // The outcome and the samples are audited.
    for action in ["door.outcome", "scans.ingest"] {
        let log = store
            .audit_log(&crate::AuditFilter { action: Some(action.into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert!(!log.is_empty(), "{action} audited");
    }
}

/// Every refusal of a door report leaves the task without an outcome and writes nothing;
/// a good report afterwards goes through.
pub async fn testing_door_refusals_write_nothing(store: &dyn Store) {
    let (d, round, building, h, task) = door_setup(store, 2).await;
    let (m0, m1) = (h.members[0].resident_id, h.members[1].resident_id);
    let other_round = new_round(store, &d.district(), 10).await;
    // m0 is sampled at the site, into a pooled tube; a tube of another round exists.
    let rep = ingest(
        store,
        round,
        "site",
        vec![ScanItem::Sample { client_id: "a".into(), tube: tube(700), person: ScanPerson::ResidentId(m0), at: t(2) }],
    )
    .await;
    assert_eq!(rep.outcomes[0].code, "ok");
    let rep = ingest(
        store,
        other_round,
        "elsewhere",
        vec![ScanItem::Sample { client_id: "b".into(), tube: tube(701), person: ScanPerson::ResidentId(m1), at: t(3) }],
    )
    .await;
    assert_eq!(rep.outcomes[0].code, "ok");
    let stranger = d
        .residents
        .iter()
        .find(|r| r.household_id != h.household_id && r.status == cordon_domain::registry::ResidentStatus::Active)
        .unwrap()
        .id;
    let coverage = store.coverage(round, &building).await.unwrap();
    let missed_before = missed_ids(&store.missed(round, std::slice::from_ref(&building)).await.unwrap());
    let cases: Vec<(DoorReport, &str, Option<i64>)> = vec![
        (sampled_report(vec![]), "door_no_samples", None),
        // The good member first: nothing of it may stay when the second is refused.
        (sampled_report(vec![door_sample(m1, 710), door_sample(m0, 711)]), "already_sampled", Some(m0)),
        (sampled_report(vec![door_sample(m1, 700)]), "tube_used", Some(m1)),
        (sampled_report(vec![door_sample(m1, 701)]), "tube_other_round", Some(m1)),
        (sampled_report(vec![door_sample(m1, 712), door_sample(stranger, 713)]), "not_in_household", Some(stranger)),
        (sampled_report(vec![door_sample(m1, 714), door_sample(m1, 715)]), "member_twice", Some(m1)),
        (
            DoorReport::WrongData {
                resident_id: stranger,
                correction: cordon_domain::registry::Correction::MovedOut,
                audit: audit_entry(22, "g", "resident.update", "resident", &stranger.to_string()),
            },
            "not_in_household",
            Some(stranger),
        ),
    ];
    for (report, code, about) in &cases {
        let refused = door(store, task.id, report, 50).await.unwrap_err();
        let err = &refused.error;
        assert_eq!(err.code, *code, "{report:?}");
        assert!(!err.zh.is_empty() && !err.en.is_empty() && !err.field.is_empty());
        assert_eq!(refused.member, *about, "{code}: the member the refusal is about");
        assert_eq!(store.door_task(task.id).await.unwrap().unwrap().outcome, None, "{code}: task still open");
    }
    for n in [710, 712, 714, 715] {
        assert_eq!(store.tube(&tube(n)).await.unwrap(), None, "no tube {n} was left behind");
    }
    assert_eq!(store.coverage(round, &building).await.unwrap(), coverage);
    assert_eq!(missed_ids(&store.missed(round, std::slice::from_ref(&building)).await.unwrap()), missed_before);
    assert_eq!(
        store.resident(stranger).await.unwrap().unwrap().status,
        cordon_domain::registry::ResidentStatus::Active
    );
    // An exempt member is not missing either.
    if let Some(m2) = h.members.get(2) {
        store
            .record_exemption(
                round,
                m2.resident_id,
                ExemptionReason::Hospitalised,
                "证明",
                7,
                t(4),
                &audit_entry(23, "g", "exempt", "resident", "x"),
            )
            .await
            .unwrap()
            .unwrap();
        let refused =
            door(store, task.id, &sampled_report(vec![door_sample(m2.resident_id, 716)]), 51).await.unwrap_err();
        assert_eq!((refused.error.code, refused.member), ("not_missing", Some(m2.resident_id)));
    }
    // The good part alone goes through, into the barcode a refused attempt had named.
    let done = door(store, task.id, &sampled_report(vec![door_sample(m1, 710)]), 52).await.unwrap();
    assert_eq!(done.outcome, Some(DoorOutcome::SampledAtDoor));
    assert_eq!(store.tube(&tube(710)).await.unwrap().unwrap().state, TubeState::Sealed);
    assert!(!missed_ids(&store.missed(round, std::slice::from_ref(&building)).await.unwrap()).contains(&m1));
}

/// Wrong data: the correction of a member is made with the outcome, audited as the roster's
/// correction; a member who moved out is no longer expected nor missed.
pub async fn testing_door_wrong_data_corrects_the_roster(store: &dyn Store) {
    use cordon_domain::registry::{Correction, ResidentStatus};
    let (_d, round, building, h, task) = door_setup(store, 1).await;
    let gone = h.members[0].resident_id;
    let before = store.coverage(round, &building).await.unwrap();
    let report = DoorReport::WrongData {
        resident_id: gone,
        correction: Correction::MovedOut,
        audit: audit_entry(24, "g", "resident.update", "resident", &gone.to_string()),
    };
    let done = door(store, task.id, &report, 60).await.unwrap();
    assert_eq!(done.outcome, Some(DoorOutcome::WrongData));
    assert_eq!(store.resident(gone).await.unwrap().unwrap().status, ResidentStatus::MovedOut);
    let after = store.coverage(round, &building).await.unwrap();
    assert_eq!(
        (after.expected, after.missing, after.sampled),
        (before.expected - 1, before.missing - 1, before.sampled)
    );
    assert!(!missed_ids(&store.missed(round, std::slice::from_ref(&building)).await.unwrap()).contains(&gone));
    let log = store
        .audit_log(&crate::AuditFilter { action: Some("resident.update".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].entry.target_kind.as_str(), log[0].entry.target.clone()), ("resident", gone.to_string()));
    // Another kind: a phone change on a second task keeps the person expected.
    let round2 = new_round(store, &_d.district(), 10).await;
    let t2 = store
        .create_door_tasks(round2, &[h.household_id], 7, t(61), &audit_entry(25, "g", "door.create", "building", "b"))
        .await
        .unwrap()
        .remove(0);
    if let Some(m) = h.members.get(1) {
        let report = DoorReport::WrongData {
            resident_id: m.resident_id,
            correction: Correction::SetPhone { phone: None },
            audit: audit_entry(26, "g", "resident.update", "resident", &m.resident_id.to_string()),
        };
        door(store, t2.id, &report, 62).await.unwrap();
        let r = store.resident(m.resident_id).await.unwrap().unwrap();
        assert_eq!((r.phone, r.status), (None, ResidentStatus::Active));
    }
}

/// Someone sampled who moves out afterwards is neither expected nor sampled: for every
/// area, sampled counts only active residents and never exceeds expected.
pub async fn testing_door_moved_out_after_sampling_keeps_coverage(store: &dyn Store) {
    use cordon_domain::registry::{Correction, ResidentStatus};
    let d = load_district(store).await;
    let round = new_round(store, &d.district(), 10).await;
    let building = d.busiest_building();
    let people: Vec<&Resident> = active(&d.residents).into_iter().filter(|r| building.contains(&r.unit)).collect();
    assert!(people.len() >= 3);
    let items: Vec<ScanItem> = people
        .iter()
        .enumerate()
        .map(|(i, r)| sample(&format!("c{i}"), &tube(800 + i as u32 / 10), r, i as i64))
        .collect();
    let rep = ingest(store, round, "all", items).await;
    assert_eq!(rep.accepted as usize, people.len());
    // Two sampled people move out; one unsampled elsewhere too.
    let mut moved: BTreeSet<i64> = BTreeSet::new();
    for r in people.iter().take(2) {
        store
            .correct_resident(r.id, &Correction::MovedOut, &audit_entry(30, "w", "resident.update", "resident", "x"))
            .await
            .unwrap();
        moved.insert(r.id);
    }
    let elsewhere = active(&d.residents).into_iter().find(|r| !building.contains(&r.unit)).unwrap();
    store
        .correct_resident(
            elsewhere.id,
            &Correction::MovedOut,
            &audit_entry(31, "w", "resident.update", "resident", "x"),
        )
        .await
        .unwrap();
    moved.insert(elsewhere.id);
    let sampled: BTreeSet<i64> = people.iter().map(|r| r.id).collect();
    let still: Vec<&Resident> =
        d.residents.iter().filter(|r| r.status == ResidentStatus::Active && !moved.contains(&r.id)).collect();
    let brute = |area: &AreaCode| {
        let under: Vec<&&Resident> = still.iter().filter(|r| area.contains(&r.unit)).collect();
        let s = under.iter().filter(|r| sampled.contains(&r.id)).count() as u64;
        (under.len() as u64, s, 0u64, under.len() as u64 - s)
    };
    let mut checked = 0;
    for a in d.areas.iter().filter(|a| a.code.contains(&building) || building.contains(&a.code)) {
        let c = store.coverage(round, &a.code).await.unwrap();
        assert_eq!((c.expected, c.sampled, c.exempt, c.missing), brute(&a.code), "coverage of {}", a.code);
        assert!(c.sampled <= c.expected, "{}", a.code);
        for ch in store.coverage_children(round, &a.code).await.unwrap() {
            assert_eq!((ch.expected, ch.sampled, ch.exempt, ch.missing), brute(&ch.code), "child {}", ch.code);
            assert!(ch.sampled <= ch.expected);
        }
        checked += 1;
    }
    assert!(checked >= 5, "the building, its units and its ancestors");
    let b = store.coverage(round, &building).await.unwrap();
    assert_eq!((b.expected, b.sampled, b.missing), (people.len() as u64 - 2, people.len() as u64 - 2, 0));
    assert_eq!(b.percent(), 100.0);
}
