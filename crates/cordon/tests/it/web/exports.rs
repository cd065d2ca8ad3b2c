//! Report exports of mass testing: the coverage table and a building's missed list as
//! .xlsx, read back and checked against the store; scoped and audited like the pages.

use super::app::spawn_app;
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use reqwest::StatusCode;

#[tokio::test]
async fn coverage_and_missed_lists_export_as_xlsx() {
    let app = spawn_app().await;
    let rounds = app.store.rounds(10).await.unwrap();
    let round = rounds.first().expect("the demo round").id;
    let district = cordon_domain::AreaCode::parse("141102").unwrap();

    let resp =
        app.get(Role::Commander, &format!("/testing/rounds/{round}/areas/141102/coverage.xlsx")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap();
    let table = cordon_sheets::read_table(&bytes, cordon_sheets::Format::Xlsx).unwrap();
    let district_cov = app.store.coverage(round, &district).await.unwrap();
    let children = app.store.coverage_children(round, &district).await.unwrap();
    assert_eq!(table.rows.len(), 1 + children.len());
    assert_eq!(table.rows[0].1[0], "141102");
    assert_eq!(table.rows[0].1[2], district_cov.expected.to_string());
    assert_eq!(table.rows[0].1[3], district_cov.sampled.to_string());

    let b = &app.building;
    let resp = app
        .get(Role::BuildingLeader, &format!("/testing/rounds/{round}/buildings/{b}/missed.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let table = cordon_sheets::read_table(&resp.bytes().await.unwrap(), cordon_sheets::Format::Xlsx).unwrap();
    let missed = app.store.missed(round, std::slice::from_ref(b)).await.unwrap();
    let people: usize = missed.iter().map(|h| h.members.len()).sum();
    assert_eq!(table.rows.len(), people);
    if let Some(first) = missed.first().and_then(|h| h.members.first()) {
        assert!(table.rows.iter().any(|(_, r)| r[2] == first.name));
    }
    let audit = app
        .store
        .audit_log(&AuditFilter { action: Some("missed.export".into()), limit: 5, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.target, b.as_str());

    // Another building's list is outside a building leader's scope.
    let other = &app.other_building;
    let resp = app
        .get(Role::BuildingLeader, &format!("/testing/rounds/{round}/buildings/{other}/missed.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .get(Role::CheckpointGuard, &format!("/testing/rounds/{round}/areas/141102/coverage.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// A yellow code at a gate for a missed round is told where to test: the mass-testing site
/// that serves the gate's community, with its address and hours.
#[tokio::test]
async fn refused_scan_names_the_sampling_site_of_the_community() {
    let app = spawn_app().await;
    // Someone the demo's round did not sample, who missed yesterday's mandatory round too.
    let demo_round = app.store.rounds(10).await.unwrap().into_iter().map(|r| r.id).min().unwrap();
    let missed = app.store.missed(demo_round, std::slice::from_ref(&app.building)).await.unwrap();
    let absent = missed[0].members[0].resident_id;
    let yesterday = cordon_domain::clock::DistrictTz::default().today(chrono::Utc::now()) - chrono::Duration::days(1);
    let round = cordon_domain::testing::NewRound {
        area: cordon_domain::area::AreaCode::parse("141102").unwrap(),
        date: yesterday,
        mandatory: true,
        pool: cordon_domain::testing::PoolCapacity::new(10).unwrap(),
    };
    let e = cordon_store::conformance::audit_entry(1, "setup", "round.create", "round", "x");
    app.store.create_round(&round, &e).await.unwrap();
    let code: serde_json::Value = app.get_json(Role::Commander, &format!("/api/v1/residents/{absent}/code")).await;
    assert_eq!(code["colour"], "yellow", "{code}");
    let guard = app.store.user_by_username("checkpoint_guard").await.unwrap().unwrap();
    let gate = app.store.checkpoints_of_guard(guard.id).await.unwrap()[0].id;
    let out: serde_json::Value = app
        .post(Role::CheckpointGuard, &format!("/api/v1/checkpoints/{gate}/scans"))
        .json(&serde_json::json!({"token": code["token"], "direction": "out"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["allowed"], false, "{out}");
    let community = app.building.lineage()[2].clone();
    let name = app.store.area(&community).await.unwrap().unwrap().name;
    let message = out["message_zh"].as_str().unwrap();
    assert!(message.contains(&format!("{name}核酸检测点")), "{message}");
}
