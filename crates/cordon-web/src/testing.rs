//! Mass testing pages: rounds and sites (commander), the sampler's scan page, the lab
//! (receipt, results singly and by file), live coverage by area, the 楼长's missed list
//! with "report to community", the grid worker's door-knock tasks, and the tracer's and
//! commander's positive-pool alerts with the chase timeline and the pool-size advisor.
//!
//! Owns the scan parser (text a sampler scans → a tube or a person, pluggable so that
//! health-code tokens can join ID numbers) and the lab file reader's column mapping.
//! Must never authorize other than through `Ctx::authorize`, never put an ID number or a
//! phone into an audit entry, and never write anything but through one store call per
//! user action.

use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::pages::render;
use axum::extract::{Multipart, Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{
    BarcodePattern, DoorOutcome, ExemptionReason, NewRound, NewSite, Refusal, TestResult, TestRound, advise_pool_size,
    parse_ct,
};
use cordon_domain::{IdNumber, Role};
use cordon_store::testing::{DoorRefusal, DoorReport, DoorSample, NewResult, Receipt, ResultsReport, ScanPerson};
use serde::Deserialize;
use serde_json::json;

/// (key, 中文, English)
pub const MESSAGES: &[(&str, &str, &str)] = &[
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
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/testing", get(index))
        .route("/testing/rounds", post(create_round))
        .route("/testing/sites", post(create_site))
        .route("/testing/rounds/{id}/scan", get(scan_page))
        .route("/testing/boxes", post(box_tubes))
        .route("/testing/lab", get(lab_page))
        .route("/testing/lab/receive", post(lab_receive))
        .route("/testing/lab/result", post(lab_result))
        .route("/testing/lab/upload", post(lab_upload))
        .route("/testing/rounds/{id}/areas/{code}", get(coverage_page))
        .route("/testing/rounds/{id}/areas/{code}/coverage.xlsx", get(coverage_xlsx))
        .route("/testing/rounds/{id}/buildings/{code}/missed.xlsx", get(missed_xlsx))
        .route("/testing/rounds/{id}/buildings/{code}/missed", get(missed_page))
        .route("/testing/rounds/{id}/buildings/{code}/report", post(report_missing))
        .route("/testing/rounds/{id}/tasks", get(tasks_page).post(create_tasks))
        .route("/testing/rounds/{id}/exemptions", post(record_exemption))
        .route("/testing/tasks/{id}/outcome", post(task_outcome))
        .route("/testing/alerts", get(alerts_page))
}

// ---- shared helpers ------------------------------------------------------------------------

/// The tube barcode pattern in force (a setting of the deployment).
pub(crate) fn pattern(state_pattern: &Option<BarcodePattern>) -> BarcodePattern {
    state_pattern.clone().unwrap_or_default()
}

/// What a scanned or typed text is. Pluggable: each parser may claim the text; the
/// first that does wins. ID numbers now; health-code tokens join later.
pub(crate) trait PersonParser: Send + Sync {
    fn parse(&self, text: &str) -> Option<Result<ScanPerson, FieldError>>;
}

struct IdNumberParser;

impl PersonParser for IdNumberParser {
    fn parse(&self, text: &str) -> Option<Result<ScanPerson, FieldError>> {
        Some(IdNumber::parse(text).map(ScanPerson::IdNumber).map_err(|e| e.on_field("person")))
    }
}

pub(crate) fn parse_person(text: &str) -> Result<ScanPerson, FieldError> {
    let parsers: [&dyn PersonParser; 1] = [&IdNumberParser];
    for p in parsers {
        if let Some(r) = p.parse(text) {
            return r;
        }
    }
    Err(FieldError::new("person_unrecognised", "person", "无法识别该证件或码", "this code or ID is not recognised"))
}

pub(crate) async fn load_round(ctx: &Ctx, id: i64) -> Result<TestRound, AppError> {
    ctx.store.round(id).await?.ok_or(AppError::NotFound("round"))
}

fn msg(lang: Lang, e: &FieldError) -> String {
    lang.pick(&e.zh, &e.en).to_string()
}

/// The testing action a role's landing page is for.
fn landing_action(role: Role) -> Action {
    if Action::ManageRounds.allowed(role) {
        Action::ManageRounds
    } else if Action::SampleResidents.allowed(role) {
        Action::SampleResidents
    } else if Action::LabResults.allowed(role) {
        Action::LabResults
    } else if Action::ViewCoverage.allowed(role) {
        Action::ViewCoverage
    } else {
        Action::DoorKnock
    }
}

pub(crate) fn any_testing(role: Role) -> bool {
    [Action::ManageRounds, Action::SampleResidents, Action::LabResults, Action::ViewCoverage, Action::DoorKnock]
        .iter()
        .any(|a| a.allowed(role))
}

// ---- index: rounds, sites, advisor ---------------------------------------------------------

async fn index(ctx: Ctx) -> Result<Response, AppError> {
    let role = ctx.principal.role;
    ctx.authorize(landing_action(role), None).await?;
    let lang = ctx.meta.lang;
    let rounds = ctx.store.rounds(20).await?;
    let profile = crate::codes::active_profile(ctx.store.as_ref()).await?;
    let root = ctx.principal.roots.first().cloned();
    let rows: Vec<_> = rounds
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "date": r.date.to_string(), "area": r.area.as_str(), "pool": r.pool.get(),
                "mandatory": r.mandatory,
                "coverage_href": if Action::ViewCoverage.allowed(role) { root.as_ref().map(|c| format!("/testing/rounds/{}/areas/{c}", r.id)) } else { None },
                "missed_href": if role == Role::BuildingLeader { root.as_ref().map(|c| format!("/testing/rounds/{}/buildings/{c}/missed", r.id)) } else { None },
                "scan_href": Action::SampleResidents.allowed(role).then(|| format!("/testing/rounds/{}/scan", r.id)),
                "tasks_href": Action::DoorKnock.allowed(role).then(|| format!("/testing/rounds/{}/tasks", r.id)),
            })
        })
        .collect();
    let mut sites = Vec::new();
    let mut advice = serde_json::Value::Null;
    if let Some(root) = &root {
        for s in ctx.store.sites(root).await? {
            sites.push(json!({"name": s.name, "address": s.address, "hours": s.hours, "areas": s.areas.iter().map(|a| a.as_str()).collect::<Vec<_>>()}));
        }
        if Action::ManageRounds.allowed(role) || Action::ViewChase.allowed(role) {
            let pos = ctx.store.positivity(root, profile.testing.advisor_rounds).await?;
            // Each positive pool holds at least one positive person, so the larger of cases
            // and positive pools over people sampled estimates prevalence from below.
            let p = if pos.sampled == 0 { 0.0 } else { pos.cases.max(pos.positive_pools) as f64 / pos.sampled as f64 };
            let a = advise_pool_size(p, &profile.testing.pool_sizes);
            advice = json!({
                "p": format!("{:.4}%", p * 100.0), "sampled": pos.sampled, "best": a.best,
                "options": a.options.iter().map(|o| json!({"k": o.k, "e": format!("{:.4}", o.tests_per_person), "best": o.k == a.best})).collect::<Vec<_>>(),
            });
        }
    }
    let html = render(
        &ctx,
        "testing/index.html",
        "/testing",
        json!({
            "rounds": rows, "sites": sites, "advice": advice,
            "can_manage": Action::ManageRounds.allowed(role),
            "can_lab": Action::LabResults.allowed(role),
            "can_chase": Action::ViewChase.allowed(role),
            "default_area": root.as_ref().map(|c| c.as_str()),
            "today": cordon_domain::clock::DistrictTz::default().today(ctx.now).to_string(),
            "pools": profile.testing.pool_sizes,
            "lang_is_zh": lang == Lang::Zh,
        }),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct RoundForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    area: String,
    date: String,
    #[serde(default)]
    mandatory: Option<String>,
    pool_size: Option<u32>,
}

