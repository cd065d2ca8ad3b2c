//! What a tracing plan or read needs ([`Keys`]) and what the backend hands back
//! ([`Facts`]): one vocabulary both backends fetch the same way. Lists of records are
//! ordered by id ascending and hold each record once.

use super::{Candidate, Case, Cluster, Contact, Reclassification, Task, TracePlace};
use crate::codes::PolicySetting;
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::registry::Resident;
use cordon_domain::tracing::ContactStatus;
use cordon_domain::tracing::candidates::{Place, PoolMate, Presence, Sighting};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseQuery {
    Ids(Vec<i64>),
    Residents(Vec<i64>),
    /// Cases whose trajectory and candidates were never proposed, oldest first.
    Untraced(u32),
    /// Cases of residents under `roots` (all when empty), made in `[since, until)`, in
    /// the open statuses only when `open_only`, newest first, at most `limit`.
    Under {
        roots: Vec<AreaCode>,
        open_only: bool,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        cluster_id: Option<i64>,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateQuery {
    Ids(Vec<i64>),
    OfCases(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactQuery {
    Ids(Vec<i64>),
    OfCases(Vec<i64>),
    /// Contacts (of any case) of these residents.
    Residents(Vec<i64>),
    /// Contacts living under `roots` in these statuses (all when empty), oldest first.
    Under {
        roots: Vec<AreaCode>,
        statuses: Vec<ContactStatus>,
        limit: u32,
    },
}

/// A window of a resident's movements to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub resident_id: i64,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Inside a write: lock what is read for update.
    pub lock: bool,
    /// The stored policy setting (the lab's transaction has no profile of its own).
    pub policy: bool,
    pub cases: Option<CaseQuery>,
    /// Re-classification history of the cases fetched.
    pub history: bool,
    pub candidates: Option<CandidateQuery>,
    pub contacts: Option<ContactQuery>,
    /// Trajectory entries and tasks of these cases.
    pub places_of: Vec<i64>,
    pub tasks_of: Vec<i64>,
    pub task_ids: Vec<i64>,
    /// Open tasks of the cases fetched.
    pub open_tasks: bool,
    pub residents: Vec<i64>,
    /// Active members of these residents' households.
    pub households_of: Vec<i64>,
    /// Active residents of these residents' units.
    pub units_of: Vec<i64>,
    /// Checkpoint scans, venue check-ins and samples of each span, and the people sampled
    /// in the same tubes.
    pub movements: Vec<Span>,
    /// Who was seen at each place in each time range.
    pub sightings: Vec<(Place, DateTime<Utc>, DateTime<Utc>)>,
    /// Which of these residents are cases.
    pub cases_among: Vec<i64>,
    /// Which of these residents are under an open quarantine order or an open contact.
    pub known_among: Vec<i64>,
    /// Every source link (case → source).
    pub links: bool,
    /// Names of these places.
    pub place_names: Vec<Place>,
    pub clusters: bool,
    /// Which of these venues exist.
    pub venues: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub policy: Option<PolicySetting>,
    pub cases: Vec<Case>,
    pub history: Vec<Reclassification>,
    pub candidates: Vec<Candidate>,
    pub contacts: Vec<Contact>,
    pub places: Vec<TracePlace>,
    pub tasks: Vec<Task>,
    pub residents: Vec<Resident>,
    /// Household members found, by id.
    pub households: Vec<Resident>,
    /// Unit residents found: (resident, unit).
    pub units: Vec<(i64, AreaCode)>,
    /// (resident, presence): scans and check-ins of the spans, by time.
    pub presences: Vec<(i64, Presence)>,
    /// (resident, tube, sampled at) of the spans.
    pub samples: Vec<(i64, i64, DateTime<Utc>)>,
    /// Everyone sampled in the tubes of `samples`.
    pub pool_mates: Vec<PoolMate>,
    pub sightings: Vec<Sighting>,
    pub cases_among: BTreeSet<i64>,
    pub known_among: BTreeSet<i64>,
    pub links: HashMap<i64, i64>,
    pub place_names: BTreeMap<Place, String>,
    pub clusters: Vec<Cluster>,
    pub venues: BTreeSet<i64>,
}

fn union<T>(into: &mut Vec<T>, from: Vec<T>, id: impl Fn(&T) -> i64) {
    for x in from {
        let k = id(&x);
        match into.binary_search_by_key(&k, &id) {
            Ok(i) => into[i] = x,
            Err(i) => into.insert(i, x),
        }
    }
}

impl Facts {
    /// Adds what a later stage fetched.
    pub fn merge(&mut self, more: Facts) {
        self.policy = more.policy.or(self.policy.take());
        union(&mut self.cases, more.cases, |c| c.id);
        self.history.extend(more.history);
        union(&mut self.candidates, more.candidates, |c| c.id);
        union(&mut self.contacts, more.contacts, |c| c.id);
        union(&mut self.places, more.places, |p| p.id);
        union(&mut self.tasks, more.tasks, |t| t.id);
        union(&mut self.residents, more.residents, |r| r.id);
        union(&mut self.households, more.households, |r| r.id);
        self.units.extend(more.units);
        self.presences.extend(more.presences);
        self.samples.extend(more.samples);
        self.pool_mates.extend(more.pool_mates);
        self.sightings.extend(more.sightings);
        self.cases_among.extend(more.cases_among);
        self.known_among.extend(more.known_among);
        self.links.extend(more.links);
        self.place_names.extend(more.place_names);
        union(&mut self.clusters, more.clusters, |c| c.id);
        self.venues.extend(more.venues);
    }

    pub fn case(&self, id: i64) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    pub fn resident(&self, id: i64) -> Option<&Resident> {
        self.residents.iter().chain(self.households.iter()).find(|r| r.id == id)
    }
}
