//! Mass testing over real HTTP: the device API (idempotent batches, bad input), lab
//! results by API and by file with the positive-pool chase, live coverage, and the
//! door-knock outcome form.

use super::app::{TestApp, spawn_app};
use cordon_domain::area::AreaCode;
use cordon_domain::registry::Resident;
use cordon_domain::role::Role;
use cordon_domain::testing::{NewRound, PoolCapacity};
use cordon_store::AuditFilter;
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

async fn residents(app: &TestApp, building: &AreaCode) -> Vec<Resident> {
    app.store
        .building_roster(building)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|h| h.members)
        .filter(|m| m.status == cordon_domain::registry::ResidentStatus::Active)
        .collect()
}

fn tube(n: u32) -> String {
    format!("TB{n:010}")
}

async fn post_batch(app: &TestApp, round: i64, batch: &str, items: Value) -> (StatusCode, Value) {
    let r = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
        .json(&json!({"batch_id": batch, "items": items}))
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn codes(v: &Value) -> Vec<String> {
    v["outcomes"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_device_batches_and_bad_input() {
    let app = spawn_app().await;
    let round = make_round(&app, 10).await;
    let other = make_round(&app, 10).await;
    let people = residents(&app, &app.building).await;
    assert!(people.len() >= 12, "the demo building has enough residents");
    let mut items: Vec<Value> =
        vec![json!({"client_id": "o", "kind": "open", "tube": tube(1).to_lowercase(), "capacity": 10})];
    for (i, p) in people.iter().take(10).enumerate() {
        items.push(
            json!({"client_id": format!("s{i}"), "kind": "sample", "tube": tube(1), "person": p.id_number.as_str()}),
        );
    }
    items
        .push(json!({"client_id": "late", "kind": "sample", "tube": tube(1), "person": people[10].id_number.as_str()}));
    items.push(
        json!({"client_id": "bad-tube", "kind": "sample", "tube": "12345", "person": people[10].id_number.as_str()}),
    );
    items.push(json!({"client_id": "bad-id", "kind": "sample", "tube": tube(2), "person": "110101199001011234"}));
    let (s, v) = post_batch(&app, round, "dev-1", json!(items.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 10);
    let c = codes(&v);
    assert_eq!(&c[..11], &["ok"; 11]);
    assert_eq!(c[11], "tube_not_open", "the tube sealed itself at 10");
    assert_eq!(c[12], "barcode_invalid");
    assert_eq!(c[13], "id_number_checksum");
    assert_eq!(v["outcomes"][10]["count"], 10);
    assert_eq!(v["outcomes"][10]["sealed"], true);
    let name = v["outcomes"][1]["masked_name"].as_str().unwrap();
    assert!(name.contains('*'), "names are masked: {name}");
    assert!(!v.to_string().contains(people[0].id_number.as_str()), "no ID number in the answer");
    assert!(v["outcomes"][12]["message"].as_str().unwrap().contains("条码"), "zh message by default");

    // The phone retries the same batch: nothing doubles.
    let (_, again) = post_batch(&app, round, "dev-1", json!(items)).await;
    assert_eq!(again["replayed"], true);
    let cov = app.store.coverage(round, &app.building).await.unwrap();
    assert_eq!(cov.sampled, 10);

    // The same person twice in a round; a tube of another round; a sealed tube.
    let (_, v) = post_batch(
        &app,
        round,
        "dev-2",
        json!([
            {"client_id": "a", "kind": "sample", "tube": tube(2), "person": people[0].id_number.as_str()},
            {"client_id": "b", "kind": "sample", "tube": tube(1), "person": people[11].id_number.as_str()},
        ]),
    )
    .await;
    assert_eq!(codes(&v), vec!["already_sampled", "tube_not_open"]);
    let (_, v) = post_batch(
        &app,
        other,
        "dev-3",
        json!([{"client_id": "c", "kind": "sample", "tube": tube(1), "person": people[11].id_number.as_str()}]),
    )
    .await;
    assert_eq!(codes(&v), vec!["tube_other_round"]);
    // English on request.
    let r = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
        .header("cookie", "lang=en")
        .json(
            &json!({"batch_id": "dev-4", "items": [{"client_id": "d", "kind": "sample", "tube": "XX", "person": "1"}]}),
        )
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["outcomes"][0]["message"].as_str().unwrap().contains("malformed tube barcode"));
    // A malformed batch is refused whole.
    let r = app
        .post(Role::Sampler, &format!("/api/v1/rounds/{round}/scans"))
        .json(&json!({"batch_id": "", "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(Role::Sampler, "/api/v1/rounds/99999/scans")
        .json(&json!({"batch_id": "x", "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Ingest is audited without personal data.
    let log = app
        .store
        .audit_log(&AuditFilter { action: Some("scans.ingest".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert!(log.len() >= 3);
    assert!(log.iter().all(|e| !e.entry.detail.contains(people[0].id_number.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_lab_results_file_and_chase() {
    let app = spawn_app().await;
    let round = make_round(&app, 5).await;
    let people = residents(&app, &app.building).await;
    let mut items = vec![];
    for (i, p) in people.iter().take(10).enumerate() {
        let t = tube(100 + (i as u32) / 5);
        items.push(json!({"client_id": format!("s{i}"), "kind": "sample", "tube": t, "person": p.id_number.as_str()}));
    }
    let (_, v) = post_batch(&app, round, "lab-1", json!(items)).await;
    assert_eq!(v["accepted"], 10);

    // Results before receipt: refused, nothing written.
    let r = app
        .post(Role::LabTech, "/api/v1/results")
        .json(&json!({"results": [{"tube": tube(100), "result": "positive"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["error"]["code"], "tube_not_received");
    for t in [100, 101] {
        let r = app.post(Role::LabTech, "/api/v1/receipts").json(&json!({"code": tube(t)})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    // A file with a missing column, then one with bad values: clear errors, nothing written.
    let upload = |csv: String, name: &'static str| {
        let part = reqwest::multipart::Part::bytes(csv.into_bytes()).file_name(name);
        app.post(Role::LabTech, "/testing/lab/upload").multipart(reqwest::multipart::Form::new().part("file", part))
    };
    let r = upload(format!("试管条码,Ct值\n{},30\n", tube(100)), "r.csv").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("检测结果"));
    let r = upload(
        format!(
            "试管条码,检测结果,Ct值\n{},阳性,28\n{},maybe,\nAB12,阴性,\n{},阴性,\n",
            tube(100),
            tube(101),
            tube(999)
        ),
        "r.csv",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("result_invalid") && body.contains("barcode_invalid"), "{body}");
    assert_eq!(
        app.store
            .tube(&cordon_domain::testing::BarcodePattern::default().parse(&tube(100)).unwrap())
            .await
            .unwrap()
            .unwrap()
            .result,
        None
    );
    // Unknown tube in an otherwise valid file: the store refuses it, nothing written.
    let r =
        upload(format!("tube,result\n{},positive\n{},negative\n", tube(100), tube(999)), "r.csv").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("tube_unknown"));

    // The good file: one positive pool, one negative.
    let r = upload(format!("试管条码,检测结果,Ct值\n{},阳性,28.5\n{},阴性,\n", tube(100), tube(101)), "r.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert_eq!(body.matches("data-testid=\"awaiting\"").count(), 5, "five members awaiting individual results");
    // A second, conflicting result.
    let r = app
        .post(Role::LabTech, "/api/v1/results")
        .json(&json!({"results": [{"tube": tube(100), "result": "negative"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("result_exists"));

    // The tracer sees the alert and the members awaiting individual results.
    let v: Value = app.get(Role::Tracer, "/api/v1/alerts").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["alerts"][0]["tube"], tube(100));
    let v: Value = app
        .get(Role::Tracer, &format!("/api/v1/rounds/{round}/pool-positives"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 5);
    assert!(members.iter().all(|m| m["status"] == "pending"));
    let page = app.get(Role::Commander, "/testing/alerts").send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("data-testid=\"mark\"").count(), 5);
    for p in people.iter().take(5) {
        assert!(app.store.under_control(p.household_id).await.unwrap());
    }

    // Coverage by API follows the samples; the missed list shrank by ten.
    let v: Value = app
        .get(Role::BuildingLeader, &format!("/api/v1/rounds/{round}/coverage/{}", app.building))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["node"]["sampled"], 10);
    assert_eq!(v["node"]["missing"].as_u64().unwrap() as usize, people.len() - 10);
}

/// A browser session of `role`'s demo account (cookies kept, redirects not followed).
async fn session(app: &TestApp, role: Role) -> reqwest::Client {
    let jar =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let html = jar.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let password = cordon::demo::demo_password(role);
    let r = jar
        .post(format!("{}/login", app.url))
        .form(&[
            ("username", role.code()),
            ("password", password.as_str()),
            ("_csrf", &first_csrf(&html)),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{} logs in", role.code());
    jar
}

fn first_csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// The door-knock outcome form: CSRF, a malformed barcode refused in zh and en naming the
/// field and the member with nothing written, single tubes sealed for the members swabbed,
/// and a wrong-data correction (a roster correction: refused to a volunteer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_door_outcome_form() {
    use cordon_domain::registry::ResidentStatus;
    use cordon_domain::testing::{BarcodePattern, DoorOutcome, TubeState};
    let app = spawn_app().await;
    let round = make_round(&app, 10).await;
    let missed = app.store.missed(round, std::slice::from_ref(&app.building)).await.unwrap();
    let mut big = missed.iter().filter(|h| h.members.len() >= 2);
    let (h1, h2) = (big.next().unwrap().clone(), big.next().unwrap().clone());
    let e = cordon_store::conformance::audit_entry(1, "setup", "door.create", "round", "x");
    let tasks = app
        .store
        .create_door_tasks(round, &[h1.household_id, h2.household_id], 1, chrono::Utc::now(), &e)
        .await
        .unwrap();
    let (t1, t2) = (tasks[0].id, tasks[1].id);
    let (m0, m1) = (h1.members[0].resident_id, h1.members[1].resident_id);

    let worker = session(&app, Role::GridWorker).await;
    let page = worker.get(format!("{}/testing/rounds/{round}/tasks", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("name=\"tube_{m0}\"")) && html.contains(&format!("name=\"tube_{m1}\"")),
        "a tube field per missing member"
    );
    assert!(html.contains("name=\"kind\"") && html.contains("value=\"wrong_data\""), "a grid worker may correct");
    assert!(!html.contains("data-testid=\"no-correction\""));
    let csrf = first_csrf(&html);
    let outcome = |task: i64, fields: Vec<(String, String)>| {
        worker.post(format!("{}/testing/tasks/{task}/outcome", app.url)).form(&fields).send()
    };
    let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let open = |task: i64| {
        let store = app.store.clone();
        async move { store.door_task(task).await.unwrap().unwrap().outcome }
    };
    let good_tube = tube(4242);
    let m0_field = format!("tube_{m0}");
    let m1_field = format!("tube_{m1}");
    let masked = |name: &str| cordon_domain::PersonName::parse(name).unwrap().masked();
    let m0_masked = masked(&h1.members[0].name);
    // The HTML from a field's input up to the next field (or the end of its fieldset).
    let after_field = |body: &str, name: &str| -> String {
        let at = body.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no field {name}"));
        let rest = &body[at..];
        let end = rest[1..].find("<label").map(|i| i + 1).or_else(|| rest.find("</fieldset>")).unwrap_or(rest.len());
        rest[..end].to_string()
    };

    // Without the form's CSRF token: refused, nothing written.
    let r =
        outcome(t1, f(&[("_csrf", "forged"), ("outcome", "sampled_at_door"), (&m1_field, &good_tube)])).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(open(t1).await, None);

    // A malformed barcode: 422, the tasks page again with the refusal next to the member's
    // field, naming the field and the member (masked), in Chinese by default…
    let sent = f(&[
        ("_csrf", &csrf),
        ("outcome", "sampled_at_door"),
        ("note", "门口采样"),
        (&m1_field, &good_tube),
        (&m0_field, "12345"),
    ]);
    let r = outcome(t1, sent.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("data-testid=\"outcome-form\""), "the tasks page, not an error page: {body}");
    let next_to_m0 = after_field(&body, &m0_field);
    assert!(next_to_m0.contains("data-testid=\"field-error\""), "{next_to_m0}");
    assert!(next_to_m0.contains("barcode_invalid"), "{next_to_m0}");
    assert!(
        next_to_m0
            .contains(&format!("试管条码：试管条码格式不正确，应为 AA9999999999（A为字母，9为数字）（{m0_masked}）")),
        "{next_to_m0}"
    );
    assert!(!body.contains(&format!("居民 #{m0}")), "the member is named as the form names them");
    assert_eq!(body.matches("data-testid=\"field-error\"").count(), 1, "one refusal, shown once");
    // …with everything typed still filled in…
    assert!(body.contains(&format!("name=\"{m0_field}\" value=\"12345\"")));
    assert!(body.contains(&format!("name=\"{m1_field}\" value=\"{good_tube}\"")));
    assert!(body.contains("value=\"门口采样\""));
    assert_eq!(body.matches("value=\"sampled_at_door\" selected").count(), 1, "the outcome chosen, in that form only");
    // …and in English on request; nothing was written either time.
    let r = worker.get(format!("{}/lang/en?next=/", app.url)).send().await.unwrap();
    assert!(r.status().is_redirection());
    let r = outcome(t1, sent).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    let next_to_m0 = after_field(&body, &m0_field);
    assert!(
        next_to_m0.contains(&format!(
            "tube: malformed tube barcode; expected AA9999999999 (A = letter, 9 = digit) ({m0_masked})"
        )),
        "{next_to_m0}"
    );
    // No member swabbed at all: refused, at the top of the tube fields.
    let r = outcome(t1, f(&[("_csrf", &csrf), ("outcome", "sampled_at_door"), (&m0_field, " ")])).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("door_no_samples") && body.contains("data-slot=\"tubes\""), "{body}");
    let p = BarcodePattern::default();
    assert_eq!(app.store.tube(&p.parse(&good_tube).unwrap()).await.unwrap(), None);
    assert_eq!(open(t1).await, None);

    // m1 swabbed into a single tube, m0 not: the tube is sealed, m1 leaves the missed list;
    // back on the page, which says what was saved.
    let r =
        outcome(t1, f(&[("_csrf", &csrf), ("outcome", "sampled_at_door"), (&m1_field, &good_tube), (&m0_field, "")]))
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let to = r.headers()[reqwest::header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(to, format!("/testing/rounds/{round}/tasks?done={t1}"));
    let saved = worker.get(format!("{}{to}", app.url)).send().await.unwrap().text().await.unwrap();
    // Named by unit and room, in words.
    let unit_name = app.store.area(&h1.unit).await.unwrap().unwrap().name;
    assert!(
        saved.contains(&format!("data-testid=\"saved\">Outcome saved · #{t1} · {unit_name} {}", h1.room)),
        "{saved}"
    );
    assert_eq!(open(t1).await, Some(DoorOutcome::SampledAtDoor));
    let tb = app.store.tube(&p.parse(&good_tube).unwrap()).await.unwrap().unwrap();
    assert_eq!((tb.capacity.get(), tb.count, tb.state), (1, 1, TubeState::Sealed));
    let worker_id = app.store.user_by_username(Role::GridWorker.code()).await.unwrap().unwrap().id;
    assert_eq!((tb.opened_by, tb.sealed_by), (worker_id, Some(worker_id)));
    let still: Vec<i64> = app
        .store
        .missed(round, std::slice::from_ref(&app.building))
        .await
        .unwrap()
        .iter()
        .flat_map(|h| h.members.iter().map(|m| m.resident_id))
        .collect();
    assert!(!still.contains(&m1) && still.contains(&m0));

    // The store's refusal (that tube is m1's now) comes back the same way: next to the
    // member's field, masked name, values kept, nothing written.
    let n0 = h2.members[0].resident_id;
    let n0_field = format!("tube_{n0}");
    let r = outcome(t2, f(&[("_csrf", &csrf), ("outcome", "sampled_at_door"), (&n0_field, &good_tube.to_lowercase())]))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    let next_to_n0 = after_field(&body, &n0_field);
    assert!(next_to_n0.contains(&format!("value=\"{}\"", good_tube.to_lowercase())), "{next_to_n0}");
    assert!(next_to_n0.contains("tube_used"), "{next_to_n0}");
    assert!(
        next_to_n0.contains(&format!(
            "tube: this tube barcode is already in use; take a new tube ({})",
            masked(&h2.members[0].name)
        )),
        "{next_to_n0}"
    );
    assert_eq!(open(t2).await, None);

    // Wrong data: the member is required…
    let gone = h2.members[0].resident_id;
    let r = outcome(t2, f(&[("_csrf", &csrf), ("outcome", "wrong_data"), ("kind", "phone"), ("phone", "13800000000")]))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("member: choose the member whose data is wrong"), "{body}");
    let next_to_member = after_field(&body, "member");
    assert!(next_to_member.contains("member_missing"), "{next_to_member}");
    assert!(body.contains("value=\"phone\" selected") && body.contains("value=\"13800000000\""), "{body}");
    // …a volunteer may knock on doors but not correct the roster: the page does not offer
    // it, and the outcome is refused (the grid worker gives them the task first)…
    let volunteer = app.store.user_by_username(Role::Volunteer.code()).await.unwrap().unwrap().id;
    let r = worker
        .post(format!("{}/testing/rounds/{round}/tasks/assign", app.url))
        .form(&[("_csrf", csrf.as_str()), ("task", &t2.to_string()), ("assignee", &volunteer.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let vpage = app.get(Role::Volunteer, &format!("/testing/rounds/{round}/tasks")).send().await.unwrap();
    assert_eq!(vpage.status(), StatusCode::OK);
    let vhtml = vpage.text().await.unwrap();
    assert!(vhtml.contains(&format!("name=\"tube_{n0}\"")), "a volunteer can record samples");
    assert!(!vhtml.contains("name=\"kind\"") && !vhtml.contains("value=\"wrong_data\""), "no correction offered");
    assert!(vhtml.contains("data-testid=\"no-correction\""));
    let r = app
        .post(Role::Volunteer, &format!("/testing/tasks/{t2}/outcome"))
        .form(&[("outcome", "wrong_data"), ("member", gone.to_string().as_str()), ("kind", "moved_out")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("forbidden_role"));
    assert_eq!(app.store.resident(gone).await.unwrap().unwrap().status, ResidentStatus::Active);
    // …the grid worker's correction is made with the outcome and audited as a correction.
    let r = outcome(
        t2,
        f(&[("_csrf", &csrf), ("outcome", "wrong_data"), ("member", &gone.to_string()), ("kind", "moved_out")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(open(t2).await, Some(DoorOutcome::WrongData));
    assert_eq!(app.store.resident(gone).await.unwrap().unwrap().status, ResidentStatus::MovedOut);
    let audit_of = |action: &str, target: i64| AuditFilter {
        action: Some(action.into()),
        target: Some(target.to_string()),
        limit: 10,
        ..Default::default()
    };
    let log = app.store.audit_log(&audit_of("resident.update", gone)).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].entry.actor.as_str(), log[0].entry.detail.as_str()),
        (Role::GridWorker.code(), "status -> moved_out")
    );
    let door_log = app.store.audit_log(&audit_of("door.outcome", t2)).await.unwrap();
    assert_eq!(door_log.len(), 1);
    assert_eq!(door_log[0].entry.request_id, log[0].entry.request_id, "one request, one transaction");
    let cov = app.store.coverage(round, &app.building).await.unwrap();
    assert!(cov.sampled <= cov.expected);
}

/// Issue 10 #2: a volunteer sees only the door-knock tasks assigned to them, and of the
/// missed list only those households — not the community's names and phones. Tasks are
/// assigned by those who see the missed list, to a grid worker or a volunteer of the area;
/// the outcome has no default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_volunteer_sees_only_assigned_tasks() {
    let app = spawn_app().await;
    let round = make_round(&app, 10).await;
    let missed = app.store.missed(round, std::slice::from_ref(&app.building)).await.unwrap();
    let (mine, other) = (&missed[0], &missed[1]);
    let e = cordon_store::conformance::audit_entry(1, "setup", "door.create", "round", "x");
    let tasks = app
        .store
        .create_door_tasks(round, &[mine.household_id, other.household_id], 1, chrono::Utc::now(), &e)
        .await
        .unwrap();
    let phone_of = |h: &cordon_store::testing::MissedHousehold| h.members.iter().find_map(|m| m.phone.clone());
    let page = |role: Role| {
        let app = &app;
        async move {
            let r = app.get(role, &format!("/testing/rounds/{round}/tasks")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };

    // Nothing assigned yet: the volunteer's page lists no task and no missed household.
    let v = page(Role::Volunteer).await;
    assert_eq!(v.matches("data-testid=\"task\"").count(), 0, "no task assigned yet");
    assert!(!v.contains("data-testid=\"missed-household\""), "no missed list for a volunteer");
    for h in [mine, other] {
        if let Some(p) = phone_of(h) {
            assert!(!v.contains(&p), "no phone of an unassigned household");
        }
        assert!(h.members.iter().all(|m| !v.contains(&m.name)), "no name of an unassigned household");
    }
    // The API refuses them the missed list too.
    let r = app.get(Role::Volunteer, &format!("/api/v1/rounds/{round}/missed/{}", app.building)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nor may they hand out work.
    let r = app
        .post(Role::Volunteer, &format!("/testing/rounds/{round}/tasks/assign"))
        .form(&[("task", tasks[0].id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The grid worker sees both, grouped by building, with an outcome to choose (no
    // default), and assigns one to the volunteer; not to a sampler, nor to someone whose
    // area does not hold the household.
    let worker = session(&app, Role::GridWorker).await;
    let html =
        worker.get(format!("{}/testing/rounds/{round}/tasks", app.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(html.matches("data-testid=\"task\"").count(), 2);
    assert!(html.contains("data-testid=\"task-building\""));
    assert!(
        html.matches("<select name=\"outcome\" required><option value=\"\">").count() == 2,
        "each outcome starts unchosen"
    );
    assert!(!html.contains("\" selected>"), "no outcome is preselected");
    let csrf = first_csrf(&html);
    let assign = |task: i64, to: String| {
        worker
            .post(format!("{}/testing/rounds/{round}/tasks/assign", app.url))
            .form(&[("_csrf", csrf.clone()), ("task", task.to_string()), ("assignee", to)])
            .send()
    };
    let sampler = app.store.user_by_username(Role::Sampler.code()).await.unwrap().unwrap().id;
    let r = assign(tasks[0].id, sampler.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("assignee_role"));
    let volunteer = app.store.user_by_username(Role::Volunteer.code()).await.unwrap().unwrap().id;
    let r = assign(tasks[0].id, volunteer.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.store.door_task(tasks[0].id).await.unwrap().unwrap().assigned_to, Some(volunteer));
    let log = app
        .store
        .audit_log(&AuditFilter { action: Some("door.assign".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);

    // The volunteer now sees that task alone: its household's members (masked) and phones,
    // building, unit and room; nothing of the other household.
    let v = page(Role::Volunteer).await;
    assert_eq!(v.matches("data-testid=\"task\"").count(), 1);
    assert!(v.contains(&format!("data-household=\"{}\"", mine.household_id)));
    assert!(!v.contains(&format!("data-household=\"{}\"", other.household_id)));
    assert!(!v.contains("data-testid=\"missed-household\""));
    if let Some(p) = phone_of(mine) {
        assert!(v.contains(&p), "the phone of the assigned household");
    }
    if let Some(p) = phone_of(other) {
        assert!(!v.contains(&p));
    }
    let unit_name = app.store.area(&mine.unit).await.unwrap().unwrap().name;
    assert!(v.contains(&format!("{unit_name} {}", mine.room)), "unit and room by name");
    let first = &mine.members[0].name;
    assert!(!v.contains(first.as_str()) || first.chars().count() < 2, "names masked for a volunteer");
}