async fn create_round(ctx: Ctx, Form(f): Form<RoundForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area).map_err(|e| e.on_field("area"))?;
    ctx.authorize(Action::ManageRounds, Some(&area)).await?;
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new("date_invalid", "date", "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD"))?;
    // The pool size is the active policy profile's unless the form names one.
    let profile = crate::codes::active_profile(ctx.store.as_ref()).await?;
    let pool = profile.pool_capacity(f.pool_size)?;
    let new = NewRound { area: area.clone(), date, mandatory: f.mandatory.is_some(), pool };
    let entry = ctx.entry("round.create", "area", area.as_str(), format!("round on {date}, pool {}", new.pool.get()));
    ctx.store.create_round(&new, &entry).await?;
    Ok(Redirect::to("/testing").into_response())
}

#[derive(Deserialize)]
struct SiteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    hours: String,
    areas: String,
}

async fn create_site(ctx: Ctx, Form(f): Form<SiteForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let areas = f
        .areas
        .split(|c: char| c.is_whitespace() || c == ',' || c == '，')
        .filter(|s| !s.is_empty())
        .map(|s| AreaCode::parse(s).map_err(|e| e.on_field("areas")))
        .collect::<Result<Vec<_>, _>>()?;
    for a in &areas {
        ctx.authorize(Action::ManageRounds, Some(a)).await?;
    }
    if areas.is_empty() {
        ctx.authorize(Action::ManageRounds, None).await?;
    }
    let new =
        NewSite { name: f.name.trim().into(), address: f.address.trim().into(), hours: f.hours.trim().into(), areas };
    new.check()?;
    let entry = ctx.entry("site.create", "site", "new", format!("{} areas", new.areas.len()));
    ctx.store.create_site(&new, &entry).await?;
    Ok(Redirect::to("/testing").into_response())
}

// ---- sampler -----------------------------------------------------------------------------

/// The barcode template as a JavaScript regular expression (A → letter, 9 → digit).
fn pattern_regex(p: &BarcodePattern) -> String {
    let mut s = String::from("^");
    for c in p.as_str().chars() {
        match c {
            'A' => s.push_str("[A-Za-z]"),
            '9' => s.push_str("[0-9]"),
            c if c.is_ascii_alphanumeric() => s.push(c),
            c => {
                s.push('\\');
                s.push(c);
            }
        }
    }
    s.push('$');
    s
}

