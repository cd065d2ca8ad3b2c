//! Finding residents by name, full ID number or full phone, within the caller's subtree
//! (page and API). The query text is never audited, only how many were found. An ID
//! number or a phone is searched by POST only (the form, `POST /api/v1/residents/search`):
//! in a URL it would land in browser history, proxy and server logs.

use super::address;
use super::residents::ResidentDto;
use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::routes::Route;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use cordon_domain::authz::Action;
use cordon_domain::{IdNumber, Phone};
use cordon_store::ResidentQuery;
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/search", Action::SearchResidents, search_page),
        Route::post("/search", Action::SearchResidents, search_submit),
        Route::get("/api/v1/residents", Action::SearchResidents, search),
        Route::post("/api/v1/residents/search", Action::SearchResidents, search_post),
    ]
}

/// Decides what typed text means: a full ID number, a full mobile number, or a name.
pub(crate) fn classify_query(q: &str) -> Result<ResidentQuery, cordon_domain::FieldError> {
    let t = q.trim();
    if let Ok(id) = IdNumber::parse(t) {
        return Ok(ResidentQuery::IdNumber(id));
    }
    if let Ok(p) = Phone::parse(t) {
        return Ok(ResidentQuery::Phone(p.as_str().to_string()));
    }
    if !t.is_empty() && !t.chars().any(|c| c.is_ascii_digit() || c.is_ascii_punctuation()) {
        return Ok(ResidentQuery::NamePrefix(t.to_string()));
    }
    Err(cordon_domain::FieldError::new(
        "query_format",
        "q",
        "请输入姓名，或完整的18位身份证号、11位手机号",
        "type a name, or a full 18-character ID number or 11-digit phone number",
    ))
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Deserialize, Default)]
struct SearchForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

/// What a query in a URL may be: a name. An ID number or a phone is refused unsearched.
fn url_query(q: &str) -> Result<ResidentQuery, cordon_domain::FieldError> {
    match classify_query(q)? {
        ResidentQuery::IdNumber(_) | ResidentQuery::Phone(_) => Err(cordon_domain::FieldError::new(
            "query_in_url",
            "q",
            "身份证号和手机号请在搜索框中提交，不要放在网址里",
            "send an ID number or a phone in the search form or a POST body, never in the URL",
        )),
        name => Ok(name),
    }
}

async fn search_page(ctx: Ctx, Query(sq): Query<SearchQuery>) -> Result<Response, AppError> {
    let q = crate::security::field("q", &sq.q, 64)?;
    search_view(ctx, q.clone(), url_query(&q)).await
}

async fn search_submit(ctx: Ctx, Form(f): Form<SearchForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let q = crate::security::field("q", &f.q, 64)?;
    let query = classify_query(&q);
    search_view(ctx, q, query).await
}

async fn search_view(
    ctx: Ctx,
    q: String,
    query: Result<ResidentQuery, cordon_domain::FieldError>,
) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let mut results = Vec::new();
    let mut error = None;
    let searched = !q.is_empty();
    if searched {
        match query {
            Ok(query) => {
                let found = ctx.store.search_residents(&ctx.principal.roots, &query, 50).await?;
                // The query text may be an ID or phone number: the audit says only how many.
                ctx.audit("residents.search", "route", "/search", format!("{} results", found.len())).await?;
                for r in found {
                    let addr = address(&ctx, &r.unit, &r.room).await?;
                    results.push(json!({"id": r.id, "name": r.name.as_str(), "id_masked": r.id_number.masked(), "address": addr}));
                }
            }
            Err(e) => error = Some(lang.pick(&e.zh, &e.en).to_string()),
        }
    }
    Ok(crate::shell::render(
        &ctx,
        "search.html",
        "/search",
        json!({"q": q, "results": results, "searched": searched, "error": error}),
    )?
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Q {
    q: String,
}

#[utoipa::path(get, path = "/api/v1/residents", params(("q" = String, Query, description = "a name prefix (an ID number or a phone: POST /api/v1/residents/search)")),
    responses((status = 200, body = [ResidentDto]), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn search(ctx: Ctx, Query(q): Query<Q>) -> Result<Json<Vec<ResidentDto>>, AppError> {
    let text = crate::security::field("q", &q.q, 64)?;
    let query = url_query(&text)?;
    found(&ctx, &query, "/api/v1/residents").await
}

#[utoipa::path(post, path = "/api/v1/residents/search", request_body = Q,
    responses((status = 200, body = [ResidentDto]), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn search_post(ctx: Ctx, Json(q): Json<Q>) -> Result<Json<Vec<ResidentDto>>, AppError> {
    let text = crate::security::field("q", &q.q, 64)?;
    let query = classify_query(&text)?;
    found(&ctx, &query, "/api/v1/residents/search").await
}

async fn found(ctx: &Ctx, query: &ResidentQuery, route: &str) -> Result<Json<Vec<ResidentDto>>, AppError> {
    let found = ctx.store.search_residents(&ctx.principal.roots, query, 50).await?;
    ctx.audit("residents.search", "route", route, format!("{} results", found.len())).await?;
    let age = super::elderly_age(ctx).await?;
    Ok(Json(found.iter().map(|r| ResidentDto::from(r, None, age)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_kinds() {
        assert!(matches!(classify_query("11010519491231002x"), Ok(ResidentQuery::IdNumber(_))));
        assert!(matches!(classify_query("138 1234 5678"), Ok(ResidentQuery::Phone(_))));
        assert!(matches!(classify_query("张"), Ok(ResidentQuery::NamePrefix(_))));
        assert!(classify_query("1234").is_err());
        assert_eq!(url_query("11010519491231002x").unwrap_err().code, "query_in_url");
        assert_eq!(url_query("13812345678").unwrap_err().code, "query_in_url");
        assert!(matches!(url_query("张"), Ok(ResidentQuery::NamePrefix(_))));
    }
}
