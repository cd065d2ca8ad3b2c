//! The sample ingest, planned once for both backends: which facts a device batch needs
//! ([`ingest_keys`]), the facts as a backend hands them over ([`IngestFacts`]), and the
//! pure [`plan_ingest`] that applies every rule of opening, sampling, sealing and undoing
//! — refusals, replays, the auto-seal of a full tube — and returns the answers with the
//! rows to write ([`IngestPlan`]).
//!
//! A backend fetches exactly the facts the keys name (the people of the batch's sample
//! entries, the batch's tubes, and the prior samples of every person the batch samples
//! or undoes — in this round, whichever batch wrote them), calls the plan, and writes it
//! in the same transaction; it decides nothing. Each entry sees the effects of the
//! entries before it in the batch.

use super::{BatchReport, ScanBatch, ScanItem, ScanOutcome, ScanPerson};
use chrono::{DateTime, Utc};
use cordon_domain::testing::{Refusal, TestRound, TubeEvent, TubeState, transition};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a batch's plan needs to know, by key. Every list is sorted and free of duplicates
/// (consecutive index probes share pages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestKeys {
    /// The barcodes of every entry's tube.
    pub barcodes: Vec<String>,
    /// Registered people sampled by ID number.
    pub id_numbers: Vec<String>,
    /// Registered people sampled by resident id.
    pub resident_ids: Vec<i64>,
    /// People whose sample an undo takes out: their prior sample is a fact the plan
    /// needs, whichever batch made it.
    pub undo_ids: Vec<i64>,
    /// Visitors' ID numbers (a visitor is sampled once per round).
    pub visitor_ids: Vec<String>,
}

impl IngestKeys {
    /// The residents whose prior sample in the round and whose household's control the
    /// facts must carry: the people found for the batch's sample entries, and every
    /// resident an undo names.
    pub fn person_ids<'a>(&self, found: impl IntoIterator<Item = &'a PersonFact>) -> Vec<i64> {
        let mut ids: Vec<i64> = found.into_iter().map(|p| p.id).chain(self.undo_ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

pub fn tube_of(item: &ScanItem) -> &str {
    match item {
        ScanItem::Open { tube, .. }
        | ScanItem::Sample { tube, .. }
        | ScanItem::Seal { tube, .. }
        | ScanItem::Undo { tube, .. } => tube.as_str(),
    }
}

/// The keys of a batch's facts.
pub fn ingest_keys(b: &ScanBatch) -> IngestKeys {
    let mut k = IngestKeys::default();
    for item in &b.items {
        k.barcodes.push(tube_of(item).to_string());
        match item {
            ScanItem::Sample { person: ScanPerson::IdNumber(n), .. } => k.id_numbers.push(n.as_str().to_string()),
            ScanItem::Sample { person: ScanPerson::ResidentId(id), .. } => k.resident_ids.push(*id),
            ScanItem::Sample { person: ScanPerson::Visitor { id_number, .. }, .. } => {
                k.visitor_ids.push(id_number.as_str().to_string())
            }
            ScanItem::Undo { resident_id, .. } => k.undo_ids.push(*resident_id),
            ScanItem::Open { .. } | ScanItem::Seal { .. } => {}
        }
    }
    for v in [&mut k.barcodes, &mut k.id_numbers, &mut k.visitor_ids] {
        v.sort_unstable();
        v.dedup();
    }
    for v in [&mut k.resident_ids, &mut k.undo_ids] {
        v.sort_unstable();
        v.dedup();
    }
    k
}

/// A stored tube as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TubeFact {
    pub id: i64,
    pub round_id: i64,
    pub capacity: u32,
    pub state: TubeState,
    pub count: u32,
}

/// An active resident found for a sample entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFact {
    pub id: i64,
    pub unit: Arc<str>,
    pub household: i64,
    /// 张*明: what the answer may say of the person.
    pub masked: Arc<str>,
}

