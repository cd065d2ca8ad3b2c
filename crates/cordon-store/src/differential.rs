//! The differential test: the same random sequences of mass-testing requests sent to two
//! backends through the [`Store`] trait, every answer and every read-back compared.
//!
//! A sequence is device batches of opens, samples, seals and undos (people by ID number,
//! by resident id, unknown, visitors; tubes from a small set so that entries meet in the
//! same tubes), split across batches at random, interleaved with boxing, lab receipt,
//! results (negative, positive, invalid), exemptions, door-knock tasks and their outcomes.
//! After each request the two answers must be equal (ids and wall-clock stamps aside);
//! at the end the coverage of every level, the missed lists, the tubes, the chases, the
//! marks, the tasks and every pooled person's colour state must be equal too. It finds
//! what a hand-written case misses: the sampler's undo of a person sampled in an earlier
//! batch, which PostgreSQL once refused (`not_in_tube`) while SQLite accepted it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Store;
use crate::conformance::{District, audit_entry, load_district, t};
use crate::testing::*;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::id_number::IdNumber;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::testing::{BarcodePattern, ExemptionReason, NewRound, PoolCapacity, TestResult, TubeBarcode};
use proptest::prelude::*;
use std::future::Future;
use std::sync::Arc;

/// Tubes a sequence uses, and people it scans.
const TUBES: u32 = 6;
const PEOPLE: usize = 14;

/// Who a sample entry names.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    /// A pooled resident, by ID number.
    ByIdNumber(usize),
    /// A pooled resident, by resident id (a health code, a door).
    ById(usize),
    /// An ID number nobody has.
    Unknown(u8),
    Visitor(u8),
}

#[derive(Debug, Clone)]
pub enum Entry {
    Open(u32, u32),
    Sample(u32, Who),
    Seal(u32),
    Undo(u32, usize),
}

#[derive(Debug, Clone)]
pub enum Op {
    /// Device batches: the entries split at the given points.
    Scans(Vec<Entry>, Vec<usize>),
    /// The same batch again (a device retry).
    Retry,
    Box(Vec<u32>),
    Receive(u32),
    Results(Vec<(u32, TestResult)>),
    Exempt(usize),
    /// Door-knock tasks for every household still missing.
    Tasks,
    /// An outcome of the task at this position of the round's task list.
    Door(usize, DoorKind),
}

#[derive(Debug, Clone, Copy)]
pub enum DoorKind {
    /// Swab the first `n` missing members into fresh tubes `base..`.
    Sampled(usize, u32),
    NotHome,
    AwayWithProof,
    Refused,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        6 => (0..PEOPLE).prop_map(Who::ByIdNumber),
        2 => (0..PEOPLE).prop_map(Who::ById),
        1 => (0u8..3).prop_map(Who::Unknown),
        1 => (0u8..3).prop_map(Who::Visitor),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        1 => (0..TUBES, prop::sample::select(vec![1u32, 5, 10])).prop_map(|(t, c)| Entry::Open(t, c)),
        6 => (0..TUBES, who()).prop_map(|(t, w)| Entry::Sample(t, w)),
        2 => (0..TUBES).prop_map(Entry::Seal),
        2 => (0..TUBES, 0..PEOPLE).prop_map(|(t, p)| Entry::Undo(t, p)),
    ]
}

fn result() -> impl Strategy<Value = TestResult> {
    prop_oneof![4 => Just(TestResult::Negative), 3 => Just(TestResult::Positive), 1 => Just(TestResult::Invalid)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec(entry(), 1..14), prop::collection::vec(0usize..14, 0..4))
            .prop_map(|(e, s)| Op::Scans(e, s)),
        1 => Just(Op::Retry),
        2 => prop::collection::vec(0..TUBES, 1..3).prop_map(Op::Box),
        2 => (0..TUBES).prop_map(Op::Receive),
        3 => prop::collection::vec((0..TUBES, result()), 1..3).prop_map(Op::Results),
        1 => (0..PEOPLE).prop_map(Op::Exempt),
        1 => Just(Op::Tasks),
        2 => (0usize..6, prop_oneof![
                3 => (1usize..3, 0u32..3).prop_map(|(n, b)| DoorKind::Sampled(n, b)),
                1 => Just(DoorKind::NotHome),
                1 => Just(DoorKind::AwayWithProof),
                1 => Just(DoorKind::Refused),
            ]).prop_map(|(i, k)| Op::Door(i, k)),
    ]
}

