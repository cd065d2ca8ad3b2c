//! Zones on the policy's clock, for the commander: the zones new cases propose (accept,
//! widen or narrow in one action, or reject), the forecast of the clock's next run, each
//! zone's clock (day n of m, what it waits for), lifting a zone with a reason, the
//! history of decisions and steps, and the runs of the clock job — on the zones page and
//! in the API.
//!
//! Every rule is the store's (`ContainmentStore`): this module parses, authorizes, names
//! areas and renders. Times are shown in the district's time zone (`ctx.tz`).

use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Lang, Message};
use crate::routes::Route;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::containment::Refusal;
use cordon_domain::containment::zoneclock::{self, Forecast, Outlook, ZoneDecision, ZoneProposal};
use cordon_domain::error::FieldError;
use cordon_domain::zone::ZoneLevel;
use cordon_store::containment::{Act, Keys, ProposalQuery, View, ZoneEvent, ZoneEventKind, ZoneQuery, ZoneRunRecord};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/zones/proposals/{id}/decide", Action::ManageZones, decide_form),
        Route::post("/zones/{id}/lift", Action::ManageZones, lift_form),
        Route::get("/api/v1/zones/proposals", Action::ManageZones, proposals_api),
        Route::post("/api/v1/zones/proposals/{id}/decision", Action::ManageZones, decision_api),
        Route::get("/api/v1/zones/forecast", Action::ManageZones, forecast_api),
        Route::post("/api/v1/zones/{id}/lift", Action::ManageZones, lift_api),
        Route::get("/api/v1/zones/history", Action::ManageZones, history_api),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("zoneclock.proposals", "待研判的风险区建议", "Zones proposed by new cases"),
    ("zoneclock.proposals_none", "暂无待研判的建议", "No proposal waiting"),
    ("zoneclock.case_home", "病例住址", "Case's home"),
    ("zoneclock.proposed_at", "建议时间", "Proposed"),
    ("zoneclock.accept", "采纳", "Accept"),
    ("zoneclock.widen", "扩大至", "Widen to"),
    ("zoneclock.narrow", "缩小至", "Narrow to"),
    ("zoneclock.reject", "不采纳", "Reject"),
    ("zoneclock.decided", "已处理风险区建议，居民码色即时生效", "Proposal decided; residents' codes follow at once"),
    ("zoneclock.forecast", "下次自动降级预测", "Forecast of the clock's next run"),
    ("zoneclock.clock", "风险区计时", "Zones on the clock"),
    ("zoneclock.day_of", "计时", "Clock"),
    ("zoneclock.next", "降为", "Steps to"),
    ("zoneclock.outlook", "下次运行", "At the next run"),
    ("zoneclock.due", "预计降级日期", "Due"),
    ("zoneclock.lift", "解除", "Lift"),
    ("zoneclock.lift_reason", "解除理由", "Reason to lift"),
    ("zoneclock.lifted", "风险区已解除", "Zone lifted"),
    ("zoneclock.history", "研判与降级记录", "Decisions and steps"),
    ("zoneclock.when", "时间", "When"),
    ("zoneclock.what", "事项", "What"),
    ("zoneclock.change", "等级变化", "Change"),
    ("zoneclock.note", "说明", "Note"),
    ("zoneclock.runs", "自动降级运行记录", "Runs of the zone clock"),
    ("zoneclock.run_date", "运行日期", "Day"),
    ("zoneclock.applied_at", "执行时间", "Applied"),
    ("zoneclock.steps", "降级", "Stepped"),
    ("zoneclock.held", "待核酸", "Held"),
    ("zoneclock.profile", "防控策略", "Policy"),
    ("zoneclock.runs_none", "尚未运行", "Not run yet"),
    ("zoneclock.history_none", "暂无记录", "Nothing yet"),
    ("field.decision", "研判结果", "decision"),
    ("field.proposal", "风险区建议", "zone proposal"),
    ("field.zone", "风险区", "zone"),
];

// ---- shared with the zones page ------------------------------------------------------------