/// The facts of one batch, fetched by a backend for [`ingest_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestFacts {
    pub round: TestRound,
    /// Stored tubes by barcode.
    pub tubes: HashMap<String, TubeFact>,
    /// One slot per batch entry: the active resident a sample entry names, `None` for
    /// other entries and for people not found.
    pub people: Vec<Option<PersonFact>>,
    /// The tube of the round's sample of each resident in [`IngestKeys::person_ids`] who
    /// has one.
    pub prior_samples: HashMap<i64, i64>,
    /// Visitors of [`IngestKeys::visitor_ids`] already sampled in the round.
    pub prior_visitors: HashSet<String>,
    /// Households of the people found that are under home control.
    pub controlled: HashSet<i64>,
    /// People of [`IngestKeys::person_ids`] with a pending pool-positive mark (any round):
    /// they may be re-sampled into a single tube.
    pub marked: HashSet<i64>,
    /// Their re-samples in this round: resident → the tubes.
    pub prior_resamples: HashMap<i64, Vec<i64>>,
}

/// A tube as the plan writes it: stored (by id) or opened by this batch (by its index in
/// [`IngestPlan::new_tubes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TubeRef {
    Stored(i64),
    New(usize),
}

/// A tube the batch opens, with its state at the end of the batch (inserted once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTube {
    pub barcode: String,
    pub capacity: u32,
    pub state: TubeState,
    pub count: u32,
    pub opened_at: DateTime<Utc>,
    pub sealed_at: Option<DateTime<Utc>>,
}

/// A stored tube the batch changed: its count and state at the end of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TubeChange {
    pub id: i64,
    pub count: u32,
    pub state: TubeState,
    /// Set when the batch sealed it.
    pub sealed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSample {
    pub resident_id: i64,
    pub tube: TubeRef,
    pub unit: Arc<str>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisitorSample {
    pub tube: TubeRef,
    pub id_number: String,
    pub phone: Option<String>,
    pub at: DateTime<Utc>,
}

/// What a batch writes, with its answers. Everything is done by the batch's user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngestPlan {
    /// One per entry, without client ids and tube barcodes (see [`name_outcomes`]).
    pub outcomes: Vec<ScanOutcome>,
    /// Samples the batch adds, net of the undos of its own samples.
    pub accepted: u32,
    pub new_tubes: Vec<NewTube>,
    pub changed_tubes: Vec<TubeChange>,
    /// Stored samples taken out again: (resident id, tube id).
    pub undone: Vec<(i64, i64)>,
    pub samples: Vec<NewSample>,
    pub visitors: Vec<NewVisitorSample>,
    /// Pool-positive members re-sampled into single tubes.
    pub resamples: Vec<NewSample>,
    /// Marked people whose individual sample (a re-sample, or a single tube of a later
    /// round) the batch took, and when: their re-sampling tasks are sampled then.
    pub tasks_sampled: Vec<(i64, DateTime<Utc>)>,
}

impl IngestPlan {
    /// The batch's answer (before [`name_outcomes`]).
    pub fn report(&self, batch_id: &str) -> BatchReport {
        BatchReport {
            batch_id: batch_id.to_string(),
            replayed: false,
            accepted: self.accepted,
            outcomes: self.outcomes.clone(),
        }
    }

    pub fn into_report(self, batch_id: &str) -> BatchReport {
        BatchReport {
            batch_id: batch_id.to_string(),
            replayed: false,
            accepted: self.accepted,
            outcomes: self.outcomes,
        }
    }
}

/// The answer to a batch whose id was applied before: nothing is written again.
pub fn replayed_report(batch_id: &str, accepted: u32) -> BatchReport {
    BatchReport { batch_id: batch_id.to_string(), replayed: true, accepted, outcomes: Vec::new() }
}

/// Fills in what the plan leaves out of a batch's outcomes: each entry's client id, and
/// its tube's barcode where the outcome names a tube. Backends call it once the
/// transaction is over (off SQLite's single writer).
pub fn name_outcomes(b: &ScanBatch, report: &mut BatchReport) {
    for (item, o) in b.items.iter().zip(report.outcomes.iter_mut()) {
        o.client_id = item.client_id().to_string();
        if o.tube.is_some() {
            o.tube = Some(tube_of(item).to_string());
        }
    }
}

/// A tube while the batch is applied.
struct Tube {
    r: TubeRef,
    round_id: i64,
    capacity: u32,
    state: TubeState,
    count: u32,
    sealed_at: Option<DateTime<Utc>>,
    dirty: bool,
}

/// Where a resident's sample of the round is while the batch is applied.
#[derive(Clone, Copy)]
enum Sampled {
    /// Stored before the batch, in this tube.
    Stored(i64),
    /// Added by the batch: index into the plan's samples.
    Added(usize, TubeRef),
}

