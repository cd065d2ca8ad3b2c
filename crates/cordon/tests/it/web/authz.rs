//! The HTTP authorization table, built from the route registry: for every declared route
//! (`cordon_web::routes::registry()`), every caller (the thirteen roles and nobody signed
//! in) and a target inside and outside the caller's subtree, the answer — allowed,
//! `forbidden_role`, `forbidden_scope` or 401 — is asserted against a literal expectation
//! written here, not derived from the role table under test. A route in the registry
//! without a row here fails the test, and so does a row without a route.
//!
//! Requests are sent with bearer tokens (no CSRF), with the smallest body that gets past
//! authorization: for a write, usually one that is then refused as bad input (a 400/409/
//! 422 after authorization counts as allowed), so the table writes little.

use super::app::{DISTRICT_ROLES, TestApp, spawn_app};
use cordon_domain::IdNumber;
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::pass::{Holder, NewPass};
use cordon_domain::registry::Resident;
use cordon_domain::role::Role;
use cordon_domain::testing::{NewRound, PoolCapacity};
use cordon_store::AuditFilter;
use cordon_store::codes::{NewCheckpoint, NewVenue, VenueKind};
use cordon_web::routes::{Need, Verb};
use reqwest::StatusCode;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

// ---- the literal expectations -------------------------------------------------------------

const ALL: &[Role] = &Role::ALL;
const KEEPERS: &[Role] =
    &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker, Role::BuildingLeader];
const READERS: &[Role] = &[
    Role::Commander,
    Role::StreetOfficer,
    Role::CommunityWorker,
    Role::GridWorker,
    Role::BuildingLeader,
    Role::Tracer,
];
const MANAGERS: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker];
const COMMANDER: &[Role] = &[Role::Commander];
const SAMPLER: &[Role] = &[Role::Sampler];
const LAB: &[Role] = &[Role::LabTech];
const DOOR: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker, Role::Volunteer];
const CHASE: &[Role] = &[Role::Commander, Role::Tracer];
const FOLLOW: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker];
const SCANNERS: &[Role] = &[Role::Commander, Role::CheckpointGuard];
const CHECKPOINT_PAGE: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::CheckpointGuard];
const CHECKIN: &[Role] =
    &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::Tracer, Role::Volunteer, Role::Sampler];
const TESTING_LANDING: &[Role] = &[
    Role::Commander,
    Role::StreetOfficer,
    Role::CommunityWorker,
    Role::GridWorker,
    Role::BuildingLeader,
    Role::Sampler,
    Role::LabTech,
    Role::Tracer,
    Role::Volunteer,
];
const RESAMPLERS: &[Role] =
    &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker, Role::Sampler, Role::Tracer];
const RESAMPLE_JOBS: &[Action] = &[Action::SampleResidents, Action::FollowHome, Action::ViewChase];
const TESTING_JOBS: &[Action] =
    &[Action::ManageRounds, Action::SampleResidents, Action::LabResults, Action::ViewCoverage, Action::DoorKnock];
const CHECKPOINT_JOBS: &[Action] = &[Action::ScanCheckpoint, Action::ManageCheckpoints];
const QUARANTINE_JOBS: &[Action] =
    &[Action::IssueOrders, Action::DispatchTransfer, Action::DriveTransfer, Action::ManageSite];
const QUARANTINE_LANDING: &[Role] = &[Role::Commander, Role::Tracer, Role::TransferDispatcher, Role::SiteManager];
const ORDERERS: &[Role] = &[Role::Commander, Role::Tracer, Role::TransferDispatcher];
const SITE: &[Role] = &[Role::Commander, Role::SiteManager];
const DISPATCH: &[Role] = &[Role::Commander, Role::TransferDispatcher];
const DRIVER: &[Role] = &[Role::TransferDispatcher];
const FOLLOW_HOME: &[Role] = &[Role::Commander, Role::StreetOfficer, Role::CommunityWorker, Role::GridWorker];
const CONTAINMENT: &[Role] = &[
    Role::Commander,
    Role::StreetOfficer,
    Role::CommunityWorker,
    Role::Tracer,
    Role::TransferDispatcher,
    Role::SiteManager,
];

/// How a route treats a target outside the caller's subtree.
#[derive(Clone, Copy)]
enum Scope {
    /// The route has no area target: inside and outside are answered alike.
    Untargeted,
    /// Outside the subtree: 403 `forbidden_scope` (`forbidden_checkpoint` at a gate the
    /// guard is not assigned to).
    Refused,
    /// Outside the subtree the request is answered, without what lies outside (a search
    /// finds nobody, an import writes nothing): the check says whether the response shows
    /// (`true`) or leaves out (`false`) the side's data, as the caller may see it or not.
    Filtered(fn(&Side, bool, StatusCode, &str) -> bool),
}

