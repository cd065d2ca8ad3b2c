//! The isolation queue (待隔离名单): confirmed contacts waiting for an order, oldest
//! deadline first, each with the regime the profile gives their class (centralised or
//! home, start, end, test days); orders issued in bulk from it, all or nothing; arrivals
//! from risk areas added by the commander or the dispatcher (a resident found by name or ID
//! number within the caller's subtree, or someone not on the register) — pages and API.

use super::{act, all_of, csrf_of, local, message, one_of, order_json, refusal};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::text;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use cordon_domain::authz::Action;
use cordon_domain::colour::{ContactClass, QuarantineKind};
use cordon_domain::containment::local_date;
use cordon_domain::containment::quarantine::{Category, Order, Person};
use cordon_domain::error::FieldError;
use cordon_domain::policy::Profile;
use cordon_domain::regime::Schedule;
use cordon_domain::{IdNumber, PersonName};
use cordon_store::ResidentQuery;
use cordon_store::containment::read::order_roots;
use cordon_store::containment::{OrderQuery, OrderRequest, QueueEntry, QueueQuery, QueueStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/quarantine/queue", Action::IssueOrders, queue_page),
        Route::post("/quarantine/orders", Action::IssueOrders, issue_form),
        Route::post("/quarantine/arrivals", Action::IssueOrders, arrival_form),
        Route::get("/api/v1/quarantine/queue", Action::IssueOrders, queue_api),
        Route::post("/api/v1/quarantine/orders", Action::IssueOrders, orders_api),
    ]
}

/// The waiting entries of the caller's subtree.
pub(super) async fn waiting(ctx: &Ctx) -> Result<Vec<QueueEntry>, AppError> {
    let q = QueueQuery::Status {
        statuses: vec![QueueStatus::Waiting],
        roots: order_roots(&ctx.principal.roots),
        limit: 2000,
    };
    Ok(ctx.store.isolation_queue(q).await?)
}

fn class_label(ctx: &Ctx, c: ContactClass) -> &'static str {
    let cat = Category::from(c);
    ctx.meta.lang.pick(cat.zh(), cat.en())
}

/// The regime the profile gives `category` from a last exposure: what the order will say.
fn preview(ctx: &Ctx, profile: &Profile, category: Category, last_exposure: DateTime<Utc>) -> Value {
    let lang = ctx.meta.lang;
    let Some(regime) = category.regime(profile) else { return Value::Null };
    let s = Schedule::new(regime, local_date(last_exposure, ctx.tz.offset()));
    let centralised = s.kind == QuarantineKind::Centralised;
    json!({
        "centralised": centralised,
        "label": if centralised { text(lang, "q.centralised") } else { text(lang, "q.home") },
        "centralised_days": s.centralised_days, "home_days": s.home_days,
        "start": s.start.to_string(), "end": s.end.to_string(),
        "tests": s.tests.iter().map(|t| super::date(t.date)).collect::<Vec<_>>(),
    })
}

fn entry_json(ctx: &Ctx, profile: &Profile, e: &QueueEntry) -> Value {
    let c = &e.candidate;
    json!({
        "contact_id": c.contact_id, "name": c.person.name.masked(),
        "class": class_label(ctx, c.class), "last_exposure": local(ctx, c.last_exposure),
        "identified_at": local(ctx, c.identified_at), "deadline": local(ctx, c.deadline),
        "overdue": c.deadline < ctx.now, "regime": preview(ctx, profile, Category::from(c.class), c.last_exposure),
    })
}

#[derive(Deserialize, Default)]
struct QueueQ {
    /// A resident search for an arrival: a name or a full ID number.
    #[serde(default)]
    q: String,
    /// How many orders were just issued.
    #[serde(default)]
    issued: Option<u32>,
}

async fn queue_page(ctx: Ctx, Query(q): Query<QueueQ>) -> Result<Response, AppError> {
    queue_view(&ctx, &q, None).await
}

