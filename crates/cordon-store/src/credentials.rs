//! Credentials that can be taken back (issue 10): bearer tokens with a name, an expiry
//! and a last-used time; accounts that can be disabled; logging a user out everywhere.
//!
//! The rules are here, once: which token authenticates a request
//! ([`ApiToken::refusal`]), and what each change of a user's credentials does
//! ([`plan_credentials`]: a disabled user's sessions end and their tokens are revoked in
//! the same transaction, a new password ends every session). A backend fetches the token
//! with its user in one read ([`CredentialsStore::bearer_facts`]) and writes a plan in one
//! transaction with its audit entry ([`CredentialsStore::write_credentials`]).

use crate::{Result, User};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::Area;
use cordon_domain::audit::AuditEntry;
use serde::Serialize;

/// How long a token lives when whoever issues it does not say.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
/// The longest a token may live: a lost device's token must end some day.
pub const MAX_TOKEN_DAYS: i64 = 400;
/// A token's `last_used_at` is written at most this often (a write per device request
/// would cost the scan path; the page shows "last used" to this precision).
pub const TOUCH_EVERY: Duration = Duration::minutes(5);
/// The longest token name accepted.
pub const MAX_TOKEN_NAME: usize = 64;

/// A stored bearer token (never its value; the store holds only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    /// What the token is for ("scanner 3, gate 2").
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a token does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRefusal {
    Revoked,
    Expired,
    UserDisabled,
}

/// What a token's list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Revoked,
    Expired,
}

impl ApiToken {
    /// The one rule of bearer authentication: a token works until it is revoked, until
    /// it expires, and only while its user is enabled.
    pub fn refusal(&self, user: &User, now: DateTime<Utc>) -> Option<TokenRefusal> {
        if self.revoked_at.is_some() {
            Some(TokenRefusal::Revoked)
        } else if now >= self.expires_at {
            Some(TokenRefusal::Expired)
        } else if user.disabled_at.is_some() {
            Some(TokenRefusal::UserDisabled)
        } else {
            None
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if now >= self.expires_at {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    /// Whether a request at `now` should record itself as the token's last use.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY)
    }
}

/// A token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub token_hash: String,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewApiToken {
    /// A token living `days` from `now`: the name trimmed and bounded, the lifetime
    /// within 1..=[`MAX_TOKEN_DAYS`]. The error says which field and why, in both languages.
    pub fn new(
        token_hash: String,
        user_id: i64,
        name: &str,
        now: DateTime<Utc>,
        days: i64,
    ) -> Result<NewApiToken, cordon_domain::FieldError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME || name.chars().any(char::is_control) {
            return Err(cordon_domain::FieldError::new(
                "token_name_invalid",
                "name",
                format!("令牌名称须为1到{MAX_TOKEN_NAME}个字符"),
                format!("a token's name has 1 to {MAX_TOKEN_NAME} characters"),
            ));
        }
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            return Err(cordon_domain::FieldError::new(
                "token_days_invalid",
                "expires_days",
                format!("有效期须为1到{MAX_TOKEN_DAYS}天"),
                format!("a token lives 1 to {MAX_TOKEN_DAYS} days"),
            ));
        }
        Ok(NewApiToken {
            token_hash,
            user_id,
            name: name.to_string(),
            created_at: now,
            expires_at: now + Duration::days(days),
        })
    }
}

/// What a bearer request is made with: the token, its user and the areas labelling the
/// user's scope (as [`crate::label_areas`] names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerFacts {
    pub token: ApiToken,
    pub user: User,
    pub areas: Vec<Area>,
}

/// A change of one user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialChange {
    /// The account can no longer sign in; its sessions end, its tokens are revoked.
    Disable,
    /// The account can sign in again (its old tokens stay revoked).
    Enable,
    /// A new password; every session ends (the old password may be known to someone).
    ResetPassword { password_hash: String },
    /// Every session ends and every token is revoked; the account stays enabled.
    LogOutEverywhere,
    /// One token is revoked (a lost scanner).
    RevokeToken { token_id: i64 },
}

/// Which tokens a plan revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeTokens {
    None,
    All,
    One(i64),
}

/// The effects of a [`CredentialChange`], written in one transaction with the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialPlan {
    /// `Some(Some(t))`: disable at `t`; `Some(None)`: enable; `None`: unchanged.
    pub disabled_at: Option<Option<DateTime<Utc>>>,
    pub password_hash: Option<String>,
    pub end_sessions: bool,
    pub revoke: RevokeTokens,
    pub at: DateTime<Utc>,
}

pub fn plan_credentials(change: &CredentialChange, now: DateTime<Utc>) -> CredentialPlan {
    let none = CredentialPlan {
        disabled_at: None,
        password_hash: None,
        end_sessions: false,
        revoke: RevokeTokens::None,
        at: now,
    };
    match change {
        CredentialChange::Disable => {
            CredentialPlan { disabled_at: Some(Some(now)), end_sessions: true, revoke: RevokeTokens::All, ..none }
        }
        CredentialChange::Enable => CredentialPlan { disabled_at: Some(None), ..none },
        CredentialChange::ResetPassword { password_hash } => {
            CredentialPlan { password_hash: Some(password_hash.clone()), end_sessions: true, ..none }
        }
        CredentialChange::LogOutEverywhere => CredentialPlan { end_sessions: true, revoke: RevokeTokens::All, ..none },
        CredentialChange::RevokeToken { token_id } => CredentialPlan { revoke: RevokeTokens::One(*token_id), ..none },
    }
}

