//! The dispatcher's board (转运调度): transfer requests from the orders, grouped by
//! household; dispatching a vehicle (plate, driver — a transfer team member's account —,
//! team, seats, destination; several households per vehicle where the profile allows);
//! runs under way with each step's time and who did it; and the alert "picked up and not
//! arrived within the profile's time" — page and API.

use super::{act, all_of, csrf_of, local, message, one_of, order_json, refusal, site_json};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::Role;
use cordon_domain::authz::Action;
use cordon_domain::containment::kpi;
use cordon_domain::containment::quarantine::Order;
use cordon_domain::containment::transfer::Vehicle;
use cordon_domain::error::FieldError;
use cordon_store::containment::{DispatchBoard, DispatchRequest, RunView};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/quarantine/dispatch", Action::DispatchTransfer, board_page),
        Route::post("/quarantine/runs", Action::DispatchTransfer, dispatch_form),
        Route::get("/api/v1/quarantine/dispatch", Action::DispatchTransfer, board_api),
        Route::post("/api/v1/quarantine/runs", Action::DispatchTransfer, dispatch_api),
    ]
}

fn visible(ctx: &Ctx, o: &Order) -> bool {
    // People not on the register have no unit: only district-wide callers see them.
    match &o.person.unit {
        Some(u) => ctx.principal.covers(u),
        None => ctx.principal.roots.iter().any(|r| r.level() == cordon_domain::area::AreaLevel::District),
    }
}

/// The board, without what lies outside the caller's subtree.
pub(super) async fn visible_board(ctx: &Ctx) -> Result<DispatchBoard, AppError> {
    let view = super::view(ctx).await?;
    let mut b = ctx.store.dispatch_board(&view).await?;
    b.waiting.retain(|o| visible(ctx, o));
    b.overdue.retain(|o| visible(ctx, o));
    b.runs.retain(|r| r.members.iter().any(|o| visible(ctx, o)));
    Ok(b)
}

pub(super) fn run_json(ctx: &Ctx, r: &RunView, site: Option<&Value>) -> Value {
    let members: Vec<_> = r.members.iter().map(|o| order_json(ctx, o)).collect();
    let picked = r.members.iter().filter(|o| o.picked_up_at.is_some()).count();
    json!({
        "id": r.run.id, "plate": r.run.vehicle.plate, "driver": r.run.vehicle.driver, "team": r.run.vehicle.team,
        "seats": r.run.vehicle.seats, "site_id": r.run.site_id, "site": site, "state": r.run.state.as_str(),
        "dispatched_at": local(ctx, r.run.dispatched_at), "dispatched_by": r.run.dispatched_by,
        "completed_at": r.run.completed_at.map(|t| local(ctx, t)), "members": members, "picked": picked,
        "total": r.members.len(),
    })
}

#[derive(Deserialize, Default)]
struct BoardQ {
    /// The run just dispatched.
    #[serde(default)]
    sent: Option<i64>,
}

async fn board_page(ctx: Ctx, Query(q): Query<BoardQ>) -> Result<Response, AppError> {
    board_view(&ctx, None, q.sent).await
}

async fn board_view(ctx: &Ctx, error: Option<FieldError>, sent: Option<i64>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let b = visible_board(ctx).await?;
    let sites = super::sites::visible_sites(ctx).await?;
    let site_values: Vec<(i64, Value)> = sites
        .iter()
        .map(|s| {
            let mut j = site_json(lang, &s.site);
            let o = kpi::occupancy(&s.rooms);
            j["free"] = json!(o.free);
            (s.site.id, j)
        })
        .collect();
    let site_of = |id: i64| site_values.iter().find(|(s, _)| *s == id).map(|(_, v)| v);
    // Waiting people by household, so a household goes in one vehicle.
    let mut groups: Vec<(Option<i64>, Vec<Value>)> = Vec::new();
    for o in &b.waiting {
        let j = order_json(ctx, o);
        match groups.iter_mut().find(|(h, _)| h.is_some() && *h == o.person.household_id) {
            Some((_, v)) => v.push(j),
            None => groups.push((o.person.household_id, vec![j])),
        }
    }
    let groups: Vec<_> = groups.into_iter().map(|(h, m)| json!({"household_id": h, "members": m})).collect();
    let runs: Vec<_> = b.runs.iter().map(|r| run_json(ctx, r, site_of(r.run.site_id))).collect();
    let overdue: Vec<_> = b.overdue.iter().map(|o| order_json(ctx, o)).collect();
    let drivers: Vec<_> = ctx
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Role::TransferDispatcher)
        .map(|u| json!({"id": u.id, "name": u.display_name}))
        .collect();
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    ctx.audit("dispatch_board.read", "route", "/quarantine/dispatch", format!("{} waiting", b.waiting.len())).await?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let html = render(
        ctx,
        "quarantine/dispatch.html",
        "/quarantine",
        json!({"groups": groups, "runs": runs, "overdue": overdue, "drivers": drivers,
               "sites": site_values.iter().map(|(_, v)| v).collect::<Vec<_>>(), "sent": sent,
               "max_households": profile.transfer.households_per_vehicle,
               "overdue_minutes": profile.transfer.alert_after_minutes,
               "error": error.map(|e| message(lang, &e))}),
    )?;
    Ok((status, html).into_response())
}

