//! Risk zones: the zones page (in force and history within the caller's subtree), the
//! commander's designation (page and API), and the panel of zone badges and actions the
//! area tree's pages show ([`area_panel`]). For the commander the page also holds the
//! zones on the clock ([`super::zoneclock`]): proposals, the forecast, each zone's clock,
//! the history and the clock's runs.

use super::{field, local, parse_time};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{AreaPage, PanelFuture};
use crate::i18n::{Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::{Action, authorize};
use cordon_domain::zone::{NewZone, ZoneLevel};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/zones", Action::ViewAreaTree, zones_page),
        Route::post("/zones", Action::ManageZones, zone_designate),
        Route::post("/api/v1/zones", Action::ManageZones, zone),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.codes.zones", "风险区", "Risk zones"),
    ("codes.zone.title", "风险区划定", "Risk zones"),
    ("codes.zone.open", "现行风险区", "Zones in force"),
    ("codes.zone.history", "划定记录", "History"),
    ("codes.zone.area", "区域编码", "Area code"),
    ("codes.zone.level", "风险等级", "Level"),
    ("codes.zone.reason", "理由", "Reason"),
    ("codes.zone.starts", "开始时间", "Starts"),
    ("codes.zone.ends", "结束时间", "Ended"),
    ("codes.zone.by", "划定人", "By"),
    ("codes.zone.submit", "划定", "Designate"),
    ("codes.zone.saved", "已划定，居民码色即时生效", "Designated; residents' codes follow at once"),
    ("codes.zone.none", "暂无风险区", "No zones"),
    ("codes.zone.designate_here", "划定风险区", "Designate a zone"),
];

#[derive(Deserialize, Default)]
struct ZonesQuery {
    #[serde(default)]
    area: String,
    saved: Option<String>,
    decided: Option<String>,
    lifted: Option<String>,
}

async fn zones_page(ctx: Ctx, Query(q): Query<ZonesQuery>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let mut open = Vec::new();
    let mut history = Vec::new();
    let mut zones = Vec::new();
    for root in &ctx.principal.roots {
        zones.extend(ctx.store.zones(root, true, true).await?);
    }
    // Every zone's name in one read (a district can hold hundreds of zones).
    let names = crate::common::area_names(ctx.store.as_ref(), zones.iter().map(|z| &z.area)).await?;
    {
        for z in zones {
            let name = names.get(&z.area).and_then(|n| n.split(' ').next_back()).unwrap_or(z.area.as_str()).to_string();
            let row = json!({
                "id": z.id, "area": z.area, "name": name, "level": z.level.as_str(),
                "level_label": lang.pick(z.level.zh(), z.level.en()), "reason": z.reason, "starts_at": local(z.starts_at),
                "ends_at": z.ends_at.map(local), "by": z.designated_by,
            });
            if z.ends_at.is_none() && z.level != ZoneLevel::Low {
                open.push(row.clone());
            }
            history.push(row);
        }
    }
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let levels: Vec<_> = ZoneLevel::ALL
        .into_iter()
        .filter(|l| profile.allows_zone(*l))
        .map(|l| json!({"value": l.as_str(), "label": lang.pick(l.zh(), l.en())}))
        .collect();
    let can_manage = Action::ManageZones.allowed(ctx.principal.role);
    let board = if can_manage { Some(super::zoneclock::commander_board(&ctx).await?) } else { None };
    let flash = match (&q.saved, &q.decided, &q.lifted) {
        (Some(_), _, _) => Some(text(lang, "codes.zone.saved")),
        (_, Some(_), _) => Some(text(lang, "zoneclock.decided")),
        (_, _, Some(_)) => Some(text(lang, "zoneclock.lifted")),
        _ => None,
    };
    let extra = json!({
        "open": open, "history": history, "levels": levels, "area": q.area,
        "can_manage": can_manage, "board": board,
        "flash": flash,
        "now": ctx.tz.local(ctx.now).format("%Y-%m-%dT%H:%M").to_string(),
    });
    Ok(render(&ctx, "codes/zones.html", "/zones", extra)?.into_response())
}

