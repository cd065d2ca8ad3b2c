//! The embedded SQLite backend of the Cordon store: one file, no server.
//!
//! Owns the SQLite schema (`migrations/*.sql`, embedded) and the translation of every
//! [`Store`] method into SQL. It must never decide policy (who may see what is decided
//! above the trait, from area roots it is handed) and never put ID numbers or phone
//! numbers into errors or logs.
//!
//! Concurrency model: SQLite allows one writer at a time, so there is exactly ONE writer
//! connection behind an async mutex; every trait method that writes is one `BEGIN
//! IMMEDIATE` transaction on it, so the change and its audit entry commit together. Reads
//! go to a small pool of read-only connections, which WAL lets run alongside the writer.
//! All SQLite calls run on tokio's blocking pool, never on a runtime worker.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod accounts;
mod audit;
mod backup;
mod codes;
mod containment;
mod credentials;
mod id_index;
mod migrate;
mod registry;
mod roster;
mod rows;
mod scanpath;
mod testing;
mod throttle;
mod tracing;
mod writer;

pub use testing::baseline_insert_rows_per_s;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::id_number::IdNumber;
use cordon_domain::registry::{BuildingLeader, Correction, Grid, NewResident, Resident};
use cordon_domain::synth::Batch;
use cordon_store::prelude::*;
use cordon_store::{
    AreaSummary, AuditFilter, NewUser, ResidentQuery, Result, RosterHousehold, Session, StoreError, UnitPath, User,
};
use rows::OrBackend;
use rusqlite::{Connection, OpenFlags, Transaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Read connections kept open. Two cores: more readers than this only queue on the CPU.
const READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Distinct statements the backend prepares (with room for the scope shapes of searches).
const STATEMENT_CACHE: usize = 128;

/// The SQLite implementation of [`Store`]. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: Arc<writer::Writer>,
    readers: Arc<ReadPool>,
    /// Checkpoint scans queue here and commit together (`scanpath::scan_log`).
    scan_log: scanpath::ScanLog,
    /// Resolves sample scans' people outside the writer (`testing::Resolver`).
    resolver: Arc<testing::Resolver>,
}

/// Read-only connections, opened lazily up to [`READERS`]; the semaphore bounds how many
/// are in use, the vector holds the idle ones.
struct ReadPool {
    path: PathBuf,
    permits: Arc<Semaphore>,
    idle: std::sync::Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn put(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
    }

