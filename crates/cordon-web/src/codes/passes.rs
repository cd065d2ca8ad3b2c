//! Passes: the issuance log within the caller's subtree and its CSV export, issuing a
//! pass for a person or a vehicle, a pass's page with its QR, and revoking (page and API).

use super::{field, issue_token, local, parse_time, qr_svg};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Lang, Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::pass::{Holder, NewPass, Pass, parse_plate};
use cordon_domain::token::SubjectKind;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/passes", Action::IssuePass, passes_page),
        Route::post("/passes", Action::IssuePass, pass_issue),
        Route::get("/passes/export.csv", Action::IssuePass, passes_export),
        Route::get("/passes/{id}", Action::IssuePass, pass_page),
        Route::post("/passes/{id}/revoke", Action::IssuePass, pass_revoke),
        Route::post("/api/v1/passes", Action::IssuePass, pass_issue_api),
        Route::post("/api/v1/passes/{id}/revoke", Action::IssuePass, pass_revoke_api),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.codes.passes", "通行证", "Passes"),
    ("codes.pass.title", "通行证", "Passes"),
    ("codes.pass.issue", "签发通行证", "Issue a pass"),
    ("codes.pass.log", "发放记录", "Issuance log"),
    ("codes.pass.export", "导出发放记录", "Export the log"),
    ("codes.pass.holder", "持证人", "Holder"),
    ("codes.pass.holder_search", "持证人（身份证号或姓名）", "Holder (ID number or name)"),
    (
        "codes.pass.holder_hint",
        "输入完整身份证号或姓名，再从列表中选择",
        "Type a full ID number or a name, then choose",
    ),
    ("codes.pass.holder_none", "在您的管辖范围内没有找到", "Nobody in your area matches"),
    ("codes.pass.holder_chosen", "已选择：", "Chosen:"),
    ("codes.pass.person", "人员（居民编号）", "Person (resident id)"),
    ("codes.pass.vehicle", "车辆（车牌号）", "Vehicle (plate)"),
    ("codes.pass.purpose", "用途", "Purpose"),
    ("codes.pass.scope", "通行范围（区域编码，空格分隔）", "Areas it opens (codes, space-separated)"),
    ("codes.pass.from", "生效时间", "Valid from"),
    ("codes.pass.until", "失效时间", "Valid until"),
    ("codes.pass.issuer", "签发人", "Issuer"),
    ("codes.pass.status", "状态", "Status"),
    ("codes.pass.valid", "有效", "valid"),
    ("codes.pass.pending", "未生效", "not yet valid"),
    ("codes.pass.expired", "已过期", "expired"),
    ("codes.pass.revoked", "已吊销", "revoked"),
    ("codes.pass.revoke", "吊销", "Revoke"),
    ("codes.pass.revoke_reason", "吊销原因", "Reason"),
    ("codes.pass.none", "暂无通行证", "No passes"),
    ("codes.pass.kind", "类型", "Kind"),
];

fn pass_json(p: &Pass, lang: Lang, now: DateTime<Utc>) -> serde_json::Value {
    let status = if p.revoked_at.is_some() {
        "codes.pass.revoked"
    } else if now >= p.valid_until {
        "codes.pass.expired"
    } else if now < p.valid_from {
        "codes.pass.pending"
    } else {
        "codes.pass.valid"
    };
    json!({
        "id": p.id, "holder": p.holder_label, "vehicle": matches!(p.holder, Holder::Vehicle(_)), "purpose": p.purpose,
        "scope": p.scope.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "from": local(p.valid_from), "until": local(p.valid_until),
        "issuer": p.issuer, "issued_at": local(p.issued_at), "revoked_at": p.revoked_at.map(local),
        "revoke_reason": p.revoke_reason, "status": text(lang, status), "active": status == "codes.pass.valid",
    })
}

/// The issuance log an issuer may see: passes whose scope lies in their subtree.
async fn visible_passes(ctx: &Ctx, limit: u32) -> Result<Vec<Pass>, AppError> {
    let all = ctx.store.passes(limit).await?;
    Ok(all.into_iter().filter(|p| p.scope.iter().any(|s| ctx.principal.covers(s))).collect())
}

async fn passes_page(ctx: Ctx) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let rows: Vec<_> = visible_passes(&ctx, 500).await?.iter().map(|p| pass_json(p, lang, ctx.now)).collect();
    ctx.audit("passes.read", "route", "/passes", format!("{} passes", rows.len())).await?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600);
    let fmt = |t: DateTime<Utc>| cst.map(|o| t.with_timezone(&o).format("%Y-%m-%dT%H:%M").to_string());
    let extra = json!({
        "passes": rows, "scope_default": ctx.principal.roots.first(),
        "from_default": fmt(ctx.now), "until_default": fmt(ctx.now + Duration::days(7)),
    });
    Ok(render(&ctx, "codes/passes.html", "/passes", extra)?.into_response())
}

