//! The tracing capability of the store (SPEC §6): cases (made by the lab's individual
//! positive in its transaction, or entered by the tracer), the investigation's trajectory
//! proposed from checkpoint scans, venue check-ins and sampling events, candidates
//! proposed the moment a case exists, the tracer's bulk confirmation or rejection,
//! confirmed contacts (their colour at once, the regime from the profile, the to-isolate
//! queue), source links, clusters, tasks and KPIs.
//!
//! **Plan, then persist**, as containment does: a backend implements
//! [`TracingStore::tracing_facts`] (fetch the [`Facts`] a [`Keys`] asks for) and
//! [`TracingStore::tracing_write`] (in ONE transaction: the facts [`plan::keys`] asks
//! for stage by stage, [`plan::plan`], its [`Effects`] written — confirmed contacts are
//! handed to containment's queue in the same transaction). Every rule and refusal is in
//! [`plan`] and `cordon_domain::tracing`; the typed methods below are provided.

pub mod facts;
pub mod plan;
pub mod read;

pub use facts::{CandidateQuery, CaseQuery, ContactQuery, Facts, Keys};
pub use plan::{Effects, Outcome, Write, Written};

use crate::Result;
use crate::StoreError;
use crate::containment::{Act, Answer, ContainmentStore, View};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::tracing::candidates::Evidence;
use cordon_domain::tracing::kpi::TracingKpis;
use cordon_domain::tracing::{
    CandidateState, CaseStatus, Class, Classification, ContactStatus, HowFound, PlaceKind, Setting, Source, TaskKind,
};
use serde::Serialize;

/// A case with what tracing knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    pub id: i64,
    pub resident_id: i64,
    pub name: PersonName,
    pub unit: AreaCode,
    pub household_id: i64,
    pub source_tube: Option<i64>,
    /// The positive result (lab) or the entry (tracer).
    pub at: DateTime<Utc>,
    pub classification: Classification,
    pub how_found: HowFound,
    pub onset: Option<NaiveDate>,
    /// When the first positive sample was taken (the source tube's sample).
    pub first_positive: Option<DateTime<Utc>>,
    pub workplace: String,
    pub status: CaseStatus,
    /// Under a quarantine order or a known contact when found.
    pub known_before: bool,
    pub source_case: Option<i64>,
    pub cluster_id: Option<i64>,
    pub narrative: String,
    pub created_by: String,
    pub investigation_at: Option<DateTime<Utc>>,
    pub core_done_at: Option<DateTime<Utc>>,
    /// When the trajectory and candidates were proposed (`None`: not yet).
    pub traced_at: Option<DateTime<Utc>>,
}

impl Case {
    /// The day the look-back window counts from: onset, else the first positive sample,
    /// else the day the case was made.
    pub fn anchor(&self, offset: chrono::FixedOffset) -> NaiveDate {
        self.onset
            .unwrap_or_else(|| cordon_domain::containment::local_date(self.first_positive.unwrap_or(self.at), offset))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reclassification {
    pub case_id: i64,
    pub from: Option<Classification>,
    pub to: Classification,
    pub at: DateTime<Utc>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub id: i64,
    pub case_id: i64,
    pub resident_id: i64,
    pub name: PersonName,
    pub unit: AreaCode,
    pub class: Class,
    pub source: Source,
    pub last_exposure: DateTime<Utc>,
    pub evidence: Evidence,
    pub state: CandidateState,
    pub proposed_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub id: i64,
    pub case_id: i64,
    pub resident_id: Option<i64>,
    pub name: PersonName,
    pub id_number: Option<IdNumber>,
    pub phone: Option<Phone>,
    pub unit: Option<AreaCode>,
    pub address: String,
    pub household_id: Option<i64>,
    pub class: Class,
    pub setting: Setting,
    pub last_exposure: DateTime<Utc>,
    pub elicited_by: String,
    pub status: ContactStatus,
    pub identified_at: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub status_at: DateTime<Utc>,
    pub candidate_id: Option<i64>,
}

/// One entry of a case's trajectory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracePlace {
    pub id: i64,
    pub case_id: i64,
    pub kind: PlaceKind,
    /// The venue, checkpoint or tube.
    pub place_id: Option<i64>,
    /// The place's name (or what the tracer wrote).
    pub label: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub setting: Option<Setting>,
    pub confirmed: bool,
    pub exposure_site: bool,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: i64,
    pub case_id: i64,
    pub kind: TaskKind,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

// ---- requests -----------------------------------------------------------------------------

/// A case the tracer enters (found elsewhere: a fever clinic, another district's notice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub resident_id: i64,
    pub classification: Classification,
    pub how_found: HowFound,
    pub onset: Option<NaiveDate>,
    pub workplace: String,
}

/// What the tracer changes on a case (each `Some` is changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseUpdate {
    pub classification: Option<Classification>,
    pub status: Option<CaseStatus>,
    pub onset: Option<NaiveDate>,
    pub workplace: Option<String>,
    pub narrative: Option<String>,
    /// Marks the core information done (its task too).
    pub core_done: bool,
    pub cluster_id: Option<i64>,
}

