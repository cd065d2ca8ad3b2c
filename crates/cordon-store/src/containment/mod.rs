//! The containment capability of the store (SPEC §7, §8): risk zones on the policy's
//! clock, quarantine sites and rooms, the to-isolate queue, quarantine orders with their
//! tests and health checks, room assignment, closed-loop transfer, and the boards and
//! KPIs built on them.
//!
//! **Plan, then persist — all the way.** A backend implements two things:
//! [`ContainmentStore::containment_facts`] (fetch the [`Facts`] a [`Keys`] asks for,
//! SQL and row mapping only) and [`ContainmentStore::containment_write`] (in ONE
//! transaction: fetch the facts [`plan::keys`] asks for, stage by stage, call
//! [`plan::plan`], write its [`Effects`], return its [`Outcome`] with the new ids). Every
//! rule, every refusal and every read model is written once, here and in
//! `cordon_domain::containment`; the typed methods below are provided on top of those two
//! primitives. A backend file with an `if` about a business rule is a smell.
//!
//! Must never decide who may do what (callers authorize first and pass area roots) nor
//! read the clock (time comes in [`Act`] and [`View`]). Every change is one transaction
//! with its audit entries; a refusal writes nothing. Writes a device may retry (a
//! driver's pickups and arrivals) carry an idempotency key.

pub mod effects;
pub mod facts;
pub mod job;
pub mod plan;
pub mod read;

pub use effects::{Effects, Written};
pub use facts::{Facts, Keys, OrderQuery, ProposalQuery, QueueQuery, RunQuery, SiteQuery, ZoneQuery};
pub use plan::{Outcome, Write};

use crate::{Result, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::assign::{DayCapacity, Placement, RoomSlot, SiteSlots, Suggestion};
use cordon_domain::containment::kpi::{Held, IsolationTimes, Occupancy};
use cordon_domain::containment::quarantine::{
    HealthCheck, NewHealthCheck, NewRoom, NewSite, Order, OrderState, OrderTest, Person, PersonResult, Room, RoomEvent,
    Site,
};
use cordon_domain::containment::transfer::{TransferRun, Vehicle};
use cordon_domain::containment::zoneclock::{Forecast, Held as HeldZone, ZoneDecision, ZoneProposal, ZoneStep};
use cordon_domain::error::FieldError;
use cordon_domain::id_number::IdNumber;
use cordon_domain::policy::Profile;
use cordon_domain::testing::TestResult;
use cordon_domain::zone::{NewZone, RiskZone, ZoneLevel};
use serde::Serialize;
use std::sync::Arc;

/// Who acts, when, under which profile, with the audit entry of the action. Every write
/// takes one.
#[derive(Debug, Clone)]
pub struct Act {
    pub at: DateTime<Utc>,
    /// The district's time zone (local dates: test days, the zone clock).
    pub tz: DistrictTz,
    pub user_id: Option<i64>,
    /// Shown as "by" on every step (a display name or `zone-clock`).
    pub user: String,
    pub profile: Arc<Profile>,
    /// The action's entry; plans add entries per record from it where a record needs its
    /// own (each room assignment).
    pub audit: AuditEntry,
}

impl Act {
    pub fn today(&self) -> NaiveDate {
        self.tz.today(self.at)
    }

    pub fn offset(&self) -> FixedOffset {
        self.tz.offset()
    }

    /// The action's entry about another target.
    pub fn entry(
        &self,
        action: &str,
        target_kind: &str,
        target: impl ToString,
        detail: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target: target.to_string(),
            detail: detail.into(),
            ..self.audit.clone()
        }
    }
}

/// What a read that applies rules needs: now, the offset and the profile.
#[derive(Debug, Clone)]
pub struct View {
    pub at: DateTime<Utc>,
    pub tz: DistrictTz,
    pub profile: Arc<Profile>,
}

impl View {
    pub fn today(&self) -> NaiveDate {
        self.tz.today(self.at)
    }

    pub fn offset(&self) -> FixedOffset {
        self.tz.offset()
    }
}

impl From<&Act> for View {
    fn from(a: &Act) -> View {
        View { at: a.at, tz: a.tz.clone(), profile: a.profile.clone() }
    }
}

