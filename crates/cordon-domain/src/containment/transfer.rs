//! Closed-loop transfer (点对点闭环转运): a person's transfer goes requested →
//! dispatched (a vehicle run: plate, driver, team, destination) → picked up (the person
//! confirmed at the door by their code or ID) → arrived (site and room), each step
//! time-stamped with who did it. A person is on one run at a time; a run carries the
//! households and categories the profile allows.

use super::Refusal;
use super::quarantine::{Category, Order, OrderState};
use crate::error::FieldError;
use crate::pass::parse_plate;
use crate::policy::Profile;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Requested,
    Dispatched,
    PickedUp,
    Arrived,
    Cancelled,
}

impl TransferState {
    pub const ALL: [TransferState; 5] = [
        TransferState::Requested,
        TransferState::Dispatched,
        TransferState::PickedUp,
        TransferState::Arrived,
        TransferState::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Requested => "requested",
            TransferState::Dispatched => "dispatched",
            TransferState::PickedUp => "picked_up",
            TransferState::Arrived => "arrived",
            TransferState::Cancelled => "cancelled",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            TransferState::Requested => "待派车",
            TransferState::Dispatched => "已派车",
            TransferState::PickedUp => "已接上车",
            TransferState::Arrived => "已到达",
            TransferState::Cancelled => "已取消",
        }
    }
    pub fn parse(s: &str) -> Option<TransferState> {
        TransferState::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferEvent {
    Dispatch,
    PickUp,
    Arrive,
    /// Taken off a run before pickup: back to the queue.
    Undispatch,
    Cancel,
}

/// The transfer state machine; a refusal names what is wrong in the guard's words.
pub fn transfer_after(state: TransferState, event: TransferEvent) -> Result<TransferState, FieldError> {
    use TransferEvent as E;
    use TransferState as S;
    match (state, event) {
        (S::Requested, E::Dispatch) => Ok(S::Dispatched),
        (S::Dispatched, E::PickUp) => Ok(S::PickedUp),
        (S::PickedUp, E::Arrive) => Ok(S::Arrived),
        (S::Dispatched, E::Undispatch) => Ok(S::Requested),
        (S::Requested | S::Dispatched, E::Cancel) => Ok(S::Cancelled),
        (_, E::Dispatch) => Err(Refusal::TransferNotRequested.error()),
        (S::Requested | S::Cancelled, E::PickUp) => Err(Refusal::NotOnTransfer.error()),
        (S::Requested | S::Dispatched, E::Arrive) => Err(Refusal::NotPickedUp.error()),
        (S::Arrived, _) => Err(Refusal::AlreadyArrived.error()),
        _ => Err(Refusal::OrderTransition.error()),
    }
}

/// The vehicle and crew of a run, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vehicle {
    pub plate: String,
    pub driver: String,
    /// The driver's account (the driver's page lists its runs).
    pub driver_user_id: Option<i64>,
    pub team: String,
    pub seats: u32,
}

