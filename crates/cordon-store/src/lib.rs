//! The storage trait of Cordon, in domain terms, and the conformance suite that every
//! backend must pass.
//!
//! Architecture Invariant: nothing above this trait knows which database it talks to.
//! Backends (`cordon-sqlite`, `cordon-postgres`) implement [`Store`]; only the `cordon`
//! binary picks one. Every method that changes data does so in one transaction, and a
//! change that must be audited takes its [`AuditEntry`] so that the change and its
//! audit record commit together or not at all.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit_chain;
pub mod codes;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod conformance_codes;
#[cfg(feature = "conformance")]
pub mod conformance_colour;
#[cfg(feature = "conformance")]
pub mod conformance_containment;
#[cfg(feature = "conformance")]
pub mod conformance_credentials;
#[cfg(feature = "conformance")]
pub mod conformance_scanpath;
#[cfg(feature = "conformance")]
pub mod conformance_testing;
#[cfg(feature = "conformance")]
pub mod conformance_tracing;
pub mod containment;
pub mod credentials;
#[cfg(feature = "conformance")]
pub mod differential;
pub mod group_commit;
mod principal;
pub mod roster;
pub mod testing;
pub mod tracing;

pub use audit_chain::AuditChainStore;
pub use codes::CodesStore;
pub use containment::ContainmentStore;
pub use credentials::CredentialsStore;
pub use principal::{label_areas, principal_for, principal_with_areas};
pub use testing::TestingStore;
pub use tracing::TracingStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::id_number::IdNumber;
use cordon_domain::registry::{BuildingLeader, Correction, Grid, NewResident, Resident};
use cordon_domain::role::{Role, UserScope};
use cordon_domain::security::{LoginAttempt, SecurityRules, ThrottleKind, ThrottleOp};
use cordon_domain::synth::Batch;
use serde::Serialize;

/// Errors of the storage layer, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A uniqueness rule: `code` is stable (`username_taken`, `id_number_exists`, …).
    #[error("conflict ({code}): {message}")]
    Conflict { code: &'static str, message: String },
    /// The database failed or is unreachable. The message may be logged, never shown
    /// with personal data in it.
    #[error("database error: {0}")]
    Backend(String),
}

/// The half-open range of the action codes under `family.` (`family.` ..= `family/`,
/// `/` being the character after `.`), for [`AuditFilter::action_family`].
pub fn action_family_range(family: &str) -> (String, String) {
    (format!("{family}."), format!("{family}/"))
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "not_found",
            StoreError::Conflict { code, .. } => code,
            StoreError::Backend(_) => "database_error",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A node of the area tree with what lies under it (active residents only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaSummary {
    pub area: Area,
    pub households: u64,
    pub residents: u64,
}

/// A unit with the names of every area above it, for resolving spreadsheet rows
/// (小区 / 楼栋 / 单元 given by name) to a unit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitPath {
    pub unit: AreaCode,
    pub street: String,
    pub community: String,
    pub compound: String,
    pub building: String,
    pub unit_name: String,
}

/// One household of a building roster with its members (including those moved out,
/// whose status says so), members ordered by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterHousehold {
    pub household_id: i64,
    pub unit: AreaCode,
    pub unit_name: String,
    pub room: String,
    pub members: Vec<Resident>,
}

/// What to search residents by. The web layer decides which from the typed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentQuery {
    /// Exact, full ID number.
    IdNumber(IdNumber),
    /// Exact, full mobile number.
    Phone(String),
    /// Name starting with this text.
    NamePrefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub scope: UserScope,
    /// PHC string (argon2id). Never serialised.
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Set while the account is disabled: no sign-in, no token works.
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub scope: UserScope,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A browser session. The store keeps only the hash of the cookie's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// An action family: `zone` finds `zone` and every `zone.*` (`zone.designate`,
    /// `zone.lift`); a full code (`resident.read`) finds it and its own sub-codes.
    pub action_family: Option<String>,
    pub target_kind: Option<String>,
    pub target: Option<String>,
    /// Only entries with an id below this (paging, newest first).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Everything a backend provides: one trait per capability, so that each capability's
/// methods, implementations and tests live in their own files. Hold an `Arc<dyn Store>`;
/// bring the capability traits into scope with `use cordon_store::prelude::*`.
pub trait Store:
    RegistryStore + CodesStore + TestingStore + ContainmentStore + CredentialsStore + TracingStore + AuditChainStore
{
}

impl<
    T: RegistryStore + CodesStore + TestingStore + ContainmentStore + CredentialsStore + TracingStore + AuditChainStore,
> Store for T
{
}

/// The traits a caller needs in scope to call store methods.
pub mod prelude {
    pub use crate::{
        AuditChainStore, CodesStore, ContainmentStore, CredentialsStore, RegistryStore, Store, TestingStore,
        TracingStore,
    };
}

