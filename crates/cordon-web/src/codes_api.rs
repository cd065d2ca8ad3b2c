//! The health-code JSON API: device scans at checkpoints (single and batch, the same
//! decision as the guard page), a resident's code, zones, passes, the policy switch,
//! venue check-ins and visits, and the trivial `/api/ping` the benchmark compares with.
//!
//! Every route authorizes through [`Ctx`]; the handlers call the same functions as the
//! pages in [`crate::codes`], so the page and the device can never disagree.

use crate::AppState;
use crate::auth::Ctx;
use crate::codes::{self, PassForm, ScanOutcome, ZoneForm};
use crate::error::AppError;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cordon_domain::colour::Direction;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// Largest batch a scanner may send at once.
pub const MAX_BATCH: usize = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ping", get(ping))
        .route("/v1/checkpoints/{id}/scans", post(scans))
        .route("/v1/residents/{id}/code", get(resident_code))
        .route("/v1/zones", post(zone))
        .route("/v1/policy", post(policy))
        .route("/v1/passes", post(pass_issue))
        .route("/v1/passes/{id}/revoke", post(pass_revoke))
        .route("/v1/venues/{id}/checkins", post(checkin))
        .route("/v1/venues/{id}/visits", get(visits))
}

/// The trivial handler: no authentication, no database. The verify benchmark's baseline.
#[utoipa::path(get, path = "/api/ping", responses((status = 200, description = "`pong`: the trivial handler benchmarks compare with")))]
pub(crate) async fn ping() -> &'static str {
    "pong"
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct OneScan {
    token: String,
    #[serde(default)]
    direction: Option<String>,
    /// When the device scanned it (offline queues); default: now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ScanBody {
    Batch { scans: Vec<OneScan> },
    One(OneScan),
}

fn outcome_json(o: &ScanOutcome) -> serde_json::Value {
    json!(o)
}

