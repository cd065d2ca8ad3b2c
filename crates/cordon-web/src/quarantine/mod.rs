//! Quarantine and closed-loop transfer (隔离、点对点闭环转运), SPEC §8: the isolation
//! queue and orders (commander, tracer, dispatcher), quarantine sites with their rooms and
//! the site manager's board (assignment, health checks, release, order notices in bulk),
//! the dispatcher's board, and the driver's phone page — one module per job, pages and API
//! together.
//!
//! Every rule and refusal is the store's and the domain's (`cordon_store::containment`):
//! a handler authorizes (under its route's declared action, on the area of the site or of
//! the person), builds one [`Act`] and makes one store call per user action. Must never
//! put an ID number or a phone into an audit entry or a log line, and never show a full
//! name or ID number where a masked one does the job (the notices printed for the person
//! themselves carry the full name).

mod dispatch;
mod driver;
mod queue;
mod sites;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Lang, Message, text};
use crate::routes::{Need, Route};
use crate::shell::render;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::authz::Action;
use cordon_domain::containment::quarantine::{Order, OrderTest, Site};
use cordon_domain::error::FieldError;
use cordon_store::containment::{Act, Refused, View};
use serde_json::{Value, json};
use utoipa::OpenApi;

/// The jobs of quarantine and transfer: whoever holds one has the landing page.
const JOBS: &[Action] = &[Action::IssueOrders, Action::DispatchTransfer, Action::DriveTransfer, Action::ManageSite];

pub const FEATURE: Feature = Feature {
    name: "quarantine",
    routes,
    nav: &[NavEntry {
        order: 65,
        label: "nav.quarantine",
        href: NavHref::Fixed("/quarantine"),
        show: Need::AnyOf(JOBS),
    }],
    messages: &[MESSAGES, FIELDS],
    templates: &[
        ("quarantine/index.html", include_str!("../../templates/quarantine/index.html")),
        ("quarantine/queue.html", include_str!("../../templates/quarantine/queue.html")),
        ("quarantine/sites.html", include_str!("../../templates/quarantine/sites.html")),
        ("quarantine/site.html", include_str!("../../templates/quarantine/site.html")),
        ("quarantine/notices.html", include_str!("../../templates/quarantine/notices.html")),
        ("quarantine/dispatch.html", include_str!("../../templates/quarantine/dispatch.html")),
        ("quarantine/driver.html", include_str!("../../templates/quarantine/driver.html")),
        ("quarantine/run.html", include_str!("../../templates/quarantine/run.html")),
    ],
    openapi: Some(QuarantineDoc::openapi),
    area_panel: None,
};

fn routes() -> Vec<Route> {
    let landing = vec![Route::get("/quarantine", Need::AnyOf(JOBS), landing)];
    [landing, queue::routes(), sites::routes(), dispatch::routes(), driver::routes()].into_iter().flatten().collect()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        queue::queue_api,
        queue::orders_api,
        sites::sites_api,
        sites::open_site_api,
        sites::board_api,
        sites::assign_api,
        sites::check_api,
        sites::release_api,
        dispatch::board_api,
        dispatch::dispatch_api,
        driver::runs_api,
        driver::pickup_api,
        driver::arrival_api,
    ),
    components(schemas(
        queue::OrdersBody,
        queue::ArrivalBody,
        sites::SiteBody,
        sites::RoomBody,
        sites::AssignBody,
        sites::CheckBody,
        dispatch::DispatchBody,
        driver::PickupBody,
        driver::ArrivalBody,
    ))
)]
struct QuarantineDoc;

