//! Every containment write as data ([`Write`]), the facts it needs ([`keys`], stage by
//! stage: a later stage may depend on what an earlier one found), and its pure plan
//! ([`plan`]): the effects to write and the answer. All rules and refusals of the
//! capability's writes are here or in `cordon_domain::containment`; a refusal plans no
//! effect at all.

use super::effects::{Effects, Written, new_id};
use super::facts::{ClockKeys, Facts, Keys, OrderQuery, ProposalQuery, QueueQuery, RunQuery, SiteQuery, ZoneQuery};
use super::{
    Act, Answer, ArrivalOutcome, DeviceOp, DispatchRequest, IsolationCandidate, OrderRequest, PickupOutcome, PickupWho,
    QueueEntry, QueueStatus, Refused, RoomStay, SweepReport, ZoneDayReport, ZoneEvent, ZoneEventKind, ZoneRunRecord,
};
use chrono::DateTime;
use chrono::Utc;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::containment::Refusal;
use cordon_domain::containment::assign::{Occupant, Placement, SiteSlots, check_assignment, suggest};
use cordon_domain::containment::quarantine::{
    Category, HealthCheck, NewHealthCheck, NewRoom, NewSite, Order, OrderEvent, OrderInput, OrderState, OrderTest,
    Person, PersonResult, Room, RoomEvent, RoomState, Site, check_health_check, new_order, order_after, release_check,
    room_after, status_of, test_for_result,
};
use cordon_domain::containment::transfer::{
    RunState, TransferEvent, TransferRun, TransferState, check_dispatch, transfer_after,
};
use cordon_domain::containment::zoneclock::{
    ProposalStatus, ProposedZone, ZoneDecision, ZoneProposal, decide_proposal, plan_zone_day, propose_zones,
    run_instant,
};
use cordon_domain::registry::Resident;
use cordon_domain::testing::TestResult;
use cordon_domain::zone::{NewZone, RiskZone, ZoneLevel};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Cases one sweep takes at most (the next sweep takes the rest).
pub const SWEEP_BATCH: u32 = 500;

/// A containment write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    SweepCases,
    DecideProposal {
        id: i64,
        decision: ZoneDecision,
    },
    OrderZone(NewZone),
    LiftZone {
        zone_id: i64,
        note: String,
    },
    ZoneDay {
        date: chrono::NaiveDate,
    },
    CreateSite {
        site: NewSite,
        rooms: Vec<NewRoom>,
    },
    AddRooms {
        site_id: i64,
        rooms: Vec<NewRoom>,
    },
    RoomEvent {
        room_id: i64,
        event: RoomEvent,
    },
    Enqueue(Vec<IsolationCandidate>),
    IssueOrders(Vec<OrderRequest>),
    HealthCheck(NewHealthCheck),
    Results(Vec<PersonResult>),
    /// Lab results of tubes (id, result, capacity): what mass testing's `record_results`
    /// hands over, resolved to the people sampled in them.
    TubeResults(Vec<(i64, TestResult, u32)>),
    Release {
        order_id: i64,
    },
    Cancel {
        order_id: i64,
    },
    Assign(Vec<(i64, i64)>),
    Dispatch(DispatchRequest),
    Undispatch {
        run_id: i64,
        order_ids: Vec<i64>,
    },
    Pickup {
        run_id: i64,
        who: PickupWho,
        key: String,
    },
    Arrive {
        run_id: i64,
        key: String,
    },
}

/// A write's answer. (One per write, moved once: the size of its largest variant costs
/// nothing worth a box.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Sweep(SweepReport),
    Proposal(Answer<ZoneProposal>),
    Zone(Answer<RiskZone>),
    ZoneDay(ZoneDayReport),
    Site(Answer<Site>),
    Rooms(Answer<Vec<Room>>),
    Room(Answer<Room>),
    Count(Answer<u32>),
    Orders(Answer<Vec<Order>>),
    Check(Answer<HealthCheck>),
    Results(u32),
    Order(Answer<Order>),
    Placements(Answer<Vec<Placement>>),
    Run(Answer<TransferRun>),
    Pickup(Answer<PickupOutcome>),
    Arrival(Answer<ArrivalOutcome>),
}

impl Outcome {
    /// The answer with the ids the backend gave the new records.
    pub fn resolve(self, w: &Written) -> Outcome {
        let order = |mut o: Order| {
            o.id = w.order(o.id);
            o.run_id = o.run_id.map(|r| w.run(r));
            o
        };
        match self {
            Outcome::Proposal(Ok(mut p)) => {
                p.zone_id = p.zone_id.map(|z| w.zone(z));
                Outcome::Proposal(Ok(p))
            }
            Outcome::Zone(Ok(mut z)) => {
                z.id = w.zone(z.id);
                Outcome::Zone(Ok(z))
            }
            Outcome::Site(Ok(mut s)) => {
                s.id = w.site(s.id);
                Outcome::Site(Ok(s))
            }
            Outcome::Rooms(Ok(rs)) => Outcome::Rooms(Ok(rs
                .into_iter()
                .map(|mut r| {
                    r.id = w.room(r.id);
                    r.site_id = w.site(r.site_id);
                    r
                })
                .collect())),
            Outcome::Orders(Ok(os)) => Outcome::Orders(Ok(os.into_iter().map(order).collect())),
            Outcome::Order(Ok(o)) => Outcome::Order(Ok(order(o))),
            Outcome::Check(Ok(mut c)) => {
                c.id = w.check(c.id);
                Outcome::Check(Ok(c))
            }
            Outcome::Run(Ok(mut r)) => {
                r.id = w.run(r.id);
                Outcome::Run(Ok(r))
            }
            other => other,
        }
    }
}

/// Effects and answer of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub effects: Effects,
    pub outcome: Outcome,
}

fn locked(k: Keys) -> Option<Keys> {
    Some(Keys { lock: true, ..k })
}

