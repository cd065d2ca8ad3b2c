//! Re-sampling after a positive pool (单采单检): the task list the sampling site and the
//! grid worker of each member's household work from (grouped by building and household,
//! with phone and unit, door-to-door where the household is under home control), its API,
//! and a pool's chase timeline (result → members controlled → each member re-sampled →
//! each result, with time-to-resample per member and per pool) in the API.
//!
//! Must show only people living under the caller's roots, audit every read of the list
//! (it names people and phones), and never change anything: re-samples are recorded by the
//! sampler's scan page, results by the lab.

use super::{Place, duration_words, load_round, local_time, pattern, place_names};
use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::routes::{Need, Route};
use crate::shell::render;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cordon_domain::authz::Action;
use cordon_store::testing::{ChaseTimeline, ResampleTask};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Who works from the re-sampling list: the site's samplers, the grid workers and community
/// staff of the households (who call them and escort the door-to-door swab), and tracers.
pub(super) const RESAMPLE: &[Action] = &[Action::SampleResidents, Action::FollowHome, Action::ViewChase];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/rounds/{id}/resample", Need::AnyOf(RESAMPLE), resample_page),
        Route::get("/api/v1/rounds/{id}/resample-tasks", Need::AnyOf(RESAMPLE), resample_api),
        Route::get("/api/v1/chases/{tube}", Action::ViewChase, chase_api),
    ]
}

#[derive(Deserialize)]
pub(super) struct AllQuery {
    /// Include tasks whose individual result is in.
    #[serde(default)]
    all: bool,
}

/// Whether the caller keeps the roster (and may see full names); the others see masked ones.
fn sees_names(ctx: &Ctx) -> bool {
    Action::ViewResident.allowed(ctx.principal.role)
}

fn shown_name(ctx: &Ctx, name: &str) -> String {
    if sees_names(ctx) {
        name.to_string()
    } else {
        cordon_domain::PersonName::parse(name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
    }
}

/// A task's state in words: waiting to be swabbed, swabbed and awaiting the result, done.
fn state_of(t: &ResampleTask) -> &'static str {
    match (t.sampled_at, t.done_at) {
        (_, Some(_)) => "done",
        (Some(_), None) => "sampled",
        (None, None) => "waiting",
    }
}

fn task_json(ctx: &Ctx, t: &ResampleTask, places: &HashMap<String, Place>) -> Value {
    let lang = ctx.meta.lang;
    let place = places.get(t.unit.as_str()).cloned().unwrap_or_default();
    let state = state_of(t);
    let state_label = match state {
        "done" => lang.pick("结果已出", "result in"),
        "sampled" => lang.pick("已复采，待结果", "re-sampled, awaiting result"),
        _ => lang.pick("待复采", "to re-sample"),
    };
    let reason = match t.reason.as_str() {
        "invalid" => lang.pick("试管无效，需重采", "tube invalid: sample again"),
        _ => lang.pick("混管阳性，单采单检", "positive pool: single-tube re-test"),
    };
    json!({"id": t.id, "resident_id": t.resident_id, "name": shown_name(ctx, &t.name), "phone": t.phone,
           "household_id": t.household_id, "unit": t.unit.as_str(), "unit_name": place.unit, "building": place.building,
           "room": t.room, "tube": t.tube, "reason": t.reason, "reason_label": reason,
           "state": state, "state_label": state_label, "door_to_door": t.door_to_door,
           "created_at": local_time(ctx, t.created_at),
           "sampled_at": t.sampled_at.map(|s| local_time(ctx, s)),
           "done_at": t.done_at.map(|s| local_time(ctx, s))})
}

async fn load_tasks(ctx: &Ctx, round: i64, all: bool) -> Result<(Vec<ResampleTask>, HashMap<String, Place>), AppError> {
    let tasks = ctx.store.resample_tasks(round, &ctx.principal.roots, all).await?;
    let places = place_names(ctx, tasks.iter().map(|t| &t.unit)).await?;
    ctx.audit("resample.read", "round", &round.to_string(), format!("{} re-sampling tasks", tasks.len())).await?;
    Ok((tasks, places))
}

/// A building's households: (unit, room, household id) → the members' tasks.
type Households = BTreeMap<(String, String, i64), Vec<Value>>;

