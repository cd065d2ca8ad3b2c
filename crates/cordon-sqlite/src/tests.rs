//! Backend-specific checks. The behaviour every backend shares is tested by the
//! conformance suite (`cordon-store::conformance`, run from `crates/cordon/tests/it`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use cordon_domain::security::{SecurityRules, ThrottleKind, ThrottleOp};
use cordon_domain::synth::{GenParams, generate};

async fn fresh() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("cordon.db")).unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn pragmas_and_migration_record() {
    let (store, _dir) = fresh().await;
    store.migrate().await.unwrap();
    let (mode, versions) = store
        .read(|c| {
            let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).db()?;
            let versions: Vec<i64> = c
                .prepare("SELECT version FROM schema_migrations ORDER BY version")
                .db()?
                .query_map([], |r| r.get(0))
                .db()?
                .collect::<rusqlite::Result<_>>()
                .db()?;
            Ok((mode, versions))
        })
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let expected: Vec<i64> = crate::migrate::MIGRATIONS.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, expected, "every embedded migration is recorded, in order");
    // Version numbers are reserved per capability (containment is 20), so gaps are fine;
    // the order is not.
    assert!(expected.windows(2).all(|w| w[1] > w[0]), "versions ascend");
    let writer_fk =
        store.with_writer(|c| c.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).db()).await.unwrap();
    assert_eq!(writer_fk, 1);
}