/// The facts the write needs at `stage` (0, 1, …) given what earlier stages found;
/// `None` when it has them all.
pub fn keys(w: &Write, stage: u32, f: &Facts, act: &Act) -> Option<Keys> {
    let k = Keys::default;
    match (w, stage) {
        (Write::SweepCases, 0) => {
            locked(Keys { exclusive: Some("containment.sweep"), new_cases: Some(SWEEP_BATCH), ..k() })
        }
        (Write::SweepCases, 1) if !f.cases.is_empty() => {
            let lineage: BTreeSet<AreaCode> =
                f.cases.iter().flat_map(|c| c.unit.lineage()).filter(|a| a.level() >= AreaLevel::Community).collect();
            let communities: BTreeSet<AreaCode> =
                lineage.iter().filter(|a| a.level() == AreaLevel::Community).cloned().collect();
            locked(Keys {
                orders: vec![OrderQuery {
                    resident_ids: Some(f.cases.iter().map(|c| c.resident_id).collect()),
                    open: true,
                    ..OrderQuery::default()
                }],
                zones: Some(ZoneQuery::OpenOn(lineage.into_iter().collect())),
                proposals: Some(ProposalQuery::Under {
                    roots: communities.into_iter().collect(),
                    open_only: true,
                    limit: u32::MAX,
                }),
                ..k()
            })
        }
        (Write::SweepCases, 2) => rooms_of_orders(f),
        (Write::DecideProposal { id, .. }, 0) => locked(Keys { proposals: Some(ProposalQuery::Ids(vec![*id])), ..k() }),
        (Write::DecideProposal { decision, .. }, 1) => {
            let area = f.proposals.first().and_then(|p| decision.area(p)).cloned()?;
            locked(Keys { areas: vec![area.clone()], zones: Some(ZoneQuery::OpenOn(vec![area])), ..k() })
        }
        (Write::OrderZone(z), 0) => {
            locked(Keys { areas: vec![z.area.clone()], zones: Some(ZoneQuery::OpenOn(vec![z.area.clone()])), ..k() })
        }
        (Write::LiftZone { zone_id, .. }, 0) => locked(Keys { zones: Some(ZoneQuery::Ids(vec![*zone_id])), ..k() }),
        (Write::ZoneDay { date }, 0) => {
            let at = run_instant(&act.profile, *date, act.offset());
            let needs_round = ZoneLevel::ALL.iter().any(|l| act.profile.zones.needs_negative_round(*l));
            locked(Keys {
                exclusive: Some("containment.zone_day"),
                zone_run: Some(*date),
                zones: Some(ZoneQuery::OpenUnder(Vec::new())),
                zone_clock: Some(ClockKeys { at, round_date: needs_round.then(|| date.pred_opt()).flatten() }),
                ..k()
            })
        }
        (Write::AddRooms { site_id, .. }, 0) => locked(Keys { sites: Some(SiteQuery::Ids(vec![*site_id])), ..k() }),
        (Write::RoomEvent { room_id, .. }, 0) => {
            locked(Keys { sites: Some(SiteQuery::OfRooms(vec![*room_id])), ..k() })
        }
        (Write::Enqueue(cands), 0) => {
            locked(Keys { queue: Some(QueueQuery::Contacts(cands.iter().map(|c| c.contact_id).collect())), ..k() })
        }
        (Write::IssueOrders(reqs), 0) => {
            let contacts = reqs
                .iter()
                .filter_map(|r| match r {
                    OrderRequest::Contact { contact_id } => Some(*contact_id),
                    _ => None,
                })
                .collect();
            let residents = reqs
                .iter()
                .filter_map(|r| match r {
                    OrderRequest::Arrival { resident_id, .. } => *resident_id,
                    _ => None,
                })
                .collect();
            locked(Keys { queue: Some(QueueQuery::Contacts(contacts)), residents, ..k() })
        }
        (Write::IssueOrders(reqs), 1) => {
            let mut residents: Vec<i64> = f.queue.iter().filter_map(|q| q.candidate.person.resident_id).collect();
            residents.extend(f.residents.iter().map(|r| r.id));
            let mut id_numbers: Vec<_> = f.queue.iter().filter_map(|q| q.candidate.person.id_number.clone()).collect();
            id_numbers.extend(reqs.iter().filter_map(|r| match r {
                OrderRequest::Arrival { person: Some(p), .. } => p.id_number.clone(),
                _ => None,
            }));
            let open = |q: OrderQuery| OrderQuery { open: true, ..q };
            locked(Keys {
                residents: residents.clone(),
                orders: vec![
                    open(OrderQuery { resident_ids: Some(residents), ..OrderQuery::default() }),
                    open(OrderQuery { id_numbers: Some(id_numbers), ..OrderQuery::default() }),
                ],
                ..k()
            })
        }
        (Write::IssueOrders(_), 2) => {
            // People on the register may also be under an order made for them by ID number.
            let ids: Vec<_> = f.residents.iter().map(|r| r.id_number.clone()).collect();
            locked(Keys {
                orders: vec![OrderQuery { id_numbers: Some(ids), open: true, ..OrderQuery::default() }],
                ..k()
            })
        }
        (Write::HealthCheck(c), 0) => locked(Keys { orders: vec![OrderQuery::ids(vec![c.order_id])], ..k() }),
        (Write::Results(rs), 0) => Some(order_results_keys(rs)),
        (Write::TubeResults(tubes), 0) => locked(Keys { tube_members: tubes.iter().map(|t| t.0).collect(), ..k() }),
        (Write::TubeResults(tubes), 1) => Some(order_results_keys(&person_results(tubes, &f.tube_members, act.at))),
        (Write::Release { order_id } | Write::Cancel { order_id }, 0) => {
            locked(Keys { orders: vec![OrderQuery::ids(vec![*order_id])], ..k() })
        }
        (Write::Release { .. } | Write::Cancel { .. }, 1) => rooms_of_orders(f),
        (Write::Assign(ps), 0) => locked(Keys {
            orders: vec![OrderQuery::ids(ps.iter().map(|(o, _)| *o).collect())],
            sites: Some(SiteQuery::OfRooms(ps.iter().map(|(_, r)| *r).collect())),
            ..k()
        }),
        (Write::Assign(_), 1) => rooms_of_orders(f),
        (Write::Dispatch(d), 0) => locked(Keys {
            orders: vec![OrderQuery::ids(d.order_ids.clone())],
            sites: Some(SiteQuery::Ids(vec![d.site_id])),
            ..k()
        }),
        (Write::Undispatch { run_id, .. }, 0) => {
            locked(Keys { runs: Some(RunQuery::Ids(vec![*run_id])), orders_of_runs: true, ..k() })
        }
        (Write::Pickup { run_id, key, .. } | Write::Arrive { run_id, key }, 0) => locked(Keys {
            device_op: Some(key.clone()),
            runs: Some(RunQuery::Ids(vec![*run_id])),
            orders_of_runs: true,
            ..k()
        }),
        (Write::Arrive { run_id, .. }, 1) => {
            let site = f.run(*run_id)?.site_id;
            locked(Keys { sites: Some(SiteQuery::Ids(vec![site])), ..k() })
        }
        _ => None,
    }
}

/// The sites of the rooms the fetched orders are in (to free their beds).
fn rooms_of_orders(f: &Facts) -> Option<Keys> {
    let rooms: Vec<i64> = f.orders.iter().filter_map(|o| o.room_id).collect();
    let known: BTreeSet<i64> = f.sites.iter().flat_map(|s| s.rooms.iter().map(|r| r.room.id)).collect();
    let missing: Vec<i64> = rooms.into_iter().filter(|r| !known.contains(r)).collect();
    if missing.is_empty() {
        return None;
    }
    locked(Keys { sites: Some(SiteQuery::OfRooms(missing)), ..Keys::default() })
}

impl Outcome {
    /// The refusal, when the write was refused.
    pub fn refusal(&self) -> Option<&Refused> {
        match self {
            Outcome::Proposal(Err(r))
            | Outcome::Zone(Err(r))
            | Outcome::Site(Err(r))
            | Outcome::Rooms(Err(r))
            | Outcome::Room(Err(r))
            | Outcome::Count(Err(r))
            | Outcome::Orders(Err(r))
            | Outcome::Check(Err(r))
            | Outcome::Order(Err(r))
            | Outcome::Placements(Err(r))
            | Outcome::Run(Err(r))
            | Outcome::Pickup(Err(r))
            | Outcome::Arrival(Err(r)) => Some(r),
            _ => None,
        }
    }
}

