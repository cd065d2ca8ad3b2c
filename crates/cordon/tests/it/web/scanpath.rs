//! The fast scan path over real HTTP: concurrent device scans are group-committed but each
//! is logged exactly once, with the id its response carried, before the response; and a
//! token whose signature check is remembered is still refused the moment its key is
//! revoked or it expires.

use super::app::spawn_app;
use chrono::{Duration, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::role::Role;
use cordon_domain::token::{self, Claims, SubjectKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanpath_concurrent_scans_each_logged_once_before_the_answer() {
    let app = spawn_app().await;
    let compound = app.building.parent().unwrap();
    let cp = app.store.checkpoints_under(&[compound]).await.unwrap().into_iter().next().expect("demo checkpoint");
    let (key, secret) = app.store.current_signing_key().await.unwrap().unwrap();
    let residents = app.store.residents_under(std::slice::from_ref(&app.building)).await.unwrap();
    assert!(residents.len() >= 5);
    let now = Utc::now();
    let mut tasks = Vec::new();
    for i in 0..48usize {
        let r = &residents[i % residents.len()];
        let tok = token::sign(
            &Claims {
                kind: SubjectKind::Person,
                district: key.district.clone(),
                key_id: key.id as u32,
                subject: r.id,
                issued_at: now - Duration::seconds(i as i64),
                expires_at: now + Duration::days(1),
            },
            &secret,
        )
        .unwrap();
        let req = app
            .post(Role::CheckpointGuard, &format!("/api/v1/checkpoints/{}/scans", cp.id))
            .json(&json!({"token": tok, "direction": if i % 2 == 0 { "in" } else { "out" }}));
        let (rid, store) = (r.id, app.store.clone());
        let cp_id = cp.id;
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let v: Value = resp.json().await.unwrap();
            let id = v["scan_id"].as_i64().unwrap();
            // Answered means stored: the record is readable the moment the answer arrives.
            let recent = store.recent_scans(cp_id, 200).await.unwrap();
            let rec = recent.iter().find(|s| s.id == id).expect("the answered scan is already logged");
            assert_eq!(rec.scan.resident_id, Some(rid));
            (id, rid, v["direction"].as_str().unwrap().to_string())
        }));
    }
    let mut answered = HashMap::new();
    for t in tasks {
        let (id, rid, dir) = t.await.unwrap();
        assert!(answered.insert(id, (rid, dir)).is_none(), "scan id {id} answered twice");
    }
    let logged = app.store.recent_scans(cp.id, 500).await.unwrap();
    assert_eq!(logged.len(), 48, "each scan logged exactly once");
    for rec in &logged {
        let (rid, dir) = &answered[&rec.id];
        assert_eq!((rec.scan.resident_id, rec.scan.direction.as_str()), (Some(*rid), dir.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanpath_remembered_signatures_never_skip_expiry_or_revocation() {
    let app = spawn_app().await;
    let compound = app.building.parent().unwrap();
    let cp = app.store.checkpoints_under(&[compound]).await.unwrap().into_iter().next().expect("demo checkpoint");
    let (key, secret) = app.store.current_signing_key().await.unwrap().unwrap();
    let r = app.resident_in(&app.building).await;
    let now = Utc::now();
    let sign = |expires: Duration| {
        token::sign(
            &Claims {
                kind: SubjectKind::Person,
                district: key.district.clone(),
                key_id: key.id as u32,
                subject: r.id,
                issued_at: now - Duration::hours(1),
                expires_at: now + expires,
            },
            &secret,
        )
        .unwrap()
    };
    let scan = |tok: String| {
        let req = app
            .post(Role::CheckpointGuard, &format!("/api/v1/checkpoints/{}/scans", cp.id))
            .json(&json!({"token": tok, "direction": "in"}));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let v: Value = resp.json().await.unwrap();
            v["code"].as_str().unwrap().to_string()
        }
    };
    let short = sign(Duration::seconds(3));
    let long = sign(Duration::days(1));
    let (hits0, _) = cordon_web::scanpath::memo_stats();
    let first = scan(short.clone()).await;
    assert!(!first.starts_with("token_"), "a fresh token verifies: {first}");
    assert_eq!(scan(short.clone()).await, first);
    assert_eq!(scan(long.clone()).await, first);
    assert_eq!(scan(long.clone()).await, first);
    assert!(cordon_web::scanpath::memo_stats().0 >= hits0 + 2, "repeated tokens hit the memo");
    // Expiry is checked on every scan, memo or not.
    tokio::time::sleep(std::time::Duration::from_millis(3600)).await;
    assert_eq!(scan(short).await, "token_expired");
    // So is the key's revocation, read from the database at each scan.
    let entry = AuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor: "test".into(),
        role: None,
        action: "key.revoke".into(),
        target_kind: "key".into(),
        target: key.id.to_string(),
        request_id: "t".into(),
        detail: String::new(),
    };
    app.store.revoke_signing_key(key.id, Utc::now(), &entry).await.unwrap();
    assert_eq!(scan(long).await, "token_key_revoked");
}