/// (key, 中文, English)
const MESSAGES: &[Message] = &[
    ("nav.quarantine", "隔离转运", "Quarantine"),
    ("q.title", "隔离与转运", "Quarantine and transfer"),
    ("q.queue", "待隔离名单", "Isolation queue"),
    ("q.sites", "隔离点", "Quarantine sites"),
    ("q.dispatch", "转运调度", "Transfer dispatch"),
    ("q.driver", "我的转运任务", "My transfer runs"),
    ("q.waiting", "待开具", "Waiting"),
    ("q.to_transfer", "待派车", "Waiting for a vehicle"),
    ("q.my_runs", "待执行任务", "Runs to drive"),
    ("q.person", "人员", "Person"),
    ("q.class", "类别", "Class"),
    ("q.exposure", "末次暴露", "Last exposure"),
    ("q.identified", "判定时间", "Identified"),
    ("q.deadline", "应隔离时限", "Isolate by"),
    ("q.overdue", "已超时", "Overdue"),
    ("q.regime", "隔离方式", "Regime"),
    ("q.status", "状态", "Status"),
    ("q.start", "开始", "Start"),
    ("q.end", "结束", "End"),
    ("q.test_days", "核酸检测日", "Test days"),
    ("q.centralised", "集中隔离", "Centralised"),
    ("q.home", "居家隔离", "Home"),
    ("q.days", "天", "days"),
    ("q.issue", "为所选人员开具隔离通知", "Issue orders for the selected people"),
    ("q.select_all", "全选", "Select all"),
    ("q.none", "暂无", "None"),
    ("q.add_arrival", "登记风险地区来返人员", "Add an arrival from a risk area"),
    ("q.find_resident", "查找居民（姓名或身份证号）", "Find a resident (name or ID number)"),
    ("q.find", "查找", "Find"),
    ("q.not_registered", "非本辖区居民：填写姓名、身份证号和住址", "Not on the register: name, ID number and address"),
    ("q.name", "姓名", "Name"),
    ("q.id_number", "身份证号", "ID number"),
    ("q.address", "住址", "Address"),
    ("q.reason", "来源地/理由", "Arrived from / reason"),
    ("q.order_it", "开具隔离通知", "Issue the order"),
    ("q.issued", "已开具隔离通知", "Orders issued"),
    ("q.orders", "隔离通知", "Orders"),
    ("q.ordered_at", "开具时间", "Ordered"),
    ("q.open_site", "新建隔离点", "Open a site"),
    ("q.site_name", "名称", "Name"),
    ("q.site_kind", "类型", "Kind"),
    ("q.site_area", "所在区域编码", "Area code"),
    ("q.manager", "负责人", "Manager"),
    ("q.manager_account", "负责人账号（隔离点负责人）", "Manager's account (site manager)"),
    ("q.categories", "接收人员类别", "Categories accepted"),
    (
        "q.rooms_spec",
        "房间（每行：楼层 房间号 床位数，如 3 301 1）",
        "Rooms (one per line: floor number beds, e.g. 3 301 1)",
    ),
    ("q.open", "创建", "Open"),
    ("q.add_rooms", "添加房间", "Add rooms"),
    ("q.rooms", "房间", "Rooms"),
    ("q.beds", "床位", "Beds"),
    ("q.occupied", "在住", "Occupied"),
    ("q.free", "空余", "Free"),
    ("q.cleaning", "待消杀", "To clean"),
    ("q.out_of_service", "停用", "Out of service"),
    ("q.occupancy", "入住率", "Occupancy"),
    ("q.floor", "楼层", "Floor"),
    ("q.room", "房间", "Room"),
    ("q.board", "隔离点看板", "Site board"),
    ("q.arrivals_due", "待到达（转运中）", "Arrivals due"),
    ("q.suggested", "建议房间", "Suggested room"),
    ("q.move_to", "改为", "Move to"),
    ("q.accept", "确认分房", "Accept the rooms"),
    ("q.assigned", "已分房", "Rooms assigned"),
    ("q.unplaced", "无法安排", "Cannot be placed"),
    ("q.releases_due", "待解除", "Releases due"),
    ("q.release_due", "应解除日", "Release due"),
    ("q.release", "解除隔离", "Release"),
    ("q.released", "已解除隔离", "Released"),
    ("q.ready", "可解除", "Ready"),
    ("q.not_ready", "暂不能解除", "Not yet"),
    ("q.rooms_to_clean", "待消杀房间", "Rooms to clean"),
    ("q.cleaned", "已消杀", "Cleaned"),
    ("q.take_out", "停用", "Take out of service"),
    ("q.back_in", "恢复使用", "Back in service"),
    ("q.people_here", "在隔离人员", "People here"),
    ("q.tests_due", "今日待检", "Tests due"),
    ("q.health_check", "健康监测", "Health check"),
    ("q.temperature", "体温 ℃", "Temperature °C"),
    ("q.symptoms", "症状", "Symptoms"),
    ("q.note", "备注", "Note"),
    ("q.record", "记录", "Record"),
    ("q.checked", "已记录健康监测", "Health check recorded"),
    ("q.alarm", "异常", "Alarm"),
    ("q.last_check", "最近监测", "Last check"),
    ("q.print", "批量打印隔离告知书", "Print the order notices"),
    ("q.notice_title", "隔离医学观察告知书", "Notice of quarantine for medical observation"),
    (
        "q.notice_body",
        "根据《中华人民共和国传染病防治法》及当前疫情防控要求，您须接受隔离医学观察。隔离期间请配合每日健康监测和核酸检测，不得擅自离开隔离场所。",
        "Under the Law on the Prevention and Treatment of Infectious Diseases and the current epidemic control rules, you are placed under quarantine for medical observation. Please take part in the daily health checks and the scheduled tests, and do not leave the place of quarantine.",
    ),
    ("q.notice_site", "隔离地点", "Place"),
    ("q.notice_sign", "签收", "Received by"),
    ("q.notice_issuer", "开具单位", "Issued by"),
    ("q.notices_none", "本隔离点暂无在隔离人员", "Nobody is held at this site"),
    ("q.vehicle", "车辆", "Vehicle"),
    ("q.plate", "车牌号", "Plate"),
    ("q.driver_name", "驾驶员", "Driver"),
    ("q.team", "转运专班", "Team"),
    ("q.seats", "座位数", "Seats"),
    ("q.destination", "目的隔离点", "Destination"),
    ("q.send", "派车", "Dispatch"),
    ("q.sent", "已派车", "Vehicle dispatched"),
    ("q.runs", "转运中", "Runs under way"),
    ("q.households", "户", "households"),
    ("q.overdue_alert", "已接人但超时未到达", "Picked up, not arrived in time"),
    ("q.picked_up", "已接上车", "Picked up"),
    ("q.arrived", "已到达", "Arrived"),
    ("q.to_pick", "待接", "To pick up"),
    ("q.dispatched_at", "派车时间", "Dispatched"),
    ("q.by", "操作人", "By"),
    ("q.scan", "扫描健康码或输入身份证号", "Scan the health code or type the ID number"),
    ("q.confirm", "确认上车", "Confirm"),
    ("q.confirmed", "已确认上车", "Confirmed on board"),
    ("q.remaining", "尚待接", "still to pick up"),
    ("q.arrive", "已到达隔离点", "Arrived at the site"),
    ("q.arrived_ok", "已到达，入住房间", "Arrived: rooms"),
    ("q.no_runs", "暂无转运任务", "No runs to drive"),
    ("q.run", "转运任务", "Transfer run"),
    ("q.at", "时间", "At"),
    ("q.back", "返回", "Back"),
    ("q.open_board", "打开看板", "Open the board"),
    ("q.my_site", "我负责", "mine"),
    ("q.release_list", "解除名单", "Release list"),
];

