//! Home quarantine follow-up (居家隔离/居家健康监测随访), for the community or grid worker's
//! phone: everyone in home quarantine or home health monitoring in the caller's area, who
//! still needs today's health checks and which door tests are due, and one form per person
//! that records temperature and symptoms in one action. A refused check comes back on the
//! same page, next to the person, with what was typed.

use super::{act, roots_label, view};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::containment::Refusal;
use cordon_domain::containment::quarantine::{
    HealthCheck, NewHealthCheck, Order, OrderState, Symptom, check_health_check, parse_temperature,
};
use cordon_domain::error::FieldError;
use cordon_store::containment::{HomeLine, OrderQuery};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/followup", Action::FollowHome, home_page),
        Route::post("/followup/orders/{id}/checks", Action::FollowHome, check_form),
        Route::get("/api/v1/followup", Action::FollowHome, home_api),
        Route::post("/api/v1/followup/orders/{id}/checks", Action::FollowHome, check_api),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.followup", "居家随访", "Home follow-up"),
    ("followup.title", "居家隔离随访", "Home quarantine follow-up"),
    ("followup.print_notices", "打印本辖区居家隔离告知书", "Print the home quarantine notices of this area"),
    (
        "followup.none",
        "辖区内暂无居家隔离或居家健康监测人员",
        "Nobody in home quarantine or home monitoring in your area",
    ),
    ("followup.summary", "人，今日待测体温", "people; health checks still due today:"),
    ("followup.day", "第{n}天/共{m}天", "day {n} of {m}"),
    ("followup.checks_today", "今日体温", "Checks today"),
    ("followup.last_check", "上次", "Last"),
    ("followup.tests_due", "待上门采样", "Door test due"),
    ("followup.test_day", "第{n}天", "day {n}"),
    ("followup.release_ready", "可解除", "Ready for release"),
    ("followup.release_due", "预计解除", "Release due"),
    ("followup.temperature", "体温（℃）", "Temperature (°C)"),
    ("followup.symptoms", "症状", "Symptoms"),
    ("followup.note", "备注", "Note"),
    ("followup.record", "记录健康监测", "Record the check"),
    ("followup.saved", "已记录健康监测", "Health check recorded"),
    ("followup.alarm", "发热或有症状，请立即上报", "Fever or symptoms: report at once"),
    ("followup.check_due", "待测", "due"),
    ("followup.check_done", "已完成", "done"),
    ("field.symptoms", "症状", "symptoms"),
];

#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<i64>,
}

/// A check the server refused, to show again next to its person.
struct Refused {
    order_id: i64,
    temperature: String,
    symptoms: Vec<String>,
    note: String,
    error: FieldError,
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    r
}

/// Home lines under the caller's roots, checks still due first; the read audited.
async fn lines(ctx: &Ctx) -> Result<Vec<HomeLine>, AppError> {
    let view = view(ctx).await?;
    let mut lines = ctx.store.home_list(&ctx.principal.roots, &view).await?;
    lines.sort_by_key(|l| (l.checks_today >= l.checks_expected, l.tests_due.is_empty(), l.order.id));
    ctx.audit("followup.read", "area", &roots_label(ctx), format!("{} people", lines.len())).await?;
    Ok(lines)
}

fn day_of(o: &Order, today: chrono::NaiveDate) -> (i64, i64) {
    let s = &o.schedule;
    ((today - s.last_exposure).num_days(), (s.end - s.last_exposure).num_days())
}

