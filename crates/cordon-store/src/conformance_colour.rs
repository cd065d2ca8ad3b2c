//! Conformance across capabilities: the person state behind a health-code colour
//! ([`crate::CodesStore::person_state`]) follows what mass testing recorded — missed
//! mandatory rounds, exemptions, positive pools, home control of their households, and
//! individual positives (cases). Checked on every backend, together with the colour the
//! shipped protocol-9 profile gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Store;
use crate::conformance::{audit_entry, load_district, t};
use crate::conformance_testing::tube;
use crate::testing::*;
use cordon_domain::colour::{self, CaseKind, Colour, QuarantineKind};
use cordon_domain::policy::{self, Profile};
use cordon_domain::registry::ResidentStatus;
use cordon_domain::testing::{ExemptionReason, NewRound, PoolCapacity, TestResult, TubeBarcode};

#[macro_export]
macro_rules! colour_conformance_tests {
    ($make:path) => {
        $crate::colour_conformance_tests!(@cases $make; colour_follows_mass_testing,);
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_colour::$case(&*store).await;
            }
        )*
    };
}

fn protocol9() -> Profile {
    let src = policy::SHIPPED.iter().find(|(n, _)| *n == "protocol-9").map(|(_, s)| *s).unwrap();
    Profile::parse(src).unwrap()
}

