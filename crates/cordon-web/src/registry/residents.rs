//! One resident's record and its corrections (page and API).

use super::{address, elderly_age, flag_labels, today};
use crate::auth::Ctx;
use crate::common::{correction_entry, correction_from};
use crate::error::{AppError, ErrorBody};
use crate::i18n::text;
use crate::routes::Route;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::Utc;
use cordon_domain::authz::{Action, authorize};
use cordon_domain::registry::{Resident, ResidentStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/residents/{id}", Action::ViewResident, resident_page),
        Route::post("/residents/{id}/corrections", Action::EditResident, correct),
        Route::get("/api/v1/residents/{id}", Action::ViewResident, resident),
        Route::post("/api/v1/residents/{id}/corrections", Action::EditResident, correct_api),
    ]
}

/// The resident, once the caller may act on them under the route's action.
async fn load_resident(ctx: &Ctx, id: i64) -> Result<Resident, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Some(&r.unit)).await?;
    Ok(r)
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
}

async fn resident_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<SavedQuery>) -> Result<Response, AppError> {
    let r = load_resident(&ctx, id).await?;
    ctx.audit("resident.read", "resident", &id.to_string(), "").await?;
    let lang = ctx.meta.lang;
    let today = today();
    let elderly_age = elderly_age(&ctx).await?;
    let building = r.unit.parent().unwrap_or_else(|| r.unit.clone());
    // The person's code with its reasons and controls, and their household's status.
    let household: Vec<i64> = ctx
        .store
        .building_roster(&building)
        .await?
        .into_iter()
        .filter(|h| h.household_id == r.household_id)
        .flat_map(|h| h.members)
        .filter(|m| m.status == ResidentStatus::Active)
        .map(|m| m.id)
        .collect();
    let mut ids = household.clone();
    if !ids.contains(&r.id) {
        ids.push(r.id);
    }
    let status = crate::codes::status::statuses(&ctx, &ids).await?;
    let of_household: Vec<_> = household.iter().filter_map(|id| status.get(id)).collect();
    let household_status = (!of_household.is_empty()).then(|| crate::codes::status::household(&of_household, lang));
    let extra = json!({
        "r": {
            "id": r.id, "name": r.name.as_str(), "id_number": r.id_number.as_str(),
            "sex": lang.pick(r.sex().zh(), r.sex().en()), "birth_date": r.birth_date().to_string(), "age": r.age(today),
            "phone": r.phone.as_ref().map(|p| p.as_str()), "address": address(&ctx, &r.unit, &r.room).await?,
            "building": building, "flags": flag_labels(&r, lang, today, elderly_age), "status": r.status.as_str(),
            "status_label": text(lang, if r.status == ResidentStatus::Active { "status.active" } else { "status.moved_out" }),
            "temporary": r.flags.temporary, "bedridden": r.flags.bedridden, "no_smartphone": r.flags.no_smartphone,
        },
        "code": status.get(&r.id).map(|s| s.json.clone()),
        "household_status": household_status,
        "can_edit": authorize(&ctx.principal, Action::EditResident, Some(&r.unit)).is_ok(),
        "flash": q.saved.map(|_| text(lang, "correct.done")),
    });
    Ok(crate::shell::render(&ctx, "resident.html", &format!("/residents/{id}"), extra)?.into_response())
}

#[derive(Deserialize)]
struct CorrectionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    kind: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    bedridden: Option<String>,
    #[serde(default)]
    no_smartphone: Option<String>,
}

async fn correct(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<CorrectionForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let r = load_resident(&ctx, id).await?;
    let c = correction_from(&f.kind, &f.phone, f.bedridden.is_some(), f.no_smartphone.is_some())?;
    let entry = correction_entry(&ctx, r.id, &c);
    ctx.store.correct_resident(r.id, &c, &entry).await?;
    Ok(Redirect::to(&format!("/residents/{id}?saved=1")).into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct ResidentDto {
    pub id: i64,
    pub name: String,
    pub id_number: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: Option<String>,
    pub unit_code: String,
    pub room: String,
    pub address: Option<String>,
    pub bedridden: bool,
    pub no_smartphone: bool,
    pub temporary: bool,
    pub elderly: bool,
    /// `active` or `moved_out`.
    pub status: String,
}

impl ResidentDto {
    pub(super) fn from(r: &Resident, address: Option<String>, elderly_age: u32) -> ResidentDto {
        ResidentDto {
            id: r.id,
            name: r.name.as_str().to_string(),
            id_number: r.id_number.as_str().to_string(),
            sex: r.sex().en().to_string(),
            birth_date: r.birth_date().to_string(),
            phone: r.phone.as_ref().map(|p| p.as_str().to_string()),
            unit_code: r.unit.to_string(),
            room: r.room.clone(),
            address,
            bedridden: r.flags.bedridden,
            no_smartphone: r.flags.no_smartphone,
            temporary: r.flags.temporary,
            elderly: r.is_elderly(cordon_domain::clock::DistrictTz::default().today(Utc::now()), elderly_age),
            status: r.status.as_str().to_string(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CorrectionRequest {
    /// `moved_out`, `returned`, `temporary_on`, `temporary_off`, `phone`, `flags`.
    pub kind: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub bedridden: bool,
    #[serde(default)]
    pub no_smartphone: bool,
}

#[utoipa::path(get, path = "/api/v1/residents/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ResidentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn resident(ctx: Ctx, Path(id): Path<i64>) -> Result<Json<ResidentDto>, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Some(&r.unit)).await?;
    ctx.audit("resident.read", "resident", &id.to_string(), "api").await?;
    let addr = address(&ctx, &r.unit, &r.room).await?;
    Ok(Json(ResidentDto::from(&r, Some(addr), elderly_age(&ctx).await?)))
}

#[utoipa::path(post, path = "/api/v1/residents/{id}/corrections", operation_id = "correct", params(("id" = i64, Path)), request_body = CorrectionRequest,
    responses((status = 200, body = ResidentDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn correct_api(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(req): Json<CorrectionRequest>,
) -> Result<Json<ResidentDto>, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Some(&r.unit)).await?;
    let c = correction_from(&req.kind, req.phone.as_deref().unwrap_or(""), req.bedridden, req.no_smartphone)?;
    let entry = correction_entry(&ctx, id, &c);
    let updated = ctx.store.correct_resident(id, &c, &entry).await?;
    Ok(Json(ResidentDto::from(&updated, None, elderly_age(&ctx).await?)))
}
