//! One quarantine order, for everyone who follows it (the commander, the street and
//! community, tracing, transfer, the site): the person (masked), the regime and its dates,
//! the closed loop step by step — identified, ordered, dispatched, picked up, arrived,
//! released, closed — each with when and who, the scheduled tests with their results, the
//! health checks, and whether a release is possible today and why not. Page and API; read
//! only, audited, never cached.

use super::{local, message, order_json, site_json, test_json};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::text;
use crate::routes::Route;
use crate::shell::render;
use axum::Json;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cordon_domain::area::AreaLevel;
use cordon_domain::authz::Action;
use cordon_store::containment::OrderDetail;
use serde_json::{Value, json};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/quarantine/orders/{id}", Action::ViewContainment, order_page),
        Route::get("/api/v1/quarantine/orders/{id}", Action::ViewContainment, order_api),
    ]
}

/// The order's detail, if the person lives in the caller's subtree (someone not on the
/// register: district-wide callers only).
async fn detail_for(ctx: &Ctx, id: i64) -> Result<OrderDetail, AppError> {
    let view = super::view(ctx).await?;
    let d = ctx.store.order_detail(id, &view).await?.ok_or(AppError::NotFound("order"))?;
    match &d.order.person.unit {
        Some(unit) => ctx.authorize(Some(unit)).await?,
        None if ctx.principal.roots.iter().any(|r| r.level() == AreaLevel::District) => ctx.authorize(None).await?,
        None => return Err(ctx.refuse_scope("order").await),
    }
    ctx.audit("order.read", "quarantine_order", &id.to_string(), "").await?;
    Ok(d)
}

fn detail_json(ctx: &Ctx, d: &OrderDetail) -> Value {
    let lang = ctx.meta.lang;
    let o = &d.order;
    let step = |key: &str, at: Option<chrono::DateTime<chrono::Utc>>, by: Option<&str>| json!({"label": text(lang, key), "at": at.map(|t| local(ctx, t)), "by": by, "done": at.is_some()});
    let mut steps = vec![
        step("q.identified", Some(o.identified_at), None),
        step("q.ordered_at", Some(o.ordered_at), Some(&o.ordered_by)),
    ];
    if o.centralised() {
        steps.push(step("q.picked_up", o.picked_up_at, o.picked_up_by.as_deref()));
        steps.push(step("q.arrived", o.arrived_at, o.arrived_by.as_deref()));
    }
    steps.push(step("q.released", o.released_at, o.released_by.as_deref()));
    steps.push(step("q.closed", o.closed_at, o.closed_by.as_deref()));
    let room = d.room.as_ref().map(|r| format!("{}F·{}", r.floor, r.number));
    json!({
        "order": order_json(ctx, o), "steps": steps, "site": d.site.as_ref().map(|s| site_json(lang, s)), "room": room,
        "tests": d.tests.iter().map(|t| test_json(lang, t)).collect::<Vec<_>>(),
        "checks": d.checks.iter().rev().map(|c| json!({
            "at": local(ctx, c.check.at), "by": c.check.by,
            "temperature": format!("{:.1}", f64::from(c.check.temperature.tenths()) / 10.0),
            "symptoms": c.check.symptoms.iter().map(|s| lang.pick(s.zh(), s.en())).collect::<Vec<_>>(),
            "note": c.check.note, "alarm": c.check.alarm,
        })).collect::<Vec<_>>(),
        "release_ready": d.release.is_ok(),
        "release_why": d.release.as_ref().err().map(|e| message(lang, e)),
    })
}

async fn order_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let d = detail_for(&ctx, id).await?;
    let html = render(&ctx, "quarantine/order.html", "/quarantine", detail_json(&ctx, &d))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[utoipa::path(get, path = "/api/v1/quarantine/orders/{id}", operation_id = "quarantine_order", params(("id" = i64, Path)),
    responses((status = 200, description = "the order: regime, each step with when and who, tests, health checks, release"),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn order_api(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let d = detail_for(&ctx, id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(detail_json(&ctx, &d))).into_response())
}