pub async fn colour_follows_mass_testing(store: &dyn Store) {
    let d = load_district(store).await;
    let profile = protocol9();
    let now = t(12 * 3600);
    let today = now.date_naive();
    let round = |date| NewRound { area: d.district(), date, mandatory: true, pool: PoolCapacity::new(10).unwrap() };
    let yesterday = store
        .create_round(&round(today.pred_opt().unwrap()), &audit_entry(1, "cmd", "round.create", "round", "y"))
        .await
        .unwrap()
        .id;
    let today_round =
        store.create_round(&round(today), &audit_entry(1, "cmd", "round.create", "round", "t")).await.unwrap().id;
    // People of households with at least two active members, so a household mate exists.
    let active: Vec<_> = d.residents.iter().filter(|r| r.status == ResidentStatus::Active).collect();
    let mate_of = |r: &cordon_domain::registry::Resident| {
        active.iter().find(|m| m.household_id == r.household_id && m.id != r.id).map(|m| m.id)
    };
    let pool_members: Vec<_> = active.iter().filter(|r| mate_of(r).is_some()).take(10).copied().collect();
    assert_eq!(pool_members.len(), 10);
    let in_pool = |id: i64| pool_members.iter().any(|m| m.id == id);
    let outsider = active.iter().find(|r| !in_pool(r.id) && mate_of(r).is_none_or(|m| !in_pool(m))).unwrap();
    let exempted = active.iter().find(|r| !in_pool(r.id) && r.id != outsider.id).unwrap();

    // Yesterday: the pool members were sampled, the outsider was not, one was exempted.
    let sample = |i: usize, tb: &TubeBarcode, r: &cordon_domain::registry::Resident| ScanItem::Sample {
        client_id: format!("c{i}-{}", tb.as_str()),
        tube: tb.clone(),
        person: ScanPerson::IdNumber(r.id_number.clone()),
        at: now - chrono::Duration::days(1),
    };
    let items = pool_members.iter().enumerate().map(|(i, r)| sample(i, &tube(500), r)).collect();
    let b = ScanBatch { batch_id: "y1".into(), round_id: yesterday, user_id: 7, scope: None, items };
    store.ingest_scans(b, &audit_entry(2, "s", "scans.ingest", "round", "y")).await.unwrap();
    store
        .record_exemption(
            yesterday,
            exempted.id,
            ExemptionReason::AwayWithProof,
            "证明",
            3,
            now,
            &audit_entry(3, "cw", "exemption", "resident", "x"),
        )
        .await
        .unwrap()
        .unwrap();

    let state = |id| async move { store.person_state(id, now, now.date_naive()).await.unwrap().unwrap() };
    let s = state(outsider.id).await;
    assert_eq!(s.missed_rounds, 1, "missed yesterday's mandatory round; today's is still open");
    let (c, reasons) = colour::colour(&s, &profile, now);
    assert_eq!(c, Colour::Yellow);
    assert!(reasons.iter().any(|r| r.code == "missed_round"), "{reasons:?}");
    let s = state(exempted.id).await;
    assert_eq!((s.missed_rounds, s.exempt), (0, true));
    assert_eq!(colour::colour(&s, &profile, now).0, Colour::Green);
    assert_eq!(state(pool_members[0].id).await.missed_rounds, 0);

    // Today: the pool members again, in one tube, found positive.
    let tb = tube(501);
    let mut items: Vec<_> = pool_members.iter().enumerate().map(|(i, r)| sample(i, &tb, r)).collect();
    for it in &mut items {
        if let ScanItem::Sample { at, .. } = it {
            *at = now;
        }
    }
    let b = ScanBatch { batch_id: "t1".into(), round_id: today_round, user_id: 7, scope: None, items };
    store.ingest_scans(b, &audit_entry(4, "s", "scans.ingest", "round", "t")).await.unwrap();
    store
        .receive(&Receipt::Tube(tb.clone()), 8, now, &audit_entry(5, "lab", "receive", "tube", "t"))
        .await
        .unwrap()
        .unwrap();
    let report = store
        .record_results(
            &[NewResult { row: 2, tube: tb.clone(), result: TestResult::Positive, ct: None }],
            8,
            now,
            &audit_entry(6, "lab", "results", "round", "t"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(report.committed);
    let member = pool_members[0];
    let s = state(member.id).await;
    assert!(s.pool_positive_pending);
    let (c, reasons) = colour::colour(&s, &profile, now);
    assert_eq!(c, Colour::Yellow);
    assert!(reasons.iter().any(|r| r.code == "pool_positive"), "{reasons:?}");
    // A household mate who was not in the pool is under home control.
    let mate = active.iter().find(|m| m.household_id == member.household_id && !in_pool(m.id));
    if let Some(mate) = mate {
        let s = state(mate.id).await;
        assert!(!s.pool_positive_pending);
        assert_eq!(s.quarantine.as_ref().map(|q| q.kind), Some(QuarantineKind::HomeControl));
        assert_eq!(colour::colour(&s, &profile, now).0, Colour::Yellow);
    }
    // Individual re-test (单采单检) in a re-sampling round of its own, not mandatory:
    // positive → a case (red); negative → mark cleared.
    let resample = NewRound { mandatory: false, ..round(today) };
    let resample_round =
        store.create_round(&resample, &audit_entry(1, "cmd", "round.create", "round", "r")).await.unwrap().id;
    let single = |n: u32| tube(600 + n);
    let (pos, neg) = (pool_members[0], pool_members[1]);
    for (n, r) in [(0u32, pos), (1, neg)] {
        let item = ScanItem::Sample {
            client_id: format!("single{n}"),
            tube: single(n),
            person: ScanPerson::IdNumber(r.id_number.clone()),
            at: now,
        };
        let open = ScanItem::Open {
            client_id: format!("open{n}"),
            tube: single(n),
            capacity: PoolCapacity::new(1).unwrap(),
            at: now,
        };
        let b = ScanBatch {
            batch_id: format!("s{n}"),
            round_id: resample_round,
            user_id: 7,
            scope: None,
            items: vec![open, item],
        };
        let rep = store.ingest_scans(b, &audit_entry(7, "s", "scans.ingest", "round", "t")).await.unwrap();
        assert_eq!(rep.accepted, 1, "the sample counts, the open does not: {rep:?}");
        assert!(rep.outcomes.iter().all(|o| o.code == "ok"), "{rep:?}");
        store
            .receive(&Receipt::Tube(single(n)), 8, now, &audit_entry(8, "lab", "receive", "tube", "t"))
            .await
            .unwrap()
            .unwrap();
    }
    let report = store
        .record_results(
            &[
                NewResult { row: 2, tube: single(0), result: TestResult::Positive, ct: Some(25.0) },
                NewResult { row: 3, tube: single(1), result: TestResult::Negative, ct: None },
            ],
            8,
            now,
            &audit_entry(9, "lab", "results", "round", "t"),
            &cordon_domain::clock::DistrictTz::default(),
        )
        .await
        .unwrap();
    assert!(report.committed, "{report:?}");
    let s = state(pos.id).await;
    assert_eq!(s.case, Some(CaseKind::Confirmed));
    assert_eq!(colour::colour(&s, &profile, now).0, Colour::Red);
    let s = state(neg.id).await;
    assert!(!s.pool_positive_pending, "an individual negative clears the mark");
    assert_eq!(s.missed_rounds, 0, "a re-sampling round is not mandatory");
}