fn line_json(
    ctx: &Ctx,
    l: &HomeLine,
    names: &HashMap<AreaCode, String>,
    refused: Option<&Refused>,
) -> serde_json::Value {
    let lang = ctx.meta.lang;
    let o = &l.order;
    let today = ctx.tz.today(ctx.now);
    let (n, m) = day_of(o, today);
    let day = text(lang, "followup.day").replace("{n}", &n.to_string()).replace("{m}", &m.to_string());
    let unit = o.person.unit.as_ref().map(|u| names.get(u).cloned().unwrap_or_else(|| u.to_string()));
    let tests: Vec<_> = l
        .tests_due
        .iter()
        .map(|t| {
            json!({"day": t.day, "date": t.date.to_string(), "status": lang.pick(t.status.zh(), t.status.en()),
                   "label": text(lang, "followup.test_day").replace("{n}", &t.day.to_string())})
        })
        .collect();
    let last = l.last_check.as_ref().map(|c| {
        json!({"temperature": format!("{:.1}", f64::from(c.check.temperature)), "alarm": c.check.alarm,
               "at": ctx.tz.local(c.check.at).format("%m-%d %H:%M").to_string(), "by": c.check.by})
    });
    let symptoms: Vec<_> = Symptom::ALL
        .iter()
        .map(|s| {
            json!({"code": s.as_str(), "label": lang.pick(s.zh(), s.en()),
                   "checked": refused.is_some_and(|r| r.symptoms.iter().any(|x| x == s.as_str()))})
        })
        .collect();
    json!({
        "id": o.id, "name": o.person.name.masked(), "phone": o.person.phone.as_ref().map(|p| p.masked()),
        "unit": unit.unwrap_or_else(|| o.person.address.clone()),
        "category": lang.pick(o.category.zh(), o.category.en()), "state": o.state.as_str(),
        "state_label": lang.pick(o.state.zh(), o.state.en()), "day": day,
        "checks_today": l.checks_today, "checks_expected": l.checks_expected,
        "check_due": l.checks_today < l.checks_expected, "tests_due": tests, "last_check": last,
        "release_ready": l.release.is_ok(), "release_due": o.release_due().to_string(),
        "symptoms": symptoms,
        "refused": refused.map(|r| json!({"message": lang.pick(&r.error.zh, &r.error.en),
                                           "other": lang.pick(&r.error.en, &r.error.zh), "code": r.error.code,
                                           "field": r.error.field, "temperature": r.temperature, "note": r.note})),
    })
}

async fn page(ctx: &Ctx, saved: Option<i64>, refused: Option<Refused>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let lines = lines(ctx).await?;
    let units: Vec<AreaCode> = lines.iter().filter_map(|l| l.order.person.unit.clone()).collect();
    let names = crate::common::area_names(ctx.store.as_ref(), &units).await?;
    let refused_ref = refused.as_ref();
    let people: Vec<_> =
        lines.iter().map(|l| line_json(ctx, l, &names, refused_ref.filter(|r| r.order_id == l.order.id))).collect();
    // A refusal about someone the page does not list (closed meanwhile, out of the area).
    let page_error = refused_ref.filter(|r| !lines.iter().any(|l| l.order.id == r.order_id)).map(|r| {
        json!({"message": lang.pick(&r.error.zh, &r.error.en), "other": lang.pick(&r.error.en, &r.error.zh),
                        "code": r.error.code})
    });
    let due = lines.iter().filter(|l| l.checks_today < l.checks_expected).count();
    let html = render(
        ctx,
        "followup/home.html",
        "/followup",
        json!({"people": people, "count": lines.len(), "due": due, "page_error": page_error,
               "flash": saved.map(|_| text(lang, "followup.saved"))}),
    )?;
    let status = if refused.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(no_store((status, html).into_response()))
}

async fn home_page(ctx: Ctx, Query(q): Query<SavedQuery>) -> Result<Response, AppError> {
    page(&ctx, q.saved, None).await
}