/// The queue page; with `error` (a refused form) it is a 422 showing why.
async fn queue_view(ctx: &Ctx, q: &QueueQ, error: Option<FieldError>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let entries = waiting(ctx).await?;
    let rows: Vec<_> = entries.iter().map(|e| entry_json(ctx, &profile, e)).collect();
    let orders = ctx
        .store
        .orders(OrderQuery { roots: order_roots(&ctx.principal.roots), open: true, ..OrderQuery::default() })
        .await?;
    let mut orders: Vec<&Order> = orders.iter().collect();
    orders.sort_by_key(|o| std::cmp::Reverse(o.ordered_at));
    let orders: Vec<_> = orders.iter().take(200).map(|o| order_json(ctx, o)).collect();
    // The resident search of the arrival form, within the caller's subtree.
    let (mut found, mut search_error) = (Vec::new(), None);
    if !q.q.trim().is_empty() {
        match classify(&q.q) {
            Ok(rq) => {
                for r in ctx.store.search_residents(&ctx.principal.roots, &rq, 20).await? {
                    found.push(json!({"id": r.id, "name": r.name.masked(), "id_number": r.id_number.masked(),
                                      "unit": r.unit.as_str(), "room": r.room}));
                }
                // The query may be an ID number: the audit says only how many were found.
                ctx.audit("residents.search", "route", "/quarantine/queue", format!("{} found", found.len())).await?;
            }
            Err(e) => search_error = Some(message(lang, &e)),
        }
    }
    ctx.audit("isolation_queue.read", "route", "/quarantine/queue", format!("{} waiting", rows.len())).await?;
    let arrival = preview(ctx, &profile, Category::Arrival, ctx.now);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let html = render(
        ctx,
        "quarantine/queue.html",
        "/quarantine",
        json!({"entries": rows, "orders": orders, "found": found, "q": q.q, "search_error": search_error,
               "issued": q.issued, "arrival_regime": arrival, "error": error.map(|e| message(lang, &e)),
               "now_local": ctx.tz.local(ctx.now).format("%Y-%m-%dT%H:%M").to_string()}),
    )?;
    Ok((status, html).into_response())
}

fn classify(q: &str) -> Result<ResidentQuery, FieldError> {
    let t = q.trim();
    if let Ok(id) = IdNumber::parse(t) {
        return Ok(ResidentQuery::IdNumber(id));
    }
    if !t.is_empty() && t.chars().count() <= 20 && !t.chars().any(|c| c.is_ascii_digit() || c.is_ascii_punctuation()) {
        return Ok(ResidentQuery::NamePrefix(t.to_string()));
    }
    Err(FieldError::new(
        "query_format",
        "q",
        "请输入姓名，或完整的18位身份证号",
        "type a name or a full 18-character ID number",
    ))
}

/// Orders for `contacts` (of the queue the caller sees) and `arrivals`, all or nothing.
async fn issue(
    ctx: &Ctx,
    contacts: Vec<i64>,
    arrivals: Vec<OrderRequest>,
) -> Result<Result<Vec<Order>, FieldError>, AppError> {
    let mine: std::collections::HashSet<i64> = waiting(ctx).await?.iter().map(|e| e.candidate.contact_id).collect();
    if contacts.iter().any(|c| !mine.contains(c)) {
        return Err(ctx.refuse_scope("contact").await);
    }
    let mut requests: Vec<OrderRequest> =
        contacts.iter().map(|&contact_id| OrderRequest::Contact { contact_id }).collect();
    requests.extend(arrivals);
    if requests.is_empty() {
        return Ok(Err(FieldError::new("orders_empty", "contact", "请选择待隔离人员", "choose the people to order")));
    }
    let n = requests.len();
    let a = act(ctx, "orders.issue", "orders", "", format!("{n} orders")).await?;
    Ok(ctx.store.issue_orders(requests, a).await?.map_err(|r| refusal(r, &[])))
}

async fn issue_form(ctx: Ctx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let contacts: Vec<i64> = all_of(&f, "contact").iter().filter_map(|v| v.trim().parse().ok()).collect();
    match issue(&ctx, contacts, Vec::new()).await? {
        Ok(orders) => Ok(Redirect::to(&format!("/quarantine/queue?issued={}", orders.len())).into_response()),
        Err(e) => queue_view(&ctx, &QueueQ::default(), Some(e)).await,
    }
}

/// A `datetime-local` value in the district's time zone, or RFC 3339.
pub(super) fn parse_local(ctx: &Ctx, s: &str, name: &'static str) -> Result<DateTime<Utc>, FieldError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Some(t) =
            NaiveDateTime::parse_from_str(s, f).ok().and_then(|n| ctx.tz.offset().from_local_datetime(&n).single())
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(FieldError::new("time_format", name, "时间格式错误（如 2026-03-02 08:00）", "bad time (e.g. 2026-03-02 08:00)"))
}

