//! The mass-testing device and lab API under `/api/v1`: batches of scans from samplers'
//! phones (client-generated ids, idempotent on retry), receipts and results from labs,
//! coverage and missed lists for live pages, alerts for tracers and commanders.
//!
//! Owns the JSON shapes only; parsing of scans and lab rows and every rule live in
//! [`crate::testing`], the domain and the store. Must never authorize other than through
//! `Ctx::authorize`, and never log or audit an ID number.

use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::testing::{coverage_json, load_round, missed_json, parse_person, pattern, receipt_of, record};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::policy::Profile;
use cordon_domain::testing::{Refusal, TestResult, parse_ct};
use cordon_domain::{Phone, testing::BarcodePattern};
use cordon_store::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanOutcome, ScanPerson};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// Entries one batch may carry.
pub const MAX_BATCH: usize = 2_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/rounds/{id}/scans", post(scans))
        .route("/v1/receipts", post(receipts))
        .route("/v1/results", post(results))
        .route("/v1/rounds/{id}/coverage/{code}", get(coverage))
        .route("/v1/rounds/{id}/missed/{code}", get(missed))
        .route("/v1/alerts", get(alerts))
        .route("/v1/rounds/{id}/pool-positives", get(pool_positives))
}

/// A device's queued scans, sent (and re-sent) as one batch.
#[derive(Deserialize, ToSchema)]
pub struct BatchIn {
    pub batch_id: String,
    pub items: Vec<ItemIn>,
}

/// One queued entry of a device. `kind`: `open`, `sample`, `seal`, `undo`.
#[derive(Deserialize, ToSchema)]
pub struct ItemIn {
    pub client_id: String,
    pub kind: String,
    pub tube: String,
    /// Scanned or typed text naming the person (ID number now; health-code tokens later).
    #[serde(default)]
    pub person: Option<String>,
    /// Sample as a visitor (not on the register), with an optional phone.
    #[serde(default)]
    pub visitor: bool,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub resident_id: Option<i64>,
    /// When the device scanned it (RFC 3339); default: when the server receives it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<DateTime<Utc>>,
}

fn refused(client_id: &str, e: FieldError) -> ScanOutcome {
    ScanOutcome {
        client_id: client_id.to_string(),
        code: e.code,
        error: Some(e),
        tube: None,
        count: 0,
        capacity: 0,
        sealed: false,
        resident_id: None,
        masked_name: None,
        visitor: false,
        resample: false,
    }
}

fn parse_item(it: &ItemIn, p: &BarcodePattern, profile: &Profile, now: DateTime<Utc>) -> Result<ScanItem, FieldError> {
    let tube = p.parse(&it.tube)?;
    let at = it.at.unwrap_or(now);
    let client_id = it.client_id.clone();
    Ok(match it.kind.as_str() {
        "open" => ScanItem::Open { client_id, tube, capacity: profile.pool_capacity(it.capacity)?, at },
        "seal" => ScanItem::Seal { client_id, tube, at },
        "undo" => ScanItem::Undo {
            client_id,
            tube,
            resident_id: it.resident_id.ok_or_else(|| Refusal::NotInTube.error())?,
            at,
        },
        "sample" => {
            let text = it.person.as_deref().unwrap_or("");
            let person = if it.visitor {
                let id_number = cordon_domain::IdNumber::parse(text).map_err(|e| e.on_field("person"))?;
                let phone = match it.phone.as_deref().map(str::trim) {
                    Some(p) if !p.is_empty() => Some(Phone::parse(p)?),
                    _ => None,
                };
                ScanPerson::Visitor { id_number, phone }
            } else {
                parse_person(text)?
            };
            ScanItem::Sample { client_id, tube, person, at }
        }
        _ => {
            return Err(FieldError::new(
                "scan_kind",
                "kind",
                "扫码类型应为 open/sample/seal/undo",
                "kind must be open, sample, seal or undo",
            ));
        }
    })
}