/// What a dispatch form or body holds.
#[derive(Deserialize, ToSchema, Default)]
pub(super) struct DispatchBody {
    orders: Vec<i64>,
    site_id: i64,
    plate: String,
    /// The driver's account (a transfer team member).
    driver_user_id: i64,
    team: String,
    seats: u32,
}

async fn send(
    ctx: &Ctx,
    b: DispatchBody,
) -> Result<Result<cordon_domain::containment::transfer::TransferRun, FieldError>, AppError> {
    if b.orders.len() > 60 {
        return Ok(Err(FieldError::new(
            "seats_exceeded",
            "orders",
            "人数超过车辆座位数",
            "more people than the vehicle has seats",
        )));
    }
    let board = visible_board(ctx).await?;
    if b.orders.iter().any(|o| !board.waiting.iter().any(|w| w.id == *o)) {
        return Err(ctx.refuse_scope("order").await);
    }
    let site = ctx.store.quarantine_site(b.site_id).await?;
    if let Some(s) = &site {
        ctx.authorize(Some(&s.site.site.area)).await?;
    }
    let driver = ctx.store.user(b.driver_user_id).await?.filter(|u| u.role == Role::TransferDispatcher);
    let Some(driver) = driver else {
        return Ok(Err(FieldError::new(
            "driver_account",
            "driver",
            "请选择转运专班的驾驶员",
            "choose a driver of the transfer team",
        )));
    };
    let vehicle = match Vehicle::new(&b.plate, &driver.display_name, Some(driver.id), &b.team, b.seats) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let a = act(ctx, "transfer.dispatch", "site", &b.site_id.to_string(), format!("{} people", b.orders.len())).await?;
    let req = DispatchRequest { order_ids: b.orders, vehicle, site_id: b.site_id };
    Ok(ctx.store.dispatch(req, a).await?.map_err(|r| refusal(r, &board.waiting)))
}

async fn dispatch_form(ctx: Ctx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let b = DispatchBody {
        orders: all_of(&f, "order").iter().filter_map(|v| v.trim().parse().ok()).collect(),
        site_id: one_of(&f, "site_id").trim().parse().unwrap_or(0),
        plate: one_of(&f, "plate").chars().take(20).collect(),
        driver_user_id: one_of(&f, "driver_user_id").trim().parse().unwrap_or(0),
        team: one_of(&f, "team").chars().take(81).collect(),
        seats: one_of(&f, "seats").trim().parse().unwrap_or(0),
    };
    match send(&ctx, b).await? {
        Ok(run) => Ok(Redirect::to(&format!("/quarantine/dispatch?sent={}", run.id)).into_response()),
        Err(e) => board_view(&ctx, Some(e), None).await,
    }
}

#[utoipa::path(get, path = "/api/v1/quarantine/dispatch", operation_id = "dispatch_board",
    responses((status = 200, description = "people waiting for a vehicle, runs under way, the overdue alert"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn board_api(ctx: Ctx) -> Result<Response, AppError> {
    let b = visible_board(&ctx).await?;
    ctx.audit("dispatch_board.read", "route", "/api/v1/quarantine/dispatch", format!("{} waiting", b.waiting.len()))
        .await?;
    Ok(Json(json!({
        "waiting": b.waiting.iter().map(|o| order_json(&ctx, o)).collect::<Vec<_>>(),
        "runs": b.runs.iter().map(|r| run_json(&ctx, r, None)).collect::<Vec<_>>(),
        "overdue": b.overdue.iter().map(|o| order_json(&ctx, o)).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/quarantine/runs", operation_id = "dispatch_run", request_body = DispatchBody,
    responses((status = 201, description = "the run dispatched"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn dispatch_api(ctx: Ctx, Json(b): Json<DispatchBody>) -> Result<Response, AppError> {
    let plate_ok = b.plate.chars().count() <= 20 && b.team.chars().count() <= 81;
    if !plate_ok {
        return Err(FieldError::new(
            "team",
            "team",
            "请填写转运专班（最多80字）",
            "name the transfer team (80 characters at most)",
        )
        .into());
    }
    let run = send(&ctx, b).await??;
    Ok((StatusCode::CREATED, Json(json!({"id": run.id, "state": run.state.as_str(), "site_id": run.site_id})))
        .into_response())
}
