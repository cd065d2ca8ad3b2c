//! PostgreSQL backend of the Cordon [`Store`], for deployments where several app
//! instances share one database.
//!
//! Owns the connection pool, the migrations in `migrations/` (applied by
//! [`Store::migrate`] under an advisory lock, so two instances can never race), and the
//! SQL behind every [`Store`] method.
//!
//! Must never: put an ID number or a phone number into an error or a log line (the
//! DETAIL of a PostgreSQL error quotes the offending key, so it is always dropped), nor
//! keep a per-instance cache of anything another instance can change.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod audit_chain;
mod codes;
mod containment;
mod credentials;
mod error;
mod load;
mod migrate;
mod roster;
mod rows;
mod scanpath;
mod store;
mod testing;
mod throttle;
mod tracing;

use cordon_store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::fmt;
use std::time::Duration;
use tokio_postgres::NoTls;

/// Connections per app instance. Several instances share one server, whose default
/// `max_connections` is 100.
const POOL_SIZE: usize = 8;

/// The PostgreSQL store: a pool of connections, cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Checkpoint scans queue here and commit together (`scanpath::scan_log`).
    scan_log: scanpath::ScanLog,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pool's config holds the password; show only its size.
        f.debug_struct("PgStore").field("pool_size", &self.pool.status().max_size).finish()
    }
}

impl PgStore {
    /// A pool on `url` (`postgres://user:pass@host/db`). No connection is made until the
    /// first use, so an unreachable server shows up as the first call's error.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStore::build(url, None)
    }

    /// Like [`PgStore::connect`], with `search_path` set to `schema` on every pooled
    /// connection, so that tests can each use a fresh schema (see [`create_schema`]).
    pub fn connect_in_schema(url: &str, schema: &str) -> Result<PgStore, StoreError> {
        check_schema_name(schema)?;
        PgStore::build(url, Some(schema))
    }

    fn build(url: &str, schema: Option<&str>) -> Result<PgStore, StoreError> {
        let mut config = parse_url(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            // A schema's connections carry its name, so that dropping the schema can end
            // them (see [`drop_schema`]).
            config.application_name(schema.map_or_else(|| "cordon".to_string(), |s| format!("cordon:{s}")));
        }
        if let Some(schema) = schema {
            // A startup option rather than a SET after connecting: it holds for the life
            // of the connection and cannot be lost by a RESET ALL or a recycled session.
            let options = match config.get_options() {
                Some(o) if !o.trim().is_empty() => format!("{o} -c search_path={schema}"),
                _ => format!("-c search_path={schema}"),
            };
            config.options(options);
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(15)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        Ok(PgStore { scan_log: scanpath::scan_log(pool.clone()), pool })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(error::pool)
    }
}

/// Creates `schema` (for tests: one fresh schema per test).
pub async fn create_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    check_schema_name(schema)?;
    admin(url, &format!("CREATE SCHEMA \"{schema}\"")).await
}

/// Drops `schema` and everything in it. Connections still open on it are ended first: a
/// test that failed with a transaction open would otherwise hold its locks and the drop
/// would wait for ever.
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    check_schema_name(schema)?;
    admin(
        url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'cordon:{schema}' AND pid <> pg_backend_pid(); \
             DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        ),
    )
    .await
}

async fn admin(url: &str, sql: &str) -> Result<(), StoreError> {
    let mut config = parse_url(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let (client, connection) = config.connect(NoTls).await.map_err(error::pg)?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(error::pg);
    drop(client);
    let _ = driver.await;
    result
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    // The parser's message may quote the URL, password and all: say only what failed.
    url.parse::<tokio_postgres::Config>().map_err(|_| StoreError::Backend("invalid PostgreSQL URL".into()))
}

/// Schema names are spliced into SQL and startup options, so only plain identifiers
/// pass.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok { Ok(()) } else { Err(StoreError::Backend(format!("invalid schema name {schema:?}: use a-z, 0-9 and _"))) }
}

#[cfg(test)]
mod tests;