/// What a request carries besides its path.
enum Payload {
    None,
    Form(Vec<(&'static str, String)>),
    Json(serde_json::Value),
    Bytes(String),
    Multipart(Vec<(&'static str, String)>, Option<(String, String)>),
    /// The login form: with the login form's CSRF cookie.
    Login,
}

type Build = fn(&Fx, &Side) -> (String, Payload);

struct Case {
    verb: Verb,
    path: &'static str,
    need: Need,
    roles: &'static [Role],
    scope: Scope,
    /// Query string (after `?`) and body, from the fixtures of the side.
    build: Option<Build>,
}

fn case(
    verb: Verb,
    path: &'static str,
    need: Need,
    roles: &'static [Role],
    scope: Scope,
    build: Option<Build>,
) -> Case {
    Case { verb, path, need, roles, scope, build }
}
fn get(path: &'static str, need: impl Into<Need>, roles: &'static [Role], scope: Scope) -> Case {
    case(Verb::Get, path, need.into(), roles, scope, None)
}
fn get_q(path: &'static str, need: impl Into<Need>, roles: &'static [Role], scope: Scope, build: Build) -> Case {
    case(Verb::Get, path, need.into(), roles, scope, Some(build))
}
fn post(path: &'static str, need: impl Into<Need>, roles: &'static [Role], scope: Scope, build: Build) -> Case {
    case(Verb::Post, path, need.into(), roles, scope, Some(build))
}
fn public_get(path: &'static str) -> Case {
    case(Verb::Get, path, Need::Public, ALL, Scope::Untargeted, None)
}

fn form(fields: &[(&'static str, String)]) -> Payload {
    Payload::Form(fields.to_vec())
}
fn no_query(p: Payload) -> (String, Payload) {
    (String::new(), p)
}

fn fresh_id() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let birth = chrono::NaiveDate::from_ymd_opt(1961, 1, 1).unwrap() + chrono::Days::new(u64::from(n) * 3);
    IdNumber::from_parts(141182, birth, 555).unwrap().as_str().to_string()
}

fn import_csv(s: &Side) -> String {
    format!("姓名,身份证号,手机号,单元编码,房号\n导入乙,{},13900002222,{},9902\n", fresh_id(), s.unit)
}

use Scope::{Filtered, Refused, Untargeted};

/// Every route's row: the need it must declare, the roles it serves (literal), how it
/// treats the subtree, and how to call it.
fn table() -> Vec<Case> {
    vec![
        // ---- the shell
        get("/", Need::SignedIn, ALL, Untargeted),
        public_get("/login"),
        case(Verb::Post, "/login", Need::Public, ALL, Untargeted, Some(|_, _| no_query(Payload::Login))),
        post("/logout", Need::SignedIn, ALL, Untargeted, |_, _| no_query(form(&[]))),
        get_q("/lang/{tag}", Need::Public, ALL, Untargeted, |_, _| ("next=/areas".into(), Payload::None)),
        public_get("/static/{name}"),
        public_get("/api/openapi.json"),
        public_get("/api/ping"),
        get("/api/v1/me", Need::SignedIn, ALL, Untargeted),
        // ---- the registry
        get("/areas", Action::ViewAreaTree, ALL, Untargeted),
        get("/areas/{code}", Action::ViewAreaTree, ALL, Refused),
        get("/api/v1/areas/{code}", Action::ViewAreaTree, ALL, Refused),
        get("/buildings/{code}", Action::ViewRoster, KEEPERS, Refused),
        post("/buildings/{code}/visitors", Action::EditResident, KEEPERS, Refused, |_, s| {
            no_query(form(&[
                ("unit", s.unit.to_string()),
                ("room", "9901".into()),
                ("name", "访客甲".into()),
                ("id_number", "not-an-id".into()),
            ]))
        }),
        get("/api/v1/buildings/{code}/roster", Action::ViewRoster, KEEPERS, Refused),
        get("/residents/{id}", Action::ViewResident, READERS, Refused),
        post("/residents/{id}/corrections", Action::EditResident, KEEPERS, Refused, |_, _| {
            no_query(form(&[("kind", "no-such-kind".into())]))
        }),
        get("/api/v1/residents/{id}", Action::ViewResident, READERS, Refused),
        post("/api/v1/residents/{id}/corrections", Action::EditResident, KEEPERS, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"kind": "no-such-kind"})))
        }),
        // A name in the URL; an ID number (or a phone) only in a POST body.
        get_q(
            "/search",
            Action::SearchResidents,
            READERS,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK && body.contains(&format!("href=\"/residents/{}\"", s.resident.id)) == shown
            }),
            |_, s| (format!("q={}", s.resident.name.as_str()), Payload::None),
        ),
        post(
            "/search",
            Action::SearchResidents,
            READERS,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK && body.contains(&format!("href=\"/residents/{}\"", s.resident.id)) == shown
            }),
            |_, s| no_query(form(&[("q", s.resident.id_number.as_str().to_string())])),
        ),
        get_q(
            "/api/v1/residents",
            Action::SearchResidents,
            READERS,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK
                    && if shown {
                        body.contains(&format!("\"id\":{},", s.resident.id))
                    } else {
                        !body.contains(&format!("\"id\":{},", s.resident.id))
                    }
            }),
            |_, s| (format!("q={}", s.resident.name.as_str()), Payload::None),
        ),
        post(
            "/api/v1/residents/search",
            Action::SearchResidents,
            READERS,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK
                    && if shown { body.contains(&format!("\"id\":{},", s.resident.id)) } else { body == "[]" }
            }),
            |_, s| no_query(Payload::Json(serde_json::json!({"q": s.resident.id_number.as_str()}))),
        ),
        get("/import", Action::ImportResidents, MANAGERS, Untargeted),
        post(
            "/import",
            Action::ImportResidents,
            MANAGERS,
            Filtered(|_, shown, status, body| {
                if shown {
                    status == StatusCode::OK && !body.contains("data-testid=\"row-error\"")
                } else {
                    status == StatusCode::UNPROCESSABLE_ENTITY && body.contains("data-testid=\"row-error\"")
                }
            }),
            |_, s| no_query(Payload::Multipart(vec![], Some(("residents.csv".into(), import_csv(s))))),
        ),
        post(
            "/api/v1/residents/import",
            Action::ImportResidents,
            MANAGERS,
            Filtered(|_, shown, status, body| {
                if shown {
                    status == StatusCode::OK && body.contains("\"committed\":true")
                } else {
                    status == StatusCode::UNPROCESSABLE_ENTITY && body.contains("unit_outside_scope")
                }
            }),
            |_, s| ("format=csv".into(), Payload::Bytes(import_csv(s))),
        ),
        get_q("/export", Action::ExportResidents, MANAGERS, Refused, |_, s| {
            (format!("area={}&format=csv", s.building), Payload::None)
        }),
        get_q("/api/v1/residents/export", Action::ExportResidents, MANAGERS, Refused, |_, s| {
            (format!("area={}&format=csv", s.building), Payload::None)
        }),
        get("/audit", Action::ViewAudit, COMMANDER, Untargeted),
        get("/api/v1/audit", Action::ViewAudit, COMMANDER, Untargeted),
        // ---- health codes
        get("/codes/policy", Action::ManagePolicy, COMMANDER, Untargeted),
        post("/codes/policy", Action::ManagePolicy, COMMANDER, Untargeted, |_, _| {
            no_query(form(&[("profile", "no-such-profile".into())]))
        }),
        post("/api/v1/policy", Action::ManagePolicy, COMMANDER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"profile": "no-such-profile"})))
        }),
        get("/zones", Action::ViewAreaTree, ALL, Untargeted),
        post("/zones", Action::ManageZones, COMMANDER, Refused, |_, s| {
            no_query(form(&[("area_code", s.building.to_string()), ("level", "no-such-level".into())]))
        }),
        post("/api/v1/zones", Action::ManageZones, COMMANDER, Refused, |_, s| {
            no_query(Payload::Json(serde_json::json!({"area_code": s.building, "level": "no-such-level"})))
        }),
        get("/residents/{id}/code", Action::ViewCode, READERS, Refused),
        get("/residents/{id}/qr.svg", Action::ViewCode, READERS, Refused),
        get("/api/v1/residents/{id}/code", Action::ViewCode, READERS, Refused),
        get("/buildings/{code}/cards", Action::PrintCodeCards, KEEPERS, Refused),
        get("/checkpoints", Need::AnyOf(CHECKPOINT_JOBS), CHECKPOINT_PAGE, Untargeted),
        post("/checkpoints", Action::ManageCheckpoints, MANAGERS, Refused, |_, s| {
            no_query(form(&[("name", String::new()), ("area_code", s.compound.to_string())]))
        }),
        post("/checkpoints/{id}/guards", Action::ManageCheckpoints, MANAGERS, Refused, |_, _| {
            no_query(form(&[("username", "commander".into())]))
        }),
        get("/checkpoints/{id}/scan", Action::ScanCheckpoint, SCANNERS, Refused),
        post("/checkpoints/{id}/scan", Action::ScanCheckpoint, SCANNERS, Refused, |f, _| {
            no_query(form(&[("token", f.token.clone()), ("direction", "in".into())]))
        }),
        post("/api/v1/checkpoints/{id}/scans", Action::ScanCheckpoint, SCANNERS, Refused, |f, _| {
            no_query(Payload::Json(serde_json::json!({"token": f.token, "direction": "in"})))
        }),
        get("/venues", Action::VenueCheckin, CHECKIN, Untargeted),
        post("/venues", Action::ManageCheckpoints, MANAGERS, Refused, |_, s| {
            no_query(form(&[
                ("name", "测试场所".into()),
                ("kind", "no-such-kind".into()),
                ("area_code", s.building.to_string()),
            ]))
        }),
        get("/venues/{id}", Action::VenueCheckin, CHECKIN, Refused),
        post("/venues/{id}/checkins", Action::VenueCheckin, CHECKIN, Refused, |_, _| {
            no_query(form(&[("token", "not-a-token".into())]))
        }),
        post("/api/v1/venues/{id}/checkins", Action::VenueCheckin, CHECKIN, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"token": "not-a-token"})))
        }),
        get_q("/api/v1/venues/{id}/visits", Action::VenueCheckin, CHECKIN, Refused, |_, _| {
            ("from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z".into(), Payload::None)
        }),
        get("/passes", Action::IssuePass, MANAGERS, Untargeted),
        post("/passes", Action::IssuePass, MANAGERS, Refused, |_, s| {
            no_query(form(&[
                ("holder_kind", "vehicle".into()),
                ("plate", "??".into()),
                ("purpose", "保供".into()),
                ("scope", s.building.to_string()),
            ]))
        }),
        get("/passes/export.csv", Action::IssuePass, MANAGERS, Untargeted),
        get("/passes/{id}", Action::IssuePass, MANAGERS, Refused),
        post("/passes/{id}/revoke", Action::IssuePass, MANAGERS, Refused, |_, _| {
            no_query(form(&[("reason", String::new())]))
        }),
        post("/api/v1/passes", Action::IssuePass, MANAGERS, Refused, |_, s| {
            no_query(Payload::Json(serde_json::json!({
                "holder_kind": "vehicle", "plate": "??", "purpose": "保供", "scope": [s.building],
            })))
        }),
        post("/api/v1/passes/{id}/revoke", Action::IssuePass, MANAGERS, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"reason": ""})))
        }),
        // ---- mass testing
        get("/testing", Need::AnyOf(TESTING_JOBS), TESTING_LANDING, Untargeted),
        post("/testing/rounds", Action::ManageRounds, COMMANDER, Refused, |_, s| {
            no_query(form(&[("area", s.building.to_string()), ("date", "not-a-date".into())]))
        }),
        post("/testing/sites", Action::ManageRounds, COMMANDER, Refused, |_, s| {
            no_query(form(&[("name", String::new()), ("areas", s.building.to_string())]))
        }),
        get("/testing/rounds/{id}/scan", Action::SampleResidents, SAMPLER, Untargeted),
        post("/testing/boxes", Action::SampleResidents, SAMPLER, Untargeted, |f, _| {
            no_query(form(&[("round", f.round.to_string()), ("code", String::new()), ("tubes", String::new())]))
        }),
        post("/api/v1/rounds/{id}/scans", Action::SampleResidents, SAMPLER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"batch_id": "authz", "items": []})))
        }),
        get("/testing/lab", Action::LabResults, LAB, Untargeted),
        post("/testing/lab/receive", Action::LabResults, LAB, Untargeted, |_, _| {
            no_query(form(&[("code", "NO-SUCH-BOX".into())]))
        }),
        post("/testing/lab/result", Action::LabResults, LAB, Untargeted, |_, _| {
            no_query(form(&[("tube", "ZZ9999999999".into()), ("result", "negative".into())]))
        }),
        post("/testing/lab/upload", Action::LabResults, LAB, Untargeted, |_, _| {
            no_query(Payload::Multipart(vec![("_csrf", String::new())], None))
        }),
        post("/api/v1/receipts", Action::LabResults, LAB, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"code": "NO-SUCH-BOX"})))
        }),
        post("/api/v1/results", Action::LabResults, LAB, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"results": []})))
        }),
        get("/testing/rounds/{id}/areas/{code}", Action::ViewCoverage, READERS, Refused),
        get("/testing/rounds/{id}/areas/{code}/coverage.xlsx", Action::ViewCoverage, READERS, Refused),
        get("/api/v1/rounds/{id}/coverage/{code}", Action::ViewCoverage, READERS, Refused),
        get("/testing/rounds/{id}/buildings/{code}/missed", Action::ViewMissed, KEEPERS, Refused),
        get("/testing/rounds/{id}/buildings/{code}/missed.xlsx", Action::ViewMissed, KEEPERS, Refused),
        post("/testing/rounds/{id}/buildings/{code}/report", Action::ViewMissed, KEEPERS, Refused, |_, _| {
            no_query(form(&[("note", "电话无人接听".into())]))
        }),
        get("/api/v1/rounds/{id}/missed/{code}", Action::ViewMissed, KEEPERS, Refused),
        get("/testing/rounds/{id}/tasks", Action::DoorKnock, DOOR, Untargeted),
        post("/testing/rounds/{id}/tasks", Action::ViewMissed, KEEPERS, Refused, |_, s| {
            no_query(form(&[("household", s.household.to_string())]))
        }),
        // No assignee: the task is taken back (unassigned), a harmless write.
        post("/testing/rounds/{id}/tasks/assign", Action::ViewMissed, KEEPERS, Refused, |_, s| {
            no_query(form(&[("task", s.task.to_string()), ("assignee", String::new())]))
        }),
        post("/testing/rounds/{id}/exemptions", Action::DoorKnock, DOOR, Refused, |_, s| {
            no_query(form(&[("resident", s.resident.id.to_string()), ("reason", "no-such-reason".into())]))
        }),
        post("/testing/tasks/{id}/outcome", Action::DoorKnock, DOOR, Refused, |_, _| {
            no_query(form(&[("outcome", "no-such-outcome".into())]))
        }),
        get("/testing/alerts", Action::ViewChase, CHASE, Untargeted),
        get("/api/v1/alerts", Action::ViewChase, CHASE, Untargeted),
        get("/api/v1/rounds/{id}/pool-positives", Action::ViewChase, CHASE, Untargeted),
        // ---- accounts and credentials (the side's fixture account: acting on it harms no caller)
        get("/accounts", Action::ManageAccounts, COMMANDER, Untargeted),
        post("/accounts/users/{id}", Action::ManageAccounts, COMMANDER, Refused, |_, _| {
            no_query(form(&[("do", "no-such-action".into())]))
        }),
        post("/accounts/tokens/{id}/revoke", Action::ManageAccounts, COMMANDER, Refused, |_, _| no_query(form(&[]))),
        // ---- quarantine and transfer
        get("/quarantine", Need::AnyOf(QUARANTINE_JOBS), QUARANTINE_LANDING, Untargeted),
        get("/quarantine/queue", Action::IssueOrders, ORDERERS, Untargeted),
        post("/quarantine/orders", Action::IssueOrders, ORDERERS, Untargeted, |_, _| no_query(form(&[]))),
        post("/quarantine/arrivals", Action::IssueOrders, ORDERERS, Refused, |_, s| {
            no_query(form(&[
                ("resident_id", s.resident.id.to_string()),
                ("last_exposure", "not-a-time".into()),
                ("reason", "北京".into()),
            ]))
        }),
        get("/api/v1/quarantine/queue", Action::IssueOrders, ORDERERS, Untargeted),
        post("/api/v1/quarantine/orders", Action::IssueOrders, ORDERERS, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"contacts": []})))
        }),
        get("/quarantine/orders/{id}", Action::ViewContainment, CONTAINMENT, Refused),
        get("/api/v1/quarantine/orders/{id}", Action::ViewContainment, CONTAINMENT, Refused),
        get("/quarantine/sites", Action::ManageSite, SITE, Untargeted),
        post("/quarantine/sites", Action::ManageSite, SITE, Refused, |_, s| {
            no_query(form(&[
                ("name", String::new()),
                ("kind", "hotel".into()),
                ("area_code", s.building.to_string()),
                ("category", "close_contact".into()),
            ]))
        }),
        get("/quarantine/sites/{id}", Action::ManageSite, SITE, Refused),
        post("/quarantine/sites/{id}/rooms", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(form(&[("rooms", "not rooms".into())]))
        }),
        post("/quarantine/sites/{id}/assign", Action::ManageSite, SITE, Refused, |_, _| no_query(form(&[]))),
        get("/quarantine/sites/{id}/notices", Action::ManageSite, SITE, Refused),
        post("/quarantine/rooms/{id}/state", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(form(&[("event", "no-such-event".into())]))
        }),
        post("/quarantine/orders/{id}/checks", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(form(&[("temperature", "99".into())]))
        }),
        post("/quarantine/orders/{id}/release", Action::ManageSite, SITE, Refused, |_, _| no_query(form(&[]))),
        get("/api/v1/quarantine/sites", Action::ManageSite, SITE, Untargeted),
        post("/api/v1/quarantine/sites", Action::ManageSite, SITE, Refused, |_, s| {
            no_query(Payload::Json(serde_json::json!({
                "name": "", "kind": "hotel", "address": "", "area_code": s.building, "manager": "",
                "categories": ["close_contact"],
            })))
        }),
        get("/api/v1/quarantine/sites/{id}/board", Action::ManageSite, SITE, Refused),
        post("/api/v1/quarantine/sites/{id}/assignments", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"placements": []})))
        }),
        post("/api/v1/quarantine/orders/{id}/checks", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"temperature": "99"})))
        }),
        post("/api/v1/quarantine/orders/{id}/release", Action::ManageSite, SITE, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({})))
        }),
        get("/quarantine/dispatch", Action::DispatchTransfer, DISPATCH, Untargeted),
        post("/quarantine/runs", Action::DispatchTransfer, DISPATCH, Refused, |_, s| {
            no_query(form(&[("site_id", s.site.to_string()), ("plate", "??".into()), ("seats", "7".into())]))
        }),
        post("/quarantine/runs/{id}/undispatch", Action::DispatchTransfer, DISPATCH, Refused, |_, _| {
            no_query(form(&[]))
        }),
        post("/api/v1/quarantine/runs/{id}/undispatch", Action::DispatchTransfer, DISPATCH, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"orders": []})))
        }),
        get("/api/v1/quarantine/dispatch", Action::DispatchTransfer, DISPATCH, Untargeted),
        post("/api/v1/quarantine/runs", Action::DispatchTransfer, DISPATCH, Refused, |_, s| {
            no_query(Payload::Json(serde_json::json!({
                "orders": [], "site_id": s.site, "plate": "??", "driver_user_id": 0, "team": "", "seats": 7,
            })))
        }),
        get("/quarantine/driver", Action::DriveTransfer, DRIVER, Untargeted),
        get("/quarantine/runs/{id}", Action::DriveTransfer, DRIVER, Untargeted),
        post("/quarantine/runs/{id}/pickups", Action::DriveTransfer, DRIVER, Untargeted, |_, _| {
            no_query(form(&[("key", "authz".into()), ("who", "not-a-code".into())]))
        }),
        post("/quarantine/runs/{id}/arrival", Action::DriveTransfer, DRIVER, Untargeted, |_, _| {
            no_query(form(&[("key", String::new())]))
        }),
        get("/api/v1/quarantine/driver/runs", Action::DriveTransfer, DRIVER, Untargeted),
        post("/api/v1/quarantine/runs/{id}/pickups", Action::DriveTransfer, DRIVER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"key": "authz", "who": "not-a-code"})))
        }),
        post("/api/v1/quarantine/runs/{id}/arrival", Action::DriveTransfer, DRIVER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"key": ""})))
        }),
        // ---- zones on the clock (the commander's: no proposal or zone of the fixtures
        // exists, so an allowed call is refused as unknown, 422)
        post("/zones/proposals/{id}/decide", Action::ManageZones, COMMANDER, Untargeted, |_, _| {
            no_query(form(&[("decision", "accept".into())]))
        }),
        post("/zones/{id}/lift", Action::ManageZones, COMMANDER, Untargeted, |_, _| {
            no_query(form(&[("reason", "流调排除".into())]))
        }),
        get("/api/v1/zones/proposals", Action::ManageZones, COMMANDER, Untargeted),
        post("/api/v1/zones/proposals/{id}/decision", Action::ManageZones, COMMANDER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"decision": "accept"})))
        }),
        get("/api/v1/zones/forecast", Action::ManageZones, COMMANDER, Untargeted),
        post("/api/v1/zones/{id}/lift", Action::ManageZones, COMMANDER, Untargeted, |_, _| {
            no_query(Payload::Json(serde_json::json!({"reason": "流调排除"})))
        }),
        get("/api/v1/zones/history", Action::ManageZones, COMMANDER, Untargeted),
        // ---- home quarantine follow-up and the containment KPIs
        get(
            "/followup",
            Action::FollowHome,
            FOLLOW_HOME,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK && body.contains(&format!("data-order=\"{}\"", s.home_order)) == shown
            }),
        ),
        get(
            "/quarantine/home-notices",
            Action::FollowHome,
            FOLLOW_HOME,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK && body.contains(&format!("data-order=\"{}\"", s.home_order)) == shown
            }),
        ),
        post("/followup/orders/{id}/checks", Action::FollowHome, FOLLOW_HOME, Refused, |_, _| {
            no_query(form(&[("temperature", "45.2".into())]))
        }),
        get(
            "/api/v1/followup",
            Action::FollowHome,
            FOLLOW_HOME,
            Filtered(|s, shown, status, body| {
                status == StatusCode::OK && body.contains(&format!("\"order_id\":{},", s.home_order)) == shown
            }),
        ),
        post("/api/v1/followup/orders/{id}/checks", Action::FollowHome, FOLLOW_HOME, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"temperature": "45.2"})))
        }),
        get("/kpis/containment", Action::ViewContainment, CONTAINMENT, Untargeted),
        get("/api/v1/kpis/containment", Action::ViewContainment, CONTAINMENT, Untargeted),
        get("/testing/rounds/{id}/resample", Need::AnyOf(RESAMPLE_JOBS), RESAMPLERS, Untargeted),
        get("/api/v1/rounds/{id}/resample-tasks", Need::AnyOf(RESAMPLE_JOBS), RESAMPLERS, Untargeted),
        // A malformed barcode: answered 422 after authorization.
        get("/api/v1/chases/{tube}", Action::ViewChase, CHASE, Untargeted),
        // ---- tracing (bodies refused as bad input after authorization)
        get("/tracing", Action::TraceCases, CHASE, Untargeted),
        post("/tracing/cases", Action::TraceCases, CHASE, Refused, |_, s| {
            no_query(form(&[
                ("resident_id", s.resident.id.to_string()),
                ("classification", "x".into()),
                ("how_found", "x".into()),
            ]))
        }),
        get("/tracing/cases/{id}", Action::TraceCases, CHASE, Refused),
        get("/tracing/cases/{id}/assist", Action::TraceCases, CHASE, Refused),
        post("/tracing/cases/{id}", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(form(&[("classification", "x".into()), ("status", "x".into())]))
        }),
        post("/tracing/cases/{id}/candidates", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(form(&[("decision", "reject".into())]))
        }),
        post("/tracing/cases/{id}/places", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(form(&[("label", "某地".into()), ("from", "x".into()), ("until", "x".into())]))
        }),
        post("/tracing/cases/{id}/contacts", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(form(&[("class", "x".into()), ("setting", "x".into()), ("last_exposure", "x".into())]))
        }),
        post("/tracing/cases/{id}/source", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(form(&[("source", "x".into())]))
        }),
        get("/api/v1/cases", Action::TraceCases, CHASE, Untargeted),
        get("/api/v1/cases/{id}", Action::TraceCases, CHASE, Refused),
        post("/api/v1/cases/{id}/candidates", Action::TraceCases, CHASE, Refused, |_, _| {
            no_query(Payload::Json(serde_json::json!({"candidates": [], "confirm": false})))
        }),
        get("/tracing/chains", Action::ViewChains, CHASE, Untargeted),
        post("/tracing/clusters", Action::ViewChains, CHASE, Untargeted, |_, _| {
            no_query(form(&[("name", "聚".repeat(81))]))
        }),
        get("/api/v1/chains", Action::ViewChains, CHASE, Untargeted),
        get("/api/v1/tracing/kpis", Action::ViewChains, CHASE, Untargeted),
        get("/tracing/contacts", Action::FollowHome, FOLLOW, Untargeted),
        post("/tracing/contacts/{id}/notified", Action::FollowHome, FOLLOW, Refused, |_, _| no_query(form(&[]))),
    ]
}