/// A refusal: the error, and the record (order, contact, room…) it is about when there is
/// one. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub about: Option<i64>,
    pub error: FieldError,
}

impl Refused {
    pub fn about(id: i64, error: FieldError) -> Refused {
        Refused { about: Some(id), error }
    }
}

impl From<FieldError> for Refused {
    fn from(error: FieldError) -> Refused {
        Refused { about: None, error }
    }
}

impl From<cordon_domain::containment::Refusal> for Refused {
    fn from(r: cordon_domain::containment::Refusal) -> Refused {
        Refused { about: None, error: r.error() }
    }
}

/// The answer of a write that can be refused.
pub type Answer<T> = std::result::Result<T, Refused>;

// ---- the to-isolate queue (the interface to tracing) ---------------------------------------

/// A confirmed contact waiting to be isolated, as tracing hands it over: the person,
/// class, last exposure, when the tracer confirmed it and the deadline to isolate by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsolationCandidate {
    /// Tracing's contact id: unique in the queue.
    pub contact_id: i64,
    pub person: Person,
    pub class: ContactClass,
    pub last_exposure: DateTime<Utc>,
    pub identified_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Where a queued contact stands: the contact status tracing shows follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Identified, no order yet.
    Waiting,
    /// Order issued (notified), waiting for or in transfer.
    Ordered,
    /// In quarantine (arrived at the site, or at home).
    UnderQuarantine,
    /// Released from the site into home health monitoring.
    HomeMonitoring,
    /// The order closed: released.
    Released,
    /// Found positive while in quarantine.
    BecameCase,
    Cancelled,
}

