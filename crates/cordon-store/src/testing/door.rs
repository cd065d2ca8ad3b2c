//! Door-knock outcomes (敲门行动), planned once for both backends: what the outcome
//! needs to know about the household ([`door_keys`] → [`DoorFacts`]) and what it changes
//! ([`plan_door`] → [`DoorEffect`]), or the refusal, decided before anything is written.
//!
//! Samples at the door go through the ingest's own plan as the worker's batch of single
//! tubes ([`door_batch`]), so a swab at the door obeys every rule a scan does; the
//! backend fetches that batch's facts, plans it with [`super::ingest::plan_ingest`] and
//! asks [`door_ingest_refusal`] before writing either.

use super::ingest::IngestPlan;
use super::{DoorRefusal, DoorReport, DoorSample, DoorTask, ScanBatch, ScanItem, ScanPerson, door_refusal};
use crate::StoreError;
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::Correction;
use cordon_domain::testing::{DoorOutcome, PoolCapacity, Refusal};
use std::collections::{HashMap, HashSet};

/// What an outcome's facts are keyed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoorKeys {
    /// The members the report names (swabbed, or whose data is wrong).
    pub resident_ids: Vec<i64>,
    /// The tube barcodes of the samples.
    pub barcodes: Vec<String>,
    /// Whether the household's members without a sample in the round are needed (away
    /// with proof exempts them).
    pub unsampled: bool,
}

pub fn door_keys(report: &DoorReport) -> DoorKeys {
    match report {
        DoorReport::SampledAtDoor { samples, .. } => {
            let mut resident_ids: Vec<i64> = samples.iter().map(|s| s.resident_id).collect();
            let mut barcodes: Vec<String> = samples.iter().map(|s| s.tube.as_str().to_string()).collect();
            resident_ids.sort_unstable();
            resident_ids.dedup();
            barcodes.sort_unstable();
            barcodes.dedup();
            DoorKeys { resident_ids, barcodes, unsampled: false }
        }
        DoorReport::WrongData { resident_id, .. } => {
            DoorKeys { resident_ids: vec![*resident_id], ..DoorKeys::default() }
        }
        DoorReport::AwayWithProof => DoorKeys { unsampled: true, ..DoorKeys::default() },
        DoorReport::NotHome | DoorReport::Refused => DoorKeys::default(),
    }
}

/// A resident named by a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedMember {
    pub household: i64,
    pub active: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoorFacts {
    /// The named residents that exist.
    pub named: HashMap<i64, NamedMember>,
    /// Named residents exempt in the task's round.
    pub exempt: HashSet<i64>,
    /// Stored tubes among the barcodes: barcode → its round.
    pub tubes: HashMap<String, i64>,
    /// With [`DoorKeys::unsampled`]: the household's active members with no sample in the
    /// round, with their units.
    pub unsampled: Vec<(i64, AreaCode)>,
}