#[derive(Deserialize)]
struct PassForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// `person` or `vehicle`.
    holder_kind: String,
    #[serde(default)]
    resident_id: Option<String>,
    /// The holder as typed: a full ID number or a name (used when no resident was picked).
    #[serde(default)]
    holder_q: String,
    #[serde(default)]
    plate: String,
    purpose: String,
    /// Area codes separated by spaces or commas.
    scope: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
}

async fn issue(ctx: &Ctx, f: &PassForm) -> Result<Pass, AppError> {
    let mut scope: Vec<AreaCode> = Vec::new();
    let codes: Vec<&str> =
        f.scope.split(|c: char| c == ',' || c == '，' || c.is_whitespace()).filter(|s| !s.is_empty()).collect();
    // Bounded before any is looked at (the rule itself is the domain's `check`).
    if codes.len() > cordon_domain::pass::MAX_SCOPE_AREAS {
        let max = cordon_domain::pass::MAX_SCOPE_AREAS;
        return Err(field(
            "pass_scope_size",
            "scope",
            &format!("通行范围最多{max}个区域"),
            &format!("a pass opens {max} areas at most"),
        ));
    }
    for s in codes {
        let code = AreaCode::parse(s).map_err(|e| e.on_field("scope"))?;
        // Within the issuer's scope only.
        ctx.authorize(Some(&code)).await?;
        if !scope.contains(&code) {
            scope.push(code);
        }
    }
    let (holder, label) = match f.holder_kind.as_str() {
        "vehicle" => {
            let plate = parse_plate(&f.plate)?;
            (Holder::Vehicle(plate.clone()), plate)
        }
        _ => {
            let id: i64 = match f.resident_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(picked) => picked
                    .parse()
                    .map_err(|_| field("resident_id", "resident_id", "请选择持证人", "choose the holder"))?,
                None => holder_by_search(ctx, &f.holder_q).await?,
            };
            let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
            // The holder lives in the issuer's scope (a refusal is audited and names no
            // one); the store checks it again in the issuing transaction.
            ctx.authorize(Some(&r.unit)).await?;
            (Holder::Person(r.id), r.name.masked())
        }
    };
    let new = NewPass {
        holder,
        holder_label: label,
        purpose: f.purpose.clone(),
        scope,
        valid_from: parse_time(&f.valid_from, "valid_from", ctx.now)?,
        valid_until: parse_time(&f.valid_until, "valid_until", ctx.now + Duration::days(7))?,
        issuer_id: ctx.user.id,
        issuer: ctx.user.username.clone(),
        issued_at: ctx.now,
        issuer_roots: ctx.principal.roots.clone(),
    }
    .check(crate::policy::active_profile(ctx.store.as_ref()).await?.passes.longest_days)?;
    let entry = ctx.entry(
        "pass.issue",
        "pass",
        "",
        format!("{} pass, {} areas, until {}", f.holder_kind, new.scope.len(), new.valid_until.to_rfc3339()),
    );
    Ok(ctx.store.issue_pass(&new, &entry).await?)
}

/// The longest holder search accepted.
const MAX_HOLDER_QUERY: usize = 40;

/// The one resident of the issuer's scope a typed ID number or name names.
async fn holder_by_search(ctx: &Ctx, typed: &str) -> Result<i64, AppError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(field(
            "holder_missing",
            "holder",
            "请填写持证人的身份证号或姓名，并从列表中选择",
            "type the holder's ID number or name and choose them from the list",
        ));
    }
    if typed.chars().count() > MAX_HOLDER_QUERY {
        return Err(field("holder_too_long", "holder", "持证人查询过长", "the holder search is too long"));
    }
    let query = crate::registry::classify_query(typed).map_err(|e| e.on_field("holder"))?;
    let found = ctx.store.search_residents(&ctx.principal.roots, &query, 2).await?;
    ctx.audit("residents.search", "route", "/passes", format!("{} results", found.len())).await?;
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(field(
            "holder_not_found",
            "holder",
            "在您的管辖范围内找不到这位居民",
            "no resident of your area matches",
        )),
        _ => Err(field(
            "holder_ambiguous",
            "holder",
            "有多位居民符合，请填写完整身份证号或从列表中选择",
            "several residents match: type the full ID number or choose from the list",
        )),
    }
}

