//! Authentication: argon2id passwords, browser sessions (HttpOnly, SameSite cookies with a
//! CSRF token per session), bearer tokens for devices, login throttling, and [`Ctx`], the
//! per-request view of who is asking.
//!
//! Tokens are random 256-bit values; the store only ever sees their SHA-256, so a copy of
//! the database does not log anyone in.

use crate::error::AppError;
use crate::routes::{Need, RouteInfo};
use crate::{AppState, RequestMeta};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::authz::{Action, Principal, authorize};
use cordon_store::{Store, User, principal_for, principal_with_areas};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "cordon_session";
pub const LANG_COOKIE: &str = "lang";
pub const LOGIN_CSRF_COOKIE: &str = "cordon_login_csrf";
pub const SESSION_HOURS: i64 = 12;

/// Hashes a password with argon2id (the crate's default algorithm and parameters).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| internal("salt"))?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| internal("hash"))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

fn internal(what: &str) -> AppError {
    AppError::Internal(crate::error::Internal::Crypto, what.to_string())
}

/// A fresh random token, URL-safe.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn token_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison for CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/ (Secure when configured).
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool, http_only: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age_s}; SameSite=Lax{}{}",
        if http_only { "; HttpOnly" } else { "" },
        if secure { "; Secure" } else { "" }
    )
}

/// Who is asking, resolved once per request by the route's guard ([`crate::routes`]),
/// with the route's declaration: what it needs is what [`Ctx::authorize`] checks.
#[derive(Clone)]
pub struct Ctx {
    pub user: User,
    pub principal: Principal,
    /// The session's CSRF token (browser sessions only).
    pub csrf: Option<String>,
    pub meta: RequestMeta,
    pub store: Arc<dyn Store>,
    pub now: DateTime<Utc>,
    /// The district's time zone (a setting of the deployment).
    pub tz: cordon_domain::clock::DistrictTz,
    /// The declaration of the route being served.
    pub route: RouteInfo,
}

impl Ctx {
    pub fn entry(&self, action: &str, target_kind: &str, target: &str, detail: impl Into<String>) -> AuditEntry {
        AuditEntry {
            at: self.now,
            actor_id: Some(self.user.id),
            actor: self.user.username.clone(),
            role: Some(self.user.role),
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target: target.to_string(),
            request_id: self.meta.request_id.clone(),
            detail: detail.into(),
        }
    }

    pub async fn audit(
        &self,
        action: &str,
        target_kind: &str,
        target: &str,
        detail: impl Into<String>,
    ) -> Result<(), AppError> {
        let e = self.entry(action, target_kind, target, detail);
        self.store.append_audit(&[e]).await?;
        Ok(())
    }

    /// The one authorization call of every route: the route's declared action on
    /// `target` (role table, then subtree). A refusal is audited and logged.
    pub async fn authorize(&self, target: Option<&AreaCode>) -> Result<(), AppError> {
        let action = self.route.need.action_for(self.principal.role).ok_or_else(|| undeclared(&self.route, None))?;
        self.check(action, target).await
    }

    /// A second action the route checks for some inputs; it must be declared with
    /// [`crate::routes::Route::also`], so the registry names every action a route checks.
    pub async fn authorize_also(&self, action: Action, target: Option<&AreaCode>) -> Result<(), AppError> {
        if !self.route.also.contains(&action) {
            return Err(undeclared(&self.route, Some(action)));
        }
        self.check(action, target).await
    }

    /// A refusal of something outside the caller's subtree that no single area names (a
    /// household picked from a list): `forbidden_scope` under the declared action, audited.
    pub async fn refuse_scope(&self, what: &str) -> AppError {
        let code = self.route.need.action_for(self.principal.role).map_or("", Action::code);
        let denied = cordon_domain::Denied::scope(code);
        match self.audit("access.denied", "route", &self.meta.route, format!("{code} {what} {}", denied.code)).await {
            Ok(()) => AppError::Denied(denied),
            Err(e) => e,
        }
    }

