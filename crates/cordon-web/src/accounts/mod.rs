//! Accounts and their credentials (issue 10), for the commander: every account in scope
//! with its bearer tokens (name, state, expiry, last use — never the token), and the
//! actions that take credentials back — revoke one token (a lost scanner is cut off in
//! one action), disable or enable an account, log a user out everywhere. Each action is
//! one store transaction with its audit entry; the page's read is audited too.
//!
//! Must never show a token's value or hash, and never let an account be acted on
//! outside the caller's subtree (`Ctx::authorize` on the account's area).

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Message, text};
use crate::routes::{Need, Route};
use crate::shell::render;
use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::role::UserScope;
use cordon_store::User;
use cordon_store::credentials::{CredentialChange, TokenState};
use serde::Deserialize;
use serde_json::json;

pub const FEATURE: Feature = Feature {
    name: "accounts",
    routes,
    nav: &[NavEntry {
        order: 95,
        label: "nav.accounts",
        href: NavHref::Fixed("/accounts"),
        show: Need::Action(Action::ManageAccounts),
    }],
    messages: &[MESSAGES],
    templates: &[("accounts/index.html", include_str!("../../templates/accounts/index.html"))],
    openapi: None,
    area_panel: None,
};

fn routes() -> Vec<Route> {
    vec![
        Route::get("/accounts", Action::ManageAccounts, accounts_page),
        Route::post("/accounts/users/{id}", Action::ManageAccounts, user_action),
        Route::post("/accounts/tokens/{id}/revoke", Action::ManageAccounts, token_revoke),
    ]
}

/// (key, 中文, English)
pub const MESSAGES: &[Message] = &[
    ("nav.accounts", "账号", "Accounts"),
    ("accounts.title", "账号与令牌", "Accounts and tokens"),
    (
        "accounts.intro",
        "停用账号或吊销令牌后，下一次请求即被拒绝。",
        "A disabled account or a revoked token is refused from its next request on.",
    ),
    ("accounts.user", "账号", "Account"),
    ("accounts.role", "角色", "Role"),
    ("accounts.scope", "范围", "Scope"),
    ("accounts.state", "状态", "State"),
    ("accounts.enabled", "正常", "Enabled"),
    ("accounts.disabled", "已停用", "Disabled"),
    ("accounts.disable", "停用账号", "Disable"),
    ("accounts.enable", "启用账号", "Enable"),
    ("accounts.logout_all", "全部下线", "Log out everywhere"),
    ("accounts.tokens", "设备令牌", "Device tokens"),
    ("accounts.no_tokens", "无令牌", "No tokens"),
    ("accounts.token_name", "名称", "Name"),
    ("accounts.created", "签发", "Issued"),
    ("accounts.expires", "到期", "Expires"),
    ("accounts.last_used", "最近使用", "Last used"),
    ("accounts.never", "从未", "never"),
    ("accounts.revoke", "吊销", "Revoke"),
    ("accounts.token.active", "有效", "Active"),
    ("accounts.token.revoked", "已吊销", "Revoked"),
    ("accounts.token.expired", "已过期", "Expired"),
    ("accounts.none", "范围内没有账号", "No accounts in scope"),
    ("accounts.you", "（本人）", "(you)"),
];

/// The area an account's scope lies in (a grid's community for a grid worker).
async fn account_area(ctx: &Ctx, u: &User) -> Result<AreaCode, AppError> {
    match &u.scope {
        UserScope::Area(code) => Ok(code.clone()),
        UserScope::Grid(id) => Ok(ctx.store.grid(*id).await?.ok_or(AppError::NotFound("grid"))?.community),
    }
}

fn local(ctx: &Ctx, t: DateTime<Utc>) -> String {
    ctx.tz.local(t).format("%Y-%m-%d %H:%M").to_string()
}