async fn scan_page(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    ctx.authorize(Action::SampleResidents, None).await?;
    let round = load_round(&ctx, id).await?;
    let p = pattern(&state.settings.tube_pattern);
    let html = render(
        &ctx,
        "testing/scan.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string(), "pool": round.pool.get()},
               "pattern": p.as_str(), "pattern_re": pattern_regex(&p)}),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct BoxForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    round: i64,
    code: String,
    tubes: String,
}

async fn box_tubes(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Form(f): Form<BoxForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    ctx.authorize(Action::SampleResidents, None).await?;
    let p = pattern(&state.settings.tube_pattern);
    let code = f.code.trim().to_uppercase();
    if code.is_empty() || code.len() > 40 {
        return Err(FieldError::new(
            "box_code_invalid",
            "code",
            "请填写转运箱编号（最多40字符）",
            "enter a box code (at most 40 characters)",
        )
        .into());
    }
    let tubes = f.tubes.split_whitespace().map(|t| p.parse(t)).collect::<Result<Vec<_>, _>>()?;
    let entry = ctx.entry("tubes.box", "box", &code, format!("{} tubes", tubes.len()));
    let n = ctx.store.box_tubes(&code, &tubes, ctx.user.id, ctx.now, &entry).await??;
    Ok(Redirect::to(&format!("/testing/rounds/{}/scan?boxed={n}", f.round)).into_response())
}

// ---- lab -----------------------------------------------------------------------------------

async fn lab_view(ctx: &Ctx, status: StatusCode, extra: serde_json::Value) -> Result<Response, AppError> {
    Ok((status, render(ctx, "testing/lab.html", "/testing/lab", extra)?).into_response())
}

async fn lab_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::LabResults, None).await?;
    lab_view(&ctx, StatusCode::OK, json!({})).await
}

#[derive(Deserialize)]
struct ReceiveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    code: String,
}

pub(crate) fn receipt_of(text: &str, p: &BarcodePattern) -> Receipt {
    match p.parse(text) {
        Ok(t) => Receipt::Tube(t),
        Err(_) => Receipt::Box(text.trim().to_uppercase()),
    }
}

async fn lab_receive(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Form(f): Form<ReceiveForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    ctx.authorize(Action::LabResults, None).await?;
    let what = receipt_of(&f.code, &pattern(&state.settings.tube_pattern));
    let target = match &what {
        Receipt::Box(b) => b.clone(),
        Receipt::Tube(t) => t.as_str().to_string(),
    };
    let entry = ctx.entry("tubes.receive", "tube", &target, "lab receipt");
    match ctx.store.receive(&what, ctx.user.id, ctx.now, &entry).await? {
        Ok(tubes) => lab_view(&ctx, StatusCode::OK, json!({"received": tubes})).await,
        Err(e) => lab_view(&ctx, StatusCode::UNPROCESSABLE_ENTITY, json!({"error": msg(ctx.meta.lang, &e)})).await,
    }
}

#[derive(Deserialize)]
struct ResultForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    tube: String,
    result: String,
    #[serde(default)]
    ct: String,
}

async fn lab_result(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Form(f): Form<ResultForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    ctx.authorize(Action::LabResults, None).await?;
    let row = NewResult {
        row: 1,
        tube: pattern(&state.settings.tube_pattern).parse(&f.tube)?,
        result: TestResult::parse(&f.result)?,
        ct: parse_ct(&f.ct)?,
    };
    let report = record(&ctx, &[row]).await?;
    show_report(&ctx, report).await
}

pub(crate) async fn record(ctx: &Ctx, rows: &[NewResult]) -> Result<ResultsReport, AppError> {
    let positives = rows.iter().filter(|r| r.result == TestResult::Positive).count();
    let entry = ctx.entry("results.record", "tubes", &format!("{} tubes", rows.len()), format!("{positives} positive"));
    Ok(ctx.store.record_results(rows, ctx.user.id, ctx.now, &entry).await?)
}

async fn show_report(ctx: &Ctx, report: ResultsReport) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let mut chased = Vec::new();
    for c in &report.chases {
        let tube = ctx.store.tube(&cordon_domain::testing::TubeBarcode::from_stored(c.tube.clone())).await?;
        let members = match tube {
            Some(t) => ctx.store.tube_members(t.id).await?,
            None => Vec::new(),
        };
        chased.push(json!({
            "tube": c.tube, "members": members.iter().map(|m| m.masked_name.clone()).collect::<Vec<_>>(),
            "households": c.households_controlled, "tasks": c.tasks_created,
            "ms": (c.chased_at - c.result_at).num_milliseconds(),
        }));
    }
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| json!({"row": e.row, "tube": e.tube, "message": msg(lang, &e.error), "code": e.error.code}))
        .collect();
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    lab_view(
        ctx,
        status,
        json!({"report": {"committed": report.committed, "recorded": report.recorded, "errors": errors, "cases": report.cases, "chases": chased}}),
    )
    .await
}

/// A bad row of a lab file: its row number, the tube as written, and why.
pub(crate) type LabRowError = (usize, String, FieldError);