// ---- fixtures -------------------------------------------------------------------------------

/// One side of the table: a building and what lives in it, each inside every demo account's
/// subtree (the first side) or outside all but the district's (the second).
struct Side {
    building: AreaCode,
    unit: AreaCode,
    compound: AreaCode,
    resident: Resident,
    /// A gate of the compound (on the first side, the demo gate with the demo guard).
    gate: i64,
    /// A venue in the building.
    venue: i64,
    /// A vehicle pass for the building.
    pass: i64,
    /// A missed household of the round, and a door-knock task for another one.
    household: i64,
    task: i64,
    /// A building leader's account for the building, and a token of it.
    account: i64,
    account_token: i64,
    /// A quarantine site in the building with two rooms, an order of a resident of the
    /// building on a run to it (driven by the demo driver).
    site: i64,
    room: i64,
    order: i64,
    run: i64,
    /// A resident of the building in home quarantine: their order.
    home_order: i64,
    /// A case of another resident of the building, and a contact of it living there.
    case: i64,
    contact: i64,
}

struct Fx {
    app: TestApp,
    /// A round of the whole district in which nobody is sampled yet.
    round: i64,
    /// A health-code token of a resident of the first side.
    token: String,
    sides: [Side; 2],
}

fn entry(action: &str) -> cordon_domain::audit::AuditEntry {
    cordon_store::conformance::audit_entry(1, "authz-fixture", action, "test", "authz")
}

