//! Conformance of credentials that can be revoked (issue 10): tokens with a name, an
//! expiry and a last use; disabling a user, resetting a password and logging out
//! everywhere, each one transaction with its audit entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::conformance::{audit_entry, code, t};
use crate::credentials::{CredentialChange, CredentialOutcome, NewApiToken, TokenRefusal};
use crate::{AuditFilter, NewUser, Session, Store, StoreError, User};
use chrono::Duration;
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth::DISTRICT_CODE;

#[macro_export]
macro_rules! credentials_conformance_tests {
    ($make:path) => {
        $crate::credentials_conformance_tests!(@cases $make;
            credentials_tokens_named_expiring_and_touched,
            credentials_revoked_and_expired_tokens_are_refused,
            credentials_disable_ends_sessions_and_tokens,
            credentials_password_reset_and_logout_everywhere,
            credentials_refused_change_writes_nothing,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance_credentials::$case(&*store).await;
            }
        )*
    };
}

async fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user(&NewUser {
            username: name.into(),
            display_name: name.into(),
            role: Role::Sampler,
            scope: UserScope::Area(code(DISTRICT_CODE)),
            password_hash: "$argon2id$old".into(),
            created_at: t(0),
        })
        .await
        .unwrap()
}

fn token(hash: &str, user: &User, hours: i64) -> NewApiToken {
    NewApiToken {
        token_hash: hash.into(),
        user_id: user.id,
        name: format!("scanner {hash}"),
        created_at: t(0),
        expires_at: t(0) + Duration::hours(hours),
    }
}

async fn session(store: &dyn Store, hash: &str, user: &User) {
    store
        .create_session(&Session {
            token_hash: hash.into(),
            user_id: user.id,
            csrf_token: "c".into(),
            created_at: t(0),
            expires_at: t(0) + Duration::hours(12),
        })
        .await
        .unwrap();
}

async fn audit_count(store: &dyn Store) -> usize {
    store.audit_log(&AuditFilter { limit: 10_000, ..Default::default() }).await.unwrap().len()
}

pub async fn credentials_tokens_named_expiring_and_touched(store: &dyn Store) {
    let a = user(store, "dev-a").await;
    let id1 = store.issue_api_token(&token("h1", &a, 24)).await.unwrap();
    let id2 = store.issue_api_token(&token("h2", &a, 48)).await.unwrap();
    assert!(id2 > id1);
    let list = store.api_tokens().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, id1);
    assert_eq!((list[0].name.as_str(), list[0].user_id), ("scanner h1", a.id));
    assert_eq!((list[0].created_at, list[0].expires_at), (t(0), t(0) + Duration::hours(24)));
    assert_eq!((list[0].last_used_at, list[0].revoked_at), (None, None));

    let f = store.bearer("h1", t(60)).await.unwrap().unwrap();
    assert_eq!((f.token.id, f.user.id), (id1, a.id));
    assert!(f.token.needs_touch(t(60)));
    store.touch_api_token(id1, t(60)).await.unwrap();
    let f = store.bearer_facts("h1").await.unwrap().unwrap();
    assert_eq!(f.token.last_used_at, Some(t(60)));
    assert!(!f.token.needs_touch(t(120)));
    // The legacy entry point makes a token of the default lifetime.
    store.create_api_token("h3", a.id, "old style", t(0)).await.unwrap();
    let f = store.bearer_facts("h3").await.unwrap().unwrap();
    assert_eq!(f.token.expires_at, t(0) + Duration::days(crate::credentials::DEFAULT_TOKEN_DAYS));
}

pub async fn credentials_revoked_and_expired_tokens_are_refused(store: &dyn Store) {
    let a = user(store, "dev-a").await;
    let lost = store.issue_api_token(&token("lost", &a, 24)).await.unwrap();
    store.issue_api_token(&token("kept", &a, 24)).await.unwrap();
    store.issue_api_token(&token("short", &a, 1)).await.unwrap();
    assert!(store.bearer("lost", t(10)).await.unwrap().is_ok());
    let out = store
        .change_credentials(
            a.id,
            &CredentialChange::RevokeToken { token_id: lost },
            t(20),
            &audit_entry(1, "cli", "token.revoke", "api_token", "1"),
        )
        .await
        .unwrap();
    assert_eq!(out, CredentialOutcome { sessions_ended: 0, tokens_revoked: 1 });
    assert_eq!(store.bearer("lost", t(21)).await.unwrap().unwrap_err(), Some(TokenRefusal::Revoked));
    assert!(store.bearer("kept", t(21)).await.unwrap().is_ok(), "the user's other tokens still work");
    // Revoking again changes nothing and still audits the attempt.
    let again = store
        .change_credentials(
            a.id,
            &CredentialChange::RevokeToken { token_id: lost },
            t(30),
            &audit_entry(2, "cli", "token.revoke", "api_token", "1"),
        )
        .await
        .unwrap();
    assert_eq!(again.tokens_revoked, 0);
    let listed = store.api_tokens().await.unwrap();
    assert_eq!(listed.iter().find(|t| t.id == lost).unwrap().revoked_at, Some(t(20)), "first revocation kept");
    // Expiry: the hour after creation is the end.
    assert!(store.bearer("short", t(3_599)).await.unwrap().is_ok());
    assert_eq!(store.bearer("short", t(3_600)).await.unwrap().unwrap_err(), Some(TokenRefusal::Expired));
    assert_eq!(store.bearer("never issued", t(0)).await.unwrap().unwrap_err(), None);
}

