//! Instructions that fit the reason (issue 9 §3), over real HTTP: at the gate and at a
//! venue the decision follows the person's worst reason in the profile's words (home
//! control → stay home, and no check-in; a positive pool → wait at home for the re-sample;
//! a missed round → the nearest open sampling site); a vehicle pass has one verdict; the
//! guard's recent scans read in words; a guard lands on their checkpoint's scan page.

use super::app::{TestApp, spawn_app};
use chrono::{Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::policy::Profile;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::role::Role;
use cordon_domain::testing::{NewRound, PoolCapacity};
use cordon_domain::token::{self, Claims, SubjectKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn token_for(app: &TestApp, subject: i64) -> String {
    let (key, secret) = app.store.current_signing_key().await.unwrap().unwrap();
    let now = Utc::now();
    let claims = Claims {
        kind: SubjectKind::Person,
        district: key.district.clone(),
        key_id: key.id as u32,
        subject,
        issued_at: now - Duration::hours(1),
        expires_at: now + Duration::days(2),
    };
    token::sign(&claims, &secret).unwrap()
}

async fn gate(app: &TestApp) -> i64 {
    let compound = app.building.parent().unwrap();
    app.store.checkpoints_under(&[compound]).await.unwrap()[0].id
}

async fn scan(app: &TestApp, cp: i64, token: &str) -> Value {
    let r = app
        .post(Role::CheckpointGuard, &format!("/api/v1/checkpoints/{cp}/scans"))
        .json(&json!({"token": token, "direction": "out"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn checkin(app: &TestApp, venue: i64, token: &str) -> Value {
    app.post(Role::CommunityWorker, &format!("/api/v1/venues/{venue}/checkins"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn round(app: &TestApp, date: chrono::NaiveDate) -> i64 {
    let r = NewRound {
        area: AreaCode::parse("141102").unwrap(),
        date,
        mandatory: true,
        pool: PoolCapacity::new(5).unwrap(),
    };
    let e = cordon_store::conformance::audit_entry(1, "setup", "round.create", "round", "x");
    app.store.create_round(&r, &e).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_instructions_fit_the_reason() {
    let app = spawn_app().await;
    let p9 = Profile::shipped("protocol-9").unwrap().unwrap();
    let cp = gate(&app).await;
    let venue = app.store.venues_under(&[app.building.parent().unwrap().parent().unwrap()]).await.unwrap()[0].id;
    // A household of two or more: one member into a pool that turns positive.
    let roster = app.store.building_roster(&app.building).await.unwrap();
    let members: Vec<Resident> = roster
        .iter()
        .map(|h| h.members.iter().filter(|m| m.status == ResidentStatus::Active).cloned().collect::<Vec<_>>())
        .find(|m| m.len() >= 2)
        .expect("a household of two");
    let (pooled, at_home) = (&members[0], &members[1]);
    let today = round(&app, cordon_domain::clock::DistrictTz::default().today(Utc::now())).await;
    let r = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{today}/scans"))
        .json(&json!({"batch_id": "b", "items": [{"client_id": "1", "kind": "sample", "tube": "IN0000000001", "person": pooled.id_number.as_str()},
            {"client_id": "2", "kind": "seal", "tube": "IN0000000001"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.post(Role::LabTech, "/api/v1/receipts").json(&json!({"code": "IN0000000001"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .post(Role::LabTech, "/api/v1/results")
        .json(&json!({"results": [{"tube": "IN0000000001", "result": "positive"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The member at home is under home control: must stay home, in the profile's words,
    // and the venue refuses the check-in.
    let v = scan(&app, cp, &token_for(&app, at_home.id).await).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert!(v["message_zh"].as_str().unwrap().contains(&p9.instructions.home_control.zh), "{v}");
    assert!(v["message_en"].as_str().unwrap().contains("nder home control: stay at home"), "{v}");
    let c = checkin(&app, venue, &token_for(&app, at_home.id).await).await;
    assert_eq!((c["ok"].as_bool(), c["code"].as_str()), (Some(false), Some("checkin_stay_home")), "{c}");
    assert!(
        c["message_zh"].as_str().unwrap().contains("未登记") && c["message_zh"].as_str().unwrap().contains("居家管控")
    );
    // The pooled member waits at home for the re-sample.
    let v = scan(&app, cp, &token_for(&app, pooled.id).await).await;
    assert!(v["message_zh"].as_str().unwrap().contains(&p9.instructions.pool_positive.zh), "{v}");
    let c = checkin(&app, venue, &token_for(&app, pooled.id).await).await;
    assert_eq!(c["ok"], false);

    // Someone of another household is green and checks in.
    let other = roster
        .iter()
        .filter(|h| h.household_id != pooled.household_id)
        .flat_map(|h| h.members.iter())
        .find(|m| m.status == ResidentStatus::Active)
        .unwrap()
        .clone();
    assert_eq!(scan(&app, cp, &token_for(&app, other.id).await).await["code"], "green");
    assert_eq!(checkin(&app, venue, &token_for(&app, other.id).await).await["ok"], true);

    // A vehicle pass: one verdict on the guard page, "valid pass" with "let through".
    let community = app.building.parent().unwrap().parent().unwrap();
    let v: Value = app
        .post(Role::CommunityWorker, "/api/v1/passes")
        .json(&json!({"holder_kind": "vehicle", "plate": "晋K·12345", "purpose": "生活物资配送", "scope": [community.as_str()]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let van = v["token"].as_str().unwrap().to_string();
    let html = app
        .post(Role::CheckpointGuard, &format!("/checkpoints/{cp}/scan"))
        .form(&[("token", van.as_str()), ("direction", "in")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verdict = html.split("data-testid=\"verdict\"").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(verdict.contains("data-allowed=\"true\"") && verdict.contains("通行证有效"), "{verdict}");
    assert!(!verdict.contains("无效码"), "no 'invalid code' beside 'let through': {verdict}");
    // A malformed code, then the recent scans in words, not codes.
    let html = app
        .post(Role::CheckpointGuard, &format!("/checkpoints/{cp}/scan"))
        .form(&[("token", "CD1.garbage"), ("direction", "in")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let recent = html.split("data-testid=\"recent\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(
        recent.contains("无法识别的码") && recent.contains("车辆通行证有效") && recent.contains("绿码"),
        "{recent}"
    );
    for code in ["token_malformed", "pass_valid", "green<", "yellow<"] {
        assert!(!recent.contains(code), "{code} in {recent}");
    }

    // A missed round: the nearest open sampling site. Someone the demo's round of today
    // did not sample, who missed yesterday's round too.
    let demo_round = app.store.rounds(10).await.unwrap().into_iter().map(|r| r.id).min().unwrap();
    let missing = app.store.missed(demo_round, std::slice::from_ref(&app.building)).await.unwrap();
    let absent = missing
        .iter()
        .filter(|h| h.household_id != pooled.household_id)
        .flat_map(|h| h.members.iter())
        .next()
        .expect("someone the demo did not sample")
        .resident_id;
    let yesterday = cordon_domain::clock::DistrictTz::default().today(Utc::now()) - Duration::days(1);
    round(&app, yesterday).await;
    let v = scan(&app, cp, &token_for(&app, absent).await).await;
    assert_eq!((v["allowed"].as_bool(), v["colour"].as_str()), (Some(false), Some("yellow")), "{v}");
    let msg = v["message_zh"].as_str().unwrap();
    assert!(msg.contains("未按时参加全员核酸检测") && msg.contains("核酸检测点"), "the site by name: {msg}");
    assert!(!msg.contains("{site}"));
    assert_eq!(
        checkin(&app, venue, &token_for(&app, other.id).await).await["ok"],
        true,
        "a missed round keeps nobody home"
    );

    // A guard lands on their checkpoint's scan page after login.
    let jar =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let html = jar.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let password = cordon::demo::demo_password(Role::CheckpointGuard);
    let r = jar
        .post(format!("{}/login", app.url))
        .form(&[
            ("username", "checkpoint_guard"),
            ("password", password.as_str()),
            ("_csrf", csrf.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = jar.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(r.headers()[reqwest::header::LOCATION], format!("/checkpoints/{cp}/scan"));
}