/// Sequences of requests.
pub fn sequence() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 4..28)
}

fn tube(n: u32) -> TubeBarcode {
    BarcodePattern::default().parse(&format!("DF{n:010}")).unwrap()
}

/// The people a sequence scans: residents of one compound (a few households, so that a
/// positive pool meets home control), two of another street (outside the round), and the
/// round's area.
struct World {
    round: i64,
    people: Vec<Resident>,
    /// The community of the pooled building (a sampler's scope).
    community: AreaCode,
}

async fn setup(store: &dyn Store, d: &District) -> World {
    let streets = d.level(AreaLevel::Street);
    let street = streets[0].code.clone();
    let round = store
        .create_round(
            &NewRound {
                area: street.clone(),
                date: t(0).date_naive(),
                mandatory: true,
                pool: PoolCapacity::new(5).unwrap(),
            },
            &audit_entry(1, "cmd", "round.create", "round", "new"),
        )
        .await
        .unwrap();
    // The building of the round's street with the most residents.
    let mut per: std::collections::BTreeMap<AreaCode, usize> = std::collections::BTreeMap::new();
    for r in d.residents.iter().filter(|r| r.status == ResidentStatus::Active && street.contains(&r.unit)) {
        *per.entry(r.unit.parent().unwrap()).or_default() += 1;
    }
    let building = per.into_iter().max_by_key(|(c, n)| (*n, std::cmp::Reverse(c.clone()))).unwrap().0;
    let mut people: Vec<Resident> = d
        .residents
        .iter()
        .filter(|r| r.status == ResidentStatus::Active && building.contains(&r.unit))
        .take(PEOPLE - 2)
        .cloned()
        .collect();
    let other = streets.get(1).map(|s| s.code.clone()).unwrap_or_else(|| street.clone());
    people.extend(
        d.residents.iter().filter(|r| r.status == ResidentStatus::Active && other.contains(&r.unit)).take(2).cloned(),
    );
    assert_eq!(people.len(), PEOPLE, "the district has the people the sequences need");
    let community = building.lineage().into_iter().find(|a| a.level() == AreaLevel::Community).unwrap();
    World { round: round.id, people, community }
}

fn visitor_id(n: u8) -> IdNumber {
    crate::conformance::fresh_id_number(900 + u32::from(n))
}

fn items(w: &World, entries: &[Entry], at: i64) -> Vec<ScanItem> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let client_id = format!("c{i}");
            let at = t(at);
            match *e {
                Entry::Open(tb, cap) => {
                    ScanItem::Open { client_id, tube: tube(tb), capacity: PoolCapacity::new(cap).unwrap(), at }
                }
                Entry::Seal(tb) => ScanItem::Seal { client_id, tube: tube(tb), at },
                Entry::Undo(tb, p) => ScanItem::Undo { client_id, tube: tube(tb), resident_id: w.people[p].id, at },
                Entry::Sample(tb, who) => {
                    let person = match who {
                        Who::ByIdNumber(p) => ScanPerson::IdNumber(w.people[p].id_number.clone()),
                        Who::ById(p) => ScanPerson::ResidentId(w.people[p].id),
                        Who::Unknown(n) => {
                            ScanPerson::IdNumber(crate::conformance::fresh_id_number(800 + u32::from(n)))
                        }
                        Who::Visitor(n) => ScanPerson::Visitor {
                            id_number: visitor_id(n),
                            phone: Phone::parse(&format!("1390000000{n}")).ok(),
                        },
                    };
                    ScanItem::Sample { client_id, tube: tube(tb), person, at }
                }
            }
        })
        .collect()
}

/// An answer with what legitimately differs between backends taken out: row ids and the
/// wall-clock instant a chase finished.
fn chase_view(c: &ChaseSummary) -> ChaseSummary {
    ChaseSummary { chased_at: c.result_at, ..c.clone() }
}

fn results_view(r: &ResultsReport) -> ResultsReport {
    ResultsReport { chases: r.chases.iter().map(chase_view).collect(), ..r.clone() }
}

