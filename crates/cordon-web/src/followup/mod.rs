//! Containment follow-up: the community and grid workers' home-quarantine page (people in
//! home quarantine or home health monitoring in their area, today's health checks and
//! door tests due, a health check recorded in one action) and the commander's
//! containment KPIs (isolation times, people held, occupancy, zones by level and their
//! clock, the capacity forecast drawn with ECharts) — pages and API together.
//!
//! Every rule is the store's (`ContainmentStore`: `home_list`, `record_health_check`,
//! `containment_kpis`, `capacity_forecast`, `zone_forecast`). Must never show a full name,
//! ID number or phone where a masked one does; every read of the home list is audited, and
//! its pages and answers are `no-store`.

mod home;
mod kpi;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::routes::{Need, Route};
use cordon_domain::authz::Action;
use cordon_store::containment::{Act, View};
use utoipa::OpenApi;

pub const FEATURE: Feature = Feature {
    name: "followup",
    routes,
    nav: &[
        NavEntry {
            order: 70,
            label: "nav.followup",
            href: NavHref::Fixed("/followup"),
            show: Need::Action(Action::FollowHome),
        },
        NavEntry {
            order: 71,
            label: "nav.containment_kpis",
            href: NavHref::Fixed("/kpis/containment"),
            show: Need::Action(Action::ViewContainment),
        },
    ],
    messages: &[home::MESSAGES, kpi::MESSAGES],
    templates: &[
        ("followup/home.html", include_str!("../../templates/followup/home.html")),
        ("followup/kpi.html", include_str!("../../templates/followup/kpi.html")),
    ],
    openapi: Some(FollowupDoc::openapi),
    area_panel: None,
};

fn routes() -> Vec<Route> {
    [home::routes(), kpi::routes()].into_iter().flatten().collect()
}

#[derive(OpenApi)]
#[openapi(paths(home::home_api, home::check_api, kpi::kpis_api), components(schemas(home::CheckBody)))]
struct FollowupDoc;

/// The request as a containment write: now, the district's time zone, the active
/// profile, the audit entry.
async fn act(ctx: &Ctx, action: &str, kind: &str, target: &str, detail: String) -> Result<Act, AppError> {
    Ok(Act {
        at: ctx.now,
        tz: ctx.tz.clone(),
        user_id: Some(ctx.user.id),
        user: if ctx.user.display_name.trim().is_empty() {
            ctx.user.username.clone()
        } else {
            ctx.user.display_name.clone()
        },
        profile: crate::policy::active_profile(ctx.store.as_ref()).await?,
        audit: ctx.entry(action, kind, target, detail),
    })
}

async fn view(ctx: &Ctx) -> Result<View, AppError> {
    Ok(View { at: ctx.now, tz: ctx.tz.clone(), profile: crate::policy::active_profile(ctx.store.as_ref()).await? })
}

/// The caller's roots, for an audit entry.
fn roots_label(ctx: &Ctx) -> String {
    ctx.principal.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}
