//! A real Cordon server for tests: a fresh database with a small generated district and
//! the demo's data (today's round, a gate, venues, a signing key), the demo's thirteen
//! accounts, a bearer token per role, served on port 0, shut down on drop.
//!
//! The backend is `CORDON_TEST_BACKEND`'s: `sqlite` (the default; a file in a temporary
//! directory) or `postgres` (a fresh schema at `CORDON_TEST_PG`, default
//! `postgres://postgres@127.0.0.1/test`, dropped afterwards). Asked for PostgreSQL, an
//! unreachable server fails the test rather than skipping it.

use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::role::Role;
use cordon_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// Roles bound to the whole district: "out of scope" does not exist for them.
pub const DISTRICT_ROLES: &[Role] =
    &[Role::Commander, Role::LabTech, Role::Tracer, Role::TransferDispatcher, Role::SiteManager, Role::SupplyOfficer];

pub struct TestApp {
    pub url: String,
    pub store: Arc<dyn Store>,
    pub tokens: HashMap<Role, String>,
    /// The demo's building (inside every demo account's scope).
    pub building: AreaCode,
    /// A building in the second street: outside every scope but the district's.
    pub other_building: AreaCode,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: Database,
}

/// What holds the test's database until the app is dropped.
enum Database {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] crate::conformance_pg::SchemaGuard),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend `CORDON_TEST_BACKEND` names (`sqlite` when unset).
pub fn backend() -> Backend {
    match std::env::var("CORDON_TEST_BACKEND").unwrap_or_default().trim() {
        "" | "sqlite" => Backend::Sqlite,
        "postgres" | "postgresql" | "pg" => Backend::Postgres,
        other => panic!("CORDON_TEST_BACKEND={other}: use sqlite or postgres"),
    }
}

/// A fresh, empty store on the chosen backend.
async fn fresh_store() -> (Arc<dyn Store>, Database, String) {
    match backend() {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("test.db");
            let url = path.to_str().unwrap().to_string();
            let store = cordon::cli::open_store(&url).await.unwrap();
            (store, Database::Sqlite(dir), url)
        }
        Backend::Postgres => {
            let (store, guard) = crate::conformance_pg::make_or_skip()
                .await
                .expect("CORDON_TEST_BACKEND=postgres, but PostgreSQL (CORDON_TEST_PG) is unreachable");
            let label = format!("postgres schema {}", guard.schema());
            (store, Database::Postgres(guard), label)
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn first_child(store: &dyn Store, code: &AreaCode) -> AreaCode {
    store.children(code).await.unwrap().into_iter().next().expect("a child area").area.code
}

pub async fn first_building_under(store: &dyn Store, root: &AreaCode) -> AreaCode {
    let mut c = root.clone();
    while c.level() != AreaLevel::Building {
        c = first_child(store, &c).await;
    }
    c
}

pub async fn spawn_app() -> TestApp {
    let (store, db, label) = fresh_store().await;
    cordon::demo::prepare_store(store.as_ref(), &label, 900, 5).await.unwrap();
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let user = store.user_by_username(role.code()).await.unwrap().unwrap();
        let token = cordon_web::auth::new_token();
        store
            .create_api_token(&cordon_web::auth::token_hash(&token), user.id, "test", chrono::Utc::now())
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    let district = AreaCode::parse("141102").unwrap();
    let building = first_building_under(store.as_ref(), &district).await;
    let streets = store.children(&district).await.unwrap();
    let other_building = first_building_under(store.as_ref(), &streets[1].area.code).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = cordon_web::AppState::new(store.clone(), cordon_web::WebSettings::default());
    tokio::spawn(cordon_web::serve(listener, state, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { url, store, tokens, building, other_building, client, shutdown: Some(tx), _db: db }
}

impl TestApp {
    pub fn get(&self, role: Role, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.tokens[&role])
    }
    pub fn post(&self, role: Role, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.url)).bearer_auth(&self.tokens[&role])
    }
    /// GET `path` as `role` and parse the JSON body.
    pub async fn get_json(&self, role: Role, path: &str) -> serde_json::Value {
        self.get(role, path).send().await.unwrap().json().await.unwrap()
    }
    /// Some active resident of `building`.
    pub async fn resident_in(&self, building: &AreaCode) -> cordon_domain::registry::Resident {
        let roster = self.store.building_roster(building).await.unwrap();
        roster.into_iter().flat_map(|h| h.members).next().expect("a resident")
    }
}