/// Reads a lab file: a header row with the tube, result and (optional) Ct columns, in
/// Chinese or English. Every bad row is reported; nothing is recorded unless all are good.
pub(crate) fn lab_rows(
    bytes: &[u8],
    name: &str,
    p: &BarcodePattern,
) -> Result<Result<Vec<NewResult>, Vec<LabRowError>>, AppError> {
    let format = cordon_sheets::Format::from_file_name(name).ok_or_else(|| AppError::BadRequest {
        code: "file_type",
        zh: "只支持 .xlsx 和 .csv 文件".into(),
        en: "only .xlsx and .csv files are accepted".into(),
    })?;
    let table = cordon_sheets::read_table(bytes, format)?;
    let find =
        |names: &[&str]| table.header.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)));
    let tube_col = find(&["试管条码", "条码", "tube", "barcode"]);
    let result_col = find(&["检测结果", "结果", "result"]);
    let ct_col = find(&["ct值", "ct", "CT值"]);
    let mut missing = Vec::new();
    if tube_col.is_none() {
        missing.push("试管条码 (tube)".to_string());
    }
    if result_col.is_none() {
        missing.push("检测结果 (result)".to_string());
    }
    let (Some(tc), Some(rc)) = (tube_col, result_col) else {
        return Err(AppError::Sheet(cordon_sheets::SheetError::MissingHeaders { missing }));
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let cell = |cells: &Vec<String>, i: usize| cells.get(i).cloned().unwrap_or_default();
    for (n, cells) in &table.rows {
        let tube_text = cell(cells, tc);
        let parsed = (|| {
            Ok::<_, FieldError>(NewResult {
                row: *n,
                tube: p.parse(&tube_text)?,
                result: TestResult::parse(&cell(cells, rc))?,
                ct: match ct_col {
                    Some(c) => parse_ct(&cell(cells, c))?,
                    None => None,
                },
            })
        })();
        match parsed {
            Ok(r) => rows.push(r),
            Err(e) => errors.push((*n, tube_text, e)),
        }
    }
    Ok(if errors.is_empty() { Ok(rows) } else { Err(errors) })
}

async fn lab_upload(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    ctx.authorize(Action::LabResults, None).await?;
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    let bad = |_| AppError::BadRequest {
        code: "upload_invalid",
        zh: "上传的表单无效".into(),
        en: "the upload could not be read".into(),
    };
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "_csrf" => csrf = field.text().await.map_err(bad)?,
            "file" => {
                let name = field.file_name().unwrap_or("").to_string();
                file = Some((name, field.bytes().await.map_err(bad)?.to_vec()));
            }
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let (name, bytes) = file.ok_or_else(|| AppError::BadRequest {
        code: "file_missing",
        zh: "请选择要上传的文件".into(),
        en: "choose a file to upload".into(),
    })?;
    match lab_rows(&bytes, &name, &pattern(&state.settings.tube_pattern))? {
        Ok(rows) => {
            let report = record(&ctx, &rows).await?;
            show_report(&ctx, report).await
        }
        Err(errors) => {
            let report = ResultsReport {
                committed: false,
                recorded: 0,
                errors: errors
                    .into_iter()
                    .map(|(row, tube, error)| cordon_store::testing::ResultRowError { row, tube, error })
                    .collect(),
                chases: Vec::new(),
                cases: 0,
            };
            show_report(&ctx, report).await
        }
    }
}

// ---- coverage and missed lists -----------------------------------------------------------

pub(crate) fn coverage_json(c: &cordon_store::testing::Coverage) -> serde_json::Value {
    json!({"code": c.code.as_str(), "name": c.name, "expected": c.expected, "sampled": c.sampled,
           "exempt": c.exempt, "missing": c.missing, "percent": c.percent()})
}

async fn coverage_page(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    let code = AreaCode::parse(&code)?;
    ctx.authorize(Action::ViewCoverage, Some(&code)).await?;
    let round = load_round(&ctx, id).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    let level = code.level();
    let child_href = |c: &AreaCode| {
        if c.level() == AreaLevel::Unit { None } else { Some(format!("/testing/rounds/{id}/areas/{c}")) }
    };
    let rows: Vec<_> = children
        .iter()
        .map(|c| {
            let mut j = coverage_json(c);
            j["href"] = json!(child_href(&c.code));
            j
        })
        .collect();
    let missed_href = (level == AreaLevel::Building && Action::ViewMissed.allowed(ctx.principal.role))
        .then(|| format!("/testing/rounds/{id}/buildings/{code}/missed"));
    let parent = code.parent().filter(|p| ctx.principal.covers(p)).map(|p| format!("/testing/rounds/{id}/areas/{p}"));
    let html = render(
        &ctx,
        "testing/coverage.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "node": coverage_json(&me),
               "children": rows, "missed_href": missed_href, "parent_href": parent}),
    )?;
    Ok(html.into_response())
}

