//! What a containment plan or read needs from the database ([`Keys`]) and what the
//! backend hands back ([`Facts`]): one vocabulary both backends fetch in the same way,
//! so neither can forget a fact the other fetches.
//!
//! Every list in [`Facts`] is ordered by id ascending (zone events and runs of the clock:
//! newest first) and holds each record once, whichever queries found it.

use super::{DeviceOp, QueueEntry, QueueStatus, ZoneEvent, ZoneRunRecord};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::containment::assign::SiteSlots;
use cordon_domain::containment::quarantine::{HealthCheck, Order, OrderState, OrderTest};
use cordon_domain::containment::transfer::{TransferRun, TransferState};
use cordon_domain::containment::zoneclock::{CaseHome, ZoneFacts, ZoneProposal};
use cordon_domain::id_number::IdNumber;
use cordon_domain::registry::Resident;

/// Orders matching every filter given (`None`: no filter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQuery {
    pub ids: Option<Vec<i64>>,
    pub run_ids: Option<Vec<i64>>,
    pub site_ids: Option<Vec<i64>>,
    pub resident_ids: Option<Vec<i64>>,
    pub id_numbers: Option<Vec<IdNumber>>,
    /// The person's unit lies under one of these (people not on the register have no
    /// unit and only match queries without roots).
    pub roots: Option<Vec<AreaCode>>,
    pub states: Option<Vec<OrderState>>,
    pub transfer: Option<Vec<TransferState>>,
    /// Only orders whose state is open.
    pub open: bool,
    /// At most this many, lowest ids first.
    pub limit: Option<u32>,
}

