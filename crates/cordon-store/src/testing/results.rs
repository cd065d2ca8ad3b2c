//! Lab results with the positive-pool chase, planned once for both backends.
//!
//! A backend looks up the results' tubes by barcode, then the members of those tubes,
//! then what the chase needs about the members (their households' controls and marks,
//! the sampling sites serving their units, whether they are cases already): the keys of
//! each step come from this module ([`result_barcodes`], [`ResultFacts::tube_ids`],
//! [`ResultFacts::member_keys`]). [`plan_results`] turns the facts into every effect —
//! tubes resulted, members marked and households put under home control, re-sampling
//! tasks, alerts, the chase's record, marks cleared or confirmed by individual results,
//! home control lifted, cases, invalid tubes' members returned to the missed lists — and
//! the answer. All or nothing: one refused row and nothing is written.

use super::{ChaseSummary, NewResult, ResultRowError, ResultsReport};
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::testing::{Refusal, TestResult, TubeEvent, TubeState, transition};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The barcodes to look up, in the order of the results.
pub fn result_barcodes(results: &[NewResult]) -> Vec<String> {
    results.iter().map(|r| r.tube.as_str().to_string()).collect()
}

/// A stored tube as a result needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultTube {
    pub id: i64,
    pub round_id: i64,
    pub capacity: u32,
    pub state: TubeState,
}

/// A registered person sampled into a tube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub resident_id: i64,
    pub unit: AreaCode,
    pub household: i64,
}

/// Who the chase needs to know about: the residents and households of the members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberKeys {
    pub resident_ids: Vec<i64>,
    pub households: Vec<i64>,
    /// Each household with the unit it lives in (a household is within one unit: the key
    /// an index on units reaches it by).
    pub household_units: Vec<(i64, String)>,
    /// Every area on the lineage of a member's unit (the nearest sampling site).
    pub areas: Vec<String>,
}

/// A pool-positive mark (单采单检) as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkStatus {
    Pending,
    Cleared,
    Confirmed,
}

impl MarkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkStatus::Pending => "pending",
            MarkStatus::Cleared => "cleared",
            MarkStatus::Confirmed => "confirmed",
        }
    }
    pub fn parse(s: &str) -> Option<MarkStatus> {
        [MarkStatus::Pending, MarkStatus::Cleared, MarkStatus::Confirmed].into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFacts {
    /// One per result, in order: the tube with that barcode, if any.
    pub tubes: Vec<Option<ResultTube>>,
    /// Registered members of each found tube, by tube id, ordered by resident id.
    pub members: HashMap<i64, Vec<Member>>,
    /// Households (of [`MemberKeys::households`]) under home control.
    pub controlled: HashSet<i64>,
    /// Residents of those households with a pending or confirmed mark, any round.
    pub marked: HashMap<i64, HashSet<i64>>,
    /// Members (of [`MemberKeys::resident_ids`]) with a pending mark, any round.
    pub pending: HashSet<i64>,
    /// Members who are cases already.
    pub cases: HashSet<i64>,
    /// For areas of [`MemberKeys::areas`] that a sampling site serves: the lowest site id.
    pub sites: HashMap<String, i64>,
}

impl ResultFacts {
    /// The ids of the found tubes whose members the plan needs.
    pub fn tube_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.tubes.iter().flatten().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The keys of the chase's facts about the members, once [`ResultFacts::members`] is in.
    pub fn member_keys(&self) -> MemberKeys {
        let (mut rs, mut hs, mut areas) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut hu = BTreeSet::new();
        for m in self.members.values().flatten() {
            rs.insert(m.resident_id);
            hs.insert(m.household);
            hu.insert((m.household, m.unit.as_str().to_string()));
            areas.extend(m.unit.lineage().iter().map(|a| a.as_str().to_string()));
        }
        MemberKeys {
            resident_ids: rs.into_iter().collect(),
            households: hs.into_iter().collect(),
            household_units: hu.into_iter().collect(),
            areas: areas.into_iter().collect(),
        }
    }

    /// The site serving the deepest area above `unit` (the nearest team).
    fn nearest_site(&self, unit: &AreaCode) -> Option<i64> {
        unit.lineage().iter().rev().find_map(|a| self.sites.get(a.as_str()).copied())
    }
}

/// Why a re-sampling task exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleReason {
    PoolPositive,
    Invalid,
}

impl ResampleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResampleReason::PoolPositive => "pool_positive",
            ResampleReason::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resulted {
    pub tube_id: i64,
    pub result: TestResult,
    pub ct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMark {
    pub round_id: i64,
    pub resident_id: i64,
    pub tube_id: i64,
    pub unit: AreaCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResampleTask {
    pub round_id: i64,
    pub resident_id: i64,
    pub tube_id: i64,
    pub site_id: Option<i64>,
    pub reason: ResampleReason,
}

/// A positive pool's chase, as recorded (its `chased_at` is stamped by the backend when
/// the effects are written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaseRow {
    pub tube_id: i64,
    pub round_id: i64,
    pub members: u32,
    pub households_controlled: u32,
    pub tasks_created: u32,
}

/// Everything a set of results writes, in the order a backend applies it: tubes, marks
/// and tasks, controls, alerts and chases, resolved marks (with their open tasks done),
/// lifted controls, cases, invalid tubes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultsPlan {
    pub resulted: Vec<Resulted>,
    pub marks: Vec<NewMark>,
    pub tasks: Vec<NewResampleTask>,
    /// (household, source tube) newly under home control.
    pub controls: Vec<(i64, i64)>,
    /// Positive pools: one alert and one chase each.
    pub chases: Vec<ChaseRow>,
    /// Residents whose pending marks an individual result resolves.
    pub resolved: Vec<(i64, MarkStatus)>,
    /// Households whose home control ends: nobody in them pending or confirmed any more.
    pub lifted: Vec<i64>,
    /// Individual positives who become cases: (resident, source tube).
    pub cases: Vec<(i64, i64)>,
    /// Tubes whose samples go back to the missed lists (kept as invalid samples).
    pub invalid_tubes: Vec<i64>,
    /// The answer, with each chase's `chased_at` still at the result's time.
    pub report: ResultsReport,
}