fn xlsx_download(bytes: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// The coverage table of a node and its children as .xlsx (no personal data).
async fn coverage_xlsx(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    use cordon_sheets::TableCell::{Number, Text};
    let code = AreaCode::parse(&code)?;
    ctx.authorize(Action::ViewCoverage, Some(&code)).await?;
    let round = load_round(&ctx, id).await?;
    let me = ctx.store.coverage(id, &code).await?;
    let children = ctx.store.coverage_children(id, &code).await?;
    let row = |c: &cordon_store::testing::Coverage| {
        vec![
            Text(c.code.to_string()),
            Text(c.name.clone()),
            Number(c.expected as f64),
            Number(c.sampled as f64),
            Number(c.exempt as f64),
            Number(c.missing as f64),
            Number(c.percent()),
        ]
    };
    let rows: Vec<_> = std::iter::once(&me).chain(children.iter()).map(row).collect();
    let header = [
        "区域编码 code",
        "名称 name",
        "应检 expected",
        "已采 sampled",
        "免检 exempt",
        "未采 missing",
        "覆盖率% covered",
    ];
    let bytes = cordon_sheets::write_table("覆盖率", &header, &rows)?;
    Ok(xlsx_download(bytes, &format!("coverage-{}-{code}.xlsx", round.date)))
}

/// A building's missed list as .xlsx: names and phones, for calling round; audited.
async fn missed_xlsx(ctx: Ctx, Path((id, code)): Path<(i64, String)>) -> Result<Response, AppError> {
    use cordon_sheets::TableCell::Text;
    let code = AreaCode::parse(&code)?;
    if code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::ViewMissed, Some(&code)).await?;
    let round = load_round(&ctx, id).await?;
    let missed = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let mut rows = Vec::new();
    for h in &missed {
        let unit = ctx.store.area(&h.unit).await?.map(|a| a.name).unwrap_or_default();
        for m in &h.members {
            rows.push(vec![
                Text(unit.clone()),
                Text(h.room.clone()),
                Text(m.name.clone()),
                Text(m.phone.clone().unwrap_or_default()),
                Text(if m.bedridden { "是" } else { "" }.to_string()),
            ]);
        }
    }
    ctx.audit("missed.export", "building", code.as_str(), format!("round {id}, {} people", rows.len())).await?;
    let header = ["单元 unit", "房号 room", "姓名 name", "手机号 phone", "卧床 bedridden"];
    let bytes = cordon_sheets::write_table("未采样", &header, &rows)?;
    Ok(xlsx_download(bytes, &format!("missed-{}-{code}.xlsx", round.date)))
}

