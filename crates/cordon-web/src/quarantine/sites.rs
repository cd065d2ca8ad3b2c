//! Quarantine sites and the site manager's board: opening a site with its rooms (hotel,
//! 方舱, other; categories accepted), rooms by floor with their state, arrivals due with
//! the suggested rooms (accept, or move a person), rooms to clean (one action), health
//! checks per person, the release list with its action, and the order notices
//! (隔离告知书) of the site printed in bulk — pages and API. Every assignment is audited by
//! the store, one entry per person.

use super::{act, all_of, csrf_of, message, one_of, order_json, refusal, site_json, test_json};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::text;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::NaiveTime;
use cordon_domain::Role;
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::containment::assign::SiteSlots;
use cordon_domain::containment::kpi;
use cordon_domain::containment::local_instant;
use cordon_domain::containment::quarantine::HealthCheck;
use cordon_domain::containment::quarantine::{
    Category, NewHealthCheck, NewRoom, NewSite, Order, RoomEvent, RoomState, SiteKind, Symptom, parse_temperature,
};
use cordon_domain::error::FieldError;
use cordon_store::containment::{Keys, OrderQuery, SiteBoard, SiteQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/quarantine/sites", Action::ManageSite, sites_page),
        Route::post("/quarantine/sites", Action::ManageSite, open_site_form),
        Route::get("/quarantine/sites/{id}", Action::ManageSite, board_page),
        Route::post("/quarantine/sites/{id}/rooms", Action::ManageSite, add_rooms_form),
        Route::post("/quarantine/sites/{id}/assign", Action::ManageSite, assign_form),
        Route::get("/quarantine/sites/{id}/notices", Action::ManageSite, notices_page),
        Route::get("/quarantine/home-notices", Action::FollowHome, home_notices_page),
        Route::post("/quarantine/rooms/{id}/state", Action::ManageSite, room_form),
        Route::post("/quarantine/orders/{id}/checks", Action::ManageSite, check_form),
        Route::post("/quarantine/orders/{id}/release", Action::ManageSite, release_form),
        Route::get("/api/v1/quarantine/sites", Action::ManageSite, sites_api),
        Route::post("/api/v1/quarantine/sites", Action::ManageSite, open_site_api),
        Route::get("/api/v1/quarantine/sites/{id}/board", Action::ManageSite, board_api),
        Route::post("/api/v1/quarantine/sites/{id}/assignments", Action::ManageSite, assign_api),
        Route::post("/api/v1/quarantine/orders/{id}/checks", Action::ManageSite, check_api),
        Route::post("/api/v1/quarantine/orders/{id}/release", Action::ManageSite, release_api),
    ]
}

/// Sites standing in the caller's subtree.
pub(super) async fn visible_sites(ctx: &Ctx) -> Result<Vec<SiteSlots>, AppError> {
    Ok(ctx.store.quarantine_sites(SiteQuery::Under(ctx.principal.roots.clone())).await?)
}

/// The site, if the caller may run it (its area in their subtree).
async fn site_for(ctx: &Ctx, id: i64) -> Result<SiteSlots, AppError> {
    let s = ctx.store.quarantine_site(id).await?.ok_or(AppError::NotFound("site"))?;
    ctx.authorize(Some(&s.site.site.area)).await?;
    Ok(s)
}

/// The order, if the caller may act on it: at a site they run (or, not at a site, a person
/// of their subtree).
async fn order_for(ctx: &Ctx, id: i64) -> Result<Order, AppError> {
    let o = ctx.store.orders(OrderQuery::ids(vec![id])).await?.pop().ok_or(AppError::NotFound("order"))?;
    match (o.site_id, &o.person.unit) {
        (Some(s), _) => {
            site_for(ctx, s).await?;
        }
        (None, Some(unit)) => ctx.authorize(Some(unit)).await?,
        (None, None) => ctx.authorize(None).await?,
    }
    Ok(o)
}