/// The plan of a write on its facts. A refused write plans no effect at all, whatever
/// its steps had gathered: nothing is ever half-written.
pub fn plan(w: &Write, f: &Facts, act: &Act) -> Planned {
    let planned = plan_steps(w, f, act);
    if planned.outcome.refusal().is_some() {
        return Planned { effects: Effects::default(), outcome: planned.outcome };
    }
    planned
}

fn plan_steps(w: &Write, f: &Facts, act: &Act) -> Planned {
    match w {
        Write::SweepCases => sweep(f, act),
        Write::DecideProposal { id, decision } => decide(*id, decision, f, act),
        Write::OrderZone(z) => order_zone(z, f, act),
        Write::LiftZone { zone_id, note } => lift(*zone_id, note, f, act),
        Write::ZoneDay { date } => zone_day(*date, f, act),
        Write::CreateSite { site, rooms } => create_site(site, rooms, act),
        Write::AddRooms { site_id, rooms } => add_rooms(*site_id, rooms, f, act),
        Write::RoomEvent { room_id, event } => room_event(*room_id, *event, f, act),
        Write::Enqueue(c) => enqueue(c, f, act),
        Write::IssueOrders(r) => issue(r, f, act),
        Write::HealthCheck(c) => health_check(c, f, act),
        Write::Results(r) => results(r, f, act),
        Write::TubeResults(t) => results(&person_results(t, &f.tube_members, act.at), f, act),
        Write::Release { order_id } => release(*order_id, f, act),
        Write::Cancel { order_id } => cancel(*order_id, f, act),
        Write::Assign(p) => assign(p, f, act),
        Write::Dispatch(d) => dispatch(d, f, act),
        Write::Undispatch { run_id, order_ids } => undispatch(*run_id, order_ids, f, act),
        Write::Pickup { run_id, who, key } => pickup(*run_id, who, key, f, act),
        Write::Arrive { run_id, key } => arrive(*run_id, key, f, act),
    }
}

// ---- shared steps -------------------------------------------------------------------------

/// The order leaves its room: the stay ends, and a room left empty goes to cleaning.
fn leave_room(o: &mut Order, slots: &mut [SiteSlots], eff: &mut Effects, at: DateTime<Utc>) {
    let Some(room_id) = o.room_id.take() else { return };
    eff.stays_close.push((o.id, room_id, at));
    let Some(slot) = slots.iter_mut().flat_map(|s| s.rooms.iter_mut()).find(|r| r.room.id == room_id) else { return };
    slot.occupants.retain(|x| x.order_id != o.id);
    let remaining = slot.occupants.len() as u32;
    if let Ok(state) = room_after(slot.room.state, RoomEvent::Vacate { remaining })
        && state != slot.room.state
    {
        slot.room.state = state;
        slot.room.state_at = at;
        eff.save_room(slot.room.clone());
    }
}

/// A case found in quarantine: the order ends as such, a pending transfer is called off,
/// the room is freed.
fn became_case(o: &Order, case_at: DateTime<Utc>, slots: &mut [SiteSlots], eff: &mut Effects, act: &Act) -> bool {
    let Ok(state) = order_after(o, OrderEvent::Case) else { return false };
    let mut o = o.clone();
    o.state = state;
    o.case_at = Some(case_at);
    o.closed_at = Some(act.at);
    o.closed_by = Some(act.user.clone());
    if let Some(t) = o.transfer
        && let Ok(next) = transfer_after(t, TransferEvent::Cancel)
    {
        o.transfer = Some(next);
    }
    leave_room(&mut o, slots, eff, act.at);
    eff.save_order(o, act.at);
    true
}

fn open_designation<'a>(f: &'a Facts, area: &AreaCode) -> Option<&'a RiskZone> {
    f.zones.iter().map(|z| &z.zone).find(|z| &z.area == area && z.ends_at.is_none())
}

fn event(kind: ZoneEventKind, area: &AreaCode, act: &Act) -> ZoneEvent {
    ZoneEvent {
        id: 0,
        kind,
        area: area.clone(),
        zone_id: None,
        new_zone_id: None,
        from_level: None,
        to_level: None,
        proposal_id: None,
        day: None,
        at: act.at,
        by: act.user.clone(),
        note: String::new(),
    }
}

/// Designates `z` (ending the area's open designation) as the plan's first new zone.
fn designate(z: &NewZone, f: &Facts, eff: &mut Effects) -> (RiskZone, Option<i64>) {
    let ended = open_designation(f, &z.area).map(|old| {
        eff.zones_end.push((old.id, z.starts_at));
        old.id
    });
    let id = new_id(eff.zones_new.len());
    eff.zones_new.push(z.clone());
    let zone = RiskZone {
        id,
        area: z.area.clone(),
        level: z.level,
        reason: z.reason.clone(),
        starts_at: z.starts_at,
        ends_at: None,
        designated_by: z.designated_by.clone(),
        created_at: z.created_at,
    };
    (zone, ended)
}

// ---- zones ------------------------------------------------------------------------------

fn sweep(f: &Facts, act: &Act) -> Planned {
    let mut eff = Effects::default();
    let mut pending: Vec<ProposedZone> =
        f.proposals.iter().filter(|p| p.status == ProposalStatus::Proposed).map(|p| p.proposed.clone()).collect();
    let open: Vec<RiskZone> = f.zones.iter().map(|z| z.zone.clone()).collect();
    let mut slots = f.sites.clone();
    let mut report = SweepReport { cases: 0, proposals: 0, found_in_quarantine: 0 };
    for case in &f.cases {
        report.cases += 1;
        eff.cases_seen.push((case.case_id, act.at));
        let props = propose_zones(case, &open, &pending, &act.profile, act.at);
        report.proposals += props.len() as u32;
        pending.extend(props.iter().cloned());
        eff.proposals_new.extend(props);
        for o in f.orders.iter().filter(|o| o.person.resident_id == Some(case.resident_id) && o.state.is_open()) {
            if became_case(o, case.at, &mut slots, &mut eff, act) {
                report.found_in_quarantine += 1;
            }
        }
    }
    if report.cases > 0 {
        eff.audit.push(act.entry(
            "cases.sweep",
            "cases",
            report.cases,
            format!("{} zone proposals, {} found in quarantine", report.proposals, report.found_in_quarantine),
        ));
    }
    Planned { effects: eff, outcome: Outcome::Sweep(report) }
}

fn decide(id: i64, d: &ZoneDecision, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Proposal(Err(e)) };
    let Some(p) = f.proposals.iter().find(|p| p.id == id) else { return no(Refusal::ProposalUnknown.into()) };
    let exists = d.area(p).is_none_or(|a| f.areas.contains(a));
    let zone = match decide_proposal(p, d, exists, &act.profile, &act.user, act.at) {
        Ok(z) => z,
        Err(e) => return no(Refused::about(id, e)),
    };
    let mut eff = Effects::default();
    let mut saved = p.clone();
    saved.status = d.status();
    saved.decided_at = Some(act.at);
    saved.decided_by = Some(act.user.clone());
    let kind = match d {
        ZoneDecision::Accept => ZoneEventKind::Accepted,
        ZoneDecision::Widen(_) => ZoneEventKind::Widened,
        ZoneDecision::Narrow(_) => ZoneEventKind::Narrowed,
        ZoneDecision::Reject => ZoneEventKind::Rejected,
    };
    let mut ev = event(kind, &p.proposed.area, act);
    ev.proposal_id = Some(id);
    ev.to_level = Some(p.proposed.level);
    if let Some(z) = zone {
        let (new, ended) = designate(&z, f, &mut eff);
        saved.zone_id = Some(new.id);
        ev.area = z.area.clone();
        ev.zone_id = ended;
        ev.new_zone_id = Some(new.id);
    }
    eff.zone_events.push(ev);
    eff.proposals_save.push(saved.clone());
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Proposal(Ok(saved)) }
}

