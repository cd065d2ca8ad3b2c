//! Cases and contact tracing (流调溯源): the tracer's work list and investigation page
//! (trajectory, candidates with their evidence, bulk confirmation by class, contacts,
//! source links), the commander's chains graph and KPIs, the community worker's contacts
//! to notify, and the JSON API — one module per job.
//!
//! Must never authorize other than through `Ctx::authorize` under each route's declared
//! action (a case is authorized on its residence), never put an ID number or a phone in
//! an audit entry, and write only through one store call per user action. Pages with
//! personal data are sent `no-store`.

mod cases;
mod chains;
mod contacts;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Lang, Message};
use crate::routes::{Need, Route};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cordon_domain::authz::Action;
use cordon_store::containment::{Act, Refused, View};
use utoipa::OpenApi;

pub const FEATURE: Feature = Feature {
    name: "tracing",
    routes,
    nav: &[
        NavEntry {
            order: 75,
            label: "nav.tracing",
            href: NavHref::Fixed("/tracing"),
            show: Need::AnyOf(&[Action::TraceCases]),
        },
        NavEntry {
            order: 76,
            label: "nav.chains",
            href: NavHref::Fixed("/tracing/chains"),
            show: Need::AnyOf(&[Action::ViewChains]),
        },
        NavEntry {
            order: 77,
            label: "nav.contacts",
            href: NavHref::Fixed("/tracing/contacts"),
            show: Need::AnyOf(&[Action::FollowHome]),
        },
    ],
    messages: &[MESSAGES],
    templates: &[
        ("tracing/index.html", include_str!("../../templates/tracing/index.html")),
        ("tracing/case.html", include_str!("../../templates/tracing/case.html")),
        ("tracing/chains.html", include_str!("../../templates/tracing/chains.html")),
        ("tracing/contacts.html", include_str!("../../templates/tracing/contacts.html")),
        ("tracing/assist.html", include_str!("../../templates/tracing/assist.html")),
    ],
    openapi: Some(TracingDoc::openapi),
    area_panel: None,
};

fn routes() -> Vec<Route> {
    [cases::routes(), chains::routes(), contacts::routes()].into_iter().flatten().collect()
}

#[derive(OpenApi)]
#[openapi(
    paths(cases::api_cases, cases::api_case, cases::api_decide, chains::api_chains, chains::api_kpis),
    components(schemas(cases::DecideIn))
)]
struct TracingDoc;

/// The action of a request as tracing's store wants it: now, the district's time zone,
/// who, the active profile, the audit entry.
async fn act(ctx: &Ctx, action: &str, target_kind: &str, target: &str) -> Result<Act, AppError> {
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    Ok(Act {
        at: ctx.now,
        tz: ctx.tz.clone(),
        user_id: Some(ctx.user.id),
        user: ctx.user.display_name.clone(),
        profile,
        audit: ctx.entry(action, target_kind, target, ""),
    })
}

async fn view(ctx: &Ctx) -> Result<View, AppError> {
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    Ok(View { at: ctx.now, tz: ctx.tz.clone(), profile })
}

/// A refusal of the store as the error the page or the API shows.
fn refused(r: Refused) -> AppError {
    AppError::Field(r.error)
}

/// A time in the district's time zone, for people.
fn local(ctx: &Ctx, t: DateTime<Utc>) -> String {
    ctx.tz.local(t).format("%m-%d %H:%M").to_string()
}

fn no_store(html: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], html).into_response()
}

fn word(lang: Lang, kind: &str, code: &str) -> String {
    crate::i18n::text(lang, &format!("tracing.{kind}.{code}"))
}

