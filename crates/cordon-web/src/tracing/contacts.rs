//! The community worker's job: confirmed contacts living in their subtree, to notify, and
//! the mark that they were notified (the tracer's KPIs count it). Laid out for a phone.

use super::{act, local, no_store, refused, word};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use cordon_domain::authz::Action;
use cordon_domain::tracing::ContactStatus;
use cordon_store::tracing::{ContactQuery, Keys};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/tracing/contacts", Action::FollowHome, contacts_page),
        Route::post("/tracing/contacts/{id}/notified", Action::FollowHome, mark_notified),
    ]
}

async fn contacts_page(ctx: Ctx) -> Result<Response, AppError> {
    let roots = ctx.principal.roots.clone();
    let open = [ContactStatus::Identified, ContactStatus::Notified];
    let list = ctx.store.contacts_under(&roots, &open, 500).await?;
    ctx.audit(
        "contacts.read",
        "area",
        &roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        format!("{} contacts", list.len()),
    )
    .await?;
    let lang = ctx.meta.lang;
    let rows: Vec<Value> = list
        .iter()
        .map(|k| {
            json!({"id": k.id, "name": k.name.masked(), "unit": k.unit.as_ref().map(|u| u.as_str().to_string()),
                   "address": k.address, "phone": k.phone.as_ref().map(|p| p.as_str().to_string()),
                   "class": word(lang, "class", k.class.as_str()), "status": k.status.as_str(),
                   "status_label": word(lang, "status", k.status.as_str()),
                   "last_exposure": local(&ctx, k.last_exposure), "identified_at": local(&ctx, k.identified_at)})
        })
        .collect();
    let html = render(&ctx, "tracing/contacts.html", "/tracing/contacts", json!({"contacts": rows}))?;
    Ok(no_store(html))
}

#[derive(Deserialize)]
struct NotifyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn mark_notified(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<NotifyForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    // The contact must live in the caller's subtree (one known only by name and ID number
    // lives nowhere on the register: the tracer notifies them).
    let keys = Keys { contacts: Some(ContactQuery::Ids(vec![id])), ..Keys::default() };
    let k = ctx.store.tracing_facts(&keys).await?.contacts.pop().ok_or(AppError::NotFound("contact"))?;
    match &k.unit {
        Some(unit) => ctx.authorize(Some(unit)).await?,
        None => return Err(ctx.refuse_scope("contact").await),
    }
    ctx.store
        .contact_status(id, ContactStatus::Notified, act(&ctx, "contact.notify", "contact", &id.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to("/tracing/contacts").into_response())
}