#[utoipa::path(get, path = "/api/v1/followup",
    responses((status = 200, description = "people in home quarantine or home health monitoring in the caller's area (names and phones masked), with today's health checks and door tests due"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn home_api(ctx: Ctx) -> Result<Response, AppError> {
    let lines = lines(&ctx).await?;
    let today = ctx.tz.today(ctx.now);
    let out: Vec<_> = lines
        .iter()
        .map(|l| {
            let o = &l.order;
            let (day, days) = day_of(o, today);
            json!({
                "order_id": o.id, "name_masked": o.person.name.masked(),
                "phone_masked": o.person.phone.as_ref().map(|p| p.masked()), "unit": o.person.unit,
                "category": o.category, "state": o.state, "day": day, "days": days,
                "checks_today": l.checks_today, "checks_expected": l.checks_expected,
                "tests_due": l.tests_due.iter().map(|t| json!({"day": t.day, "date": t.date, "status": t.status})).collect::<Vec<_>>(),
                "last_check": l.last_check.as_ref().map(|c| json!({"at": c.check.at, "temperature": f64::from(c.check.temperature), "alarm": c.check.alarm})),
                "release_due": o.release_due(), "release_ready": l.release.is_ok(),
            })
        })
        .collect();
    Ok(no_store(Json(json!(out)).into_response()))
}

// ---- recording a check ----------------------------------------------------------------------

/// A health check as typed: temperature, symptom codes, note.
struct Typed {
    temperature: String,
    symptoms: Vec<String>,
    note: String,
}

/// The order, if the caller may follow it up: in their area, and at home (a person at a
/// site is checked by the site's staff).
async fn followed_order(ctx: &Ctx, id: i64) -> Result<Order, AppError> {
    let order = ctx.store.orders(OrderQuery::ids(vec![id])).await?.into_iter().find(|o| o.id == id);
    let order = order.ok_or(AppError::Field(Refusal::OrderUnknown.error()))?;
    match &order.person.unit {
        Some(unit) => ctx.authorize(Some(unit)).await?,
        // Someone not on the register: only the district's roles follow them up.
        None if ctx.principal.roots.iter().any(|r| r.level() == AreaLevel::District) => ctx.authorize(None).await?,
        None => return Err(ctx.refuse_scope(&format!("order {id}")).await),
    }
    if order.centralised() && order.state != OrderState::HomeMonitoring {
        return Err(AppError::Field(FieldError::new(
            "followup_not_home",
            "order",
            "此人在集中隔离点，健康监测由隔离点记录",
            "this person is at a quarantine site: the site's staff record the checks",
        )));
    }
    Ok(order)
}

/// Checks the typed input (bounded, parsed) and records it: one write, audited.
async fn record(ctx: &Ctx, id: i64, t: &Typed) -> Result<HealthCheck, AppError> {
    let order = followed_order(ctx, id).await?;
    check_health_check(&order).map_err(AppError::Field)?;
    if t.temperature.chars().count() > 8 {
        return Err(AppError::Field(Refusal::Temperature.error()));
    }
    let temperature = parse_temperature(&t.temperature).map_err(AppError::Field)?;
    if t.symptoms.len() > Symptom::ALL.len() {
        return Err(AppError::Field(unknown_symptom()));
    }
    let symptoms: Vec<Symptom> =
        t.symptoms.iter().map(|s| Symptom::parse(s).ok_or_else(unknown_symptom)).collect::<Result<_, _>>()?;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let act = act(ctx, "health.check", "order", &id.to_string(), "home".to_string()).await?;
    let check =
        NewHealthCheck::new(id, temperature, &symptoms, &t.note, &profile, Some(ctx.user.id), &act.user, ctx.now)?;
    ctx.store.record_health_check(check, act).await?.map_err(|r| AppError::Field(r.error))
}

fn unknown_symptom() -> FieldError {
    FieldError::new("symptom_unknown", "symptoms", "无法识别的症状", "unknown symptom")
}

async fn check_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    ctx.check_csrf(&get("_csrf"))?;
    let typed = Typed {
        temperature: get("temperature"),
        symptoms: form.iter().filter(|(n, _)| n == "symptom").map(|(_, v)| v.clone()).collect(),
        note: get("note"),
    };
    match record(&ctx, id, &typed).await {
        Ok(_) => Ok(no_store(Redirect::to(&format!("/followup?saved={id}")).into_response())),
        Err(AppError::Field(error)) => {
            let Typed { temperature, symptoms, note } = typed;
            let temperature = temperature.chars().take(8).collect();
            let note = note.chars().take(200).collect();
            page(&ctx, None, Some(Refused { order_id: id, temperature, symptoms, note, error })).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CheckBody {
    /// Degrees Celsius, 34.0 to 43.0 (`36.8`).
    temperature: serde_json::Value,
    /// Symptom codes: cough, sore_throat, fatigue, smell_taste, diarrhoea, short_breath, other.
    #[serde(default)]
    symptoms: Vec<String>,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/api/v1/followup/orders/{id}/checks", request_body = CheckBody,
    params(("id" = i64, Path, description = "the quarantine order")),
    responses((status = 201, description = "the health check recorded (alarm: fever by the profile's threshold, or a symptom)"),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn check_api(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<CheckBody>) -> Result<Response, AppError> {
    let temperature = match &b.temperature {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let typed = Typed { temperature, symptoms: b.symptoms, note: b.note };
    let c = record(&ctx, id, &typed).await?;
    Ok(no_store((StatusCode::CREATED, Json(json!(c))).into_response()))
}
