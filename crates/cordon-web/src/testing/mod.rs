//! Mass testing: rounds and sampling sites (commander), the sampler's scan page and the
//! device API, the lab (receipt, results singly, by file and by API, with the
//! positive-pool chase), live coverage and the 楼长's missed lists, the door-knock team's
//! tasks, and the positive-pool alerts — one module per job, pages and API together.
//!
//! Owns the scan parser (text a sampler scans → a tube or a person, pluggable so that
//! health-code tokens can join ID numbers) and the lab file reader's column mapping.
//! Must never authorize other than through `Ctx::authorize` (under the action each route
//! declares), never put an ID number or a phone into an audit entry, and never write
//! anything but through one store call per user action.

mod chase;
mod coverage;
mod door;
mod lab;
mod resample;
mod rounds;
mod sampler;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Lang, Message};
use crate::routes::{Need, Route};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cordon_domain::IdNumber;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{BarcodePattern, TestRound};
use cordon_store::testing::ScanPerson;
use serde_json::json;
use utoipa::OpenApi;

/// The jobs of mass testing: whoever holds one of them has the testing landing page.
const JOBS: &[Action] =
    &[Action::ManageRounds, Action::SampleResidents, Action::LabResults, Action::ViewCoverage, Action::DoorKnock];

pub const FEATURE: Feature = Feature {
    name: "testing",
    routes,
    nav: &[NavEntry { order: 60, label: "nav.testing", href: NavHref::Fixed("/testing"), show: Need::AnyOf(JOBS) }],
    messages: &[MESSAGES],
    templates: &[
        ("testing/index.html", include_str!("../../templates/testing/index.html")),
        ("testing/scan.html", include_str!("../../templates/testing/scan.html")),
        ("testing/lab.html", include_str!("../../templates/testing/lab.html")),
        ("testing/coverage.html", include_str!("../../templates/testing/coverage.html")),
        ("testing/missed.html", include_str!("../../templates/testing/missed.html")),
        ("testing/tasks.html", include_str!("../../templates/testing/tasks.html")),
        ("testing/alerts.html", include_str!("../../templates/testing/alerts.html")),
        ("testing/resample.html", include_str!("../../templates/testing/resample.html")),
    ],
    openapi: Some(TestingDoc::openapi),
    area_panel: None,
};

fn routes() -> Vec<Route> {
    [
        rounds::routes(),
        sampler::routes(),
        lab::routes(),
        coverage::routes(),
        door::routes(),
        chase::routes(),
        resample::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        sampler::scans,
        lab::receipts,
        lab::results,
        coverage::coverage,
        coverage::missed,
        chase::alerts,
        chase::pool_positives,
        resample::resample_api,
        resample::chase_api,
    ),
    components(schemas(sampler::BatchIn, sampler::ItemIn, lab::ReceiptIn, lab::ResultsIn, lab::ResultIn))
)]
struct TestingDoc;

