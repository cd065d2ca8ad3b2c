//! Coverage and missed lists: live coverage by area (no personal data), a building's
//! missed list with phones for the 楼长 (audited), "report to community", and their .xlsx
//! exports; and the API the live pages poll.

use super::{coverage_json, load_round, missed_json, xlsx_download};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::testing::TestRound;
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/rounds/{id}/areas/{code}", Action::ViewCoverage, coverage_page),
        Route::get("/testing/rounds/{id}/areas/{code}/coverage.xlsx", Action::ViewCoverage, coverage_xlsx),
        Route::get("/testing/rounds/{id}/buildings/{code}/missed", Action::ViewMissed, missed_page),
        Route::get("/testing/rounds/{id}/buildings/{code}/missed.xlsx", Action::ViewMissed, missed_xlsx),
        Route::post("/testing/rounds/{id}/buildings/{code}/report", Action::ViewMissed, report_missing),
        Route::get("/api/v1/rounds/{id}/coverage/{code}", Action::ViewCoverage, coverage),
        Route::get("/api/v1/rounds/{id}/missed/{code}", Action::ViewMissed, missed),
    ]
}

/// The round and the area of a coverage or missed-list request, once the caller may see
/// the area under the route's action (a missed list is a building's: `building`).
async fn round_and_area(ctx: &Ctx, id: i64, code: &str, building: bool) -> Result<(TestRound, AreaCode), AppError> {
    let code = AreaCode::parse(code)?;
    if building && code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Some(&code)).await?;
    Ok((load_round(ctx, id).await?, code))
}

async fn coverage_page(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let (round, code) = round_and_area(&ctx, id, &code, false).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    let level = code.level();
    let child_href = |c: &AreaCode| {
        if c.level() == AreaLevel::Unit { None } else { Some(format!("/testing/rounds/{id}/areas/{c}")) }
    };
    let rows: Vec<_> = children
        .iter()
        .map(|c| {
            let mut j = coverage_json(c);
            j["href"] = json!(child_href(&c.code));
            j
        })
        .collect();
    let missed_href = (level == AreaLevel::Building && Action::ViewMissed.allowed(ctx.principal.role))
        .then(|| format!("/testing/rounds/{id}/buildings/{code}/missed"));
    let parent = code.parent().filter(|p| ctx.principal.covers(p)).map(|p| format!("/testing/rounds/{id}/areas/{p}"));
    let html = render(
        &ctx,
        "testing/coverage.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "node": coverage_json(&me),
               "children": rows, "missed_href": missed_href, "parent_href": parent}),
    )?;
    Ok(html.into_response())
}

/// The coverage table of a node and its children as .xlsx (no personal data).
async fn coverage_xlsx(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    use cordon_sheets::TableCell::{Number, Text};
    let (round, code) = round_and_area(&ctx, id, &code, false).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    let row = |c: &cordon_store::testing::Coverage| {
        vec![
            Text(c.code.to_string()),
            Text(c.name.clone()),
            Number(c.expected as f64),
            Number(c.sampled as f64),
            Number(c.exempt as f64),
            Number(c.missing as f64),
            Number(c.percent()),
        ]
    };
    let rows: Vec<_> = std::iter::once(&me).chain(children.iter()).map(row).collect();
    let header = [
        "区域编码 code",
        "名称 name",
        "应检 expected",
        "已采 sampled",
        "免检 exempt",
        "未采 missing",
        "覆盖率% covered",
    ];
    let bytes = cordon_sheets::write_table("覆盖率", &header, &rows)?;
    Ok(xlsx_download(bytes, &format!("coverage-{}-{code}.xlsx", round.date)))
}

/// A building's missed list as .xlsx: names and phones, for calling round; audited.
async fn missed_xlsx(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    use cordon_sheets::TableCell::Text;
    let (round, code) = round_and_area(&ctx, id, &code, true).await?;
    let missed = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let mut rows = Vec::new();
    for h in &missed {
        let unit = ctx.store.area(&h.unit).await?.map(|a| a.name).unwrap_or_default();
        for m in &h.members {
            rows.push(vec![
                Text(unit.clone()),
                Text(h.room.clone()),
                Text(m.name.clone()),
                Text(m.phone.clone().unwrap_or_default()),
                Text(if m.bedridden { "是" } else { "" }.to_string()),
            ]);
        }
    }
    ctx.audit("missed.export", "building", code.as_str(), format!("round {id}, {} people", rows.len())).await?;
    let header = ["单元 unit", "房号 room", "姓名 name", "手机号 phone", "卧床 bedridden"];
    let bytes = cordon_sheets::write_table("未采样", &header, &rows)?;
    Ok(xlsx_download(bytes, &format!("missed-{}-{code}.xlsx", round.date)))
}

async fn missed_page(
    ctx: Ctx,
    Path((id, code)): Path<(i64, String)>,
    Query(q): Query<ReportedQuery>,
) -> Result<Response, AppError> {
    let (round, code) = round_and_area(&ctx, id, &code, true).await?;
    let missed = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let cov = ctx.store.coverage(id, &code).await?;
    let key = format!("round {id}");
    crate::security::audit_read_once(
        &ctx,
        "missed.read",
        "building",
        code.as_str(),
        &key,
        format!("{} households", missed.len()),
    )
    .await?;
    let html = render(
        &ctx,
        "testing/missed.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "building": code.as_str(), "name": cov.name,
               "node": coverage_json(&cov), "households": missed_json(&missed), "reported": q.reported}),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct ReportedQuery {
    reported: Option<u64>,
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn report_missing(
    ctx: Ctx,
    Path((id, code)): Path<(i64, String)>,
    Form(f): Form<ReportForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let (_, code) = round_and_area(&ctx, id, &code, true).await?;
    let note: String = f.note.trim().chars().take(500).collect();
    let entry = ctx.entry("missing.report", "building", code.as_str(), format!("round {id}"));
    let n = ctx.store.report_missing(id, &code, &note, ctx.user.id, ctx.now, &entry).await?;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/buildings/{code}/missed?reported={n}")).into_response())
}

// ---- the API of the live pages ------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/rounds/{id}/coverage/{code}", params(("id" = i64, Path), ("code" = String, Path, description = "area code")),
    responses((status = 200, description = "expected, sampled, exempt, missing for the node and its children"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn coverage(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let (_, code) = round_and_area(&ctx, id, &code, false).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    Ok(Json(json!({"node": coverage_json(&me), "children": children.iter().map(coverage_json).collect::<Vec<_>>()}))
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/missed/{code}", params(("id" = i64, Path), ("code" = String, Path, description = "area code (usually a building)")),
    responses((status = 200, description = "households with members not sampled in the round, with phones"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn missed(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let (_, code) = round_and_area(&ctx, id, &code, false).await?;
    let list = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let cov = ctx.store.coverage(id, &code).await?;
    // The page polls this every few seconds: the first read of a window is audited.
    let key = format!("round {id}");
    crate::security::audit_read_once(
        &ctx,
        "missed.read",
        "area",
        code.as_str(),
        &key,
        format!("{} households", list.len()),
    )
    .await?;
    Ok(Json(json!({"node": coverage_json(&cov), "households": missed_json(&list)})).into_response())
}
