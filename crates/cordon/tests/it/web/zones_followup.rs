//! Zones on the clock, home quarantine follow-up and the containment KPIs over real HTTP:
//! the commander decides a case's proposed zones (a bad narrowing refused, nothing
//! written), sees the forecast and the clock, lifts a zone with a reason; a zone order for
//! an unknown area; the community worker's follow-up list (masked, audited, no-store), a
//! health check with a bad temperature refused on the same page, a good one recorded, a
//! follow-up outside the caller's area refused — each refusal a clear zh/en error.

use super::app::{TestApp, spawn_app};
use chrono::{Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::registry::Resident;
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use cordon_store::conformance_containment::{act, profile};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A resident of `building` in home quarantine (a secondary contact exposed two days ago,
/// under protocol-9): the order's id. `contact` must be unique in the app.
pub async fn home_order(app: &TestApp, r: &Resident, contact: i64) -> i64 {
    let now = Utc::now();
    let ids = cordon::demo_zones::home_orders(
        app.store.as_ref(),
        &profile("protocol-9"),
        std::slice::from_ref(r),
        contact,
        now - Duration::days(2),
        now - Duration::days(2) + Duration::hours(4),
    )
    .await
    .unwrap();
    ids[0]
}

/// A resident of `building` other than the first few (the fixtures' own residents).
pub async fn later_resident(app: &TestApp, building: &AreaCode) -> Resident {
    let roster = app.store.building_roster(building).await.unwrap();
    let members: Vec<Resident> = roster
        .into_iter()
        .flat_map(|h| h.members)
        .filter(|m| m.status == cordon_domain::registry::ResidentStatus::Active)
        .collect();
    members.last().expect("a resident").clone()
}

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

fn assert_refusal(v: &Value, code: &str, zh: &str, en: &str) {
    assert_eq!(v["code"].as_str(), Some(code), "{v}");
    assert!(v["message_zh"].as_str().unwrap_or_default().contains(zh), "{v}");
    assert!(v["message_en"].as_str().unwrap_or_default().contains(en), "{v}");
}

async fn audited(app: &TestApp, action: &str) -> usize {
    let f = AuditFilter { action: Some(action.into()), limit: 10_000, ..AuditFilter::default() };
    app.store.audit_log(&f).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_a_zone_order_for_an_unknown_area_is_refused_in_both_languages() {
    let app = spawn_app().await;
    // Well formed, at a level zones take, not in the area tree.
    let ghost = format!("{}099", &app.building.as_str()[..12]);
    let before = audited(&app, "zone.designate").await;
    let (s, v) = json_of(
        app.post(Role::Commander, "/api/v1/zones")
            .json(&json!({"area_code": ghost, "level": "high", "reason": "确诊病例居住"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_refusal(&v, "zone_area_unknown", "未找到该区域", "no such area");
    assert_eq!(v["field"].as_str(), Some("area_code"));
    // The page's form says the same.
    let resp = app
        .post(Role::Commander, "/zones")
        .form(&[("area_code", ghost.as_str()), ("level", "high"), ("reason", "确诊病例居住")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("未找到该区域"));
    // Nothing written: no zone, no history, no audit entry.
    let district = AreaCode::parse("141102").unwrap();
    assert!(app.store.zones(&district, false, false).await.unwrap().is_empty());
    assert!(app.store.zone_history(std::slice::from_ref(&district), 10).await.unwrap().is_empty());
    assert_eq!(audited(&app, "zone.designate").await, before);
    // A known area goes through the same store and lands in the history.
    let (s, v) = json_of(
        app.post(Role::Commander, "/api/v1/zones")
            .json(&json!({"area_code": app.building, "level": "high", "reason": "确诊病例居住"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let history = app.get_json(Role::Commander, "/api/v1/zones/history").await;
    assert_eq!(history["events"][0]["kind"].as_str(), Some("ordered"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_the_commander_decides_proposals_sees_the_forecast_and_lifts_a_zone() {
    let app = spawn_app().await;
    let store = app.store.as_ref();
    let p9 = profile("protocol-9");
    let now = Utc::now();
    let r = app.resident_in(&app.building).await;
    cordon::demo_zones::make_case(store, &r, now - Duration::hours(1), 1).await.unwrap();
    store.sweep_cases(act(&p9, now, "zone-clock", "cases.sweep")).await.unwrap();

    let proposals = app.get_json(Role::Commander, "/api/v1/zones/proposals").await;
    let list = proposals.as_array().expect("a list");
    assert_eq!(list.len(), 2, "a high zone on the building and a medium one on the compound: {proposals}");
    let high = list.iter().find(|p| p["level"] == "high").unwrap();
    let high_id = high["id"].as_i64().unwrap();
    assert_eq!(high["area"].as_str(), Some(app.building.as_str()));
    let medium_id = list.iter().find(|p| p["level"] == "medium").unwrap()["id"].as_i64().unwrap();

    // The page shows both with their actions, area names rather than codes.
    let html = app.get(Role::Commander, "/zones").send().await.unwrap().text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"proposal\"").count(), 2);
    let name = store.area(&app.building).await.unwrap().unwrap().name;
    assert!(html.contains(&name));

    // Bad decisions: refused with the field and both languages, nothing written.
    let decide = |id: i64, body: Value| {
        app.post(Role::Commander, &format!("/api/v1/zones/proposals/{id}/decision")).json(&body).send()
    };
    let (s, v) =
        json_of(decide(high_id, json!({"decision": "narrow", "area_code": app.other_building})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_refusal(&v, "zone_narrow_area", "缩小范围", "to narrow");
    let (s, v) = json_of(decide(high_id, json!({"decision": "maybe"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "zone_decision", "研判结果", "decision");
    let (s, v) = json_of(decide(high_id, json!({"decision": "widen"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "zone_decision_area", "选择区域", "choose the area");
    let (s, v) = json_of(decide(987_654, json!({"decision": "accept"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "zone_proposal_unknown", "风险区建议", "zone proposal");
    assert!(store.zones(&app.building, true, false).await.unwrap().is_empty(), "nothing designated");
    assert_eq!(audited(&app, "zone.decide").await, 0);
    // Only the commander decides.
    let resp = app
        .post(Role::CommunityWorker, &format!("/api/v1/zones/proposals/{high_id}/decision"))
        .json(&json!({"decision": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Accept the high zone from the page, in one action; reject the medium one.
    let resp = app
        .post(Role::Commander, &format!("/zones/proposals/{high_id}/decide"))
        .form(&[("decision", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (s, v) = json_of(decide(medium_id, json!({"decision": "reject"})).await.unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("rejected")), "{v}");
    let (s, v) = json_of(decide(high_id, json!({"decision": "reject"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "zone_proposal_decided", "已处理", "already been decided");
    let zones = store.zones(&app.building, true, false).await.unwrap();
    assert_eq!(zones.len(), 1);
    let zone_id = zones[0].id;
    assert_eq!(audited(&app, "zone.decide").await, 2);

    // The forecast: the new zone counts its days, day 0 of 7 (protocol-9).
    let f = app.get_json(Role::Commander, "/api/v1/zones/forecast").await;
    let z = f["forecast"]["zones"].as_array().unwrap().iter().find(|z| z["zone"]["id"] == zone_id).cloned().unwrap();
    assert_eq!((z["needed"].as_u64(), z["clear_days"].as_u64()), (Some(7), Some(0)), "{z}");
    assert_eq!(z["outlook"]["kind"].as_str(), Some("waiting"));
    assert!(f["summary"]["zh"].as_str().unwrap().contains("0个风险区降级"), "{f}");
    assert!(f["summary"]["en"].as_str().unwrap().contains("0 zones step down"), "{f}");
    let (s, v) = json_of(app.get(Role::Commander, "/api/v1/zones/forecast?date=tomorrow").send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["code"].as_str(), Some("date_format"));
    let html = app.get(Role::Commander, "/zones").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-testid=\"clock-zone\" data-outlook=\"waiting\""), "the zone's clock on the page");
    assert!(html.contains("个风险区降级"), "the forecast's summary on the page");
    assert!(html.contains("0/7"), "day 0 of 7");

    // Lift: a reason is required; then ended, in the history.
    let lift = |body: Value| app.post(Role::Commander, &format!("/api/v1/zones/{zone_id}/lift")).json(&body).send();
    let (s, v) = json_of(lift(json!({"reason": "  "})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "zone_lift_reason", "解除理由", "reason");
    assert_eq!(store.zones(&app.building, true, false).await.unwrap().len(), 1, "still open");
    let (s, v) = json_of(lift(json!({"reason": "流调排除"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["ends_at"].is_string());
    let (s, v) = json_of(lift(json!({"reason": "again"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["code"].as_str(), Some("zone_ended"));
    let h = app.get_json(Role::Commander, "/api/v1/zones/history").await;
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["lifted", "rejected", "accepted"]);
    assert_eq!(h["events"][0]["note"].as_str(), Some("流调排除"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followup_health_checks_at_home_masked_audited_and_refused_clearly() {
    let app = spawn_app().await;
    let r = later_resident(&app, &app.building).await;
    let order = home_order(&app, &r, 1).await;
    let outside = later_resident(&app, &app.other_building).await;
    let other_order = home_order(&app, &outside, 2).await;

    // The community worker's list: their area only, names masked, no-store, audited.
    let before = audited(&app, "followup.read").await;
    let resp = app.get(Role::CommunityWorker, "/followup").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("data-order=\"{order}\"")));
    assert!(!html.contains(&format!("data-order=\"{other_order}\"")), "outside the area");
    assert!(html.contains(&r.name.masked()));
    if r.name.as_str().chars().count() > 1 {
        assert!(!html.contains(r.name.as_str()), "the full name is not needed");
    }
    if let Some(p) = &r.phone {
        assert!(!html.contains(p.as_str()), "nor the full phone");
    }
    assert!(html.contains("0/2"), "no check yet of the profile's two a day");
    assert!(html.contains("data-testid=\"test-due\""), "the day-1 door test is due");
    assert_eq!(audited(&app, "followup.read").await, before + 1);
    let list = app.get_json(Role::GridWorker, "/api/v1/followup").await;
    let ids: Vec<i64> = list.as_array().unwrap().iter().filter_map(|l| l["order_id"].as_i64()).collect();
    assert_eq!(ids, vec![order], "the grid worker's grid holds the demo building");
    assert!(!list.to_string().contains(r.name.as_str()) || r.name.as_str().chars().count() < 2);

    // A bad temperature: the same page again, the refusal next to the person in both
    // languages, what was typed kept, nothing written.
    let resp = app
        .post(Role::CommunityWorker, &format!("/followup/orders/{order}/checks"))
        .form(&[("temperature", "45.2"), ("symptom", "cough"), ("note", "咳嗽")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("体温应在34.0至43.0℃之间") && html.contains("34.0 and 43.0"), "both languages");
    assert!(html.contains("value=\"45.2\""), "the typed value kept");
    let (s, v) = json_of(
        app.post(Role::GridWorker, &format!("/api/v1/followup/orders/{order}/checks"))
            .json(&json!({"temperature": "热"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "temperature", "体温", "temperature");
    assert_eq!(v["field"].as_str(), Some("temperature"));
    let (s, v) = json_of(
        app.post(Role::GridWorker, &format!("/api/v1/followup/orders/{order}/checks"))
            .json(&json!({"temperature": 36.5, "symptoms": ["hiccups"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "symptom_unknown", "症状", "symptom");
    let view = cordon_store::conformance_containment::view(&profile("protocol-9"), Utc::now());
    assert!(app.store.order_detail(order, &view).await.unwrap().unwrap().checks.is_empty(), "nothing written");

    // Out of the caller's area: refused as such, in both languages, and audited.
    let denied = audited(&app, "access.denied").await;
    let (s, v) = json_of(
        app.post(Role::GridWorker, &format!("/api/v1/followup/orders/{other_order}/checks"))
            .json(&json!({"temperature": 36.5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"].as_str(), Some("forbidden_scope"), "{v}");
    assert!(
        !v["message_zh"].as_str().unwrap_or_default().is_empty()
            && !v["message_en"].as_str().unwrap_or_default().is_empty()
    );
    assert_eq!(audited(&app, "access.denied").await, denied + 1);
    let (s, v) = json_of(
        app.post(Role::GridWorker, "/api/v1/followup/orders/999999/checks")
            .json(&json!({"temperature": 36.5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_refusal(&v, "order_unknown", "隔离通知", "order");

    // A good check from the form: recorded, audited, on the list with its alarm.
    let resp = app
        .post(Role::CommunityWorker, &format!("/followup/orders/{order}/checks"))
        .form(&[("temperature", "37.6"), ("symptom", "cough"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(audited(&app, "health.check").await, 1);
    let list = app.get_json(Role::CommunityWorker, "/api/v1/followup").await;
    let line = list.as_array().unwrap().iter().find(|l| l["order_id"] == order).cloned().unwrap();
    assert_eq!(line["checks_today"].as_u64(), Some(1));
    assert_eq!(line["last_check"]["alarm"].as_bool(), Some(true), "{line}");
    assert_eq!(line["last_check"]["temperature"].as_f64(), Some(37.6));
    let (s, _) = json_of(
        app.post(Role::GridWorker, &format!("/api/v1/followup/orders/{order}/checks"))
            .json(&json!({"temperature": "36.4"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let html = app.get(Role::GridWorker, "/followup").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("2/2"), "both of today's checks done");

    // The commander's KPIs count them: two secondary contacts at home.
    let k = app.get_json(Role::Commander, "/api/v1/kpis/containment").await;
    let secondary = k["kpis"]["held"]["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "secondary_contact")
        .cloned()
        .unwrap();
    assert_eq!(secondary["home"].as_u64(), Some(2), "{k}");
    assert_eq!(k["capacity"].as_array().unwrap().len(), 14);
    let html = app.get(Role::Commander, "/kpis/containment").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("/static/echarts.min.js") && html.contains("chart-capacity"), "{html}");
}