fn order_zone(z: &NewZone, f: &Facts, act: &Act) -> Planned {
    let exists = f.areas.contains(&z.area);
    if let Err(e) = cordon_domain::containment::zoneclock::check_zone_order(z, exists, &act.profile) {
        return Planned { effects: Effects::default(), outcome: Outcome::Zone(Err(e.into())) };
    }
    let mut eff = Effects::default();
    let (zone, ended) = designate(z, f, &mut eff);
    let mut ev = event(ZoneEventKind::Ordered, &z.area, act);
    ev.zone_id = ended;
    ev.new_zone_id = Some(zone.id);
    ev.to_level = Some(z.level);
    ev.note = z.reason.clone();
    eff.zone_events.push(ev);
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Zone(Ok(zone)) }
}

fn lift(zone_id: i64, note: &str, f: &Facts, act: &Act) -> Planned {
    let Some(z) = f.zones.iter().map(|z| &z.zone).find(|z| z.id == zone_id) else {
        return Planned { effects: Effects::default(), outcome: Outcome::Zone(Err(Refusal::ZoneUnknown.into())) };
    };
    if z.ends_at.is_some() {
        return Planned { effects: Effects::default(), outcome: Outcome::Zone(Err(Refusal::ZoneEnded.into())) };
    }
    let mut eff = Effects::default();
    eff.zones_end.push((z.id, act.at));
    let mut ev = event(ZoneEventKind::Lifted, &z.area, act);
    ev.zone_id = Some(z.id);
    ev.from_level = Some(z.level);
    ev.to_level = Some(ZoneLevel::Low);
    ev.note = note.trim().chars().take(200).collect();
    eff.zone_events.push(ev);
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Zone(Ok(RiskZone { ends_at: Some(act.at), ..z.clone() })) }
}

fn zone_day(date: chrono::NaiveDate, f: &Facts, act: &Act) -> Planned {
    if let Some(run) = &f.zone_run {
        let report = ZoneDayReport { date, applied: false, steps: Vec::new(), held: Vec::new(), run: run.clone() };
        return Planned { effects: Effects::default(), outcome: Outcome::ZoneDay(report) };
    }
    let plan = plan_zone_day(&f.zones, &act.profile, date, act.offset());
    let mut eff = Effects::default();
    for s in &plan.steps {
        eff.zones_end.push((s.zone_id, s.at));
        let new_zone_id = (s.to != ZoneLevel::Low).then(|| {
            let id = new_id(eff.zones_new.len());
            eff.zones_new.push(NewZone {
                area: s.area.clone(),
                level: s.to,
                reason: s.reason(),
                starts_at: s.at,
                designated_by: act.user.clone(),
                created_at: act.at,
            });
            id
        });
        let mut ev = event(ZoneEventKind::Stepped, &s.area, act);
        ev.zone_id = Some(s.zone_id);
        ev.new_zone_id = new_zone_id;
        ev.from_level = Some(s.from);
        ev.to_level = Some(s.to);
        ev.day = Some(date);
        ev.at = s.at;
        ev.note = s.reason();
        eff.zone_events.push(ev);
    }
    let run = ZoneRunRecord {
        date,
        at: plan.at,
        applied_at: act.at,
        by: act.user.clone(),
        steps: plan.steps.len() as u32,
        held: plan.held.len() as u32,
        profile: act.profile.name.clone(),
    };
    eff.zone_run = Some(run.clone());
    eff.audit.push(act.entry(
        "zones.clock",
        "day",
        date,
        format!("{} zones stepped down, {} waiting for an all-negative round", run.steps, run.held),
    ));
    let report = ZoneDayReport { date, applied: true, steps: plan.steps, held: plan.held, run };
    Planned { effects: eff, outcome: Outcome::ZoneDay(report) }
}

// ---- sites and rooms ------------------------------------------------------------------------

/// New rooms of `site_id`, refused when a number repeats (in the batch or the site).
fn new_rooms(site_id: i64, rooms: &[NewRoom], existing: &[&str], act: &Act) -> Result<Vec<Room>, Refused> {
    let mut seen: BTreeSet<&str> = existing.iter().copied().collect();
    let mut out = Vec::with_capacity(rooms.len());
    for (i, r) in rooms.iter().enumerate() {
        if !seen.insert(r.number.as_str()) {
            return Err(Refusal::RoomDuplicate.detail(&r.number, &r.number).into());
        }
        out.push(Room {
            id: new_id(i),
            site_id,
            floor: r.floor,
            number: r.number.clone(),
            beds: r.beds,
            state: RoomState::Free,
            state_at: act.at,
        });
    }
    Ok(out)
}

fn create_site(site: &NewSite, rooms: &[NewRoom], act: &Act) -> Planned {
    let rooms = match new_rooms(new_id(0), rooms, &[], act) {
        Ok(r) => r,
        Err(e) => return Planned { effects: Effects::default(), outcome: Outcome::Site(Err(e)) },
    };
    let mut eff = Effects { sites_new: vec![site.clone()], rooms_new: rooms, ..Effects::default() };
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Site(Ok(Site { id: new_id(0), site: site.clone() })) }
}

fn add_rooms(site_id: i64, rooms: &[NewRoom], f: &Facts, act: &Act) -> Planned {
    let Some(s) = f.site(site_id) else {
        return Planned { effects: Effects::default(), outcome: Outcome::Rooms(Err(Refusal::SiteUnknown.into())) };
    };
    let existing: Vec<&str> = s.rooms.iter().map(|r| r.room.number.as_str()).collect();
    match new_rooms(site_id, rooms, &existing, act) {
        Err(e) => Planned { effects: Effects::default(), outcome: Outcome::Rooms(Err(e)) },
        Ok(rooms) => {
            let eff = Effects { rooms_new: rooms.clone(), audit: vec![act.audit.clone()], ..Effects::default() };
            Planned { effects: eff, outcome: Outcome::Rooms(Ok(rooms)) }
        }
    }
}

fn room_event(room_id: i64, event: RoomEvent, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Room(Err(e)) };
    let Some(slot) = f.sites.iter().flat_map(|s| s.rooms.iter()).find(|r| r.room.id == room_id) else {
        return no(Refusal::RoomUnknown.into());
    };
    // Occupying and vacating follow assignments and releases, never a manual event.
    if matches!(event, RoomEvent::Occupy | RoomEvent::Vacate { .. }) {
        return no(Refused::about(room_id, Refusal::RoomTransition.error()));
    }
    let state = match room_after(slot.room.state, event) {
        Ok(s) => s,
        Err(e) => return no(Refused::about(room_id, e)),
    };
    let room = Room { state, state_at: act.at, ..slot.room.clone() };
    let eff = Effects { rooms_save: vec![room.clone()], audit: vec![act.audit.clone()], ..Effects::default() };
    Planned { effects: eff, outcome: Outcome::Room(Ok(room)) }
}

// ---- queue and orders -------------------------------------------------------------------------

