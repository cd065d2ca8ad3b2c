//! Tracing over real HTTP: the demo's cases wait on the tracer's work list; bad input at
//! the edge (an invalid ID number or phone, a last exposure in the future) is a zh/en
//! error naming the field, with nothing written; candidates confirmed through the API are
//! audited and the chains API returns the network; roles without the job are refused.

use super::app::spawn_app;
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn tracer_work_list_bad_input_confirmation_and_chains() {
    let app = spawn_app().await;
    // The demo seeded cases with candidates waiting.
    let list = app.get_json(Role::Tracer, "/api/v1/cases").await;
    let cases = list["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "{list}");
    let case = &cases[0];
    let id = case["id"].as_i64().unwrap();
    assert!(case["candidates_waiting"].as_u64().unwrap() > 0);
    assert_eq!(case["tasks"].as_array().unwrap().len(), 2);
    let page = app.get(Role::Tracer, "/tracing").send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.text().await.unwrap().contains(&format!("data-case=\"{id}\"")));

    // Bad input: nothing written, the field named in both languages.
    let audit = |s: &'static str| AuditFilter { action: Some(s.into()), limit: 1000, ..AuditFilter::default() };
    let before = app.store.audit_log(&audit("contact.add")).await.unwrap().len();
    for (field, value, code) in [
        ("id_number", "11010119900101123X", "id_number"),
        ("phone", "1234", "phone"),
        ("last_exposure", "2999-01-01T10:00", "trace_exposure_future"),
    ] {
        let mut form = vec![
            ("name", "外地人员".to_string()),
            ("class", "close".to_string()),
            ("setting", "workplace".to_string()),
            ("last_exposure", chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string()),
            ("phone", "13800001111".to_string()),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value.to_string()));
        let r = app.post(Role::Tracer, &format!("/tracing/cases/{id}/contacts")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let body = r.text().await.unwrap();
        assert!(body.contains(code), "{field}: {body}");
    }
    assert_eq!(app.store.audit_log(&audit("contact.add")).await.unwrap().len(), before);
    let detail = app.get_json(Role::Tracer, &format!("/api/v1/cases/{id}")).await;
    assert!(detail["contacts"].as_array().unwrap().is_empty());

    // Confirm the household's candidates through the API; twice is refused.
    let household: Vec<i64> = detail["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "household" || c["source"] == "pool_mate")
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(!household.is_empty(), "{detail}");
    let body = json!({"candidates": household, "confirm": true});
    let r = app.post(Role::Tracer, &format!("/api/v1/cases/{id}/candidates")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again = app.post(Role::Tracer, &format!("/api/v1/cases/{id}/candidates")).json(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = again.json().await.unwrap();
    assert_eq!(err["code"], "candidate_decided");
    assert!(err["message_zh"].as_str().unwrap().contains("已确认") && !err["message_en"].as_str().unwrap().is_empty());
    let confirmed = app.store.audit_log(&audit("tracing.candidate.confirm")).await.unwrap().len();
    assert_eq!(confirmed, household.len());

    // The network: the case and its contacts, one generation down.
    let chains = app.get_json(Role::Commander, "/api/v1/chains").await;
    let nodes = chains["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["id"] == format!("c{id}") && n["generation"] == 1));
    assert_eq!(nodes.iter().filter(|n| n["contact_id"].is_i64() && n["generation"] == 2).count(), household.len());
    let kpis = app.get_json(Role::Commander, "/api/v1/tracing/kpis").await;
    assert!(kpis["cases"].as_u64().unwrap() >= 3);

    // Not the sampler's job.
    let r = app.get(Role::Sampler, &format!("/api/v1/cases/{id}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
