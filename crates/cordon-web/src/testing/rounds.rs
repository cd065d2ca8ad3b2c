//! Test rounds and sampling sites: the testing landing page (rounds with the links each
//! job needs, sites, the Dorfman pool-size advisor) and the commander's forms.

use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::routes::{Need, Route};
use crate::shell::render;
use axum::Form;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use cordon_domain::Role;
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{NewRound, NewSite, advise_pool_size};
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing", Need::AnyOf(super::JOBS), index),
        Route::post("/testing/rounds", Action::ManageRounds, create_round),
        Route::post("/testing/sites", Action::ManageRounds, create_site),
    ]
}

async fn index(ctx: Ctx) -> Result<Response, AppError> {
    let role = ctx.principal.role;
    let lang = ctx.meta.lang;
    let rounds = ctx.store.rounds(20).await?;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let root = ctx.principal.roots.first().cloned();
    let resample = super::resample::RESAMPLE.iter().any(|a| a.allowed(role));
    let rows: Vec<_> = rounds
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "date": r.date.to_string(), "area": r.area.as_str(), "pool": r.pool.get(),
                "mandatory": r.mandatory,
                "coverage_href": if Action::ViewCoverage.allowed(role) { root.as_ref().map(|c| format!("/testing/rounds/{}/areas/{c}", r.id)) } else { None },
                "missed_href": if role == Role::BuildingLeader { root.as_ref().map(|c| format!("/testing/rounds/{}/buildings/{c}/missed", r.id)) } else { None },
                "scan_href": Action::SampleResidents.allowed(role).then(|| format!("/testing/rounds/{}/scan", r.id)),
                "resample_href": resample.then(|| format!("/testing/rounds/{}/resample", r.id)),
                "tasks_href": Action::DoorKnock.allowed(role).then(|| format!("/testing/rounds/{}/tasks", r.id)),
            })
        })
        .collect();
    let mut sites = Vec::new();
    let mut advice = serde_json::Value::Null;
    if let Some(root) = &root {
        for s in ctx.store.sites(root).await? {
            sites.push(json!({"name": s.name, "address": s.address, "hours": s.hours, "areas": s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>()}));
        }
        if Action::ManageRounds.allowed(role) || Action::ViewChase.allowed(role) {
            let pos = ctx.store.positivity(root, profile.testing.advisor_rounds).await?;
            // Each positive pool holds at least one positive person, so the larger of cases
            // and positive pools over people sampled estimates prevalence from below.
            let p = if pos.sampled == 0 { 0.0 } else { pos.cases.max(pos.positive_pools) as f64 / pos.sampled as f64 };
            let a = advise_pool_size(p, &profile.testing.pool_sizes);
            advice = json!({
                "p": format!("{:.4}%", p * 100.0), "sampled": pos.sampled, "best": a.best,
                "options": a.options.iter().map(|o| json!({"k": o.k, "e": format!("{:.4}", o.tests_per_person), "best": o.k == a.best})).collect::<Vec<_>>(),
            });
        }
    }
    let html = render(
        &ctx,
        "testing/index.html",
        "/testing",
        json!({
            "rounds": rows, "sites": sites, "advice": advice,
            "can_manage": Action::ManageRounds.allowed(role),
            "can_lab": Action::LabResults.allowed(role),
            "can_chase": Action::ViewChase.allowed(role),
            "default_area": root.as_ref().map(|c| c.as_str()),
            "today": cordon_domain::clock::DistrictTz::default().today(ctx.now).to_string(),
            "pools": profile.testing.pool_sizes,
            "lang_is_zh": lang == Lang::Zh,
        }),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct RoundForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    area: String,
    date: String,
    #[serde(default)]
    mandatory: Option<String>,
    pool_size: Option<u32>,
}

async fn create_round(ctx: Ctx, Form(f): Form<RoundForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area).map_err(|e| e.on_field("area"))?;
    ctx.authorize(Some(&area)).await?;
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new("date_invalid", "date", "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD"))?;
    // The pool size is the active policy profile's unless the form names one.
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let pool = profile.pool_capacity(f.pool_size)?;
    let new = NewRound { area: area.clone(), date, mandatory: f.mandatory.is_some(), pool };
    let entry = ctx.entry("round.create", "area", area.as_str(), format!("round on {date}, pool {}", new.pool.get()));
    ctx.store.create_round(&new, &entry).await?;
    Ok(Redirect::to("/testing").into_response())
}

#[derive(Deserialize)]
struct SiteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    hours: String,
    areas: String,
}

async fn create_site(ctx: Ctx, Form(f): Form<SiteForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let areas = f
        .areas
        .split(|c: char| c.is_whitespace() || c == ',' || c == '，')
        .filter(|s| !s.is_empty())
        .map(|s| AreaCode::parse(s).map_err(|e| e.on_field("areas")))
        .collect::<Result<Vec<_>, _>>()?;
    let new =
        NewSite { name: f.name.trim().into(), address: f.address.trim().into(), hours: f.hours.trim().into(), areas };
    // Bounded (names, count of areas) before any area is looked at.
    new.check()?;
    for a in &new.areas {
        ctx.authorize(Some(a)).await?;
    }
    let entry = ctx.entry("site.create", "site", "new", format!("{} areas", new.areas.len()));
    ctx.store.create_site(&new, &entry).await?;
    Ok(Redirect::to("/testing").into_response())
}
