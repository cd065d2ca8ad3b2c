//! The registry of residents: the area tree with counts, a building's roster, one
//! resident's record and its corrections, search, spreadsheet import and export, and the
//! audit log — as pages and as the `/api/v1` API.
//!
//! Must never authorize other than through `Ctx::authorize` (under the action each route
//! declares), and never put an ID number or a phone into an audit entry.

mod areas;
mod audit;
mod residents;
mod roster;
mod search;

pub(crate) use search::classify_query;
mod sheets;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Lang, Message, text};
use crate::routes::{Need, Route};
use chrono::{NaiveDate, Utc};
use cordon_domain::Role;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::{Action, Principal};
use cordon_domain::registry::Resident;
use serde_json::json;
use utoipa::OpenApi;

pub const FEATURE: Feature = Feature {
    name: "registry",
    routes,
    nav: &[
        NavEntry { order: 10, label: "area.roster", href: NavHref::Of(own_building), show: Need::SignedIn },
        NavEntry {
            order: 20,
            label: "nav.tree",
            href: NavHref::Fixed("/areas"),
            show: Need::Action(Action::ViewAreaTree),
        },
        NavEntry {
            order: 30,
            label: "nav.search",
            href: NavHref::Fixed("/search"),
            show: Need::Action(Action::SearchResidents),
        },
        NavEntry {
            order: 40,
            label: "nav.import",
            href: NavHref::Fixed("/import"),
            show: Need::Action(Action::ImportResidents),
        },
        NavEntry {
            order: 90,
            label: "nav.audit",
            href: NavHref::Fixed("/audit"),
            show: Need::Action(Action::ViewAudit),
        },
    ],
    messages: &[MESSAGES],
    templates: &[
        ("area.html", include_str!("../../templates/area.html")),
        ("roots.html", include_str!("../../templates/roots.html")),
        ("roster.html", include_str!("../../templates/roster.html")),
        ("resident.html", include_str!("../../templates/resident.html")),
        ("search.html", include_str!("../../templates/search.html")),
        ("import.html", include_str!("../../templates/import.html")),
        ("audit.html", include_str!("../../templates/audit.html")),
    ],
    openapi: Some(RegistryDoc::openapi),
    area_panel: None,
};

fn routes() -> Vec<Route> {
    [areas::routes(), roster::routes(), residents::routes(), search::routes(), sheets::routes(), audit::routes()]
        .into_iter()
        .flatten()
        .collect()
}

/// A building leader's own building, first in their bar.
fn own_building(p: &Principal) -> Option<String> {
    (p.role == Role::BuildingLeader).then(|| p.roots.first().map(|r| format!("/buildings/{r}"))).flatten()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        areas::area,
        roster::roster,
        search::search,
        search::search_post,
        residents::resident,
        residents::correct_api,
        sheets::import,
        sheets::export,
        audit::audit,
    ),
    components(schemas(
        areas::AreaDto,
        areas::AreaChildDto,
        residents::ResidentDto,
        search::Q,
        roster::RosterHouseholdDto,
        residents::CorrectionRequest,
        audit::AuditDto,
        sheets::ImportReportDoc,
        sheets::RowErrorDoc,
    ))
)]
struct RegistryDoc;