/// Names of the fields containment refusals are about, put in front of their messages.
const FIELDS: &[Message] = &[
    ("field.address", "地址", "address"),
    ("field.beds", "床位数", "beds"),
    ("field.categories", "接收人员类别", "categories"),
    ("field.category", "人员类别", "category"),
    ("field.contact", "接触者", "contact"),
    ("field.driver", "驾驶员", "driver"),
    ("field.floor", "楼层", "floor"),
    ("field.last_exposure", "末次暴露时间", "last exposure"),
    ("field.manager", "负责人", "manager"),
    ("field.number", "房间号", "room number"),
    ("field.order", "隔离通知", "order"),
    ("field.orders", "转运人员", "people"),
    ("field.plate", "车牌号", "plate"),
    ("field.reason", "来源地/理由", "reason"),
    ("field.resident", "居民", "resident"),
    ("field.run", "转运任务", "transfer run"),
    ("field.seats", "座位数", "seats"),
    ("field.site", "隔离点", "site"),
    ("field.state", "状态", "state"),
    ("field.team", "转运专班", "team"),
    ("field.temperature", "体温", "temperature"),
    ("field.tests", "核酸检测", "tests"),
    ("field.rooms", "房间", "rooms"),
    ("field.token", "健康码", "health code"),
];

// ---- shared by the jobs ----------------------------------------------------------------------