#[derive(Deserialize)]
struct ZoneForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    area_code: String,
    level: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    starts_at: String,
}

/// The commander's own designation, through the zone clock's store: the area must be in
/// the area tree (a clear zh/en refusal otherwise), the level in the active profile; an
/// open designation of the area ends, and the history records it.
async fn designate(ctx: &Ctx, f: &ZoneForm) -> Result<cordon_domain::zone::RiskZone, AppError> {
    if f.area_code.trim().len() > 32 {
        return Err(AppError::Field(cordon_domain::containment::Refusal::ZoneAreaUnknown.error()));
    }
    let area = AreaCode::parse(f.area_code.trim())?;
    ctx.authorize(Some(&area)).await?;
    let level = ZoneLevel::parse(&f.level)?;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    if !profile.allows_zone(level) {
        return Err(field(
            "zone_level_disabled",
            "level",
            &format!("当前策略（{}）不设中风险区", profile.name),
            &format!("the active profile ({}) has no medium-risk zones", profile.name),
        ));
    }
    let starts = parse_time(&f.starts_at, "starts_at", ctx.now)?;
    let zone = NewZone::new(area.clone(), level, &f.reason, starts, &ctx.user.username, ctx.now)?;
    let act = super::zoneclock::act(
        ctx,
        "zone.designate",
        "area",
        area.as_str(),
        format!("{} from {}", level.as_str(), zone.starts_at.to_rfc3339()),
    )
    .await?;
    ctx.store.order_zone(zone, act).await?.map_err(|r| AppError::Field(r.error))
}

async fn zone_designate(ctx: Ctx, Form(f): Form<ZoneForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let z = designate(&ctx, &f).await?;
    Ok(Redirect::to(&format!("/zones?saved=1&area={}", z.area)).into_response())
}

/// Zones open on or above `code`, for the area tree's badges.
async fn zone_badges(ctx: &Ctx, code: &AreaCode) -> Result<Vec<serde_json::Value>, AppError> {
    let lang = ctx.meta.lang;
    let zones = ctx.store.zones(code, true, false).await?;
    Ok(zones
        .into_iter()
        .filter(|z| z.level != ZoneLevel::Low && z.active_at(ctx.now))
        .map(|z| json!({"area": z.area, "level": z.level.as_str(), "label": lang.pick(z.level.zh(), z.level.en()), "reason": z.reason}))
        .collect())
}

/// The zone badges of an area and the links to act on it (designate a zone; on a
/// building's roster, print its code cards), for the area tree's pages.
pub(super) fn area_panel<'a>(ctx: &'a Ctx, code: &'a AreaCode, page: AreaPage) -> PanelFuture<'a> {
    Box::pin(async move {
        let roster = page == AreaPage::Roster;
        let zones = zone_badges(ctx, code).await?;
        let can_designate = authorize(&ctx.principal, Action::ManageZones, Some(code)).is_ok();
        let can_print_cards = roster
            && code.level() == AreaLevel::Building
            && authorize(&ctx.principal, Action::PrintCodeCards, Some(code)).is_ok();
        if zones.is_empty() && !can_designate && !can_print_cards {
            return Ok(None);
        }
        let extra = json!({"zones": zones, "code": code, "roster": roster, "can_designate": can_designate, "can_print_cards": can_print_cards});
        Ok(Some(crate::shell::render_fragment(ctx, "codes/area_panel.html", extra)?))
    })
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ZoneBody {
    area_code: String,
    level: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    starts_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/zones", request_body = ZoneBody,
    responses((status = 201, description = "the zone designated (an open one on the same area is ended)"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn zone(ctx: Ctx, Json(b): Json<ZoneBody>) -> Result<Response, AppError> {
    let f = ZoneForm {
        csrf: String::new(),
        area_code: b.area_code,
        level: b.level,
        reason: b.reason,
        starts_at: b.starts_at.unwrap_or_default(),
    };
    let z = designate(&ctx, &f).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!(z))).into_response())
}