/// The action of the request as a containment write: now, the district's time zone, the
/// active profile, the audit entry.
pub(super) async fn act(ctx: &Ctx, action: &str, kind: &str, target: &str, detail: String) -> Result<Act, AppError> {
    Ok(Act {
        at: ctx.now,
        tz: ctx.tz.clone(),
        user_id: Some(ctx.user.id),
        user: ctx.user.username.clone(),
        profile: crate::policy::active_profile(ctx.store.as_ref()).await?,
        audit: ctx.entry(action, kind, target, detail),
    })
}

async fn view(ctx: &Ctx) -> Result<View, AppError> {
    Ok(View { at: ctx.now, tz: ctx.tz.clone(), profile: crate::policy::active_profile(ctx.store.as_ref()).await? })
}

fn name_of(names: &HashMap<AreaCode, String>, c: &AreaCode) -> String {
    names.get(c).cloned().unwrap_or_else(|| c.to_string())
}

/// The date of the clock's next run after now, and whether it is today.
fn next_run(ctx: &Ctx, view: &View) -> (NaiveDate, bool) {
    let due = zoneclock::due_date(&view.profile, ctx.now, view.offset());
    let next = due.succ_opt().unwrap_or(due);
    (next, next == view.today())
}

fn pick(lang: Lang, zh: String, en: String) -> String {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

fn outlook_text(lang: Lang, o: &zoneclock::ZoneOutlook, when: (&str, &str)) -> String {
    let next = o.next.map_or(("", ""), |l| (l.zh(), l.en()));
    match &o.outlook {
        Outlook::Steps => pick(lang, format!("{}降为{}", when.0, next.0), format!("steps to {} {}", next.1, when.1)),
        Outlook::AwaitsRound => pick(
            lang,
            format!("已满{}天，待最后一天全员核酸阴性", o.needed),
            format!("{} days done, waiting for an all-negative round on the last day", o.needed),
        ),
        Outlook::ResetByCase { case_date, zone_day } => pick(
            lang,
            format!("第{zone_day}天（{case_date}）新增感染者，重新计时"),
            format!("clock restarted by a case on day {zone_day} ({case_date})"),
        ),
        Outlook::Waiting => {
            let due = o.due.map(|d| d.to_string()).unwrap_or_default();
            pick(
                lang,
                format!("连续{}天无新增后于{due}降为{}", o.needed, next.0),
                format!("steps to {} on {due} after {} clear days", next.1, o.needed),
            )
        }
        Outlook::NoClock => lang.pick("不自动降级", "no clock").to_string(),
    }
}

/// What the zones page shows the commander: proposals, the forecast with each zone's
/// clock, the history and the runs.
pub(super) async fn commander_board(ctx: &Ctx) -> Result<serde_json::Value, AppError> {
    let lang = ctx.meta.lang;
    let roots = ctx.principal.roots.clone();
    let view = view(ctx).await?;
    let (date, today) = next_run(ctx, &view);
    let forecast = ctx.store.zone_forecast(&roots, date, &view).await?;
    let proposals = ctx.store.zone_proposals(&roots, true, 50).await?;
    let history = ctx.store.zone_history(&roots, 50).await?;
    let runs = ctx.store.zone_runs(14).await?;
    let mut codes: Vec<AreaCode> = Vec::new();
    codes.extend(forecast.zones.iter().map(|z| z.zone.area.clone()));
    codes.extend(history.iter().map(|e| e.area.clone()));
    for p in &proposals {
        codes.extend(p.proposed.case_unit.lineage().into_iter().filter(|a| a.level() >= AreaLevel::Community));
    }
    let names = crate::common::area_names(ctx.store.as_ref(), &codes).await?;
    let when = if today { ("今日", "today") } else { ("明日", "tomorrow") };
    let (sum_zh, sum_en) = forecast.summary(when.0, when.1, view.offset());
    let time = ctx.tz.local(forecast.at).format("%H:%M").to_string();
    let when_at = (format!("{}{time}", when.0), format!("{} at {time}", when.1));
    let zones: Vec<_> = forecast
        .zones
        .iter()
        .map(|o| {
            json!({
                "id": o.zone.id, "area": o.zone.area, "name": name_of(&names, &o.zone.area),
                "level": o.zone.level.as_str(), "level_label": lang.pick(o.zone.level.zh(), o.zone.level.en()),
                "next_label": o.next.map(|l| lang.pick(l.zh(), l.en()).to_string()),
                "clear_days": o.clear_days, "needed": o.needed, "due": o.due.map(|d| d.to_string()),
                "outlook": outlook_kind(&o.outlook), "outlook_text": outlook_text(lang, o, (&when_at.0, &when_at.1)),
                "starts_at": local(ctx, o.zone.starts_at), "reason": o.zone.reason, "by": o.zone.designated_by,
            })
        })
        .collect();
    let proposals: Vec<_> = proposals.iter().map(|p| proposal_json(ctx, p, &names)).collect();
    let history: Vec<_> = history.iter().map(|e| event_json(ctx, e, &names)).collect();
    let runs: Vec<_> = runs.iter().map(|r| run_json(ctx, r)).collect();
    Ok(json!({
        "summary": lang.pick(&sum_zh, &sum_en), "forecast_date": date.to_string(),
        "zones": zones, "proposals": proposals, "history": history, "runs": runs,
        "steps": forecast.steps, "reset_by_case": forecast.reset_by_case, "awaiting_round": forecast.awaiting_round,
    }))
}

fn local(ctx: &Ctx, t: DateTime<Utc>) -> String {
    ctx.tz.local(t).format("%Y-%m-%d %H:%M").to_string()
}

fn outlook_kind(o: &Outlook) -> &'static str {
    match o {
        Outlook::Steps => "steps",
        Outlook::AwaitsRound => "awaits_round",
        Outlook::ResetByCase { .. } => "reset_by_case",
        Outlook::Waiting => "waiting",
        Outlook::NoClock => "no_clock",
    }
}

