//! The commander's network view: cases and contacts as a graph with generations (Apache
//! ECharts, served at `/static/echarts.min.js`), filtered by cluster, street and date,
//! with the tracing KPIs; the page draws from the JSON API.

use super::{act, local, no_store, refused, word};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{NaiveDate, NaiveTime};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_store::tracing::ChainFilter;
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/tracing/chains", Action::ViewChains, chains_page),
        Route::post("/tracing/clusters", Action::ViewChains, create_cluster),
        Route::get("/api/v1/chains", Action::ViewChains, api_chains),
        Route::get("/api/v1/tracing/kpis", Action::ViewChains, api_kpis),
    ]
}

/// Nodes the graph shows at most (the API says when it cut).
const MAX_CASES: u32 = 20_000;

#[derive(Deserialize, Default)]
pub(super) struct ChainQuery {
    #[serde(default)]
    cluster: Option<i64>,
    /// A street's code: only cases living there.
    #[serde(default)]
    street: Option<String>,
    /// Local date: only cases made on or after it.
    #[serde(default)]
    since: Option<String>,
}

async fn filter_of(ctx: &Ctx, q: &ChainQuery) -> Result<ChainFilter, AppError> {
    let mut roots = ctx.principal.roots.clone();
    if let Some(s) = q.street.as_deref().filter(|s| !s.trim().is_empty()) {
        let street = AreaCode::parse(s.trim()).map_err(|e| e.on_field("street"))?;
        ctx.authorize(Some(&street)).await?;
        roots = vec![street];
    }
    let since = match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                FieldError::new("date_invalid", "since", "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD")
            })?;
            Some(cordon_domain::containment::local_instant(d, NaiveTime::MIN, ctx.tz.offset()))
        }
        None => None,
    };
    Ok(ChainFilter { roots, cluster_id: q.cluster, since, until: None, limit: MAX_CASES })
}

async fn chains_page(ctx: Ctx, Query(q): Query<ChainQuery>) -> Result<Response, AppError> {
    let f = filter_of(&ctx, &q).await?;
    let clusters = ctx.store.clusters().await?;
    let kpis = ctx.store.tracing_kpis(&ctx.principal.roots).await?;
    let lang = ctx.meta.lang;
    let streets: Vec<Value> = ctx
        .principal
        .roots
        .iter()
        .flat_map(|r| r.lineage())
        .filter(|a| a.level() == AreaLevel::Street)
        .map(|a| json!({"code": a.as_str()}))
        .collect();
    let steps: Vec<Value> = kpis
        .steps
        .iter()
        .map(|s| {
            json!({"label": crate::i18n::text(lang, &format!("tracing.step.{}", s.step)), "reached": s.reached,
                       "median": s.median_minutes.map(|m| format!("{m:.0}")),
                       "within": s.within_24h.map(|x| format!("{:.0}%", x * 100.0))})
        })
        .collect();
    let pct = |x: Option<f64>| x.map(|x| format!("{:.0}%", x * 100.0));
    let query = format!(
        "cluster={}&street={}&since={}",
        q.cluster.map(|c| c.to_string()).unwrap_or_default(),
        q.street.clone().unwrap_or_default(),
        q.since.clone().unwrap_or_default()
    );
    let _ = f;
    let html = render(
        &ctx,
        "tracing/chains.html",
        "/tracing/chains",
        json!({"clusters": clusters, "cluster": q.cluster, "street": q.street, "since": q.since, "streets": streets,
               "query": query, "kpis": {"cases": kpis.cases, "steps": steps,
               "contacts_per_case": kpis.contacts_per_case.map(|x| format!("{x:.1}")),
               "share_known": pct(kpis.share_known_before), "share_no_source": pct(kpis.share_no_source)}}),
    )?;
    Ok(no_store(html))
}

#[derive(Deserialize)]
struct ClusterForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
}

async fn create_cluster(ctx: Ctx, Form(f): Form<ClusterForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    if f.name.chars().count() > 80 {
        return Err(FieldError::new(
            "cluster_name",
            "name",
            "请填写聚集性疫情名称（最多80字）",
            "name the cluster (80 characters at most)",
        )
        .into());
    }
    let c = ctx
        .store
        .create_cluster(f.name, act(&ctx, "cluster.create", "cluster", "new").await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/chains?cluster={}", c.id)).into_response())
}

#[utoipa::path(get, path = "/api/v1/chains",
    params(("cluster" = Option<i64>, Query, description = "a cluster's id"),
           ("street" = Option<String>, Query, description = "a street's area code"),
           ("since" = Option<String>, Query, description = "local date YYYY-MM-DD")),
    responses((status = 200, description = "the network: nodes (cases and contacts, with generations) and edges"),
              (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn api_chains(ctx: Ctx, Query(q): Query<ChainQuery>) -> Result<Response, AppError> {
    let f = filter_of(&ctx, &q).await?;
    let started = std::time::Instant::now();
    let chains = ctx.store.chains(&f).await?;
    ctx.audit(
        "chains.read",
        "area",
        &f.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        format!("{} nodes", chains.nodes.len()),
    )
    .await?;
    let lang = ctx.meta.lang;
    let nodes: Vec<Value> = chains
        .nodes
        .iter()
        .map(|n| {
            json!({"id": n.key, "case_id": n.case_id, "contact_id": n.contact_id, "label": n.label, "generation": n.generation,
                   "class": n.class.map(|c| word(lang, "class", c.as_str())), "cluster": n.cluster_id,
                   "street": n.street.as_ref().map(|s| s.as_str().to_string()), "at": local(&ctx, n.at)})
        })
        .collect();
    let edges: Vec<Value> = chains.edges.iter().map(|(a, b)| json!({"source": a, "target": b})).collect();
    Ok(no_store(Json(json!({"nodes": nodes, "edges": edges, "clusters": chains.clusters,
                            "server_ms": started.elapsed().as_millis() as u64}))))
}

#[utoipa::path(get, path = "/api/v1/tracing/kpis",
    responses((status = 200, description = "tracing KPIs: pipeline medians and shares within 24 h, contacts per case, shares"),
              (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn api_kpis(ctx: Ctx) -> Result<Response, AppError> {
    let k = ctx.store.tracing_kpis(&ctx.principal.roots).await?;
    Ok(Json(json!(k)).into_response())
}
