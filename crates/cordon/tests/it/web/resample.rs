//! Re-sampling after a positive pool over real HTTP: the task list of the sampling site and
//! the grid worker (API and page), the sampler's single tubes answered as re-samples, the
//! individual results clearing (home control lifted when the household is clear) or
//! confirming (a case), and the pool's timeline on the alerts page and in the API.

use super::app::{TestApp, spawn_app};
use cordon_domain::area::AreaCode;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::role::Role;
use cordon_domain::testing::{NewRound, PoolCapacity};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn make_round(app: &TestApp, pool: u32) -> i64 {
    let r = NewRound {
        area: AreaCode::parse("141102").unwrap(),
        date: chrono::Utc::now().date_naive(),
        mandatory: true,
        pool: PoolCapacity::new(pool).unwrap(),
    };
    let e = cordon_store::conformance::audit_entry(1, "setup", "round.create", "round", "x");
    app.store.create_round(&r, &e).await.unwrap().id
}

/// One active resident from each of `n` households of the building.
async fn one_per_household(app: &TestApp, n: usize) -> Vec<Resident> {
    let mut out = Vec::new();
    for h in app.store.building_roster(&app.building).await.unwrap() {
        if let Some(m) = h.members.into_iter().find(|m| m.status == ResidentStatus::Active) {
            out.push(m);
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "the demo building has {n} households");
    out
}

fn tube(n: u32) -> String {
    format!("RS{n:010}")
}

async fn scans(app: &TestApp, round: i64, batch: &str, items: Value) -> Value {
    let r = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
        .json(&json!({"batch_id": batch, "items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn lab(app: &TestApp, tubes: &[(String, &str)]) {
    for (t, _) in tubes {
        let r = app.post(Role::LabTech, "/api/v1/receipts").json(&json!({"code": t})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{t} received");
    }
    let results: Vec<Value> = tubes.iter().map(|(t, r)| json!({"tube": t, "result": r})).collect();
    let r = app.post(Role::LabTech, "/api/v1/results").json(&json!({"results": results})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
}

async fn tasks(app: &TestApp, role: Role, round: i64) -> Vec<Value> {
    let v = app.get_json(role, &format!("/api/v1/rounds/{round}/resample-tasks?all=true")).await;
    v["tasks"].as_array().unwrap_or_else(|| panic!("{v}")).clone()
}

fn task_of<'a>(list: &'a [Value], r: &Resident) -> &'a Value {
    list.iter().find(|t| t["resident_id"] == r.id).unwrap_or_else(|| panic!("a task for resident {}", r.id))
}

async fn code(app: &TestApp, r: &Resident) -> Value {
    app.get_json(Role::Commander, &format!("/api/v1/residents/{}/code", r.id)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_resample_loop_after_a_positive_pool() {
    let app = spawn_app().await;
    let round = make_round(&app, 5).await;
    let people = one_per_household(&app, 5).await;
    let (neg, pos) = (&people[0], &people[1]);
    let items: Vec<Value> = people
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"client_id": format!("p{i}"), "kind": "sample", "tube": tube(1), "person": p.id_number.as_str()}))
        .collect();
    let v = scans(&app, round, "pool", json!(items)).await;
    assert_eq!(v["accepted"], 5);
    lab(&app, &[(tube(1), "positive")]).await;

    // The sampling site and the grid worker see one task per member, door-to-door (every
    // household is under home control now), with phone and the unit by name.
    let site = tasks(&app, Role::Sampler, round).await;
    assert_eq!(site.len(), 5, "{site:?}");
    for t in &site {
        assert_eq!((t["state"].as_str(), t["door_to_door"].as_bool()), (Some("waiting"), Some(true)), "{t}");
        assert!(t["unit_name"].as_str().is_some_and(|u| !u.is_empty() && !u.starts_with("1411")), "{t}");
        assert!(t["building"].as_str().is_some_and(|b| !b.is_empty()), "{t}");
        assert_eq!(t["tube"], tube(1));
    }
    assert_eq!(task_of(&site, neg)["phone"].as_str(), neg.phone.as_ref().map(|p| p.as_str()));
    let grid = tasks(&app, Role::GridWorker, round).await;
    assert_eq!(grid.len(), 5);
    let page = app.get(Role::GridWorker, &format!("/testing/rounds/{round}/resample")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[reqwest::header::CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"resample-task\"").count(), 5);
    assert_eq!(html.matches("data-testid=\"door-to-door\"").count(), 5, "one flag per household");
    let bname = app.store.area(&app.building).await.unwrap().unwrap().name;
    let heading = html.split("data-testid=\"resample-building\">").nth(1).unwrap().split('<').next().unwrap();
    assert!(heading.contains(&bname), "grouped under the building by name: {heading}");
    // Neither a volunteer nor someone of another street sees them.
    let r = app.get(Role::Volunteer, &format!("/api/v1/rounds/{round}/resample-tasks")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A marked member scanned into a pooled tube: told to use a single tube, nothing written.
    let v = scans(
        &app,
        round,
        "pooled",
        json!([{"client_id": "x", "kind": "sample", "tube": tube(2), "person": neg.id_number.as_str()}]),
    )
    .await;
    assert_eq!(v["outcomes"][0]["code"], "resample_single_tube", "{v}");
    // Into single tubes: re-samples (not second samples), sealed at once.
    let single = |client: &str, t: String, p: &Resident| {
        vec![
            json!({"client_id": format!("{client}o"), "kind": "open", "tube": t, "capacity": 1}),
            json!({"client_id": client, "kind": "sample", "tube": t, "person": p.id_number.as_str()}),
        ]
    };
    let mut items = single("n", tube(10), neg);
    items.extend(single("p", tube(11), pos));
    let v = scans(&app, round, "resample", json!(items)).await;
    for o in [&v["outcomes"][1], &v["outcomes"][3]] {
        assert_eq!(
            (o["code"].as_str(), o["resample"].as_bool(), o["sealed"].as_bool()),
            (Some("ok"), Some(true), Some(true)),
            "{v}"
        );
    }
    // Someone of the pool not marked any more cannot be re-sampled: only a marked member may.
    let other = one_per_household(&app, 7).await.pop().unwrap();
    let v = scans(
        &app,
        round,
        "other",
        json!([{"client_id": "o1", "kind": "sample", "tube": tube(3), "person": other.id_number.as_str()}]),
    )
    .await;
    assert_eq!(v["outcomes"][0]["code"], "ok");
    let v = scans(&app, round, "other2", json!(single("o2", tube(12), &other))).await;
    assert_eq!(v["outcomes"][1]["code"], "already_sampled", "{v}");

    let site = tasks(&app, Role::Sampler, round).await;
    assert_eq!(task_of(&site, neg)["state"], "sampled");
    assert_eq!(task_of(&site, pos)["state"], "sampled");
    assert_eq!(site.iter().filter(|t| t["state"] == "waiting").count(), 3);

    // The lab: one negative, one positive.
    lab(&app, &[(tube(10), "negative"), (tube(11), "positive")]).await;
    let site = tasks(&app, Role::Sampler, round).await;
    assert_eq!(
        (task_of(&site, neg)["state"].as_str(), task_of(&site, pos)["state"].as_str()),
        (Some("done"), Some("done"))
    );
    let open = app.get_json(Role::Sampler, &format!("/api/v1/rounds/{round}/resample-tasks")).await;
    assert_eq!(open["tasks"].as_array().unwrap().len(), 3, "open ones only by default");

    // The negative member is cleared and, alone of the pool in the household, free of home
    // control; the positive one is a case.
    let marks = app.get_json(Role::Tracer, &format!("/api/v1/rounds/{round}/pool-positives")).await;
    let status = |r: &Resident| {
        marks["members"].as_array().unwrap().iter().find(|m| m["resident_id"] == r.id).unwrap()["status"].clone()
    };
    assert_eq!((status(neg), status(pos)), (json!("cleared"), json!("confirmed")));
    assert!(!app.store.under_control(neg.household_id).await.unwrap(), "the household is clear");
    assert!(app.store.under_control(pos.household_id).await.unwrap());
    assert!(app.store.under_control(people[2].household_id).await.unwrap(), "still awaiting");
    let (n, p) = (code(&app, neg).await, code(&app, pos).await);
    assert_eq!(p["colour"], "red", "{p}");
    assert!(p["reasons"].as_array().unwrap().iter().any(|r| r["code"] == "case"), "{p}");
    assert!(n["reasons"].as_array().unwrap().iter().all(|r| r["code"] != "pool_positive"), "{n}");
    let still = code(&app, &people[2]).await;
    assert!(still["reasons"].as_array().unwrap().iter().any(|r| r["code"] == "pool_positive"), "{still}");

    // The pool's timeline in the API: each member's re-sample and result, the time to each.
    let t = app.get_json(Role::Tracer, &format!("/api/v1/chases/{}", tube(1))).await;
    assert_eq!(
        (t["members_count"].as_u64(), t["resampled"].as_u64(), t["cases"].as_u64()),
        (Some(5), Some(2), Some(1)),
        "{t}"
    );
    let members = t["members"].as_array().unwrap();
    let m = |r: &Resident| members.iter().find(|m| m["resident_id"] == r.id).unwrap().clone();
    assert_eq!(m(neg)["status"], "cleared");
    assert!(m(neg)["time_to_resample_s"].as_i64().is_some_and(|s| s >= 0));
    assert!(m(pos)["resolved_at"].is_string());
    assert!(m(&people[2])["time_to_resample_s"].is_null());
    assert!(t["pool_time_to_resample_s"].is_null(), "three are not re-sampled yet");
    let r = app.get(Role::Tracer, "/api/v1/chases/RS9999999999").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get(Role::Tracer, "/api/v1/chases/nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // And on the alerts page, with what to do next and a way to the task list.
    let page = app.get(Role::Commander, "/testing/alerts").send().await.unwrap().text().await.unwrap();
    let at = page.find(&format!("data-testid=\"timeline\" data-tube=\"{}\"", tube(1))).expect("the pool's timeline");
    let section = &page[at..];
    assert_eq!(section.matches("data-testid=\"timeline-member\"").count(), 5);
    assert!(section.contains(">2/5<"), "two of five re-sampled");
    assert!(section.contains("data-status=\"cleared\"") && section.contains("data-status=\"confirmed\""));
    assert!(page.contains(&format!("/testing/rounds/{round}/resample")));
}