#[utoipa::path(post, path = "/api/v1/checkpoints/{id}/scans", params(("id" = i64, Path, description = "checkpoint")), request_body = ScanBody,
    responses((status = 200, description = "the decision: colour, reasons, masked name and ID, pass or deny with where to go (a batch: `results`)"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn scans(ctx: Ctx, Path(id): Path<i64>, Json(body): Json<ScanBody>) -> Result<Response, AppError> {
    let one = |s: &OneScan| (s.token.clone(), Direction::parse(s.direction.as_deref().unwrap_or("in")), s.at);
    match body {
        ScanBody::One(s) => {
            let (token, dir, at) = one(&s);
            // A device clock far from ours is not trusted beyond a day back.
            let at = at.filter(|t| *t <= ctx.now && ctx.now - *t < chrono::Duration::days(1)).unwrap_or(ctx.now);
            // The checkpoint is read with the scan's data and admitted before the verdict.
            let o = codes::scan_at_checkpoint(&ctx, id, &token, dir, at).await?;
            Ok(Json(outcome_json(&o)).into_response())
        }
        ScanBody::Batch { scans } => {
            let cp = codes::checkpoint_for_scan(&ctx, id).await?;
            if scans.len() > MAX_BATCH {
                return Err(AppError::BadRequest {
                    code: "batch_too_large",
                    zh: format!("一次最多提交{MAX_BATCH}条扫码记录"),
                    en: format!("at most {MAX_BATCH} scans per batch"),
                });
            }
            let mut results = Vec::with_capacity(scans.len());
            for s in &scans {
                let (token, dir, at) = one(s);
                let at = at.filter(|t| *t <= ctx.now && ctx.now - *t < chrono::Duration::days(1)).unwrap_or(ctx.now);
                results.push(outcome_json(
                    &codes::scan(ctx.store.as_ref(), &cp, &token, dir, Some(ctx.user.id), at).await?,
                ));
            }
            Ok(Json(json!({"results": results})).into_response())
        }
    }
}

#[utoipa::path(get, path = "/api/v1/residents/{id}/code", params(("id" = i64, Path)),
    responses((status = 200, description = "colour with every reason, and a freshly signed token"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn resident_code(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (r, c, reasons, token) = codes::resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    Ok(Json(json!({
        "resident_id": r.id, "name_masked": r.name.masked(), "colour": c, "reasons": reasons, "token": token,
    }))
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ZoneBody {
    area_code: String,
    level: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    starts_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/zones", request_body = ZoneBody,
    responses((status = 201, description = "the zone designated (an open one on the same area is ended)"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn zone(ctx: Ctx, Json(b): Json<ZoneBody>) -> Result<Response, AppError> {
    let f = ZoneForm {
        csrf: String::new(),
        area_code: b.area_code,
        level: b.level,
        reason: b.reason,
        starts_at: b.starts_at.unwrap_or_default(),
    };
    let z = codes::designate(&ctx, &f).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!(z))).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct PolicyBody {
    #[serde(default)]
    profile: String,
    #[serde(default)]
    source: String,
}

#[utoipa::path(post, path = "/api/v1/policy", request_body = PolicyBody,
    responses((status = 200, description = "the profile now active"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn policy(ctx: Ctx, Json(b): Json<PolicyBody>) -> Result<Response, AppError> {
    let p = codes::switch_policy(&ctx, &b.profile, &b.source).await?;
    Ok(Json(json!({"name": p.name, "title_zh": p.title_zh, "title_en": p.title_en})).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct PassBody {
    holder_kind: String,
    #[serde(default)]
    resident_id: Option<i64>,
    #[serde(default)]
    plate: String,
    purpose: String,
    scope: Vec<String>,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/passes", request_body = PassBody,
    responses((status = 201, description = "the pass with its token"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn pass_issue(ctx: Ctx, Json(b): Json<PassBody>) -> Result<Response, AppError> {
    let f = PassForm {
        csrf: String::new(),
        holder_kind: b.holder_kind,
        resident_id: b.resident_id.map(|i| i.to_string()),
        plate: b.plate,
        purpose: b.purpose,
        scope: b.scope.join(" "),
        valid_from: b.valid_from.unwrap_or_default(),
        valid_until: b.valid_until.unwrap_or_default(),
    };
    let p = codes::issue(&ctx, &f).await?;
    let token = codes::issue_token(ctx.store.as_ref(), cordon_domain::token::SubjectKind::Pass, p.id, ctx.now).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({"pass": p, "token": token}))).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct RevokeBody {
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/passes/{id}/revoke", params(("id" = i64, Path)), request_body = RevokeBody,
    responses((status = 200, description = "revoked"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn pass_revoke(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(b): Json<RevokeBody>,
) -> Result<Response, AppError> {
    let p = codes::revoke(&ctx, id, &b.reason).await?;
    Ok(Json(json!(p)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CheckinBody {
    token: String,
}

#[utoipa::path(post, path = "/api/v1/venues/{id}/checkins", params(("id" = i64, Path)), request_body = CheckinBody,
    responses((status = 200, description = "the check-in, with the code's colour"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn checkin(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<CheckinBody>) -> Result<Response, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(cordon_domain::authz::Action::VenueCheckin, Some(&v.area)).await?;
    Ok(match codes::checkin(&ctx, &v, &b.token).await? {
        Ok(resident_id) => Json(json!({"ok": true, "resident_id": resident_id})).into_response(),
        Err((code, zh, en)) => {
            Json(json!({"ok": false, "code": code, "message_zh": zh, "message_en": en})).into_response()
        }
    })
}

#[derive(Deserialize)]
pub(crate) struct VisitsQuery {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/venues/{id}/visits", params(("id" = i64, Path), ("from" = String, Query, format = DateTime), ("to" = String, Query, format = DateTime)),
    responses((status = 200, description = "who checked in at the venue between `from` and `to`"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn visits(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<VisitsQuery>) -> Result<Response, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(cordon_domain::authz::Action::VenueCheckin, Some(&v.area)).await?;
    let visits = ctx.store.venue_visits(v.id, q.from, q.to).await?;
    ctx.audit("venue.visits.read", "venue", &v.id.to_string(), format!("{} visits", visits.len())).await?;
    Ok(Json(json!({"venue_id": v.id, "visits": visits})).into_response())
}