async fn accounts_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(None).await?;
    let lang = ctx.meta.lang;
    let tokens = ctx.store.api_tokens().await?;
    let mut rows = Vec::new();
    for u in ctx.store.users().await? {
        let area = account_area(&ctx, &u).await?;
        if !ctx.principal.covers(&area) {
            continue;
        }
        let area_name = ctx.store.area(&area).await?.map_or_else(|| area.to_string(), |a| a.name);
        let toks: Vec<_> = tokens
            .iter()
            .filter(|t| t.user_id == u.id)
            .map(|t| {
                let state = t.state(ctx.now);
                let key = match state {
                    TokenState::Active => "accounts.token.active",
                    TokenState::Revoked => "accounts.token.revoked",
                    TokenState::Expired => "accounts.token.expired",
                };
                json!({
                    "id": t.id, "name": t.name, "state": text(lang, key), "active": state == TokenState::Active,
                    "created": local(&ctx, t.created_at), "expires": local(&ctx, t.expires_at),
                    "last_used": t.last_used_at.map(|d| local(&ctx, d)),
                })
            })
            .collect();
        rows.push(json!({
            "id": u.id, "username": u.username, "display_name": u.display_name,
            "role": lang.pick(u.role.zh(), u.role.en()), "scope": area_name,
            "disabled": u.disabled_at.map(|d| local(&ctx, d)), "me": u.id == ctx.user.id, "tokens": toks,
        }));
    }
    let roots: Vec<String> = ctx.principal.roots.iter().map(ToString::to_string).collect();
    ctx.audit("accounts.read", "area", &roots.join(","), format!("{} accounts", rows.len())).await?;
    Ok(render(&ctx, "accounts/index.html", "/accounts", json!({"users": rows}))?.into_response())
}

/// The account with this id, authorized on its area (a refusal is audited).
async fn account_in_scope(ctx: &Ctx, id: i64) -> Result<User, AppError> {
    let user = ctx.store.user(id).await?.ok_or(AppError::NotFound("user"))?;
    let area = account_area(ctx, &user).await?;
    ctx.authorize(Some(&area)).await?;
    Ok(user)
}

#[derive(Deserialize)]
struct UserActionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// `disable`, `enable` or `logout_all`.
    #[serde(rename = "do", default)]
    action: String,
}

async fn user_action(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<UserActionForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let user = account_in_scope(&ctx, id).await?;
    let (change, code) = match f.action.as_str() {
        "disable" => (CredentialChange::Disable, "user.disable"),
        "enable" => (CredentialChange::Enable, "user.enable"),
        "logout_all" => (CredentialChange::LogOutEverywhere, "user.logout_all"),
        _ => {
            return Err(AppError::Field(FieldError::new(
                "account_action_invalid",
                "do",
                "操作须为停用、启用或全部下线",
                "the action is disable, enable or logout_all",
            )));
        }
    };
    if let Some(e) = cordon_store::credentials::refuse_own(ctx.user.id, user.id, &change) {
        return Err(AppError::Field(e));
    }
    let entry = ctx.entry(code, "user", &user.id.to_string(), "");
    let out = ctx.store.change_credentials(user.id, &change, ctx.now, &entry).await?;
    tracing::info!(
        user = user.id,
        action = code,
        sessions = out.sessions_ended,
        tokens = out.tokens_revoked,
        "credentials changed"
    );
    Ok(Redirect::to("/accounts").into_response())
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn token_revoke(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<RevokeForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let token =
        ctx.store.api_tokens().await?.into_iter().find(|t| t.id == id).ok_or(AppError::NotFound("api_token"))?;
    let user = account_in_scope(&ctx, token.user_id).await?;
    let entry = ctx.entry("token.revoke", "api_token", &id.to_string(), format!("user {}", user.id));
    ctx.store.change_credentials(user.id, &CredentialChange::RevokeToken { token_id: id }, ctx.now, &entry).await?;
    Ok(Redirect::to("/accounts").into_response())
}
