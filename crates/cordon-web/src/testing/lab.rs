//! The lab's job: receiving boxes and tubes, results one by one, by file and by API. A
//! positive pool is chased by the store in the same transaction as its result.

use super::{msg, pattern};
use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{BarcodePattern, TestResult, parse_ct};
use cordon_store::testing::{NewResult, Receipt, ResultsReport};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/lab", Action::LabResults, lab_page),
        Route::post("/testing/lab/receive", Action::LabResults, lab_receive).body_limit(256 * 1024),
        Route::post("/testing/lab/result", Action::LabResults, lab_result).body_limit(256 * 1024),
        Route::post("/testing/lab/upload", Action::LabResults, lab_upload).body_limit(crate::security::UPLOAD_LIMIT),
        Route::post("/api/v1/receipts", Action::LabResults, receipts).body_limit(1024 * 1024),
        Route::post("/api/v1/results", Action::LabResults, results).body_limit(4 * 1024 * 1024),
    ]
}

/// Received tubes awaiting a result, listed on the lab page, at most.
const AWAITING_SHOWN: u32 = 200;

async fn lab_view(ctx: &Ctx, status: StatusCode, mut extra: serde_json::Value) -> Result<Response, AppError> {
    // The lab's work list on every view of its page: what is in the lab without a result.
    let awaiting: Vec<_> = ctx
        .store
        .tubes_awaiting_results(AWAITING_SHOWN)
        .await?
        .iter()
        .map(|t| {
            json!({
                "barcode": t.barcode.as_str(), "count": t.count, "box": t.box_code,
                "received_at": t.received_at.map(|at| ctx.tz.local(at).format("%m-%d %H:%M").to_string()),
            })
        })
        .collect();
    extra["awaiting"] = json!(awaiting);
    extra["awaiting_max"] = json!(AWAITING_SHOWN);
    Ok((status, render(ctx, "testing/lab.html", "/testing/lab", extra)?).into_response())
}

async fn lab_page(ctx: Ctx) -> Result<Response, AppError> {
    lab_view(&ctx, StatusCode::OK, json!({})).await
}

#[derive(Deserialize)]
struct ReceiveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    code: String,
}

fn receipt_of(text: &str, p: &BarcodePattern) -> Receipt {
    match p.parse(text) {
        Ok(t) => Receipt::Tube(t),
        Err(_) => Receipt::Box(text.trim().to_uppercase()),
    }
}

async fn lab_receive(
    ctx: Ctx,
    State(state): State<AppState>,
    Form(f): Form<ReceiveForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let what = receipt_of(&f.code, &pattern(&state.settings.tube_pattern));
    let target = match &what {
        Receipt::Box(b) => b.clone(),
        Receipt::Tube(t) => t.as_str().to_string(),
    };
    let entry = ctx.entry("tubes.receive", "tube", &target, "lab receipt");
    match ctx.store.receive(&what, ctx.user.id, ctx.now, &entry).await? {
        Ok(tubes) => lab_view(&ctx, StatusCode::OK, json!({"received": tubes})).await,
        Err(e) => lab_view(&ctx, StatusCode::UNPROCESSABLE_ENTITY, json!({"error": msg(ctx.meta.lang, &e)})).await,
    }
}

#[derive(Deserialize)]
struct ResultForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    tube: String,
    result: String,
    #[serde(default)]
    ct: String,
}

async fn lab_result(ctx: Ctx, State(state): State<AppState>, Form(f): Form<ResultForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let parsed = (|| {
        Ok::<_, FieldError>(NewResult {
            row: 1,
            tube: pattern(&state.settings.tube_pattern).parse(&f.tube)?,
            result: TestResult::parse(&f.result)?,
            ct: parse_ct(&f.ct)?,
        })
    })();
    // A typed result's mistake is shown on the lab page, in words about that result.
    let row = match parsed {
        Ok(row) => row,
        Err(e) => {
            return lab_view(&ctx, StatusCode::UNPROCESSABLE_ENTITY, json!({"error": msg(ctx.meta.lang, &e)})).await;
        }
    };
    let report = record(&ctx, &[row]).await?;
    show_report_of(&ctx, report, true).await
}

async fn record(ctx: &Ctx, rows: &[NewResult]) -> Result<ResultsReport, AppError> {
    let positives = rows.iter().filter(|r| r.result == TestResult::Positive).count();
    let entry = ctx.entry("results.record", "tubes", &format!("{} tubes", rows.len()), format!("{positives} positive"));
    Ok(ctx.store.record_results(rows, ctx.user.id, ctx.now, &entry, &ctx.tz).await?)
}

async fn show_report(ctx: &Ctx, report: ResultsReport) -> Result<Response, AppError> {
    show_report_of(ctx, report, false).await
}

/// The report of recorded results; `typed` when one result was typed in (not a file).
async fn show_report_of(ctx: &Ctx, report: ResultsReport, typed: bool) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let mut chased = Vec::new();
    for c in &report.chases {
        let tube = ctx.store.tube(&cordon_domain::testing::TubeBarcode::from_stored(c.tube.clone())).await?;
        let members = match tube {
            Some(t) => ctx.store.tube_members(t.id).await?,
            None => Vec::new(),
        };
        chased.push(json!({
            "tube": c.tube, "members": members.iter().map(|m| m.masked_name.clone()).collect::<Vec<_>>(),
            "households": c.households_controlled, "tasks": c.tasks_created,
            "ms": (c.chased_at - c.result_at).num_milliseconds(),
        }));
    }
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| json!({"row": e.row, "tube": e.tube, "message": msg(lang, &e.error), "code": e.error.code}))
        .collect();
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    lab_view(
        ctx,
        status,
        json!({"report": {"committed": report.committed, "recorded": report.recorded, "errors": errors, "cases": report.cases, "chases": chased, "typed": typed}}),
    )
    .await
}