    async fn check(&self, action: Action, target: Option<&AreaCode>) -> Result<(), AppError> {
        match authorize(&self.principal, action, target) {
            Ok(()) => Ok(()),
            Err(denied) => {
                let target_s = target.map(|c| c.as_str().to_string()).unwrap_or_default();
                tracing::warn!(user = %self.user.username, action = action.code(), target = %target_s, code = denied.code, "access denied");
                self.audit(
                    "access.denied",
                    "route",
                    &self.meta.route,
                    format!("{} {} {}", action.code(), target_s, denied.code),
                )
                .await?;
                Err(AppError::Denied(denied))
            }
        }
    }

    /// The role part of the route's declared need, checked by the guard before the
    /// handler runs (a refusal is audited like any other).
    pub(crate) async fn admit(&self) -> Result<(), AppError> {
        match self.route.need {
            Need::Public | Need::SignedIn => Ok(()),
            need if need.admits(self.principal.role) => Ok(()),
            need => match need.action_for(self.principal.role) {
                Some(action) => self.check(action, None).await,
                None => Err(undeclared(&self.route, None)),
            },
        }
    }

    /// Checks the CSRF token a form or an `X-CSRF-Token` header carried.
    pub fn check_csrf(&self, given: &str) -> Result<(), AppError> {
        match &self.csrf {
            Some(expected) if same_token(expected, given) => Ok(()),
            None => Ok(()), // bearer-token callers are not browsers
            _ => Err(AppError::Csrf),
        }
    }

    /// Who is asking: a bearer token (devices, scripts) or a browser session.
    /// `writes`: the request is not a GET.
    pub(crate) async fn resolve(
        state: &AppState,
        headers: &HeaderMap,
        writes: bool,
        meta: RequestMeta,
        route: RouteInfo,
    ) -> Result<Ctx, AppError> {
        let now = Utc::now();
        let store = state.store.clone();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let (user, csrf, principal) = if let Some(token) = bearer {
            // The token, its user and their scope's names in one read (every device
            // request); refused at once when revoked, expired or its user disabled.
            let facts = match store.bearer(&token_hash(token), now).await? {
                Ok(facts) => facts,
                Err(refusal) => {
                    if let Some(reason) = refusal {
                        tracing::info!(?reason, "bearer token refused");
                    }
                    return Err(AppError::Unauthenticated);
                }
            };
            if facts.token.needs_touch(now)
                && let Err(e) = store.touch_api_token(facts.token.id, now).await
            {
                tracing::warn!(error = %e, token = facts.token.id, "could not record a token's last use");
            }
            let principal = principal_with_areas(store.as_ref(), &facts.user, facts.areas).await?;
            (facts.user, None, principal)
        } else {
            let token = cookie(headers, SESSION_COOKIE).ok_or(AppError::Unauthenticated)?;
            let session = store.session(&token_hash(token), now).await?.ok_or(AppError::Unauthenticated)?;
            let user = store.user(session.user_id).await?.ok_or(AppError::Unauthenticated)?;
            if user.disabled_at.is_some() {
                return Err(AppError::Unauthenticated);
            }
            let principal = principal_for(store.as_ref(), &user).await?;
            (user, Some(session.csrf_token), principal)
        };
        let tz = state.settings.tz.clone();
        let ctx = Ctx { user, principal, csrf, meta, store, now, tz, route };
        // State-changing API calls made with a browser session need the CSRF header.
        if writes && ctx.meta.route.starts_with("/api/") && ctx.csrf.is_some() {
            let given = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            ctx.check_csrf(given)?;
        }
        Ok(ctx)
    }
}

/// A handler that asks for a check its route did not declare: a programming error, shown
/// as an internal error and logged, never as an authorization.
fn undeclared(route: &RouteInfo, action: Option<Action>) -> AppError {
    let what = action.map_or("an action", Action::code);
    AppError::Internal(
        crate::error::Internal::Route,
        format!("{} checks {what}, which its route does not declare", route.path),
    )
}

/// The handler's view of the [`Ctx`] its route's guard resolved. A handler of a public
/// route has none: asking for one is a programming error of the declaration.
impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<Ctx>().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a public route's handler asks who is signed in");
            internal("route declaration")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("s3cret-pw").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret-pw", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn cookies_and_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; cordon_session=abc; lang=en".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_ne!(new_token(), new_token());
        assert_eq!(token_hash("x").len(), 64);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd"));
    }
}