/// Applies a device batch. Entries that do not parse are answered here; the rest go to
/// the store in one transaction; the answers come back in the order sent.
#[utoipa::path(post, path = "/api/v1/rounds/{id}/scans", params(("id" = i64, Path, description = "test round")),
    request_body = BatchIn,
    responses((status = 200, description = "one outcome per entry; a replayed entry says `replayed`"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn scans(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<BatchIn>,
) -> Result<Response, AppError> {
    ctx.authorize(Action::SampleResidents, None).await?;
    let round = load_round(&ctx, id).await?;
    if b.items.len() > MAX_BATCH || b.batch_id.trim().is_empty() || b.batch_id.len() > 100 {
        return Err(FieldError::new(
            "batch_invalid",
            "items",
            format!("每批须有编号且最多{MAX_BATCH}条"),
            format!("a batch needs an id and at most {MAX_BATCH} entries"),
        )
        .into());
    }
    let p = pattern(&state.settings.tube_pattern);
    let profile = crate::codes::active_profile(state.store.as_ref()).await?;
    let mut slots: Vec<Option<ScanOutcome>> = Vec::with_capacity(b.items.len());
    let mut items = Vec::with_capacity(b.items.len());
    for it in &b.items {
        match parse_item(it, &p, &profile, ctx.now) {
            Ok(i) => {
                items.push(i);
                slots.push(None);
            }
            Err(e) => slots.push(Some(refused(&it.client_id, e))),
        }
    }
    let batch = ScanBatch {
        batch_id: format!("{}:{}", ctx.user.id, b.batch_id.trim()),
        round_id: round.id,
        user_id: ctx.user.id,
        // A sampler samples the people of their area; anyone else is a visitor here.
        scope: Some(ctx.principal.roots.clone()),
        items,
    };
    let entry =
        ctx.entry("scans.ingest", "round", &round.id.to_string(), format!("batch of {} entries", b.items.len()));
    let mut report = ctx.store.ingest_scans(batch, &entry).await?;
    let mut stored = std::mem::take(&mut report.outcomes).into_iter();
    let outcomes: Vec<ScanOutcome> = if report.replayed {
        Vec::new()
    } else {
        slots.into_iter().filter_map(|s| s.or_else(|| stored.next())).collect()
    };
    let lang = ctx.meta.lang;
    let outcomes: Vec<OutcomeOut<'_>> =
        outcomes.iter().map(|o| OutcomeOut { o, message: o.error.as_ref().map(|e| lang.pick(&e.zh, &e.en)) }).collect();
    Ok(Json(BatchOut { batch_id: &b.batch_id, replayed: report.replayed, accepted: report.accepted, outcomes })
        .into_response())
}

/// An outcome with its message in the caller's language, serialised without copying.
#[derive(serde::Serialize)]
struct OutcomeOut<'a> {
    #[serde(flatten)]
    o: &'a ScanOutcome,
    message: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct BatchOut<'a> {
    batch_id: &'a str,
    replayed: bool,
    accepted: u32,
    outcomes: Vec<OutcomeOut<'a>>,
}

/// A scanned box code or tube barcode received at the lab.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ReceiptIn {
    code: String,
}