#[tokio::test]
async fn readers_cannot_write() {
    let (store, _dir) = fresh().await;
    let err = store.read(|c| c.execute("DELETE FROM users", []).db()).await.unwrap_err();
    assert_eq!(err.code(), "database_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_reads_and_writes() {
    let (store, _dir) = fresh().await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    let rules = SecurityRules { login_free_failures: 100, ..SecurityRules::default() };
    for i in 0..32 {
        let (store, rules) = (Arc::clone(&store), rules.clone());
        tasks.push(tokio::spawn(async move {
            let keys = [(ThrottleKind::Account, "a:alice".to_string())];
            store.login_throttle(ThrottleOp::Attempt, &keys, chrono::Utc::now(), &rules).await.unwrap();
            throttle_failures(&store, "a:alice").await + i
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(throttle_failures(&store, "a:alice").await, 32);
}

async fn throttle_failures(store: &SqliteStore, key: &str) -> u32 {
    let key = key.to_string();
    store
        .read(move |c| {
            c.query_row("SELECT coalesce(max(failures), 0) FROM login_throttle WHERE key = ?1", [&key], |r| r.get(0))
                .db()
        })
        .await
        .unwrap()
}

/// Plans for the hot queries use the indexes (run after ANALYZE, as in production).
#[tokio::test]
async fn query_plans_use_indexes() {
    let (store, _dir) = fresh().await;
    let mut batches = Vec::new();
    generate::<()>(&GenParams::new(20_000, 3), |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    for b in &batches {
        store.load_batch(b).await.unwrap();
    }
    store.finish_load().await.unwrap();
    let plans = store
        .read(|c| {
            let plan = |sql: &str| -> Result<String> {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).db()?;
                let rows: Vec<String> = stmt.query_map([], |r| r.get(3)).db()?.collect::<rusqlite::Result<_>>().db()?;
                Ok(rows.join(" | "))
            };
            let district = "r.unit_code >= '141102' AND r.unit_code < '141102:'";
            let community = "r.unit_code >= '141102001001' AND r.unit_code < '141102001001:'";
            Ok(vec![
                plan(&registry::COUNTS_SQL.replace("?1", "'141102'").replace("?2", "'141102:'"))?,
                plan(&registry::search_sql("r.name >= '王' AND r.name < '玌'", community).replace('?', "50"))?,
                plan(&registry::search_sql("r.name >= '王' AND r.name < '玌'", district).replace('?', "50"))?,
                plan(&registry::search_sql("r.phone = '13800000000'", district).replace('?', "50"))?,
            ])
        })
        .await
        .unwrap();
    for p in &plans {
        println!("{p}");
    }
    assert!(plans[0].contains("COVERING INDEX residents_unit_status"), "{}", plans[0]);
    assert!(
        plans[1].contains("COVERING INDEX residents_name") || plans[1].contains("residents_unit_status"),
        "{}",
        plans[1]
    );
    assert!(plans[2].contains("COVERING INDEX residents_name"), "{}", plans[2]);
    assert!(plans[3].contains("residents_phone"), "{}", plans[3]);
}

/// Generates and loads the default 430,000-resident district and prints the time.
/// `cargo test -p cordon-sqlite --release -- --ignored --nocapture load_430k`
#[tokio::test]
#[ignore = "slow: a measurement, not a check"]
async fn load_430k() {
    let (store, dir) = fresh().await;
    let started = std::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
    // Generation and loading overlap: the generator runs on its own thread.
    let generator = std::thread::spawn(move || {
        generate(&GenParams::new(430_000, 1), |b| tx.blocking_send(b).map_err(|_| ())).unwrap()
    });
    let mut loaded = 0usize;
    while let Some(b) = rx.recv().await {
        loaded += b.residents.len();
        store.load_batch(&b).await.unwrap();
    }
    let summary = generator.join().unwrap();
    let loaded_at = started.elapsed();
    store.finish_load().await.unwrap();
    let total = started.elapsed();
    assert_eq!(loaded as u64, summary.residents);
    println!(
        "generated+loaded {loaded} residents, {} households in {:.2?}; finish_load {:.2?}; total {:.2?}",
        summary.households,
        loaded_at,
        total - loaded_at,
        total
    );
    let t = std::time::Instant::now();
    let district = cordon_domain::area::AreaCode::parse("141102").unwrap();
    let s = store.area_summary(&district).await.unwrap().unwrap();
    println!("district summary {:?} in {:.2?}", (s.households, s.residents), t.elapsed());
    let t = std::time::Instant::now();
    let kids = store.children(&district).await.unwrap();
    println!("district children ({}) in {:.2?}", kids.len(), t.elapsed());
    let t = std::time::Instant::now();
    let q = ResidentQuery::NamePrefix("王".into());
    let found = store.search_residents(std::slice::from_ref(&district), &q, 50).await.unwrap();
    println!("name search ({}) in {:.2?}", found.len(), t.elapsed());
    let t = std::time::Instant::now();
    let all = store.residents_under(&[district]).await.unwrap();
    println!("residents_under(district) ({}) in {:.2?}", all.len(), t.elapsed());
    if let Ok(keep) = std::env::var("CORDON_KEEP_DB") {
        drop(store);
        std::fs::copy(dir.path().join("cordon.db"), keep).unwrap();
    }
}

/// The ingest's in-memory index: built in the background by the first ingest, it holds
/// every active resident; once a resident changes it is stale, and the writer's version
/// check makes the batch resolve in the transaction instead (a moved-out person scanned
/// after the change is not sampled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_index_is_used_only_while_current() {
    use cordon_domain::audit::AuditEntry;
    use cordon_domain::registry::{Correction, ResidentStatus};
    use cordon_domain::testing::{BarcodePattern, NewRound, PoolCapacity};
    use cordon_store::testing::{ScanBatch, ScanItem, ScanPerson};

    let (store, _dir) = fresh().await;
    let mut batches = Vec::new();
    generate(&GenParams::new(1_500, 3), |b| {
        batches.push(b);
        Ok::<(), ()>(())
    })
    .unwrap();
    for b in &batches {
        store.load_batch(b).await.unwrap();
    }
    store.finish_load().await.unwrap();
    let district = cordon_domain::area::AreaCode::parse(cordon_domain::synth::DISTRICT_CODE).unwrap();
    let entry = |action: &str| AuditEntry {
        at: chrono::Utc::now(),
        actor_id: None,
        actor: "test".into(),
        role: None,
        action: action.into(),
        target_kind: "test".into(),
        target: "test".into(),
        request_id: "test".into(),
        detail: String::new(),
    };
    let new_round = NewRound {
        area: district.clone(),
        date: chrono::Utc::now().date_naive(),
        mandatory: true,
        pool: PoolCapacity::new(10).unwrap(),
    };
    let round = store.create_round(&new_round, &entry("round.create")).await.unwrap();
    let people = store.residents_under(std::slice::from_ref(&district)).await.unwrap();
    let active = people.iter().filter(|r| r.status == ResidentStatus::Active).count();
    let pattern = BarcodePattern::default();
    let batch = |id: &str, tube: &str, who: &[&cordon_domain::registry::Resident]| ScanBatch {
        batch_id: id.into(),
        round_id: round.id,
        user_id: 1,
        scope: None,
        items: who
            .iter()
            .enumerate()
            .map(|(i, r)| ScanItem::Sample {
                client_id: format!("{id}-{i}"),
                tube: pattern.parse(tube).unwrap(),
                person: ScanPerson::IdNumber(r.id_number.clone()),
                at: chrono::Utc::now(),
            })
            .collect(),
    };

    // The first ingest starts the build; wait for it.
    let first: Vec<_> = people.iter().take(3).collect();
    let r = store.ingest_scans(batch("b1", "BA0000000001", &first), &entry("scans.ingest")).await.unwrap();
    assert_eq!(r.accepted, 3);
    let index = {
        let mut waited = 0;
        loop {
            if let Some(ix) = store.resolver.index.get() {
                break ix;
            }
            assert!(waited < 200, "the index was never built");
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    assert_eq!(index.len(), active);
    for r in &people[..50] {
        let e = index.by_id_number(r.id_number.as_str()).expect("indexed by ID number");
        assert_eq!((e.id, e.household, &*e.unit), (r.id, r.household_id, r.unit.as_str()));
        assert_eq!(index.by_id(r.id).map(|e| e.id), Some(r.id));
    }

    // Nobody the index lacks: no rebuild is asked for.
    let more: Vec<_> = people.iter().skip(20).take(10).collect();
    store.ingest_scans(batch("b1b", "BA0000000003", &more), &entry("scans.ingest")).await.unwrap();
    let late = || store.resolver.hints.found_late.load(std::sync::atomic::Ordering::Acquire);
    assert!(!late(), "nobody was missing from the index");

    // Moving someone out makes the index stale; the next batch still resolves from it
    // (the resolver has not yet heard of the change) and the writer must catch that.
    let gone = &people[10];
    store.correct_resident(gone.id, &Correction::MovedOut, &entry("resident.update")).await.unwrap();
    let r =
        store.ingest_scans(batch("b2", "BA0000000002", &[gone, &people[11]]), &entry("scans.ingest")).await.unwrap();
    let codes: Vec<&str> = r.outcomes.iter().map(|o| o.code).collect();
    assert_eq!(codes, ["not_resident", "ok"]);
    assert_eq!(r.outcomes[1].client_id, "b2-1", "outcomes are named after the writer");
    assert_eq!(r.outcomes[1].tube.as_deref(), Some("BA0000000002"));
}

/// The writer has SQLite's automatic checkpoints off; the checkpointer thread moves
/// committed pages from the WAL into the database file by itself, shortly after.
#[tokio::test]
async fn the_checkpointer_moves_the_wal_into_the_database() {
    let (store, dir) = fresh().await;
    let db = dir.path().join("cordon.db");
    let size = || std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let mut batches = Vec::new();
    generate(&GenParams::new(3_000, 5), |b| {
        batches.push(b);
        Ok::<(), ()>(())
    })
    .unwrap();
    for b in &batches {
        store.load_batch(b).await.unwrap();
    }
    let autocheckpoint: i64 =
        store.with_writer(|c| c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).db()).await.unwrap();
    assert_eq!(autocheckpoint, 0, "commits do not checkpoint");
    let mut waited = std::time::Duration::ZERO;
    while size() <= before {
        assert!(waited < std::time::Duration::from_secs(10), "nothing was checkpointed into the database file");
        tokio::time::sleep(crate::writer::CHECKPOINT_EVERY).await;
        waited += crate::writer::CHECKPOINT_EVERY;
    }
    assert!(size() > before + 100_000, "the residents' pages reached the database file");
}

/// A write that panics answers its caller with an error, leaves nothing of its transaction
/// behind, and the writer thread goes on serving the next writes.
#[tokio::test]
async fn a_panicking_write_does_not_stop_the_writer() {
    let (store, _dir) = fresh().await;
    let err = store
        .write(|tx| {
            tx.execute(
                "INSERT INTO login_throttle VALUES ('ghost', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                [],
            )
            .db()?;
            panic!("a bug inside a write");
            #[allow(unreachable_code)]
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "database_error");
    assert_eq!(throttle_failures(&store, "ghost").await, 0, "rolled back");
    let keys = [(ThrottleKind::Account, "alice".to_string())];
    store.login_throttle(ThrottleOp::Attempt, &keys, chrono::Utc::now(), &SecurityRules::default()).await.unwrap();
    assert_eq!(throttle_failures(&store, "alice").await, 1);
}

/// The in-transaction helpers the lead wires into `person_state` and `record_results`:
/// the open order of a resident, and lab results of tubes resolving order tests.
#[tokio::test]
async fn containment_helpers_for_person_state_and_results() {
    use chrono::{Duration, FixedOffset, TimeZone, Utc};
    use cordon_domain::containment::quarantine::{OrderState, TestStatus, colour_quarantine};
    use cordon_domain::testing::{NewRound, PoolCapacity, TestResult};
    use cordon_store::containment::{Act, OrderRequest};
    use cordon_store::testing::{ScanBatch, ScanItem, ScanPerson};
    let (store, _dir) = fresh().await;
    let mut batches = Vec::new();
    generate::<()>(&GenParams::new(200, 3), |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    for b in &batches {
        store.load_batch(b).await.unwrap();
    }
    store.finish_load().await.unwrap();
    let (r, other) = (batches[0].residents[0].clone(), batches[0].residents[1].clone());
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    let now = cst.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap().with_timezone(&Utc);
    let audit = AuditEntry {
        at: now,
        actor_id: None,
        actor: "t".into(),
        role: None,
        action: "orders.issue".into(),
        target_kind: "x".into(),
        target: "x".into(),
        request_id: "r".into(),
        detail: String::new(),
    };
    let act = Act {
        at: now,
        tz: cordon_domain::clock::DistrictTz::default(),
        user_id: None,
        user: "cmd".into(),
        profile: std::sync::Arc::new(cordon_domain::policy::Profile::shipped("protocol-9").unwrap().unwrap()),
        audit: audit.clone(),
    };
    let req = OrderRequest::Arrival {
        resident_id: Some(r.id),
        person: None,
        last_exposure: now - Duration::hours(12),
        reason: "返回".into(),
    };
    let order = store.issue_orders(vec![req], act).await.unwrap().unwrap().remove(0);
    let (rid, oid) = (r.id, other.id);
    let got = store
        .read(move |c| Ok((containment::open_order_of(c, rid)?, containment::open_order_of(c, oid)?)))
        .await
        .unwrap();
    assert_eq!(got, (Some((OrderState::Ordered, true)), None));
    assert_eq!(
        colour_quarantine(OrderState::Ordered, true).map(|q| q.kind),
        Some(cordon_domain::colour::QuarantineKind::Centralised)
    );

    // Tomorrow (order day 2: the exposure was last night): a single tube of the person,
    // resulted negative by the lab.
    let day1 = now + Duration::hours(24);
    let round = NewRound {
        area: r.unit.clone(),
        date: day1.with_timezone(&cst).date_naive(),
        mandatory: false,
        pool: PoolCapacity::new(1).unwrap(),
    };
    let round = store.create_round(&round, &audit).await.unwrap().id;
    let tube = cordon_domain::testing::BarcodePattern::default().parse("TB0000000001").unwrap();
    let items = vec![
        ScanItem::Open { client_id: "o".into(), tube: tube.clone(), capacity: PoolCapacity::SINGLE, at: day1 },
        ScanItem::Sample { client_id: "s".into(), tube: tube.clone(), person: ScanPerson::ResidentId(r.id), at: day1 },
    ];
    let rep = store
        .ingest_scans(ScanBatch { batch_id: "b".into(), round_id: round, user_id: 1, scope: None, items }, &audit)
        .await
        .unwrap();
    assert_eq!(rep.accepted, 1);
    let tube_id = store.tube(&tube).await.unwrap().unwrap().id;
    let resolved = store
        .write(move |tx| {
            containment::order_results_for_tubes(
                tx,
                &[(tube_id, TestResult::Negative, 1)],
                day1,
                &cordon_domain::clock::DistrictTz::default(),
                &audit,
            )
        })
        .await
        .unwrap();
    assert_eq!(resolved, 1);
    let orders = store.orders(cordon_store::containment::OrderQuery::ids(vec![order.id])).await.unwrap();
    let tests = &orders[0].schedule.tests;
    assert_eq!(tests.len(), 5);
    let facts = store
        .containment_facts(&cordon_store::containment::Keys {
            orders: vec![cordon_store::containment::OrderQuery::ids(vec![order.id])],
            ..Default::default()
        })
        .await
        .unwrap();
    let done: Vec<(u32, TestStatus)> =
        facts.tests.iter().filter(|t| t.status != TestStatus::Scheduled).map(|t| (t.day, t.status)).collect();
    assert_eq!(done, vec![(2, TestStatus::Negative)]);
}