fn occupancy_json(o: &kpi::Occupancy) -> Value {
    json!({"rooms": o.rooms, "beds": o.beds, "occupied": o.occupied, "free": o.free, "cleaning": o.cleaning,
           "out_of_service": o.out_of_service, "percent": o.rate.map(|r| (r * 100.0).round())})
}

// ---- the list and opening a site -------------------------------------------------------------

async fn sites_page(ctx: Ctx) -> Result<Response, AppError> {
    sites_view(&ctx, None).await
}

async fn sites_view(ctx: &Ctx, error: Option<FieldError>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let sites = visible_sites(ctx).await?;
    let rows: Vec<_> = sites
        .iter()
        .map(|s| {
            let mut j = site_json(lang, &s.site);
            j["occupancy"] = occupancy_json(&kpi::occupancy(&s.rooms));
            j["mine"] = json!(s.site.site.manager_user_id == Some(ctx.user.id));
            j
        })
        .collect();
    let managers: Vec<_> = ctx
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Role::SiteManager)
        .map(|u| json!({"id": u.id, "name": u.display_name}))
        .collect();
    let kinds: Vec<_> =
        SiteKind::ALL.iter().map(|k| json!({"code": k.as_str(), "label": lang.pick(k.zh(), k.en())})).collect();
    let cats: Vec<_> =
        Category::ALL.iter().map(|k| json!({"code": k.as_str(), "label": lang.pick(k.zh(), k.en())})).collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let html = render(
        ctx,
        "quarantine/sites.html",
        "/quarantine",
        json!({"sites": rows, "managers": managers, "kinds": kinds, "categories": cats,
               "area_default": ctx.principal.roots.first(), "error": error.map(|e| message(lang, &e))}),
    )?;
    Ok((status, html).into_response())
}

/// Rooms typed one per line: `floor number beds`, or `floor first-last beds` for a run of
/// numbered rooms (`3 301-320 1`). At most 2,000 rooms at once.
fn parse_rooms(text: &str) -> Result<Vec<NewRoom>, FieldError> {
    let bad = |line: usize| {
        FieldError::new(
            "rooms_format",
            "rooms",
            format!("第{line}行格式错误：应为“楼层 房间号 床位数”，如 3 301 1 或 3 301-320 1"),
            format!("line {line}: write “floor number beds”, e.g. 3 301 1 or 3 301-320 1"),
        )
    };
    if text.len() > 100_000 {
        return Err(FieldError::new("rooms_many", "rooms", "一次最多2000间", "2000 rooms at most at once"));
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [floor, number, beds] = parts.as_slice() else { return Err(bad(i + 1)) };
        let floor: i32 = floor.parse().map_err(|_| bad(i + 1))?;
        let beds: u32 = beds.parse().map_err(|_| bad(i + 1))?;
        let numbers: Vec<String> = match number.split_once('-') {
            Some((a, b)) if a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit()) => {
                let (a, b): (u32, u32) = (a.parse().map_err(|_| bad(i + 1))?, b.parse().map_err(|_| bad(i + 1))?);
                if b < a || b - a >= 2000 {
                    return Err(bad(i + 1));
                }
                (a..=b).map(|n| n.to_string()).collect()
            }
            _ => vec![number.to_string()],
        };
        for n in numbers {
            out.push(NewRoom::new(floor, &n, beds)?);
            if out.len() > 2000 {
                return Err(FieldError::new("rooms_many", "rooms", "一次最多2000间", "2000 rooms at most at once"));
            }
        }
    }
    Ok(out)
}

/// A site request as a form or a body gives it.
#[derive(Deserialize, ToSchema, Default)]
pub(super) struct SiteBody {
    name: String,
    /// `hotel`, `fangcang` or `other`.
    kind: String,
    address: String,
    /// The area it stands in (a code of the caller's subtree).
    area_code: String,
    manager: String,
    #[serde(default)]
    manager_user_id: Option<i64>,
    /// `close_contact`, `secondary_contact`, `arrival`, `case`.
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    rooms: Vec<RoomBody>,
}