async fn side(app: &TestApp, building: &AreaCode, round: i64, gate: Option<i64>, contact: i64) -> Side {
    let store = &app.store;
    let now = chrono::Utc::now();
    let resident = app.resident_in(building).await;
    let compound = building.parent().unwrap();
    let gate = match gate {
        Some(g) => g,
        None => {
            let cp = NewCheckpoint::new("西门", compound.clone(), now).unwrap();
            store.create_checkpoint(&cp, &entry("checkpoint.create")).await.unwrap().id
        }
    };
    let venue = NewVenue::new("楼下便利店", VenueKind::Shop, building.clone(), now).unwrap();
    let venue = store.create_venue(&venue, &entry("venue.create")).await.unwrap().id;
    let pass = NewPass {
        holder: Holder::Vehicle("晋K12345".into()),
        holder_label: "晋K12345".into(),
        purpose: "保供".into(),
        scope: vec![building.clone()],
        valid_from: now,
        valid_until: now + chrono::Duration::days(3),
        issuer_id: 1,
        issuer: "authz-fixture".into(),
        issued_at: now,
        issuer_roots: vec![building.clone()],
    };
    let pass = store.issue_pass(&pass, &entry("pass.issue")).await.unwrap().id;
    let missed = store.missed(round, std::slice::from_ref(building)).await.unwrap();
    assert!(missed.len() >= 2, "two missed households in {building}");
    let household = missed[0].household_id;
    let tasks = store.create_door_tasks(round, &[missed[1].household_id], 1, now, &entry("door.create")).await.unwrap();
    let account = store
        .create_user(&cordon_store::NewUser {
            username: format!("authz-leader-{building}"),
            display_name: "楼长乙".into(),
            role: Role::BuildingLeader,
            scope: cordon_domain::role::UserScope::Area(building.clone()),
            password_hash: "x".into(),
            created_at: now,
        })
        .await
        .unwrap()
        .id;
    let account_token = store
        .issue_api_token(
            &cordon_store::credentials::NewApiToken::new(format!("authz-{building}"), account, "fixture", now, 1)
                .unwrap(),
        )
        .await
        .unwrap();
    let (site, room, order, run) = quarantine_fixture(app, building, &resident).await;
    let at_home = super::zones_followup::later_resident(app, building).await;
    let home_order = super::zones_followup::home_order(app, &at_home, contact).await;
    let (case, contact) = tracing_fixture(app, building, &resident, now).await;
    Side {
        building: building.clone(),
        unit: resident.unit.clone(),
        compound,
        resident,
        gate,
        venue,
        pass,
        household,
        task: tasks[0].id,
        account,
        account_token,
        site,
        room,
        order,
        run,
        home_order,
        case,
        contact,
    }
}