impl Sampled {
    fn tube(self) -> TubeRef {
        match self {
            Sampled::Stored(id) => TubeRef::Stored(id),
            Sampled::Added(_, t) => t,
        }
    }
}

fn answer(code: Result<(), Refusal>, replay: bool, tube: Option<&Tube>) -> ScanOutcome {
    let (code, error) = match code {
        Ok(()) if replay => ("replayed", None),
        Ok(()) => ("ok", None),
        Err(r) => (r.code(), Some(r.error())),
    };
    ScanOutcome {
        client_id: String::new(),
        code,
        error,
        tube: tube.map(|_| String::new()),
        count: tube.map_or(0, |t| t.count),
        capacity: tube.map_or(0, |t| t.capacity),
        sealed: tube.is_some_and(|t| t.state != TubeState::Open),
        resident_id: None,
        masked_name: None,
        visitor: false,
        resample: false,
    }
}

fn ok(t: &Tube) -> ScanOutcome {
    answer(Ok(()), false, Some(t))
}
fn replay(t: &Tube) -> ScanOutcome {
    answer(Ok(()), true, Some(t))
}
fn refuse(r: Refusal, t: Option<&Tube>) -> ScanOutcome {
    answer(Err(r), false, t)
}

/// Seals the tube when the sample that just went in filled it.
fn autoseal(t: &mut Tube, at: DateTime<Utc>, o: &mut ScanOutcome) {
    if o.code == "ok" && t.state == TubeState::Open && t.count >= t.capacity {
        t.state = TubeState::Sealed;
        t.sealed_at = Some(at);
        t.dirty = true;
        o.sealed = true;
    }
    o.count = t.count;
}

/// Opens a tube in the batch: it is written at the end, with the state the batch left it in.
fn open_new<'a, 'm>(
    tubes: &'m mut HashMap<&'a str, Tube>,
    opened_at: &mut Vec<DateTime<Utc>>,
    code: &'a str,
    round_id: i64,
    capacity: u32,
    at: DateTime<Utc>,
) -> &'m Tube {
    let r = TubeRef::New(opened_at.len());
    opened_at.push(at);
    let t = Tube { r, round_id, capacity, state: TubeState::Open, count: 0, sealed_at: None, dirty: true };
    tubes.entry(code).insert_entry(t).into_mut()
}