/// A missed list with each household's open task named by its presence, not its id.
fn missed_view(v: Vec<MissedHousehold>) -> Vec<(i64, String, Vec<i64>, bool)> {
    v.into_iter()
        .map(|h| (h.household_id, h.room, h.members.iter().map(|m| m.resident_id).collect(), h.task_id.is_some()))
        .collect()
}

/// Equal lists, or a panic naming the first element that differs.
fn same<T: std::fmt::Debug + PartialEq>(a: Vec<T>, b: Vec<T>, what: &str) {
    if a == b {
        return;
    }
    let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    panic!("{what}: lengths {} and {}, first difference at {at}: {:?} vs {:?}", a.len(), b.len(), a.get(at), b.get(at));
}

fn task_view(t: &DoorTask) -> (i64, Option<&'static str>, String) {
    (t.household_id, t.outcome.map(|o| o.as_str()), t.note.clone())
}

/// Runs one sequence against both stores and panics at the first difference.
pub async fn run(a: &dyn Store, b: &dyn Store, ops: &[Op]) {
    let (da, db) = (load_district(a).await, load_district(b).await);
    let (wa, wb) = (setup(a, &da).await, setup(b, &db).await);
    assert_eq!(wa.round, wb.round, "round ids");
    let w = &wa;
    let mut last_batch: Option<ScanBatch> = None;
    let mut n = 0u32;
    for (step, op) in ops.iter().enumerate() {
        let at = 10 + step as i64 * 10;
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Scans(entries, cuts) => {
                let all = items(w, entries, at);
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (all.len() + 1)).collect();
                cuts.push(all.len());
                cuts.sort_unstable();
                let mut start = 0;
                for end in cuts {
                    if end <= start {
                        continue;
                    }
                    n += 1;
                    let batch = ScanBatch {
                        batch_id: format!("b{n}"),
                        round_id: w.round,
                        user_id: 7,
                        // Every other batch from a sampler bound to the people's community.
                        scope: (n % 2 == 1).then(|| vec![w.community.clone()]),
                        items: all[start..end].to_vec(),
                    };
                    let e = audit_entry(2, "sampler", "scans.ingest", "round", "r");
                    let (ra, rb) = (
                        a.ingest_scans(batch.clone(), &e).await.unwrap(),
                        b.ingest_scans(batch.clone(), &e).await.unwrap(),
                    );
                    assert_eq!(ra, rb, "{ctx}: batch {n} ({start}..{end})");
                    last_batch = Some(batch);
                    start = end;
                }
            }
            Op::Retry => {
                if let Some(batch) = &last_batch {
                    let e = audit_entry(2, "sampler", "scans.ingest", "round", "r");
                    let (ra, rb) = (
                        a.ingest_scans(batch.clone(), &e).await.unwrap(),
                        b.ingest_scans(batch.clone(), &e).await.unwrap(),
                    );
                    assert_eq!(ra, rb, "{ctx}");
                }
            }
            Op::Box(tubes) => {
                let tubes: Vec<TubeBarcode> = tubes.iter().map(|x| tube(*x)).collect();
                let e = audit_entry(2, "sampler", "tubes.box", "box", "x");
                let code = format!("BOX{step}");
                let ra = a.box_tubes(&code, &tubes, 7, t(at), &e).await.unwrap();
                let rb = b.box_tubes(&code, &tubes, 7, t(at), &e).await.unwrap();
                assert_eq!(ra, rb, "{ctx}");
            }
            Op::Receive(x) => {
                let e = audit_entry(3, "lab", "tubes.receive", "tube", "x");
                let what = Receipt::Tube(tube(*x));
                let (ra, rb) =
                    (a.receive(&what, 8, t(at), &e).await.unwrap(), b.receive(&what, 8, t(at), &e).await.unwrap());
                assert_eq!(ra, rb, "{ctx}");
            }
            Op::Results(rs) => {
                let rs: Vec<NewResult> = rs
                    .iter()
                    .enumerate()
                    .map(|(i, (x, r))| NewResult { row: i + 1, tube: tube(*x), result: *r, ct: None })
                    .collect();
                let e = audit_entry(3, "lab", "results.record", "round", "r");
                let ra =
                    a.record_results(&rs, 8, t(at), &e, &cordon_domain::clock::DistrictTz::default()).await.unwrap();
                let rb =
                    b.record_results(&rs, 8, t(at), &e, &cordon_domain::clock::DistrictTz::default()).await.unwrap();
                assert_eq!(results_view(&ra), results_view(&rb), "{ctx}");
            }
            Op::Exempt(p) => {
                let e = audit_entry(4, "grid", "exemption.record", "resident", "x");
                let id = w.people[*p].id;
                let ra =
                    a.record_exemption(w.round, id, ExemptionReason::Hospitalised, "证明", 9, t(at), &e).await.unwrap();
                let rb =
                    b.record_exemption(w.round, id, ExemptionReason::Hospitalised, "证明", 9, t(at), &e).await.unwrap();
                assert_eq!(ra, rb, "{ctx}");
            }
            Op::Tasks => {
                let roots = [da.district()];
                let households: Vec<i64> =
                    a.missed(w.round, &roots).await.unwrap().iter().map(|h| h.household_id).take(8).collect();
                let e = audit_entry(4, "grid", "door.create", "round", "r");
                let ta = a.create_door_tasks(w.round, &households, 9, t(at), &e).await.unwrap();
                let tb = b.create_door_tasks(w.round, &households, 9, t(at), &e).await.unwrap();
                assert_eq!(
                    ta.iter().map(task_view).collect::<Vec<_>>(),
                    tb.iter().map(task_view).collect::<Vec<_>>(),
                    "{ctx}"
                );
            }
            Op::Door(i, kind) => {
                let roots = [da.district()];
                let (la, lb) =
                    (a.door_tasks(w.round, &roots).await.unwrap(), b.door_tasks(w.round, &roots).await.unwrap());
                let open_a: Vec<&DoorTask> = la.iter().filter(|t| t.outcome.is_none()).collect();
                let open_b: Vec<&DoorTask> = lb.iter().filter(|t| t.outcome.is_none()).collect();
                assert_eq!(open_a.len(), open_b.len(), "{ctx}: open tasks");
                let (Some(ta), Some(tb)) = (open_a.get(i % open_a.len().max(1)), open_b.get(i % open_b.len().max(1)))
                else {
                    continue;
                };
                assert_eq!(task_view(ta), task_view(tb), "{ctx}: task");
                let report = |missed: &[MissedHousehold]| -> DoorReport {
                    match kind {
                        DoorKind::Sampled(count, base) => {
                            let members: Vec<i64> = missed
                                .iter()
                                .filter(|h| h.household_id == ta.household_id)
                                .flat_map(|h| h.members.iter().map(|m| m.resident_id))
                                .take(*count)
                                .collect();
                            DoorReport::SampledAtDoor {
                                samples: members
                                    .iter()
                                    .enumerate()
                                    .map(|(k, rid)| DoorSample {
                                        resident_id: *rid,
                                        tube: tube(100 + base * 10 + k as u32),
                                    })
                                    .collect(),
                                audit: audit_entry(4, "grid", "scans.ingest", "round", "r"),
                            }
                        }
                        DoorKind::NotHome => DoorReport::NotHome,
                        DoorKind::AwayWithProof => DoorReport::AwayWithProof,
                        DoorKind::Refused => DoorReport::Refused,
                    }
                };
                let missed = a.missed(w.round, &roots).await.unwrap();
                let r = report(&missed);
                let e = audit_entry(4, "grid", "door.outcome", "door_task", "x");
                let ra = a.record_door_outcome(ta.id, &r, "note", 9, t(at), &e).await;
                let rb = b.record_door_outcome(tb.id, &r, "note", 9, t(at), &e).await;
                match (ra, rb) {
                    (Ok(x), Ok(y)) => assert_eq!(x.map(|t| task_view(&t)), y.map(|t| task_view(&t)), "{ctx}"),
                    (Err(x), Err(y)) => assert_eq!(x.code(), y.code(), "{ctx}"),
                    (x, y) => panic!("{ctx}: {x:?} vs {y:?}"),
                }
            }
        }
    }
    compare_reads(a, b, &da, w, ops.len()).await;
}