/// A contact the tracer elicits by hand: a registered resident or a person known by
/// name, ID number and phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub case_id: i64,
    pub resident_id: Option<i64>,
    pub name: Option<PersonName>,
    pub id_number: Option<IdNumber>,
    pub phone: Option<Phone>,
    pub address: String,
    pub class: Class,
    pub setting: Setting,
    pub last_exposure: DateTime<Utc>,
}

/// A place the tracer adds to the trajectory (free text or a venue); an exposure site
/// proposes everyone checked in there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlace {
    pub case_id: i64,
    pub venue_id: Option<i64>,
    pub label: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub setting: Option<Setting>,
    pub exposure_site: bool,
    pub note: String,
}

// ---- read models --------------------------------------------------------------------------

/// A case as the investigation page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseDetail {
    pub case: Case,
    pub history: Vec<Reclassification>,
    pub places: Vec<TracePlace>,
    pub candidates: Vec<Candidate>,
    pub contacts: Vec<Contact>,
    pub tasks: Vec<Task>,
    /// Cases this one infected (by source link).
    pub downstream: Vec<i64>,
    pub window_from: DateTime<Utc>,
}

/// One line of the tracer's work list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkLine {
    pub case: Case,
    /// Open tasks, earliest due first.
    pub tasks: Vec<Task>,
    pub candidates_waiting: u32,
    pub contacts: u32,
    /// The earliest due time among open tasks.
    pub due: Option<DateTime<Utc>>,
    pub overdue: bool,
}

/// The network: cases and contacts with generations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainNode {
    /// `c{id}` for a case, `k{id}` for a contact.
    pub key: String,
    pub case_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub label: String,
    pub generation: u32,
    pub class: Option<Class>,
    pub cluster_id: Option<i64>,
    pub street: Option<AreaCode>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chains {
    pub nodes: Vec<ChainNode>,
    /// (from key, to key): source → case, case → contact.
    pub edges: Vec<(String, String)>,
    pub clusters: Vec<Cluster>,
}

/// Filters of the chains view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainFilter {
    pub roots: Vec<AreaCode>,
    pub cluster_id: Option<i64>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Backend(format!("tracing write answered with the wrong outcome ({what})"))
}

macro_rules! outcome {
    ($e:expr, $variant:ident) => {
        match $e {
            Outcome::$variant(v) => Ok(v),
            _ => Err(unexpected(stringify!($variant))),
        }
    };
}

/// Tracing (SPEC §6). Backends implement the two primitives; everything else is provided.
#[async_trait]
pub trait TracingStore: ContainmentStore {
    async fn tracing_facts(&self, keys: &Keys) -> Result<Facts>;
    async fn tracing_write(&self, write: Write, act: Act) -> Result<Outcome>;