pub(crate) fn missed_json(hs: &[cordon_store::testing::MissedHousehold]) -> serde_json::Value {
    json!(hs.iter().map(|h| json!({
        "household_id": h.household_id, "unit": h.unit.as_str(), "room": h.room, "task_id": h.task_id,
        "members": h.members.iter().map(|m| json!({"id": m.resident_id, "name": m.name, "phone": m.phone, "bedridden": m.bedridden})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>())
}

async fn missed_page(
    ctx: Ctx,
    Path((id, code)): Path<(i64, String)>,
    Query(q): Query<ReportedQuery>,
) -> Result<Response, AppError> {
    let code = AreaCode::parse(&code)?;
    if code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::ViewMissed, Some(&code)).await?;
    let round = load_round(&ctx, id).await?;
    let missed = ctx.store.missed(id, std::slice::from_ref(&code)).await?;
    let cov = ctx.store.coverage(id, &code).await?;
    ctx.audit("missed.read", "building", code.as_str(), format!("round {id}, {} households", missed.len())).await?;
    let html = render(
        &ctx,
        "testing/missed.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "building": code.as_str(), "name": cov.name,
               "node": coverage_json(&cov), "households": missed_json(&missed), "reported": q.reported}),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct ReportedQuery {
    reported: Option<u64>,
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn report_missing(
    ctx: Ctx,
    Path((id, code)): Path<(i64, String)>,
    Form(f): Form<ReportForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let code = AreaCode::parse(&code)?;
    if code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::ViewMissed, Some(&code)).await?;
    load_round(&ctx, id).await?;
    let note: String = f.note.trim().chars().take(500).collect();
    let entry = ctx.entry("missing.report", "building", code.as_str(), format!("round {id}"));
    let n = ctx.store.report_missing(id, &code, &note, ctx.user.id, ctx.now, &entry).await?;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/buildings/{code}/missed?reported={n}")).into_response())
}

// ---- door-knocking --------------------------------------------------------------------------

#[derive(Deserialize)]
struct DoneQuery {
    /// The task whose outcome was just saved (the redirect after saving names it).
    done: Option<i64>,
}

/// An outcome form the server refused: what it held and why. The page shows it again as it
/// was sent, the refusal next to the field it is about, so that a worker at a door never
/// types a household's barcodes twice.
struct RefusedForm {
    task: i64,
    form: Vec<(String, String)>,
    refusal: DoorRefusal,
}

impl RefusedForm {
    fn sent(&self, name: &str) -> &str {
        self.form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

async fn tasks_page(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    ctx.authorize(Action::DoorKnock, None).await?;
    tasks_view(&ctx, &state, id, q.done, None).await
}

/// The door-knock page of a round, laid out for a phone: the tasks first, open ones on top,
/// each outcome form the full width; then the missed households to pick; then exemptions.
/// With `refused` that task's form is filled with what was sent and the page is a 422.
async fn tasks_view(
    ctx: &Ctx,
    state: &AppState,
    id: i64,
    done: Option<i64>,
    refused: Option<RefusedForm>,
) -> Result<Response, AppError> {
    let round = load_round(ctx, id).await?;
    let roots = ctx.principal.roots.clone();
    let missed = ctx.store.missed(id, &roots).await?;
    let mut tasks = ctx.store.door_tasks(id, &roots).await?;
    ctx.audit(
        "missed.read",
        "area",
        &roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        format!("round {id}"),
    )
    .await?;
    let lang = ctx.meta.lang;
    // Open tasks first: they are the work; done ones below (the sort is stable).
    tasks.sort_by_key(|t| t.outcome.is_some());
    // The members still missing of each household: who can be swabbed or corrected at the door.
    let missing: std::collections::HashMap<i64, &[cordon_store::testing::MissedPerson]> =
        missed.iter().map(|h| (h.household_id, h.members.as_slice())).collect();
    let p = pattern(&state.settings.tube_pattern);
    let refused = refused.as_ref();
    let tasks_json: Vec<_> = tasks
        .iter()
        .map(|t| {
            let members = missing.get(&t.household_id).copied().unwrap_or_default();
            task_json(ctx, t, members, refused.filter(|r| r.task == t.id))
        })
        .collect();
    // A refusal about a task this page does not list has nowhere else to show.
    let page_error =
        refused.filter(|r| !tasks.iter().any(|t| t.id == r.task)).map(|r| refusal_json(lang, r, &[], false, false));
    let saved = done.and_then(|d| tasks.iter().find(|t| t.id == d)).map(|t| {
        json!({"id": t.id, "room": t.room, "unit": t.unit.as_str(),
               "outcome": t.outcome.map(|o| lang.pick(o.zh(), o.en()).to_string())})
    });
    let corrections: Vec<_> = ["moved_out", "returned", "phone", "flags", "temporary_on", "temporary_off"]
        .iter()
        .map(|k| json!({"code": k, "label": crate::i18n::text(lang, &format!("correct.{k}"))}))
        .collect();
    let reasons: Vec<_> =
        ExemptionReason::ALL.iter().map(|o| json!({"code": o.as_str(), "label": lang.pick(o.zh(), o.en())})).collect();
    let html = render(
        ctx,
        "testing/tasks.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "households": missed_json(&missed),
               "tasks": tasks_json, "open_count": tasks.iter().filter(|t| t.outcome.is_none()).count(),
               "reasons": reasons, "corrections": corrections, "saved": saved, "page_error": page_error,
               "pattern": p.as_str(), "pattern_attr": pattern_attr(&p), "tube_inputmode": tube_inputmode(&p)}),
    )?;
    let status = if refused.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, html).into_response())
}

/// One task of the door-knock page; `refused` is this task's refused form, if any.
fn task_json(
    ctx: &Ctx,
    t: &cordon_store::testing::DoorTask,
    members: &[cordon_store::testing::MissedPerson],
    refused: Option<&RefusedForm>,
) -> serde_json::Value {
    let lang = ctx.meta.lang;
    // A wrong-data outcome is a roster correction, `EditResident`'s whoever knocks: its part
    // of the form is offered only to those the one authorization function allows it in the
    // task's unit (the handler checks again). Not a refusal, so not audited as one.
    let can_correct = cordon_domain::authorize(&ctx.principal, Action::EditResident, Some(&t.unit)).is_ok();
    let sent = |name: &str| refused.map_or("", |r| r.sent(name));
    let outcomes: Vec<_> = DoorOutcome::ALL
        .iter()
        .filter(|o| can_correct || **o != DoorOutcome::WrongData)
        .map(|o| json!({"code": o.as_str(), "label": lang.pick(o.zh(), o.en()), "selected": o.as_str() == sent("outcome")}))
        .collect();
    let members_json: Vec<_> = members
        .iter()
        .map(|m| {
            json!({"id": m.resident_id, "name": m.name, "tube": sent(&format!("tube_{}", m.resident_id)),
                   "chosen": sent("member").trim() == m.resident_id.to_string()})
        })
        .collect();
    let checked = |name: &str| refused.is_some_and(|r| r.form.iter().any(|(k, _)| k == name));
    json!({"id": t.id, "unit": t.unit.as_str(), "room": t.room, "household_id": t.household_id,
           "outcome": t.outcome.map(|o| lang.pick(o.zh(), o.en()).to_string()), "note": t.note,
           "members": members_json, "outcomes": outcomes, "can_correct": can_correct,
           "form": {"note": sent("note"), "kind": sent("kind"), "phone": sent("phone"),
                    "bedridden": checked("bedridden"), "no_smartphone": checked("no_smartphone")},
           "error": refused.map(|r| refusal_json(lang, r, members, can_correct, t.outcome.is_none()))})
}

/// A refused outcome form's error for the page: the message with the field named, in the
/// page's language and the other, and `slot`, the field it is shown next to. A refusal about
/// one member (the store names them by resident id) names them by their masked name instead,
/// beside their own field.
fn refusal_json(
    lang: Lang,
    r: &RefusedForm,
    members: &[cordon_store::testing::MissedPerson],
    can_correct: bool,
    form_shown: bool,
) -> serde_json::Value {
    let outcome = r.sent("outcome");
    let sampled = outcome == DoorOutcome::SampledAtDoor.as_str() && !members.is_empty();
    let wrong_data = outcome == DoorOutcome::WrongData.as_str() && can_correct && !members.is_empty();
    // A member of the household is named by their masked name beside their field; anyone
    // else by resident id in the message.
    let named = r.refusal.member.and_then(|rid| members.iter().find(|m| m.resident_id == rid));
    let (error, who) = match named {
        Some(m) => {
            let who = cordon_domain::PersonName::parse(&m.name)
                .map(|n| n.masked())
                .unwrap_or_else(|_| format!("#{}", m.resident_id));
            (r.refusal.error.clone(), Some(who))
        }
        None => (r.refusal.named(), None),
    };
    let slot = match (named, error.field) {
        _ if !form_shown => "task".to_string(),
        (Some(m), _) if sampled => format!("tube_{}", m.resident_id),
        (Some(_), "member") if wrong_data => "member".into(),
        (None, "tube") if sampled => "tubes".into(),
        (None, f @ ("member" | "kind" | "phone")) if wrong_data => f.into(),
        (_, f @ ("outcome" | "note")) => f.into(),
        _ => "task".into(),
    };
    let (zh, en) = AppError::Field(error.clone()).messages();
    let (zh, en) = match &who {
        Some(w) => (format!("{zh}（{w}）"), format!("{en} ({w})")),
        None => (zh, en),
    };
    json!({"slot": slot, "code": error.code, "message": lang.pick(&zh, &en), "other": lang.pick(&en, &zh), "who": who})
}

/// The barcode template as an HTML `pattern` attribute, a hint before submitting (the server
/// decides). Browsers anchor it and compile it with the `v` flag, so only syntax characters
/// are escaped; letters match either case, as the server upper-cases what it is given.
fn pattern_attr(p: &BarcodePattern) -> String {
    p.as_str()
        .chars()
        .map(|c| match c {
            'A' => "[A-Za-z]".to_string(),
            '9' => "[0-9]".to_string(),
            c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()),
            c if "^$\\.*+?()[]{}|/".contains(c) => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// The phone keyboard for typing a barcode by hand (a keyboard-wedge scanner types whatever
/// it reads): digits only when the template is all digits.
fn tube_inputmode(p: &BarcodePattern) -> &'static str {
    if p.as_str().chars().all(|c| c == '9') { "numeric" } else { "text" }
}

async fn create_tasks(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = f.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.clone()).unwrap_or_default();
    ctx.check_csrf(&csrf)?;
    ctx.authorize(Action::DoorKnock, None).await?;
    load_round(&ctx, id).await?;
    // Only households on the principal's own missed list can get a task.
    let mine: std::collections::HashSet<i64> =
        ctx.store.missed(id, &ctx.principal.roots).await?.iter().map(|h| h.household_id).collect();
    let wanted: Vec<i64> = f.iter().filter(|(k, _)| k == "household").filter_map(|(_, v)| v.parse().ok()).collect();
    if wanted.iter().any(|h| !mine.contains(h)) {
        let denied = cordon_domain::Denied::scope(Action::DoorKnock.code());
        ctx.audit("access.denied", "route", &ctx.meta.route, format!("door_knock household {}", denied.code)).await?;
        return Err(AppError::Denied(denied));
    }
    let entry = ctx.entry("door.create", "round", &id.to_string(), format!("{} households", wanted.len()));
    ctx.store.create_door_tasks(id, &wanted, ctx.user.id, ctx.now, &entry).await?;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/tasks")).into_response())
}

/// The door-knock outcome form: `outcome`, `note`; for samples at the door one
/// `tube_<resident id>` per member swabbed (members left blank were not); for wrong data
/// `member` and the correction as on the resident page (`kind`, `phone`, `bedridden`,
/// `no_smartphone`). Saved: back to the page naming the task (`?done=`). Refused (a
/// `FieldError`, nothing written): the page again with this form as it was sent, a 422.
async fn task_outcome(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = f.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str());
    ctx.check_csrf(csrf)?;
    let task = ctx.store.door_task(id).await?.ok_or(AppError::NotFound("door_task"))?;
    // Door-knocking is the door-knock team's (SPEC roles: grid workers, community staff,
    // volunteers); the tubes of a sampled-at-door outcome are recorded by that team under
    // this same action, not `SampleResidents`: that one is the site samplers' alone, no role
    // holds both, and requiring both would leave the outcome unrecordable.
    ctx.authorize(Action::DoorKnock, Some(&task.unit)).await?;
    let refusal = match record_outcome(&ctx, &state, &task, &f).await {
        Ok(Ok(())) => {
            return Ok(Redirect::to(&format!("/testing/rounds/{}/tasks?done={id}", task.round_id)).into_response());
        }
        Ok(Err(refusal)) => refusal,
        Err(AppError::Field(error)) => error.into(),
        Err(e) => return Err(e),
    };
    tasks_view(&ctx, &state, task.round_id, None, Some(RefusedForm { task: id, form: f, refusal })).await
}

