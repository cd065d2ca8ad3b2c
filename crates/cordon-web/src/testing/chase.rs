//! The positive-pool chase for tracers and commanders: alerts, the chase timeline, the
//! members awaiting individual results (page and API).

use super::load_round;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::Json;
use axum::extract::{Path, Query};
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

async fn alerts_page(ctx: Ctx) -> Result<Response, AppError> {
    let alerts = ctx.store.alerts(0, 50).await?;
    let lang = ctx.meta.lang;
    let mut rounds: Vec<i64> = alerts.iter().map(|a| a.round_id).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut chases = Vec::new();
    let mut marks = Vec::new();
    for r in rounds.iter().rev().take(3) {
        for c in ctx.store.chases(*r).await? {
            chases.push(json!({
                "tube": c.tube, "round": c.round_id, "members": c.members, "households": c.households_controlled,
                "tasks": c.tasks_created, "result_at": c.result_at.to_rfc3339(),
                "chase_ms": (c.chased_at - c.result_at).num_milliseconds(),
                "resampled": c.resampled,
                "resample_min": c.resampled_at.map(|t| (t - c.result_at).num_minutes()),
            }));
        }
        for m in ctx.store.pool_positives(*r, &ctx.principal.roots).await? {
            let status = match m.status.as_str() {
                "pending" => lang.pick("待单采复核", "awaiting individual result"),
                "cleared" => lang.pick("已排除", "cleared"),
                _ => lang.pick("确诊病例", "confirmed case"),
            };
            marks.push(json!({"name": m.masked_name, "tube": m.tube, "status": m.status, "label": status, "unit": m.unit.as_str(), "round": r}));
        }
    }
    ctx.audit("chase.read", "district", "alerts", format!("{} alerts", alerts.len())).await?;
    let list: Vec<_> = alerts
        .iter()
        .map(|a| json!({"id": a.id, "tube": a.tube, "members": a.members, "round": a.round_id, "at": a.created_at.to_rfc3339()}))
        .collect();
    let last = alerts.first().map(|a| a.id).unwrap_or(0);
    let html = render(
        &ctx,
        "testing/alerts.html",
        "/testing/alerts",
        json!({"alerts": list, "chases": chases, "marks": marks, "last": last}),
    )?;
    Ok(html.into_response())
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
