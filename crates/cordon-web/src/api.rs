//! The JSON API under `/api/v1`, for devices, scripts and other systems, with its OpenAPI
//! document at `/api/openapi.json`. Same authorization and audit as the pages; errors
//! are the `{code, message}` envelope ([`crate::error::ErrorBody`]).

use crate::AppState;
use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::pages::{AuditQuery, ExportQuery, address, audit_filter, classify_query, correction_from, export_file};
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::registry::Resident;
use cordon_sheets::{Format, ImportMode};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/v1/me", get(me))
        .route("/v1/areas/{code}", get(area))
        .route("/v1/buildings/{code}/roster", get(roster))
        .route("/v1/residents", get(search))
        .route("/v1/residents/{id}", get(resident))
        .route("/v1/residents/{id}/corrections", post(correct))
        .route("/v1/residents/import", post(import))
        .route("/v1/residents/export", get(export))
        .route("/v1/audit", get(audit))
}

/// The OpenAPI document, built once. utoipa's builders recurse deeply, so the document is
/// made on a thread with a roomy stack rather than on a request's.
async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = match DOC.get() {
        Some(d) => d.clone(),
        None => {
            let built = std::thread::Builder::new()
                .stack_size(16 * 1024 * 1024)
                .spawn(|| serde_json::to_string(&ApiDoc::openapi()).unwrap_or_default())
                .ok()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            DOC.get_or_init(|| built).clone()
        }
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json")], doc).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cordon API", description = "区级疫情防控指挥平台 — district outbreak-response command system"),
    paths(
        me, area, roster, search, resident, correct, import, export, audit,
        crate::testing_api::scans, crate::testing_api::receipts, crate::testing_api::results,
        crate::testing_api::coverage, crate::testing_api::missed, crate::testing_api::alerts,
        crate::testing_api::pool_positives,
        crate::codes_api::ping, crate::codes_api::scans, crate::codes_api::resident_code, crate::codes_api::zone,
        crate::codes_api::policy, crate::codes_api::pass_issue, crate::codes_api::pass_revoke,
        crate::codes_api::checkin, crate::codes_api::visits,
    ),
    components(schemas(crate::codes_api::ScanBody, crate::codes_api::OneScan, crate::codes_api::ZoneBody, crate::codes_api::PolicyBody, crate::codes_api::PassBody, crate::codes_api::RevokeBody, crate::codes_api::CheckinBody, crate::testing_api::BatchIn, crate::testing_api::ItemIn, crate::testing_api::ReceiptIn, crate::testing_api::ResultsIn, crate::testing_api::ResultIn, ErrorBody, MeDto, AreaDto, AreaChildDto, ResidentDto, RosterHouseholdDto, CorrectionRequest, AuditDto, ImportReportDoc, RowErrorDoc)),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;
impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    /// Area codes this user may see.
    pub roots: Vec<String>,
    pub scope_label: String,
}

#[derive(Serialize, ToSchema)]
pub struct AreaDto {
    pub code: String,
    pub name: String,
    pub level: String,
    pub residents: u64,
    pub households: u64,
    pub children: Vec<AreaChildDto>,
}