/// (key, 中文, English)
pub const MESSAGES: &[Message] = &[
    ("nav.tracing", "流调溯源", "Tracing"),
    ("nav.chains", "传播链", "Chains"),
    ("nav.contacts", "待通知接触者", "Contacts to notify"),
    ("tracing.title", "流调工作台", "Tracing work list"),
    ("tracing.cases", "病例", "Cases"),
    ("tracing.case", "病例", "Case"),
    ("tracing.due", "截止", "Due"),
    ("tracing.overdue", "已超时", "Overdue"),
    ("tracing.tasks", "流调任务", "Tasks"),
    ("tracing.no_cases", "暂无病例", "No cases"),
    ("tracing.waiting", "待确认候选", "Candidates waiting"),
    ("tracing.contacts", "接触者", "Contacts"),
    ("tracing.open", "打开", "Open"),
    ("tracing.enter", "登记病例（外区通报、发热门诊等）", "Enter a case (another district's notice, fever clinic…)"),
    ("tracing.resident_id", "居民编号", "Resident id"),
    ("tracing.how_found", "发现途径", "How found"),
    ("tracing.classification", "诊断分型", "Classification"),
    ("tracing.onset", "发病日期", "Onset date"),
    ("tracing.workplace", "工作单位", "Workplace"),
    ("tracing.save", "保存", "Save"),
    ("tracing.status", "状态", "Status"),
    ("tracing.narrative", "流调报告", "Narrative"),
    ("tracing.core_done", "核心信息已完成", "Core information done"),
    ("tracing.history", "分型变更记录", "Re-classification history"),
    ("tracing.known_before", "发现时已在管控或为已知接触者", "Under quarantine or a known contact when found"),
    ("tracing.source", "传染来源病例", "Source case"),
    ("tracing.no_source", "来源不明", "No known source"),
    ("tracing.link", "关联", "Link"),
    ("tracing.downstream", "下游病例", "Cases infected"),
    ("tracing.trajectory", "活动轨迹（流调追溯期）", "Trajectory (look-back window)"),
    ("tracing.window", "追溯期自", "Window from"),
    ("tracing.confirm_places", "确认所选轨迹", "Confirm selected entries"),
    ("tracing.confirmed", "已确认", "Confirmed"),
    ("tracing.proposed", "待确认", "Proposed"),
    ("tracing.add_place", "补充地点", "Add a place"),
    ("tracing.place", "地点", "Place"),
    ("tracing.from", "开始", "From"),
    ("tracing.until", "结束", "Until"),
    ("tracing.venue_id", "场所编号（可选）", "Venue id (optional)"),
    ("tracing.exposure_site", "标记为暴露场所（推送在场人员）", "Mark as exposure site (proposes everyone there)"),
    ("tracing.setting", "暴露场景", "Exposure setting"),
    ("tracing.note", "备注", "Note"),
    ("tracing.candidates", "候选接触者", "Candidate contacts"),
    ("tracing.reason", "推送依据", "Reason"),
    ("tracing.evidence", "证据", "Evidence"),
    ("tracing.last_exposure", "末次暴露", "Last exposure"),
    ("tracing.confirm_class", "确认所选", "Confirm selected"),
    ("tracing.reject_class", "排除所选", "Reject selected"),
    ("tracing.add_contact", "手工登记接触者", "Add a contact by hand"),
    ("tracing.name", "姓名", "Name"),
    ("tracing.id_number", "身份证号", "ID number"),
    ("tracing.phone", "手机号", "Phone"),
    ("tracing.address", "住址", "Address"),
    ("tracing.class", "类别", "Class"),
    ("tracing.regime", "管控要求", "Regime"),
    ("tracing.days_centralised", "天集中隔离", "days centralised"),
    ("tracing.days_home", "天居家", "days at home"),
    ("tracing.no_regime", "无需隔离", "no quarantine"),
    ("tracing.elicited_by", "登记人", "Elicited by"),
    ("tracing.done", "完成", "Done"),
    ("tracing.chains", "传播链与聚集性疫情", "Transmission chains and clusters"),
    ("tracing.generation", "代", "Generation"),
    ("tracing.cluster", "聚集性疫情", "Cluster"),
    ("tracing.all", "全部", "All"),
    ("tracing.street", "街道", "Street"),
    ("tracing.since", "自", "Since"),
    ("tracing.filter", "筛选", "Filter"),
    ("tracing.new_cluster", "新建聚集性疫情", "New cluster"),
    ("tracing.kpis", "流调指标", "Tracing KPIs"),
    ("tracing.median", "中位时长（分钟）", "Median (minutes)"),
    ("tracing.within_24h", "24小时内占比", "Within 24 h"),
    ("tracing.reached", "已达", "Reached"),
    ("tracing.contacts_per_case", "每例接触者数", "Contacts per case"),
    ("tracing.share_known", "已管控或已知接触者中发现的占比", "Share found in quarantine or among known contacts"),
    ("tracing.share_no_source", "来源不明占比", "Share with no known source"),
    ("tracing.to_notify", "辖区内接触者（待通知）", "Contacts living here (to notify)"),
    ("tracing.notified", "已通知", "Notified"),
    ("tracing.mark_notified", "已电话/上门通知", "Mark notified"),
    ("tracing.none", "暂无", "None"),
    ("tracing.nodes", "节点", "Nodes"),
    ("tracing.step.case_created", "病例创建", "Case created"),
    ("tracing.step.investigation_started", "开始流调", "Investigation started"),
    ("tracing.step.core_done", "核心信息完成", "Core information done"),
    ("tracing.step.contacts_listed", "接触者列出", "Contacts listed"),
    ("tracing.step.contacts_notified", "接触者已通知", "Contacts notified"),
    ("tracing.class.close", "密切接触者", "Close contact"),
    ("tracing.class.secondary", "次密接", "Secondary contact"),
    ("tracing.class.general", "一般接触者", "General contact"),
    ("tracing.source.household", "同住家庭成员", "Household member"),
    ("tracing.source.pool_mate", "同管混检人员", "Pool mate"),
    ("tracing.source.same_unit", "同单元居民", "Same unit"),
    ("tracing.source.copresence", "时空伴随", "Co-presence"),
    ("tracing.source.contact_of_contact", "密接的同住人员", "Contact's household"),
    ("tracing.source.exposure_site", "暴露场所在场人员", "At the exposure site"),
    ("tracing.setting.household", "家庭", "Household"),
    ("tracing.setting.same_unit", "同单元", "Same unit"),
    ("tracing.setting.workplace", "工作场所", "Workplace"),
    ("tracing.setting.venue", "公共场所", "Venue"),
    ("tracing.setting.transport", "交通工具", "Transport"),
    ("tracing.setting.pool_mate", "同管采样", "Pool mate"),
    ("tracing.setting.other", "其他", "Other"),
    ("tracing.status.identified", "已判定", "Identified"),
    ("tracing.status.notified", "已通知", "Notified"),
    ("tracing.status.under_quarantine", "隔离中", "Under quarantine"),
    ("tracing.status.released", "已解除", "Released"),
    ("tracing.status.became_case", "转为病例", "Became a case"),
    ("tracing.status.lost", "失访", "Lost to follow-up"),
    ("tracing.cstatus.investigating", "流调中", "In investigation"),
    ("tracing.cstatus.hospital", "已转定点医院", "Transferred to hospital"),
    ("tracing.cstatus.shelter", "已转方舱", "Transferred to shelter hospital"),
    ("tracing.cstatus.recovered", "治愈", "Recovered"),
    ("tracing.cstatus.died", "死亡", "Died"),
    ("tracing.cls.mild", "确诊（轻型）", "Confirmed (mild)"),
    ("tracing.cls.moderate", "确诊（普通型）", "Confirmed (moderate)"),
    ("tracing.cls.severe", "确诊（重型）", "Confirmed (severe)"),
    ("tracing.cls.critical", "确诊（危重型）", "Confirmed (critical)"),
    ("tracing.cls.asymptomatic", "无症状感染者", "Asymptomatic"),
    ("tracing.cls.pending", "阳性待分型", "Positive, not yet classified"),
    ("tracing.found.pool_chase", "混管阳性追踪", "Pool chase"),
    ("tracing.found.individual_test", "单管检测", "Individual test"),
    ("tracing.found.fever_clinic", "发热门诊", "Fever clinic"),
    ("tracing.found.quarantine_screening", "隔离人员筛查", "Screening in quarantine"),
    ("tracing.found.other_district", "外区协查通报", "Other district's notice"),
    ("tracing.found.other", "其他", "Other"),
    ("tracing.place.checkpoint", "卡口通行", "Checkpoint"),
    ("tracing.place.venue", "场所扫码", "Venue check-in"),
    ("tracing.place.sampling", "核酸采样", "Sampling"),
    ("tracing.place.household", "居住地", "Home"),
    ("tracing.place.entered", "流调补充", "Added by the tracer"),
    ("tracing.task.core_info", "核心信息", "Core information"),
    ("tracing.task.report", "流调报告", "Full report"),
    ("tracing.task.notify", "通知接触者", "Notify contacts"),
    ("tracing.tube", "试管", "Tube"),
    ("tracing.seen_at", "在场时间", "Seen at"),
    ("tracing.queue", "待隔离", "To isolate"),
    ("tracing.assist", "协查函", "Assist letter"),
    ("tracing.assist_title", "密切接触者协查函", "Request to trace contacts (assist letter)"),
    (
        "tracing.assist_body",
        "我区在病例流调中发现下列人员不在本区登记，请贵单位协助落实管控措施并反馈。",
        "In investigating this case we found the people below, who are not on our register; please trace them and reply.",
    ),
    ("tracing.print", "打印", "Print"),
    ("tracing.code", "健康码", "Code"),
    ("tracing.queue.waiting", "待隔离", "Waiting"),
    ("tracing.queue.ordered", "已开隔离通知", "Order issued"),
    ("tracing.queue.under_quarantine", "隔离中", "In quarantine"),
    ("tracing.queue.home_monitoring", "居家健康监测", "Home monitoring"),
    ("tracing.queue.released", "已解除", "Released"),
    ("tracing.queue.became_case", "转为病例", "Became a case"),
    ("tracing.queue.cancelled", "已取消", "Cancelled"),
    ("tracing.case_at", "病例在场", "Case there"),
];