impl OrderQuery {
    pub fn ids(ids: Vec<i64>) -> OrderQuery {
        OrderQuery { ids: Some(ids), ..OrderQuery::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteQuery {
    Ids(Vec<i64>),
    /// Sites standing under one of these areas.
    Under(Vec<AreaCode>),
    /// The sites holding these rooms.
    OfRooms(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueQuery {
    Contacts(Vec<i64>),
    /// Entries in one of `statuses` (all when empty) whose person lives under one of
    /// `roots` (any when `None`), oldest deadline first, at most `limit`.
    Status {
        statuses: Vec<QueueStatus>,
        roots: Option<Vec<AreaCode>>,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunQuery {
    Ids(Vec<i64>),
    /// Runs of this driver not completed.
    Driver(i64),
    /// Every run not completed.
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneQuery {
    Ids(Vec<i64>),
    /// The open designation of each of these areas.
    OpenOn(Vec<AreaCode>),
    /// Open designations of areas under any of these.
    OpenUnder(Vec<AreaCode>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalQuery {
    Ids(Vec<i64>),
    /// Proposals of areas under `roots` (open ones only when `open_only`), newest first.
    Under {
        roots: Vec<AreaCode>,
        open_only: bool,
        limit: u32,
    },
}

/// What a zone clock needs besides the zones: infections up to `at`, and rounds on
/// `round_date` (the last clear day) when one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockKeys {
    pub at: DateTime<Utc>,
    pub round_date: Option<NaiveDate>,
}

/// What to fetch. Each part is independent; the backend answers each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Inside a write: lock what is read for update (PostgreSQL: `FOR UPDATE`; SQLite's
    /// single writer needs nothing).
    pub lock: bool,
    /// Inside a write: serialise with every other write of the same name, across
    /// instances (PostgreSQL: a transaction advisory lock).
    pub exclusive: Option<&'static str>,

    /// Orders matching any of these (each found once).
    pub orders: Vec<OrderQuery>,
    /// Orders on the runs fetched.
    pub orders_of_runs: bool,
    /// Health checks of every order fetched, at or after this instant.
    pub checks_since: Option<DateTime<Utc>>,
    /// Sites with every room and who is in it (open orders with the room).
    pub sites: Option<SiteQuery>,
    pub queue: Option<QueueQuery>,
    pub residents: Vec<i64>,
    pub runs: Option<RunQuery>,
    pub device_op: Option<String>,

    pub zones: Option<ZoneQuery>,
    /// Clock facts of the zones fetched.
    pub zone_clock: Option<ClockKeys>,
    pub proposals: Option<ProposalQuery>,
    /// Which of these areas exist.
    pub areas: Vec<AreaCode>,
    /// Cases not yet taken by [`super::Write::SweepCases`], oldest first, at most this many.
    pub new_cases: Option<u32>,
    pub zone_run: Option<NaiveDate>,
    pub last_zone_run: bool,
    /// Zone history under these roots, newest first, at most this many.
    pub zone_events: Option<(Vec<AreaCode>, u32)>,
    pub zone_runs: Option<u32>,
    /// The samples in these tubes: (tube, resident, sampled at).
    pub tube_members: Vec<i64>,
}

/// What the backend found. Orders always come with their tests (in `tests`, and as the
/// `schedule.tests` of each order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub orders: Vec<Order>,
    pub tests: Vec<OrderTest>,
    pub checks: Vec<HealthCheck>,
    pub sites: Vec<SiteSlots>,
    pub queue: Vec<QueueEntry>,
    pub residents: Vec<Resident>,
    pub runs: Vec<TransferRun>,
    pub device_op: Option<DeviceOp>,
    pub zones: Vec<ZoneFacts>,
    pub proposals: Vec<ZoneProposal>,
    pub areas: Vec<AreaCode>,
    pub cases: Vec<CaseHome>,
    pub zone_run: Option<ZoneRunRecord>,
    pub last_zone_run: Option<ZoneRunRecord>,
    pub zone_events: Vec<ZoneEvent>,
    pub zone_runs: Vec<ZoneRunRecord>,
    /// (tube, resident, sampled at), by tube then resident.
    pub tube_members: Vec<(i64, i64, DateTime<Utc>)>,
}

fn union<T: Clone>(into: &mut Vec<T>, from: Vec<T>, id: impl Fn(&T) -> i64) {
    for x in from {
        let k = id(&x);
        match into.binary_search_by_key(&k, &id) {
            Ok(i) => into[i] = x,
            Err(i) => into.insert(i, x),
        }
    }
}

impl Facts {
    /// Adds what a later stage fetched: records by id (the later copy wins), singular
    /// facts when found.
    pub fn merge(&mut self, more: Facts) {
        union(&mut self.orders, more.orders, |o| o.id);
        let test_key = |t: &OrderTest| (t.order_id, t.day);
        for t in more.tests {
            match self.tests.binary_search_by_key(&test_key(&t), test_key) {
                Ok(i) => self.tests[i] = t,
                Err(i) => self.tests.insert(i, t),
            }
        }
        union(&mut self.checks, more.checks, |c| c.id);
        union(&mut self.sites, more.sites, |s| s.site.id);
        union(&mut self.queue, more.queue, |q| q.candidate.contact_id);
        union(&mut self.residents, more.residents, |r| r.id);
        union(&mut self.runs, more.runs, |r| r.id);
        union(&mut self.zones, more.zones, |z| z.zone.id);
        union(&mut self.proposals, more.proposals, |p| p.id);
        for a in more.areas {
            if !self.areas.contains(&a) {
                self.areas.push(a);
            }
        }
        union(&mut self.cases, more.cases, |c| c.case_id);
        self.device_op = more.device_op.or(self.device_op.take());
        self.zone_run = more.zone_run.or(self.zone_run.take());
        self.last_zone_run = more.last_zone_run.or(self.last_zone_run.take());
        self.zone_events.extend(more.zone_events);
        self.zone_runs.extend(more.zone_runs);
        self.tube_members.extend(more.tube_members);
    }

    pub fn order(&self, id: i64) -> Option<&Order> {
        self.orders.binary_search_by_key(&id, |o| o.id).ok().map(|i| &self.orders[i])
    }

    pub fn tests_of(&self, order_id: i64) -> Vec<OrderTest> {
        self.tests.iter().filter(|t| t.order_id == order_id).cloned().collect()
    }

    pub fn site(&self, id: i64) -> Option<&SiteSlots> {
        self.sites.iter().find(|s| s.site.id == id)
    }

    pub fn run(&self, id: i64) -> Option<&TransferRun> {
        self.runs.iter().find(|r| r.id == id)
    }
}
