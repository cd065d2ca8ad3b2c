//! A resident's health code — colour with every reason and a freshly signed QR (page,
//! SVG and API) — and a building's printable code cards for residents without phones.

use super::{colour_label, issue_token, local, qr_svg, reasons_json};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Message;
use crate::routes::Route;
use crate::shell::render;
use axum::Json;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::colour::{self, Colour, Reason};
use cordon_domain::token::SubjectKind;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/residents/{id}/code", Action::ViewCode, code_page),
        Route::get("/residents/{id}/qr.svg", Action::ViewCode, code_svg),
        Route::get("/buildings/{code}/cards", Action::PrintCodeCards, cards_page),
        Route::get("/api/v1/residents/{id}/code", Action::ViewCode, resident_code_api),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("codes.status.code", "健康码状态", "Health code"),
    ("codes.status.household", "本户状态", "Household"),
    ("codes.code.title", "健康码", "Health code"),
    ("codes.code.reasons", "原因", "Reasons"),
    ("codes.code.none", "无异常", "Nothing applies"),
    ("codes.code.profile", "依据策略", "Profile"),
    ("codes.code.at", "核验时间", "Checked at"),
    (
        "codes.code.note",
        "码中不含颜色，扫码时按最新规则实时判定。",
        "The code carries no colour: it is decided live at every scan.",
    ),
    ("codes.cards.title", "纸质码卡", "Code cards"),
    ("codes.cards.print", "打印码卡", "Print code cards"),
    (
        "codes.cards.help",
        "A4纸打印，每页8张，沿虚线剪开，发给无智能手机的居民。",
        "Print on A4, 8 cards a page, cut along the dashed lines, hand to residents without smartphones.",
    ),
    ("codes.cards.valid_until", "有效期至", "Valid until"),
    ("codes.cards.count", "张", "cards"),
    (
        "codes.cards.needed",
        "需要纸质码卡的人（无智能手机、老人、卧床）",
        "Those who need a card (no smartphone, elderly, bedridden)",
    ),
    ("codes.cards.all", "全楼在住居民", "Everyone living in the building"),
];

async fn resident_code(
    ctx: &Ctx,
    id: i64,
) -> Result<(cordon_domain::registry::Resident, Colour, Vec<Reason>, String), AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Some(&r.unit)).await?;
    let today = cordon_domain::clock::DistrictTz::default().today(ctx.now);
    let state = ctx.store.person_state(id, ctx.now, today).await?.unwrap_or_default();
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let (c, reasons) = colour::colour(&state, &profile, ctx.now);
    let token = issue_token(ctx.store.as_ref(), SubjectKind::Person, id, ctx.now).await?;
    Ok((r, c, reasons, token))
}

async fn code_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (r, c, reasons, token) = resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    let lang = ctx.meta.lang;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let extra = json!({
        "r": {"id": r.id, "name": r.name.as_str(), "name_masked": r.name.masked(), "id_masked": r.id_number.masked(), "building": r.unit.parent()},
        "colour": c.as_str(), "colour_label": colour_label(c, lang), "reasons": reasons_json(&reasons, lang),
        "qr": qr_svg(&token, 240), "token": token, "profile": profile.name,
        "at": local(ctx.now),
    });
    Ok(render(&ctx, "codes/code.html", &format!("/residents/{id}"), extra)?.into_response())
}

async fn code_svg(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (_, c, _, token) = resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], qr_svg(&token, 160))
        .into_response())
}

#[derive(serde::Deserialize, Default)]
struct CardsQuery {
    /// `all`: a card for everyone; otherwise only for those who need one.
    #[serde(default)]
    who: String,
}

/// Code cards of a building: by default only for those who need a printed card (no
/// smartphone, elderly by the profile's age, bedridden); `?who=all` for everyone.
async fn cards_page(
    ctx: Ctx,
    Path(code): Path<String>,
    axum::extract::Query(q): axum::extract::Query<CardsQuery>,
) -> Result<Response, AppError> {
    let building = AreaCode::parse(&code)?;
    if building.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Some(&building)).await?;
    let b = ctx.store.area(&building).await?.ok_or(AppError::NotFound("building"))?;
    let roster = ctx.store.building_roster(&building).await?;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let everyone = q.who == "all";
    let today = ctx.tz.today(ctx.now);
    let elderly_age = profile.testing.elderly_age;
    // (household, member, needs a card) of every active resident.
    let mut active: Vec<(&cordon_store::RosterHousehold, &cordon_domain::registry::Resident, bool)> = Vec::new();
    for h in &roster {
        for m in h.members.iter().filter(|m| m.status == cordon_domain::registry::ResidentStatus::Active) {
            active.push((h, m, m.needs_door_service(today, elderly_age)));
        }
    }
    let needed = active.iter().filter(|a| a.2).count();
    let all = active.len();
    let mut cards = Vec::new();
    for (h, m, needs) in active {
        if !everyone && !needs {
            continue;
        }
        let token = issue_token(ctx.store.as_ref(), SubjectKind::Person, m.id, ctx.now).await?;
        cards.push(json!({
            "name": m.name.masked(), "id_masked": m.id_number.masked(), "unit": h.unit_name, "room": h.room,
            "qr": qr_svg(&token, 150),
        }));
    }
    ctx.audit("code_cards.print", "building", building.as_str(), format!("{} cards", cards.len())).await?;
    let pages: Vec<_> = cards.chunks(8).map(|c| c.to_vec()).collect();
    let extra = json!({
        "building": {"code": building, "name": b.name}, "pages": pages, "count": cards.len(),
        "everyone": everyone, "needed": needed, "all": all,
        "valid_until": local(ctx.now + Duration::days(i64::from(profile.codes.token_valid_days))),
    });
    Ok(render(&ctx, "codes/cards.html", &format!("/buildings/{building}"), extra)?.into_response())
}

#[utoipa::path(get, path = "/api/v1/residents/{id}/code", operation_id = "resident_code", params(("id" = i64, Path)),
    responses((status = 200, description = "colour with every reason, and a freshly signed token"), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn resident_code_api(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (r, c, reasons, token) = resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    Ok(Json(json!({
        "resident_id": r.id, "name_masked": r.name.masked(), "colour": c, "reasons": reasons, "token": token,
    }))
    .into_response())
}
