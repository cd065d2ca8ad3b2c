//! The audit log (commander only): every read and change of personal data and every
//! refusal, filtered by who and what, page by page (page and API).

use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::routes::Route;
use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use cordon_domain::authz::Action;
use cordon_store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::get("/audit", Action::ViewAudit, audit_page), Route::get("/api/v1/audit", Action::ViewAudit, audit)]
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    pub before: Option<i64>,
}

fn audit_filter(q: &AuditQuery, limit: u32) -> AuditFilter {
    let opt = |s: &str| if s.trim().is_empty() { None } else { Some(s.trim().to_string()) };
    AuditFilter { actor: opt(&q.actor), action: opt(&q.action), before_id: q.before, limit, ..Default::default() }
}

async fn audit_page(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    let page_size = 100;
    let entries = ctx.store.audit_log(&audit_filter(&q, page_size)).await?;
    let older = if entries.len() as u32 == page_size { entries.last().map(|e| e.id) } else { None };
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "at": e.entry.at.format("%Y-%m-%d %H:%M:%S").to_string(), "actor": e.entry.actor,
                "role": e.entry.role.map(|r| r.code()), "action": e.entry.action,
                "target_kind": e.entry.target_kind, "target": e.entry.target,
                "detail": e.entry.detail, "request_id": e.entry.request_id,
            })
        })
        .collect();
    let extra = json!({"entries": rows, "older": older, "filter": {"actor": q.actor, "action": q.action}});
    Ok(crate::shell::render(&ctx, "audit.html", "/audit", extra)?.into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct AuditDto {
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

#[utoipa::path(get, path = "/api/v1/audit",
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("before" = Option<i64>, Query, description = "entries with a smaller id (paging)")),
    responses((status = 200, body = [AuditDto]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn audit(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Json<Vec<AuditDto>>, AppError> {
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
