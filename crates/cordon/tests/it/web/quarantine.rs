//! Quarantine and closed-loop transfer over real HTTP: the queue → orders → dispatch →
//! pickups at the door (ID number and health-code token, retried) → arrival in rooms →
//! the site board, the release list and release; and the bad input of the issue — a room
//! over capacity, categories mixed, a release with a test missing or positive, a person not
//! on the transfer, an arrival at a full site — each a clear zh/en error with nothing
//! written. Pages are checked for what each role acts on.

use super::app::{TestApp, spawn_app};
use chrono::{Duration, Utc};
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::quarantine::{Person, PersonResult};
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::role::Role;
use cordon_domain::testing::TestResult;
use cordon_store::AuditFilter;
use cordon_store::conformance_containment::{act, profile};
use cordon_store::containment::{IsolationCandidate, OrderQuery};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

/// Households of the second street's building whose members have no order yet.
async fn free_households(app: &TestApp) -> Vec<Vec<Resident>> {
    let mut out = Vec::new();
    for h in app.store.building_roster(&app.other_building).await.unwrap() {
        let members: Vec<Resident> = h.members.into_iter().filter(|m| m.status == ResidentStatus::Active).collect();
        if members.is_empty() {
            continue;
        }
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let q = OrderQuery { resident_ids: Some(ids), ..OrderQuery::default() };
        if app.store.orders(q).await.unwrap().is_empty() {
            out.push(members);
        }
    }
    out
}

/// Puts `people` on the queue as close contacts exposed ten hours ago; their contact ids.
async fn enqueue(app: &TestApp, people: &[&Resident]) -> Vec<i64> {
    static NEXT: AtomicI64 = AtomicI64::new(770_000);
    let now = Utc::now();
    let p = profile("protocol-9");
    let mut ids = Vec::new();
    let cands = people
        .iter()
        .map(|r| {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            ids.push(id);
            IsolationCandidate {
                contact_id: id,
                person: Person {
                    resident_id: Some(r.id),
                    name: r.name.clone(),
                    id_number: None,
                    phone: None,
                    unit: Some(r.unit.clone()),
                    address: String::new(),
                    household_id: Some(r.household_id),
                },
                class: ContactClass::Close,
                last_exposure: now - Duration::hours(10),
                identified_at: now - Duration::hours(2),
                deadline: now + Duration::hours(22),
            }
        })
        .collect();
    app.store.enqueue_isolation(cands, act(&p, now, "tracer", "contacts.enqueue")).await.unwrap().unwrap();
    ids
}

