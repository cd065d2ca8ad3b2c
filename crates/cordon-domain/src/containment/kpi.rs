//! Containment KPIs, computed from orders and rooms: identification → order → pickup →
//! arrival medians and the share quarantined within the profile's target (RTSL:
//! contacts quarantined within 24 h of identification), people held by category, room
//! occupancy and beds free, releases due.

use super::assign::RoomSlot;
use super::quarantine::{Category, Order, OrderState, RoomState};
use crate::policy::Profile;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds() as f64 / 60.0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationTimes {
    /// Medians in minutes.
    pub identified_to_order: Option<f64>,
    pub order_to_pickup: Option<f64>,
    pub pickup_to_arrival: Option<f64>,
    pub identified_to_quarantine: Option<f64>,
    pub target_hours: u32,
    /// Orders whose target has passed or that are in quarantine already.
    pub due: u64,
    /// Of those, in quarantine within the target.
    pub within: u64,
    pub share_within: Option<f64>,
}

/// The isolation times of `orders` (cancelled ones left out).
pub fn isolation_times(orders: &[Order], profile: &Profile, now: DateTime<Utc>) -> IsolationTimes {
    let target = Duration::hours(i64::from(profile.quarantine.within_hours));
    let live: Vec<&Order> = orders.iter().filter(|o| o.state != OrderState::Cancelled).collect();
    let collect = |f: &dyn Fn(&Order) -> Option<f64>| -> Option<f64> {
        let mut v: Vec<f64> = live.iter().filter_map(|o| f(o)).collect();
        median(&mut v)
    };
    let identified_to_order = collect(&|o| Some(minutes(o.identified_at, o.ordered_at)));
    let order_to_pickup = collect(&|o| o.picked_up_at.map(|t| minutes(o.ordered_at, t)));
    let pickup_to_arrival = collect(&|o| o.picked_up_at.zip(o.arrived_at).map(|(p, a)| minutes(p, a)));
    let identified_to_quarantine = collect(&|o| o.in_quarantine_at.map(|t| minutes(o.identified_at, t)));
    let due: Vec<&&Order> =
        live.iter().filter(|o| o.in_quarantine_at.is_some() || o.identified_at + target <= now).collect();
    let within =
        due.iter().filter(|o| o.in_quarantine_at.is_some_and(|t| t - o.identified_at <= target)).count() as u64;
    IsolationTimes {
        identified_to_order,
        order_to_pickup,
        pickup_to_arrival,
        identified_to_quarantine,
        target_hours: profile.quarantine.within_hours,
        due: due.len() as u64,
        within,
        share_within: (!due.is_empty()).then(|| within as f64 / due.len() as f64),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Occupancy {
    pub rooms: u64,
    /// Beds in rooms that are in service.
    pub beds: u64,
    pub occupied: u64,
    pub free: u64,
    pub cleaning: u64,
    pub out_of_service: u64,
    pub rate: Option<f64>,
}

/// Beds in service, taken and free (a free bed is in a free room, or in an occupied room
/// the rules could still fill), and rooms to clean or out of service.
pub fn occupancy(rooms: &[RoomSlot]) -> Occupancy {
    let mut o = Occupancy { rooms: 0, beds: 0, occupied: 0, free: 0, cleaning: 0, out_of_service: 0, rate: None };
    for r in rooms {
        o.rooms += 1;
        match r.room.state {
            RoomState::OutOfService => o.out_of_service += 1,
            state => {
                let beds = u64::from(r.room.beds);
                let taken = (r.occupants.len() as u64).min(beds);
                o.beds += beds;
                o.occupied += taken;
                if state == RoomState::Cleaning {
                    o.cleaning += 1;
                } else {
                    o.free += beds - taken;
                }
            }
        }
    }
    o.rate = (o.beds > 0).then(|| o.occupied as f64 / o.beds as f64);
    o
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeldByCategory {
    pub category: Category,
    /// Awaiting transfer or in transfer.
    pub to_transfer: u64,
    pub centralised: u64,
    pub home: u64,
    pub home_monitoring: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    pub by_category: Vec<HeldByCategory>,
    /// Open orders whose release is due by `today`.
    pub releases_due: u64,
    /// Cases found among people in quarantine.
    pub cases_found: u64,
}

/// People held now, by category and where.
pub fn held(orders: &[Order], today: NaiveDate) -> Held {
    let mut by_category: Vec<HeldByCategory> = Category::ALL
        .iter()
        .filter(|c| **c != Category::Case)
        .map(|c| HeldByCategory { category: *c, to_transfer: 0, centralised: 0, home: 0, home_monitoring: 0 })
        .collect();
    let mut releases_due = 0;
    let mut cases_found = 0;
    for o in orders {
        if o.state == OrderState::BecameCase {
            cases_found += 1;
        }
        let Some(slot) = by_category.iter_mut().find(|s| s.category == o.category) else { continue };
        match o.state {
            OrderState::Ordered | OrderState::InTransfer => slot.to_transfer += 1,
            OrderState::InQuarantine if o.centralised() => slot.centralised += 1,
            OrderState::InQuarantine => slot.home += 1,
            OrderState::HomeMonitoring => slot.home_monitoring += 1,
            _ => continue,
        }
        if matches!(o.state, OrderState::InQuarantine | OrderState::HomeMonitoring) && o.release_due() <= today {
            releases_due += 1;
        }
    }
    Held { by_category, releases_due, cases_found }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containment::assign::Occupant;
    use crate::containment::quarantine::{OrderInput, Person, Room, new_order};
    use crate::containment::transfer::TransferState;
    use crate::name::PersonName;
    use chrono::{FixedOffset, TimeZone};

    fn p9() -> Profile {
        Profile::shipped("protocol-9").unwrap().unwrap()
    }
    fn h(n: i64) -> Duration {
        Duration::minutes(n)
    }

    fn order(identified: DateTime<Utc>, ordered_after: i64, category: Category) -> Order {
        let input = OrderInput {
            person: Person {
                resident_id: Some(1),
                name: PersonName::parse("王五").unwrap(),
                id_number: None,
                phone: None,
                unit: None,
                address: String::new(),
                household_id: None,
            },
            category,
            last_exposure: identified - Duration::hours(3),
            identified_at: identified,
            contact_id: Some(1),
            reason: String::new(),
        };
        let at = identified + h(ordered_after);
        new_order(&input, &p9(), "t", at, FixedOffset::east_opt(8 * 3600).unwrap()).unwrap().0
    }

    #[test]
    fn medians_and_the_share_within_the_target() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        // Identified at t0; ordered after 60 min; picked up after 120 more; arrived 30 later.
        let mut a = order(t0, 60, Category::CloseContact);
        a.picked_up_at = Some(a.ordered_at + h(120));
        a.arrived_at = Some(a.ordered_at + h(150));
        a.in_quarantine_at = a.arrived_at;
        a.state = OrderState::InQuarantine;
        // Arrived after 30 hours: outside the 24 h target.
        let mut b = order(t0, 600, Category::CloseContact);
        b.picked_up_at = Some(t0 + h(29 * 60));
        b.arrived_at = Some(t0 + h(30 * 60));
        b.in_quarantine_at = b.arrived_at;
        b.state = OrderState::InQuarantine;
        // Home quarantine: in quarantine at the order.
        let c = order(t0, 30, Category::SecondaryContact);
        // Waiting 25 h: due and late. Waiting 1 h: not yet due.
        let d = order(t0, 20, Category::CloseContact);
        let e = order(t0 + h(24 * 60), 10, Category::CloseContact);
        let mut cancelled = order(t0, 1, Category::CloseContact);
        cancelled.state = OrderState::Cancelled;
        let now = t0 + h(25 * 60);
        let k = isolation_times(&[a, b, c, d, e, cancelled], &p9(), now);
        assert_eq!(k.identified_to_order, Some(30.0)); // 60, 600, 30, 20, 10 → 30
        assert_eq!(k.order_to_pickup, Some((120.0 + (29.0 * 60.0 - 600.0)) / 2.0));
        assert_eq!(k.pickup_to_arrival, Some(45.0));
        assert_eq!(k.identified_to_quarantine, Some(210.0)); // 210, 1800, 30
        assert_eq!((k.due, k.within, k.target_hours), (4, 2, 24));
        assert_eq!(k.share_within, Some(0.5));
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn occupancy_and_people_held() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let room = |id, beds, state, n: usize| RoomSlot {
            room: Room { id, site_id: 1, floor: 1, number: id.to_string(), beds, state, state_at: t },
            occupants: (0..n)
                .map(|i| Occupant { order_id: i as i64, category: Category::CloseContact, household_id: None })
                .collect(),
        };
        let o = occupancy(&[
            room(1, 2, RoomState::Occupied, 1),
            room(2, 1, RoomState::Free, 0),
            room(3, 1, RoomState::Cleaning, 0),
            room(4, 3, RoomState::OutOfService, 0),
        ]);
        assert_eq!((o.rooms, o.beds, o.occupied, o.free, o.cleaning, o.out_of_service), (4, 4, 1, 2, 1, 1));
        assert_eq!(o.rate, Some(0.25));

        let mut a = order(t, 10, Category::CloseContact);
        a.state = OrderState::InQuarantine;
        let mut b = order(t, 10, Category::CloseContact);
        b.state = OrderState::InTransfer;
        b.transfer = Some(TransferState::PickedUp);
        let c = order(t, 10, Category::SecondaryContact);
        let mut d = order(t, 10, Category::CloseContact);
        d.state = OrderState::BecameCase;
        let today = a.release_due();
        let held = held(&[a, b, c, d], today);
        let cc = held.by_category.iter().find(|c| c.category == Category::CloseContact).unwrap();
        assert_eq!((cc.to_transfer, cc.centralised), (1, 1));
        let sc = held.by_category.iter().find(|c| c.category == Category::SecondaryContact).unwrap();
        assert_eq!(sc.home, 1);
        assert_eq!((held.releases_due, held.cases_found), (2, 1));
    }
}