async fn pass_issue(ctx: Ctx, Form(f): Form<PassForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let p = issue(&ctx, &f).await?;
    Ok(Redirect::to(&format!("/passes/{}", p.id)).into_response())
}

async fn pass_for(ctx: &Ctx, id: i64) -> Result<Pass, AppError> {
    let p = ctx.store.pass(id).await?.ok_or(AppError::NotFound("pass"))?;
    let first = p.scope.first().cloned().ok_or(AppError::NotFound("pass"))?;
    if !p.scope.iter().any(|s| ctx.principal.covers(s)) {
        ctx.authorize(Some(&first)).await?;
    }
    Ok(p)
}

async fn pass_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let p = pass_for(&ctx, id).await?;
    let token = issue_token(ctx.store.as_ref(), SubjectKind::Pass, p.id, ctx.now).await?;
    ctx.audit("pass.read", "pass", &id.to_string(), "").await?;
    let extra = json!({"p": pass_json(&p, ctx.meta.lang, ctx.now), "qr": qr_svg(&token, 220), "token": token});
    Ok(render(&ctx, "codes/pass.html", "/passes", extra)?.into_response())
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(ctx: &Ctx, id: i64, reason: &str) -> Result<Pass, AppError> {
    let p = pass_for(ctx, id).await?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(field("revoke_reason", "reason", "请填写吊销原因", "give a reason for revoking"));
    }
    let entry = ctx.entry("pass.revoke", "pass", &p.id.to_string(), "revoked");
    Ok(ctx.store.revoke_pass(p.id, ctx.now, &ctx.user.username, reason, &entry).await?)
}

async fn pass_revoke(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<RevokeForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    revoke(&ctx, id, &f.reason).await?;
    Ok(Redirect::to(&format!("/passes/{id}")).into_response())
}

fn csv_field(s: &str) -> String {
    // Quote everything; a leading formula character is defused for spreadsheet programs.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn passes_export(ctx: Ctx) -> Result<Response, AppError> {
    let passes = visible_passes(&ctx, 100_000).await?;
    let mut out = String::from(
        "\u{feff}编号 id,持证人 holder,类型 kind,用途 purpose,范围 scope,生效 valid_from,失效 valid_until,签发人 issuer,签发时间 issued_at,吊销时间 revoked_at,吊销人 revoked_by,吊销原因 reason\n",
    );
    for p in &passes {
        let kind = if matches!(p.holder, Holder::Vehicle(_)) { "vehicle" } else { "person" };
        let scope: Vec<&str> = p.scope.iter().map(|s| s.as_str()).collect();
        let row = [
            p.id.to_string(),
            p.holder_label.clone(),
            kind.to_string(),
            p.purpose.clone(),
            scope.join(" "),
            p.valid_from.to_rfc3339(),
            p.valid_until.to_rfc3339(),
            p.issuer.clone(),
            p.issued_at.to_rfc3339(),
            p.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            p.revoked_by.clone().unwrap_or_default(),
            p.revoke_reason.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    ctx.audit("passes.export", "route", "/passes/export.csv", format!("{} passes", passes.len())).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"passes.csv\""),
        ],
        out,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct PassBody {
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

#[utoipa::path(post, path = "/api/v1/passes", operation_id = "pass_issue", request_body = PassBody,
    responses((status = 201, description = "the pass with its token"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn pass_issue_api(ctx: Ctx, Json(b): Json<PassBody>) -> Result<Response, AppError> {
    let f = PassForm {
        csrf: String::new(),
        holder_kind: b.holder_kind,
        resident_id: b.resident_id.map(|i| i.to_string()),
        holder_q: String::new(),
        plate: b.plate,
        purpose: b.purpose,
        scope: b.scope.join(" "),
        valid_from: b.valid_from.unwrap_or_default(),
        valid_until: b.valid_until.unwrap_or_default(),
    };
    let p = issue(&ctx, &f).await?;
    let token = issue_token(ctx.store.as_ref(), cordon_domain::token::SubjectKind::Pass, p.id, ctx.now).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({"pass": p, "token": token}))).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct RevokeBody {
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/passes/{id}/revoke", operation_id = "pass_revoke", params(("id" = i64, Path)), request_body = RevokeBody,
    responses((status = 200, description = "revoked"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn pass_revoke_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(b): Json<RevokeBody>,
) -> Result<Response, AppError> {
    let p = revoke(&ctx, id, &b.reason).await?;
    Ok(Json(json!(p)).into_response())
}