#[derive(Deserialize, ToSchema, Clone)]
pub(super) struct RoomBody {
    floor: i32,
    number: String,
    beds: u32,
}

async fn open(
    ctx: &Ctx,
    b: &SiteBody,
    rooms: Vec<NewRoom>,
) -> Result<Result<cordon_domain::containment::quarantine::Site, FieldError>, AppError> {
    let area = AreaCode::parse(&b.area_code).map_err(|e| e.on_field("area_code"))?;
    ctx.authorize(Some(&area)).await?;
    let kind = SiteKind::parse(&b.kind)
        .ok_or_else(|| FieldError::new("site_kind", "kind", "请选择隔离点类型", "choose the kind of site"))?;
    let mut cats = Vec::new();
    for c in &b.categories {
        cats.push(Category::parse(c).ok_or_else(|| {
            FieldError::new("site_category_unknown", "categories", "未知的人员类别", "unknown category")
        })?);
    }
    if let Some(uid) = b.manager_user_id {
        let u = ctx.store.user(uid).await?;
        if u.is_none_or(|u| u.role != Role::SiteManager) {
            return Ok(Err(FieldError::new(
                "site_manager_account",
                "manager",
                "负责人账号须为隔离点负责人",
                "the manager's account must be a site manager's",
            )));
        }
    }
    let site = match NewSite::new(&b.name, kind, &b.address, area, &b.manager, b.manager_user_id, None, &cats, ctx.now)
    {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let a = act(ctx, "site.open", "site", "", format!("{} rooms", rooms.len())).await?;
    Ok(ctx.store.open_site(site, rooms, a).await?.map_err(|r| refusal(r, &[])))
}

async fn open_site_form(ctx: Ctx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let b = SiteBody {
        name: one_of(&f, "name").into(),
        kind: one_of(&f, "kind").into(),
        address: one_of(&f, "address").into(),
        area_code: one_of(&f, "area_code").into(),
        manager: one_of(&f, "manager").into(),
        manager_user_id: one_of(&f, "manager_user_id").trim().parse().ok(),
        categories: all_of(&f, "category").into_iter().map(String::from).collect(),
        rooms: Vec::new(),
    };
    let result = match parse_rooms(one_of(&f, "rooms")) {
        Ok(rooms) => match open(&ctx, &b, rooms).await {
            Ok(r) => r,
            Err(AppError::Field(e)) => Err(e),
            Err(e) => return Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(site) => Ok(Redirect::to(&format!("/quarantine/sites/{}", site.id)).into_response()),
        Err(e) => sites_view(&ctx, Some(e)).await,
    }
}

async fn add_rooms_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    site_for(&ctx, id).await?;
    let result = match parse_rooms(one_of(&f, "rooms")) {
        Ok(rooms) => {
            let a = act(&ctx, "site.rooms", "site", &id.to_string(), format!("{} rooms", rooms.len())).await?;
            ctx.store.add_rooms(id, rooms, a).await?.map(|_| ()).map_err(|r| refusal(r, &[]))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/quarantine/sites/{id}")).into_response()),
        Err(e) => board_view(&ctx, id, Some(e), None).await,
    }
}

// ---- the board ---------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct BoardQ {
    /// What was just done (a message key's last part).
    #[serde(default)]
    done: Option<String>,
}

async fn board_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<BoardQ>) -> Result<Response, AppError> {
    board_view(&ctx, id, None, q.done).await
}

fn room_label(floor: i32, number: &str) -> String {
    format!("{floor}F·{number}")
}