/// (key, 中文, English)
pub const MESSAGES: &[Message] = &[
    ("field.tube", "试管条码", "tube"),
    ("field.member", "成员", "member"),
    ("field.outcome", "敲门结果", "outcome"),
    ("field.note", "备注", "note"),
    ("field.person", "人员", "person"),
    ("field.box", "转运箱", "box"),
    ("field.round", "检测轮次", "round"),
    ("nav.testing", "核酸检测", "Mass testing"),
    ("testing.title", "全员核酸检测", "Mass testing"),
    ("testing.rounds", "检测轮次", "Test rounds"),
    ("testing.round", "轮次", "Round"),
    ("testing.date", "日期", "Date"),
    ("testing.area", "范围", "Area"),
    ("testing.mandatory", "强制参加", "Mandatory"),
    ("testing.pool", "混检容量", "Pool size"),
    ("testing.new_round", "新建检测轮次", "New test round"),
    ("testing.create", "创建", "Create"),
    ("testing.sites", "检测点", "Sampling sites"),
    ("testing.new_site", "新建检测点", "New sampling site"),
    ("testing.site_name", "名称", "Name"),
    ("testing.address", "地址", "Address"),
    ("testing.hours", "开放时间", "Opening hours"),
    ("testing.site_areas", "服务区域编码（空格分隔）", "Areas served (codes, space separated)"),
    ("testing.coverage", "采样覆盖", "Coverage"),
    ("testing.scan", "扫码采样", "Scan samples"),
    ("testing.lab", "实验室", "Lab"),
    ("testing.tasks", "敲门任务", "Door-knock tasks"),
    ("testing.missed", "未采样名单", "Missed list"),
    ("testing.export_xlsx", "导出 Excel", "Export .xlsx"),
    ("testing.alerts", "混阳预警", "Positive-pool alerts"),
    ("testing.expected", "应检", "Expected"),
    ("testing.sampled", "已检", "Sampled"),
    ("testing.exempt", "免检", "Exempt"),
    ("testing.missing", "未检", "Missing"),
    ("testing.percent", "覆盖率", "Covered"),
    ("testing.live", "实时更新中", "Updating live"),
    ("testing.scan_here", "扫描试管条码或身份证号，回车确认", "Scan a tube barcode or an ID number, then Enter"),
    ("testing.current_tube", "当前试管", "Current tube"),
    ("testing.no_tube", "请先扫描试管条码", "Scan a tube first"),
    ("testing.seal", "封管", "Seal tube"),
    ("testing.undo", "撤销上一个", "Undo last"),
    ("testing.door_mode", "上门采样（单人单管）", "Door-to-door (single tubes)"),
    ("testing.visitor", "按临时人员登记", "Record as visitor"),
    ("testing.visitor_phone", "临时人员手机号", "Visitor's phone"),
    ("testing.sealed_new", "试管已封管，请扫描新试管", "Tube sealed; scan a new tube"),
    ("testing.opened", "已开启试管", "Tube opened"),
    ("testing.queued", "网络中断，已保存，稍后自动同步", "Offline: saved, will sync later"),
    ("testing.box", "装箱", "Box tubes"),
    ("testing.box_code", "转运箱编号", "Box code"),
    ("testing.tubes", "试管条码（每行一个）", "Tube barcodes (one per line)"),
    ("testing.boxed", "已装箱", "Boxed"),
    ("testing.receive", "接收（扫描箱号或试管）", "Receive (scan a box or a tube)"),
    ("testing.received", "已接收", "Received"),
    ("testing.result", "检测结果", "Result"),
    ("testing.ct", "Ct值（可选）", "Ct (optional)"),
    ("testing.record", "录入", "Record"),
    (
        "testing.upload",
        "上传结果文件（.xlsx/.csv，列：试管条码、结果、Ct值）",
        "Upload results (.xlsx/.csv; columns: tube, result, ct)",
    ),
    ("testing.upload_submit", "上传", "Upload"),
    ("testing.report", "导入结果", "Import report"),
    ("testing.recorded", "已录入", "Recorded"),
    ("testing.nothing", "文件有错误，未写入任何结果", "The file has errors; no result was written"),
    ("testing.row", "行", "Row"),
    ("testing.tube", "试管", "Tube"),
    ("testing.reason", "原因", "Reason"),
    (
        "testing.chased",
        "已追阳：成员已标记待复核、家庭已居家管控、单管复采任务已派发",
        "Chased: members marked awaiting individual results, households under home control, single-tube re-sampling tasks created",
    ),
    ("testing.members", "成员", "Members"),
    ("testing.households", "户", "Households"),
    ("testing.awaiting", "待单采复核", "Awaiting individual result"),
    ("testing.cleared", "已排除", "Cleared"),
    ("testing.confirmed", "确诊病例", "Confirmed case"),
    ("testing.report_community", "报备社区", "Report to community"),
    ("testing.report_note", "仍未采样的原因", "Why they are still missing"),
    ("testing.reported", "已报备社区，未采样人数", "Reported to the community; still missing"),
    ("testing.room", "房号", "Room"),
    ("testing.phone", "电话", "Phone"),
    ("testing.bedridden", "卧床", "Bedridden"),
    ("testing.create_tasks", "为所选住户派发敲门任务", "Create door-knock tasks for the selected households"),
    ("testing.outcome", "敲门结果", "Outcome"),
    (
        "testing.door_tubes",
        "上门采样：为每位已采样成员填写单管条码（未采样的留空）",
        "Sampled at the door: a single-tube barcode for each member swabbed (leave the others blank)",
    ),
    ("testing.door_correction", "信息有误：更正一位成员", "Wrong data: correct one member"),
    ("testing.member", "成员", "Member"),
    ("testing.correction", "更正", "Correction"),
    ("testing.note", "备注/证明", "Note / proof"),
    ("testing.save", "保存", "Save"),
    ("testing.saved", "已保存敲门结果", "Outcome saved"),
    ("testing.open_tasks", "未完成任务", "Open tasks"),
    ("testing.to_missed", "选择住户派发任务", "Pick households for tasks"),
    (
        "testing.no_correction",
        "您无权更正名册：如信息有误，请保留此任务，由有更正权限的工作人员处理",
        "You may not correct the roster: if the data is wrong, leave this task open for a colleague who may",
    ),
    ("testing.exempt_person", "登记免检", "Record an exemption"),
    ("testing.resident_id", "居民编号", "Resident id"),
    ("testing.chase_timeline", "追阳时间线", "Chase timeline"),
    ("testing.time_to_chase", "追阳用时", "Time to chase"),
    ("testing.time_to_resample", "复采用时", "Time to re-sample"),
    ("testing.result_at", "结果录入", "Result entered"),
    ("testing.advisor", "混检容量建议（Dorfman）", "Pool-size advice (Dorfman)"),
    ("testing.positive_rate", "近期阳性率估计", "Recent positive rate (estimate)"),
    ("testing.tests_per_person", "人均检测次数", "Tests per person"),
    ("testing.best", "建议", "Recommended"),
    ("testing.none", "暂无", "None yet"),
    ("testing.yes", "是", "yes"),
    ("testing.no", "否", "no"),
    ("testing.open", "未完成", "open"),
    ("testing.resample", "单采复采任务", "Re-sampling tasks"),
    ("testing.resample_waiting", "待复采", "To re-sample"),
    ("testing.resample_show_all", "含已出结果", "Include those with results"),
    ("testing.resample_open_only", "只看未完成", "Open ones only"),
    (
        "testing.resample_how",
        "混管阳性的成员须单人单管复采：到采样点或上门（居家管控户）采样，扫身份证核对身份，结果出来前请其居家等待。",
        "Members of a positive pool are re-sampled one to a tube: at the site, or at the door for households under home control; scan the ID card to check who it is, and ask them to wait at home for the result.",
    ),
    ("testing.resample_scan", "开始单管复采（扫码）", "Start single-tube re-sampling (scan)"),
    ("testing.door_to_door", "居家管控·需上门采样", "Home control: sample at the door"),
    ("testing.resampled_at", "复采于", "re-sampled"),
    ("testing.resampled_ok", "复采（单采单检）", "Re-sample (single-tube re-test)"),
    (
        "testing.single_mode",
        "单管复采模式：每人一管，扫码后自动封管",
        "Single-tube mode: one person per tube, sealed after the scan",
    ),
    ("testing.pool_timeline", "混管追踪时间线", "Pool timeline"),
    ("testing.marked_at", "标记管控", "Controlled"),
    ("testing.resolved_at", "单检结果", "Individual result"),
    ("testing.pool_time", "全部复采用时", "Time until all re-sampled"),
    ("testing.next_step", "下一步", "Next"),
    ("field.assignee", "指派对象", "assignee"),
    ("field.task", "任务", "task"),
    ("testing.assign_to", "指派给（勾选下方任务）", "Assign to (tick the tasks below)"),
    ("testing.assign", "指派所选任务", "Assign the ticked tasks"),
    ("testing.unassigned", "不指派（收回）", "Nobody (take back)"),
    ("testing.assigned_to", "已指派", "Assigned to"),
    ("testing.assigned_done", "已指派任务数", "Tasks assigned"),
    ("testing.assigned_only", "只显示指派给您的任务", "Only the tasks assigned to you"),
    ("testing.choose_outcome", "请选择敲门结果", "Choose the outcome"),
];