/// A site in `building`, and an order of one of its residents (not `avoid`, nobody with an
/// open order) on a run to it driven by the demo driver.
async fn quarantine_fixture(app: &TestApp, building: &AreaCode, avoid: &Resident) -> (i64, i64, i64, i64) {
    use cordon_domain::containment::quarantine::{Category, NewRoom, NewSite, Person, SiteKind};
    use cordon_store::containment::{DispatchRequest, IsolationCandidate, OrderQuery, OrderRequest};
    let store = &app.store;
    let now = chrono::Utc::now();
    let p = cordon_store::conformance_containment::profile("protocol-9");
    let act = |what: &str| cordon_store::conformance_containment::act(&p, now, "authz-fixture", what);
    let site = NewSite::new(
        "测试酒店",
        SiteKind::Hotel,
        "测试路1号",
        building.clone(),
        "测试",
        None,
        None,
        &[Category::CloseContact],
        now,
    )
    .unwrap();
    let rooms = vec![NewRoom::new(1, "101", 1).unwrap(), NewRoom::new(1, "102", 1).unwrap()];
    let site = store.open_site(site, rooms, act("site.open")).await.unwrap().unwrap();
    let room = store.rooms_of(site.id).await.unwrap()[0].room.id;
    let mut person = None;
    for h in store.building_roster(building).await.unwrap() {
        for r in h.members {
            let open = store
                .orders(OrderQuery { resident_ids: Some(vec![r.id]), open: true, ..OrderQuery::default() })
                .await
                .unwrap();
            if r.id != avoid.id && open.is_empty() && person.is_none() {
                person = Some(r);
            }
        }
    }
    let r = person.expect("a resident without an order");
    static CONTACT: AtomicU32 = AtomicU32::new(880_000);
    let contact_id = i64::from(CONTACT.fetch_add(1, Ordering::Relaxed));
    let cand = IsolationCandidate {
        contact_id,
        person: Person {
            resident_id: Some(r.id),
            name: r.name.clone(),
            id_number: None,
            phone: None,
            unit: Some(r.unit.clone()),
            address: String::new(),
            household_id: Some(r.household_id),
        },
        class: cordon_domain::colour::ContactClass::Close,
        last_exposure: now - chrono::Duration::hours(10),
        identified_at: now - chrono::Duration::hours(2),
        deadline: now + chrono::Duration::hours(20),
    };
    store.enqueue_isolation(vec![cand], act("contacts.enqueue")).await.unwrap().unwrap();
    let order = store
        .issue_orders(vec![OrderRequest::Contact { contact_id }], act("orders.issue"))
        .await
        .unwrap()
        .unwrap()
        .remove(0)
        .id;
    let driver = store.user_by_username("transfer_dispatcher").await.unwrap().unwrap();
    let vehicle =
        cordon_domain::containment::transfer::Vehicle::new("晋K54321", "司机", Some(driver.id), "专班", 7).unwrap();
    let run = store
        .dispatch(DispatchRequest { order_ids: vec![order], vehicle, site_id: site.id }, act("transfer.dispatch"))
        .await
        .unwrap()
        .unwrap()
        .id;
    (site.id, room, order, run)
}