/// What an accepted outcome writes besides the task's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum DoorEffect {
    None,
    /// The swabs, as the worker's batch, to be planned by the ingest and written with
    /// the samples' audit entry.
    Ingest {
        batch: ScanBatch,
        audit: AuditEntry,
    },
    /// Exemptions of the household's unsampled members (an existing exemption is kept).
    Exempt(Vec<(i64, AreaCode)>),
    /// An enforcement record for the household.
    Enforcement,
    /// The roster correction of one member, with the roster page's audit entry.
    Correct {
        resident_id: i64,
        correction: Correction,
        audit: AuditEntry,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DoorPlan {
    pub outcome: DoorOutcome,
    pub effect: DoorEffect,
}

/// The samples of a door-knock report as the worker's device batch: for each member a
/// single tube opened, the sample added and the tube sealed.
pub fn door_batch(task: &DoorTask, samples: &[DoorSample], by: i64, at: DateTime<Utc>) -> ScanBatch {
    let mut items = Vec::with_capacity(samples.len() * 3);
    for s in samples {
        let (tube, rid) = (s.tube.clone(), s.resident_id);
        items.push(ScanItem::Open {
            client_id: format!("open-{rid}"),
            tube: tube.clone(),
            capacity: PoolCapacity::SINGLE,
            at,
        });
        items.push(ScanItem::Sample {
            client_id: format!("sample-{rid}"),
            tube: tube.clone(),
            person: ScanPerson::ResidentId(rid),
            at,
        });
        items.push(ScanItem::Seal { client_id: format!("seal-{rid}"), tube, at });
    }
    ScanBatch { batch_id: format!("door-task-{}", task.id), round_id: task.round_id, user_id: by, scope: None, items }
}

/// The first refusal in the planned ingest of a [`door_batch`], about its member; `None`
/// when every tube is opened, filled and sealed.
pub fn door_ingest_refusal(samples: &[DoorSample], plan: &IngestPlan) -> Option<DoorRefusal> {
    if plan.outcomes.len() != samples.len() * 3 {
        return Some(Refusal::AlreadySampled.error().into());
    }
    for (s, o) in samples.iter().zip(plan.outcomes.chunks(3)) {
        for (i, step) in o.iter().enumerate() {
            // Sealing a tube the sample filled (it sealed itself) is a replay, not a refusal.
            let ok = step.code == "ok" || (i == 2 && step.code == "replayed");
            if !ok || (i == 2 && !step.sealed) {
                let e = step.error.clone().unwrap_or_else(|| Refusal::TubeState.error());
                return Some(DoorRefusal::about(s.resident_id, e));
            }
        }
    }
    None
}

/// Plans an outcome reported at the door. A task that has its outcome already is a
/// conflict (`task_done`); a report is refused when it names no sample, a member or a
/// tube twice, a member not of the household, a member not on the round's missed list
/// (moved out or exempt), a tube barcode used before, or — for wrong data — a member not
/// of the household.
pub fn plan_door(
    task: &DoorTask,
    report: &DoorReport,
    facts: &DoorFacts,
    by: i64,
    at: DateTime<Utc>,
) -> Result<Result<DoorPlan, DoorRefusal>, StoreError> {
    if task.outcome.is_some() {
        return Err(StoreError::Conflict {
            code: "task_done",
            message: "the door-knock task already has an outcome".into(),
        });
    }
    if let Err(e) = report.check() {
        return Ok(Err(e));
    }
    let in_household = |rid: i64| facts.named.get(&rid).filter(|m| m.household == task.household_id);
    let effect = match report {
        DoorReport::SampledAtDoor { samples, audit } => {
            for s in samples {
                let refuse = |r: Refusal| Ok(Err(door_refusal(r, s.resident_id)));
                match in_household(s.resident_id) {
                    None => return refuse(Refusal::NotInHousehold),
                    Some(m) if !m.active => return refuse(Refusal::NotMissing),
                    Some(_) => {}
                }
                if facts.exempt.contains(&s.resident_id) {
                    return refuse(Refusal::NotMissing);
                }
                if let Some(round) = facts.tubes.get(s.tube.as_str()) {
                    return refuse(if *round == task.round_id { Refusal::TubeUsed } else { Refusal::TubeOtherRound });
                }
            }
            DoorEffect::Ingest { batch: door_batch(task, samples, by, at), audit: audit.clone() }
        }
        DoorReport::WrongData { resident_id, correction, audit } => {
            if in_household(*resident_id).is_none() {
                return Ok(Err(door_refusal(Refusal::NotInHousehold, *resident_id)));
            }
            DoorEffect::Correct { resident_id: *resident_id, correction: correction.clone(), audit: audit.clone() }
        }
        DoorReport::AwayWithProof => DoorEffect::Exempt(facts.unsampled.clone()),
        DoorReport::Refused => DoorEffect::Enforcement,
        DoorReport::NotHome => DoorEffect::None,
    };
    Ok(Ok(DoorPlan { outcome: report.outcome(), effect }))
}