/// (key, 中文, English)
pub const MESSAGES: &[Message] = &[
    ("field.id_number", "身份证号", "ID number"),
    ("field.phone", "手机号", "phone"),
    ("field.name", "姓名", "name"),
    ("field.room", "房号", "room"),
    ("field.area_code", "区域编码", "area code"),
    ("field.unit", "区域编码", "unit"),
    ("field.scope", "管辖范围", "scope"),
    ("field.role", "角色", "role"),
    ("field.username", "用户名", "username"),
    ("field.password", "密码", "password"),
    ("field.q", "查询", "query"),
    ("field.file", "文件", "file"),
    ("field.kind", "更正类型", "kind of correction"),
    ("nav.tree", "区域", "Areas"),
    ("nav.search", "查找居民", "Find residents"),
    ("nav.import", "导入名册", "Import roster"),
    ("nav.audit", "审计日志", "Audit log"),
    ("area.residents", "居民", "Residents"),
    ("area.households", "户数", "Households"),
    ("area.children", "下级区域", "Areas below"),
    ("area.name", "名称", "Name"),
    ("area.code", "编码", "Code"),
    ("area.level", "层级", "Level"),
    ("area.roster", "楼栋名册", "Building roster"),
    ("area.export", "导出居民", "Export residents"),
    ("area.grids", "网格", "Grids"),
    ("area.grid_worker", "网格员", "Grid worker"),
    ("roster.title", "楼栋名册", "Building roster"),
    ("roster.leader", "楼长", "Building leader"),
    ("roster.unit", "单元", "Unit"),
    ("roster.room", "房号", "Room"),
    ("roster.members", "成员", "Members"),
    ("roster.phones", "有手机号", "With phone"),
    ("roster.no_phone", "无手机号", "No phone"),
    ("roster.door", "需上门服务", "Needs door service"),
    ("roster.add_visitor", "登记临时人员（探亲/暂住）", "Register a visitor (temporary)"),
    ("roster.add", "登记", "Register"),
    ("resident.name", "姓名", "Name"),
    ("resident.id_number", "身份证号", "ID number"),
    ("resident.phone", "手机号", "Phone"),
    ("resident.sex", "性别", "Sex"),
    ("resident.age", "年龄", "Age"),
    ("resident.birth_date", "出生日期", "Birth date"),
    ("resident.address", "住址", "Address"),
    ("resident.flags", "标记", "Flags"),
    ("resident.status", "状态", "Status"),
    ("resident.detail", "居民信息", "Resident"),
    ("flag.elderly", "80岁以上", "80+"),
    ("flag.bedridden", "卧床", "Bedridden"),
    ("flag.no_smartphone", "无智能手机", "No smartphone"),
    ("flag.temporary", "临时人员", "Temporary"),
    ("status.active", "在住", "Living here"),
    ("status.moved_out", "已搬离", "Moved out"),
    ("correct.title", "信息更正", "Corrections"),
    ("correct.moved_out", "标记为已搬离", "Mark as moved out"),
    ("correct.returned", "恢复为在住", "Mark as living here"),
    ("correct.temporary_on", "标记为临时人员", "Mark as temporary"),
    ("correct.temporary_off", "取消临时人员标记", "Unmark temporary"),
    ("correct.phone", "更改手机号", "Change phone"),
    ("correct.flags", "更新标记", "Update flags"),
    ("correct.save", "保存", "Save"),
    ("correct.done", "已保存更正", "Correction saved"),
    ("search.title", "查找居民", "Find residents"),
    ("search.hint", "输入姓名、身份证号或手机号", "Name, ID number or phone"),
    ("search.go", "查找", "Search"),
    ("search.none", "未找到符合条件的居民", "No resident found"),
    ("import.title", "导入居民名册", "Import residents"),
    (
        "import.help",
        "支持 .xlsx 和 .csv（UTF-8）。表头：姓名、身份证号、手机号、小区、楼栋、单元、房号（或 单元编码）、卧床、无智能手机、临时居住。",
        "Accepts .xlsx and .csv (UTF-8). Headers: 姓名 (name), 身份证号 (id_number), 手机号 (phone), 小区, 楼栋, 单元, 房号 (or 单元编码 unit_code), flags 卧床, 无智能手机, 临时居住.",
    ),
    ("import.file", "文件", "File"),
    ("import.mode", "有错误行时", "If any row is bad"),
    ("import.all_or_nothing", "全部不导入（默认）", "import nothing (default)"),
    ("import.valid_only", "只导入正确的行", "import the valid rows"),
    ("import.submit", "上传并检查（先预览，不写入）", "Upload and check (preview, nothing written)"),
    (
        "import.help_reimport",
        "表头可以不在第一行（上方的标题行、空行会被跳过），列的顺序不限。已登记的身份证号会更新此人的手机号、住址和标记；导入前先显示新增、变更、未变和搬离的人数，确认后才写入。",
        "The header need not be the first row (title rows and blank lines above it are skipped) and columns may come in any order. A registered ID number updates that person's phone, address and flags; the counts of added, changed, unchanged and moved-out residents are shown before anything is written.",
    ),
    (
        "import.move_out",
        "名单中涉及的单元里、名单上没有的在住居民标记为已搬离",
        "Mark active residents of the file's units who are not in the file as moved out",
    ),
    ("import.report", "导入结果", "Import report"),
    ("import.preview", "导入预览（尚未写入）", "Preview (nothing written yet)"),
    ("import.rows", "数据行", "Rows"),
    ("import.added", "新增", "Added"),
    ("import.changed", "变更", "Changed"),
    ("import.unchanged", "未变", "Unchanged"),
    ("import.moved_out", "搬离", "Moved out"),
    ("import.updated", "已更新", "Updated"),
    ("import.apply", "确认导入", "Apply the import"),
    (
        "import.confirm_help",
        "请核对上面的人数和名单，确认无误后点击“确认导入”，全部变更将一次写入并记入审计日志。",
        "Check the counts and lists above; “Apply the import” writes every change at once and records it in the audit log.",
    ),
    ("import.done", "导入完成，变更已写入并记入审计日志。", "Imported: the changes are written and audited."),
    (
        "import.stale",
        "预览之后文件或名册发生了变化，未写入任何数据。下面是最新的预览，请再次核对后确认。",
        "The file or the register changed since the preview; nothing was written. This is the new preview: check it and apply again.",
    ),
    (
        "import.nothing_to_do",
        "文件与名册一致，没有需要写入的变更。",
        "The file matches the register: nothing to write.",
    ),
    ("import.person", "居民", "Resident"),
    ("import.what", "变更内容", "What changes"),
    ("import.place", "住址", "Address"),
    ("import.more", "仅列出前500人，共", "Only the first 500 are listed; in all"),
    (
        "import.errors_first",
        "仅显示前2000个错误，请修改后重新上传。",
        "Only the first 2000 errors are shown; fix them and upload again.",
    ),
    ("import.prev", "上一页", "Previous"),
    ("import.next", "下一页", "Next"),
    ("import.field.name", "姓名", "name"),
    ("import.field.phone", "手机号", "phone"),
    ("import.field.place", "住址（单元/房号）", "address (unit/room)"),
    ("import.field.flags", "标记（卧床/无智能手机/临时）", "flags (bedridden/no smartphone/temporary)"),
    ("import.field.returned", "重新在住", "back, living here"),
    ("import.imported", "已新增", "Added"),
    ("import.errors", "错误", "Errors"),
    (
        "import.nothing",
        "存在错误行，未导入任何数据。请修改后重新上传，或选择“只导入正确的行”。",
        "Some rows are bad, so nothing was imported. Fix them and upload again, or choose \"import the valid rows\".",
    ),
    ("import.row", "行", "Row"),
    ("import.column", "列", "Column"),
    ("import.reason", "原因", "Reason"),
    ("audit.title", "审计日志", "Audit log"),
    ("audit.at", "时间", "Time"),
    ("audit.actor", "操作人", "Who"),
    ("audit.action", "操作", "Action"),
    ("audit.target", "对象", "Record"),
    ("audit.request", "请求号", "Request"),
    ("audit.detail", "说明", "Detail"),
    ("audit.older", "更早的记录", "Older entries"),
    ("audit.filter", "筛选", "Filter"),
    ("audit.family", "操作类别", "Kind of action"),
    ("audit.all", "全部", "All"),
    ("audit.family.resident", "居民", "resident"),
    ("audit.family.residents", "居民名册", "residents"),
    ("audit.family.roster", "楼栋名册", "building roster"),
    ("audit.family.access", "访问", "access"),
    ("audit.family.login", "登录", "sign-in"),
    ("audit.family.code", "健康码", "health code"),
    ("audit.family.code_cards", "码卡", "code cards"),
    ("audit.family.codes", "健康码", "health codes"),
    ("audit.family.pass", "通行证", "pass"),
    ("audit.family.passes", "通行证", "passes"),
    ("audit.family.zone", "风险区", "zone"),
    ("audit.family.zones", "风险区", "zones"),
    ("audit.family.policy", "防控策略", "policy profile"),
    ("audit.family.checkpoint", "卡口", "checkpoint"),
    ("audit.family.venue", "场所", "venue"),
    ("audit.family.round", "检测轮次", "test round"),
    ("audit.family.tubes", "试管", "tubes"),
    ("audit.family.results", "检测结果", "results"),
    ("audit.family.door", "上门任务", "door task"),
    ("audit.family.missed", "漏检名单", "missed list"),
    ("audit.family.missing", "漏检", "missed"),
    ("audit.family.exemption", "免检", "exemption"),
    ("audit.family.orders", "隔离管控单", "quarantine orders"),
    ("audit.family.order", "隔离管控单", "quarantine order"),
    ("audit.family.order_tests", "隔离期检测", "order test"),
    ("audit.family.transfer", "转运", "transfer"),
    ("audit.family.room", "隔离房间", "room"),
    ("audit.family.rooms", "隔离房间", "rooms"),
    ("audit.family.key", "密钥", "key"),
    ("audit.family.keys", "密钥", "keys"),
    ("audit.family.site", "场所", "site"),
    ("audit.family.scans", "采样记录", "samples"),
    ("audit.family.scan", "扫码", "scan"),
    ("audit.family.chase", "复采追踪", "re-sampling chase"),
    ("audit.family.cases", "病例", "cases"),
    ("audit.family.contacts", "密接", "contacts"),
    ("audit.family.health", "健康", "health"),
    ("audit.verb.read", "查看", "view"),
    ("audit.verb.update", "更新", "update"),
    ("audit.verb.import", "导入", "import"),
    ("audit.verb.export", "导出", "export"),
    ("audit.verb.search", "查找", "search"),
    ("audit.verb.issue", "签发", "issue"),
    ("audit.verb.revoke", "吊销", "revoke"),
    ("audit.verb.create", "新建", "create"),
    ("audit.verb.designate", "划定", "designate"),
    ("audit.verb.lift", "解除", "lift"),
    ("audit.verb.decide", "决定", "decide on"),
    ("audit.verb.switch", "切换", "switch"),
    ("audit.verb.ingest", "上传", "upload"),
    ("audit.verb.print", "打印", "print"),
    ("audit.verb.record", "登记", "record"),
    ("audit.verb.result", "录入结果", "enter the result of"),
    ("audit.verb.receive", "接收", "receive"),
    ("audit.verb.box", "装箱", "box"),
    ("audit.verb.assign", "分配", "assign"),
    ("audit.verb.rotate", "轮换", "rotate"),
    ("audit.verb.add", "添加", "add"),
    ("audit.verb.state", "更改状态", "change the state of"),
    ("audit.verb.cancel", "撤销", "cancel"),
    ("audit.verb.release", "解除", "release"),
    ("audit.verb.dispatch", "派车", "dispatch"),
    ("audit.verb.undispatch", "取消派车", "cancel the dispatch of"),
    ("audit.verb.pickup", "接人", "pick up"),
    ("audit.verb.arrive", "到达", "arrive with"),
    ("audit.verb.outcome", "登记结果", "record the outcome of"),
    ("audit.verb.sweep", "巡查", "sweep"),
    ("audit.verb.enqueue", "排队", "queue"),
    ("audit.verb.clock", "日终处理", "run the day of"),
    ("audit.verb.order", "下达管控", "order"),
    ("audit.verb.check", "检查", "check"),
    ("audit.code.login", "登录成功", "signed in"),
    ("audit.code.login.failed", "登录失败", "sign-in failed"),
    ("audit.code.access.denied", "拒绝访问（越权）", "access refused"),
    ("audit.code.residents.import_preview", "预览名册导入", "preview a roster import"),
    ("audit.code.scan.unknown_checkpoint", "未知卡口扫码", "scan at an unknown checkpoint"),
    ("audit.code.venue.visits.read", "查看场所到访记录", "view venue visits"),
];