/// A case entered for a resident of `building` other than `not`, with one contact there.
async fn tracing_fixture(
    app: &TestApp,
    building: &AreaCode,
    not: &Resident,
    now: chrono::DateTime<chrono::Utc>,
) -> (i64, i64) {
    use cordon_domain::tracing::{Class, Classification, HowFound, Setting};
    use cordon_store::tracing::{NewCase, NewContact};
    let roster = app.store.building_roster(building).await.unwrap();
    let people: Vec<Resident> =
        roster.into_iter().flat_map(|h| h.members).filter(|r| r.household_id != not.household_id).collect();
    let (who, other) = (&people[0], people.iter().find(|r| r.household_id != people[0].household_id).unwrap());
    let p9 = cordon_store::conformance_containment::profile("protocol-9");
    let act = |what| cordon_store::conformance_containment::act(&p9, now, "authz-fixture", what);
    let new = NewCase {
        resident_id: who.id,
        classification: Classification::Mild,
        how_found: HowFound::FeverClinic,
        onset: None,
        workplace: String::new(),
    };
    let case = match app.store.case_of(who.id).await.unwrap() {
        Some(c) => c,
        None => app.store.enter_case(new, act("case.enter")).await.unwrap().unwrap(),
    };
    let contact = NewContact {
        case_id: case.id,
        resident_id: Some(other.id),
        name: None,
        id_number: None,
        phone: None,
        address: String::new(),
        class: Class::General,
        setting: Setting::Workplace,
        last_exposure: now - chrono::Duration::hours(1),
    };
    let contact = app.store.add_contact(contact, act("contact.add")).await.unwrap().unwrap();
    (case.id, contact.id)
}