/// The site manager's board; with `error` a 422 naming what was refused.
async fn board_view(ctx: &Ctx, id: i64, error: Option<FieldError>, done: Option<String>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let slots = site_for(ctx, id).await?;
    let view = super::view(ctx).await?;
    let board = ctx.store.site_board(id, &view).await?.ok_or(AppError::NotFound("site"))?;
    let rooms: BTreeMap<i64, (i32, String)> =
        slots.rooms.iter().map(|r| (r.room.id, (r.room.floor, r.room.number.clone()))).collect();
    let label_of = |room: Option<i64>| room.and_then(|r| rooms.get(&r)).map(|(f, n)| room_label(*f, n));
    // Suggested rooms for the arrivals not yet given one.
    let unroomed: Vec<i64> = board.arrivals_due.iter().filter(|o| o.room_id.is_none()).map(|o| o.id).collect();
    let suggestion =
        if unroomed.is_empty() { None } else { Some(ctx.store.suggest_rooms(&unroomed, &[id], &view).await?) };
    let suggested: BTreeMap<i64, i64> =
        suggestion.iter().flat_map(|s| s.placements.iter()).map(|p| (p.order_id, p.room_id)).collect();
    let unplaced: BTreeMap<i64, Value> =
        suggestion.iter().flat_map(|s| s.unplaced.iter()).map(|(o, e)| (*o, message(lang, e))).collect();
    let room_options: Vec<_> = slots
        .rooms
        .iter()
        .filter(|r| matches!(r.room.state, RoomState::Free | RoomState::Occupied))
        .map(|r| {
            json!({"id": r.room.id, "label": room_label(r.room.floor, &r.room.number),
                   "free": r.free_beds(), "beds": r.room.beds})
        })
        .collect();
    let arrivals: Vec<_> = board
        .arrivals_due
        .iter()
        .map(|o| {
            let mut j = order_json(ctx, o);
            let pick = o.room_id.or_else(|| suggested.get(&o.id).copied());
            j["room"] = json!(label_of(o.room_id));
            j["pick"] = json!(pick);
            j["unplaced"] = unplaced.get(&o.id).cloned().unwrap_or(Value::Null);
            j
        })
        .collect();
    // Today's health checks of the people here: how many of the profile's daily checks are
    // done, the last temperature, and any alarm (fever or a symptom) to act on.
    let since = local_instant(view.today(), NaiveTime::MIN, view.offset());
    let keys = Keys {
        orders: vec![OrderQuery { site_ids: Some(vec![id]), open: true, ..OrderQuery::default() }],
        checks_since: Some(since),
        ..Keys::default()
    };
    let mut checks: BTreeMap<i64, Vec<HealthCheck>> = BTreeMap::new();
    for c in ctx.store.containment_facts(&keys).await?.checks {
        checks.entry(c.check.order_id).or_default().push(c);
    }
    let expected = view.profile.quarantine.health_checks_per_day;
    let people: Vec<_> = board
        .people
        .iter()
        .map(|o| {
            let mut j = order_json(ctx, o);
            j["room"] = json!(label_of(o.room_id));
            let today = checks.get(&o.id).map(Vec::as_slice).unwrap_or_default();
            let last = today.iter().max_by_key(|c| c.check.at);
            j["checks_today"] = json!(today.len());
            j["checks_expected"] = json!(expected);
            j["checks_due"] = json!(today.len() < expected as usize);
            j["last_temperature"] =
                json!(last.map(|c| format!("{:.1}", f64::from(c.check.temperature.tenths()) / 10.0)));
            j["alarm"] = json!(today.iter().any(|c| c.check.alarm));
            j
        })
        .collect();
    let alarms: Vec<_> = people.iter().filter(|p| p["alarm"] == true).cloned().collect();
    let releases: Vec<_> = board
        .releases_due
        .iter()
        .map(|l| {
            let mut j = order_json(ctx, &l.order);
            j["room"] = json!(label_of(l.order.room_id));
            j["due"] = json!(l.due.to_string());
            j["ready"] = json!(l.ready.is_ok());
            j["why"] = l.ready.as_ref().err().map(|e| message(lang, e)).unwrap_or(Value::Null);
            j["tests"] = json!(l.order.schedule.tests.len());
            j
        })
        .collect();
    let tests_due: Vec<_> = board
        .tests_due
        .iter()
        .map(|(o, t)| json!({"order_id": o.id, "name": o.person.name.masked(), "room": label_of(o.room_id), "test": test_json(lang, t)}))
        .collect();
    // The floor plan: rooms by floor with who is in them (masked).
    let names: BTreeMap<i64, String> =
        board.people.iter().chain(&board.arrivals_due).map(|o| (o.id, o.person.name.masked())).collect();
    let mut floors: BTreeMap<i32, Vec<Value>> = BTreeMap::new();
    for r in &slots.rooms {
        let who: Vec<_> = r
            .occupants
            .iter()
            .map(|x| names.get(&x.order_id).cloned().unwrap_or_else(|| format!("#{}", x.order_id)))
            .collect();
        floors.entry(r.room.floor).or_default().push(json!({
            "id": r.room.id, "number": r.room.number, "beds": r.room.beds, "state": r.room.state.as_str(),
            "state_label": lang.pick(r.room.state.zh(), r.room.state.en()), "who": who,
        }));
    }
    let floor_stats: BTreeMap<i32, Value> =
        board.floors.iter().map(|f| (f.floor, occupancy_json(&f.occupancy))).collect();
    let floors: Vec<_> = floors
        .into_iter()
        .rev()
        .map(|(floor, rooms)| json!({"floor": floor, "rooms": rooms, "occupancy": floor_stats.get(&floor)}))
        .collect();
    let to_clean: Vec<_> =
        board.rooms_to_clean.iter().map(|r| json!({"id": r.id, "label": room_label(r.floor, &r.number)})).collect();
    let symptoms: Vec<_> =
        Symptom::ALL.iter().map(|s| json!({"code": s.as_str(), "label": lang.pick(s.zh(), s.en())})).collect();
    ctx.audit("site_board.read", "site", &id.to_string(), format!("{} people", board.people.len())).await?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let done = done
        .filter(|d| ["assigned", "released", "checked", "cleaned"].contains(&d.as_str()))
        .map(|d| text(lang, &format!("q.{d}")));
    let html = render(
        ctx,
        "quarantine/site.html",
        "/quarantine",
        json!({"site": site_json(lang, &board.site), "occupancy": occupancy_json(&board.occupancy), "floors": floors,
               "arrivals": arrivals, "people": people, "releases": releases, "tests_due": tests_due,
               "to_clean": to_clean, "room_options": room_options, "symptoms": symptoms, "alarms": alarms,
               "error": error.map(|e| message(lang, &e)), "done": done}),
    )?;
    Ok((status, html).into_response())
}