/// Each tube a plan results, with its result and capacity, for the capabilities that
/// follow individual results (a quarantine order's scheduled tests).
pub fn resulted_tubes(plan: &ResultsPlan, facts: &ResultFacts) -> Vec<(i64, TestResult, u32)> {
    plan.resulted
        .iter()
        .filter_map(|r| {
            facts.tubes.iter().flatten().find(|t| t.id == r.tube_id).map(|t| (r.tube_id, r.result, t.capacity))
        })
        .collect()
}

/// The rows refused, with why: a tube not found, named twice (refused the second time),
/// or not in a state to take a result.
fn check(results: &[NewResult], tubes: &[Option<ResultTube>]) -> Vec<ResultRowError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (r, t) in results.iter().zip(tubes) {
        let err = match t {
            None => Some(Refusal::TubeUnknown.error()),
            Some(_) if !seen.insert(r.tube.as_str()) => Some(Refusal::ResultExists.error()),
            Some(t) => transition(t.state, TubeEvent::RecordResult).err(),
        };
        if let Some(error) = err {
            errors.push(ResultRowError { row: r.row, tube: r.tube.as_str().to_string(), error });
        }
    }
    errors
}

/// Plans results recorded by the lab at `at`. Rules:
/// - every row must name a tube able to take a result, else nothing is written;
/// - a positive pooled tube chases its members at once: each marked pending (单采单检)
///   with a single-tube re-sampling task at the site nearest their unit, their
///   households put under home control (counted once), the tracer alerted;
/// - an individual (single-tube) result resolves the person's pending marks — negative
///   clears (and lifts the household's control once nobody there is pending or
///   confirmed), positive confirms and makes a case (once per person);
/// - an invalid tube's members go back to the missed lists with re-sampling tasks.
pub fn plan_results(results: &[NewResult], facts: &ResultFacts, at: DateTime<Utc>) -> ResultsPlan {
    let errors = check(results, &facts.tubes);
    if !errors.is_empty() {
        return ResultsPlan {
            report: ResultsReport { committed: false, recorded: 0, errors, chases: Vec::new(), cases: 0 },
            ..ResultsPlan::default()
        };
    }
    let mut plan = ResultsPlan::default();
    let mut controlled = facts.controlled.clone();
    let mut marked = facts.marked.clone();
    let mut pending = facts.pending.clone();
    let mut cases = facts.cases.clone();
    let none = Vec::new();
    for (r, t) in results.iter().zip(&facts.tubes) {
        let Some(t) = t else { continue };
        plan.resulted.push(Resulted { tube_id: t.id, result: r.result, ct: r.ct });
        let members = facts.members.get(&t.id).unwrap_or(&none);
        match r.result {
            TestResult::Positive if t.capacity > 1 => {
                let mut households = 0u32;
                for m in members {
                    plan.marks.push(NewMark {
                        round_id: t.round_id,
                        resident_id: m.resident_id,
                        tube_id: t.id,
                        unit: m.unit.clone(),
                    });
                    pending.insert(m.resident_id);
                    marked.entry(m.household).or_default().insert(m.resident_id);
                    plan.tasks.push(NewResampleTask {
                        round_id: t.round_id,
                        resident_id: m.resident_id,
                        tube_id: t.id,
                        site_id: facts.nearest_site(&m.unit),
                        reason: ResampleReason::PoolPositive,
                    });
                    if controlled.insert(m.household) {
                        plan.controls.push((m.household, t.id));
                        households += 1;
                    }
                }
                let n = members.len() as u32;
                plan.chases.push(ChaseRow {
                    tube_id: t.id,
                    round_id: t.round_id,
                    members: n,
                    households_controlled: households,
                    tasks_created: n,
                });
                plan.report.chases.push(ChaseSummary {
                    tube: r.tube.as_str().to_string(),
                    round_id: t.round_id,
                    members: n,
                    households_controlled: households,
                    tasks_created: n,
                    result_at: at,
                    chased_at: at,
                    resampled: 0,
                    resampled_at: None,
                });
            }
            TestResult::Positive | TestResult::Negative => {
                let positive = r.result == TestResult::Positive;
                for m in members {
                    if pending.remove(&m.resident_id) {
                        let status = if positive { MarkStatus::Confirmed } else { MarkStatus::Cleared };
                        plan.resolved.push((m.resident_id, status));
                        if !positive {
                            let hh = marked.entry(m.household).or_default();
                            hh.remove(&m.resident_id);
                            if hh.is_empty() && controlled.remove(&m.household) {
                                plan.lifted.push(m.household);
                            }
                        }
                    }
                    if positive && cases.insert(m.resident_id) {
                        plan.cases.push((m.resident_id, t.id));
                        plan.report.cases += 1;
                    }
                }
            }
            TestResult::Invalid => {
                plan.invalid_tubes.push(t.id);
                for m in members {
                    plan.tasks.push(NewResampleTask {
                        round_id: t.round_id,
                        resident_id: m.resident_id,
                        tube_id: t.id,
                        site_id: facts.nearest_site(&m.unit),
                        reason: ResampleReason::Invalid,
                    });
                }
            }
        }
    }
    plan.report.committed = true;
    plan.report.recorded = plan.resulted.len() as u32;
    plan
}