// ---- shared by the jobs ----------------------------------------------------------------------

/// The tube barcode pattern in force (a setting of the deployment).
pub(super) fn pattern(state_pattern: &Option<BarcodePattern>) -> BarcodePattern {
    state_pattern.clone().unwrap_or_default()
}

/// What a scanned or typed text is. Pluggable: each parser may claim the text; the
/// first that does wins. ID numbers now; health-code tokens join later.
trait PersonParser: Send + Sync {
    fn parse(&self, text: &str) -> Option<Result<ScanPerson, FieldError>>;
}

struct IdNumberParser;

impl PersonParser for IdNumberParser {
    fn parse(&self, text: &str) -> Option<Result<ScanPerson, FieldError>> {
        Some(IdNumber::parse(text).map(ScanPerson::IdNumber).map_err(|e| e.on_field("person")))
    }
}

pub(super) fn parse_person(text: &str) -> Result<ScanPerson, FieldError> {
    let parsers: [&dyn PersonParser; 1] = [&IdNumberParser];
    for p in parsers {
        if let Some(r) = p.parse(text) {
            return r;
        }
    }
    Err(FieldError::new("person_unrecognised", "person", "无法识别该证件或码", "this code or ID is not recognised"))
}

pub(super) async fn load_round(ctx: &Ctx, id: i64) -> Result<TestRound, AppError> {
    ctx.store.round(id).await?.ok_or(AppError::NotFound("round"))
}

