//! The driver's page, laid out for a phone: my runs; at each door every person confirmed
//! by scanning their health-code QR token or typing their ID number (refused clearly when
//! they are not on this run); then "arrived" (the site, each person's room). Each step is
//! time-stamped with who did it by the store; every write carries an idempotency key, so a
//! retried tap or a flaky network records a step once. A driver sees and confirms only the
//! runs they were dispatched to drive.

use super::{act, csrf_of, local, message, one_of, order_json, refusal};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::text;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::IdNumber;
use cordon_domain::authz::Action;
use cordon_domain::containment::transfer::RunState;
use cordon_domain::error::FieldError;
use cordon_domain::token::SubjectKind;
use cordon_store::containment::{PickupWho, RunQuery, RunView};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/quarantine/driver", Action::DriveTransfer, runs_page),
        Route::get("/quarantine/runs/{id}", Action::DriveTransfer, run_page),
        Route::post("/quarantine/runs/{id}/pickups", Action::DriveTransfer, pickup_form),
        Route::post("/quarantine/runs/{id}/arrival", Action::DriveTransfer, arrival_form),
        Route::get("/api/v1/quarantine/driver/runs", Action::DriveTransfer, runs_api),
        Route::post("/api/v1/quarantine/runs/{id}/pickups", Action::DriveTransfer, pickup_api),
        Route::post("/api/v1/quarantine/runs/{id}/arrival", Action::DriveTransfer, arrival_api),
    ]
}

/// The run, if the caller drives it.
async fn my_run(ctx: &Ctx, id: i64) -> Result<RunView, AppError> {
    let run = ctx.store.runs(RunQuery::Ids(vec![id])).await?.pop().ok_or(AppError::NotFound("run"))?;
    if run.run.vehicle.driver_user_id != Some(ctx.user.id) {
        return Err(ctx.refuse_scope("run").await);
    }
    Ok(run)
}

/// The site's name and address and a label for each of its rooms.
async fn site_rooms(ctx: &Ctx, site_id: i64) -> Result<(Value, BTreeMap<i64, String>), AppError> {
    let Some(s) = ctx.store.quarantine_site(site_id).await? else { return Ok((Value::Null, BTreeMap::new())) };
    let rooms = s.rooms.iter().map(|r| (r.room.id, format!("{}F·{}", r.room.floor, r.room.number))).collect();
    Ok((super::site_json(ctx.meta.lang, &s.site), rooms))
}

/// Where the driver finds the person: compound, building, unit and room (the names of
/// the register), or the address given for someone not on it.
async fn door(ctx: &Ctx, o: &cordon_domain::containment::quarantine::Order) -> Result<String, AppError> {
    let Some(unit) = &o.person.unit else { return Ok(o.person.address.clone()) };
    let mut names = Vec::new();
    let mut code = Some(unit.clone());
    for _ in 0..3 {
        let Some(c) = code else { break };
        if let Some(a) = ctx.store.area(&c).await? {
            names.push(a.name);
        }
        code = c.parent();
    }
    names.reverse();
    Ok(format!("{} {}", names.join(" "), o.person.address).trim().to_string())
}

async fn run_value(ctx: &Ctx, r: &RunView) -> Result<Value, AppError> {
    let (site, rooms) = site_rooms(ctx, r.run.site_id).await?;
    let mut j = super::dispatch::run_json(ctx, r, Some(&site));
    let mut doors = Vec::with_capacity(r.members.len());
    for o in &r.members {
        doors.push(door(ctx, o).await?);
    }
    if let Some(members) = j["members"].as_array_mut() {
        for ((m, o), door) in members.iter_mut().zip(&r.members).zip(doors) {
            m["room"] = json!(o.room_id.and_then(|id| rooms.get(&id)));
            m["picked"] = json!(o.picked_up_at.is_some());
            m["door"] = json!(door);
        }
    }
    j["completed"] = json!(r.run.state == RunState::Completed);
    Ok(j)
}