/// What an arrival form or body holds.
#[derive(Deserialize, ToSchema, Default)]
pub(super) struct ArrivalBody {
    /// A registered resident (found by the search), or else the three fields below.
    #[serde(default)]
    resident_id: Option<i64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    address: String,
    /// Last exposure (arrival) time: RFC 3339, or local `YYYY-MM-DDTHH:MM`.
    last_exposure: String,
    /// Where the person arrived from.
    reason: String,
}

async fn arrival_request(ctx: &Ctx, b: &ArrivalBody) -> Result<Result<OrderRequest, FieldError>, AppError> {
    // A registered resident is ordered only within the caller's subtree, whatever else the
    // form holds.
    let resident = match b.resident_id {
        Some(rid) => {
            let r = ctx.store.resident(rid).await?.ok_or(AppError::NotFound("resident"))?;
            ctx.authorize(Some(&r.unit)).await?;
            Some(r.id)
        }
        None => None,
    };
    let last_exposure = match parse_local(ctx, &b.last_exposure, "last_exposure") {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let reason: String = b.reason.trim().chars().take(201).collect();
    if resident.is_some() {
        return Ok(Ok(OrderRequest::Arrival { resident_id: resident, person: None, last_exposure, reason }));
    }
    let name = match PersonName::parse(&b.name) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e.on_field("name"))),
    };
    let id_number = match IdNumber::parse(&b.id_number) {
        Ok(i) => i,
        Err(e) => return Ok(Err(e.on_field("id_number"))),
    };
    let person = Person {
        resident_id: None,
        name,
        id_number: Some(id_number),
        phone: None,
        unit: None,
        address: b.address.trim().chars().take(201).collect(),
        household_id: None,
    };
    Ok(Ok(OrderRequest::Arrival { resident_id: None, person: Some(person), last_exposure, reason }))
}

async fn arrival_form(ctx: Ctx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let b = ArrivalBody {
        resident_id: one_of(&f, "resident_id").trim().parse().ok(),
        name: one_of(&f, "name").into(),
        id_number: one_of(&f, "id_number").into(),
        address: one_of(&f, "address").into(),
        last_exposure: one_of(&f, "last_exposure").into(),
        reason: one_of(&f, "reason").into(),
    };
    let result = match arrival_request(&ctx, &b).await? {
        Ok(r) => issue(&ctx, Vec::new(), vec![r]).await?,
        Err(e) => Err(e),
    };
    match result {
        Ok(orders) => Ok(Redirect::to(&format!("/quarantine/queue?issued={}", orders.len())).into_response()),
        Err(e) => queue_view(&ctx, &QueueQ::default(), Some(e)).await,
    }
}

#[utoipa::path(get, path = "/api/v1/quarantine/queue", operation_id = "isolation_queue",
    responses((status = 200, description = "contacts waiting for an order in the caller's subtree, oldest deadline first, with the regime each will get"),
              (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn queue_api(ctx: Ctx) -> Result<Response, AppError> {
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let entries = waiting(&ctx).await?;
    ctx.audit("isolation_queue.read", "route", "/api/v1/quarantine/queue", format!("{} waiting", entries.len()))
        .await?;
    let rows: Vec<_> = entries.iter().map(|e| entry_json(&ctx, &profile, e)).collect();
    Ok(Json(json!({"waiting": rows})).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct OrdersBody {
    /// Contacts of the queue (their `contact_id`).
    #[serde(default)]
    contacts: Vec<i64>,
    #[serde(default)]
    arrivals: Vec<ArrivalBody>,
}

#[utoipa::path(post, path = "/api/v1/quarantine/orders", operation_id = "issue_orders", request_body = OrdersBody,
    responses((status = 201, description = "the orders issued, all or none"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn orders_api(ctx: Ctx, Json(b): Json<OrdersBody>) -> Result<Response, AppError> {
    if b.contacts.len() + b.arrivals.len() > 5000 {
        return Err(AppError::Field(FieldError::new(
            "too_many",
            "contact",
            "一次最多5000人",
            "5000 people at most at once",
        )));
    }
    let mut arrivals = Vec::with_capacity(b.arrivals.len());
    for a in &b.arrivals {
        arrivals.push(arrival_request(&ctx, a).await??);
    }
    let orders = issue(&ctx, b.contacts, arrivals).await??;
    let out: Vec<_> = orders.iter().map(|o| order_json(&ctx, o)).collect();
    Ok((StatusCode::CREATED, Json(json!({"orders": out}))).into_response())
}
