//! The audit log (commander only): every read and change of personal data and every
//! refusal, filtered by who and what, page by page (page and API).

use crate::auth::Ctx;
use crate::error::{AppError, ErrorBody};
use crate::i18n::{Lang, text};
use crate::routes::Route;
use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use cordon_domain::authz::Action;
use cordon_store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::get("/audit", Action::ViewAudit, audit_page), Route::get("/api/v1/audit", Action::ViewAudit, audit)]
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    /// An action family (`zone` finds `zone.designate`) or a full action code.
    #[serde(default)]
    pub action: String,
    pub before: Option<i64>,
}

/// The longest filter value taken from the query string.
const MAX_FILTER: usize = 64;

fn audit_filter(q: &AuditQuery, limit: u32) -> AuditFilter {
    let opt = |s: &str| {
        let s = s.trim();
        if s.is_empty() { None } else { Some(s.chars().take(MAX_FILTER).collect::<String>()) }
    };
    AuditFilter {
        actor: opt(&q.actor),
        action_family: opt(&q.action),
        before_id: q.before,
        limit,
        ..Default::default()
    }
}

/// The action families the filter offers, in the order shown.
const FAMILIES: &[&str] = &[
    "resident",
    "residents",
    "roster",
    "access",
    "login",
    "code",
    "pass",
    "passes",
    "zone",
    "policy",
    "checkpoint",
    "venue",
    "round",
    "tubes",
    "results",
    "door",
    "missed",
    "exemption",
    "orders",
    "order",
    "transfer",
    "room",
    "key",
];

/// A translated label, or `None` when the message table has no such key.
fn label(lang: Lang, key: &str) -> Option<String> {
    let t = text(lang, key);
    (t != key).then_some(t)
}

/// An action code in words: a whole-code message where there is one (`login.failed`),
/// else the verb and the family (`zone.designate` → 划定风险区), else the code itself.
pub(crate) fn action_words(lang: Lang, action: &str) -> String {
    if let Some(t) = label(lang, &format!("audit.code.{action}")) {
        return t;
    }
    let (family, rest) = action.split_once('.').unwrap_or((action, ""));
    let verb = rest.rsplit('.').next().unwrap_or("");
    let family_key = format!("audit.family.{family}");
    let verb_key = format!("audit.verb.{verb}");
    match (label(lang, &family_key), label(lang, &verb_key)) {
        (Some(f), Some(v)) if lang == Lang::Zh => format!("{v}{f}"),
        (Some(f), Some(v)) => format!("{v} {f}"),
        (Some(f), None) if verb.is_empty() => f,
        (Some(f), None) => format!("{f} · {rest}"),
        _ => action.to_string(),
    }
}

async fn audit_page(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    let page_size = 100;
    let entries = ctx.store.audit_log(&audit_filter(&q, page_size)).await?;
    let older = if entries.len() as u32 == page_size { entries.last().map(|e| e.id) } else { None };
    let lang = ctx.meta.lang;
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "at": ctx.tz.local(e.entry.at).format("%Y-%m-%d %H:%M:%S").to_string(), "actor": e.entry.actor,
                "role": e.entry.role.map(|r| lang.pick(r.zh(), r.en())), "action": e.entry.action,
                "action_words": action_words(lang, &e.entry.action),
                "target_kind": e.entry.target_kind, "target": e.entry.target,
                "detail": e.entry.detail, "request_id": e.entry.request_id,
            })
        })
        .collect();
    let families: Vec<_> = FAMILIES
        .iter()
        .map(|f| json!({"code": f, "name": label(lang, &format!("audit.family.{f}")).unwrap_or_else(|| f.to_string())}))
        .collect();
    let extra = json!({
        "entries": rows, "older": older, "families": families, "tz": ctx.tz.name(),
        "filter": {"actor": q.actor, "action": q.action.trim()},
    });
    Ok(crate::shell::render(&ctx, "audit.html", "/audit", extra)?.into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct AuditDto {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target: String,
    pub request_id: String,
    pub detail: String,
}

#[utoipa::path(get, path = "/api/v1/audit",
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("before" = Option<i64>, Query, description = "entries with a smaller id (paging)")),
    responses((status = 200, body = [AuditDto]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn audit(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Json<Vec<AuditDto>>, AppError> {
    let entries = ctx.store.audit_log(&audit_filter(&q, 200)).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditDto {
                id: e.id,
                at: e.entry.at.to_rfc3339(),
                actor: e.entry.actor,
                role: e.entry.role.map(|r| r.code().to_string()),
                action: e.entry.action,
                target_kind: e.entry.target_kind,
                target: e.entry.target,
                request_id: e.entry.request_id,
                detail: e.entry.detail,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_in_words() {
        assert_eq!(action_words(Lang::Zh, "zone.designate"), "划定风险区");
        assert_eq!(action_words(Lang::En, "zone.designate"), "designate zone");
        assert_eq!(action_words(Lang::Zh, "resident.read"), "查看居民");
        assert_eq!(action_words(Lang::Zh, "login.failed"), "登录失败");
        assert_eq!(action_words(Lang::Zh, "login"), "登录成功");
        assert_eq!(action_words(Lang::Zh, "venue.visits.read"), "查看场所到访记录");
        assert_eq!(action_words(Lang::Zh, "something.new"), "something.new");
        for f in FAMILIES {
            assert!(label(Lang::Zh, &format!("audit.family.{f}")).is_some(), "{f}");
        }
    }
}
