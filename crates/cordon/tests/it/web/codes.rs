//! Health codes over real HTTP: the checkpoint decision table (device API and guard page
//! agree), bad tokens of every kind, key rotation, passes, profile switching without a
//! restart, venues, code cards, and two real `cordon serve` processes on one PostgreSQL
//! schema agreeing within a second.

use super::app::{TestApp, spawn_app};
use chrono::{Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::role::Role;
use cordon_domain::token::{self, Claims, SecretKey, SubjectKind};
use cordon_store::AuditFilter;
use cordon_store::codes::NewCheckpoint;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A token for `subject` signed with the store's current key (what a resident carries).
async fn token_for(app: &TestApp, kind: SubjectKind, subject: i64, expires_in: Duration) -> String {
    let (key, secret) = app.store.current_signing_key().await.unwrap().unwrap();
    let now = Utc::now();
    token::sign(
        &Claims {
            kind,
            district: key.district.clone(),
            key_id: key.id as u32,
            subject,
            issued_at: now - Duration::hours(1),
            expires_at: now + expires_in,
        },
        &secret,
    )
    .unwrap()
}

/// The demo checkpoint (at the demo compound's gate, with the demo guard).
async fn demo_checkpoint(app: &TestApp) -> cordon_store::codes::Checkpoint {
    let compound = app.building.parent().unwrap();
    app.store.checkpoints_under(&[compound]).await.unwrap().into_iter().next().expect("demo checkpoint")
}

async fn api_scan(app: &TestApp, role: Role, cp: i64, token: &str) -> (StatusCode, Value) {
    let resp = app
        .post(role, &format!("/api/v1/checkpoints/{cp}/scans"))
        .json(&json!({"token": token, "direction": "in"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The guard page's verdict for a scan: (allowed, code, colour).
async fn page_scan(app: &TestApp, cp: i64, token: &str) -> (String, String, String) {
    let html = app
        .post(Role::CheckpointGuard, &format!("/checkpoints/{cp}/scan"))
        .form(&[("token", token), ("direction", "out")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attr = |name: &str| {
        let key = format!("{name}=\"");
        let i = html.find(&key).unwrap_or_else(|| panic!("no {name} in the page")) + key.len();
        html[i..].split('"').next().unwrap().to_string()
    };
    (attr("data-allowed"), attr("data-code"), attr("data-colour"))
}

async fn designate(app: &TestApp, area: &AreaCode, level: &str) {
    let resp = app
        .post(Role::Commander, "/api/v1/zones")
        .json(&json!({"area_code": area.as_str(), "level": level, "reason": "确诊病例居住"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_checkpoint_decision_table() {
    let app = spawn_app().await;
    let cp = demo_checkpoint(&app).await;
    let r = app.resident_in(&app.building).await;
    let good = token_for(&app, SubjectKind::Person, r.id, Duration::days(3)).await;

    // Green: pass, masked name and ID, no reasons.
    let (s, v) = api_scan(&app, Role::CheckpointGuard, cp.id, &good).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["allowed"].as_bool(), v["code"].as_str(), v["colour"].as_str()),
        (Some(true), Some("green"), Some("green"))
    );
    assert_eq!(v["name_masked"].as_str().unwrap(), r.name.masked());
    assert_eq!(v["id_masked"].as_str().unwrap(), r.id_number.masked());
    assert!(!v.to_string().contains(r.id_number.as_str()), "full ID number leaked");
    assert_eq!(page_scan(&app, cp.id, &good).await, ("true".into(), "green".into(), "green".into()));

    // A high-risk zone on the building: yellow, refused, with the zone as reason and the
    // zone's rule (protocol-9: stay at home) as what to do.
    designate(&app, &app.building, "high").await;
    let (_, v) = api_scan(&app, Role::CheckpointGuard, cp.id, &good).await;
    assert_eq!(
        (v["allowed"].as_bool(), v["code"].as_str(), v["colour"].as_str()),
        (Some(false), Some("yellow"), Some("yellow"))
    );
    assert_eq!(v["reasons"][0]["code"], "zone_high");
    assert!(v["message_zh"].as_str().unwrap().contains("足不出户"), "{v}");
    assert_eq!(page_scan(&app, cp.id, &good).await, ("false".into(), "yellow".into(), "yellow".into()));

    // Bad tokens: each a refusal with its own code, never a 500.
    let other_key = SecretKey::from_bytes([9; 32]);
    let (key, _) = app.store.current_signing_key().await.unwrap().unwrap();
    let claims = |district: &str, key_id: u32, exp: Duration| Claims {
        kind: SubjectKind::Person,
        district: district.into(),
        key_id,
        subject: r.id,
        issued_at: Utc::now() - Duration::days(2),
        expires_at: Utc::now() + exp,
    };
    let forged = token::sign(&claims(&key.district, key.id as u32, Duration::days(1)), &other_key).unwrap();
    let unknown_key = token::sign(&claims(&key.district, 999, Duration::days(1)), &other_key).unwrap();
    let other_district = token::sign(&claims("110105", key.id as u32, Duration::days(1)), &other_key).unwrap();
    let expired = token_for(&app, SubjectKind::Person, r.id, Duration::minutes(-5)).await;
    let unknown_person = token_for(&app, SubjectKind::Person, 99_999_999, Duration::days(1)).await;
    let cases = [
        (good[..good.len() - 7].to_string(), "token_malformed"),
        ("!!garbage!!".to_string(), "token_malformed"),
        (String::new(), "token_malformed"),
        (forged, "token_forged"),
        (unknown_key, "token_unknown_key"),
        (other_district, "token_other_district"),
        (expired, "token_expired"),
        (unknown_person, "token_unknown_person"),
    ];
    for (tok, code) in &cases {
        let (s, v) = api_scan(&app, Role::CheckpointGuard, cp.id, tok).await;
        assert_eq!(s, StatusCode::OK, "{code}: {v}");
        assert_eq!((v["allowed"].as_bool(), v["code"].as_str()), (Some(false), Some(*code)), "{v}");
        assert!(!v["message_zh"].as_str().unwrap().is_empty() && !v["message_en"].as_str().unwrap().is_empty());
        if !tok.is_empty() {
            assert_eq!(page_scan(&app, cp.id, tok).await.1, *code, "page agrees for {code}");
        }
    }

    // Batch: the same decisions, in order.
    let resp = app
        .post(Role::CheckpointGuard, &format!("/api/v1/checkpoints/{}/scans", cp.id))
        .json(&json!({"scans": [{"token": good, "direction": "out"}, {"token": "CD1.xyz"}]}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    let codes: Vec<&str> = v["results"].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["yellow", "token_malformed"]);

    // Every scan logged: 2 + 2 + (8 api + 7 page) + 2 batch.
    let logged = app.store.recent_scans(cp.id, 1000).await.unwrap();
    assert_eq!(logged.len(), 2 + 2 + 8 + 7 + 2);
    assert!(logged.iter().any(|s| s.scan.code == "token_forged" && !s.scan.allowed && s.scan.resident_id.is_none()));
    assert!(logged.iter().any(|s| s.scan.resident_id == Some(r.id) && s.scan.code == "green"));

    // Unknown checkpoint: 404 with a code; a guard at a checkpoint not theirs: 403, audited.
    let (s, v) = api_scan(&app, Role::CheckpointGuard, 424_242, &good).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("checkpoint_unknown")));
    let other = app
        .store
        .create_checkpoint(
            &NewCheckpoint::new("西门", app.other_building.parent().unwrap(), Utc::now()).unwrap(),
            &cordon_domain::audit::AuditEntry {
                at: Utc::now(),
                actor_id: None,
                actor: "test".into(),
                role: None,
                action: "checkpoint.create".into(),
                target_kind: "area".into(),
                target: String::new(),
                request_id: "t".into(),
                detail: String::new(),
            },
        )
        .await
        .unwrap();
    let (s, v) = api_scan(&app, Role::CheckpointGuard, other.id, &good).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_checkpoint")));
    let (s, v) = api_scan(&app, Role::BuildingLeader, cp.id, &good).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_role")));
    let (s, _) = api_scan(&app, Role::Commander, other.id, &good).await;
    assert_eq!(s, StatusCode::OK, "the commander may scan anywhere");
    let denied = app
        .store
        .audit_log(&AuditFilter { action: Some("access.denied".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert!(denied.iter().any(|e| e.entry.target == other.id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_key_rotation_keeps_old_tokens_until_they_expire() {
    let app = spawn_app().await;
    let cp = demo_checkpoint(&app).await;
    let r = app.resident_in(&app.building).await;
    let (k1, _) = app.store.current_signing_key().await.unwrap().unwrap();
    let old = token_for(&app, SubjectKind::Person, r.id, Duration::days(3)).await;
    let k2 = cordon::codes_cli::rotate(app.store.as_ref()).await.unwrap();
    assert!(k2 > k1.id);
    // The old key's token still verifies; new tokens name the new key.
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &old).await.1["code"], "green");
    let v: Value = app.get_json(Role::BuildingLeader, &format!("/api/v1/residents/{}/code", r.id)).await;
    let fresh = v["token"].as_str().unwrap().to_string();
    assert_eq!(token::decode(&fresh).unwrap().claims.key_id as i64, k2);
    assert_eq!(v["colour"], "green");
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &fresh).await.1["code"], "green");
    // Revoking the old key refuses its tokens at once, and only those.
    cordon::codes_cli::revoke(app.store.as_ref(), k1.id).await.unwrap();
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &old).await.1["code"], "token_key_revoked");
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &fresh).await.1["code"], "green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_profile_switch_changes_colours_without_restart() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let code = |app: &TestApp| {
        let req = app.get(Role::CommunityWorker, &format!("/api/v1/residents/{}/code", r.id));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    designate(&app, &app.building, "medium").await;
    let v = code(&app).await;
    assert_eq!((v["colour"].as_str(), v["reasons"][0]["code"].as_str()), (Some("yellow"), Some("zone_medium")));
    // measures-20 has no medium zones: the same state is green, on the next request.
    let resp =
        app.post(Role::Commander, "/api/v1/policy").json(&json!({"profile": "measures-20"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(code(&app).await["colour"], "green");
    // ... and a medium zone cannot be designated under it.
    let resp = app
        .post(Role::Commander, "/api/v1/zones")
        .json(&json!({"area_code": app.building.as_str(), "level": "medium", "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A malformed profile is refused with its line; the active one stays.
    let bad = cordon_domain::policy::SHIPPED[0].1.replace("high_clear_days = 7", "high_clear_days = \"seven\"");
    let line = bad.lines().position(|l| l.contains("\"seven\"")).unwrap() + 1;
    let resp = app.post(Role::Commander, "/api/v1/policy").json(&json!({"source": bad})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "policy_invalid");
    assert!(v["message_zh"].as_str().unwrap().contains(&format!("第{line}行")), "{v}");
    assert_eq!(app.store.policy_setting().await.unwrap().unwrap().name, "measures-20");
    // Only the commander switches, and every switch is audited.
    let resp =
        app.post(Role::StreetOfficer, "/api/v1/policy").json(&json!({"profile": "protocol-9"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp =
        app.post(Role::Commander, "/api/v1/policy").json(&json!({"profile": "protocol-9"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(code(&app).await["colour"], "yellow");
    let switches = app
        .store
        .audit_log(&AuditFilter { action: Some("policy.switch".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(switches.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_passes_at_checkpoints() {
    let app = spawn_app().await;
    let cp = demo_checkpoint(&app).await;
    let compound = app.building.parent().unwrap();
    let community = compound.parent().unwrap();
    let issue = |body: Value, role: Role| {
        let req = app.post(role, "/api/v1/passes").json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    // A delivery van for the community: let through.
    let (s, v) = issue(json!({"holder_kind": "vehicle", "plate": "晋K·12345", "purpose": "生活物资配送", "scope": [community.as_str()]}), Role::CommunityWorker).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let van = v["token"].as_str().unwrap().to_string();
    let van_id = v["pass"]["id"].as_i64().unwrap();
    let (_, d) = api_scan(&app, Role::CheckpointGuard, cp.id, &van).await;
    assert_eq!(
        (d["allowed"].as_bool(), d["code"].as_str(), d["name_masked"].as_str()),
        (Some(true), Some("pass_valid"), Some("晋K12345"))
    );
    // Out of scope: a pass for another street does not open this gate.
    let other_street = app.other_building.parent().unwrap().parent().unwrap();
    let (s, v) = issue(
        json!({"holder_kind": "vehicle", "plate": "晋K54321", "purpose": "x", "scope": [other_street.as_str()]}),
        Role::Commander,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        api_scan(&app, Role::CheckpointGuard, cp.id, v["token"].as_str().unwrap()).await.1["code"],
        "pass_out_of_scope"
    );
    // Not yet valid.
    let later = (Utc::now() + Duration::days(2)).to_rfc3339();
    let until = (Utc::now() + Duration::days(3)).to_rfc3339();
    let (_, v) = issue(json!({"holder_kind": "vehicle", "plate": "晋K11111", "purpose": "x", "scope": [community.as_str()], "valid_from": later, "valid_until": until}), Role::Commander).await;
    assert_eq!(
        api_scan(&app, Role::CheckpointGuard, cp.id, v["token"].as_str().unwrap()).await.1["code"],
        "pass_not_yet_valid"
    );
    // Issuers act within their scope only; a guard issues nothing.
    let (s, _) = issue(
        json!({"holder_kind": "vehicle", "plate": "晋K22222", "purpose": "x", "scope": [other_street.as_str()]}),
        Role::CommunityWorker,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = issue(
        json!({"holder_kind": "vehicle", "plate": "晋K22222", "purpose": "x", "scope": [community.as_str()]}),
        Role::CheckpointGuard,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = issue(
        json!({"holder_kind": "vehicle", "plate": "AB", "purpose": "x", "scope": [community.as_str()]}),
        Role::Commander,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("plate_format")));
    // A worker living in a high-risk building: yellow, but their pass lets them through.
    let r = app.resident_in(&app.building).await;
    designate(&app, &app.building, "high").await;
    let health = token_for(&app, SubjectKind::Person, r.id, Duration::days(1)).await;
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &health).await.1["code"], "yellow");
    let (_, v) = issue(
        json!({"holder_kind": "person", "resident_id": r.id, "purpose": "医护人员", "scope": [community.as_str()]}),
        Role::Commander,
    )
    .await;
    let person_pass = v["token"].as_str().unwrap().to_string();
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &health).await.1["code"], "pass_holder");
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &person_pass).await.1["code"], "pass_holder");
    // Revoked: refused at once.
    let resp = app
        .post(Role::CommunityWorker, &format!("/api/v1/passes/{van_id}/revoke"))
        .json(&json!({"reason": "车辆更换"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(api_scan(&app, Role::CheckpointGuard, cp.id, &van).await.1["code"], "pass_revoked");
    // The issuance log exports every pass with issuer and revocation, no ID numbers.
    let csv = app.get(Role::Commander, "/passes/export.csv").send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
    assert!(csv.contains("车辆更换") && csv.contains("community_worker"));
    assert!(!csv.contains(r.id_number.as_str()));
    let issued = app
        .store
        .audit_log(&AuditFilter { action: Some("pass.issue".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(issued.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_venue_checkins_and_cards() {
    let app = spawn_app().await;
    let compound = app.building.parent().unwrap();
    let venue =
        app.store.venues_under(&[compound.parent().unwrap()]).await.unwrap().into_iter().next().expect("demo venue");
    let r = app.resident_in(&app.building).await;
    let tok = token_for(&app, SubjectKind::Person, r.id, Duration::days(1)).await;
    let before = Utc::now() - Duration::seconds(1);
    let v: Value = app
        .post(Role::CommunityWorker, &format!("/api/v1/venues/{}/checkins", venue.id))
        .json(&json!({"token": tok}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let v: Value = app
        .post(Role::CommunityWorker, &format!("/api/v1/venues/{}/checkins", venue.id))
        .json(&json!({"token": "CD1.broken"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((v["ok"].as_bool(), v["code"].as_str()), (Some(false), Some("token_malformed")));
    let after = Utc::now() + Duration::seconds(1);
    let url = format!(
        "/api/v1/venues/{}/visits?from={}&to={}",
        venue.id,
        before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let v: Value = app.get(Role::Tracer, &url).send().await.unwrap().json().await.unwrap();
    let who: Vec<i64> = v["visits"].as_array().unwrap().iter().map(|x| x["resident_id"].as_i64().unwrap()).collect();
    assert_eq!(who, vec![r.id]);

    // Code cards: by default only for those who need one (no smartphone, elderly,
    // bedridden); on request one per active resident, names masked.
    let roster = app.store.building_roster(&app.building).await.unwrap();
    let active: Vec<_> = roster
        .iter()
        .flat_map(|h| h.members.iter())
        .filter(|m| m.status == cordon_domain::registry::ResidentStatus::Active)
        .collect();
    let today = cordon_domain::clock::DistrictTz::default().today(chrono::Utc::now());
    let elderly_age = cordon_domain::policy::Profile::shipped(cordon_domain::policy::DEFAULT_PROFILE)
        .unwrap()
        .unwrap()
        .testing
        .elderly_age;
    let needing: Vec<_> = active.iter().filter(|m| m.needs_door_service(today, elderly_age)).collect();
    assert!(!needing.is_empty() && needing.len() < active.len(), "the demo building has both kinds");
    let resp = app.get(Role::BuildingLeader, &format!("/buildings/{}/cards", app.building)).send().await.unwrap();
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"code-card\"").count(), needing.len());
    for m in &needing {
        assert!(html.contains(&m.name.masked()));
    }
    let resp =
        app.get(Role::BuildingLeader, &format!("/buildings/{}/cards?who=all", app.building)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"code-card\"").count(), active.len());
    assert_eq!(html.matches("<svg").count(), active.len());
    for m in &active {
        assert!(html.contains(&m.name.masked()));
        assert!(!html.contains(m.id_number.as_str()), "a full ID number is on the cards");
    }
    assert_eq!(
        app.get(Role::BuildingLeader, &format!("/buildings/{}/cards", app.other_building))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(Role::CheckpointGuard, &format!("/buildings/{}/cards", app.building)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // The resident page's code: a QR and the colour.
    let html =
        app.get(Role::BuildingLeader, &format!("/residents/{}/code", r.id)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-colour=\"green\"") && html.contains("<svg"));
    let svg = app.get(Role::BuildingLeader, &format!("/residents/{}/qr.svg", r.id)).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let printed = app
        .store
        .audit_log(&AuditFilter { action: Some("code_cards.print".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(printed.len(), 2);
}

// ---- two real processes on one PostgreSQL schema -----------------------------------------

struct Server {
    child: std::process::Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(db: &str, schema: &str) -> Server {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .env("CORDON_PG_SCHEMA", schema)
        .env("CORDON_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn cordon serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("server exited before serving").unwrap();
        if let Some(i) = line.find("serving on ") {
            break line[i + "serving on ".len()..].trim().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_two_instances_agree_within_a_second() {
    let Some((store, guard)) = crate::conformance_pg::make_or_skip().await else { return };
    let db = std::env::var("CORDON_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let schema = guard.schema().to_string();
    cordon::generate(store.as_ref(), 400, 3).await.unwrap();
    cordon::codes_cli::rotate(store.as_ref()).await.unwrap();
    let district = AreaCode::parse("141102").unwrap();
    let building = super::app::first_building_under(store.as_ref(), &district).await;
    let compound = building.parent().unwrap();
    let mut tokens = std::collections::HashMap::new();
    for (role, scope) in [(Role::Commander, district.to_string()), (Role::CheckpointGuard, compound.to_string())] {
        let u = cordon::add_user(store.as_ref(), role.code(), role.code(), &scope, None, "password-123").await.unwrap();
        let t = cordon_web::auth::new_token();
        store.create_api_token(&cordon_web::auth::token_hash(&t), u.id, "test", Utc::now()).await.unwrap();
        tokens.insert(role, (t, u.id));
    }
    let entry = cordon_domain::audit::AuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor: "test".into(),
        role: None,
        action: "checkpoint.create".into(),
        target_kind: "area".into(),
        target: String::new(),
        request_id: "t".into(),
        detail: String::new(),
    };
    let cp = store
        .create_checkpoint(&NewCheckpoint::new("东门", compound.clone(), Utc::now()).unwrap(), &entry)
        .await
        .unwrap();
    store.assign_guard(cp.id, tokens[&Role::CheckpointGuard].1, &entry).await.unwrap();
    let r = store.building_roster(&building).await.unwrap().into_iter().flat_map(|h| h.members).next().unwrap();
    let (key, secret) = store.current_signing_key().await.unwrap().unwrap();
    let now = Utc::now();
    let health = token::sign(
        &Claims {
            kind: SubjectKind::Person,
            district: key.district.clone(),
            key_id: key.id as u32,
            subject: r.id,
            issued_at: now,
            expires_at: now + Duration::days(1),
        },
        &secret,
    )
    .unwrap();

    let a = spawn_server(&db, &schema);
    let b = spawn_server(&db, &schema);
    let client = reqwest::Client::new();
    let scan_at_b = |tok: String| {
        let req = client
            .post(format!("{}/api/v1/checkpoints/{}/scans", b.url, cp.id))
            .bearer_auth(&tokens[&Role::CheckpointGuard].0)
            .json(&json!({"token": tok}));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string() }
    };
    let until = |want: &'static str, tok: String| {
        let scan = &scan_at_b;
        async move {
            let started = std::time::Instant::now();
            loop {
                let got = scan(tok.clone()).await;
                if got == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(1),
                    "instance B still says {got}, not {want}, after 1 s"
                );
            }
        }
    };
    assert_eq!(scan_at_b(health.clone()).await, "green");

    // A zone designated through A decides the next scan at B.
    let resp = client
        .post(format!("{}/api/v1/zones", a.url))
        .bearer_auth(&tokens[&Role::Commander].0)
        .json(&json!({"area_code": building.as_str(), "level": "high", "reason": "病例居住"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let took = until("yellow", health.clone()).await;
    eprintln!("zone propagated A → B in {took:?}");

    // A pass issued and revoked through A: valid, then refused at B.
    let resp: Value = client
        .post(format!("{}/api/v1/passes", a.url))
        .bearer_auth(&tokens[&Role::Commander].0)
        .json(&json!({"holder_kind": "vehicle", "plate": "晋K66666", "purpose": "保供", "scope": [compound.as_str()]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pass_token = resp["token"].as_str().unwrap().to_string();
    assert_eq!(scan_at_b(pass_token.clone()).await, "pass_valid");
    let resp = client
        .post(format!("{}/api/v1/passes/{}/revoke", a.url, resp["pass"]["id"]))
        .bearer_auth(&tokens[&Role::Commander].0)
        .json(&json!({"reason": "停用"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let took = until("pass_revoked", pass_token).await;
    eprintln!("revocation propagated A → B in {took:?}");

    // A profile switch through A: medium zones stop colouring at B.
    let resp = client
        .post(format!("{}/api/v1/zones", a.url))
        .bearer_auth(&tokens[&Role::Commander].0)
        .json(&json!({"area_code": building.as_str(), "level": "medium", "reason": "降级"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    until("yellow", health.clone()).await;
    let resp = client
        .post(format!("{}/api/v1/policy", a.url))
        .bearer_auth(&tokens[&Role::Commander].0)
        .json(&json!({"profile": "measures-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    until("green", health).await;
}
