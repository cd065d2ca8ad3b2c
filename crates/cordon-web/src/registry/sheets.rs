//! Spreadsheets of residents: import (.xlsx/.csv, all-or-nothing or valid rows only,
//! into the caller's subtree) and export of an area, as pages and API.

use super::parse_code;
use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::routes::Route;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_sheets::{Format, ImportMode, ImportOptions};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/import", Action::ImportResidents, import_page),
        Route::post("/import", Action::ImportResidents, import_upload).body_limit(crate::security::UPLOAD_LIMIT),
        Route::get("/export", Action::ExportResidents, export_download),
        Route::post("/api/v1/residents/import", Action::ImportResidents, import)
            .body_limit(crate::security::UPLOAD_LIMIT),
        Route::get("/api/v1/residents/export", Action::ExportResidents, export),
    ]
}

async fn import_page(ctx: Ctx) -> Result<Response, AppError> {
    Ok(crate::shell::render(&ctx, "import.html", "/import", json!({"move_out": false}))?.into_response())
}

/// The longest fingerprint accepted back from the form.
const MAX_FINGERPRINT: usize = 32;

/// The upload form: `step=preview` checks the file and shows the diff (nothing written);
/// `step=apply` with the previewed `expect` fingerprint writes it, or shows the new diff
/// if the file or the register changed meanwhile.
async fn import_upload(ctx: Ctx, mut mp: Multipart) -> Result<Response, AppError> {
    let mut csrf = String::new();
    let mut opts = ImportOptions { dry_run: true, ..ImportOptions::default() };
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e.status())),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| multipart_error(e.status()))?;
            file = Some((file_name, bytes.to_vec()));
            continue;
        }
        let v = field.text().await.map_err(|e| multipart_error(e.status()))?;
        match name.as_str() {
            "_csrf" => csrf = v,
            "mode" if v == "valid_rows_only" => opts.mode = ImportMode::ValidRowsOnly,
            "step" => opts.dry_run = v != "apply",
            "expect" if !v.is_empty() => {
                if v.len() > MAX_FINGERPRINT || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(AppError::BadRequest {
                        code: "expect_format",
                        zh: "预览编号无效，请重新预览".into(),
                        en: "the preview reference is invalid; preview again".into(),
                    });
                }
                opts.expect = Some(v);
            }
            "move_out" => opts.move_out_absent = v == "1",
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let (name, bytes) = file.filter(|(_, b)| !b.is_empty()).ok_or_else(|| AppError::BadRequest {
        code: "file_missing",
        zh: "请选择要导入的文件".into(),
        en: "choose a file to import".into(),
    })?;
    let format = Format::from_file_name(&name).ok_or_else(|| AppError::BadRequest {
        code: "file_type",
        zh: "只支持 .xlsx 和 .csv 文件".into(),
        en: "only .xlsx and .csv files are accepted".into(),
    })?;
    if !opts.dry_run && opts.expect.is_none() {
        // An apply without a preview: preview first.
        opts.dry_run = true;
    }
    let report = cordon_sheets::import_roster(
        ctx.store.as_ref(),
        &ctx.principal,
        &bytes,
        format,
        &opts,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let status = if report.stale {
        StatusCode::CONFLICT
    } else if report.committed || report.applicable || report.errors.is_empty() {
        StatusCode::OK
    } else {
        // Bad rows and nothing that may be written.
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = json!({"report": report, "mode": opts.mode.code(), "move_out": opts.move_out_absent});
    let mut response = (status, crate::shell::render(&ctx, "import.html", "/import", page)?).into_response();
    // The diff names people (masked) and places: personal data, never cached.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

fn multipart_error(status: StatusCode) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::Sheet(cordon_sheets::SheetError::TooLarge { limit: cordon_sheets::MAX_UPLOAD_BYTES })
    } else {
        AppError::BadRequest {
            code: "upload_invalid",
            zh: "上传的表单无效".into(),
            en: "the upload could not be read".into(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    pub area: String,
    #[serde(default)]
    pub format: Option<String>,
}

async fn export_file(ctx: &Ctx, q: &ExportQuery) -> Result<Response, AppError> {
    let area = parse_code(&q.area)?;
    let format = match q.format.as_deref().unwrap_or("xlsx") {
        "csv" => Format::Csv,
        _ => Format::Xlsx,
    };
    let bytes = cordon_sheets::export_residents(
        ctx.store.as_ref(),
        &ctx.principal,
        &area,
        format,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let (ext, mime) = match format {
        Format::Csv => ("csv", "text/csv; charset=utf-8"),
        Format::Xlsx => ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    };
    let disposition = format!("attachment; filename=\"residents-{area}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

async fn export_download(ctx: Ctx, Query(q): Query<ExportQuery>) -> Result<Response, AppError> {
    if let Ok(area) = AreaCode::parse(&q.area) {
        ctx.authorize(Some(&area)).await?;
    }
    export_file(&ctx, &q).await
}

/// Shape of `cordon_sheets::ImportReport` as sent (documentation only).
#[derive(ToSchema)]
#[schema(as = ImportReport)]
#[allow(dead_code)]
pub(super) struct ImportReportDoc {
    /// Data rows read (the header not counted).
    rows: usize,
    /// Residents added.
    imported: usize,
    /// Registered residents updated.
    updated: usize,
    /// Residents moved out.
    moved_out: usize,
    /// False when nothing was written (a dry run, all-or-nothing with bad rows, a stale
    /// fingerprint, nothing to do).
    committed: bool,
    errors: Vec<RowErrorDoc>,
    /// `{added, changed, unchanged, moved_out, changes: [{row, resident_id, name (masked),
    /// fields, place}], moved: [{resident_id, name, place}]}`.
    #[schema(value_type = Object)]
    diff: (),
    /// Whether there is something to write and the mode allows it.
    applicable: bool,
    /// Send back as `expect` to apply exactly the previewed plan.
    fingerprint: String,
    preview: bool,
    /// The plan differs from `expect`: nothing written, this is the new plan (409).
    stale: bool,
}

/// One bad field of one row.
#[derive(ToSchema)]
#[schema(as = RowError)]
#[allow(dead_code)]
pub(super) struct RowErrorDoc {
    /// Spreadsheet row number (the header is row 1).
    row: usize,
    /// Column header as in the file.
    column: String,
    code: String,
    zh: String,
    en: String,
}

#[derive(Deserialize)]
pub(super) struct ImportQuery {
    /// `xlsx` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
    /// `all_or_nothing` (default) or `valid_rows_only`.
    #[serde(default)]
    mode: Option<String>,
    /// `true`: check and diff only, write nothing.
    #[serde(default)]
    dry_run: Option<bool>,
    /// The fingerprint of a previewed plan: written only if the plan is still that one.
    #[serde(default)]
    expect: Option<String>,
    /// `true`: the active residents of the file's units who are not in it move out.
    #[serde(default)]
    move_out_absent: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/residents/import",
    params(("format" = Option<String>, Query, description = "xlsx (default) or csv"), ("mode" = Option<String>, Query, description = "all_or_nothing (default) or valid_rows_only"),
        ("dry_run" = Option<bool>, Query, description = "check and diff only"), ("expect" = Option<String>, Query, description = "fingerprint of the previewed plan"),
        ("move_out_absent" = Option<bool>, Query, description = "move out the absent residents of the file's units")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file"),
    responses((status = 200, body = ImportReportDoc), (status = 409, body = ImportReportDoc), (status = 422, body = ImportReportDoc), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn import(ctx: Ctx, Query(q): Query<ImportQuery>, body: Bytes) -> Result<Response, AppError> {
    if body.len() > cordon_sheets::MAX_UPLOAD_BYTES {
        return Err(AppError::Sheet(cordon_sheets::SheetError::TooLarge { limit: cordon_sheets::MAX_UPLOAD_BYTES }));
    }
    let format = if q.format.as_deref() == Some("csv") { Format::Csv } else { Format::Xlsx };
    let mode =
        if q.mode.as_deref() == Some("valid_rows_only") { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
    if q.expect.as_deref().is_some_and(|e| e.len() > MAX_FINGERPRINT || !e.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(AppError::BadRequest {
            code: "expect_format",
            zh: "expect 应为预览返回的 fingerprint".into(),
            en: "expect must be the fingerprint a preview returned".into(),
        });
    }
    let opts = ImportOptions {
        mode,
        dry_run: q.dry_run.unwrap_or(false),
        expect: q.expect.clone(),
        move_out_absent: q.move_out_absent.unwrap_or(false),
    };
    let report = cordon_sheets::import_roster(
        ctx.store.as_ref(),
        &ctx.principal,
        &body,
        format,
        &opts,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let status = if report.stale {
        StatusCode::CONFLICT
    } else if report.committed || report.applicable || report.errors.is_empty() {
        StatusCode::OK
    } else {
        // Bad rows and nothing that may be written.
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], Json(report)).into_response())
}

#[utoipa::path(get, path = "/api/v1/residents/export",
    params(("area" = String, Query, description = "area code"), ("format" = Option<String>, Query, description = "xlsx (default) or csv")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn export(ctx: Ctx, Query(q): Query<ExportQuery>) -> Result<Response, AppError> {
    if let Ok(area) = AreaCode::parse(&q.area) {
        ctx.authorize(Some(&area)).await?;
    }
    export_file(&ctx, &q).await
}
