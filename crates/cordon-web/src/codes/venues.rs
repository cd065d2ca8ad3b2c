//! Venues (场所码): the list and creating one, a venue's page with its QR and visits,
//! check-ins of a scanned resident code (page and API), and the visits API.

use super::{area_name, local, parse_time, qr_svg, verify_token};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::token::SubjectKind;
use cordon_store::codes::{NewVenue, VenueKind};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/venues", Action::VenueCheckin, venues_page),
        Route::post("/venues", Action::ManageCheckpoints, venue_create),
        Route::get("/venues/{id}", Action::VenueCheckin, venue_page),
        Route::post("/venues/{id}/checkins", Action::VenueCheckin, venue_checkin),
        Route::post("/api/v1/venues/{id}/checkins", Action::VenueCheckin, checkin_api),
        Route::get("/api/v1/venues/{id}/visits", Action::VenueCheckin, visits),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.codes.venues", "场所码", "Venues"),
    ("codes.venue.title", "场所码", "Venues"),
    ("codes.venue.name", "场所名称", "Name"),
    ("codes.venue.kind", "类型", "Kind"),
    ("codes.venue.area", "所在区域编码", "Area code"),
    ("codes.venue.create", "新建场所", "New venue"),
    ("codes.venue.checkin", "扫码登记", "Check in (scan a resident's code)"),
    ("codes.venue.checked_in", "已登记", "Checked in"),
    ("codes.venue.visits", "到访记录", "Visits"),
    ("codes.venue.from", "自", "From"),
    ("codes.venue.to", "至", "To"),
    ("codes.venue.query", "查询", "Query"),
    ("codes.venue.none", "暂无场所", "No venues"),
];

async fn venues_page(ctx: Ctx) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let mut rows = Vec::new();
    for v in ctx.store.venues_under(&ctx.principal.roots).await? {
        rows.push(json!({"id": v.id, "name": v.name, "kind": lang.pick(v.kind.zh(), v.kind.en()), "area_name": area_name(&ctx, &v.area).await?}));
    }
    let kinds: Vec<_> =
        VenueKind::ALL.iter().map(|k| json!({"value": k.as_str(), "label": lang.pick(k.zh(), k.en())})).collect();
    let extra =
        json!({"venues": rows, "kinds": kinds, "can_manage": Action::ManageCheckpoints.allowed(ctx.principal.role)});
    Ok(render(&ctx, "codes/venues.html", "/venues", extra)?.into_response())
}

#[derive(Deserialize)]
struct VenueForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    kind: String,
    area_code: String,
}

async fn venue_create(ctx: Ctx, Form(f): Form<VenueForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area_code)?;
    ctx.authorize(Some(&area)).await?;
    if ctx.store.area(&area).await?.is_none() {
        return Err(AppError::NotFound("area"));
    }
    let new = NewVenue::new(&f.name, VenueKind::parse(&f.kind)?, area.clone(), ctx.now)?;
    let entry = ctx.entry("venue.create", "area", area.as_str(), new.name.clone());
    let v = ctx.store.create_venue(&new, &entry).await?;
    Ok(Redirect::to(&format!("/venues/{}", v.id)).into_response())
}

/// The content of a venue's own QR (场所码): the district and the venue id.
fn venue_code(district: &str, id: i64) -> String {
    format!("CORDON-VENUE:{district}:{id}")
}

#[derive(Deserialize, Default)]
struct VisitsQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    result: String,
}

async fn venue_for(ctx: &Ctx, id: i64) -> Result<cordon_store::codes::Venue, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(Some(&v.area)).await?;
    Ok(v)
}

async fn venue_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<VisitsQuery>) -> Result<Response, AppError> {
    let v = venue_for(&ctx, id).await?;
    let lang = ctx.meta.lang;
    let from = parse_time(&q.from, "from", ctx.now - Duration::days(1))?;
    let to = parse_time(&q.to, "to", ctx.now + Duration::minutes(1))?;
    let mut visits = Vec::new();
    for c in ctx.store.venue_visits(v.id, from, to).await? {
        let name = ctx.store.resident(c.resident_id).await?.map(|r| r.name.masked());
        visits.push(json!({"at": local(c.at), "resident_id": c.resident_id, "name": name}));
    }
    ctx.audit("venue.visits.read", "venue", &v.id.to_string(), format!("{} visits", visits.len())).await?;
    let district = v.area.lineage().first().map(|d| d.to_string()).unwrap_or_default();
    let extra = json!({
        "v": {"id": v.id, "name": v.name, "kind": lang.pick(v.kind.zh(), v.kind.en()), "area_name": area_name(&ctx, &v.area).await?},
        "qr": qr_svg(&venue_code(&district, v.id), 200), "visits": visits,
        "from": local(from).replace(' ', "T"), "to": local(to).replace(' ', "T"),
        "result": if q.result.is_empty() { None } else { Some(q.result) },
    });
    Ok(render(&ctx, "codes/venue.html", "/venues", extra)?.into_response())
}

