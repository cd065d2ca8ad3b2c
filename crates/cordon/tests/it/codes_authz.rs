//! The authorization table of the health-code routes: every route × every role × a target
//! inside and outside the caller's subtree, each cell asserted against a literal
//! expectation (not derived from the role table under test).

use crate::app::{DISTRICT_ROLES, TestApp, spawn_app};
use cordon_domain::audit::AuditEntry;
use cordon_domain::role::Role;
use cordon_store::codes::NewCheckpoint;
use reqwest::StatusCode;

const CODE_READERS: &[Role] = &[
    Role::Commander,
    Role::StreetOfficer,
    Role::CommunityWorker,
    Role::GridWorker,
    Role::BuildingLeader,
    Role::Tracer,
];
const CARD_PRINTERS: &[Role] =
    &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker, Role::BuildingLeader];
const PASS_ISSUERS: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker];
const CHECKIN_ROLES: &[Role] =
    &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::Tracer, Role::Volunteer, Role::Sampler];

#[derive(Clone, Copy, Debug)]
enum Route {
    CodePage,
    ApiCode,
    CardsPage,
    PolicyPage,
    ZonesPage,
    VenuesPage,
    PassesPage,
    ApiScan,
}

const ROUTES: &[Route] = &[
    Route::CodePage,
    Route::ApiCode,
    Route::CardsPage,
    Route::PolicyPage,
    Route::ZonesPage,
    Route::VenuesPage,
    Route::PassesPage,
    Route::ApiScan,
];

impl Route {
    /// Roles served and whether the route has an area target.
    fn allowed(self) -> (&'static [Role], bool) {
        match self {
            Route::CodePage | Route::ApiCode => (CODE_READERS, true),
            Route::CardsPage => (CARD_PRINTERS, true),
            Route::PolicyPage => (&[Role::Commander], false),
            Route::ZonesPage => (&Role::ALL, false),
            Route::VenuesPage => (CHECKIN_ROLES, false),
            Route::PassesPage => (PASS_ISSUERS, false),
            Route::ApiScan => (&[Role::Commander, Role::CheckpointGuard], true),
        }
    }
}

struct Fixture {
    app: TestApp,
    /// The demo gate (its guard is the demo guard) and a gate in the second street.
    gates: [i64; 2],
    /// A valid health-code token of a resident of the demo building.
    token: String,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let store = app.store.clone();
    let mine = store.checkpoints_of_guard(store.user_by_username("checkpoint_guard").await.unwrap().unwrap().id);
    let mine = mine.await.unwrap().first().expect("the demo gate").id;
    let other_compound = app.other_building.parent().unwrap();
    let audit = AuditEntry {
        at: chrono::Utc::now(),
        actor_id: None,
        actor: "test".into(),
        role: None,
        action: "checkpoint.create".into(),
        target_kind: "area".into(),
        target: other_compound.to_string(),
        request_id: "test".into(),
        detail: String::new(),
    };
    let cp = NewCheckpoint::new("西门", other_compound, chrono::Utc::now()).unwrap();
    let other = store.create_checkpoint(&cp, &audit).await.unwrap().id;
    let r = app.resident_in(&app.building).await;
    let body: serde_json::Value = app.get_json(Role::Commander, &format!("/api/v1/residents/{}/code", r.id)).await;
    let token = body["token"].as_str().expect("a token").to_string();
    Fixture { app, gates: [mine, other], token }
}

async fn call(f: &Fixture, route: Route, role: Role, in_scope: bool) -> (StatusCode, String) {
    let app = &f.app;
    let building = if in_scope { app.building.clone() } else { app.other_building.clone() };
    let r = app.resident_in(&building).await;
    let req = match route {
        Route::CodePage => app.get(role, &format!("/residents/{}/code", r.id)),
        Route::ApiCode => app.get(role, &format!("/api/v1/residents/{}/code", r.id)),
        Route::CardsPage => app.get(role, &format!("/buildings/{building}/cards")),
        Route::PolicyPage => app.get(role, "/codes/policy"),
        Route::ZonesPage => app.get(role, "/zones"),
        Route::VenuesPage => app.get(role, "/venues"),
        Route::PassesPage => app.get(role, "/passes"),
        Route::ApiScan => {
            let gate = f.gates[usize::from(!in_scope)];
            app.post(role, &format!("/api/v1/checkpoints/{gate}/scans"))
                .json(&serde_json::json!({"token": f.token, "direction": "in"}))
        }
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

fn check(route: Route, role: Role, in_scope: bool, status: StatusCode, body: &str) -> Result<(), String> {
    let (roles, targeted) = route.allowed();
    let ctx = format!("{route:?} as {} ({})", role.code(), if in_scope { "in scope" } else { "out of scope" });
    let short: String = body.chars().take(160).collect();
    if !roles.contains(&role) {
        return if status == StatusCode::FORBIDDEN && body.contains("forbidden_role") {
            Ok(())
        } else {
            Err(format!("{ctx}: expected 403 forbidden_role, got {status}: {short}"))
        };
    }
    let covered = in_scope || !targeted || DISTRICT_ROLES.contains(&role);
    if covered {
        return if status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("{ctx}: expected 200, got {status}: {short}"))
        };
    }
    // Outside the subtree: a guard is refused at a gate that is not theirs.
    let code = if matches!(route, Route::ApiScan) { "forbidden_checkpoint" } else { "forbidden_scope" };
    if status == StatusCode::FORBIDDEN && body.contains(code) {
        Ok(())
    } else {
        Err(format!("{ctx}: expected 403 {code}, got {status}: {short}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_authorization_table() {
    let f = fixture().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for route in ROUTES {
        for role in Role::ALL {
            for in_scope in [true, false] {
                let (status, body) = call(&f, *route, role, in_scope).await;
                checked += 1;
                if let Err(e) = check(*route, role, in_scope, status, &body) {
                    failures.push(e);
                }
            }
        }
    }
    assert_eq!(checked, ROUTES.len() * 13 * 2);
    assert!(failures.is_empty(), "{} of {checked} cells wrong:\n{}", failures.len(), failures.join("\n"));
}