async fn compare_reads(a: &dyn Store, b: &dyn Store, d: &District, w: &World, steps: usize) {
    let district = d.district();
    let mut nodes = vec![district.clone()];
    nodes.extend(d.level(AreaLevel::Street).iter().map(|s| s.code.clone()));
    nodes.extend(w.people.iter().filter_map(|p| p.unit.parent()).take(1));
    for node in &nodes {
        assert_eq!(
            a.coverage(w.round, node).await.unwrap(),
            b.coverage(w.round, node).await.unwrap(),
            "coverage {node}"
        );
        assert_eq!(
            a.coverage_children(w.round, node).await.unwrap(),
            b.coverage_children(w.round, node).await.unwrap(),
            "coverage of the children of {node}"
        );
        let roots = [node.clone()];
        same(
            missed_view(a.missed(w.round, &roots).await.unwrap()),
            missed_view(b.missed(w.round, &roots).await.unwrap()),
            &format!("missed {node}"),
        );
        assert_eq!(
            a.pool_positives(w.round, &roots).await.unwrap(),
            b.pool_positives(w.round, &roots).await.unwrap(),
            "pool positives {node}"
        );
        assert_eq!(a.enforcements(&roots).await.unwrap(), b.enforcements(&roots).await.unwrap(), "enforcements {node}");
    }
    let view = |tb: Option<Tube>| tb.map(|x| (x.state, x.count, x.capacity, x.result, x.box_code));
    for x in (0..TUBES).chain(100..130) {
        let (ta, tb) = (a.tube(&tube(x)).await.unwrap(), b.tube(&tube(x)).await.unwrap());
        let (ma, mb) = match (&ta, &tb) {
            (Some(p), Some(q)) => (a.tube_members(p.id).await.unwrap(), b.tube_members(q.id).await.unwrap()),
            _ => (Vec::new(), Vec::new()),
        };
        assert_eq!((view(ta), ma), (view(tb), mb), "tube {x}");
    }
    let chases = |v: Vec<ChaseSummary>| v.iter().map(chase_view).collect::<Vec<_>>();
    assert_eq!(chases(a.chases(w.round).await.unwrap()), chases(b.chases(w.round).await.unwrap()), "chases");
    let alerts = |v: Vec<Alert>| v.into_iter().map(|x| (x.kind, x.tube, x.members)).collect::<Vec<_>>();
    assert_eq!(alerts(a.alerts(0, 1000).await.unwrap()), alerts(b.alerts(0, 1000).await.unwrap()), "alerts");
    let now = t(20 + steps as i64 * 10);
    let today = now.date_naive();
    for p in &w.people {
        let (sa, sb) =
            (a.person_state(p.id, now, today).await.unwrap(), b.person_state(p.id, now, today).await.unwrap());
        assert_eq!(sa, sb, "person state of resident {}", p.id);
        let hh = p.household_id;
        assert_eq!(a.under_control(hh).await.unwrap(), b.under_control(hh).await.unwrap(), "household {hh}");
    }
    let tasks = |v: Vec<DoorTask>| v.iter().map(task_view).collect::<Vec<_>>();
    let roots = [district];
    assert_eq!(
        tasks(a.door_tasks(w.round, &roots).await.unwrap()),
        tasks(b.door_tasks(w.round, &roots).await.unwrap()),
        "door tasks"
    );
}