/// Orders the board shows (arrivals due and people here): the only ones it may place.
fn on_board(board: &SiteBoard) -> Vec<Order> {
    board.arrivals_due.iter().chain(&board.people).cloned().collect()
}

async fn assign(ctx: &Ctx, id: i64, placements: Vec<(i64, i64)>) -> Result<Result<usize, FieldError>, AppError> {
    site_for(ctx, id).await?;
    let view = super::view(ctx).await?;
    let board = ctx.store.site_board(id, &view).await?.ok_or(AppError::NotFound("site"))?;
    let orders = on_board(&board);
    if placements.iter().any(|(o, _)| !orders.iter().any(|x| x.id == *o)) {
        return Err(ctx.refuse_scope("order").await);
    }
    if placements.is_empty() {
        return Ok(Err(FieldError::new("assign_empty", "room", "请为人员选择房间", "choose a room for each person")));
    }
    let a = act(ctx, "rooms.assign", "site", &id.to_string(), format!("{} people", placements.len())).await?;
    Ok(ctx.store.assign_rooms(placements, a).await?.map(|p| p.len()).map_err(|r| refusal(r, &orders)))
}

/// `order` (repeated) and `room_<order id>` for each: the rooms accepted or changed.
async fn assign_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let mut placements = Vec::new();
    for o in all_of(&f, "order") {
        let Ok(order) = o.trim().parse::<i64>() else { continue };
        let Ok(room) = one_of(&f, &format!("room_{order}")).trim().parse::<i64>() else {
            continue;
        };
        placements.push((order, room));
    }
    match assign(&ctx, id, placements).await? {
        Ok(_) => Ok(Redirect::to(&format!("/quarantine/sites/{id}?done=assigned")).into_response()),
        Err(e) => board_view(&ctx, id, Some(e), None).await,
    }
}