/// Checks an outcome form and records it with the store, in one call. A refusal about one
/// member comes back as such; other bad values as `AppError::Field`.
async fn record_outcome(
    ctx: &Ctx,
    state: &AppState,
    task: &cordon_store::testing::DoorTask,
    f: &[(String, String)],
) -> Result<Result<(), DoorRefusal>, AppError> {
    let id = task.id;
    let field = |name: &str| f.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    let outcome = DoorOutcome::parse(field("outcome"))?;
    outcome.check_note(field("note"))?;
    let note: String = field("note").trim().chars().take(500).collect();
    let report = match outcome {
        DoorOutcome::SampledAtDoor => {
            let p = pattern(&state.settings.tube_pattern);
            let mut samples = Vec::new();
            for (k, v) in f {
                let Some(rid) = k.strip_prefix("tube_").and_then(|r| r.parse::<i64>().ok()) else { continue };
                if v.trim().is_empty() {
                    continue;
                }
                let tube = match p.parse(v) {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(DoorRefusal::about(rid, e))),
                };
                samples.push(DoorSample { resident_id: rid, tube });
            }
            let audit = ctx.entry(
                "scans.ingest",
                "round",
                &task.round_id.to_string(),
                format!("door task {id}: {} single tubes", samples.len()),
            );
            DoorReport::SampledAtDoor { samples, audit }
        }
        DoorOutcome::WrongData => {
            let rid: i64 = field("member").trim().parse().map_err(|_| Refusal::MemberMissing.error())?;
            let member = ctx.store.resident(rid).await?.ok_or(AppError::NotFound("resident"))?;
            // A correction of the roster is one, whoever makes it.
            ctx.authorize(Action::EditResident, Some(&member.unit)).await?;
            let checked = |name: &str| f.iter().any(|(k, _)| k == name);
            let correction = crate::pages::correction_from(
                field("kind"),
                field("phone"),
                checked("bedridden"),
                checked("no_smartphone"),
            )?;
            let audit = crate::pages::correction_entry(ctx, rid, &correction);
            DoorReport::WrongData { resident_id: rid, correction, audit }
        }
        DoorOutcome::NotHome => DoorReport::NotHome,
        DoorOutcome::AwayWithProof => DoorReport::AwayWithProof,
        DoorOutcome::Refused => DoorReport::Refused,
    };
    let entry = ctx.entry("door.outcome", "door_task", &id.to_string(), outcome.as_str());
    Ok(ctx.store.record_door_outcome(id, &report, &note, ctx.user.id, ctx.now, &entry).await?.map(|_| ()))
}

