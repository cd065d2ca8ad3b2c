//! The health-code capability of the store (SPEC §4, §5, §7): the district's active
//! policy profile, risk-zone designations and their history, signing keys, checkpoints
//! with their guards and scan log, venues with their check-ins, and passes.
//!
//! Owns the contract both backends keep. Must never decide who may do what (callers
//! authorize first), never compute a colour (the domain's `colour` does, from
//! [`CodesStore::person_state`]), and never expose a secret key except through
//! [`CodesStore::current_signing_key`], whose value is redacted in `Debug`. Every change
//! is one transaction with its audit entry. Nothing here is cached per instance: several
//! app instances on one PostgreSQL see each other's changes at their next read.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::colour::{Colour, Direction, PersonFacts, PersonState};
use cordon_domain::error::FieldError;
use cordon_domain::pass::{NewPass, Pass};
use cordon_domain::token::SecretKey;
use cordon_domain::zone::{NewZone, RiskZone};
use serde::Serialize;

/// The district's active policy profile: its name and the TOML it was loaded from (a
/// shipped profile or an uploaded file), so every instance applies the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySetting {
    pub name: String,
    pub source: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A signing key without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKeyRecord {
    pub id: i64,
    pub district: String,
    #[serde(skip)]
    pub public: [u8; 32],
    pub created_at: DateTime<Utc>,
    /// No new tokens are signed with a retired key; its tokens stay valid until they
    /// expire.
    pub retired_at: Option<DateTime<Utc>>,
    /// A revoked key's tokens are refused at once (a compromised key).
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub district: String,
    pub secret: SecretKey,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub id: i64,
    pub name: String,
    /// A compound (its gate) or the district (a border checkpoint).
    pub area: AreaCode,
    pub created_at: DateTime<Utc>,
    /// User ids of the guards assigned, ascending.
    pub guards: Vec<i64>,
}