impl Vehicle {
    pub fn new(
        plate: &str,
        driver: &str,
        driver_user_id: Option<i64>,
        team: &str,
        seats: u32,
    ) -> Result<Vehicle, FieldError> {
        let plate = parse_plate(plate).map_err(|_| Refusal::Plate.error())?;
        let (driver, team) = (driver.trim(), team.trim());
        if driver.is_empty() || driver.chars().count() > 40 {
            return Err(Refusal::Driver.error());
        }
        if team.is_empty() || team.chars().count() > 80 {
            return Err(Refusal::Team.error());
        }
        if !(1..=60).contains(&seats) {
            return Err(Refusal::Seats.error());
        }
        Ok(Vehicle { plate, driver: driver.to_string(), driver_user_id, team: team.to_string(), seats })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Dispatched,
    Completed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Dispatched => "dispatched",
            RunState::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<RunState> {
        [RunState::Dispatched, RunState::Completed].into_iter().find(|r| r.as_str() == s)
    }
}

/// One vehicle's run to a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRun {
    pub id: i64,
    pub vehicle: Vehicle,
    pub site_id: i64,
    pub state: RunState,
    pub dispatched_at: DateTime<Utc>,
    pub dispatched_by: String,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Checks that `orders` may go together in `vehicle` to a site taking `accepts`: each is
/// centralised and waiting for a transfer, the site takes its category, the seats and
/// the profile's households per vehicle suffice, and categories are not mixed unless the
/// profile allows it. A refusal names the order it is about.
pub fn check_dispatch(
    orders: &[&Order],
    vehicle: &Vehicle,
    accepts: &dyn Fn(Category) -> bool,
    profile: &Profile,
) -> Result<(), (Option<i64>, FieldError)> {
    if orders.is_empty() {
        return Err((None, Refusal::NothingToDispatch.error()));
    }
    for o in orders {
        if !o.centralised() {
            return Err((Some(o.id), Refusal::NotCentralised.error()));
        }
        if o.state != OrderState::Ordered {
            let e = if o.state.is_open() { Refusal::TransferNotRequested } else { Refusal::OrderClosed };
            return Err((Some(o.id), e.error()));
        }
        if let Err(e) = transfer_after(o.transfer.unwrap_or(TransferState::Cancelled), TransferEvent::Dispatch) {
            return Err((Some(o.id), e));
        }
        if !accepts(o.category) {
            return Err((Some(o.id), Refusal::SiteRefusesCategory.error()));
        }
    }
    if orders.len() > vehicle.seats as usize {
        return Err((None, Refusal::SeatsExceeded.error()));
    }
    // A person without a household is a household of one.
    let households: BTreeSet<(bool, i64)> =
        orders.iter().map(|o| o.person.household_id.map_or((false, o.id), |h| (true, h))).collect();
    if households.len() > profile.transfer.households_per_vehicle as usize {
        return Err((None, Refusal::TooManyHouseholds.error()));
    }
    let categories: BTreeSet<Category> = orders.iter().map(|o| o.category).collect();
    if categories.len() > 1 && !profile.transfer.mix_categories {
        return Err((None, Refusal::VehicleCategoriesMixed.error()));
    }
    Ok(())
}

/// Picked up and not arrived within the profile's minutes.
pub fn overdue(order: &Order, profile: &Profile, now: DateTime<Utc>) -> bool {
    order.transfer == Some(TransferState::PickedUp)
        && order
            .picked_up_at
            .is_some_and(|t| now - t > Duration::minutes(i64::from(profile.transfer.alert_after_minutes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containment::quarantine::{OrderInput, Person, new_order};
    use crate::name::PersonName;
    use chrono::{FixedOffset, TimeZone};

    fn p9() -> Profile {
        Profile::shipped("protocol-9").unwrap().unwrap()
    }

    fn order(id: i64, household: i64, category: Category) -> Order {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 1, 0, 0).unwrap();
        let input = OrderInput {
            person: Person {
                resident_id: Some(id),
                name: PersonName::parse("李四").unwrap(),
                id_number: None,
                phone: None,
                unit: None,
                address: String::new(),
                household_id: Some(household),
            },
            category,
            last_exposure: now - Duration::hours(10),
            identified_at: now,
            contact_id: Some(id),
            reason: "r".into(),
        };
        let (mut o, _) = new_order(&input, &p9(), "t", now, FixedOffset::east_opt(8 * 3600).unwrap()).unwrap();
        o.id = id;
        o
    }

    #[test]
    fn the_transfer_state_machine() {
        use TransferEvent as E;
        use TransferState as S;
        let ok = [
            (S::Requested, E::Dispatch, S::Dispatched),
            (S::Dispatched, E::PickUp, S::PickedUp),
            (S::PickedUp, E::Arrive, S::Arrived),
            (S::Dispatched, E::Undispatch, S::Requested),
            (S::Requested, E::Cancel, S::Cancelled),
            (S::Dispatched, E::Cancel, S::Cancelled),
        ];
        for (s, e, want) in ok {
            assert_eq!(transfer_after(s, e).unwrap(), want, "{s:?} {e:?}");
        }
        let refused = [
            (S::Dispatched, E::Dispatch, "transfer_not_requested"),
            (S::PickedUp, E::Dispatch, "transfer_not_requested"),
            (S::Requested, E::PickUp, "not_on_transfer"),
            (S::Requested, E::Arrive, "not_picked_up"),
            (S::Dispatched, E::Arrive, "not_picked_up"),
            (S::Arrived, E::Arrive, "already_arrived"),
            (S::Arrived, E::PickUp, "already_arrived"),
            (S::PickedUp, E::Cancel, "order_state"),
            (S::PickedUp, E::Undispatch, "order_state"),
        ];
        for (s, e, code) in refused {
            let err = transfer_after(s, e).unwrap_err();
            assert_eq!(err.code, code, "{s:?} {e:?}");
            assert!(!err.zh.is_empty() && !err.en.is_empty());
        }
    }

    #[test]
    fn dispatch_rules() {
        let p = p9();
        let v = Vehicle::new("晋K·12345", "王师傅", Some(5), "转运一组", 7).unwrap();
        assert_eq!(v.plate, "晋K12345");
        assert_eq!(Vehicle::new("12345", "王", None, "组", 7).unwrap_err().code, "plate_format");
        assert_eq!(Vehicle::new("晋K12345", " ", None, "组", 7).unwrap_err().code, "driver");
        assert_eq!(Vehicle::new("晋K12345", "王", None, "组", 0).unwrap_err().code, "seats");
        let all = |_: Category| true;
        let (a1, a2, b, c, d) = (
            order(1, 10, Category::CloseContact),
            order(2, 10, Category::CloseContact),
            order(3, 11, Category::CloseContact),
            order(4, 12, Category::CloseContact),
            order(5, 13, Category::CloseContact),
        );
        assert!(check_dispatch(&[&a1, &a2, &b, &c], &v, &all, &p).is_ok());
        assert_eq!(check_dispatch(&[&a1, &b, &c, &d], &v, &all, &p).unwrap_err().1.code, "vehicle_households");
        let small = Vehicle { seats: 2, ..v.clone() };
        assert_eq!(check_dispatch(&[&a1, &a2, &b], &small, &all, &p).unwrap_err().1.code, "seats_exceeded");
        let arrival = order(6, 14, Category::Arrival);
        assert_eq!(check_dispatch(&[&a1, &arrival], &v, &all, &p).unwrap_err().1.code, "vehicle_categories");
        let only_arrivals = |c: Category| c == Category::Arrival;
        assert_eq!(
            check_dispatch(&[&a1], &v, &only_arrivals, &p).unwrap_err(),
            (Some(1), Refusal::SiteRefusesCategory.error())
        );
        let mut gone = a1.clone();
        gone.transfer = Some(TransferState::Dispatched);
        assert_eq!(check_dispatch(&[&gone], &v, &all, &p).unwrap_err().1.code, "transfer_not_requested");
        gone.state = OrderState::BecameCase;
        assert_eq!(check_dispatch(&[&gone], &v, &all, &p).unwrap_err().1.code, "order_closed");
        assert_eq!(check_dispatch(&[], &v, &all, &p).unwrap_err().1.code, "dispatch_empty");
        // A profile that lets categories share a vehicle.
        let src = crate::policy::SHIPPED[0].1.replace("mix_categories = false", "mix_categories = true");
        let mixed = Profile::parse(&src).unwrap();
        assert!(check_dispatch(&[&a1, &arrival], &v, &all, &mixed).is_ok());
    }

    #[test]
    fn picked_up_and_not_arrived_is_an_alert_after_the_profile_minutes() {
        let p = p9();
        let mut o = order(1, 10, Category::CloseContact);
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 2, 0, 0).unwrap();
        o.transfer = Some(TransferState::PickedUp);
        o.picked_up_at = Some(t);
        assert!(!overdue(&o, &p, t + Duration::minutes(120)));
        assert!(overdue(&o, &p, t + Duration::minutes(121)));
        o.transfer = Some(TransferState::Arrived);
        assert!(!overdue(&o, &p, t + Duration::minutes(500)));
    }
}