/// The act of the signed-in user now, under the active profile, audited as `action`.
pub(super) async fn act(ctx: &Ctx, action: &str, kind: &str, target: &str, detail: String) -> Result<Act, AppError> {
    Ok(Act {
        at: ctx.now,
        tz: ctx.tz.clone(),
        user_id: Some(ctx.user.id),
        user: ctx.user.display_name.clone(),
        profile: crate::policy::active_profile(ctx.store.as_ref()).await?,
        audit: ctx.entry(action, kind, target, detail),
    })
}

pub(super) async fn view(ctx: &Ctx) -> Result<View, AppError> {
    Ok(View { at: ctx.now, tz: ctx.tz.clone(), profile: crate::policy::active_profile(ctx.store.as_ref()).await? })
}

/// A refusal as the page or the API shows it: the person it is about named by their masked
/// name when they are among `orders`.
pub(super) fn refusal(r: Refused, orders: &[Order]) -> FieldError {
    let who = r.about.and_then(|id| orders.iter().find(|o| o.id == id)).map(|o| o.person.name.masked());
    match who {
        Some(w) => {
            let mut e = r.error;
            e.zh = format!("{}（{w}）", e.zh);
            e.en = format!("{} ({w})", e.en);
            e
        }
        None => r.error,
    }
}

/// A refusal's text for a page: the message with its field named, in the page's language.
pub(super) fn message(lang: Lang, e: &FieldError) -> Value {
    let (zh, en) = AppError::Field(e.clone()).messages();
    json!({"code": e.code, "field": e.field, "message": lang.pick(&zh, &en), "other": lang.pick(&en, &zh)})
}

pub(super) fn local(ctx: &Ctx, t: DateTime<Utc>) -> String {
    ctx.tz.local(t).format("%Y-%m-%d %H:%M").to_string()
}

pub(super) fn date(d: NaiveDate) -> String {
    d.format("%m-%d").to_string()
}

/// An order as the pages and the API show it: the person masked, words not codes, local
/// times.
pub(super) fn order_json(ctx: &Ctx, o: &Order) -> Value {
    let lang = ctx.meta.lang;
    let s = &o.schedule;
    let tests: Vec<String> = s.tests.iter().map(|t| date(t.date)).collect();
    json!({
        "id": o.id,
        "resident_id": o.person.resident_id,
        "name": o.person.name.masked(),
        "id_number": o.person.id_number.as_ref().map(|i| i.masked()),
        "household_id": o.person.household_id,
        "address": o.person.address,
        "category": o.category.as_str(),
        "category_label": lang.pick(o.category.zh(), o.category.en()),
        "state": o.state.as_str(),
        "state_label": lang.pick(o.state.zh(), o.state.en()),
        "transfer": o.transfer.map(|t| t.as_str()),
        "transfer_label": o.transfer.map(|t| transfer_label(lang, t)),
        "centralised": o.centralised(),
        "regime": if o.centralised() { text(lang, "q.centralised") } else { text(lang, "q.home") },
        "start": s.start.to_string(),
        "end": s.end.to_string(),
        "release_due": o.release_due().to_string(),
        "test_days": tests,
        "run_id": o.run_id,
        "site_id": o.site_id,
        "room_id": o.room_id,
        "identified_at": local(ctx, o.identified_at),
        "ordered_at": local(ctx, o.ordered_at),
        "ordered_by": o.ordered_by,
        "picked_up_at": o.picked_up_at.map(|t| local(ctx, t)),
        "picked_up_by": o.picked_up_by,
        "arrived_at": o.arrived_at.map(|t| local(ctx, t)),
        "arrived_by": o.arrived_by,
    })
}

