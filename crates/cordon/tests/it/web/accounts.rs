//! Credentials that can be taken back, over HTTP (issue 10): a revoked or expired token
//! is refused at its next request, a disabled user's sessions end and they cannot sign
//! in, and the commander's accounts page does it in one action, audited.

use super::app::{TestApp, spawn_app};
use cordon_domain::role::Role;
use cordon_store::AuditFilter;
use cordon_store::credentials::NewApiToken;
use reqwest::StatusCode;

fn jar() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn form_csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// Signs `role`'s demo account in on a fresh cookie jar; the status of the login.
async fn login(app: &TestApp, role: Role) -> (reqwest::Client, StatusCode) {
    let jar = jar();
    let html = jar.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let password = cordon::demo::demo_password(role);
    let resp = jar
        .post(format!("{}/login", app.url))
        .form(&[("username", role.code()), ("password", &password), ("_csrf", &form_csrf(&html)), ("next", "/")])
        .send()
        .await
        .unwrap();
    (jar, resp.status())
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.client.get(format!("{}/api/v1/me", app.url)).bearer_auth(token).send().await.unwrap().status()
}

async fn token_id(app: &TestApp, username: &str) -> i64 {
    let user = app.store.user_by_username(username).await.unwrap().unwrap();
    // The test's token is the user's newest (the demo issues its devices' tokens first).
    app.store.api_tokens().await.unwrap().into_iter().filter(|t| t.user_id == user.id).map(|t| t.id).max().unwrap()
}

#[tokio::test]
async fn a_lost_scanner_is_cut_off_in_one_action() {
    let app = spawn_app().await;
    let sampler = app.tokens[&Role::Sampler].clone();
    assert_eq!(me(&app, &sampler).await, StatusCode::OK);
    let id = token_id(&app, "sampler").await;
    // Its last use is recorded.
    let t = app.store.api_tokens().await.unwrap().into_iter().find(|t| t.id == id).unwrap();
    assert!(t.last_used_at.is_some());

    // The commander's page lists it; one click revokes it.
    let page = app.get(Role::Commander, "/accounts").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("data-token-id=\"{id}\"")), "the sampler's token is listed");
    assert!(!html.contains(&sampler), "never the token itself");
    let r = app
        .post(Role::Commander, &format!("/accounts/tokens/{id}/revoke"))
        .form(&[("_csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&app, &sampler).await, StatusCode::UNAUTHORIZED, "refused at the very next request");
    let audit = app
        .store
        .audit_log(&AuditFilter { action: Some("token.revoke".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].entry.actor.as_str(), audit[0].entry.target.as_str()), ("commander", id.to_string().as_str()));
    let html = app.get(Role::Commander, "/accounts").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("已吊销"), "shown as revoked");

    // Only the commander has the page and its actions.
    for role in [Role::StreetOfficer, Role::Volunteer, Role::CheckpointGuard] {
        assert_eq!(app.get(role, "/accounts").send().await.unwrap().status(), StatusCode::FORBIDDEN, "{role:?}");
    }
    let other = token_id(&app, "lab_tech").await;
    let r = app
        .post(Role::StreetOfficer, &format!("/accounts/tokens/{other}/revoke"))
        .form(&[("_csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(me(&app, &app.tokens[&Role::LabTech]).await, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let user = app.store.user_by_username("lab_tech").await.unwrap().unwrap();
    let now = chrono::Utc::now();
    let (live, dead) = (cordon_web::auth::new_token(), cordon_web::auth::new_token());
    for (t, expires) in [(&live, now + chrono::Duration::hours(1)), (&dead, now - chrono::Duration::seconds(1))] {
        let new = NewApiToken {
            token_hash: cordon_web::auth::token_hash(t),
            user_id: user.id,
            name: "lab import".into(),
            created_at: now - chrono::Duration::days(1),
            expires_at: expires,
        };
        app.store.issue_api_token(&new).await.unwrap();
    }
    assert_eq!(me(&app, &live).await, StatusCode::OK);
    assert_eq!(me(&app, &dead).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_everywhere_and_cannot_sign_in() {
    let app = spawn_app().await;
    let (volunteer, status) = login(&app, Role::Volunteer).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (second_device, _) = login(&app, Role::Volunteer).await;
    assert_eq!(volunteer.get(format!("{}/api/v1/me", app.url)).send().await.unwrap().status(), StatusCode::OK);
    let id = app.store.user_by_username("volunteer").await.unwrap().unwrap().id;

    let r = app
        .post(Role::Commander, &format!("/accounts/users/{id}"))
        .form(&[("_csrf", ""), ("do", "disable")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for s in [&volunteer, &second_device] {
        assert_eq!(s.get(format!("{}/api/v1/me", app.url)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(me(&app, &app.tokens[&Role::Volunteer]).await, StatusCode::UNAUTHORIZED, "and their device token");
    assert_eq!(login(&app, Role::Volunteer).await.1, StatusCode::UNAUTHORIZED, "no sign-in while disabled");
    let html = app.get(Role::Commander, "/accounts").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("已停用"));

    // Enabled again, the password works; the old device token stays revoked.
    let r = app
        .post(Role::Commander, &format!("/accounts/users/{id}"))
        .form(&[("_csrf", ""), ("do", "enable")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(login(&app, Role::Volunteer).await.1, StatusCode::SEE_OTHER);
    assert_eq!(me(&app, &app.tokens[&Role::Volunteer]).await, StatusCode::UNAUTHORIZED);

    // Log out everywhere ends every session but leaves the account usable.
    let (s, _) = login(&app, Role::Tracer).await;
    let tracer = app.store.user_by_username("tracer").await.unwrap().unwrap().id;
    let r = app
        .post(Role::Commander, &format!("/accounts/users/{tracer}"))
        .form(&[("_csrf", ""), ("do", "logout_all")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.get(format!("{}/api/v1/me", app.url)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, Role::Tracer).await.1, StatusCode::SEE_OTHER);

    // The commander cannot lock themself out; a bad action is refused naming the field.
    let own = app.store.user_by_username("commander").await.unwrap().unwrap().id;
    let r = app
        .post(Role::Commander, &format!("/accounts/users/{own}"))
        .form(&[("_csrf", ""), ("do", "disable")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(Role::Commander, &format!("/accounts/users/{tracer}"))
        .form(&[("_csrf", ""), ("do", "explode")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for action in ["user.disable", "user.enable", "user.logout_all"] {
        let n = app
            .store
            .audit_log(&AuditFilter { action: Some(action.into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(n.len(), 1, "{action} audited once");
    }
}