/// Records a check-in of a scanned resident token; refusals are reported, not errors.
async fn checkin(
    ctx: &Ctx,
    v: &cordon_store::codes::Venue,
    token: &str,
) -> Result<Result<i64, (String, String, String)>, AppError> {
    match verify_token(ctx.store.as_ref(), token, ctx.now).await? {
        Err(e) => Ok(Err((e.code().into(), e.zh().into(), e.en().into()))),
        Ok(c) if c.kind != SubjectKind::Person => {
            Ok(Err(("token_not_person".into(), "请扫描居民的健康码".into(), "scan a resident's health code".into())))
        }
        Ok(c) => {
            if ctx.store.resident(c.subject).await?.is_none() {
                return Ok(Err((
                    "token_unknown_person".into(),
                    "码对应的居民不在名册中".into(),
                    "the code's person is not on the register".into(),
                )));
            }
            // Someone whose reason keeps them at home (home control, quarantine, a positive
            // pool, a locked-down zone…) does not check in: they are sent home, in the
            // profile's words.
            let today = ctx.tz.today(ctx.now);
            if let Some(state) = ctx.store.person_state(c.subject, ctx.now, today).await? {
                let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
                let (_, reasons) = cordon_domain::colour::colour(&state, &profile, ctx.now);
                if let Some((key, i)) = cordon_domain::colour::instruction(&state, &reasons, &profile, None)
                    && i.stay_home
                {
                    tracing::info!(venue = v.id, reason = %key, "check-in refused");
                    return Ok(Err((
                        "checkin_stay_home".into(),
                        format!("禁止进入，未登记。{}", i.zh),
                        format!("Not admitted, not checked in. {}", i.en),
                    )));
                }
            }
            let ci = ctx.store.record_checkin(v.id, c.subject, ctx.now).await?;
            Ok(Ok(ci.resident_id))
        }
    }
}

#[derive(Deserialize)]
struct CheckinForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    token: String,
}

async fn venue_checkin(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<CheckinForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let v = venue_for(&ctx, id).await?;
    let lang = ctx.meta.lang;
    let msg = match checkin(&ctx, &v, &f.token).await? {
        Ok(_) => text(lang, "codes.venue.checked_in"),
        Err((_, zh, en)) => lang.pick(&zh, &en).to_string(),
    };
    Ok(Redirect::to(&format!("/venues/{id}?result={}", crate::urlencode(&msg))).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CheckinBody {
    token: String,
}

#[utoipa::path(post, path = "/api/v1/venues/{id}/checkins", operation_id = "checkin", params(("id" = i64, Path)), request_body = CheckinBody,
    responses((status = 200, description = "the check-in, with the code's colour"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn checkin_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(b): Json<CheckinBody>,
) -> Result<Response, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(Some(&v.area)).await?;
    Ok(match checkin(&ctx, &v, &b.token).await? {
        Ok(resident_id) => Json(json!({"ok": true, "resident_id": resident_id})).into_response(),
        Err((code, zh, en)) => {
            Json(json!({"ok": false, "code": code, "message_zh": zh, "message_en": en})).into_response()
        }
    })
}

#[derive(Deserialize)]
pub(super) struct VisitsRange {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/venues/{id}/visits", params(("id" = i64, Path), ("from" = String, Query, format = DateTime), ("to" = String, Query, format = DateTime)),
    responses((status = 200, description = "who checked in at the venue between `from` and `to`"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn visits(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<VisitsRange>) -> Result<Response, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(Some(&v.area)).await?;
    let visits = ctx.store.venue_visits(v.id, q.from, q.to).await?;
    ctx.audit("venue.visits.read", "venue", &v.id.to_string(), format!("{} visits", visits.len())).await?;
    Ok(Json(json!({"venue_id": v.id, "visits": visits})).into_response())
}