// ---- shared by the registry's pages ----------------------------------------------------------

pub(super) fn today() -> NaiveDate {
    cordon_domain::clock::DistrictTz::default().today(Utc::now())
}

pub(super) fn parse_code(s: &str) -> Result<AreaCode, AppError> {
    Ok(AreaCode::parse(s)?)
}

pub(super) fn area_href(code: &AreaCode, role: cordon_domain::Role) -> String {
    if code.level() == AreaLevel::Building && Action::ViewRoster.allowed(role) {
        format!("/buildings/{code}")
    } else {
        format!("/areas/{code}")
    }
}

/// Breadcrumbs from the district down to `code`; nodes outside the principal's subtree are
/// named but not linked.
pub(super) async fn crumbs(ctx: &Ctx, code: &AreaCode) -> Result<Vec<serde_json::Value>, AppError> {
    let mut out = Vec::new();
    for c in code.lineage() {
        if let Some(a) = ctx.store.area(&c).await? {
            out.push(json!({"code": c, "name": a.name, "link": ctx.principal.covers(&c) && c != *code}));
        }
    }
    Ok(out)
}

/// The active profile's age from which a resident counts as elderly (door service, code
/// cards).
pub(super) async fn elderly_age(ctx: &Ctx) -> Result<u32, AppError> {
    Ok(crate::policy::active_profile(ctx.store.as_ref()).await?.testing.elderly_age)
}

pub(super) fn flag_labels(r: &Resident, lang: Lang, today: NaiveDate, elderly_age: u32) -> Vec<String> {
    let mut v = Vec::new();
    if r.is_elderly(today, elderly_age) {
        v.push(text(lang, "flag.elderly"));
    }
    if r.flags.bedridden {
        v.push(text(lang, "flag.bedridden"));
    }
    if r.flags.no_smartphone {
        v.push(text(lang, "flag.no_smartphone"));
    }
    if r.flags.temporary {
        v.push(text(lang, "flag.temporary"));
    }
    v
}

/// "滨河街道 凤山社区 滨河小区 3号楼 2单元 1203"
pub(super) async fn address(ctx: &Ctx, unit: &AreaCode, room: &str) -> Result<String, AppError> {
    let mut parts = Vec::new();
    for c in unit.lineage().iter().skip(1) {
        if let Some(a) = ctx.store.area(c).await? {
            parts.push(a.name);
        }
    }
    parts.push(room.to_string());
    Ok(parts.join(" "))
}