pub(super) fn transfer_label(lang: Lang, t: cordon_domain::containment::transfer::TransferState) -> String {
    use cordon_domain::containment::transfer::TransferState as T;
    let key = match t {
        T::Requested => "q.to_transfer",
        T::Dispatched => "q.sent",
        T::PickedUp => "q.picked_up",
        T::Arrived => "q.arrived",
        T::Cancelled => "q.none",
    };
    text(lang, key)
}

pub(super) fn test_json(lang: Lang, t: &OrderTest) -> Value {
    json!({"day": t.day, "date": t.date.to_string(), "short": date(t.date),
           "place": lang.pick(t.place.zh(), t.place.en()),
           "status": t.status.as_str(), "status_label": lang.pick(t.status.zh(), t.status.en())})
}

pub(super) fn site_json(lang: Lang, s: &Site) -> Value {
    let cats: Vec<_> = s.site.categories.iter().map(|c| lang.pick(c.zh(), c.en())).collect();
    json!({"id": s.id, "name": s.site.name, "kind": s.site.kind.as_str(),
           "kind_label": lang.pick(s.site.kind.zh(), s.site.kind.en()), "address": s.site.address,
           "area": s.site.area.as_str(), "manager": s.site.manager, "manager_user_id": s.site.manager_user_id,
           "categories": cats, "category_codes": s.site.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>()})
}

/// The form's fields with this name (check boxes and multi-selects repeat a name).
pub(super) fn all_of<'a>(f: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    f.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

pub(super) fn one_of<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

pub(super) fn csrf_of(ctx: &Ctx, f: &[(String, String)]) -> Result<(), AppError> {
    ctx.check_csrf(one_of(f, "_csrf"))
}

/// The quarantine landing page: a card per job the caller holds, with its count.
async fn landing(ctx: Ctx) -> Result<Response, AppError> {
    let role = ctx.principal.role;
    let has = |a: Action| a.allowed(role);
    let mut cards = Vec::new();
    if has(Action::IssueOrders) {
        let waiting = queue::waiting(&ctx).await?.len();
        cards.push(json!({"href": "/quarantine/queue", "label": text(ctx.meta.lang, "q.queue"), "count": waiting,
                          "what": text(ctx.meta.lang, "q.waiting")}));
    }
    if has(Action::DispatchTransfer) {
        let board = dispatch::visible_board(&ctx).await?;
        cards.push(json!({"href": "/quarantine/dispatch", "label": text(ctx.meta.lang, "q.dispatch"),
                          "count": board.waiting.len(), "what": text(ctx.meta.lang, "q.to_transfer")}));
    }
    if has(Action::DriveTransfer) {
        let runs = ctx.store.driver_runs(ctx.user.id).await?;
        cards.push(json!({"href": "/quarantine/driver", "label": text(ctx.meta.lang, "q.driver"),
                          "count": runs.len(), "what": text(ctx.meta.lang, "q.my_runs")}));
    }
    if has(Action::ManageSite) {
        let sites = sites::visible_sites(&ctx).await?;
        cards.push(json!({"href": "/quarantine/sites", "label": text(ctx.meta.lang, "q.sites"),
                          "count": sites.len(), "what": text(ctx.meta.lang, "q.sites")}));
    }
    Ok(render(&ctx, "quarantine/index.html", "/quarantine", json!({"cards": cards}))?.into_response())
}