fn enqueue(cands: &[IsolationCandidate], f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Count(Err(e)) };
    let mut eff = Effects::default();
    let mut seen = BTreeSet::new();
    for c in cands {
        if !seen.insert(c.contact_id) {
            return no(Refused::about(c.contact_id, Refusal::PersonTwice.error()));
        }
        if let Err(e) = c.person.check() {
            return no(Refused::about(c.contact_id, e));
        }
        if c.last_exposure > act.at {
            return no(Refused::about(c.contact_id, Refusal::ExposureInFuture.error()));
        }
        let entry = match f.queue.iter().find(|q| q.candidate.contact_id == c.contact_id) {
            // Already ordered: the order goes on; nothing changes.
            Some(q) if q.status != QueueStatus::Waiting => continue,
            Some(q) => {
                let mut candidate = c.clone();
                candidate.last_exposure = c.last_exposure.max(q.candidate.last_exposure);
                candidate.identified_at = q.candidate.identified_at.min(c.identified_at);
                QueueEntry { candidate, status: QueueStatus::Waiting, order_id: None, updated_at: act.at }
            }
            None => {
                QueueEntry { candidate: c.clone(), status: QueueStatus::Waiting, order_id: None, updated_at: act.at }
            }
        };
        eff.queue_upsert.push(entry);
    }
    let n = eff.queue_upsert.len() as u32;
    if n > 0 {
        eff.audit.push(act.audit.clone());
    }
    Planned { effects: eff, outcome: Outcome::Count(Ok(n)) }
}

/// A registered resident as the person of an order.
pub fn person_of(r: &Resident) -> Person {
    Person {
        resident_id: Some(r.id),
        name: r.name.clone(),
        id_number: Some(r.id_number.clone()),
        phone: r.phone.clone(),
        unit: Some(r.unit.clone()),
        address: r.room.clone(),
        household_id: Some(r.household_id),
    }
}

fn issue(reqs: &[OrderRequest], f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Orders(Err(e)) };
    let resident = |id: i64| f.residents.iter().find(|r| r.id == id);
    let mut eff = Effects::default();
    let mut out = Vec::with_capacity(reqs.len());
    let mut taken_residents: BTreeSet<i64> =
        f.orders.iter().filter(|o| o.state.is_open()).filter_map(|o| o.person.resident_id).collect();
    let mut taken_ids: BTreeSet<String> = f
        .orders
        .iter()
        .filter(|o| o.state.is_open())
        .filter_map(|o| o.person.id_number.as_ref().map(|n| n.as_str().to_string()))
        .collect();
    for r in reqs {
        let (input, about) = match r {
            OrderRequest::Contact { contact_id } => {
                let Some(q) = f.queue.iter().find(|q| q.candidate.contact_id == *contact_id) else {
                    return no(Refused::about(*contact_id, Refusal::ContactUnknown.error()));
                };
                if q.status != QueueStatus::Waiting {
                    return no(Refused::about(*contact_id, Refusal::ContactOrdered.error()));
                }
                let c = &q.candidate;
                let person = match c.person.resident_id.and_then(resident) {
                    Some(res) => {
                        Person { household_id: c.person.household_id.or(Some(res.household_id)), ..person_of(res) }
                    }
                    None => c.person.clone(),
                };
                let input = OrderInput {
                    person,
                    category: c.class.into(),
                    last_exposure: c.last_exposure,
                    identified_at: c.identified_at,
                    contact_id: Some(c.contact_id),
                    reason: String::new(),
                };
                (input, *contact_id)
            }
            OrderRequest::Arrival { resident_id, person, last_exposure, reason } => {
                let person = match (resident_id, person) {
                    (Some(id), _) => match resident(*id) {
                        Some(res) => person_of(res),
                        None => return no(Refused::about(*id, Refusal::ResidentUnknown.error())),
                    },
                    (None, Some(p)) => p.clone(),
                    (None, None) => return no(Refusal::PersonIdentity.into()),
                };
                let about = person.resident_id.unwrap_or(0);
                let input = OrderInput {
                    person,
                    category: Category::Arrival,
                    last_exposure: *last_exposure,
                    identified_at: act.at,
                    contact_id: None,
                    reason: reason.clone(),
                };
                (input, about)
            }
        };
        let dup_resident = input.person.resident_id.is_some_and(|id| !taken_residents.insert(id));
        let dup_id = input.person.id_number.as_ref().is_some_and(|n| !taken_ids.insert(n.as_str().to_string()));
        if dup_resident || dup_id {
            return no(Refused::about(about, Refusal::OrderOpen.error()));
        }
        let (mut order, tests) = match new_order(&input, &act.profile, &act.user, act.at, act.offset()) {
            Ok(x) => x,
            Err(e) => return no(Refused::about(about, e)),
        };
        let id = new_id(eff.orders_new.len());
        order.id = id;
        if let Some(c) = order.contact_id {
            eff.queue_status.push((c, QueueStatus::of(order.state), Some(id), act.at));
        }
        eff.tests_new.extend(tests.into_iter().map(|t| OrderTest { order_id: id, ..t }));
        eff.orders_new.push(order.clone());
        out.push(order);
    }
    if !out.is_empty() {
        eff.audit.push(act.audit.clone());
    }
    Planned { effects: eff, outcome: Outcome::Orders(Ok(out)) }
}

fn health_check(c: &NewHealthCheck, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Check(Err(e)) };
    let Some(o) = f.order(c.order_id) else { return no(Refusal::OrderUnknown.into()) };
    if let Err(e) = check_health_check(o) {
        return no(Refused::about(o.id, e));
    }
    let eff = Effects { checks_new: vec![c.clone()], audit: vec![act.audit.clone()], ..Effects::default() };
    Planned { effects: eff, outcome: Outcome::Check(Ok(HealthCheck { id: new_id(0), check: c.clone() })) }
}

/// The tests that lab results resolve: for each result of a person under an open order,
/// the test [`test_for_result`] picks, with the result's status. Results of people under
/// no order change nothing. The hook mass testing's `record_results` runs inside its own
/// transaction plans with this too.
pub fn plan_order_results(
    results: &[PersonResult],
    f: &Facts,
    offset: chrono::FixedOffset,
    audit: &cordon_domain::audit::AuditEntry,
) -> Effects {
    let mut eff = Effects::default();
    let mut tests: HashMap<i64, Vec<OrderTest>> = HashMap::new();
    for r in results {
        let Some(o) = f.orders.iter().find(|o| o.state.is_open() && o.person.resident_id == Some(r.resident_id)) else {
            continue;
        };
        let mine = tests.entry(o.id).or_insert_with(|| f.tests_of(o.id));
        let Some(i) = test_for_result(mine, r, offset) else { continue };
        let t = &mut mine[i];
        t.status = status_of(r.result, r.pooled);
        t.sampled_at = Some(r.sampled_at);
        t.result_at = Some(r.result_at);
        eff.save_test(t.clone());
    }
    if !eff.tests_save.is_empty() {
        eff.audit.push(cordon_domain::audit::AuditEntry {
            action: "order_tests.result".into(),
            target_kind: "quarantine_orders".into(),
            target: eff.tests_save.len().to_string(),
            detail: "lab results of people under an order".into(),
            ..audit.clone()
        });
    }
    eff
}