async fn runs_page(ctx: Ctx) -> Result<Response, AppError> {
    let mut runs = Vec::new();
    for r in ctx.store.driver_runs(ctx.user.id).await? {
        runs.push(run_value(&ctx, &r).await?);
    }
    ctx.audit("driver_runs.read", "route", "/quarantine/driver", format!("{} runs", runs.len())).await?;
    Ok(render(&ctx, "quarantine/driver.html", "/quarantine", json!({"runs": runs}))?.into_response())
}

/// What the last step did, shown on top of the run page.
enum Step {
    None,
    Picked { name: String, remaining: u32 },
    Refused(FieldError),
}

async fn run_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    run_view(&ctx, id, Step::None).await
}

async fn run_view(ctx: &Ctx, id: i64, step: Step) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let r = my_run(ctx, id).await?;
    let run = run_value(ctx, &r).await?;
    ctx.audit("run.read", "run", &id.to_string(), format!("{} people", r.members.len())).await?;
    let (status, flash, error) = match step {
        Step::None => (StatusCode::OK, None, None),
        Step::Picked { name, remaining } => (
            StatusCode::OK,
            Some(format!("{}：{name}（{} {remaining}）", text(lang, "q.confirmed"), text(lang, "q.remaining"))),
            None,
        ),
        Step::Refused(e) => (StatusCode::UNPROCESSABLE_ENTITY, None, Some(message(lang, &e))),
    };
    let html = render(
        ctx,
        "quarantine/run.html",
        "/quarantine",
        json!({"run": run, "key": crate::auth::new_token(), "arrive_key": crate::auth::new_token(), "picked_flash": flash, "error": error,
               "all_picked": r.members.iter().all(|o| o.picked_up_at.is_some()),
               "now": local(ctx, ctx.now)}),
    )?;
    Ok((status, [(axum::http::header::CACHE_CONTROL, "no-store")], html).into_response())
}

fn key_of(key: &str) -> Result<String, FieldError> {
    let k = key.trim();
    if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(FieldError::new(
            "idempotency_key",
            "key",
            "请求标识无效，请刷新页面",
            "invalid request key: reload the page",
        ));
    }
    Ok(k.to_string())
}

/// Who was found at the door: a typed ID number, or a scanned health-code token verified
/// against the district's keys.
async fn who_of(ctx: &Ctx, input: &str) -> Result<Result<PickupWho, FieldError>, AppError> {
    let input = input.trim();
    if input.is_empty() || input.len() > 2000 {
        return Ok(Err(FieldError::new(
            "pickup_empty",
            "person",
            "请扫描健康码或输入身份证号",
            "scan the health code or type the ID number",
        )));
    }
    if let Ok(id) = IdNumber::parse(input) {
        return Ok(Ok(PickupWho::IdNumber(id)));
    }
    let looks_like_id = input.len() <= 20 && input.chars().all(|c| c.is_ascii_digit() || c == 'x' || c == 'X');
    if looks_like_id {
        return Ok(Err(IdNumber::parse(input)
            .err()
            .map(|e| e.on_field("id_number"))
            .unwrap_or_else(|| FieldError::new("id_number", "id_number", "身份证号错误", "invalid ID number"))));
    }
    match crate::codes::verify_token(ctx.store.as_ref(), input, ctx.now).await? {
        Ok(c) if c.kind == SubjectKind::Person => Ok(Ok(PickupWho::Resident(c.subject))),
        Ok(_) => Ok(Err(FieldError::new(
            "token_not_person",
            "token",
            "这是通行证，不是个人健康码",
            "this is a pass, not a person's health code",
        ))),
        Err(e) => Ok(Err(FieldError::new(
            e.code(),
            "token",
            "无法核验该健康码，请改为输入身份证号",
            "this health code cannot be verified: type the ID number instead",
        ))),
    }
}