/// A child of an area, with its counts.
#[derive(Serialize, ToSchema)]
pub struct AreaChildDto {
    pub code: String,
    pub name: String,
    pub level: String,
    pub residents: u64,
    pub households: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ResidentDto {
    pub id: i64,
    pub name: String,
    pub id_number: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: Option<String>,
    pub unit_code: String,
    pub room: String,
    pub address: Option<String>,
    pub bedridden: bool,
    pub no_smartphone: bool,
    pub temporary: bool,
    pub elderly: bool,
    /// `active` or `moved_out`.
    pub status: String,
}

/// The active profile's age for door service and code cards.
async fn elderly_age(ctx: &Ctx) -> Result<u32, AppError> {
    Ok(crate::codes::active_profile(ctx.store.as_ref()).await?.testing.elderly_age)
}

impl ResidentDto {
    fn from(r: &Resident, address: Option<String>, elderly_age: u32) -> ResidentDto {
        ResidentDto {
            id: r.id,
            name: r.name.as_str().to_string(),
            id_number: r.id_number.as_str().to_string(),
            sex: r.sex().en().to_string(),
            birth_date: r.birth_date().to_string(),
            phone: r.phone.as_ref().map(|p| p.as_str().to_string()),
            unit_code: r.unit.to_string(),
            room: r.room.clone(),
            address,
            bedridden: r.flags.bedridden,
            no_smartphone: r.flags.no_smartphone,
            temporary: r.flags.temporary,
            elderly: r.is_elderly(cordon_domain::clock::DistrictTz::default().today(Utc::now()), elderly_age),
            status: r.status.as_str().to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RosterHouseholdDto {
    pub household_id: i64,
    pub unit_code: String,
    pub unit_name: String,
    pub room: String,
    pub members: Vec<ResidentDto>,
}

#[derive(Deserialize, ToSchema)]
pub struct CorrectionRequest {
    /// `moved_out`, `returned`, `temporary_on`, `temporary_off`, `phone`, `flags`.
    pub kind: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub bedridden: bool,
    #[serde(default)]
    pub no_smartphone: bool,
}

/// Shape of `cordon_sheets::ImportReport` as sent (documentation only).
#[derive(ToSchema)]
#[schema(as = ImportReport)]
#[allow(dead_code)]
pub struct ImportReportDoc {
    /// Data rows read (the header not counted).
    rows: usize,
    imported: usize,
    /// False when nothing was written (all-or-nothing with bad rows).
    committed: bool,
    errors: Vec<RowErrorDoc>,
}

/// One bad field of one row.
#[derive(ToSchema)]
#[schema(as = RowError)]
#[allow(dead_code)]
pub struct RowErrorDoc {
    /// Spreadsheet row number (the header is row 1).
    row: usize,
    /// Column header as in the file.
    column: String,
    code: String,
    zh: String,
    en: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditDto {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target: String,
    pub request_id: String,
    pub detail: String,
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = MeDto), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(ctx: Ctx) -> Json<MeDto> {
    Json(MeDto {
        id: ctx.user.id,
        username: ctx.user.username.clone(),
        display_name: ctx.user.display_name.clone(),
        role: ctx.user.role.code().to_string(),
        roots: ctx.principal.roots.iter().map(|c| c.to_string()).collect(),
        scope_label: ctx.principal.scope_label.clone(),
    })
}

fn code(s: &str) -> Result<AreaCode, AppError> {
    Ok(AreaCode::parse(s)?)
}

#[utoipa::path(get, path = "/api/v1/areas/{code}", params(("code" = String, Path, description = "area code")),
    responses((status = 200, body = AreaDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn area(ctx: Ctx, Path(c): Path<String>) -> Result<Json<AreaDto>, AppError> {
    let c = code(&c)?;
    ctx.authorize(Action::ViewAreaTree, Some(&c)).await?;
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

#[utoipa::path(get, path = "/api/v1/buildings/{code}/roster", params(("code" = String, Path, description = "building code")),
    responses((status = 200, body = [RosterHouseholdDto]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn roster(ctx: Ctx, Path(c): Path<String>) -> Result<Json<Vec<RosterHouseholdDto>>, AppError> {
    let c = code(&c)?;
    if c.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::ViewRoster, Some(&c)).await?;
    let roster = ctx.store.building_roster(&c).await?;
    ctx.audit("roster.read", "building", c.as_str(), format!("{} households (api)", roster.len())).await?;
    let age = elderly_age(&ctx).await?;
    Ok(Json(
        roster
            .into_iter()
            .map(|h| RosterHouseholdDto {
                household_id: h.household_id,
                unit_code: h.unit.to_string(),
                unit_name: h.unit_name,
                room: h.room,
                members: h.members.iter().map(|m| ResidentDto::from(m, None, age)).collect(),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct Q {
    q: String,
}

#[utoipa::path(get, path = "/api/v1/residents", params(("q" = String, Query, description = "name prefix, full ID number or full phone")),
    responses((status = 200, body = [ResidentDto]), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn search(ctx: Ctx, Query(q): Query<Q>) -> Result<Json<Vec<ResidentDto>>, AppError> {
    ctx.authorize(Action::SearchResidents, None).await?;
    let query = classify_query(&q.q)?;
    let found = ctx.store.search_residents(&ctx.principal.roots, &query, 50).await?;
    ctx.audit("residents.search", "route", "/api/v1/residents", format!("{} results", found.len())).await?;
    let age = elderly_age(&ctx).await?;
    Ok(Json(found.iter().map(|r| ResidentDto::from(r, None, age)).collect()))
}

#[utoipa::path(get, path = "/api/v1/residents/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ResidentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn resident(ctx: Ctx, Path(id): Path<i64>) -> Result<Json<ResidentDto>, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Action::ViewResident, Some(&r.unit)).await?;
    ctx.audit("resident.read", "resident", &id.to_string(), "api").await?;
    let addr = address(&ctx, &r.unit, &r.room).await?;
    Ok(Json(ResidentDto::from(&r, Some(addr), elderly_age(&ctx).await?)))
}

#[utoipa::path(post, path = "/api/v1/residents/{id}/corrections", params(("id" = i64, Path)), request_body = CorrectionRequest,
    responses((status = 200, body = ResidentDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn correct(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(req): Json<CorrectionRequest>,
) -> Result<Json<ResidentDto>, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Action::EditResident, Some(&r.unit)).await?;
    let c = correction_from(&req.kind, req.phone.as_deref().unwrap_or(""), req.bedridden, req.no_smartphone)?;
    let entry = crate::pages::correction_entry(&ctx, id, &c);
    let updated = ctx.store.correct_resident(id, &c, &entry).await?;
    Ok(Json(ResidentDto::from(&updated, None, elderly_age(&ctx).await?)))
}

#[derive(Deserialize)]
struct ImportQuery {
    /// `xlsx` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
    /// `all_or_nothing` (default) or `valid_rows_only`.
    #[serde(default)]
    mode: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/residents/import",
    params(("format" = Option<String>, Query, description = "xlsx (default) or csv"), ("mode" = Option<String>, Query, description = "all_or_nothing (default) or valid_rows_only")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file"),
    responses((status = 200, body = ImportReportDoc), (status = 422, body = ImportReportDoc), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
async fn import(ctx: Ctx, Query(q): Query<ImportQuery>, body: Bytes) -> Result<Response, AppError> {
    ctx.authorize(Action::ImportResidents, None).await?;
    if body.len() > cordon_sheets::MAX_UPLOAD_BYTES {
        return Err(AppError::Sheet(cordon_sheets::SheetError::TooLarge { limit: cordon_sheets::MAX_UPLOAD_BYTES }));
    }
    let format = if q.format.as_deref() == Some("csv") { Format::Csv } else { Format::Xlsx };
    let mode =
        if q.mode.as_deref() == Some("valid_rows_only") { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
    let report = cordon_sheets::import_residents(
        ctx.store.as_ref(),
        &ctx.principal,
        &body,
        format,
        mode,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let status =
        if report.committed { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)).into_response())
}

#[utoipa::path(get, path = "/api/v1/residents/export",
    params(("area" = String, Query, description = "area code"), ("format" = Option<String>, Query, description = "xlsx (default) or csv")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn export(ctx: Ctx, Query(q): Query<ExportQuery>) -> Result<Response, AppError> {
    if let Ok(area) = AreaCode::parse(&q.area) {
        ctx.authorize(Action::ExportResidents, Some(&area)).await?;
    }
    export_file(&ctx, &q).await
}

#[utoipa::path(get, path = "/api/v1/audit",
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("before" = Option<i64>, Query, description = "entries with a smaller id (paging)")),
    responses((status = 200, body = [AuditDto]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn audit(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Json<Vec<AuditDto>>, AppError> {
    ctx.authorize(Action::ViewAudit, None).await?;
    let entries = ctx.store.audit_log(&audit_filter(&q, 200)).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditDto {
                id: e.id,
                at: e.entry.at.to_rfc3339(),
                actor: e.entry.actor,
                role: e.entry.role.map(|r| r.code().to_string()),
                action: e.entry.action,
                target_kind: e.entry.target_kind,
                target: e.entry.target,
                request_id: e.entry.request_id,
                detail: e.entry.detail,
            })
            .collect(),
    ))
}