/// The population register, accounts, sessions and audit (SPEC §1, §13).
#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations. Idempotent; run explicitly (`cordon migrate`) and by
    /// the demo, never raced by several instances.
    async fn migrate(&self) -> Result<()>;

    // ---- bulk load (generator) -------------------------------------------------------

    /// Writes one generated batch (areas, households, residents, grids, leaders, with
    /// their ids) in one transaction. Batches arrive in order; ids only grow.
    async fn load_batch(&self, batch: &Batch) -> Result<()>;
    /// Called once after the last batch: advance id sequences, refresh statistics.
    async fn finish_load(&self) -> Result<()>;

    // ---- areas ----------------------------------------------------------------------

    async fn area(&self, code: &AreaCode) -> Result<Option<Area>>;
    /// The areas among `codes` that exist, in the order of `codes` (one read: a
    /// principal's lineage is resolved on every request). The default asks one by one;
    /// backends answer in one query.
    async fn areas(&self, codes: &[AreaCode]) -> Result<Vec<Area>> {
        let mut out = Vec::with_capacity(codes.len());
        for c in codes {
            if let Some(a) = self.area(c).await? {
                out.push(a);
            }
        }
        Ok(out)
    }
    /// The area with counts of active residents and of households under it.
    async fn area_summary(&self, code: &AreaCode) -> Result<Option<AreaSummary>>;
    /// Direct children of `code`, ordered by code, each with its counts.
    async fn children(&self, code: &AreaCode) -> Result<Vec<AreaSummary>>;
    /// Every unit under any of `roots`, with its ancestors' names, ordered by code.
    async fn units_under(&self, roots: &[AreaCode]) -> Result<Vec<UnitPath>>;

    // ---- residents ------------------------------------------------------------------

    async fn resident(&self, id: i64) -> Result<Option<Resident>>;
    /// Residents under any of `roots` matching `query`, ordered by id, at most `limit`.
    async fn search_residents(&self, roots: &[AreaCode], query: &ResidentQuery, limit: u32) -> Result<Vec<Resident>>;
    /// Households of a building ordered by unit code then room (numeric where it can),
    /// each with all its members.
    async fn building_roster(&self, building: &AreaCode) -> Result<Vec<RosterHousehold>>;
    /// Every resident (any status) under any of `roots`, ordered by unit, room, id.
    async fn residents_under(&self, roots: &[AreaCode]) -> Result<Vec<Resident>>;
    /// Which of these ID numbers are already registered.
    async fn existing_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<IdNumber>>;
    /// Registers residents in one transaction together with `audit`; a household is
    /// found by (unit, room) or created. Any ID number already present →
    /// `Conflict { code: "id_number_exists" }` and nothing is written. Returns the new ids
    /// in input order.
    async fn register_residents(&self, new: &[NewResident], audit: &AuditEntry) -> Result<Vec<i64>>;
    /// The registered residents (any status) with these ID numbers, wherever they live.
    async fn residents_by_id_numbers(&self, ids: &[IdNumber]) -> Result<Vec<Resident>>;
    /// Writes a roster re-import ([`roster::RosterPlan::write`]) in one transaction with
    /// `audit`: adds as [`RegistryStore::register_residents`] does, updates each person's
    /// name, phone, flags and household (found or created from unit and room) and makes
    /// them active, and moves out those still active. An added ID number already present
    /// → `Conflict { code: "id_number_exists" }` and nothing is written. Returns the new
    /// residents' ids in input order.
    async fn apply_roster(&self, write: &roster::RosterWrite, audit: &[AuditEntry]) -> Result<Vec<i64>>;
    /// Applies a correction and writes its audit entry in one transaction.
    async fn correct_resident(&self, id: i64, correction: &Correction, audit: &AuditEntry) -> Result<Resident>;

    // ---- grids and building leaders ------------------------------------------------

    async fn grid(&self, id: i64) -> Result<Option<Grid>>;
    /// Grids whose community lies under `root` (or that contain a building under it).
    async fn grids_under(&self, root: &AreaCode) -> Result<Vec<Grid>>;
    async fn building_leader(&self, building: &AreaCode) -> Result<Option<BuildingLeader>>;

    // ---- accounts -------------------------------------------------------------------

    /// `Conflict { code: "username_taken" }` when the username exists.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// All users ordered by id.
    async fn users(&self) -> Result<Vec<User>>;
    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()>;

    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The session with this token hash if it has not expired at `now`.
    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    /// Bearer tokens for devices and API clients; only the hash is stored. A token made
    /// here lives [`credentials::DEFAULT_TOKEN_DAYS`] (name and lifetime of one's choice:
    /// [`CredentialsStore::issue_api_token`]); tokens authenticate through
    /// [`CredentialsStore::bearer`].
    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: i64,
        label: &str,
        created_at: DateTime<Utc>,
    ) -> Result<()>;

    /// Login throttling, shared by every app instance: the states of `keys` (an account's
    /// and a client address's keyed hashes, never a username) read and rewritten in one
    /// transaction that takes the keys' rows in key order, so concurrent attempts are
    /// decided one after the other. `Attempt` stores the states
    /// [`cordon_domain::security::plan_login_attempt`] plans (when it says go); `Success`
    /// those of [`cordon_domain::security::plan_login_success`].
    async fn login_throttle(
        &self,
        op: ThrottleOp,
        keys: &[(ThrottleKind, String)],
        now: DateTime<Utc>,
        rules: &SecurityRules,
    ) -> Result<LoginAttempt>;

    /// A random secret of this deployment by `name` (e.g. the key of the keyed hashes of
    /// login names), made once: the first caller's `candidate` is stored and every later
    /// caller, on any instance, gets that one.
    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>>;

    // ---- audit ----------------------------------------------------------------------

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// Newest first.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
}
