//! The district's policy profile: the commander's page showing the active profile's
//! rules and switching it (a shipped profile or pasted TOML), and the API switch. The
//! profile is read and chosen through [`crate::policy`].

use super::local;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use cordon_domain::authz::Action;
use cordon_domain::policy::Profile;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/codes/policy", Action::ManagePolicy, policy_page),
        Route::post("/codes/policy", Action::ManagePolicy, policy_switch).body_limit(128 * 1024),
        Route::post("/api/v1/policy", Action::ManagePolicy, policy).body_limit(128 * 1024),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
    ("nav.codes.policy", "防控策略", "Policy"),
    ("codes.policy.title", "防控策略配置", "Policy profile"),
    ("codes.policy.active", "当前策略", "Active profile"),
    ("codes.policy.switch", "切换策略", "Switch profile"),
    ("codes.policy.switched", "已切换为：", "Now active: "),
    ("codes.policy.upload", "或粘贴其他策略文件（TOML）", "Or paste another profile (TOML)"),
    ("codes.policy.apply", "应用", "Apply"),
    ("codes.policy.red", "红码条件", "Red when"),
    ("codes.policy.yellow", "黄码条件", "Yellow when"),
    ("codes.policy.close", "密接", "Close contacts"),
    ("codes.policy.secondary", "次密接", "Secondary contacts"),
    ("codes.policy.none", "不适用", "not traced"),
    ("codes.policy.centralised", "集中隔离（天）", "Centralised (days)"),
    ("codes.policy.home", "居家（天）", "Home (days)"),
    ("codes.policy.test_days", "检测日", "Test days"),
    ("codes.policy.zones", "风险区时钟", "Zone clock"),
    ("codes.policy.high_days", "高风险区连续无新增（天）", "High: days without a new infection"),
    ("codes.policy.steps_to", "降为", "Steps down to"),
    ("codes.policy.medium_after_high", "由高降中后再（天）降为低", "Medium after high: days to low"),
    ("codes.policy.medium_days", "中风险区（天）降为低", "Medium: days to low"),
    ("codes.policy.pool", "混采管默认人数", "Default pool size"),
    ("codes.policy.token_days", "码有效期（天）", "Code validity (days)"),
    ("codes.policy.updated", "最近修改", "Last changed"),
    ("codes.policy.confirm_title", "确认切换策略", "Confirm the switch"),
    ("codes.policy.confirm_help", "切换后以下规则立即生效：", "Once switched, these rules apply at once:"),
    ("codes.policy.no_change", "赋码规则和隔离天数不变。", "The colour rules and quarantine days stay the same."),
    ("codes.policy.confirm", "确认切换", "Switch now"),
    ("codes.policy.cancel", "取消", "Cancel"),
    ("codes.policy.colour_none", "不赋码", "no colour"),
    ("codes.policy.days_change", "天数", "days"),
    ("codes.trigger.case", "确诊病例", "confirmed case"),
    ("codes.trigger.close_contact", "密接", "close contact"),
    ("codes.trigger.secondary_contact", "次密接", "secondary contact"),
    ("codes.trigger.pool_positive", "混管阳性待复核", "positive pool, awaiting re-sample"),
    ("codes.trigger.centralised_quarantine", "集中隔离中", "in centralised quarantine"),
    ("codes.trigger.home_quarantine", "居家隔离/居家健康监测中", "in home quarantine"),
    ("codes.trigger.zone_high", "住在高风险区", "lives in a high-risk zone"),
    ("codes.trigger.zone_medium", "住在中风险区", "lives in a medium-risk zone"),
    ("codes.trigger.missed_round", "漏检（未按要求参加核酸检测）", "missed a mandatory testing round"),
];

/// A trigger in words.
fn trigger_words(lang: crate::i18n::Lang, t: cordon_domain::policy::Trigger) -> String {
    let key = format!("codes.trigger.{}", t.code());
    text(lang, &key)
}

/// What a switch from `old` to `new` changes, in words: each trigger whose colour moves,
/// and the quarantine days of contacts.
fn switch_changes(lang: crate::i18n::Lang, old: &Profile, new: &Profile) -> Vec<String> {
    let colour = |c: Option<cordon_domain::colour::Colour>| match c {
        Some(c) => lang.pick(c.zh(), c.en()).to_string(),
        None => text(lang, "codes.policy.colour_none"),
    };
    let mut out = Vec::new();
    for t in cordon_domain::policy::Trigger::ALL {
        let (a, b) = (old.colour_of(t), new.colour_of(t));
        if a != b {
            out.push(format!("{}：{} → {}", trigger_words(lang, t), colour(a), colour(b)));
        }
    }
    let days = |c: &cordon_domain::policy::Regime| (c.centralised_days, c.home_days);
    if days(&old.close_contact) != days(&new.close_contact) {
        let (a, b) = (days(&old.close_contact), days(&new.close_contact));
        out.push(format!(
            "{}：{} {}+{} → {}+{}",
            text(lang, "codes.policy.close"),
            text(lang, "codes.policy.days_change"),
            a.0,
            a.1,
            b.0,
            b.1
        ));
    }
    out
}

