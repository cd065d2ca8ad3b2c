//! The area tree: the caller's roots, an area with its children's counts and grids
//! (page and API). No personal data.

use super::{area_href, crumbs, parse_code};
use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::features::{AreaPage, area_panels};
use crate::routes::Route;
use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use cordon_domain::area::AreaLevel;
use cordon_domain::authz::{Action, authorize};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/areas", Action::ViewAreaTree, areas_root),
        Route::get("/areas/{code}", Action::ViewAreaTree, area_page),
        Route::get("/api/v1/areas/{code}", Action::ViewAreaTree, area),
    ]
}

async fn areas_root(ctx: Ctx) -> Result<Response, AppError> {
    let roots = ctx.principal.roots.clone();
    if let [only] = roots.as_slice() {
        return Ok(Redirect::to(&area_href(only, ctx.principal.role)).into_response());
    }
    let mut rows = Vec::new();
    for code in &roots {
        if let Some(s) = ctx.store.area_summary(code).await? {
            rows.push(json!({"code": code, "name": s.area.name, "residents": s.residents, "households": s.households, "href": area_href(code, ctx.principal.role)}));
        }
    }
    Ok(crate::shell::render(&ctx, "roots.html", "/areas", json!({"roots": rows}))?.into_response())
}

async fn area_page(ctx: Ctx, Path(code): Path<String>) -> Result<Response, AppError> {
    let code = parse_code(&code)?;
    ctx.authorize(Some(&code)).await?;
    let summary = ctx.store.area_summary(&code).await?.ok_or(AppError::NotFound("area"))?;
    let lang = ctx.meta.lang;
    let children: Vec<_> = ctx
        .store
        .children(&code)
        .await?
        .into_iter()
        .map(|c| {
            let href = area_href(&c.area.code, ctx.principal.role);
            json!({"code": c.area.code, "name": c.area.name, "residents": c.residents, "households": c.households, "href": href})
        })
        .collect();
    let grids: Vec<_> = if code.level() == AreaLevel::Community {
        ctx.store
            .grids_under(&code)
            .await?
            .into_iter()
            .map(|g| json!({"name": g.name, "worker_name": g.worker_name, "buildings": g.buildings.len()}))
            .collect()
    } else {
        vec![]
    };
    let level = code.level();
    let extra = json!({
        "area": {"code": code, "name": summary.area.name, "level_label": lang.pick(level.zh(), level.as_str())},
        "summary": {"residents": summary.residents, "households": summary.households},
        "children": children,
        "grids": grids,
        "crumbs": crumbs(&ctx, &code).await?,
        "can_export": authorize(&ctx.principal, Action::ExportResidents, Some(&code)).is_ok(),
        "panels": area_panels(&ctx, &code, AreaPage::Area).await?,
    });
    Ok(crate::shell::render(&ctx, "area.html", "/areas", extra)?.into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct AreaDto {
    pub code: String,
    pub name: String,
    pub level: String,
    pub residents: u64,
    pub households: u64,
    pub children: Vec<AreaChildDto>,
}

/// A child of an area, with its counts.
#[derive(Serialize, ToSchema)]
pub(super) struct AreaChildDto {
    pub code: String,
    pub name: String,
    pub level: String,
    pub residents: u64,
    pub households: u64,
}

#[utoipa::path(get, path = "/api/v1/areas/{code}", params(("code" = String, Path, description = "area code")),
    responses((status = 200, body = AreaDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn area(ctx: Ctx, Path(c): Path<String>) -> Result<Json<AreaDto>, AppError> {
    let c = parse_code(&c)?;
    ctx.authorize(Some(&c)).await?;
    let s = ctx.store.area_summary(&c).await?.ok_or(AppError::NotFound("area"))?;
    let children = ctx
        .store
        .children(&c)
        .await?
        .into_iter()
        .map(|k| AreaChildDto {
            level: k.area.level().as_str().into(),
            code: k.area.code.to_string(),
            name: k.area.name,
            residents: k.residents,
            households: k.households,
        })
        .collect();
    Ok(Json(AreaDto {
        level: c.level().as_str().into(),
        code: c.to_string(),
        name: s.area.name,
        residents: s.residents,
        households: s.households,
        children,
    }))
}
