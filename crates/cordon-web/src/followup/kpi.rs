//! The commander's containment KPIs, live: identification → order → pickup → arrival
//! medians and the share quarantined within the profile's target (RTSL: 24 h); people
//! held by category and where; occupancy, beds free and releases due; zones by level and
//! what the clock's next run does to them; the capacity forecast — the figures in words
//! and tables, the trends drawn with Apache ECharts (`/static/echarts.min.js`).

use super::view;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Lang, Message};
use crate::routes::Route;
use crate::shell::render;
use axum::Json;
use axum::response::{IntoResponse, Response};
use cordon_domain::authz::Action;
use cordon_domain::containment::zoneclock::{self, Outlook};
use cordon_store::containment::{ContainmentKpis, View};
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/kpis/containment", Action::ViewContainment, kpi_page),
        Route::get("/api/v1/kpis/containment", Action::ViewContainment, kpis_api),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.containment_kpis", "转运隔离指标", "Containment KPIs"),
    ("kpi.title", "转运隔离与封控指标", "Containment KPIs"),
    ("kpi.times", "从判定到入住", "From identification to quarantine"),
    ("kpi.identified_to_order", "判定→开具隔离通知", "Identified → order"),
    ("kpi.order_to_pickup", "通知→接走", "Order → pickup"),
    ("kpi.pickup_to_arrival", "接走→到达隔离点", "Pickup → arrival"),
    ("kpi.identified_to_quarantine", "判定→隔离到位", "Identified → in quarantine"),
    ("kpi.median", "中位数", "Median"),
    ("kpi.within", "{h}小时内隔离到位", "In quarantine within {h} h"),
    ("kpi.of_due", "应到位", "due"),
    ("kpi.held", "在管人员", "People held"),
    ("kpi.category", "类别", "Category"),
    ("kpi.to_transfer", "待转运/转运中", "To transfer"),
    ("kpi.centralised", "集中隔离", "Centralised"),
    ("kpi.home", "居家隔离", "Home quarantine"),
    ("kpi.home_monitoring", "居家健康监测", "Home monitoring"),
    ("kpi.releases_due", "今日应解除", "Releases due"),
    ("kpi.cases_found", "隔离中发现阳性", "Cases found in quarantine"),
    ("kpi.occupancy", "隔离点床位", "Quarantine beds"),
    ("kpi.beds", "在用床位", "Beds in service"),
    ("kpi.occupied", "已入住", "Occupied"),
    ("kpi.free", "空床", "Free"),
    ("kpi.cleaning", "待消杀房间", "Rooms to clean"),
    ("kpi.out_of_service", "停用房间", "Rooms out of service"),
    ("kpi.rate", "入住率", "Occupancy"),
    ("kpi.queue_waiting", "待开具通知", "Waiting for an order"),
    ("kpi.overdue_transfers", "转运超时", "Transfers overdue"),
    ("kpi.zones", "风险区", "Risk zones"),
    ("kpi.capacity", "未来14天床位预测", "Beds over the next 14 days"),
    ("kpi.capacity_needed", "需用床位", "Beds needed"),
    ("kpi.none", "暂无", "none yet"),
    ("kpi.outlook", "下次运行", "At the next run"),
    ("kpi.steps", "降级", "step down"),
    ("kpi.reset", "因新增病例重新计时", "restarted by a case"),
    ("kpi.awaiting", "待全员核酸阴性", "awaiting an all-negative round"),
    ("kpi.waiting", "计时中", "counting"),
];

const DAYS: u32 = 14;

/// Minutes as words: "3.5 小时" / "3.5 h", "45 分钟" / "45 min".
fn duration(lang: Lang, minutes: Option<f64>) -> String {
    match minutes {
        None => lang.pick("—", "—").to_string(),
        Some(m) if m < 90.0 => format!("{:.0} {}", m, lang.pick("分钟", "min")),
        Some(m) => format!("{:.1} {}", m / 60.0, lang.pick("小时", "h")),
    }
}

/// JSON to embed in a `<script>`: `<`, `>` and `&` escaped so no text can close the tag.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |v| format!("{:.0}%", v * 100.0))
}