#[utoipa::path(post, path = "/api/v1/receipts", request_body = ReceiptIn,
    responses((status = 200, description = "the tubes received"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn receipts(
    ctx: Ctx,
    State(state): State<AppState>,
    Json(r): Json<ReceiptIn>,
) -> Result<Response, AppError> {
    ctx.authorize(Action::LabResults, None).await?;
    let what = receipt_of(&r.code, &pattern(&state.settings.tube_pattern));
    let target = match &what {
        Receipt::Box(b) => b.clone(),
        Receipt::Tube(t) => t.as_str().to_string(),
    };
    let entry = ctx.entry("tubes.receive", "tube", &target, "lab receipt");
    let tubes = ctx.store.receive(&what, ctx.user.id, ctx.now, &entry).await??;
    Ok(Json(json!({"received": tubes})).into_response())
}

/// `result`: `negative`, `positive` or `invalid`; `ct` optional.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ResultIn {
    tube: String,
    result: String,
    #[serde(default)]
    ct: Option<f64>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ResultsIn {
    results: Vec<ResultIn>,
}

/// Results by API: every row checked; one bad row and nothing is written (422 with the
/// row-by-row report).
#[utoipa::path(post, path = "/api/v1/results", request_body = ResultsIn,
    responses((status = 200, description = "all results recorded; positives chased in the same transaction"), (status = 422, description = "nothing written; the row-by-row report"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn results(
    ctx: Ctx,
    State(state): State<AppState>,
    Json(r): Json<ResultsIn>,
) -> Result<Response, AppError> {
    ctx.authorize(Action::LabResults, None).await?;
    let p = pattern(&state.settings.tube_pattern);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, x) in r.results.iter().enumerate() {
        let parsed = (|| {
            Ok::<_, FieldError>(NewResult {
                row: i + 1,
                tube: p.parse(&x.tube)?,
                result: TestResult::parse(&x.result)?,
                ct: match x.ct {
                    Some(v) => parse_ct(&v.to_string())?,
                    None => None,
                },
            })
        })();
        match parsed {
            Ok(n) => rows.push(n),
            Err(e) => errors
                .push(json!({"row": i + 1, "tube": x.tube, "code": e.code, "message_zh": e.zh, "message_en": e.en})),
        }
    }
    if !errors.is_empty() {
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"committed": false, "errors": errors})))
            .into_response());
    }
    let report = record(&ctx, &rows).await?;
    let status =
        if report.committed { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(json!(report))).into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/coverage/{code}", params(("id" = i64, Path), ("code" = String, Path, description = "area code")),
    responses((status = 200, description = "expected, sampled, exempt, missing for the node and its children"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn coverage(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let code = AreaCode::parse(&code)?;
    ctx.authorize(Action::ViewCoverage, Some(&code)).await?;
    load_round(&ctx, id).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    Ok(Json(json!({"node": coverage_json(&me), "children": children.iter().map(coverage_json).collect::<Vec<_>>()}))
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/missed/{code}", params(("id" = i64, Path), ("code" = String, Path, description = "area code (usually a building)")),
    responses((status = 200, description = "households with members not sampled in the round, with phones"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn missed(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let code = AreaCode::parse(&code)?;
    ctx.authorize(Action::ViewMissed, Some(&code)).await?;
    load_round(&ctx, id).await?;
    let list = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let cov = ctx.store.coverage(id, &code).await?;
    ctx.audit("missed.read", "area", code.as_str(), format!("round {id}, {} households", list.len())).await?;
    Ok(Json(json!({"node": coverage_json(&cov), "households": missed_json(&list)})).into_response())
}

#[derive(Deserialize)]
pub(crate) struct AfterQuery {
    #[serde(default)]
    after: i64,
}

#[utoipa::path(get, path = "/api/v1/alerts", params(("after" = Option<i64>, Query, description = "only alerts with a larger id")),
    responses((status = 200, description = "chase alerts, newest last"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn alerts(ctx: Ctx, Query(q): Query<AfterQuery>) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewChase, None).await?;
    let list = ctx.store.alerts(q.after, 50).await?;
    Ok(Json(json!({"alerts": list})).into_response())
}

#[utoipa::path(get, path = "/api/v1/rounds/{id}/pool-positives", params(("id" = i64, Path)),
    responses((status = 200, description = "members awaiting individual results"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn pool_positives(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewChase, None).await?;
    load_round(&ctx, id).await?;
    let list = ctx.store.pool_positives(id, &ctx.principal.roots).await?;
    ctx.audit("chase.read", "round", &id.to_string(), format!("{} pool-positive members", list.len())).await?;
    Ok(Json(json!({"members": list})).into_response())
}