impl QueueStatus {
    pub const ALL: [QueueStatus; 7] = [
        QueueStatus::Waiting,
        QueueStatus::Ordered,
        QueueStatus::UnderQuarantine,
        QueueStatus::HomeMonitoring,
        QueueStatus::Released,
        QueueStatus::BecameCase,
        QueueStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Waiting => "waiting",
            QueueStatus::Ordered => "ordered",
            QueueStatus::UnderQuarantine => "under_quarantine",
            QueueStatus::HomeMonitoring => "home_monitoring",
            QueueStatus::Released => "released",
            QueueStatus::BecameCase => "became_case",
            QueueStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<QueueStatus> {
        QueueStatus::ALL.into_iter().find(|q| q.as_str() == s)
    }
    /// The queue status an order's state means.
    pub fn of(state: OrderState) -> QueueStatus {
        match state {
            OrderState::Ordered | OrderState::InTransfer => QueueStatus::Ordered,
            OrderState::InQuarantine => QueueStatus::UnderQuarantine,
            OrderState::HomeMonitoring => QueueStatus::HomeMonitoring,
            OrderState::Closed => QueueStatus::Released,
            OrderState::BecameCase => QueueStatus::BecameCase,
            OrderState::Cancelled => QueueStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub candidate: IsolationCandidate,
    pub status: QueueStatus,
    pub order_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

// ---- requests -----------------------------------------------------------------------------

/// Who an order is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRequest {
    /// A contact of the to-isolate queue.
    Contact { contact_id: i64 },
    /// A person the commander orders into quarantine (an arrival from a risk area): a
    /// registered resident or someone known by name and ID number.
    Arrival { resident_id: Option<i64>, person: Option<Person>, last_exposure: DateTime<Utc>, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRequest {
    pub order_ids: Vec<i64>,
    pub vehicle: Vehicle,
    pub site_id: i64,
}

/// Who the driver found at the door: a scanned code (resolved to a resident by the code
/// service) or an ID number typed or read from the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickupWho {
    Resident(i64),
    IdNumber(IdNumber),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickupOutcome {
    pub order_id: i64,
    pub masked_name: String,
    /// The same pickup was recorded before (a device's retry or a second scan).
    pub replayed: bool,
    /// People of the run still to pick up.
    pub remaining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArrivalOutcome {
    pub placements: Vec<Placement>,
    pub replayed: bool,
}

/// One step of the zone history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneEventKind {
    Accepted,
    Widened,
    Narrowed,
    Rejected,
    Ordered,
    Stepped,
    Lifted,
}

impl ZoneEventKind {
    pub const ALL: [ZoneEventKind; 7] = [
        ZoneEventKind::Accepted,
        ZoneEventKind::Widened,
        ZoneEventKind::Narrowed,
        ZoneEventKind::Rejected,
        ZoneEventKind::Ordered,
        ZoneEventKind::Stepped,
        ZoneEventKind::Lifted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneEventKind::Accepted => "accepted",
            ZoneEventKind::Widened => "widened",
            ZoneEventKind::Narrowed => "narrowed",
            ZoneEventKind::Rejected => "rejected",
            ZoneEventKind::Ordered => "ordered",
            ZoneEventKind::Stepped => "stepped",
            ZoneEventKind::Lifted => "lifted",
        }
    }
    pub fn parse(s: &str) -> Option<ZoneEventKind> {
        ZoneEventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneEvent {
    pub id: i64,
    pub kind: ZoneEventKind,
    pub area: AreaCode,
    /// The designation it is about (ended by a step or a lift).
    pub zone_id: Option<i64>,
    /// The designation it made.
    pub new_zone_id: Option<i64>,
    pub from_level: Option<ZoneLevel>,
    pub to_level: Option<ZoneLevel>,
    pub proposal_id: Option<i64>,
    /// The clock day of a step.
    pub day: Option<NaiveDate>,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

/// One applied day of the zone clock: the row that makes a day apply once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneRunRecord {
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
    pub applied_at: DateTime<Utc>,
    pub by: String,
    pub steps: u32,
    pub held: u32,
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneDayReport {
    pub date: NaiveDate,
    /// False when the day had been applied already (by this or another instance):
    /// nothing was written.
    pub applied: bool,
    pub steps: Vec<ZoneStep>,
    pub held: Vec<HeldZone>,
    pub run: ZoneRunRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub cases: u32,
    pub proposals: u32,
    /// Cases found among people under an order.
    pub found_in_quarantine: u32,
}

/// An idempotency key a device sent, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceOp {
    pub key: String,
    pub kind: String,
    pub run_id: i64,
    pub order_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// A room stay (assignment history): who was in which room, from when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomStay {
    pub order_id: i64,
    pub room_id: i64,
    pub from: DateTime<Utc>,
    pub by: String,
}

// ---- read models --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderDetail {
    pub order: Order,
    pub tests: Vec<OrderTest>,
    pub checks: Vec<HealthCheck>,
    pub site: Option<Site>,
    pub room: Option<Room>,
    /// Whether the current phase may be released today, or why not.
    pub release: std::result::Result<OrderState, FieldError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FloorBoard {
    pub floor: i32,
    pub occupancy: Occupancy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseLine {
    pub order: Order,
    pub due: NaiveDate,
    /// `Ok(next state)` when ready, else why not.
    pub ready: std::result::Result<OrderState, FieldError>,
}

/// The site manager's board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteBoard {
    pub site: Site,
    pub occupancy: Occupancy,
    pub floors: Vec<FloorBoard>,
    /// Assigned or dispatched here, not arrived.
    pub arrivals_due: Vec<Order>,
    /// In quarantine here with a release due by today.
    pub releases_due: Vec<ReleaseLine>,
    pub rooms_to_clean: Vec<Room>,
    /// Tests due today (or overdue) of people here.
    pub tests_due: Vec<(Order, OrderTest)>,
    /// Everyone here now.
    pub people: Vec<Order>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    pub run: TransferRun,
    pub members: Vec<Order>,
}

/// The dispatcher's board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispatchBoard {
    /// Waiting for a vehicle, oldest identification first.
    pub waiting: Vec<Order>,
    pub runs: Vec<RunView>,
    /// Picked up and not arrived past the profile's minutes.
    pub overdue: Vec<Order>,
}

/// One line of the community worker's home-quarantine list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HomeLine {
    pub order: Order,
    /// Door tests due today or overdue.
    pub tests_due: Vec<OrderTest>,
    pub checks_today: u32,
    pub checks_expected: u32,
    pub last_check: Option<HealthCheck>,
    pub release: std::result::Result<OrderState, FieldError>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainmentKpis {
    pub times: IsolationTimes,
    pub held: Held,
    pub occupancy: Occupancy,
    /// Open zones per level, high first.
    pub zones: Vec<(ZoneLevel, u32)>,
    pub queue_waiting: u64,
    pub overdue_transfers: u64,
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Backend(format!("containment write answered with the wrong outcome ({what})"))
}

macro_rules! outcome {
    ($e:expr, $variant:ident) => {
        match $e {
            Outcome::$variant(v) => Ok(v),
            _ => Err(unexpected(stringify!($variant))),
        }
    };
}

/// Containment (SPEC §7, §8). Backends implement the two primitives; everything else is
/// provided, the same for both.
#[async_trait]
pub trait ContainmentStore: Send + Sync + 'static {
    /// The facts `keys` asks for, read outside any write (the read pool).
    async fn containment_facts(&self, keys: &Keys) -> Result<Facts>;
    /// Applies `write` in one transaction: the facts [`plan::keys`] asks for (stage by
    /// stage, locked for update where the backend locks), [`plan::plan`], its effects
    /// written ([`Effects`]), the outcome with the new ids ([`Outcome::resolve`]).
    async fn containment_write(&self, write: Write, act: Act) -> Result<Outcome>;

    // ---- zones --------------------------------------------------------------------------

    /// Takes the cases not seen before: proposes zones around each (as the profile says)
    /// and records cases found among people under an order. Safe to run on several
    /// instances at once.
    async fn sweep_cases(&self, act: Act) -> Result<SweepReport> {
        outcome!(self.containment_write(Write::SweepCases, act).await?, Sweep)
    }
    /// Accepts, widens, narrows or rejects a proposal in one action.
    async fn decide_zone_proposal(&self, id: i64, decision: ZoneDecision, act: Act) -> Result<Answer<ZoneProposal>> {
        outcome!(self.containment_write(Write::DecideProposal { id, decision }, act).await?, Proposal)
    }
    /// The commander's own designation: the area must exist and the profile have the
    /// level; an open designation of the area ends.
    async fn order_zone(&self, zone: NewZone, act: Act) -> Result<Answer<RiskZone>> {
        outcome!(self.containment_write(Write::OrderZone(zone), act).await?, Zone)
    }
    async fn lift_zone(&self, zone_id: i64, note: String, act: Act) -> Result<Answer<RiskZone>> {
        outcome!(self.containment_write(Write::LiftZone { zone_id, note }, act).await?, Zone)
    }
    /// Applies the clock on `date`, once: a day already applied (by any instance) is a
    /// no-op reported with `applied: false`.
    async fn run_zone_day(&self, date: NaiveDate, act: Act) -> Result<ZoneDayReport> {
        outcome!(self.containment_write(Write::ZoneDay { date }, act).await?, ZoneDay)
    }
    async fn zone_proposals(&self, roots: &[AreaCode], open_only: bool, limit: u32) -> Result<Vec<ZoneProposal>> {
        let keys = Keys {
            proposals: Some(ProposalQuery::Under { roots: roots.to_vec(), open_only, limit }),
            ..Keys::default()
        };
        let mut out = self.containment_facts(&keys).await?.proposals;
        out.reverse();
        Ok(out)
    }
    /// The forecast of the run on `date` for zones under `roots`.
    async fn zone_forecast(&self, roots: &[AreaCode], date: NaiveDate, view: &View) -> Result<Forecast> {
        let keys = read::forecast_keys(roots, date, view);
        let facts = self.containment_facts(&keys).await?;
        Ok(cordon_domain::containment::zoneclock::forecast(&facts.zones, &view.profile, date, view.offset()))
    }
    /// Steps, lifts and decisions under `roots`, newest first.
    async fn zone_history(&self, roots: &[AreaCode], limit: u32) -> Result<Vec<ZoneEvent>> {
        let keys = Keys { zone_events: Some((roots.to_vec(), limit)), ..Keys::default() };
        Ok(self.containment_facts(&keys).await?.zone_events)
    }
    /// Applied days, newest first.
    async fn zone_runs(&self, limit: u32) -> Result<Vec<ZoneRunRecord>> {
        let keys = Keys { zone_runs: Some(limit), ..Keys::default() };
        Ok(self.containment_facts(&keys).await?.zone_runs)
    }

    // ---- sites and rooms ----------------------------------------------------------------

    /// A site with its rooms, in one action.
    async fn open_site(&self, site: NewSite, rooms: Vec<NewRoom>, act: Act) -> Result<Answer<Site>> {
        outcome!(self.containment_write(Write::CreateSite { site, rooms }, act).await?, Site)
    }
    async fn add_rooms(&self, site_id: i64, rooms: Vec<NewRoom>, act: Act) -> Result<Answer<Vec<Room>>> {
        outcome!(self.containment_write(Write::AddRooms { site_id, rooms }, act).await?, Rooms)
    }
    /// Cleaned, out of service, back in service.
    async fn room_event(&self, room_id: i64, event: RoomEvent, act: Act) -> Result<Answer<Room>> {
        outcome!(self.containment_write(Write::RoomEvent { room_id, event }, act).await?, Room)
    }
    async fn quarantine_sites(&self, q: SiteQuery) -> Result<Vec<SiteSlots>> {
        Ok(self.containment_facts(&Keys { sites: Some(q), ..Keys::default() }).await?.sites)
    }
    async fn quarantine_site(&self, site_id: i64) -> Result<Option<SiteSlots>> {
        Ok(self.quarantine_sites(SiteQuery::Ids(vec![site_id])).await?.pop())
    }

    // ---- queue and orders ---------------------------------------------------------------

    /// Tracing's hand-over: adds confirmed contacts to the to-isolate queue (a contact
    /// already queued and still waiting gets the later exposure; one with an order is
    /// left alone).
    async fn enqueue_isolation(&self, candidates: Vec<IsolationCandidate>, act: Act) -> Result<Answer<u32>> {
        outcome!(self.containment_write(Write::Enqueue(candidates), act).await?, Count)
    }
    /// Queue entries, oldest deadline first.
    async fn isolation_queue(&self, q: QueueQuery) -> Result<Vec<QueueEntry>> {
        let mut out = self.containment_facts(&Keys { queue: Some(q), ..Keys::default() }).await?.queue;
        out.sort_by_key(|e| (e.candidate.deadline, e.candidate.contact_id));
        Ok(out)
    }
    /// Orders in bulk, all or nothing: from queued contacts and the commander's arrivals.
    async fn issue_orders(&self, requests: Vec<OrderRequest>, act: Act) -> Result<Answer<Vec<Order>>> {
        outcome!(self.containment_write(Write::IssueOrders(requests), act).await?, Orders)
    }
    async fn orders(&self, q: OrderQuery) -> Result<Vec<Order>> {
        Ok(self.containment_facts(&Keys { orders: vec![q], ..Keys::default() }).await?.orders)
    }
    async fn order_detail(&self, id: i64, view: &View) -> Result<Option<OrderDetail>> {
        let facts = self.containment_facts(&read::detail_keys(id)).await?;
        let sites = match facts.orders.first().and_then(|o| o.site_id) {
            Some(s) => self.quarantine_sites(SiteQuery::Ids(vec![s])).await?,
            None => Vec::new(),
        };
        Ok(read::order_detail(id, &facts, &sites, view))
    }
    async fn record_health_check(&self, check: NewHealthCheck, act: Act) -> Result<Answer<HealthCheck>> {
        outcome!(self.containment_write(Write::HealthCheck(check), act).await?, Check)
    }
    /// Lab results of people under an order resolve their scheduled tests (see
    /// `cordon_domain::containment::quarantine::test_for_result`). Mass testing's
    /// `record_results` calls the backend's in-transaction version with the same effect.
    async fn record_order_results(&self, results: Vec<PersonResult>, act: Act) -> Result<u32> {
        outcome!(self.containment_write(Write::Results(results), act).await?, Results)
    }
    /// The same from resulted tubes (id, result, capacity), as `record_results` knows
    /// them: what the backends' in-transaction hook does.
    async fn record_tube_results(&self, tubes: Vec<(i64, TestResult, u32)>, act: Act) -> Result<u32> {
        outcome!(self.containment_write(Write::TubeResults(tubes), act).await?, Results)
    }
    /// Releases the current phase (site → home monitoring or closed; home → closed) when
    /// the days are done and every test of the phase is negative.
    async fn release_order(&self, order_id: i64, act: Act) -> Result<Answer<Order>> {
        outcome!(self.containment_write(Write::Release { order_id }, act).await?, Order)
    }
    async fn cancel_order(&self, order_id: i64, act: Act) -> Result<Answer<Order>> {
        outcome!(self.containment_write(Write::Cancel { order_id }, act).await?, Order)
    }

    // ---- rooms for people ---------------------------------------------------------------

    /// Suggested rooms for these orders in these sites (every site when empty).
    async fn suggest_rooms(&self, order_ids: &[i64], site_ids: &[i64], view: &View) -> Result<Suggestion> {
        let keys = read::suggest_keys(order_ids, site_ids);
        let facts = self.containment_facts(&keys).await?;
        Ok(read::suggest(&facts, &view.profile))
    }
    /// Accepts (or moves people to) rooms, all or nothing, each assignment audited.
    async fn assign_rooms(&self, placements: Vec<(i64, i64)>, act: Act) -> Result<Answer<Vec<Placement>>> {
        outcome!(self.containment_write(Write::Assign(placements), act).await?, Placements)
    }

    // ---- transfer -----------------------------------------------------------------------

    async fn dispatch(&self, request: DispatchRequest, act: Act) -> Result<Answer<TransferRun>> {
        outcome!(self.containment_write(Write::Dispatch(request), act).await?, Run)
    }
    /// Takes people off a run before pickup: back to the queue.
    async fn undispatch(&self, run_id: i64, order_ids: Vec<i64>, act: Act) -> Result<Answer<TransferRun>> {
        outcome!(self.containment_write(Write::Undispatch { run_id, order_ids }, act).await?, Run)
    }
    /// The driver confirms a person at the door. Idempotent on `key`.
    async fn confirm_pickup(
        &self,
        run_id: i64,
        who: PickupWho,
        key: String,
        act: Act,
    ) -> Result<Answer<PickupOutcome>> {
        outcome!(self.containment_write(Write::Pickup { run_id, who, key }, act).await?, Pickup)
    }
    /// The run arrives: everyone picked up goes into their room (assigned, or suggested
    /// now). Idempotent on `key`.
    async fn confirm_arrival(&self, run_id: i64, key: String, act: Act) -> Result<Answer<ArrivalOutcome>> {
        outcome!(self.containment_write(Write::Arrive { run_id, key }, act).await?, Arrival)
    }
    async fn runs(&self, q: RunQuery) -> Result<Vec<RunView>> {
        let keys = Keys { runs: Some(q), orders_of_runs: true, ..Keys::default() };
        Ok(read::run_views(&self.containment_facts(&keys).await?))
    }

    // ---- boards -------------------------------------------------------------------------

    async fn site_board(&self, site_id: i64, view: &View) -> Result<Option<SiteBoard>> {
        let facts = self.containment_facts(&read::board_keys(site_id)).await?;
        Ok(read::site_board(site_id, &facts, view))
    }
    async fn dispatch_board(&self, view: &View) -> Result<DispatchBoard> {
        let facts = self.containment_facts(&read::dispatch_keys()).await?;
        Ok(read::dispatch_board(&facts, view))
    }
    /// Runs of a driver not yet completed.
    async fn driver_runs(&self, user_id: i64) -> Result<Vec<RunView>> {
        self.runs(RunQuery::Driver(user_id)).await
    }
    /// Home quarantine and home monitoring under `roots`, with today's door tests and
    /// health checks.
    async fn home_list(&self, roots: &[AreaCode], view: &View) -> Result<Vec<HomeLine>> {
        let facts = self.containment_facts(&read::home_keys(roots, view)).await?;
        Ok(read::home_list(&facts, view))
    }
    async fn containment_kpis(&self, roots: &[AreaCode], view: &View) -> Result<ContainmentKpis> {
        let facts = self.containment_facts(&read::kpi_keys(roots)).await?;
        Ok(read::kpis(&facts, view))
    }
    /// Beds taken on each of the next `days` days across all sites (or `site_ids`).
    async fn capacity_forecast(&self, site_ids: &[i64], days: u32, view: &View) -> Result<Vec<DayCapacity>> {
        let facts = self.containment_facts(&read::capacity_keys(site_ids)).await?;
        Ok(read::capacity(&facts, days, view))
    }
    /// Rooms with who is in them (for a floor plan).
    async fn rooms_of(&self, site_id: i64) -> Result<Vec<RoomSlot>> {
        Ok(self.quarantine_site(site_id).await?.map(|s| s.rooms).unwrap_or_default())
    }
}