/// A change one may not make to one's own account: disabling it (nobody would be left
/// to enable it again from the page).
pub fn refuse_own(actor_id: i64, user_id: i64, change: &CredentialChange) -> Option<cordon_domain::FieldError> {
    (actor_id == user_id && *change == CredentialChange::Disable).then(|| {
        cordon_domain::FieldError::new("account_own", "do", "不能停用自己的账号", "you cannot disable your own account")
    })
}

/// What a written plan changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CredentialOutcome {
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
}

#[async_trait]
pub trait CredentialsStore: Send + Sync + 'static {
    /// Stores a token; returns its id.
    async fn issue_api_token(&self, token: &NewApiToken) -> Result<i64>;
    /// Every token (any state), ordered by id.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;
    /// The token with this hash, its user and the areas of the user's scope, in one read
    /// — whatever the token's state ([`CredentialsStore::bearer`] applies the rule).
    async fn bearer_facts(&self, token_hash: &str) -> Result<Option<BearerFacts>>;
    /// Records that a token was used at `at` (see [`TOUCH_EVERY`]).
    async fn touch_api_token(&self, token_id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Writes `plan` for `user_id` with `audit` in one transaction.
    /// `NotFound("user")` for no such user; `NotFound("api_token")` when the plan revokes
    /// one token that is not this user's. Revoking an already revoked token changes nothing.
    async fn write_credentials(
        &self,
        user_id: i64,
        plan: &CredentialPlan,
        audit: &AuditEntry,
    ) -> Result<CredentialOutcome>;

    /// The token's facts if it authenticates at `now`, with the reason when it does not.
    async fn bearer(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Result<BearerFacts, Option<TokenRefusal>>> {
        Ok(match self.bearer_facts(token_hash).await? {
            None => Err(None),
            Some(f) => match f.token.refusal(&f.user, now) {
                Some(r) => Err(Some(r)),
                None => Ok(f),
            },
        })
    }

    /// Plans `change` and writes it.
    async fn change_credentials(
        &self,
        user_id: i64,
        change: &CredentialChange,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<CredentialOutcome> {
        self.write_credentials(user_id, &plan_credentials(change, now), audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cordon_domain::area::AreaCode;
    use cordon_domain::role::{Role, UserScope};

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn user(disabled: bool) -> User {
        User {
            id: 1,
            username: "u".into(),
            display_name: "u".into(),
            role: Role::Sampler,
            scope: UserScope::Area(AreaCode::parse("141102").unwrap()),
            password_hash: String::new(),
            created_at: t(0),
            disabled_at: disabled.then(|| t(1)),
        }
    }

    fn token() -> ApiToken {
        ApiToken {
            id: 1,
            user_id: 1,
            name: "scanner".into(),
            created_at: t(0),
            expires_at: t(10),
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_token_works_until_revoked_expired_or_its_user_disabled() {
        assert_eq!(token().refusal(&user(false), t(9)), None);
        assert_eq!(token().refusal(&user(false), t(10)), Some(TokenRefusal::Expired));
        assert_eq!(token().refusal(&user(true), t(9)), Some(TokenRefusal::UserDisabled));
        let revoked = ApiToken { revoked_at: Some(t(2)), ..token() };
        assert_eq!(revoked.refusal(&user(false), t(3)), Some(TokenRefusal::Revoked));
        assert_eq!(revoked.state(t(3)), TokenState::Revoked);
        assert_eq!(token().state(t(11)), TokenState::Expired);
    }

    #[test]
    fn last_use_is_written_at_most_every_few_minutes() {
        assert!(token().needs_touch(t(1)));
        let used = ApiToken { last_used_at: Some(t(1)), ..token() };
        assert!(!used.needs_touch(t(1) + Duration::minutes(4)));
        assert!(used.needs_touch(t(1) + TOUCH_EVERY));
    }

    #[test]
    fn disabling_ends_sessions_and_revokes_tokens() {
        let p = plan_credentials(&CredentialChange::Disable, t(1));
        assert_eq!(p.disabled_at, Some(Some(t(1))));
        assert!(p.end_sessions);
        assert_eq!(p.revoke, RevokeTokens::All);
        let p = plan_credentials(&CredentialChange::Enable, t(1));
        assert_eq!((p.disabled_at, p.end_sessions, p.revoke), (Some(None), false, RevokeTokens::None));
        let p = plan_credentials(&CredentialChange::ResetPassword { password_hash: "h".into() }, t(1));
        assert!(p.end_sessions && p.password_hash.as_deref() == Some("h") && p.revoke == RevokeTokens::None);
        let p = plan_credentials(&CredentialChange::RevokeToken { token_id: 7 }, t(1));
        assert_eq!((p.end_sessions, p.revoke), (false, RevokeTokens::One(7)));
    }

    #[test]
    fn token_names_and_lifetimes_are_bounded() {
        assert!(NewApiToken::new("h".into(), 1, " gate 2 ", t(0), 90).is_ok_and(|n| n.name == "gate 2"));
        assert!(NewApiToken::new("h".into(), 1, "", t(0), 90).is_err());
        assert!(NewApiToken::new("h".into(), 1, &"x".repeat(65), t(0), 90).is_err());
        assert!(NewApiToken::new("h".into(), 1, "a\u{7}", t(0), 90).is_err());
        assert!(NewApiToken::new("h".into(), 1, "g", t(0), 0).is_err());
        assert!(NewApiToken::new("h".into(), 1, "g", t(0), MAX_TOKEN_DAYS + 1).is_err());
    }
}
