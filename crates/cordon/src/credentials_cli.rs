//! Credentials at the command line (issue 10): `cordon token add|list|revoke` and
//! `cordon user disable|enable|reset-password|logout-all`. Every change goes through
//! `CredentialsStore::change_credentials` with its audit entry (actor `cli`).

use anyhow::{Context, Result, bail};
use cordon_domain::audit::AuditEntry;
use cordon_store::Store;
use cordon_store::credentials::{CredentialChange, CredentialOutcome, NewApiToken, TokenState};

fn cli_entry(action: &str, target: &str, detail: String) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        actor_id: None,
        actor: "cli".into(),
        role: None,
        action: action.into(),
        target_kind: "user".into(),
        target: target.into(),
        request_id: "cli".into(),
        detail,
    }
}

/// Issues a token for `username` living `days`; returns the token (shown once).
pub async fn add_token(store: &dyn Store, username: &str, name: &str, days: i64) -> Result<String> {
    let user = store.user_by_username(username).await?.context("no such user")?;
    if user.disabled_at.is_some() {
        bail!("账号已停用 / the account is disabled: enable it first");
    }
    let token = cordon_web::auth::new_token();
    let new = NewApiToken::new(cordon_web::auth::token_hash(&token), user.id, name, chrono::Utc::now(), days)
        .map_err(|e| anyhow::anyhow!("--{}: {} / {}", e.field, e.zh, e.en))?;
    let id = store.issue_api_token(&new).await?;
    store
        .append_audit(&[AuditEntry {
            target_kind: "api_token".into(),
            target: id.to_string(),
            ..cli_entry("token.issue", "", format!("user {} expires {}", user.id, new.expires_at.to_rfc3339()))
        }])
        .await?;
    Ok(token)
}

pub async fn list_tokens(store: &dyn Store, username: Option<&str>) -> Result<()> {
    let users = store.users().await?;
    let name_of = |id: i64| users.iter().find(|u| u.id == id).map_or("?", |u| u.username.as_str());
    let now = chrono::Utc::now();
    println!("id\tuser\tname\tstate\tcreated\texpires\tlast used");
    for t in store.api_tokens().await? {
        if username.is_some_and(|u| u != name_of(t.user_id)) {
            continue;
        }
        let state = match t.state(now) {
            TokenState::Active => "active",
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
        };
        let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map_or("-".to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            t.id,
            name_of(t.user_id),
            t.name,
            state,
            when(Some(t.created_at)),
            when(Some(t.expires_at)),
            when(t.last_used_at)
        );
    }
    Ok(())
}

/// Revokes one token at once (a lost scanner).
pub async fn revoke_token(store: &dyn Store, id: i64) -> Result<CredentialOutcome> {
    let token = store.api_tokens().await?.into_iter().find(|t| t.id == id).context("no token with this id")?;
    let audit = AuditEntry {
        target_kind: "api_token".into(),
        target: id.to_string(),
        ..cli_entry("token.revoke", "", format!("user {}", token.user_id))
    };
    Ok(store
        .change_credentials(token.user_id, &CredentialChange::RevokeToken { token_id: id }, chrono::Utc::now(), &audit)
        .await?)
}

/// Applies a change to `username`'s credentials; `action` is the audit code.
pub async fn change_user(
    store: &dyn Store,
    username: &str,
    change: CredentialChange,
    action: &str,
) -> Result<CredentialOutcome> {
    let user = store.user_by_username(username).await?.context("no such user")?;
    let audit = cli_entry(action, &user.id.to_string(), String::new());
    Ok(store.change_credentials(user.id, &change, chrono::Utc::now(), &audit).await?)
}

/// Checks and hashes a new password.
pub fn password_hash(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        bail!("密码至少8位 / the password needs at least 8 characters");
    }
    cordon_web::auth::hash_password(password).map_err(|e| anyhow::anyhow!("{:?}", e))
}

/// The demo's devices: a sampling scanner, a gate scanner and the lab's import client,
/// so that the commander's accounts page has devices to manage (issued once; their values
/// are not kept — a device is enrolled with `cordon token add`).
pub async fn demo_tokens(store: &dyn Store) -> Result<()> {
    if !store.api_tokens().await?.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    for (username, name, days) in [
        ("sampler", "采样枪 1号 scanner 1", 30),
        ("checkpoint_guard", "卡口扫码枪 gate scanner", 90),
        ("lab_tech", "检测结果导入 lab import", 180),
    ] {
        let Some(user) = store.user_by_username(username).await? else { continue };
        let token = cordon_web::auth::new_token();
        let new = NewApiToken::new(cordon_web::auth::token_hash(&token), user.id, name, now, days)
            .map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
        store.issue_api_token(&new).await?;
    }
    Ok(())
}