impl Checkpoint {
    pub fn is_border(&self) -> bool {
        self.area.level() == cordon_domain::area::AreaLevel::District
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckpoint {
    pub name: String,
    pub area: AreaCode,
    pub created_at: DateTime<Utc>,
}

impl NewCheckpoint {
    pub fn new(name: &str, area: AreaCode, now: DateTime<Utc>) -> Result<NewCheckpoint, FieldError> {
        use cordon_domain::area::AreaLevel;
        if !matches!(area.level(), AreaLevel::Compound | AreaLevel::District) {
            return Err(FieldError::new(
                "checkpoint_area",
                "area_code",
                "卡口应设在小区门口或区界",
                "a checkpoint is at a compound gate or the district border",
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(cordon_domain::security::is_forbidden_char)
        {
            return Err(FieldError::new(
                "checkpoint_name",
                "name",
                "请填写卡口名称（最多80字）",
                "name the checkpoint (80 characters at most)",
            ));
        }
        Ok(NewCheckpoint { name: name.to_string(), area, created_at: now })
    }
}

/// What a scan was of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanSubject {
    Person,
    Pass,
    /// A token that could not be verified.
    Invalid,
}

impl ScanSubject {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanSubject::Person => "person",
            ScanSubject::Pass => "pass",
            ScanSubject::Invalid => "invalid",
        }
    }
    pub fn parse(s: &str) -> ScanSubject {
        match s {
            "person" => ScanSubject::Person,
            "pass" => ScanSubject::Pass,
            _ => ScanSubject::Invalid,
        }
    }
}

/// One logged scan at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scan {
    pub checkpoint_id: i64,
    pub at: DateTime<Utc>,
    pub direction: Direction,
    pub subject: ScanSubject,
    pub resident_id: Option<i64>,
    pub pass_id: Option<i64>,
    pub colour: Option<Colour>,
    pub allowed: bool,
    /// The decision's stable code (`green`, `yellow`, `token_forged`, …).
    pub code: String,
    pub guard_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRecord {
    pub id: i64,
    #[serde(flatten)]
    pub scan: Scan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    Shop,
    Pharmacy,
    Workplace,
    SamplingSite,
    Other,
}

impl VenueKind {
    pub const ALL: [VenueKind; 5] =
        [VenueKind::Shop, VenueKind::Pharmacy, VenueKind::Workplace, VenueKind::SamplingSite, VenueKind::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            VenueKind::Shop => "shop",
            VenueKind::Pharmacy => "pharmacy",
            VenueKind::Workplace => "workplace",
            VenueKind::SamplingSite => "sampling_site",
            VenueKind::Other => "other",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            VenueKind::Shop => "商店",
            VenueKind::Pharmacy => "药店",
            VenueKind::Workplace => "单位",
            VenueKind::SamplingSite => "核酸采样点",
            VenueKind::Other => "其他场所",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            VenueKind::Shop => "Shop",
            VenueKind::Pharmacy => "Pharmacy",
            VenueKind::Workplace => "Workplace",
            VenueKind::SamplingSite => "Sampling site",
            VenueKind::Other => "Other venue",
        }
    }
    pub fn parse(s: &str) -> Result<VenueKind, FieldError> {
        VenueKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| FieldError::new("venue_kind", "kind", "未知的场所类型", "unknown kind of venue"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Venue {
    pub id: i64,
    pub name: String,
    pub kind: VenueKind,
    /// Where it is: any level of the tree below the district.
    pub area: AreaCode,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVenue {
    pub name: String,
    pub kind: VenueKind,
    pub area: AreaCode,
    pub created_at: DateTime<Utc>,
}

impl NewVenue {
    pub fn new(name: &str, kind: VenueKind, area: AreaCode, now: DateTime<Utc>) -> Result<NewVenue, FieldError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(cordon_domain::security::is_forbidden_char)
        {
            return Err(FieldError::new(
                "venue_name",
                "name",
                "请填写场所名称（最多80字）",
                "name the venue (80 characters at most)",
            ));
        }
        Ok(NewVenue { name: name.to_string(), kind, area, created_at: now })
    }
}

/// One check-in: a resident's token scanned at a venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckIn {
    pub id: i64,
    pub venue_id: i64,
    pub resident_id: i64,
    pub at: DateTime<Utc>,
}

/// Everything one checkpoint scan needs about its token's subject, read together so a
/// scan costs one store call (see [`CodesStore::scan_context`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanContext {
    /// The checkpoint asked for (`None`: not asked, or no such checkpoint).
    pub checkpoint: Option<Checkpoint>,
    /// The key the token names; `None` when there is no such key.
    pub key: Option<SigningKeyRecord>,
    /// For a pass token: the pass (`None`: no such pass). Always `None` for a person.
    pub pass: Option<Pass>,
    /// The person the verdict is about — the token's subject, or the holder of a
    /// person's pass — when that resident exists.
    pub person: Option<PersonContext>,
    /// The active profile as [`CodesStore::policy_setting`] returns it.
    pub policy: Option<PolicySetting>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonContext {
    pub resident: cordon_domain::registry::Resident,
    /// As [`CodesStore::person_state`] returns it at the scan's `now`.
    pub state: PersonState,
    /// As [`CodesStore::passes_of_person`] returns it at the scan's `now`.
    pub passes: Vec<Pass>,
}

/// Health codes, risk zones, checkpoints, venues and passes (SPEC §4, §5, §7).
#[async_trait]
pub trait CodesStore: Send + Sync + 'static {
    // ---- policy profile -----------------------------------------------------------------

    /// The active profile as last set; `None` before anyone set one (callers then use the
    /// shipped default).
    async fn policy_setting(&self) -> Result<Option<PolicySetting>>;
    /// Replaces the active profile, with its audit entry, in one transaction.
    async fn set_policy(&self, setting: &PolicySetting, audit: &AuditEntry) -> Result<()>;

    // ---- risk zones ---------------------------------------------------------------------

    /// Records a designation; an open designation of the same area is ended at the new
    /// one's start (history is kept).
    async fn designate_zone(&self, zone: &NewZone, audit: &AuditEntry) -> Result<RiskZone>;
    /// Designations of areas under `root` (or on its lineage when `ancestors`), open ones
    /// only unless `history`, newest first.
    async fn zones(&self, root: &AreaCode, ancestors: bool, history: bool) -> Result<Vec<RiskZone>>;

    /// What the colour engine needs about one resident at `now` ([`PersonFacts`]), in one
    /// read; `None` when there is no such resident. `today` is the district's date.
    async fn person_facts(&self, resident_id: i64, now: DateTime<Utc>, today: NaiveDate)
    -> Result<Option<PersonFacts>>;

    /// The colour engine's input for one resident: [`CodesStore::person_facts`] through
    /// [`PersonState::from_facts`], the one place the facts become a state.
    async fn person_state(
        &self,
        resident_id: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Option<PersonState>> {
        Ok(self.person_facts(resident_id, now, today).await?.map(|f| PersonState::from_facts(f, now, today)))
    }

    // ---- signing keys -------------------------------------------------------------------

    /// Adds a key and retires the current one (retired keys verify until their tokens
    /// expire, and sign nothing new).
    async fn add_signing_key(&self, key: &NewSigningKey, audit: &AuditEntry) -> Result<SigningKeyRecord>;
    /// The key new tokens are signed with.
    async fn current_signing_key(&self) -> Result<Option<(SigningKeyRecord, SecretKey)>>;
    async fn signing_key(&self, id: i64) -> Result<Option<SigningKeyRecord>>;
    /// All keys, newest first, without secrets.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    async fn revoke_signing_key(&self, id: i64, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()>;

    // ---- checkpoints --------------------------------------------------------------------

    async fn create_checkpoint(&self, new: &NewCheckpoint, audit: &AuditEntry) -> Result<Checkpoint>;
    async fn checkpoint(&self, id: i64) -> Result<Option<Checkpoint>>;
    /// Checkpoints whose area lies under any of `roots`, by id.
    async fn checkpoints_under(&self, roots: &[AreaCode]) -> Result<Vec<Checkpoint>>;
    /// Checkpoints this user is assigned to, by id.
    async fn checkpoints_of_guard(&self, user_id: i64) -> Result<Vec<Checkpoint>>;
    /// Idempotent.
    async fn assign_guard(&self, checkpoint_id: i64, user_id: i64, audit: &AuditEntry) -> Result<()>;
    /// Appends scans (a device's batch is one transaction).
    async fn record_scans(&self, scans: &[Scan]) -> Result<Vec<i64>>;
    /// The checkpoint's latest scans, newest first.
    async fn recent_scans(&self, checkpoint_id: i64, limit: u32) -> Result<Vec<ScanRecord>>;
    /// Scans of a person in `[from, to)` at any checkpoint, by time (co-presence input).
    async fn scans_of_person(
        &self,
        resident_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScanRecord>>;

    // ---- venues -------------------------------------------------------------------------

    async fn create_venue(&self, new: &NewVenue, audit: &AuditEntry) -> Result<Venue>;
    async fn venue(&self, id: i64) -> Result<Option<Venue>>;
    /// Venues whose area lies under any of `roots`, by id.
    async fn venues_under(&self, roots: &[AreaCode]) -> Result<Vec<Venue>>;
    async fn record_checkin(&self, venue_id: i64, resident_id: i64, at: DateTime<Utc>) -> Result<CheckIn>;
    /// Who was at the venue in `[from, to)`, by time then id (on an index).
    async fn venue_visits(&self, venue_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CheckIn>>;

    // ---- passes -------------------------------------------------------------------------

    async fn issue_pass(&self, new: &NewPass, audit: &AuditEntry) -> Result<Pass>;
    async fn pass(&self, id: i64) -> Result<Option<Pass>>;
    /// The issuance log, newest first.
    async fn passes(&self, limit: u32) -> Result<Vec<Pass>>;
    /// Passes held by a resident that are not revoked and whose window contains `now`.
    async fn passes_of_person(&self, resident_id: i64, now: DateTime<Utc>) -> Result<Vec<Pass>>;

    // ---- the scan path ------------------------------------------------------------------

    /// What a scan of a token naming `key_id`, `kind` and `subject` needs, exactly as the
    /// individual methods would return it at `now`: [`CodesStore::checkpoint`] when
    /// `checkpoint_id` is given, [`CodesStore::signing_key`], for a
    /// pass token [`CodesStore::pass`], for the person (the subject, or a person pass's
    /// holder) the resident, [`CodesStore::person_state`] and
    /// [`CodesStore::passes_of_person`], and [`CodesStore::policy_setting`]. Read on every
    /// scan, so backends answer in one read (SQLite: one read transaction; PostgreSQL: one
    /// pipelined round trip per dependency level).
    async fn scan_context(
        &self,
        checkpoint_id: Option<i64>,
        key_id: i64,
        kind: cordon_domain::token::SubjectKind,
        subject: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<ScanContext>;
    /// `NotFound` for an unknown id; revoking twice keeps the first revocation.
    async fn revoke_pass(&self, id: i64, at: DateTime<Utc>, by: &str, reason: &str, audit: &AuditEntry)
    -> Result<Pass>;
}