fn proposal_json(ctx: &Ctx, p: &ZoneProposal, names: &HashMap<AreaCode, String>) -> serde_json::Value {
    let lang = ctx.meta.lang;
    let area = &p.proposed.area;
    let option = |c: &AreaCode| json!({"code": c, "name": name_of(names, c)});
    // Widen to an area holding the proposed one (community at most); narrow to an area
    // inside it that still holds the case's home.
    let widen: Vec<_> =
        area.lineage().iter().filter(|a| a.level() >= AreaLevel::Community && *a != area).rev().map(option).collect();
    let narrow: Vec<_> =
        p.proposed.case_unit.lineage().iter().filter(|a| area.contains(a) && *a != area).map(option).collect();
    json!({
        "id": p.id, "area": area, "name": name_of(names, area), "level": p.proposed.level.as_str(),
        "level_label": lang.pick(p.proposed.level.zh(), p.proposed.level.en()), "reason": p.proposed.reason,
        "case_id": p.proposed.case_id, "case_home": name_of(names, &p.proposed.case_unit),
        "proposed_at": local(ctx, p.proposed.proposed_at), "widen": widen, "narrow": narrow,
    })
}

fn event_word(kind: ZoneEventKind) -> (&'static str, &'static str) {
    match kind {
        ZoneEventKind::Accepted => ("采纳建议划定", "proposal accepted"),
        ZoneEventKind::Widened => ("扩大范围划定", "proposal widened"),
        ZoneEventKind::Narrowed => ("缩小范围划定", "proposal narrowed"),
        ZoneEventKind::Rejected => ("不采纳建议", "proposal rejected"),
        ZoneEventKind::Ordered => ("指挥部划定", "designated by the commander"),
        ZoneEventKind::Stepped => ("到期自动降级", "stepped down on the clock"),
        ZoneEventKind::Lifted => ("解除", "lifted"),
    }
}