/// Runs `cases` random sequences, each on two fresh stores from `make_a` and `make_b`
/// (each returning a store and a guard that cleans it up; `None` skips, as the
/// conformance makers do when a backend is unavailable outside CI). Call from a plain
/// `#[test]`: it runs its own runtime.
pub fn check<MA, MB, FA, FB, GA, GB>(cases: u32, make_a: MA, make_b: MB)
where
    MA: Fn() -> FA,
    MB: Fn() -> FB,
    FA: Future<Output = Option<(Arc<dyn Store>, GA)>>,
    FB: Future<Output = Option<(Arc<dyn Store>, GB)>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = ProptestConfig { cases, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let outcome = runner.run(&sequence(), |ops| {
        rt.block_on(async {
            let Some((a, _ga)) = make_a().await else { return };
            let Some((b, _gb)) = make_b().await else { return };
            run(a.as_ref(), b.as_ref(), &ops).await;
        });
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("the backends answered differently: {e}");
    }
}

/// The drift the differential test was written to find, as a fixed sequence: a tube
/// opened and a person sampled in one batch, the person undone in the next.
pub fn undo_across_batches() -> Vec<Op> {
    vec![Op::Scans(vec![Entry::Open(0, 10), Entry::Sample(0, Who::ByIdNumber(0)), Entry::Undo(0, 0)], vec![2])]
}
