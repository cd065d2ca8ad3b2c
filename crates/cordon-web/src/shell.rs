//! The page shell and what belongs to no feature: the landing redirect, log in and out,
//! the language switch, static files, `/api/v1/me`, the OpenAPI document and `/api/ping`;
//! and [`render`], which wraps every page in the shared layout with the navigation built
//! from what each feature declares ([`crate::features::Feature::nav`]).
//!
//! Must never name a feature's routes or messages: the navigation comes from the feature
//! list, the API document is the merge of every feature's part.

use crate::auth::{self, Ctx};
use crate::error::{AppError, ErrorBody};
use crate::features::Feature;
use crate::i18n::{Lang, Message, text};
use crate::routes::{Need, Route};
use crate::{AppState, RequestMeta, static_asset};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use chrono::{Duration, Utc};
use cordon_store::Session;
use minijinja::Value;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

pub const FEATURE: Feature = Feature {
    name: "shell",
    routes,
    nav: &[],
    messages: &[MESSAGES],
    templates: &[
        ("base.html", include_str!("../templates/base.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("error.html", include_str!("../templates/error.html")),
    ],
    // The document starts from the shell's part ([`api_doc`]).
    openapi: None,
    area_panel: None,
};

fn routes() -> Vec<Route> {
    vec![
        Route::get("/", Need::SignedIn, home),
        Route::get("/login", Need::Public, login_page),
        Route::post("/login", Need::Public, login),
        Route::post("/logout", Need::SignedIn, logout),
        Route::get("/lang/{tag}", Need::Public, switch_lang),
        Route::get("/static/{name}", Need::Public, |Path(name): Path<String>| async move { static_asset(&name) }),
        Route::get("/api/openapi.json", Need::Public, openapi_json),
        Route::get("/api/ping", Need::Public, ping),
        Route::get("/api/v1/me", Need::SignedIn, me),
    ]
}

/// (key, 中文, English)
pub const MESSAGES: &[Message] = &[
    ("app.name", "区级疫情防控指挥平台", "Cordon — district outbreak command"),
    ("app.short", "Cordon 防控平台", "Cordon"),
    ("nav.home", "首页", "Home"),
    ("nav.logout", "退出", "Log out"),
    ("nav.lang", "English", "中文"),
    ("login.title", "登录", "Log in"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Log in"),
    ("login.failed", "用户名或密码错误", "Wrong username or password"),
    ("login.throttled", "登录失败次数过多，请{s}秒后再试", "Too many failed attempts; try again in {s} seconds"),
    ("area.your_scope", "您的管辖范围", "Your area"),
    ("error.title", "出错了", "Something went wrong"),
    ("error.request", "请求号", "Request id"),
    ("error.back", "返回", "Back"),
    ("common.yes", "是", "yes"),
    ("common.no", "否", "no"),
];

/// Variables every page shares: language, who is logged in, navigation, CSRF token.
fn page(ctx: &Ctx, here: &str, extra: serde_json::Value) -> Value {
    let lang = ctx.meta.lang;
    let p = &ctx.principal;
    let nav: Vec<_> = crate::features::nav_entries()
        .into_iter()
        .filter_map(|e| {
            let href = e.href_for(p)?;
            let active = here == href || (href != "/" && here.starts_with(&href));
            Some(json!({"href": href, "label": text(lang, e.label), "active": active}))
        })
        .collect();
    let mut base = json!({
        "lang": lang.tag(),
        "here": here,
        "request_id": ctx.meta.request_id,
        "csrf": ctx.csrf.clone().unwrap_or_default(),
        "me": {
            "username": ctx.user.username,
            "display_name": ctx.user.display_name,
            "role_label": lang.pick(ctx.user.role.zh(), ctx.user.role.en()),
            "scope_label": p.scope_label,
        },
        "nav": nav,
    });
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    Value::from_serialize(&base)
}

/// Renders a page of the shared layout.
pub(crate) fn render(ctx: &Ctx, tpl: &str, here: &str, extra: serde_json::Value) -> Result<Html<String>, AppError> {
    let t = crate::templates::environment_cached().get_template(tpl).map_err(crate::template_error)?;
    t.render(page(ctx, here, extra)).map(Html).map_err(crate::template_error)
}

/// Renders a fragment (no layout) that one feature shows on another's page, in the
/// caller's language.
pub(crate) fn render_fragment(ctx: &Ctx, tpl: &str, extra: serde_json::Value) -> Result<String, AppError> {
    let t = crate::templates::environment_cached().get_template(tpl).map_err(crate::template_error)?;
    t.render(page(ctx, "", extra)).map_err(crate::template_error)
}

async fn home(ctx: Ctx) -> Response {
    match (ctx.principal.role, ctx.principal.roots.first()) {
        (cordon_domain::Role::BuildingLeader, Some(root)) => {
            Redirect::to(&format!("/buildings/{root}")).into_response()
        }
        // A guard lands on the scan page of their checkpoint (the list when they have several).
        (cordon_domain::Role::CheckpointGuard, _) => match ctx.store.checkpoints_of_guard(ctx.user.id).await {
            Ok(cps) if cps.len() == 1 => Redirect::to(&format!("/checkpoints/{}/scan", cps[0].id)).into_response(),
            _ => Redirect::to("/checkpoints").into_response(),
        },
        _ => Redirect::to("/areas").into_response(),
    }
}

// ---- login, logout, language ------------------------------------------------------------

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths of this site are followed after login or a language switch.
fn safe_next(next: Option<&str>) -> String {
    crate::security::safe_next(next)
}

fn login_form(
    state: &AppState,
    meta: &RequestMeta,
    next: &str,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let token = auth::new_token();
    let html = state.render(
        "login.html",
        minijinja::context! {
            lang => meta.lang.tag(), here => "/login", request_id => meta.request_id,
            login_csrf => token, next => next, username => username, error => error,
        },
    )?;
    let cookie = auth::set_cookie(auth::LOGIN_CSRF_COOKIE, &token, 3600, state.settings.secure_cookies, true);
    Ok((status, [(header::SET_COOKIE, cookie)], html).into_response())
}

async fn login_page(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    login_form(&state, &meta, &safe_next(q.next.as_deref()), "", None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Logs in. Throttled by account and by client address before the password is checked
/// (one transaction decides and charges the attempt, see
/// [`cordon_domain::security::plan_login_attempt`]); a name that is no account's is
/// recorded only as its keyed hash, so a password or an ID number typed into the
/// username box never reaches the audit log.
async fn login(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    use cordon_domain::security::{LoginAttempt, PASSWORD_MAX, ThrottleKind, ThrottleOp, USERNAME_MAX};
    let expected = auth::cookie(&headers, auth::LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !auth::same_token(expected, &f.csrf) {
        return Err(AppError::Csrf);
    }
    let now = Utc::now();
    let next = safe_next(Some(&f.next));
    let store = &state.store;
    // Bounded at the edge: a name longer than any account's is not one, and is not shown back.
    let typed = f.username.trim();
    let plausible = typed.chars().count() <= USERNAME_MAX && f.password.chars().count() <= PASSWORD_MAX;
    let username = if plausible { typed } else { "" };
    let keyed = crate::security::Keyed::load(&state).await?;
    let client = crate::security::client_key(peer.map(|Extension(c)| c.0.ip()));
    let keys = [
        (ThrottleKind::Account, keyed.hash("a:", &typed.to_lowercase())),
        (ThrottleKind::Client, keyed.hash("c:", &client)),
    ];
    let rules = crate::policy::active_profile(store.as_ref()).await?.security.clone();
    if let LoginAttempt::Wait { until } = store.login_throttle(ThrottleOp::Attempt, &keys, now, &rules).await? {
        let secs = (until - now).num_seconds().max(1);
        tracing::warn!(wait_s = secs, "login throttled");
        let msg = text(meta.lang, "login.throttled").replace("{s}", &secs.to_string());
        let mut resp = login_form(&state, &meta, &next, username, Some(msg), StatusCode::TOO_MANY_REQUESTS)?;
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let user = if plausible { store.user_by_username(username).await? } else { None };
    let ok = match &user {
        Some(u) => auth::verify_password(&f.password, &u.password_hash),
        None => {
            // Same work either way, so timing does not reveal which usernames exist.
            let _ = auth::verify_password(&f.password, DUMMY_HASH);
            false
        }
    };
    // A disabled account is refused like a wrong password (no hint that it exists).
    let (user, known) = match user {
        Some(u) if ok && u.disabled_at.is_none() => (Some(u), None),
        other => (None, other),
    };
    let Some(user) = user else {
        // An account's name may be named; anything else only by its keyed hash.
        let (actor, target) = match &known {
            Some(u) => (u.username.clone(), u.id.to_string()),
            None => ("?".to_string(), keys[0].1.clone()),
        };
        store
            .append_audit(&[cordon_domain::audit::AuditEntry {
                at: now,
                actor_id: None,
                actor,
                role: None,
                action: "login.failed".into(),
                target_kind: "user".into(),
                target,
                request_id: meta.request_id.clone(),
                detail: if known.is_some() { String::new() } else { "unknown username".into() },
            }])
            .await?;
        return login_form(
            &state,
            &meta,
            &next,
            username,
            Some(text(meta.lang, "login.failed")),
            StatusCode::UNAUTHORIZED,
        );
    };
    store.login_throttle(ThrottleOp::Success, &keys, now, &rules).await?;
    let token = auth::new_token();
    let session = Session {
        token_hash: auth::token_hash(&token),
        user_id: user.id,
        csrf_token: auth::new_token(),
        created_at: now,
        expires_at: now + Duration::hours(auth::SESSION_HOURS),
    };
    store.create_session(&session).await?;
    store
        .append_audit(&[cordon_domain::audit::AuditEntry {
            at: now,
            actor_id: Some(user.id),
            actor: user.username.clone(),
            role: Some(user.role),
            action: "login".into(),
            target_kind: "user".into(),
            target: user.id.to_string(),
            request_id: meta.request_id.clone(),
            detail: String::new(),
        }])
        .await?;
    let cookie =
        auth::set_cookie(auth::SESSION_COOKIE, &token, auth::SESSION_HOURS * 3600, state.settings.secure_cookies, true);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// An argon2id hash of a random string, verified against when the username is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0n4D0jJxhNMbTt8FQ0h0uVJmCpK7Y1mBsbZpwNQ3Pzs";

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    if let Some(token) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        state.store.delete_session(&auth::token_hash(token)).await?;
    }
    let cookie = auth::set_cookie(auth::SESSION_COOKIE, "", 0, state.settings.secure_cookies, true);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

async fn switch_lang(State(state): State<AppState>, Path(tag): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::from_tag(&tag);
    let cookie = auth::set_cookie(auth::LANG_COOKIE, lang.tag(), 365 * 24 * 3600, state.settings.secure_cookies, false);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&safe_next(q.next.as_deref()))).into_response()
}

// ---- the API's own: who am I, ping, the document -----------------------------------------

#[derive(Serialize, ToSchema)]
pub struct MeDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    /// Area codes this user may see.
    pub roots: Vec<String>,
    pub scope_label: String,
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = MeDto), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(ctx: Ctx) -> Json<MeDto> {
    Json(MeDto {
        id: ctx.user.id,
        username: ctx.user.username.clone(),
        display_name: ctx.user.display_name.clone(),
        role: ctx.user.role.code().to_string(),
        roots: ctx.principal.roots.iter().map(|c| c.to_string()).collect(),
        scope_label: ctx.principal.scope_label.clone(),
    })
}

/// The trivial handler: no authentication, no database. The verify benchmark's baseline.
#[utoipa::path(get, path = "/api/ping", responses((status = 200, description = "`pong`: the trivial handler benchmarks compare with")))]
async fn ping() -> &'static str {
    "pong"
}

/// The OpenAPI document, built once. utoipa's builders recurse deeply, so the document is
/// made on a thread with a roomy stack rather than on a request's.
async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = match DOC.get() {
        Some(d) => d.clone(),
        None => {
            let built = std::thread::Builder::new()
                .stack_size(16 * 1024 * 1024)
                .spawn(|| serde_json::to_string(&api_doc()).unwrap_or_default())
                .ok()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            DOC.get_or_init(|| built).clone()
        }
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// The shell's part of the API document: its info, security scheme and shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(title = "Cordon API", description = "区级疫情防控指挥平台 — district outbreak-response command system"),
    paths(me, ping),
    components(schemas(ErrorBody, MeDto)),
    modifiers(&Security)
)]
pub struct ShellDoc;

/// The whole API document: the shell's, merged with every feature's part.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = ShellDoc::openapi();
    for part in crate::features::FEATURES.iter().filter_map(|f| f.openapi) {
        doc.merge(part());
    }
    doc
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/areas/141102")), "/areas/141102");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
