//! Checkpoints: the list (a guard's own gates; managers' gates and border posts within
//! their subtree), creating one, assigning guards.

use super::{area_name, field};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Message;
use crate::routes::Route;
use crate::shell::render;
use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use cordon_domain::Role;
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_store::codes::{Checkpoint, NewCheckpoint};
use serde::Deserialize;
use serde_json::json;

/// Who has the checkpoints page: those who scan at one and those who manage them.
pub(super) const JOBS: &[Action] = &[Action::ScanCheckpoint, Action::ManageCheckpoints];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/checkpoints", crate::routes::Need::AnyOf(JOBS), checkpoints_page),
        Route::post("/checkpoints", Action::ManageCheckpoints, checkpoint_create),
        Route::post("/checkpoints/{id}/guards", Action::ManageCheckpoints, checkpoint_assign),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.codes.checkpoints", "卡口", "Checkpoints"),
    ("codes.cp.title", "卡口", "Checkpoints"),
    ("codes.cp.name", "名称", "Name"),
    ("codes.cp.area", "位置", "Where"),
    ("codes.cp.border", "区界", "District border"),
    ("codes.cp.guards", "值守人员", "Guards"),
    ("codes.cp.create", "新建卡口", "New checkpoint"),
    ("codes.cp.area_code", "小区编码（或区编码=区界卡口）", "Compound code (or the district code for a border)"),
    ("codes.cp.assign", "分配值守", "Assign guard"),
    ("codes.cp.username", "用户名", "Username"),
    ("codes.cp.open", "扫码", "Scan"),
    ("codes.cp.none", "暂无卡口", "No checkpoints"),
];

async fn visible_checkpoints(ctx: &Ctx) -> Result<Vec<Checkpoint>, AppError> {
    if ctx.principal.role == Role::CheckpointGuard {
        Ok(ctx.store.checkpoints_of_guard(ctx.user.id).await?)
    } else {
        let mut roots = ctx.principal.roots.clone();
        // Border checkpoints sit on the district: everyone who manages checkpoints sees them.
        if let Some(d) = roots.first().and_then(|r| r.lineage().first().cloned()) {
            roots.push(d);
        }
        let all = ctx.store.checkpoints_under(&roots).await?;
        Ok(all.into_iter().filter(|c| c.is_border() || ctx.principal.covers(&c.area)).collect())
    }
}

async fn checkpoints_page(ctx: Ctx) -> Result<Response, AppError> {
    let role = ctx.principal.role;
    let cps = visible_checkpoints(&ctx).await?;
    if let ([only], Role::CheckpointGuard) = (cps.as_slice(), role) {
        return Ok(Redirect::to(&format!("/checkpoints/{}/scan", only.id)).into_response());
    }
    let mut rows = Vec::new();
    for c in &cps {
        let mut guards = Vec::new();
        for g in &c.guards {
            if let Some(u) = ctx.store.user(*g).await? {
                guards.push(u.username);
            }
        }
        rows.push(json!({"id": c.id, "name": c.name, "area": c.area, "area_name": area_name(&ctx, &c.area).await?, "border": c.is_border(), "guards": guards}));
    }
    let extra = json!({"checkpoints": rows, "can_manage": Action::ManageCheckpoints.allowed(role)});
    Ok(render(&ctx, "codes/checkpoints.html", "/checkpoints", extra)?.into_response())
}

#[derive(Deserialize)]
struct CheckpointForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    area_code: String,
}

async fn checkpoint_create(ctx: Ctx, Form(f): Form<CheckpointForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area_code)?;
    // A border checkpoint is the district's; a gate needs the compound in scope.
    ctx.authorize(Some(&area)).await?;
    let new = NewCheckpoint::new(&f.name, area.clone(), ctx.now)?;
    if ctx.store.area(&area).await?.is_none() {
        return Err(AppError::NotFound("area"));
    }
    let entry = ctx.entry("checkpoint.create", "area", area.as_str(), new.name.clone());
    ctx.store.create_checkpoint(&new, &entry).await?;
    Ok(Redirect::to("/checkpoints").into_response())
}

#[derive(Deserialize)]
struct AssignForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    username: String,
}

async fn checkpoint_assign(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<AssignForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let cp = ctx.store.checkpoint(id).await?.ok_or(AppError::NotFound("checkpoint"))?;
    ctx.authorize(Some(&cp.area)).await?;
    let user = ctx.store.user_by_username(f.username.trim()).await?.ok_or(AppError::NotFound("user"))?;
    let guard_scope_ok = match &user.scope {
        cordon_domain::UserScope::Area(a) => cp.is_border() || a.contains(&cp.area) || cp.area.contains(a),
        cordon_domain::UserScope::Grid(_) => false,
    };
    if user.role != Role::CheckpointGuard || !guard_scope_ok {
        return Err(field(
            "guard_mismatch",
            "username",
            "只能分配本小区的卡口值守人员",
            "only a checkpoint guard of this compound can be assigned",
        ));
    }
    let entry = ctx.entry("checkpoint.assign", "checkpoint", &cp.id.to_string(), format!("guard user {}", user.id));
    ctx.store.assign_guard(cp.id, user.id, &entry).await?;
    Ok(Redirect::to("/checkpoints").into_response())
}