/// The results of tubes (id, result, capacity) as the results of the people sampled in
/// them (`members`: tube, resident, sampled at); a sample in a pool is `pooled`.
pub fn person_results(
    tubes: &[(i64, TestResult, u32)],
    members: &[(i64, i64, DateTime<Utc>)],
    at: DateTime<Utc>,
) -> Vec<PersonResult> {
    members
        .iter()
        .filter_map(|(tube, resident_id, sampled_at)| {
            let (_, result, capacity) = tubes.iter().find(|t| t.0 == *tube)?;
            Some(PersonResult {
                resident_id: *resident_id,
                sampled_at: *sampled_at,
                result: *result,
                pooled: *capacity > 1,
                result_at: at,
            })
        })
        .collect()
}

/// The keys of [`plan_order_results`]: the open orders of the people resulted.
pub fn order_results_keys(results: &[PersonResult]) -> Keys {
    Keys {
        lock: true,
        orders: vec![OrderQuery {
            resident_ids: Some(results.iter().map(|r| r.resident_id).collect()),
            open: true,
            ..OrderQuery::default()
        }],
        ..Keys::default()
    }
}

fn results(rs: &[PersonResult], f: &Facts, act: &Act) -> Planned {
    let eff = plan_order_results(rs, f, act.offset(), &act.audit);
    let n = eff.tests_save.len() as u32;
    Planned { effects: eff, outcome: Outcome::Results(n) }
}

fn release(order_id: i64, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Order(Err(e)) };
    let Some(o) = f.order(order_id) else { return no(Refusal::OrderUnknown.into()) };
    let next = match release_check(o, &f.tests_of(order_id), act.today()) {
        Ok(n) => n,
        Err(e) => return no(Refused::about(order_id, e)),
    };
    let mut eff = Effects::default();
    let mut slots = f.sites.clone();
    let mut o = o.clone();
    if o.state == OrderState::InQuarantine && o.centralised() {
        leave_room(&mut o, &mut slots, &mut eff, act.at);
    }
    if o.released_at.is_none() {
        o.released_at = Some(act.at);
        o.released_by = Some(act.user.clone());
    }
    if next == OrderState::Closed {
        o.closed_at = Some(act.at);
        o.closed_by = Some(act.user.clone());
    }
    o.state = next;
    eff.save_order(o.clone(), act.at);
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Order(Ok(o)) }
}

fn cancel(order_id: i64, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Order(Err(e)) };
    let Some(o) = f.order(order_id) else { return no(Refusal::OrderUnknown.into()) };
    let next = match order_after(o, OrderEvent::Cancel) {
        Ok(n) => n,
        Err(e) => return no(Refused::about(order_id, e)),
    };
    let mut o = o.clone();
    if let Some(t) = o.transfer {
        match transfer_after(t, TransferEvent::Cancel) {
            Ok(t) => o.transfer = Some(t),
            Err(e) => return no(Refused::about(order_id, e)),
        }
    }
    let mut eff = Effects::default();
    let mut slots = f.sites.clone();
    leave_room(&mut o, &mut slots, &mut eff, act.at);
    o.state = next;
    o.closed_at = Some(act.at);
    o.closed_by = Some(act.user.clone());
    eff.save_order(o.clone(), act.at);
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Order(Ok(o)) }
}

// ---- rooms for people -------------------------------------------------------------------------

fn occupant(o: &Order) -> Occupant {
    Occupant { order_id: o.id, category: o.category, household_id: o.person.household_id }
}

/// Writes placements: each order into its room (the old stay ends, the new begins), rooms
/// taken become occupied, rooms left empty go to cleaning; one audit entry each.
fn place(
    placements: &[Placement],
    orders: &mut BTreeMap<i64, Order>,
    slots: &mut [SiteSlots],
    eff: &mut Effects,
    act: &Act,
) {
    for p in placements {
        let Some(o) = orders.get_mut(&p.order_id) else { continue };
        if o.room_id == Some(p.room_id) {
            continue;
        }
        leave_room(o, slots, eff, act.at);
        o.site_id = Some(p.site_id);
        o.room_id = Some(p.room_id);
        if let Some(slot) = slots.iter_mut().flat_map(|s| s.rooms.iter_mut()).find(|r| r.room.id == p.room_id) {
            slot.occupants.push(occupant(o));
            if let Ok(state) = room_after(slot.room.state, RoomEvent::Occupy)
                && state != slot.room.state
            {
                slot.room.state = state;
                slot.room.state_at = act.at;
                eff.save_room(slot.room.clone());
            }
        }
        eff.stays_open.push(RoomStay { order_id: o.id, room_id: p.room_id, from: act.at, by: act.user.clone() });
        eff.audit.push(act.entry("room.assign", "quarantine_order", o.id, format!("room {}", p.room_id)));
    }
}

fn assign(ps: &[(i64, i64)], f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Placements(Err(e)) };
    let mut seen = BTreeSet::new();
    let mut wanted = Vec::with_capacity(ps.len());
    for (order_id, room_id) in ps {
        if !seen.insert(*order_id) {
            return no(Refused::about(*order_id, Refusal::PersonTwice.error()));
        }
        let Some(o) = f.order(*order_id) else { return no(Refused::about(*order_id, Refusal::OrderUnknown.error())) };
        if !o.state.is_open() {
            return no(Refused::about(o.id, Refusal::OrderClosed.error()));
        }
        if !o.centralised() || o.state == OrderState::HomeMonitoring {
            return no(Refused::about(o.id, Refusal::NotCentralised.error()));
        }
        let room_site = f.sites.iter().find(|s| s.rooms.iter().any(|r| r.room.id == *room_id)).map(|s| s.site.id);
        let on_the_way = matches!(o.transfer, Some(TransferState::Dispatched | TransferState::PickedUp));
        if on_the_way && room_site.is_some() && o.site_id.is_some() && room_site != o.site_id {
            return no(Refused::about(o.id, Refusal::AssignedElsewhere.error()));
        }
        wanted.push((occupant(o), *room_id));
    }
    // The rules see the rooms without the people being placed.
    let mut without = f.sites.clone();
    for s in &mut without {
        for r in &mut s.rooms {
            r.occupants.retain(|x| !seen.contains(&x.order_id));
        }
    }
    let placements = match check_assignment(&wanted, &without, &act.profile.quarantine) {
        Ok(p) => p,
        Err((id, e)) => return no(Refused::about(id, e)),
    };
    let mut eff = Effects::default();
    let mut orders: BTreeMap<i64, Order> =
        placements.iter().filter_map(|p| f.order(p.order_id)).map(|o| (o.id, o.clone())).collect();
    let mut slots = f.sites.clone();
    place(&placements, &mut orders, &mut slots, &mut eff, act);
    for o in orders.into_values() {
        if f.order(o.id) != Some(&o) {
            eff.save_order(o, act.at);
        }
    }
    Planned { effects: eff, outcome: Outcome::Placements(Ok(placements)) }
}

// ---- transfer -------------------------------------------------------------------------------