fn level_label(lang: Lang, l: Option<ZoneLevel>) -> String {
    l.map_or_else(|| "—".to_string(), |l| lang.pick(l.zh(), l.en()).to_string())
}

fn event_json(ctx: &Ctx, e: &ZoneEvent, names: &HashMap<AreaCode, String>) -> serde_json::Value {
    let lang = ctx.meta.lang;
    let (zh, en) = event_word(e.kind);
    json!({
        "kind": e.kind.as_str(), "what": lang.pick(zh, en), "area": e.area, "name": name_of(names, &e.area),
        "from": level_label(lang, e.from_level), "to": level_label(lang, e.to_level),
        "at": local(ctx, e.at), "by": e.by, "note": e.note,
    })
}

fn run_json(ctx: &Ctx, r: &ZoneRunRecord) -> serde_json::Value {
    json!({
        "date": r.date.to_string(), "at": local(ctx, r.at), "applied_at": local(ctx, r.applied_at),
        "steps": r.steps, "held": r.held, "by": r.by, "profile": r.profile,
    })
}

// ---- decisions ------------------------------------------------------------------------------

fn bad_decision() -> AppError {
    AppError::Field(FieldError::new(
        "zone_decision",
        "decision",
        "请选择研判结果：采纳、扩大、缩小或不采纳",
        "choose a decision: accept, widen, narrow or reject",
    ))
}

fn decision_area(s: &str) -> Result<AreaCode, AppError> {
    if s.trim().is_empty() {
        return Err(AppError::Field(FieldError::new(
            "zone_decision_area",
            "area_code",
            "扩大或缩小时请选择区域",
            "choose the area to widen or narrow to",
        )));
    }
    if s.len() > 32 {
        return Err(AppError::Field(Refusal::ZoneAreaUnknown.error()));
    }
    Ok(AreaCode::parse(s.trim())?)
}

async fn proposal(ctx: &Ctx, id: i64) -> Result<ZoneProposal, AppError> {
    let keys = Keys { proposals: Some(ProposalQuery::Ids(vec![id])), ..Keys::default() };
    let found = ctx.store.containment_facts(&keys).await?.proposals.into_iter().find(|p| p.id == id);
    found.ok_or(AppError::Field(Refusal::ProposalUnknown.error()))
}

/// One decision on a proposal: parsed, authorized on the proposal's area and on the area
/// it designates, written by the store (which checks it against the area tree and the
/// profile).
async fn decide(ctx: &Ctx, id: i64, decision: &str, area: &str) -> Result<ZoneProposal, AppError> {
    let decision = match decision.trim() {
        "accept" => ZoneDecision::Accept,
        "widen" => ZoneDecision::Widen(decision_area(area)?),
        "narrow" => ZoneDecision::Narrow(decision_area(area)?),
        "reject" => ZoneDecision::Reject,
        _ => return Err(bad_decision()),
    };
    let p = proposal(ctx, id).await?;
    ctx.authorize(Some(&p.proposed.area)).await?;
    if let Some(a) = decision.area(&p) {
        ctx.authorize(Some(a)).await?;
    }
    let detail = match decision.area(&p) {
        Some(a) => format!("{} {} {}", decision.status().as_str(), p.proposed.level.as_str(), a),
        None => decision.status().as_str().to_string(),
    };
    let act = act(ctx, "zone.decide", "zone_proposal", &id.to_string(), detail).await?;
    ctx.store.decide_zone_proposal(id, decision, act).await?.map_err(|r| AppError::Field(r.error))
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    widen_area: String,
    #[serde(default)]
    narrow_area: String,
}