async fn room_form(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let slots =
        ctx.store.quarantine_sites(SiteQuery::OfRooms(vec![id])).await?.pop().ok_or(AppError::NotFound("room"))?;
    ctx.authorize(Some(&slots.site.site.area)).await?;
    let event = match one_of(&f, "event") {
        "cleaned" => RoomEvent::Cleaned,
        "out_of_service" => RoomEvent::OutOfService,
        "back_in_service" => RoomEvent::BackInService,
        _ => return Err(FieldError::new("room_event", "state", "未知的房间操作", "unknown room action").into()),
    };
    let a = act(&ctx, "room.state", "room", &id.to_string(), one_of(&f, "event").to_string()).await?;
    let site = slots.site.id;
    match ctx.store.room_event(id, event, a).await? {
        Ok(_) => Ok(Redirect::to(&format!("/quarantine/sites/{site}?done=cleaned")).into_response()),
        Err(r) => board_view(&ctx, site, Some(refusal(r, &[])), None).await,
    }
}

async fn health_check(
    ctx: &Ctx,
    order: &Order,
    temperature: &str,
    symptoms: &[&str],
    note: &str,
) -> Result<Result<(), FieldError>, AppError> {
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let t = match parse_temperature(temperature) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let mut list = Vec::new();
    for s in symptoms {
        list.push(
            Symptom::parse(s)
                .ok_or_else(|| FieldError::new("symptom_unknown", "symptoms", "未知症状", "unknown symptom"))?,
        );
    }
    let note: String = note.chars().take(201).collect();
    let check = match NewHealthCheck::new(
        order.id,
        t,
        &list,
        &note,
        &profile,
        Some(ctx.user.id),
        &ctx.user.display_name,
        ctx.now,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let a = act(
        ctx,
        "health_check.record",
        "order",
        &order.id.to_string(),
        if check.alarm { "alarm" } else { "normal" }.to_string(),
    )
    .await?;
    Ok(ctx.store.record_health_check(check, a).await?.map(|_| ()).map_err(|r| refusal(r, std::slice::from_ref(order))))
}

async fn check_form(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let o = order_for(&ctx, id).await?;
    let site = o.site_id.ok_or(AppError::NotFound("site"))?;
    match health_check(&ctx, &o, one_of(&f, "temperature"), &all_of(&f, "symptom"), one_of(&f, "note")).await? {
        Ok(()) => Ok(Redirect::to(&format!("/quarantine/sites/{site}?done=checked")).into_response()),
        Err(e) => board_view(&ctx, site, Some(e), None).await,
    }
}

async fn release(ctx: &Ctx, o: &Order) -> Result<Result<Order, FieldError>, AppError> {
    let a = act(ctx, "order.release", "order", &o.id.to_string(), String::new()).await?;
    Ok(ctx.store.release_order(o.id, a).await?.map_err(|r| refusal(r, std::slice::from_ref(o))))
}

async fn release_form(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    csrf_of(&ctx, &f)?;
    let o = order_for(&ctx, id).await?;
    let site = o.site_id.ok_or(AppError::NotFound("site"))?;
    match release(&ctx, &o).await? {
        Ok(_) => Ok(Redirect::to(&format!("/quarantine/sites/{site}?done=released")).into_response()),
        Err(e) => board_view(&ctx, site, Some(e), None).await,
    }
}

// ---- the order notices -------------------------------------------------------------------------

/// One notice per person held at the site, full name (it is handed to them), the ID number
/// masked, page breaks between them.
async fn notices_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let slots = site_for(&ctx, id).await?;
    let view = super::view(&ctx).await?;
    let board = ctx.store.site_board(id, &view).await?.ok_or(AppError::NotFound("site"))?;
    let rooms: BTreeMap<i64, String> =
        slots.rooms.iter().map(|r| (r.room.id, room_label(r.room.floor, &r.room.number))).collect();
    let notices: Vec<_> = board
        .people
        .iter()
        .chain(board.arrivals_due.iter())
        .map(|o| {
            let mut j = order_json(&ctx, o);
            j["full_name"] = json!(o.person.name.as_str());
            j["room"] = json!(o.room_id.and_then(|r| rooms.get(&r)));
            j["tests"] = json!(o.schedule.tests.iter().map(|t| t.date.to_string()).collect::<Vec<_>>());
            j
        })
        .collect();
    ctx.audit("notices.print", "site", &id.to_string(), format!("{} notices", notices.len())).await?;
    let html = render(
        &ctx,
        "quarantine/notices.html",
        "/quarantine",
        json!({"site": site_json(lang, &board.site), "notices": notices,
               "today": ctx.tz.today(ctx.now).to_string()}),
    )?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// The notices (隔离告知书) of everyone in home quarantine in the caller's subtree (a
/// community's or a grid's), in bulk, for the community worker to hand out at the door.
async fn home_notices_page(ctx: Ctx) -> Result<Response, AppError> {
    let q = OrderQuery { roots: Some(ctx.principal.roots.clone()), open: true, ..OrderQuery::default() };
    let notices: Vec<_> = ctx
        .store
        .orders(q)
        .await?
        .iter()
        .filter(|o| !o.centralised())
        .map(|o| {
            let mut j = order_json(&ctx, o);
            j["full_name"] = json!(o.person.name.as_str());
            j["tests"] = json!(o.schedule.tests.iter().map(|t| t.date.to_string()).collect::<Vec<_>>());
            j
        })
        .collect();
    let scope = ctx.principal.roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
    ctx.audit("notices.print", "area", &scope, format!("{} home notices", notices.len())).await?;
    let html = render(
        &ctx,
        "quarantine/notices.html",
        "/followup",
        json!({"site": null, "scope": ctx.principal.scope_label, "notices": notices,
               "today": ctx.tz.today(ctx.now).to_string()}),
    )?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], html).into_response())
}