fn dispatch(d: &DispatchRequest, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Run(Err(e)) };
    let Some(site) = f.site(d.site_id) else { return no(Refusal::SiteUnknown.into()) };
    let mut seen = BTreeSet::new();
    let mut orders = Vec::with_capacity(d.order_ids.len());
    for id in &d.order_ids {
        if !seen.insert(*id) {
            return no(Refused::about(*id, Refusal::PersonTwice.error()));
        }
        let Some(o) = f.order(*id) else { return no(Refused::about(*id, Refusal::OrderUnknown.error())) };
        if o.site_id.is_some_and(|s| s != d.site_id) {
            return no(Refused::about(*id, Refusal::AssignedElsewhere.error()));
        }
        orders.push(o);
    }
    if let Err((about, e)) = check_dispatch(&orders, &d.vehicle, &|c| site.site.accepts(c), &act.profile) {
        return no(Refused { about, error: e });
    }
    let run = TransferRun {
        id: new_id(0),
        vehicle: d.vehicle.clone(),
        site_id: d.site_id,
        state: RunState::Dispatched,
        dispatched_at: act.at,
        dispatched_by: act.user.clone(),
        completed_at: None,
    };
    let mut eff = Effects { runs_new: vec![run.clone()], ..Effects::default() };
    for o in orders {
        let mut o = o.clone();
        o.transfer = Some(TransferState::Dispatched);
        o.run_id = Some(run.id);
        o.site_id = Some(d.site_id);
        eff.save_order(o, act.at);
    }
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Run(Ok(run)) }
}

fn members(f: &Facts, run_id: i64) -> Vec<&Order> {
    f.orders.iter().filter(|o| o.run_id == Some(run_id)).collect()
}

/// The run completes once nobody on it waits to be picked up or to arrive.
fn maybe_complete(run: &TransferRun, orders: &[Order], eff: &mut Effects, act: &Act) -> TransferRun {
    let waiting =
        orders.iter().any(|o| matches!(o.transfer, Some(TransferState::Dispatched | TransferState::PickedUp)));
    let mut run = run.clone();
    if !waiting && run.state == RunState::Dispatched {
        run.state = RunState::Completed;
        run.completed_at = Some(act.at);
        eff.runs_save.push(run.clone());
    }
    run
}

fn undispatch(run_id: i64, order_ids: &[i64], f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Run(Err(e)) };
    let Some(run) = f.run(run_id) else { return no(Refusal::RunUnknown.into()) };
    if run.state == RunState::Completed {
        return no(Refusal::RunClosed.into());
    }
    let mut eff = Effects::default();
    let mut after: Vec<Order> = members(f, run_id).into_iter().cloned().collect();
    for id in order_ids {
        let Some(o) = after.iter_mut().find(|o| o.id == *id) else {
            return no(Refused::about(*id, Refusal::NotOnTransfer.error()));
        };
        match transfer_after(o.transfer.unwrap_or(TransferState::Cancelled), TransferEvent::Undispatch) {
            Ok(t) => o.transfer = Some(t),
            Err(e) => return no(Refused::about(*id, e)),
        }
        o.run_id = None;
        o.site_id = if o.room_id.is_some() { o.site_id } else { None };
        eff.save_order(o.clone(), act.at);
    }
    let still: Vec<Order> = after.into_iter().filter(|o| o.run_id == Some(run_id)).collect();
    let run = maybe_complete(run, &still, &mut eff, act);
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Run(Ok(run)) }
}

fn pickup(run_id: i64, who: &PickupWho, key: &str, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Pickup(Err(e)) };
    let on_run = members(f, run_id);
    let remaining = |orders: &[&Order], except: Option<i64>| {
        orders.iter().filter(|o| o.transfer == Some(TransferState::Dispatched) && Some(o.id) != except).count() as u32
    };
    if let Some(op) = &f.device_op {
        // A retry of a pickup already recorded: the same answer, nothing written.
        let o = op.order_id.and_then(|id| f.order(id));
        return Planned {
            effects: Effects::default(),
            outcome: Outcome::Pickup(Ok(PickupOutcome {
                order_id: op.order_id.unwrap_or(0),
                masked_name: o.map(|o| o.person.name.masked()).unwrap_or_default(),
                replayed: true,
                remaining: remaining(&on_run, None),
            })),
        };
    }
    let Some(run) = f.run(run_id) else { return no(Refusal::RunUnknown.into()) };
    if run.state == RunState::Completed {
        return no(Refusal::RunClosed.into());
    }
    let found = on_run.iter().find(|o| match who {
        PickupWho::Resident(id) => o.person.resident_id == Some(*id),
        PickupWho::IdNumber(n) => o.person.id_number.as_ref() == Some(n),
    });
    let Some(o) = found else { return no(Refusal::NotOnTransfer.into()) };
    let mut eff = Effects::default();
    eff.device_ops.push(DeviceOp {
        key: key.to_string(),
        kind: "pickup".into(),
        run_id,
        order_id: Some(o.id),
        at: act.at,
    });
    let replayed = o.transfer == Some(TransferState::PickedUp);
    if !replayed {
        let t = match transfer_after(o.transfer.unwrap_or(TransferState::Cancelled), TransferEvent::PickUp) {
            Ok(t) => t,
            Err(e) => return no(Refused::about(o.id, e)),
        };
        let state = match order_after(o, OrderEvent::PickedUp) {
            Ok(s) => s,
            Err(e) => return no(Refused::about(o.id, e)),
        };
        let mut o = (*o).clone();
        o.transfer = Some(t);
        o.state = state;
        o.picked_up_at = Some(act.at);
        o.picked_up_by = Some(act.user.clone());
        eff.save_order(o, act.at);
        eff.audit.push(act.audit.clone());
    }
    let outcome = PickupOutcome {
        order_id: o.id,
        masked_name: o.person.name.masked(),
        replayed,
        remaining: remaining(&on_run, Some(o.id)),
    };
    Planned { effects: eff, outcome: Outcome::Pickup(Ok(outcome)) }
}

