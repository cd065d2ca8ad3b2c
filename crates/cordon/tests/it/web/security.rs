//! The security findings of issue 10, each driven as the attacker drove it: unbounded
//! login names and bodies, open and broken redirects, throttling races, missing headers
//! and cache rules, client-chosen request ids, parser text in errors.

use super::app::{TestApp, spawn_app};
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use reqwest::StatusCode;
use serde_json::json;

fn jar() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn form_csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// Posts the login form (after fetching it for its CSRF cookie) from `client`.
async fn login(app: &TestApp, client: &reqwest::Client, user: &str, pw: &str, next: &str) -> reqwest::Response {
    let html = client.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let csrf = form_csrf(&html);
    client
        .post(format!("{}/login", app.url))
        .form(&[("username", user), ("password", pw), ("_csrf", &csrf), ("next", next)])
        .send()
        .await
        .unwrap()
}

async fn all_audit(app: &TestApp) -> Vec<String> {
    let all = app.store.audit_log(&AuditFilter { limit: 100_000, ..Default::default() }).await.unwrap();
    all.iter()
        .map(|e| {
            format!("{}|{}|{}|{}|{}", e.entry.actor, e.entry.target, e.entry.detail, e.entry.request_id, e.entry.action)
        })
        .collect()
}

/// Finding 1: a login name is bounded at the edge and an unknown one is never stored as
/// typed; form bodies are small on every route but uploads.
#[tokio::test]
async fn security_login_names_and_bodies_are_bounded() {
    let app = spawn_app().await;
    let client = jar();
    // An ID number and a password typed into the username box.
    let id_typed = app.resident_in(&app.building).await.id_number.as_str().to_string();
    for typed in [id_typed.as_str(), "cordon-commander"] {
        let r = login(&app, &client, typed, "whatever-pw", "/").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let audit = all_audit(&app).await;
    let failed: Vec<_> = audit.iter().filter(|a| a.ends_with("|login.failed")).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for a in &audit {
        assert!(!a.contains(&id_typed) && !a.contains("cordon-commander"), "stored verbatim: {a}");
    }
    assert!(failed.iter().all(|a| a.starts_with("?|a:")), "an unknown name is its keyed hash: {failed:?}");
    // A wrong password for a real account names the account, not what was typed.
    let r = login(&app, &client, "commander", "wrong-password", "/").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(all_audit(&app).await.iter().any(|a| a.starts_with("commander|") && a.ends_with("|login.failed")));

    // A long name is not a name: refused, not echoed, not looked up.
    let long = "x".repeat(200);
    let r = login(&app, &client, &long, "pw", "/").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.text().await.unwrap().contains(&long), "not shown back");
    // A 5 MB username is refused by the body limit before anything runs.
    let before = all_audit(&app).await.len();
    let html = client.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let csrf = form_csrf(&html);
    let huge = "u".repeat(5 * 1024 * 1024);
    let r = client
        .post(format!("{}/login", app.url))
        .form(&[("username", huge.as_str()), ("password", "x"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("16 KB"), "the page names the limit");
    assert_eq!(all_audit(&app).await.len(), before, "nothing written");
    // The same on an API route that is not an upload; an upload still takes megabytes.
    let big = json!({"reason": "r".repeat(100 * 1024)});
    let r = app.post(Role::Commander, "/api/v1/passes/1/revoke").json(&big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "upload_too_large");
    let csv = format!("{}\n", "a,".repeat(600 * 1024));
    let r = app.post(Role::CommunityWorker, "/api/v1/residents/import?format=csv").body(csv).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "uploads keep their large limit");
}

/// Findings 3 and 4: `next` is followed only to a path of this site, and a value that is
/// not a valid header never makes a 500 (not even after a successful login).
#[tokio::test]
async fn security_next_is_same_site_and_never_breaks_a_header() {
    let app = spawn_app().await;
    let evil = [
        "/%09/evil.example/x",
        "/%5Cevil.example",
        "//evil.example",
        "/.//evil.example",
        "https://evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "/a%7Fb",
        "/a%0ab",
    ];
    for n in evil {
        let r = app.client.get(format!("{}/lang/en?next={n}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{n}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with('/') && !loc.starts_with("//") && !loc.contains("evil.example"), "{n} → {loc}");
        let r = app.client.get(format!("{}/login?next={n}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{n}");
    }
    // Raw CR/LF/DEL in the login form's `next`, on a successful login.
    for n in ["/areas\r\nSet-Cookie: x=1", "/areas\u{7f}", "/\t/evil.example"] {
        let client = jar();
        let r = login(&app, &client, "commander", "cordon-commander", n).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{n:?}");
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with('/') && !loc.contains("evil.example"), "{n:?} → {loc}");
        assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("x=")));
    }
    let r = app.client.get(format!("{}/lang/en?next=/areas/141102", app.url)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/areas/141102", "a path of this site is kept");
}

/// Finding 8: twenty concurrent wrong passwords for one account are decided one after the
/// other — the free failures and one more reach a password check, the rest wait — and the
/// wait grows but is no lock-out: after it, the right password logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_login_throttle_is_atomic_and_delays() {
    let app = spawn_app().await;
    let rules = cordon_domain::security::SecurityRules::default();
    let mut forms = Vec::new();
    for _ in 0..20 {
        let client = jar();
        let html = client.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
        forms.push((client, form_csrf(&html)));
    }
    let url = format!("{}/login", app.url);
    let tries = forms.into_iter().map(|(client, csrf)| {
        let url = url.clone();
        tokio::spawn(async move {
            let r = client
                .post(url)
                .form(&[("username", "tracer"), ("password", "wrong-password"), ("_csrf", &csrf)])
                .send()
                .await
                .unwrap();
            (r.status(), r.headers().get("retry-after").is_some())
        })
    });
    let mut checked = 0;
    let mut waited = 0;
    for t in tries.collect::<Vec<_>>() {
        match t.await.unwrap() {
            (StatusCode::UNAUTHORIZED, _) => checked += 1,
            (StatusCode::TOO_MANY_REQUESTS, true) => waited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(checked, rules.login_free_failures + 1, "checked against the limit, then waited");
    assert_eq!(waited, 20 - checked);
    let failed = app
        .store
        .audit_log(&AuditFilter { action: Some("login.failed".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(failed.len() as u32, checked, "every checked failure audited, once");
    // While the wait runs even the right password waits (from any address: the account's
    // wait), with the wait in words; after it the right password logs in.
    let r = login(&app, &jar(), "tracer", "cordon-tracer", "/").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("秒后再试"));
    tokio::time::sleep(std::time::Duration::from_secs(u64::from(rules.login_first_delay_seconds) + 1)).await;
    let r = login(&app, &jar(), "tracer", "cordon-tracer", "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a delay, not a lock-out");
}

/// Finding 9: security headers on every answer, no-store on pages and API answers,
/// static assets cacheable, no inline script in any page.
#[tokio::test]
async fn security_headers_and_cache_rules() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let answers = vec![
        app.client.get(format!("{}/login", app.url)).send().await.unwrap(),
        app.get(Role::BuildingLeader, &format!("/residents/{}", r.id)).send().await.unwrap(),
        app.get(Role::BuildingLeader, &format!("/api/v1/residents/{}", r.id)).send().await.unwrap(),
        app.get(Role::Commander, "/no/such/page").send().await.unwrap(),
        app.client.get(format!("{}/api/v1/me", app.url)).send().await.unwrap(),
    ];
    for a in &answers {
        let h = a.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.split(';').any(|d| d.trim().starts_with("script-src") && d.contains("unsafe")), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store", "{}", a.url());
    }
    let css = app.client.get(format!("{}/static/app.css", app.url)).send().await.unwrap();
    assert!(css.headers()["cache-control"].to_str().unwrap().starts_with("public"));
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    // No template carries an inline script or an inline event handler.
    for (name, src) in cordon_web::templates::sources() {
        for (i, part) in src.split("<script").enumerate().skip(1) {
            let tag = part.split('>').next().unwrap_or("");
            assert!(tag.contains("src="), "{name}: inline <script> #{i}");
        }
        assert!(!src.contains(" onclick=") && !src.contains(" onload=") && !src.contains(" onchange="), "{name}");
    }
}

/// Finding 11: a client-chosen request id is not what names the audit entries; a body
/// that does not deserialize names the field and never the parser's text.
#[tokio::test]
async fn security_request_ids_and_error_envelope() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let resp = app
        .get(Role::BuildingLeader, &format!("/residents/{}", r.id))
        .header("x-request-id", "forged-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(rid, "forged-request-1");
    let audit = all_audit(&app).await;
    assert!(audit.iter().all(|a| !a.contains("forged-request-1")), "a client's id is not audited");
    assert!(audit.iter().any(|a| a.contains(&rid)), "the server's id is");

    let bad = [
        (json!({"batch_id": "b", "items": [{"client_id": "1", "kind": 3, "tube": "TB0000000001"}]}), "items[0].kind"),
        (json!({"items": []}), "batch_id"),
    ];
    for (body, field) in bad {
        let resp = app.post(Role::Sampler, "/api/v1/rounds/1/scans").json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["field"], field, "{v}");
        for k in ["message", "message_zh", "message_en"] {
            let m = v[k].as_str().unwrap();
            assert!(!m.contains("line 1") && !m.contains("invalid type") && !m.contains("deserialize"), "{m}");
        }
    }
    let resp = app
        .post(Role::Sampler, "/api/v1/rounds/1/scans")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "bad_request");
    assert!(!v["message_en"].as_str().unwrap().contains("line 1"), "{v}");
}

/// Finding 5: a pass is issued only to a resident of the issuer's scope; the refusal is
/// audited and names no one. Finding 11: a pass opens a bounded number of areas.
#[tokio::test]
async fn security_passes_only_for_residents_in_scope() {
    let app = spawn_app().await;
    let outsider = app.resident_in(&app.other_building).await;
    let insider = app.resident_in(&app.building).await;
    let before = app.store.passes(1000).await.unwrap().len();
    let body = |id: i64, scope: Vec<String>| json!({"holder_kind": "person", "resident_id": id, "purpose": "就医", "scope": scope});
    let own = vec![app.building.as_str().to_string()];
    let r = app.post(Role::StreetOfficer, "/api/v1/passes").json(&body(outsider.id, own.clone())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&outsider.name.masked()) && !text.contains(outsider.name.as_str()), "{text}");
    assert_eq!(app.store.passes(1000).await.unwrap().len(), before, "nothing issued");
    let denied = app
        .store
        .audit_log(&AuditFilter { action: Some("access.denied".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(denied.iter().any(|e| e.entry.actor == "street_officer"), "the refusal is audited");
    let r = app.post(Role::StreetOfficer, "/api/v1/passes").json(&body(insider.id, own.clone())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "a resident in scope gets one");
    // A pass scope of 5,000 codes is refused before any is looked at.
    let many = vec![app.building.as_str().to_string(); 5000];
    let r = app.post(Role::StreetOfficer, "/api/v1/passes").json(&body(insider.id, many)).send().await.unwrap();
    assert!(matches!(r.status(), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE), "{}", r.status());
    let many = vec![app.building.as_str().to_string(); 60];
    let r = app.post(Role::StreetOfficer, "/api/v1/passes").json(&body(insider.id, many)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["code"].as_str(), v["field"].as_str()), (Some("pass_scope_size"), Some("scope")));
}

/// Finding 11: names are bounded and may not hold bidirectional overrides.
#[tokio::test]
async fn security_names_are_bounded_and_plain() {
    let app = spawn_app().await;
    let unit = app.resident_in(&app.building).await.unit;
    let before = app.store.area_summary(&app.building).await.unwrap().unwrap().residents;
    let id =
        cordon_domain::IdNumber::from_parts(141182, chrono::NaiveDate::from_ymd_opt(1971, 3, 4).unwrap(), 555).unwrap();
    let resp = app
        .post(Role::CommunityWorker, &format!("/buildings/{}/visitors", app.building))
        .form(&[
            ("unit", unit.as_str()),
            ("room", "9904"),
            ("name", "张\u{202E}三"),
            ("id_number", id.as_str()),
            ("phone", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("name_chars"));
    assert_eq!(app.store.area_summary(&app.building).await.unwrap().unwrap().residents, before);
    // A site name of 100,000 characters: over the body limit; of 200, over the field's.
    let community = app.building.as_str()[..9].to_string();
    for (len, status) in [(100_000, StatusCode::PAYLOAD_TOO_LARGE), (200, StatusCode::UNPROCESSABLE_ENTITY)] {
        let name = "站".repeat(len);
        let resp = app
            .post(Role::Commander, "/testing/sites")
            .form(&[("name", name.as_str()), ("address", "x"), ("hours", "8-18"), ("areas", community.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{len}");
    }
    let resp = app
        .post(Role::Commander, "/api/v1/checkpoints/999999/scans")
        .json(&json!({"token": "x", "direction": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "a direction is in or out");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["field"], "direction", "{v}");
}

/// Finding 6: a sampler's device time far in the past or the future is not stored; the
/// time of receipt is (as at checkpoints).
#[tokio::test]
async fn security_device_times_are_clamped() {
    let app = spawn_app().await;
    let r = cordon_domain::testing::NewRound {
        area: cordon_domain::area::AreaCode::parse("141102").unwrap(),
        date: chrono::Utc::now().date_naive(),
        mandatory: true,
        pool: cordon_domain::testing::PoolCapacity::new(10).unwrap(),
    };
    let e = cordon_store::conformance::audit_entry(1, "setup", "round.create", "round", "x");
    let round = app.store.create_round(&r, &e).await.unwrap().id;
    let person = app.resident_in(&app.building).await;
    let before = chrono::Utc::now();
    for (n, at) in [(1u32, "1900-01-01T00:00:00Z"), (2, "2999-01-01T00:00:00Z")] {
        let tube = format!("TB{n:010}");
        let items = json!([
            {"client_id": format!("o{n}"), "kind": "open", "tube": tube, "capacity": 10, "at": at},
            {"client_id": format!("s{n}"), "kind": "sample", "tube": tube, "person": person.id_number.as_str(), "at": at},
        ]);
        let resp = app
            .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
            .json(&json!({"batch_id": format!("b{n}"), "items": items}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let barcode = cordon_domain::testing::BarcodePattern::default().parse(&tube).unwrap();
        let t = app.store.tube(&barcode).await.unwrap().unwrap();
        assert!(t.opened_at >= before - chrono::Duration::seconds(1), "{at}: stored {}", t.opened_at);
        assert!(t.opened_at <= chrono::Utc::now(), "{at}: stored {}", t.opened_at);
    }
    // An hour back is an offline queue: believed.
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let items = json!([{"client_id": "o3", "kind": "open", "tube": "TB0000000003", "capacity": 10, "at": hour_ago.to_rfc3339()}]);
    let resp = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
        .json(&json!({"batch_id": "b3", "items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let barcode = cordon_domain::testing::BarcodePattern::default().parse("TB0000000003").unwrap();
    let t = app.store.tube(&barcode).await.unwrap().unwrap();
    assert!((t.opened_at - hour_ago).num_seconds().abs() <= 1, "{}", t.opened_at);
}

/// Finding 7: a registered ID number in the importer's scope updates that person; one
/// registered elsewhere is refused without saying where or whose, and every attempt —
/// refused ones too — is audited.
#[tokio::test]
async fn security_import_is_no_id_number_oracle() {
    let app = spawn_app().await;
    let outsider = app.resident_in(&app.other_building).await;
    let insider = app.resident_in(&app.building).await;
    let unit = insider.unit.clone();
    let fresh =
        cordon_domain::IdNumber::from_parts(141182, chrono::NaiveDate::from_ymd_opt(1972, 5, 6).unwrap(), 321).unwrap();
    let csv = format!(
        "姓名,身份证号,房号,单元编码\n甲乙,{},901,{unit}\n丙丁,{},902,{unit}\n戊己,{},903,{unit}\n",
        outsider.id_number.as_str(),
        insider.id_number.as_str(),
        fresh.as_str(),
    );
    let resp = app.post(Role::CommunityWorker, "/api/v1/residents/import?format=csv").body(csv).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = resp.text().await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let codes: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    // The importer's own resident is an update (no error); the other area's is refused
    // without saying where.
    assert_eq!(codes, vec![(2, "id_number_unavailable")], "{report}");
    for leak in [outsider.name.as_str(), outsider.unit.as_str(), &outsider.name.masked()] {
        assert!(!text.contains(leak), "the report names nothing of the other area: {leak}");
    }
    let refused = app
        .store
        .audit_log(&AuditFilter { action: Some("residents.import.refused".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(refused.len(), 1, "a refused import is audited");
    assert!(refused[0].entry.detail.contains("1 registered elsewhere"), "{}", refused[0].entry.detail);
    assert!(!refused[0].entry.detail.contains(outsider.id_number.as_str()));
    // A file that does not read is an attempt too.
    let resp =
        app.post(Role::CommunityWorker, "/api/v1/residents/import?format=xlsx").body("nope").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let refused = app
        .store
        .audit_log(&AuditFilter { action: Some("residents.import.refused".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(refused.len(), 2);
}

/// Finding 8, the other side: the throttle is no obstacle to people logging in at once
/// from one address (an office), nor to one person on four devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_concurrent_good_logins_pass() {
    let app = spawn_app().await;
    let url = format!("{}/login", app.url);
    let mut who: Vec<Role> = Role::ALL.to_vec();
    who.extend([Role::Commander; 3]);
    let tasks: Vec<_> = who
        .into_iter()
        .map(|role| {
            let url = url.clone();
            tokio::spawn(async move {
                let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
                let r = c
                    .post(url)
                    .header("cookie", format!("{}=good-csrf", cordon_web::auth::LOGIN_CSRF_COOKIE))
                    .form(&[
                        ("username", role.code()),
                        ("password", cordon::demo::demo_password(role).as_str()),
                        ("_csrf", "good-csrf"),
                    ])
                    .send()
                    .await
                    .unwrap();
                (role, r.status())
            })
        })
        .collect();
    for t in tasks {
        let (role, status) = t.await.unwrap();
        assert_eq!(status, StatusCode::SEE_OTHER, "{role:?}");
    }
}

/// Finding 11: an exemption (which takes a person off the missed list) needs its proof,
/// whoever records it — a volunteer included.
#[tokio::test]
async fn security_exemptions_need_proof() {
    let app = spawn_app().await;
    let rounds = app.store.rounds(10).await.unwrap();
    let round = rounds.first().expect("the demo's round").id;
    let missed = app.store.missed(round, std::slice::from_ref(&app.building)).await.unwrap();
    let person = missed.iter().flat_map(|h| h.members.iter()).next().expect("someone missed").resident_id;
    let post = |proof: &'static str| {
        app.post(Role::Volunteer, &format!("/testing/rounds/{round}/exemptions")).form(&[
            ("resident", person.to_string()),
            ("reason", "hospitalised".to_string()),
            ("proof", proof.to_string()),
        ])
    };
    let resp = post("").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("exemption_proof"));
    let still = app.store.missed(round, std::slice::from_ref(&app.building)).await.unwrap();
    assert!(still.iter().flat_map(|h| h.members.iter()).any(|m| m.resident_id == person), "still missed");
    let resp = post("市一院住院部 2026-118").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let after = app.store.missed(round, std::slice::from_ref(&app.building)).await.unwrap();
    assert!(!after.iter().flat_map(|h| h.members.iter()).any(|m| m.resident_id == person), "exempted");
}

/// Finding 11: the missed list the page polls every 2 s is audited at the first read of a
/// window, not at every poll; another reader, or another list, is audited on its own.
#[tokio::test]
async fn security_polled_lists_are_audited_once_per_window() {
    let app = spawn_app().await;
    let round = app.store.rounds(10).await.unwrap().first().expect("the demo's round").id;
    let path = format!("/api/v1/rounds/{round}/missed/{}", app.building);
    for _ in 0..5 {
        assert_eq!(app.get(Role::BuildingLeader, &path).send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(app.get(Role::CommunityWorker, &path).send().await.unwrap().status(), StatusCode::OK);
    let reads = app
        .store
        .audit_log(&AuditFilter { action: Some("missed.read".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    let by = |who: &str| reads.iter().filter(|e| e.entry.actor == who).count();
    assert_eq!((by("building_leader"), by("community_worker")), (1, 1), "one entry per reader and window");
    assert!(reads.iter().all(|e| e.entry.detail.starts_with(&format!("round {round},"))));
}

/// Finding 9: an ID number or a phone is searched by POST, never from a URL.
#[tokio::test]
async fn security_searches_by_id_number_go_by_post() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let id = r.id_number.as_str();
    let resp = app.get(Role::BuildingLeader, &format!("/api/v1/residents?q={id}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((v["code"].as_str(), v["field"].as_str()), (Some("query_in_url"), Some("q")));
    let page = app.get(Role::BuildingLeader, &format!("/search?q={id}")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(&format!("href=\"/residents/{}\"", r.id)), "not searched from the URL");
    assert!(page.contains("method=\"post\" action=\"/search\""), "the form posts");
    let found: Vec<serde_json::Value> = app
        .post(Role::BuildingLeader, "/api/v1/residents/search")
        .json(&json!({"q": id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], r.id);
    let resp = app.post(Role::BuildingLeader, "/search").form(&[("q", id)]).send().await.unwrap();
    assert!(resp.text().await.unwrap().contains(&format!("href=\"/residents/{}\"", r.id)));
}