// ---- API ------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/quarantine/sites", operation_id = "quarantine_sites",
    responses((status = 200, description = "sites in the caller's subtree with their occupancy"), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn sites_api(ctx: Ctx) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let sites: Vec<_> = visible_sites(&ctx)
        .await?
        .iter()
        .map(|s| {
            let mut j = site_json(lang, &s.site);
            j["occupancy"] = occupancy_json(&kpi::occupancy(&s.rooms));
            j
        })
        .collect();
    Ok(Json(json!({"sites": sites})).into_response())
}

#[utoipa::path(post, path = "/api/v1/quarantine/sites", operation_id = "quarantine_site_open", request_body = SiteBody,
    responses((status = 201, description = "the site opened with its rooms"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn open_site_api(ctx: Ctx, Json(b): Json<SiteBody>) -> Result<Response, AppError> {
    if b.rooms.len() > 2000 {
        return Err(FieldError::new("rooms_many", "rooms", "一次最多2000间", "2000 rooms at most at once").into());
    }
    let mut rooms = Vec::with_capacity(b.rooms.len());
    for r in &b.rooms {
        rooms.push(NewRoom::new(r.floor, &r.number, r.beds)?);
    }
    let site = open(&ctx, &b, rooms).await??;
    Ok((StatusCode::CREATED, Json(site_json(ctx.meta.lang, &site))).into_response())
}

#[utoipa::path(get, path = "/api/v1/quarantine/sites/{id}/board", operation_id = "quarantine_site_board", params(("id" = i64, Path)),
    responses((status = 200, description = "occupancy by floor, arrivals due, releases due, rooms to clean, tests due, people here"),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn board_api(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    site_for(&ctx, id).await?;
    let view = super::view(&ctx).await?;
    let b = ctx.store.site_board(id, &view).await?.ok_or(AppError::NotFound("site"))?;
    ctx.audit("site_board.read", "site", &id.to_string(), format!("{} people", b.people.len())).await?;
    let orders = |v: &[Order]| v.iter().map(|o| order_json(&ctx, o)).collect::<Vec<_>>();
    Ok(Json(json!({
        "site": site_json(lang, &b.site), "occupancy": occupancy_json(&b.occupancy),
        "floors": b.floors.iter().map(|f| json!({"floor": f.floor, "occupancy": occupancy_json(&f.occupancy)})).collect::<Vec<_>>(),
        "arrivals_due": orders(&b.arrivals_due), "people": orders(&b.people),
        "releases_due": b.releases_due.iter().map(|l| json!({"order": order_json(&ctx, &l.order), "due": l.due.to_string(),
            "ready": l.ready.is_ok(), "why": l.ready.as_ref().err().map(|e| e.code)})).collect::<Vec<_>>(),
        "rooms_to_clean": b.rooms_to_clean.iter().map(|r| json!({"id": r.id, "floor": r.floor, "number": r.number})).collect::<Vec<_>>(),
        "tests_due": b.tests_due.iter().map(|(o, t)| json!({"order_id": o.id, "test": test_json(lang, t)})).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct AssignBody {
    /// (order id, room id) pairs: the suggested rooms accepted, or people moved.
    placements: Vec<(i64, i64)>,
}

#[utoipa::path(post, path = "/api/v1/quarantine/sites/{id}/assignments", operation_id = "quarantine_assign", params(("id" = i64, Path)),
    request_body = AssignBody, responses((status = 200, description = "rooms assigned, each audited"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn assign_api(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<AssignBody>) -> Result<Response, AppError> {
    if b.placements.len() > 2000 {
        return Err(FieldError::new("too_many", "room", "一次最多2000人", "2000 people at most at once").into());
    }
    let n = assign(&ctx, id, b.placements).await??;
    Ok(Json(json!({"assigned": n})).into_response())
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CheckBody {
    /// °C, e.g. `36.8`.
    temperature: String,
    #[serde(default)]
    symptoms: Vec<String>,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/api/v1/quarantine/orders/{id}/checks", operation_id = "quarantine_health_check", params(("id" = i64, Path)),
    request_body = CheckBody, responses((status = 201, description = "recorded"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn check_api(ctx: Ctx, Path(id): Path<i64>, Json(b): Json<CheckBody>) -> Result<Response, AppError> {
    let o = order_for(&ctx, id).await?;
    let symptoms: Vec<&str> = b.symptoms.iter().take(20).map(String::as_str).collect();
    health_check(&ctx, &o, &b.temperature, &symptoms, &b.note).await??;
    Ok((StatusCode::CREATED, Json(json!({"recorded": true}))).into_response())
}

#[utoipa::path(post, path = "/api/v1/quarantine/orders/{id}/release", operation_id = "quarantine_release", params(("id" = i64, Path)),
    responses((status = 200, description = "released: home monitoring or closed"), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn release_api(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let o = order_for(&ctx, id).await?;
    let o = release(&ctx, &o).await??;
    Ok(Json(order_json(&ctx, &o)).into_response())
}