fn arrive(run_id: i64, key: &str, f: &Facts, act: &Act) -> Planned {
    let no = |e: Refused| Planned { effects: Effects::default(), outcome: Outcome::Arrival(Err(e)) };
    let on_run = members(f, run_id);
    if f.device_op.is_some() {
        let placements = on_run
            .iter()
            .filter(|o| o.transfer == Some(TransferState::Arrived))
            .filter_map(|o| Some(Placement { order_id: o.id, site_id: o.site_id?, room_id: o.room_id? }))
            .collect();
        return Planned {
            effects: Effects::default(),
            outcome: Outcome::Arrival(Ok(ArrivalOutcome { placements, replayed: true })),
        };
    }
    let Some(run) = f.run(run_id) else { return no(Refusal::RunUnknown.into()) };
    if run.state == RunState::Completed {
        return no(Refusal::RunClosed.into());
    }
    let Some(site) = f.site(run.site_id) else { return no(Refusal::SiteUnknown.into()) };
    let picked: Vec<&Order> = on_run.iter().copied().filter(|o| o.transfer == Some(TransferState::PickedUp)).collect();
    if picked.is_empty() {
        return no(Refusal::NotPickedUp.into());
    }
    // Those without a room here get one now, by the same rules as a suggestion.
    let here = |o: &Order| o.room_id.is_some() && o.site_id == Some(run.site_id);
    let roomless: Vec<Occupant> = picked.iter().filter(|o| !here(o)).map(|o| occupant(o)).collect();
    let suggestion = suggest(&roomless, std::slice::from_ref(site), &act.profile.quarantine);
    if let Some((id, e)) = suggestion.unplaced.first() {
        return no(Refused::about(*id, e.clone()));
    }
    let mut eff = Effects::default();
    let mut orders: BTreeMap<i64, Order> = picked.iter().map(|o| (o.id, (*o).clone())).collect();
    let mut slots = f.sites.clone();
    place(&suggestion.placements, &mut orders, &mut slots, &mut eff, act);
    let mut placements = Vec::new();
    for o in orders.values_mut() {
        let t = match transfer_after(o.transfer.unwrap_or(TransferState::Cancelled), TransferEvent::Arrive) {
            Ok(t) => t,
            Err(e) => return no(Refused::about(o.id, e)),
        };
        let state = match order_after(o, OrderEvent::Arrived) {
            Ok(s) => s,
            Err(e) => return no(Refused::about(o.id, e)),
        };
        o.transfer = Some(t);
        o.state = state;
        o.arrived_at = Some(act.at);
        o.arrived_by = Some(act.user.clone());
        o.in_quarantine_at = Some(act.at);
        if let (Some(site_id), Some(room_id)) = (o.site_id, o.room_id) {
            placements.push(Placement { order_id: o.id, site_id, room_id });
        }
    }
    let all: Vec<Order> = on_run.iter().map(|o| orders.get(&o.id).cloned().unwrap_or_else(|| (*o).clone())).collect();
    maybe_complete(run, &all, &mut eff, act);
    for o in orders.into_values() {
        eff.save_order(o, act.at);
    }
    eff.device_ops.push(DeviceOp { key: key.to_string(), kind: "arrive".into(), run_id, order_id: None, at: act.at });
    eff.audit.push(act.audit.clone());
    Planned { effects: eff, outcome: Outcome::Arrival(Ok(ArrivalOutcome { placements, replayed: false })) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cordon_domain::colour::ContactClass;
    use cordon_domain::containment::quarantine::{OrderInput, Person};
    use cordon_domain::name::PersonName;
    use cordon_domain::policy::Profile;
    use std::sync::Arc;

    fn act(at: DateTime<Utc>) -> Act {
        Act {
            at,
            tz: cordon_domain::clock::DistrictTz::default(),
            user_id: Some(1),
            user: "dispatcher".into(),
            profile: Arc::new(Profile::shipped("protocol-9").unwrap().unwrap()),
            audit: cordon_domain::audit::AuditEntry {
                at,
                actor_id: Some(1),
                actor: "dispatcher".into(),
                role: None,
                action: "x".into(),
                target_kind: "x".into(),
                target: "x".into(),
                request_id: "r".into(),
                detail: String::new(),
            },
        }
    }

    fn order(id: i64, household: i64, act: &Act) -> Order {
        let input = OrderInput {
            person: Person {
                resident_id: Some(id),
                name: PersonName::parse("赵六").unwrap(),
                id_number: None,
                phone: None,
                unit: None,
                address: String::new(),
                household_id: Some(household),
            },
            category: Category::CloseContact,
            last_exposure: act.at - chrono::Duration::hours(5),
            identified_at: act.at,
            contact_id: Some(id),
            reason: String::new(),
        };
        let (mut o, _) = new_order(&input, &act.profile, "t", act.at, act.offset()).unwrap();
        o.id = id;
        o
    }

    #[test]
    fn a_refused_write_plans_nothing() {
        let a = act(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap());
        let f = Facts { orders: (1..=4).map(|i| order(i, i, &a)).collect(), ..Facts::default() };
        // Four households for a vehicle of three: refused after the site and orders were
        // looked at; no effect survives.
        let site = cordon_domain::containment::quarantine::NewSite::new(
            "点",
            cordon_domain::containment::quarantine::SiteKind::Hotel,
            "址",
            AreaCode::parse("141102").unwrap(),
            "经理",
            None,
            None,
            &[Category::CloseContact],
            a.at,
        )
        .unwrap();
        let f = Facts { sites: vec![SiteSlots { site: Site { id: 1, site }, rooms: vec![] }], ..f };
        let w = Write::Dispatch(DispatchRequest {
            order_ids: vec![1, 2, 3, 4],
            vehicle: cordon_domain::containment::transfer::Vehicle::new("晋K12345", "王", None, "组", 7).unwrap(),
            site_id: 1,
        });
        let p = plan(&w, &f, &a);
        assert_eq!(p.outcome.refusal().map(|r| r.error.code), Some("vehicle_households"));
        assert!(p.effects.is_empty());
        // Three go.
        let w = Write::Dispatch(DispatchRequest {
            order_ids: vec![1, 2, 3],
            vehicle: cordon_domain::containment::transfer::Vehicle::new("晋K12345", "王", None, "组", 7).unwrap(),
            site_id: 1,
        });
        let p = plan(&w, &f, &a);
        assert!(p.outcome.refusal().is_none());
        assert_eq!((p.effects.runs_new.len(), p.effects.orders_save.len(), p.effects.queue_status.len()), (1, 3, 3));
        assert!(p.effects.orders_save.iter().all(|o| o.run_id == Some(new_id(0))));
    }

    #[test]
    fn orders_from_the_queue_refer_to_their_new_ids() {
        let a = act(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap());
        let entry = |c: i64| QueueEntry {
            candidate: IsolationCandidate {
                contact_id: c,
                person: order(c, c, &a).person,
                class: ContactClass::Close,
                last_exposure: a.at - chrono::Duration::hours(5),
                identified_at: a.at - chrono::Duration::hours(1),
                deadline: a.at + chrono::Duration::hours(23),
            },
            status: QueueStatus::Waiting,
            order_id: None,
            updated_at: a.at,
        };
        let f = Facts { queue: vec![entry(7), entry(8)], ..Facts::default() };
        let w =
            Write::IssueOrders(vec![OrderRequest::Contact { contact_id: 7 }, OrderRequest::Contact { contact_id: 8 }]);
        let p = plan(&w, &f, &a);
        assert_eq!(p.effects.orders_new.iter().map(|o| o.id).collect::<Vec<_>>(), vec![-1, -2]);
        assert!(p.effects.tests_new.iter().all(|t| t.order_id == -1 || t.order_id == -2));
        assert_eq!(
            p.effects.queue_status.iter().map(|q| (q.0, q.1, q.2)).collect::<Vec<_>>(),
            vec![(7, QueueStatus::Ordered, Some(-1)), (8, QueueStatus::Ordered, Some(-2))]
        );
        let written = Written { orders: vec![40, 41], ..Written::default() };
        let Outcome::Orders(Ok(orders)) = p.outcome.resolve(&written) else { panic!() };
        assert_eq!(orders.iter().map(|o| o.id).collect::<Vec<_>>(), vec![40, 41]);
        // A day already applied plans nothing.
        let run = ZoneRunRecord {
            date: a.today(),
            at: a.at,
            applied_at: a.at,
            by: "other".into(),
            steps: 3,
            held: 0,
            profile: "protocol-9".into(),
        };
        let f = Facts { zone_run: Some(run.clone()), ..Facts::default() };
        let p = plan(&Write::ZoneDay { date: a.today() }, &f, &a);
        assert!(p.effects.is_empty());
        assert!(
            matches!(p.outcome, Outcome::ZoneDay(ZoneDayReport { applied: false, ref run, .. }) if run.by == "other")
        );
    }
}