async fn send_json(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn issue(app: &TestApp, contacts: &[i64]) -> Vec<i64> {
    let (s, b) =
        send_json(app.post(Role::Commander, "/api/v1/quarantine/orders").json(&json!({"contacts": contacts}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["orders"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect()
}

/// A site of the second street with these rooms (floor, number, beds), by API.
async fn open_site(app: &TestApp, name: &str, categories: &[&str], rooms: &[(i32, &str, u32)]) -> i64 {
    let rooms: Vec<_> = rooms.iter().map(|(f, n, b)| json!({"floor": f, "number": n, "beds": b})).collect();
    let (s, b) = send_json(app.post(Role::SiteManager, "/api/v1/quarantine/sites").json(&json!({
        "name": name, "kind": "hotel", "address": "测试路9号", "area_code": app.other_building,
        "manager": "测试经理", "categories": categories, "rooms": rooms,
    })))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_i64().unwrap()
}

async fn dispatch(app: &TestApp, orders: &[i64], site: i64) -> (StatusCode, Value) {
    let driver = app.store.user_by_username("transfer_dispatcher").await.unwrap().unwrap();
    send_json(app.post(Role::TransferDispatcher, "/api/v1/quarantine/runs").json(&json!({
        "orders": orders, "site_id": site, "plate": "晋K11111", "driver_user_id": driver.id,
        "team": "二号专班", "seats": 7,
    })))
    .await
}

async fn pickup(app: &TestApp, run: i64, key: &str, who: &str) -> (StatusCode, Value) {
    send_json(
        app.post(Role::TransferDispatcher, &format!("/api/v1/quarantine/runs/{run}/pickups"))
            .json(&json!({"key": key, "who": who})),
    )
    .await
}

async fn order(app: &TestApp, id: i64) -> cordon_domain::containment::quarantine::Order {
    app.store.orders(OrderQuery::ids(vec![id])).await.unwrap().pop().unwrap()
}

async fn audit_len(app: &TestApp) -> usize {
    app.store.audit_log(&AuditFilter { limit: 100_000, ..AuditFilter::default() }).await.unwrap().len()
}

/// A refusal: the status, its code, and a message in both languages.
fn refused(s: StatusCode, b: &Value, code: &str) {
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["code"], code, "{b}");
    assert!(
        !b["message_zh"].as_str().unwrap_or("").is_empty() && !b["message_en"].as_str().unwrap_or("").is_empty(),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_loop_queue_to_release() {
    let app = spawn_app().await;
    // The demo's queue: contacts waiting, one past its deadline.
    let q = app.get_json(Role::Commander, "/api/v1/quarantine/queue").await;
    let waiting = q["waiting"].as_array().unwrap();
    assert!(waiting.len() >= 3 && waiting.iter().any(|e| e["overdue"] == true), "{q}");
    assert!(waiting.iter().all(|e| e["name"].as_str().unwrap().contains('*')), "names are masked");

    let hh = free_households(&app).await;
    let singles: Vec<&Resident> = hh.iter().take(2).map(|h| &h[0]).collect();
    let contacts = enqueue(&app, &singles).await;
    let orders = issue(&app, &contacts).await;
    assert_eq!(orders.len(), 2);
    let site = open_site(&app, "测试一号", &["close_contact"], &[(2, "201", 1), (2, "202", 1), (3, "301", 1)]).await;
    let board = app.get_json(Role::TransferDispatcher, "/api/v1/quarantine/dispatch").await;
    let ids: Vec<i64> = board["waiting"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert!(orders.iter().all(|o| ids.contains(o)), "{board}");

    let (s, run) = dispatch(&app, &orders, site).await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    let run = run["id"].as_i64().unwrap();
    let mine = app.get_json(Role::TransferDispatcher, "/api/v1/quarantine/driver/runs").await;
    assert!(mine["runs"].as_array().unwrap().iter().any(|r| r["id"] == run), "{mine}");

    // Someone not on this run, at the door: refused, nothing written.
    let before = audit_len(&app).await;
    let outsider = &hh[3][0];
    let (s, b) = pickup(&app, run, "door-0", outsider.id_number.as_str()).await;
    refused(s, &b, "not_on_transfer");
    assert!(b["message_zh"].as_str().unwrap().contains("此人不在本车转运名单中"), "{b}");
    assert_eq!(audit_len(&app).await, before);
    assert_eq!(order(&app, orders[0]).await.picked_up_at, None);

    // The first by ID number, retried with the same key; the second by their health code.
    let (s, b) = pickup(&app, run, "door-1", singles[0].id_number.as_str()).await;
    assert_eq!((s, b["remaining"].as_u64()), (StatusCode::OK, Some(1)), "{b}");
    let (s, b) = pickup(&app, run, "door-1", singles[0].id_number.as_str()).await;
    assert_eq!((s, b["remaining"].as_u64()), (StatusCode::OK, Some(1)), "a retry changes nothing: {b}");
    let code = app.get_json(Role::Commander, &format!("/api/v1/residents/{}/code", singles[1].id)).await;
    let token = code["token"].as_str().unwrap();
    let (s, b) = pickup(&app, run, "door-2", token).await;
    assert_eq!((s, b["remaining"].as_u64()), (StatusCode::OK, Some(0)), "{b}");
    let driver = app.store.user_by_username("transfer_dispatcher").await.unwrap().unwrap();
    let o = order(&app, orders[0]).await;
    assert!(o.picked_up_at.is_some() && o.picked_up_by.as_deref() == Some(driver.display_name.as_str()), "{o:?}");

    let (s, b) = send_json(
        app.post(Role::TransferDispatcher, &format!("/api/v1/quarantine/runs/{run}/arrival"))
            .json(&json!({"key": "arrive-1"})),
    )
    .await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("completed")), "{b}");
    let board = app.get_json(Role::SiteManager, &format!("/api/v1/quarantine/sites/{site}/board")).await;
    let here: Vec<i64> = board["people"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(here.len(), 2, "{board}");
    let rooms: Vec<i64> = board["people"].as_array().unwrap().iter().map(|o| o["room_id"].as_i64().unwrap()).collect();
    assert_ne!(rooms[0], rooms[1], "two households, two rooms");
    assert_eq!(board["occupancy"]["occupied"], 2);
    // Each step time-stamped with who did it; each assignment audited.
    for id in &orders {
        let o = order(&app, *id).await;
        assert!(o.picked_up_at.is_some() && o.arrived_at.is_some() && o.arrived_by.is_some() && o.room_id.is_some());
    }
    let assigned = app
        .store
        .audit_log(&AuditFilter { action: Some("room.assign".into()), limit: 1000, ..AuditFilter::default() })
        .await
        .unwrap();
    assert!(
        assigned.iter().filter(|e| orders.iter().any(|o| e.entry.target == o.to_string())).count() >= 2,
        "{assigned:?}"
    );

    // The pages of each role show the work.
    let page = app.get(Role::SiteManager, &format!("/quarantine/sites/{site}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"person-row\"").count(), 2, "{html}");
    let notices = app.get(Role::SiteManager, &format!("/quarantine/sites/{site}/notices")).send().await.unwrap();
    assert_eq!(notices.headers()["cache-control"], "no-store");
    let html = notices.text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"notice\"").count(), 2);
    assert!(html.contains(singles[0].name.as_str()) && html.contains("page-break-after"));
    assert!(!html.contains(singles[0].id_number.as_str()), "the ID number is masked on the notice");

    // Release: not before the days are done (a clear refusal), nothing written.
    let before = audit_len(&app).await;
    let (s, b) = send_json(
        app.post(Role::SiteManager, &format!("/api/v1/quarantine/orders/{}/release", orders[0])).json(&json!({})),
    )
    .await;
    refused(s, &b, "release_early");
    assert_eq!(audit_len(&app).await, before);
    assert_eq!(order(&app, orders[0]).await.released_at, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_release_list_follows_the_tests() {
    let app = spawn_app().await;
    // The demo's two people in their rooms for the centralised days, the last test pending.
    let sites = app.get_json(Role::SiteManager, "/api/v1/quarantine/sites").await;
    let site = sites["sites"].as_array().unwrap().iter().find(|s| s["name"] == "城北隔离酒店").unwrap()["id"]
        .as_i64()
        .unwrap();
    let board = app.get_json(Role::SiteManager, &format!("/api/v1/quarantine/sites/{site}/board")).await;
    let due = board["releases_due"].as_array().unwrap();
    assert_eq!(due.len(), 2, "{board}");
    assert!(due.iter().all(|l| l["ready"] == false && l["why"] == "release_test_missing"), "{board}");
    let ids: Vec<i64> = due.iter().map(|l| l["order"]["id"].as_i64().unwrap()).collect();
    let html =
        app.get(Role::SiteManager, &format!("/quarantine/sites/{site}")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("有核酸检测结果缺失，不能解除"), "the page says why");

    // Releasing with the test missing: refused, nothing written.
    let before = audit_len(&app).await;
    let (s, b) = send_json(
        app.post(Role::SiteManager, &format!("/api/v1/quarantine/orders/{}/release", ids[0])).json(&json!({})),
    )
    .await;
    refused(s, &b, "release_test_missing");
    assert_eq!(audit_len(&app).await, before);

    // The last test: negative for one, positive for the other.
    let mut results = Vec::new();
    for (id, result) in ids.iter().zip([TestResult::Negative, TestResult::Positive]) {
        let o = order(&app, *id).await;
        results.push(PersonResult {
            resident_id: o.person.resident_id.unwrap(),
            sampled_at: Utc::now() - Duration::minutes(30),
            result,
            pooled: false,
            result_at: Utc::now(),
        });
    }
    let p = profile("protocol-9");
    app.store.record_order_results(results, act(&p, Utc::now(), "lab", "results.record")).await.unwrap();
    let board = app.get_json(Role::SiteManager, &format!("/api/v1/quarantine/sites/{site}/board")).await;
    let ready: BTreeMap<i64, bool> = board["releases_due"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["order"]["id"].as_i64().unwrap(), l["ready"].as_bool().unwrap()))
        .collect();
    assert_eq!(ready.get(&ids[0]), Some(&true), "{board}");
    assert_eq!(ready.get(&ids[1]), Some(&false), "{board}");
    let (s, b) = send_json(
        app.post(Role::SiteManager, &format!("/api/v1/quarantine/orders/{}/release", ids[1])).json(&json!({})),
    )
    .await;
    refused(s, &b, "release_test_positive");
    // The form: released, back on the board.
    let r = app
        .post(Role::SiteManager, &format!("/quarantine/orders/{}/release", ids[0]))
        .form(&[("_csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let o = order(&app, ids[0]).await;
    assert!(
        o.released_at.is_some() && !matches!(o.state, cordon_domain::containment::quarantine::OrderState::InQuarantine)
    );
    assert_eq!(o.room_id, None, "the room is freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_bad_input_writes_nothing() {
    let app = spawn_app().await;
    let hh = free_households(&app).await;
    let family = hh.iter().find(|h| h.len() >= 2).unwrap().clone();
    let singles: Vec<&Resident> =
        hh.iter().filter(|h| h[0].household_id != family[0].household_id).take(3).map(|h| &h[0]).collect();

    // A room over capacity: a household of two into a one-bed room.
    let site =
        open_site(&app, "测试二号", &["close_contact", "arrival"], &[(2, "201", 1), (2, "202", 2), (3, "301", 2)])
            .await;
    let rooms = app.store.rooms_of(site).await.unwrap();
    let room = |n: &str| rooms.iter().find(|r| r.room.number == n).unwrap().room.id;
    let fam: Vec<&Resident> = family.iter().take(2).collect();
    let contacts = enqueue(&app, &fam).await;
    let fam_orders = issue(&app, &contacts).await;
    let (s, run) = dispatch(&app, &fam_orders, site).await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    let before = audit_len(&app).await;
    let (s, b) = send_json(
        app.post(Role::SiteManager, &format!("/api/v1/quarantine/sites/{site}/assignments"))
            .json(&json!({"placements": [[fam_orders[0], room("201")], [fam_orders[1], room("201")]]})),
    )
    .await;
    refused(s, &b, "room_over_capacity");
    assert_eq!(audit_len(&app).await, before);
    assert!(app.store.rooms_of(site).await.unwrap().iter().all(|r| r.occupants.is_empty()));

    // Mixing categories: an arrival from a risk area and a close contact, in a vehicle and in a room.
    let c = enqueue(&app, &singles[..1]).await;
    let contact = issue(&app, &c).await[0];
    let (s, b) = send_json(app.post(Role::Commander, "/api/v1/quarantine/orders").json(&json!({"arrivals": [{
        "resident_id": singles[1].id, "last_exposure": (Utc::now() - Duration::hours(5)).to_rfc3339(), "reason": "自风险地区返回",
    }]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let arrival = b["orders"][0]["id"].as_i64().unwrap();
    assert_eq!(b["orders"][0]["category"], "arrival");
    let before = audit_len(&app).await;
    let (s, b) = dispatch(&app, &[contact, arrival], site).await;
    refused(s, &b, "vehicle_categories");
    assert_eq!(audit_len(&app).await, before);
    assert_eq!(order(&app, contact).await.run_id, None);
    let (s, _) = dispatch(&app, &[contact], site).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = dispatch(&app, &[arrival], site).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = send_json(
        app.post(Role::SiteManager, &format!("/api/v1/quarantine/sites/{site}/assignments"))
            .json(&json!({"placements": [[contact, room("301")], [arrival, room("301")]]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        ["room_category_mixed", "room_household_only", "floor_category_mixed"].contains(&b["code"].as_str().unwrap()),
        "{b}"
    );
    assert!(app.store.rooms_of(site).await.unwrap().iter().all(|r| r.occupants.is_empty()));

    // Arriving at a full site: one bed, two runs; the second to arrive is refused.
    let full = open_site(&app, "测试三号", &["close_contact"], &[(1, "101", 1)]).await;
    let c = enqueue(&app, &singles[2..3]).await;
    let first = issue(&app, &c).await[0];
    let second_person =
        hh.iter().filter(|h| h[0].household_id != family[0].household_id).nth(4).map(|h| &h[0]).unwrap();
    let c = enqueue(&app, &[second_person]).await;
    let second = issue(&app, &c).await[0];
    let (_, r1) = dispatch(&app, &[first], full).await;
    let (_, r2) = dispatch(&app, &[second], full).await;
    let (r1, r2) = (r1["id"].as_i64().unwrap(), r2["id"].as_i64().unwrap());
    pickup(&app, r1, "f-1", singles[2].id_number.as_str()).await;
    pickup(&app, r2, "f-2", second_person.id_number.as_str()).await;
    let (s, _) = send_json(
        app.post(Role::TransferDispatcher, &format!("/api/v1/quarantine/runs/{r1}/arrival"))
            .json(&json!({"key": "fa-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let before = audit_len(&app).await;
    let (s, b) = send_json(
        app.post(Role::TransferDispatcher, &format!("/api/v1/quarantine/runs/{r2}/arrival"))
            .json(&json!({"key": "fa-2"})),
    )
    .await;
    refused(s, &b, "site_full");
    assert_eq!(audit_len(&app).await, before);
    let o = order(&app, second).await;
    assert_eq!((o.arrived_at, o.room_id), (None, None));

    // A bad temperature, in English on the page.
    let r = app
        .post(Role::SiteManager, &format!("/quarantine/orders/{first}/checks"))
        .header("cookie", "lang=en")
        .form(&[("temperature", "48")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("the temperature must be between 34.0 and 43.0"));

    // The driver's page refuses someone not on the run in words, and another driver's run.
    let r = app
        .post(Role::TransferDispatcher, &format!("/quarantine/runs/{r2}/pickups"))
        .form(&[("key", "page-1"), ("who", family[0].id_number.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"form-error\"") && html.contains("此人"), "{html}");
}