pub(super) fn msg(lang: Lang, e: &FieldError) -> String {
    lang.pick(&e.zh, &e.en).to_string()
}

pub(super) fn coverage_json(c: &cordon_store::testing::Coverage) -> serde_json::Value {
    json!({"code": c.code.as_str(), "name": c.name, "expected": c.expected, "sampled": c.sampled,
           "exempt": c.exempt, "missing": c.missing, "percent": c.percent()})
}

pub(super) fn missed_json(hs: &[cordon_store::testing::MissedHousehold]) -> serde_json::Value {
    json!(hs.iter().map(|h| json!({
        "household_id": h.household_id, "unit": h.unit.as_str(), "room": h.room, "task_id": h.task_id,
        "members": h.members.iter().map(|m| json!({"id": m.resident_id, "name": m.name, "phone": m.phone, "bedridden": m.bedridden})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>())
}

pub(super) fn xlsx_download(bytes: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// Places by name for units: unit code → "小区 楼栋 单元" (building and unit by name; the
/// code when the registry has no such area). One read for all of them.
pub(super) async fn place_names(
    ctx: &Ctx,
    units: impl IntoIterator<Item = &cordon_domain::area::AreaCode>,
) -> Result<std::collections::HashMap<String, Place>, AppError> {
    let units: std::collections::BTreeSet<cordon_domain::area::AreaCode> = units.into_iter().cloned().collect();
    let mut codes: std::collections::BTreeSet<cordon_domain::area::AreaCode> = units.clone();
    for u in &units {
        if let Some(b) = u.parent() {
            if let Some(c) = b.parent() {
                codes.insert(c);
            }
            codes.insert(b);
        }
    }
    let codes: Vec<_> = codes.into_iter().collect();
    let names: std::collections::HashMap<String, String> =
        ctx.store.areas(&codes).await?.into_iter().map(|a| (a.code.as_str().to_string(), a.name)).collect();
    let name = |c: Option<&cordon_domain::area::AreaCode>| {
        c.map(|c| names.get(c.as_str()).cloned().unwrap_or_else(|| c.as_str().to_string())).unwrap_or_default()
    };
    Ok(units
        .iter()
        .map(|u| {
            let b = u.parent();
            let compound = b.as_ref().and_then(|b| b.parent());
            let place = Place {
                building_code: b.as_ref().map(|b| b.as_str().to_string()).unwrap_or_default(),
                building: format!("{}{}", name(compound.as_ref()), name(b.as_ref())),
                unit: name(Some(u)),
            };
            (u.as_str().to_string(), place)
        })
        .collect())
}

/// A unit's place in words: its compound and building, and the unit's name.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct Place {
    pub building_code: String,
    pub building: String,
    pub unit: String,
}

/// A time in the district's zone, as a page shows it (月-日 时:分).
pub(super) fn local_time(ctx: &Ctx, t: chrono::DateTime<chrono::Utc>) -> String {
    ctx.tz.local(t).format("%m-%d %H:%M").to_string()
}

/// A duration in words: minutes (or seconds under a minute).
pub(super) fn duration_words(lang: Lang, secs: i64) -> String {
    if secs < 60 {
        lang.pick(&format!("{secs} 秒"), &format!("{secs} s")).to_string()
    } else if secs < 3600 * 2 {
        lang.pick(&format!("{} 分钟", secs / 60), &format!("{} min", secs / 60)).to_string()
    } else {
        lang.pick(&format!("{:.1} 小时", secs as f64 / 3600.0), &format!("{:.1} h", secs as f64 / 3600.0)).to_string()
    }
}
