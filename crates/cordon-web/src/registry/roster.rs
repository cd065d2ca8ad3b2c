//! A building's roster: households by unit with members, phones and flags (page and
//! API), and registering a temporary visitor in one of its units.

use super::residents::ResidentDto;
use super::{crumbs, elderly_age, flag_labels, parse_code, today};
use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::features::{AreaPage, area_panels};
use crate::routes::Route;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::{Action, authorize};
use cordon_domain::registry::{NewResident, ResidentFlags, ResidentStatus, parse_room};
use cordon_domain::{IdNumber, PersonName, Phone};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/buildings/{code}", Action::ViewRoster, roster_page),
        Route::post("/buildings/{code}/visitors", Action::EditResident, add_visitor),
        Route::get("/api/v1/buildings/{code}/roster", Action::ViewRoster, roster),
    ]
}

async fn roster_page(ctx: Ctx, Path(code): Path<String>) -> Result<Response, AppError> {
    let code = parse_code(&code)?;
    if code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Some(&code)).await?;
    let building = ctx.store.area(&code).await?.ok_or(AppError::NotFound("building"))?;
    let roster = ctx.store.building_roster(&code).await?;
    ctx.audit("roster.read", "building", code.as_str(), format!("{} households", roster.len())).await?;
    let lang = ctx.meta.lang;
    let today = today();
    let elderly_age = elderly_age(&ctx).await?;
    let (mut residents, mut with_phone, mut door) = (0, 0, 0);
    // Each active member's colour, reasons and controls, and so their household's status.
    let active: Vec<i64> =
        roster.iter().flat_map(|h| &h.members).filter(|m| m.status == ResidentStatus::Active).map(|m| m.id).collect();
    let status = crate::codes::status::statuses(&ctx, &active).await?;
    let mut units: Vec<serde_json::Value> = Vec::new();
    let mut current: Option<(String, Vec<serde_json::Value>)> = None;
    for h in &roster {
        let members: Vec<_> = h
            .members
            .iter()
            .map(|m| {
                if m.status == ResidentStatus::Active {
                    residents += 1;
                    with_phone += usize::from(m.phone.is_some());
                    door += usize::from(m.needs_door_service(today, elderly_age));
                }
                json!({
                    "id": m.id, "name": m.name.as_str(),
                    "sex": lang.pick(m.sex().zh(), m.sex().en()), "age": m.age(today),
                    "phone": m.phone.as_ref().map(|p| p.as_str()),
                    "flags": flag_labels(m, lang, today, elderly_age), "status": m.status.as_str(),
                    "code": status.get(&m.id).map(|s| s.json.clone()),
                })
            })
            .collect();
        let of_household: Vec<_> = h.members.iter().filter_map(|m| status.get(&m.id)).collect();
        let household = (!of_household.is_empty()).then(|| crate::codes::status::household(&of_household, lang));
        let hh = json!({"room": h.room, "members": members, "status": household});
        match &mut current {
            Some((name, list)) if *name == h.unit_name => list.push(hh),
            _ => {
                if let Some((name, list)) = current.take() {
                    units.push(json!({"name": name, "households": list}));
                }
                current = Some((h.unit_name.clone(), vec![hh]));
            }
        }
    }
    if let Some((name, list)) = current.take() {
        units.push(json!({"name": name, "households": list}));
    }
    let leader = match ctx.store.building_leader(&code).await? {
        Some(l) => ctx
            .store
            .resident(l.resident_id)
            .await?
            .map(|r| json!({"name": r.name.as_str(), "phone": r.phone.map(|p| p.as_str().to_string())})),
        None => None,
    };
    let all_units: Vec<_> = ctx
        .store
        .children(&code)
        .await?
        .into_iter()
        .map(|u| json!({"code": u.area.code, "name": u.area.name}))
        .collect();
    let extra = json!({
        "building": {"code": code, "name": building.name},
        "crumbs": crumbs(&ctx, &code).await?,
        "leader": leader,
        "stats": {"households": roster.len(), "residents": residents, "with_phone": with_phone, "without_phone": residents - with_phone, "door": door},
        "units": units,
        "all_units": all_units,
        "can_edit": Action::EditResident.allowed(ctx.principal.role),
        "can_export": authorize(&ctx.principal, Action::ExportResidents, Some(&code)).is_ok(),
        "panels": area_panels(&ctx, &code, AreaPage::Roster).await?,
    });
    Ok(crate::shell::render(&ctx, "roster.html", &format!("/buildings/{code}"), extra)?.into_response())
}

#[derive(Deserialize)]
struct VisitorForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    unit: String,
    room: String,
    name: String,
    id_number: String,
    #[serde(default)]
    phone: String,
}

async fn add_visitor(ctx: Ctx, Path(code): Path<String>, Form(f): Form<VisitorForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let building = parse_code(&code)?;
    let unit = AreaCode::parse(&f.unit).map_err(|e| e.on_field("unit"))?;
    if !building.contains(&unit) || unit.level() != AreaLevel::Unit {
        return Err(AppError::Field(cordon_domain::FieldError::new(
            "unit_not_in_building",
            "unit",
            "单元不属于该楼栋",
            "the unit is not in this building",
        )));
    }
    ctx.authorize(Some(&unit)).await?;
    let new = NewResident {
        unit,
        room: parse_room(&f.room)?,
        name: PersonName::parse(&f.name)?,
        id_number: IdNumber::parse(&f.id_number)?,
        phone: if f.phone.trim().is_empty() { None } else { Some(Phone::parse(&f.phone)?) },
        flags: ResidentFlags { temporary: true, ..Default::default() },
    };
    let entry = ctx.entry("resident.create", "building", building.as_str(), "temporary visitor registered");
    let ids = ctx.store.register_residents(&[new], &entry).await?;
    let id = ids.first().copied().unwrap_or_default();
    Ok(Redirect::to(&format!("/residents/{id}?saved=1")).into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct RosterHouseholdDto {
    pub household_id: i64,
    pub unit_code: String,
    pub unit_name: String,
    pub room: String,
    pub members: Vec<ResidentDto>,
}

#[utoipa::path(get, path = "/api/v1/buildings/{code}/roster", params(("code" = String, Path, description = "building code")),
    responses((status = 200, body = [RosterHouseholdDto]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn roster(ctx: Ctx, Path(c): Path<String>) -> Result<Json<Vec<RosterHouseholdDto>>, AppError> {
    let c = parse_code(&c)?;
    if c.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Some(&c)).await?;
    let roster = ctx.store.building_roster(&c).await?;
    ctx.audit("roster.read", "building", c.as_str(), format!("{} households (api)", roster.len())).await?;
    let age = elderly_age(&ctx).await?;
    Ok(Json(
        roster
            .into_iter()
            .map(|h| RosterHouseholdDto {
                household_id: h.household_id,
                unit_code: h.unit.to_string(),
                unit_name: h.unit_name,
                room: h.room,
                members: h.members.iter().map(|m| ResidentDto::from(m, None, age)).collect(),
            })
            .collect(),
    ))
}