async fn pickup(ctx: &Ctx, r: &RunView, input: &str, key: &str) -> Result<Result<(String, u32), FieldError>, AppError> {
    let key = match key_of(key) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let who = match who_of(ctx, input).await? {
        Ok(w) => w,
        Err(e) => return Ok(Err(e)),
    };
    let a = act(ctx, "transfer.pickup", "run", &r.run.id.to_string(), String::new()).await?;
    Ok(ctx
        .store
        .confirm_pickup(r.run.id, who, key, a)
        .await?
        .map(|p| (p.masked_name, p.remaining))
        .map_err(|e| refusal(e, &r.members)))
}

async fn pickup_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let r = my_run(&ctx, id).await?;
    let step = match pickup(&ctx, &r, one_of(&f, "who"), one_of(&f, "key")).await? {
        Ok((name, remaining)) => Step::Picked { name, remaining },
        Err(e) => Step::Refused(e),
    };
    run_view(&ctx, id, step).await
}

async fn arrive(ctx: &Ctx, r: &RunView, key: &str) -> Result<Result<usize, FieldError>, AppError> {
    let key = match key_of(key) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let a = act(ctx, "transfer.arrive", "run", &r.run.id.to_string(), String::new()).await?;
    Ok(ctx
        .store
        .confirm_arrival(r.run.id, key, a)
        .await?
        .map(|o| o.placements.len())
        .map_err(|e| refusal(e, &r.members)))
}

async fn arrival_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let r = my_run(&ctx, id).await?;
    match arrive(&ctx, &r, one_of(&f, "key")).await? {
        Ok(_) => Ok(Redirect::to(&format!("/quarantine/runs/{id}?arrived=1")).into_response()),
        Err(e) => run_view(&ctx, id, Step::Refused(e)).await,
    }
}

#[utoipa::path(get, path = "/api/v1/quarantine/driver/runs", operation_id = "driver_runs",
    responses((status = 200, description = "the caller's runs not completed"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn runs_api(ctx: Ctx) -> Result<Response, AppError> {
    let mut runs = Vec::new();
    for r in ctx.store.driver_runs(ctx.user.id).await? {
        runs.push(run_value(&ctx, &r).await?);
    }
    ctx.audit("driver_runs.read", "route", "/api/v1/quarantine/driver/runs", format!("{} runs", runs.len())).await?;
    Ok(Json(json!({"runs": runs})).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct PickupBody {
    /// The device's idempotency key of this step (1–64 letters, digits, `-`, `_`).
    key: String,
    /// A scanned health-code token or a typed ID number.
    who: String,
}

#[utoipa::path(post, path = "/api/v1/quarantine/runs/{id}/pickups", operation_id = "transfer_pickup", params(("id" = i64, Path)),
    request_body = PickupBody, responses((status = 200, description = "picked up (or the same step replayed)"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn pickup_api(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<PickupBody>) -> Result<Response, AppError> {
    let r = my_run(&ctx, id).await?;
    let (name, remaining) = pickup(&ctx, &r, &b.who, &b.key).await??;
    Ok(Json(json!({"name": name, "remaining": remaining})).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ArrivalBody {
    /// The device's idempotency key of this step.
    key: String,
}

#[utoipa::path(post, path = "/api/v1/quarantine/runs/{id}/arrival", operation_id = "transfer_arrival", params(("id" = i64, Path)),
    request_body = ArrivalBody, responses((status = 200, description = "arrived: everyone picked up is in their room"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn arrival_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(b): Json<ArrivalBody>,
) -> Result<Response, AppError> {
    let r = my_run(&ctx, id).await?;
    arrive(&ctx, &r, &b.key).await??;
    let r = ctx.store.runs(RunQuery::Ids(vec![id])).await?.pop().ok_or(AppError::NotFound("run"))?;
    let members: Vec<_> = r.members.iter().map(|o| order_json(&ctx, o)).collect();
    Ok(Json(json!({"id": id, "state": r.run.state.as_str(), "members": members})).into_response())
}