pub async fn credentials_disable_ends_sessions_and_tokens(store: &dyn Store) {
    let a = user(store, "worker").await;
    let b = user(store, "other").await;
    session(store, "s-a1", &a).await;
    session(store, "s-a2", &a).await;
    session(store, "s-b", &b).await;
    store.issue_api_token(&token("t-a", &a, 24)).await.unwrap();
    store.issue_api_token(&token("t-b", &b, 24)).await.unwrap();
    let before = audit_count(store).await;
    let out = store
        .change_credentials(
            a.id,
            &CredentialChange::Disable,
            t(5),
            &audit_entry(3, "boss", "user.disable", "user", "a"),
        )
        .await
        .unwrap();
    assert_eq!(out, CredentialOutcome { sessions_ended: 2, tokens_revoked: 1 });
    assert_eq!(audit_count(store).await, before + 1);
    assert_eq!(store.user(a.id).await.unwrap().unwrap().disabled_at, Some(t(5)));
    assert!(store.session("s-a1", t(6)).await.unwrap().is_none());
    assert!(store.session("s-a2", t(6)).await.unwrap().is_none());
    assert!(store.session("s-b", t(6)).await.unwrap().is_some(), "someone else's session stays");
    assert_eq!(store.bearer("t-a", t(6)).await.unwrap().unwrap_err(), Some(TokenRefusal::Revoked));
    assert!(store.bearer("t-b", t(6)).await.unwrap().is_ok());
    // A token issued while disabled (by a caller that did not check) does not work either.
    store.issue_api_token(&token("t-a2", &a, 24)).await.unwrap();
    assert_eq!(store.bearer("t-a2", t(6)).await.unwrap().unwrap_err(), Some(TokenRefusal::UserDisabled));

    store
        .change_credentials(a.id, &CredentialChange::Enable, t(7), &audit_entry(4, "boss", "user.enable", "user", "a"))
        .await
        .unwrap();
    assert_eq!(store.user(a.id).await.unwrap().unwrap().disabled_at, None);
    assert_eq!(store.user_by_username("worker").await.unwrap().unwrap().disabled_at, None);
    assert_eq!(store.bearer("t-a", t(8)).await.unwrap().unwrap_err(), Some(TokenRefusal::Revoked), "stays revoked");
    assert!(store.bearer("t-a2", t(8)).await.unwrap().is_ok());
}

pub async fn credentials_password_reset_and_logout_everywhere(store: &dyn Store) {
    let a = user(store, "worker").await;
    session(store, "s1", &a).await;
    store.issue_api_token(&token("t1", &a, 24)).await.unwrap();
    let out = store
        .change_credentials(
            a.id,
            &CredentialChange::ResetPassword { password_hash: "$argon2id$new".into() },
            t(5),
            &audit_entry(5, "boss", "user.password_reset", "user", "a"),
        )
        .await
        .unwrap();
    assert_eq!(out, CredentialOutcome { sessions_ended: 1, tokens_revoked: 0 });
    assert_eq!(store.user(a.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert!(store.session("s1", t(6)).await.unwrap().is_none());
    assert!(store.bearer("t1", t(6)).await.unwrap().is_ok(), "a new password leaves devices signed in");

    session(store, "s2", &a).await;
    let out = store
        .change_credentials(
            a.id,
            &CredentialChange::LogOutEverywhere,
            t(7),
            &audit_entry(6, "boss", "user.logout_all", "user", "a"),
        )
        .await
        .unwrap();
    assert_eq!(out, CredentialOutcome { sessions_ended: 1, tokens_revoked: 1 });
    assert!(store.session("s2", t(8)).await.unwrap().is_none());
    assert_eq!(store.bearer("t1", t(8)).await.unwrap().unwrap_err(), Some(TokenRefusal::Revoked));
    assert_eq!(store.user(a.id).await.unwrap().unwrap().disabled_at, None, "still enabled");
}

pub async fn credentials_refused_change_writes_nothing(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let bs = store.issue_api_token(&token("tb", &b, 24)).await.unwrap();
    let before = audit_count(store).await;
    let e = store
        .change_credentials(
            a.id,
            &CredentialChange::RevokeToken { token_id: bs },
            t(1),
            &audit_entry(7, "x", "token.revoke", "api_token", "b"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound("api_token")), "{e:?}");
    let e = store
        .change_credentials(-5, &CredentialChange::Disable, t(1), &audit_entry(8, "x", "user.disable", "user", "-5"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound("user")), "{e:?}");
    assert_eq!(audit_count(store).await, before);
    assert!(store.bearer("tb", t(2)).await.unwrap().is_ok());
}