/// Applies a batch to its facts, entry by entry (a refused entry does not stop the
/// others): every rule of the ingest, and nothing else.
///
/// - **Open** starts a tube with the given capacity; opening an open tube of the round
///   again is a retry.
/// - **Sample** puts a registered resident (found by ID number or id) or a visitor into a
///   tube, opening it with the round's pool size when the device did not. Refused: a
///   tube of another round, someone not registered (to be recorded as a visitor), a
///   resident outside the round's area, a full or sealed tube, a person under home
///   control into a pooled tube, a second sample in the round. The same sample again is a
///   replay. A tube the sample fills seals itself.
/// - **Seal** closes a tube holding at least one sample; sealing it again is a replay.
/// - **Undo** takes a resident's sample out of an open tube, whichever batch added it.
pub fn plan_ingest(b: &ScanBatch, facts: IngestFacts) -> IngestPlan {
    let IngestFacts {
        round,
        tubes: stored,
        mut people,
        prior_samples,
        prior_visitors,
        controlled,
        marked,
        prior_resamples,
    } = facts;
    let mut plan = IngestPlan { outcomes: Vec::with_capacity(b.items.len()), ..IngestPlan::default() };
    let mut tubes: HashMap<&str, Tube> = HashMap::new();
    let mut sampled: HashMap<i64, Sampled> = prior_samples.into_iter().map(|(r, t)| (r, Sampled::Stored(t))).collect();
    let mut visitors = prior_visitors;
    let mut resampled: HashMap<i64, Vec<TubeRef>> =
        prior_resamples.into_iter().map(|(r, tubes)| (r, tubes.into_iter().map(TubeRef::Stored).collect())).collect();
    let in_scope = |unit: &str| b.scope.as_ref().is_none_or(|roots| roots.iter().any(|r| unit.starts_with(r.as_str())));
    // Samples of the batch taken out again by a later undo of the batch.
    let mut dropped: HashSet<usize> = HashSet::new();
    let mut opened_at: Vec<DateTime<Utc>> = Vec::new();

    for (idx, item) in b.items.iter().enumerate() {
        let code = tube_of(item);
        if !tubes.contains_key(code)
            && let Some(f) = stored.get(code)
        {
            tubes.insert(
                code,
                Tube {
                    r: TubeRef::Stored(f.id),
                    round_id: f.round_id,
                    capacity: f.capacity,
                    state: f.state,
                    count: f.count,
                    sealed_at: None,
                    dirty: false,
                },
            );
        }
        let o = match item {
            ScanItem::Open { capacity, at, .. } => match tubes.get(code) {
                Some(t) if t.round_id != round.id => refuse(Refusal::TubeOtherRound, Some(t)),
                Some(t) if t.state != TubeState::Open => refuse(Refusal::TubeNotOpen, Some(t)),
                Some(t) => ok(t),
                None => ok(open_new(&mut tubes, &mut opened_at, code, round.id, capacity.get(), *at)),
            },
            ScanItem::Seal { at, .. } => match tubes.get_mut(code) {
                None => refuse(Refusal::TubeUnknown, None),
                Some(t) if t.round_id != round.id => refuse(Refusal::TubeOtherRound, Some(t)),
                Some(t) if t.state == TubeState::Sealed => replay(t),
                Some(t) => match transition(t.state, TubeEvent::Seal) {
                    Ok(next) if t.count > 0 => {
                        t.state = next;
                        t.sealed_at = Some(*at);
                        t.dirty = true;
                        ok(t)
                    }
                    Ok(_) => refuse(Refusal::TubeEmpty, Some(t)),
                    Err(_) => refuse(Refusal::TubeNotOpen, Some(t)),
                },
            },
            ScanItem::Undo { resident_id, .. } => match tubes.get_mut(code) {
                None => refuse(Refusal::TubeUnknown, None),
                Some(t) if t.round_id != round.id => refuse(Refusal::TubeOtherRound, Some(t)),
                Some(t) if t.state != TubeState::Open => refuse(Refusal::TubeNotOpen, Some(t)),
                // A re-sample goes into a single tube, which its sample seals: there is
                // nothing of it to undo.
                Some(t) => match sampled.get(resident_id).copied() {
                    Some(s) if s.tube() == t.r => {
                        sampled.remove(resident_id);
                        match s {
                            Sampled::Stored(tube_id) => plan.undone.push((*resident_id, tube_id)),
                            Sampled::Added(i, _) => {
                                dropped.insert(i);
                                plan.accepted = plan.accepted.saturating_sub(1);
                            }
                        }
                        t.count = t.count.saturating_sub(1);
                        t.dirty = true;
                        let mut o = ok(t);
                        o.resident_id = Some(*resident_id);
                        o
                    }
                    _ => refuse(Refusal::NotInTube, Some(t)),
                },
            },
            ScanItem::Sample { person, at, .. } => {
                if !tubes.contains_key(code) {
                    open_new(&mut tubes, &mut opened_at, code, round.id, round.pool.get(), *at);
                }
                let Some(t) = tubes.get_mut(code) else {
                    plan.outcomes.push(refuse(Refusal::TubeUnknown, None));
                    continue;
                };
                if t.round_id != round.id {
                    plan.outcomes.push(refuse(Refusal::TubeOtherRound, Some(t)));
                    continue;
                }
                let room = t.state == TubeState::Open && t.count < t.capacity;
                let no_room = if t.state == TubeState::Open { Refusal::TubeFull } else { Refusal::TubeNotOpen };
                let mut o = match person {
                    ScanPerson::Visitor { id_number, phone } => {
                        let mut o = if !room {
                            refuse(no_room, Some(t))
                        } else if !visitors.insert(id_number.as_str().to_string()) {
                            refuse(Refusal::AlreadySampled, Some(t))
                        } else {
                            plan.visitors.push(NewVisitorSample {
                                tube: t.r,
                                id_number: id_number.as_str().to_string(),
                                phone: phone.as_ref().map(|p| p.as_str().to_string()),
                                at: *at,
                            });
                            t.count += 1;
                            t.dirty = true;
                            plan.accepted += 1;
                            ok(t)
                        };
                        o.visitor = true;
                        o
                    }
                    ScanPerson::IdNumber(_) | ScanPerson::ResidentId(_) => {
                        // Someone not found, and someone registered outside the user's
                        // area, get the same answer: it reveals nothing about the person.
                        let Some(p) = people.get_mut(idx).and_then(Option::take).filter(|p| in_scope(&p.unit)) else {
                            plan.outcomes.push(refuse(Refusal::NotResident, Some(t)));
                            continue;
                        };
                        let prior = sampled.get(&p.id).map(|s| s.tube());
                        let in_round = p.unit.starts_with(round.area.as_str());
                        let single = t.capacity == 1;
                        let mut resample = false;
                        let mut o = match prior {
                            Some(r) if r == t.r => replay(t),
                            // A positive pool's member, individually: a re-sample, not a
                            // second sample.
                            Some(_) if single && marked.contains(&p.id) => {
                                let before = resampled.get(&p.id).map_or(&[][..], Vec::as_slice);
                                if before.contains(&t.r) {
                                    replay(t)
                                } else if !before.is_empty() {
                                    refuse(Refusal::AlreadyResampled, Some(t))
                                } else if !room {
                                    refuse(no_room, Some(t))
                                } else {
                                    resampled.entry(p.id).or_default().push(t.r);
                                    plan.resamples.push(NewSample {
                                        resident_id: p.id,
                                        tube: t.r,
                                        unit: Arc::clone(&p.unit),
                                        at: *at,
                                    });
                                    plan.tasks_sampled.push((p.id, *at));
                                    t.count += 1;
                                    t.dirty = true;
                                    plan.accepted += 1;
                                    resample = true;
                                    ok(t)
                                }
                            }
                            // Marked, but scanned into a pooled tube: a re-sample is single.
                            Some(_) if marked.contains(&p.id) => refuse(Refusal::ResampleSingleTube, Some(t)),
                            Some(_) => refuse(Refusal::AlreadySampled, Some(t)),
                            None if !in_round => refuse(Refusal::OutOfRound, Some(t)),
                            None if !room => refuse(no_room, Some(t)),
                            None if !single && controlled.contains(&p.household) => {
                                refuse(Refusal::NeedsSingleTube, Some(t))
                            }
                            None => {
                                sampled.insert(p.id, Sampled::Added(plan.samples.len(), t.r));
                                plan.samples.push(NewSample {
                                    resident_id: p.id,
                                    tube: t.r,
                                    unit: Arc::clone(&p.unit),
                                    at: *at,
                                });
                                if single && marked.contains(&p.id) {
                                    plan.tasks_sampled.push((p.id, *at));
                                }
                                t.count += 1;
                                t.dirty = true;
                                plan.accepted += 1;
                                ok(t)
                            }
                        };
                        o.resident_id = Some(p.id);
                        o.masked_name = Some(p.masked.to_string());
                        o.resample = resample;
                        o
                    }
                };
                autoseal(t, *at, &mut o);
                o
            }
        };
        plan.outcomes.push(o);
    }

    if !dropped.is_empty() {
        let gone: HashSet<i64> =
            plan.samples.iter().enumerate().filter(|(i, _)| dropped.contains(i)).map(|(_, s)| s.resident_id).collect();
        plan.samples = std::mem::take(&mut plan.samples)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, s)| s)
            .collect();
        // Someone undone is not sampled for their re-sampling task either.
        plan.tasks_sampled.retain(|(r, _)| !gone.contains(r) || plan.samples.iter().any(|s| s.resident_id == *r));
    }
    let mut new_tubes: Vec<Option<NewTube>> = vec![None; opened_at.len()];
    let mut changed = Vec::new();
    for (code, t) in tubes {
        match t.r {
            TubeRef::New(i) => {
                new_tubes[i] = Some(NewTube {
                    barcode: code.to_string(),
                    capacity: t.capacity,
                    state: t.state,
                    count: t.count,
                    opened_at: opened_at[i],
                    sealed_at: t.sealed_at,
                })
            }
            TubeRef::Stored(id) if t.dirty => {
                changed.push(TubeChange { id, count: t.count, state: t.state, sealed_at: t.sealed_at })
            }
            TubeRef::Stored(_) => {}
        }
    }
    changed.sort_unstable_by_key(|c| c.id);
    plan.changed_tubes = changed;
    plan.new_tubes = new_tubes.into_iter().flatten().collect();
    plan
}