    /// Proposes trajectory, candidates and tasks of every case not traced yet (the lab
    /// does it in its own transaction; this catches up cases made before tracing existed).
    async fn trace_new_cases(&self, act: Act) -> Result<u32> {
        let n: Answer<u32> = outcome!(self.tracing_write(Write::TraceNew, act).await?, Count)?;
        Ok(n.unwrap_or(0))
    }
    async fn enter_case(&self, case: NewCase, act: Act) -> Result<Answer<Case>> {
        outcome!(self.tracing_write(Write::EnterCase(case), act).await?, Case)
    }
    async fn update_case(&self, case_id: i64, update: CaseUpdate, act: Act) -> Result<Answer<Case>> {
        outcome!(self.tracing_write(Write::UpdateCase { case_id, update }, act).await?, Case)
    }
    /// Confirms or rejects candidates of one case, all or nothing.
    async fn decide_candidates(
        &self,
        case_id: i64,
        candidate_ids: Vec<i64>,
        confirm: bool,
        act: Act,
    ) -> Result<Answer<u32>> {
        outcome!(self.tracing_write(Write::Decide { case_id, candidate_ids, confirm }, act).await?, Count)
    }
    async fn add_contact(&self, contact: NewContact, act: Act) -> Result<Answer<Contact>> {
        outcome!(self.tracing_write(Write::AddContact(contact), act).await?, Contact)
    }
    async fn contact_status(&self, contact_id: i64, to: ContactStatus, act: Act) -> Result<Answer<Contact>> {
        outcome!(self.tracing_write(Write::ContactStatus { contact_id, to }, act).await?, Contact)
    }
    async fn link_source(&self, case_id: i64, source: Option<i64>, act: Act) -> Result<Answer<Case>> {
        outcome!(self.tracing_write(Write::LinkSource { case_id, source }, act).await?, Case)
    }
    async fn add_place(&self, place: NewPlace, act: Act) -> Result<Answer<u32>> {
        outcome!(self.tracing_write(Write::AddPlace(place), act).await?, Count)
    }
    /// Confirms proposed trajectory entries of a case.
    async fn confirm_places(&self, case_id: i64, place_ids: Vec<i64>, act: Act) -> Result<Answer<u32>> {
        outcome!(self.tracing_write(Write::ConfirmPlaces { case_id, place_ids }, act).await?, Count)
    }
    async fn complete_task(&self, task_id: i64, act: Act) -> Result<Answer<u32>> {
        outcome!(self.tracing_write(Write::CompleteTask { task_id }, act).await?, Count)
    }
    async fn create_cluster(&self, name: String, act: Act) -> Result<Answer<Cluster>> {
        outcome!(self.tracing_write(Write::CreateCluster { name }, act).await?, Cluster)
    }

    async fn case_detail(&self, case_id: i64, view: &View) -> Result<Option<CaseDetail>> {
        let facts = self.tracing_facts(&read::detail_keys(case_id)).await?;
        Ok(read::detail(case_id, facts, view))
    }
    /// The case of a resident, if any.
    async fn case_of(&self, resident_id: i64) -> Result<Option<Case>> {
        let keys = Keys { cases: Some(CaseQuery::Residents(vec![resident_id])), ..Keys::default() };
        Ok(self.tracing_facts(&keys).await?.cases.pop())
    }
    /// The tracer's work list under `roots`: open cases, by earliest due task.
    async fn work_list(&self, roots: &[AreaCode], limit: u32, view: &View) -> Result<Vec<WorkLine>> {
        let facts = self.tracing_facts(&read::work_keys(roots, limit)).await?;
        let ids: Vec<i64> = facts.cases.iter().map(|c| c.id).collect();
        let mut lines = read::work_list(facts, view);
        let more = Keys {
            candidates: Some(CandidateQuery::OfCases(ids.clone())),
            contacts: Some(ContactQuery::OfCases(ids)),
            ..Keys::default()
        };
        read::work_counts(&mut lines, &self.tracing_facts(&more).await?);
        Ok(lines)
    }
    /// Contacts living under `roots` in these statuses (all when empty), oldest first.
    async fn contacts_under(&self, roots: &[AreaCode], statuses: &[ContactStatus], limit: u32) -> Result<Vec<Contact>> {
        let keys = Keys {
            contacts: Some(ContactQuery::Under { roots: roots.to_vec(), statuses: statuses.to_vec(), limit }),
            ..Keys::default()
        };
        Ok(self.tracing_facts(&keys).await?.contacts)
    }
    async fn chains(&self, filter: &ChainFilter) -> Result<Chains> {
        let mut facts = self.tracing_facts(&read::chain_keys(filter)).await?;
        let ids: Vec<i64> = facts.cases.iter().map(|c| c.id).collect();
        facts.contacts =
            self.tracing_facts(&Keys { contacts: Some(ContactQuery::OfCases(ids)), ..Keys::default() }).await?.contacts;
        Ok(read::chains(facts, filter))
    }
    async fn tracing_kpis(&self, roots: &[AreaCode]) -> Result<TracingKpis> {
        let mut facts = self.tracing_facts(&read::kpi_keys(roots)).await?;
        let ids: Vec<i64> = facts.cases.iter().map(|c| c.id).collect();
        facts.contacts =
            self.tracing_facts(&Keys { contacts: Some(ContactQuery::OfCases(ids)), ..Keys::default() }).await?.contacts;
        Ok(read::kpis(&facts))
    }
    async fn clusters(&self) -> Result<Vec<Cluster>> {
        Ok(self.tracing_facts(&Keys { clusters: true, ..Keys::default() }).await?.clusters)
    }
}