async fn figures(
    ctx: &Ctx,
    view: &View,
) -> Result<(ContainmentKpis, zoneclock::Forecast, Vec<serde_json::Value>), AppError> {
    let roots = &ctx.principal.roots;
    let kpis = ctx.store.containment_kpis(roots, view).await?;
    let due = zoneclock::due_date(&view.profile, ctx.now, view.offset());
    let forecast = ctx.store.zone_forecast(roots, due.succ_opt().unwrap_or(due), view).await?;
    let capacity = ctx
        .store
        .capacity_forecast(&[], DAYS, view)
        .await?
        .into_iter()
        .map(|d| {
            json!({"date": d.date.to_string(), "beds": d.beds, "occupied": d.occupied, "free": d.free,
                         "arriving": d.arriving, "leaving": d.leaving})
        })
        .collect();
    Ok((kpis, forecast, capacity))
}

async fn kpi_page(ctx: Ctx) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let view = view(&ctx).await?;
    let (k, forecast, capacity) = figures(&ctx, &view).await?;
    let t = &k.times;
    let stages = [
        ("kpi.identified_to_order", t.identified_to_order),
        ("kpi.order_to_pickup", t.order_to_pickup),
        ("kpi.pickup_to_arrival", t.pickup_to_arrival),
        ("kpi.identified_to_quarantine", t.identified_to_quarantine),
    ];
    let stages: Vec<_> = stages
        .iter()
        .map(|(key, m)| {
            json!({"label": crate::i18n::text(lang, key), "text": duration(lang, *m),
                   "hours": m.map(|m| (m / 6.0).round() / 10.0)})
        })
        .collect();
    let held: Vec<_> = k
        .held
        .by_category
        .iter()
        .map(|h| {
            json!({"category": lang.pick(h.category.zh(), h.category.en()), "to_transfer": h.to_transfer,
                   "centralised": h.centralised, "home": h.home, "home_monitoring": h.home_monitoring})
        })
        .collect();
    let zones: Vec<_> = k
        .zones
        .iter()
        .map(|(l, n)| json!({"level": l.as_str(), "label": lang.pick(l.zh(), l.en()), "count": n}))
        .collect();
    let count = |f: fn(&Outlook) -> bool| forecast.zones.iter().filter(|z| f(&z.outlook)).count();
    let clock = json!({
        "at": ctx.tz.local(forecast.at).format("%m-%d %H:%M").to_string(),
        "steps": forecast.steps, "reset": forecast.reset_by_case, "awaiting": forecast.awaiting_round,
        "waiting": count(|o| matches!(o, Outlook::Waiting)),
    });
    let labels = json!({"median": crate::i18n::text(lang, "kpi.median"), "beds": crate::i18n::text(lang, "kpi.beds"),
                        "needed": crate::i18n::text(lang, "kpi.capacity_needed")});
    let within = crate::i18n::text(lang, "kpi.within").replace("{h}", &t.target_hours.to_string());
    let html = render(
        &ctx,
        "followup/kpi.html",
        "/kpis/containment",
        json!({
            "stages": stages, "within_label": within, "share_within": percent(t.share_within),
            "within": t.within, "due": t.due, "held": held, "releases_due": k.held.releases_due,
            "cases_found": k.held.cases_found, "occ": k.occupancy, "rate": percent(k.occupancy.rate),
            "zones": zones, "clock": clock, "queue_waiting": k.queue_waiting,
            "stages_json": script_json(&json!(stages)), "capacity_json": script_json(&json!(capacity)),
            "labels_json": script_json(&labels),
            "overdue_transfers": k.overdue_transfers,
        }),
    )?;
    Ok(html.into_response())
}

#[utoipa::path(get, path = "/api/v1/kpis/containment",
    responses((status = 200, description = "isolation times (medians in minutes, share within the target), people held, occupancy, zones by level, the zone clock's next run and the capacity forecast of the next 14 days"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn kpis_api(ctx: Ctx) -> Result<Response, AppError> {
    let view = view(&ctx).await?;
    let (k, forecast, capacity) = figures(&ctx, &view).await?;
    let clock = json!({"date": forecast.date, "at": forecast.at, "steps": forecast.steps,
                       "reset_by_case": forecast.reset_by_case, "awaiting_round": forecast.awaiting_round});
    Ok(Json(json!({"kpis": k, "zone_clock": clock, "capacity": capacity})).into_response())
}
