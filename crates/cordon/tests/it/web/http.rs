//! The web surface driven over real HTTP: audit records, bad input, sessions and login
//! throttling, the OpenAPI document, the English switch. (The authorization table of every
//! route is `authz.rs`.)

use super::app::spawn_app;
use cordon_domain::IdNumber;
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicU32, Ordering};

fn fresh_id() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + chrono::Days::new(u64::from(n) * 3);
    IdNumber::from_parts(141182, birth, 777).unwrap().as_str().to_string()
}

#[tokio::test]
async fn unauthenticated_requests() {
    let app = spawn_app().await;
    let page = app.client.get(format!("{}/areas/141102", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert!(page.headers()["location"].to_str().unwrap().starts_with("/login?next="));
    let api = app.client.get(format!("{}/api/v1/me", app.url)).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert!(body["request_id"].as_str().unwrap().len() >= 8);
    let bad = app.client.get(format!("{}/api/v1/me", app.url)).bearer_auth("nope").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reads_and_changes_are_audited_without_personal_data() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let resp = app.get(Role::BuildingLeader, &format!("/residents/{}", r.id)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = resp.text().await.unwrap();
    assert!(html.contains(r.id_number.as_str()), "detail shows the full ID to its keeper");
    let reads = app
        .store
        .audit_log(&AuditFilter { action: Some("resident.read".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let read = reads.first().expect("a read entry");
    assert_eq!(read.entry.target, r.id.to_string());
    assert_eq!(read.entry.actor, "building_leader");
    assert_eq!(read.entry.request_id, request_id, "the audit entry names the request");

    let resp = app
        .post(Role::BuildingLeader, &format!("/api/v1/residents/{}/corrections", r.id))
        .json(&serde_json::json!({"kind": "phone", "phone": "139 8888 7777"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let after = app.store.resident(r.id).await.unwrap().unwrap();
    assert_eq!(after.phone.unwrap().as_str(), "13988887777");
    let changes = app
        .store
        .audit_log(&AuditFilter { action: Some("resident.update".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].entry.detail, "phone -> 139****7777");

    let roster = app.get(Role::GridWorker, &format!("/buildings/{}", app.building)).send().await.unwrap();
    assert_eq!(roster.status(), StatusCode::OK);
    let all = app.store.audit_log(&AuditFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    assert!(all.iter().any(|e| e.entry.action == "roster.read" && e.entry.target == app.building.as_str()));
    for e in &all {
        let text = format!("{} {} {}", e.entry.target, e.entry.detail, e.entry.actor);
        assert!(
            !text.contains(r.id_number.as_str()) && !text.contains("13988887777"),
            "no personal data in audit: {text}"
        );
    }
    // The commander can read the log, page by page.
    let page = app.get(Role::Commander, "/audit?action=resident.update").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("resident.update") && page.contains("楼长"), "the role in words");
    assert!(page.contains("更新居民"), "the action in words");
    // By family: `resident` finds resident.update (and resident.read), never roster.read.
    let page = app.get(Role::Commander, "/audit?action=resident").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("更新居民") && !page.contains("roster.read"));
    let page = app.get(Role::Commander, "/audit?action=roster").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("查看楼栋名册") && !page.contains("resident.update"));
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_writes_nothing() {
    let app = spawn_app().await;
    let unit = app.resident_in(&app.building).await.unit;
    let before = app.store.area_summary(&app.building).await.unwrap().unwrap().residents;
    let existing = app.resident_in(&app.building).await.id_number;
    let cases: Vec<(String, &str, StatusCode, &str)> = vec![
        ("11010519491231002".into(), "13900001111", StatusCode::UNPROCESSABLE_ENTITY, "id_number_length"),
        ("110105194912310021".into(), "13900001111", StatusCode::UNPROCESSABLE_ENTITY, "id_number_checksum"),
        ("110105194902300028".into(), "13900001111", StatusCode::UNPROCESSABLE_ENTITY, "id_number_birth_date"),
        ("11010519491231002Ⅹ".into(), "13900001111", StatusCode::UNPROCESSABLE_ENTITY, "id_number_chars"),
        (fresh_id(), "1390000111", StatusCode::UNPROCESSABLE_ENTITY, "phone_format"),
        (existing.as_str().to_string(), "13900001111", StatusCode::CONFLICT, "id_number_exists"),
    ];
    for (id, phone, status, code) in cases {
        let resp = app
            .post(Role::CommunityWorker, &format!("/buildings/{}/visitors", app.building))
            .header("accept-language", "zh")
            .form(&[
                ("unit", unit.as_str()),
                ("room", "9903"),
                ("name", "错误甲"),
                ("id_number", &id),
                ("phone", phone),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{code}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(code), "page names the code {code}");
        assert!(html.contains("data-testid=\"error\""), "rendered as an error page");
    }
    // Full-width digits and a lowercase x are normalised, not refused.
    let fw: String =
        fresh_id().chars().map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c)).collect();
    let resp = app
        .post(Role::CommunityWorker, &format!("/buildings/{}/visitors", app.building))
        .form(&[("unit", unit.as_str()), ("room", "9903"), ("name", "全角乙"), ("id_number", &fw), ("phone", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let after = app.store.area_summary(&app.building).await.unwrap().unwrap().residents;
    assert_eq!(after, before + 1, "only the good visitor was written");

    // The JSON envelope names the field, in both languages.
    let resp = app.get(Role::Commander, "/api/v1/areas/14110").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "area_code_format");
    assert_eq!(body["field"], "area_code");
    assert!(body["message_zh"].as_str().unwrap().contains("区域编码"));
    assert!(body["message_en"].as_str().unwrap().contains("area code"));
    // An area that is not in the district.
    let resp = app.get(Role::Commander, "/api/v1/areas/141199").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Files: not an xlsx, empty, too large.
    let resp =
        app.post(Role::CommunityWorker, "/api/v1/residents/import?format=xlsx").body("hello").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["message_zh"].as_str().unwrap().len() > 3, "{body}");
    let resp = app.post(Role::CommunityWorker, "/api/v1/residents/import?format=csv").body("").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let big = vec![b'a'; 50 * 1024 * 1024];
    let resp = app.post(Role::CommunityWorker, "/api/v1/residents/import?format=csv").body(big).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["message_en"].as_str().unwrap().contains("MB") || body["message_en"].as_str().unwrap().contains("large"),
        "{body}"
    );
    let after2 = app.store.area_summary(&app.building).await.unwrap().unwrap().residents;
    assert_eq!(after2, after);
}

/// The CSRF token of the first form on a page.
fn form_csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn login_sessions_csrf_and_throttling() {
    let app = spawn_app().await;
    let jar =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login_page = jar.get(format!("{}/login", app.url)).send().await.unwrap();
    let html = login_page.text().await.unwrap();
    let csrf = form_csrf(&html);

    // Wrong password, then the right one.
    let bad = jar
        .post(format!("{}/login", app.url))
        .form(&[("username", "commander"), ("password", "wrong-password"), ("_csrf", &csrf), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let html = bad.text().await.unwrap();
    let csrf = form_csrf(&html);
    let ok = jar
        .post(format!("{}/login", app.url))
        .form(&[("username", "commander"), ("password", "cordon-commander"), ("_csrf", &csrf), ("next", "/areas")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("cordon_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(ok.headers()["location"], "/areas");
    let page = jar.get(format!("{}/areas/141102", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // A form posted with the session but without its CSRF token is refused.
    let r = app.resident_in(&app.building).await;
    let forged = jar
        .post(format!("{}/residents/{}/corrections", app.url, r.id))
        .form(&[("kind", "moved_out"), ("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.resident(r.id).await.unwrap().unwrap().status, r.status, "nothing changed");
    // So is a state-changing API call from the browser session without the header.
    let api = jar
        .post(format!("{}/api/v1/residents/{}/corrections", app.url, r.id))
        .json(&serde_json::json!({"kind": "moved_out"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);

    // Repeated failures make the next attempt wait (by account and by address; the race,
    // the growing delay and the end of the wait are `security.rs`).
    let fresh =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let html = fresh.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
        let csrf = form_csrf(&html);
        let resp = fresh
            .post(format!("{}/login", app.url))
            .form(&[("username", "tracer"), ("password", "wrong-password"), ("_csrf", &csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Logging in without the login form's cookie is refused (CSRF on the login form).
    let naked = app
        .client
        .post(format!("{}/login", app.url))
        .form(&[("username", "commander"), ("password", "cordon-commander"), ("_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(naked.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let app = spawn_app().await;
    let doc: serde_json::Value =
        app.client.get(format!("{}/api/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/me",
        "/api/v1/areas/{code}",
        "/api/v1/buildings/{code}/roster",
        "/api/v1/residents/{id}",
        "/api/v1/residents/import",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Every API route of the registry is documented, with its method.
    for r in cordon_web::routes::registry().into_iter().filter(|r| r.path.starts_with("/api/")) {
        if r.path == "/api/openapi.json" {
            continue;
        }
        let method = r.verb.as_str().to_lowercase();
        assert!(paths.get(r.path).is_some_and(|p| p[&method].is_object()), "{method} {} is documented", r.path);
    }
}

#[tokio::test]
async fn english_switch_and_search_scope() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let zh = app
        .get(Role::BuildingLeader, &format!("/buildings/{}", app.building))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(zh.contains("楼栋名册") && zh.contains("退出"));
    let en = app
        .get(Role::BuildingLeader, &format!("/buildings/{}", app.building))
        .header("cookie", "lang=en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Building roster") && en.contains("Log out"));
    // A name search by a building leader returns only people of that building.
    let surname: String = r.name.as_str().chars().take(1).collect();
    let found: Vec<serde_json::Value> = app
        .get(Role::BuildingLeader, &format!("/api/v1/residents?q={surname}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!found.is_empty());
    for f in &found {
        assert!(f["unit_code"].as_str().unwrap().starts_with(app.building.as_str()));
    }
}
