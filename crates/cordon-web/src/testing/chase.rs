//! The positive-pool chase for tracers and commanders: alerts, the chase timeline, the
//! members awaiting individual results (page and API).

use super::resample::timeline_json;
use super::{load_round, local_time, pattern, place_names};
use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cordon_domain::authz::Action;
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/alerts", Action::ViewChase, alerts_page),
        Route::get("/api/v1/alerts", Action::ViewChase, alerts),
        Route::get("/api/v1/rounds/{id}/pool-positives", Action::ViewChase, pool_positives),
    ]
}

async fn alerts_page(ctx: Ctx, State(state): State<AppState>) -> Result<Response, AppError> {
    let alerts = ctx.store.alerts(0, 50).await?;
    let lang = ctx.meta.lang;
    let mut rounds: Vec<i64> = alerts.iter().map(|a| a.round_id).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let p = pattern(&state.settings.tube_pattern);
    let mut timelines = Vec::new();
    let mut marks = Vec::new();
    for r in rounds.iter().rev().take(3) {
        for c in ctx.store.chases(*r).await? {
            let Ok(tube) = p.parse(&c.tube) else { continue };
            if let Some(t) = ctx.store.chase_timeline(&tube).await? {
                let places = place_names(&ctx, t.members.iter().map(|m| &m.unit)).await?;
                timelines.push(timeline_json(&ctx, &t, &places));
            }
        }
        let list = ctx.store.pool_positives(*r, &ctx.principal.roots).await?;
        let places = place_names(&ctx, list.iter().map(|m| &m.unit)).await?;
        for m in list {
            let status = match m.status.as_str() {
                "pending" => lang.pick("待单采复核", "awaiting individual result"),
                "cleared" => lang.pick("已排除", "cleared"),
                _ => lang.pick("确诊病例", "confirmed case"),
            };
            let place = places.get(m.unit.as_str()).map(|p| format!("{} {}", p.building, p.unit)).unwrap_or_default();
            marks.push(json!({"name": m.masked_name, "tube": m.tube, "status": m.status, "label": status,
                              "place": place, "round": r}));
        }
    }
    ctx.audit("chase.read", "district", "alerts", format!("{} alerts", alerts.len())).await?;
    let list: Vec<_> = alerts
        .iter()
        .map(|a| {
            let open = timelines
                .iter()
                .find(|t| t["tube"] == a.tube.as_str())
                .map(|t| t["members_count"].as_u64().unwrap_or(0) - t["resolved"].as_u64().unwrap_or(0));
            let next = match open {
                Some(0) => lang.pick("全部成员已出单检结果：复核确诊病例的流调", "every member has an individual result: follow up the cases' tracing"),
                _ => lang.pick(
                    "成员已居家管控：督促采样点和网格员完成单管复采，结果出来前不得外出",
                    "members are under home control: have the site and grid workers re-sample each one; nobody goes out before the result",
                ),
            };
            json!({"id": a.id, "tube": a.tube, "members": a.members, "round": a.round_id,
                   "at": local_time(&ctx, a.created_at), "next": next})
        })
        .collect();
    let last = alerts.first().map(|a| a.id).unwrap_or(0);
    let html = render(
        &ctx,
        "testing/alerts.html",
        "/testing/alerts",
        json!({"alerts": list, "timelines": timelines, "marks": marks, "last": last}),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Deserialize)]
pub(super) struct AfterQuery {
    #[serde(default)]
    after: i64,
}

#[utoipa::path(get, path = "/api/v1/alerts", params(("after" = Option<i64>, Query, description = "only alerts with a larger id")),
    responses((status = 200, description = "chase alerts, newest last"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn alerts(ctx: Ctx, Query(q): Query<AfterQuery>) -> Result<Response, AppError> {
    let list = ctx.store.alerts(q.after, 50).await?;
    Ok(Json(json!({"alerts": list})).into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/pool-positives", params(("id" = i64, Path)),
    responses((status = 200, description = "members awaiting individual results"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn pool_positives(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    load_round(&ctx, id).await?;
    let list = ctx.store.pool_positives(id, &ctx.principal.roots).await?;
    ctx.audit("chase.read", "round", &id.to_string(), format!("{} pool-positive members", list.len())).await?;
    Ok(Json(json!({"members": list})).into_response())
}