async fn fixture() -> Fx {
    let app = spawn_app().await;
    let store = app.store.clone();
    let round = NewRound {
        area: AreaCode::parse("141102").unwrap(),
        date: chrono::Utc::now().date_naive(),
        mandatory: true,
        pool: PoolCapacity::new(10).unwrap(),
    };
    let round = store.create_round(&round, &entry("round.create")).await.unwrap().id;
    let guard = store.user_by_username("checkpoint_guard").await.unwrap().unwrap();
    let demo_gate = store.checkpoints_of_guard(guard.id).await.unwrap().first().expect("the demo gate").id;
    let inside = side(&app, &app.building, round, Some(demo_gate), 1).await;
    let outside = side(&app, &app.other_building, round, None, 2).await;
    let body = app.get_json(Role::Commander, &format!("/api/v1/residents/{}/code", inside.resident.id)).await;
    let token = body["token"].as_str().expect("a health-code token").to_string();
    Fx { app, round, token, sides: [inside, outside] }
}

/// The path with its parameters taken from the side's fixtures.
fn fill(fx: &Fx, s: &Side, path: &str) -> String {
    let id = if path.starts_with("/quarantine/sites/") || path.starts_with("/api/v1/quarantine/sites/") {
        s.site
    } else if path.starts_with("/quarantine/rooms/") {
        s.room
    } else if path.starts_with("/quarantine/orders/") || path.starts_with("/api/v1/quarantine/orders/") {
        s.order
    } else if path.starts_with("/quarantine/runs/") || path.starts_with("/api/v1/quarantine/runs/") {
        s.run
    } else if path.starts_with("/residents/") || path.starts_with("/api/v1/residents/") {
        s.resident.id
    } else if path.starts_with("/testing/rounds/") || path.starts_with("/api/v1/rounds/") {
        fx.round
    } else if path.starts_with("/testing/tasks/") {
        s.task
    } else if path.starts_with("/checkpoints/") || path.starts_with("/api/v1/checkpoints/") {
        s.gate
    } else if path.starts_with("/venues/") || path.starts_with("/api/v1/venues/") {
        s.venue
    } else if path.starts_with("/passes/") || path.starts_with("/api/v1/passes/") {
        s.pass
    } else if path.starts_with("/accounts/users/") {
        s.account
    } else if path.starts_with("/accounts/tokens/") {
        s.account_token
    } else if path.starts_with("/followup/orders/") || path.starts_with("/api/v1/followup/orders/") {
        s.home_order
    } else if path.starts_with("/zones/") || path.starts_with("/api/v1/zones/") {
        // No such proposal or zone: the commander's call is refused as unknown.
        987_654
    } else if path.starts_with("/tracing/cases/") || path.starts_with("/api/v1/cases/") {
        s.case
    } else if path.starts_with("/tracing/contacts/") {
        s.contact
    } else {
        0
    };
    assert!(id != 0 || !path.contains("{id}"), "no fixture for the id of {path}");
    let filled = path
        .replace("{id}", &id.to_string())
        .replace("{code}", s.building.as_str())
        .replace("{tag}", "en")
        .replace("{tube}", "not-a-tube")
        .replace("{name}", "app.css");
    assert!(!filled.contains('{'), "no fixture for the parameters of {path}");
    filled
}

// ---- answers --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Allowed,
    Role,
    Scope,
    Unauthenticated,
}

/// What a response says about authorization; `Err` for a status no authorization decision
/// explains (a 404 of a fixture, a 5xx, a CSRF refusal).
fn answer(status: StatusCode, location: &str, body: &str) -> Result<Answer, String> {
    Ok(match status.as_u16() {
        401 => Answer::Unauthenticated,
        303 if location.starts_with("/login?next=") => Answer::Unauthenticated,
        403 if body.contains("forbidden_role") => Answer::Role,
        403 if body.contains("forbidden_scope") || body.contains("forbidden_checkpoint") => Answer::Scope,
        200..=399 | 400 | 409 | 422 => Answer::Allowed,
        _ => return Err(format!("{status}: {}", body.chars().take(200).collect::<String>())),
    })
}