#[derive(Deserialize)]
struct ExemptionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    resident: i64,
    reason: String,
    #[serde(default)]
    proof: String,
}

async fn record_exemption(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ExemptionForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let r = ctx.store.resident(f.resident).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Action::DoorKnock, Some(&r.unit)).await?;
    load_round(&ctx, id).await?;
    let reason = ExemptionReason::parse(&f.reason)?;
    let proof: String = f.proof.trim().chars().take(500).collect();
    let entry = ctx.entry("exemption.record", "resident", &r.id.to_string(), reason.as_str());
    ctx.store.record_exemption(id, r.id, reason, &proof, ctx.user.id, ctx.now, &entry).await??;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/tasks")).into_response())
}

// ---- alerts and chase --------------------------------------------------------------------

async fn alerts_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewChase, None).await?;
    let alerts = ctx.store.alerts(0, 50).await?;
    let lang = ctx.meta.lang;
    let mut rounds: Vec<i64> = alerts.iter().map(|a| a.round_id).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut chases = Vec::new();
    let mut marks = Vec::new();
    for r in rounds.iter().rev().take(3) {
        for c in ctx.store.chases(*r).await? {
            chases.push(json!({
                "tube": c.tube, "round": c.round_id, "members": c.members, "households": c.households_controlled,
                "tasks": c.tasks_created, "result_at": c.result_at.to_rfc3339(),
                "chase_ms": (c.chased_at - c.result_at).num_milliseconds(),
                "resampled": c.resampled,
                "resample_min": c.resampled_at.map(|t| (t - c.result_at).num_minutes()),
            }));
        }
        for m in ctx.store.pool_positives(*r, &ctx.principal.roots).await? {
            let status = match m.status.as_str() {
                "pending" => lang.pick("待单采复核", "awaiting individual result"),
                "cleared" => lang.pick("已排除", "cleared"),
                _ => lang.pick("确诊病例", "confirmed case"),
            };
            marks.push(json!({"name": m.masked_name, "tube": m.tube, "status": m.status, "label": status, "unit": m.unit.as_str(), "round": r}));
        }
    }
    ctx.audit("chase.read", "district", "alerts", format!("{} alerts", alerts.len())).await?;
    let list: Vec<_> = alerts
        .iter()
        .map(|a| json!({"id": a.id, "tube": a.tube, "members": a.members, "round": a.round_id, "at": a.created_at.to_rfc3339()}))
        .collect();
    let last = alerts.first().map(|a| a.id).unwrap_or(0);
    let html = render(
        &ctx,
        "testing/alerts.html",
        "/testing/alerts",
        json!({"alerts": list, "chases": chases, "marks": marks, "last": last}),
    )?;
    Ok(html.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_attr_takes_either_case_and_escapes_syntax_only() {
        assert_eq!(pattern_attr(&BarcodePattern::default()), format!("[A-Za-z][A-Za-z]{}", "[0-9]".repeat(10)));
        let p = BarcodePattern::new("HS-99.A").unwrap();
        assert_eq!(pattern_attr(&p), r"[Hh][Ss]-[0-9][0-9]\.[A-Za-z]");
        assert_eq!(tube_inputmode(&BarcodePattern::new("9999").unwrap()), "numeric");
        assert_eq!(tube_inputmode(&p), "text");
    }
}