async fn policy_page(ctx: Ctx) -> Result<Response, AppError> {
    policy_view(&ctx, None, String::new(), None).await
}

async fn policy_view(
    ctx: &Ctx,
    error: Option<String>,
    source: String,
    flash: Option<String>,
) -> Result<Response, AppError> {
    policy_view_with(ctx, error, source, flash, None).await
}

async fn policy_view_with(
    ctx: &Ctx,
    error: Option<String>,
    source: String,
    flash: Option<String>,
    confirm: Option<serde_json::Value>,
) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let (p, setting) = crate::policy::active(ctx.store.as_ref()).await?;
    let shipped: Vec<_> = crate::policy::shipped()
        .iter()
        .map(|(n, p)| json!({"name": n, "title": lang.pick(&p.title_zh, &p.title_en)}))
        .collect();
    let extra = json!({
        "profile": {
            "name": p.name, "title": lang.pick(&p.title_zh, &p.title_en),
            "red": p.colours.red.iter().map(|t| trigger_words(lang, *t)).collect::<Vec<_>>(),
            "yellow": p.colours.yellow.iter().map(|t| trigger_words(lang, *t)).collect::<Vec<_>>(),
            "close": p.close_contact, "secondary": p.secondary_contact, "zones": p.zones, "testing": p.testing,
            "token_days": p.codes.token_valid_days,
        },
        "setting": setting.map(|s| json!({"by": s.updated_by, "at": local(s.updated_at)})),
        "shipped": shipped,
        "error": error,
        "source": source,
        "flash": flash,
        "confirm": confirm,
    });
    let status = if extra["error"].is_null() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, render(ctx, "codes/policy.html", "/codes/policy", extra)?).into_response())
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    source: String,
    /// `1` once the commander has seen what the switch changes.
    #[serde(default)]
    confirm: String,
}

/// Checks a profile choice (a shipped name or uploaded TOML) and makes it active.
async fn switch_policy(ctx: &Ctx, profile: &str, source: &str) -> Result<Profile, AppError> {
    let (parsed, setting) = crate::policy::choose(profile, source, &ctx.user.username, ctx.now)?;
    let entry = ctx.entry("policy.switch", "district", "policy", format!("active profile: {}", parsed.name));
    ctx.store.set_policy(&setting, &entry).await?;
    Ok(parsed)
}

async fn policy_switch(ctx: Ctx, Form(f): Form<PolicyForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    if f.confirm != "1" {
        // First what the switch would change; nothing is written until confirmed.
        let lang = ctx.meta.lang;
        return match crate::policy::choose(&f.profile, &f.source, &ctx.user.username, ctx.now) {
            Ok((new, _)) => {
                let old = crate::policy::active_profile(ctx.store.as_ref()).await?;
                let confirm = json!({
                    "profile": f.profile, "source": f.source, "name": new.name,
                    "title": lang.pick(&new.title_zh, &new.title_en), "changes": switch_changes(lang, &old, &new),
                });
                policy_view_with(&ctx, None, f.source.clone(), None, Some(confirm)).await
            }
            Err(AppError::Field(e)) => {
                policy_view(&ctx, Some(lang.pick(&e.zh, &e.en).to_string()), f.source, None).await
            }
            Err(e) => Err(e),
        };
    }
    match switch_policy(&ctx, &f.profile, &f.source).await {
        Ok(p) => {
            let msg = format!("{}{}", text(ctx.meta.lang, "codes.policy.switched"), p.name);
            policy_view(&ctx, None, String::new(), Some(msg)).await
        }
        Err(AppError::Field(e)) => {
            let lang = ctx.meta.lang;
            policy_view(&ctx, Some(lang.pick(&e.zh, &e.en).to_string()), f.source, None).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
pub(super) struct PolicyBody {
    #[serde(default)]
    profile: String,
    #[serde(default)]
    source: String,
}

#[utoipa::path(post, path = "/api/v1/policy", request_body = PolicyBody,
    responses((status = 200, description = "the profile now active"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn policy(ctx: Ctx, Json(b): Json<PolicyBody>) -> Result<Response, AppError> {
    let p = switch_policy(&ctx, &b.profile, &b.source).await?;
    Ok(Json(json!({"name": p.name, "title_zh": p.title_zh, "title_en": p.title_en})).into_response())
}