/// The literal expectation of one cell.
fn expected(c: &Case, caller: Option<Role>, inside: bool) -> Answer {
    if c.need == Need::Public {
        return Answer::Allowed;
    }
    let Some(role) = caller else { return Answer::Unauthenticated };
    if !c.roles.contains(&role) {
        return Answer::Role;
    }
    let covered = inside || DISTRICT_ROLES.contains(&role);
    match c.scope {
        Refused if !covered => Answer::Scope,
        _ => Answer::Allowed,
    }
}

async fn send(fx: &Fx, c: &Case, caller: Option<Role>, s: &Side) -> (StatusCode, String, String) {
    let app = &fx.app;
    let path = fill(fx, s, c.path);
    let (query, payload) = c.build.map_or((String::new(), Payload::None), |b| b(fx, s));
    let url = if query.is_empty() { format!("{}{path}", app.url) } else { format!("{}{path}?{query}", app.url) };
    let mut req = match c.verb {
        Verb::Get => app.client.get(url),
        Verb::Post => app.client.post(url),
    };
    if let Some(role) = caller {
        req = req.bearer_auth(&app.tokens[&role]);
    }
    req = match payload {
        Payload::None => req,
        Payload::Form(f) => req.form(&f),
        Payload::Json(j) => req.json(&j),
        Payload::Bytes(b) => req.body(b),
        Payload::Multipart(fields, file) => {
            let mut m = reqwest::multipart::Form::new();
            for (k, v) in fields {
                m = m.text(k, v);
            }
            if let Some((name, content)) = file {
                m = m.part("file", reqwest::multipart::Part::bytes(content.into_bytes()).file_name(name));
            }
            req.multipart(m)
        }
        Payload::Login => {
            let who = caller.unwrap_or(Role::Commander);
            let password = cordon::demo::demo_password(who);
            req.header("cookie", format!("{}=authz-csrf", cordon_web::auth::LOGIN_CSRF_COOKIE)).form(&[
                ("username", who.code()),
                ("password", &password),
                ("_csrf", "authz-csrf"),
                ("next", "/areas"),
            ])
        }
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, location, resp.text().await.unwrap_or_default())
}

fn key(verb: Verb, path: &str) -> String {
    format!("{} {path}", verb.as_str())
}

#[test]
fn the_table_has_a_row_for_every_route_of_the_registry_and_no_other() {
    let registry: BTreeMap<String, Need> =
        cordon_web::routes::registry().into_iter().map(|r| (key(r.verb, r.path), r.need)).collect();
    let rows: BTreeMap<String, Need> = table().into_iter().map(|c| (key(c.verb, c.path), c.need)).collect();
    assert_eq!(rows.len(), table().len(), "a route has two rows");
    let declared: BTreeSet<_> = registry.keys().collect();
    let tested: BTreeSet<_> = rows.keys().collect();
    let untested: Vec<_> = declared.difference(&tested).collect();
    let undeclared: Vec<_> = tested.difference(&declared).collect();
    assert!(untested.is_empty(), "routes without a row in the authorization table: {untested:?}");
    assert!(undeclared.is_empty(), "rows for routes the registry does not declare: {undeclared:?}");
    for (k, need) in &registry {
        assert_eq!(Some(need), rows.get(k), "{k}: the registry declares {need:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_table_of_every_route() {
    let fx = Arc::new(fixture().await);
    let cases = Arc::new(table());
    let callers: Vec<Option<Role>> = std::iter::once(None).chain(Role::ALL.into_iter().map(Some)).collect();
    // A few requests at a time: the cells are independent.
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut cells = tokio::task::JoinSet::new();
    for i in 0..cases.len() {
        for caller in &callers {
            for inside in [true, false] {
                let (fx, cases, limit, caller) = (fx.clone(), cases.clone(), limit.clone(), *caller);
                cells.spawn(async move {
                    let _permit = limit.acquire().await.unwrap();
                    let c = &cases[i];
                    let s = &fx.sides[usize::from(!inside)];
                    let (status, location, body) = send(&fx, c, caller, s).await;
                    let want = expected(c, caller, inside);
                    let who = caller.map_or("nobody", Role::code);
                    let cell = format!(
                        "{} as {who} ({})",
                        key(c.verb, c.path),
                        if inside { "in scope" } else { "out of scope" }
                    );
                    let got = answer(status, &location, &body).map_err(|e| format!("{cell}: {e}"))?;
                    if got != want {
                        return Err(format!(
                            "{cell}: expected {want:?}, got {got:?} ({status}: {})",
                            body.chars().take(160).collect::<String>()
                        ));
                    }
                    if let (Filtered(shows), Answer::Allowed, Some(role)) = (c.scope, want, caller) {
                        let visible = inside || DISTRICT_ROLES.contains(&role);
                        if !shows(s, visible, status, &body) {
                            return Err(format!(
                                "{cell}: the answer should {} the side's data ({status}: {})",
                                if visible { "show" } else { "leave out" },
                                body.chars().take(160).collect::<String>()
                            ));
                        }
                    }
                    Ok(matches!(want, Answer::Role | Answer::Scope))
                });
            }
        }
    }
    let (mut checked, mut refused, mut failures) = (0, 0, Vec::new());
    while let Some(done) = cells.join_next().await {
        checked += 1;
        match done.unwrap() {
            Ok(r) => refused += usize::from(r),
            Err(e) => failures.push(e),
        }
    }
    failures.sort();
    assert_eq!(checked, cases.len() * callers.len() * 2);
    assert!(failures.is_empty(), "{} of {checked} cells wrong:\n{}", failures.len(), failures.join("\n"));
    // Every refusal was audited, once.
    let denied = fx
        .app
        .store
        .audit_log(&AuditFilter { action: Some("access.denied".into()), limit: 100_000, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(denied.len(), refused, "one access.denied entry per refusal");
    eprintln!("authorization table: {} routes × {} callers × 2 = {checked} cells", cases.len(), callers.len());
}