    /// Drops idle connections so that the next reads open fresh ones, which load the
    /// planner statistics a bulk load just computed.
    fn refresh(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("could not switch the database to WAL (journal_mode={mode})")));
    }
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    conn.pragma_update(None, "foreign_keys", "ON").db()?;
    // 64 MiB of page cache keeps the index pages a bulk load touches in memory.
    conn.pragma_update(None, "cache_size", -65_536).db()?;
    conn.pragma_update(None, "temp_store", "MEMORY").db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "cache_size", -16_384).db()?;
    conn.pragma_update(None, "temp_store", "MEMORY").db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("database task failed: {e}"))
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate: call
    /// [`Store::migrate`] explicitly.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        // The writer is opened first: it switches the file to WAL, which the read-only
        // connections rely on.
        let writer = Arc::new(writer::Writer::start(open_writer(&path)?, &path)?);
        Ok(SqliteStore {
            scan_log: scanpath::scan_log(Arc::clone(&writer)),
            resolver: Arc::new(testing::Resolver::new(&path)),
            writer,
            readers: Arc::new(ReadPool {
                path,
                permits: Arc::new(Semaphore::new(READERS)),
                idle: std::sync::Mutex::new(Vec::with_capacity(READERS)),
            }),
        })
    }

    /// Writes a consistent snapshot of the database to `dest` while it stays in use
    /// (`VACUUM INTO`), and checks the copy's integrity. `dest` must not exist.
    pub async fn backup_to(&self, dest: &Path) -> Result<()> {
        let (source, dest) = (self.readers.path.clone(), dest.to_path_buf());
        tokio::task::spawn_blocking(move || backup::backup(&source, &dest)).await.map_err(join_error)?
    }

    /// Runs `f` on a read connection from the pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("read pool closed".into()))?;
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let out = f(&conn);
            pool.put(conn);
            out
        })
        .await
        .map_err(join_error)?
    }

    /// Runs `f` with the writer connection itself (for work that manages its own
    /// transactions, such as migrations).
    async fn with_writer<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` in one immediate transaction on the writer; commits when it returns `Ok`,
    /// rolls back otherwise.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.writer.transaction(f).await
    }
}

#[async_trait]
impl RegistryStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        self.with_writer(migrate::migrate).await
    }

    async fn load_batch(&self, batch: &Batch) -> Result<()> {
        let batch = batch.clone();
        self.write(move |tx| registry::load_batch(tx, &batch)).await
    }

    async fn finish_load(&self) -> Result<()> {
        self.with_writer(registry::finish_load).await?;
        self.readers.refresh();
        Ok(())
    }

    async fn area(&self, code: &AreaCode) -> Result<Option<Area>> {
        let code = code.clone();
        self.read(move |c| registry::area(c, &code)).await
    }

    async fn areas(&self, codes: &[AreaCode]) -> Result<Vec<Area>> {
        let codes = codes.to_vec();
        self.read(move |c| scanpath::areas(c, &codes)).await
    }

    async fn area_summary(&self, code: &AreaCode) -> Result<Option<AreaSummary>> {
        let code = code.clone();
        self.read(move |c| registry::area_summary(c, &code)).await
    }

    async fn children(&self, code: &AreaCode) -> Result<Vec<AreaSummary>> {
        let code = code.clone();
        self.read(move |c| registry::children(c, &code)).await
    }

    async fn units_under(&self, roots: &[AreaCode]) -> Result<Vec<UnitPath>> {
        let roots = roots.to_vec();
        self.read(move |c| registry::units_under(c, &roots)).await
    }

    async fn resident(&self, id: i64) -> Result<Option<Resident>> {
        self.read(move |c| registry::resident(c, id)).await
    }

    async fn search_residents(&self, roots: &[AreaCode], query: &ResidentQuery, limit: u32) -> Result<Vec<Resident>> {
        let roots = roots.to_vec();
        let query = query.clone();
        self.read(move |c| registry::search_residents(c, &roots, &query, limit)).await
    }

    async fn building_roster(&self, building: &AreaCode) -> Result<Vec<RosterHousehold>> {
        let building = building.clone();
        self.read(move |c| registry::building_roster(c, &building)).await
    }

    async fn residents_under(&self, roots: &[AreaCode]) -> Result<Vec<Resident>> {
        let roots = roots.to_vec();
        self.read(move |c| registry::residents_under(c, &roots)).await
    }

    async fn existing_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<IdNumber>> {
        let ids = ids.to_vec();
        self.read(move |c| registry::existing_id_numbers(c, &ids)).await
    }

    async fn register_residents(&self, new: &[NewResident], audit: &AuditEntry) -> Result<Vec<i64>> {
        let new = new.to_vec();
        let audit = audit.clone();
        self.write(move |tx| registry::register_residents(tx, &new, &audit)).await
    }

    async fn residents_by_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<Resident>> {
        let ids = ids.to_vec();
        self.read(move |c| roster::residents_by_id_numbers(c, &ids)).await
    }

    async fn apply_roster(&self, write: &cordon_store::roster::RosterWrite, audit: &[AuditEntry]) -> Result<Vec<i64>> {
        let write = write.clone();
        let audit = audit.to_vec();
        self.write(move |tx| roster::apply_roster(tx, &write, &audit)).await
    }

    async fn correct_resident(&self, id: i64, correction: &Correction, audit: &AuditEntry) -> Result<Resident> {
        let correction = correction.clone();
        let audit = audit.clone();
        self.write(move |tx| registry::correct_resident(tx, id, &correction, &audit)).await
    }

    async fn grid(&self, id: i64) -> Result<Option<Grid>> {
        self.read(move |c| registry::grid(c, id)).await
    }

    async fn grids_under(&self, root: &AreaCode) -> Result<Vec<Grid>> {
        let root = root.clone();
        self.read(move |c| registry::grids_under(c, &root)).await
    }

    async fn building_leader(&self, building: &AreaCode) -> Result<Option<BuildingLeader>> {
        let building = building.clone();
        self.read(move |c| registry::building_leader(c, &building)).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let user = user.clone();
        self.write(move |tx| accounts::create_user(tx, &user)).await
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        self.read(move |c| accounts::user(c, id)).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_string();
        self.read(move |c| accounts::user_by_username(c, &username)).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.read(accounts::users).await
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        let hash = password_hash.to_string();
        self.write(move |tx| accounts::set_password(tx, user_id, &hash)).await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let session = session.clone();
        self.write(move |tx| accounts::create_session(tx, &session)).await
    }

    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let token_hash = token_hash.to_string();
        self.read(move |c| accounts::session(c, &token_hash, now)).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_string();
        self.write(move |tx| accounts::delete_session(tx, &token_hash)).await
    }

    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: i64,
        label: &str,
        created_at: DateTime<Utc>,
    ) -> Result<()> {
        let token = cordon_store::credentials::NewApiToken {
            token_hash: token_hash.to_string(),
            user_id,
            name: label.to_string(),
            created_at,
            expires_at: created_at + chrono::Duration::days(cordon_store::credentials::DEFAULT_TOKEN_DAYS),
        };
        self.issue_api_token(&token).await.map(|_| ())
    }

    async fn login_throttle(
        &self,
        op: cordon_domain::security::ThrottleOp,
        keys: &[(cordon_domain::security::ThrottleKind, String)],
        now: DateTime<Utc>,
        rules: &cordon_domain::security::SecurityRules,
    ) -> Result<cordon_domain::security::LoginAttempt> {
        let (keys, rules) = (keys.to_vec(), rules.clone());
        self.write(move |tx| throttle::login_throttle(tx, op, &keys, now, &rules)).await
    }

    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        let (name, candidate) = (name.to_string(), candidate.to_vec());
        self.write(move |tx| throttle::instance_secret(tx, &name, &candidate)).await
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let entries = entries.to_vec();
        self.write(move |tx| {
            for e in &entries {
                audit::insert(tx, e)?;
            }
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let filter = filter.clone();
        self.read(move |c| audit::log(c, &filter)).await
    }
}

#[async_trait]
impl CredentialsStore for SqliteStore {
    async fn issue_api_token(&self, token: &cordon_store::credentials::NewApiToken) -> Result<i64> {
        let token = token.clone();
        self.write(move |tx| credentials::issue(tx, &token)).await
    }

    async fn api_tokens(&self) -> Result<Vec<cordon_store::credentials::ApiToken>> {
        self.read(credentials::list).await
    }

    async fn bearer_facts(&self, token_hash: &str) -> Result<Option<cordon_store::credentials::BearerFacts>> {
        let token_hash = token_hash.to_string();
        self.read(move |c| credentials::bearer_facts(c, &token_hash)).await
    }

    async fn touch_api_token(&self, token_id: i64, at: DateTime<Utc>) -> Result<()> {
        self.write(move |tx| credentials::touch(tx, token_id, at)).await
    }

    async fn write_credentials(
        &self,
        user_id: i64,
        plan: &cordon_store::credentials::CredentialPlan,
        audit: &AuditEntry,
    ) -> Result<cordon_store::credentials::CredentialOutcome> {
        let (plan, audit) = (plan.clone(), audit.clone());
        self.write(move |tx| credentials::write(tx, user_id, &plan, &audit)).await
    }
}

#[async_trait]
impl AuditChainStore for SqliteStore {
    async fn audit_chain_head(&self) -> Result<cordon_store::audit_chain::ChainHead> {
        self.read(audit::chain_head).await
    }

    async fn audit_chain_page(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> Result<Vec<cordon_store::audit_chain::ChainRow>> {
        self.read(move |c| audit::chain_page(c, after, up_to, limit)).await
    }

    async fn audit_unchained(&self) -> Result<u64> {
        self.read(audit::unchained).await
    }
}

#[cfg(test)]
mod tests;