/// A bad row of a lab file: its row number, the tube as written, and why.
type LabRowError = (usize, String, FieldError);

/// Reads a lab file: a header row with the tube, result and (optional) Ct columns, in
/// Chinese or English. Every bad row is reported; nothing is recorded unless all are good.
fn lab_rows(
    bytes: &[u8],
    name: &str,
    p: &BarcodePattern,
) -> Result<Result<Vec<NewResult>, Vec<LabRowError>>, AppError> {
    let format = cordon_sheets::Format::from_file_name(name).ok_or_else(|| AppError::BadRequest {
        code: "file_type",
        zh: "只支持 .xlsx 和 .csv 文件".into(),
        en: "only .xlsx and .csv files are accepted".into(),
    })?;
    let table = cordon_sheets::read_table(bytes, format)?;
    let find =
        |names: &[&str]| table.header.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)));
    let tube_col = find(&["试管条码", "条码", "tube", "barcode"]);
    let result_col = find(&["检测结果", "结果", "result"]);
    let ct_col = find(&["ct值", "ct", "CT值"]);
    let mut missing = Vec::new();
    if tube_col.is_none() {
        missing.push("试管条码 (tube)".to_string());
    }
    if result_col.is_none() {
        missing.push("检测结果 (result)".to_string());
    }
    let (Some(tc), Some(rc)) = (tube_col, result_col) else {
        return Err(AppError::Sheet(cordon_sheets::SheetError::MissingHeaders { row: table.header_row, missing }));
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let cell = |cells: &Vec<String>, i: usize| cells.get(i).cloned().unwrap_or_default();
    for (n, cells) in &table.rows {
        let tube_text = cell(cells, tc);
        // Every problem of the row at once, not only the first.
        let tube = p.parse(&tube_text);
        let result = TestResult::parse(&cell(cells, rc));
        let ct = match ct_col {
            Some(c) => parse_ct(&cell(cells, c)),
            None => Ok(None),
        };
        match (tube, result, ct) {
            (Ok(tube), Ok(result), Ok(ct)) => rows.push(NewResult { row: *n, tube, result, ct }),
            (tube, result, ct) => {
                for e in [tube.err(), result.err(), ct.err()].into_iter().flatten() {
                    errors.push((*n, tube_text.clone(), e));
                }
            }
        }
    }
    Ok(if errors.is_empty() { Ok(rows) } else { Err(errors) })
}

async fn lab_upload(ctx: Ctx, State(state): State<AppState>, mut mp: Multipart) -> Result<Response, AppError> {
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    let bad = |_| AppError::BadRequest {
        code: "upload_invalid",
        zh: "上传的表单无效".into(),
        en: "the upload could not be read".into(),
    };
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "_csrf" => csrf = field.text().await.map_err(bad)?,
            "file" => {
                let name = field.file_name().unwrap_or("").to_string();
                file = Some((name, field.bytes().await.map_err(bad)?.to_vec()));
            }
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let (name, bytes) = file.ok_or_else(|| AppError::BadRequest {
        code: "file_missing",
        zh: "请选择要上传的文件".into(),
        en: "choose a file to upload".into(),
    })?;
    match lab_rows(&bytes, &name, &pattern(&state.settings.tube_pattern))? {
        Ok(rows) => {
            let report = record(&ctx, &rows).await?;
            show_report(&ctx, report).await
        }
        Err(errors) => {
            let report = ResultsReport {
                committed: false,
                recorded: 0,
                errors: errors
                    .into_iter()
                    .map(|(row, tube, error)| cordon_store::testing::ResultRowError { row, tube, error })
                    .collect(),
                chases: Vec::new(),
                cases: 0,
            };
            show_report(&ctx, report).await
        }
    }
}

// ---- the lab API ------------------------------------------------------------------------------

/// A scanned box code or tube barcode received at the lab.
#[derive(Deserialize, ToSchema)]
pub(super) struct ReceiptIn {
    code: String,
}

#[utoipa::path(post, path = "/api/v1/receipts", request_body = ReceiptIn,
    responses((status = 200, description = "the tubes received"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn receipts(
    ctx: Ctx,
    State(state): State<AppState>,
    Json(r): Json<ReceiptIn>,
) -> Result<Response, AppError> {
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
pub(super) struct ResultIn {
    tube: String,
    result: String,
    #[serde(default)]
    ct: Option<f64>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ResultsIn {
    results: Vec<ResultIn>,
}

/// Results by API: every row checked; one bad row and nothing is written (422 with the
/// row-by-row report).
#[utoipa::path(post, path = "/api/v1/results", request_body = ResultsIn,
    responses((status = 200, description = "all results recorded; positives chased in the same transaction"), (status = 422, description = "nothing written; the row-by-row report"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn results(
    ctx: Ctx,
    State(state): State<AppState>,
    Json(r): Json<ResultsIn>,
) -> Result<Response, AppError> {
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
