//! The containment read models, written once over [`Facts`]: what each board fetches
//! ([`board_keys`], …) and how it is assembled from the facts and the profile
//! ([`site_board`], …).

use super::facts::{ClockKeys, Facts, Keys, OrderQuery, QueueQuery, RunQuery, SiteQuery, ZoneQuery};
use super::{
    ContainmentKpis, DispatchBoard, FloorBoard, HomeLine, OrderDetail, QueueStatus, ReleaseLine, RunView, SiteBoard,
    View,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::containment::assign::{self, DayCapacity, Occupant, Stay, Suggestion};
use cordon_domain::containment::kpi;
use cordon_domain::containment::quarantine::{OrderState, RoomState, release_check};
use cordon_domain::containment::transfer::{TransferState, overdue};
use cordon_domain::containment::{add_days, local_date, local_instant};
use cordon_domain::policy::Profile;
use cordon_domain::regime::Schedule;
use cordon_domain::zone::ZoneLevel;

/// Orders under `roots` as an order query: `None` (everyone, also people not on the
/// register) when a root is the whole district.
pub fn order_roots(roots: &[AreaCode]) -> Option<Vec<AreaCode>> {
    if roots.iter().any(|r| r.level() == AreaLevel::District) { None } else { Some(roots.to_vec()) }
}

fn start_of_day(view: &View) -> DateTime<Utc> {
    local_instant(view.today(), NaiveTime::MIN, view.offset())
}

pub fn forecast_keys(roots: &[AreaCode], date: NaiveDate, view: &View) -> Keys {
    let needs_round = ZoneLevel::ALL.iter().any(|l| view.profile.zones.needs_negative_round(*l));
    Keys {
        zones: Some(ZoneQuery::OpenUnder(roots.to_vec())),
        zone_clock: Some(ClockKeys { at: view.at, round_date: needs_round.then(|| date.pred_opt()).flatten() }),
        ..Keys::default()
    }
}

pub fn detail_keys(id: i64) -> Keys {
    Keys { orders: vec![OrderQuery::ids(vec![id])], checks_since: Some(DateTime::<Utc>::UNIX_EPOCH), ..Keys::default() }
}

pub fn order_detail(id: i64, f: &Facts, sites: &[assign::SiteSlots], view: &View) -> Option<OrderDetail> {
    let order = f.order(id)?.clone();
    let tests = f.tests_of(id);
    let site = order.site_id.and_then(|s| sites.iter().find(|x| x.site.id == s));
    let room =
        order.room_id.and_then(|r| site.and_then(|s| s.rooms.iter().find(|x| x.room.id == r)).map(|x| x.room.clone()));
    Some(OrderDetail {
        release: release_check(&order, &tests, view.today()),
        checks: f.checks.iter().filter(|c| c.check.order_id == id).cloned().collect(),
        site: site.map(|s| s.site.clone()),
        room,
        tests,
        order,
    })
}

pub fn suggest_keys(order_ids: &[i64], site_ids: &[i64]) -> Keys {
    Keys {
        orders: vec![OrderQuery::ids(order_ids.to_vec())],
        sites: Some(if site_ids.is_empty() { SiteQuery::Under(Vec::new()) } else { SiteQuery::Ids(site_ids.to_vec()) }),
        ..Keys::default()
    }
}

/// Rooms for the fetched orders that are open, centralised and not in a room yet.
pub fn suggest(f: &Facts, profile: &Profile) -> Suggestion {
    let arrivals: Vec<Occupant> = f
        .orders
        .iter()
        .filter(|o| {
            o.state.is_open() && o.centralised() && o.room_id.is_none() && o.state != OrderState::HomeMonitoring
        })
        .map(|o| Occupant { order_id: o.id, category: o.category, household_id: o.person.household_id })
        .collect();
    assign::suggest(&arrivals, &f.sites, &profile.quarantine)
}

pub fn board_keys(site_id: i64) -> Keys {
    Keys {
        sites: Some(SiteQuery::Ids(vec![site_id])),
        orders: vec![OrderQuery { site_ids: Some(vec![site_id]), open: true, ..OrderQuery::default() }],
        ..Keys::default()
    }
}

pub fn site_board(site_id: i64, f: &Facts, view: &View) -> Option<SiteBoard> {
    let slots = f.site(site_id)?;
    let today = view.today();
    let mut floors: Vec<i32> = slots.rooms.iter().map(|r| r.room.floor).collect();
    floors.sort_unstable();
    floors.dedup();
    let floors = floors
        .into_iter()
        .map(|floor| {
            let rooms: Vec<_> = slots.rooms.iter().filter(|r| r.room.floor == floor).cloned().collect();
            FloorBoard { floor, occupancy: kpi::occupancy(&rooms) }
        })
        .collect();
    let here: Vec<_> = f.orders.iter().filter(|o| o.site_id == Some(site_id) && o.state.is_open()).collect();
    let people: Vec<_> =
        here.iter().filter(|o| o.state == OrderState::InQuarantine && o.centralised()).map(|o| (*o).clone()).collect();
    let releases_due = people
        .iter()
        .filter(|o| o.release_due() <= today)
        .map(|o| ReleaseLine {
            order: o.clone(),
            due: o.release_due(),
            ready: release_check(o, &f.tests_of(o.id), today),
        })
        .collect();
    let tests_due = people
        .iter()
        .flat_map(|o| {
            f.tests_of(o.id)
                .into_iter()
                .filter(move |t| t.date <= today && t.status.unresolved() && t.date <= o.phase_end().1)
                .map(move |t| (o.clone(), t))
        })
        .collect();
    Some(SiteBoard {
        site: slots.site.clone(),
        occupancy: kpi::occupancy(&slots.rooms),
        floors,
        arrivals_due: here
            .iter()
            .filter(|o| matches!(o.state, OrderState::Ordered | OrderState::InTransfer))
            .map(|o| (*o).clone())
            .collect(),
        releases_due,
        rooms_to_clean: slots
            .rooms
            .iter()
            .filter(|r| r.room.state == RoomState::Cleaning)
            .map(|r| r.room.clone())
            .collect(),
        tests_due,
        people,
    })
}

pub fn dispatch_keys() -> Keys {
    Keys {
        orders: vec![OrderQuery {
            transfer: Some(vec![TransferState::Requested]),
            open: true,
            ..OrderQuery::default()
        }],
        runs: Some(RunQuery::Open),
        orders_of_runs: true,
        ..Keys::default()
    }
}

pub fn run_views(f: &Facts) -> Vec<RunView> {
    f.runs
        .iter()
        .map(|r| RunView {
            run: r.clone(),
            members: f.orders.iter().filter(|o| o.run_id == Some(r.id)).cloned().collect(),
        })
        .collect()
}

pub fn dispatch_board(f: &Facts, view: &View) -> DispatchBoard {
    let mut waiting: Vec<_> = f
        .orders
        .iter()
        .filter(|o| o.state.is_open() && o.transfer == Some(TransferState::Requested))
        .cloned()
        .collect();
    waiting.sort_by_key(|o| (o.identified_at, o.id));
    DispatchBoard {
        waiting,
        runs: run_views(f),
        overdue: f.orders.iter().filter(|o| overdue(o, &view.profile, view.at)).cloned().collect(),
    }
}

pub fn home_keys(roots: &[AreaCode], view: &View) -> Keys {
    Keys {
        orders: vec![OrderQuery {
            roots: order_roots(roots),
            states: Some(vec![OrderState::InQuarantine, OrderState::HomeMonitoring]),
            ..OrderQuery::default()
        }],
        checks_since: Some(start_of_day(view)),
        ..Keys::default()
    }
}

pub fn home_list(f: &Facts, view: &View) -> Vec<HomeLine> {
    let today = view.today();
    let since = start_of_day(view);
    f.orders
        .iter()
        .filter(|o| o.state == OrderState::HomeMonitoring || (o.state == OrderState::InQuarantine && !o.centralised()))
        .map(|o| {
            let tests = f.tests_of(o.id);
            let checks: Vec<_> = f.checks.iter().filter(|c| c.check.order_id == o.id).collect();
            HomeLine {
                tests_due: tests
                    .iter()
                    .filter(|t| t.date <= today && t.status.unresolved() && t.phase == o.phase_end().0)
                    .cloned()
                    .collect(),
                checks_today: checks.iter().filter(|c| c.check.at >= since).count() as u32,
                checks_expected: view.profile.quarantine.health_checks_per_day,
                last_check: checks.iter().max_by_key(|c| (c.check.at, c.id)).map(|c| (*c).clone()),
                release: release_check(o, &tests, today),
                order: o.clone(),
            }
        })
        .collect()
}

pub fn kpi_keys(roots: &[AreaCode]) -> Keys {
    Keys {
        orders: vec![OrderQuery { roots: order_roots(roots), ..OrderQuery::default() }],
        sites: Some(SiteQuery::Under(Vec::new())),
        zones: Some(ZoneQuery::OpenUnder(roots.to_vec())),
        queue: Some(QueueQuery::Status {
            statuses: vec![QueueStatus::Waiting],
            roots: order_roots(roots),
            limit: u32::MAX,
        }),
        ..Keys::default()
    }
}

pub fn kpis(f: &Facts, view: &View) -> ContainmentKpis {
    let rooms: Vec<_> = f.sites.iter().flat_map(|s| s.rooms.iter().cloned()).collect();
    let mut zones: Vec<(ZoneLevel, u32)> = ZoneLevel::ALL.iter().map(|l| (*l, 0)).collect();
    for z in f.zones.iter().filter(|z| z.zone.ends_at.is_none()) {
        if let Some(slot) = zones.iter_mut().find(|(l, _)| *l == z.zone.level) {
            slot.1 += 1;
        }
    }
    ContainmentKpis {
        times: kpi::isolation_times(&f.orders, &view.profile, view.at),
        held: kpi::held(&f.orders, view.today()),
        occupancy: kpi::occupancy(&rooms),
        zones,
        queue_waiting: f.queue.iter().filter(|q| q.status == QueueStatus::Waiting).count() as u64,
        overdue_transfers: f.orders.iter().filter(|o| overdue(o, &view.profile, view.at)).count() as u64,
    }
}

pub fn capacity_keys(site_ids: &[i64]) -> Keys {
    let open = vec![OrderState::Ordered, OrderState::InTransfer, OrderState::InQuarantine];
    if site_ids.is_empty() {
        Keys {
            sites: Some(SiteQuery::Under(Vec::new())),
            orders: vec![OrderQuery { states: Some(open), ..OrderQuery::default() }],
            queue: Some(QueueQuery::Status { statuses: vec![QueueStatus::Waiting], roots: None, limit: u32::MAX }),
            ..Keys::default()
        }
    } else {
        Keys {
            sites: Some(SiteQuery::Ids(site_ids.to_vec())),
            orders: vec![OrderQuery { site_ids: Some(site_ids.to_vec()), states: Some(open), ..OrderQuery::default() }],
            ..Keys::default()
        }
    }
}

/// Beds in service against the stays: people at the sites until their release date,
/// people ordered or in transfer from today, and (across all sites) queued contacts
/// whose regime is centralised from today.
pub fn capacity(f: &Facts, days: u32, view: &View) -> Vec<DayCapacity> {
    let today = view.today();
    let beds: u64 = f
        .sites
        .iter()
        .flat_map(|s| s.rooms.iter())
        .filter(|r| r.room.state != RoomState::OutOfService)
        .map(|r| u64::from(r.room.beds))
        .sum();
    let mut stays: Vec<Stay> = f
        .orders
        .iter()
        .filter(|o| {
            o.centralised()
                && matches!(o.state, OrderState::Ordered | OrderState::InTransfer | OrderState::InQuarantine)
        })
        .map(|o| Stay { from: today, until: add_days(o.schedule.centralised_until.unwrap_or(o.schedule.end), 1) })
        .collect();
    for q in f.queue.iter().filter(|q| q.status == QueueStatus::Waiting) {
        let category: cordon_domain::containment::quarantine::Category = q.candidate.class.into();
        let Some(regime) = category.regime(&view.profile) else { continue };
        let s = Schedule::new(regime, local_date(q.candidate.last_exposure, view.offset()));
        if let Some(until) = s.centralised_until.filter(|u| *u >= today) {
            stays.push(Stay { from: today, until: add_days(until, 1) });
        }
    }
    assign::capacity_forecast(beds, &stays, today, days)
}