async fn decide_form(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<DecideForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = if f.decision == "widen" { &f.widen_area } else { &f.narrow_area };
    decide(&ctx, id, &f.decision, area).await?;
    Ok(Redirect::to("/zones?decided=1").into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct DecisionBody {
    /// `accept`, `widen`, `narrow` or `reject`.
    decision: String,
    /// The area to widen or narrow to.
    #[serde(default)]
    area_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/zones/proposals/{id}/decision", request_body = DecisionBody,
    params(("id" = i64, Path, description = "the proposal")),
    responses((status = 200, description = "the proposal as decided, with the zone it designated"),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn decision_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(b): Json<DecisionBody>,
) -> Result<Response, AppError> {
    let p = decide(&ctx, id, &b.decision, b.area_code.as_deref().unwrap_or("")).await?;
    Ok(Json(json!(p)).into_response())
}

#[utoipa::path(get, path = "/api/v1/zones/proposals",
    responses((status = 200, description = "zones proposed by new cases and not decided yet, newest first"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn proposals_api(ctx: Ctx) -> Result<Response, AppError> {
    let proposals = ctx.store.zone_proposals(&ctx.principal.roots, true, 500).await?;
    Ok(Json(json!(proposals)).into_response())
}

// ---- forecast, history ----------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct ForecastQuery {
    date: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/zones/forecast",
    params(("date" = Option<String>, Query, description = "the run's date (YYYY-MM-DD); the next run by default")),
    responses((status = 200, description = "what the clock's run on that date will do to each open zone, with the counts and a summary in both languages"),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn forecast_api(ctx: Ctx, Query(q): Query<ForecastQuery>) -> Result<Response, AppError> {
    let view = view(&ctx).await?;
    let (next, today) = next_run(&ctx, &view);
    let date = match q.date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => next,
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            AppError::Field(FieldError::new("date_format", "date", "日期格式应为 2022-04-10", "a date is YYYY-MM-DD"))
        })?,
    };
    let forecast: Forecast = ctx.store.zone_forecast(&ctx.principal.roots, date, &view).await?;
    let when = if date == next && !today { ("明日", "tomorrow") } else { ("", "") };
    let (zh, en) = forecast.summary(when.0, when.1, view.offset());
    Ok(Json(json!({"forecast": forecast, "summary": {"zh": zh.trim(), "en": en.trim()}})).into_response())
}

#[utoipa::path(get, path = "/api/v1/zones/history",
    responses((status = 200, description = "decisions, designations, steps and lifts (newest first) and the runs of the zone clock"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn history_api(ctx: Ctx) -> Result<Response, AppError> {
    let events = ctx.store.zone_history(&ctx.principal.roots, 500).await?;
    let runs = ctx.store.zone_runs(60).await?;
    Ok(Json(json!({"events": events, "runs": runs})).into_response())
}

// ---- lifting --------------------------------------------------------------------------------

async fn lift(ctx: &Ctx, id: i64, reason: &str) -> Result<cordon_domain::zone::RiskZone, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(AppError::Field(FieldError::new(
            "zone_lift_reason",
            "reason",
            "请填写解除理由（最多200字）",
            "give the reason to lift the zone (200 characters at most)",
        )));
    }
    let keys = Keys { zones: Some(ZoneQuery::Ids(vec![id])), ..Keys::default() };
    let zone = ctx.store.containment_facts(&keys).await?.zones.into_iter().map(|z| z.zone).find(|z| z.id == id);
    let zone = zone.ok_or(AppError::Field(Refusal::ZoneUnknown.error()))?;
    ctx.authorize(Some(&zone.area)).await?;
    let act = act(ctx, "zone.lift", "area", zone.area.as_str(), format!("zone {id} {}", zone.level.as_str())).await?;
    ctx.store.lift_zone(id, reason.to_string(), act).await?.map_err(|r| AppError::Field(r.error))
}

#[derive(Deserialize)]
struct LiftForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn lift_form(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<LiftForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    lift(&ctx, id, &f.reason).await?;
    Ok(Redirect::to("/zones?lifted=1").into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct LiftBody {
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/zones/{id}/lift", request_body = LiftBody,
    params(("id" = i64, Path, description = "the zone")),
    responses((status = 200, description = "the zone, ended now"),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn lift_api(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<LiftBody>) -> Result<Response, AppError> {
    let z = lift(&ctx, id, &b.reason).await?;
    Ok(Json(json!(z)).into_response())
}