/// The re-sampling task list, laid out for a phone: building by building, household by
/// household, each member with phone, state and what to do; the door-to-door households
/// (under home control) marked. A sampler goes from here to the scan page in single-tube mode.
async fn resample_page(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<AllQuery>,
) -> Result<Response, AppError> {
    let round = load_round(&ctx, id).await?;
    let (tasks, places) = load_tasks(&ctx, id, q.all).await?;
    let mut buildings: BTreeMap<String, (String, Households)> = BTreeMap::new();
    for t in &tasks {
        let place = places.get(t.unit.as_str()).cloned().unwrap_or_default();
        let b =
            buildings.entry(place.building_code.clone()).or_insert_with(|| (place.building.clone(), BTreeMap::new()));
        b.1.entry((t.unit.as_str().to_string(), t.room.clone(), t.household_id))
            .or_default()
            .push(task_json(&ctx, t, &places));
    }
    let groups: Vec<Value> = buildings
        .into_values()
        .map(|(name, hs)| {
            let households: Vec<Value> = hs
                .into_iter()
                .map(|((_, room, hid), members)| {
                    let door = members.iter().any(|m| m["door_to_door"] == true);
                    let unit_name = members.first().map(|m| m["unit_name"].clone()).unwrap_or(Value::Null);
                    json!({"household_id": hid, "room": room, "unit_name": unit_name, "door_to_door": door, "members": members})
                })
                .collect();
            json!({"name": name, "households": households})
        })
        .collect();
    let waiting = tasks.iter().filter(|t| t.sampled_at.is_none()).count();
    let can_sample = Action::SampleResidents.allowed(ctx.principal.role);
    let html = render(
        &ctx,
        "testing/resample.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "groups": groups, "total": tasks.len(),
               "waiting": waiting, "all": q.all, "can_sample": can_sample,
               "pattern": pattern(&state.settings.tube_pattern).as_str()}),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/resample-tasks",
    params(("id" = i64, Path, description = "test round"), ("all" = Option<bool>, Query, description = "include tasks whose result is in")),
    responses((status = 200, description = "re-sampling tasks of people living in the caller's area, by unit, room and resident"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn resample_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<AllQuery>,
) -> Result<Response, AppError> {
    load_round(&ctx, id).await?;
    let (tasks, places) = load_tasks(&ctx, id, q.all).await?;
    let list: Vec<Value> = tasks
        .iter()
        .map(|t| {
            let mut v = task_json(&ctx, t, &places);
            // Machine-readable times alongside the local ones.
            v["created_utc"] = json!(t.created_at.to_rfc3339());
            v["sampled_utc"] = json!(t.sampled_at.map(|s| s.to_rfc3339()));
            v["done_utc"] = json!(t.done_at.map(|s| s.to_rfc3339()));
            v
        })
        .collect();
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(json!({"tasks": list}))).into_response())
}

/// A pool's timeline as the alerts page and the API show it: each step with its local time,
/// and the time from the pool's result to each member's re-sample and to the last one.
pub(super) fn timeline_json(ctx: &Ctx, t: &ChaseTimeline, places: &HashMap<String, Place>) -> Value {
    let lang: Lang = ctx.meta.lang;
    let per: HashMap<i64, Option<i64>> = t.time_to_resample().into_iter().collect();
    let members: Vec<Value> = t
        .members
        .iter()
        .map(|m| {
            let place = places.get(m.unit.as_str()).cloned().unwrap_or_default();
            let secs = per.get(&m.resident_id).copied().flatten();
            let label = match m.status.as_str() {
                "cleared" => lang.pick("单检阴性，已排除", "negative individually: cleared"),
                "confirmed" => lang.pick("单检阳性，确诊病例", "positive individually: a case"),
                _ if m.resampled_at.is_some() => lang.pick("已复采，待结果", "re-sampled, awaiting result"),
                _ => lang.pick("待复采", "to re-sample"),
            };
            json!({"resident_id": m.resident_id, "name": m.masked_name, "unit": m.unit.as_str(),
                   "place": format!("{} {}", place.building, place.unit),
                   "marked_at": local_time(ctx, m.marked_at), "marked_utc": m.marked_at.to_rfc3339(),
                   "resampled_at": m.resampled_at.map(|s| local_time(ctx, s)),
                   "resampled_utc": m.resampled_at.map(|s| s.to_rfc3339()),
                   "status": m.status, "label": label,
                   "resolved_at": m.resolved_at.map(|s| local_time(ctx, s)),
                   "resolved_utc": m.resolved_at.map(|s| s.to_rfc3339()),
                   "time_to_resample_s": secs, "time_to_resample": secs.map(|s| duration_words(lang, s))})
        })
        .collect();
    let pool = t.pool_time_to_resample();
    let c = &t.chase;
    json!({"tube": c.tube, "round": c.round_id, "members_count": c.members, "households": c.households_controlled,
           "tasks": c.tasks_created, "result_at": local_time(ctx, c.result_at), "result_utc": c.result_at.to_rfc3339(),
           "chased_at": local_time(ctx, c.chased_at), "chase_ms": (c.chased_at - c.result_at).num_milliseconds(),
           "resampled": t.members.iter().filter(|m| m.resampled_at.is_some()).count(),
           "resolved": t.members.iter().filter(|m| m.status != "pending").count(),
           "cases": t.members.iter().filter(|m| m.status == "confirmed").count(),
           "pool_time_to_resample_s": pool, "pool_time_to_resample": pool.map(|s| duration_words(lang, s)),
           "members": members})
}

#[utoipa::path(get, path = "/api/v1/chases/{tube}", params(("tube" = String, Path, description = "the positive pool's tube barcode")),
    responses((status = 200, description = "the pool's chase: result, members controlled, each re-sample and result, time to re-sample"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn chase_api(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(tube): Path<String>,
) -> Result<Response, AppError> {
    let barcode = pattern(&state.settings.tube_pattern).parse(&tube)?;
    let t = ctx.store.chase_timeline(&barcode).await?.ok_or(AppError::NotFound("chase"))?;
    let places = place_names(&ctx, t.members.iter().map(|m| &m.unit)).await?;
    ctx.audit("chase.read", "tube", barcode.as_str(), format!("{} members", t.members.len())).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(timeline_json(&ctx, &t, &places))).into_response())
}
